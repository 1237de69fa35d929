// Package statuslist implements W3C Bitstring Status List v1.0
// (https://www.w3.org/TR/vc-bitstring-status-list/): the compressed
// bitstring, a registry that allocates status entries at random in lists
// persisted through store.KV and serves the status list credentials, and
// the verifier's check of a BitstringStatusListEntry against a fetched list.
//
// Section references in comments name the sections of the Recommendation
// by title and anchor, e.g. "§ BitstringStatusListCredential
// (#bitstringstatuslistcredential)".
package statuslist

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
)

const (
	// MinEntries is the minimum list length, 131,072 entries
	// (§ Validate Algorithm, #validate-algorithm, step 2).
	MinEntries = 131072
	// MinBytes is the minimum size of an uncompressed bitstring, 16 KiB
	// (§ BitstringStatusListCredential, encodedList: "MUST be at least
	// 16KB").
	MinBytes = MinEntries / 8
	// MaxDecodedBytes caps the uncompressed size accepted by Decode:
	// 16 MiB, i.e. 134,217,728 one-bit entries. The specification sets no
	// maximum; this one keeps a crafted GZIP bomb from allocating more.
	MaxDecodedBytes = 16 << 20
	// maxEncodedLen bounds the encodedList string before base64 decoding:
	// a list that does not compress at all still fits.
	maxEncodedLen = 1 + (MaxDecodedBytes+1024)*4/3 + 4
)

// Errors. They mirror the error types of § Processing Errors
// (#processing-errors) and of the VC Data Model; callers test them with
// errors.Is.
var (
	// ErrMalformed is MALFORMED_VALUE_ERROR: a property violates a MUST of
	// § Data Model.
	ErrMalformed = errors.New("statuslist: malformed value")
	// ErrRetrieval is STATUS_RETRIEVAL_ERROR (-128): the status list could
	// not be retrieved.
	ErrRetrieval = errors.New("statuslist: status retrieval error")
	// ErrVerification is STATUS_VERIFICATION_ERROR (-129): the status list
	// does not validate the entry (e.g. the purposes differ).
	ErrVerification = errors.New("statuslist: status verification error")
	// ErrListLength is STATUS_LIST_LENGTH_ERROR (-130): the list is shorter
	// than MinEntries.
	ErrListLength = errors.New("statuslist: status list length error")
	// ErrRange is RANGE_ERROR: the index lies outside the list.
	ErrRange = errors.New("statuslist: index out of range")
	// ErrTooLarge means the decompressed list exceeds MaxDecodedBytes.
	ErrTooLarge = errors.New("statuslist: decoded list too large")
)

// Bitstring is an uncompressed status bitstring. Index 0 is the left-most
// (most significant) bit of the first byte and the last index the
// right-most bit of the last byte (§ BitstringStatusListCredential,
// encodedList; § Bitstring Encoding, #bitstring-encoding).
type Bitstring []byte

// NewBitstring returns an all-zero bitstring of at least entries bits and
// at least MinBytes bytes (§ Bitstring Generation Algorithm, step 1).
func NewBitstring(entries int) (Bitstring, error) {
	if entries < 0 || entries > MaxDecodedBytes*8 {
		return nil, fmt.Errorf("%w: %d entries", ErrRange, entries)
	}
	n := max((entries+7)/8, MinBytes)
	return make(Bitstring, n), nil
}

// Len returns the number of bits.
func (b Bitstring) Len() int { return len(b) * 8 }

// Get returns bit i.
func (b Bitstring) Get(i int) (bool, error) {
	if i < 0 || i >= b.Len() {
		return false, fmt.Errorf("%w: index %d, length %d", ErrRange, i, b.Len())
	}
	return b[i>>3]&(0x80>>(i&7)) != 0, nil
}

// Set sets bit i to v.
func (b Bitstring) Set(i int, v bool) error {
	if i < 0 || i >= b.Len() {
		return fmt.Errorf("%w: index %d, length %d", ErrRange, i, b.Len())
	}
	if v {
		b[i>>3] |= 0x80 >> (i & 7)
	} else {
		b[i>>3] &^= 0x80 >> (i & 7)
	}
	return nil
}

