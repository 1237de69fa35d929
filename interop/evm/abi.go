package evm

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"golang.org/x/crypto/sha3"
)

// Keccak256 is the legacy Keccak-256 hash Ethereum uses.
func Keccak256(parts ...[]byte) [32]byte {
	h := sha3.NewLegacyKeccak256()
	for _, p := range parts {
		h.Write(p)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Namehash is EIP-137's namehash of an already normalised name.
func Namehash(name string) [32]byte {
	var node [32]byte
	if name == "" {
		return node
	}
	labels := strings.Split(name, ".")
	for i := len(labels) - 1; i >= 0; i-- {
		l := Keccak256([]byte(labels[i]))
		node = Keccak256(node[:], l[:])
	}
	return node
}

// Labelhash is keccak256 of one label.
func Labelhash(label string) [32]byte { return Keccak256([]byte(label)) }

// Addr is an address argument ("0x" and 40 hex digits).
type Addr string

// Uint is a uint256 argument that fits in 64 bits.
type Uint uint64

// Bool is a bool argument.
type Bool bool

// Str is a string argument; Strs a string[] one; Bytes a bytes one.
type (
	Str   string
	Strs  []string
	Bytes []byte
)

// Calldata encodes a call of the function with signature sig (e.g.
// "setAddr(bytes32,address)") with args: [32]byte (bytes32 or a uint256
// given as its big-endian word), Addr, Uint, Bool, Str, Strs, Bytes.
func Calldata(sig string, args ...any) []byte {
	sel := Keccak256([]byte(sig))
	head := make([]byte, 0, 32*len(args))
	var tail []byte
	base := 32 * len(args)
	for _, a := range args {
		switch v := a.(type) {
		case [32]byte:
			head = append(head, v[:]...)
		case Addr:
			b, err := hex.DecodeString(strings.TrimPrefix(string(v), "0x"))
			if err != nil || len(b) != 20 {
				panic(fmt.Sprintf("evm: bad address %q", v))
			}
			head = append(head, make([]byte, 12)...)
			head = append(head, b...)
		case Uint:
			head = append(head, word(uint64(v))...)
		case Bool:
			n := uint64(0)
			if v {
				n = 1
			}
			head = append(head, word(n)...)
		case Str:
			head = append(head, word(uint64(base+len(tail)))...)
			tail = append(tail, dyn([]byte(v))...)
		case Bytes:
			head = append(head, word(uint64(base+len(tail)))...)
			tail = append(tail, dyn(v)...)
		case Strs:
			head = append(head, word(uint64(base+len(tail)))...)
			tail = append(tail, strs(v)...)
		default:
			panic(fmt.Sprintf("evm: unsupported argument %T", a))
		}
	}
	return append(append(sel[:4:4], head...), tail...)
}

func word(n uint64) []byte {
	w := make([]byte, 32)
	binary.BigEndian.PutUint64(w[24:], n)
	return w
}

func dyn(b []byte) []byte {
	out := word(uint64(len(b)))
	out = append(out, b...)
	if r := len(b) % 32; r != 0 {
		out = append(out, make([]byte, 32-r)...)
	}
	return out
}

func strs(ss []string) []byte {
	out := word(uint64(len(ss)))
	heads := make([]byte, 0, 32*len(ss))
	var tails []byte
	for _, s := range ss {
		heads = append(heads, word(uint64(32*len(ss)+len(tails)))...)
		tails = append(tails, dyn([]byte(s))...)
	}
	return append(append(out, heads...), tails...)
}

// WordAddress reads the address in the last 20 bytes of the first word of
// ret, as "0x" and lowercase hex.
func WordAddress(ret []byte) (string, error) {
	if len(ret) < 32 {
		return "", fmt.Errorf("evm: %d bytes returned, want a word", len(ret))
	}
	return "0x" + hex.EncodeToString(ret[12:32]), nil
}

// WordUint reads the first word of ret as a uint64.
func WordUint(ret []byte) (uint64, error) {
	if len(ret) < 32 {
		return 0, fmt.Errorf("evm: %d bytes returned, want a word", len(ret))
	}
	return binary.BigEndian.Uint64(ret[24:32]), nil
}
