package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"github.com/prometheus/client_golang/prometheus"
)

func TestIssueVerify(t *testing.T) {
	e := newEnv(t)
	in := Claims{Subject: "u1", SessionID: "fam1", Tenant: "ent1", Roles: []string{"user", "enterprise"}}
	tok, exp, err := e.tok.Issue(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := e.clk.Now().Add(15 * time.Minute); !exp.Equal(want) {
		t.Fatalf("expiry %v; want %v", exp, want)
	}
	for i := range 2 { // uncached, then cached
		c, err := e.tok.Verify(tok)
		if err != nil {
			t.Fatalf("verify %d: %v", i, err)
		}
		if c.Subject != "u1" || c.SessionID != "fam1" || c.Tenant != "ent1" || !slices.Equal(c.Roles, in.Roles) ||
			c.ID == "" || c.AuthMethod != "password" || !c.ExpiresAt.Equal(exp) || !c.IssuedAt.Equal(e.clk.Now()) {
			t.Fatalf("verify %d: claims %+v", i, c)
		}
		c.Roles[0] = "admin" // must not leak into the cache
		e.tok.cache.Wait()
	}
	c, _ := e.tok.Verify(tok)
	if c.Roles[0] != "user" {
		t.Fatal("caller's change to returned claims reached the cache")
	}

	tok2, _, _ := e.tok.Issue(in)
	c2, _ := e.tok.Verify(tok2)
	if c2.ID == c.ID {
		t.Fatal("two tokens share a jti")
	}
	if _, _, err := e.tok.Issue(Claims{}); err == nil {
		t.Fatal("Issue without subject succeeded")
	}
	capped := e.clk.Now().Add(time.Minute)
	if _, exp, _ := e.tok.Issue(Claims{Subject: "u", ExpiresAt: capped}); !exp.Equal(capped) {
		t.Fatalf("ExpiresAt cap ignored: %v", exp)
	}
}

func TestVerifyTimes(t *testing.T) {
	e := newEnv(t)
	tok, _, _ := e.tok.Issue(Claims{Subject: "u1"})
	if _, err := e.tok.Verify(tok); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(15*time.Minute + 29*time.Second) // within leeway
	if _, err := e.tok.Verify(tok); err != nil {
		t.Fatalf("token within leeway refused: %v", err)
	}
	e.clk.Add(time.Second)
	if _, err := e.tok.Verify(tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired token: %v; want ErrExpired", err)
	}

	e = newEnv(t)
	sign := ed25519Signer(e.keys.Active().Private)
	future := e.validClaims()
	future["nbf"] = e.clk.Now().Add(time.Hour).Unix()
	if _, err := e.tok.Verify(makeToken(e.header(), future, sign)); !errors.Is(err, ErrClaims) {
		t.Fatalf("nbf in future: %v; want ErrClaims", err)
	}
	future = e.validClaims()
	future["iat"] = e.clk.Now().Add(time.Hour).Unix()
	if _, err := e.tok.Verify(makeToken(e.header(), future, sign)); !errors.Is(err, ErrClaims) {
		t.Fatalf("iat in future: %v; want ErrClaims", err)
	}
}

func TestVerifyCacheRespectsExpiry(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(o *TokenOptions) { o.Registerer = reg })
	tok, _, _ := e.tok.Issue(Claims{Subject: "u1"})
	hits := func() float64 { return counterValue(t, reg, "ok", "true") }
	if _, err := e.tok.Verify(tok); err != nil {
		t.Fatal(err)
	}
	e.tok.cache.Wait()
	if _, err := e.tok.Verify(tok); err != nil || hits() != 1 {
		t.Fatalf("second verify: %v, cache hits %v; want a hit", err, hits())
	}
	// Past exp but within leeway: valid, but only by a full verification.
	e.clk.Add(15*time.Minute + time.Second)
	if _, err := e.tok.Verify(tok); err != nil || hits() != 1 {
		t.Fatalf("verify past exp: %v, cache hits %v; want a full verification", err, hits())
	}
	e.clk.Add(time.Minute)
	if _, err := e.tok.Verify(tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("verify after exp+leeway: %v; want ErrExpired", err)
	}
	if n := counterValue(t, reg, "expired", "false"); n != 1 {
		t.Fatalf("expired verifications counted %v; want 1", n)
	}
}

