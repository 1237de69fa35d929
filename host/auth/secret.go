package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

// Refresh-token format: "gwr_" followed by 32 random bytes in unpadded
// base64url (43 characters).
const (
	refreshPrefix    = "gwr_"
	refreshSecretLen = 43
	refreshTokenLen  = len(refreshPrefix) + refreshSecretLen
)

// API-key format: "gwk_" <12-character base32 prefix> "_" <43-character
// base62 secret>. The fixed shape lets secret-scanning tools recognise a
// leaked key; the prefix is the public lookup handle stored with the key.
const (
	apiKeyTag       = "gwk_"
	apiPrefixLen    = 12
	apiSecretLen    = 43 // 43 base62 digits carry 256 bits
	apiKeyLen       = len(apiKeyTag) + apiPrefixLen + 1 + apiSecretLen
	base32Lower     = "abcdefghijklmnopqrstuvwxyz234567"
	base62Alphabet  = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	base62Rejection = 248 // largest multiple of 62 not above 256
)

// ErrBadToken is returned for a refresh token or API key that is not well
// formed.
var ErrBadToken = errors.New("auth: malformed credential")

var b64url = base64.RawURLEncoding.Strict()

// NewRefreshToken returns a new refresh token and the hex SHA-256 under
// which it is stored.
func NewRefreshToken() (token, hash string) {
	var b [32]byte
	rand.Read(b[:]) // never fails; crashes the program if the OS cannot supply randomness
	token = refreshPrefix + b64url.EncodeToString(b[:])
	return token, hashHex(token)
}

// HashRefreshToken checks the format of a presented refresh token and
// returns its hex SHA-256.
func HashRefreshToken(token string) (string, error) {
	if len(token) != refreshTokenLen || !strings.HasPrefix(token, refreshPrefix) {
		return "", ErrBadToken
	}
	var b [33]byte
	n, err := b64url.Decode(b[:], []byte(token[len(refreshPrefix):]))
	if err != nil || n != 32 {
		return "", ErrBadToken
	}
	return hashHex(token), nil
}

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// NewAPIKey returns a new enterprise API key, its public prefix (the lookup
// handle) and the SHA-256 of the whole key, which is what is stored.
func NewAPIKey() (key, prefix string, secretHash []byte, err error) {
	var buf [apiKeyLen]byte
	copy(buf[:], apiKeyTag)
	p := buf[len(apiKeyTag) : len(apiKeyTag)+apiPrefixLen]
	var rnd [apiPrefixLen]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", "", nil, err
	}
	for i, r := range rnd {
		p[i] = base32Lower[r&31]
	}
	buf[len(apiKeyTag)+apiPrefixLen] = '_'
	s := buf[len(apiKeyTag)+apiPrefixLen+1:]
	if err := randomBase62(s); err != nil {
		return "", "", nil, err
	}
	key = string(buf[:])
	sum := sha256.Sum256(buf[:])
	return key, string(p), sum[:], nil
}

// randomBase62 fills dst with uniformly random base62 digits.
func randomBase62(dst []byte) error {
	var pool [64]byte
	n := 0
	for i := 0; i < len(dst); {
		if n == 0 {
			if _, err := rand.Read(pool[:]); err != nil {
				return err
			}
			n = len(pool)
		}
		n--
		if b := pool[n]; b < base62Rejection {
			dst[i] = base62Alphabet[b%62]
			i++
		}
	}
	return nil
}

// ParseAPIKey checks the format of a presented API key and returns its
// public prefix.
func ParseAPIKey(key string) (prefix string, err error) {
	if len(key) != apiKeyLen || !strings.HasPrefix(key, apiKeyTag) || key[len(apiKeyTag)+apiPrefixLen] != '_' {
		return "", ErrBadToken
	}
	prefix = key[len(apiKeyTag) : len(apiKeyTag)+apiPrefixLen]
	for i := 0; i < len(prefix); i++ {
		if strings.IndexByte(base32Lower, prefix[i]) < 0 {
			return "", ErrBadToken
		}
	}
	secret := key[len(apiKeyTag)+apiPrefixLen+1:]
	for i := 0; i < len(secret); i++ {
		if !isBase62(secret[i]) {
			return "", ErrBadToken
		}
	}
	return prefix, nil
}

func isBase62(c byte) bool {
	return '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
}

// APIKeyMatches reports whether key hashes to storedHash, comparing in
// constant time.
func APIKeyMatches(storedHash []byte, key string) bool {
	sum := sha256.Sum256([]byte(key))
	return len(storedHash) == sha256.Size && subtle.ConstantTimeCompare(storedHash, sum[:]) == 1
}

// LooksLikeJWT reports whether s has the shape of a compact JWS: three
// non-empty base64url parts separated by dots. It does not validate anything;
// it lets the HTTP layer tell "Bearer <jwt>" from "Bearer gwk_...".
func LooksLikeJWT(s string) bool {
	parts, part := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if part == 0 {
				return false
			}
			parts++
			part = 0
		case isBase62(c) || c == '-' || c == '_':
			part++
		default:
			return false
		}
	}
	return parts == 2 && part > 0
}
