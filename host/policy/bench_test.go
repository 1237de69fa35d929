package policy

import (
	"context"
	"slices"
	"testing"
	"time"
)

// benchInputs is a representative request mix: public, session, self
// service, admin denied, metrics on the admin listener.
var benchInputs = []*Input{
	{Method: "GET", Route: "health.live", Path: "/healthz", Listener: "public", ClientIP: "192.0.2.1", Principal: anonymous},
	{Method: "GET", Route: "users.me", Path: "/api/v1/users/me", Listener: "public", ClientIP: "192.0.2.2", Principal: aliceJWT},
	{Method: "GET", Route: "users.limits.get", Path: "/api/v1/users/alice/limits", Listener: "public", ClientIP: "192.0.2.2",
		Params: map[string]string{"userId": "alice"}, Principal: aliceJWT},
	{Method: "GET", Route: "admin.backup", Path: "/api/v1/admin/backup", Listener: "public", ClientIP: "192.0.2.3", Principal: aliceKey},
	{Method: "GET", Route: "metrics", Path: "/metrics", Listener: "admin", ClientIP: "127.0.0.1", Principal: anonymous},
}

func benchEngine(b *testing.B, cacheSize int64) *Engine {
	b.Helper()
	e, err := New(context.Background(), Options{Logger: discardLogger(), CacheSize: cacheSize})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Close() })
	return e
}

// BenchmarkDecideFresh evaluates the embedded policy on every call.
func BenchmarkDecideFresh(b *testing.B) {
	e := benchEngine(b, -1)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := e.Decide(ctx, benchInputs[i%len(benchInputs)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecideFreshByRoute shows the cost per kind of route.
func BenchmarkDecideFreshByRoute(b *testing.B) {
	e := benchEngine(b, -1)
	ctx := context.Background()
	for _, in := range benchInputs {
		b.Run(in.Route, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Decide(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecideCached serves the same request mix from the decision cache.
func BenchmarkDecideCached(b *testing.B) {
	e := benchEngine(b, 0)
	ctx := context.Background()
	for _, in := range benchInputs {
		if _, err := e.Decide(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		d, err := e.Decide(ctx, benchInputs[i%len(benchInputs)])
		if err != nil || !d.Cached {
			b.Fatalf("not cached: %+v %v", d, err)
		}
	}
}

// BenchmarkDecideCachedParallel is the cached path under contention.
func BenchmarkDecideCachedParallel(b *testing.B) {
	e := benchEngine(b, 0)
	ctx := context.Background()
	for _, in := range benchInputs {
		if _, err := e.Decide(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			if _, err := e.Decide(ctx, benchInputs[i%len(benchInputs)]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkDecideFreshLatency times 20000 fresh decisions one by one and
// reports the median and 99th percentile. Run it with -benchtime=1x.
func BenchmarkDecideFreshLatency(b *testing.B) {
	latency(b, benchEngine(b, -1))
}

// BenchmarkDecideCachedLatency is the same for cached decisions.
func BenchmarkDecideCachedLatency(b *testing.B) {
	latency(b, benchEngine(b, 0))
}

func latency(b *testing.B, e *Engine) {
	const n = 20000
	ctx := context.Background()
	// Warm up: caches, the runtime, the CPU's frequency.
	for i := range 2000 {
		if _, err := e.Decide(ctx, benchInputs[i%len(benchInputs)]); err != nil {
			b.Fatal(err)
		}
	}
	durations := make([]time.Duration, 0, n)
	b.ResetTimer()
	for b.Loop() {
		durations = durations[:0]
		for i := range n {
			start := time.Now()
			_, err := e.Decide(ctx, benchInputs[i%len(benchInputs)])
			durations = append(durations, time.Since(start))
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	slices.Sort(durations)
	b.ReportMetric(float64(durations[n/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(durations[n*99/100].Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(durations[n-1].Nanoseconds()), "max-ns")
}
