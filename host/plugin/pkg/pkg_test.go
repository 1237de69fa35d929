package pluginpkg

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

var (
	guestOnce sync.Once
	guestWasm []byte
	guestErr  error
	guestDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if guestDir != "" {
		os.RemoveAll(guestDir)
	}
	os.Exit(code)
}

// guest builds testdata/guest.go.txt with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared,
// once per test binary, and skips the test if the toolchain cannot.
func guest(t testing.TB) []byte {
	t.Helper()
	guestOnce.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			guestErr = fmt.Errorf("no go toolchain in PATH: %w", err)
			return
		}
		guestDir, err = os.MkdirTemp("", "pluginpkg-guest-")
		if err != nil {
			guestErr = err
			return
		}
		src, err := os.ReadFile(filepath.Join("testdata", "guest.go.txt"))
		if err != nil {
			guestErr = err
			return
		}
		if err := os.WriteFile(filepath.Join(guestDir, "main.go"), src, 0o644); err != nil {
			guestErr = err
			return
		}
		if err := os.WriteFile(filepath.Join(guestDir, "go.mod"), []byte("module guest\n\ngo 1.24\n"), 0o644); err != nil {
			guestErr = err
			return
		}
		out := filepath.Join(guestDir, "guest.wasm")
		cmd := exec.Command(goBin, "build", "-buildmode=c-shared", "-o", out, ".")
		cmd.Dir = guestDir
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOFLAGS=", "GOWORK=off")
		if b, err := cmd.CombinedOutput(); err != nil {
			guestErr = fmt.Errorf("go build wasip1: %v\n%s", err, b)
			return
		}
		guestWasm, guestErr = os.ReadFile(out)
	})
	if guestErr != nil {
		t.Skipf("cannot build the wasip1 test guest with this toolchain: %v", guestErr)
	}
	return guestWasm
}

type pkgParams struct {
	Name, Version, Interfaces, ABI, Caps, Extra string
	Wasm                                        []byte
}

func (p pkgParams) manifest() string {
	if p.Name == "" {
		p.Name = "ens-resolver"
	}
	if p.Version == "" {
		p.Version = "1.0.0"
	}
	if p.Interfaces == "" {
		p.Interfaces = "[resolver]"
	}
	if p.ABI == "" {
		p.ABI = ">=1.0 <2"
	}
	if p.Caps == "" {
		p.Caps = `
  http:
    allow:
      - {scheme: https, host: rpc.example.com, port: 443}
  log: true`
	}
	sum := sha256.Sum256(p.Wasm)
	return fmt.Sprintf(`name: %s
publisher: Example Labs
version: %s
description: Resolves ENS names.
interfaces: %s
runtime: wasm
abi: "%s"
gatewayd: ">=0.1.0 <1"
artifacts:
  wasm: {file: plugin.wasm, sha256: %s}
capabilities:%s
limits: {memory_pages: 512, call_timeout: 2s, min_instances: 1, max_instances: 4}
license: Apache-2.0
source: https://example.com/ens-resolver
%s`, p.Name, p.Version, p.Interfaces, p.ABI, hex.EncodeToString(sum[:]), p.Caps, p.Extra)
}

type fixture struct {
	t       *testing.T
	root    string
	priv    string
	trusted []PublicKey
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	keys := t.TempDir()
	pub, priv, err := Keygen(keys)
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := LoadTrusted(keys)
	if err != nil || len(trusted) != 1 {
		t.Fatalf("LoadTrusted: %v %v (from %s)", trusted, err, pub)
	}
	return &fixture{t: t, root: filepath.Join(t.TempDir(), "plugins"), priv: priv, trusted: trusted}
}

// pkg writes a package directory and, if sign, signs it with the fixture's key.
func (f *fixture) pkg(p pkgParams, sign bool) string {
	f.t.Helper()
	if p.Wasm == nil {
		p.Wasm = guest(f.t)
	}
	dir := f.t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), []byte(p.manifest()), 0o644); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plugin.wasm"), p.Wasm, 0o644); err != nil {
		f.t.Fatal(err)
	}
	if sign {
		if err := Sign(filepath.Join(dir, ManifestFile), f.priv); err != nil {
			f.t.Fatal(err)
		}
	}
	return dir
}

