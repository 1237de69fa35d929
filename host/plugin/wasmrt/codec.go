package wasmrt

import (
	"encoding/json"
	"fmt"

	abiv1 "github.com/ubeu/gateway/abi/v1"
)

// The encodings of the capability messages. These are placeholders (JSON)
// until the generated abiv1 messages are wired in; only this file changes
// then.

// Error codes of capability responses.
const (
	codeInvalid     = "invalid_argument"
	codeNotFound    = "not_found"
	codeConflict    = "conflict"
	codeQuota       = "resource_exhausted"
	codeDenied      = "permission_denied"
	codeTooLarge    = "too_large"
	codeUnavailable = "unavailable"
)

type httpRequest struct {
	Method string      `json:"method"`
	URL    string      `json:"url"`
	Header [][2]string `json:"header,omitempty"`
	Body   []byte      `json:"body,omitempty"`
}

type httpResponse struct {
	Status int         `json:"status,omitempty"`
	Header [][2]string `json:"header,omitempty"`
	Body   []byte      `json:"body,omitempty"`
	Code   string      `json:"code,omitempty"`
	Error  string      `json:"error,omitempty"`
}

func decodeHTTPRequest(b []byte) (*httpRequest, error) {
	r := new(httpRequest)
	return r, json.Unmarshal(b, r)
}

func encodeHTTPResponse(r *httpResponse, code string, err error) []byte {
	if r == nil {
		r = &httpResponse{}
	}
	r.Code = code
	if err != nil {
		r.Error = err.Error()
	}
	b, _ := json.Marshal(r)
	return b
}

type kvRequest struct {
	Key     string `json:"key,omitempty"`
	Value   []byte `json:"value,omitempty"`
	Version uint64 `json:"version,omitempty"`
	Absent  bool   `json:"absent,omitempty"`
	Prefix  string `json:"prefix,omitempty"`
	After   string `json:"after,omitempty"`
	Limit   int    `json:"limit,omitempty"`
}

type kvItem struct {
	Key     string `json:"key"`
	Value   []byte `json:"value"`
	Version uint64 `json:"version"`
}

type kvResponse struct {
	Value   []byte   `json:"value,omitempty"`
	Version uint64   `json:"version,omitempty"`
	Items   []kvItem `json:"items,omitempty"`
	Code    string   `json:"code,omitempty"`
	Error   string   `json:"error,omitempty"`
}

func decodeKVRequest(b []byte) (*kvRequest, error) {
	r := new(kvRequest)
	return r, json.Unmarshal(b, r)
}

func encodeKVResponse(r *kvResponse) []byte {
	b, _ := json.Marshal(r)
	return b
}

type secretResponse struct {
	Value []byte `json:"value,omitempty"`
	Code  string `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
}

func encodeSecretResponse(v []byte, code string, err error) []byte {
	r := secretResponse{Value: v, Code: code}
	if err != nil {
		r.Error = err.Error()
	}
	b, _ := json.Marshal(r)
	return b
}

// decodeAppError decodes the output of a call that returned status 1: an
// encoded abiv1.Error, returned as is so that callers test it with
// errors.As. An output that does not decode is an ABI failure.
func decodeAppError(p *Plugin, method uint32, out []byte) error {
	e := new(abiv1.Error)
	if err := e.Unmarshal(out); err != nil {
		return &PluginError{Plugin: p.name, Method: method, Cause: fmt.Errorf("%w: error output does not decode: %w", ErrABI, err)}
	}
	return e
}
