package openbadges

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// SVG names of the baking section (OB 3.0 §5.3.2).
const (
	// SVGNamespace is the namespace of the <openbadges:credential> element.
	SVGNamespace = "https://purl.imsglobal.org/ob/v3p0"
	svgNS        = "http://www.w3.org/2000/svg"
)

// ErrNotSVG: the input is not a well-formed UTF-8 XML document whose root element is <svg>, or
// it has a DOCTYPE with an internal subset (entity declarations are not processed).
var ErrNotSVG = errors.New("openbadges: not a well-formed SVG")

// svgDoc is what scanning an SVG finds: the byte span of the root start tag, its raw name, the
// prefix declared for SVGNamespace on it, and the spans of <openbadges:credential> elements.
type svgDoc struct {
	rootStart, rootEnd int
	rootName           string
	selfClosing        bool
	declared           bool     // the root declares xmlns:openbadges="https://purl.imsglobal.org/ob/v3p0"
	creds              [][2]int // spans of credential elements, in document order
}

// newSVGDecoder returns a strict, namespace-aware decoder that accepts only UTF-8.
func newSVGDecoder(svg []byte) *xml.Decoder {
	d := xml.NewDecoder(bytes.NewReader(svg))
	d.Strict = true
	d.CharsetReader = func(charset string, _ io.Reader) (io.Reader, error) {
		return nil, fmt.Errorf("encoding %q: only UTF-8 is accepted", charset)
	}
	return d
}

// checkSVGInput bounds and checks the encoding of an SVG.
func checkSVGInput(svg []byte) error {
	if len(svg) > MaxImageBytes {
		return fmt.Errorf("%w: image of %d bytes (at most %d)", ErrTooLarge, len(svg), MaxImageBytes)
	}
	if !utf8.Valid(svg) {
		return fmt.Errorf("%w: not UTF-8", ErrNotSVG)
	}
	return nil
}

// readRoot reads the prolog and the root start tag. It returns the root element and the byte
// offsets of its start tag.
func readRoot(d *xml.Decoder) (xml.StartElement, int, int, error) {
	for {
		off := int(d.InputOffset())
		tok, err := d.Token()
		if err != nil {
			return xml.StartElement{}, 0, 0, fmt.Errorf("%w: %w", ErrNotSVG, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local != "svg" || (t.Name.Space != svgNS && t.Name.Space != "") {
				return xml.StartElement{}, 0, 0, fmt.Errorf("%w: root element is <%s>", ErrNotSVG, t.Name.Local)
			}
			return t, off, int(d.InputOffset()), nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return xml.StartElement{}, 0, 0, fmt.Errorf("%w: text before the root element", ErrNotSVG)
			}
		case xml.Directive:
			if bytes.ContainsAny(t, "[") {
				return xml.StartElement{}, 0, 0, fmt.Errorf("%w: DOCTYPE with an internal subset", ErrNotSVG)
			}
		case xml.ProcInst, xml.Comment:
		default:
			return xml.StartElement{}, 0, 0, fmt.Errorf("%w: unexpected %T before the root", ErrNotSVG, tok)
		}
	}
}

func isCredentialElement(n xml.Name) bool { return n.Space == SVGNamespace && n.Local == "credential" }

// usesUnboundPrefix reports a name with the prefix openbadges where no namespace is bound to it
// (encoding/xml then leaves the prefix as the space). Such a document is not namespace-well-formed,
// and declaring xmlns:openbadges on the root would silently give those names the OB namespace.
func usesUnboundPrefix(e xml.StartElement) bool {
	if e.Name.Space == "openbadges" {
		return true
	}
	for _, a := range e.Attr {
		if a.Name.Space == "openbadges" {
			return true
		}
	}
	return false
}

