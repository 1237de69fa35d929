package schema

import (
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Integrity of the schema document (vc-json-schema § 4.1, VC Data Model 2.0
// § 5.3 Integrity of Related Resources): a credentialSchema entry may carry
// digestSRI (Subresource Integrity hash expressions) and digestMultibase
// (a multibase-encoded multihash, VC Data Integrity § 2.6). Both are
// computed over the bytes of the document as dereferenced.

// digests holds every digest of a document that an entry may name.
type digests struct {
	sha256, sha384, sha512       []byte
	sha3_256, sha3_384, sha3_512 []byte
}

func digestsOf(b []byte) digests {
	s256 := sha256.Sum256(b)
	s384 := sha512.Sum384(b)
	s512 := sha512.Sum512(b)
	t256 := sha3.Sum256(b)
	t384 := sha3.Sum384(b)
	t512 := sha3.Sum512(b)
	return digests{
		sha256: s256[:], sha384: s384[:], sha512: s512[:],
		sha3_256: t256[:], sha3_384: t384[:], sha3_512: t512[:],
	}
}

// sriHash is one hash expression of an SRI integrity value.
type sriHash struct {
	alg    string // sha256, sha384 or sha512
	digest []byte
}

// sriStrength orders the SRI algorithms (SRI § 3.3.3 getPrioritizedHashFunction).
var sriStrength = map[string]int{"sha256": 1, "sha384": 2, "sha512": 3}

var sriSize = map[string]int{"sha256": 32, "sha384": 48, "sha512": 64}

// parseSRI reads integrity metadata: hash expressions separated by white
// space, each alg-base64[?options]. Expressions with an unknown algorithm
// are ignored, as SRI says; at least one must be usable. Of the usable
// ones it returns those of the strongest algorithm, the only ones SRI
// compares.
func parseSRI(s string) ([]sriHash, error) {
	var all []sriHash
	for _, tok := range strings.Fields(s) {
		alg, val, ok := strings.Cut(tok, "-")
		if !ok {
			continue
		}
		alg = strings.ToLower(alg)
		size, known := sriSize[alg]
		if !known {
			continue
		}
		val, _, _ = strings.Cut(val, "?")
		d, err := base64.StdEncoding.DecodeString(val)
		if err != nil {
			d, err = base64.RawStdEncoding.DecodeString(val)
		}
		if err != nil || len(d) != size {
			return nil, fmt.Errorf("%s hash expression is not a base64 %d-byte digest", alg, size)
		}
		all = append(all, sriHash{alg: alg, digest: d})
	}
	if len(all) == 0 {
		return nil, errors.New("no sha256, sha384 or sha512 hash expression")
	}
	best := 0
	for _, h := range all {
		best = max(best, sriStrength[h.alg])
	}
	var out []sriHash
	for _, h := range all {
		if sriStrength[h.alg] == best {
			out = append(out, h)
		}
	}
	return out, nil
}

// matchSRI reports whether d matches one of the strongest hash expressions.
func (d digests) matchSRI(hs []sriHash) bool {
	for _, h := range hs {
		var have []byte
		switch h.alg {
		case "sha256":
			have = d.sha256
		case "sha384":
			have = d.sha384
		case "sha512":
			have = d.sha512
		}
		if have != nil && subtle.ConstantTimeCompare(have, h.digest) == 1 {
			return true
		}
	}
	return false
}

// multihash is a decoded multihash.
type multihash struct {
	code   uint64
	digest []byte
}

// Multihash codes (multicodec table) accepted for digestMultibase.
const (
	mhSHA2_256 = 0x12
	mhSHA2_512 = 0x13
	mhSHA3_512 = 0x14
	mhSHA3_384 = 0x15
	mhSHA3_256 = 0x16
	mhSHA2_384 = 0x20
)

var mhSize = map[uint64]int{
	mhSHA2_256: 32, mhSHA2_384: 48, mhSHA2_512: 64,
	mhSHA3_256: 32, mhSHA3_384: 48, mhSHA3_512: 64,
}

// parseMultibaseDigest decodes a digestMultibase value: multibase base64url
// without padding ('u', what VC Data Model 2.0 uses) or base58btc ('z'),
// holding a SHA-2 or SHA-3 multihash.
func parseMultibaseDigest(s string) (multihash, error) {
	if s == "" {
		return multihash{}, errors.New("empty")
	}
	var raw []byte
	var err error
	switch s[0] {
	case 'u':
		raw, err = base64.RawURLEncoding.DecodeString(s[1:])
	case 'z':
		raw, err = decodeBase58(s[1:])
	default:
		return multihash{}, fmt.Errorf("multibase prefix %q not supported (use u or z)", s[:1])
	}
	if err != nil {
		return multihash{}, fmt.Errorf("bad multibase encoding: %w", err)
	}
	code, n := binary.Uvarint(raw)
	if n <= 0 {
		return multihash{}, errors.New("bad multihash code")
	}
	raw = raw[n:]
	size, n := binary.Uvarint(raw)
	if n <= 0 {
		return multihash{}, errors.New("bad multihash length")
	}
	raw = raw[n:]
	want, ok := mhSize[code]
	if !ok {
		return multihash{}, fmt.Errorf("multihash code 0x%x not supported (SHA-2 or SHA-3 256/384/512)", code)
	}
	if size != uint64(want) || len(raw) != want {
		return multihash{}, fmt.Errorf("multihash length %d, want %d", len(raw), want)
	}
	return multihash{code: code, digest: raw}, nil
}

// matchMultihash reports whether d matches the multihash.
func (d digests) matchMultihash(m multihash) bool {
	var have []byte
	switch m.code {
	case mhSHA2_256:
		have = d.sha256
	case mhSHA2_384:
		have = d.sha384
	case mhSHA2_512:
		have = d.sha512
	case mhSHA3_256:
		have = d.sha3_256
	case mhSHA3_384:
		have = d.sha3_384
	case mhSHA3_512:
		have = d.sha3_512
	}
	return have != nil && subtle.ConstantTimeCompare(have, m.digest) == 1
}

// checkIntegrity compares the entry's digests with those of the document.
// Every digest given must match.
func (e entry) checkIntegrity(d digests) *failure {
	if e.digestSRI != "" {
		hs, err := parseSRI(e.digestSRI)
		if err != nil {
			return failf(Failure, "digestSRI: %v", err)
		}
		if !d.matchSRI(hs) {
			return failf(Failure, "digestSRI does not match the dereferenced schema document (vc-json-schema § 4.1)")
		}
	}
	for _, s := range e.digestMultibase {
		m, err := parseMultibaseDigest(s)
		if err != nil {
			return failf(Failure, "digestMultibase: %v", err)
		}
		if !d.matchMultihash(m) {
			return failf(Failure, "digestMultibase does not match the dereferenced schema document (vc-json-schema § 4.1)")
		}
	}
	return nil
}

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

var base58Index = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(base58Alphabet); i++ {
		t[base58Alphabet[i]] = int8(i)
	}
	return t
}()

// decodeBase58 decodes Bitcoin base58. Input is bounded by the caller's
// document limits; the quadratic loop is fine for digest-sized values, and
// longer inputs are refused.
func decodeBase58(s string) ([]byte, error) {
	if len(s) > 128 {
		return nil, errors.New("too long for a digest")
	}
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	out := []byte{} // big-endian magnitude
	for i := zeros; i < len(s); i++ {
		c := base58Index[s[i]]
		if c < 0 {
			return nil, fmt.Errorf("invalid base58 character %q", s[i])
		}
		carry := int(c)
		for j := len(out) - 1; j >= 0; j-- {
			carry += int(out[j]) * 58
			out[j] = byte(carry)
			carry >>= 8
		}
		for carry > 0 {
			out = append([]byte{byte(carry)}, out...)
			carry >>= 8
		}
	}
	return append(make([]byte, zeros), out...), nil
}
