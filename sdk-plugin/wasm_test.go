//go:build !wasip1

package sdk_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/sdk-plugin/internal/benchdata"
)

const (
	echoPkg  = "./sdk-plugin/examples/echo-resolver"
	benchPkg = "./sdk-plugin/internal/benchguest"
)

var echoConfig = []byte(`{"names": {"alice.eth": {
	"owners": [{"chain": "eip155:1", "address": "0xA11CE"}, {"chain": "hedera:mainnet", "address": "0.0.42"}],
	"records": {"email": "alice@example.com", "url": "https://alice.example"},
	"did": "did:example:alice", "expires_unix": 1900000000}}}`)

func TestEchoResolverModuleShape(t *testing.T) {
	wasm := guestWasm(t, echoPkg)
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(wasmCache))
	defer rt.Close(ctx)
	c, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	var versions, ifaces []string
	for name, fn := range c.ExportedFunctions() {
		if maj, min, ok := abiv1.ParseVersionExport(name); ok {
			versions = append(versions, name)
			if maj != abiv1.Major || min != abiv1.Minor {
				t.Errorf("version marker %s, want v%d_%d", name, abiv1.Major, abiv1.Minor)
			}
		}
		if len(name) > len(abiv1.InterfaceExportPrefix) && name[:len(abiv1.InterfaceExportPrefix)] == abiv1.InterfaceExportPrefix {
			ifaces = append(ifaces, name[len(abiv1.InterfaceExportPrefix):])
		}
		if name == abiv1.CallExport {
			if p, r := fn.ParamTypes(), fn.ResultTypes(); len(p) != 2 || len(r) != 1 {
				t.Errorf("gatewayd_call has %d params and %d results, want 2 and 1", len(p), len(r))
			}
		}
	}
	if len(versions) != 1 {
		t.Errorf("version markers %v, want exactly one", versions)
	}
	if !slices.Equal(ifaces, []string{"resolver"}) {
		t.Errorf("interface markers %v, want [resolver]", ifaces)
	}
	if _, ok := c.ExportedMemories()["memory"]; !ok {
		t.Error("no memory export")
	}
	mods := map[string]bool{}
	for _, f := range c.ImportedFunctions() {
		m, _, _ := f.Import()
		mods[m] = true
	}
	got := make([]string, 0, len(mods))
	for m := range mods {
		got = append(got, m)
	}
	sort.Strings(got)
	// The plugin uses Config and Log only: unused capabilities are not imported.
	want := []string{"gatewayd_v1", "gatewayd_v1_config", "gatewayd_v1_log", "wasi_snapshot_preview1"}
	if !slices.Equal(got, want) {
		t.Errorf("import modules %v, want %v", got, want)
	}
}

