// Package local is the embedded default ledger: an append-only,
// hash-chained log of topics in Badger that behaves like the Hedera
// Consensus Service (HCS).
//
// Every topic gets sequence numbers from 1 without gaps, consensus
// timestamps that strictly increase (nanoseconds; a clock that did not
// advance gives the previous timestamp + 1 ns) and the HCS version-3 running
// hash (see RunningHash). Every stored transaction carries the Ed25519
// signature of the ledger's operator key, the submit key of all topics.
// Messages larger than ledger.MaxChunkSize are split into chunks as the SDKs
// do; each chunk is its own transaction with its own sequence number,
// timestamp and running hash, and Messages reassembles them.
//
// # Chunked messages
//
// The mirror node stores each chunk as a separate message with chunk_info;
// the SDK's subscription reassembles them and reports the last chunk's
// consensus timestamp and running hash. This ledger does the same: a
// reassembled Message has the first chunk's sequence number, the last
// chunk's consensus time and running hash, and the initial transaction ID.
// Its Receipt has the last chunk's sequence number, time and running hash,
// and the initial transaction ID. Messages' after is compared with the
// reported (last chunk's) time, so paging by the last returned time is
// consistent.
//
// # Durability
//
// All chunks of one Submit are written in one Badger transaction, so a crash
// leaves either the whole message or none of it. With Options.Dir the
// database is opened with SyncWrites, so an acknowledged write survives
// kill -9 and power loss; a DB passed in Options.DB must be opened with
// SyncWrites by the caller. Submits to one topic are serialised by a
// per-topic lock (the ledger must be the database's only writer of its
// keys).
//
// # Operator key
//
// The Ed25519 operator key is generated on first Open. With Options.Sealer
// it is stored sealed (AES-256-GCM under the master key, associated data
// "ledger/operator"); without it, it is stored in plain in the database, and
// a warning is logged. A plain key found later with a Sealer is re-stored
// sealed.
//
// # Tokens
//
// The ledger also implements ledger.NFTLedger, the embedded equivalent of
// Hedera Token Service NFTs: collections take their numbers from the
// entity counter shared with topics; each mint is one durable transaction
// (see token.go).
//
// # Key layout
//
// Numbers are big-endian; <topic> is the topic number (8 bytes).
//
//	m/<topic><seq 8>        chunk record (see chunk): one per transaction
//	i/<topic><time 8>       → first seq ‖ last seq (8 + 8) of the message whose
//	                         reported (last chunk) consensus time is time,
//	                         Unix nanoseconds; Messages seeks here
//	t/<topic>               topic record: head (last seq, time, running hash),
//	                         submit key, memo
//	k/<token>               NFT collection record (see collection in token.go):
//	                         head (last serial, mint time), treasury,
//	                         supply key, name, symbol, memo
//	n/<token><serial 8>     minted NFT (see nft): time, payer, metadata,
//	                         operator signature
//	x/<time 8>              transaction log: one entry per transaction the
//	                         operator paid for (type, fee, memo, entity), keyed
//	                         by its consensus time; Transactions and Balance
//	                         read it (see treasury.go)
//	meta/topics             last entity number assigned (topics and tokens)
//	meta/operator           operator key: 0 ‖ 32-byte seed, or 1 ‖ sealed seed
//	meta/clock              last consensus time assigned, Unix nanoseconds
package local

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ubeu/gateway/host/ledger"
	"github.com/ubeu/gateway/host/seal"
)

// Defaults of Options.
const (
	DefaultNetwork   = "local"
	DefaultMaxChunks = 20 // the SDK's default TopicMessageSubmitTransaction max chunks
	// DefaultLimit is the page size of Messages when limit <= 0.
	DefaultLimit = 100
	// firstTopicNum is one less than the first topic number: like a fresh
	// Hedera network, user entities start at 1001.
	firstTopicNum = 1000
	// payerNum is the account number of the operator (0.0.2 is the
	// treasury of a Hedera network).
	payerNum = 2
)

var (
	keyTopics   = []byte("meta/topics")
	keyOperator = []byte("meta/operator")
	keyClock    = []byte("meta/clock")
	adOperator  = []byte("ledger/operator")
)

