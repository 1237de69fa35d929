package openbadges

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// The specification's examples of well-baked SVGs (§5.3.2.1).
func TestUnbakeSVGSpecExamples(t *testing.T) {
	got, err := UnbakeSVG(readFile(t, "testdata/spec-baked-jwt.svg"))
	if err != nil || string(got) != "header.payload.signature" {
		t.Errorf("VC-JWT example: %q %v", got, err)
	}

	got, err = UnbakeSVG(readFile(t, "testdata/spec-baked-embedded.svg"))
	if err != nil {
		t.Fatalf("embedded-proof example: %v", err)
	}
	var v map[string]any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatalf("embedded-proof example: not JSON: %v\n%s", err, got)
	}
	want := map[string]any{
		"@context":  []any{"https://www.w3.org/ns/credentials/v2", "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"},
		"id":        "http://example.edu/credentials/3732",
		"type":      []any{"VerifiableCredential", "OpenBadgeCredential"},
		"issuer":    map[string]any{"id": "https://example.edu/issuers/565049", "type": "Profile", "name": "Example University"},
		"validFrom": "2010-01-01T00:00:00Z",
		"credentialSubject": map[string]any{
			"id": "did:example:ebfeb1f712ebc6f1c276e12ec21",
		},
		"proof": map[string]any{},
	}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("embedded-proof example: got %v", v)
	}
}

// svgStructure parses a baked SVG and returns the root's attributes, the first child element
// and every credential element's count.
func svgStructure(t testing.TB, b []byte) (root xml.StartElement, first xml.StartElement, creds int) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	depth := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("baked SVG is not well-formed XML: %v\n%s", err, b)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1:
				root = e
			case depth == 2 && first.Name.Local == "":
				first = e
			}
			if isCredentialElement(e.Name) {
				creds++
			}
		case xml.EndElement:
			depth--
		}
	}
}

func rootDeclares(root xml.StartElement) int {
	n := 0
	for _, a := range root.Attr {
		if a.Name.Space == "xmlns" && a.Name.Local == "openbadges" && a.Value == SVGNamespace {
			n++
		}
	}
	return n
}

func TestBakeSVGRoundTrip(t *testing.T) {
	cred := builtCredential(t)
	src := DefaultSVG("Course Completion Certificate")
	baked, err := BakeSVG(src, cred)
	if err != nil {
		t.Fatal(err)
	}
	root, first, n := svgStructure(t, baked)
	if rootDeclares(root) != 1 || !isCredentialElement(first.Name) || n != 1 {
		t.Fatalf("structure: root %v, first child %v, %d credential elements\n%s", root.Attr, first.Name, n, baked)
	}
	if !bytes.Contains(baked, []byte("<openbadges:credential><![CDATA[{")) {
		t.Errorf("no CDATA section:\n%s", baked)
	}
	got, err := UnbakeSVG(baked)
	if err != nil || !bytes.Equal(got, cred) {
		t.Fatalf("unbaked %q %v", got, err)
	}
	if err := Validate(got); err != nil {
		t.Fatal(err)
	}
	// Removing what was added gives back the source.
	stripped := strings.Replace(string(baked), ` xmlns:openbadges="`+SVGNamespace+`"`, "", 1)
	stripped = strings.Replace(stripped, "<openbadges:credential><![CDATA["+string(cred)+"]]></openbadges:credential>", "", 1)
	if stripped != string(src) {
		t.Errorf("the rest of the document changed:\n%s", stripped)
	}
}

func TestBakeSVGJWS(t *testing.T) {
	jws := "eyJhbGciOiJFZERTQSJ9.eyJpc3MiOiJkaWQ6ZXhhbXBsZToxIn0.c2lnbmF0dXJl"
	baked, err := BakeSVG(DefaultSVG(""), []byte(jws))
	if err != nil {
		t.Fatal(err)
	}
	_, first, n := svgStructure(t, baked)
	if !isCredentialElement(first.Name) || n != 1 || len(first.Attr) != 1 || first.Attr[0].Name.Local != "verify" || first.Attr[0].Value != jws {
		t.Fatalf("credential element: %+v\n%s", first, baked)
	}
	if !bytes.Contains(baked, []byte(`<openbadges:credential verify="`+jws+`"></openbadges:credential>`)) {
		t.Errorf("not the specification's form:\n%s", baked)
	}
	if got, err := UnbakeSVG(baked); err != nil || string(got) != jws {
		t.Fatalf("unbaked %q %v", got, err)
	}
}

