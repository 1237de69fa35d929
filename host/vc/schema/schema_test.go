package schema

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func emailFetcher(t testing.TB, schemaFile string) *fakeFetch {
	return newFakeFetch(map[string][]byte{emailSchemaURL: readTestdata(t, schemaFile)})
}

// Spec Examples 1/2 (Success, § 4.2.1) and 11 (Failure, § 4.2.2), 2020-12.
func TestSpecExamplesJsonSchema2020(t *testing.T) {
	f := emailFetcher(t, "spec-ex02-email-schema.json")
	v := New(Options{Fetch: f.Fetch})

	r := validateOne(t, v, readTestdata(t, "spec-ex01-credential-jsonschema.json"))
	wantOutcome(t, r, Success)
	if r.ID != emailSchemaURL || r.Type != TypeJsonSchema || len(r.Errors) != 0 {
		t.Fatalf("result %+v", r)
	}

	r = validateOne(t, v, readTestdata(t, "spec-ex11-credential-failure.json"))
	wantOutcome(t, r, Failure, `"/credentialSubject/emailAddress"`, "email")
}

// The W3C suite's draft-07 schema: format is asserted there too.
func TestDraft07(t *testing.T) {
	v := New(Options{Fetch: emailFetcher(t, "suite/draft-07-1-schema.json").Fetch})
	wantOutcome(t, validateOne(t, v, readTestdata(t, "spec-ex01-credential-jsonschema.json")), Success)
	wantOutcome(t, validateOne(t, v, readTestdata(t, "spec-ex11-credential-failure.json")), Failure, `"/credentialSubject/emailAddress"`)
	missing := editJSON(t, readTestdata(t, "spec-ex01-credential-jsonschema.json"), func(m map[string]any) {
		delete(subject(m), "emailAddress")
	})
	wantOutcome(t, validateOne(t, v, missing), Failure, `"/credentialSubject"`, "emailAddress")
}

// Spec Example 12/13: 2019-09 is supported here, so Example 13 is a
// Failure, not the Indeterminate the spec shows for an implementation
// without 2019-09.
func TestDraft2019(t *testing.T) {
	v := New(Options{Fetch: emailFetcher(t, "spec-ex12-email-schema-2019-09.json").Fetch})
	wantOutcome(t, validateOne(t, v, readTestdata(t, "spec-ex01-credential-jsonschema.json")), Success)
	wantOutcome(t, validateOne(t, v, readTestdata(t, "spec-ex11-credential-failure.json")), Failure, "email")
}

// § 4.2: a schema whose version is not supported is Indeterminate.
func TestUnsupportedDialectIndeterminate(t *testing.T) {
	v := New(Options{Fetch: emailFetcher(t, "suite/2020-12-7-schema.json").Fetch})
	wantOutcome(t, validateOne(t, v, readTestdata(t, "spec-ex01-credential-jsonschema.json")), Indeterminate, "draft/unknown/schema")

	for _, d := range []string{"http://json-schema.org/draft-04/schema#", "https://example.com/my-meta"} {
		schema := editJSON(t, readTestdata(t, "spec-ex02-email-schema.json"), func(m map[string]any) { m["$schema"] = d })
		f := newFakeFetch(map[string][]byte{emailSchemaURL: schema})
		v := New(Options{Fetch: f.Fetch})
		wantOutcome(t, validateOne(t, v, readTestdata(t, "spec-ex01-credential-jsonschema.json")), Indeterminate, "unsupported JSON Schema version")
		if f.total() != 1 {
			t.Fatalf("%s: fetched %v; a custom meta-schema must not be fetched", d, f.asked())
		}
	}
	// A nested resource with its own unsupported $schema is refused too.
	nested := editJSON(t, readTestdata(t, "spec-ex02-email-schema.json"), func(m map[string]any) {
		m["$defs"] = map[string]any{"x": map[string]any{"$id": "https://example.com/x", "$schema": "https://example.com/evil-meta"}}
	})
	f := newFakeFetch(map[string][]byte{emailSchemaURL: nested})
	wantOutcome(t, validateOne(t, New(Options{Fetch: f.Fetch}), readTestdata(t, "spec-ex01-credential-jsonschema.json")), Indeterminate, "evil-meta")
	if f.total() != 1 {
		t.Fatalf("fetched %v", f.asked())
	}
}

// § 3.1.1 / § 3.1.2 / § 4: $id and $schema MUST be present.
func TestSchemaDocumentMUSTs(t *testing.T) {
	cred := readTestdata(t, "spec-ex01-credential-jsonschema.json")
	noSchema := editJSON(t, readTestdata(t, "spec-ex02-email-schema.json"), func(m map[string]any) { delete(m, "$schema") })
	badID := editJSON(t, readTestdata(t, "spec-ex02-email-schema.json"), func(m map[string]any) { m["$id"] = "has space" })
	cases := []struct {
		name   string
		schema []byte
		want   Outcome
		msg    string
	}{
		{"suite 3: no $id", readTestdata(t, "suite/2020-12-3-schema.json"), Failure, "no $id"},
		{"no $schema", noSchema, Failure, "no $schema"},
		{"$id not a URI-reference", badID, Failure, "not a valid URI-reference"},
		{"not JSON", []byte("{nope"), Failure, "not JSON"},
		{"not an object", []byte(`true`), Failure, "not a JSON object"},
		{"not a JSON Schema", []byte(`{"$id":"https://example.com/schemas/email.json","$schema":"https://json-schema.org/draft/2020-12/schema","type":"objekt"}`), Failure, "not a valid JSON Schema"},
		// A relative $id is a URI-reference (RFC 3986 § 4.1); the suite's
		// expectation (failure) is stricter than § 3.1.1.
		{"suite 4: relative $id", readTestdata(t, "suite/2020-12-4-schema.json"), Success, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := New(Options{Fetch: newFakeFetch(map[string][]byte{emailSchemaURL: c.schema}).Fetch})
			r := validateOne(t, v, cred)
			if c.msg == "" {
				wantOutcome(t, r, c.want)
			} else {
				wantOutcome(t, r, c.want, c.msg)
			}
		})
	}
}

