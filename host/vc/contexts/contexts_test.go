package contexts

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestEveryContextIsJSONAndListed(t *testing.T) {
	sources, err := os.ReadFile("SOURCES.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range URLs() {
		b, ok := Bytes(u)
		if !ok {
			t.Fatalf("%s: not embedded", u)
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if _, ok := v["@context"]; !ok {
			t.Errorf("%s: no @context", u)
		}
		if !strings.Contains(string(sources), u) || !strings.Contains(string(sources), byURL[u]) {
			t.Errorf("%s (%s) is not described in SOURCES.md", u, byURL[u])
		}
	}
}

func TestLoaderServesOnlyEmbedded(t *testing.T) {
	l := Default()
	d, err := l.LoadDocument(CredentialsV2)
	if err != nil {
		t.Fatal(err)
	}
	if d.DocumentURL != CredentialsV2 || d.Document == nil {
		t.Fatalf("bad document %+v", d)
	}
	for _, u := range []string{"https://www.w3.org/2018/credentials/v1", "https://example.com/ctx", "file:///etc/passwd", ""} {
		_, err := l.LoadDocument(u)
		if !errors.Is(err, ErrUnknownContext) {
			t.Errorf("%q: got %v, want ErrUnknownContext", u, err)
		}
	}
}

func TestBitstringStatusListTermsInCredentialsV2(t *testing.T) {
	b, _ := Bytes(CredentialsV2)
	for _, term := range []string{"BitstringStatusListCredential", "BitstringStatusListEntry", "statusListIndex", "cryptosuiteString"} {
		if !strings.Contains(string(b), term) {
			t.Errorf("credentials v2 lacks %s", term)
		}
	}
}
