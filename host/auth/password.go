package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters for new hashes: the OWASP recommendation
// (m=19 MiB, t=2, p=1).
const (
	argonMemory  = 19456 // KiB
	argonTime    = 2
	argonThreads = 1
	argonSaltLen = 16
	argonKeyLen  = 32
)

// Bounds on parameters read back from a stored hash, so that a hostile or
// corrupt string cannot make a verification allocate or compute without
// limit.
const (
	maxArgonMemory  = 64 * 1024 // KiB
	maxArgonTime    = 10
	maxArgonThreads = 8
	minArgonSaltLen = 8
	maxArgonSaltLen = 64
	minArgonKeyLen  = 16
	maxArgonKeyLen  = 64
)

// ErrPasswordHash is returned for a stored password hash that cannot be
// parsed or has parameters out of bounds.
var ErrPasswordHash = errors.New("auth: invalid password hash")

var b64std = base64.RawStdEncoding.Strict()

// argonSlots bounds the number of argon2 computations running at once: each
// holds 19 MiB, so a burst of logins must queue rather than exhaust memory.
var argonSlots = make(chan struct{}, max(4, 2*runtime.GOMAXPROCS(0)))

func argonKey(pw, salt []byte, t, m uint32, p uint8, keyLen uint32) []byte {
	argonSlots <- struct{}{}
	defer func() { <-argonSlots }()
	return argon2.IDKey(pw, salt, t, m, p, keyLen)
}

// HashPassword hashes pw with argon2id and a random salt and returns the PHC
// string $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func HashPassword(pw string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: salt: %w", err)
	}
	key := argonKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads,
		b64std.EncodeToString(salt), b64std.EncodeToString(key)), nil
}

// VerifyPassword reports whether pw matches the PHC string encoded. It
// returns an error (wrapping ErrPasswordHash) only if encoded is not a valid
// argon2id hash within bounds.
func VerifyPassword(encoded, pw string) (ok bool, err error) {
	ph, err := parsePHC(encoded)
	if err != nil {
		return false, err
	}
	key := argonKey([]byte(pw), ph.salt, ph.t, ph.m, ph.p, uint32(len(ph.key)))
	return subtle.ConstantTimeCompare(key, ph.key) == 1, nil
}

// dummyHash is a hash of a random password, made on first use.
var dummyHash = sync.OnceValue(func() string {
	h, err := HashPassword(rand.Text())
	if err != nil {
		panic(err)
	}
	return h
})

// DummyVerify spends the time of one VerifyPassword. Call it when a login
// names an unknown account, so that timing does not reveal which accounts
// exist.
func DummyVerify() {
	VerifyPassword(dummyHash(), "not the password")
}

type phc struct {
	m, t      uint32
	p         uint8
	salt, key []byte
}

// parsePHC parses $argon2id$v=19$m=M,t=T,p=P$salt$hash strictly.
func parsePHC(s string) (*phc, error) {
	if len(s) > 512 {
		return nil, fmt.Errorf("%w: too long", ErrPasswordHash)
	}
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" {
		return nil, fmt.Errorf("%w: want 5 fields", ErrPasswordHash)
	}
	if f[1] != "argon2id" {
		return nil, fmt.Errorf("%w: algorithm is not argon2id", ErrPasswordHash)
	}
	if f[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, fmt.Errorf("%w: unsupported version", ErrPasswordHash)
	}
	params := strings.Split(f[3], ",")
	if len(params) != 3 {
		return nil, fmt.Errorf("%w: want m,t,p parameters", ErrPasswordHash)
	}
	m, err1 := phcParam(params[0], "m=", 8, maxArgonMemory)
	t, err2 := phcParam(params[1], "t=", 1, maxArgonTime)
	p, err3 := phcParam(params[2], "p=", 1, maxArgonThreads)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	if m < 8*p {
		return nil, fmt.Errorf("%w: m below 8*p", ErrPasswordHash)
	}
	salt, err := b64std.DecodeString(f[4])
	if err != nil || len(salt) < minArgonSaltLen || len(salt) > maxArgonSaltLen {
		return nil, fmt.Errorf("%w: bad salt", ErrPasswordHash)
	}
	key, err := b64std.DecodeString(f[5])
	if err != nil || len(key) < minArgonKeyLen || len(key) > maxArgonKeyLen {
		return nil, fmt.Errorf("%w: bad hash", ErrPasswordHash)
	}
	return &phc{m: m, t: t, p: uint8(p), salt: salt, key: key}, nil
}

func phcParam(s, name string, lo, hi uint32) (uint32, error) {
	v, ok := strings.CutPrefix(s, name)
	if !ok {
		return 0, fmt.Errorf("%w: want parameter %s", ErrPasswordHash, strings.TrimSuffix(name, "="))
	}
	// Digits only: ParseUint would accept "+1" or "0x10" with base 0, and a
	// leading zero makes the string non-canonical.
	if v == "" || len(v) > 10 || (len(v) > 1 && v[0] == '0') || strings.TrimLeft(v, "0123456789") != "" {
		return 0, fmt.Errorf("%w: bad parameter %s", ErrPasswordHash, strings.TrimSuffix(name, "="))
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || uint32(n) < lo || uint32(n) > hi {
		return 0, fmt.Errorf("%w: parameter %s out of range", ErrPasswordHash, strings.TrimSuffix(name, "="))
	}
	return uint32(n), nil
}