// Options configures Open.
type Options struct {
	// DB is an open Badger database to use. The caller owns it (Close does
	// not close it) and must have opened it with SyncWrites for writes to
	// be durable. The ledger's keys are not namespaced (see the key
	// layout), so the database should be the ledger's own. Either DB or Dir
	// is required.
	DB *badger.DB
	// Dir is a Badger directory dedicated to the ledger (created if
	// missing), opened with SyncWrites and closed by Close.
	Dir string
	// Sealer, if set, seals the operator key at rest.
	Sealer *seal.Sealer
	// Network names the network (DefaultNetwork if empty).
	Network string
	// ShardRealm is the "shard.realm" of entity IDs ("0.0" if empty).
	ShardRealm string
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// Logger receives warnings; slog.Default() if nil.
	Logger *slog.Logger
	// FeeTinybars, if positive, is the fee reported for a topic creation
	// and for each chunk of a message.
	FeeTinybars int64
	// Fees, where set, are the fees of each kind of transaction; they
	// override FeeTinybars.
	Fees Fees
	// InitialBalance is the treasury's balance before any fee, in tinybars
	// (DefaultInitialBalance if 0); Balance subtracts the fees charged.
	InitialBalance int64
	// Rate is the exchange rate ExchangeRate answers (DefaultRate if unset).
	Rate ledger.ExchangeRate
	// MaxChunks bounds the chunks of one message (DefaultMaxChunks if 0);
	// a larger message is rejected with ledger.ErrRejected.
	MaxChunks int
}

// Ledger is the embedded ledger. It implements ledger.Ledger and is safe for
// concurrent use.
type Ledger struct {
	db        *badger.DB
	ownDB     bool
	network   string
	shard     int64
	realm     int64
	payer     EntityID
	now       func() time.Time
	log       *slog.Logger
	fee       int64
	fees      Fees
	balance   int64
	rate      ledger.ExchangeRate
	spent     atomic.Int64 // fees charged, the sum over the transaction log
	maxChunks int
	priv      ed25519.PrivateKey
	pub       ed25519.PublicKey

	// closeMu is held shared by every operation and exclusively by Close.
	closeMu sync.RWMutex
	closed  bool

	createMu sync.Mutex     // serialises topic creation (the counter)
	topicMu  [64]sync.Mutex // serialise Submit per topic (striped by number)
	clockMu  sync.Mutex     // guards lastTime
	lastTime int64          // last consensus time assigned, Unix ns
}

var _ ledger.Ledger = (*Ledger)(nil)