func TestEchoResolverWasm(t *testing.T) {
	h := newHarness(t, guestWasm(t, echoPkg), echoConfig)
	ctx := context.Background()

	d, err := abiv1.NewPluginClient(h).Describe(ctx, &abiv1.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "echo-resolver" || d.Version != "0.1.0" || !slices.Equal(d.Interfaces, []string{"resolver"}) || d.ABIMinor != abiv1.Minor {
		t.Errorf("Describe = %+v", d)
	}

	r := abiv1.NewResolverClient(h)
	got, err := r.Resolve(ctx, &abiv1.ResolveRequest{Name: "Alice.eth"})
	if err != nil {
		t.Fatal(err)
	}
	want := &abiv1.ResolveResponse{
		Owners:      []*abiv1.Address{{Chain: "eip155:1", Address: "0xA11CE"}, {Chain: "hedera:mainnet", Address: "0.0.42"}},
		Records:     map[string]string{"email": "alice@example.com", "url": "https://alice.example"},
		DID:         "did:example:alice",
		ExpiresUnix: 1900000000,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Resolve = %+v, want %+v", got, want)
	}
	got, err = r.Resolve(ctx, &abiv1.ResolveRequest{Name: "alice.eth", Networks: []string{"hedera:mainnet"}})
	if err != nil || len(got.Owners) != 1 || got.Owners[0].Address != "0.0.42" {
		t.Errorf("Resolve with networks = %+v, %v", got, err)
	}

	_, err = r.Resolve(ctx, &abiv1.ResolveRequest{Name: "bob.eth"})
	if e := new(abiv1.Error); !errors.As(err, &e) || e.Code != abiv1.ErrorCodeNotFound {
		t.Errorf("Resolve(bob.eth) error = %v, want NOT_FOUND", err)
	}

	own, err := r.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "alice.eth", Address: &abiv1.Address{Chain: "eip155:1", Address: "0xa11ce"}})
	if err != nil || !own.Owns || own.Evidence["source"] != "config" {
		t.Errorf("CheckOwnership(owner) = %+v, %v", own, err)
	}
	own, err = r.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "alice.eth", Address: &abiv1.Address{Chain: "eip155:1", Address: "0xB0B"}})
	if err != nil || own.Owns {
		t.Errorf("CheckOwnership(other) = %+v, %v", own, err)
	}
	if len(h.logs) != 1 || h.logs[0].Message != "ownership denied" || h.logs[0].Attrs["name"] != "alice.eth" {
		t.Errorf("logs = %v", h.logs)
	}

	// A method of another interface, and a request that does not decode.
	_, err = abiv1.NewLMSClient(h).ListCompletions(ctx, &abiv1.ListCompletionsRequest{})
	if e := new(abiv1.Error); !errors.As(err, &e) || e.Code != abiv1.ErrorCodeUnimplemented {
		t.Errorf("ListCompletions error = %v, want UNIMPLEMENTED", err)
	}
	_, err = h.Call(ctx, abiv1.MethodResolverResolve, []byte{0x0a, 0x05, 'x'})
	if e := new(abiv1.Error); !errors.As(err, &e) || e.Code != abiv1.ErrorCodeInvalidArgument {
		t.Errorf("truncated request error = %v, want INVALID_ARGUMENT", err)
	}
	// A large input: the guest must grow its input buffer and still answer.
	big := make([]string, 2000)
	for i := range big {
		big[i] = "network-with-a-long-name"
	}
	if _, err := r.Resolve(ctx, &abiv1.ResolveRequest{Name: "alice.eth", Networks: big}); err != nil {
		t.Errorf("Resolve with a 50 KB request: %v", err)
	}
	// Output over the host's cap is reported by the guest as a failed call.
	h.outCap = 10
	status, _, err := h.raw(ctx, abiv1.MethodResolverResolve, (&abiv1.ResolveRequest{Name: "alice.eth"}).MarshalAppend(nil))
	if err != nil || status < 2 {
		t.Errorf("over the output cap: status %d, err %v; want an ABI failure status", status, err)
	}
}

func TestEchoResolverMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("200,000 calls")
	}
	h := newHarness(t, guestWasm(t, echoPkg), echoConfig)
	ctx := context.Background()
	req := (&abiv1.ResolveRequest{Name: "alice.eth"}).MarshalAppend(nil)
	call := func() {
		if status, _, err := h.raw(ctx, abiv1.MethodResolverResolve, req); err != nil || status != 0 {
			t.Fatalf("status %d, err %v", status, err)
		}
	}
	for range 50_000 { // warm up: config loaded, buffers sized, GC heap goal reached
		call()
	}
	start := h.memSize()
	t0 := time.Now()
	for i := range 200_000 {
		call()
		if testing.Verbose() && i%20000 == 0 {
			t.Logf("after %d calls: %d bytes", i, h.memSize())
		}
	}
	end := h.memSize()
	t.Logf("linear memory over 200,000 calls: start %d bytes (%.1f MiB), end %d bytes (%.1f MiB); %v per call",
		start, float64(start)/(1<<20), end, float64(end)/(1<<20), time.Since(t0)/200_000)
	if end > start+1<<20 {
		t.Errorf("linear memory grew from %d to %d bytes", start, end)
	}
}

