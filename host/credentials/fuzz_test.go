package credentials

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/ubeu/gateway/host/vc/dataintegrity"
)

// FuzzVerify: any bytes given to Verify and VerifyPresentation answer
// without a panic, and a "verified" answer is only ever given to a
// document equal (as JSON) to one this issuer signed, or to its exact JWT.
func FuzzVerify(f *testing.F) {
	fx := newFixture(f)
	var issued [][]byte
	for _, o := range []IssueOptions{{Cryptosuite: dataintegrity.EdDSAJCS2022}, {Format: FormatJWT}, {}} {
		out, err := fx.svc.Issue(ctx, fx.iss, degree("did:example:abc"), o)
		if err != nil {
			f.Fatal(err)
		}
		issued = append(issued, out.Secured)
		f.Add(out.Secured)
	}
	f.Add([]byte(`{"type":"EnvelopedVerifiableCredential","id":"data:application/vc+jwt,eyJ"}`))
	f.Add([]byte(`{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiablePresentation"],"verifiableCredential":[{}]}`))
	f.Add([]byte(`"eyJhbGciOiJFZERTQSJ9.e30.AA"`))
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := fx.svc.Verify(ctx, in, VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if v.Verified && !sameAsIssued(in, issued) {
			t.Fatalf("forged success: %q", in)
		}
		if _, err := fx.svc.VerifyPresentation(ctx, in, PresentationOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}

func sameAsIssued(in []byte, issued [][]byte) bool {
	in = bytes.TrimSpace(in)
	var got any
	if json.Unmarshal(in, &got) != nil {
		got = string(in)
	}
	for _, b := range issued {
		var want any
		if json.Unmarshal(b, &want) != nil {
			want = string(b)
		}
		if reflect.DeepEqual(got, want) {
			return true
		}
		if s, ok := got.(string); ok && s == string(b) {
			return true
		}
	}
	return false
}