// The suite's "URL does not identify associated schema": only a
// RECOMMENDATION in § 3.1.1, enforced with RequireIDMatch.
func TestRequireIDMatch(t *testing.T) {
	cred := readTestdata(t, "spec-ex01-credential-jsonschema.json")
	f := emailFetcher(t, "suite/2020-12-2-schema.json")
	wantOutcome(t, validateOne(t, New(Options{Fetch: f.Fetch}), cred), Success)
	wantOutcome(t, validateOne(t, New(Options{Fetch: f.Fetch, RequireIDMatch: true}), cred), Failure, "does not identify")
	// The matching schema passes under RequireIDMatch.
	f2 := emailFetcher(t, "spec-ex02-email-schema.json")
	wantOutcome(t, validateOne(t, New(Options{Fetch: f2.Fetch, RequireIDMatch: true}), cred), Success)
}

func TestSuiteFailureSchema(t *testing.T) {
	v := New(Options{Fetch: emailFetcher(t, "suite/2020-12-6-schema.json").Fetch})
	wantOutcome(t, validateOne(t, v, readTestdata(t, "spec-ex01-credential-jsonschema.json")), Failure, `"/credentialSubject"`, "firstName")
}

// Spec Example 14 has a relative $id; it resolves against the retrieval URL.
func TestRelativeIDExample14(t *testing.T) {
	const u = "https://example.com/schemas/validuntil-evidence.json"
	f := newFakeFetch(map[string][]byte{u: readTestdata(t, "spec-ex14-validuntil-evidence-schema.json")})
	v := New(Options{Fetch: f.Fetch})
	cred := editJSON(t, readTestdata(t, "spec-ex01-credential-jsonschema.json"), func(m map[string]any) {
		m["credentialSchema"] = map[string]any{"id": u, "type": "JsonSchema"}
	})
	wantOutcome(t, validateOne(t, v, cred), Failure, "validUntil", "evidence")
}