func (f *fixture) opts() InstallOptions {
	return InstallOptions{
		Root:            f.root,
		Trusted:         f.trusted,
		Grants:          Grants{Capabilities: []string{"http", "log"}, HTTPHosts: []string{"*.example.com"}},
		GatewaydVersion: "0.3.0",
	}
}

func (f *fixture) install(src string, o InstallOptions) (*Installed, error) {
	return Install(context.Background(), src, o)
}

func wantErr(t *testing.T, err error, target error, substr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error containing %q, got success", substr)
	}
	if target != nil && !errors.Is(err, target) {
		t.Fatalf("want errors.Is(%v), got: %v", target, err)
	}
	if !strings.Contains(err.Error(), substr) {
		t.Fatalf("want an error containing %q, got: %v", substr, err)
	}
}

func TestInstallSignedWasm(t *testing.T) {
	f := newFixture(t)
	src := f.pkg(pkgParams{}, true)
	inst, err := f.install(src, f.opts())
	if err != nil {
		t.Fatal(err)
	}
	if inst.Signer != f.trusted[0].ID || !strings.HasPrefix(inst.Signer, "ed25519:") {
		t.Errorf("signer %q, want %q", inst.Signer, f.trusted[0].ID)
	}
	if got := strings.Join(inst.Grants.Capabilities, ","); got != "http,log" {
		t.Errorf("granted %q", got)
	}
	if got := strings.Join(inst.Grants.HTTPHosts, ","); got != "rpc.example.com" {
		t.Errorf("granted hosts %q: want exactly what was requested", got)
	}

	dir := filepath.Join(f.root, "ens-resolver", "1.0.0")
	for p, want := range map[string]fs.FileMode{
		dir:                                 0o700 | fs.ModeDir,
		filepath.Join(dir, ManifestFile):    0o600,
		filepath.Join(dir, SignatureFile):   0o600,
		filepath.Join(dir, "plugin.wasm"):   0o600,
		filepath.Join(f.root, LockFileName): 0o600,
	} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
	}

	lf, err := ReadLock(f.root)
	if err != nil {
		t.Fatal(err)
	}
	e := lf.Plugins["ens-resolver"]
	sum := sha256.Sum256(guest(t))
	if e.Version != "1.0.0" || e.Runtime != "wasm" || e.Artifacts["wasm"].SHA256 != hex.EncodeToString(sum[:]) || e.InstalledAt.IsZero() {
		t.Errorf("lock entry %+v", e)
	}

	ld, err := Load(f.root, "ens-resolver")
	if err != nil {
		t.Fatal(err)
	}
	if string(ld.Wasm) != string(guest(t)) || string(ld.Config) != "{}" {
		t.Errorf("Load returned %d wasm bytes and config %q", len(ld.Wasm), ld.Config)
	}
	list, err := List(f.root)
	if err != nil || len(list) != 1 || list[0].Name != "ens-resolver" {
		t.Errorf("List: %v %v", list, err)
	}

	r, err := Inspect(context.Background(), f.root, "ens-resolver", nil)
	if err != nil || r.Status != "ok" || r.Source != "installed" || r.Manifest == nil {
		t.Errorf("Inspect installed: %+v %v", r, err)
	}
	r, err = Inspect(context.Background(), src, "", f.trusted)
	if err != nil || r.Status != "ok" || r.Signer != f.trusted[0].ID || r.Module == nil || r.Module.ABI != "1.0" {
		t.Errorf("Inspect package: %+v %v", r, err)
	}

	_, err = f.install(src, f.opts())
	wantErr(t, err, ErrExists, "already installed")
}

