package dataintegrity

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func signedVector(t testing.TB, vs vectorSet) map[string]any {
	var m map[string]any
	if err := json.Unmarshal(read(t, filepath.Join(vs.dir, vs.signed)), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTampering(t *testing.T) {
	ctx := context.Background()
	_, pub := vectorKey(t)
	otherPub, _, _ := ed25519.GenerateKey(nil)
	for _, vs := range vectorSets {
		vm := signedVector(t, vs)["proof"].(map[string]any)["verificationMethod"].(string)
		cases := []struct {
			name    string
			mutate  func(m map[string]any)
			resolve KeyResolver
			want    error
		}{
			{"changed claim", func(m map[string]any) {
				m["credentialSubject"].(map[string]any)["alumniOf"] = "The School of Fakes"
			}, resolverFor(vm, pub), ErrInvalidSignature},
			{"swapped proof value", func(m map[string]any) {
				p := m["proof"].(map[string]any)
				if vs.suite == EdDSAJCS2022 {
					p["proofValue"] = strings.TrimSpace(string(read(t, "eddsa-rdfc-2022/sigBTC58DataInt.txt")))
				} else {
					p["proofValue"] = strings.TrimSpace(string(read(t, "eddsa-jcs-2022/sigBTC58JCS.txt")))
				}
			}, resolverFor(vm, pub), ErrInvalidSignature},
			{"unknown cryptosuite", func(m map[string]any) {
				m["proof"].(map[string]any)["cryptosuite"] = "eddsa-2022"
			}, resolverFor(vm, pub), ErrUnknownCryptosuite},
			{"wrong key", func(map[string]any) {}, resolverFor(vm, otherPub), ErrInvalidSignature},
			{"key not of the issuer", func(m map[string]any) {
				m["proof"].(map[string]any)["verificationMethod"] = "did:example:attacker#key-1"
			}, resolverFor(vm, pub), ErrKeyResolution},
			{"changed created", func(m map[string]any) {
				m["proof"].(map[string]any)["created"] = "2023-02-24T23:36:39Z"
			}, resolverFor(vm, pub), ErrInvalidSignature},
			{"no proof", func(m map[string]any) { delete(m, "proof") }, resolverFor(vm, pub), ErrMalformed},
		}
		for _, c := range cases {
			t.Run(vs.suite+"/"+c.name, func(t *testing.T) {
				m := signedVector(t, vs)
				c.mutate(m)
				b, _ := json.Marshal(m)
				res, err := Verify(ctx, b, c.resolve)
				if !errors.Is(err, c.want) {
					t.Fatalf("got %v (%+v), want %v", err, res, c.want)
				}
			})
		}
	}
}

func TestRDFCRejectsUnknownTerms(t *testing.T) {
	ctx := context.Background()
	sk, _ := vectorKey(t)
	doc := map[string]any{
		"@context":          []any{"https://www.w3.org/ns/credentials/v2"},
		"type":              []any{"VerifiableCredential"},
		"issuer":            "https://vc.example/issuers/5678",
		"credentialSubject": map[string]any{"id": "did:example:abc", "undefinedClaim": "x"},
	}
	_, err := Sign(ctx, doc, sk, ProofOptions{Cryptosuite: EdDSARDFC2022, VerificationMethod: "did:example:issuer#k"})
	if !errors.Is(err, ErrUnknownTerm) {
		t.Fatalf("got %v, want ErrUnknownTerm", err)
	}
	// JCS signs every member, defined or not.
	if _, err := Sign(ctx, doc, sk, ProofOptions{Cryptosuite: EdDSAJCS2022, VerificationMethod: "did:example:issuer#k"}); err != nil {
		t.Fatalf("jcs: %v", err)
	}
	// A context that is not embedded is refused, never fetched.
	doc["@context"] = []any{"https://www.w3.org/ns/credentials/v2", "https://evil.example/ctx"}
	delete(doc["credentialSubject"].(map[string]any), "undefinedClaim")
	if _, err := Sign(ctx, doc, sk, ProofOptions{VerificationMethod: "did:example:issuer#k"}); err == nil || !strings.Contains(err.Error(), "never fetched") {
		t.Fatalf("got %v, want a refused context", err)
	}
}

func TestRDFCLimits(t *testing.T) {
	ctx := context.Background()
	sk, _ := vectorKey(t)
	var nodes []any
	for range 300 {
		nodes = append(nodes, map[string]any{"type": "Thing"})
	}
	doc := map[string]any{
		"@context":          []any{"https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"},
		"type":              []any{"VerifiableCredential"},
		"issuer":            "https://vc.example/issuers/5678",
		"credentialSubject": map[string]any{"knows": nodes},
	}
	_, err := Sign(ctx, doc, sk, ProofOptions{VerificationMethod: "did:example:issuer#k"})
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "blank nodes") {
		t.Fatalf("blank nodes: got %v", err)
	}
	lim := Limits{MaxInputBytes: 1 << 20, MaxBlankNodes: 1000, Timeout: time.Nanosecond}
	_, err = Sign(ctx, doc, sk, ProofOptions{VerificationMethod: "did:example:issuer#k", Limits: &lim})
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("deadline: got %v", err)
	}
	big := make([]byte, DefaultLimits.MaxInputBytes+1)
	if _, err := Verify(ctx, big, nil); !errors.Is(err, ErrLimit) {
		t.Fatalf("size: got %v", err)
	}
}

