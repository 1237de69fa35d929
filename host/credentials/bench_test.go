package credentials

import (
	"crypto/ed25519"
	"fmt"
	"testing"

	"github.com/ubeu/gateway/host/vc/dataintegrity"
)

// Figures of issue 5 (in process, this machine's cores):
//
//	go test -run '^$' -bench . -benchtime 3s ./host/credentials
//
// Sign*: securing one prepared credential (the proof), in parallel on all
// cores. IssueBatch*: the whole service per credential — validation,
// status allocation, signing on all cores, Merkle root, one atomic store
// write of the batch (Badger in memory here). Verify*: the whole check of
// a credential — proof, issuer key, validity, both status bits.

func benchCredential(i int) map[string]any {
	return degree(fmt.Sprintf("did:example:learner%d", i))
}

func benchSign(b *testing.B, suite string) {
	f := newFixture(b)
	vm, key, _ := f.keys.SigningKey(ctx, f.iss.DID)
	entries, err := f.reg.AllocateN(ctx, f.iss.EnterpriseID, "revocation", 1)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c := benchCredential(i)
			c["issuer"], c["id"] = f.iss.DID, fmt.Sprintf("urn:uuid:%d", i)
			c["credentialStatus"] = entries[0].CredentialStatus()
			if _, err := dataintegrity.Sign(ctx, c, key, dataintegrity.ProofOptions{Cryptosuite: suite, VerificationMethod: vm}); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "credentials/s")
}

func BenchmarkSignJCS(b *testing.B)  { benchSign(b, dataintegrity.EdDSAJCS2022) }
func BenchmarkSignRDFC(b *testing.B) { benchSign(b, dataintegrity.EdDSARDFC2022) }

func benchBatch(b *testing.B, suite string) {
	f := newFixture(b)
	f.svc.o.Anchor = nil
	const n = 1000
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		items := make([]BatchItem, n)
		for i := range items {
			items[i] = BatchItem{Credential: benchCredential(i), Options: IssueOptions{Cryptosuite: suite}}
		}
		b.StartTimer()
		res, err := f.svc.IssueBatch(ctx, f.iss, items)
		if err != nil {
			b.Fatal(err)
		}
		if res[n-1].Err != nil {
			b.Fatal(res[n-1].Err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "credentials/s")
}

func BenchmarkIssueBatch1000JCS(b *testing.B)  { benchBatch(b, dataintegrity.EdDSAJCS2022) }
func BenchmarkIssueBatch1000RDFC(b *testing.B) { benchBatch(b, dataintegrity.EdDSARDFC2022) }

func benchVerify(b *testing.B, o IssueOptions, repeat bool) {
	f := newFixture(b)
	f.svc.noProofCache = !repeat
	out, err := f.svc.Issue(ctx, f.iss, benchCredential(0), o)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			v, err := f.svc.Verify(ctx, out.Secured, VerifyOptions{})
			if err != nil || !v.Verified {
				b.Fatalf("%v %+v", err, v)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "credentials/s")
}

// Verify* check everything, the proof included; VerifyRepeat* verify the
// same bytes again, the proof answered by the proof cache (the issuer's
// key re-checked), as an edge verifier does for a credential it has seen.
func BenchmarkVerifyJCS(b *testing.B) {
	benchVerify(b, IssueOptions{Cryptosuite: dataintegrity.EdDSAJCS2022}, false)
}

func BenchmarkVerifyRDFC(b *testing.B) { benchVerify(b, IssueOptions{}, false) }

func BenchmarkVerifyJWT(b *testing.B) { benchVerify(b, IssueOptions{Format: FormatJWT}, false) }

func BenchmarkVerifyRepeatJCS(b *testing.B) {
	benchVerify(b, IssueOptions{Cryptosuite: dataintegrity.EdDSAJCS2022}, true)
}

// Baselines for the same run: the bare Ed25519 signature and check every
// credential pays for, on all cores.
func BenchmarkEd25519SignBaseline(b *testing.B) {
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	msg := make([]byte, 64)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ed25519.Sign(key, msg)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signatures/s")
}

func BenchmarkEd25519VerifyBaseline(b *testing.B) {
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	msg := make([]byte, 64)
	sig := ed25519.Sign(key, msg)
	pub := key.Public().(ed25519.PublicKey)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ed25519.Verify(pub, msg, sig)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifications/s")
}