func TestCachedTokenOfRetiredKey(t *testing.T) {
	clk, dir, s := newClock(), t.TempDir(), newSealer(t)
	keys, err := OpenKeyring(dir, s, KeyringOptions{Create: true, Now: clk.Now, Retain: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	o := TokenOptions{Issuer: testIssuer, Audience: testAudience, Now: clk.Now}
	if _, err := NewTokens(keys, o); err == nil {
		t.Fatal("NewTokens accepted Retain shorter than TTL + leeway")
	}
	o.TTL, o.Leeway = 50*time.Second, 10*time.Second
	tokens, err := NewTokens(keys, o)
	if err != nil {
		t.Fatal(err)
	}
	defer tokens.Close()
	// Misconfigure after the fact, so that a token outlives its key's Retain:
	// the cache must still stop answering for it.
	tokens.o.TTL = 15 * time.Minute
	tok, _, _ := tokens.Issue(Claims{Subject: "u1"})
	if _, err := tokens.Verify(tok); err != nil {
		t.Fatal(err)
	}
	tokens.cache.Wait()
	if err := keys.Rotate(); err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.Verify(tok); err != nil {
		t.Fatalf("cached token right after rotation: %v", err)
	}
	clk.Add(2 * time.Minute) // past Retain, before exp
	if _, err := tokens.Verify(tok); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("cached token of a key retired past Retain: %v; want ErrUnknownKey", err)
	}
}

func TestVerifyIssuerAudience(t *testing.T) {
	e := newEnv(t)
	tok, _, _ := e.tok.Issue(Claims{Subject: "u1"})
	for _, o := range []TokenOptions{
		{Issuer: "https://other.example", Audience: testAudience},
		{Issuer: testIssuer, Audience: "other"},
	} {
		o.Now = e.clk.Now
		other, err := NewTokens(e.keys, o)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		if _, err := other.Verify(tok); !errors.Is(err, ErrClaims) {
			t.Errorf("iss %s aud %s: %v; want ErrClaims", o.Issuer, o.Audience, err)
		}
	}
	// aud as an array containing ours is accepted.
	c := e.validClaims()
	c["aud"] = []string{"x", testAudience}
	if _, err := e.tok.Verify(makeToken(e.header(), c, ed25519Signer(e.keys.Active().Private))); err != nil {
		t.Fatalf("aud array: %v", err)
	}
}

func TestVerifyRejects(t *testing.T) {
	e := newEnv(t)
	active := e.keys.Active()
	sign := ed25519Signer(active.Private)
	good := makeToken(e.header(), e.validClaims(), sign)
	if _, err := e.tok.Verify(good); err != nil {
		t.Fatalf("control token refused: %v", err)
	}
	_, strangerKey, _ := ed25519.GenerateKey(rand.Reader)
	hs256 := func(in []byte) []byte {
		m := hmac.New(sha256.New, active.Public)
		m.Write(in)
		return m.Sum(nil)
	}
	with := func(k string, v any) map[string]any {
		h := e.header()
		if v == nil {
			delete(h, k)
		} else {
			h[k] = v
		}
		return h
	}
	without := func(k string) map[string]any {
		c := e.validClaims()
		delete(c, k)
		return c
	}
	parts := strings.Split(good, ".")
	tampered := e.validClaims()
	tampered["roles"] = []string{"admin"}
	tamperedTok := parts[0] + "." + base64.RawURLEncoding.EncodeToString(mustJSON(tampered)) + "." + parts[2]
	strangerJWK := map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64url.EncodeToString(strangerKey.Public().(ed25519.PublicKey))}

	cases := []struct {
		name string
		tok  string
		want error
	}{
		{"empty", "", ErrMalformed},
		{"too big", strings.Repeat("a", MaxTokenSize+1), ErrMalformed},
		{"two parts", parts[0] + "." + parts[1], ErrMalformed},
		{"four parts", good + ".x", ErrMalformed},
		{"padded header", parts[0] + "=." + parts[1] + "." + parts[2], ErrMalformed},
		{"header not JSON", "bm90IGpzb24." + parts[1] + "." + parts[2], ErrMalformed},
		{"alg none", makeToken(with("alg", "none"), e.validClaims(), nil), ErrMalformed},
		{"alg none with signature", makeToken(with("alg", "none"), e.validClaims(), sign), ErrSignature},
		{"alg missing", makeToken(with("alg", nil), e.validClaims(), sign), ErrSignature},
		{"alg Ed25519", makeToken(with("alg", "Ed25519"), e.validClaims(), sign), ErrSignature},
		{"alg eddsa", makeToken(with("alg", "eddsa"), e.validClaims(), sign), ErrSignature},
		{"HS256 with public key as secret", makeToken(with("alg", "HS256"), e.validClaims(), hs256), ErrSignature},
		{"EdDSA but HMAC signature", makeToken(e.header(), e.validClaims(), hs256), ErrSignature},
		{"stranger key, known kid", makeToken(e.header(), e.validClaims(), ed25519Signer(strangerKey)), ErrSignature},
		{"stranger key in jwk header", makeToken(with("jwk", strangerJWK), e.validClaims(), ed25519Signer(strangerKey)), ErrMalformed},
		{"jku header", makeToken(with("jku", "https://evil.example/jwks"), e.validClaims(), sign), ErrMalformed},
		{"x5u header", makeToken(with("x5u", "https://evil.example/cert"), e.validClaims(), sign), ErrMalformed},
		{"crit header", makeToken(with("crit", []string{"exp"}), e.validClaims(), sign), ErrMalformed},
		{"b64 false", makeToken(with("b64", false), e.validClaims(), sign), ErrMalformed},
		{"unknown kid", makeToken(with("kid", "nope"), e.validClaims(), sign), ErrUnknownKey},
		{"no kid", makeToken(with("kid", nil), e.validClaims(), sign), ErrUnknownKey},
		{"tampered payload", tamperedTok, ErrSignature},
		{"truncated signature", good[:len(good)-4], ErrSignature},
		{"long signature", good + "AAAAAAAAAAAAAAAA", ErrSignature},
		{"very long signature", good + strings.Repeat("A", 4000), ErrSignature},
		{"signature with padding", good + "==", ErrSignature},
		{"typ missing", makeToken(with("typ", nil), e.validClaims(), sign), ErrClaims},
		{"typ JWT", makeToken(with("typ", "JWT"), e.validClaims(), sign), ErrClaims},
		{"sub missing", makeToken(e.header(), without("sub"), sign), ErrClaims},
		{"jti missing", makeToken(e.header(), without("jti"), sign), ErrClaims},
		{"exp missing", makeToken(e.header(), without("exp"), sign), ErrClaims},
		{"iat missing", makeToken(e.header(), without("iat"), sign), ErrClaims},
		{"iss missing", makeToken(e.header(), without("iss"), sign), ErrClaims},
		{"aud missing", makeToken(e.header(), without("aud"), sign), ErrClaims},
		{"exp as string", makeToken(e.header(), func() map[string]any { c := e.validClaims(); c["exp"] = "9999999999"; return c }(), sign), ErrMalformed},
		{"exp huge", makeToken(e.header(), func() map[string]any { c := e.validClaims(); c["exp"] = 1e300; return c }(), sign), ErrMalformed},
		{"claims not object", makeToken(e.header(), []string{"x"}, sign), ErrMalformed},
	}
	for _, c := range cases {
		_, err := e.tok.Verify(c.tok)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v; want %v", c.name, err, c.want)
		}
	}
	// application/at+jwt is the same media type.
	if _, err := e.tok.Verify(makeToken(with("typ", "application/at+jwt"), e.validClaims(), sign)); err != nil {
		t.Errorf("typ application/at+jwt: %v", err)
	}
}

