// Package hederatest runs in-process stand-ins for a Hedera consensus node
// (gRPC, built from the SDK's own generated services) and a mirror node
// (REST), sharing one in-memory state, so the hedera backend can be tested
// through the real Hiero Go SDK without a network.
//
// What the fake node models:
//   - ConsensusService createTopic and submitMessage, TokenService
//     createToken and mintToken (non-fungible tokens only), CryptoService
//     getTransactionReceipts and getTxRecordByTxID. Nothing else.
//   - Transactions are decoded from SignedTransactionBytes; the signature map
//     must hold a valid signature by the configured operator key over the body
//     bytes (else precheck INVALID_SIGNATURE) and the payer must be the
//     operator account (else PAYER_ACCOUNT_NOT_FOUND).
//   - Every accepted transaction reaches "consensus" at once: strictly
//     increasing consensus timestamps, per-topic sequence numbers from 1, and a
//     running hash. The running hash is a deterministic SHA-384 chain laid out
//     like HCS running-hash version 3 (previous hash, version, payer, topic,
//     consensus time, sequence number, SHA-384 of the message); it has not been
//     checked against hashes produced by the real network.
//   - Fees: ConsensusCreateTopic $0.01 and ConsensusSubmitMessage $0.0008 per
//     chunk, converted to tinybars at Config.CentsPerHbar (or the rate set
//     with SetCentsPerHbar); they appear in the record (transactionFee) and
//     are deducted from the payer's balance (INSUFFICIENT_PAYER_BALANCE at
//     precheck when an enforced Config.Balance runs out). Record queries
//     cost 0 here, and nothing is charged for a transaction refused at
//     precheck (every refusal here is at precheck).
//   - Precheck INVALID_TOPIC_ID for unknown topics, MESSAGE_SIZE_TOO_LARGE
//     for chunks over 1024 bytes, DUPLICATE_TRANSACTION for a reused ID.
//   - Tokens (see token.go): createToken accepts NON_FUNGIBLE_UNIQUE tokens
//     whose treasury is the operator account; mintToken checks the token's
//     supply key signed and gives serial numbers from 1 per token. Topic and
//     token numbers share one entity counter, as on Hedera. Every failure is
//     reported at precheck (the real network reports some, such as
//     INVALID_TOKEN_ID, in the receipt instead). Fees: TokenCreate $1.00,
//     TokenMint $0.02 per NFT.
//   - Transaction memos: MEMO_TOO_LONG above 100 bytes and
//     INVALID_ZERO_BYTE_IN_STRING for a zero byte, at precheck. Every
//     accepted transaction is recorded with its memo, fee and payer
//     (Paid), and the mirror serves them (GET /api/v1/transactions), the
//     payer's balance (GET /api/v1/accounts/{id}, GET /api/v1/balances)
//     and the exchange rate (see mirror.go).
//   - Knobs: InjectPrecheck (e.g. BUSY for the next n transactions),
//     SetDelay (every RPC waits), SetMirrorLag, SetBalance, SetCentsPerHbar,
//     OverrideMirror (a canned answer, e.g. a 503 or nonsense, for a path).
package hederatest