// Open opens the ledger in o.DB or o.Dir, creating the operator key on
// first use.
func Open(o Options) (*Ledger, error) {
	l := &Ledger{
		network:   o.Network,
		now:       o.Now,
		log:       o.Logger,
		fee:       max(o.FeeTinybars, 0),
		fees:      o.Fees,
		balance:   o.InitialBalance,
		rate:      o.Rate,
		maxChunks: o.MaxChunks,
	}
	if l.balance == 0 {
		l.balance = DefaultInitialBalance
	}
	if l.rate == (ledger.ExchangeRate{}) {
		l.rate = DefaultRate
	}
	if l.network == "" {
		l.network = DefaultNetwork
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	l.log = l.log.With("component", "ledger", "network", l.network)
	if l.maxChunks <= 0 {
		l.maxChunks = DefaultMaxChunks
	}
	sr := o.ShardRealm
	if sr == "" {
		sr = "0.0"
	}
	id, err := ParseEntityID(sr + "." + fmt.Sprint(payerNum))
	if err != nil {
		return nil, fmt.Errorf("local ledger: ShardRealm %q: %w", o.ShardRealm, err)
	}
	l.shard, l.realm, l.payer = id.Shard, id.Realm, id

	switch {
	case o.DB != nil:
		l.db = o.DB
	case o.Dir != "":
		bo := badger.DefaultOptions(o.Dir).
			WithSyncWrites(true).
			WithLogger(badgerLogger{l.log}).
			WithLoggingLevel(badger.WARNING)
		db, err := badger.Open(bo)
		if err != nil {
			return nil, fmt.Errorf("local ledger: open %s: %w", o.Dir, err)
		}
		l.db, l.ownDB = db, true
	default:
		return nil, errors.New("local ledger: Options.DB or Options.Dir is required")
	}
	if err := l.loadOperator(o.Sealer); err != nil {
		l.closeDB()
		return nil, err
	}
	if err := l.db.View(func(txn *badger.Txn) error {
		v, err := getValue(txn, keyClock)
		if err == nil && len(v) == 8 {
			l.lastTime = int64(binary.BigEndian.Uint64(v))
		}
		if errors.Is(err, badger.ErrKeyNotFound) {
			err = nil
		}
		return err
	}); err != nil {
		l.closeDB()
		return nil, fmt.Errorf("local ledger: read clock: %w", err)
	}
	if err := l.loadSpent(); err != nil {
		l.closeDB()
		return nil, fmt.Errorf("local ledger: read transaction log: %w", err)
	}
	return l, nil
}

func (l *Ledger) closeDB() {
	if l.ownDB {
		l.db.Close()
	}
}

// loadOperator reads the operator key or creates it.
func (l *Ledger) loadOperator(sealer *seal.Sealer) error {
	return l.db.Update(func(txn *badger.Txn) error {
		v, err := getValue(txn, keyOperator)
		var seed []byte
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
			seed = make([]byte, ed25519.SeedSize)
			if _, err := rand.Read(seed); err != nil {
				return fmt.Errorf("local ledger: operator key: %w", err)
			}
			l.log.Info("created the ledger operator key")
		case err != nil:
			return fmt.Errorf("local ledger: read operator key: %w", err)
		case len(v) == 1+ed25519.SeedSize && v[0] == 0:
			seed = v[1:]
		case len(v) > 1 && v[0] == 1:
			if sealer == nil {
				return errors.New("local ledger: the operator key is sealed but no sealer (master key) was given")
			}
			seed, err = sealer.Open(v[1:], adOperator)
			if err != nil || len(seed) != ed25519.SeedSize {
				return fmt.Errorf("local ledger: open operator key (wrong master key?): %w", seal.ErrOpen)
			}
			// Already sealed: nothing to write.
			l.setOperator(seed)
			return nil
		default:
			return fmt.Errorf("%w: operator key record", ErrCorrupt)
		}
		l.setOperator(seed)
		if v != nil && sealer == nil {
			l.log.Warn("the ledger operator key is stored unsealed; give the ledger the master key to seal it")
			return nil
		}
		var rec []byte
		if sealer != nil {
			rec = append([]byte{1}, sealer.Seal(seed, adOperator)...)
		} else {
			rec = append([]byte{0}, seed...)
			l.log.Warn("the ledger operator key is stored unsealed; give the ledger the master key to seal it")
		}
		return txn.Set(keyOperator, rec)
	})
}

func (l *Ledger) setOperator(seed []byte) {
	l.priv = ed25519.NewKeyFromSeed(seed)
	l.pub = l.priv.Public().(ed25519.PublicKey)
}

// OperatorPublicKey returns the operator's Ed25519 public key, the submit
// key of every topic.
func (l *Ledger) OperatorPublicKey() ed25519.PublicKey { return bytes.Clone(l.pub) }

// Network names the network ("local" by default).
func (l *Ledger) Network() string { return l.network }

// Close releases the ledger and closes the database if Open opened it.
// Operations in flight finish first.
func (l *Ledger) Close() error {
	l.closeMu.Lock()
	defer l.closeMu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.ownDB {
		if err := l.db.Close(); err != nil {
			return fmt.Errorf("local ledger: close: %w", err)
		}
	}
	return nil
}

var errClosed = errors.New("local ledger: closed")

// begin checks the context and that the ledger is open; on success the
// caller must call l.closeMu.RUnlock.
func (l *Ledger) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.closeMu.RLock()
	if l.closed {
		l.closeMu.RUnlock()
		return errClosed
	}
	return nil
}

// nextTime returns a consensus time after both the last one assigned by the
// ledger and min: now, or the last + 1 ns if the clock has not advanced.
func (l *Ledger) nextTime(min int64) int64 {
	t := l.now().UnixNano()
	l.clockMu.Lock()
	defer l.clockMu.Unlock()
	t = max(t, l.lastTime+1, min)
	l.lastTime = t
	return t
}

// topic is the stored state of a topic.
//
// Encoding: version 1 ‖ created (8) ‖ last seq (8) ‖ last consensus (8) ‖
// running hash (48) ‖ submit key (32) ‖ memo.
type topic struct {
	Created     int64
	LastSeq     uint64
	LastTime    int64
	RunningHash []byte
	SubmitKey   ed25519.PublicKey
	Memo        string
}

const topicFixedSize = 1 + 8 + 8 + 8 + hashSize + ed25519.PublicKeySize

