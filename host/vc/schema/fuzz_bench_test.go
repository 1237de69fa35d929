package schema

import (
	"context"
	"testing"
)

// FuzzValidate feeds arbitrary credential bytes and arbitrary schema bytes
// (registered, and served by Fetch for every URL, so remote $refs and
// schema credentials are exercised): no panic, and results stay coherent.
func FuzzValidate(f *testing.F) {
	seeds := [][2]string{
		{"spec-ex01-credential-jsonschema.json", "spec-ex02-email-schema.json"},
		{"spec-ex11-credential-failure.json", "suite/draft-07-1-schema.json"},
		{"spec-ex11-credential-failure.json", "spec-ex12-email-schema-2019-09.json"},
		{"spec-ex03-credential-jsonschemacredential.json", "spec-ex04-email-credential-schema.json"},
		{"spec-ex17-credential-multiple.json", "spec-ex14-validuntil-evidence-schema.json"},
		{"suite/draft-07-2-credential.json", "suite/2020-12-7-schema.json"},
	}
	for _, s := range seeds {
		f.Add(readTestdata(f, s[0]), readTestdata(f, s[1]))
	}
	f.Add([]byte(`{"credentialSchema":{"id":"https://fuzz.example/registered","type":"JsonSchema"}}`),
		[]byte(`{"$ref":"https://fuzz.example/other#/a/b","items":{"$ref":"#"},"$defs":{"a":{"$id":"x","pattern":"(a+)+$"}}}`))
	f.Add([]byte(`{"credentialSchema":[{"id":"https://a.example/x","type":["JsonSchema"]},{"id":"https://b.example/#f","type":"JsonSchemaCredential","digestSRI":"sha256-x"}]}`),
		[]byte(`eyJ4IjoxfQ.eyJ0eXBlIjoiSnNvblNjaGVtYUNyZWRlbnRpYWwifQ.c2ln`))

	f.Fuzz(func(t *testing.T, credential, schemaDoc []byte) {
		if len(credential) > 1<<16 || len(schemaDoc) > 1<<16 {
			return
		}
		fetch := func(context.Context, string) ([]byte, error) { return schemaDoc, nil }
		v := New(Options{
			Fetch:            fetch,
			VerifyCredential: func(context.Context, []byte) error { return nil },
			MaxRemoteRefs:    2,
			MaxErrors:        4,
		})
		_ = v.Register("https://fuzz.example/registered", schemaDoc)
		rs, err := v.Validate(context.Background(), credential)
		if err != nil && rs != nil && len(rs) == 0 {
			t.Fatal("error with an empty, non-nil result list")
		}
		for _, r := range rs {
			if r.Valid != (r.Outcome == Success) {
				t.Fatalf("Valid %v with outcome %s", r.Valid, r.Outcome)
			}
			switch r.Outcome {
			case Success, Failure, Indeterminate:
			default:
				t.Fatalf("outcome %q", r.Outcome)
			}
			if len(r.Errors) > 4 {
				t.Fatalf("%d errors", len(r.Errors))
			}
			if r.Outcome != Success && len(r.Errors) == 0 {
				t.Fatalf("%s without a reason", r.Outcome)
			}
		}
	})
}

// BenchmarkValidateCached is the hot path: the schema is compiled and
// cached, each iteration decodes the credential and evaluates it.
func BenchmarkValidateCached(b *testing.B) {
	fetch := newFakeFetch(map[string][]byte{emailSchemaURL: readTestdata(b, "spec-ex02-email-schema.json")})
	v := New(Options{Fetch: fetch.Fetch})
	cred := readTestdata(b, "spec-ex01-credential-jsonschema.json")
	ctx := context.Background()
	if r := validateOne(b, v, cred); !r.Valid {
		b.Fatal(r.Errors)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rs, err := v.Validate(ctx, cred)
		if err != nil || !rs[0].Valid {
			b.Fatal(err, rs)
		}
	}
	if fetch.total() != 1 {
		b.Fatalf("fetched %d times", fetch.total())
	}
}

// BenchmarkValidateCachedParallel measures the cached path under
// contention (the LRU lock).
func BenchmarkValidateCachedParallel(b *testing.B) {
	fetch := newFakeFetch(map[string][]byte{emailSchemaURL: readTestdata(b, "spec-ex02-email-schema.json")})
	v := New(Options{Fetch: fetch.Fetch})
	cred := readTestdata(b, "spec-ex01-credential-jsonschema.json")
	ctx := context.Background()
	validateOne(b, v, cred)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if rs, err := v.Validate(ctx, cred); err != nil || !rs[0].Valid {
				b.Error(err, rs)
				return
			}
		}
	})
}
