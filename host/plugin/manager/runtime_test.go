package manager

import (
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
