// Package vcjwt secures W3C Verifiable Credentials Data Model 2.0 documents
// as JWS compact serialisations, per W3C "Securing Verifiable Credentials
// using JOSE and COSE" (VC-JOSE-COSE, Recommendation 2025,
// https://www.w3.org/TR/vc-jose-cose/): the media types application/vc+jwt
// and application/vp+jwt.
//
// The JWS payload is the credential (or presentation) JSON itself — there is
// no "vc" or "vp" claim wrapper (§ 1.1.2.1 JWT Format and Requirements: the
// JWT claim names vc and vp MUST NOT be present). The protected header
// carries alg (EdDSA or ES256 only), kid (an absolute DID URL naming the
// issuer's verification method), typ vc+jwt (vp+jwt) and cty vc (vp)
// (§ 3.1.1 Securing JSON-LD Verifiable Credentials with JOSE, § 3.1.2 …
// Presentations with JOSE).
//
// Verification (§ 5.1 Verifying a Credential or Presentation Secured with
// JOSE) is strict: the header is checked before any key is resolved, the key
// returned by the caller's resolver must be of the type alg names, and the
// DID of kid must be the credential's issuer (for a presentation: its holder,
// when one is stated) — the binding between the key and the issuer required
// by § 4.2 Using Controlled Identifier Documents. Section references in this
// package name sections of that Recommendation.
package vcjwt

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// Media types and header values (§ 3.1.1, § 3.1.2, § 6.1.1, § 6.1.2).
const (
	MediaTypeVC = "application/vc+jwt"
	MediaTypeVP = "application/vp+jwt"
	TypVC       = "vc+jwt"
	TypVP       = "vp+jwt"
	CtyVC       = "vc"
	CtyVP       = "vp"

	// AlgEdDSA and AlgES256 are the only JWS algorithms signed or accepted.
	AlgEdDSA = "EdDSA"
	AlgES256 = "ES256"

	// CredentialsV2Context is the first @context entry VCDM 2.0 requires.
	CredentialsV2Context = "https://www.w3.org/ns/credentials/v2"

	// MaxTokenSize bounds the compact serialisation Verify accepts, 1 MiB.
	MaxTokenSize = 1 << 20
)

// Errors. Every error returned by Sign and Verify wraps exactly one of these,
// so callers can report a precise failed check with errors.Is.
var (
	ErrMalformed      = errors.New("vcjwt: malformed token")
	ErrAlgorithm      = errors.New("vcjwt: algorithm not allowed")
	ErrType           = errors.New("vcjwt: wrong typ or cty")
	ErrKeyID          = errors.New("vcjwt: missing or invalid kid")
	ErrKeyResolution  = errors.New("vcjwt: kid not resolvable")
	ErrKeyType        = errors.New("vcjwt: key type does not match alg")
	ErrSignature      = errors.New("vcjwt: signature invalid")
	ErrPayload        = errors.New("vcjwt: payload is not a VCDM 2.0 document")
	ErrIssuerMismatch = errors.New("vcjwt: kid does not belong to the issuer")
	ErrNotYetValid    = errors.New("vcjwt: not yet valid")
	ErrExpired        = errors.New("vcjwt: expired")
)

// Header is what Verify learned from a token that verified: the protected
// header, the issuer (or holder) the kid was bound to, and the validity
// period of the credential for the caller to act on.
type Header struct {
	Alg string // "EdDSA" or "ES256"
	Kid string // absolute DID URL of the verification method
	Typ string // as found: "vc+jwt", "application/vc+jwt", …
	Cty string // as found, "" when absent
	Iss string // iss header parameter or claim, "" when absent

	// Issuer is the DID the kid belongs to: the credential's issuer, or the
	// presentation's holder ("" for a presentation without holder).
	Issuer string

	// ValidFrom and ValidUntil are the credential's validFrom and
	// validUntil (VCDM 2.0 § 4.9); zero when absent.
	ValidFrom, ValidUntil time.Time
}

// KeyResolver returns the public key of the verification method kid names
// (an absolute DID URL), typically by resolving the DID and checking that
// the method is listed under assertionMethod (authentication for a
// presentation). It must return an ed25519.PublicKey or a P-256
// *ecdsa.PublicKey.
type KeyResolver func(ctx context.Context, kid string) (crypto.PublicKey, error)

// Option adjusts Verify.
type Option func(*options)

type options struct {
	now func() time.Time
}

// WithClock makes Verify check the validity window — validFrom/validUntil
// of the document and, when present, the JWT nbf/exp claims (§ 3.1.3) —
// against now(). Without it, the dates are only parsed and returned.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

