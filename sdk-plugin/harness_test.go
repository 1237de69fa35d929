//go:build !wasip1

package sdk_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	abiv1 "github.com/ubeu/gateway/abi/v1"
)

// This file is a minimal host for the ABI, written from abi/README.md
// only, to test the SDK and the example plugins. It is not the gatewayd
// runtime: it does no capability policy, deadlines or instance replacement.

var (
	buildOnce  sync.Once
	buildDir   string
	buildErr   error
	wasmCache  = wazero.NewCompilationCache()
	wasmBinary = map[string][]byte{}
)

// guestWasm builds the plugin at pkg (relative to the module root) for
// wasip1 once per test binary and returns the module bytes.
func guestWasm(t testing.TB, pkg string) []byte {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("skipping: the go command is not available to build the .wasm guest:", err)
	}
	// Stat the guest sources so that the test cache is invalidated when
	// they change (the wasip1 build below is invisible to it otherwise).
	for _, dir := range []string{".", "resolver", "examples/echo-resolver", "internal/benchguest", "internal/benchdata", "../abi/v1"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			os.Stat(f)
		}
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "sdk-wasm-")
		if buildErr != nil {
			return
		}
		for _, p := range []string{"./sdk-plugin/examples/echo-resolver", "./sdk-plugin/internal/benchguest"} {
			out := filepath.Join(buildDir, filepath.Base(p)+".wasm")
			cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, p)
			cmd.Dir = ".."
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			if b, err := cmd.CombinedOutput(); err != nil {
				buildErr = errors.New(string(b))
				return
			}
			wasmBinary[p], buildErr = os.ReadFile(out)
			if buildErr != nil {
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatalf("building the wasip1 guests: %v", buildErr)
	}
	b, ok := wasmBinary[pkg]
	if !ok {
		t.Fatalf("guest %s not built", pkg)
	}
	return b
}

type harness struct {
	rt     wazero.Runtime
	mod    api.Module
	call   api.Function
	stack  [2]uint64
	input  []byte
	output []byte
	result []byte
	config []byte
	logs   []*abiv1.LogRecord
	outCap int
}

func copyOut(mod api.Module, ptr, cap uint32, src []byte) {
	n := min(uint32(len(src)), cap)
	if n > 0 && !mod.Memory().Write(ptr, src[:n]) {
		panic("out of range write")
	}
}

func newHarness(t testing.TB, wasm, config []byte) *harness {
	t.Helper()
	ctx := context.Background()
	h := &harness{config: config, outCap: 1 << 20}
	h.rt = wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(wasmCache))
	t.Cleanup(func() { h.rt.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, h.rt)

	i32 := api.ValueTypeI32
	_, err := h.rt.NewHostModuleBuilder(abiv1.CoreModule).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, m api.Module, s []uint64) {
		copyOut(m, uint32(s[0]), uint32(s[1]), h.input)
		s[0] = uint64(len(h.input))
	}), []api.ValueType{i32, i32}, []api.ValueType{i32}).Export("input_read").
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, m api.Module, s []uint64) {
		ptr, n := uint32(s[0]), uint32(s[1])
		if int(n) > h.outCap {
			s[0] = 1
			return
		}
		b, ok := m.Memory().Read(ptr, n)
		if !ok {
			panic("out of range read")
		}
		h.output = append(h.output[:0], b...)
		s[0] = 0
	}), []api.ValueType{i32, i32}, []api.ValueType{i32}).Export("output_write").
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, m api.Module, s []uint64) {
		copyOut(m, uint32(s[0]), uint32(s[1]), h.result)
		s[0] = uint64(len(h.result))
	}), []api.ValueType{i32, i32}, []api.ValueType{i32}).Export("result_read").
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.rt.NewHostModuleBuilder(abiv1.ConfigModule).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, m api.Module, s []uint64) {
		copyOut(m, uint32(s[0]), uint32(s[1]), h.config)
		s[0] = uint64(len(h.config))
	}), []api.ValueType{i32, i32}, []api.ValueType{i32}).Export("read").
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.rt.NewHostModuleBuilder(abiv1.LogModule).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, m api.Module, s []uint64) {
		b, ok := m.Memory().Read(uint32(s[1]), uint32(s[2]))
		rec := new(abiv1.LogRecord)
		if !ok || rec.Unmarshal(b) != nil {
			panic("bad log record")
		}
		h.logs = append(h.logs, rec)
	}), []api.ValueType{i32, i32, i32}, nil).Export("log").
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}

	compiled, err := h.rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	h.mod, err = h.rt.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithStartFunctions("_initialize"))
	if err != nil {
		t.Fatal(err)
	}
	h.call = h.mod.ExportedFunction(abiv1.CallExport)
	if h.call == nil {
		t.Fatal("no gatewayd_call export")
	}
	return h
}

// raw calls gatewayd_call with input in and returns the status and output
// (valid until the next call).
func (h *harness) raw(ctx context.Context, method uint32, in []byte) (uint32, []byte, error) {
	h.input, h.output = in, h.output[:0]
	h.stack[0], h.stack[1] = uint64(method), uint64(len(in))
	if err := h.call.CallWithStack(ctx, h.stack[:]); err != nil {
		return 0, nil, err
	}
	return uint32(h.stack[0]), h.output, nil
}

// Call implements abiv1.Transport.
func (h *harness) Call(ctx context.Context, method uint32, req []byte) ([]byte, error) {
	status, out, err := h.raw(ctx, method, req)
	switch {
	case err != nil:
		return nil, &abiv1.PluginError{Method: method, Reason: "trap", Err: err}
	case status == abiv1.StatusOK:
		return append([]byte(nil), out...), nil
	case status == abiv1.StatusError:
		e := new(abiv1.Error)
		if err := e.Unmarshal(out); err != nil {
			return nil, &abiv1.PluginError{Method: method, Reason: "error output does not decode", Err: err}
		}
		return nil, e
	}
	return nil, &abiv1.PluginError{Method: method, Reason: "invalid status"}
}

func (h *harness) memSize() uint32 { return h.mod.Memory().Size() }
