package didkey

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/ubeu/gateway/host/did"
)

// Test vectors from the did:key specification's examples.
func TestSpecVectors(t *testing.T) {
	var r Resolver
	res, err := r.Resolve(context.Background(), "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp", did.ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := res.Document
	if len(d.VerificationMethod) != 2 || d.KeyAgreement[0].Ref != "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp#z6LShs9GGnqk85isEBzzshkuVWrVKsRp24GnDuHk8QWkARMW" {
		b, _ := json.MarshalIndent(d, "", " ")
		t.Fatalf("unexpected document:\n%s", b)
	}
	if d.Authentication[0].Ref != d.VerificationMethod[0].ID || d.VerificationMethod[0].PublicKeyMultibase != "z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp" {
		t.Fatalf("bad verification method %+v", d.VerificationMethod[0])
	}
	for _, s := range []string{
		"did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169",
		"did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme",
	} {
		res, err := r.Resolve(context.Background(), s, did.ResolveOptions{})
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if len(res.Document.VerificationMethod) != 1 || res.Document.KeyAgreement != nil {
			t.Fatalf("%s: %+v", s, res.Document)
		}
	}
}

func TestGeneratedKeys(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k1, _ := secp256k1.GeneratePrivateKey()
	for _, tc := range []struct {
		codec uint64
		key   []byte
	}{
		{did.CodecEd25519Pub, pub},
		{did.CodecP256Pub, elliptic.MarshalCompressed(elliptic.P256(), p256.X, p256.Y)},
		{did.CodecSecp256k1Pub, k1.PubKey().SerializeCompressed()},
	} {
		s := Format(tc.codec, tc.key)
		k, err := Parse(s)
		if err != nil || k.Codec != tc.codec || string(k.Bytes) != string(tc.key) {
			t.Fatalf("Parse(%s) = %+v, %v", s, k, err)
		}
	}
}

func TestInvalid(t *testing.T) {
	notOnCurve := make([]byte, 33)
	notOnCurve[0] = 2
	notOnCurve[32] = 5 // x = 5: no P-256 point? checked below via the error
	badEd := make([]byte, 32)
	for i := range badEd {
		badEd[i] = 0xff // y >= p: not canonical
	}
	cases := []string{
		"did:key:",
		"did:key:6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp",    // no multibase prefix
		"did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooW",    // truncated
		"did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp#x", // DID URL
		"did:web:example.com",
		Format(did.CodecEd25519Pub, make([]byte, 31)),
		Format(did.CodecEd25519Pub, badEd),
		Format(did.CodecP256Pub, make([]byte, 65)),
		Format(did.CodecSecp256k1Pub, make([]byte, 33)),
		Format(0x12, make([]byte, 32)), // sha2-256 is not a key
	}
	var r Resolver
	for _, s := range cases {
		if _, err := r.Resolve(context.Background(), s, did.ResolveOptions{}); !errors.Is(err, did.ErrInvalidDID) {
			t.Errorf("%q: err = %v, want invalidDid", s, err)
		}
	}
	now := time.Now()
	if _, err := r.Resolve(context.Background(), "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp", did.ResolveOptions{VersionTime: &now}); did.Code(err) != did.CodeInvalidOptions {
		t.Errorf("versionTime: err = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp")
	f.Add("did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169")
	f.Add("did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := Parse(s)
		if err != nil {
			if did.Code(err) != did.CodeInvalidDID {
				t.Fatalf("error code %q", did.Code(err))
			}
			return
		}
		if Format(k.Codec, k.Bytes) != s {
			t.Fatalf("accepted non-canonical %q", s)
		}
	})
}

var sink *did.Resolution

func BenchmarkResolveEd25519(b *testing.B) {
	benchResolve(b, "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp", false)
}
func BenchmarkResolveP256(b *testing.B) {
	benchResolve(b, "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169", false)
}
func BenchmarkResolveSecp256k1(b *testing.B) {
	benchResolve(b, "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme", false)
}
func BenchmarkResolveEd25519JSON(b *testing.B) {
	benchResolve(b, "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp", true)
}

func benchResolve(b *testing.B, s string, marshal bool) {
	var r Resolver
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := r.Resolve(ctx, s, did.ResolveOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if marshal {
				if _, err := json.Marshal(res); err != nil {
					b.Fatal(err)
				}
			}
			sink = res
		}
	})
}