// median times fn n times and returns the median duration.
func median(n int, fn func()) time.Duration {
	d := make([]time.Duration, n)
	for i := range d {
		t0 := time.Now()
		fn()
		d[i] = time.Since(t0)
	}
	slices.Sort(d)
	return d[n/2]
}

func TestWasmLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	h := newHarness(t, guestWasm(t, benchPkg), nil)
	ctx := context.Background()

	req := (&abiv1.ResolveRequest{Name: "vitalik.eth", Networks: []string{"eip155:1"}}).MarshalAppend(nil)
	resolve := func() {
		if status, out, err := h.raw(ctx, abiv1.MethodResolverResolve, req); err != nil || status != 0 || len(out) < 500 {
			t.Fatalf("status %d, %d bytes, err %v", status, len(out), err)
		}
	}
	in64 := make([]byte, 64)
	roundTrip := func() {
		if status, out, err := h.raw(ctx, abiv1.MethodResolverCheckOwnership, in64); err != nil || status != 0 || len(out) != 64 {
			t.Fatalf("status %d, %d bytes, err %v", status, len(out), err)
		}
	}
	for range 2000 {
		resolve()
		roundTrip()
	}
	// The same handler natively: the SDK's dispatch (decode the request,
	// benchdata.Resolver, encode the answer), no runtime in between.
	native := abiv1.DispatchResolver(benchdata.Resolver{})
	nativeResolve := func() {
		if out, err := native(ctx, abiv1.MethodResolverResolve, req); err != nil || len(out) < 500 {
			t.Fatalf("native: %d bytes, %v", len(out), err)
		}
	}
	mr := median(20000, resolve)
	mt := median(20000, roundTrip)
	mn := median(20000, nativeResolve)
	size := benchdata.ResolveResponse("vitalik.eth").Size()
	t.Logf("wasm guest Resolve (decode request, build and encode a %d-byte ResolveResponse): median %v (target 40µs); the same code native: median %v", size, mr, mn)
	t.Logf("wasm 64 B in / 64 B out round trip through gatewayd_call: median %v (target 10µs)", mt)
	// Generous bounds (the machine is noisy): these catch regressions such
	// as per-call export lookups or allocation growth, not jitter.
	if mr > 4*40*time.Microsecond {
		t.Errorf("Resolve median %v, more than 4x the 40µs target", mr)
	}
	if mt > 4*10*time.Microsecond {
		t.Errorf("round trip median %v, more than 4x the 10µs target", mt)
	}
}

func BenchmarkWasmResolve(b *testing.B) {
	h := newHarness(b, guestWasm(b, benchPkg), nil)
	ctx := context.Background()
	req := (&abiv1.ResolveRequest{Name: "vitalik.eth"}).MarshalAppend(nil)
	for b.Loop() {
		if status, _, err := h.raw(ctx, abiv1.MethodResolverResolve, req); err != nil || status != 0 {
			b.Fatal(status, err)
		}
	}
}

// BenchmarkNativeResolve is BenchmarkWasmResolve's baseline: the same
// handler (decode, build, encode) called natively.
func BenchmarkNativeResolve(b *testing.B) {
	h := abiv1.DispatchResolver(benchdata.Resolver{})
	ctx := context.Background()
	req := (&abiv1.ResolveRequest{Name: "vitalik.eth"}).MarshalAppend(nil)
	for b.Loop() {
		if _, err := h(ctx, abiv1.MethodResolverResolve, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWasmRoundTrip64(b *testing.B) {
	h := newHarness(b, guestWasm(b, benchPkg), nil)
	ctx := context.Background()
	in := make([]byte, 64)
	for b.Loop() {
		if status, _, err := h.raw(ctx, abiv1.MethodResolverCheckOwnership, in); err != nil || status != 0 {
			b.Fatal(status, err)
		}
	}
}
