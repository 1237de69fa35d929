package openbadges

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"testing"
)

// fuzzCredential is what the fuzz targets bake into whatever input they are given.
const fuzzCredential = `{"@context":["https://www.w3.org/ns/credentials/v2"],"name":"fuzz ]]> <x> & \u00e9"}`

// FuzzUnbakePNG feeds arbitrary bytes to the PNG parsers. Properties: no panic; whatever
// UnbakePNG returns is a credential (JSON object or compact JWS); and if BakePNG accepts the
// input, UnbakePNG reads back exactly the credential baked, the result holds one credential
// chunk, and baking again gives the same bytes.
func FuzzUnbakePNG(f *testing.F) {
	clean := DefaultPNG()
	baked, _ := BakePNG(clean, []byte(fuzzCredential))
	jws, _ := BakePNG(clean, []byte("header.payload.signature"))
	f.Add(clean)
	f.Add(baked)
	f.Add(jws)
	f.Add([]byte(pngSignature))
	f.Add(baked[:len(baked)/2])
	f.Add(insertBeforeIEND(clean, "iTXt", []byte("openbadgecredential\x00\x01\x00\x00\x00x\x9c")))
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, err := UnbakePNG(data); err == nil {
			if _, ferr := checkCredentialForm(got); ferr != nil {
				t.Fatalf("UnbakePNG returned a non-credential %q", got)
			}
		}
		out, err := BakePNG(data, []byte(fuzzCredential))
		if err != nil {
			if out != nil {
				t.Fatal("output with error")
			}
			return
		}
		got, err := UnbakePNG(out)
		if err != nil || string(got) != fuzzCredential {
			t.Fatalf("round trip: %q %v", got, err)
		}
		cs, err := readPNG(out)
		if err != nil || countCredentialChunks(cs) != 1 {
			t.Fatalf("baked output: %v, %d credential chunks", err, countCredentialChunks(cs))
		}
		again, err := BakePNG(out, []byte(fuzzCredential))
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("re-baking changed the image: %v", err)
		}
	})
}

// FuzzUnbakeSVG feeds arbitrary bytes to the SVG parsers. Properties: no panic; whatever
// UnbakeSVG returns is a credential; and if BakeSVG accepts the input, the output is a
// well-formed SVG from which UnbakeSVG reads back the same JSON value, with exactly one
// credential element, and baking again gives the same bytes.
func FuzzUnbakeSVG(f *testing.F) {
	for _, name := range []string{"testdata/spec-baked-embedded.svg", "testdata/spec-baked-jwt.svg"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(DefaultSVG("seed"))
	baked, _ := BakeSVG(DefaultSVG("seed"), []byte(fuzzCredential))
	f.Add(baked)
	f.Add([]byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`))
	f.Add([]byte(`<s:svg xmlns:s="http://www.w3.org/2000/svg" xmlns:ob="https://purl.imsglobal.org/ob/v3p0"><g><ob:credential verify="a.b.c"/></g></s:svg>`))
	f.Add([]byte(`<!DOCTYPE svg><svg><![CDATA[x]]><!-- c --><?pi x?></svg>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, err := UnbakeSVG(data); err == nil {
			if _, ferr := checkCredentialForm(got); ferr != nil {
				t.Fatalf("UnbakeSVG returned a non-credential %q", got)
			}
		}
		out, err := BakeSVG(data, []byte(fuzzCredential))
		if err != nil {
			if out != nil {
				t.Fatal("output with error")
			}
			return
		}
		doc, err := scanSVG(out)
		if err != nil || len(doc.creds) != 1 {
			t.Fatalf("baked output: %v, %d credential elements\n%q", err, len(doc.creds), out)
		}
		got, err := UnbakeSVG(out)
		if err != nil {
			t.Fatalf("unbake: %v\n%q", err, out)
		}
		var want, have any
		_ = json.Unmarshal([]byte(fuzzCredential), &want)
		if err := json.Unmarshal(got, &have); err != nil || !jsonEqual(want, have) {
			t.Fatalf("round trip: %q %v", got, err)
		}
		again, err := BakeSVG(out, []byte(fuzzCredential))
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("re-baking changed the image: %v\n%q\n%q", err, out, again)
		}
	})
}

func jsonEqual(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return errors.Join(err1, err2) == nil && bytes.Equal(x, y)
}
