package resolve

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestNegotiate(t *testing.T) {
	tests := []struct {
		accept, want string // want "" means 406
	}{
		{"", MediaTypeResolution},
		{"*/*", MediaTypeResolution},
		{"application/*", MediaTypeResolution},
		{"application/did-resolution", MediaTypeResolution},
		{`application/ld+json;profile="https://w3id.org/did-resolution"`, MediaTypeResolutionLD},
		{`application/ld+json; profile="https://w3id.org/did-resolution"; charset=utf-8`, MediaTypeResolutionLD},
		{`Application/LD+JSON;Profile=https://w3id.org/did-resolution`, MediaTypeResolutionLD},
		{"application/did+ld+json", MediaTypeDIDLDJSON},
		{"application/did+json", MediaTypeDIDJSON},
		{"application/did+json;charset=utf-8", MediaTypeDIDJSON},
		{"application/did", MediaTypeDID},
		{"application/did+json, application/did+ld+json", MediaTypeDIDLDJSON}, // equal q: server order
		{"application/did+json;q=0.9, application/did+ld+json;q=0.5", MediaTypeDIDJSON},
		{"application/did+json;q=0.5, */*;q=0.1", MediaTypeDIDJSON},
		{"application/did+json;q=0.5, */*", MediaTypeResolution},
		{"*/*, application/did-resolution;q=0", MediaTypeResolutionLD}, // explicitly refused result
		{"text/html, application/did+json;q=0.1", MediaTypeDIDJSON},
		{"application/did+json;q=0", ""},
		{"text/html", ""},
		{"application/json", ""},
		{"application/ld+json", ""},
		{`application/ld+json;profile="https://example.com"`, ""},
		{"garbage", ""},
		{"application/did+json;q=2", ""},
		{"application/did+json;q=0.1234", ""},
		{"*/json", ""},
		{" , ,application/did+json", MediaTypeDIDJSON},
	}
	for _, tt := range tests {
		got, err := Negotiate(tt.accept)
		if tt.want == "" {
			if !errors.Is(err, ErrRepresentationNotSupported) || got != "" {
				t.Errorf("Negotiate(%q) = %q, %v; want representationNotSupported", tt.accept, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Negotiate(%q) = %q, %v; want %q", tt.accept, got, err, tt.want)
		}
	}
}

func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"", "*/*", "application/did+json;q=0.5", `application/ld+json;profile="https://w3id.org/did-resolution";q=1`, `a/b;x="\";q=0", */*;q=0.001`} {
		f.Add(s)
	}
	served := map[string]bool{}
	for _, o := range offers {
		served[o.media] = true
	}
	f.Fuzz(func(t *testing.T, accept string) {
		got, err := Negotiate(accept)
		if err != nil {
			if got != "" || !errors.Is(err, ErrRepresentationNotSupported) {
				t.Fatalf("Negotiate(%q) = %q, %v", accept, got, err)
			}
			return
		}
		if !served[got] {
			t.Fatalf("Negotiate(%q) = %q, not a served type", accept, got)
		}
		// Whatever is negotiated encodes.
		res := &Result{Context: ResolutionContext, Document: json.RawMessage(`{"@context":"x","id":"did:a:b"}`)}
		if _, err := Encode(res, got); err != nil {
			t.Fatalf("Encode(%q): %v", got, err)
		}
	})
}

func TestEncodeRepresentations(t *testing.T) {
	doc := json.RawMessage(`{"@context":["https://www.w3.org/ns/did/v1"],"id":"did:key:z1","authentication":["did:key:z1#k"]}`)
	res := &Result{
		Context:            ResolutionContext,
		Document:           doc,
		ResolutionMetadata: ResolutionMetadata{Duration: 3},
		DocumentMetadata:   DocumentMetadata{Created: "2026-01-02T03:04:05Z", VersionID: "2"},
	}

	b, err := Encode(res, MediaTypeResolution)
	if err != nil {
		t.Fatal(err)
	}
	var full map[string]json.RawMessage
	if err := json.Unmarshal(b, &full); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"@context", "didDocument", "didResolutionMetadata", "didDocumentMetadata"} {
		if _, ok := full[k]; !ok {
			t.Fatalf("resolution result lacks %s: %s", k, b)
		}
	}
	if string(full["@context"]) != `"https://w3id.org/did-resolution/v1"` ||
		!strings.Contains(string(full["didResolutionMetadata"]), `"contentType":"application/did+ld+json"`) ||
		!strings.Contains(string(full["didResolutionMetadata"]), `"duration":3`) ||
		!strings.Contains(string(full["didDocumentMetadata"]), `"versionId":"2"`) {
		t.Fatalf("resolution result %s", b)
	}
	if b2, _ := Encode(res, MediaTypeResolutionLD); string(b2) != string(b) {
		t.Fatal("the two names of the resolution result encode differently")
	}

	b, _ = Encode(res, MediaTypeDIDLDJSON)
	if string(b) != string(mustCompact(doc)) {
		t.Fatalf("did+ld+json %s", b)
	}
	b, _ = Encode(res, MediaTypeDIDJSON)
	var plain map[string]any
	if err := json.Unmarshal(b, &plain); err != nil || plain["@context"] != nil || plain["id"] != "did:key:z1" {
		t.Fatalf("did+json %s", b)
	}
	// A document without @context gets the DID v1 context as did+ld+json.
	noCtx := &Result{Document: json.RawMessage(`{"id":"did:key:z1"}`)}
	b, _ = Encode(noCtx, MediaTypeDIDLDJSON)
	if !strings.Contains(string(b), `"@context":"https://www.w3.org/ns/did/v1"`) {
		t.Fatalf("did+ld+json without context %s", b)
	}
	// An error is always a resolution result.
	e := errorResult(CodeNotFound, "no")
	b, _ = Encode(e, MediaTypeDIDJSON)
	if !strings.Contains(string(b), `"error":{"type":"https://www.w3.org/ns/did#NOT_FOUND"`) || ContentType(e, MediaTypeDIDJSON) != MediaTypeResolution {
		t.Fatalf("error as did+json: %s", b)
	}
	if _, err := Encode(res, "text/html"); !errors.Is(err, ErrRepresentationNotSupported) {
		t.Fatalf("Encode(text/html): %v", err)
	}
}

func mustCompact(b []byte) []byte {
	out, err := compact(b)
	if err != nil {
		panic(err)
	}
	return out
}
