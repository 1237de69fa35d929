package vcjwt

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

const (
	issuerDID = "did:example:issuer"
	kidEd     = issuerDID + "#key-ed"
	kidP256   = issuerDID + "#key-p256"
)

// credential is a VCDM 2.0 credential shaped like Example 1 of § 3.1.1,
// with the issuer a DID (the example's issuer is an https URL).
const credential = `{
  "@context": [
    "https://www.w3.org/ns/credentials/v2",
    "https://www.w3.org/ns/credentials/examples/v2"
  ],
  "id": "http://university.example/credentials/3732",
  "type": ["VerifiableCredential", "ExampleDegreeCredential", "ExamplePersonCredential"],
  "issuer": "did:example:issuer",
  "validFrom": "2010-01-01T19:23:24Z",
  "validUntil": "2030-01-01T00:00:00Z",
  "credentialSubject": {
    "id": "did:example:ebfeb1f712ebc6f1c276e12ec21",
    "degree": {"type": "ExampleBachelorDegree", "name": "Bachelor of Science and Arts"},
    "alumniOf": {"name": "Example University"}
  },
  "credentialSchema": [
    {"id": "https://example.org/examples/degree.json", "type": "JsonSchema"},
    {"id": "https://example.org/examples/alumni.json", "type": "JsonSchema"}
  ]
}`

type keys struct {
	ed   ed25519.PrivateKey
	p256 *ecdsa.PrivateKey
}

func newKeys(t testing.TB) keys {
	t.Helper()
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keys{ed, p}
}

// resolver answers the two verification methods of issuerDID and counts
// calls.
func (k keys) resolver(calls *int) KeyResolver {
	return func(_ context.Context, kid string) (crypto.PublicKey, error) {
		if calls != nil {
			*calls++
		}
		switch kid {
		case kidEd:
			return k.ed.Public(), nil
		case kidP256:
			return k.p256.Public(), nil
		}
		return nil, fmt.Errorf("unknown verification method %q", kid)
	}
}