func TestUnknownAndMalformedEntries(t *testing.T) {
	f := emailFetcher(t, "spec-ex02-email-schema.json")
	v := New(Options{Fetch: f.Fetch, VerifyCredential: func(context.Context, []byte) error { return nil }})

	wantOutcome(t, validateOne(t, v, readTestdata(t, "suite/draft-07-2-credential.json")), Indeterminate, `unsupported credentialSchema type "NotJsonSchema"`)
	wantOutcome(t, validateOne(t, v, readTestdata(t, "suite/jsc-2020-12-2-credential.json")), Indeterminate, "NotJsonSchemaCredential")
	// Spec Example 17: its id is not a URL.
	wantOutcome(t, validateOne(t, v, readTestdata(t, "spec-ex17-credential-multiple.json")), Failure, "not an absolute URL")
	if f.total() != 0 {
		t.Fatalf("entries that cannot be evaluated were dereferenced: %v", f.asked())
	}

	base := readTestdata(t, "spec-ex01-credential-jsonschema.json")
	withSchemas := func(cs any) []byte {
		return editJSON(t, base, func(m map[string]any) { m["credentialSchema"] = cs })
	}
	rs, err := v.Validate(context.Background(), withSchemas([]any{
		map[string]any{"type": "JsonSchema"},
		map[string]any{"id": emailSchemaURL},
		map[string]any{"id": emailSchemaURL, "type": "JsonSchema"},
		"just a string",
		map[string]any{"id": 7, "type": []any{"JsonSchema", 3}},
		map[string]any{"id": "https:///nohost", "type": ""},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 6 {
		t.Fatalf("%d results", len(rs))
	}
	wantOutcome(t, rs[0], Failure, "id is missing")
	wantOutcome(t, rs[1], Failure, "type is missing")
	wantOutcome(t, rs[2], Success)
	wantOutcome(t, rs[3], Failure, "not an object")
	wantOutcome(t, rs[4], Failure, "id is a number", "type contains a number")
	wantOutcome(t, rs[5], Failure, "no host", "type is empty")

	for _, cs := range []any{[]any{}, nil} {
		rs, err := v.Validate(context.Background(), withSchemas(cs))
		if err != nil || len(rs) != 1 {
			t.Fatalf("%v: %v %+v", cs, err, rs)
		}
		wantOutcome(t, rs[0], Failure, "credentialSchema")
	}
}

func TestValidateCredentialErrors(t *testing.T) {
	v := New(Options{MaxEntries: 2})
	for _, in := range []string{"", "{", "[]", `"x"`, `{} {}`} {
		if _, err := v.Validate(context.Background(), []byte(in)); err == nil {
			t.Errorf("Validate(%q): no error", in)
		}
	}
	rs, err := v.Validate(context.Background(), []byte(`{"type":["VerifiableCredential"]}`))
	if err != nil || rs != nil {
		t.Fatalf("no credentialSchema: %v %v", rs, err)
	}
	e := `{"id":"https://example.com/s","type":"JsonSchema"}`
	if _, err := v.Validate(context.Background(), []byte(`{"credentialSchema":[`+e+`,`+e+`,`+e+`]}`)); err == nil || !strings.Contains(err.Error(), "limit of 2") {
		t.Fatalf("too many entries: %v", err)
	}
}

func verifierRecording(err error) (func(context.Context, []byte) error, *[][]byte, *sync.Mutex) {
	var mu sync.Mutex
	var got [][]byte
	return func(_ context.Context, raw []byte) error {
		mu.Lock()
		got = append(got, raw)
		mu.Unlock()
		return err
	}, &got, &mu
}

// Spec Examples 3/4: JsonSchemaCredential.
func TestJsonSchemaCredential(t *testing.T) {
	cred := readTestdata(t, "spec-ex03-credential-jsonschemacredential.json")
	schemaCred := readTestdata(t, "spec-ex04-email-credential-schema.json")

	t.Run("no verifier: refused without fetching", func(t *testing.T) {
		f := newFakeFetch(map[string][]byte{schemaCredURL: schemaCred})
		wantOutcome(t, validateOne(t, New(Options{Fetch: f.Fetch}), cred), Indeterminate, "no credential verifier")
		if f.total() != 0 {
			t.Fatalf("fetched %v", f.asked())
		}
	})
	t.Run("proof verifies", func(t *testing.T) {
		f := newFakeFetch(map[string][]byte{schemaCredURL: schemaCred})
		verify, got, mu := verifierRecording(nil)
		v := New(Options{Fetch: f.Fetch, VerifyCredential: verify})
		wantOutcome(t, validateOne(t, v, cred), Success)
		bad := editJSON(t, cred, func(m map[string]any) { subject(m)["emailAddress"] = "not an email" })
		wantOutcome(t, validateOne(t, v, bad), Failure, `"/credentialSubject/emailAddress"`)
		mu.Lock()
		defer mu.Unlock()
		if len(*got) != 1 || string((*got)[0]) != string(schemaCred) {
			t.Fatalf("verifier saw %d documents; want the fetched bytes once (then cached)", len(*got))
		}
	})
	t.Run("proof fails", func(t *testing.T) {
		f := newFakeFetch(map[string][]byte{schemaCredURL: schemaCred})
		verify, _, _ := verifierRecording(errors.New("signature mismatch"))
		v := New(Options{Fetch: f.Fetch, VerifyCredential: verify})
		wantOutcome(t, validateOne(t, v, cred), Failure, "proof does not verify", "signature mismatch")
		// Not cached: the next validation tries again.
		validateOne(t, v, cred)
		if f.count(schemaCredURL) != 2 {
			t.Fatalf("fetched %d times", f.count(schemaCredURL))
		}
	})
	t.Run("enveloped as a compact JWS", func(t *testing.T) {
		jws := "eyJhbGciOiJFUzM4NCJ9." + base64.RawURLEncoding.EncodeToString(schemaCred) + ".c2ln"
		f := newFakeFetch(map[string][]byte{schemaCredURL: []byte(jws)})
		verify, got, _ := verifierRecording(nil)
		wantOutcome(t, validateOne(t, New(Options{Fetch: f.Fetch, VerifyCredential: verify}), cred), Success)
		if string((*got)[0]) != jws {
			t.Fatal("verifier did not get the JWS as fetched")
		}
	})

	ok := func(context.Context, []byte) error { return nil }
	edited := func(fn func(m map[string]any)) []byte { return editJSON(t, schemaCred, fn) }
	cases := []struct {
		name string
		doc  []byte
		want Outcome
		msg  string
	}{
		{"suite 1: older meta-schema id", readTestdata(t, "suite/jsc-2020-12-1-schema.json"), Success, ""},
		{"suite 4: credentialSubject.type wrong", readTestdata(t, "suite/jsc-2020-12-4-schema.json"), Failure, "credentialSubject.type MUST be JsonSchema"},
		{"suite 6: credentialSchema id wrong", readTestdata(t, "suite/jsc-2020-12-6-schema.json"), Failure, "credentialSchema MUST be"},
		{"no jsonSchema", edited(func(m map[string]any) { delete(subject(m), "jsonSchema") }), Failure, "jsonSchema is null"},
		{"no type JsonSchemaCredential", edited(func(m map[string]any) { m["type"] = []any{"VerifiableCredential"} }), Failure, "does not include JsonSchemaCredential"},
		{"jsonSchema without $schema", edited(func(m map[string]any) { delete(subject(m)["jsonSchema"].(map[string]any), "$schema") }), Failure, "no $schema"},
		{"jsonSchema in draft-04", edited(func(m map[string]any) {
			subject(m)["jsonSchema"].(map[string]any)["$schema"] = "http://json-schema.org/draft-04/schema#"
		}), Indeterminate, "unsupported JSON Schema version"},
		{"expired", edited(func(m map[string]any) { m["validUntil"] = "2020-01-01T00:00:00Z" }), Failure, "expired"},
		{"not yet valid", edited(func(m map[string]any) { m["validFrom"] = "2999-01-01T00:00:00Z" }), Failure, "not valid before"},
		{"bad validUntil", edited(func(m map[string]any) { m["validUntil"] = "tomorrow" }), Failure, "RFC 3339"},
		{"not a credential", []byte("plain text"), Failure, "neither JSON nor a compact JWS"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeFetch(map[string][]byte{schemaCredURL: c.doc})
			r := validateOne(t, New(Options{Fetch: f.Fetch, VerifyCredential: ok}), cred)
			if c.msg == "" {
				wantOutcome(t, r, c.want)
			} else {
				wantOutcome(t, r, c.want, c.msg)
			}
		})
	}
}

// A schema credential's validUntil shortens its cache lifetime.
func TestSchemaCredentialValidUntilBoundsCache(t *testing.T) {
	clk := newFakeClock()
	doc := editJSON(t, readTestdata(t, "spec-ex04-email-credential-schema.json"), func(m map[string]any) {
		m["validUntil"] = clk.Now().Add(time.Minute).Format(time.RFC3339)
	})
	f := newFakeFetch(map[string][]byte{schemaCredURL: doc})
	v := New(Options{Fetch: f.Fetch, Now: clk.Now, VerifyCredential: func(context.Context, []byte) error { return nil }})
	cred := readTestdata(t, "spec-ex03-credential-jsonschemacredential.json")
	wantOutcome(t, validateOne(t, v, cred), Success)
	clk.Advance(30 * time.Second)
	wantOutcome(t, validateOne(t, v, cred), Success)
	if f.total() != 1 {
		t.Fatalf("fetched %d times within validity", f.total())
	}
	clk.Advance(31 * time.Second)
	wantOutcome(t, validateOne(t, v, cred), Failure, "expired")
	if f.total() != 2 {
		t.Fatalf("fetched %d times; the expired entry should have been dropped", f.total())
	}
}

func TestFetchProblems(t *testing.T) {
	cred := readTestdata(t, "spec-ex01-credential-jsonschema.json")

	f := emailFetcher(t, "spec-ex02-email-schema.json")
	f.errs[emailSchemaURL] = errors.New("connection refused by SSRF guard")
	wantOutcome(t, validateOne(t, New(Options{Fetch: f.Fetch}), cred), Indeterminate, "connection refused by SSRF guard")

	big := emailFetcher(t, "spec-ex02-email-schema.json")
	big.docs[emailSchemaURL] = []byte(`{"$comment":"` + strings.Repeat("x", 300) + `"}`)
	wantOutcome(t, validateOne(t, New(Options{Fetch: big.Fetch, MaxSchemaBytes: 100}), cred), Indeterminate, "exceeds the 100-byte limit")
	// The default limit is 256 KiB.
	big.docs[emailSchemaURL] = []byte(`{"$comment":"` + strings.Repeat("x", DefaultMaxSchemaBytes) + `"}`)
	wantOutcome(t, validateOne(t, New(Options{Fetch: big.Fetch}), cred), Indeterminate, "exceeds the 262144-byte limit")

	wantOutcome(t, validateOne(t, New(Options{}), cred), Indeterminate, "no fetcher")

	urn := editJSON(t, cred, func(m map[string]any) {
		m["credentialSchema"] = map[string]any{"id": "urn:example:email", "type": "JsonSchema"}
	})
	f2 := emailFetcher(t, "spec-ex02-email-schema.json")
	wantOutcome(t, validateOne(t, New(Options{Fetch: f2.Fetch}), urn), Indeterminate, "only http and https")
	if f2.total() != 0 {
		t.Fatal("a urn: id was passed to Fetch")
	}
}

func TestCacheHitAndTTL(t *testing.T) {
	clk := newFakeClock()
	f := emailFetcher(t, "spec-ex02-email-schema.json")
	v := New(Options{Fetch: f.Fetch, Now: clk.Now})
	good := readTestdata(t, "spec-ex01-credential-jsonschema.json")
	bad := readTestdata(t, "spec-ex11-credential-failure.json")

	for i := 0; i < 5; i++ {
		wantOutcome(t, validateOne(t, v, good), Success)
		wantOutcome(t, validateOne(t, v, bad), Failure)
	}
	if n := f.count(emailSchemaURL); n != 1 {
		t.Fatalf("fetched %d times, want 1", n)
	}
	clk.Advance(DefaultCacheTTL - time.Second)
	validateOne(t, v, good)
	if n := f.count(emailSchemaURL); n != 1 {
		t.Fatalf("fetched %d times before the TTL, want 1", n)
	}
	clk.Advance(time.Second)
	wantOutcome(t, validateOne(t, v, good), Success)
	if n := f.count(emailSchemaURL); n != 2 {
		t.Fatalf("fetched %d times after the TTL, want 2", n)
	}
	// Same bytes again: the content-hash cache spares the compilation.
	if n := v.compiles.Load(); n != 1 {
		t.Fatalf("%d compilations, want 1", n)
	}
	// Changed bytes are compiled afresh.
	clk.Advance(DefaultCacheTTL)
	f.mu.Lock()
	f.docs[emailSchemaURL] = readTestdata(t, "suite/2020-12-6-schema.json")
	f.mu.Unlock()
	wantOutcome(t, validateOne(t, v, good), Failure, "firstName")
	if n := v.compiles.Load(); n != 2 {
		t.Fatalf("%d compilations, want 2", n)
	}
}

func TestCacheBounded(t *testing.T) {
	docs := map[string][]byte{}
	schema := readTestdata(t, "spec-ex02-email-schema.json")
	for i := 0; i < 10; i++ {
		docs[fmt.Sprintf("https://example.com/s/%d", i)] = schema
	}
	f := newFakeFetch(docs)
	v := New(Options{Fetch: f.Fetch, MaxCached: 3})
	for i := 0; i < 10; i++ {
		cred := editJSON(t, readTestdata(t, "spec-ex01-credential-jsonschema.json"), func(m map[string]any) {
			m["credentialSchema"] = map[string]any{"id": fmt.Sprintf("https://example.com/s/%d", i), "type": "JsonSchema"}
		})
		wantOutcome(t, validateOne(t, v, cred), Success)
	}
	if v.byID.len() != 3 || v.byHash.len() != 3 {
		t.Fatalf("cache sizes %d/%d, want 3/3", v.byID.len(), v.byHash.len())
	}
}

func TestConcurrentMissesCoalesced(t *testing.T) {
	f := emailFetcher(t, "spec-ex02-email-schema.json")
	f.gate = make(chan struct{})
	v := New(Options{Fetch: f.Fetch})
	good := readTestdata(t, "spec-ex01-credential-jsonschema.json")
	bad := readTestdata(t, "spec-ex11-credential-failure.json")

	const n = 64
	var wg sync.WaitGroup
	var success, failure atomic.Int32
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cred := good
			if i%2 == 1 {
				cred = bad
			}
			rs, err := v.Validate(context.Background(), cred)
			if err != nil || len(rs) != 1 {
				t.Errorf("Validate: %v %v", rs, err)
				return
			}
			switch rs[0].Outcome {
			case Success:
				success.Add(1)
			case Failure:
				failure.Add(1)
			}
		}(i)
	}
	// Let the fetch start, then release it.
	for f.total() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	close(f.gate)
	wg.Wait()
	if got := f.count(emailSchemaURL); got != 1 {
		t.Fatalf("fetched %d times, want 1", got)
	}
	if success.Load() != n/2 || failure.Load() != n/2 {
		t.Fatalf("success %d failure %d", success.Load(), failure.Load())
	}
}

