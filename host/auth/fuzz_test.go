package auth

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzVerify feeds arbitrary strings to Verify: each must give valid claims
// or one of the typed errors, never a panic.
func FuzzVerify(f *testing.F) {
	e := newEnv(f)
	sign := ed25519Signer(e.keys.Active().Private)
	good, _, _ := e.tok.Issue(Claims{Subject: "u1", SessionID: "s1", Roles: []string{"user"}})
	f.Add(good)
	f.Add(makeToken(e.header(), e.validClaims(), sign))
	f.Add(makeToken(map[string]any{"alg": "none", "kid": e.keys.Active().ID, "typ": "at+jwt"}, e.validClaims(), nil))
	f.Add(makeToken(e.header(), map[string]any{"exp": 1e308, "aud": []any{1, nil}}, sign))
	f.Add(makeToken(e.header(), "string claims", sign))
	f.Add(good[:len(good)/2])
	f.Add(good + "AAAAAAAA")
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Add("a.b.c")
	f.Add("")
	typed := []error{ErrMalformed, ErrSignature, ErrExpired, ErrUnknownKey, ErrRevoked, ErrClaims}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := e.tok.Verify(tok)
		if err != nil {
			if c != nil {
				t.Fatal("claims returned with an error")
			}
			for _, want := range typed {
				if errors.Is(err, want) {
					return
				}
			}
			t.Fatalf("untyped error %v", err)
		}
		if c.Subject == "" || c.ID == "" || c.ExpiresAt.IsZero() {
			t.Fatalf("accepted token with incomplete claims %+v", c)
		}
	})
}

// FuzzParseAPIKey checks that ParseAPIKey accepts exactly well-formed keys.
func FuzzParseAPIKey(f *testing.F) {
	key, _, _, _ := NewAPIKey()
	f.Add(key)
	f.Add(key[:len(key)-1] + "é")
	f.Add("gwk_")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		prefix, err := ParseAPIKey(s)
		if err != nil {
			return
		}
		if !apiKeyRE.MatchString(s) || s[4:16] != prefix {
			t.Fatalf("ParseAPIKey(%q) = %q accepted a malformed key", s, prefix)
		}
	})
}

// FuzzVerifyPassword feeds arbitrary encoded hashes to VerifyPassword: it
// must return an error or a result, never panic or accept parameters out of
// bounds (which would show as a very slow or huge run).
func FuzzVerifyPassword(f *testing.F) {
	h, _ := HashPassword("correct horse battery")
	f.Add(h)
	f.Add("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw")
	f.Add("$argon2id$v=19$m=4294967295,t=4294967295,p=255$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw")
	f.Add("$argon2i$v=19$m=19456,t=2,p=1$$")
	f.Fuzz(func(t *testing.T, encoded string) {
		ph, perr := parsePHC(encoded)
		if perr == nil && (ph.m > maxArgonMemory || ph.t > maxArgonTime || ph.p > maxArgonThreads || !utf8.ValidString(encoded)) {
			t.Fatalf("parsePHC(%q) accepted out-of-bounds parameters", encoded)
		}
		if perr != nil {
			if _, err := VerifyPassword(encoded, "x"); err == nil {
				t.Fatal("VerifyPassword accepted what parsePHC refused")
			}
			return
		}
		// Only verify cheap parameter sets, so the fuzzer keeps its pace.
		if ph.m <= 64 && ph.t <= 2 {
			VerifyPassword(encoded, "correct horse battery")
		}
	})
}

// FuzzVerifySigned signs arbitrary header and claims bytes with the active
// key, so that the fuzzer reaches the code behind the signature check.
func FuzzVerifySigned(f *testing.F) {
	e := newEnv(f)
	priv := e.keys.Active().Private
	f.Add(mustJSON(e.header()), mustJSON(e.validClaims()))
	f.Add(mustJSON(e.header()), []byte(`{"exp":1e999,"iat":-1,"aud":[1],"roles":"x"}`))
	f.Add([]byte(`{"alg":"EdDSA","kid":"`+e.keys.Active().ID+`","typ":"at+jwt","crit":[]}`), []byte(`null`))
	typed := []error{ErrMalformed, ErrSignature, ErrExpired, ErrUnknownKey, ErrRevoked, ErrClaims}
	f.Fuzz(func(t *testing.T, header, payload []byte) {
		input := b64url.EncodeToString(header) + "." + b64url.EncodeToString(payload)
		tok := input + "." + b64url.EncodeToString(ed25519.Sign(priv, []byte(input)))
		c, err := e.tok.Verify(tok)
		if err == nil {
			if c.Subject == "" || c.ID == "" || !e.clk.Now().Before(c.ExpiresAt.Add(30*time.Second)) {
				t.Fatalf("accepted incomplete or expired claims %+v", c)
			}
			return
		}
		for _, want := range typed {
			if errors.Is(err, want) {
				return
			}
		}
		t.Fatalf("untyped error %v", err)
	})
}