// rawSign builds a compact JWS over payload with the given protected header
// members, through jwx, bypassing Sign's checks.
func rawSign(t testing.TB, alg jwa.SignatureAlgorithm, key any, payload string, hdr map[string]any) string {
	t.Helper()
	h := jws.NewHeaders()
	for k, v := range hdr {
		if err := h.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	out, err := jws.Sign([]byte(payload), jws.WithKey(alg, key, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// hand builds a compact JWS from JSON header and payload and a signature.
func hand(header, payload string, sig []byte) string {
	e := base64.RawURLEncoding
	return e.EncodeToString([]byte(header)) + "." + e.EncodeToString([]byte(payload)) + "." + e.EncodeToString(sig)
}

func TestRoundTrip(t *testing.T) {
	k := newKeys(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		key  crypto.Signer
		kid  string
		alg  string
		pub  crypto.PublicKey
	}{
		{"EdDSA", k.ed, kidEd, "EdDSA", k.ed.Public()},
		{"ES256", k.p256, kidP256, "ES256", k.p256.Public()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := Sign(ctx, []byte(credential), tc.key, tc.kid)
			if err != nil {
				t.Fatal(err)
			}
			var calls int
			got, h, err := Verify(ctx, tok, k.resolver(&calls), WithClock(func() time.Time {
				return time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
			}))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != credential {
				t.Errorf("payload is not the credential byte for byte:\n%s", got)
			}
			want := Header{Alg: tc.alg, Kid: tc.kid, Typ: TypVC, Cty: CtyVC, Issuer: issuerDID,
				ValidFrom:  time.Date(2010, 1, 1, 19, 23, 24, 0, time.UTC),
				ValidUntil: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
			if !h.ValidFrom.Equal(want.ValidFrom) || !h.ValidUntil.Equal(want.ValidUntil) {
				t.Errorf("validity %v..%v", h.ValidFrom, h.ValidUntil)
			}
			h.ValidFrom, h.ValidUntil, want.ValidFrom, want.ValidUntil = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if h != want {
				t.Errorf("header %+v, want %+v", h, want)
			}
			if calls != 1 {
				t.Errorf("resolver called %d times", calls)
			}

			// Independent check with jwx: the protected header has exactly
			// alg, kid, typ, cty; the signature verifies; the payload is a
			// JWT claims set with the credential's members at top level and
			// no vc claim.
			msg, err := jws.Parse([]byte(tok), jws.WithCompact())
			if err != nil {
				t.Fatal(err)
			}
			seg := strings.Split(tok, ".")[0]
			hb, _ := base64.RawURLEncoding.DecodeString(seg)
			var hm map[string]any
			if err := json.Unmarshal(hb, &hm); err != nil {
				t.Fatal(err)
			}
			if len(hm) != 4 || hm["alg"] != tc.alg || hm["kid"] != tc.kid || hm["typ"] != "vc+jwt" || hm["cty"] != "vc" {
				t.Errorf("protected header %v", hm)
			}
			if a, _ := msg.Signatures()[0].ProtectedHeaders().Algorithm(); a.String() != tc.alg {
				t.Errorf("jwx sees alg %v", a)
			}
			alg, _ := jwa.LookupSignatureAlgorithm(tc.alg)
			if _, err := jws.Verify([]byte(tok), jws.WithKey(alg, tc.pub)); err != nil {
				t.Errorf("jwx jws.Verify: %v", err)
			}
			jt, err := jwt.ParseString(tok, jwt.WithKey(alg, tc.pub))
			if err != nil {
				t.Fatalf("jwx jwt.Parse: %v", err)
			}
			var iss string
			if err := jt.Get("issuer", &iss); err != nil || iss != issuerDID {
				t.Errorf("jwt claim issuer %q, %v", iss, err)
			}
			if jt.Has("vc") {
				t.Error("vc claim present")
			}
		})
	}
}

func TestPresentationRoundTrip(t *testing.T) {
	k := newKeys(t)
	ctx := context.Background()
	vcTok, err := Sign(ctx, []byte(credential), k.ed, kidEd)
	if err != nil {
		t.Fatal(err)
	}
	vp := `{"@context":["https://www.w3.org/ns/credentials/v2"],"type":"VerifiablePresentation",` +
		`"holder":"did:example:issuer","verifiableCredential":[{"@context":"https://www.w3.org/ns/credentials/v2",` +
		`"type":"EnvelopedVerifiableCredential","id":"data:application/vc+jwt,` + vcTok + `"}]}`
	tok, err := SignPresentation(ctx, []byte(vp), k.p256, kidP256)
	if err != nil {
		t.Fatal(err)
	}
	got, h, err := VerifyPresentation(ctx, tok, k.resolver(nil))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != vp || h.Typ != TypVP || h.Cty != CtyVP || h.Issuer != issuerDID {
		t.Errorf("got %s %+v", got, h)
	}
	// A presentation is not a credential and vice versa (typ confusion).
	if _, _, err := Verify(ctx, tok, k.resolver(nil)); !errors.Is(err, ErrType) {
		t.Errorf("vp+jwt through Verify: %v", err)
	}
	if _, _, err := VerifyPresentation(ctx, vcTok, k.resolver(nil)); !errors.Is(err, ErrType) {
		t.Errorf("vc+jwt through VerifyPresentation: %v", err)
	}
	// Holder other than the kid's DID.
	other := strings.Replace(vp, `"holder":"did:example:issuer"`, `"holder":"did:example:someone"`, 1)
	if _, err := SignPresentation(ctx, []byte(other), k.p256, kidP256); !errors.Is(err, ErrIssuerMismatch) {
		t.Errorf("holder mismatch: %v", err)
	}
}

// Example 1 of § 3.1.1, as published in the Recommendation. The example's
// public key is not published (the examples are generated with fresh keys
// when the document is rendered) and its header has no typ, so it is not a
// verifiable vector; what it does fix is the encoding: the payload is the
// credential itself, with no vc wrapper, and the header carries alg and kid.
const specExample1 = "eyJraWQiOiJFeEhrQk1XOWZtYmt2VjI2Nm1ScHVQMnNVWV9OX0VXSU4xbGFwVXpPOHJvIiwiYWxnIjoiRVMyNTYifQ" +
	".eyJAY29udGV4dCI6WyJodHRwczovL3d3dy53My5vcmcvbnMvY3JlZGVudGlhbHMvdjIiLCJodHRwczovL3d3dy53My5vcmcvbnMvY3JlZGVudGlhbHMvZXhhbXBsZXMvdjIiXSwiaWQiOiJodHRwOi8vdW5pdmVyc2l0eS5leGFtcGxlL2NyZWRlbnRpYWxzLzM3MzIiLCJ0eXBlIjpbIlZlcmlmaWFibGVDcmVkZW50aWFsIiwiRXhhbXBsZURlZ3JlZUNyZWRlbnRpYWwiLCJFeGFtcGxlUGVyc29uQ3JlZGVudGlhbCJdLCJpc3N1ZXIiOiJodHRwczovL3VuaXZlcnNpdHkuZXhhbXBsZS9pc3N1ZXJzLzE0IiwidmFsaWRGcm9tIjoiMjAxMC0wMS0wMVQxOToyMzoyNFoiLCJjcmVkZW50aWFsU3ViamVjdCI6eyJpZCI6ImRpZDpleGFtcGxlOmViZmViMWY3MTJlYmM2ZjFjMjc2ZTEyZWMyMSIsImRlZ3JlZSI6eyJ0eXBlIjoiRXhhbXBsZUJhY2hlbG9yRGVncmVlIiwibmFtZSI6IkJhY2hlbG9yIG9mIFNjaWVuY2UgYW5kIEFydHMifSwiYWx1bW5pT2YiOnsibmFtZSI6IkV4YW1wbGUgVW5pdmVyc2l0eSJ9fSwiY3JlZGVudGlhbFNjaGVtYSI6W3siaWQiOiJodHRwczovL2V4YW1wbGUub3JnL2V4YW1wbGVzL2RlZ3JlZS5qc29uIiwidHlwZSI6Ikpzb25TY2hlbWEifSx7ImlkIjoiaHR0cHM6Ly9leGFtcGxlLm9yZy9leGFtcGxlcy9hbHVtbmkuanNvbiIsInR5cGUiOiJKc29uU2NoZW1hIn1dfQ" +
	".xbpSjNX9SAAn8YM31TcXFIWgdLwNGpQguO2xoTWv_NoE1cSNW5RlWbsaO3hlYE6y9aa4q7ie5FXubvPwi1K__g"

func TestSpecExample1(t *testing.T) {
	parts := strings.Split(specExample1, ".")
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if string(hb) != `{"kid":"ExHkBMW9fmbkvV266mRpuP2sUY_N_EWIN1lapUzO8ro","alg":"ES256"}` {
		t.Errorf("header %s", hb)
	}
	pb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	// The payload is the unsecured credential (§ 3.1.1), a VCDM 2.0
	// document our payload checks accept as such.
	d, err := parseDocument(kindVC, pb)
	if err != nil {
		t.Fatal(err)
	}
	if d.issuer != "https://university.example/issuers/14" || !d.validFrom.Equal(time.Date(2010, 1, 1, 19, 23, 24, 0, time.UTC)) {
		t.Errorf("parsed %+v", d)
	}
	// Our strict verifier refuses it before touching any key: no typ.
	var calls int
	_, _, err = Verify(context.Background(), specExample1, newKeys(t).resolver(&calls))
	if !errors.Is(err, ErrType) || calls != 0 {
		t.Errorf("spec example: %v (resolver calls %d)", err, calls)
	}
	// The equivalent credential signed by us with a DID issuer verifies;
	// that is TestRoundTrip. An https issuer cannot be bound to a DID kid.
	if _, err := Sign(context.Background(), pb, newKeys(t).p256, kidP256); !errors.Is(err, ErrIssuerMismatch) {
		t.Errorf("signing the example with a DID kid: %v", err)
	}
}

func TestRejections(t *testing.T) {
	k := newKeys(t)
	ctx := context.Background()
	good, err := Sign(ctx, []byte(credential), k.ed, kidEd)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	stdHdr := map[string]any{"typ": "vc+jwt", "kid": kidEd}
	withHdr := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range stdHdr {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	otherCred := strings.Replace(credential, "Bachelor of Science and Arts", "Doctor of Philosophy", 1)
	_, otherEd, _ := ed25519.GenerateKey(rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)

	for _, tc := range []struct {
		name     string
		token    string
		resolver KeyResolver
		opts     []Option
		want     error
		resolved bool // whether the resolver may have been consulted
	}{
		{name: "tampered payload",
			token: parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(otherCred)) + "." + parts[2],
			want:  ErrSignature, resolved: true},
		{name: "tampered signature",
			token: parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 64)),
			want:  ErrSignature, resolved: true},
		{name: "alg none", token: hand(`{"alg":"none","typ":"vc+jwt","kid":"`+kidEd+`"}`, credential, nil),
			want: ErrAlgorithm},
		{name: "alg none with a signature", token: hand(`{"alg":"none","typ":"vc+jwt","kid":"`+kidEd+`"}`, credential, []byte("x")),
			want: ErrAlgorithm},
		{name: "alg absent", token: hand(`{"typ":"vc+jwt","kid":"`+kidEd+`"}`, credential, []byte("x")),
			want: ErrAlgorithm},
		{name: "HS256", token: rawSign(t, jwa.HS256(), []byte("0123456789abcdef0123456789abcdef"), credential, stdHdr),
			want: ErrAlgorithm},
		{name: "ES384", token: rawSign(t, jwa.ES384(), p384, credential, stdHdr), want: ErrAlgorithm},
		{name: "typ JWT", token: rawSign(t, jwa.EdDSA(), k.ed, credential, withHdr(map[string]any{"typ": "JWT"})),
			want: ErrType},
		{name: "typ absent", token: hand(`{"alg":"EdDSA","kid":"`+kidEd+`"}`, credential, []byte("x")),
			want: ErrType},
		{name: "cty wrong", token: rawSign(t, jwa.EdDSA(), k.ed, credential, withHdr(map[string]any{"cty": "vp"})),
			want: ErrType},
		{name: "kid absent", token: hand(`{"alg":"EdDSA","typ":"vc+jwt"}`, credential, []byte("x")),
			want: ErrKeyID},
		{name: "kid not a DID URL", token: rawSign(t, jwa.EdDSA(), k.ed, credential, withHdr(map[string]any{"kid": "key-1"})),
			want: ErrKeyID},
		{name: "kid without fragment", token: rawSign(t, jwa.EdDSA(), k.ed, credential, withHdr(map[string]any{"kid": issuerDID})),
			want: ErrKeyID},
		{name: "kid of another DID", token: rawSign(t, jwa.EdDSA(), k.ed, credential, withHdr(map[string]any{"kid": "did:example:mallory#key-ed"})),
			want: ErrIssuerMismatch},
		{name: "embedded jwk", token: hand(`{"alg":"EdDSA","typ":"vc+jwt","kid":"`+kidEd+`","jwk":{"kty":"OKP"}}`, credential, []byte("x")),
			want: ErrKeyID},
		{name: "crit", token: hand(`{"alg":"EdDSA","typ":"vc+jwt","kid":"`+kidEd+`","crit":["x"],"x":1}`, credential, []byte("x")),
			want: ErrMalformed},
		{name: "kid unresolvable", token: rawSign(t, jwa.EdDSA(), k.ed, credential, withHdr(map[string]any{"kid": issuerDID + "#gone"})),
			want: ErrKeyResolution, resolved: true},
		{name: "EdDSA token, P-256 key", token: good,
			resolver: func(context.Context, string) (crypto.PublicKey, error) { return k.p256.Public(), nil },
			want:     ErrKeyType, resolved: true},
		{name: "ES256 token, Ed25519 key", token: rawSign(t, jwa.ES256(), k.p256, credential, withHdr(map[string]any{"kid": kidP256})),
			resolver: func(context.Context, string) (crypto.PublicKey, error) { return k.ed.Public(), nil },
			want:     ErrKeyType, resolved: true},
		{name: "P-384 key", token: rawSign(t, jwa.ES256(), k.p256, credential, withHdr(map[string]any{"kid": kidP256})),
			resolver: func(context.Context, string) (crypto.PublicKey, error) { return p384.Public(), nil },
			want:     ErrKeyType, resolved: true},
		{name: "signed by another key", token: rawSign(t, jwa.EdDSA(), otherEd, credential, stdHdr),
			want: ErrSignature, resolved: true},
		{name: "expired", token: good, opts: []Option{WithClock(func() time.Time { return time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC) })},
			want: ErrExpired, resolved: true},
		{name: "not yet valid", token: good, opts: []Option{WithClock(func() time.Time { return time.Date(2009, 1, 1, 0, 0, 0, 0, time.UTC) })},
			want: ErrNotYetValid, resolved: true},
		{name: "JWT exp passed", token: rawSign(t, jwa.EdDSA(), k.ed, strings.Replace(credential, `"id":`, `"exp": 1600000000, "id":`, 1), stdHdr),
			opts: []Option{WithClock(func() time.Time { return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) })},
			want: ErrExpired, resolved: true},
		{name: "vc claim", token: rawSign(t, jwa.EdDSA(), k.ed, strings.Replace(credential, `"id":`, `"vc": {}, "id":`, 1), stdHdr),
			want: ErrPayload},
		{name: "v1 context", token: rawSign(t, jwa.EdDSA(), k.ed, strings.Replace(credential, "https://www.w3.org/ns/credentials/v2", "https://www.w3.org/2018/credentials/v1", 1), stdHdr),
			want: ErrPayload},
		{name: "payload not an object", token: rawSign(t, jwa.EdDSA(), k.ed, `["x"]`, stdHdr), want: ErrPayload},
		{name: "payload trailing data", token: rawSign(t, jwa.EdDSA(), k.ed, credential+"{}", stdHdr), want: ErrPayload},
		{name: "not a VerifiableCredential", token: rawSign(t, jwa.EdDSA(), k.ed, strings.Replace(credential, `"VerifiableCredential", `, "", 1), stdHdr),
			want: ErrPayload},
		{name: "bad validUntil", token: rawSign(t, jwa.EdDSA(), k.ed, strings.Replace(credential, "2030-01-01T00:00:00Z", "2030-01-01", 1), stdHdr),
			want: ErrPayload},
		{name: "iss conflicts", token: rawSign(t, jwa.EdDSA(), k.ed, credential, withHdr(map[string]any{"iss": "did:example:mallory"})),
			want: ErrIssuerMismatch},
		{name: "iss claim conflicts", token: rawSign(t, jwa.EdDSA(), k.ed, strings.Replace(credential, `"id":`, `"iss": "https://evil.example", "id":`, 1), stdHdr),
			want: ErrIssuerMismatch},
		{name: "two parts", token: parts[0] + "." + parts[1], want: ErrMalformed},
		{name: "JSON serialisation", token: `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`,
			want: ErrMalformed},
		{name: "padded base64", token: parts[0] + "=." + parts[1] + "." + parts[2], want: ErrMalformed},
		{name: "oversized", token: strings.Repeat("a", MaxTokenSize+1), want: ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls int
			r := tc.resolver
			if r == nil {
				r = k.resolver(&calls)
			} else {
				inner := r
				r = func(ctx context.Context, kid string) (crypto.PublicKey, error) { calls++; return inner(ctx, kid) }
			}
			got, h, err := Verify(ctx, tc.token, r, tc.opts...)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if got != nil || h != (Header{}) {
				t.Errorf("returned data with an error: %q %+v", got, h)
			}
			if !tc.resolved && calls != 0 {
				t.Errorf("resolver consulted %d times before the header/payload were rejected", calls)
			}
		})
	}
}

