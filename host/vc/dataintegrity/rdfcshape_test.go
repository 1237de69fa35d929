package dataintegrity

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// shapeSeeds are the documents the shape cache is tested on: the spec's
// vector and its proof options, the OB 3.0 credential, and a credential
// with arrays of strings and of nodes.
func shapeSeeds(t testing.TB) []map[string]any {
	var docs []map[string]any
	for _, f := range []string{"testdata/eddsa-rdfc-2022/signedDataInt.json", "testdata/eddsa-rdfc-2022/proofConfigDataInt.json", "testdata/ob3/credential.json"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "proof")
		docs = append(docs, m)
	}
	// Arrays of strings and of nodes: equal values make equal statements,
	// and equal ids one node.
	var multi map[string]any
	json.Unmarshal([]byte(`{"@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"],
		"id": "urn:uuid:1", "type": ["VerifiableCredential", "ExampleCredential"],
		"issuer": {"id": "did:example:issuer", "name": "Issuer"}, "validFrom": "2026-01-01T00:00:00Z",
		"credentialSubject": [{"id": "did:example:a", "name": "A", "alumniOf": ["x", "y", {"id": "did:example:u", "name": "U"}]},
			{"id": "did:example:b", "name": ["B", "C"]}, {"name": "anonymous"}]}`), &multi)
	return append(docs, multi)
}

func clone(v any) any {
	b, _ := json.Marshal(v)
	var out any
	json.Unmarshal(b, &out)
	return out
}

// replaceStrings returns a copy of doc with its string values, in the shape
// walk's order, replaced by next() where next returns ok.
func replaceStrings(doc map[string]any, next func(old string) (string, bool)) map[string]any {
	out := clone(doc).(map[string]any)
	var walk func(v any, verbatim bool) any
	walk = func(v any, verbatim bool) any {
		if verbatim {
			return v
		}
		switch x := v.(type) {
		case string:
			if strings.HasPrefix(x, "@") {
				return x
			}
			if s, ok := next(x); ok {
				return s
			}
			return x
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(x)) {
				e := x[k]
				if k == "@context" {
					continue
				}
				x[k] = walk(e, shapes.keeps(k))
			}
			return x
		case []any:
			for i, e := range x {
				x[i] = walk(e, false)
			}
			return x
		}
		return v
	}
	return walk(out, false).(map[string]any)
}

// tricky are values of every class the shape cache distinguishes, and
// values json-gold treats specially.
var tricky = []string{
	"", "plain", "Jane Doe", "café ☕", "https://example.com/a", "https://example.com/a", "https://bad url/x",
	"HTTPS://example.com/", "http://", "https://", "urn:uuid:2f7e5a1c-0000-4000-8000-000000000001",
	"did:example:123", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", "_:b9", "_:x",
	"xsd:string", "schema:foo", "//net/path", "../rel", "#frag", "a:b:c", "mailto:a@example.com",
	"ex:thing", "2026-01-01T00:00:00Z", "line\nbreak \"quoted\" \\ back", "Achievement", "assertionMethod",
	"https://purl.imsglobal.org/spec/vc/ob/vocab.html#Achievement", "https://example.com/a b",
	"https:/%0X00000000000", "did:example:%zz", "urn:x:\u0000",
}

// canonBoth canonicalises doc through the shape cache three times (seen
// once, template made, template used) and through json-gold's path, and
// fails unless all agree.
func canonBoth(t testing.TB, doc map[string]any) {
	t.Helper()
	ctx := context.Background()
	lim := DefaultLimits
	in, err := toGeneric(doc)
	if err != nil {
		t.Fatal(err)
	}
	want, werr := runRDFCWith(ctx, in, lim, toRDF)
	for round := range 3 {
		got, gerr := runRDFCWith(ctx, in, lim, shapes.toRDF)
		if (werr == nil) != (gerr == nil) || got != want {
			b, _ := json.Marshal(doc)
			t.Fatalf("round %d of %s:\nshape cache (%v):\n%s\njson-gold (%v):\n%s", round, b, gerr, got, werr, want)
		}
	}
}

// TestShapeCacheSameAsJSONGold: documents of the seeds' shapes, with their
// string values replaced by values of every class, canonicalise through
// the shape cache exactly as through json-gold, and the templates are used.
func TestShapeCacheSameAsJSONGold(t *testing.T) {
	before := shapes.hits.Load()
	rng := rand.New(rand.NewPCG(1, 2))
	for i, seed := range shapeSeeds(t) {
		canonBoth(t, seed)
		// Each position alone, with every tricky value.
		var n int
		replaceStrings(seed, func(string) (string, bool) { n++; return "", false })
		for pos := range n {
			for _, v := range tricky {
				k := 0
				doc := replaceStrings(seed, func(string) (string, bool) {
					k++
					return v, k-1 == pos
				})
				canonBoth(t, doc)
			}
		}
		// Every value the same.
		for _, v := range []string{"did:example:same", "same", "https://example.com/same"} {
			canonBoth(t, replaceStrings(seed, func(string) (string, bool) { return v, true }))
		}
		// Random mixes, with values repeated across positions.
		for range 200 {
			doc := replaceStrings(seed, func(old string) (string, bool) {
				switch rng.IntN(4) {
				case 0:
					return tricky[rng.IntN(len(tricky))], true
				case 1:
					return old + "x", true
				}
				return old, false
			})
			canonBoth(t, doc)
		}
		t.Logf("seed %d: %d string values", i, n)
	}
	if hits := shapes.hits.Load() - before; hits < 1000 {
		t.Fatalf("%d documents through a template: the shape cache was not used", hits)
	}
}

// FuzzShapeCache: any replacement of a seed's string values canonicalises
// through the shape cache as through json-gold.
func FuzzShapeCache(f *testing.F) {
	f.Add(uint8(0), "plain\x00https://example.com/x")
	f.Add(uint8(2), "did:example:1\x00\x00_:b0\x00urn:x")
	f.Add(uint8(3), "https://bad url\x00@vocab\x00a:b")
	seeds := shapeSeeds(f)
	f.Fuzz(func(t *testing.T, which uint8, repl string) {
		seed := seeds[int(which)%len(seeds)]
		parts := strings.Split(repl, "\x00")
		k := 0
		doc := replaceStrings(seed, func(string) (string, bool) {
			if k >= len(parts) {
				return "", false
			}
			k++
			return parts[k-1], true
		})
		canonBoth(t, doc)
		canonBoth(t, doc)
	})
}

// TestShapeCacheConcurrent: documents of one shape with different values,
// canonicalised at once (run with -race: a template is only read once
// made), each get json-gold's answer.
func TestShapeCacheConcurrent(t *testing.T) {
	seed := shapeSeeds(t)[2] // the OB 3.0 credential
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 20 {
				doc := replaceStrings(seed, func(old string) (string, bool) {
					return old + "-" + strconv.Itoa(g) + "-" + strconv.Itoa(i), true
				})
				in, _ := toGeneric(doc)
				want, err1 := runRDFCWith(context.Background(), in, DefaultLimits, toRDF)
				got, err2 := runRDFC(context.Background(), in, DefaultLimits)
				if err1 != nil || err2 != nil || got != want {
					errs <- fmt.Errorf("goroutine %d, document %d: %v %v\n%s\n%s", g, i, err1, err2, got, want)
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
