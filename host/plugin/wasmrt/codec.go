package wasmrt

import "encoding/json"

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

// ApplicationError is the answer of a plugin that returned status 1: its
// output is the encoded Error message, left undecoded in Encoded.
type ApplicationError struct {
	Plugin  string
	Method  uint32
	Encoded []byte
}

func (e *ApplicationError) Error() string {
	return "plugin " + e.Plugin + ": application error (" + string(truncate(e.Encoded, 200)) + ")"
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

func decodeAppError(p *Plugin, method uint32, out []byte) error {
	return &ApplicationError{Plugin: p.name, Method: method, Encoded: out}
}