import (
	"context"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hiero-ledger/hiero-sdk-go/v2/proto/services"
	hiero "github.com/hiero-ledger/hiero-sdk-go/v2/sdk"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Fees in US cents, as published for HCS (see ../shared/specs/local-peers.md);
// the Token Service fees are in token.go.
const (
	CreateTopicCents   = 1.0  // $0.01
	SubmitMessageCents = 0.08 // $0.0008 per chunk
)

// DefaultBalance is the payer's starting balance when Config.Balance is
// zero: 10,000 HBAR.
const DefaultBalance int64 = 10_000 * 100_000_000

// Config configures a Network.
type Config struct {
	// OperatorID is the only payer account the node knows, e.g. "0.0.2".
	OperatorID string
	// OperatorKey is that account's public key; signatures are checked against it.
	OperatorKey hiero.PublicKey
	// NodeAccountID is the node's account, default "0.0.3".
	NodeAccountID string
	// CentsPerHbar is the exchange rate used for fees and served by the
	// mirror; default 12.
	CentsPerHbar float64
	// Balance, when positive, is the payer's balance in tinybars; fees are
	// charged against it. Zero means unlimited: the balance then starts at
	// DefaultBalance, falls by every fee and may go negative.
	Balance int64
	// MirrorLag delays visibility on the mirror after consensus.
	MirrorLag time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Network is a running fake consensus node plus mirror node.
type Network struct {
	// NodeAddr is the gRPC address ("127.0.0.1:port", plaintext).
	NodeAddr string
	// NodeAccountID is the node's account ID ("0.0.3").
	NodeAccountID string
	// MirrorURL is the REST base, "http://127.0.0.1:port/api/v1".
	MirrorURL string

	cfg      Config
	operator hiero.AccountID
	grpcSrv  *grpc.Server
	httpSrv  *http.Server

	mu            sync.Mutex
	nextEntity    int64
	topics        map[string]*topic
	tokens        map[string]*token
	txs           map[string]*services.TransactionRecord
	balance       int64
	limitBalance  bool
	inject        []services.ResponseCodeEnum
	delay         time.Duration
	mirrorLag     time.Duration
	lastConsensus time.Time
	txCount       int
	centsPerHbar  float64
	paid          []Paid
	overrides     map[string]mirrorOverride
}

// Paid is one transaction the node accepted and charged, as it processed it.
type Paid struct {
	ID            string // SDK form, "0.0.2@1234567890.000000321"
	MirrorID      string // mirror form, "0.0.2-1234567890-000000321"
	Type          string // mirror name: CONSENSUSCREATETOPIC, CONSENSUSSUBMITMESSAGE, TOKENCREATION, TOKENMINT
	Payer         string
	Memo          string
	Entity        string // topic or token acted on
	FeeTinybars   int64
	MaxFee        uint64
	ValidStart    time.Time
	Consensus     time.Time
	Nonce         int32
	Scheduled     bool
	NodeAccountID string
}

type topic struct {
	id          *services.TopicID
	memo        string
	created     time.Time
	runningHash []byte
	msgs        []*storedMessage
}

type storedMessage struct {
	seq         uint64
	consensus   time.Time
	runningHash []byte
	contents    []byte
	payer       string
	chunk       *services.ConsensusMessageChunkInfo
}

// consensusServer and cryptoServer adapt Network to the generated interfaces.
type consensusServer struct {
	services.UnimplementedConsensusServiceServer
	n *Network
}

type cryptoServer struct {
	services.UnimplementedCryptoServiceServer
	n *Network
}

// Start starts the node and the mirror on 127.0.0.1 ephemeral ports.
func Start(cfg Config) (*Network, error) {
	if cfg.NodeAccountID == "" {
		cfg.NodeAccountID = "0.0.3"
	}
	if cfg.CentsPerHbar <= 0 {
		cfg.CentsPerHbar = 12
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	op, err := hiero.AccountIDFromString(cfg.OperatorID)
	if err != nil {
		return nil, fmt.Errorf("hederatest: operator id: %w", err)
	}
	n := &Network{
		NodeAccountID: cfg.NodeAccountID,
		cfg:           cfg,
		operator:      op,
		nextEntity:    1000,
		topics:        map[string]*topic{},
		tokens:        map[string]*token{},
		txs:           map[string]*services.TransactionRecord{},
		balance:       cfg.Balance,
		limitBalance:  cfg.Balance > 0,
		mirrorLag:     cfg.MirrorLag,
		centsPerHbar:  cfg.CentsPerHbar,
		overrides:     map[string]mirrorOverride{},
	}
	if n.balance <= 0 {
		n.balance = DefaultBalance
	}

	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("hederatest: listen grpc: %w", err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = gl.Close()
		return nil, fmt.Errorf("hederatest: listen http: %w", err)
	}
	n.NodeAddr = gl.Addr().String()
	n.MirrorURL = "http://" + hl.Addr().String() + "/api/v1"

	n.grpcSrv = grpc.NewServer()
	services.RegisterConsensusServiceServer(n.grpcSrv, consensusServer{n: n})
	services.RegisterCryptoServiceServer(n.grpcSrv, cryptoServer{n: n})
	services.RegisterTokenServiceServer(n.grpcSrv, tokenServer{n: n})
	go func() { _ = n.grpcSrv.Serve(gl) }()

	n.httpSrv = &http.Server{Handler: n.mirrorHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = n.httpSrv.Serve(hl) }()
	return n, nil
}

// Close stops both servers.
func (n *Network) Close() {
	n.grpcSrv.Stop()
	_ = n.httpSrv.Close()
}

// Nodes returns the address → node account map for hedera.Options.Nodes.
func (n *Network) Nodes() map[string]string {
	return map[string]string{n.NodeAddr: n.NodeAccountID}
}

// InjectPrecheck makes the next count transactions fail precheck with code
// (for example services.ResponseCodeEnum_BUSY) before any other check.
func (n *Network) InjectPrecheck(code services.ResponseCodeEnum, count int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for range count {
		n.inject = append(n.inject, code)
	}
}

// SetDelay makes every RPC wait d before it is handled.
func (n *Network) SetDelay(d time.Duration) {
	n.mu.Lock()
	n.delay = d
	n.mu.Unlock()
}

// SetMirrorLag sets how long after consensus entities become visible on the mirror.
func (n *Network) SetMirrorLag(d time.Duration) {
	n.mu.Lock()
	n.mirrorLag = d
	n.mu.Unlock()
}

// SetBalance sets the payer's balance in tinybars and starts enforcing it.
func (n *Network) SetBalance(tinybars int64) {
	n.mu.Lock()
	n.balance = tinybars
	n.limitBalance = true
	n.mu.Unlock()
}

// Balance returns the payer's balance in tinybars: the starting balance
// (Config.Balance, SetBalance or DefaultBalance) less every fee charged since.
func (n *Network) Balance() int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.balance
}

// Transactions returns how many transactions the node has received
// (including rejected ones).
func (n *Network) Transactions() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.txCount
}

// FeeTinybars converts a fee in US cents to tinybars at the current rate.
func (n *Network) FeeTinybars(cents float64) int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.feeTinybars(cents)
}