func TestInstallFromTarGz(t *testing.T) {
	f := newFixture(t)
	src := f.pkg(pkgParams{}, true)
	out := filepath.Join(t.TempDir(), "ens-resolver-1.0.0.tar.gz")
	if err := Pack(src, out); err != nil {
		t.Fatal(err)
	}
	if _, err := f.install(out, f.opts()); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(f.root, "ens-resolver"); err != nil {
		t.Fatal(err)
	}
}

func flipByte(t *testing.T, path string, at int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if at < 0 {
		at = len(b) + at
	}
	b[at] ^= 0x01
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestInstallRefusesTamperedModule(t *testing.T) {
	f := newFixture(t)
	src := f.pkg(pkgParams{}, true)
	flipByte(t, filepath.Join(src, "plugin.wasm"), len(guest(t))/2)
	_, err := f.install(src, f.opts())
	wantErr(t, err, ErrDigestMismatch, "plugin.wasm")
	assertNotInstalled(t, f.root, "ens-resolver")
}

func TestInstallRefusesTamperedManifest(t *testing.T) {
	f := newFixture(t)
	src := f.pkg(pkgParams{}, true)
	mp := filepath.Join(src, ManifestFile)
	b, _ := os.ReadFile(mp)
	b = []byte(strings.Replace(string(b), "Resolves ENS names.", "Resolves ENS names!", 1))
	if err := os.WriteFile(mp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := f.install(src, f.opts())
	wantErr(t, err, ErrUntrusted, SignatureFile)
	assertNotInstalled(t, f.root, "ens-resolver")
}

func TestInstallRefusesUntrustedSigner(t *testing.T) {
	f := newFixture(t)
	src := f.pkg(pkgParams{}, true)
	other := newFixture(t)
	o := f.opts()
	o.Trusted = other.trusted
	_, err := f.install(src, o)
	wantErr(t, err, ErrUntrusted, "trusted")
	o.Trusted = nil
	o.AllowUnsigned = true // a signature that is present must verify, even then
	_, err = f.install(src, o)
	wantErr(t, err, ErrUntrusted, "no trusted keys")
}

func TestInstallUnsigned(t *testing.T) {
	f := newFixture(t)
	src := f.pkg(pkgParams{}, false)
	_, err := f.install(src, f.opts())
	wantErr(t, err, ErrUnsigned, "AllowUnsigned")
	assertNotInstalled(t, f.root, "ens-resolver")

	o := f.opts()
	o.AllowUnsigned = true
	inst, err := f.install(src, o)
	if err != nil {
		t.Fatal(err)
	}
	if inst.Signer != Unsigned {
		t.Errorf("signer %q, want %q", inst.Signer, Unsigned)
	}
	lf, _ := ReadLock(f.root)
	if lf.Plugins["ens-resolver"].Signer != "unsigned" {
		t.Errorf("lock records signer %q", lf.Plugins["ens-resolver"].Signer)
	}
}

func TestInstallRefusesImportNotRequested(t *testing.T) {
	f := newFixture(t)
	src := f.pkg(pkgParams{Caps: "\n  log: true"}, true)
	_, err := f.install(src, f.opts())
	wantErr(t, err, ErrIncompatible, `imports "gatewayd_v1_http" but the manifest does not request capability "http"`)
}

func TestInstallRefusesNotGranted(t *testing.T) {
	f := newFixture(t)
	src := f.pkg(pkgParams{}, true)

	o := f.opts()
	o.Grants.Capabilities = []string{"log"}
	_, err := f.install(src, o)
	wantErr(t, err, ErrNotGranted, `"http" is requested`)

	o = f.opts()
	o.Grants.Capabilities = []string{"http"}
	_, err = f.install(src, o)
	wantErr(t, err, ErrNotGranted, `"log" is requested`)

	o = f.opts()
	o.Grants.HTTPHosts = []string{"example.com", "rpc.example.org"}
	_, err = f.install(src, o)
	wantErr(t, err, ErrNotGranted, `http host "rpc.example.com"`)

	src = f.pkg(pkgParams{Caps: `
  http:
    allow: [{scheme: https, host: rpc.example.com}]
    allow_private: true`}, true)
	_, err = f.install(src, f.opts())
	wantErr(t, err, ErrNotGranted, "allow_private")
	assertNotInstalled(t, f.root, "ens-resolver")
}

func TestInstallRefusesInterfaceMismatch(t *testing.T) {
	f := newFixture(t)
	_, err := f.install(f.pkg(pkgParams{Interfaces: "[lms]"}, true), f.opts())
	wantErr(t, err, ErrIncompatible, "interface markers [resolver] do not match the manifest's interfaces [lms]")
	_, err = f.install(f.pkg(pkgParams{Interfaces: "[resolver, sso]"}, true), f.opts())
	wantErr(t, err, ErrIncompatible, "interface markers")
}

func TestInstallConfigSchema(t *testing.T) {
	f := newFixture(t)
	src := f.pkg(pkgParams{Extra: `config_schema:
  type: object
  required: [network]
  additionalProperties: false
  properties:
    network: {type: string, enum: [mainnet, sepolia]}
    cache_ttl_seconds: {type: integer, minimum: 0}
`}, true)
	o := f.opts()
	o.Config = []byte(`{"network": "goerli"}`)
	_, err := f.install(src, o)
	wantErr(t, err, nil, "config does not match config_schema")
	if !strings.Contains(err.Error(), "/network") {
		t.Errorf("schema error does not name the failing property: %v", err)
	}
	o.Config = nil
	_, err = f.install(src, o)
	wantErr(t, err, nil, "missing property 'network'")
	assertNotInstalled(t, f.root, "ens-resolver")

	o.Config = []byte(`{"network": "mainnet", "cache_ttl_seconds": 30}`)
	if _, err := f.install(src, o); err != nil {
		t.Fatal(err)
	}
	ld, err := Load(f.root, "ens-resolver")
	if err != nil || string(ld.Config) != string(o.Config) {
		t.Fatalf("Load config %q, %v", ld.Config, err)
	}
}

func TestInstallConfigSchemaFile(t *testing.T) {
	f := newFixture(t)
	schema := []byte(`{"type":"object","properties":{"n":{"type":"integer"}}}`)
	sum := sha256.Sum256(schema)
	src := f.pkg(pkgParams{Extra: "config_schema: {file: config.schema.json, sha256: " + hex.EncodeToString(sum[:]) + "}\n"}, false)
	if err := os.WriteFile(filepath.Join(src, "config.schema.json"), schema, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Sign(filepath.Join(src, ManifestFile), f.priv); err != nil {
		t.Fatal(err)
	}
	o := f.opts()
	o.Config = []byte(`{"n": "x"}`)
	_, err := f.install(src, o)
	wantErr(t, err, nil, "config does not match config_schema")

	flipByte(t, filepath.Join(src, "config.schema.json"), 2)
	o.Config = []byte(`{"n": 1}`)
	_, err = f.install(src, o)
	wantErr(t, err, ErrDigestMismatch, "config_schema")
}

func TestInstallRefusesABIRange(t *testing.T) {
	f := newFixture(t)
	_, err := f.install(f.pkg(pkgParams{ABI: ">=2.0 <3"}, true), f.opts())
	wantErr(t, err, ErrIncompatible, `abi ">=2.0 <3" excludes the host's ABI 1.0`)
	_, err = f.install(f.pkg(pkgParams{ABI: ">1.0 <2"}, true), f.opts())
	wantErr(t, err, ErrIncompatible, "excludes the host's ABI 1.0")
	o := f.opts()
	o.GatewaydVersion = "1.2.0"
	_, err = f.install(f.pkg(pkgParams{}, true), o)
	wantErr(t, err, ErrIncompatible, `gatewayd ">=0.1.0 <1" excludes this gatewayd 1.2.0`)
}

func TestUpgradeSwitchesLockLast(t *testing.T) {
	f := newFixture(t)
	if _, err := f.install(f.pkg(pkgParams{Version: "1.0.0"}, true), f.opts()); err != nil {
		t.Fatal(err)
	}
	oldDir := filepath.Join(f.root, "ens-resolver", "1.0.0")
	newDir := filepath.Join(f.root, "ens-resolver", "1.1.0")

	hookRan := false
	testHookBeforeLockSwitch = func() {
		hookRan = true
		for _, d := range []string{oldDir, newDir} {
			if _, err := os.Stat(d); err != nil {
				t.Errorf("before the lock switch: %v", err)
			}
		}
		ld, err := Load(f.root, "ens-resolver")
		if err != nil || ld.Version != "1.0.0" {
			t.Errorf("before the lock switch Load gives %v, %v; want 1.0.0", ld, err)
		}
	}
	t.Cleanup(func() { testHookBeforeLockSwitch = nil })
	if _, err := f.install(f.pkg(pkgParams{Version: "1.1.0"}, true), f.opts()); err != nil {
		t.Fatal(err)
	}
	testHookBeforeLockSwitch = nil
	if !hookRan {
		t.Fatal("hook did not run")
	}
	ld, err := Load(f.root, "ens-resolver")
	if err != nil || ld.Version != "1.1.0" {
		t.Fatalf("after upgrade Load gives %v, %v", ld, err)
	}
	if _, err := os.Stat(oldDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("old version left after the switch: %v", err)
	}

	_, err = f.install(f.pkg(pkgParams{Version: "1.0.1"}, true), f.opts())
	wantErr(t, err, nil, "refusing to downgrade")
	o := f.opts()
	o.AllowDowngrade = true
	if _, err := f.install(f.pkg(pkgParams{Version: "1.0.1"}, true), o); err != nil {
		t.Fatal(err)
	}
}

func TestFailedInstallKeepsPreviousVersion(t *testing.T) {
	f := newFixture(t)
	if _, err := f.install(f.pkg(pkgParams{Version: "1.0.0"}, true), f.opts()); err != nil {
		t.Fatal(err)
	}
	bad := f.pkg(pkgParams{Version: "1.1.0"}, true)
	flipByte(t, filepath.Join(bad, "plugin.wasm"), -1)
	if _, err := f.install(bad, f.opts()); err == nil {
		t.Fatal("tampered upgrade installed")
	}
	ld, err := Load(f.root, "ens-resolver")
	if err != nil || ld.Version != "1.0.0" {
		t.Fatalf("Load after a refused upgrade: %v, %v", ld, err)
	}
	entries, _ := os.ReadDir(f.root)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".staging-") {
			t.Errorf("staging directory left behind: %s", e.Name())
		}
	}
}

func TestRemove(t *testing.T) {
	f := newFixture(t)
	if _, err := f.install(f.pkg(pkgParams{}, true), f.opts()); err != nil {
		t.Fatal(err)
	}
	if err := Remove(f.root, "ens-resolver"); err != nil {
		t.Fatal(err)
	}
	assertNotInstalled(t, f.root, "ens-resolver")
	if _, err := os.Stat(filepath.Join(f.root, "ens-resolver")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("files left: %v", err)
	}
	wantErr(t, Remove(f.root, "ens-resolver"), ErrNotInstalled, "not installed")
}

func TestLoadRefusesDigestMismatch(t *testing.T) {
	f := newFixture(t)
	if _, err := f.install(f.pkg(pkgParams{}, true), f.opts()); err != nil {
		t.Fatal(err)
	}
	wasmPath := filepath.Join(f.root, "ens-resolver", "1.0.0", "plugin.wasm")
	flipByte(t, wasmPath, 100)
	_, err := Load(f.root, "ens-resolver")
	wantErr(t, err, ErrDigestMismatch, "plugin.wasm")
	r, err := Inspect(context.Background(), f.root, "ens-resolver", nil)
	if err != nil || !strings.Contains(r.Status, "sha256 mismatch") {
		t.Errorf("Inspect status %q, %v", r.Status, err)
	}
	flipByte(t, wasmPath, 100)
	if _, err := Load(f.root, "ens-resolver"); err != nil {
		t.Fatal(err)
	}

	// A lock file edited to another digest is refused too.
	lp := filepath.Join(f.root, LockFileName)
	b, _ := os.ReadFile(lp)
	var lf LockFile
	if err := json.Unmarshal(b, &lf); err != nil {
		t.Fatal(err)
	}
	e := lf.Plugins["ens-resolver"]
	e.Artifacts["wasm"] = Artifact{File: "plugin.wasm", SHA256: strings.Repeat("0", 64)}
	lf.Plugins["ens-resolver"] = e
	b, _ = json.Marshal(lf)
	if err := os.WriteFile(lp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(f.root, "ens-resolver")
	wantErr(t, err, nil, "manifest and lock file disagree")

	// And so is a manifest changed after install.
	e.Artifacts["wasm"] = Artifact{File: "plugin.wasm", SHA256: hex.EncodeToString(func() []byte { s := sha256.Sum256(guest(t)); return s[:] }())}
	lf.Plugins["ens-resolver"] = e
	b, _ = json.Marshal(lf)
	_ = os.WriteFile(lp, b, 0o600)
	flipByte(t, filepath.Join(f.root, "ens-resolver", "1.0.0", ManifestFile), 10)
	_, err = Load(f.root, "ens-resolver")
	wantErr(t, err, ErrDigestMismatch, ManifestFile)
}

func TestInstallProcessPlugin(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	bin := []byte("#!/bin/sh\nexit 0\n")
	sum := sha256.Sum256(bin)
	plat := runtime.GOOS + "/" + runtime.GOARCH
	man := fmt.Sprintf(`name: moodle
publisher: Example Labs
version: 0.2.0
interfaces: [lms]
runtime: process
abi: ^1.0
artifacts:
  process:
    %s: {file: bin/moodle, sha256: %s}
capabilities: {kv: {max_entries: 100, max_bytes: 65536}}
`, plat, hex.EncodeToString(sum[:]))
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), []byte(man), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "moodle"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Sign(filepath.Join(dir, ManifestFile), f.priv); err != nil {
		t.Fatal(err)
	}
	o := f.opts()
	_, err := f.install(dir, o)
	wantErr(t, err, ErrNotGranted, `"kv"`)
	o.Grants.Capabilities = []string{"kv"}
	if _, err := f.install(dir, o); err != nil {
		t.Fatal(err)
	}
	ld, err := Load(f.root, "moodle")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(ld.Binary)
	if err != nil || fi.Mode().Perm() != 0o700 || ld.BinarySHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("binary %s: %v %v %s", ld.Binary, fi.Mode(), err, ld.BinarySHA256)
	}
	if fi, err := os.Stat(filepath.Join(f.root, "moodle", "0.2.0", "bin")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("bin dir mode: %v %v", fi.Mode(), err)
	}
}

