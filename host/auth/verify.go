package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Verify checks an access token and returns its claims. It accepts only
// compact JWS tokens signed EdDSA by a key of the keyring, with typ at+jwt,
// the configured issuer and audience, valid times (with leeway) and neither
// token ID nor session revoked. Errors wrap one of ErrMalformed,
// ErrSignature, ErrExpired, ErrUnknownKey, ErrRevoked and ErrClaims.
//
// A verified token is cached under its SHA-256 until its exp; a hit still
// checks revocation and that its key is still in use.
func (t *Tokens) Verify(token string) (*Claims, error) {
	c, cached, err := t.verify(token)
	t.metrics.observe(err, cached)
	return c, err
}

func (t *Tokens) verify(token string) (c *Claims, cached bool, err error) {
	if len(token) == 0 || len(token) > MaxTokenSize {
		return nil, false, fmt.Errorf("%w: size %d", ErrMalformed, len(token))
	}
	now := t.o.Now()
	var sum [32]byte
	if t.cache != nil {
		sum = sha256.Sum256([]byte(token))
		if e, ok := t.cache.Get(binary.LittleEndian.Uint64(sum[:8])); ok && e.sum == sum && now.Before(e.claims.ExpiresAt) {
			if _, valid := t.keys.verifier(e.kid, now); valid {
				if t.revoked.has(now, e.claims.ID, e.claims.SessionID) {
					return nil, true, ErrRevoked
				}
				return e.claims.clone(), true, nil
			}
		}
	}
	kid, claims, err := t.parse(token, now)
	if err != nil {
		return nil, false, err
	}
	if t.revoked.has(now, claims.ID, claims.SessionID) {
		return nil, false, ErrRevoked
	}
	if t.cache != nil {
		if ttl := claims.ExpiresAt.Sub(now); ttl > 0 {
			t.cache.SetWithTTL(binary.LittleEndian.Uint64(sum[:8]), &cacheEntry{sum: sum, kid: kid, claims: *claims}, 1, ttl)
		}
	}
	return claims.clone(), false, nil
}

// jwsHeader is the JOSE header of an access token. The fields other than
// alg, kid and typ are read only to refuse tokens that carry them.
type jwsHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
	B64  json.RawMessage `json:"b64"`
	JWK  json.RawMessage `json:"jwk"`
	JKU  json.RawMessage `json:"jku"`
	X5U  json.RawMessage `json:"x5u"`
	X5C  json.RawMessage `json:"x5c"`
}

// parse checks the token's structure, header, signature and claims, in that
// order, and returns the signing key's ID and the claims.
func (t *Tokens) parse(token string, now time.Time) (kid string, c *Claims, err error) {
	h64, rest, ok1 := strings.Cut(token, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || h64 == "" || p64 == "" || s64 == "" || strings.IndexByte(s64, '.') >= 0 {
		return "", nil, fmt.Errorf("%w: not a compact JWS", ErrMalformed)
	}

	hjson, err := b64url.DecodeString(h64)
	if err != nil {
		return "", nil, fmt.Errorf("%w: header encoding", ErrMalformed)
	}
	var h jwsHeader
	if err := strictUnmarshal(hjson, &h); err != nil {
		return "", nil, fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	if h.Alg != "EdDSA" {
		return "", nil, fmt.Errorf("%w: algorithm %.20q not accepted", ErrSignature, h.Alg)
	}
	if h.Crit != nil || h.B64 != nil || h.JWK != nil || h.JKU != nil || h.X5U != nil || h.X5C != nil {
		return "", nil, fmt.Errorf("%w: header parameters crit, b64, jwk, jku, x5u and x5c are refused", ErrMalformed)
	}
	if !strings.EqualFold(h.Typ, tokenType) && !strings.EqualFold(h.Typ, "application/"+tokenType) {
		return "", nil, fmt.Errorf("%w: typ must be %s", ErrClaims, tokenType)
	}
	if h.Kid == "" {
		return "", nil, fmt.Errorf("%w: no kid", ErrUnknownKey)
	}
	key, valid := t.keys.verifier(h.Kid, now)
	if key == nil {
		if key = t.keys.reloadForKID(h.Kid); key != nil {
			valid = t.keys.validAt(key, now)
		}
	}
	if key == nil || !valid {
		return "", nil, fmt.Errorf("%w: kid %.64q", ErrUnknownKey, h.Kid)
	}

	// Check the length before decoding: Decode writes past a short buffer.
	var sig [ed25519.SignatureSize + 2]byte
	if len(s64) != b64url.EncodedLen(ed25519.SignatureSize) {
		return "", nil, fmt.Errorf("%w: signature length", ErrSignature)
	}
	n, err := b64url.Decode(sig[:], []byte(s64))
	if err != nil || n != ed25519.SignatureSize {
		return "", nil, fmt.Errorf("%w: signature encoding", ErrSignature)
	}
	if !ed25519.Verify(key.Public, []byte(token[:len(h64)+1+len(p64)]), sig[:n]) {
		return "", nil, ErrSignature
	}

	pjson, err := b64url.DecodeString(p64)
	if err != nil {
		return "", nil, fmt.Errorf("%w: payload encoding", ErrMalformed)
	}
	var p tokenClaims
	if err := strictUnmarshal(pjson, &p); err != nil {
		return "", nil, fmt.Errorf("%w: claims: %w", ErrMalformed, err)
	}
	c, err = t.checkClaims(&p, now)
	if err != nil {
		return "", nil, err
	}
	return key.ID, c, nil
}

// strictUnmarshal decodes one JSON object, with nothing after it.
func strictUnmarshal(data []byte, v any) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return fmt.Errorf("not a JSON object")
	}
	return json.Unmarshal(data, v)
}