// scanSVG reads the whole document (it must be well formed to its end) and records what
// BakeSVG needs.
func scanSVG(svg []byte) (svgDoc, error) {
	d := newSVGDecoder(svg)
	root, start, end, err := readRoot(d)
	if err != nil {
		return svgDoc{}, err
	}
	doc := svgDoc{rootStart: start, rootEnd: end}
	raw := svg[start:end]
	doc.selfClosing = bytes.HasSuffix(raw, []byte("/>"))
	doc.rootName = string(raw[1:bytes.IndexAny(raw, " \t\r\n/>")])
	for _, a := range root.Attr {
		if a.Name.Space == "xmlns" && a.Name.Local == "openbadges" {
			if a.Value != SVGNamespace {
				return svgDoc{}, fmt.Errorf("%w: the root binds prefix openbadges to %q", ErrNotSVG, a.Value)
			}
			doc.declared = true
		}
	}
	if usesUnboundPrefix(root) {
		return svgDoc{}, fmt.Errorf("%w: prefix openbadges used but not declared", ErrNotSVG)
	}
	depth := 1
	for {
		off := int(d.InputOffset())
		tok, err := d.Token()
		if err == io.EOF {
			if depth != 0 {
				return svgDoc{}, fmt.Errorf("%w: unexpected end of document", ErrNotSVG)
			}
			return doc, nil
		}
		if err != nil {
			return svgDoc{}, fmt.Errorf("%w: %w", ErrNotSVG, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				return svgDoc{}, fmt.Errorf("%w: content after the root element", ErrNotSVG)
			}
			if usesUnboundPrefix(t) {
				return svgDoc{}, fmt.Errorf("%w: prefix openbadges used but not declared", ErrNotSVG)
			}
			if isCredentialElement(t.Name) {
				if err := d.Skip(); err != nil {
					return svgDoc{}, fmt.Errorf("%w: %w", ErrNotSVG, err)
				}
				doc.creds = append(doc.creds, [2]int{off, int(d.InputOffset())})
				continue
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) != 0 {
				return svgDoc{}, fmt.Errorf("%w: text after the root element", ErrNotSVG)
			}
		}
	}
}

// BakeSVG returns svg with credential baked in as OB 3.0 §5.3.2.1 says: the root <svg> gets
// xmlns:openbadges="https://purl.imsglobal.org/ob/v3p0" (unless it has it), and directly after
// the root start tag comes <openbadges:credential>, holding a JSON credential in a CDATA
// section, or, for a compact JWS, empty with the JWS in its verify attribute. Any
// openbadges:credential element already in the document is removed, so the result has exactly
// one. The rest of the document is copied byte for byte.
//
// The JSON is written trimmed of surrounding whitespace. Characters a CDATA section cannot hold
// — the sequence "]]>" and characters outside XML 1.0's Char — can only occur inside JSON
// strings, where they are written as \u escapes: the same JSON value, different bytes.
//
// Refused: input that is not a well-formed UTF-8 SVG (ErrNotSVG), a root that binds the prefix
// openbadges to another namespace, a document using that prefix without declaring it, inputs over their limits (ErrTooLarge), a credential that is
// neither a JSON object nor a compact JWS (ErrBadCredential).
func BakeSVG(svg []byte, credential []byte) ([]byte, error) {
	if err := checkSVGInput(svg); err != nil {
		return nil, err
	}
	jws, err := checkCredentialForm(credential)
	if err != nil {
		return nil, err
	}
	doc, err := scanSVG(svg)
	if err != nil {
		return nil, err
	}

	var out bytes.Buffer
	out.Grow(len(svg) + len(credential) + 128)
	out.Write(svg[:doc.rootStart])
	tag := svg[doc.rootStart:doc.rootEnd]
	tagEnd := len(tag) - 1 // the final '>'
	if doc.selfClosing {
		tagEnd--
	}
	out.Write(tag[:tagEnd])
	if !doc.declared {
		out.WriteString(` xmlns:openbadges="` + SVGNamespace + `"`)
	}
	out.WriteByte('>')
	if jws {
		out.WriteString(`<openbadges:credential verify="`)
		out.Write(credential)
		out.WriteString(`"></openbadges:credential>`)
	} else {
		out.WriteString("<openbadges:credential><![CDATA[")
		out.Write(cdataSafeJSON(bytes.TrimSpace(credential)))
		out.WriteString("]]></openbadges:credential>")
	}
	if doc.selfClosing {
		out.WriteString("</" + doc.rootName + ">")
	}
	rest := doc.rootEnd
	for _, span := range doc.creds {
		out.Write(svg[rest:span[0]])
		rest = span[1]
	}
	out.Write(svg[rest:])
	return out.Bytes(), nil
}

