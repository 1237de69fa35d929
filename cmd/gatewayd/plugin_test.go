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
// first connector", as they are written there: main.go and plugin.yaml are
// the README's blocks, and every command of its shell blocks is run (the
// gatewayd ones in process, with the README's placeholders — the key
// directory, <data-dir>, the sha256 — filled in). Then the gateway's plugin
// manager must serve the plugin.
func TestFirstConnector(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a wasm module")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(repo, "sdk-plugin", "README.md"))
	must(t, err)
	section := string(readme)
	if i := strings.Index(section, "## Write your first connector"); i >= 0 {
		section = section[i:]
	}
	if i := strings.Index(section[3:], "\n## "); i >= 0 {
		section = section[:i+3]
	}
	blocks := codeBlocks(section)
	want := []string{"go", "sh", "yaml", "sh", "sh", "sh"}
	if len(blocks) != len(want) {
		t.Fatalf("the README's first-connector section has %d code blocks, want %d (%v)", len(blocks), len(want), want)
	}
	for i, b := range blocks {
		if b.lang != want[i] {
			t.Fatalf("code block %d is %q, want %q", i+1, b.lang, want[i])
		}
	}
	tmp := t.TempDir()
	conn := filepath.Join(tmp, "my-connector")
	data := filepath.Join(tmp, "data")
	keys := filepath.Join(tmp, "keys")
	must(t, os.MkdirAll(conn, 0o755))

	// 1. main.go, in a module of its own (a replace stands for `go get
	// github.com/ubeu/gateway`, which needs the network).
	must(t, os.WriteFile(filepath.Join(conn, "main.go"), []byte(blocks[0].text), 0o644))
	copyFile(t, filepath.Join(repo, "go.sum"), filepath.Join(conn, "go.sum"))
	must(t, os.WriteFile(filepath.Join(conn, "go.mod"), fmt.Appendf(nil,
		"module example.com/my-connector\n\ngo 1.26.0\n\nrequire github.com/ubeu/gateway v0.0.0\n\nreplace github.com/ubeu/gateway => %s\n", repo), 0o644))

	// run runs one command line of a shell block in the connector's
	// directory.
	var keyID string
	run := func(line string) string {
		t.Helper()
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(line, "~/.gatewayd-keys", keys), "<data-dir>", data))
		switch {
		case strings.HasPrefix(line, "GOOS=wasip1 GOARCH=wasm go build "):
			args := strings.Fields(strings.TrimPrefix(line, "GOOS=wasip1 GOARCH=wasm go "))
			build := exec.Command("go", args...)
			build.Dir = conn
			build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOFLAGS=-mod=mod", "GOPROXY=off")
			if b, err := build.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", line, err, b)
			}
		case strings.HasPrefix(line, "cp "):
			f := strings.Fields(line)
			must(t, os.MkdirAll(filepath.Dir(f[2]), 0o700))
			copyFile(t, f[1], f[2])
		case strings.HasPrefix(line, "echo '"):
			text, file, ok := strings.Cut(strings.TrimPrefix(line, "echo '"), "' > ")
			if !ok {
				t.Fatalf("cannot run %q", line)
			}
			must(t, os.WriteFile(filepath.Join(conn, file), []byte(text+"\n"), 0o644))
		case strings.HasPrefix(line, "gatewayd plugin "):
			args := strings.Fields(strings.TrimPrefix(line, "gatewayd plugin "))
			for i, a := range args {
				if a == "." || a == "echo.json" {
					args[i] = filepath.Join(conn, a)
				}
			}
			out, err := runPlugin(t, data, args...)
			if err != nil {
				t.Fatalf("%s: %v\n%s", line, err, out)
			}
			if args[0] == "keygen" {
				if i := strings.Index(out, "ed25519:"); i >= 0 {
					keyID = strings.Fields(out[i:])[0]
				}
			}
			return out
		default:
			t.Fatalf("the README runs %q, which this test does not know how to run", line)
		}
		return ""
	}
	runBlock := func(b codeBlock) []string {
		t.Helper()
		var outs []string
		for _, l := range strings.Split(strings.TrimSpace(b.text), "\n") {
			outs = append(outs, run(l))
		}
		return outs
	}

	// 2. Build it.
	runBlock(blocks[1])
	wasm, err := os.ReadFile(filepath.Join(conn, "plugin.wasm"))
	must(t, err)

	// 3. plugin.yaml, the README's, pinning the module's sha256.
	manifest := strings.Replace(blocks[2].text, "<64 hex digits from sha256sum>", fmt.Sprintf("%x", sha256.Sum256(wasm)), 1)
	must(t, os.WriteFile(filepath.Join(conn, "plugin.yaml"), []byte(manifest), 0o644))

	// An unsigned package is refused without --allow-unsigned.
	if out, err := runPlugin(t, data, "install", conn, "--grant", "log,config"); err == nil || !errors.Is(err, pluginpkg.ErrUnsigned) {
		t.Fatalf("unsigned install: %v\n%s", err, out)
	}

	// 4. keygen and sign.
	runBlock(blocks[3])
	if !strings.HasPrefix(keyID, "ed25519:") {
		t.Fatalf("keygen printed no key id (%q)", keyID)
	}

	// Capabilities requested but not granted: refused (after the operator
	// trusts the key, so that the grant is what fails).
	must(t, os.MkdirAll(filepath.Join(data, "plugins", "trusted"), 0o700))
	copyFile(t, filepath.Join(keys, pluginpkg.PublicKeyFile), filepath.Join(data, "plugins", "trusted", "example-labs.pub"))
	if _, err := runPlugin(t, data, "install", conn, "--grant", "log"); !errors.Is(err, pluginpkg.ErrNotGranted) {
		t.Fatalf("install without config granted: %v", err)
	}

	// 5. Trust the key, write the configuration, install.
	outs := runBlock(blocks[4])
	if out := outs[len(outs)-1]; !strings.Contains(out, "installed echo-resolver 0.1.0") || !strings.Contains(out, keyID) {
		t.Fatalf("install:\n%s", out)
	}
	config := filepath.Join(conn, "echo.json")

	// 6. list and inspect.
	outs = runBlock(blocks[5])
	if out := outs[0]; !strings.Contains(out, "echo-resolver") || !strings.Contains(out, "0.1.0") ||
		!strings.Contains(out, "resolver") || !strings.Contains(out, keyID) {
		t.Fatalf("list:\n%s", out)
	}
	if out := outs[1]; !strings.Contains(out, "status:       ok") || !strings.Contains(out, "source:       installed") {
		t.Fatalf("inspect:\n%s", out)
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
	if err != nil || r.DID != "did:example:alice" {
		t.Fatalf("Resolve = %+v, %v", r, err)
	}
	if _, err := abiv1.NewResolverClient(tr).Resolve(context.Background(), &abiv1.ResolveRequest{Name: "nobody.eth"}); err == nil || abiv1.AsError(err).Code != abiv1.ErrorCodeNotFound {
		t.Fatalf("Resolve(nobody.eth) = %v, want NOT_FOUND", err)
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

type codeBlock struct{ lang, text string }

// codeBlocks returns the fenced code blocks of a Markdown text, in order.
func codeBlocks(md string) []codeBlock {
	var out []codeBlock
	lines := strings.Split(md, "\n")
	for i := 0; i < len(lines); i++ {
		lang, ok := strings.CutPrefix(lines[i], "```")
		if !ok || lang == "" {
			continue
		}
		var b strings.Builder
		for i++; i < len(lines) && lines[i] != "```"; i++ {
			b.WriteString(lines[i])
			b.WriteByte('\n')
		}
		out = append(out, codeBlock{lang: lang, text: b.String()})
	}
	return out
}