type kind struct {
	typ, cty, mediaType string
	docType             string // required member of "type"
}

var (
	kindVC = kind{TypVC, CtyVC, MediaTypeVC, "VerifiableCredential"}
	kindVP = kind{TypVP, CtyVP, MediaTypeVP, "VerifiablePresentation"}
)

// Sign secures a VCDM 2.0 credential as application/vc+jwt (§ 3.1.1). The
// payload is credential exactly as given. key must be an Ed25519 key (alg
// EdDSA) or a P-256 ECDSA key (alg ES256); kid must be an absolute DID URL
// whose DID is the credential's issuer. The credential is checked as Verify
// would check it, so Sign never produces a token Verify would refuse for its
// payload or header.
func Sign(ctx context.Context, credential []byte, key crypto.Signer, kid string) (string, error) {
	return sign(ctx, kindVC, credential, key, kid)
}

// SignPresentation secures a VCDM 2.0 presentation as application/vp+jwt
// (§ 3.1.2). When the presentation names a holder, kid's DID must be it.
func SignPresentation(ctx context.Context, presentation []byte, key crypto.Signer, kid string) (string, error) {
	return sign(ctx, kindVP, presentation, key, kid)
}

// Verify checks an application/vc+jwt token and returns the credential (the
// JWS payload) and its header. resolveKey is called once, with the kid, only
// after the header passed its checks.
func Verify(ctx context.Context, token string, resolveKey KeyResolver, opts ...Option) (credential []byte, header Header, err error) {
	return verify(ctx, kindVC, token, resolveKey, opts)
}

// VerifyPresentation checks an application/vp+jwt token (§ 3.1.2). The
// credentials it envelops are not verified here: each is a separate token
// for Verify.
func VerifyPresentation(ctx context.Context, token string, resolveKey KeyResolver, opts ...Option) (presentation []byte, header Header, err error) {
	return verify(ctx, kindVP, token, resolveKey, opts)
}