// Status reads the status of entry index in a list of size-bit entries:
// the size bits starting at bit index*size, most significant first
// (§ Validate Algorithm, step 10). size is 1 to 64.
func (b Bitstring) Status(index uint64, size int) (uint64, error) {
	if size < 1 || size > 64 {
		return 0, fmt.Errorf("%w: statusSize %d", ErrMalformed, size)
	}
	entries := uint64(b.Len()) / uint64(size)
	if index >= entries {
		return 0, fmt.Errorf("%w: index %d, %d entries", ErrRange, index, entries)
	}
	var v uint64
	start := int(index) * size
	for i := start; i < start+size; i++ {
		v <<= 1
		if b[i>>3]&(0x80>>(i&7)) != 0 {
			v |= 1
		}
	}
	return v, nil
}

// Count returns the number of set bits.
func (b Bitstring) Count() int {
	n := 0
	for _, c := range b {
		for ; c != 0; c &= c - 1 {
			n++
		}
	}
	return n
}

// Encode returns the encodedList value: the multibase base64url (no
// padding, prefix "u") of the GZIP-compressed bitstring
// (§ BitstringStatusListCredential, encodedList; § Bitstring Generation
// Algorithm, step 3). The GZIP header carries no name and a zero time,
// and OS 3 (Unix) as the specification's example does.
func (b Bitstring) Encode() (string, error) {
	if len(b) < MinBytes {
		return "", fmt.Errorf("%w: %d bytes, want at least %d", ErrListLength, len(b), MinBytes)
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return "", fmt.Errorf("statuslist: gzip: %w", err)
	}
	zw.OS = 3
	if _, err := zw.Write(b); err != nil {
		return "", fmt.Errorf("statuslist: gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("statuslist: gzip: %w", err)
	}
	return "u" + base64.RawURLEncoding.EncodeToString(buf.Bytes()), nil
}

// Decode expands an encodedList value (§ Bitstring Expansion Algorithm,
// #bitstring-expansion-algorithm). It rejects a value without the "u"
// multibase prefix, with padding or characters outside base64url, that is
// not valid GZIP, whose uncompressed size exceeds MaxDecodedBytes
// (ErrTooLarge; decompression stops there) or is below MinBytes
// (ErrListLength).
func Decode(encoded string) (Bitstring, error) {
	return DecodeLimit(encoded, MaxDecodedBytes)
}

// DecodeLimit is Decode with a different cap on the uncompressed size.
func DecodeLimit(encoded string, limit int) (Bitstring, error) {
	if len(encoded) == 0 || encoded[0] != 'u' {
		return nil, fmt.Errorf("%w: encodedList is not multibase base64url (prefix \"u\")", ErrMalformed)
	}
	if len(encoded) > maxEncodedLen || len(encoded) > 1+(limit+1024)*4/3+4 {
		return nil, fmt.Errorf("%w: encodedList of %d characters", ErrTooLarge, len(encoded))
	}
	compressed, err := base64.RawURLEncoding.Strict().DecodeString(encoded[1:])
	if err != nil {
		return nil, fmt.Errorf("%w: encodedList base64url: %w", ErrMalformed, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(compressed))
	if err != nil {
		return nil, fmt.Errorf("%w: encodedList gzip: %w", ErrMalformed, err)
	}
	// Read at most limit+1 bytes (one more than allowed proves the bomb),
	// growing the buffer by doubling but never past limit+1: a bomb holds
	// at most about twice the cap live and allocates about three times it
	// in all, whatever its expanded size.
	buf := make([]byte, 0, min(limit+1, max(MinBytes, 8*len(compressed))))
	for {
		if len(buf) == cap(buf) {
			if len(buf) > limit {
				return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
			}
			grown := make([]byte, len(buf), len(buf)+min(cap(buf), limit+1-len(buf)))
			copy(grown, buf)
			buf = grown
		}
		k, err := zr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: encodedList gzip: %w", ErrMalformed, err)
		}
	}
	n := len(buf)
	if n > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	if n < MinBytes {
		return nil, fmt.Errorf("%w: %d bytes, want at least %d", ErrListLength, n, MinBytes)
	}
	return Bitstring(buf), nil
}
