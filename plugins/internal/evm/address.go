package evm

import (
	"encoding/hex"
	"errors"
	"strings"
)

// Address is a 20-byte Ethereum address.
type Address [20]byte

// ErrAddress is returned by ParseAddress for a string that is not an address.
var ErrAddress = errors.New("evm: not an Ethereum address (0x and 40 hex digits)")

// ErrChecksum is returned by ParseAddress for a mixed-case address whose
// EIP-55 checksum is wrong.
var ErrChecksum = errors.New("evm: address fails its EIP-55 checksum")

// ParseAddress parses "0x" and 40 hex digits. An all-lowercase or
// all-uppercase address is accepted as is; a mixed-case one must carry a
// valid EIP-55 checksum.
func ParseAddress(s string) (Address, error) {
	var a Address
	if len(s) != 42 || (s[:2] != "0x" && s[:2] != "0X") {
		return a, ErrAddress
	}
	h := s[2:]
	if _, err := hex.Decode(a[:], []byte(h)); err != nil {
		return Address{}, ErrAddress
	}
	if h != strings.ToLower(h) && h != strings.ToUpper(h) && a.Hex() != "0x"+h {
		return Address{}, ErrChecksum
	}
	return a, nil
}

// Hex returns the EIP-55 mixed-case checksum encoding of a.
func (a Address) Hex() string {
	lower := hex.EncodeToString(a[:])
	hash := Keccak256([]byte(lower))
	out := []byte("0x" + lower)
	for i := 0; i < 40; i++ {
		c := out[2+i]
		if c >= 'a' && c <= 'f' {
			nib := hash[i/2] >> 4
			if i%2 == 1 {
				nib = hash[i/2] & 0xf
			}
			if nib >= 8 {
				out[2+i] = c - 'a' + 'A'
			}
		}
	}
	return string(out)
}

// String is Hex.
func (a Address) String() string { return a.Hex() }

// IsZero reports whether a is the zero address.
func (a Address) IsZero() bool { return a == Address{} }
