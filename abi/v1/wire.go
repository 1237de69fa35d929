package abiv1

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// Helpers for the generated decoders. Each consume function returns the
// number of bytes read, or a negative code on malformed input.

const errCodeUTF8 = -1000

var errInvalidUTF8 = errors.New("invalid UTF-8 in string field")

// wireError describes a decoding failure in message msg.
func wireError(msg string, n int) error {
	err := errInvalidUTF8
	if n != errCodeUTF8 {
		err = protowire.ParseError(n)
	}
	return fmt.Errorf("abiv1: decode %s: %w", msg, err)
}

func consumeString(b []byte, p *string) int {
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return n
	}
	if !utf8.Valid(v) {
		return errCodeUTF8
	}
	*p = string(v)
	return n
}

func consumeRepeatedString(b []byte, p *[]string) int {
	var s string
	n := consumeString(b, &s)
	if n >= 0 {
		*p = append(*p, s)
	}
	return n
}

func consumeBytes(b []byte, p *[]byte) int {
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return n
	}
	*p = append([]byte(nil), v...) // never alias the input buffer
	return n
}

//lint:ignore U1000 used by generated code for field types the IDL may add
func consumeRepeatedBytes(b []byte, p *[][]byte) int {
	var s []byte
	n := consumeBytes(b, &s)
	if n >= 0 {
		*p = append(*p, s)
	}
	return n
}

func consumeBool(b []byte, p *bool) int {
	v, n := protowire.ConsumeVarint(b)
	if n >= 0 {
		*p = v != 0
	}
	return n
}

func consumeInt32(b []byte, p *int32) int {
	v, n := protowire.ConsumeVarint(b)
	if n >= 0 {
		*p = int32(v)
	}
	return n
}

func consumeInt64(b []byte, p *int64) int {
	v, n := protowire.ConsumeVarint(b)
	if n >= 0 {
		*p = int64(v)
	}
	return n
}

func consumeUint32(b []byte, p *uint32) int {
	v, n := protowire.ConsumeVarint(b)
	if n >= 0 {
		*p = uint32(v)
	}
	return n
}

func consumeUint64(b []byte, p *uint64) int {
	v, n := protowire.ConsumeVarint(b)
	if n >= 0 {
		*p = v
	}
	return n
}

//lint:ignore U1000 used by generated code for field types the IDL may add
func consumeSint32(b []byte, p *int32) int {
	v, n := protowire.ConsumeVarint(b)
	if n >= 0 {
		*p = int32(protowire.DecodeZigZag(v & math.MaxUint32))
	}
	return n
}

//lint:ignore U1000 used by generated code for field types the IDL may add
func consumeSint64(b []byte, p *int64) int {
	v, n := protowire.ConsumeVarint(b)
	if n >= 0 {
		*p = protowire.DecodeZigZag(v)
	}
	return n
}

func consumeDouble(b []byte, p *float64) int {
	v, n := protowire.ConsumeFixed64(b)
	if n >= 0 {
		*p = math.Float64frombits(v)
	}
	return n
}

//lint:ignore U1000 used by generated code for field types the IDL may add
func consumeFloat(b []byte, p *float32) int {
	v, n := protowire.ConsumeFixed32(b)
	if n >= 0 {
		*p = math.Float32frombits(v)
	}
	return n
}

// consumeMessage decodes a length-delimited embedded message into m,
// merging with what m holds (proto semantics for a repeated occurrence).
func consumeMessage(b []byte, m interface{ unmarshal([]byte) error }) (int, error) {
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return n, nil
	}
	return n, m.unmarshal(v)
}

// consumeMapEntry decodes one map entry with string or bytes key and value
// into *k and *v. Missing key or value fields are left as the zero value.
func consumeMapEntry(b []byte, k, v *[]byte) int {
	e, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return n
	}
	*k, *v = nil, nil
	for len(e) > 0 {
		num, typ, m := protowire.ConsumeTag(e)
		if m < 0 {
			return m
		}
		e = e[m:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			*k, m = protowire.ConsumeBytes(e)
		case num == 2 && typ == protowire.BytesType:
			*v, m = protowire.ConsumeBytes(e)
		default:
			m = protowire.ConsumeFieldValue(num, typ, e)
		}
		if m < 0 {
			return m
		}
		e = e[m:]
	}
	return n
}

func consumeStringStringMap(b []byte, p *map[string]string) int {
	var k, v []byte
	n := consumeMapEntry(b, &k, &v)
	if n < 0 {
		return n
	}
	if !utf8.Valid(k) || !utf8.Valid(v) {
		return errCodeUTF8
	}
	if *p == nil {
		*p = make(map[string]string)
	}
	(*p)[string(k)] = string(v)
	return n
}

//lint:ignore U1000 used by generated code for field types the IDL may add
func consumeStringBytesMap(b []byte, p *map[string][]byte) int {
	var k, v []byte
	n := consumeMapEntry(b, &k, &v)
	if n < 0 {
		return n
	}
	if !utf8.Valid(k) {
		return errCodeUTF8
	}
	if *p == nil {
		*p = make(map[string][]byte)
	}
	(*p)[string(k)] = append([]byte{}, v...)
	return n
}

// Encoding helpers.

func sizeMapEntry(k, v int) int {
	n := 1 + protowire.SizeBytes(k) + 1 + protowire.SizeBytes(v)
	return n
}

func appendStringStringMap(b []byte, tag uint64, m map[string]string) []byte {
	for k, v := range m {
		b = protowire.AppendVarint(b, tag)
		b = protowire.AppendVarint(b, uint64(sizeMapEntry(len(k), len(v))))
		b = append(b, 0x0a)
		b = protowire.AppendString(b, k)
		b = append(b, 0x12)
		b = protowire.AppendString(b, v)
	}
	return b
}

func sizeStringStringMap(tagSize int, m map[string]string) (n int) {
	for k, v := range m {
		n += tagSize + protowire.SizeBytes(sizeMapEntry(len(k), len(v)))
	}
	return n
}

//lint:ignore U1000 used by generated code for field types the IDL may add
func appendStringBytesMap(b []byte, tag uint64, m map[string][]byte) []byte {
	for k, v := range m {
		b = protowire.AppendVarint(b, tag)
		b = protowire.AppendVarint(b, uint64(sizeMapEntry(len(k), len(v))))
		b = append(b, 0x0a)
		b = protowire.AppendString(b, k)
		b = append(b, 0x12)
		b = protowire.AppendBytes(b, v)
	}
	return b
}

//lint:ignore U1000 used by generated code for field types the IDL may add
func sizeStringBytesMap(tagSize int, m map[string][]byte) (n int) {
	for k, v := range m {
		n += tagSize + protowire.SizeBytes(sizeMapEntry(len(k), len(v)))
	}
	return n
}
