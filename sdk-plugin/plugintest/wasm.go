//go:build !wasip1

package plugintest

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/plugin/wasmrt"
)

var builds sync.Map // package path -> *buildResult

type buildResult struct {
	once sync.Once
	wasm []byte
	err  string
}

// BuildWasm compiles the plugin package pkgPath ("." for the package under
// test, or an import path) the way it ships:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared
//
// from the test's working directory, and returns the module. A package is
// built once per test binary.
func BuildWasm(t testing.TB, pkgPath string) []byte {
	t.Helper()
	v, _ := builds.LoadOrStore(pkgPath, new(buildResult))
	b := v.(*buildResult)
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "plugintest-")
		if err != nil {
			b.err = err.Error()
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "plugin.wasm")
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, pkgPath)
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.err = "go build " + pkgPath + ": " + err.Error() + "\n" + strings.TrimSpace(string(msg))
			return
		}
		b.wasm, err = os.ReadFile(out)
		if err != nil {
			b.err = err.Error()
		}
	})
	if b.err != "" {
		t.Fatalf("plugintest: %s", b.err)
	}
	return b.wasm
}

// NewWasm loads wasm under the gateway's WebAssembly runtime
// (host/plugin/wasmrt), as the gateway would with every capability granted,
// each served by the simulated host's fakes. The plugin is closed when the
// test ends.
func NewWasm(t testing.TB, wasm []byte, opts Options) *Host {
	t.Helper()
	h := newHost(t, opts)
	ctx := context.Background()
	rt, err := wasmrt.NewRuntime(ctx, wasmrt.Options{Logger: slog.New(logHandler{h: h})})
	if err != nil {
		t.Fatalf("plugintest: %v", err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	p, err := rt.Load(ctx, wasmrt.Spec{
		Name: "plugin-under-test",
		Wasm: wasm,
		Grants: []string{wasmrt.ModuleHTTP, wasmrt.ModuleKV, wasmrt.ModuleSecrets, wasmrt.ModuleLog,
			wasmrt.ModuleMetrics, wasmrt.ModuleClock, wasmrt.ModuleRandom, wasmrt.ModuleConfig},
		Caps: wasmrt.Capabilities{
			HTTP:    h,
			KV:      h.kv,
			Secrets: h,
			Log:     slog.New(logHandler{h: h}),
			Metrics: h,
			Clock:   h.now,
			Config:  h.config,
		},
		BreakerFailures: -1, // a conformance failure must not turn into circuit_open
	})
	if err != nil {
		t.Fatalf("plugintest: load: %v", err)
	}
	h.tr = p
	return h
}

// RunWasm is NewWasm(t, wasm, opts).Transport().
func RunWasm(t testing.TB, wasm []byte, opts Options) abiv1.Transport {
	t.Helper()
	return NewWasm(t, wasm, opts).Transport()
}