// A waiting caller whose context ends stops waiting; the shared resolution
// goes on for the others and fills the cache.
func TestWaiterCancellation(t *testing.T) {
	f := emailFetcher(t, "spec-ex02-email-schema.json")
	f.gate = make(chan struct{})
	v := New(Options{Fetch: f.Fetch})
	good := readTestdata(t, "spec-ex01-credential-jsonschema.json")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []Result)
	go func() {
		rs, err := v.Validate(ctx, good)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Validate error %v, want context.Canceled", err)
		}
		done <- rs
	}()
	for f.total() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	rs := <-done
	wantOutcome(t, rs[0], Indeterminate, "context canceled")
	close(f.gate)
	// The detached resolution completes; the next caller hits the cache.
	deadline := time.Now().Add(5 * time.Second)
	for v.byID.len() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	wantOutcome(t, validateOne(t, v, good), Success)
	if f.total() != 1 {
		t.Fatalf("fetched %d times", f.total())
	}
}

// A $ref to a remote URL goes only through Fetch: never the library's own
// loader, never a connection of its own.
func TestRefOnlyThroughFetch(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, `{"type":"object"}`)
	}))
	defer srv.Close()

	cred := readTestdata(t, "spec-ex01-credential-jsonschema.json")
	for _, ref := range []string{
		"http://169.254.169.254/latest/meta-data/iam/security-credentials/",
		srv.URL + "/schema.json",
	} {
		t.Run(ref, func(t *testing.T) {
			malicious := []byte(`{"$id":"https://example.com/schemas/email.json","$schema":"https://json-schema.org/draft/2020-12/schema","$ref":"` + ref + `"}`)
			f := newFakeFetch(map[string][]byte{emailSchemaURL: malicious})
			guard := func(ctx context.Context, u string) ([]byte, error) {
				if !strings.HasPrefix(u, exampleHostPref) {
					f.Fetch(ctx, u) // record
					return nil, errors.New("blocked by SSRF guard")
				}
				return f.Fetch(ctx, u)
			}
			v := New(Options{Fetch: guard})
			wantOutcome(t, validateOne(t, v, cred), Indeterminate, "blocked by SSRF guard")
			asked := f.asked()
			if len(asked) != 2 || asked[0] != emailSchemaURL || asked[1] != ref {
				t.Fatalf("Fetch asked for %q", asked)
			}
		})
	}
	if hits.Load() != 0 {
		t.Fatalf("the test server was contacted %d times", hits.Load())
	}

	// Non-http references never reach Fetch.
	for _, ref := range []string{"file:///etc/passwd", "urn:x:y", "ftp://example.com/x.json"} {
		malicious := []byte(`{"$id":"https://example.com/schemas/email.json","$schema":"https://json-schema.org/draft/2020-12/schema","$ref":"` + ref + `"}`)
		f := newFakeFetch(map[string][]byte{emailSchemaURL: malicious})
		wantOutcome(t, validateOne(t, New(Options{Fetch: f.Fetch}), cred), Indeterminate, "only http and https references")
		if f.total() != 1 {
			t.Fatalf("%s: Fetch asked for %q", ref, f.asked())
		}
	}
}

