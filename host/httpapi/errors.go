package httpapi

import (
	"fmt"
	"net/http"
)

// Error is an API error, written as the design's JSON error body
// (section 13.1): {"error":CODE,"message":...,"details":{...},"requestId":...}.
type Error struct {
	Status  int
	Code    string
	Message string
	Details map[string]any
	// RetryAfter, when positive, is sent as the Retry-After header (seconds).
	RetryAfter int
	// Header holds extra response headers (e.g. WWW-Authenticate).
	Header map[string]string
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// Error codes.
const (
	CodeValidation       = "VALIDATION_ERROR"
	CodeUnauthorized     = "UNAUTHORIZED"
	CodeInvalidCreds     = "INVALID_CREDENTIALS"
	CodeTokenReused      = "TOKEN_REUSED"
	CodeForbidden        = "FORBIDDEN"
	CodeNotFound         = "NOT_FOUND"
	CodeMethodNotAllowed = "METHOD_NOT_ALLOWED"
	CodeConflict         = "CONFLICT"
	CodeTooLarge         = "PAYLOAD_TOO_LARGE"
	CodeUnsupportedMedia = "UNSUPPORTED_MEDIA_TYPE"
	CodeUnprocessable    = "UNPROCESSABLE_ENTITY"
	CodeRateLimited      = "RATE_LIMITED"
	CodeLimitExceeded    = "LIMIT_EXCEEDED"
	CodeInternal         = "INTERNAL_SERVER_ERROR"
	CodeUnavailable      = "SERVICE_UNAVAILABLE"
	// CodeNotSponsored: the treasury will not pay this operation's network
	// fees (policy, monthly allowance); 402.
	CodeNotSponsored = "NOT_SPONSORED"
)

func errValidation(msg string, details map[string]any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeValidation, Message: msg, Details: details}
}

func errField(field, problem string) *Error {
	return errValidation("invalid request: "+field+": "+problem, map[string]any{"field": field, "problem": problem})
}

func errUnauthorized(msg string) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: msg,
		Header: map[string]string{"WWW-Authenticate": `Bearer realm="gatewayd"`}}
}

func errInvalidToken(msg string) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: msg,
		Header: map[string]string{"WWW-Authenticate": `Bearer realm="gatewayd", error="invalid_token"`}}
}

func errForbidden(reason string) *Error {
	return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: reason}
}

func errNotFound(what string) *Error {
	return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: what + " not found"}
}

func errInternal() *Error {
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "an unexpected error occurred"}
}