func assertNotInstalled(t *testing.T, root, name string) {
	t.Helper()
	_, err := Load(root, name)
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("Load %s: want ErrNotInstalled, got %v", name, err)
	}
}

// TestInstallRunsTheRuntimeCheck: the runtime's own module check runs with
// the capabilities granted, and its refusal refuses the install before
// anything is recorded.
func TestInstallRunsTheRuntimeCheck(t *testing.T) {
	f := newFixture(t)
	src := f.pkg(pkgParams{}, true)
	o := f.opts()
	var got []string
	o.CheckWasm = func(_ context.Context, wasm []byte, caps []string) error {
		if len(wasm) == 0 {
			t.Error("CheckWasm got no module")
		}
		got = caps
		return errors.New("gatewayd_call must be (i32, i32) -> i32")
	}
	_, err := f.install(src, o)
	wantErr(t, err, ErrIncompatible, "gatewayd_call must be (i32, i32) -> i32")
	assertNotInstalled(t, f.root, "ens-resolver")
	if !slices.Equal(got, []string{"http", "log"}) {
		t.Errorf("CheckWasm got capabilities %v, want the granted [http log]", got)
	}
	o.CheckWasm = func(context.Context, []byte, []string) error { return nil }
	if _, err := f.install(src, o); err != nil {
		t.Fatalf("install with the check passing: %v", err)
	}
}