// TestBakeSVGReplaces re-bakes the specification's baked example and a baked default badge:
// the old credential goes, the namespace is not declared twice, and baking is idempotent.
func TestBakeSVGReplaces(t *testing.T) {
	cred := []byte(`{"replaced":true}`)
	for _, src := range [][]byte{readFile(t, "testdata/spec-baked-embedded.svg"), readFile(t, "testdata/spec-baked-jwt.svg")} {
		baked, err := BakeSVG(src, cred)
		if err != nil {
			t.Fatal(err)
		}
		root, first, n := svgStructure(t, baked)
		if n != 1 || !isCredentialElement(first.Name) || rootDeclares(root) != 1 {
			t.Fatalf("%d credential elements, %d declarations\n%s", n, rootDeclares(root), baked)
		}
		if got, _ := UnbakeSVG(baked); !bytes.Equal(got, cred) {
			t.Fatalf("unbaked %q", got)
		}
		again, err := BakeSVG(baked, cred)
		if err != nil || !bytes.Equal(again, baked) {
			t.Fatalf("baking twice differs:\n%s\n%s", baked, again)
		}
		if !bytes.Contains(baked, []byte("<!-- rest-of-image -->")) {
			t.Error("rest of the image lost")
		}
	}
	// A credential element in a deeper position (not where the spec puts it) is removed too.
	deep := []byte(`<svg xmlns="http://www.w3.org/2000/svg" xmlns:ob="https://purl.imsglobal.org/ob/v3p0"><g><ob:credential verify="a.b.c"/></g></svg>`)
	baked, err := BakeSVG(deep, cred)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, n := svgStructure(t, baked); n != 1 || !bytes.Contains(baked, []byte("<g></g>")) {
		t.Fatalf("deep credential not removed:\n%s", baked)
	}
}

func TestBakeSVGShapes(t *testing.T) {
	cred := []byte(" \n{\"a\": \"b\"}\n")
	cases := map[string]string{
		"self-closing root":    `<svg xmlns="http://www.w3.org/2000/svg"/>`,
		"self-closing spaced":  "<svg xmlns=\"http://www.w3.org/2000/svg\"\n  width=\"1\" />",
		"prefixed root":        `<s:svg xmlns:s="http://www.w3.org/2000/svg"><s:rect/></s:svg>`,
		"no namespace":         `<svg width="2"><rect/></svg>`,
		"doctype":              "<?xml version=\"1.0\"?>\n<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\">\n<svg xmlns=\"http://www.w3.org/2000/svg\"><rect/></svg>\n<!-- trailer -->\n",
		"attribute with >":     `<svg xmlns="http://www.w3.org/2000/svg" data-x="a>b"><rect/></svg>`,
		"already declared":     `<svg xmlns="http://www.w3.org/2000/svg" xmlns:openbadges="https://purl.imsglobal.org/ob/v3p0"/>`,
		"other prefix for ns":  `<svg xmlns="http://www.w3.org/2000/svg" xmlns:ob="https://purl.imsglobal.org/ob/v3p0"><ob:credential><![CDATA[{"old":1}]]></ob:credential></svg>`,
		"child uses prefix":    `<svg xmlns="http://www.w3.org/2000/svg"><g xmlns:openbadges="urn:other"><openbadges:x/></g></svg>`,
		"comment before root":  "<!-- badge -->\n<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>",
		"entities and CDATA":   `<svg xmlns="http://www.w3.org/2000/svg"><text>a &amp; b <![CDATA[<x>]]></text></svg>`,
		"utf-8 declared upper": `<?xml version="1.0" encoding="UTF-8"?><svg xmlns="http://www.w3.org/2000/svg"><title>日本</title></svg>`,
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			baked, err := BakeSVG([]byte(src), cred)
			if err != nil {
				t.Fatal(err)
			}
			root, first, n := svgStructure(t, baked)
			if root.Name.Local != "svg" || !isCredentialElement(first.Name) || n != 1 || rootDeclares(root) != 1 {
				t.Fatalf("root %v, first %v, %d credentials, %d declarations\n%s", root.Name, first.Name, n, rootDeclares(root), baked)
			}
			got, err := UnbakeSVG(baked)
			if err != nil || string(got) != `{"a": "b"}` {
				t.Fatalf("unbaked %q %v\n%s", got, err, baked)
			}
			if again, _ := BakeSVG(baked, cred); !bytes.Equal(again, baked) {
				t.Errorf("not idempotent:\n%s\n%s", baked, again)
			}
		})
	}
}