func TestRevocation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	until := e.tok.RevocationHorizon()
	if want := e.clk.Now().Add(15*time.Minute + 30*time.Second); !until.Equal(want) {
		t.Fatalf("RevocationHorizon = %v; want %v", until, want)
	}

	for _, bySession := range []bool{false, true} {
		tok, _, _ := e.tok.Issue(Claims{Subject: "u1", SessionID: "fam-" + time.Now().String()})
		c, err := e.tok.Verify(tok)
		if err != nil {
			t.Fatal(err)
		}
		e.tok.cache.Wait()
		if _, err := e.tok.Verify(tok); err != nil { // now cached
			t.Fatal(err)
		}
		id := c.ID
		if bySession {
			id = c.SessionID
		}
		if err := e.tok.Revoke(ctx, id, until); err != nil {
			t.Fatal(err)
		}
		if _, err := e.tok.Verify(tok); !errors.Is(err, ErrRevoked) {
			t.Fatalf("revoked (session %v) cached token: %v; want ErrRevoked", bySession, err)
		}
		// A fresh process loads the deny list from the store.
		fresh, err := NewTokens(e.keys, TokenOptions{Issuer: testIssuer, Audience: testAudience, Now: e.clk.Now, Revocations: e.revs})
		if err != nil {
			t.Fatal(err)
		}
		defer fresh.Close()
		if _, err := fresh.Verify(tok); err != nil {
			t.Fatalf("fresh verifier before LoadRevocations: %v", err)
		}
		if err := fresh.LoadRevocations(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := fresh.Verify(tok); !errors.Is(err, ErrRevoked) {
			t.Fatalf("fresh verifier after LoadRevocations: %v; want ErrRevoked", err)
		}
	}
	// Entries lapse after until and are pruned.
	e.clk.Add(2 * time.Hour)
	e.tok.revoked.prune(e.clk.Now())
	if n := e.tok.revoked.n.Load(); n != 0 {
		t.Fatalf("%d revocations left after prune", n)
	}
}

