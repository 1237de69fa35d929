package resolve

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkResolveHotHit is one DID served from the memory tier.
func BenchmarkResolveHotHit(b *testing.B) {
	f := newFixture(b, CacheConfig{})
	f.key.set(keyDID, "v1")
	mustResolve(b, f.r, keyDID, ResolveOptions{})
	ctx := context.Background()
	opts := ResolveOptions{Accept: MediaTypeResolution}
	b.ReportAllocs()
	for b.Loop() {
		res, err := f.r.Resolve(ctx, keyDID, opts)
		if err != nil || res.Cache != "memory" {
			b.Fatalf("not a memory hit: %q %v", res.Cache, err)
		}
	}
}

// BenchmarkResolveHotHitParallel is BenchmarkResolveHotHit from all cores.
func BenchmarkResolveHotHitParallel(b *testing.B) {
	f := newFixture(b, CacheConfig{})
	f.key.set(keyDID, "v1")
	mustResolve(b, f.r, keyDID, ResolveOptions{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.r.Resolve(context.Background(), keyDID, ResolveOptions{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkResolveManyDIDsHit cycles through 4096 cached DIDs, each with a
// full Accept header to negotiate.
func BenchmarkResolveManyDIDsHit(b *testing.B) {
	f := newFixture(b, CacheConfig{})
	const n = 4096
	dids := make([]string, n)
	for i := range dids {
		dids[i] = fmt.Sprintf("did:key:z6Mk%040d", i)
		f.key.set(dids[i], "v1")
		mustResolve(b, f.r, dids[i], ResolveOptions{})
	}
	opts := ResolveOptions{Accept: "application/did+ld+json;q=0.9, application/did-resolution"}
	for _, id := range dids { // warm the media type's entries
		mustResolve(b, f.r, id, opts)
	}
	ctx := context.Background()
	misses := 0
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		res, _ := f.r.Resolve(ctx, dids[i%n], opts)
		if res.Cache != "memory" {
			misses++
		}
		i++
	}
	b.ReportMetric(float64(misses)/float64(max(i, 1)), "miss/op")
}

// BenchmarkEncodeDocument is the encoding a hit saves (did+json).
func BenchmarkEncodeDocument(b *testing.B) {
	f := newFixture(b, CacheConfig{})
	f.key.set(keyDID, "v1")
	res := mustResolve(b, f.r, keyDID, ResolveOptions{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(&Result{Context: res.Context, Document: res.Document, DocumentMetadata: res.DocumentMetadata}, MediaTypeDIDJSON); err != nil {
			b.Fatal(err)
		}
	}
}
