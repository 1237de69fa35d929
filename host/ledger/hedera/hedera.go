// Package hedera implements ledger.Ledger and ledger.NFTLedger on the
// Hedera network: writes go to consensus nodes through the Hiero Go SDK
// (TopicCreateTransaction, TopicMessageSubmitTransaction, and for NFTs
// TokenCreateTransaction and TokenMintTransaction), reads come from a
// mirror node's REST API,
// merged with an in-memory log of this process's own recent writes so that
// a read right after a write sees it even while the mirror lags.
//
// Every write carries the transaction memo set with ledger.WithMemo (on
// every chunk of a chunked message). The backend is a ledger.Treasury: the
// operator account's balance, the network exchange rate and the
// transactions the operator paid for, all read from the mirror node (see
// treasury.go).
//
// Fees: Receipt.FeeTinybars is the sum of the transactionFee fields of the
// records (getTxRecordByTxID) of the transactions a write took. On the real
// network each record query is itself a paid query (the SDK pays it from
// the operator account); that payment is not included.
package hedera

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	hiero "github.com/hiero-ledger/hiero-sdk-go/v2/sdk"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ubeu/gateway/host/ledger"
)

// Default public mirror nodes (REST base) for the named networks.
var defaultMirrors = map[string]string{
	"mainnet":    "https://mainnet-public.mirrornode.hedera.com/api/v1",
	"testnet":    "https://testnet.mirrornode.hedera.com/api/v1",
	"previewnet": "https://previewnet.mirrornode.hedera.com/api/v1",
}

// DefaultMaxChunks bounds how many chunk transactions one message may take
// (the SDK's own default); larger messages are rejected before anything is
// sent.
const DefaultMaxChunks = 20

// Options configures Open.
type Options struct {
	// Network is "mainnet", "testnet", "previewnet" or "local".
	Network string
	// Nodes maps a consensus node address ("host:port") to its node account
	// ID ("0.0.3"). Required for "local"; for named networks it replaces the
	// SDK's built-in address book.
	Nodes map[string]string
	// MirrorURL is the mirror node REST base, e.g.
	// "http://127.0.0.1:5551/api/v1". Defaults to the public mirror for
	// named networks; required for "local".
	MirrorURL string
	// OperatorID is the paying (treasury) account, "0.0.1234".
	OperatorID string
	// OperatorKey is the operator's private key, DER-encoded hex or raw hex
	// (raw hex is read as ED25519). It is never logged.
	OperatorKey string
	// MaxRetries is how many times a request is retried on BUSY,
	// PLATFORM_NOT_ACTIVE, gRPC UNAVAILABLE or mirror 5xx/429; default 5.
	MaxRetries int
	// Backoff is the first retry delay, doubled per attempt; default 250ms.
	Backoff time.Duration
	// MaxChunks bounds chunks per message; default DefaultMaxChunks.
	MaxChunks int
	// HTTPClient is used for the mirror node; default a client with a 30s timeout.
	HTTPClient *http.Client
	// Logger receives operational logs; default slog.Default().
	Logger *slog.Logger
	// Now is the clock for the local write log; default time.Now.
	Now func() time.Time
}

// Ledger is the hedera backend. It is safe for concurrent use.
type Ledger struct {
	network   string
	client    *hiero.Client
	operator  hiero.AccountID
	pub       hiero.PublicKey
	mirror    *mirrorClient
	log       *slog.Logger
	now       func() time.Time
	backoff   time.Duration
	maxChunks int
	local     *localLog
	// txPageSize is the page size Transactions asks the mirror for
	// (mirrorPageSize; tests lower it to exercise links.next).
	txPageSize int

	closeOnce sync.Once
	closeErr  error
}

var _ ledger.Ledger = (*Ledger)(nil)

