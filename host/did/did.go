// Package did holds the types shared by gatewayd's DID methods (did:hedera,
// did:key, did:web): the W3C DID Core document, its metadata, the W3C DID
// Resolution result and error codes, and the Resolver interface each method
// implements so that a dispatcher (host/resolve) can route by method name.
package did

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Error codes of W3C DID Resolution §7.1 (didResolutionMetadata.error).
// "deactivated" is not an error: it is reported as Metadata.Deactivated.
const (
	CodeInvalidDID                   = "invalidDid"
	CodeNotFound                     = "notFound"
	CodeMethodNotSupported           = "methodNotSupported"
	CodeRepresentationNotSupported   = "representationNotSupported"
	CodeInvalidOptions               = "invalidOptions"
	CodeInternalError                = "internalError"
	CodeUnavailable                  = "unavailable" // not in the W3C registry; a transient failure of the method's source of truth
	CodeUnsupportedNetwork           = "unsupportedNetwork"
	CodeInvalidPublicKey             = "invalidPublicKey"
	CodeInvalidPublicKeyLength       = "invalidPublicKeyLength"
	CodeUnsupportedPublicKeyType     = "unsupportedPublicKeyType"
	CodeNotAllowedVerificationMethod = "notAllowedVerificationMethodType"
)

// Contexts used in documents.
const (
	ContextDIDv1          = "https://www.w3.org/ns/did/v1"
	ContextEd25519_2020   = "https://w3id.org/security/suites/ed25519-2020/v1"
	ContextMultikey       = "https://w3id.org/security/multikey/v1"
	ContextX25519_2020    = "https://w3id.org/security/suites/x25519-2020/v1"
	MediaTypeDIDJSON      = "application/did+json"
	MediaTypeDIDLDJSON    = "application/did+ld+json"
	MediaTypeResolutionLD = "application/ld+json;profile=\"https://w3id.org/did-resolution\""
)

// ResolutionError is a resolution failure with its W3C DID Resolution error
// code. Test for it with errors.As, or use Code.
type ResolutionError struct {
	Code    string // one of the Code* constants
	Message string // human-readable detail, safe to show to the caller
	Err     error  // underlying cause, if any (not shown to callers)
}

