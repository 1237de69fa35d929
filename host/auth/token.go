package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ubeu/gateway/host/store"
)

// MaxTokenSize is the largest access token Verify looks at.
const MaxTokenSize = 8 << 10

// tokenType is the JWT "typ" header of an access token (RFC 9068).
const tokenType = "at+jwt"

// Verification errors. Every error from Verify wraps exactly one of them.
var (
	// ErrMalformed: not a compact JWS with the expected header and claims.
	ErrMalformed = errors.New("auth: malformed token")
	// ErrSignature: the algorithm is not EdDSA or the signature is wrong.
	ErrSignature = errors.New("auth: bad token signature")
	// ErrExpired: the token's exp has passed.
	ErrExpired = errors.New("auth: token expired")
	// ErrUnknownKey: the kid names no key that still verifies tokens.
	ErrUnknownKey = errors.New("auth: unknown signing key")
	// ErrRevoked: the token ID or its session is on the deny list.
	ErrRevoked = errors.New("auth: token revoked")
	// ErrClaims: a claim is missing or wrong (typ, iss, aud, nbf, iat, sub,
	// jti).
	ErrClaims = errors.New("auth: invalid token claims")
)

// Claims are the claims of an access token that the gateway uses.
type Claims struct {
	// Subject is the user ID (sub); ID the token ID (jti); SessionID the
	// refresh-family ID (sid), possibly empty; Tenant the enterprise ID,
	// possibly empty.
	Subject, ID, SessionID, Tenant string
	// Roles are the principal's roles.
	Roles []string
	// AuthMethod is the authentication method (auth claim); Issue writes
	// "password" when it is empty.
	AuthMethod string
	// IssuedAt and ExpiresAt are iat and exp. Issue sets IssuedAt, and
	// ExpiresAt unless it is set and earlier than now + TTL.
	IssuedAt, ExpiresAt time.Time
}

