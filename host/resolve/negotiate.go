package resolve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/ubeu/gateway/host/did"
)

// Media types served.
const (
	// MediaTypeResolution is the DID resolution result (DID Resolution §9).
	MediaTypeResolution = "application/did-resolution"
	// MediaTypeResolutionLD is the older name of the resolution result,
	// still sent by Universal Resolver clients.
	MediaTypeResolutionLD = `application/ld+json;profile="https://w3id.org/did-resolution"`
	// MediaTypeDIDLDJSON is the JSON-LD representation of the DID document
	// (DID Core §6.3): the document with @context.
	MediaTypeDIDLDJSON = "application/did+ld+json"
	// MediaTypeDIDJSON is the plain JSON representation (DID Core §6.2):
	// the document without the JSON-LD @context.
	MediaTypeDIDJSON = "application/did+json"
	// MediaTypeDID is the DID v1.1 media type of a DID document, as the DID
	// Resolution CR's examples use it: the document as produced.
	MediaTypeDID = "application/did"
)

// resolutionProfile is the profile parameter of MediaTypeResolutionLD.
const resolutionProfile = "https://w3id.org/did-resolution"

// didV1Context is added to a document served as did+ld+json that has no
// @context of its own.
const didV1Context = "https://www.w3.org/ns/did/v1"

// ErrRepresentationNotSupported is returned by Negotiate when no acceptable
// media type is served. Its code is representationNotSupported (HTTP 406).
var ErrRepresentationNotSupported = &did.ResolutionError{
	Code:    CodeRepresentationNotSupported,
	Message: "none of the accepted media types is served; use application/did-resolution, application/did+ld+json or application/did+json",
}

// offers are the media types served, in the server's order of preference
// (which breaks ties in quality). The resolution result comes first: it is
// what the Universal Resolver sends without an Accept header and for */*.
var offers = []struct {
	typ, sub string
	profile  string // required profile parameter, if any
	media    string // Content-Type to answer with
}{
	{"application", "did-resolution", "", MediaTypeResolution},
	{"application", "ld+json", resolutionProfile, MediaTypeResolutionLD},
	{"application", "did+ld+json", "", MediaTypeDIDLDJSON},
	{"application", "did+json", "", MediaTypeDIDJSON},
	{"application", "did", "", MediaTypeDID},
}

// maxAcceptRanges bounds the work done on a hostile Accept header.
const maxAcceptRanges = 32

// Negotiate picks the media type to answer an Accept header with (RFC 9110
// §12.5.1: the highest quality, the most specific range deciding a type's
// quality, ties broken by the server's preference). An empty header, */*
// and application/* give the resolution result, as the Universal Resolver
// does. It fails with ErrRepresentationNotSupported if nothing acceptable is
// served.
func Negotiate(accept string) (string, error) {
	switch accept { // the common headers, without parsing
	case "", "*/*", MediaTypeResolution:
		return MediaTypeResolution, nil
	case MediaTypeResolutionLD, MediaTypeDIDLDJSON, MediaTypeDIDJSON, MediaTypeDID:
		return accept, nil
	}
	accept = strings.TrimSpace(accept)
	if accept == "" {
		return MediaTypeResolution, nil
	}
	var buf [maxAcceptRanges]mediaRange
	ranges := buf[:0]
	for rest := accept; rest != "" && len(ranges) < maxAcceptRanges; {
		var part string
		part, rest, _ = strings.Cut(rest, ",")
		if mr, ok := parseRange(part); ok {
			ranges = append(ranges, mr)
		}
	}
	best, bestQ := "", 0
	for _, o := range offers {
		q, spec := -1, -1
		for _, mr := range ranges {
			s := mr.matches(o.typ, o.sub, o.profile)
			if s > spec {
				q, spec = mr.q, s
			}
		}
		if q > bestQ {
			best, bestQ = o.media, q
		}
	}
	if best == "" {
		return "", ErrRepresentationNotSupported
	}
	return best, nil
}

// mediaRange is one element of an Accept header. q is the quality in
// thousandths.
type mediaRange struct {
	typ, sub string
	profile  string
	params   int // number of parameters other than q
	q        int
}

// matches returns the specificity with which the range matches the type (0
// for */*, 1 for type/*, 2 for type/sub, 3 with parameters), or -1.
func (mr mediaRange) matches(typ, sub, profile string) int {
	switch {
	case mr.typ == "*" && mr.sub == "*":
		return 0
	case mr.typ != typ:
		return -1
	case mr.sub == "*":
		return 1
	case mr.sub != sub:
		return -1
	}
	if profile != "" {
		// application/ld+json is served only with the resolution profile.
		if mr.profile != profile {
			return -1
		}
		return 3
	}
	if mr.profile != "" {
		return -1
	}
	if mr.params > 0 {
		return 3
	}
	return 2
}