func TestRemoteRefs(t *testing.T) {
	cred := readTestdata(t, "spec-ex01-credential-jsonschema.json")
	top := []byte(`{"$id":"https://example.com/schemas/email.json","$schema":"https://json-schema.org/draft/2020-12/schema",
	  "properties":{"credentialSubject":{"$ref":"subject.json"}}}`)
	subj := []byte(`{"$schema":"https://json-schema.org/draft-07/schema#","type":"object","required":["emailAddress"],
	  "properties":{"emailAddress":{"$ref":"https://example.com/defs.json#/$defs/email"}}}`)
	defs := []byte(`{"$defs":{"email":{"type":"string","format":"email"}}}`)
	f := newFakeFetch(map[string][]byte{
		emailSchemaURL: top,
		"https://example.com/schemas/subject.json": subj,
		"https://example.com/defs.json":            defs,
	})
	clk := newFakeClock()
	v := New(Options{Fetch: f.Fetch, Now: clk.Now})
	wantOutcome(t, validateOne(t, v, cred), Success)
	wantOutcome(t, validateOne(t, v, readTestdata(t, "spec-ex11-credential-failure.json")), Failure, `"/credentialSubject/emailAddress"`)
	if f.total() != 3 {
		t.Fatalf("fetched %q", f.asked())
	}
	// Referenced documents may change, so a compilation that used them is
	// not reused by content hash after the TTL.
	clk.Advance(DefaultCacheTTL)
	validateOne(t, v, cred)
	if f.total() != 6 || v.compiles.Load() != 2 {
		t.Fatalf("after TTL: %d fetches, %d compilations", f.total(), v.compiles.Load())
	}

	// A chain longer than MaxRemoteRefs is cut off.
	chain := map[string][]byte{emailSchemaURL: []byte(`{"$id":"https://example.com/schemas/email.json","$schema":"https://json-schema.org/draft/2020-12/schema","$ref":"https://example.com/c/0"}`)}
	for i := 0; i < 10; i++ {
		chain[fmt.Sprintf("https://example.com/c/%d", i)] = []byte(fmt.Sprintf(`{"$ref":"https://example.com/c/%d"}`, i+1))
	}
	fc := newFakeFetch(chain)
	wantOutcome(t, validateOne(t, New(Options{Fetch: fc.Fetch, MaxRemoteRefs: 3}), cred), Indeterminate, "more than 3 remote documents")
	if fc.total() != 4 {
		t.Fatalf("fetched %q", fc.asked())
	}

	// A referenced document in an unsupported dialect is refused.
	fu := newFakeFetch(map[string][]byte{
		emailSchemaURL:             []byte(`{"$id":"https://example.com/schemas/email.json","$schema":"https://json-schema.org/draft/2020-12/schema","$ref":"https://example.com/x"}`),
		"https://example.com/x":    []byte(`{"$schema":"https://example.com/meta"}`),
		"https://example.com/meta": []byte(`{}`),
	})
	wantOutcome(t, validateOne(t, New(Options{Fetch: fu.Fetch}), cred), Indeterminate, "unsupported JSON Schema version")
	if fu.count("https://example.com/meta") != 0 {
		t.Fatal("a custom meta-schema was fetched")
	}
}

