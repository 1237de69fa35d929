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
	"fmt"
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
	// ErrTokenNotFound means the token (NFT collection) does not exist.
	ErrTokenNotFound = errors.New("ledger: token not found")
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

// MaxNFTMetadata is the largest metadata one NFT may carry: the Hedera
// Token Service limit (METADATA_TOO_LONG above it). Put a compact
// reference there (for example "iam:alice.iam" or a hash pointer to a
// topic message), not the record itself.
const MaxNFTMetadata = 100

// NFTCollectionOptions configures a new NFT collection (a Hedera Token
// Service token of type NON_FUNGIBLE_UNIQUE).
type NFTCollectionOptions struct {
	Name   string // public name, 1 to 100 bytes
	Symbol string // public symbol, 1 to 100 bytes
	Memo   string // public memo, at most 100 bytes
}

// Check reports, wrapping ErrRejected, options the ledger would refuse.
func (o NFTCollectionOptions) Check() error {
	switch {
	case o.Name == "" || len(o.Name) > 100:
		return fmt.Errorf("%w: token name is %d bytes, want 1 to 100", ErrRejected, len(o.Name))
	case o.Symbol == "" || len(o.Symbol) > 100:
		return fmt.Errorf("%w: token symbol is %d bytes, want 1 to 100", ErrRejected, len(o.Symbol))
	case len(o.Memo) > 100:
		return fmt.Errorf("%w: token memo is %d bytes, at most 100", ErrRejected, len(o.Memo))
	}
	return nil
}

// CheckNFTMetadata reports, wrapping ErrRejected, metadata longer than
// MaxNFTMetadata.
func CheckNFTMetadata(metadata []byte) error {
	if len(metadata) > MaxNFTMetadata {
		return fmt.Errorf("%w: NFT metadata is %d bytes, at most %d", ErrRejected, len(metadata), MaxNFTMetadata)
	}
	return nil
}

// NFT is one minted token of a collection, as a backend reads it back.
type NFT struct {
	TokenID       string    // the collection, "0.0.N"
	Serial        int64     // from 1, in mint order
	Metadata      []byte    // as minted
	Owner         string    // holding account: the treasury (operator) unless transferred
	MintedAt      time.Time // consensus time of the mint
	TransactionID string    // of the mint ("" where the backend does not know it)
}

// NFTLedger is implemented by backends that can hold non-fungible tokens;
// test for it with a type assertion. The ledger's operator is the treasury
// account, the supply key and the admin key of every collection it
// creates, so only this gateway can mint. Both methods return the Receipt
// of the transaction (TopicID and Sequence empty; fees as for topics).
type NFTLedger interface {
	// CreateNFTCollection creates a collection with an unbounded supply
	// and returns its token ID ("0.0.N").
	CreateNFTCollection(ctx context.Context, o NFTCollectionOptions) (tokenID string, r Receipt, err error)
	// MintNFT mints one NFT of the collection, held by the treasury, and
	// returns its serial number (1, 2, … per collection). Metadata longer
	// than MaxNFTMetadata is rejected (ErrRejected) before anything is
	// sent; an unknown collection is ErrTokenNotFound.
	MintNFT(ctx context.Context, tokenID string, metadata []byte) (serial int64, r Receipt, err error)
}
