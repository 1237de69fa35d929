package hedera

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	hiero "github.com/hiero-ledger/hiero-sdk-go/v2/sdk"

	"github.com/ubeu/gateway/host/ledger"
	"github.com/ubeu/gateway/host/ledger/hedera/hederatest"
)

var _ ledger.Treasury = (*Ledger)(nil)

// The mirror shapes the fake serves and these tests feed follow the mirror
// node OpenAPI document: https://docs.hedera.com/api-reference/transactions/list-transactions,
// https://docs.hedera.com/api-reference/accounts/get-account-by-alias-id-or-evm-address and
// https://docs.hedera.com/api-reference/network/get-the-network-exchange-rate-to-estimate-costs.

// paidWrites does one write of each kind, the message in 3 chunks, each
// with its own memo, and returns the receipts by memo in write order.
func paidWrites(t *testing.T, l *Ledger) (memos []string, receipts map[string]ledger.Receipt) {
	t.Helper()
	receipts = map[string]ledger.Receipt{}
	add := func(memo string, r ledger.Receipt, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", memo, err)
		}
		memos = append(memos, memo)
		receipts[memo] = r
	}
	ctx := t.Context()
	r, err := l.CreateTopic(ledger.WithMemo(ctx, "spend:topic"), ledger.TopicOptions{Memo: "public topic memo"})
	add("spend:topic", r, err)
	topic := r.TopicID
	r, err = l.Submit(ledger.WithMemo(ctx, "spend:msg1"), topic, []byte("one chunk"))
	add("spend:msg1", r, err)
	r, err = l.Submit(ledger.WithMemo(ctx, "spend:msg3"), topic, bigMessage(2*ledger.MaxChunkSize+10))
	add("spend:msg3", r, err)
	token, r, err := l.CreateNFTCollection(ledger.WithMemo(ctx, "spend:token"), ledger.NFTCollectionOptions{Name: "Names", Symbol: "IAM"})
	add("spend:token", r, err)
	_, r, err = l.MintNFT(ledger.WithMemo(ctx, "spend:mint"), token, []byte("iam:alice.iam"))
	add("spend:mint", r, err)
	return memos, receipts
}

func TestMemoOnEveryTransaction(t *testing.T) {
	f := newFixture(t, hederatest.Config{CentsPerHbar: 10})
	l := f.open(t)
	_, receipts := paidWrites(t, l)
	if receipts["spend:msg3"].Chunks != 3 {
		t.Fatalf("chunks = %d, want 3", receipts["spend:msg3"].Chunks)
	}
	paid := f.net.Paid()
	want := []struct{ typ, memo string }{
		{ledger.TxCreateTopic, "spend:topic"}, {ledger.TxSubmitMessage, "spend:msg1"},
		{ledger.TxSubmitMessage, "spend:msg3"}, {ledger.TxSubmitMessage, "spend:msg3"}, {ledger.TxSubmitMessage, "spend:msg3"},
		{ledger.TxTokenCreate, "spend:token"}, {ledger.TxTokenMint, "spend:mint"},
	}
	if len(paid) != len(want) {
		t.Fatalf("node processed %d transactions, want %d", len(paid), len(want))
	}
	for i, w := range want {
		if paid[i].Type != w.typ || paid[i].Memo != w.memo || paid[i].Payer != operatorID {
			t.Errorf("transaction %d = %s memo %q payer %s, want %s memo %q payer %s", i, paid[i].Type, paid[i].Memo, paid[i].Payer, w.typ, w.memo, operatorID)
		}
	}
	// Without a memo the transaction memo is empty.
	if _, err := l.CreateTopic(t.Context(), ledger.TopicOptions{}); err != nil {
		t.Fatal(err)
	}
	if p := f.net.Paid(); p[len(p)-1].Memo != "" {
		t.Errorf("memo without WithMemo = %q", p[len(p)-1].Memo)
	}
}

