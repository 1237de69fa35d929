package gateway_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	pluginpkg "github.com/ubeu/gateway/host/plugin/pkg"
	"github.com/ubeu/gateway/sdk-plugin/plugintest"
)

// TestPluginsInTheGateway installs the example resolver (unsigned, with
// the operator's explicit permission) into a gateway's data dir, starts
// the gateway with it, calls it, lists it through the admin API, then
// tampers with the installed module: the reload refuses it and /readyz
// names the plugin.
func TestPluginsInTheGateway(t *testing.T) {
	wasm := plugintest.BuildWasm(t, "github.com/ubeu/gateway/sdk-plugin/examples/echo-resolver")
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "plugin.wasm"), wasm, 0o644)
	os.WriteFile(filepath.Join(src, "plugin.yaml"), []byte(fmt.Sprintf(`name: echo-resolver
publisher: Example Labs
version: 0.1.0
interfaces: [resolver]
runtime: wasm
abi: ">=1.0 <2"
artifacts:
  wasm: {file: plugin.wasm, sha256: %x}
capabilities:
  log: true
  config: true
`, sha256.Sum256(wasm))), 0o644)
	cfg := testConfig(t)
	if _, err := pluginpkg.Install(context.Background(), src, pluginpkg.InstallOptions{
		Root: cfg.PluginsDir(), AllowUnsigned: true, ABIVersion: "1.0",
		Grants: pluginpkg.Grants{Capabilities: []string{"log", "config"}},
		Config: []byte(`{"names": {"alice.eth": {"did": "did:example:alice"}}}`),
	}); err != nil {
		t.Fatal(err)
	}
	tg := startGateway(t, cfg)
	tr, ok := tg.g.Plugins.Get("echo-resolver")
	if !ok {
		t.Fatalf("plugin not loaded: %+v", tg.g.Plugins.List())
	}
	res, err := abiv1.NewResolverClient(tr).Resolve(context.Background(), &abiv1.ResolveRequest{Name: "alice.eth"})
	if err != nil || res.DID != "did:example:alice" {
		t.Fatalf("resolve through the plugin: %+v %v", res, err)
	}
	admin := bearer(tg.adminToken())
	r := tg.do("GET", "/api/v1/admin/plugins", nil, admin...)
	var list struct {
		Plugins []struct {
			Name, Version, Status, Signer string
			Calls                         int
		}
	}
	json.Unmarshal(r.body, &list)
	if r.status != 200 || len(list.Plugins) != 1 || list.Plugins[0].Status != "loaded" || list.Plugins[0].Signer != "unsigned" || list.Plugins[0].Calls < 1 {
		t.Fatalf("admin plugins: %d %s", r.status, r.body)
	}
	if r := tg.do("GET", "/readyz", nil); r.status != 200 {
		t.Fatalf("readyz with a loaded plugin: %d %s", r.status, r.body)
	}

	// One flipped byte in the installed module: refused at load.
	inst, err := pluginpkg.Load(cfg.PluginsDir(), "echo-resolver")
	if err != nil {
		t.Fatal(err)
	}
	mod := filepath.Join(inst.Dir, "plugin.wasm")
	b, _ := os.ReadFile(mod)
	b[len(b)/2] ^= 1
	os.WriteFile(mod, b, 0o600)
	tg.do("POST", "/api/v1/admin/plugins/reload", nil, admin...)
	// A tampered module is refused at its next load; restart the gateway to
	// force one, as an operator would.
	tg.stop()
	tg2 := startGateway(t, cfg)
	deadline := time.Now().Add(5 * time.Second)
	var rz resp
	for time.Now().Before(deadline) {
		if rz = tg2.do("GET", "/readyz", nil); rz.status == 503 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if rz.status != 503 || !strings.Contains(string(rz.body), "echo-resolver") {
		t.Fatalf("readyz with a tampered plugin: %d %s", rz.status, rz.body)
	}
	if r := tg2.do("GET", "/healthz", nil); r.status != 200 {
		t.Fatal("gateway not serving with a failed plugin")
	}
}