func sign(ctx context.Context, k kind, doc []byte, key crypto.Signer, kid string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if key == nil {
		return "", fmt.Errorf("%w: nil key", ErrKeyType)
	}
	alg, err := algForPublic(key.Public())
	if err != nil {
		return "", err
	}
	did, err := didOfKid(kid)
	if err != nil {
		return "", err
	}
	d, err := parseDocument(k, doc)
	if err != nil {
		return "", err
	}
	if err := d.bindTo(k, did); err != nil {
		return "", err
	}
	hdr := jws.NewHeaders()
	for name, v := range map[string]string{
		jws.KeyIDKey: kid, jws.TypeKey: k.typ, jws.ContentTypeKey: k.cty,
	} {
		if err := hdr.Set(name, v); err != nil {
			return "", fmt.Errorf("vcjwt: set %s: %w", name, err)
		}
	}
	out, err := jws.Sign(doc, jws.WithKey(alg, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("vcjwt: sign: %w", err)
	}
	return string(out), nil
}

// rawHeader is the protected header as decoded for the checks. Unknown
// parameters are ignored (§ 3.1.3: "If they are not understood, they MUST
// be ignored"), except crit, which by RFC 7515 § 4.1.11 must be understood.
type rawHeader struct {
	Alg  *string         `json:"alg"`
	Kid  *string         `json:"kid"`
	Typ  *string         `json:"typ"`
	Cty  *string         `json:"cty"`
	Iss  *string         `json:"iss"`
	Crit json.RawMessage `json:"crit"`
	B64  json.RawMessage `json:"b64"`
	JWK  json.RawMessage `json:"jwk"`
	JKU  json.RawMessage `json:"jku"`
	X5U  json.RawMessage `json:"x5u"`
	X5C  json.RawMessage `json:"x5c"`
}

func verify(ctx context.Context, k kind, token string, resolveKey KeyResolver, opts []Option) ([]byte, Header, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if resolveKey == nil {
		return nil, Header{}, fmt.Errorf("%w: no key resolver", ErrKeyResolution)
	}
	if len(token) > MaxTokenSize {
		return nil, Header{}, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(token), MaxTokenSize)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, Header{}, fmt.Errorf("%w: compact JWS has 3 parts, got %d", ErrMalformed, len(parts))
	}
	hb, err := base64.RawURLEncoding.Strict().DecodeString(parts[0])
	if err != nil {
		return nil, Header{}, fmt.Errorf("%w: header encoding: %v", ErrMalformed, err)
	}
	var rh rawHeader
	if err := strictUnmarshal(hb, &rh); err != nil {
		return nil, Header{}, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}

	// alg: § 1.1.2.1 — unsecured tokens (alg none) MUST be ignored; we
	// accept only the two asymmetric algorithms gatewayd signs with.
	if rh.Alg == nil {
		return nil, Header{}, fmt.Errorf("%w: alg absent", ErrAlgorithm)
	}
	var alg jwa.SignatureAlgorithm
	switch *rh.Alg {
	case AlgEdDSA:
		alg = jwa.EdDSA()
	case AlgES256:
		alg = jwa.ES256()
	default:
		return nil, Header{}, fmt.Errorf("%w: %q (only EdDSA and ES256)", ErrAlgorithm, *rh.Alg)
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(parts[1])
	if err != nil {
		return nil, Header{}, fmt.Errorf("%w: payload encoding: %v", ErrMalformed, err)
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(parts[2]); err != nil || parts[2] == "" {
		return nil, Header{}, fmt.Errorf("%w: signature missing or badly encoded", ErrMalformed)
	}
	if rh.Crit != nil || rh.B64 != nil {
		return nil, Header{}, fmt.Errorf("%w: crit/b64 extensions not supported", ErrMalformed)
	}
	if rh.JWK != nil || rh.JKU != nil || rh.X5U != nil || rh.X5C != nil {
		// Keys come from the issuer's DID via kid only, never from the
		// token itself (§ 4 Key Discovery).
		return nil, Header{}, fmt.Errorf("%w: embedded or referenced keys (jwk, jku, x5u, x5c) not accepted", ErrKeyID)
	}
	// typ/cty: § 3.1.1 (vc+jwt, vc) and § 3.1.2 (vp+jwt, vp). typ is
	// required here so a credential cannot be confused with another JWT.
	if rh.Typ == nil || !mediaTypeIs(*rh.Typ, k.typ) {
		got := "<absent>"
		if rh.Typ != nil {
			got = *rh.Typ
		}
		return nil, Header{}, fmt.Errorf("%w: typ %q, want %q", ErrType, got, k.typ)
	}
	if rh.Cty != nil && !mediaTypeIs(*rh.Cty, k.cty) {
		return nil, Header{}, fmt.Errorf("%w: cty %q, want %q", ErrType, *rh.Cty, k.cty)
	}
	if rh.Kid == nil {
		return nil, Header{}, fmt.Errorf("%w: kid absent", ErrKeyID)
	}
	did, err := didOfKid(*rh.Kid)
	if err != nil {
		return nil, Header{}, err
	}
	d, err := parseDocument(k, payload)
	if err != nil {
		return nil, Header{}, err
	}
	if err := d.bindTo(k, did); err != nil {
		return nil, Header{}, err
	}
	h := Header{Alg: *rh.Alg, Kid: *rh.Kid, Typ: *rh.Typ, Issuer: d.issuer,
		ValidFrom: d.validFrom, ValidUntil: d.validUntil}
	if rh.Cty != nil {
		h.Cty = *rh.Cty
	}
	// iss (§ 4.1.2) in header or claims: allowed, but it must not
	// contradict the issuer (§ 3.1.3 recommends against conflicting
	// values; a verifier cannot honour both).
	for _, iss := range []*string{rh.Iss, d.iss} {
		if iss == nil {
			continue
		}
		if *iss != did || (h.Iss != "" && h.Iss != *iss) {
			return nil, Header{}, fmt.Errorf("%w: iss %q conflicts with kid DID %q", ErrIssuerMismatch, *iss, did)
		}
		h.Iss = *iss
	}

	pub, err := resolveKey(ctx, h.Kid)
	if err != nil {
		return nil, Header{}, fmt.Errorf("%w: %q: %w", ErrKeyResolution, h.Kid, err)
	}
	if pub == nil {
		return nil, Header{}, fmt.Errorf("%w: %q: resolver returned no key", ErrKeyResolution, h.Kid)
	}
	keyAlg, err := algForPublic(pub)
	if err != nil {
		return nil, Header{}, err
	}
	if keyAlg.String() != h.Alg {
		return nil, Header{}, fmt.Errorf("%w: alg %s, key is for %s", ErrKeyType, h.Alg, keyAlg)
	}
	if _, err := jws.Verify([]byte(token), jws.WithKey(alg, pub), jws.WithCompact()); err != nil {
		return nil, Header{}, fmt.Errorf("%w: %v", ErrSignature, err)
	}

	if o.now != nil {
		now := o.now()
		if !d.validFrom.IsZero() && now.Before(d.validFrom) {
			return nil, Header{}, fmt.Errorf("%w: validFrom %s", ErrNotYetValid, d.validFrom.Format(time.RFC3339))
		}
		if !d.validUntil.IsZero() && now.After(d.validUntil) {
			return nil, Header{}, fmt.Errorf("%w: validUntil %s", ErrExpired, d.validUntil.Format(time.RFC3339))
		}
		if d.nbf != nil && now.Before(*d.nbf) {
			return nil, Header{}, fmt.Errorf("%w: nbf %s", ErrNotYetValid, d.nbf.Format(time.RFC3339))
		}
		if d.exp != nil && !now.Before(*d.exp) {
			return nil, Header{}, fmt.Errorf("%w: exp %s", ErrExpired, d.exp.Format(time.RFC3339))
		}
	}
	return payload, h, nil
}

// mediaTypeIs compares a typ or cty value with want, accepting the
// "application/" prefix RFC 7515 § 4.1.9 allows to be omitted, without
// regard to case (media types are case-insensitive).
func mediaTypeIs(got, want string) bool {
	got = strings.ToLower(got)
	return got == want || got == "application/"+want
}

// algForPublic maps a public key to the one algorithm it may be used with.
func algForPublic(pub crypto.PublicKey) (jwa.SignatureAlgorithm, error) {
	switch p := pub.(type) {
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return jwa.SignatureAlgorithm{}, fmt.Errorf("%w: Ed25519 key of %d bytes", ErrKeyType, len(p))
		}
		return jwa.EdDSA(), nil
	case *ecdsa.PublicKey:
		if p == nil || p.Curve != elliptic.P256() {
			return jwa.SignatureAlgorithm{}, fmt.Errorf("%w: ECDSA key is not on P-256", ErrKeyType)
		}
		return jwa.ES256(), nil
	default:
		return jwa.SignatureAlgorithm{}, fmt.Errorf("%w: unsupported key type %T (Ed25519 or P-256 only)", ErrKeyType, pub)
	}
}

// didOfKid checks that kid is an absolute DID URL naming a verification
// method — did:<method>:<id>…#<fragment> — and returns its DID.
func didOfKid(kid string) (string, error) {
	did, frag, ok := strings.Cut(kid, "#")
	if !ok || frag == "" {
		return "", fmt.Errorf("%w: %q is not a DID URL with a fragment", ErrKeyID, kid)
	}
	if i := strings.IndexAny(did, "/?"); i >= 0 {
		did = did[:i]
	}
	if !isDID(did) {
		return "", fmt.Errorf("%w: %q is not a DID URL", ErrKeyID, kid)
	}
	return did, nil
}

// isDID checks the DID syntax (DID Core § 3.1): "did:" method-name ":"
// method-specific-id, method-name of [a-z0-9]+.
func isDID(s string) bool {
	rest, ok := strings.CutPrefix(s, "did:")
	if !ok {
		return false
	}
	method, id, ok := strings.Cut(rest, ":")
	if !ok || method == "" || id == "" {
		return false
	}
	for _, c := range method {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	for _, c := range id {
		if c <= ' ' || c == 0x7f || c == '#' || c == '/' || c == '?' {
			return false
		}
	}
	return !strings.HasSuffix(id, ":")
}

// document is what the checks need from the payload.
type document struct {
	issuer                string // credential issuer id, or presentation holder id
	iss                   *string
	validFrom, validUntil time.Time
	nbf, exp              *time.Time
}

// parseDocument checks the VCDM 2.0 structure the securing mechanism
// depends on: a JSON object, @context starting with the credentials v2
// context (VCDM 2.0 § 4.3), type including VerifiableCredential
// (VerifiablePresentation), no vc/vp claim (§ 1.1.2.1), an issuer that is a
// URL or an object with an id (VCDM 2.0 § 4.7), well-formed validity dates.
func parseDocument(k kind, b []byte) (document, error) {
	var d document
	var m map[string]json.RawMessage
	if err := strictUnmarshal(b, &m); err != nil || m == nil {
		return d, fmt.Errorf("%w: not a JSON object", ErrPayload)
	}
	if err := checkContext(m["@context"]); err != nil {
		return d, err
	}
	for _, claim := range []string{"vc", "vp"} {
		if _, ok := m[claim]; ok {
			return d, fmt.Errorf("%w: JWT claim %q MUST NOT be present", ErrPayload, claim)
		}
	}
	types, err := stringOrStrings(m["type"])
	if err != nil || !contains(types, k.docType) {
		return d, fmt.Errorf("%w: type must include %s", ErrPayload, k.docType)
	}
	field := "issuer"
	if k == kindVP {
		field = "holder"
	}
	if raw, ok := m[field]; ok || k == kindVC {
		id, err := idOf(raw)
		if err != nil {
			return d, fmt.Errorf("%w: %s: %v", ErrPayload, field, err)
		}
		d.issuer = id
	}
	if raw, ok := m["iss"]; ok {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return d, fmt.Errorf("%w: iss claim is not a string", ErrPayload)
		}
		d.iss = &s
	}
	for name, dst := range map[string]*time.Time{"validFrom": &d.validFrom, "validUntil": &d.validUntil} {
		raw, ok := m[name]
		if !ok {
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return d, fmt.Errorf("%w: %s is not a string", ErrPayload, name)
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return d, fmt.Errorf("%w: %s %q is not an XML Schema dateTimeStamp", ErrPayload, name, s)
		}
		*dst = t
	}
	if !d.validFrom.IsZero() && !d.validUntil.IsZero() && d.validUntil.Before(d.validFrom) {
		return d, fmt.Errorf("%w: validUntil before validFrom", ErrPayload)
	}
	for name, dst := range map[string]**time.Time{"nbf": &d.nbf, "exp": &d.exp} {
		raw, ok := m[name]
		if !ok {
			continue
		}
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return d, fmt.Errorf("%w: %s is not a NumericDate", ErrPayload, name)
		}
		f, err := n.Float64()
		if err != nil || f < 0 || f > 1e11 {
			return d, fmt.Errorf("%w: %s is not a NumericDate", ErrPayload, name)
		}
		t := time.Unix(int64(f), 0).UTC()
		*dst = &t
	}
	return d, nil
}

