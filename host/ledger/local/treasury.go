package local

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ubeu/gateway/host/ledger"
)

// Fees are the fees, in tinybars, the ledger charges the operator for each
// kind of transaction; a zero field falls back to Options.FeeTinybars.
// Submit is per chunk, as on Hedera where each chunk is a transaction.
type Fees struct {
	CreateTopic int64
	Submit      int64
	TokenCreate int64
	Mint        int64
}

// DefaultInitialBalance is the treasury balance of a fresh local ledger
// when Options.InitialBalance is zero: 10,000 HBAR.
const DefaultInitialBalance int64 = 10_000 * 100_000_000

// DefaultRate is the exchange rate of a local ledger when Options.Rate is
// unset: 1 HBAR = 12 cents.
var DefaultRate = ledger.ExchangeRate{HbarEquiv: 1, CentEquiv: 12}

// txLogKey is the key of the transaction log entry at consensus time at:
// x/<time 8>. Consensus times are unique across the ledger.
func txLogKey(at int64) []byte {
	return binary.BigEndian.AppendUint64([]byte("x/"), uint64(at))
}

var txTypes = []string{ledger.TxCreateTopic, ledger.TxSubmitMessage, ledger.TxTokenCreate, ledger.TxTokenMint}

func (l *Ledger) feeOf(typ string) int64 {
	var f int64
	switch typ {
	case ledger.TxCreateTopic:
		f = l.fees.CreateTopic
	case ledger.TxSubmitMessage:
		f = l.fees.Submit
	case ledger.TxTokenCreate:
		f = l.fees.TokenCreate
	case ledger.TxTokenMint:
		f = l.fees.Mint
	}
	if f <= 0 {
		f = l.fee
	}
	return f
}

// encodeTx is type index (1) ‖ fee (8) ‖ len ‖ memo ‖ len ‖ entity.
func encodeTx(typ, memo, entity string, fee int64) []byte {
	t := 0
	for i, s := range txTypes {
		if s == typ {
			t = i
		}
	}
	b := []byte{byte(t)}
	b = binary.BigEndian.AppendUint64(b, uint64(fee))
	b = append(b, byte(len(memo)))
	b = append(b, memo...)
	b = append(b, byte(len(entity)))
	return append(b, entity...)
}

func decodeTx(b []byte) (typ, memo, entity string, fee int64, err error) {
	bad := fmt.Errorf("%w: transaction log entry", ErrCorrupt)
	if len(b) < 10 || int(b[0]) >= len(txTypes) {
		return "", "", "", 0, bad
	}
	typ, fee = txTypes[b[0]], int64(binary.BigEndian.Uint64(b[1:9]))
	n := int(b[9])
	b = b[10:]
	if len(b) < n+1 {
		return "", "", "", 0, bad
	}
	memo, b = string(b[:n]), b[n:]
	n = int(b[0])
	if len(b[1:]) != n {
		return "", "", "", 0, bad
	}
	return typ, memo, string(b[1:]), fee, nil
}

// logTx records, inside the write's own Badger transaction, one
// transaction the operator paid for, and returns its fee. The caller adds
// the fee to l.spent once the write has committed.
func (l *Ledger) logTx(txn *badger.Txn, at int64, typ, memo, entity string) (int64, error) {
	fee := l.feeOf(typ)
	return fee, txn.Set(txLogKey(at), encodeTx(typ, memo, entity, fee))
}

// loadSpent sums the fees of the transaction log.
func (l *Ledger) loadSpent() error {
	var spent int64
	err := l.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("x/"), PrefetchValues: true, PrefetchSize: 1000})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			_, _, _, fee, err := decodeTx(v)
			if err != nil {
				return err
			}
			spent += fee
		}
		return nil
	})
	l.spent.Store(spent)
	return err
}

// TreasuryAccount is the operator account, which pays every fee.
func (l *Ledger) TreasuryAccount() string { return l.payer.String() }

// Balance is the initial balance less every fee charged so far.
func (l *Ledger) Balance(ctx context.Context) (int64, error) {
	if err := l.begin(ctx); err != nil {
		return 0, fmt.Errorf("local ledger: balance: %w", err)
	}
	defer l.closeMu.RUnlock()
	return l.balance - l.spent.Load(), nil
}

// ExchangeRate is the configured rate (Options.Rate).
func (l *Ledger) ExchangeRate(context.Context) (ledger.ExchangeRate, error) {
	return l.rate, nil
}

// Transactions lists the transaction log: every transaction the operator
// paid for after `after`, in consensus order.
func (l *Ledger) Transactions(ctx context.Context, after time.Time, limit int) ([]ledger.Transaction, error) {
	if err := l.begin(ctx); err != nil {
		return nil, fmt.Errorf("local ledger: transactions: %w", err)
	}
	defer l.closeMu.RUnlock()
	if limit <= 0 {
		limit = DefaultLimit
	}
	start := int64(0)
	if !after.IsZero() {
		start = after.UnixNano() + 1
	}
	var out []ledger.Transaction
	err := l.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("x/"), PrefetchValues: true, PrefetchSize: min(limit, 100)})
		defer it.Close()
		for it.Seek(txLogKey(start)); it.Valid() && len(out) < limit; it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			k := it.Item().Key()
			if len(k) != 10 {
				return fmt.Errorf("%w: transaction log key", ErrCorrupt)
			}
			at := int64(binary.BigEndian.Uint64(k[2:]))
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			typ, memo, entity, fee, err := decodeTx(v)
			if err != nil {
				return err
			}
			out = append(out, ledger.Transaction{ID: txID(l.payer, at), Type: typ, Memo: memo, Entity: entity,
				ConsensusTime: nanoTime(at), FeeTinybars: fee})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("local ledger: transactions: %w", err)
	}
	return out, nil
}

var _ ledger.Treasury = (*Ledger)(nil)