func TestMemoRefusedBeforeSending(t *testing.T) {
	f := newFixture(t, hederatest.Config{})
	l := f.open(t)
	topic, err := l.CreateTopic(t.Context(), ledger.TopicOptions{})
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := l.CreateNFTCollection(t.Context(), ledger.NFTCollectionOptions{Name: "N", Symbol: "S"})
	if err != nil {
		t.Fatal(err)
	}
	before := f.net.Transactions()
	for name, memo := range map[string]string{"101 bytes": strings.Repeat("m", ledger.MaxMemo+1), "zero byte": "a\x00b"} {
		ctx := ledger.WithMemo(t.Context(), memo)
		if _, err := l.CreateTopic(ctx, ledger.TopicOptions{}); !errors.Is(err, ledger.ErrRejected) {
			t.Errorf("%s: CreateTopic = %v, want ErrRejected", name, err)
		}
		if _, err := l.Submit(ctx, topic.TopicID, bigMessage(3000)); !errors.Is(err, ledger.ErrRejected) {
			t.Errorf("%s: Submit = %v, want ErrRejected", name, err)
		}
		if _, _, err := l.CreateNFTCollection(ctx, ledger.NFTCollectionOptions{Name: "N", Symbol: "S"}); !errors.Is(err, ledger.ErrRejected) {
			t.Errorf("%s: CreateNFTCollection = %v, want ErrRejected", name, err)
		}
		if _, _, err := l.MintNFT(ctx, token, []byte("x")); !errors.Is(err, ledger.ErrRejected) {
			t.Errorf("%s: MintNFT = %v, want ErrRejected", name, err)
		}
	}
	if got := f.net.Transactions() - before; got != 0 {
		t.Errorf("%d transactions reached the node", got)
	}
	// Exactly 100 bytes is accepted.
	if _, err := l.CreateTopic(ledger.WithMemo(t.Context(), strings.Repeat("m", ledger.MaxMemo)), ledger.TopicOptions{}); err != nil {
		t.Errorf("100-byte memo: %v", err)
	}
	// The fake node itself refuses an over-long memo sent past the check,
	// as the network does (precheck MEMO_TOO_LONG).
	_, err = hiero.NewTopicCreateTransaction().SetTransactionMemo(strings.Repeat("m", 101)).Execute(l.client)
	var pre hiero.ErrHederaPreCheckStatus
	if !errors.As(err, &pre) || pre.Status != hiero.StatusMemoTooLong {
		t.Errorf("node accepted a 101-byte memo: %v", err)
	}
}

