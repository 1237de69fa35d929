// Package ledger is gatewayd's view of a consensus ledger: topics of
// ordered, timestamped messages in the manner of the Hedera Consensus
// Service (HCS), and non-fungible tokens for names. Two backends implement
// it: local (an embedded, hash-chained log in Badger, the default) and
// hedera (the Hedera network through the Hiero Go SDK and a mirror node).
//
// DIDs (did:hedera) are topics whose messages are signed DID events;
// resolution replays a topic's messages in consensus order.
package ledger

import (
	"context"
	"errors"
	"time"
)

// Errors shared by backends; test with errors.Is.
var (
	// ErrTopicNotFound means the topic does not exist (or was deleted).
	ErrTopicNotFound = errors.New("ledger: topic not found")
	// ErrUnavailable means the ledger could not be reached in time; the
	// operation may be retried.
	ErrUnavailable = errors.New("ledger: unavailable")
	// ErrRejected means the ledger refused the transaction (bad signature,
	// insufficient balance, invalid topic, message too large …).
	ErrRejected = errors.New("ledger: transaction rejected")
)

// MaxChunkSize is the largest message chunk HCS accepts; larger messages
// are split into chunks of at most this size, as the SDK's
// TopicMessageSubmitTransaction does, each chunk its own transaction with
// a ConsensusMessageChunkInfo, and reassembled on read.
const MaxChunkSize = 1024

// TopicOptions configures a new topic.
type TopicOptions struct {
	// Memo is the topic's public memo (≤ 100 bytes on Hedera).
	Memo string
}

// Receipt is the outcome of a write, as the ledger reached consensus on it.
type Receipt struct {
	TopicID       string    // "0.0.N"
	Sequence      uint64    // sequence number of the (last chunk of the) message; 0 for topic creation
	ConsensusTime time.Time // consensus timestamp (nanosecond precision)
	RunningHash   []byte    // the topic's running hash after this message
	TransactionID string    // "0.0.payer@seconds.nanos"
	// FeeTinybars is the actual fee charged (the sum over chunks), from the
	// record; 0 on the local ledger unless it is configured to model fees.
	FeeTinybars int64
	// Chunks is how many transactions the message took.
	Chunks int
}

// Message is one (reassembled) topic message. For a chunked message,
// Sequence and TransactionID are the first chunk's, ConsensusTime and
// RunningHash the last chunk's (as the SDK reports a reassembled message).
type Message struct {
	TopicID       string
	Sequence      uint64 // of the first chunk
	ConsensusTime time.Time
	RunningHash   []byte
	Contents      []byte // the whole message, chunks joined
	PayerAccount  string
	TransactionID string
}

// Ledger is a backend. Implementations are safe for concurrent use.
type Ledger interface {
	// Network names the network: "local", "mainnet", "testnet",
	// "previewnet" — the <network> part of did:hedera identifiers.
	Network() string
	// CreateTopic creates a topic whose submit key is the ledger's
	// operator (treasury) key, so that only this gateway can write it.
	CreateTopic(ctx context.Context, o TopicOptions) (Receipt, error)
	// Submit appends a message (chunked above MaxChunkSize) and returns
	// once consensus is reached.
	Submit(ctx context.Context, topicID string, msg []byte) (Receipt, error)
	// Messages returns up to limit messages of the topic with a consensus
	// time strictly after `after` (zero: from the start), in consensus
	// order. A short page means the end was reached; limit <= 0 means the
	// backend's default page (100).
	Messages(ctx context.Context, topicID string, after time.Time, limit int) ([]Message, error)
	// Close releases the backend.
	Close() error
}
