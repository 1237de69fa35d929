package treasury

import (
	"context"
	"time"

	"github.com/ubeu/gateway/host/ledger"
)

// Ledger returns the ledger every other part of the gateway writes
// through: each write is paid by the treasury under the sponsorship of its
// context (Sponsor), or, made outside one, under a sponsorship of its own
// for the platform, named after the write (topic_create, message_submit,
// token_create, token_mint). A write the treasury refuses is not sent.
// The result also implements ledger.NFTLedger if the inner ledger does.
func (s *Service) Ledger() ledger.Ledger {
	w := &sponsoredLedger{s: s, Ledger: s.inner}
	if nl, ok := s.inner.(ledger.NFTLedger); ok {
		return &sponsoredNFTLedger{sponsoredLedger: w, nl: nl}
	}
	return w
}

type sponsoredLedger struct {
	s *Service
	ledger.Ledger
}

// pay runs write under ctx's sponsorship (or a new one for the platform)
// with the sponsorship's memo, and records its receipt.
func (l *sponsoredLedger) pay(ctx context.Context, txType string, write func(context.Context) (ledger.Receipt, string, error)) (ledger.Receipt, error) {
	sp := FromContext(ctx)
	if sp == nil {
		var err error
		if sp, err = l.s.begin(ctx, Platform, primitive(txType), 1, 0); err != nil {
			l.count(txType, "refused", 1)
			return ledger.Receipt{}, err
		}
		defer sp.End()
	}
	r, entity, err := write(ledger.WithMemo(ctx, sp.memo))
	if err != nil {
		l.count(txType, "failure", 1)
		return r, err
	}
	l.count(txType, "success", max(r.Chunks, 1))
	sp.add(r, txType, entity)
	return r, nil
}

// count adds n to hedera_transactions_total{transaction_type,status}.
func (l *sponsoredLedger) count(txType, status string, n int) {
	if c := l.s.o.Transactions; c != nil {
		c.WithLabelValues(txType, status).Add(float64(n))
	}
}

func (l *sponsoredLedger) CreateTopic(ctx context.Context, o ledger.TopicOptions) (ledger.Receipt, error) {
	return l.pay(ctx, ledger.TxCreateTopic, func(ctx context.Context) (ledger.Receipt, string, error) {
		r, err := l.Ledger.CreateTopic(ctx, o)
		return r, r.TopicID, err
	})
}

func (l *sponsoredLedger) Submit(ctx context.Context, topicID string, msg []byte) (ledger.Receipt, error) {
	return l.pay(ctx, ledger.TxSubmitMessage, func(ctx context.Context) (ledger.Receipt, string, error) {
		r, err := l.Ledger.Submit(ctx, topicID, msg)
		return r, topicID, err
	})
}

// Messages and the rest are reads: free, and passed through.
func (l *sponsoredLedger) Messages(ctx context.Context, topicID string, after time.Time, limit int) ([]ledger.Message, error) {
	return l.Ledger.Messages(ctx, topicID, after, limit)
}

// Unwrap returns the inner ledger, for its optional interfaces.
func (l *sponsoredLedger) Unwrap() ledger.Ledger { return l.Ledger }

type sponsoredNFTLedger struct {
	*sponsoredLedger
	nl ledger.NFTLedger
}

func (l *sponsoredNFTLedger) CreateNFTCollection(ctx context.Context, o ledger.NFTCollectionOptions) (string, ledger.Receipt, error) {
	var id string
	r, err := l.pay(ctx, ledger.TxTokenCreate, func(ctx context.Context) (ledger.Receipt, string, error) {
		var r ledger.Receipt
		var err error
		id, r, err = l.nl.CreateNFTCollection(ctx, o)
		return r, id, err
	})
	return id, r, err
}

func (l *sponsoredNFTLedger) MintNFT(ctx context.Context, tokenID string, metadata []byte) (int64, ledger.Receipt, error) {
	var serial int64
	r, err := l.pay(ctx, ledger.TxTokenMint, func(ctx context.Context) (ledger.Receipt, string, error) {
		var r ledger.Receipt
		var err error
		serial, r, err = l.nl.MintNFT(ctx, tokenID, metadata)
		return r, tokenID, err
	})
	return serial, r, err
}

// EachMessage streams a page of messages when the inner ledger can (the
// local ledger), or reads the page with Messages; DID resolution uses it.
func (l *sponsoredLedger) EachMessage(ctx context.Context, topicID string, after time.Time, limit int, f func(ledger.Message) error) (int, error) {
	if sl, ok := l.Ledger.(interface {
		EachMessage(context.Context, string, time.Time, int, func(ledger.Message) error) (int, error)
	}); ok {
		return sl.EachMessage(ctx, topicID, after, limit, f)
	}
	msgs, err := l.Ledger.Messages(ctx, topicID, after, limit)
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		if err := f(m); err != nil {
			return 0, err
		}
	}
	return len(msgs), nil
}

func ledgerTopic(memo string) ledger.TopicOptions { return ledger.TopicOptions{Memo: memo} }