func TestRegister(t *testing.T) {
	cred := readTestdata(t, "spec-ex01-credential-jsonschema.json")
	v := New(Options{}) // no fetcher at all
	if err := v.Register(emailSchemaURL, readTestdata(t, "spec-ex02-email-schema.json")); err != nil {
		t.Fatal(err)
	}
	wantOutcome(t, validateOne(t, v, cred), Success)
	wantOutcome(t, validateOne(t, v, readTestdata(t, "spec-ex11-credential-failure.json")), Failure)

	// A fragment id resolves within the registered document.
	frag := editJSON(t, cred, func(m map[string]any) {
		m["credentialSchema"] = map[string]any{"id": emailSchemaURL + "#/properties/credentialSubject", "type": "JsonSchema"}
	})
	wantOutcome(t, validateOne(t, v, frag), Failure, "emailAddress") // the credential itself has no emailAddress at its root

	for name, c := range map[string]struct{ id, doc, msg string }{
		"relative id":      {"email.json", `{}`, "absolute URL"},
		"fragment":         {"https://example.com/x#f", `{}`, "without fragment"},
		"not JSON":         {"https://example.com/x", `{`, "not JSON"},
		"draft-04":         {"https://example.com/x", `{"$schema":"http://json-schema.org/draft-04/schema#"}`, "unsupported"},
		"invalid":          {"https://example.com/x", `{"type":12}`, "register"},
		"unregistered ref": {"https://example.com/x", `{"$ref":"https://example.com/other.json"}`, "not a registered schema"},
	} {
		if err := v.Register(c.id, []byte(c.doc)); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: err %v, want %q", name, err, c.msg)
		}
	}
	if err := New(Options{MaxSchemaBytes: 10}).Register("https://example.com/x", []byte(`{"type":"object"}`)); err == nil {
		t.Error("oversized registration accepted")
	}

	// Without $schema a registered schema is 2020-12 (prefixItems is
	// 2020-12 only); it may $ref a schema registered before it; a fetched
	// schema's $ref to it is served without fetching.
	if err := v.Register("https://example.com/defs.json", []byte(`{"$defs":{"pair":{"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}]}}}`)); err != nil {
		t.Fatal(err)
	}
	if err := v.Register("https://example.com/pair.json", []byte(`{"properties":{"credentialSubject":{"properties":{"pair":{"$ref":"defs.json#/$defs/pair"}}}}}`)); err != nil {
		t.Fatal(err)
	}
	pair := func(p string) []byte {
		return []byte(`{"credentialSubject":{"pair":` + p + `},"credentialSchema":{"id":"https://example.com/pair.json","type":"JsonSchema"}}`)
	}
	wantOutcome(t, validateOne(t, v, pair(`["a",1]`)), Success)
	wantOutcome(t, validateOne(t, v, pair(`[1,"a"]`)), Failure, `"/credentialSubject/pair/0"`)

	f := newFakeFetch(map[string][]byte{"https://example.com/fetched.json": []byte(`{"$id":"https://example.com/fetched.json","$schema":"https://json-schema.org/draft/2020-12/schema","properties":{"credentialSubject":{"properties":{"pair":{"$ref":"https://example.com/defs.json#/$defs/pair"}}}}}`)})
	v2 := New(Options{Fetch: f.Fetch})
	if err := v2.Register("https://example.com/defs.json", []byte(`{"$defs":{"pair":{"type":"array","maxItems":2}}}`)); err != nil {
		t.Fatal(err)
	}
	fetched := []byte(`{"credentialSubject":{"pair":[1,2,3]},"credentialSchema":{"id":"https://example.com/fetched.json","type":"JsonSchema"}}`)
	wantOutcome(t, validateOne(t, v2, fetched), Failure, "maxItems")
	if got := f.asked(); len(got) != 1 {
		t.Fatalf("fetched %q; the registered reference must not be fetched", got)
	}
	// Re-registering replaces and empties the caches.
	if err := v2.Register("https://example.com/defs.json", []byte(`{"$defs":{"pair":{"type":"array"}}}`)); err != nil {
		t.Fatal(err)
	}
	wantOutcome(t, validateOne(t, v2, fetched), Success)
}

func sri(alg string, b []byte) string {
	switch alg {
	case "sha256":
		s := sha256.Sum256(b)
		return "sha256-" + base64.StdEncoding.EncodeToString(s[:])
	case "sha384":
		s := sha512.Sum384(b)
		return "sha384-" + base64.StdEncoding.EncodeToString(s[:])
	}
	s := sha512.Sum512(b)
	return "sha512-" + base64.StdEncoding.EncodeToString(s[:])
}

func encodeBase58(b []byte) string {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	digits := []byte{}
	for _, c := range b[zeros:] {
		carry := int(c)
		for i := range digits {
			carry += int(digits[i]) << 8
			digits[i] = byte(carry % 58)
			carry /= 58
		}
		for carry > 0 {
			digits = append(digits, byte(carry%58))
			carry /= 58
		}
	}
	out := strings.Repeat("1", zeros)
	for i := len(digits) - 1; i >= 0; i-- {
		out += string(base58Alphabet[digits[i]])
	}
	return out
}

