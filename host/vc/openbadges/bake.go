package openbadges

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// MaxImageBytes bounds an image given to the bake and unbake functions.
const MaxImageBytes = 5 << 20

// Errors of the bake and unbake functions, wrapped with the details.
var (
	// ErrNotBaked: the image is well formed but carries no credential.
	ErrNotBaked = errors.New("openbadges: image has no baked credential")
	// ErrBadCredential: the credential to bake, or the one found in an image, is neither a JSON
	// object nor a compact JWS.
	ErrBadCredential = errors.New("openbadges: credential is neither a JSON object nor a compact JWS")
)

// checkCredentialForm reports whether b is a compact JWS (three base64url segments, the middle
// one possibly empty, as the schema's CompactJws) or else a JSON object, and refuses anything
// else. A JWS has no surrounding whitespace; JSON may.
func checkCredentialForm(b []byte) (jws bool, err error) {
	if len(b) > MaxCredentialBytes {
		return false, fmt.Errorf("%w: credential of %d bytes (at most %d)", ErrTooLarge, len(b), MaxCredentialBytes)
	}
	if isCompactJWS(b) {
		return true, nil
	}
	t := bytes.TrimSpace(b)
	if len(t) == 0 || t[0] != '{' || !utf8.Valid(t) || !json.Valid(t) {
		return false, ErrBadCredential
	}
	return false, nil
}

// isCompactJWS matches ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$.
func isCompactJWS(b []byte) bool {
	parts := bytes.Split(b, []byte("."))
	if len(parts) != 3 || len(parts[0]) == 0 || len(parts[2]) == 0 {
		return false
	}
	for _, p := range parts {
		for _, c := range p {
			if !isAlnum(c) && c != '-' && c != '_' {
				return false
			}
		}
	}
	return true
}
