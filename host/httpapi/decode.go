package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// decodeJSON decodes body into v strictly: the content type must be JSON,
// the body one JSON object with no unknown fields and nothing after it.
// Every failure is a 400 or 415 *Error whose details name the problem.
func decodeJSON(contentType string, body []byte, v any) *Error {
	if !isJSONContentType(contentType) {
		return &Error{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedMedia,
			Message: "request body must be application/json", Details: map[string]any{"contentType": contentType}}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return errValidation("request body is empty", nil)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errValidation("request body must hold a single JSON value", nil)
	}
	return nil
}

func isJSONContentType(ct string) bool {
	if ct == "" {
		return false
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

func jsonError(err error) *Error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return errValidation("malformed JSON", map[string]any{"offset": syn.Offset, "problem": syn.Error()})
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(body)"
		}
		return errValidation(fmt.Sprintf("invalid request: %s must be %s", field, typ.Type),
			map[string]any{"field": field, "problem": "must be " + typeName(typ.Type.String())})
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errValidation("malformed JSON: unexpected end of input", nil)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return errValidation("invalid request: unknown field "+f, map[string]any{"field": f, "problem": "unknown field"})
	default:
		return errValidation("malformed JSON", map[string]any{"problem": err.Error()})
	}
}

func typeName(t string) string {
	switch t {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int64", "float64":
		return "a number"
	}
	if strings.HasPrefix(t, "[]") {
		return "an array"
	}
	return "an object"
}