func (n *Network) feeTinybars(cents float64) int64 {
	return int64(math.Round(cents / n.centsPerHbar * 1e8))
}

// SetCentsPerHbar changes the exchange rate, for the fees of later
// transactions and for the mirror's /network/exchangerate.
func (n *Network) SetCentsPerHbar(c float64) {
	n.mu.Lock()
	n.centsPerHbar = c
	n.mu.Unlock()
}

// Paid returns every transaction the node accepted, in consensus order.
func (n *Network) Paid() []Paid {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Paid(nil), n.paid...)
}

// MessageCount returns how many chunks a topic holds (0 for unknown topics).
func (n *Network) MessageCount(topicID string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if t, ok := n.topics[topicID]; ok {
		return len(t.msgs)
	}
	return 0
}

func (n *Network) wait(ctx context.Context) error {
	n.mu.Lock()
	d := n.delay
	n.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s consensusServer) CreateTopic(ctx context.Context, tx *services.Transaction) (*services.TransactionResponse, error) {
	return s.n.handle(ctx, tx, "create")
}

func (s consensusServer) SubmitMessage(ctx context.Context, tx *services.Transaction) (*services.TransactionResponse, error) {
	return s.n.handle(ctx, tx, "submit")
}

func precheck(code services.ResponseCodeEnum) *services.TransactionResponse {
	return &services.TransactionResponse{NodeTransactionPrecheckCode: code}
}