func TestKeyRotationAndReload(t *testing.T) {
	e := newEnv(t)
	old, _, _ := e.tok.Issue(Claims{Subject: "u1"})
	e.clk.Add(time.Minute)
	if err := e.keys.Rotate(); err != nil {
		t.Fatal(err)
	}
	fresh, _, _ := e.tok.Issue(Claims{Subject: "u1"})
	if _, err := e.tok.Verify(old); err != nil {
		t.Fatalf("token of the retired key: %v", err)
	}
	if _, err := e.tok.Verify(fresh); err != nil {
		t.Fatal(err)
	}

	// Another process (the CLI) rotates and signs; the server learns the key
	// by a rate-limited reload.
	cli, err := OpenKeyring(e.dir, e.s, KeyringOptions{Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.Rotate(); err != nil {
		t.Fatal(err)
	}
	cliTok, err := NewTokens(cli, TokenOptions{Issuer: testIssuer, Audience: testAudience, Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer cliTok.Close()
	byCLI, _, _ := cliTok.Issue(Claims{Subject: "admin"})
	if _, err := e.tok.Verify(byCLI); err != nil {
		t.Fatalf("token signed by another process's new key: %v", err)
	}
	if err := cli.Rotate(); err != nil {
		t.Fatal(err)
	}
	byCLI2, _, _ := cliTok.Issue(Claims{Subject: "admin"})
	if _, err := e.tok.Verify(byCLI2); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("second reload within a second: %v; want ErrUnknownKey", err)
	}
	e.clk.Add(time.Second)
	if _, err := e.tok.Verify(byCLI2); err != nil {
		t.Fatalf("reload after a second: %v", err)
	}

	// After Retain (1h) the first key no longer verifies, even a token whose
	// own exp has not passed by the verifier's leeway-free clock.
	e.clk.Add(time.Hour)
	long := e.validClaims()
	long["exp"] = e.clk.Now().Add(time.Hour).Unix()
	h := map[string]any{"alg": "EdDSA", "kid": thumbprint(e.keys.snap.Load().keys[len(e.keys.snap.Load().keys)-1].Public), "typ": "at+jwt"}
	retired := e.keys.snap.Load().keys[len(e.keys.snap.Load().keys)-1]
	if retired.Retired.IsZero() {
		t.Fatal("test setup: last key is not retired")
	}
	tok := makeToken(h, long, ed25519Signer(retired.Private))
	if _, err := e.tok.Verify(tok); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("token of a key retired past Retain: %v; want ErrUnknownKey", err)
	}
}

// TestJWXCrossCheck verifies our tokens with an independent implementation
// (jwx) using our JWKS, and jwx-signed tokens with ours.
func TestJWXCrossCheck(t *testing.T) {
	e := newEnv(t)
	set, err := jwk.Parse(e.keys.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := e.tok.Issue(Claims{Subject: "u1", SessionID: "s1", Roles: []string{"user"}})
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.Parse([]byte(tok), jwt.WithKeySet(set), jwt.WithIssuer(testIssuer), jwt.WithAudience(testAudience),
		jwt.WithClock(jwt.ClockFunc(e.clk.Now)))
	if err != nil {
		t.Fatalf("jwx rejects our token: %v", err)
	}
	if sub, _ := parsed.Subject(); sub != "u1" {
		t.Fatalf("jwx sees sub %q", sub)
	}
	msg, err := jws.Parse([]byte(tok))
	if err != nil {
		t.Fatal(err)
	}
	if typ, _ := msg.Signatures()[0].ProtectedHeaders().Type(); typ != "at+jwt" {
		t.Fatalf("typ %q", typ)
	}

	// jwx signs, we verify.
	jt := jwt.New()
	for k, v := range e.validClaims() {
		if k == "iat" || k == "nbf" || k == "exp" {
			v = time.Unix(v.(int64), 0)
		}
		if err := jt.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	hdr := jws.NewHeaders()
	hdr.Set(jws.KeyIDKey, e.keys.Active().ID)
	hdr.Set(jws.TypeKey, "at+jwt")
	signed, err := jwt.Sign(jt, jwt.WithKey(jwa.EdDSA(), e.keys.Active().Private, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := e.tok.Verify(string(signed)); err != nil || c.Subject != "u1" {
		t.Fatalf("jwx-signed token: %+v, %v", c, err)
	}
}

func mustJSON(v any) []byte {
	b, err := jsonMarshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// counterValue reads gatewayd_token_verifications_total{result,cached}.
func counterValue(t *testing.T, reg *prometheus.Registry, result, cached string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "gatewayd_token_verifications_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["result"] == result && labels["cached"] == cached {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("metric {result=%q,cached=%q} not found", result, cached)
	return 0
}

// TestConcurrent exercises verification, issue, revocation, rotation and
// reload at once (run with -race).
func TestConcurrent(t *testing.T) {
	e := newEnv(t)
	toks := make([]string, 8)
	for i := range toks {
		toks[i], _, _ = e.tok.Issue(Claims{Subject: "u", SessionID: "s"})
	}
	done := make(chan struct{})
	errs := make(chan error, 16)
	for w := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				tok := toks[(i+w)%len(toks)]
				if _, err := e.tok.Verify(tok); err != nil && !errors.Is(err, ErrRevoked) {
					errs <- err
					return
				}
				if i%50 == 0 {
					if _, _, err := e.tok.Issue(Claims{Subject: "u"}); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	go func() {
		defer func() { done <- struct{}{} }()
		for i := range 5 {
			if err := e.keys.Rotate(); err != nil {
				errs <- err
				return
			}
			if err := e.keys.Reload(); err != nil {
				errs <- err
				return
			}
			_ = e.keys.JWKS()
			if err := e.tok.Revoke(context.Background(), "x"+string(rune('a'+i)), e.clk.Now().Add(time.Hour)); err != nil {
				errs <- err
				return
			}
			e.tok.revoked.prune(e.clk.Now())
		}
	}()
	for range 5 {
		<-done
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