// bindTo checks that the DID of the kid is the document's issuer (holder).
func (d document) bindTo(k kind, did string) error {
	if k == kindVP && d.issuer == "" {
		return nil
	}
	if d.issuer != did {
		role := "issuer"
		if k == kindVP {
			role = "holder"
		}
		return fmt.Errorf("%w: kid DID %q, %s %q", ErrIssuerMismatch, did, role, d.issuer)
	}
	return nil
}

func checkContext(raw json.RawMessage) error {
	if raw == nil {
		return fmt.Errorf("%w: @context absent", ErrPayload)
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		var s string
		if json.Unmarshal(raw, &s) == nil && s == CredentialsV2Context {
			return nil
		}
		return fmt.Errorf("%w: @context is not an ordered set", ErrPayload)
	}
	var first string
	if len(list) == 0 || json.Unmarshal(list[0], &first) != nil || first != CredentialsV2Context {
		return fmt.Errorf("%w: first @context must be %s", ErrPayload, CredentialsV2Context)
	}
	return nil
}

func idOf(raw json.RawMessage) (string, error) {
	if raw == nil {
		return "", errors.New("absent")
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return "", errors.New("empty")
		}
		return s, nil
	}
	var o struct {
		ID *string `json:"id"`
	}
	if err := json.Unmarshal(raw, &o); err != nil || o.ID == nil || *o.ID == "" {
		return "", errors.New("neither a URL nor an object with an id")
	}
	return *o.ID, nil
}