// handle runs precheck and, when it passes, applies the transaction at
// once (this fake reaches consensus immediately).
func (n *Network) handle(ctx context.Context, tx *services.Transaction, kind string) (*services.TransactionResponse, error) {
	if err := n.wait(ctx); err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.txCount++
	if len(n.inject) > 0 {
		code := n.inject[0]
		n.inject = n.inject[1:]
		return precheck(code), nil
	}

	// Only the current wire form (signedTransactionBytes) is accepted.
	signed := &services.SignedTransaction{}
	if err := proto.Unmarshal(tx.GetSignedTransactionBytes(), signed); err != nil || len(signed.GetBodyBytes()) == 0 {
		return precheck(services.ResponseCodeEnum_INVALID_TRANSACTION_BODY), nil
	}
	body := &services.TransactionBody{}
	if err := proto.Unmarshal(signed.GetBodyBytes(), body); err != nil {
		return precheck(services.ResponseCodeEnum_INVALID_TRANSACTION_BODY), nil
	}
	txid := body.GetTransactionID()
	if txid == nil || txid.GetAccountID() == nil || txid.GetTransactionValidStart() == nil {
		return precheck(services.ResponseCodeEnum_INVALID_TRANSACTION_ID), nil
	}
	if accountString(txid.GetAccountID()) != n.operator.String() {
		return precheck(services.ResponseCodeEnum_PAYER_ACCOUNT_NOT_FOUND), nil
	}
	if !n.signedByOperator(signed) {
		return precheck(services.ResponseCodeEnum_INVALID_SIGNATURE), nil
	}
	key := txKey(txid)
	if _, dup := n.txs[key]; dup {
		return precheck(services.ResponseCodeEnum_DUPLICATE_TRANSACTION), nil
	}
	if len(body.GetMemo()) > 100 {
		return precheck(services.ResponseCodeEnum_MEMO_TOO_LONG), nil
	}
	if strings.IndexByte(body.GetMemo(), 0) >= 0 {
		return precheck(services.ResponseCodeEnum_INVALID_ZERO_BYTE_IN_STRING), nil
	}

	var fee int64
	var submit *services.ConsensusSubmitMessageTransactionBody
	var create *services.ConsensusCreateTopicTransactionBody
	var t *topic
	var tokenCreate *services.TokenCreateTransactionBody
	var tokenMint *services.TokenMintTransactionBody
	var tok *token
	switch kind {
	case "tokenCreate":
		tokenCreate = body.GetTokenCreation()
		if tokenCreate == nil {
			return precheck(services.ResponseCodeEnum_NOT_SUPPORTED), nil
		}
		if code := n.checkTokenCreate(tokenCreate, signed); code != services.ResponseCodeEnum_OK {
			return precheck(code), nil
		}
		fee = n.feeTinybars(TokenCreateCents)
	case "tokenMint":
		tokenMint = body.GetTokenMint()
		if tokenMint == nil {
			return precheck(services.ResponseCodeEnum_NOT_SUPPORTED), nil
		}
		var code services.ResponseCodeEnum
		if tok, code = n.checkTokenMint(tokenMint, signed); code != services.ResponseCodeEnum_OK {
			return precheck(code), nil
		}
		fee = n.feeTinybars(TokenMintNFTCents) * int64(len(tokenMint.GetMetadata()))
	case "create":
		create = body.GetConsensusCreateTopic()
		if create == nil {
			return precheck(services.ResponseCodeEnum_NOT_SUPPORTED), nil
		}
		if len(create.GetMemo()) > 100 {
			return precheck(services.ResponseCodeEnum_MEMO_TOO_LONG), nil
		}
		fee = n.feeTinybars(CreateTopicCents)
	case "submit":
		submit = body.GetConsensusSubmitMessage()
		if submit == nil {
			return precheck(services.ResponseCodeEnum_NOT_SUPPORTED), nil
		}
		var ok bool
		if t, ok = n.topics[topicString(submit.GetTopicID())]; !ok {
			return precheck(services.ResponseCodeEnum_INVALID_TOPIC_ID), nil
		}
		if len(submit.GetMessage()) == 0 {
			return precheck(services.ResponseCodeEnum_INVALID_TOPIC_MESSAGE), nil
		}
		if len(submit.GetMessage()) > 1024 {
			return precheck(services.ResponseCodeEnum_MESSAGE_SIZE_TOO_LARGE), nil
		}
		fee = n.feeTinybars(SubmitMessageCents)
	}
	if uint64(fee) > body.GetTransactionFee() {
		return precheck(services.ResponseCodeEnum_INSUFFICIENT_TX_FEE), nil
	}
	if n.limitBalance && n.balance < fee {
		return precheck(services.ResponseCodeEnum_INSUFFICIENT_PAYER_BALANCE), nil
	}
	n.balance -= fee

	now := n.cfg.Now().UTC()
	if !now.After(n.lastConsensus) {
		now = n.lastConsensus.Add(time.Nanosecond)
	}
	n.lastConsensus = now
	receipt := &services.TransactionReceipt{Status: services.ResponseCodeEnum_SUCCESS}
	var typ, entity string
	switch {
	case tokenCreate != nil:
		receipt.TokenID = n.createToken(tokenCreate, now)
		typ, entity = "TOKENCREATION", tokenString(receipt.TokenID)
	case tokenMint != nil:
		receipt.SerialNumbers, receipt.NewTotalSupply = tok.mint(tokenMint.GetMetadata(), now)
		typ, entity = "TOKENMINT", tokenString(tok.id)
	case create != nil:
		n.nextEntity++
		tid := &services.TopicID{TopicNum: n.nextEntity}
		n.topics[topicString(tid)] = &topic{id: tid, memo: create.GetMemo(), created: now, runningHash: make([]byte, 48)}
		receipt.TopicID = tid
		typ, entity = "CONSENSUSCREATETOPIC", topicString(tid)
	case submit != nil:
		typ, entity = "CONSENSUSSUBMITMESSAGE", topicString(t.id)
		seq := uint64(len(t.msgs)) + 1
		t.runningHash = runningHash(t.runningHash, txid.GetAccountID(), t.id, now, seq, submit.GetMessage())
		t.msgs = append(t.msgs, &storedMessage{
			seq:         seq,
			consensus:   now,
			runningHash: t.runningHash,
			contents:    append([]byte(nil), submit.GetMessage()...),
			payer:       accountString(txid.GetAccountID()),
			chunk:       submit.GetChunkInfo(),
		})
		receipt.TopicSequenceNumber = seq
		receipt.TopicRunningHash = t.runningHash
		receipt.TopicRunningHashVersion = 3
	}
	n.txs[key] = &services.TransactionRecord{
		Receipt:            receipt,
		ConsensusTimestamp: &services.Timestamp{Seconds: now.Unix(), Nanos: int32(now.Nanosecond())},
		TransactionID:      txid,
		Memo:               body.GetMemo(),
		TransactionFee:     uint64(fee),
	}
	vs := txid.GetTransactionValidStart()
	n.paid = append(n.paid, Paid{
		ID:            fmt.Sprintf("%s@%d.%09d", accountString(txid.GetAccountID()), vs.GetSeconds(), vs.GetNanos()),
		MirrorID:      mirrorTxID(txid),
		Type:          typ,
		Payer:         accountString(txid.GetAccountID()),
		Memo:          body.GetMemo(),
		Entity:        entity,
		FeeTinybars:   fee,
		MaxFee:        body.GetTransactionFee(),
		ValidStart:    time.Unix(vs.GetSeconds(), int64(vs.GetNanos())).UTC(),
		Consensus:     now,
		Nonce:         txid.GetNonce(),
		Scheduled:     txid.GetScheduled(),
		NodeAccountID: accountString(body.GetNodeAccountID()),
	})
	return precheck(services.ResponseCodeEnum_OK), nil
}

