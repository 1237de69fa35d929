package local

import (
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RunningHashVersion is the HCS running-hash version this ledger computes.
const RunningHashVersion = 3

// hashSize is the size of a running hash (SHA-384).
const hashSize = sha512.Size384

// EntityID is a Hedera entity ID shard.realm.num (an account or a topic).
type EntityID struct {
	Shard, Realm, Num int64
}

// String renders the ID as "shard.realm.num".
func (e EntityID) String() string { return string(e.append(nil)) }

func (e EntityID) append(b []byte) []byte {
	b = strconv.AppendInt(b, e.Shard, 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, e.Realm, 10)
	b = append(b, '.')
	return strconv.AppendInt(b, e.Num, 10)
}

// ParseEntityID parses "shard.realm.num" (non-negative decimal numbers).
func ParseEntityID(s string) (EntityID, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return EntityID{}, fmt.Errorf("entity ID %q: want shard.realm.num", s)
	}
	var n [3]int64
	for i, p := range parts {
		v, err := strconv.ParseInt(p, 10, 64)
		if err != nil || v < 0 || p == "" || (len(p) > 1 && p[0] == '0') || p[0] == '+' {
			return EntityID{}, fmt.Errorf("entity ID %q: bad number %q", s, p)
		}
		n[i] = v
	}
	return EntityID{n[0], n[1], n[2]}, nil
}

// Java serialization framing of a byte[] written with
// ObjectOutputStream.writeObject: the stream header (written once, when the
// stream is opened), the first array's class descriptor for "[B", and the
// back-reference to it that later arrays use.
var (
	javaStreamHeader = []byte{0xAC, 0xED, 0x00, 0x05}
	javaFirstByteArr = []byte{
		0x75,                       // TC_ARRAY
		0x72, 0x00, 0x02, '[', 'B', // TC_CLASSDESC, class name "[B"
		0xAC, 0xF3, 0x17, 0xF8, 0x06, 0x08, 0x54, 0xE0, // serialVersionUID of byte[]
		0x02,       // SC_SERIALIZABLE
		0x00, 0x00, // no fields
		0x78, // TC_ENDBLOCKDATA
		0x70, // TC_NULL: no superclass
	}
	javaNextByteArr = []byte{
		0x75,                         // TC_ARRAY
		0x71, 0x00, 0x7E, 0x00, 0x00, // TC_REFERENCE to handle 0 (the "[B" descriptor)
	}
)

// blockLen is the length of the primitive fields written between the two
// arrays: version, payer shard/realm/num, topic shard/realm/num, seconds (8
// bytes each), nanos (4), sequence number (8).
const blockLen = 8*9 + 4

// RunningHash computes the HCS topic running hash, version 3, after a
// message: prev is the topic's running hash before it (48 zero bytes for
// the first message), payer the account that paid, topic the topic, at the
// consensus timestamp and seq the message's (new) sequence number.
//
// The inputs and their order follow the TransactionReceipt.topicRunningHash
// documentation of hedera-protobufs (services/transaction_receipt.proto):
// previous running hash (48 bytes), topicRunningHashVersion (8), payer
// shard, realm, number (8 each), topic shard, realm, number (8 each),
// consensus seconds (8), nanos (4), sequence number (8), SHA-384 of the
// message (48), all big-endian. The consensus node
// (hiero-consensus-node ConsensusSubmitMessageHandler
// .updateRunningHashAndSequenceNumber) writes them through a Java
// ObjectOutputStream: the two 48-byte hashes with writeObject, the numbers
// with writeLong/writeInt. The digest input therefore also carries Java
// serialization framing, which this function reproduces byte for byte so
// that its output equals the network's (checked against a JDK run of that
// code in TestRunningHashJavaVector).
func RunningHash(prev []byte, payer, topic EntityID, at time.Time, seq uint64, msg []byte) []byte {
	var sum [hashSize]byte
	runningHash(&sum, prev, payer, topic, at.Unix(), int32(at.Nanosecond()), seq, msg)
	return sum[:]
}

// runningHashInputSize is the size of the digest input of runningHash.
const runningHashInputSize = 4 + 21 + 4 + hashSize + 2 + blockLen + 6 + 4 + hashSize

// runningHash is RunningHash without allocations, writing the hash to sum;
// at is given as Unix seconds and nanoseconds.
func runningHash(sum *[hashSize]byte, prev []byte, payer, topic EntityID, sec int64, nsec int32, seq uint64, msg []byte) {
	if len(prev) != hashSize {
		// The network starts from 48 zero bytes; any other length is a bug
		// in the caller. Hash it as Java would (the length is framed).
		panic(fmt.Sprintf("local: previous running hash is %d bytes, want %d", len(prev), hashSize))
	}
	msgHash := sha512.Sum384(msg)
	var arr [runningHashInputSize]byte
	buf := arr[:0]
	buf = append(buf, javaStreamHeader...)
	buf = append(buf, javaFirstByteArr...)
	buf = binary.BigEndian.AppendUint32(buf, hashSize)
	buf = append(buf, prev...)
	buf = append(buf, 0x77, blockLen) // TC_BLOCKDATA, 1-byte length
	buf = binary.BigEndian.AppendUint64(buf, RunningHashVersion)
	for _, v := range [...]int64{payer.Shard, payer.Realm, payer.Num, topic.Shard, topic.Realm, topic.Num, sec} {
		buf = binary.BigEndian.AppendUint64(buf, uint64(v))
	}
	buf = binary.BigEndian.AppendUint32(buf, uint32(nsec))
	buf = binary.BigEndian.AppendUint64(buf, seq)
	buf = append(buf, javaNextByteArr...)
	buf = binary.BigEndian.AppendUint32(buf, hashSize)
	buf = append(buf, msgHash[:]...)
	*sum = sha512.Sum384(buf)
}