func TestBalanceFallsByReceiptFees(t *testing.T) {
	f := newFixture(t, hederatest.Config{CentsPerHbar: 10})
	l := f.open(t)
	if l.TreasuryAccount() != operatorID {
		t.Fatalf("TreasuryAccount = %s", l.TreasuryAccount())
	}
	start, err := l.Balance(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if start != hederatest.DefaultBalance {
		t.Fatalf("starting balance %d, want %d", start, hederatest.DefaultBalance)
	}
	_, receipts := paidWrites(t, l)
	var spent int64
	for _, r := range receipts {
		if r.FeeTinybars <= 0 {
			t.Errorf("receipt %s has fee %d", r.TransactionID, r.FeeTinybars)
		}
		spent += r.FeeTinybars
	}
	// $0.01 + $0.0008 × 4 chunks + $1.00 + $0.02 at 10 cents/HBAR.
	wantSpent := f.net.FeeTinybars(hederatest.CreateTopicCents) + 4*f.net.FeeTinybars(hederatest.SubmitMessageCents) +
		f.net.FeeTinybars(hederatest.TokenCreateCents) + f.net.FeeTinybars(hederatest.TokenMintNFTCents)
	if spent != wantSpent {
		t.Errorf("receipts' fees %d, want %d", spent, wantSpent)
	}
	end, err := l.Balance(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if start-end != spent {
		t.Errorf("balance fell by %d, receipts' fees add up to %d", start-end, spent)
	}

	// A mirror that does not know the account, answers another account
	// or garbage, or is down: errors, never a made-up balance.
	for body, status := range map[string]int{
		`{"_status":{"messages":[{"message":"Not found"}]}}`:   http.StatusNotFound,
		`{"account":"0.0.99","balance":{"balance":5}}`:         http.StatusOK,
		`{"account":"0.0.2","balance":{"balance":-5}}`:         http.StatusOK,
		`{"account":"0.0.2"}`:                                  http.StatusOK,
		`not json`:                                             http.StatusOK,
		`{"_status":{"messages":[{"message":"Unavailable"}]}}`: http.StatusServiceUnavailable,
	} {
		f.net.OverrideMirror("/api/v1/accounts/"+operatorID, status, body)
		if b, err := l.Balance(t.Context()); !errors.Is(err, ledger.ErrUnavailable) {
			t.Errorf("mirror answering %d %s: Balance = %d, %v; want ErrUnavailable", status, body, b, err)
		}
	}
}

// With a lagging mirror, the balance and the transaction list show a write
// only once the mirror has it, together.
func TestTreasuryLaggingMirror(t *testing.T) {
	now := time.Now()
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	f := newFixture(t, hederatest.Config{MirrorLag: time.Minute, Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	l := f.open(t)
	r, err := l.CreateTopic(ledger.WithMemo(t.Context(), "spend:lag"), ledger.TopicOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Balance(t.Context())
	txs, err2 := l.Transactions(t.Context(), time.Time{}, 0)
	if err != nil || err2 != nil || b != hederatest.DefaultBalance || len(txs) != 0 {
		t.Errorf("before the mirror caught up: balance %d, %v; %d transactions, %v", b, err, len(txs), err2)
	}
	clock.Add(int64(2 * time.Minute))
	b, err = l.Balance(t.Context())
	txs, err2 = l.Transactions(t.Context(), time.Time{}, 0)
	if err != nil || err2 != nil || b != hederatest.DefaultBalance-r.FeeTinybars || len(txs) != 1 || txs[0].ID != r.TransactionID {
		t.Errorf("after: balance %d, %v; transactions %+v, %v", b, err, txs, err2)
	}
}

func TestTreasuryExchangeRate(t *testing.T) {
	f := newFixture(t, hederatest.Config{CentsPerHbar: 12})
	l := f.open(t)
	r, err := l.ExchangeRate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if r.HbarEquiv != 30000 || r.CentEquiv != 360000 || !r.Expiration.After(time.Now()) {
		t.Errorf("rate %+v, want 30000 HBAR = 360000 cents, expiring in the future", r)
	}
	f.net.SetCentsPerHbar(8.5)
	if r, err = l.ExchangeRate(t.Context()); err != nil || r.CentEquiv != 255000 {
		t.Errorf("after SetCentsPerHbar(8.5): %+v, %v (no caching in the backend)", r, err)
	}

	const path = "/api/v1/network/exchangerate"
	f.net.OverrideMirror(path, http.StatusOK, `{"current_rate":{"cent_equivalent":120000,"expiration_time":1759874400,"hbar_equivalent":10000},"next_rate":{"cent_equivalent":1,"expiration_time":1759878000,"hbar_equivalent":1},"timestamp":"1759870800.000000000"}`)
	if r, err = l.ExchangeRate(t.Context()); err != nil || r.HbarEquiv != 10000 || r.CentEquiv != 120000 || r.Expiration.Unix() != 1759874400 {
		t.Errorf("documented example: %+v, %v", r, err)
	}
	for _, body := range []string{
		`{"current_rate":{"cent_equivalent":0,"expiration_time":1,"hbar_equivalent":30000}}`,
		`{"current_rate":{"cent_equivalent":360000,"expiration_time":1,"hbar_equivalent":0}}`,
		`{"current_rate":{"cent_equivalent":-5,"expiration_time":1,"hbar_equivalent":30000}}`,
		`{"current_rate":{"cent_equivalent":5,"expiration_time":-1,"hbar_equivalent":30000}}`,
		`{"current_rate":{"hbar_equivalent":30000}}`,
		`{"current_rate":{"cent_equivalent":4294967296,"expiration_time":1,"hbar_equivalent":1}}`,
		`{"next_rate":{"cent_equivalent":5,"hbar_equivalent":1}}`,
		`{"current_rate":null}`,
		`{}`,
	} {
		f.net.OverrideMirror(path, http.StatusOK, body)
		if r, err := l.ExchangeRate(t.Context()); !errors.Is(err, ledger.ErrBadRate) {
			t.Errorf("%s: %+v, %v; want ErrBadRate", body, r, err)
		}
	}
	for body, status := range map[string]int{
		`<html>bad gateway</html>`: http.StatusBadGateway,
		`not json at all`:          http.StatusOK,
		`{"current_rate":` + strings.Repeat(" ", maxRateBody) + `null}`: http.StatusOK,
		`{"_status":{}}`: http.StatusNotFound,
	} {
		f.net.OverrideMirror(path, status, body)
		if r, err := l.ExchangeRate(t.Context()); !errors.Is(err, ledger.ErrUnavailable) {
			t.Errorf("status %d body %.40q: %+v, %v; want ErrUnavailable", status, body, r, err)
		}
	}
	f.net.OverrideMirror(path, 0, "")

	// A mirror that is not there at all.
	down := f.open(t, func(o *Options) { o.MirrorURL = "http://127.0.0.1:1/api/v1"; o.MaxRetries = 1 })
	if _, err := down.ExchangeRate(t.Context()); !errors.Is(err, ledger.ErrUnavailable) {
		t.Errorf("mirror down: %v, want ErrUnavailable", err)
	}
	// One that does not answer before the caller's deadline.
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	f.net.SetDelay(0)
	slow := f.open(t, func(o *Options) {
		o.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			<-r.Context().Done()
			return nil, r.Context().Err()
		})}
	})
	start := time.Now()
	if _, err := slow.ExchangeRate(ctx); !errors.Is(err, ledger.ErrUnavailable) || time.Since(start) > 2*time.Second {
		t.Errorf("hanging mirror: %v after %v", err, time.Since(start))
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestTransactionsMatchReceipts(t *testing.T) {
	f := newFixture(t, hederatest.Config{CentsPerHbar: 10})
	l := f.open(t)
	l.txPageSize = 2 // 7 transactions: 4 pages, 3 links.next followed
	memos, receipts := paidWrites(t, l)

	for len(f.mirror.urls) > 0 {
		<-f.mirror.urls
	}
	txs, err := l.Transactions(t.Context(), time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var pages []string
	for len(f.mirror.urls) > 0 {
		pages = append(pages, <-f.mirror.urls)
	}
	if len(pages) != 4 {
		t.Errorf("fetched %d pages, want 4: %v", len(pages), pages)
	}
	for i, u := range pages {
		if !strings.Contains(u, "account.id="+operatorID) || !strings.Contains(u, "order=asc") || (i > 0 && !strings.Contains(u, "timestamp=gt")) {
			t.Errorf("page %d URL %s", i, u)
		}
	}

	paid := f.net.Paid()
	if len(txs) != len(paid) || len(txs) != 7 {
		t.Fatalf("Transactions = %d, node processed %d, want 7", len(txs), len(paid))
	}
	for i, tx := range txs {
		p := paid[i]
		if tx.ID != p.ID || tx.Type != p.Type || tx.Memo != p.Memo || tx.Entity != p.Entity ||
			tx.FeeTinybars != p.FeeTinybars || !tx.ConsensusTime.Equal(p.Consensus) {
			t.Errorf("transaction %d = %+v, node processed %+v", i, tx, p)
		}
	}
	// Each receipt is its transactions: the first one's ID, the sum of
	// their fees, one per chunk, the last one's consensus time.
	byMemo := map[string][]ledger.Transaction{}
	for _, tx := range txs {
		byMemo[tx.Memo] = append(byMemo[tx.Memo], tx)
	}
	for _, memo := range memos {
		r, group := receipts[memo], byMemo[memo]
		var fee int64
		for _, tx := range group {
			fee += tx.FeeTinybars
		}
		if len(group) != r.Chunks || group[0].ID != r.TransactionID || fee != r.FeeTinybars ||
			!group[len(group)-1].ConsensusTime.Equal(r.ConsensusTime) {
			t.Errorf("%s: receipt %+v, transactions %+v", memo, r, group)
		}
		if r.TopicID != "" && group[0].Entity != r.TopicID {
			t.Errorf("%s: entity %s, topic %s", memo, group[0].Entity, r.TopicID)
		}
	}
	if byMemo["spend:msg3"][1].ID == byMemo["spend:msg3"][0].ID {
		t.Error("chunks share a transaction ID")
	}

	// Paging by time and limit.
	rest, err := l.Transactions(t.Context(), txs[2].ConsensusTime, 3)
	if err != nil || len(rest) != 3 || rest[0].ID != txs[3].ID || rest[2].ID != txs[5].ID {
		t.Errorf("after #2, limit 3: %+v, %v", rest, err)
	}
	end, err := l.Transactions(t.Context(), txs[6].ConsensusTime, 10)
	if err != nil || len(end) != 0 {
		t.Errorf("after the last: %+v, %v", end, err)
	}
}

func TestTransactionsMirrorGarbage(t *testing.T) {
	f := newFixture(t, hederatest.Config{})
	l := f.open(t)
	const path = "/api/v1/transactions"
	for name, body := range map[string]string{
		"not json":       `[{`,
		"no array":       `{"links":{"next":null}}`,
		"bad timestamp":  `{"transactions":[` + txRow("x", "0.0.2-1-000000001", "CONSENSUSCREATETOPIC", "SUCCESS", 5, `""`) + `]}`,
		"out of order":   `{"transactions":[` + txRow("5.000000002", "0.0.2-1-000000001", "CONSENSUSCREATETOPIC", "SUCCESS", 5, `""`) + "," + txRow("5.000000001", "0.0.2-1-000000002", "CONSENSUSCREATETOPIC", "SUCCESS", 5, `""`) + `]}`,
		"bad id":         `{"transactions":[` + txRow("5", "0.0.2@1.1", "CONSENSUSCREATETOPIC", "SUCCESS", 5, `""`) + `]}`,
		"negative fee":   `{"transactions":[` + txRow("5", "0.0.2-1-000000001", "CONSENSUSCREATETOPIC", "SUCCESS", -5, `""`) + `]}`,
		"bad memo":       `{"transactions":[` + txRow("5", "0.0.2-1-000000001", "CONSENSUSCREATETOPIC", "SUCCESS", 5, `"***"`) + `]}`,
		"absolute next":  `{"transactions":[],"links":{"next":"https://evil.example/api/v1/transactions"}}`,
		"oversized body": `{"transactions":[],"pad":"` + strings.Repeat("x", maxMirrorBody) + `"}`,
	} {
		f.net.OverrideMirror(path, http.StatusOK, body)
		if txs, err := l.Transactions(t.Context(), time.Time{}, 10); !errors.Is(err, ledger.ErrUnavailable) {
			t.Errorf("%s: %+v, %v; want ErrUnavailable", name, txs, err)
		}
	}
	// A links.next that never ends is cut off, not followed forever.
	f.net.OverrideMirror(path, http.StatusOK, `{"transactions":[],"links":{"next":"/api/v1/transactions?timestamp=gt:1"}}`)
	if _, err := l.Transactions(t.Context(), time.Time{}, 10); !errors.Is(err, ledger.ErrUnavailable) {
		t.Errorf("endless links.next: %v", err)
	}
}

func txRow(ts, id, name, result string, fee int64, memo string) string {
	return fmt.Sprintf(`{"charged_tx_fee":%d,"consensus_timestamp":%q,"entity_id":"0.0.1001","memo_base64":%s,"name":%q,"nonce":0,"result":%q,"scheduled":false,"transaction_id":%q}`,
		fee, ts, memo, name, result, id)
}

func TestParseTxPageKeepsOperatorsSuccesses(t *testing.T) {
	page := `{"transactions":[` +
		txRow("10.000000001", "0.0.2-9-000000001", "CONSENSUSCREATETOPIC", "SUCCESS", 100, `"c3BlbmQ6YQ=="`) + "," +
		txRow("10.000000002", "0.0.7-9-000000002", "CONSENSUSSUBMITMESSAGE", "SUCCESS", 5, `""`) + "," + // another payer
		txRow("10.000000003", "0.0.2-9-000000003", "CONSENSUSSUBMITMESSAGE", "INVALID_TOPIC_ID", 5, `""`) + "," + // failed
		txRow("10.000000004", "0.0.2-9-000000004", "CRYPTOTRANSFER", "SUCCESS", 5, `""`) + "," + // query payment
		txRow("10.000000005", "0.0.2-9-000000005", "TOKENMINT", "SUCCESS", 7, `""`) +
		`],"links":{"next":"/api/v1/transactions?timestamp=gt:10.000000005"}}`
	txs, last, next, err := parseTxPage([]byte(page), "0.0.2", time.Unix(10, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(txs) != 2 || txs[0].ID != "0.0.2@9.000000001" || txs[0].Memo != "spend:a" || txs[0].FeeTinybars != 100 ||
		txs[0].Entity != "0.0.1001" || txs[0].ConsensusTime != time.Unix(10, 1).UTC() || txs[1].Type != ledger.TxTokenMint {
		t.Errorf("parsed %+v", txs)
	}
	if !last.Equal(time.Unix(10, 5)) || next != "/api/v1/transactions?timestamp=gt:10.000000005" {
		t.Errorf("last %v next %q", last, next)
	}
	for in, want := range map[[3]string]string{
		{"0.0.2-1234567890-000000321", "0", "false"}: "0.0.2@1234567890.000000321",
		{"0.0.2-1234567890-000000321", "3", "false"}: "0.0.2@1234567890.000000321/3",
		{"0.0.2-1234567890-000000321", "0", "true"}:  "0.0.2@1234567890.000000321?scheduled",
	} {
		nonce := int32(in[1][0] - '0')
		if _, id, ok := parseMirrorTxID(in[0], nonce, in[2] == "true"); !ok || id != want {
			t.Errorf("parseMirrorTxID(%v) = %q, %v; want %q", in, id, ok, want)
		}
		if id, err := hiero.TransactionIdFromString(want); err != nil || id.String() != want {
			t.Errorf("SDK reads %q as %v, %v", want, id, err)
		}
	}
	for _, bad := range []string{"", "-", "0.0.2", "0.0.2-1", "a.b.c-1-1", "0.0.2-1-1234567890", "0.0.2--1", "0.0.2-x-1", "-1-1"} {
		if _, _, ok := parseMirrorTxID(bad, 0, false); ok {
			t.Errorf("parseMirrorTxID(%q) accepted", bad)
		}
	}
}

// FuzzMirrorTransactions feeds arbitrary JSON to the transactions page
// parser: no panics; what it returns is the operator's, in strictly
// increasing consensus order after `after`, with valid fees and memos.
func FuzzMirrorTransactions(f *testing.F) {
	f.Add([]byte(`{"transactions":[` + txRow("10.000000001", "0.0.2-9-000000001", "CONSENSUSCREATETOPIC", "SUCCESS", 100, `"c3BlbmQ6YQ=="`) + `],"links":{"next":null}}`))
	f.Add([]byte(`{"transactions":[` + txRow("10.1", "0.0.7-9-1", "TOKENMINT", "SUCCESS", 1, `null`) + `]}`))
	f.Add([]byte(`{"transactions":[{"consensus_timestamp":"1","transaction_id":"0.0.2-1-1","name":"TOKENCREATION","result":"SUCCESS"}]}`))
	f.Add([]byte(`{"transactions":null}`))
	after := time.Unix(1, 0)
	f.Fuzz(func(t *testing.T, data []byte) {
		txs, last, _, err := parseTxPage(data, "0.0.2", after)
		if err != nil {
			return
		}
		prev := after
		for _, tx := range txs {
			if !strings.HasPrefix(tx.ID, "0.0.2@") || !tx.ConsensusTime.After(prev) || tx.FeeTinybars < 0 ||
				len(tx.Memo) > ledger.MaxMemo || !txTypes[tx.Type] {
				t.Fatalf("bad transaction %+v", tx)
			}
			prev = tx.ConsensusTime
		}
		if last.Before(prev) {
			t.Fatalf("last %v before %v", last, prev)
		}
	})
}

// FuzzMirrorRateAndBalance feeds arbitrary JSON to the exchange rate and
// account balance parsers: no panics, only usable rates, no negative balances.
func FuzzMirrorRateAndBalance(f *testing.F) {
	f.Add([]byte(`{"current_rate":{"cent_equivalent":120000,"expiration_time":1759874400,"hbar_equivalent":10000}}`))
	f.Add([]byte(`{"current_rate":{"cent_equivalent":0,"hbar_equivalent":1}}`))
	f.Add([]byte(`{"account":"0.0.2","balance":{"balance":1000,"timestamp":"1.2","tokens":[]}}`))
	f.Add([]byte(`{"account":"0.0.2","balance":{"balance":-1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if r, err := parseExchangeRate(data); err == nil && r.Check() != nil {
			t.Fatalf("unusable rate accepted: %+v", r)
		}
		if b, err := parseAccountBalance(data, "0.0.2"); err == nil && b < 0 {
			t.Fatalf("negative balance accepted: %d", b)
		}
	})
}
