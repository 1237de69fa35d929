package did

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
)

func TestMethod(t *testing.T) {
	for in, want := range map[string]string{"did:hedera:testnet:x_0.0.1": "hedera", "did:key:z6Mk": "key", "did:web:a.com": "web"} {
		got, err := Method(in)
		if err != nil || got != want {
			t.Errorf("Method(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "did:", "did:key", "did::x", "did:Key:x", "urn:x:y", "did:key:"} {
		if _, err := Method(in); !errors.Is(err, ErrInvalidDID) {
			t.Errorf("Method(%q) err = %v; want invalidDid", in, err)
		}
	}
}

func TestErrorCodes(t *testing.T) {
	cause := errors.New("boom")
	err := fmt.Errorf("resolve: %w", Errorf(CodeNotFound, "no such topic: %w", cause))
	if Code(err) != CodeNotFound || !errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalidDID) || !errors.Is(err, cause) {
		t.Fatalf("bad error chain: %v", err)
	}
	if Code(cause) != CodeInternalError || Code(nil) != "" {
		t.Fatal("Code of plain error / nil")
	}
}

func TestDocumentJSON(t *testing.T) {
	in := `{"@context":["https://www.w3.org/ns/did/v1"],"id":"did:web:a.com","controller":"did:web:b.com",
	"authentication":["did:web:a.com#k1",{"id":"did:web:a.com#k2","type":"Multikey","controller":"did:web:a.com","publicKeyMultibase":"z6Mk"}],
	"service":[{"id":"#s","type":"LinkedDomains","serviceEndpoint":{"origins":["https://a.com"]}}]}`
	var d Document
	if err := json.Unmarshal([]byte(in), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Authentication) != 2 || d.Authentication[0].ID() != "did:web:a.com#k1" || d.Authentication[1].Method == nil || d.Authentication[1].ID() != "did:web:a.com#k2" {
		t.Fatalf("authentication = %+v", d.Authentication)
	}
	if len(d.Controller) != 1 || d.Controller[0] != "did:web:b.com" {
		t.Fatalf("controller = %v", d.Controller)
	}
	out, _ := json.Marshal(d)
	var back Document
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	out2, _ := json.Marshal(back)
	if string(out) != string(out2) {
		t.Fatalf("round trip differs:\n%s\n%s", out, out2)
	}
}

func TestMultikey(t *testing.T) {
	key := make([]byte, 32)
	s := EncodeMultikey(CodecEd25519Pub, key)
	if s[:4] != "z6Mk" {
		t.Fatalf("ed25519 multikey prefix = %q", s[:4])
	}
	c, k, err := DecodeMultikey(s)
	if err != nil || c != CodecEd25519Pub || len(k) != 32 {
		t.Fatalf("decode: %x %d %v", c, len(k), err)
	}
	if _, _, err := DecodeMultikey("f00"); err == nil {
		t.Fatal("non-z multibase accepted")
	}
	if _, _, err := DecodeMultikey("z0OIl"); err == nil {
		t.Fatal("invalid base58 accepted")
	}
}