func (n *Network) signedByOperator(signed *services.SignedTransaction) bool {
	return signedBy(n.cfg.OperatorKey, signed)
}

// signedBy reports whether the signature map holds a valid signature by
// key over the body bytes.
func signedBy(key hiero.PublicKey, signed *services.SignedTransaction) bool {
	raw := key.BytesRaw()
	for _, p := range signed.GetSigMap().GetSigPair() {
		prefix := p.GetPubKeyPrefix()
		if len(prefix) > len(raw) || string(raw[:len(prefix)]) != string(prefix) {
			continue
		}
		var sig []byte
		switch {
		case p.GetEd25519() != nil:
			sig = p.GetEd25519()
		case p.GetECDSASecp256K1() != nil:
			sig = p.GetECDSASecp256K1()
		default:
			continue
		}
		if key.VerifySignedMessage(signed.GetBodyBytes(), sig) {
			return true
		}
	}
	return false
}

// runningHash follows the field order of HCS running hash version 3.
func runningHash(prev []byte, payer *services.AccountID, t *services.TopicID, ts time.Time, seq uint64, msg []byte) []byte {
	h := sha512.New384()
	h.Write(prev)
	put := func(v int64) { _ = binary.Write(h, binary.BigEndian, v) }
	put(3)
	put(payer.GetShardNum())
	put(payer.GetRealmNum())
	put(payer.GetAccountNum())
	put(t.GetShardNum())
	put(t.GetRealmNum())
	put(t.GetTopicNum())
	put(ts.Unix())
	_ = binary.Write(h, binary.BigEndian, int32(ts.Nanosecond()))
	put(int64(seq))
	mh := sha512.Sum384(msg)
	h.Write(mh[:])
	return h.Sum(nil)
}