// Open builds an SDK client for the network and checks the options. It does
// not contact the network for "local" or when Nodes is given; for named
// networks without Nodes the SDK fetches the address book from its mirror.
func Open(ctx context.Context, o Options) (*Ledger, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if o.MaxRetries <= 0 {
		o.MaxRetries = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = 250 * time.Millisecond
	}
	if o.MaxChunks <= 0 {
		o.MaxChunks = DefaultMaxChunks
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	operator, err := hiero.AccountIDFromString(o.OperatorID)
	if err != nil {
		return nil, fmt.Errorf("hedera: operator id %q: %w", o.OperatorID, err)
	}
	key, err := parsePrivateKey(o.OperatorKey)
	if err != nil {
		return nil, err
	}
	if o.MirrorURL == "" {
		o.MirrorURL = defaultMirrors[o.Network]
	}
	mirror, err := newMirrorClient(o.MirrorURL, o.HTTPClient, o.MaxRetries, o.Backoff)
	if err != nil {
		return nil, err
	}

	var client *hiero.Client
	switch {
	case len(o.Nodes) > 0:
		nodes := make(map[string]hiero.AccountID, len(o.Nodes))
		for addr, id := range o.Nodes {
			acc, err := hiero.AccountIDFromString(id)
			if err != nil {
				return nil, fmt.Errorf("hedera: node %s account %q: %w", addr, id, err)
			}
			nodes[addr] = acc
		}
		if client, err = hiero.ClientForNetworkV2(nodes); err != nil {
			return nil, fmt.Errorf("hedera: client: %w", err)
		}
		switch o.Network {
		case "mainnet":
			client.SetLedgerID(*hiero.NewLedgerIDMainnet())
		case "testnet":
			client.SetLedgerID(*hiero.NewLedgerIDTestnet())
		case "previewnet":
			client.SetLedgerID(*hiero.NewLedgerIDPreviewnet())
		case "local":
		default:
			_ = client.Close()
			return nil, fmt.Errorf("hedera: unknown network %q", o.Network)
		}
	case o.Network == "local":
		return nil, errors.New("hedera: network \"local\" needs Nodes")
	case o.Network == "mainnet" || o.Network == "testnet" || o.Network == "previewnet":
		if client, err = hiero.ClientForName(o.Network); err != nil {
			return nil, fmt.Errorf("hedera: client: %w", err)
		}
	default:
		return nil, fmt.Errorf("hedera: unknown network %q", o.Network)
	}
	client.SetOperator(operator, key)
	client.SetMaxAttempts(o.MaxRetries + 1)
	client.SetLogLevel(hiero.LoggerLevelDisabled)

	return &Ledger{
		network:   o.Network,
		client:    client,
		operator:  operator,
		pub:       key.PublicKey(),
		mirror:    mirror,
		log:       o.Logger.With("ledger", "hedera", "network", o.Network),
		now:       o.Now,
		backoff:   o.Backoff,
		maxChunks: o.MaxChunks,
		local:     newLocalLog(localLogTopics, localLogPerTopic, localLogTTL),

		txPageSize: mirrorPageSize,
	}, nil
}

// parsePrivateKey reads DER hex or raw hex. Its errors never include the key.
func parsePrivateKey(s string) (hiero.PrivateKey, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "0x")
	if s == "" {
		return hiero.PrivateKey{}, errors.New("hedera: operator key is empty")
	}
	if k, err := hiero.PrivateKeyFromStringDer(s); err == nil {
		return k, nil
	}
	if k, err := hiero.PrivateKeyFromString(s); err == nil {
		return k, nil
	}
	return hiero.PrivateKey{}, errors.New("hedera: operator key: not a DER or hex private key")
}

// Network names the network.
func (l *Ledger) Network() string { return l.network }

// Close releases the SDK client's connections.
func (l *Ledger) Close() error {
	l.closeOnce.Do(func() {
		if err := l.client.Close(); err != nil {
			l.closeErr = fmt.Errorf("hedera: close: %w", err)
		}
	})
	return l.closeErr
}

