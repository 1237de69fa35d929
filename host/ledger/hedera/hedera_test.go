package hedera

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hiero-ledger/hiero-sdk-go/v2/proto/services"
	hiero "github.com/hiero-ledger/hiero-sdk-go/v2/sdk"

	"github.com/ubeu/gateway/host/ledger"
	"github.com/ubeu/gateway/host/ledger/hedera/hederatest"
	"github.com/ubeu/gateway/host/ledger/ledgertest"
)

const operatorID = "0.0.2"

// countingTransport counts mirror requests and remembers their URLs.
type countingTransport struct {
	n    atomic.Int64
	urls chan string
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	select {
	case c.urls <- r.URL.String():
	default:
	}
	return http.DefaultTransport.RoundTrip(r)
}

type fixture struct {
	net    *hederatest.Network
	key    hiero.PrivateKey
	mirror *countingTransport
}

func newFixture(t *testing.T, cfg hederatest.Config) *fixture {
	t.Helper()
	key, err := hiero.PrivateKeyGenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	cfg.OperatorID = operatorID
	cfg.OperatorKey = key.PublicKey()
	n, err := hederatest.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return &fixture{net: n, key: key, mirror: &countingTransport{urls: make(chan string, 1000)}}
}

func (f *fixture) options() Options {
	return Options{
		Network:     "local",
		Nodes:       f.net.Nodes(),
		MirrorURL:   f.net.MirrorURL,
		OperatorID:  operatorID,
		OperatorKey: f.key.StringDer(),
		MaxRetries:  4,
		Backoff:     10 * time.Millisecond,
		HTTPClient:  &http.Client{Transport: f.mirror, Timeout: 5 * time.Second},
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func (f *fixture) open(t *testing.T, edit ...func(*Options)) *Ledger {
	t.Helper()
	o := f.options()
	for _, e := range edit {
		e(&o)
	}
	l, err := Open(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func bigMessage(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i/1024)
	}
	return b
}

func TestCreateSubmitReadBack(t *testing.T) {
	f := newFixture(t, hederatest.Config{CentsPerHbar: 10})
	l := f.open(t)
	ctx := t.Context()

	tr, err := l.CreateTopic(ctx, ledger.TopicOptions{Memo: "did"})
	if err != nil {
		t.Fatal(err)
	}
	if want := f.net.FeeTinybars(hederatest.CreateTopicCents); tr.FeeTinybars != want || want != 10_000_000 {
		t.Errorf("create fee = %d tinybars, want %d ($0.01 at 10¢/ℏ = 0.1 ℏ)", tr.FeeTinybars, want)
	}
	if !strings.HasPrefix(tr.TransactionID, operatorID+"@") {
		t.Errorf("transaction ID %q not paid by the operator", tr.TransactionID)
	}

	small := []byte("hello\x00world")
	r1, err := l.Submit(ctx, tr.TopicID, small)
	if err != nil {
		t.Fatal(err)
	}
	big := bigMessage(5000)
	r2, err := l.Submit(ctx, tr.TopicID, big)
	if err != nil {
		t.Fatal(err)
	}
	perChunk := f.net.FeeTinybars(hederatest.SubmitMessageCents)
	if r1.Chunks != 1 || r1.Sequence != 1 || r1.FeeTinybars != perChunk {
		t.Errorf("small receipt: chunks %d seq %d fee %d, want 1, 1, %d", r1.Chunks, r1.Sequence, r1.FeeTinybars, perChunk)
	}
	if r2.Chunks != 5 || r2.Sequence != 6 || r2.FeeTinybars != 5*perChunk {
		t.Errorf("big receipt: chunks %d seq %d fee %d, want 5, 6, %d", r2.Chunks, r2.Sequence, r2.FeeTinybars, 5*perChunk)
	}
	if f.net.MessageCount(tr.TopicID) != 6 {
		t.Errorf("node holds %d chunks, want 6", f.net.MessageCount(tr.TopicID))
	}

	// A second gateway process has no local log: this reads the mirror only.
	reader := f.open(t)
	msgs, err := reader.Messages(ctx, tr.TopicID, time.Time{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 {
		t.Fatalf("read %d messages, want 2", len(msgs))
	}
	if !bytes.Equal(msgs[0].Contents, small) || !bytes.Equal(msgs[1].Contents, big) {
		t.Error("contents differ from what was submitted")
	}
	if msgs[1].Sequence != 2 || !msgs[1].ConsensusTime.Equal(r2.ConsensusTime) || !bytes.Equal(msgs[1].RunningHash, r2.RunningHash) {
		t.Errorf("chunked message: seq %d time %v, want 2 and %v, running hash equal to receipt's", msgs[1].Sequence, msgs[1].ConsensusTime, r2.ConsensusTime)
	}
	if msgs[1].TransactionID != r2.TransactionID || msgs[1].PayerAccount != operatorID {
		t.Errorf("chunked message tx %q payer %q, want %q and %s", msgs[1].TransactionID, msgs[1].PayerAccount, r2.TransactionID, operatorID)
	}
}

func TestReadYourWritesDespiteMirrorLag(t *testing.T) {
	f := newFixture(t, hederatest.Config{MirrorLag: time.Hour})
	l := f.open(t)
	ctx := t.Context()
	tr, err := l.CreateTopic(ctx, ledger.TopicOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Before any write the topic is unknown to the mirror, but known here.
	if msgs, err := l.Messages(ctx, tr.TopicID, time.Time{}, 10); err != nil || len(msgs) != 0 {
		t.Fatalf("Messages on a new topic = %d, %v; want 0, nil", len(msgs), err)
	}
	r, err := l.Submit(ctx, tr.TopicID, bigMessage(3000))
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := l.Messages(ctx, tr.TopicID, time.Time{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || !bytes.Equal(msgs[0].Contents, bigMessage(3000)) || msgs[0].Sequence != 1 || !msgs[0].ConsensusTime.Equal(r.ConsensusTime) {
		t.Fatalf("read after write returned %d messages, want the one just written", len(msgs))
	}
	// The mirror really lags: another process cannot see the topic yet.
	other := f.open(t)
	if _, err := other.Messages(ctx, tr.TopicID, time.Time{}, 10); !errors.Is(err, ledger.ErrTopicNotFound) {
		t.Errorf("other process: %v, want ErrTopicNotFound from the lagging mirror", err)
	}
	// Once the mirror catches up, the message is not duplicated.
	f.net.SetMirrorLag(0)
	msgs, err = l.Messages(ctx, tr.TopicID, time.Time{}, 10)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("after catch-up: %d messages, %v; want 1", len(msgs), err)
	}
}

func TestPaginationFollowsLinksNext(t *testing.T) {
	f := newFixture(t, hederatest.Config{})
	w := f.open(t)
	ctx := t.Context()
	tr, err := w.CreateTopic(ctx, ledger.TopicOptions{})
	if err != nil {
		t.Fatal(err)
	}
	big := bigMessage(5000)
	if _, err := w.Submit(ctx, tr.TopicID, big); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if _, err := w.Submit(ctx, tr.TopicID, []byte{byte('a' + i)}); err != nil {
			t.Fatal(err)
		}
	}
	r := f.open(t)
	before := f.mirror.n.Load()
	// limit 1 asks the mirror for pages of one row: the 5 chunks need 5
	// pages, reached through links.next.
	msgs, err := r.Messages(ctx, tr.TopicID, time.Time{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || !bytes.Equal(msgs[0].Contents, big) {
		t.Fatalf("got %d messages, want the 5,000-byte one whole", len(msgs))
	}
	if got := f.mirror.n.Load() - before; got != 5 {
		t.Errorf("%d mirror requests, want 5 (one per row via links.next)", got)
	}
	// Walk the rest two at a time.
	var got []string
	after := msgs[0].ConsensusTime
	for {
		page, err := r.Messages(ctx, tr.TopicID, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page {
			got = append(got, string(m.Contents))
		}
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].ConsensusTime
	}
	if strings.Join(got, "") != "abcd" {
		t.Errorf("paged contents %q, want a b c d", got)
	}
}

// A page that starts in the middle of a chunked message fetches its
// beginning.
func TestMessagesAfterMidChunk(t *testing.T) {
	f := newFixture(t, hederatest.Config{})
	w := f.open(t)
	ctx := t.Context()
	tr, err := w.CreateTopic(ctx, ledger.TopicOptions{})
	if err != nil {
		t.Fatal(err)
	}
	big := bigMessage(3000)
	if _, err := w.Submit(ctx, tr.TopicID, big); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(f.net.MirrorURL + "/topics/" + tr.TopicID + "/messages")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	rows, _, _, err := parseMirrorPage(body)
	if err != nil || len(rows) != 3 {
		t.Fatalf("mirror rows: %d, %v", len(rows), err)
	}
	r := f.open(t)
	msgs, err := r.Messages(ctx, tr.TopicID, rows[0].ts, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || !bytes.Equal(msgs[0].Contents, big) {
		t.Fatalf("after chunk 1: %d messages, want the whole message", len(msgs))
	}
}

func TestBusyIsRetried(t *testing.T) {
	f := newFixture(t, hederatest.Config{})
	l := f.open(t)
	ctx := t.Context()
	tr, err := l.CreateTopic(ctx, ledger.TopicOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.net.InjectPrecheck(services.ResponseCodeEnum_BUSY, 2)
	before := f.net.Transactions()
	r, err := l.Submit(ctx, tr.TopicID, []byte("after busy"))
	if err != nil {
		t.Fatalf("Submit after 2×BUSY: %v", err)
	}
	if got := f.net.Transactions() - before; got != 3 {
		t.Errorf("node saw %d submissions, want 3 (2 BUSY + 1)", got)
	}
	if r.Sequence != 1 {
		t.Errorf("sequence %d, want 1", r.Sequence)
	}

	// More BUSY than retries: unavailable, nothing written.
	f.net.InjectPrecheck(services.ResponseCodeEnum_BUSY, 10)
	if _, err := l.Submit(ctx, tr.TopicID, []byte("x")); !errors.Is(err, ledger.ErrUnavailable) {
		t.Errorf("Submit under persistent BUSY = %v, want ErrUnavailable", err)
	}
	if n := f.net.MessageCount(tr.TopicID); n != 1 {
		t.Errorf("topic holds %d messages, want 1", n)
	}
}

func TestWrongOperatorKeyRejected(t *testing.T) {
	f := newFixture(t, hederatest.Config{})
	wrong, err := hiero.PrivateKeyGenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	l := f.open(t, func(o *Options) { o.OperatorKey = wrong.StringDer() })
	_, err = l.CreateTopic(t.Context(), ledger.TopicOptions{})
	if !errors.Is(err, ledger.ErrRejected) {
		t.Fatalf("CreateTopic with the wrong key = %v, want ErrRejected", err)
	}
	var pre hiero.ErrHederaPreCheckStatus
	if !errors.As(err, &pre) || pre.Status != hiero.StatusInvalidSignature {
		t.Errorf("error %v does not carry INVALID_SIGNATURE", err)
	}
	if strings.Contains(err.Error(), wrong.StringDer()) || strings.Contains(err.Error(), wrong.StringRaw()) {
		t.Error("error text contains the private key")
	}
}

func TestUnknownTopic(t *testing.T) {
	f := newFixture(t, hederatest.Config{})
	l := f.open(t)
	if _, err := l.Submit(t.Context(), "0.0.424242", []byte("x")); !errors.Is(err, ledger.ErrTopicNotFound) {
		t.Errorf("Submit = %v, want ErrTopicNotFound", err)
	}
	if _, err := l.Messages(t.Context(), "0.0.424242", time.Time{}, 5); !errors.Is(err, ledger.ErrTopicNotFound) {
		t.Errorf("Messages = %v, want ErrTopicNotFound", err)
	}
	if _, err := l.Submit(t.Context(), "not-a-topic", []byte("x")); !errors.Is(err, ledger.ErrTopicNotFound) {
		t.Errorf("Submit(malformed id) = %v, want ErrTopicNotFound", err)
	}
}

func TestInsufficientBalance(t *testing.T) {
	f := newFixture(t, hederatest.Config{})
	l := f.open(t)
	ctx := t.Context()
	tr, err := l.CreateTopic(ctx, ledger.TopicOptions{})
	if err != nil {
		t.Fatal(err)
	}
	perChunk := f.net.FeeTinybars(hederatest.SubmitMessageCents)
	f.net.SetBalance(3 * perChunk)
	// A 2-chunk message fits, then the next one does not.
	if _, err := l.Submit(ctx, tr.TopicID, bigMessage(2000)); err != nil {
		t.Fatal(err)
	}
	_, err = l.Submit(ctx, tr.TopicID, bigMessage(2000))
	if !errors.Is(err, ledger.ErrRejected) {
		t.Fatalf("Submit beyond the balance = %v, want ErrRejected", err)
	}
	var pre hiero.ErrHederaPreCheckStatus
	if !errors.As(err, &pre) || pre.Status != hiero.StatusInsufficientPayerBalance {
		t.Errorf("error %v does not carry INSUFFICIENT_PAYER_BALANCE", err)
	}
	if got := f.net.Balance(); got != 0 {
		t.Errorf("balance left %d, want 0", got)
	}
}

func TestTooManyChunksRejectedLocally(t *testing.T) {
	f := newFixture(t, hederatest.Config{})
	l := f.open(t, func(o *Options) { o.MaxChunks = 2 })
	before := f.net.Transactions()
	if _, err := l.Submit(t.Context(), "0.0.1001", bigMessage(3000)); !errors.Is(err, ledger.ErrRejected) {
		t.Errorf("3-chunk message with MaxChunks 2 = %v, want ErrRejected", err)
	}
	if f.net.Transactions() != before {
		t.Error("a transaction was sent")
	}
}

func TestUnreachableNode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	f := newFixture(t, hederatest.Config{})
	l := f.open(t, func(o *Options) {
		o.Nodes = map[string]string{addr: "0.0.3"}
		o.MirrorURL = "http://" + addr + "/api/v1"
		o.MaxRetries = 100
	})
	ctx, cancel := context.WithTimeout(t.Context(), 700*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = l.CreateTopic(ctx, ledger.TopicOptions{})
	if !errors.Is(err, ledger.ErrUnavailable) {
		t.Errorf("CreateTopic on a dead node = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned after %v, deadline was 700ms", d)
	}
	ctx2, cancel2 := context.WithTimeout(t.Context(), 700*time.Millisecond)
	defer cancel2()
	start = time.Now()
	if _, err := l.Messages(ctx2, "0.0.5", time.Time{}, 1); !errors.Is(err, ledger.ErrUnavailable) {
		t.Errorf("Messages on a dead mirror = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Messages returned after %v, deadline was 700ms", d)
	}
}

func TestSlowNodeHitsDeadline(t *testing.T) {
	f := newFixture(t, hederatest.Config{})
	l := f.open(t)
	f.net.SetDelay(3 * time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := l.CreateTopic(ctx, ledger.TopicOptions{}); !errors.Is(err, ledger.ErrUnavailable) {
		t.Errorf("CreateTopic on a slow node = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("returned after %v, deadline was 300ms", d)
	}
	f.net.SetDelay(0)
}

func TestExchangeRate(t *testing.T) {
	f := newFixture(t, hederatest.Config{CentsPerHbar: 12.5})
	l := f.open(t)
	got, err := l.ExchangeRate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got.HbarEquiv != 30000 || got.CentEquiv != 375000 || got.Expiration.IsZero() {
		t.Errorf("ExchangeRate = %+v, want 30000 HBAR = 375000 cents (12.5 cents/HBAR) with an expiration", got)
	}
}

func TestOpenValidates(t *testing.T) {
	f := newFixture(t, hederatest.Config{})
	base := f.options()
	cases := map[string]func(*Options){
		"bad network":     func(o *Options) { o.Network = "moonnet" },
		"local no nodes":  func(o *Options) { o.Nodes = nil },
		"bad operator id": func(o *Options) { o.OperatorID = "alice" },
		"bad key":         func(o *Options) { o.OperatorKey = "zz-secret-zz" },
		"no mirror":       func(o *Options) { o.MirrorURL = "" },
	}
	for name, edit := range cases {
		o := base
		edit(&o)
		l, err := Open(t.Context(), o)
		if err == nil {
			_ = l.Close()
			t.Errorf("%s: Open succeeded", name)
			continue
		}
		if strings.Contains(err.Error(), "zz-secret-zz") {
			t.Errorf("%s: error echoes the key: %v", name, err)
		}
	}
	// Raw hex keys are accepted too.
	o := base
	o.OperatorKey = f.key.StringRaw()
	l, err := Open(t.Context(), o)
	if err != nil {
		t.Fatalf("raw hex key: %v", err)
	}
	if _, err := l.CreateTopic(t.Context(), ledger.TopicOptions{}); err != nil {
		t.Errorf("CreateTopic with raw hex key: %v", err)
	}
	_ = l.Close()
}

func TestConformance(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T) ledger.Ledger {
		return newFixture(t, hederatest.Config{}).open(t)
	})
}

// The suite again with a mirror that never catches up during the test:
// every read relies on the local write log.
func TestConformanceLaggingMirror(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T) ledger.Ledger {
		return newFixture(t, hederatest.Config{MirrorLag: time.Hour}).open(t)
	})
}