// TestBakeSVGCDATAUnsafe bakes JSON holding "]]>" and characters XML cannot carry: the JSON read
// back is the same value.
func TestBakeSVGCDATAUnsafe(t *testing.T) {
	cred := []byte(`{"narrative":"a]]>b","odd":"\uFFFE","emoji":"😀"}`)
	cred = bytes.Replace(cred, []byte(`\uFFFE`), []byte("\uFFFE"), 1) // a raw U+FFFE, valid JSON, not an XML Char
	baked, err := BakeSVG(DefaultSVG("x"), cred)
	if err != nil {
		t.Fatal(err)
	}
	svgStructure(t, baked)
	got, err := UnbakeSVG(baked)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(cred, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &b); err != nil || !reflect.DeepEqual(a, b) {
		t.Fatalf("value changed: %s -> %s (%v)", cred, got, err)
	}
	if !bytes.Contains(got, []byte(`]]\u003e`)) || !bytes.Contains(got, []byte(`\ufffe`)) || !bytes.Contains(got, []byte("😀")) {
		t.Errorf("escapes: %s", got)
	}
}

func TestCDATASafeJSONSurrogates(t *testing.T) {
	// Runes beyond the BMP are XML Chars and stay as they are; the escape path writes pairs.
	if got := cdataSafeJSON([]byte(`"😀"`)); string(got) != `"😀"` {
		t.Errorf("emoji changed: %s", got)
	}
	if got := cdataSafeJSON([]byte("\"\uFFFF]]>\"")); string(got) != `"\uffff]]\u003e"` {
		t.Errorf("got %s", got)
	}
}