// tokenClaims is the JSON form of an access token's claims, as verified.
type tokenClaims struct {
	Iss    string      `json:"iss"`
	Sub    string      `json:"sub"`
	Aud    audience    `json:"aud"`
	Iat    numericDate `json:"iat"`
	Nbf    numericDate `json:"nbf"`
	Exp    numericDate `json:"exp"`
	Jti    string      `json:"jti"`
	Sid    string      `json:"sid"`
	Roles  []string    `json:"roles"`
	Tenant string      `json:"tenant"`
	Auth   string      `json:"auth"`
}

func (t *Tokens) checkClaims(p *tokenClaims, now time.Time) (*Claims, error) {
	if p.Exp.set {
		if !now.Before(p.Exp.t.Add(t.o.Leeway)) {
			return nil, ErrExpired
		}
	}
	switch {
	case p.Iss != t.o.Issuer:
		return nil, fmt.Errorf("%w: wrong issuer", ErrClaims)
	case !p.Aud.has(t.o.Audience):
		return nil, fmt.Errorf("%w: wrong audience", ErrClaims)
	case !p.Exp.set || !p.Iat.set:
		return nil, fmt.Errorf("%w: exp and iat are required", ErrClaims)
	case p.Sub == "" || p.Jti == "":
		return nil, fmt.Errorf("%w: sub and jti are required", ErrClaims)
	case p.Nbf.set && now.Add(t.o.Leeway).Before(p.Nbf.t):
		return nil, fmt.Errorf("%w: not valid yet (nbf)", ErrClaims)
	case now.Add(t.o.Leeway).Before(p.Iat.t):
		return nil, fmt.Errorf("%w: issued in the future (iat)", ErrClaims)
	}
	return &Claims{
		Subject: p.Sub, ID: p.Jti, SessionID: p.Sid, Tenant: p.Tenant,
		Roles: p.Roles, AuthMethod: p.Auth, IssuedAt: p.Iat.t, ExpiresAt: p.Exp.t,
	}, nil
}

// audience is the aud claim: one string or an array of strings.
type audience []string

// UnmarshalJSON implements json.Unmarshaler.
func (a *audience) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	*a = list
	return nil
}

func (a audience) has(s string) bool {
	for _, v := range a {
		if v == s {
			return true
		}
	}
	return false
}

// maxNumericDate bounds exp, nbf and iat (year 36812): beyond it a date is
// garbage.
const maxNumericDate = 1 << 40

// numericDate is an RFC 7519 NumericDate: a JSON number of seconds since the
// epoch. Fractions are truncated.
type numericDate struct {
	t   time.Time
	set bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *numericDate) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) == 0 || b[0] != '-' && (b[0] < '0' || b[0] > '9') {
		return fmt.Errorf("NumericDate must be a number")
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || f < 0 || f >= maxNumericDate {
		return fmt.Errorf("NumericDate out of range")
	}
	d.t, d.set = time.Unix(int64(f), 0), true
	return nil
}