// CreateTopic creates a topic with the operator key as admin and submit key;
// the operator pays. The fee comes from the transaction record.
func (l *Ledger) CreateTopic(ctx context.Context, o ledger.TopicOptions) (ledger.Receipt, error) {
	if len(o.Memo) > 100 {
		return ledger.Receipt{}, fmt.Errorf("%w: memo is %d bytes, at most 100", ledger.ErrRejected, len(o.Memo))
	}
	memo, err := txMemo(ctx)
	if err != nil {
		return ledger.Receipt{}, fmt.Errorf("hedera: create topic: %w", err)
	}
	rec, err := runSDK(ctx, func() (hiero.TransactionRecord, error) {
		tx := hiero.NewTopicCreateTransaction().
			SetTransactionMemo(memo).
			SetTopicMemo(o.Memo).
			SetAdminKey(l.pub).
			SetSubmitKey(l.pub).
			SetMinBackoff(l.backoff).
			SetMaxBackoff(max(8*l.backoff, 8*time.Second))
		resp, err := tx.Execute(l.client)
		if err != nil {
			return hiero.TransactionRecord{}, err
		}
		rec, err := resp.GetRecord(l.client)
		if err != nil {
			return rec, err
		}
		if rec.Receipt.TopicID != nil {
			l.local.created(rec.Receipt.TopicID.String(), l.now())
		}
		return rec, nil
	})
	if err != nil {
		return ledger.Receipt{}, l.mapErr("create topic", err)
	}
	if rec.Receipt.TopicID == nil {
		return ledger.Receipt{}, fmt.Errorf("%w: create topic: receipt has no topic ID", ledger.ErrRejected)
	}
	r := ledger.Receipt{
		TopicID:       rec.Receipt.TopicID.String(),
		ConsensusTime: rec.ConsensusTimestamp,
		TransactionID: rec.TransactionID.String(),
		FeeTinybars:   rec.TransactionFee.AsTinybar(),
		Chunks:        1,
	}
	l.log.InfoContext(ctx, "topic created", "topic", r.TopicID, "tx", r.TransactionID, "fee_tinybars", r.FeeTinybars)
	return r, nil
}

// Submit sends msg to the topic, in chunks of at most ledger.MaxChunkSize
// bytes, and waits for every chunk's receipt and record. The receipt
// carries the last chunk's sequence number, time and running hash, the
// first chunk's transaction ID and the fees of all chunks.
//
// If ctx ends first, Submit returns ledger.ErrUnavailable, but the
// submission continues in the background and may still reach consensus
// (then it is added to the local write log); a retry may duplicate it.
func (l *Ledger) Submit(ctx context.Context, topicID string, msg []byte) (ledger.Receipt, error) {
	tid, err := hiero.TopicIDFromString(topicID)
	if err != nil {
		return ledger.Receipt{}, fmt.Errorf("%w: %q: %w", ledger.ErrTopicNotFound, topicID, err)
	}
	if len(msg) == 0 {
		return ledger.Receipt{}, fmt.Errorf("%w: empty message", ledger.ErrRejected)
	}
	chunks := (len(msg) + ledger.MaxChunkSize - 1) / ledger.MaxChunkSize
	if chunks > l.maxChunks {
		return ledger.Receipt{}, fmt.Errorf("%w: message of %d bytes needs %d chunks, at most %d", ledger.ErrRejected, len(msg), chunks, l.maxChunks)
	}
	memo, err := txMemo(ctx)
	if err != nil {
		return ledger.Receipt{}, fmt.Errorf("hedera: submit: %w", err)
	}
	topicID = tid.String()
	r, err := runSDK(ctx, func() (ledger.Receipt, error) {
		// The SDK builds one body, memo included, and changes only the
		// message, chunk info and transaction ID per chunk
		// (TopicMessageSubmitTransaction.FreezeWith), so every chunk
		// carries the memo.
		tx := hiero.NewTopicMessageSubmitTransaction().
			SetTransactionMemo(memo).
			SetTopicID(tid).
			SetMessage(msg).
			SetChunkSize(ledger.MaxChunkSize).
			SetMaxChunks(uint64(chunks)).
			SetMinBackoff(l.backoff).
			SetMaxBackoff(max(8*l.backoff, 8*time.Second))
		resps, err := tx.ExecuteAll(l.client)
		if err != nil {
			return ledger.Receipt{}, err
		}
		r := ledger.Receipt{TopicID: topicID, Chunks: len(resps)}
		var first uint64
		for i := range resps {
			rec, err := resps[i].GetRecord(l.client)
			if err != nil {
				return ledger.Receipt{}, err
			}
			if i == 0 {
				r.TransactionID = rec.TransactionID.String()
				first = rec.Receipt.TopicSequenceNumber
			}
			r.Sequence = rec.Receipt.TopicSequenceNumber
			r.ConsensusTime = rec.ConsensusTimestamp
			r.RunningHash = rec.Receipt.TopicRunningHash
			r.FeeTinybars += rec.TransactionFee.AsTinybar()
		}
		l.local.add(topicID, ledger.Message{
			TopicID:       topicID,
			Sequence:      first,
			ConsensusTime: r.ConsensusTime,
			RunningHash:   r.RunningHash,
			Contents:      append([]byte(nil), msg...),
			PayerAccount:  l.operator.String(),
			TransactionID: r.TransactionID,
		}, l.now())
		return r, nil
	})
	if err != nil {
		return ledger.Receipt{}, l.mapErr("submit to "+topicID, err)
	}
	l.log.DebugContext(ctx, "message submitted", "topic", topicID, "seq", r.Sequence, "chunks", r.Chunks, "fee_tinybars", r.FeeTinybars)
	return r, nil
}