func TestBakeSVGRefuses(t *testing.T) {
	cred := []byte(`{"a":1}`)
	cases := []struct {
		name, svg string
		cred      []byte
		want      error
	}{
		{"empty", "", cred, ErrNotSVG},
		{"not XML", "hello", cred, ErrNotSVG},
		{"HTML root", `<html><svg xmlns="http://www.w3.org/2000/svg"/></html>`, cred, ErrNotSVG},
		{"svg in another namespace", `<svg xmlns="urn:not-svg"/>`, cred, ErrNotSVG},
		{"unclosed", `<svg xmlns="http://www.w3.org/2000/svg"><g>`, cred, ErrNotSVG},
		{"mismatched", `<svg xmlns="http://www.w3.org/2000/svg"><g></h></svg>`, cred, ErrNotSVG},
		{"two roots", `<svg xmlns="http://www.w3.org/2000/svg"/><svg xmlns="http://www.w3.org/2000/svg"/>`, cred, ErrNotSVG},
		{"text after root", `<svg xmlns="http://www.w3.org/2000/svg"/>trailing`, cred, ErrNotSVG},
		{"entity declarations", `<!DOCTYPE svg [<!ENTITY x "y">]><svg xmlns="http://www.w3.org/2000/svg">&x;</svg>`, cred, ErrNotSVG},
		{"undefined entity", `<svg xmlns="http://www.w3.org/2000/svg">&x;</svg>`, cred, ErrNotSVG},
		{"latin-1", `<?xml version="1.0" encoding="ISO-8859-1"?><svg xmlns="http://www.w3.org/2000/svg"/>`, cred, ErrNotSVG},
		{"invalid UTF-8", "<svg xmlns=\"http://www.w3.org/2000/svg\"><title>\xff</title></svg>", cred, ErrNotSVG},
		{"prefix bound elsewhere", `<svg xmlns="http://www.w3.org/2000/svg" xmlns:openbadges="urn:other"/>`, cred, ErrNotSVG},
		{"undeclared prefix", `<svg><openbadges:credential></openbadges:credential></svg>`, cred, ErrNotSVG},
		{"undeclared prefix attribute", `<svg xmlns="http://www.w3.org/2000/svg"><g openbadges:x="1"/></svg>`, cred, ErrNotSVG},
		{"bad credential", `<svg xmlns="http://www.w3.org/2000/svg"/>`, []byte("<script>"), ErrBadCredential},
		{"JWS with quote", `<svg xmlns="http://www.w3.org/2000/svg"/>`, []byte(`a.b".c`), ErrBadCredential},
		{"too large", `<svg xmlns="http://www.w3.org/2000/svg">` + strings.Repeat(" ", MaxImageBytes) + `</svg>`, cred, ErrTooLarge},
	}
	for _, tc := range cases {
		out, err := BakeSVG([]byte(tc.svg), tc.cred)
		if !errors.Is(err, tc.want) || out != nil {
			t.Errorf("%s: BakeSVG = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestUnbakeSVGErrors(t *testing.T) {
	cases := []struct {
		name, svg string
		want      error
	}{
		{"not baked", string(DefaultSVG("x")), ErrNotBaked},
		{"empty element", `<svg xmlns="http://www.w3.org/2000/svg" xmlns:openbadges="https://purl.imsglobal.org/ob/v3p0"><openbadges:credential>  </openbadges:credential></svg>`, ErrBadCredential},
		{"empty verify", `<svg xmlns="http://www.w3.org/2000/svg" xmlns:openbadges="https://purl.imsglobal.org/ob/v3p0"><openbadges:credential verify=""/></svg>`, ErrBadCredential},
		{"not a credential", `<svg xmlns="http://www.w3.org/2000/svg" xmlns:openbadges="https://purl.imsglobal.org/ob/v3p0"><openbadges:credential>hello</openbadges:credential></svg>`, ErrBadCredential},
		{"element inside", `<svg xmlns="http://www.w3.org/2000/svg" xmlns:openbadges="https://purl.imsglobal.org/ob/v3p0"><openbadges:credential><b/></openbadges:credential></svg>`, ErrBadCredential},
		{"wrong namespace", `<svg xmlns="http://www.w3.org/2000/svg" xmlns:openbadges="https://w3id.org/openbadges"><openbadges:credential verify="a.b.c"/></svg>`, ErrNotBaked},
		{"OB 2.0 assertion element", `<svg xmlns="http://www.w3.org/2000/svg" xmlns:openbadges="http://openbadges.org"><openbadges:assertion verify="a.b.c"/></svg>`, ErrNotBaked},
		{"not SVG", `<html/>`, ErrNotSVG},
		{"broken before credential", `<svg xmlns="http://www.w3.org/2000/svg"><g></h>`, ErrNotSVG},
		{"unterminated credential", `<svg xmlns="http://www.w3.org/2000/svg" xmlns:openbadges="https://purl.imsglobal.org/ob/v3p0"><openbadges:credential>{}`, ErrNotSVG},
	}
	for _, tc := range cases {
		if got, err := UnbakeSVG([]byte(tc.svg)); !errors.Is(err, tc.want) {
			t.Errorf("%s: UnbakeSVG = %q, %v, want %v", tc.name, got, err, tc.want)
		}
	}
	// The first credential element wins and the rest is not read, even if broken.
	s := `<svg xmlns="http://www.w3.org/2000/svg" xmlns:openbadges="https://purl.imsglobal.org/ob/v3p0"><openbadges:credential verify="a.b.c"/><openbadges:credential verify="d.e.f"/><g></h>`
	if got, err := UnbakeSVG([]byte(s)); err != nil || string(got) != "a.b.c" {
		t.Errorf("first wins: %q %v", got, err)
	}
}
