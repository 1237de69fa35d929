package auth

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

func benchTokens(b *testing.B, cacheSize int64) (*Tokens, string) {
	b.Helper()
	keys, err := OpenKeyring(b.TempDir(), newSealer(b), KeyringOptions{Create: true})
	if err != nil {
		b.Fatal(err)
	}
	tokens, err := NewTokens(keys, TokenOptions{Issuer: testIssuer, Audience: testAudience, CacheSize: cacheSize})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(tokens.Close)
	tok, _, err := tokens.Issue(Claims{Subject: "8c4b1f0e-6a0e-4c9b-9d0e-3f2a1b7c5d6e", SessionID: "b3f1c2d4e5f60718",
		Tenant: "ent-42", Roles: []string{"user", "enterprise"}})
	if err != nil {
		b.Fatal(err)
	}
	return tokens, tok
}

func reportRate(b *testing.B, unit string) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
}

// BenchmarkVerifyUncached is a full verification: parsing, header checks,
// Ed25519 and claims.
func BenchmarkVerifyUncached(b *testing.B) {
	tokens, tok := benchTokens(b, -1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tokens.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, "verifies/s")
}

// BenchmarkVerifyJWX is the same check done by jwx's jwt.Parse, for
// comparison.
func BenchmarkVerifyJWX(b *testing.B) {
	tokens, tok := benchTokens(b, -1)
	set, err := jwk.Parse(tokens.keys.JWKS())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jwt.Parse([]byte(tok), jwt.WithKeySet(set), jwt.WithIssuer(testIssuer), jwt.WithAudience(testAudience)); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, "verifies/s")
}

// BenchmarkVerifyCached is a verified-token cache hit.
func BenchmarkVerifyCached(b *testing.B) {
	tokens, tok := benchTokens(b, 0)
	if _, err := tokens.Verify(tok); err != nil {
		b.Fatal(err)
	}
	tokens.cache.Wait()
	if _, err := tokens.Verify(tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tokens.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, "verifies/s")
}

// BenchmarkVerifyCachedRevocations is a cache hit with a populated deny
// list.
func BenchmarkVerifyCachedRevocations(b *testing.B) {
	tokens, tok := benchTokens(b, 0)
	until := time.Now().Add(time.Hour)
	for i := range 10000 {
		tokens.revoked.add(string(rune(i))+"-jti", until)
	}
	tokens.Verify(tok)
	tokens.cache.Wait()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tokens.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIssue(b *testing.B) {
	tokens, _ := benchTokens(b, -1)
	c := Claims{Subject: "8c4b1f0e-6a0e-4c9b-9d0e-3f2a1b7c5d6e", SessionID: "b3f1c2d4e5f60718", Roles: []string{"user"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := tokens.Issue(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := HashPassword("correct horse battery"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyPassword(b *testing.B) {
	h, _ := HashPassword("correct horse battery")
	for b.Loop() {
		VerifyPassword(h, "correct horse battery")
	}
}

// BenchmarkDummyVerify should match BenchmarkVerifyPassword.
func BenchmarkDummyVerify(b *testing.B) {
	DummyVerify()
	for b.Loop() {
		DummyVerify()
	}
}

// BenchmarkEd25519Verify is the floor under BenchmarkVerifyUncached.
func BenchmarkEd25519Verify(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := make([]byte, 400)
	sig := ed25519.Sign(priv, msg)
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("bad signature")
		}
	}
}