// Error implements error.
func (e *ResolutionError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("did: %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("did: %s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *ResolutionError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, &ResolutionError{Code: c}) match any
// ResolutionError with code c.
func (e *ResolutionError) Is(target error) bool {
	t, ok := target.(*ResolutionError)
	return ok && t.Message == "" && t.Err == nil && t.Code == e.Code
}

// Wrap returns a ResolutionError with the code and a message for the
// client; cause is kept as Err (for logs and errors.Is) but not put in the
// message, whose text resolvers return to anyone who asks.
func Wrap(code, message string, cause error) *ResolutionError {
	return &ResolutionError{Code: code, Message: message, Err: cause}
}

// Errorf returns a ResolutionError with the code and a formatted message.
// A %w verb in format is honoured: the wrapped error becomes Err, and its
// text is part of the message (use Wrap when it must not be).
func Errorf(code, format string, args ...any) *ResolutionError {
	err := fmt.Errorf(format, args...)
	return &ResolutionError{Code: code, Message: err.Error(), Err: errors.Unwrap(err)}
}

// Sentinels for errors.Is.
var (
	ErrInvalidDID         = &ResolutionError{Code: CodeInvalidDID}
	ErrNotFound           = &ResolutionError{Code: CodeNotFound}
	ErrMethodNotSupported = &ResolutionError{Code: CodeMethodNotSupported}
	ErrInternal           = &ResolutionError{Code: CodeInternalError}
	ErrUnavailable        = &ResolutionError{Code: CodeUnavailable}
)

// Code returns the resolution error code of err: its ResolutionError's code,
// "" for nil, and internalError otherwise.
func Code(err error) string {
	if err == nil {
		return ""
	}
	var re *ResolutionError
	if errors.As(err, &re) {
		return re.Code
	}
	return CodeInternalError
}

// ResolveOptions are the DID resolution options (W3C DID Resolution §4.1).
type ResolveOptions struct {
	// Accept is the requested representation media type; "" means
	// application/did+ld+json (methods return a Document; the HTTP layer
	// serialises it).
	Accept string
	// VersionTime asks for the document as it was at this time.
	VersionTime *time.Time
	// VersionID asks for a specific version (method-specific format).
	VersionID string
}

// Resolver resolves DIDs of one method. Implementations are safe for
// concurrent use. On failure the error is (or wraps) a *ResolutionError.
// A deactivated DID is not an error: it resolves with
// Metadata.Deactivated set.
type Resolver interface {
	Resolve(ctx context.Context, did string, opts ResolveOptions) (*Resolution, error)
}

// Resolution is a DID resolution result (W3C DID Resolution §4.2).
type Resolution struct {
	Document           *Document          `json:"didDocument"`
	DocumentMetadata   Metadata           `json:"didDocumentMetadata"`
	ResolutionMetadata ResolutionMetadata `json:"didResolutionMetadata"`
}

// ResolutionMetadata describes the resolution process.
type ResolutionMetadata struct {
	ContentType string `json:"contentType,omitempty"`
	Error       string `json:"error,omitempty"`
	Message     string `json:"errorMessage,omitempty"`
	// Retrieved is when the document was read from its source of truth
	// (useful to caches).
	Retrieved time.Time `json:"retrieved,omitzero"`
}

// Metadata is the DID document metadata (W3C DID Core §7.1.3).
type Metadata struct {
	Created       time.Time `json:"created,omitzero"`
	Updated       time.Time `json:"updated,omitzero"`
	Deactivated   bool      `json:"deactivated,omitempty"`
	VersionID     string    `json:"versionId,omitempty"`
	NextUpdate    time.Time `json:"nextUpdate,omitzero"`
	NextVersionID string    `json:"nextVersionId,omitempty"`
}

// Document is a DID document (W3C DID Core §5), in its JSON-LD
// representation. Unknown properties are dropped on decoding.
type Document struct {
	Context              StringList           `json:"@context,omitempty"`
	ID                   string               `json:"id"`
	Controller           StringList           `json:"controller,omitempty"`
	AlsoKnownAs          []string             `json:"alsoKnownAs,omitempty"`
	VerificationMethod   []VerificationMethod `json:"verificationMethod,omitempty"`
	Authentication       []VerificationRef    `json:"authentication,omitempty"`
	AssertionMethod      []VerificationRef    `json:"assertionMethod,omitempty"`
	KeyAgreement         []VerificationRef    `json:"keyAgreement,omitempty"`
	CapabilityInvocation []VerificationRef    `json:"capabilityInvocation,omitempty"`
	CapabilityDelegation []VerificationRef    `json:"capabilityDelegation,omitempty"`
	Service              []Service            `json:"service,omitempty"`
}

// VerificationMethod is a public key of a document (DID Core §5.2).
type VerificationMethod struct {
	ID                 string         `json:"id"`
	Type               string         `json:"type"`
	Controller         string         `json:"controller"`
	PublicKeyMultibase string         `json:"publicKeyMultibase,omitempty"`
	PublicKeyBase58    string         `json:"publicKeyBase58,omitempty"`
	PublicKeyJwk       map[string]any `json:"publicKeyJwk,omitempty"`
	// BlockchainAccountID is a CAIP-10 account ID (did:pkh's
	// EcdsaSecp256k1RecoveryMethod2020 methods).
	BlockchainAccountID string `json:"blockchainAccountId,omitempty"`
}

// VerificationRef is an entry of a verification relationship: either a
// reference (a DID URL) or an embedded method.
type VerificationRef struct {
	Ref    string
	Method *VerificationMethod
}

// MarshalJSON writes the reference as a string or the embedded method.
func (r VerificationRef) MarshalJSON() ([]byte, error) {
	if r.Method != nil {
		return json.Marshal(r.Method)
	}
	return json.Marshal(r.Ref)
}

// UnmarshalJSON reads a string or an embedded method.
func (r *VerificationRef) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		*r = VerificationRef{}
		return json.Unmarshal(b, &r.Ref)
	}
	var m VerificationMethod
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*r = VerificationRef{Method: &m}
	return nil
}

// ID returns the referenced or embedded method's ID.
func (r VerificationRef) ID() string {
	if r.Method != nil {
		return r.Method.ID
	}
	return r.Ref
}

// Service is a service endpoint (DID Core §5.4). ServiceEndpoint is a URI
// string, a map or a list of them.
type Service struct {
	ID              string `json:"id"`
	Type            string `json:"type"`
	ServiceEndpoint any    `json:"serviceEndpoint"`
}

// StringList is a JSON value that is a string or a list of strings; it is
// written as a string when it has one element.
type StringList []string

// MarshalJSON writes one element as a string, more as a list.
func (s StringList) MarshalJSON() ([]byte, error) {
	if len(s) == 1 {
		return json.Marshal(s[0])
	}
	return json.Marshal([]string(s))
}

// UnmarshalJSON accepts a string or a list of strings. Other values (such
// as embedded JSON-LD context objects) are an error.
func (s *StringList) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = StringList{v}
		return nil
	}
	var v []string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = v
	return nil
}

// Method returns the method name of a DID ("hedera" for
// "did:hedera:…"), or an invalidDid error if s is not a DID.
func Method(s string) (string, error) {
	rest, ok := strings.CutPrefix(s, "did:")
	if !ok {
		return "", Errorf(CodeInvalidDID, "not a DID: missing \"did:\" prefix")
	}
	m, id, ok := strings.Cut(rest, ":")
	if !ok || m == "" || id == "" {
		return "", Errorf(CodeInvalidDID, "not a DID: want did:<method>:<id>")
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return "", Errorf(CodeInvalidDID, "invalid method name")
		}
	}
	return m, nil
}
