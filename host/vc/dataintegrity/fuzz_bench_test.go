package dataintegrity

import (
	"context"
	"crypto/ed25519"
	"path/filepath"
	"testing"
	"time"
)

func FuzzVerify(f *testing.F) {
	for _, vs := range vectorSets {
		f.Add(read(f, filepath.Join(vs.dir, vs.signed)))
	}
	f.Add([]byte(`{"proof":{"type":"DataIntegrityProof","cryptosuite":"eddsa-rdfc-2022","proofValue":"z1"}}`))
	_, pub := vectorKey(f)
	lim := Limits{MaxInputBytes: 1 << 16, MaxBlankNodes: 64, Timeout: time.Second}
	f.Fuzz(func(t *testing.T, b []byte) {
		// The resolver hands out the vector key for every method: a fuzzed document must
		// still never verify, since the fuzzer cannot forge a signature.
		res, err := VerifyWithLimits(context.Background(), lim, b, func(context.Context, string) (ed25519.PublicKey, error) { return pub, nil })
		if err == nil {
			// Only the unmodified vectors (or documents with the same canonical form) verify.
			if res.Cryptosuite == "" {
				t.Fatalf("verified without a cryptosuite: %s", b)
			}
		}
	})
}

func benchSign(b *testing.B, suite string) {
	sk, _ := vectorKey(b)
	ctx := context.Background()
	doc := read(b, "eddsa-jcs-2022/canonDocJCS.txt")
	opts := ProofOptions{Cryptosuite: suite, VerificationMethod: "did:key:z6Mk#z6Mk", Created: time.Unix(1700000000, 0)}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := Sign(ctx, doc, sk, opts); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creds/s")
}

func benchVerify(b *testing.B, vs vectorSet) {
	_, pub := vectorKey(b)
	ctx := context.Background()
	doc := read(b, filepath.Join(vs.dir, vs.signed))
	resolve := func(context.Context, string) (ed25519.PublicKey, error) { return pub, nil }
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := Verify(ctx, doc, resolve); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creds/s")
}

func BenchmarkSignJCS(b *testing.B)    { benchSign(b, EdDSAJCS2022) }
func BenchmarkVerifyJCS(b *testing.B)  { benchVerify(b, vectorSets[0]) }
func BenchmarkSignRDFC(b *testing.B)   { benchSign(b, EdDSARDFC2022) }
func BenchmarkVerifyRDFC(b *testing.B) { benchVerify(b, vectorSets[1]) }