func stringOrStrings(raw json.RawMessage) ([]string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return []string{s}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, err
	}
	return list, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// strictUnmarshal decodes exactly one JSON value, with nothing after it and
// no object with a repeated member name: parsers disagree on which of two
// "issuer" members wins, so a token carrying two could mean different
// things to this verifier and to the application (RFC 7515 § 5.2, RFC 8259
// § 4).
func strictUnmarshal(b []byte, v any) error {
	if err := noDuplicateMembers(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data")
	}
	return nil
}

// maxDepth bounds the nesting noDuplicateMembers walks.
const maxDepth = 64

// noDuplicateMembers walks b once with a token decoder and fails on a
// repeated member name in any object, or nesting deeper than maxDepth.
func noDuplicateMembers(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	type frame struct {
		obj     bool
		names   map[string]struct{}
		wantKey bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if top != nil && top.obj {
					top.wantKey = true
				}
				if len(stack) >= maxDepth {
					return errors.New("nesting too deep")
				}
				stack = append(stack, &frame{obj: t == '{', names: map[string]struct{}{}, wantKey: true})
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if top != nil && top.obj && top.wantKey {
				if _, dup := top.names[t]; dup {
					return fmt.Errorf("duplicate member %q", t)
				}
				top.names[t] = struct{}{}
				top.wantKey = false
				continue
			}
			if top != nil && top.obj {
				top.wantKey = true
			}
		default:
			if top != nil && top.obj {
				top.wantKey = true
			}
		}
	}
}
