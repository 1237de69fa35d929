// Package resolve is DID resolution as the gateway's edge serves it: a
// dispatcher over per-method resolvers and name resolvers, results shaped
// like the W3C DID Resolution spec and the DIF Universal Resolver, content
// negotiation, and a two-tier cache (memory in front of store.Cache) that
// keeps the encoded bytes so that a hit is written without re-encoding.
//
// References:
//   - DID Resolution v1.0 CR (2026), §4.2 resolution metadata, §9 result,
//     §11 errors, §12.1 HTTP(S) binding:
//     https://www.w3.org/TR/did-resolution/#bindings-https
//   - DID Core v1.0 §6 representations, §7.1 resolution:
//     https://www.w3.org/TR/did-core/#representations
//   - DIF Universal Resolver ResolveServlet (no Accept header → resolution
//     result): https://github.com/decentralized-identity/universal-resolver
package resolve

import (
	"encoding/json"
	"net/http"

	"github.com/ubeu/gateway/host/did"
)

// ResolutionContext is the JSON-LD context of a DID resolution result.
const ResolutionContext = "https://w3id.org/did-resolution/v1"

// Error codes of didResolutionMetadata.error: those of package did, plus
// invalidDidDocument for a document that fails the dispatcher's checks.
// TypeURI gives the RFC 9457 type URI of the DID Resolution CR (§11).
const (
	CodeInvalidDID                 = did.CodeInvalidDID
	CodeInvalidOptions             = did.CodeInvalidOptions
	CodeNotFound                   = did.CodeNotFound
	CodeMethodNotSupported         = did.CodeMethodNotSupported
	CodeRepresentationNotSupported = did.CodeRepresentationNotSupported
	CodeInternalError              = did.CodeInternalError
	CodeUnavailable                = did.CodeUnavailable
	CodeUnsupportedNetwork         = did.CodeUnsupportedNetwork
	CodeInvalidDIDDocument         = "invalidDidDocument"
	// CodeDeactivated is not a failure: it is the error a deactivated
	// DID's resolution result carries (with its document metadata, and
	// HTTP status 410) so that a client that reads only the error sees it.
	CodeDeactivated = "deactivated"
)

// TypeURI returns the RFC 9457 problem type URI of a resolution error code
// (DID Resolution CR §11), or "" for an unknown code.
func TypeURI(code string) string {
	switch code {
	case CodeInvalidDID:
		return "https://www.w3.org/ns/did#INVALID_DID"
	case CodeInvalidOptions:
		return "https://www.w3.org/ns/did#INVALID_OPTIONS"
	case CodeNotFound:
		return "https://www.w3.org/ns/did#NOT_FOUND"
	case CodeMethodNotSupported:
		return "https://www.w3.org/ns/did#METHOD_NOT_SUPPORTED"
	case CodeRepresentationNotSupported:
		return "https://www.w3.org/ns/did#REPRESENTATION_NOT_SUPPORTED"
	case CodeInvalidDIDDocument:
		return "https://www.w3.org/ns/did#INVALID_DID_DOCUMENT"
	case CodeInternalError:
		return "https://www.w3.org/ns/did#INTERNAL_ERROR"
	case CodeDeactivated:
		return "https://www.w3.org/ns/did#DEACTIVATED"
	}
	return ""
}

// problemType is the type URI written for code: TypeURI's, else the
// nearest standard one (a network this resolver does not read is a method
// it does not support; anything else an internal error). The exact code
// travels beside it in the problem's "code" member.
func problemType(code string) string {
	if u := TypeURI(code); u != "" {
		return u
	}
	if code == CodeUnsupportedNetwork {
		return TypeURI(CodeMethodNotSupported)
	}
	return TypeURI(CodeInternalError)
}

// codeOfType is the inverse of TypeURI.
func codeOfType(uri string) string {
	for _, c := range []string{CodeInvalidDID, CodeInvalidOptions, CodeNotFound, CodeMethodNotSupported,
		CodeRepresentationNotSupported, CodeInvalidDIDDocument, CodeInternalError, CodeDeactivated} {
		if TypeURI(c) == uri {
			return c
		}
	}
	return ""
}

var problemTitles = map[string]string{
	CodeInvalidDID:                 "Invalid DID",
	CodeInvalidOptions:             "Invalid resolution options",
	CodeNotFound:                   "DID not found",
	CodeMethodNotSupported:         "DID method not supported",
	CodeRepresentationNotSupported: "Representation not supported",
	CodeInvalidDIDDocument:         "Invalid DID document",
	CodeInternalError:              "Internal error",
	CodeUnavailable:                "DID method temporarily unavailable",
	CodeUnsupportedNetwork:         "DID network not supported",
	CodeDeactivated:                "DID deactivated",
}

// Problem is didResolutionMetadata.error: an RFC 9457 problem details
// object whose type is a URI of the W3C DID namespace (DID Resolution §11).
// Code is an extension member (RFC 9457 §3.2) with the error keyword of
// DID Core and the DIF Universal Resolver ("notFound", …), for clients
// that match on it.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title,omitempty"`
	Detail string `json:"detail,omitempty"`
	Code   string `json:"code,omitempty"`
}

type metadataJSON struct {
	ContentType string   `json:"contentType,omitempty"`
	Duration    int64    `json:"duration"`
	Retrieved   string   `json:"retrieved,omitempty"`
	Error       *Problem `json:"error,omitempty"`
}