func (t *topic) encode() []byte {
	b := make([]byte, 0, topicFixedSize+len(t.Memo))
	b = append(b, recordVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(t.Created))
	b = binary.BigEndian.AppendUint64(b, t.LastSeq)
	b = binary.BigEndian.AppendUint64(b, uint64(t.LastTime))
	b = append(b, t.RunningHash...)
	b = append(b, t.SubmitKey...)
	return append(b, t.Memo...)
}

func decodeTopic(b []byte) (topic, error) {
	if len(b) < topicFixedSize || b[0] != recordVersion {
		return topic{}, fmt.Errorf("%w: topic record", ErrCorrupt)
	}
	return topic{
		Created:     int64(binary.BigEndian.Uint64(b[1:])),
		LastSeq:     binary.BigEndian.Uint64(b[9:]),
		LastTime:    int64(binary.BigEndian.Uint64(b[17:])),
		RunningHash: bytes.Clone(b[25 : 25+hashSize]),
		SubmitKey:   bytes.Clone(b[25+hashSize : topicFixedSize]),
		Memo:        string(b[topicFixedSize:]),
	}, nil
}

func topicKey(num int64) []byte {
	return binary.BigEndian.AppendUint64([]byte("t/"), uint64(num))
}

func msgPrefix(num int64) []byte {
	return binary.BigEndian.AppendUint64([]byte("m/"), uint64(num))
}

func msgKey(num int64, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(msgPrefix(num), seq)
}

func indexPrefix(num int64) []byte {
	return binary.BigEndian.AppendUint64([]byte("i/"), uint64(num))
}

func indexKey(num int64, at int64) []byte {
	return binary.BigEndian.AppendUint64(indexPrefix(num), uint64(at))
}

func getValue(txn *badger.Txn, key []byte) ([]byte, error) {
	item, err := txn.Get(key)
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}

// topicNum parses a topic ID of this ledger's shard and realm.
func (l *Ledger) topicNum(topicID string) (EntityID, error) {
	id, err := ParseEntityID(topicID)
	if err != nil || id.Shard != l.shard || id.Realm != l.realm || id.Num <= firstTopicNum {
		return EntityID{}, fmt.Errorf("%w: %q", ledger.ErrTopicNotFound, topicID)
	}
	return id, nil
}

func (l *Ledger) readTopic(txn *badger.Txn, id EntityID) (topic, error) {
	v, err := getValue(txn, topicKey(id.Num))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return topic{}, fmt.Errorf("%w: %s", ledger.ErrTopicNotFound, id)
	}
	if err != nil {
		return topic{}, err
	}
	t, err := decodeTopic(v)
	if err != nil {
		return topic{}, fmt.Errorf("topic %s: %w", id, err)
	}
	return t, nil
}

// CreateTopic creates a topic whose submit key is the operator key. Topic
// numbers come from a durable counter and start at 1001.
func (l *Ledger) CreateTopic(ctx context.Context, o ledger.TopicOptions) (ledger.Receipt, error) {
	if err := l.begin(ctx); err != nil {
		return ledger.Receipt{}, fmt.Errorf("local ledger: create topic: %w", err)
	}
	defer l.closeMu.RUnlock()
	if len(o.Memo) > 100 {
		return ledger.Receipt{}, fmt.Errorf("%w: topic memo longer than 100 bytes", ledger.ErrRejected)
	}
	memo := ledger.MemoFrom(ctx)
	if err := ledger.CheckMemo(memo); err != nil {
		return ledger.Receipt{}, fmt.Errorf("local ledger: create topic: %w", err)
	}
	l.createMu.Lock()
	defer l.createMu.Unlock()
	if err := ctx.Err(); err != nil {
		return ledger.Receipt{}, fmt.Errorf("local ledger: create topic: %w", err)
	}
	at := l.nextTime(0)
	var (
		id  EntityID
		fee int64
	)
	err := l.db.Update(func(txn *badger.Txn) error {
		num := int64(firstTopicNum)
		v, err := getValue(txn, keyTopics)
		switch {
		case err == nil && len(v) == 8:
			num = int64(binary.BigEndian.Uint64(v))
		case err == nil:
			return fmt.Errorf("%w: topic counter", ErrCorrupt)
		case !errors.Is(err, badger.ErrKeyNotFound):
			return err
		}
		num++
		id = EntityID{l.shard, l.realm, num}
		t := topic{Created: at, RunningHash: make([]byte, hashSize), SubmitKey: l.pub, Memo: o.Memo}
		if err := txn.Set(topicKey(num), t.encode()); err != nil {
			return err
		}
		if fee, err = l.logTx(txn, at, ledger.TxCreateTopic, memo, id.String()); err != nil {
			return err
		}
		if err := txn.Set(keyTopics, binary.BigEndian.AppendUint64(nil, uint64(num))); err != nil {
			return err
		}
		return txn.Set(keyClock, binary.BigEndian.AppendUint64(nil, uint64(at)))
	})
	if err != nil {
		return ledger.Receipt{}, fmt.Errorf("local ledger: create topic: %w", err)
	}
	l.spent.Add(fee)
	return ledger.Receipt{
		TopicID:       id.String(),
		ConsensusTime: nanoTime(at),
		RunningHash:   make([]byte, hashSize),
		TransactionID: txID(l.payer, at),
		FeeTinybars:   fee,
		Chunks:        1,
	}, nil
}