// UnbakeSVG returns the credential baked in svg: from the first openbadges:credential element
// (OB 3.0 §5.3.2.2), the value of its verify attribute if it has one (a compact JWS), otherwise
// its text content (the CDATA section) trimmed of surrounding whitespace. The document is read
// only up to that element. Returned: ErrNotBaked if there is none, ErrBadCredential if what it
// holds is neither a JSON object nor a compact JWS, ErrNotSVG for input that is not a
// well-formed UTF-8 SVG up to that point.
func UnbakeSVG(svg []byte) ([]byte, error) {
	if err := checkSVGInput(svg); err != nil {
		return nil, err
	}
	d := newSVGDecoder(svg)
	if _, _, _, err := readRoot(d); err != nil {
		return nil, err
	}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil, ErrNotBaked
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNotSVG, err)
		}
		el, ok := tok.(xml.StartElement)
		if !ok || !isCredentialElement(el.Name) {
			continue
		}
		var cred []byte
		verify := false
		for _, a := range el.Attr {
			if a.Name.Space == "" && a.Name.Local == "verify" {
				cred, verify = []byte(strings.TrimSpace(a.Value)), true
			}
		}
		if !verify {
			if cred, err = elementText(d); err != nil {
				return nil, err
			}
		}
		if len(cred) == 0 {
			return nil, fmt.Errorf("%w: the openbadges:credential element is empty", ErrBadCredential)
		}
		if _, err := checkCredentialForm(cred); err != nil {
			return nil, err
		}
		return cred, nil
	}
}

// elementText reads the text content of the element just started, which may not contain
// elements, and returns it trimmed.
func elementText(d *xml.Decoder) ([]byte, error) {
	var text []byte
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNotSVG, err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			if len(text)+len(t) > MaxCredentialBytes+1024 {
				return nil, fmt.Errorf("%w: baked credential over %d bytes", ErrTooLarge, MaxCredentialBytes)
			}
			text = append(text, t...)
		case xml.StartElement:
			return nil, fmt.Errorf("%w: element <%s> inside openbadges:credential", ErrBadCredential, t.Name.Local)
		case xml.EndElement:
			return bytes.TrimSpace(text), nil
		}
	}
}

// cdataSafeJSON returns b with every "]]>" written as "]]\u003e" and every rune outside XML
// 1.0's Char production written as a \u escape (two, for a rune beyond the BMP). In valid JSON
// these can only occur inside strings, where the escapes denote the same characters.
func cdataSafeJSON(b []byte) []byte {
	safe := !bytes.Contains(b, []byte("]]>"))
	for i := 0; safe && i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		safe = isXMLChar(r)
		i += n
	}
	if safe {
		return b
	}
	var out bytes.Buffer
	for i := 0; i < len(b); {
		if bytes.HasPrefix(b[i:], []byte("]]>")) {
			out.WriteString(`]]\u003e`)
			i += 3
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		switch {
		case isXMLChar(r):
			out.Write(b[i : i+n])
		case r > 0xFFFF:
			r -= 0x10000
			fmt.Fprintf(&out, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
		default:
			fmt.Fprintf(&out, `\u%04x`, r)
		}
		i += n
	}
	return out.Bytes()
}

// isXMLChar is XML 1.0's Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D || (r >= 0x20 && r <= 0xD7FF) ||
		(r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
}
