package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/plugin/manager"
	pluginpkg "github.com/ubeu/gateway/host/plugin/pkg"
)

// runBundle runs `gatewayd plugin bundle args...` as the run script does,
// through a root with the persistent flags and --data-dir dataDir.
func runBundle(t *testing.T, dataDir string, args ...string) (string, error) {
	t.Helper()
	var f flags
	root := &cobra.Command{Use: "gatewayd", SilenceUsage: true, SilenceErrors: true}
	root.PersistentFlags().StringVar(&f.config, "config", "", "")
	root.PersistentFlags().StringVar(&f.dataDir, "data-dir", "", "")
	pc := newPluginCmd(&f)
	pc.AddCommand(newBundleCmd(&f))
	root.AddCommand(pc)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"--data-dir", dataDir, "plugin", "bundle"}, args...))
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

const echoManifest = `# The echo example as a first-party plugin.
name: echo
publisher: UBeU
version: 0.1.0
description: Answers names from its configuration.
interfaces: [resolver]
runtime: wasm
abi: ">=1.0 <2"
artifacts:
  wasm: {file: plugin.wasm, sha256: ""}
capabilities:
  log: true
  config: true
`

// TestBundle bundles a copy of the echo-resolver example as plugins/echo,
// checks that an unchanged plugin is skipped and a changed config.json is
// reinstalled, and that the plugin manager serves it with that config.
func TestBundle(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a wasm module")
	}
	repo, err := filepath.Abs("../..")
	must(t, err)
	tmp := t.TempDir()
	echo := filepath.Join(tmp, "plugins", "echo")
	data := filepath.Join(tmp, "data")
	root := filepath.Join(data, "plugins")

	// plugins/echo: the example in a module of its own (a replace stands
	// for the gateway module, as in TestFirstConnector).
	must(t, os.MkdirAll(echo, 0o755))
	copyFile(t, filepath.Join(repo, "sdk-plugin/examples/echo-resolver/main.go"), filepath.Join(echo, "main.go"))
	copyFile(t, filepath.Join(repo, "go.sum"), filepath.Join(echo, "go.sum"))
	must(t, os.WriteFile(filepath.Join(echo, "go.mod"), fmt.Appendf(nil,
		"module example.com/echo\n\ngo 1.26.0\n\nrequire github.com/ubeu/gateway v0.0.0\n\nreplace github.com/ubeu/gateway => %s\n", repo), 0o644))
	must(t, os.WriteFile(filepath.Join(echo, "plugin.yaml"), []byte(echoManifest), 0o644))
	writeConfig := func(did string) {
		must(t, os.WriteFile(filepath.Join(echo, "config.json"),
			fmt.Appendf(nil, `{"names": {"alice.eth": {"did": %q}}}`, did), 0o644))
	}
	writeConfig("did:example:alice")
	t.Setenv("GOFLAGS", "-mod=mod")
	t.Setenv("GOPROXY", "off")

	// First run: built, signed by the first-party key, installed.
	out, err := runBundle(t, data, filepath.Join(tmp, "plugins"), "--tls-self-signed")
	if err != nil || !strings.Contains(out, "echo 0.1.0: installed") {
		t.Fatalf("bundle: %v\n%s", err, out)
	}
	fi, err := os.Stat(filepath.Join(root, "first-party.key"))
	must(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("first-party.key mode %v, want 0600", fi.Mode().Perm())
	}
	keys, err := pluginpkg.LoadTrusted(filepath.Join(root, "trusted"))
	must(t, err)
	if len(keys) != 1 || keys[0].Name != "first-party.pub" {
		t.Fatalf("trusted keys = %+v", keys)
	}
	lf, err := pluginpkg.ReadLock(root)
	must(t, err)
	e, ok := lf.Plugins["echo"]
	if !ok || e.Version != "0.1.0" || e.Signer != keys[0].ID || strings.Join(e.Grants.Capabilities, ",") != "log,config" {
		t.Fatalf("lock entry = %+v (first-party key %s)", e, keys[0].ID)
	}
	if e.Artifacts["wasm"].SHA256 == "" {
		t.Errorf("no wasm digest in the lock entry: %+v", e.Artifacts)
	}
	lock1, err := os.ReadFile(filepath.Join(root, pluginpkg.LockFileName))
	must(t, err)

	// Second run, nothing changed: skipped, the lock file untouched.
	out, err = runBundle(t, data, filepath.Join(tmp, "plugins"))
	if err != nil || !strings.Contains(out, "echo 0.1.0: unchanged") {
		t.Fatalf("second bundle: %v\n%s", err, out)
	}
	lock2, err := os.ReadFile(filepath.Join(root, pluginpkg.LockFileName))
	must(t, err)
	if !bytes.Equal(lock1, lock2) {
		t.Errorf("lock file changed by an unchanged bundle:\n%s\n%s", lock1, lock2)
	}

	// config.json changed: reinstalled with the new configuration.
	writeConfig("did:example:alice-2")
	out, err = runBundle(t, data, filepath.Join(tmp, "plugins"))
	if err != nil || !strings.Contains(out, "echo 0.1.0: installed") {
		t.Fatalf("bundle after a config change: %v\n%s", err, out)
	}
	inst, err := pluginpkg.Load(root, "echo")
	must(t, err)
	if !strings.Contains(string(inst.Config), "did:example:alice-2") || inst.Signer != keys[0].ID {
		t.Fatalf("installed config %s, signer %s", inst.Config, inst.Signer)
	}

	// The gateway's plugin manager loads it and it answers with that config.
	m, err := manager.New(context.Background(), manager.Options{Root: root, PollInterval: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	must(t, err)
	defer m.Close(context.Background())
	must(t, m.Ready())
	tr, ok := m.Get("echo")
	if !ok {
		t.Fatalf("not loaded: %+v", m.List())
	}
	r, err := abiv1.NewResolverClient(tr).Resolve(context.Background(), &abiv1.ResolveRequest{Name: "alice.eth"})
	if err != nil || r.DID != "did:example:alice-2" {
		t.Fatalf("Resolve = %+v, %v", r, err)
	}
}

func TestBundleNothingOrBroken(t *testing.T) {
	data := t.TempDir()
	root := filepath.Join(data, "plugins")
	tmp := t.TempDir()

	// A missing plugins dir, then an empty one: fine, nothing installed.
	if out, err := runBundle(t, data, filepath.Join(tmp, "missing")); err != nil {
		t.Fatalf("missing dir: %v\n%s", err, out)
	}
	empty := filepath.Join(tmp, "empty")
	must(t, os.MkdirAll(filepath.Join(empty, "not-a-plugin"), 0o755))
	if out, err := runBundle(t, data, empty); err != nil {
		t.Fatalf("empty dir: %v\n%s", err, out)
	}
	if entries, err := pluginpkg.List(root); err != nil || len(entries) != 0 {
		t.Fatalf("installed %+v, %v", entries, err)
	}

	// A broken plugin fails the command, naming it; the others are still tried.
	broken := filepath.Join(tmp, "broken")
	must(t, os.MkdirAll(filepath.Join(broken, "bad"), 0o755))
	must(t, os.MkdirAll(filepath.Join(broken, "misnamed"), 0o755))
	must(t, os.WriteFile(filepath.Join(broken, "bad", "plugin.yaml"), []byte("name: bad\nversion: nope\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(broken, "misnamed", "plugin.yaml"),
		[]byte(strings.Replace(echoManifest, "name: echo", "name: other", 1)), 0o644))
	_, err := runBundle(t, data, broken)
	if err == nil || !strings.Contains(err.Error(), "plugin bad:") || !strings.Contains(err.Error(), "version") ||
		!strings.Contains(err.Error(), "plugin misnamed:") || !strings.Contains(err.Error(), `must be the directory name "misnamed"`) {
		t.Fatalf("broken plugins: %v", err)
	}
}
