package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/plugin/manager"
	pluginpkg "github.com/ubeu/gateway/host/plugin/pkg"
)

// runPlugin runs `gatewayd plugin args...` in process with --data-dir.
func runPlugin(t *testing.T, dataDir string, args ...string) (string, error) {
	t.Helper()
	f := flags{dataDir: dataDir}
	cmd := newPluginCmd(&f)
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// TestFirstConnector runs the steps of sdk-plugin/README.md, "Write your
// first connector", on a copy of the echo-resolver example in its own
// module, then checks that the gateway's plugin manager serves it.
func TestFirstConnector(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a wasm module")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	conn := filepath.Join(tmp, "my-connector")
	data := filepath.Join(tmp, "data")

	// 1. main.go implementing sdk.Resolver with resolver.Serve, in a module
	// of its own (a replace stands for `go get github.com/ubeu/gateway`).
	must(t, os.MkdirAll(conn, 0o755))
	copyFile(t, filepath.Join(repo, "sdk-plugin/examples/echo-resolver/main.go"), filepath.Join(conn, "main.go"))
	copyFile(t, filepath.Join(repo, "go.sum"), filepath.Join(conn, "go.sum"))
	must(t, os.WriteFile(filepath.Join(conn, "go.mod"), fmt.Appendf(nil,
		"module example.com/my-connector\n\ngo 1.26.0\n\nrequire github.com/ubeu/gateway v0.0.0\n\nreplace github.com/ubeu/gateway => %s\n", repo), 0o644))

	// 2. GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
	build := exec.Command("go", "build", "-buildmode=c-shared", "-o", "plugin.wasm", ".")
	build.Dir = conn
	build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOFLAGS=-mod=mod", "GOPROXY=off")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	wasm, err := os.ReadFile(filepath.Join(conn, "plugin.wasm"))
	must(t, err)

	// 3. plugin.yaml pinning the module's sha256.
	manifest := fmt.Sprintf(`name: echo-resolver
publisher: Example Labs
version: 0.1.0
description: Answers names from its configuration.
interfaces: [resolver]
runtime: wasm
abi: ">=1.0 <2"
artifacts:
  wasm: {file: plugin.wasm, sha256: %x}
capabilities:
  log: true
  config: true
`, sha256.Sum256(wasm))
	must(t, os.WriteFile(filepath.Join(conn, "plugin.yaml"), []byte(manifest), 0o644))
	config := filepath.Join(tmp, "echo.json")
	must(t, os.WriteFile(config, []byte(`{"names": {"alice.eth": {"did": "did:example:alice", "owners": [{"chain": "eip155:1", "address": "0xA11CE"}]}}}`), 0o644))

	// 4. gatewayd plugin keygen.
	keys := filepath.Join(tmp, "keys")
	out, err := runPlugin(t, data, "keygen", keys)
	if err != nil || !strings.Contains(out, "key id:      ed25519:") {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	keyID := strings.TrimSpace(out[strings.Index(out, "ed25519:"):strings.Index(out, "\noperators")])

	// An unsigned package is refused without --allow-unsigned.
	if out, err := runPlugin(t, data, "install", conn, "--grant", "log,config"); err == nil || !errors.Is(err, pluginpkg.ErrUnsigned) {
		t.Fatalf("unsigned install: %v\n%s", err, out)
	}

	// 5. gatewayd plugin sign; the operator trusts the public key.
	if out, err := runPlugin(t, data, "sign", conn, "--key", filepath.Join(keys, pluginpkg.PrivateKeyFile)); err != nil {
		t.Fatalf("sign: %v\n%s", err, out)
	}
	must(t, os.MkdirAll(filepath.Join(data, "plugins", "trusted"), 0o700))
	copyFile(t, filepath.Join(keys, pluginpkg.PublicKeyFile), filepath.Join(data, "plugins", "trusted", "example-labs.pub"))

	// Capabilities requested but not granted: refused.
	if _, err := runPlugin(t, data, "install", conn, "--grant", "log"); !errors.Is(err, pluginpkg.ErrNotGranted) {
		t.Fatalf("install without config granted: %v", err)
	}

	// 6. gatewayd plugin install.
	out, err = runPlugin(t, data, "install", conn, "--grant", "log,config", "--config-file", config)
	if err != nil || !strings.Contains(out, "installed echo-resolver 0.1.0") || !strings.Contains(out, keyID) {
		t.Fatalf("install: %v\n%s", err, out)
	}

	// 7. gatewayd plugin list.
	out, err = runPlugin(t, data, "list")
	if err != nil || !strings.Contains(out, "echo-resolver") || !strings.Contains(out, "0.1.0") ||
		!strings.Contains(out, "resolver") || !strings.Contains(out, keyID) {
		t.Fatalf("list: %v\n%s", err, out)
	}
	out, err = runPlugin(t, data, "inspect", "echo-resolver")
	if err != nil || !strings.Contains(out, "status:       ok") || !strings.Contains(out, "source:       installed") {
		t.Fatalf("inspect: %v\n%s", err, out)
	}

	// The gateway loads it and it answers.
	m, err := manager.New(context.Background(), manager.Options{Root: filepath.Join(data, "plugins"), PollInterval: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	must(t, err)
	defer m.Close(context.Background())
	if err := m.Ready(); err != nil {
		t.Fatal(err)
	}
	tr, ok := m.Get("echo-resolver")
	if !ok {
		t.Fatalf("not loaded: %+v", m.List())
	}
	r, err := abiv1.NewResolverClient(tr).Resolve(context.Background(), &abiv1.ResolveRequest{Name: "alice.eth"})
	if err != nil || r.DID != "did:example:alice" || len(r.Owners) != 1 || r.Owners[0].Address != "0xA11CE" {
		t.Fatalf("Resolve = %+v, %v", r, err)
	}
	if st := m.List(); len(st) != 1 || st[0].Signer != keyID || st[0].State != manager.StateLoaded {
		t.Errorf("manager List = %+v", st)
	}

	// pack, remove, install from the .tar.gz.
	tgz := filepath.Join(tmp, "echo-resolver-0.1.0.tar.gz")
	if out, err := runPlugin(t, data, "pack", conn, tgz); err != nil {
		t.Fatalf("pack: %v\n%s", err, out)
	}
	if out, err := runPlugin(t, data, "remove", "echo-resolver"); err != nil || !strings.Contains(out, "removed echo-resolver") {
		t.Fatalf("remove: %v\n%s", err, out)
	}
	if out, _ := runPlugin(t, data, "list"); !strings.Contains(out, "no plugins installed") {
		t.Fatalf("list after remove:\n%s", out)
	}
	if _, err := runPlugin(t, data, "remove", "echo-resolver"); !errors.Is(err, pluginpkg.ErrNotInstalled) {
		t.Errorf("second remove: %v", err)
	}
	if out, err := runPlugin(t, data, "install", tgz, "--grant", "log,config", "--config-file", config); err != nil {
		t.Fatalf("install .tar.gz: %v\n%s", err, out)
	}
	if out, _ := runPlugin(t, data, "list"); !strings.Contains(out, "echo-resolver") {
		t.Fatalf("list after reinstall:\n%s", out)
	}
}

func TestPluginCommandErrors(t *testing.T) {
	data := t.TempDir()
	if _, err := runPlugin(t, data, "sign", t.TempDir()); err == nil || !strings.Contains(err.Error(), "--key") {
		t.Errorf("sign without --key: %v", err)
	}
	if _, err := runPlugin(t, data, "inspect", "nothing-here"); !errors.Is(err, pluginpkg.ErrNotInstalled) {
		t.Errorf("inspect unknown name: %v", err)
	}
	keys := t.TempDir()
	if _, err := runPlugin(t, data, "keygen", keys); err != nil {
		t.Fatal(err)
	}
	if _, err := runPlugin(t, data, "keygen", keys); err == nil {
		t.Error("keygen overwrote an existing key")
	}
	if got := splitList([]string{"http, kv", "", "log"}); strings.Join(got, "|") != "http|kv|log" {
		t.Errorf("splitList = %q", got)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	must(t, err)
	must(t, os.WriteFile(dst, b, 0o644))
}
