package dataintegrity

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mr-tron/base58"
)

func read(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// vectorKey decodes keyPair.json: multicodec ed25519-pub (0xed01) and ed25519-priv (0x8026).
func vectorKey(t testing.TB) (ed25519.PrivateKey, ed25519.PublicKey) {
	t.Helper()
	var kp struct{ PublicKeyMultibase, PrivateKeyMultibase string }
	if err := json.Unmarshal(read(t, "keyPair.json"), &kp); err != nil {
		t.Fatal(err)
	}
	pub, err := base58.Decode(kp.PublicKeyMultibase[1:])
	if err != nil || pub[0] != 0xed || pub[1] != 0x01 || len(pub) != 34 {
		t.Fatalf("public key: %v %x", err, pub)
	}
	priv, err := base58.Decode(kp.PrivateKeyMultibase[1:])
	if err != nil || priv[0] != 0x80 || priv[1] != 0x26 || len(priv) != 34 {
		t.Fatalf("private key: %v %x", err, priv)
	}
	sk := ed25519.NewKeyFromSeed(priv[2:])
	if !bytes.Equal(sk.Public().(ed25519.PublicKey), pub[2:]) {
		t.Fatal("key pair does not match")
	}
	return sk, pub[2:]
}

func resolverFor(vm string, pub ed25519.PublicKey) KeyResolver {
	return func(_ context.Context, got string) (ed25519.PublicKey, error) {
		if got != vm {
			return nil, fmt.Errorf("unknown verification method %q", got)
		}
		return pub, nil
	}
}

type vectorSet struct {
	suite, dir, suffix string
	signed             string
}

var vectorSets = []vectorSet{
	{EdDSAJCS2022, "eddsa-jcs-2022", "JCS", "signedJCS.json"},
	{EdDSARDFC2022, "eddsa-rdfc-2022", "DataInt", "signedDataInt.json"},
}

func trim(b []byte) string { return strings.TrimRight(string(b), "\n") }

func TestSpecVectors(t *testing.T) {
	ctx := context.Background()
	sk, pub := vectorKey(t)
	for _, vs := range vectorSets {
		t.Run(vs.suite, func(t *testing.T) {
			f := func(name string) []byte { return read(t, filepath.Join(vs.dir, name)) }
			var signed map[string]any
			if err := json.Unmarshal(f(vs.signed), &signed); err != nil {
				t.Fatal(err)
			}
			proof := signed["proof"].(map[string]any)
			delete(signed, "proof")
			unsigned, _ := json.Marshal(signed)

			// Intermediate values: canonical document, proof configuration, hashes.
			udoc, _ := decodeJSON(unsigned)
			var pc map[string]any
			pcv, _ := decodeJSON(f("proofConfig" + vs.suffix + ".json"))
			pc = pcv.(map[string]any)
			var canonDoc, canonProof []byte
			var err error
			if vs.suite == EdDSAJCS2022 {
				canonDoc, err = canonicalJSON(udoc)
				if err == nil {
					canonProof, err = canonicalJSON(pc)
				}
			} else {
				canonDoc, err = canonicalRDF(ctx, udoc.(map[string]any), DefaultLimits)
				if err == nil {
					canonProof, err = canonicalRDF(ctx, pc, DefaultLimits)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, want := trim(canonDoc), trim(f("canonDoc"+vs.suffix+".txt")); got != want {
				t.Errorf("canonical document:\n got %s\nwant %s", got, want)
			}
			if got, want := trim(canonProof), trim(f("proofCanon"+vs.suffix+".txt")); got != want {
				t.Errorf("canonical proof config:\n got %s\nwant %s", got, want)
			}
			dh, ph := sha256.Sum256(canonDoc), sha256.Sum256(canonProof)
			if got, want := hex.EncodeToString(dh[:]), trim(f("docHash"+vs.suffix+".txt")); got != want {
				t.Errorf("document hash %s, want %s", got, want)
			}
			if got, want := hex.EncodeToString(ph[:]), trim(f("proofHash"+vs.suffix+".txt")); got != want {
				t.Errorf("proof hash %s, want %s", got, want)
			}
			hd, err := hashData(ctx, vs.suite, udoc.(map[string]any), stripContext(pc), DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := hex.EncodeToString(hd), trim(f("combinedHash"+vs.suffix+".txt")); got != want {
				t.Errorf("combined hash %s, want %s", got, want)
			}
			sig := ed25519.Sign(sk, hd)
			if got, want := hex.EncodeToString(sig), trim(f("sigHex"+vs.suffix+".txt")); got != want {
				t.Errorf("signature %s, want %s", got, want)
			}
			if got, want := "z"+base58.Encode(sig), trim(f("sigBTC58"+vs.suffix+".txt")); got != want {
				t.Errorf("proofValue %s, want %s", got, want)
			}

			// Sign end to end reproduces the signed credential (as JSON values).
			created, _ := time.Parse(time.RFC3339, proof["created"].(string))
			out, err := Sign(ctx, unsigned, sk, ProofOptions{
				Cryptosuite:        vs.suite,
				VerificationMethod: proof["verificationMethod"].(string),
				ProofPurpose:       "assertionMethod",
				Created:            created,
			})
			if err != nil {
				t.Fatal(err)
			}
			var gotDoc, wantDoc any
			_ = json.Unmarshal(out, &gotDoc)
			_ = json.Unmarshal(f(vs.signed), &wantDoc)
			g, _ := canonicalJSON(gotDoc)
			w, _ := canonicalJSON(wantDoc)
			if !bytes.Equal(g, w) {
				t.Errorf("signed credential:\n got %s\nwant %s", g, w)
			}

			// The published signed credential verifies.
			res, err := Verify(ctx, f(vs.signed), resolverFor(proof["verificationMethod"].(string), pub))
			if err != nil {
				t.Fatalf("verify published vector: %v", err)
			}
			if res.Cryptosuite != vs.suite || res.ProofPurpose != "assertionMethod" || !res.Created.Equal(created) {
				t.Errorf("result %+v", res)
			}
		})
	}
}

// stripContext returns a copy of a proof configuration without @context (hashData adds the
// document's).
func stripContext(pc map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range pc {
		if k != "@context" {
			out[k] = v
		}
	}
	return out
}

func TestOpenBadgesCanonicalisation(t *testing.T) {
	ctx := context.Background()
	v, err := decodeJSON(read(t, "ob3/credential.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc := v.(map[string]any)
	got, err := canonicalRDF(ctx, doc, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if want := read(t, "ob3/document-canon.txt"); trim(got) != trim(want) {
		t.Errorf("document:\n got %s\nwant %s", got, want)
	}
	proof := map[string]any{
		"@context":           doc["@context"],
		"type":               ProofType,
		"cryptosuite":        EdDSARDFC2022,
		"created":            "2010-01-01T19:23:24Z",
		"verificationMethod": "https://example.edu/issuers/565049#z6MkjZRZv3aez3r18pB1RBFJR1kwUVJ5jHt92JmQwXbd5hwi",
		"proofPurpose":       "assertionMethod",
	}
	got, err = canonicalRDF(ctx, proof, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if want := read(t, "ob3/proof-canon.txt"); trim(got) != trim(want) {
		t.Errorf("proof:\n got %s\nwant %s", got, want)
	}
}
