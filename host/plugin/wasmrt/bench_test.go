package wasmrt

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sort"
	"testing"
	"time"
)

var payload = bytes.Repeat([]byte("0123456789abcdef"), 4) // 64 bytes

// BenchmarkCall64 is a 64-byte request and 64-byte response through a
// pooled instance, with the per-call deadline enforced. It reports the
// median besides the mean.
func BenchmarkCall64(b *testing.B) {
	r := newTestRuntime(b, nil)
	p := load(b, r, Spec{Name: "echo", MinInstances: 1, MaxInstances: 1})
	ctx := context.Background()
	samples := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		t := time.Now()
		out, err := p.Call(ctx, echoMethod, payload)
		samples = append(samples, time.Since(t))
		if err != nil || len(out) != 64 {
			b.Fatal(err)
		}
	}
	reportMedian(b, samples)
}

// BenchmarkDirectGo is the baseline: the same echo as a Go function call.
func BenchmarkDirectGo(b *testing.B) {
	ctx := context.Background()
	echo := func(_ context.Context, _ uint32, req []byte) ([]byte, error) { return bytes.Clone(req), nil }
	b.ReportAllocs()
	for b.Loop() {
		out, _ := echo(ctx, 1, payload)
		if len(out) != 64 {
			b.Fatal()
		}
	}
}

func reportMedian(b *testing.B, s []time.Duration) {
	if len(s) == 0 {
		return
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	b.ReportMetric(float64(s[len(s)/2].Nanoseconds()), "median-ns")
}

// benchPlugins are the modules the start figures are measured on: the
// minimal test guest and the SDK's example plugin (a real connector: the
// SDK, its codec and two capabilities).
func benchPlugins(tb testing.TB) map[string]Spec {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	return map[string]Spec{
		"echo": {Name: "echo", Wasm: guest(tb, "echo")},
		"echo-resolver": {Name: "echo-resolver", Wasm: guest(tb, "echo-resolver"), Grants: []string{ModuleConfig, ModuleLog},
			Caps: Capabilities{Config: []byte(`{"names": {}}`), Log: quiet}},
	}
}

// BenchmarkLoad starts a plugin with one pre-warmed instance, from a
// cold and from a warm on-disk compilation cache.
func BenchmarkLoad(b *testing.B) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, name := range []string{"echo", "echo-resolver"} {
		spec := benchPlugins(b)[name]
		spec.MinInstances = 1
		b.Logf("%s: %d-byte module", name, len(spec.Wasm))
		run := func(b *testing.B, dir string) {
			r, err := NewRuntime(context.Background(), Options{CacheDir: dir, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			p, err := r.Load(context.Background(), spec)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			p.Close(context.Background())
			r.Close(context.Background())
			b.StartTimer()
		}
		b.Run(name+"/cold", func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				dir := b.TempDir()
				b.StartTimer()
				run(b, dir)
				b.StopTimer()
				os.RemoveAll(dir)
				b.StartTimer()
			}
		})
		b.Run(name+"/warm", func(b *testing.B) {
			dir := b.TempDir()
			run(b, dir) // fill the cache
			b.ResetTimer()
			for b.Loop() {
				run(b, dir)
			}
		})
	}
}

// BenchmarkNewInstance creates a pooled instance (instantiate and
// _initialize) and reports its linear memory and the host heap it costs.
func BenchmarkNewInstance(b *testing.B) {
	for _, name := range []string{"echo", "echo-resolver"} {
		b.Run(name, func(b *testing.B) { benchNewInstance(b, benchPlugins(b)[name]) })
	}
}

func benchNewInstance(b *testing.B, spec Spec) {
	r := newTestRuntime(b, nil)
	spec.MaxInstances = 1
	p := load(b, r, spec)
	ctx := context.Background()
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	var linear uint32
	var kept []*instance
	for b.Loop() {
		in, err := p.newInstance(ctx)
		if err != nil {
			b.Fatal(err)
		}
		linear = in.mem.Size()
		kept = append(kept, in)
		if len(kept) == 16 {
			b.StopTimer()
			runtime.GC()
			runtime.ReadMemStats(&ms1)
			for _, in := range kept {
				p.discard(in)
			}
			kept = kept[:0]
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(linear), "linear-bytes/instance")
	if ms1.HeapAlloc > ms0.HeapAlloc {
		b.ReportMetric(float64(ms1.HeapAlloc-ms0.HeapAlloc)/16, "host-heap-bytes/instance")
	}
	for _, in := range kept {
		p.discard(in)
	}
}