// vc-json-schema § 4.1: digestSRI (and digestMultibase) on the entry.
func TestIntegrity(t *testing.T) {
	schema := readTestdata(t, "spec-ex02-email-schema.json")
	f := newFakeFetch(map[string][]byte{emailSchemaURL: schema})
	v := New(Options{Fetch: f.Fetch})
	other := readTestdata(t, "suite/2020-12-6-schema.json")
	s256 := sha256.Sum256(schema)
	mh := append([]byte{0x12, 32}, s256[:]...)

	cases := []struct {
		name string
		set  map[string]any
		want Outcome
		msg  string
	}{
		{"sri sha384", map[string]any{"digestSRI": sri("sha384", schema)}, Success, ""},
		{"sri strongest wins", map[string]any{"digestSRI": sri("sha256", other) + " " + sri("sha512", schema) + "?opt"}, Success, ""},
		{"sri mismatch", map[string]any{"digestSRI": sri("sha384", other)}, Failure, "digestSRI does not match"},
		{"sri weaker match ignored", map[string]any{"digestSRI": sri("sha256", schema) + " " + sri("sha512", other)}, Failure, "does not match"},
		{"multibase u", map[string]any{"digestMultibase": "u" + base64.RawURLEncoding.EncodeToString(mh)}, Success, ""},
		{"multibase z", map[string]any{"digestMultibase": "z" + encodeBase58(mh)}, Success, ""},
		{"multibase mismatch", map[string]any{"digestMultibase": "u" + base64.RawURLEncoding.EncodeToString(append([]byte{0x12, 32}, make([]byte, 32)...))}, Failure, "digestMultibase does not match"},
		{"both, one wrong", map[string]any{"digestSRI": sri("sha384", schema), "digestMultibase": "u" + base64.RawURLEncoding.EncodeToString(append([]byte{0x12, 32}, make([]byte, 32)...))}, Failure, "digestMultibase"},
		{"malformed sri", map[string]any{"digestSRI": "md5-abc"}, Failure, "digestSRI"},
		{"malformed multibase", map[string]any{"digestMultibase": "m" + "AAAA"}, Failure, "multibase prefix"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cred := editJSON(t, readTestdata(t, "spec-ex01-credential-jsonschema.json"), func(m map[string]any) {
				e := m["credentialSchema"].(map[string]any)
				for k, val := range c.set {
					e[k] = val
				}
			})
			// Twice: the second time the digests come from the cache.
			for i := 0; i < 2; i++ {
				r := validateOne(t, v, cred)
				if c.msg == "" {
					wantOutcome(t, r, c.want)
				} else {
					wantOutcome(t, r, c.want, c.msg)
				}
			}
		})
	}
	if f.total() != 1 {
		t.Fatalf("fetched %d times", f.total())
	}
}

func TestErrorsBounded(t *testing.T) {
	var req []string
	for i := 0; i < 50; i++ {
		req = append(req, fmt.Sprintf(`"p%d"`, i))
	}
	schema := []byte(`{"$id":"https://example.com/schemas/email.json","$schema":"https://json-schema.org/draft/2020-12/schema",
	  "properties":{"credentialSubject":{"properties":` + propsAll(50) + `}}}`)
	_ = req
	f := newFakeFetch(map[string][]byte{emailSchemaURL: schema})
	v := New(Options{Fetch: f.Fetch, MaxErrors: 5})
	cred := editJSON(t, readTestdata(t, "spec-ex01-credential-jsonschema.json"), func(m map[string]any) {
		s := subject(m)
		for i := 0; i < 50; i++ {
			s[fmt.Sprintf("p%d", i)] = strings.Repeat("y", 1000)
		}
	})
	r := validateOne(t, v, cred)
	wantOutcome(t, r, Failure, "... and 46 more")
	if len(r.Errors) != 5 {
		t.Fatalf("%d errors", len(r.Errors))
	}
	for _, e := range r.Errors {
		if len(e) > maxMessageBytes+len("…") {
			t.Fatalf("message of %d bytes", len(e))
		}
		if !strings.HasPrefix(e, `"/credentialSubject/p`) && !strings.HasPrefix(e, "...") {
			t.Fatalf("message %q lacks a JSON pointer", e)
		}
	}
}

