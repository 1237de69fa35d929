package main

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Limits on what the ACS accepts from the browser.
const (
	// maxEncoded bounds the base64 SAMLResponse form field.
	maxEncoded = 512 << 10
	// maxXML bounds the decoded (and, for the Redirect binding, inflated)
	// XML document.
	maxXML = 384 << 10
	// maxDepth bounds element nesting.
	maxDepth = 48
	// maxElements bounds the number of elements of one document.
	maxElements = 4096
)

// Errors of the input decoding. They are all client errors.
var (
	errTooLarge   = errors.New("SAMLResponse is too large")
	errNotBase64  = errors.New("SAMLResponse is not base64")
	errNotXML     = errors.New("SAMLResponse is not well-formed XML")
	errDTD        = errors.New("XML with a DTD, entity declaration or other directive is refused")
	errComment    = errors.New("XML comments are refused in a SAML response")
	errProcInst   = errors.New("XML processing instructions are refused")
	errTooDeep    = errors.New("XML is nested too deeply")
	errTooMany    = errors.New("XML has too many elements")
	errInflate    = errors.New("SAMLResponse does not inflate (HTTP-Redirect binding, DEFLATE)")
	errNoResponse = errors.New("SAMLResponse is missing")
)

// decodeResponse returns the XML of a SAMLResponse form value: base64
// (SAML Bindings 3.5.4; line breaks and spaces, which some IdPs insert, are
// dropped first, then the standard alphabet with padding is required) and,
// for the HTTP-Redirect binding (3.4.4.1), raw DEFLATE, inflated to at
// most maxXML bytes so that a deflate bomb is refused after reading only
// that much. The XML is then checked with checkXML.
func decodeResponse(value string, redirect bool) ([]byte, error) {
	if value == "" {
		return nil, errNoResponse
	}
	if len(value) > maxEncoded {
		return nil, errTooLarge
	}
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, value)
	raw, err := base64.StdEncoding.Strict().DecodeString(clean)
	if err != nil || len(raw) == 0 {
		return nil, errNotBase64
	}
	if redirect {
		fr := flate.NewReader(bytes.NewReader(raw))
		defer fr.Close()
		var buf bytes.Buffer
		n, err := io.Copy(&buf, io.LimitReader(fr, maxXML+1))
		if n > maxXML {
			return nil, errTooLarge
		}
		if err != nil {
			return nil, errInflate
		}
		raw = buf.Bytes()
	}
	if len(raw) > maxXML {
		return nil, errTooLarge
	}
	if err := checkXML(raw, false); err != nil {
		return nil, err
	}
	return raw, nil
}

// checkXML refuses what a SAML message never needs and attackers use: a
// DOCTYPE or any other directive (entity expansion, external entities), a
// processing instruction other than the leading XML declaration, comments
// (unless allowComments: IdP metadata may carry some; a comment inside a
// NameID makes canonicalisation, which drops it, and a naive reader
// disagree), encodings other than UTF-8, nesting deeper than maxDepth,
// more than maxElements elements, and anything not well-formed.
func checkXML(doc []byte, allowComments bool) error {
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	d.CharsetReader = func(label string, _ io.Reader) (io.Reader, error) {
		return nil, fmt.Errorf("encoding %q is not supported", label)
	}
	depth, elements, first, root := 0, 0, true, false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %v", errNotXML, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 && root {
				return fmt.Errorf("%w: more than one root element", errNotXML)
			}
			root = true
			depth++
			elements++
			if depth > maxDepth {
				return errTooDeep
			}
			if elements > maxElements {
				return errTooMany
			}
		case xml.EndElement:
			depth--
		case xml.Directive:
			return errDTD
		case xml.Comment:
			if !allowComments {
				return errComment
			}
		case xml.ProcInst:
			if !first || t.Target != "xml" {
				return errProcInst
			}
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return fmt.Errorf("%w: text outside the root element", errNotXML)
			}
		}
		first = false
	}
	if !root {
		return fmt.Errorf("%w: no root element", errNotXML)
	}
	if depth != 0 {
		return fmt.Errorf("%w: unclosed element", errNotXML)
	}
	return nil
}