// parseRange parses one media range with its parameters.
func parseRange(s string) (mediaRange, bool) {
	mr := mediaRange{q: 1000}
	main, params, _ := strings.Cut(s, ";")
	typ, sub, ok := strings.Cut(strings.TrimSpace(main), "/")
	if !ok || !isToken(typ) || !isToken(sub) || (typ == "*" && sub != "*") {
		return mr, false
	}
	mr.typ, mr.sub = strings.ToLower(typ), strings.ToLower(sub)
	for params != "" {
		var p string
		p, params = cutParam(params)
		name, value, ok := strings.Cut(p, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.TrimSpace(value)
		if !ok || !isToken(name) {
			return mr, false
		}
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = strings.ReplaceAll(value[1:len(value)-1], `\`, "")
		}
		switch name {
		case "q":
			q, ok := parseQ(value)
			if !ok {
				return mr, false
			}
			mr.q = q
			return mr, true // accept-ext after q is ignored
		case "profile":
			mr.profile = value
		case "charset":
			// Every representation is UTF-8; a charset does not narrow.
		default:
			mr.params++
		}
	}
	return mr, true
}

// cutParam returns the next ;-separated parameter, respecting quotes.
func cutParam(s string) (param, rest string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case '\\':
			i++
		case ';':
			if !quoted {
				return s[:i], s[i+1:]
			}
		}
	}
	return s, ""
}

// parseQ parses a qvalue ("0", "0.5", "1.000") into thousandths.
func parseQ(s string) (int, bool) {
	if s == "" || len(s) > 5 {
		return 0, false
	}
	whole, frac, _ := strings.Cut(s, ".")
	if whole != "0" && whole != "1" {
		return 0, false
	}
	q := 1000 * int(whole[0]-'0')
	for i, scale := 0, 100; i < len(frac); i, scale = i+1, scale/10 {
		if frac[i] < '0' || frac[i] > '9' {
			return 0, false
		}
		q += int(frac[i]-'0') * scale
	}
	if q > 1000 {
		return 0, false
	}
	return q, true
}

// tokenChars are the characters of an RFC 9110 token.
var tokenChars = func() (t [256]bool) {
	for c := '!'; c <= '~'; c++ {
		t[c] = !strings.ContainsRune(`()<>@,;:\"/[]?={}`, c)
	}
	return t
}()

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenChars[s[i]] {
			return false
		}
	}
	return true
}

// isResultType reports whether the media type is a resolution result.
func isResultType(mediaType string) bool {
	return mediaType == MediaTypeResolution || mediaType == MediaTypeResolutionLD
}

// kindOf names the representation of a media type for cache keys: the two
// names of the resolution result share one encoding.
func kindOf(mediaType string) string {
	switch mediaType {
	case MediaTypeResolution, MediaTypeResolutionLD:
		return "r"
	case MediaTypeDIDLDJSON:
		return "l"
	case MediaTypeDIDJSON:
		return "j"
	case MediaTypeDID:
		return "d"
	}
	return ""
}

// ContentType returns the Content-Type of Encode(r, mediaType): mediaType,
// except for a result without a document (an error), which is always
// written as a resolution result.
func ContentType(r *Result, mediaType string) string {
	if isResultType(mediaType) || len(r.Document) == 0 {
		if mediaType == MediaTypeResolutionLD {
			return mediaType
		}
		return MediaTypeResolution
	}
	return mediaType
}

// Encode writes the result in a media type returned by Negotiate: the whole
// resolution result for application/did-resolution (and its ld+json
// alias); the document alone for the document media types, with @context
// for did+ld+json and without it for did+json (DID Core §6.2, §6.3). A
// result without a document is written as a resolution result whatever the
// media type, so that the error reaches the client (see ContentType). If
// the result already holds its encoding for this media type, Encode returns
// it without re-encoding; do not modify the returned bytes.
func Encode(r *Result, mediaType string) ([]byte, error) {
	if r.Body != nil && r.requested == mediaType {
		return r.Body, nil
	}
	if kindOf(mediaType) == "" {
		return nil, fmt.Errorf("resolve: encode: %w", ErrRepresentationNotSupported)
	}
	if isResultType(mediaType) || len(r.Document) == 0 {
		out := *r
		if out.Context == "" {
			out.Context = ResolutionContext
		}
		if len(out.Document) > 0 && out.ResolutionMetadata.ContentType == "" {
			out.ResolutionMetadata.ContentType = MediaTypeDIDLDJSON
		}
		if out.DocumentMetadata.Deactivated && out.ResolutionMetadata.Error == "" {
			out.ResolutionMetadata.Error = CodeDeactivated
			out.ResolutionMetadata.ErrorMessage = "the DID has been deactivated"
		}
		b, err := json.Marshal(&out)
		if err != nil {
			return nil, fmt.Errorf("resolve: encode resolution result: %w", err)
		}
		return b, nil
	}
	switch mediaType {
	case MediaTypeDIDJSON:
		return stripContext(r.Document)
	case MediaTypeDIDLDJSON:
		return ensureContext(r.Document)
	default: // MediaTypeDID
		return compact(r.Document)
	}
}

// stripContext returns the document without its top-level @context.
func stripContext(doc json.RawMessage) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, fmt.Errorf("resolve: encode did+json: %w", err)
	}
	delete(m, "@context")
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("resolve: encode did+json: %w", err)
	}
	return b, nil
}

// ensureContext returns the document with an @context, adding the DID v1
// context if it has none.
func ensureContext(doc json.RawMessage) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, fmt.Errorf("resolve: encode did+ld+json: %w", err)
	}
	if _, ok := m["@context"]; ok {
		return compact(doc)
	}
	m["@context"] = json.RawMessage(strconv.Quote(didV1Context))
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("resolve: encode did+ld+json: %w", err)
	}
	return b, nil
}

func compact(doc json.RawMessage) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, doc); err != nil {
		return nil, fmt.Errorf("resolve: encode document: %w", err)
	}
	return buf.Bytes(), nil
}

// checkDocument verifies that doc is a JSON object whose id is want.
func checkDocument(doc json.RawMessage, want string) error {
	var head struct {
		ID *string `json:"id"`
	}
	if err := json.Unmarshal(doc, &head); err != nil {
		return fmt.Errorf("document is not a JSON object: %w", err)
	}
	if head.ID == nil {
		return errors.New("document has no id")
	}
	if *head.ID != want {
		return fmt.Errorf("document id %q is not the DID %q", *head.ID, want)
	}
	return nil
}
