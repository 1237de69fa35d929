package local

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/ubeu/gateway/host/ledger"
)

// ErrCorrupt is returned (wrapped) when the stored log fails a check: a
// record that does not decode, a broken running-hash chain, a bad
// signature, a gap in the sequence numbers, an incomplete chunked message.
var ErrCorrupt = errors.New("local ledger: log corrupt")

// recordVersion is the first byte of every stored chunk record.
const recordVersion = 1

// chunk is one stored transaction of a topic: a whole message, or one chunk
// of a chunked message.
//
// Encoding (big-endian), signature last:
//
//	version        1 byte (1)
//	consensus      8 bytes, Unix nanoseconds
//	payer          3 × 8 bytes, shard realm num
//	validStart     8 bytes, Unix nanoseconds: the transaction ID is payer@validStart
//	initialStart   8 bytes, the first chunk's validStart (chunk info initial transaction ID)
//	number, total  4 bytes each, chunk info (1, 1 for an unchunked message)
//	running hash   48 bytes
//	contents       4-byte length, bytes
//	signature      64 bytes, Ed25519 of the operator over signedBytes
type chunk struct {
	Seq          uint64 // from the key
	Consensus    int64
	Payer        EntityID
	ValidStart   int64
	InitialStart int64
	Number       uint32
	Total        uint32
	RunningHash  []byte
	Contents     []byte
	Signature    []byte
}

const (
	sigSize        = 64
	chunkFixedSize = 1 + 8 + 24 + 8 + 8 + 4 + 4 + hashSize + 4
)

// encode returns the record without its signature; append the signature
// over signedBytes to finish it.
func (c *chunk) encode() []byte {
	b := make([]byte, 0, chunkFixedSize+len(c.Contents)+sigSize)
	b = append(b, recordVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Consensus))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Payer.Shard))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Payer.Realm))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Payer.Num))
	b = binary.BigEndian.AppendUint64(b, uint64(c.ValidStart))
	b = binary.BigEndian.AppendUint64(b, uint64(c.InitialStart))
	b = binary.BigEndian.AppendUint32(b, c.Number)
	b = binary.BigEndian.AppendUint32(b, c.Total)
	b = append(b, c.RunningHash...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(c.Contents)))
	b = append(b, c.Contents...)
	return b
}

// decodeChunk parses a stored record. The returned chunk aliases b.
func decodeChunk(seq uint64, b []byte) (chunk, error) {
	var c chunk
	if len(b) < chunkFixedSize+sigSize || b[0] != recordVersion {
		return c, fmt.Errorf("%w: record %d: bad length or version", ErrCorrupt, seq)
	}
	u64 := func(off int) int64 { return int64(binary.BigEndian.Uint64(b[off:])) }
	c.Seq = seq
	c.Consensus = u64(1)
	c.Payer = EntityID{u64(9), u64(17), u64(25)}
	c.ValidStart = u64(33)
	c.InitialStart = u64(41)
	c.Number = binary.BigEndian.Uint32(b[49:])
	c.Total = binary.BigEndian.Uint32(b[53:])
	c.RunningHash = b[57 : 57+hashSize]
	n := int(binary.BigEndian.Uint32(b[57+hashSize:]))
	if n != len(b)-chunkFixedSize-sigSize {
		return c, fmt.Errorf("%w: record %d: contents length %d does not match the record", ErrCorrupt, seq, n)
	}
	c.Contents = b[chunkFixedSize : chunkFixedSize+n]
	c.Signature = b[chunkFixedSize+n:]
	return c, nil
}

// signedPrefix separates the operator's signatures over chunk records from
// any other use of the key.
const signedPrefix = "gatewayd local ledger chunk v1\x00"

// signedBytes is what the operator signs: the domain prefix, the record's
// key (topic and sequence number) and the record without its signature.
func signedBytes(key, unsigned []byte) []byte {
	b := make([]byte, 0, len(signedPrefix)+len(key)+len(unsigned))
	b = append(b, signedPrefix...)
	b = append(b, key...)
	return append(b, unsigned...)
}

// reassemble joins the chunks of one message, given in any order. It
// rejects a set that is not exactly chunks 1..total of one initial
// transaction, with total between 1 and maxChunks and no chunk larger than
// ledger.MaxChunkSize.
func reassemble(chunks []chunk, maxChunks int) ([]byte, error) {
	if len(chunks) == 0 {
		return nil, fmt.Errorf("%w: no chunks", ErrCorrupt)
	}
	total := chunks[0].Total
	if total == 0 || int64(total) > int64(maxChunks) {
		return nil, fmt.Errorf("%w: chunk total %d out of range", ErrCorrupt, total)
	}
	if int64(len(chunks)) != int64(total) {
		return nil, fmt.Errorf("%w: %d chunks for a message of %d", ErrCorrupt, len(chunks), total)
	}
	sorted := slices.Clone(chunks)
	slices.SortFunc(sorted, func(a, b chunk) int {
		switch {
		case a.Number < b.Number:
			return -1
		case a.Number > b.Number:
			return 1
		}
		return 0
	})
	size := 0
	for i, c := range sorted {
		if c.Total != total {
			return nil, fmt.Errorf("%w: chunk %d says total %d, first says %d", ErrCorrupt, c.Number, c.Total, total)
		}
		if c.Number != uint32(i+1) {
			return nil, fmt.Errorf("%w: chunk numbers are not 1..%d", ErrCorrupt, total)
		}
		if c.InitialStart != sorted[0].InitialStart || c.Payer != sorted[0].Payer {
			return nil, fmt.Errorf("%w: chunks of different messages", ErrCorrupt)
		}
		if len(c.Contents) == 0 || len(c.Contents) > ledger.MaxChunkSize {
			return nil, fmt.Errorf("%w: chunk %d has %d bytes", ErrCorrupt, c.Number, len(c.Contents))
		}
		size += len(c.Contents)
	}
	out := make([]byte, 0, size)
	for _, c := range sorted {
		out = append(out, c.Contents...)
	}
	return out, nil
}

// nanoTime converts Unix nanoseconds to a time.Time in UTC.
func nanoTime(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// txID renders a transaction ID the way the SDKs do: payer@seconds.nanos,
// nanos zero-padded to nine digits.
func txID(payer EntityID, validStart int64) string {
	t := nanoTime(validStart)
	b := make([]byte, 0, 40)
	b = append(payer.append(b), '@')
	b = strconv.AppendInt(b, t.Unix(), 10)
	b = append(b, '.')
	ns := strconv.Itoa(t.Nanosecond())
	b = append(b, "000000000"[len(ns):]...)
	return string(append(b, ns...))
}