// Submit appends msg to the topic, split into chunks of at most
// ledger.MaxChunkSize bytes, all written in one durable transaction. An
// empty message or one of more than MaxChunks chunks is rejected
// (ledger.ErrRejected).
func (l *Ledger) Submit(ctx context.Context, topicID string, msg []byte) (ledger.Receipt, error) {
	if err := l.begin(ctx); err != nil {
		return ledger.Receipt{}, fmt.Errorf("local ledger: submit: %w", err)
	}
	defer l.closeMu.RUnlock()
	if len(msg) == 0 {
		return ledger.Receipt{}, fmt.Errorf("%w: empty message", ledger.ErrRejected)
	}
	memo := ledger.MemoFrom(ctx)
	if err := ledger.CheckMemo(memo); err != nil {
		return ledger.Receipt{}, fmt.Errorf("local ledger: submit: %w", err)
	}
	n := (len(msg) + ledger.MaxChunkSize - 1) / ledger.MaxChunkSize
	if n > l.maxChunks {
		return ledger.Receipt{}, fmt.Errorf("%w: message of %d bytes needs %d chunks, more than %d", ledger.ErrRejected, len(msg), n, l.maxChunks)
	}
	id, err := l.topicNum(topicID)
	if err != nil {
		return ledger.Receipt{}, fmt.Errorf("local ledger: submit: %w", err)
	}
	mu := &l.topicMu[uint64(id.Num)%uint64(len(l.topicMu))]
	mu.Lock()
	defer mu.Unlock()
	if err := ctx.Err(); err != nil {
		return ledger.Receipt{}, fmt.Errorf("local ledger: submit: %w", err)
	}

	var (
		rcpt ledger.Receipt
		fees int64
	)
	err = l.db.Update(func(txn *badger.Txn) error {
		t, err := l.readTopic(txn, id)
		if err != nil {
			return err
		}
		var initial int64
		fees = 0
		for i := range n {
			part := msg[i*ledger.MaxChunkSize : min((i+1)*ledger.MaxChunkSize, len(msg))]
			at := l.nextTime(t.LastTime + 1)
			if i == 0 {
				initial = at
			}
			seq := t.LastSeq + 1
			c := chunk{
				Seq:          seq,
				Consensus:    at,
				Payer:        l.payer,
				ValidStart:   at,
				InitialStart: initial,
				Number:       uint32(i + 1),
				Total:        uint32(n),
				RunningHash:  RunningHash(t.RunningHash, l.payer, id, nanoTime(at), seq, part),
				Contents:     part,
			}
			key := msgKey(id.Num, seq)
			rec := c.encode()
			rec = append(rec, ed25519.Sign(l.priv, signedBytes(key, rec))...)
			if err := txn.Set(key, rec); err != nil {
				return err
			}
			fee, err := l.logTx(txn, at, ledger.TxSubmitMessage, memo, topicID)
			if err != nil {
				return err
			}
			fees += fee
			t.LastSeq, t.LastTime, t.RunningHash = seq, at, c.RunningHash
		}
		first := t.LastSeq - uint64(n) + 1
		idx := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, first), t.LastSeq)
		if err := txn.Set(indexKey(id.Num, t.LastTime), idx); err != nil {
			return err
		}
		if err := txn.Set(topicKey(id.Num), t.encode()); err != nil {
			return err
		}
		if err := txn.Set(keyClock, binary.BigEndian.AppendUint64(nil, uint64(t.LastTime))); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err // not committed
		}
		rcpt = ledger.Receipt{
			TopicID:       id.String(),
			Sequence:      t.LastSeq,
			ConsensusTime: nanoTime(t.LastTime),
			RunningHash:   t.RunningHash,
			TransactionID: txID(l.payer, initial),
			FeeTinybars:   fees,
			Chunks:        n,
		}
		return nil
	})
	if err != nil {
		return ledger.Receipt{}, fmt.Errorf("local ledger: submit to %s: %w", topicID, err)
	}
	l.spent.Add(fees)
	return rcpt, nil
}