func (s cryptoServer) GetTransactionReceipts(ctx context.Context, q *services.Query) (*services.Response, error) {
	if err := s.n.wait(ctx); err != nil {
		return nil, err
	}
	rq := q.GetTransactionGetReceipt()
	s.n.mu.Lock()
	rec, ok := s.n.txs[txKey(rq.GetTransactionID())]
	s.n.mu.Unlock()
	resp := &services.TransactionGetReceiptResponse{Header: &services.ResponseHeader{NodeTransactionPrecheckCode: services.ResponseCodeEnum_OK}}
	if !ok {
		resp.Header.NodeTransactionPrecheckCode = services.ResponseCodeEnum_RECEIPT_NOT_FOUND
	} else {
		resp.Receipt = rec.GetReceipt()
	}
	return &services.Response{Response: &services.Response_TransactionGetReceipt{TransactionGetReceipt: resp}}, nil
}

func (s cryptoServer) GetTxRecordByTxID(ctx context.Context, q *services.Query) (*services.Response, error) {
	if err := s.n.wait(ctx); err != nil {
		return nil, err
	}
	rq := q.GetTransactionGetRecord()
	header := &services.ResponseHeader{
		NodeTransactionPrecheckCode: services.ResponseCodeEnum_OK,
		ResponseType:                rq.GetHeader().GetResponseType(),
	}
	resp := &services.TransactionGetRecordResponse{Header: header}
	if rq.GetHeader().GetResponseType() != services.ResponseType_COST_ANSWER {
		s.n.mu.Lock()
		rec, ok := s.n.txs[txKey(rq.GetTransactionID())]
		s.n.mu.Unlock()
		if !ok {
			header.NodeTransactionPrecheckCode = services.ResponseCodeEnum_RECORD_NOT_FOUND
		} else {
			resp.TransactionRecord = rec
		}
	}
	return &services.Response{Response: &services.Response_TransactionGetRecord{TransactionGetRecord: resp}}, nil
}

func txKey(id *services.TransactionID) string {
	ts := id.GetTransactionValidStart()
	return fmt.Sprintf("%s@%d.%09d/%d/%t", accountString(id.GetAccountID()), ts.GetSeconds(), ts.GetNanos(), id.GetNonce(), id.GetScheduled())
}

func accountString(a *services.AccountID) string {
	return fmt.Sprintf("%d.%d.%d", a.GetShardNum(), a.GetRealmNum(), a.GetAccountNum())
}

func topicString(t *services.TopicID) string {
	return fmt.Sprintf("%d.%d.%d", t.GetShardNum(), t.GetRealmNum(), t.GetTopicNum())
}

// mirrorTxID formats a transaction ID the way the mirror node REST API
// does: "0.0.10-1234567890-000000321".
func mirrorTxID(id *services.TransactionID) string {
	ts := id.GetTransactionValidStart()
	return fmt.Sprintf("%s-%d-%09d", accountString(id.GetAccountID()), ts.GetSeconds(), ts.GetNanos())
}

// visible returns the topic's chunks that the mirror may show at now.
func (n *Network) visible(topicID string, now time.Time) ([]*storedMessage, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	t, ok := n.topics[topicID]
	if !ok || t.created.Add(n.mirrorLag).After(now) {
		return nil, errNotFound
	}
	var out []*storedMessage
	for _, m := range t.msgs {
		if m.consensus.Add(n.mirrorLag).After(now) {
			break
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out, nil
}

var errNotFound = errors.New("not found")