// TokenOptions configures NewTokens.
type TokenOptions struct {
	// Issuer (iss) and Audience (aud) are written into tokens and required
	// of them.
	Issuer, Audience string
	// TTL is the lifetime of an access token; default 15 minutes.
	TTL time.Duration
	// Leeway is the clock skew allowed on exp, nbf and iat; 0 means 30
	// seconds, a negative value none.
	Leeway time.Duration
	// CacheSize is the number of verified tokens cached; 0 means 100,000, a
	// negative value disables the cache.
	CacheSize int64
	// Revocations persists the deny list; nil keeps it in memory only.
	Revocations store.Revocations
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Tokens issues and verifies access tokens. It is safe for concurrent use.
// Close releases its cache and background work.
type Tokens struct {
	keys    *Keyring
	o       TokenOptions
	cache   *ristretto.Cache[uint64, *cacheEntry]
	revoked revocationSet
	metrics tokenMetrics

	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// cacheEntry is a verified token: its SHA-256, the key that signed it and its
// claims.
type cacheEntry struct {
	sum    [32]byte
	kid    string
	claims Claims
}

// pruneInterval is how often expired revocations are dropped.
const pruneInterval = time.Minute

// NewTokens returns a Tokens that signs with k's active key.
func NewTokens(k *Keyring, o TokenOptions) (*Tokens, error) {
	if k == nil {
		return nil, errors.New("auth: tokens: nil keyring")
	}
	if o.Issuer == "" || o.Audience == "" {
		return nil, errors.New("auth: tokens: issuer and audience are required")
	}
	if o.TTL <= 0 {
		o.TTL = 15 * time.Minute
	}
	switch {
	case o.Leeway == 0:
		o.Leeway = 30 * time.Second
	case o.Leeway < 0:
		o.Leeway = 0
	}
	if o.CacheSize == 0 {
		o.CacheSize = 100_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if k.o.Retain < o.TTL+o.Leeway {
		return nil, fmt.Errorf("auth: tokens: keyring Retain %v is shorter than token TTL %v plus leeway %v: tokens would fail after a rotation", k.o.Retain, o.TTL, o.Leeway)
	}
	t := &Tokens{keys: k, o: o, stop: make(chan struct{}), done: make(chan struct{})}
	var err error
	if t.metrics, err = newTokenMetrics(o.Registerer); err != nil {
		return nil, err
	}
	if o.CacheSize > 0 {
		t.cache, err = ristretto.NewCache(&ristretto.Config[uint64, *cacheEntry]{
			NumCounters:        10 * o.CacheSize,
			MaxCost:            o.CacheSize,
			BufferItems:        64,
			IgnoreInternalCost: true,
		})
		if err != nil {
			return nil, fmt.Errorf("auth: token cache: %w", err)
		}
	}
	go t.pruneLoop()
	return t, nil
}

// Close stops background pruning and frees the cache.
func (t *Tokens) Close() {
	t.stopOnce.Do(func() {
		close(t.stop)
		<-t.done
		if t.cache != nil {
			t.cache.Close()
		}
	})
}

func (t *Tokens) pruneLoop() {
	defer close(t.done)
	tick := time.NewTicker(pruneInterval)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
			t.revoked.prune(t.o.Now())
		}
	}
}

// accessClaims is the JSON form of an access token's claims, as issued.
type accessClaims struct {
	Iss    string   `json:"iss"`
	Sub    string   `json:"sub"`
	Aud    string   `json:"aud"`
	Iat    int64    `json:"iat"`
	Nbf    int64    `json:"nbf"`
	Exp    int64    `json:"exp"`
	Jti    string   `json:"jti"`
	Sid    string   `json:"sid,omitempty"`
	Roles  []string `json:"roles"`
	Tenant string   `json:"tenant,omitempty"`
	Auth   string   `json:"auth"`
}

// Issue signs an access token for c with the active key and returns it with
// its expiry. c.Subject is required; c.ID is generated when empty.
func (t *Tokens) Issue(c Claims) (token string, expiresAt time.Time, err error) {
	if c.Subject == "" {
		return "", time.Time{}, errors.New("auth: issue: empty subject")
	}
	now := t.o.Now().Truncate(time.Second)
	exp := now.Add(t.o.TTL)
	if !c.ExpiresAt.IsZero() && c.ExpiresAt.Before(exp) {
		exp = c.ExpiresAt.Truncate(time.Second)
	}
	if !exp.After(now) {
		return "", time.Time{}, errors.New("auth: issue: expiry not after now")
	}
	if c.ID == "" {
		c.ID = rand.Text()
	}
	if c.AuthMethod == "" {
		c.AuthMethod = "password"
	}
	if c.Roles == nil {
		c.Roles = []string{}
	}
	payload, err := json.Marshal(accessClaims{
		Iss: t.o.Issuer, Sub: c.Subject, Aud: t.o.Audience,
		Iat: now.Unix(), Nbf: now.Unix(), Exp: exp.Unix(),
		Jti: c.ID, Sid: c.SessionID, Roles: c.Roles, Tenant: c.Tenant, Auth: c.AuthMethod,
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: issue: %w", err)
	}
	key := t.keys.Active()
	// The kid is base64url, so it needs no JSON escaping.
	header := `{"alg":"EdDSA","kid":"` + key.ID + `","typ":"` + tokenType + `"}`
	buf := make([]byte, 0, b64url.EncodedLen(len(header))+b64url.EncodedLen(len(payload))+2+b64url.EncodedLen(ed25519.SignatureSize))
	buf = b64url.AppendEncode(buf, []byte(header))
	buf = append(buf, '.')
	buf = b64url.AppendEncode(buf, payload)
	sig := ed25519.Sign(key.Private, buf)
	buf = append(buf, '.')
	buf = b64url.AppendEncode(buf, sig)
	return string(buf), exp, nil
}

// clone returns a copy of c that shares no memory with it.
func (c *Claims) clone() *Claims {
	d := *c
	d.Roles = slices.Clone(c.Roles)
	return &d
}
