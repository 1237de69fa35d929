package evm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Selector is the 4-byte function selector of a canonical signature such as
// "addr(bytes32,uint256)": the first 4 bytes of its Keccak-256.
func Selector(sig string) [4]byte {
	h := Keccak256([]byte(sig))
	return [4]byte(h[:4])
}

// Arguments of Encode. A [32]byte is a bytes32 (or a uint256 given as its
// big-endian word, as ENS and UNS token IDs are); the others are the types
// named.
type (
	// Uint is a uint256 that fits in 64 bits.
	Uint uint64
	// Bytes is a dynamic bytes argument.
	Bytes []byte
	// String is a string argument.
	String string
	// Strings is a string[] argument.
	Strings []string
)

// Encode returns the calldata of a call to the function with canonical
// signature sig and the arguments args (Solidity ABI, head/tail encoding).
// Supported argument types: [32]byte, Address, Uint, Bytes, String, Strings.
// It panics on any other type: calls are written in the plugins' code, not
// taken from input.
func Encode(sig string, args ...any) []byte {
	sel := Selector(sig)
	head := make([]byte, 0, 4+32*len(args))
	head = append(head, sel[:]...)
	var tail []byte
	base := 32 * len(args)
	for _, a := range args {
		switch v := a.(type) {
		case [32]byte:
			head = append(head, v[:]...)
		case Address:
			head = append(head, make([]byte, 12)...)
			head = append(head, v[:]...)
		case Uint:
			head = appendWord(head, uint64(v))
		case Bytes:
			head = appendWord(head, uint64(base+len(tail)))
			tail = appendDynamic(tail, v)
		case String:
			head = appendWord(head, uint64(base+len(tail)))
			tail = appendDynamic(tail, []byte(v))
		case Strings:
			head = appendWord(head, uint64(base+len(tail)))
			tail = appendWord(tail, uint64(len(v)))
			var heads, tails []byte
			for _, s := range v {
				heads = appendWord(heads, uint64(32*len(v)+len(tails)))
				tails = appendDynamic(tails, []byte(s))
			}
			tail = append(append(tail, heads...), tails...)
		default:
			panic(fmt.Sprintf("evm: Encode: unsupported argument type %T", a))
		}
	}
	return append(head, tail...)
}

func appendWord(b []byte, n uint64) []byte {
	var w [32]byte
	binary.BigEndian.PutUint64(w[24:], n)
	return append(b, w[:]...)
}

func appendDynamic(b, v []byte) []byte {
	b = appendWord(b, uint64(len(v)))
	b = append(b, v...)
	if r := len(v) % 32; r != 0 {
		b = append(b, make([]byte, 32-r)...)
	}
	return b
}

// ErrABI is wrapped by every decoding error: the returned data is not what
// the function's return type encodes to.
var ErrABI = errors.New("evm: malformed ABI return data")

func abiErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrABI}, args...)...)
}

// word returns the i-th 32-byte word of data.
func word(data []byte, i int) ([]byte, error) {
	if i < 0 || len(data)/32 <= i {
		return nil, abiErr("%d bytes, no word %d", len(data), i)
	}
	return data[32*i : 32*i+32], nil
}

// uintAt reads the i-th word as an integer that must fit in 64 bits (and,
// for offsets and lengths, in len(data)).
func uintAt(data []byte, i int) (uint64, error) {
	w, err := word(data, i)
	if err != nil {
		return 0, err
	}
	for _, c := range w[:24] {
		if c != 0 {
			return 0, abiErr("word %d over 64 bits", i)
		}
	}
	return binary.BigEndian.Uint64(w[24:]), nil
}

// DecodeWord returns the first word of data (a bytes32 or uint256 return).
func DecodeWord(data []byte) ([32]byte, error) {
	w, err := word(data, 0)
	if err != nil {
		return [32]byte{}, err
	}
	return [32]byte(w), nil
}

// DecodeUint64 decodes a uint256 return value that must fit in 64 bits.
func DecodeUint64(data []byte) (uint64, error) { return uintAt(data, 0) }

// DecodeAddress decodes an address return value; the 12 bytes above the
// address must be zero.
func DecodeAddress(data []byte) (Address, error) { return addressAt(data, 0) }

func addressAt(data []byte, i int) (Address, error) {
	w, err := word(data, i)
	if err != nil {
		return Address{}, err
	}
	for _, c := range w[:12] {
		if c != 0 {
			return Address{}, abiErr("word %d is not an address", i)
		}
	}
	return Address(w[12:]), nil
}

// DecodeBool decodes a bool return value (0 or 1, nothing else).
func DecodeBool(data []byte) (bool, error) {
	n, err := uintAt(data, 0)
	if err != nil {
		return false, err
	}
	if n > 1 {
		return false, abiErr("bool of value %d", n)
	}
	return n == 1, nil
}

// dynamicAt decodes the bytes whose offset (relative to data) is in word i.
func dynamicAt(data []byte, i int) ([]byte, error) {
	off, err := uintAt(data, i)
	if err != nil {
		return nil, err
	}
	if off%32 != 0 || off > uint64(len(data)) {
		return nil, abiErr("offset %d in %d bytes", off, len(data))
	}
	rest := data[off:]
	n, err := uintAt(rest, 0)
	if err != nil {
		return nil, err
	}
	if n > uint64(len(rest)-32) {
		return nil, abiErr("length %d in %d bytes", n, len(rest)-32)
	}
	return rest[32 : 32+n], nil
}

// DecodeBytes decodes a single bytes return value.
func DecodeBytes(data []byte) ([]byte, error) { return dynamicAt(data, 0) }

// DecodeString decodes a single string return value. Invalid UTF-8 is
// replaced with U+FFFD (contract strings are bytes; answers carry text).
func DecodeString(data []byte) (string, error) {
	b, err := dynamicAt(data, 0)
	if err != nil {
		return "", err
	}
	return validUTF8(b), nil
}

func validUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// DecodeStrings decodes a single string[] return value of at most max
// elements.
func DecodeStrings(data []byte, max int) ([]string, error) {
	off, err := uintAt(data, 0)
	if err != nil {
		return nil, err
	}
	if off%32 != 0 || off > uint64(len(data)) {
		return nil, abiErr("offset %d in %d bytes", off, len(data))
	}
	arr := data[off:]
	n, err := uintAt(arr, 0)
	if err != nil {
		return nil, err
	}
	if n > uint64(max) || n > uint64(len(arr)/32) {
		return nil, abiErr("string[] of %d elements", n)
	}
	elems := arr[32:]
	out := make([]string, n)
	for i := range out {
		b, err := dynamicAt(elems, i)
		if err != nil {
			return nil, err
		}
		out[i] = validUTF8(b)
	}
	return out, nil
}