// MarshalJSON writes Error and ErrorMessage as the error's problem
// details object.
func (m ResolutionMetadata) MarshalJSON() ([]byte, error) {
	out := metadataJSON{ContentType: m.ContentType, Duration: m.Duration, Retrieved: m.Retrieved}
	if m.Error != "" {
		out.Error = &Problem{Type: problemType(m.Error), Title: problemTitles[m.Error], Detail: m.ErrorMessage, Code: m.Error}
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON writes, and also the older form
// with the keyword in "error" and the text in "errorMessage".
func (m *ResolutionMetadata) UnmarshalJSON(b []byte) error {
	var in struct {
		metadataJSON
		Error        json.RawMessage `json:"error"`
		ErrorMessage string          `json:"errorMessage"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*m = ResolutionMetadata{ContentType: in.ContentType, Duration: in.Duration, Retrieved: in.Retrieved, ErrorMessage: in.ErrorMessage}
	switch {
	case len(in.Error) == 0 || string(in.Error) == "null":
	case in.Error[0] == '"':
		return json.Unmarshal(in.Error, &m.Error)
	default:
		var p Problem
		if err := json.Unmarshal(in.Error, &p); err != nil {
			return err
		}
		m.Error, m.ErrorMessage = p.Code, p.Detail
		if m.Error == "" {
			if m.Error = codeOfType(p.Type); m.Error == "" {
				m.Error = CodeInternalError
			}
		}
	}
	return nil
}

// StatusForCode maps an error code to the HTTP status of the DID Resolution
// HTTP(S) binding (§12.1): invalidDid and invalidOptions 400, notFound 404,
// representationNotSupported 406, methodNotSupported 501, everything else
// 500 (including unavailable, which is not in the spec's table).
func StatusForCode(code string) int {
	switch code {
	case "":
		return http.StatusOK
	case CodeInvalidDID, CodeInvalidOptions:
		return http.StatusBadRequest
	case CodeNotFound:
		return http.StatusNotFound
	case CodeRepresentationNotSupported:
		return http.StatusNotAcceptable
	case CodeMethodNotSupported, CodeUnsupportedNetwork:
		// A network this resolver does not read is, like a method it
		// does not know, not implemented here; not a server failure.
		return http.StatusNotImplemented
	}
	return http.StatusInternalServerError
}

// ResolutionMetadata is didResolutionMetadata.
type ResolutionMetadata struct {
	// ContentType is the media type of the DID document representation.
	ContentType string `json:"contentType,omitempty"`
	// Duration is how long the upstream resolution took, in milliseconds.
	// A cached result keeps the duration of the resolution that filled it.
	Duration int64 `json:"duration"`
	// Retrieved is when the document was obtained from the method (XML
	// datetime, UTC, whole seconds).
	Retrieved string `json:"retrieved,omitempty"`
	// Error is the error keyword ("" on success) and ErrorMessage its
	// text; both are written as one Problem (see MarshalJSON).
	Error        string `json:"-"`
	ErrorMessage string `json:"-"`
}

// DocumentMetadata is didDocumentMetadata (DID Core §7.1.3). Datetimes are
// XML datetimes in UTC without fractional seconds.
type DocumentMetadata struct {
	Created       string   `json:"created,omitempty"`
	Updated       string   `json:"updated,omitempty"`
	Deactivated   bool     `json:"deactivated,omitempty"`
	NextUpdate    string   `json:"nextUpdate,omitempty"`
	VersionID     string   `json:"versionId,omitempty"`
	NextVersionID string   `json:"nextVersionId,omitempty"`
	EquivalentID  []string `json:"equivalentId,omitempty"`
	CanonicalID   string   `json:"canonicalId,omitempty"`
}

// Result is a DID resolution result. Results returned by Resolver.Resolve
// may be shared with the cache and other callers: treat them as read-only.
type Result struct {
	Context string `json:"@context"`
	// Document is the DID document as a JSON object (with @context as the
	// method produced it), or nil when resolution failed.
	Document           json.RawMessage    `json:"didDocument"`
	ResolutionMetadata ResolutionMetadata `json:"didResolutionMetadata"`
	DocumentMetadata   DocumentMetadata   `json:"didDocumentMetadata"`

	// MediaType is the Content-Type of Body.
	MediaType string `json:"-"`
	// Body is the result encoded for the negotiated media type (set by
	// Resolver.Resolve; nil on results built by hand).
	Body []byte `json:"-"`
	// Cache says where the result came from: "memory", "store", "stale"
	// (served stale while it is refreshed) or "" (resolved now).
	Cache string `json:"-"`

	requested string // media type Body was encoded for
}

// HTTPStatus is the status of the HTTP(S) binding (DID Resolution §12.1):
// the status of the error code, 410 for a deactivated DID, else 200.
func (r *Result) HTTPStatus() int {
	if r.ResolutionMetadata.Error != "" {
		return StatusForCode(r.ResolutionMetadata.Error)
	}
	if r.DocumentMetadata.Deactivated {
		return http.StatusGone
	}
	return http.StatusOK
}

// Err returns the result's error as a *did.ResolutionError, or nil.
func (r *Result) Err() error {
	if r.ResolutionMetadata.Error == "" {
		return nil
	}
	return &did.ResolutionError{Code: r.ResolutionMetadata.Error, Message: r.ResolutionMetadata.ErrorMessage}
}

// errorResult returns a result that carries only an error.
func errorResult(code, message string) *Result {
	return &Result{
		Context: ResolutionContext,
		ResolutionMetadata: ResolutionMetadata{
			Error:        code,
			ErrorMessage: message,
		},
	}
}