func TestIssAllowedWhenConsistent(t *testing.T) {
	k := newKeys(t)
	tok := rawSign(t, jwa.EdDSA(), k.ed, strings.Replace(credential, `"id":`, `"iss": "did:example:issuer", "id":`, 1),
		map[string]any{"typ": "application/vc+jwt", "kid": kidEd, "iss": issuerDID})
	_, h, err := Verify(context.Background(), tok, k.resolver(nil))
	if err != nil {
		t.Fatal(err)
	}
	if h.Iss != issuerDID || h.Typ != "application/vc+jwt" || h.Cty != "" {
		t.Errorf("%+v", h)
	}
}

func TestIssuerObject(t *testing.T) {
	k := newKeys(t)
	c := strings.Replace(credential, `"issuer": "did:example:issuer"`, `"issuer": {"id": "did:example:issuer", "name": "Example University"}`, 1)
	tok, err := Sign(context.Background(), []byte(c), k.p256, kidP256)
	if err != nil {
		t.Fatal(err)
	}
	if _, h, err := Verify(context.Background(), tok, k.resolver(nil)); err != nil || h.Issuer != issuerDID {
		t.Fatalf("%+v %v", h, err)
	}
}

type rsaLike struct{ crypto.Signer }

func TestSignRejects(t *testing.T) {
	k := newKeys(t)
	ctx := context.Background()
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for _, tc := range []struct {
		name string
		cred string
		key  crypto.Signer
		kid  string
		want error
	}{
		{"P-384 key", credential, p384, kidP256, ErrKeyType},
		{"nil key", credential, nil, kidEd, ErrKeyType},
		{"kid of another DID", credential, k.ed, "did:example:mallory#k", ErrIssuerMismatch},
		{"kid not a DID URL", credential, k.ed, "https://example.com/keys/1", ErrKeyID},
		{"not JSON", "not json", k.ed, kidEd, ErrPayload},
		{"vc wrapper", `{"vc":` + credential + `}`, k.ed, kidEd, ErrPayload},
		{"no issuer", strings.Replace(credential, `"issuer": "did:example:issuer",`, "", 1), k.ed, kidEd, ErrPayload},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Sign(ctx, []byte(tc.cred), tc.key, tc.kid); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Sign(cctx, []byte(credential), k.ed, kidEd); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// A crypto.Signer that is not one of the concrete key types (an HSM or KMS
// handle, say) signs through its Sign method.
func TestOpaqueSigner(t *testing.T) {
	k := newKeys(t)
	for _, s := range []crypto.Signer{rsaLike{k.ed}, rsaLike{k.p256}} {
		kid := kidEd
		if _, ok := s.Public().(*ecdsa.PublicKey); ok {
			kid = kidP256
		}
		tok, err := Sign(context.Background(), []byte(credential), s, kid)
		if err != nil {
			t.Fatalf("%T: %v", s.Public(), err)
		}
		if _, _, err := Verify(context.Background(), tok, k.resolver(nil)); err != nil {
			t.Fatalf("%T: %v", s.Public(), err)
		}
	}
}

func TestDuplicateMembers(t *testing.T) {
	k := newKeys(t)
	ctx := context.Background()
	// Two issuer members: the last names the kid's DID, the first another.
	dupIssuer := strings.Replace(credential, `"id": "http`, `"issuer": "did:example:mallory", "id": "http`, 1)
	tok := rawSign(t, jwa.EdDSA(), k.ed, dupIssuer, map[string]any{"typ": "vc+jwt", "kid": kidEd})
	if _, _, err := Verify(ctx, tok, k.resolver(nil)); !errors.Is(err, ErrPayload) {
		t.Errorf("duplicate issuer: %v", err)
	}
	nested := strings.Replace(credential, `"name": "Example University"`, `"name": "A", "name": "B"`, 1)
	tok = rawSign(t, jwa.EdDSA(), k.ed, nested, map[string]any{"typ": "vc+jwt", "kid": kidEd})
	if _, _, err := Verify(ctx, tok, k.resolver(nil)); !errors.Is(err, ErrPayload) {
		t.Errorf("duplicate nested member: %v", err)
	}
	hdr := hand(`{"alg":"EdDSA","typ":"vc+jwt","kid":"`+kidEd+`","alg":"none"}`, credential, []byte("x"))
	if _, _, err := Verify(ctx, hdr, k.resolver(nil)); !errors.Is(err, ErrMalformed) {
		t.Errorf("duplicate header member: %v", err)
	}
	deep := `{"@context":["https://www.w3.org/ns/credentials/v2"],"type":"VerifiableCredential","issuer":"did:example:issuer","x":` +
		strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`
	if _, err := Sign(ctx, []byte(deep), k.ed, kidEd); !errors.Is(err, ErrPayload) {
		t.Errorf("deep nesting: %v", err)
	}
	// Same names in different objects and values equal to names are fine.
	ok := strings.Replace(credential, `"alumniOf": {"name": "Example University"}`, `"alumniOf": {"name": "name", "id": "x"}`, 1)
	if _, err := Sign(ctx, []byte(ok), k.ed, kidEd); err != nil {
		t.Errorf("legitimate repeated names across objects: %v", err)
	}
}
