package manager

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	pluginpkg "github.com/ubeu/gateway/host/plugin/pkg"
)

// TestWasmSpecLimits: the manifest's limits reach the runtime, and without
// them instances are still recycled (after DefaultRecycleAfterCalls calls
// and above three quarters of the memory cap), since linear memory never
// shrinks.
func TestWasmSpecLimits(t *testing.T) {
	for _, tc := range []struct {
		name      string
		limits    pluginpkg.Limits
		calls     int
		aboveByte uint64
		pages     uint32
	}{
		{"defaults", pluginpkg.Limits{}, DefaultRecycleAfterCalls, 384 << 16, 0},
		{"memory cap only", pluginpkg.Limits{MemoryPages: 200}, DefaultRecycleAfterCalls, 150 << 16, 200},
		{"explicit", pluginpkg.Limits{MemoryPages: 200, RecycleAfterCalls: 7, RecyclePages: 100, CallTimeout: pluginpkg.Duration(time.Second)},
			7, 100 << 16, 200},
	} {
		inst := &pluginpkg.Installed{LockEntry: pluginpkg.LockEntry{Name: "p"}, Wasm: []byte{0}, Manifest: &pluginpkg.Manifest{Limits: tc.limits}}
		spec, err := wasmSpec(inst, Capabilities{})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if spec.RecycleAfterCalls != tc.calls || spec.RecycleAboveBytes != tc.aboveByte || spec.MemoryLimitPages != tc.pages ||
			spec.CallTimeout != time.Duration(tc.limits.CallTimeout) {
			t.Errorf("%s: spec %+v", tc.name, spec)
		}
	}
	if _, err := wasmSpec(&pluginpkg.Installed{LockEntry: pluginpkg.LockEntry{Name: "p"}, Wasm: []byte{0}, Manifest: &pluginpkg.Manifest{}}, Capabilities{Granted: []string{"teleport"}}); err == nil {
		t.Fatal("an unknown capability was accepted")
	}
}

// TestStartTimeout: a plugin whose manifest gives it a start timeout is
// warmed within it, though the host default is too short; one without
// fails its warm-up and is reported.
func TestStartTimeout(t *testing.T) {
	root := t.TempDir()
	wasm := echoWasmBuild.get(t)
	for _, p := range []struct{ name, limits string }{
		{"slow-ok", "limits: {start_timeout: 2m}\n"},
		{"slow-default", ""},
	} {
		src := writeEchoPackage(t, p.name, "1.0.0", "plugin.wasm", wasm, fmt.Sprintf("runtime: wasm\nartifacts:\n  wasm: {file: plugin.wasm, sha256: %x}\n%s", sha256.Sum256(wasm), p.limits))
		install(t, root, src, configFor("did:example:"+p.name))
	}
	m := newManager(t, Options{Root: root, WarmTimeout: time.Nanosecond})
	if _, ok := m.Get("slow-ok"); !ok {
		t.Fatalf("the plugin with start_timeout was not loaded: %+v", m.List())
	}
	if _, ok := m.Get("slow-default"); ok {
		t.Fatal("a 1 ns warm-up succeeded")
	}
	if st := status(t, m, "slow-default"); !strings.Contains(st.Error, "warm-up Describe") {
		t.Fatalf("status of slow-default: %+v", st)
	}
}