func propsAll(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"p%d":{"type":"integer"}`, i)
	}
	b.WriteString("}")
	return b.String()
}

func TestCheckEntries(t *testing.T) {
	good := map[string]any{"id": "https://example.com/s.json", "type": "JsonSchema"}
	cases := []struct {
		name string
		cs   any
		msgs []string
	}{
		{"absent", nil, nil},
		{"object", good, nil},
		{"typed map", map[string]string{"id": "https://example.com/s.json", "type": "JsonSchema"}, nil},
		{"array", []any{good, map[string]any{"id": "did:example:123#schema", "type": []any{"JsonSchema"}}}, nil},
		{"typed array", []map[string]any{good}, nil},
		{"with digests", map[string]any{"id": "https://example.com/s.json", "type": "JsonSchema", "digestSRI": sri("sha256", nil), "digestMultibase": []any{"u" + base64.RawURLEncoding.EncodeToString(append([]byte{0x12, 32}, make([]byte, 32)...))}}, nil},
		{"empty array", []any{}, []string{"empty array"}},
		{"not an object", []any{"x"}, []string{"credentialSchema[0]: entry is a string"}},
		{"no id", map[string]any{"type": "JsonSchema"}, []string{"id is missing"}},
		{"no type", map[string]any{"id": "https://example.com/s.json"}, []string{"type is missing"}},
		{"relative id", map[string]any{"id": "schemas/s.json", "type": "JsonSchema"}, []string{"no scheme"}},
		{"id not string", map[string]any{"id": []any{"https://x"}, "type": "JsonSchema"}, []string{"id is an array"}},
		{"bad digest", map[string]any{"id": "https://example.com/s.json", "type": "JsonSchema", "digestSRI": "sha384-short"}, []string{"digestSRI"}},
		{"two bad entries", []any{map[string]any{}, map[string]any{"id": "https://example.com/s"}}, []string{"credentialSchema[0]: id is missing", "credentialSchema[0]: type is missing", "credentialSchema[1]: type is missing"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cred := map[string]any{"type": []any{"VerifiableCredential"}}
			if c.cs != nil {
				cred["credentialSchema"] = c.cs
			}
			err := CheckEntries(cred)
			if len(c.msgs) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidEntry) {
				t.Fatalf("error %v does not wrap ErrInvalidEntry", err)
			}
			for _, m := range c.msgs {
				if !strings.Contains(err.Error(), m) {
					t.Fatalf("error %q lacks %q", err, m)
				}
			}
		})
	}
}

func TestDialectSupported(t *testing.T) {
	for s, want := range map[string]bool{
		"https://json-schema.org/draft/2020-12/schema":   true,
		"https://json-schema.org/draft/2020-12/schema#":  true,
		"http://json-schema.org/draft/2019-09/schema":    true,
		"http://json-schema.org/draft-07/schema#":        true,
		"https://json-schema.org/draft-07/schema":        true,
		"http://json-schema.org/draft-06/schema#":        false,
		"http://json-schema.org/draft-04/schema#":        false,
		"https://json-schema.org/schema":                 false,
		"json-schema.org/draft/2020-12/schema":           false,
		"https://json-schema.org/draft/2020-12/schema#x": false,
	} {
		if got := dialectSupported(s); got != want {
			t.Errorf("dialectSupported(%q) = %v", s, got)
		}
	}
}

func TestBase58(t *testing.T) {
	for _, b := range [][]byte{{}, {0}, {0, 0, 1}, {0xff, 0xfe}, []byte("hello world")} {
		got, err := decodeBase58(encodeBase58(b))
		if err != nil || string(got) != string(b) {
			t.Fatalf("round trip %x: %x %v", b, got, err)
		}
	}
	if _, err := decodeBase58("0OIl"); err == nil {
		t.Fatal("invalid alphabet accepted")
	}
	// Bitcoin's well-known vector.
	if got, _ := decodeBase58("StV1DL6CwTryKyV"); string(got) != "hello world" {
		t.Fatalf("got %q", got)
	}
}

// Deep nesting would make evaluation quadratic; it is refused up front.
func TestMaxDepth(t *testing.T) {
	deep := func(n int) string { return strings.Repeat(`{"x":`, n) + "1" + strings.Repeat("}", n) }
	v := New(Options{MaxDepth: 10})
	if err := v.Register("https://example.com/r", []byte(`{"properties":{"x":{"$ref":"#"}}}`)); err != nil {
		t.Fatal(err)
	}
	entry := `"credentialSchema":{"id":"https://example.com/r","type":"JsonSchema"}`
	if _, err := v.Validate(context.Background(), []byte(`{`+entry+`,"x":`+deep(10)+`}`)); err == nil || !strings.Contains(err.Error(), "deeper than 10") {
		t.Fatalf("deep credential: %v", err)
	}
	wantOutcome(t, validateOne(t, v, []byte(`{`+entry+`,"x":`+deep(9)+`}`)), Success)
	if err := v.Register("https://example.com/d", []byte(deep(11))); err == nil {
		t.Fatal("deep registered schema accepted")
	}
	f := newFakeFetch(map[string][]byte{emailSchemaURL: []byte(`{"$id":"https://example.com/schemas/email.json","$schema":"https://json-schema.org/draft/2020-12/schema","$defs":` + deep(20) + `}`)})
	wantOutcome(t, validateOne(t, New(Options{Fetch: f.Fetch, MaxDepth: 10}), readTestdata(t, "spec-ex01-credential-jsonschema.json")), Failure, "deeper than 10")

	// The default bound keeps the worst case cheap.
	start := time.Now()
	d := New(Options{})
	if err := d.Register("https://example.com/r", []byte(`{"properties":{"x":{"$ref":"#"}}}`)); err != nil {
		t.Fatal(err)
	}
	wantOutcome(t, validateOne(t, d, []byte(`{`+entry+`,"x":`+deep(DefaultMaxDepth-1)+`}`)), Success)
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("depth %d took %v", DefaultMaxDepth, el)
	}
}

// The caches are bounded in estimated memory too: a schema too large for
// the budget is compiled for each use, and heavy entries push out others.
func TestCacheMemoryBudget(t *testing.T) {
	schema := readTestdata(t, "spec-ex02-email-schema.json")
	weight := int64(len(schema)) * memoryPerSourceByte
	cred := readTestdata(t, "spec-ex01-credential-jsonschema.json")

	f := emailFetcher(t, "spec-ex02-email-schema.json")
	v := New(Options{Fetch: f.Fetch, MaxCacheMemory: weight}) // half of it per cache: too small
	for i := 0; i < 3; i++ {
		wantOutcome(t, validateOne(t, v, cred), Success)
	}
	if f.total() != 3 || v.byID.len() != 0 {
		t.Fatalf("%d fetches, %d cached; an over-budget schema must not be kept", f.total(), v.byID.len())
	}

	docs := map[string][]byte{}
	for i := 0; i < 4; i++ {
		docs[fmt.Sprintf("https://example.com/s/%d", i)] = schema
	}
	f2 := newFakeFetch(docs)
	v2 := New(Options{Fetch: f2.Fetch, MaxCacheMemory: 2 * 2 * weight}) // two per cache
	for i := 0; i < 4; i++ {
		c := editJSON(t, cred, func(m map[string]any) {
			m["credentialSchema"] = map[string]any{"id": fmt.Sprintf("https://example.com/s/%d", i), "type": "JsonSchema"}
		})
		wantOutcome(t, validateOne(t, v2, c), Success)
	}
	if v2.byID.len() != 2 || v2.byHash.len() != 2 {
		t.Fatalf("cache sizes %d/%d, want 2/2", v2.byID.len(), v2.byHash.len())
	}
}
