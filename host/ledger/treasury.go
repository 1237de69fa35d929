package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// MaxMemo is the longest transaction memo Hedera accepts, in bytes
// (MEMO_TOO_LONG above it).
const MaxMemo = 100

type memoKey struct{}

// WithMemo returns a context whose ledger writes carry memo as their
// transaction memo; every chunk of a chunked message carries it. The
// treasury uses it to tie each transaction the operator pays for to its
// spend record. A memo longer than MaxMemo makes the write fail with
// ErrRejected before anything is sent.
func WithMemo(ctx context.Context, memo string) context.Context {
	return context.WithValue(ctx, memoKey{}, memo)
}

// MemoFrom returns the memo set by WithMemo, or "".
func MemoFrom(ctx context.Context) string {
	m, _ := ctx.Value(memoKey{}).(string)
	return m
}

// CheckMemo reports, wrapping ErrRejected, a memo the ledger would refuse.
func CheckMemo(memo string) error {
	if len(memo) > MaxMemo {
		return fmt.Errorf("%w: transaction memo is %d bytes, at most %d", ErrRejected, len(memo), MaxMemo)
	}
	return nil
}

// Transaction types, as the mirror node names them.
const (
	TxCreateTopic   = "CONSENSUSCREATETOPIC"
	TxSubmitMessage = "CONSENSUSSUBMITMESSAGE"
	TxTokenCreate   = "TOKENCREATION"
	TxTokenMint     = "TOKENMINT"
)

// Transaction is one transaction the operator (treasury) paid for, as the
// ledger recorded it. A chunked message is one Transaction per chunk.
type Transaction struct {
	ID            string    // "0.0.payer@seconds.nanos"
	Type          string    // one of the Tx* constants
	Memo          string    // the transaction memo
	Entity        string    // the topic or token it acted on ("0.0.N")
	ConsensusTime time.Time // consensus timestamp
	FeeTinybars   int64     // the fee charged
}

// ExchangeRate is the network's HBAR to US cent rate: HbarEquiv HBAR are
// worth CentEquiv cents (Hedera's ExchangeRate message).
type ExchangeRate struct {
	HbarEquiv int64
	CentEquiv int64
	// Expiration is when the network stops using this rate (zero if the
	// source does not say).
	Expiration time.Time
}

// ErrBadRate means an exchange rate source answered a rate that cannot be
// used (zero or negative terms).
var ErrBadRate = errors.New("ledger: unusable exchange rate")

// Check reports a rate with zero or negative terms.
func (r ExchangeRate) Check() error {
	if r.HbarEquiv <= 0 || r.CentEquiv <= 0 {
		return fmt.Errorf("%w: %d HBAR = %d cents", ErrBadRate, r.HbarEquiv, r.CentEquiv)
	}
	return nil
}

// Treasury is implemented by backends that can report on the account that
// pays their fees; test for it with a type assertion. The treasury package
// watches the balance, prices operations with the rate and reconciles its
// spend records against Transactions.
type Treasury interface {
	// TreasuryAccount is the paying account, "0.0.N".
	TreasuryAccount() string
	// Balance returns the treasury account's balance in tinybars.
	Balance(ctx context.Context) (int64, error)
	// ExchangeRate returns the network's current exchange rate.
	ExchangeRate(ctx context.Context) (ExchangeRate, error)
	// Transactions returns up to limit transactions paid by the treasury
	// with a consensus time strictly after `after`, in consensus order. A
	// short page means the end was reached; limit <= 0 means 100.
	Transactions(ctx context.Context, after time.Time, limit int) ([]Transaction, error)
}
