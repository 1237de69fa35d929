package wasmrt

import (
	"context"
	"fmt"
	"math"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Import module names of ABI v1.
const (
	ModuleCore    = "gatewayd_v1"
	ModuleWASI    = "wasi_snapshot_preview1"
	ModuleHTTP    = "gatewayd_v1_http"
	ModuleKV      = "gatewayd_v1_kv"
	ModuleSecrets = "gatewayd_v1_secrets"
	ModuleLog     = "gatewayd_v1_log"
	ModuleMetrics = "gatewayd_v1_metrics"
	ModuleClock   = "gatewayd_v1_clock"
	ModuleRandom  = "gatewayd_v1_random"
	ModuleConfig  = "gatewayd_v1_config"
)

const (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
	f64 = api.ValueTypeF64
)

// guestMemory is the part of api.Memory the host functions use.
type guestMemory interface {
	Read(offset, byteCount uint32) ([]byte, bool)
	Write(offset uint32, v []byte) bool
}

// callState is what the host functions of one instance see of the call in
// progress. It belongs to one instance and is used by one call at a time.
type callState struct {
	plugin    *Plugin
	input     []byte
	output    []byte
	wrote     bool   // output_write accepted an output
	overflow  uint32 // length of the last refused output_write; fails the call
	result    []byte // last capability result
	fault     error  // first ABI violation of the call
	maxOutput uint32
}

func (c *callState) reset(input []byte) {
	c.input, c.output, c.wrote, c.overflow, c.result, c.fault = input, nil, false, 0, nil, nil
}

type callKey struct{}

// oob is the error of an access outside linear memory.
func oob(fn string, ptr uint32, n uint64) error {
	return fmt.Errorf("%w: %s: bytes [%d, %d) are outside linear memory", ErrABI, fn, ptr, uint64(ptr)+n)
}

// readGuest returns n bytes of guest memory at ptr (aliased, valid until the
// guest runs again).
func readGuest(mem guestMemory, fn string, ptr, n uint32) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	b, ok := mem.Read(ptr, n)
	if !ok {
		return nil, oob(fn, ptr, uint64(n))
	}
	return b, nil
}

// copyOut copies min(len(src), capacity) bytes of src to guest memory at ptr
// and returns len(src): the input_read/result_read/config.read convention.
func copyOut(mem guestMemory, fn string, src []byte, ptr, capacity uint32) (uint32, error) {
	if uint64(len(src)) > math.MaxInt32 {
		return 0, fmt.Errorf("%w: %s: %d bytes do not fit an i32", ErrABI, fn, len(src))
	}
	n := min(uint64(len(src)), uint64(capacity))
	if n > 0 && !mem.Write(ptr, src[:n]) {
		return 0, oob(fn, ptr, n)
	}
	return uint32(len(src)), nil
}

func (c *callState) inputRead(mem guestMemory, ptr, capacity uint32) (uint32, error) {
	return copyOut(mem, "input_read", c.input, ptr, capacity)
}

func (c *callState) resultRead(mem guestMemory, ptr, capacity uint32) (uint32, error) {
	return copyOut(mem, "result_read", c.result, ptr, capacity)
}

// outputWrite replaces the call output with n bytes at ptr: 0 if accepted, 1
// if n exceeds the output cap. A refused write fails the call whatever the
// guest does next (abi/README.md, "output too large").
func (c *callState) outputWrite(mem guestMemory, ptr, n uint32) (uint32, error) {
	if n > c.maxOutput {
		c.output, c.wrote, c.overflow = nil, false, n
		return 1, nil
	}
	b, err := readGuest(mem, "output_write", ptr, n)
	if err != nil {
		return 0, err
	}
	c.output = append(make([]byte, 0, len(b)), b...)
	c.wrote = true
	return 0, nil
}

// hostFunc adapts a host function to wazero: it finds the call state in ctx
// and turns an error into a fault of the call (recorded, then raised as a
// panic, which wazero returns from the guest's export as an error).
func hostFunc(f func(ctx context.Context, c *callState, mem guestMemory, stack []uint64) error) api.GoModuleFunc {
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		c, _ := ctx.Value(callKey{}).(*callState)
		if c == nil {
			panic(fmt.Errorf("%w: host function called outside gatewayd_call", ErrABI))
		}
		err := f(ctx, c, mod.Memory(), stack)
		if err == nil && ctx.Err() != nil {
			// The call's deadline (or its caller's context) ended while the
			// host worked for the guest: stop the guest here rather than
			// let it run on past its deadline with the host's answer.
			panic(ctx.Err())
		}
		if err != nil {
			if c.fault == nil {
				c.fault = err
			}
			panic(err)
		}
	}
}

type hostFuncDef struct {
	name    string
	params  []api.ValueType
	results []api.ValueType
	fn      func(ctx context.Context, c *callState, mem guestMemory, stack []uint64) error
}

// coreFuncs are the functions of module gatewayd_v1.
var coreFuncs = []hostFuncDef{
	{"input_read", []api.ValueType{i32, i32}, []api.ValueType{i32}, func(_ context.Context, c *callState, mem guestMemory, s []uint64) error {
		n, err := c.inputRead(mem, api.DecodeU32(s[0]), api.DecodeU32(s[1]))
		s[0] = api.EncodeU32(n)
		return err
	}},
	{"output_write", []api.ValueType{i32, i32}, []api.ValueType{i32}, func(_ context.Context, c *callState, mem guestMemory, s []uint64) error {
		n, err := c.outputWrite(mem, api.DecodeU32(s[0]), api.DecodeU32(s[1]))
		s[0] = api.EncodeU32(n)
		return err
	}},
	{"result_read", []api.ValueType{i32, i32}, []api.ValueType{i32}, func(_ context.Context, c *callState, mem guestMemory, s []uint64) error {
		n, err := c.resultRead(mem, api.DecodeU32(s[0]), api.DecodeU32(s[1]))
		s[0] = api.EncodeU32(n)
		return err
	}},
}

// hostModules maps each import module the host can provide to its functions.
var hostModules = map[string][]hostFuncDef{
	ModuleCore:    coreFuncs,
	ModuleHTTP:    httpFuncs,
	ModuleKV:      kvFuncs,
	ModuleSecrets: secretsFuncs,
	ModuleLog:     logFuncs,
	ModuleMetrics: metricsFuncs,
	ModuleClock:   clockFuncs,
	ModuleRandom:  randomFuncs,
	ModuleConfig:  configFuncs,
}

// instantiateHostModule defines module name in r.
func instantiateHostModule(ctx context.Context, r wazero.Runtime, name string) error {
	b := r.NewHostModuleBuilder(name)
	for _, d := range hostModules[name] {
		b.NewFunctionBuilder().WithGoModuleFunction(hostFunc(d.fn), d.params, d.results).Export(d.name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("wasmrt: host module %s: %w", name, err)
	}
	return nil
}

// lookupHostFunc returns the definition of name in module, if any.
func lookupHostFunc(module, name string) (hostFuncDef, bool) {
	for _, d := range hostModules[module] {
		if d.name == name {
			return d, true
		}
	}
	return hostFuncDef{}, false
}
