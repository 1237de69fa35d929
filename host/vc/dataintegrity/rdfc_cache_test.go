package dataintegrity

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/piprate/json-gold/ld"

	"github.com/ubeu/gateway/host/vc/contexts"
)

// TestCachedContextSameAsJSONGold: canonicalising through the kept active
// context gives exactly what json-gold's own ToRDF gives, for the shape
// cache's seeds (the spec's vectors, the OB 3.0 credential, …), a document
// with an inline context (the slow path), and one with an undefined term
// (an error both ways).
func TestCachedContextSameAsJSONGold(t *testing.T) {
	docs := shapeSeeds(t)
	inline := map[string]any{"@context": []any{"https://www.w3.org/ns/credentials/v2", map[string]any{"nick": "https://example.com/nick"}},
		"type": "VerifiableCredential", "issuer": "did:example:1", "credentialSubject": map[string]any{"id": "did:example:2", "nick": "x"}}
	docs = append(docs, inline)
	canon := func(doc map[string]any, cached bool) (string, error) {
		opts := ld.NewJsonLdOptions("")
		opts.DocumentLoader = contexts.Default()
		opts.SafeMode = true
		opts.ProcessingMode = ld.JsonLd_1_1
		opts.Algorithm = ld.AlgorithmURDNA2015
		in, err := toGeneric(doc)
		if err != nil {
			return "", err
		}
		var ds any
		if cached {
			ds, err = toRDF(in, opts)
		} else {
			ds, err = ld.NewJsonLdProcessor().ToRDF(in, opts)
		}
		if err != nil {
			return "", err
		}
		opts.Format = "application/n-quads"
		out, err := ld.NewNormalisationAlgorithm(ld.AlgorithmURDNA2015).Main(ds.(*ld.RDFDataset), opts)
		if err != nil {
			return "", err
		}
		return out.(string), nil
	}
	for i, d := range docs {
		for round := range 2 { // the second round hits the cache
			want, err1 := canon(d, false)
			got, err2 := canon(d, true)
			if err1 != nil || err2 != nil || got != want || got == "" {
				t.Fatalf("document %d, round %d: cached %q (%v), json-gold %q (%v)", i, round, got, err2, want, err1)
			}
		}
	}
	activeContexts.mu.Lock()
	kept := len(activeContexts.m)
	activeContexts.mu.Unlock()
	if kept < 2 { // the vectors' and the OB credential's context lists
		t.Fatalf("%d active contexts kept: the cached path was not taken", kept)
	}
	bad := map[string]any{"@context": []any{"https://www.w3.org/ns/credentials/v2"}, "type": "VerifiableCredential",
		"issuer": "did:example:1", "credentialSubject": map[string]any{"id": "did:example:2", "undefinedTerm": 1}}
	if _, err := canon(bad, true); err == nil {
		t.Fatal("an undefined term passed through the cached context")
	}
	if _, err := canon(bad, false); err == nil {
		t.Fatal("an undefined term passed json-gold")
	}
}

// BenchmarkToRDFOB3 converts the OB 3.0 credential to RDF through its
// shape's template ("shape-template"), through the kept active context
// ("cached") and through json-gold's ToRDF ("json-gold"), in the same run.
func BenchmarkToRDFOB3(b *testing.B) {
	raw, err := os.ReadFile("testdata/ob3/credential.json")
	if err != nil {
		b.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(raw, &m)
	delete(m, "proof")
	in, _ := toGeneric(m)
	opts := ld.NewJsonLdOptions("")
	opts.DocumentLoader = contexts.Default()
	opts.SafeMode = true
	opts.ProcessingMode = ld.JsonLd_1_1
	for _, bc := range []struct {
		name string
		f    func(any, *ld.JsonLdOptions) (any, error)
	}{
		{"shape-template", shapes.toRDF},
		{"cached", toRDF},
		{"json-gold", ld.NewJsonLdProcessor().ToRDF},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.f(in, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestCachedContextConcurrent: documents canonicalised at once through the
// same kept context all get the same answer (run with -race: the kept
// context is only read).
func TestCachedContextConcurrent(t *testing.T) {
	raw, err := os.ReadFile("testdata/ob3/credential.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/ob3/document-canon.txt")
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			for range 10 {
				var m map[string]any
				json.Unmarshal(raw, &m)
				delete(m, "proof")
				got, err := canonicalRDF(context.Background(), m, DefaultLimits)
				if err == nil && strings.TrimRight(string(got), "\n") != strings.TrimRight(string(want), "\n") {
					err = fmt.Errorf("canonical form differs:\n%s", got)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
