package credentials

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"

	"github.com/mr-tron/base58"
)

// parseSRI parses a digestSRI value (W3C Subresource Integrity: "<alg>-<base64 digest>",
// VCDM 2.0 § 5.3 Integrity of Related Resources).
func parseSRI(s string) (func() hash.Hash, []byte, error) {
	alg, b64, ok := strings.Cut(s, "-")
	if !ok {
		return nil, nil, errors.New(`must be "<sha256|sha384|sha512>-<base64 digest>"`)
	}
	var h func() hash.Hash
	var n int
	switch alg {
	case "sha256":
		h, n = sha256.New, 32
	case "sha384":
		h, n = sha512.New384, 48
	case "sha512":
		h, n = sha512.New, 64
	default:
		return nil, nil, fmt.Errorf("unsupported hash algorithm %q", alg)
	}
	d, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(d) != n {
		return nil, nil, fmt.Errorf("not a base64 %s digest", alg)
	}
	return h, d, nil
}

// parseDigestMultibase parses a digestMultibase value: a multibase
// ("u" base64url without padding, or "z" base58btc) multihash of
// sha2-256 (0x12), sha2-384 (0x20) or sha2-512 (0x13).
func parseDigestMultibase(s string) (func() hash.Hash, []byte, error) {
	if len(s) < 2 {
		return nil, nil, errors.New("too short")
	}
	var b []byte
	var err error
	switch s[0] {
	case 'u':
		b, err = base64.RawURLEncoding.DecodeString(s[1:])
	case 'z':
		b, err = base58.Decode(s[1:])
	default:
		return nil, nil, errors.New(`multibase prefix must be "u" or "z"`)
	}
	if err != nil || len(b) < 2 {
		return nil, nil, errors.New("invalid multibase")
	}
	var h func() hash.Hash
	switch b[0] {
	case 0x12:
		h = sha256.New
	case 0x20:
		h = sha512.New384
	case 0x13:
		h = sha512.New
	default:
		return nil, nil, fmt.Errorf("unsupported multihash code 0x%x", b[0])
	}
	if int(b[1]) != h().Size() || len(b) != 2+h().Size() {
		return nil, nil, errors.New("multihash length does not match its algorithm")
	}
	return h, b[2:], nil
}

// digestMatches checks content against a relatedResource entry's
// digestSRI and digestMultibase (every one present must match).
func digestMatches(e map[string]any, content []byte) error {
	check := func(name string, h func() hash.Hash, want []byte) error {
		d := h()
		d.Write(content)
		if subtle.ConstantTimeCompare(d.Sum(nil), want) != 1 {
			return fmt.Errorf("%s does not match the resource", name)
		}
		return nil
	}
	if s, ok := e["digestSRI"].(string); ok {
		h, want, err := parseSRI(s)
		if err != nil {
			return fmt.Errorf("digestSRI: %w", err)
		}
		if err := check("digestSRI", h, want); err != nil {
			return err
		}
	}
	if s, ok := e["digestMultibase"].(string); ok {
		h, want, err := parseDigestMultibase(s)
		if err != nil {
			return fmt.Errorf("digestMultibase: %w", err)
		}
		if err := check("digestMultibase", h, want); err != nil {
			return err
		}
	}
	return nil
}