// Messages returns up to limit messages after `after`, from the mirror node
// merged with this process's recent writes (see the package doc). limit ≤ 0
// means 100. Messages from other writers that the mirror has not yet
// indexed can be missed by a page that ends with a local write.
func (l *Ledger) Messages(ctx context.Context, topicID string, after time.Time, limit int) ([]ledger.Message, error) {
	tid, err := hiero.TopicIDFromString(topicID)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ledger.ErrTopicNotFound, topicID, err)
	}
	topicID = tid.String()
	if limit <= 0 {
		limit = 100
	}
	msgs, err := l.mirror.messages(ctx, topicID, after, limit)
	if errors.Is(err, ledger.ErrTopicNotFound) && l.local.knows(topicID, l.now()) {
		msgs, err = nil, nil // created here; the mirror has not caught up
	}
	if err != nil {
		return nil, err
	}
	return mergeMessages(msgs, l.local.since(topicID, after, l.now()), limit), nil
}

// runSDK runs f (a blocking SDK call) and returns when it finishes or ctx
// ends, whichever is first.
func runSDK[T any](ctx context.Context, f func() (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, fmt.Errorf("%w: %w", ledger.ErrUnavailable, err)
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		return zero, fmt.Errorf("%w: %w", ledger.ErrUnavailable, context.Cause(ctx))
	}
}

// mapErr classifies an SDK error as one of the ledger errors, keeping the
// original in the chain.
func (l *Ledger) mapErr(op string, err error) error {
	if errors.Is(err, ledger.ErrUnavailable) {
		return fmt.Errorf("hedera: %s: %w", op, err)
	}
	var st hiero.Status
	var found bool
	var pre hiero.ErrHederaPreCheckStatus
	var rec hiero.ErrHederaReceiptStatus
	var recd hiero.ErrHederaRecordStatus
	switch {
	case errors.As(err, &pre):
		st, found = pre.Status, true
	case errors.As(err, &rec):
		st, found = rec.Status, true
	case errors.As(err, &recd):
		st, found = recd.Status, true
	}
	if found {
		switch st {
		case hiero.StatusInvalidTopicID, hiero.StatusTopicExpired:
			return fmt.Errorf("hedera: %s: %w: %w", op, ledger.ErrTopicNotFound, err)
		case hiero.StatusInvalidTokenID, hiero.StatusTokenWasDeleted:
			return fmt.Errorf("hedera: %s: %w: %w", op, ledger.ErrTokenNotFound, err)
		case hiero.StatusBusy, hiero.StatusPlatformNotActive, hiero.StatusPlatformTransactionNotCreated,
			hiero.StatusUnknown, hiero.StatusReceiptNotFound, hiero.StatusRecordNotFound, hiero.StatusThrottledAtConsensus:
			return fmt.Errorf("hedera: %s: %w: %w", op, ledger.ErrUnavailable, err)
		default:
			l.log.Warn("transaction rejected", "op", op, "status", st.String())
			return fmt.Errorf("hedera: %s: %w: %w", op, ledger.ErrRejected, err)
		}
	}
	var chunks hiero.ErrMaxChunksExceeded
	if errors.As(err, &chunks) {
		return fmt.Errorf("hedera: %s: %w: %w", op, ledger.ErrRejected, err)
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Canceled:
		return fmt.Errorf("hedera: %s: %w: %w", op, ledger.ErrUnavailable, err)
	}
	// Anything else from the SDK (timeouts after its retries, transport
	// errors, unhealthy nodes) is treated as the network being unreachable.
	return fmt.Errorf("hedera: %s: %w: %w", op, ledger.ErrUnavailable, err)
}