// Messages returns up to limit messages of the topic whose (last chunk's)
// consensus time is after `after`, in order, chunked messages reassembled.
// limit <= 0 means DefaultLimit. The running-hash chain of the returned
// chunks is recomputed and checked; signatures are checked by Verify only.
func (l *Ledger) Messages(ctx context.Context, topicID string, after time.Time, limit int) ([]ledger.Message, error) {
	var out []ledger.Message
	if _, err := l.EachMessage(ctx, topicID, after, limit, func(m ledger.Message) error {
		out = append(out, m)
		return nil
	}); err != nil {
		return nil, err
	}
	return out, nil
}

// EachMessage is Messages streamed: it calls f with each message, in
// order, as soon as it has been read and checked, and returns how many
// messages it passed to f (a short count means the end was reached). The
// checks are those of Messages, but a failing one is found only when the
// read reaches it: on error, f may already have been called with earlier
// messages of the page, which the caller should then discard as Messages
// would have returned none. An error from f stops the read and is
// returned wrapped. f runs inside a read transaction and should not block for long.
func (l *Ledger) EachMessage(ctx context.Context, topicID string, after time.Time, limit int, f func(ledger.Message) error) (int, error) {
	if err := l.begin(ctx); err != nil {
		return 0, fmt.Errorf("local ledger: messages: %w", err)
	}
	defer l.closeMu.RUnlock()
	if limit <= 0 {
		limit = DefaultLimit
	}
	id, err := l.topicNum(topicID)
	if err != nil {
		return 0, fmt.Errorf("local ledger: messages: %w", err)
	}
	n := 0
	err = l.db.View(func(txn *badger.Txn) error {
		if _, err := txn.Get(topicKey(id.Num)); err != nil {
			if errors.Is(err, badger.ErrKeyNotFound) {
				return fmt.Errorf("%w: %s", ledger.ErrTopicNotFound, id)
			}
			return err
		}
		start := uint64(1)
		if !after.IsZero() && after.UnixNano() >= 0 {
			first, ok, err := seekIndex(txn, id.Num, after.UnixNano())
			if err != nil || !ok {
				return err
			}
			start = first
		}
		var err error
		n, err = l.read(ctx, txn, id, start, limit, nil, f)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("local ledger: messages of %s: %w", topicID, err)
	}
	return n, nil
}

// seekIndex finds the first sequence number of the first message reported
// after the time `after` (Unix ns); ok is false if there is none.
func seekIndex(txn *badger.Txn, num int64, after int64) (first uint64, ok bool, err error) {
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = indexPrefix(num)
	it := txn.NewIterator(opts)
	defer it.Close()
	if after == int64(^uint64(0)>>1) {
		return 0, false, nil
	}
	it.Seek(indexKey(num, after+1))
	if !it.Valid() {
		return 0, false, nil
	}
	v, err := it.Item().ValueCopy(nil)
	if err != nil {
		return 0, false, err
	}
	if len(v) != 16 {
		return 0, false, fmt.Errorf("%w: index entry", ErrCorrupt)
	}
	return binary.BigEndian.Uint64(v), true, nil
}

// read calls emit with up to limit messages of the topic, in order,
// starting with the one whose first chunk is start, checking the
// running-hash chain from the record before it, and returns how many it
// emitted. If verify is set, each chunk's signature is checked against it
// too. A check that fails stops the read with an error, possibly after
// earlier messages were emitted.
func (l *Ledger) read(ctx context.Context, txn *badger.Txn, id EntityID, start uint64, limit int, verify ed25519.PublicKey, emit func(ledger.Message) error) (int, error) {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = msgPrefix(id.Num)
	// Values are read in place (item.Value) and copied once; Badger's value
	// prefetching would start a goroutine and make a copy per record.
	opts.PrefetchValues = false
	it := txn.NewIterator(opts)
	defer it.Close()

	var prev [hashSize]byte // zero: the link before sequence 1
	prevTime := int64(-1 << 63)
	expect := start
	if start > 1 {
		expect = start - 1
	}
	var (
		emitted  int
		pending  []chunk // chunks of an unfinished chunked message (own copies)
		n        int
		topicStr = id.String()
		payerStr string
		payer    EntityID
		hashes   []byte // backing store of the emitted running hashes
	)
	for it.Seek(msgKey(id.Num, expect)); it.Valid() && emitted < limit; it.Next() {
		if n++; n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return emitted, err
			}
		}
		item := it.Item()
		key := item.Key()
		seq := binary.BigEndian.Uint64(key[len(key)-8:])
		if seq != expect {
			return emitted, fmt.Errorf("%w: sequence %d follows %d", ErrCorrupt, seq, expect-1)
		}
		expect++
		var (
			c    chunk
			msg  ledger.Message
			have bool // msg is complete
		)
		err := item.Value(func(v []byte) error {
			// v is valid only in this function: everything kept is copied.
			var err error
			if c, err = decodeChunk(seq, v); err != nil {
				return err
			}
			if c.Consensus <= prevTime {
				return fmt.Errorf("%w: consensus time of sequence %d does not increase", ErrCorrupt, seq)
			}
			prevTime = c.Consensus
			if seq < start {
				copy(prev[:], c.RunningHash) // the link before the first message read
				return nil
			}
			at := nanoTime(c.Consensus)
			var want [hashSize]byte
			runningHash(&want, prev[:], c.Payer, id, at.Unix(), int32(at.Nanosecond()), seq, c.Contents)
			if !bytes.Equal(want[:], c.RunningHash) {
				return fmt.Errorf("%w: running hash of sequence %d does not match its contents", ErrCorrupt, seq)
			}
			if verify != nil && !ed25519.Verify(verify, signedBytes(key, v[:len(v)-sigSize]), c.Signature) {
				return fmt.Errorf("%w: bad signature on sequence %d", ErrCorrupt, seq)
			}
			prev = want
			if c.Number == 1 && len(pending) > 0 {
				return fmt.Errorf("%w: message at sequence %d is incomplete", ErrCorrupt, pending[0].Seq)
			}
			if len(pending) == 0 && c.Number != 1 {
				return fmt.Errorf("%w: sequence %d is chunk %d with no first chunk", ErrCorrupt, seq, c.Number)
			}
			var contents []byte
			if len(pending) == 0 && c.Number == c.Total {
				// A whole message (chunk 1 of 1): check it as reassemble
				// does, copy its contents once.
				if len(c.Contents) == 0 || len(c.Contents) > ledger.MaxChunkSize {
					return fmt.Errorf("message at sequence %d: %w: chunk %d has %d bytes", seq, ErrCorrupt, c.Number, len(c.Contents))
				}
				contents = bytes.Clone(c.Contents)
			} else {
				c.Contents = bytes.Clone(c.Contents)
				c.RunningHash, c.Signature = nil, nil // alias v; unused by reassemble
				pending = append(pending, c)
				if c.Number < c.Total {
					return nil
				}
				if contents, err = reassemble(pending, l.maxChunksRead()); err != nil {
					return fmt.Errorf("message at sequence %d: %w", pending[0].Seq, err)
				}
			}
			if payerStr == "" || c.Payer != payer {
				payer, payerStr = c.Payer, c.Payer.String()
			}
			first := seq
			if len(pending) > 0 {
				first = pending[0].Seq
			}
			if len(hashes)+hashSize > cap(hashes) {
				hashes = make([]byte, 0, hashSize*min(limit-emitted, 32))
			}
			hashes = append(hashes, want[:]...)
			msg, have = ledger.Message{
				TopicID:       topicStr,
				Sequence:      first,
				ConsensusTime: at,
				RunningHash:   hashes[len(hashes)-hashSize : len(hashes) : len(hashes)],
				Contents:      contents,
				PayerAccount:  payerStr,
				TransactionID: txID(c.Payer, c.InitialStart),
			}, true
			pending = pending[:0]
			return nil
		})
		if err != nil {
			return emitted, err
		}
		if have {
			emitted++
			if err := emit(msg); err != nil {
				return emitted, err
			}
		}
	}
	if len(pending) > 0 {
		return emitted, fmt.Errorf("%w: message at sequence %d is incomplete", ErrCorrupt, pending[0].Seq)
	}
	if start > 1 && expect == start-1 {
		return emitted, fmt.Errorf("%w: sequence %d missing", ErrCorrupt, start-1)
	}
	return emitted, nil
}

