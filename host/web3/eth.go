// Package web3 is the host side of external Web3 names (.eth and the
// Unstoppable Domains TLDs): proving that a user's wallet owns a name with
// a Sign-In with Ethereum message, and resolving such names to DIDs.
//
// It holds the Ethereum primitives the proof needs, each from its spec:
//   - EIP-4361 Sign-In with Ethereum messages, built and strictly parsed
//     (https://eips.ethereum.org/EIPS/eip-4361, ABNF Message Format);
//   - EIP-191 personal_sign hashing, version 0x45
//     (https://eips.ethereum.org/EIPS/eip-191);
//   - secp256k1 public-key recovery from 65-byte r||s||v signatures, with
//     low-s enforced (EIP-2 rule, https://eips.ethereum.org/EIPS/eip-2);
//   - EIP-55 mixed-case checksum addresses
//     (https://eips.ethereum.org/EIPS/eip-55);
//   - did:pkh identifiers over CAIP-10 account IDs
//     (https://github.com/w3c-ccg/did-pkh/blob/main/did-pkh-method-draft.md,
//     https://github.com/ChainAgnostic/CAIPs/blob/main/CAIPs/caip-10.md).
//
// Ownership itself is answered by the resolver plugins (plugins/ens,
// plugins/unstoppable) through the abiv1.Resolver interface; see Service.
package web3

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"golang.org/x/crypto/sha3"
)

// Errors of the signature and address primitives; test with errors.Is.
var (
	ErrAddress   = errors.New("web3: invalid Ethereum address")
	ErrSignature = errors.New("web3: invalid signature")
)

// Keccak256 is the legacy Keccak-256 of Ethereum (not FIPS 202 SHA3-256).
func Keccak256(parts ...[]byte) []byte {
	h := sha3.NewLegacyKeccak256()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// PersonalHash is the EIP-191 version 0x45 ("personal_sign") hash of msg:
// keccak256("\x19Ethereum Signed Message:\n" + len(msg) + msg), the length
// in decimal ASCII.
func PersonalHash(msg []byte) []byte {
	return Keccak256([]byte("\x19Ethereum Signed Message:\n"+strconv.Itoa(len(msg))), msg)
}

// ChecksumAddress returns the EIP-55 encoding of a 20-byte address.
func ChecksumAddress(addr [20]byte) string {
	lower := hex.EncodeToString(addr[:])
	h := Keccak256([]byte(lower))
	out := make([]byte, 2, 42)
	out[0], out[1] = '0', 'x'
	for i := 0; i < len(lower); i++ {
		c := lower[i]
		nibble := h[i/2]
		if i%2 == 0 {
			nibble >>= 4
		}
		if c >= 'a' && nibble&0xf >= 8 {
			c -= 'a' - 'A'
		}
		out = append(out, c)
	}
	return string(out)
}

// ParseAddress parses "0x" and 40 hex digits. An all-lower-case or
// all-upper-case address is accepted as is; a mixed-case one must carry a
// valid EIP-55 checksum (a typo in it is then caught). It returns the
// address and its EIP-55 form.
func ParseAddress(s string) ([20]byte, string, error) {
	var a [20]byte
	if len(s) != 42 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') {
		return a, "", fmt.Errorf("%w: want 0x and 40 hex digits", ErrAddress)
	}
	digits := s[2:]
	if _, err := hex.Decode(a[:], []byte(digits)); err != nil {
		return a, "", fmt.Errorf("%w: not hexadecimal", ErrAddress)
	}
	sum := ChecksumAddress(a)
	hasLower, hasUpper := false, false
	for i := 0; i < len(digits); i++ {
		switch c := digits[i]; {
		case c >= 'a' && c <= 'f':
			hasLower = true
		case c >= 'A' && c <= 'F':
			hasUpper = true
		}
	}
	if hasLower && hasUpper && sum[2:] != digits {
		return a, "", fmt.Errorf("%w: EIP-55 checksum mismatch", ErrAddress)
	}
	return a, sum, nil
}

// PubkeyAddress is the Ethereum address of a public key: the last 20 bytes
// of the Keccak-256 of its uncompressed X||Y coordinates.
func PubkeyAddress(pub *secp256k1.PublicKey) [20]byte {
	var a [20]byte
	copy(a[:], Keccak256(pub.SerializeUncompressed()[1:])[12:])
	return a
}

// SignatureLen is the length of an Ethereum signature: r (32), s (32), v (1).
const SignatureLen = 65

// DecodeSignature decodes a hex signature ("0x" optional) of exactly 65
// bytes r||s||v. v must be 27 or 28 (or 0 or 1, as some wallets and
// hardware devices send); r and s must be in [1, n-1] and s in the lower
// half of the order (EIP-2), so that a signature has one encoding only.
// It returns the signature in the compact form ecdsa.RecoverCompact takes:
// 27+recid, r, s.
func DecodeSignature(s string) ([SignatureLen]byte, error) {
	var out [SignatureLen]byte
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s = s[2:]
	}
	if len(s) != 2*SignatureLen {
		return out, fmt.Errorf("%w: want %d bytes (r, s, v), got %d hex digits", ErrSignature, SignatureLen, len(s))
	}
	var raw [SignatureLen]byte
	if _, err := hex.Decode(raw[:], []byte(s)); err != nil {
		return out, fmt.Errorf("%w: not hexadecimal", ErrSignature)
	}
	v := raw[64]
	switch v {
	case 27, 28:
		v -= 27
	case 0, 1:
	default:
		return out, fmt.Errorf("%w: v must be 27 or 28 (or 0 or 1), got %d", ErrSignature, raw[64])
	}
	var r, sc secp256k1.ModNScalar
	if r.SetByteSlice(raw[:32]) || r.IsZero() {
		return out, fmt.Errorf("%w: r out of range", ErrSignature)
	}
	if sc.SetByteSlice(raw[32:64]) || sc.IsZero() {
		return out, fmt.Errorf("%w: s out of range", ErrSignature)
	}
	if sc.IsOverHalfOrder() {
		return out, fmt.Errorf("%w: s is not in the lower half of the curve order (EIP-2)", ErrSignature)
	}
	out[0] = 27 + v
	copy(out[1:], raw[:64])
	return out, nil
}

// RecoverAddress recovers the address that made sig (as DecodeSignature
// returns it) over the 32-byte hash.
func RecoverAddress(hash []byte, sig [SignatureLen]byte) ([20]byte, error) {
	pub, _, err := ecdsa.RecoverCompact(sig[:], hash)
	if err != nil {
		return [20]byte{}, fmt.Errorf("%w: %v", ErrSignature, err)
	}
	return PubkeyAddress(pub), nil
}

// RecoverPersonal decodes a personal_sign signature over msg and returns
// the EIP-55 address of its signer.
func RecoverPersonal(msg []byte, sigHex string) (string, error) {
	sig, err := DecodeSignature(sigHex)
	if err != nil {
		return "", err
	}
	a, err := RecoverAddress(PersonalHash(msg), sig)
	if err != nil {
		return "", err
	}
	return ChecksumAddress(a), nil
}

// SignPersonal signs msg with key as personal_sign does and returns the
// 0x-prefixed hex r||s||v with v 27 or 28 (for tests and tools).
func SignPersonal(key *secp256k1.PrivateKey, msg []byte) string {
	c := ecdsa.SignCompact(key, PersonalHash(msg), false)
	var out [SignatureLen]byte
	copy(out[:64], c[1:])
	out[64] = c[0] // 27 + recid for an uncompressed key
	return "0x" + hex.EncodeToString(out[:])
}