func TestJCSNumbersAndStrings(t *testing.T) {
	for in, want := range map[string]string{
		`{"b":1e21,"a":0.000001,"c":1e-7,"d":-0,"e":123.456,"f":1E30,"g":"\u0001é\"/"}`: `{"a":0.000001,"b":1e+21,"c":1e-7,"d":0,"e":123.456,"f":1e+30,"g":"\u0001é\"/"}`,
		`{"\u20ac":1,"\r":2,"1":3,"\ud83d\ude00":4,"ö":5}`:                              `{"\r":2,"1":3,"ö":5,"€":1,"😀":4}`,
	} {
		v, err := decodeJSON([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		got, err := canonicalJSON(v)
		if err != nil || string(got) != want {
			t.Errorf("%s: got %s (%v), want %s", in, got, err, want)
		}
	}
}

// A proof set of one proof (the Open Badges 3.0 schema's proof array) is
// that proof; a set of two is refused, never half-checked.
func TestProofSetOfOne(t *testing.T) {
	ctx := context.Background()
	sk, pk := vectorKey(t)
	doc := map[string]any{
		"@context":          []any{"https://www.w3.org/ns/credentials/v2"},
		"type":              []any{"VerifiableCredential"},
		"issuer":            "https://vc.example/issuers/5678",
		"credentialSubject": map[string]any{"id": "did:example:abc"},
	}
	signed, err := Sign(ctx, doc, sk, ProofOptions{Cryptosuite: EdDSAJCS2022, VerificationMethod: "did:example:issuer#k"})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(signed, &m)
	proof := m["proof"]
	key := func(context.Context, string) (ed25519.PublicKey, error) { return pk, nil }
	m["proof"] = []any{proof}
	one, _ := json.Marshal(m)
	if _, err := Verify(ctx, one, key); err != nil {
		t.Fatalf("proof set of one: %v", err)
	}
	m["credentialSubject"] = map[string]any{"id": "did:example:other"}
	tampered, _ := json.Marshal(m)
	if _, err := Verify(ctx, tampered, key); !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("tampered, proof set of one: %v", err)
	}
	m["proof"] = []any{proof, proof}
	two, _ := json.Marshal(m)
	if _, err := Verify(ctx, two, key); !errors.Is(err, ErrMalformed) {
		t.Fatalf("proof set of two: %v", err)
	}
}
