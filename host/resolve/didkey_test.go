package resolve

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/ubeu/gateway/host/did"
	"github.com/ubeu/gateway/host/did/didkey"
)

// TestWithDIDKey runs the dispatcher over the real did:key resolver.
func TestWithDIDKey(t *testing.T) {
	r := New(Options{Methods: map[string]MethodResolver{"key": &didkey.Resolver{}}})
	defer r.Close()
	const id = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"
	ctx := context.Background()

	res, err := r.Resolve(ctx, id, ResolveOptions{Accept: "*/*"})
	if err != nil || res.HTTPStatus() != http.StatusOK || res.MediaType != MediaTypeResolution {
		t.Fatalf("resolve: %v %d %s", err, res.HTTPStatus(), res.MediaType)
	}
	var full struct {
		Context  string `json:"@context"`
		Document struct {
			Context any    `json:"@context"`
			ID      string `json:"id"`
		} `json:"didDocument"`
		Meta map[string]any `json:"didResolutionMetadata"`
	}
	if err := json.Unmarshal(res.Body, &full); err != nil || full.Context != ResolutionContext || full.Document.ID != id || full.Document.Context == nil {
		t.Fatalf("resolution result %s: %v", res.Body, err)
	}
	if full.Meta["contentType"] != MediaTypeDIDLDJSON {
		t.Fatalf("contentType %v", full.Meta["contentType"])
	}

	res, _ = r.Resolve(ctx, id, ResolveOptions{Accept: MediaTypeDIDJSON})
	var plain map[string]any
	if err := json.Unmarshal(res.Body, &plain); err != nil || plain["@context"] != nil || plain["id"] != id {
		t.Fatalf("did+json %s", res.Body)
	}

	// Errors of the method keep their codes.
	res, err = r.Resolve(ctx, "did:key:z6MkBAD", ResolveOptions{})
	if did.Code(err) != CodeInvalidDID || res.HTTPStatus() != http.StatusBadRequest {
		t.Fatalf("bad did:key: %v %d", err, res.HTTPStatus())
	}
	res, err = r.Resolve(ctx, id, ResolveOptions{VersionID: "1"})
	if did.Code(err) != CodeInvalidOptions || res.HTTPStatus() != http.StatusBadRequest {
		t.Fatalf("versioned did:key: %v %d", err, res.HTTPStatus())
	}
}
