package auth

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/ubeu/gateway/host/seal"
	"github.com/ubeu/gateway/host/store"
)

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newSealer(t testing.TB) *seal.Sealer {
	t.Helper()
	s, err := seal.New(randomBytes(seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func newKeyring(t testing.TB, dir string, s *seal.Sealer, clk *clock) *Keyring {
	t.Helper()
	k, err := OpenKeyring(dir, s, KeyringOptions{Create: true, Now: clk.Now, Retain: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

const (
	testIssuer   = "https://gw.example"
	testAudience = "gatewayd"
)

// testEnv is a keyring and a Tokens on a settable clock.
type testEnv struct {
	clk  *clock
	dir  string
	s    *seal.Sealer
	keys *Keyring
	tok  *Tokens
	revs *memRevocations
}

func newEnv(t testing.TB, mod ...func(*TokenOptions)) *testEnv {
	t.Helper()
	e := &testEnv{clk: newClock(), dir: t.TempDir(), s: newSealer(t), revs: &memRevocations{}}
	e.keys = newKeyring(t, e.dir, e.s, e.clk)
	o := TokenOptions{Issuer: testIssuer, Audience: testAudience, Now: e.clk.Now, Revocations: e.revs}
	for _, f := range mod {
		f(&o)
	}
	tok, err := NewTokens(e.keys, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tok.Close)
	e.tok = tok
	return e
}

// validClaims returns the claims of a token the env would accept.
func (e *testEnv) validClaims() map[string]any {
	now := e.clk.Now().Unix()
	return map[string]any{
		"iss": testIssuer, "aud": testAudience, "sub": "u1", "jti": "j1", "sid": "s1",
		"iat": now, "nbf": now, "exp": now + 600, "roles": []string{"user"}, "auth": "password",
	}
}

func (e *testEnv) header() map[string]any {
	return map[string]any{"alg": "EdDSA", "kid": e.keys.Active().ID, "typ": "at+jwt"}
}

// makeToken builds a compact JWS from header and claims, signed by sign (an
// empty signature if sign is nil).
func makeToken(header, claims any, sign func(input []byte) []byte) string {
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(claims)
	input := enc.EncodeToString(h) + "." + enc.EncodeToString(p)
	var sig []byte
	if sign != nil {
		sig = sign([]byte(input))
	}
	return input + "." + enc.EncodeToString(sig)
}

func ed25519Signer(priv ed25519.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte { return ed25519.Sign(priv, in) }
}

// memRevocations is an in-memory store.Revocations.
type memRevocations struct {
	mu   sync.Mutex
	list []store.Revocation
}

func (m *memRevocations) Add(_ context.Context, r store.Revocation) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.list = append(m.list, r)
	return nil
}

func (m *memRevocations) List(_ context.Context, now time.Time) ([]store.Revocation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Revocation
	for _, r := range m.list {
		if now.Before(r.Until) {
			out = append(out, r)
		}
	}
	return out, nil
}

const cryptoSHA256 = crypto.SHA256

var jsonMarshal = json.Marshal
