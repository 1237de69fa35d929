package openbadges

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"testing"

	"github.com/ubeu/gateway/host/vc/dataintegrity"
)

// BenchmarkBuildValidate is the issuing path before signing: check the request, build the
// credential, marshal it and validate it against the OB 3.0 schema.
func BenchmarkBuildValidate(b *testing.B) {
	req := fullRequest()
	issuer := Profile{Name: "University", URL: "https://university.example"}
	if _, err := compiledSchema(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		cred, err := Build(req, issuer, testOpts)
		if err != nil {
			b.Fatal(err)
		}
		raw, err := json.Marshal(cred)
		if err != nil {
			b.Fatal(err)
		}
		if err := Validate(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateComplete validates the specification's complete example (endorsements,
// results, rubric levels).
func BenchmarkValidateComplete(b *testing.B) {
	raw := readFile(b, "testdata/spec-complete-openbadgecredential.json")
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Validate(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBakePNG(b *testing.B) {
	img, cred := DefaultPNG(), mustBuildJSON(b, fullRequest(), Profile{Name: "University"}, testOpts)
	b.ReportAllocs()
	for b.Loop() {
		baked, err := BakePNG(img, cred)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := UnbakePNG(baked); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBakeSVG(b *testing.B) {
	img, cred := DefaultSVG("Advanced JavaScript"), mustBuildJSON(b, fullRequest(), Profile{Name: "University"}, testOpts)
	b.ReportAllocs()
	for b.Loop() {
		baked, err := BakeSVG(img, cred)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := UnbakeSVG(baked); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignRDFC signs a built badge with eddsa-rdfc-2022, as badge
// issuance does (JSON-LD expansion of the OB 3.0 context, RDF
// canonicalisation, Ed25519).
func BenchmarkSignRDFC(b *testing.B) {
	cred, err := Build(fullRequest(), Profile{Name: "University", URL: "https://university.example"}, testOpts)
	if err != nil {
		b.Fatal(err)
	}
	raw, _ := json.Marshal(cred)
	var doc map[string]any
	json.Unmarshal(raw, &doc)
	_, key, _ := ed25519.GenerateKey(nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dataintegrity.Sign(context.Background(), doc, key, dataintegrity.ProofOptions{
			Cryptosuite: dataintegrity.EdDSARDFC2022, VerificationMethod: "did:example:issuer#key-1"}); err != nil {
			b.Fatal(err)
		}
	}
}