// maxChunksRead bounds the chunks of a stored message: MaxChunks may have
// been larger when it was written, so reads accept up to the HCS protocol's
// practical bound.
func (l *Ledger) maxChunksRead() int { return max(l.maxChunks, 1<<16) }

// Verify checks the whole log of a topic: sequence numbers 1… without gaps,
// strictly increasing consensus times, every running hash recomputed, every
// operator signature, every chunked message complete, the time index, and
// the topic head. A failure wraps ErrCorrupt.
func (l *Ledger) Verify(ctx context.Context, topicID string) error {
	if err := l.begin(ctx); err != nil {
		return fmt.Errorf("local ledger: verify: %w", err)
	}
	defer l.closeMu.RUnlock()
	id, err := l.topicNum(topicID)
	if err != nil {
		return fmt.Errorf("local ledger: verify: %w", err)
	}
	err = l.db.View(func(txn *badger.Txn) error {
		t, err := l.readTopic(txn, id)
		if err != nil {
			return err
		}
		if !bytes.Equal(t.SubmitKey, l.pub) {
			l.log.Warn("topic submit key is not the current operator key", "topic", id)
		}
		var msgs []ledger.Message
		_, err = l.read(ctx, txn, id, 1, int(^uint(0)>>1), t.SubmitKey, func(m ledger.Message) error {
			msgs = append(msgs, m)
			return nil
		})
		if err != nil {
			return err
		}
		var last int64 = -1
		var lastSeq uint64
		for _, m := range msgs {
			at := m.ConsensusTime.UnixNano()
			if at <= last {
				return fmt.Errorf("%w: consensus time of sequence %d does not increase", ErrCorrupt, m.Sequence)
			}
			v, err := getValue(txn, indexKey(id.Num, at))
			if err != nil || len(v) != 16 || binary.BigEndian.Uint64(v) != m.Sequence {
				return fmt.Errorf("%w: time index entry of sequence %d missing or wrong", ErrCorrupt, m.Sequence)
			}
			lastSeq = binary.BigEndian.Uint64(v[8:])
			last = at
		}
		// Chunk times inside messages: checked through the index (each
		// message's last chunk) and the chain; check the head.
		var head []byte = make([]byte, hashSize)
		if len(msgs) > 0 {
			head = msgs[len(msgs)-1].RunningHash
		}
		if t.LastSeq != lastSeq || !bytes.Equal(t.RunningHash, head) || (len(msgs) > 0 && t.LastTime != last) {
			return fmt.Errorf("%w: topic head (sequence %d) does not match its log (sequence %d)", ErrCorrupt, t.LastSeq, lastSeq)
		}
		return countIndex(txn, id.Num, len(msgs))
	})
	if err != nil {
		return fmt.Errorf("local ledger: verify %s: %w", topicID, err)
	}
	return nil
}

// countIndex checks that the topic's time index has exactly want entries.
func countIndex(txn *badger.Txn, num int64, want int) error {
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = indexPrefix(num)
	it := txn.NewIterator(opts)
	defer it.Close()
	n := 0
	for it.Rewind(); it.Valid(); it.Next() {
		n++
	}
	if n != want {
		return fmt.Errorf("%w: time index has %d entries for %d messages", ErrCorrupt, n, want)
	}
	return nil
}

// badgerLogger passes Badger's log lines to slog.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error(strings.TrimSpace(fmt.Sprintf(f, a...)), "source", "badger")
}
func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(strings.TrimSpace(fmt.Sprintf(f, a...)), "source", "badger")
}
func (b badgerLogger) Infof(f string, a ...any) {
	b.l.Debug(strings.TrimSpace(fmt.Sprintf(f, a...)), "source", "badger")
}
func (b badgerLogger) Debugf(f string, a ...any) {
	b.l.Debug(strings.TrimSpace(fmt.Sprintf(f, a...)), "source", "badger")
}
