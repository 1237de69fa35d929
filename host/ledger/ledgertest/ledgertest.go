// Package ledgertest is the conformance suite of ledger.Ledger backends.
//
// A backend's test calls Run with a function that opens a fresh, empty
// ledger for each subtest:
//
//	func TestConformance(t *testing.T) {
//		ledgertest.Run(t, func(t *testing.T) ledger.Ledger {
//			l, err := local.Open(local.Options{Dir: t.TempDir()})
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { l.Close() })
//			return l
//		})
//	}
//
// Reads go through Messages, which on a network backend may lag behind the
// receipts (a mirror node ingests with a delay), so the suite polls for up to
// PollTimeout until the expected messages are visible.
package ledgertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ubeu/gateway/host/ledger"
)

// PollTimeout bounds how long the suite waits for submitted messages to
// become readable. Network backends may raise it before calling Run.
var PollTimeout = 30 * time.Second

// UnknownTopic is a well-formed topic ID that no backend under test is
// expected to have. Network backends may change it before calling Run.
var UnknownTopic = "0.0.999999999"

// Run runs the conformance subtests against the ledgers made by open. open
// is called once per subtest and must return a ledger whose Close is
// arranged by the caller (t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) ledger.Ledger) {
	tests := []struct {
		name string
		fn   func(t *testing.T, l ledger.Ledger)
	}{
		{"Network", testNetwork},
		{"CreateTopicDistinct", testCreateTopicDistinct},
		{"SubmitSequence", testSubmitSequence},
		{"MessagesInOrder", testMessagesInOrder},
		{"Pagination", testPagination},
		{"Chunked", testChunked},
		{"ChunkBoundary", testChunkBoundary},
		{"EmptyMessageRejected", testEmptyRejected},
		{"UnknownTopic", testUnknownTopic},
		{"ConcurrentSubmit", testConcurrentSubmit},
		{"ContextCancelled", testContextCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

func testNetwork(t *testing.T, l ledger.Ledger) {
	if l.Network() == "" {
		t.Fatal("Network() is empty")
	}
}

func testCreateTopicDistinct(t *testing.T, l ledger.Ledger) {
	ctx := t.Context()
	seen := map[string]bool{}
	for range 3 {
		r, err := l.CreateTopic(ctx, ledger.TopicOptions{Memo: "conformance"})
		if err != nil {
			t.Fatalf("CreateTopic: %v", err)
		}
		if r.TopicID == "" {
			t.Fatal("CreateTopic returned an empty topic ID")
		}
		if seen[r.TopicID] {
			t.Fatalf("topic ID %s returned twice", r.TopicID)
		}
		seen[r.TopicID] = true
		if r.Sequence != 0 {
			t.Errorf("CreateTopic receipt Sequence = %d, want 0", r.Sequence)
		}
		if r.TransactionID == "" {
			t.Error("CreateTopic receipt has no transaction ID")
		}
		if r.ConsensusTime.IsZero() {
			t.Error("CreateTopic receipt has no consensus time")
		}
	}
}

// newTopic creates a topic or fails the test.
func newTopic(t *testing.T, l ledger.Ledger) string {
	t.Helper()
	r, err := l.CreateTopic(t.Context(), ledger.TopicOptions{Memo: "conformance"})
	if err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	return r.TopicID
}

// submit submits msg or fails the test.
func submit(t *testing.T, l ledger.Ledger, topic string, msg []byte) ledger.Receipt {
	t.Helper()
	r, err := l.Submit(t.Context(), topic, msg)
	if err != nil {
		t.Fatalf("Submit(%d bytes): %v", len(msg), err)
	}
	return r
}

// waitMessages reads the whole topic (in pages of 100) until it holds at
// least n messages or PollTimeout passes.
func waitMessages(t *testing.T, l ledger.Ledger, topic string, n int) []ledger.Message {
	t.Helper()
	deadline := time.Now().Add(PollTimeout)
	for {
		var all []ledger.Message
		var after time.Time
		for {
			page, err := l.Messages(t.Context(), topic, after, 100)
			if err != nil {
				t.Fatalf("Messages: %v", err)
			}
			all = append(all, page...)
			if len(page) < 100 {
				break
			}
			after = page[len(page)-1].ConsensusTime
		}
		if len(all) >= n {
			return all
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s: %d messages readable after %v, want %d", topic, len(all), PollTimeout, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func payload(i int) []byte {
	// Include a NUL and a non-UTF-8 byte: contents are bytes, not text.
	return fmt.Appendf(nil, "message %d\x00\xff", i)
}

func testSubmitSequence(t *testing.T, l ledger.Ledger) {
	topic := newTopic(t, l)
	var prev ledger.Receipt
	for i := 1; i <= 5; i++ {
		r := submit(t, l, topic, payload(i))
		if r.TopicID != topic {
			t.Errorf("receipt %d TopicID = %q, want %q", i, r.TopicID, topic)
		}
		if r.Sequence != uint64(i) {
			t.Errorf("receipt %d Sequence = %d, want %d", i, r.Sequence, i)
		}
		if r.Chunks != 1 {
			t.Errorf("receipt %d Chunks = %d, want 1", i, r.Chunks)
		}
		if len(r.RunningHash) == 0 {
			t.Errorf("receipt %d has no running hash", i)
		}
		if r.TransactionID == "" {
			t.Errorf("receipt %d has no transaction ID", i)
		}
		if i > 1 {
			if !r.ConsensusTime.After(prev.ConsensusTime) {
				t.Errorf("receipt %d consensus time %v not after %v", i, r.ConsensusTime, prev.ConsensusTime)
			}
			if bytes.Equal(r.RunningHash, prev.RunningHash) {
				t.Errorf("receipt %d running hash did not change", i)
			}
			if r.TransactionID == prev.TransactionID {
				t.Errorf("receipt %d reuses transaction ID %s", i, r.TransactionID)
			}
		}
		prev = r
	}
	// Sequence numbers are per topic.
	other := newTopic(t, l)
	if r := submit(t, l, other, payload(1)); r.Sequence != 1 {
		t.Errorf("first message of a second topic has Sequence %d, want 1", r.Sequence)
	}
}

func testMessagesInOrder(t *testing.T, l ledger.Ledger) {
	topic := newTopic(t, l)
	var receipts []ledger.Receipt
	for i := 1; i <= 5; i++ {
		receipts = append(receipts, submit(t, l, topic, payload(i)))
	}
	msgs := waitMessages(t, l, topic, 5)
	if len(msgs) != 5 {
		t.Fatalf("got %d messages, want 5", len(msgs))
	}
	for i, m := range msgs {
		r := receipts[i]
		if m.TopicID != topic {
			t.Errorf("message %d TopicID = %q, want %q", i, m.TopicID, topic)
		}
		if m.Sequence != uint64(i+1) {
			t.Errorf("message %d Sequence = %d, want %d", i, m.Sequence, i+1)
		}
		if !bytes.Equal(m.Contents, payload(i+1)) {
			t.Errorf("message %d Contents = %q, want %q", i, m.Contents, payload(i+1))
		}
		if !m.ConsensusTime.Equal(r.ConsensusTime) {
			t.Errorf("message %d ConsensusTime = %v, receipt said %v", i, m.ConsensusTime, r.ConsensusTime)
		}
		if !bytes.Equal(m.RunningHash, r.RunningHash) {
			t.Errorf("message %d RunningHash = %x, receipt said %x", i, m.RunningHash, r.RunningHash)
		}
		if m.TransactionID != r.TransactionID {
			t.Errorf("message %d TransactionID = %q, receipt said %q", i, m.TransactionID, r.TransactionID)
		}
		if m.PayerAccount == "" {
			t.Errorf("message %d has no payer account", i)
		}
	}
}

func testPagination(t *testing.T, l ledger.Ledger) {
	topic := newTopic(t, l)
	const n = 7
	for i := 1; i <= n; i++ {
		submit(t, l, topic, payload(i))
	}
	all := waitMessages(t, l, topic, n)
	if len(all) != n {
		t.Fatalf("got %d messages, want %d", len(all), n)
	}
	var got []ledger.Message
	var after time.Time
	pages := 0
	for {
		page, err := l.Messages(t.Context(), topic, after, 3)
		if err != nil {
			t.Fatalf("Messages(after %v, 3): %v", after, err)
		}
		if len(page) > 3 {
			t.Fatalf("page of %d messages with limit 3", len(page))
		}
		pages++
		got = append(got, page...)
		if len(page) < 3 {
			break
		}
		after = page[len(page)-1].ConsensusTime
		if pages > n {
			t.Fatal("pagination does not end")
		}
	}
	if pages != 3 {
		t.Errorf("read %d pages of 3 for %d messages, want 3 (the last short)", pages, n)
	}
	if len(got) != n {
		t.Fatalf("paged through %d messages, want %d", len(got), n)
	}
	for i, m := range got {
		if m.Sequence != uint64(i+1) || !bytes.Equal(m.Contents, payload(i+1)) {
			t.Errorf("page message %d: Sequence %d Contents %q", i, m.Sequence, m.Contents)
		}
	}
	// after the last message: empty page.
	page, err := l.Messages(t.Context(), topic, all[n-1].ConsensusTime, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 0 {
		t.Errorf("%d messages after the last one, want 0", len(page))
	}
	// after a time just before the third message: starts at the third.
	page, err = l.Messages(t.Context(), topic, all[2].ConsensusTime.Add(-time.Nanosecond), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 1 || page[0].Sequence != 3 {
		t.Errorf("Messages(after third-1ns, 1) = %v, want the third message", seqs(page))
	}
}

func seqs(ms []ledger.Message) []uint64 {
	s := make([]uint64, len(ms))
	for i, m := range ms {
		s[i] = m.Sequence
	}
	return s
}

func testChunked(t *testing.T, l ledger.Ledger) {
	topic := newTopic(t, l)
	big := make([]byte, 5000)
	for i := range big {
		big[i] = byte(i*7 + i/251)
	}
	r1 := submit(t, l, topic, payload(1))
	r2 := submit(t, l, topic, big)
	r3 := submit(t, l, topic, payload(3))
	if r2.Chunks != 5 {
		t.Errorf("5,000-byte message took %d chunks, want 5", r2.Chunks)
	}
	// The receipt's sequence number is the last chunk's.
	if r2.Sequence != 6 {
		t.Errorf("5-chunk message after one message: receipt Sequence %d, want 6 (its last chunk)", r2.Sequence)
	}
	if r3.Sequence != 7 {
		t.Errorf("message after the chunked one has Sequence %d, want 7", r3.Sequence)
	}
	if !r2.ConsensusTime.After(r1.ConsensusTime) || !r3.ConsensusTime.After(r2.ConsensusTime) {
		t.Errorf("consensus times not increasing: %v %v %v", r1.ConsensusTime, r2.ConsensusTime, r3.ConsensusTime)
	}
	msgs := waitMessages(t, l, topic, 3)
	if len(msgs) != 3 {
		t.Fatalf("got %d messages, want 3 (the chunked one reassembled)", len(msgs))
	}
	m := msgs[1]
	if !bytes.Equal(m.Contents, big) {
		t.Fatalf("chunked message read back as %d bytes, differs from the 5,000 submitted", len(m.Contents))
	}
	if m.Sequence != 2 {
		t.Errorf("chunked message Sequence = %d, want 2 (its first chunk)", m.Sequence)
	}
	if !m.ConsensusTime.Equal(r2.ConsensusTime) {
		t.Errorf("chunked message ConsensusTime = %v, receipt (last chunk) said %v", m.ConsensusTime, r2.ConsensusTime)
	}
	if !bytes.Equal(m.RunningHash, r2.RunningHash) {
		t.Errorf("chunked message RunningHash differs from its receipt's")
	}
	if msgs[2].Sequence != 7 || !bytes.Equal(msgs[2].Contents, payload(3)) {
		t.Errorf("message after the chunked one: Sequence %d Contents %q", msgs[2].Sequence, msgs[2].Contents)
	}
	// Pagination stays consistent with the reported times.
	page, err := l.Messages(t.Context(), topic, msgs[0].ConsensusTime, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 1 || !bytes.Equal(page[0].Contents, big) {
		t.Errorf("Messages(after first, 1) did not return the whole chunked message")
	}
	page, err = l.Messages(t.Context(), topic, m.ConsensusTime, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 1 || page[0].Sequence != 7 {
		t.Errorf("Messages(after chunked) = sequences %v, want [7]", seqs(page))
	}
}

func testChunkBoundary(t *testing.T, l ledger.Ledger) {
	topic := newTopic(t, l)
	exact := bytes.Repeat([]byte{'a'}, ledger.MaxChunkSize)
	over := bytes.Repeat([]byte{'b'}, ledger.MaxChunkSize+1)
	if r := submit(t, l, topic, exact); r.Chunks != 1 {
		t.Errorf("%d-byte message took %d chunks, want 1", len(exact), r.Chunks)
	}
	if r := submit(t, l, topic, over); r.Chunks != 2 {
		t.Errorf("%d-byte message took %d chunks, want 2", len(over), r.Chunks)
	}
	msgs := waitMessages(t, l, topic, 2)
	if len(msgs) != 2 || !bytes.Equal(msgs[0].Contents, exact) || !bytes.Equal(msgs[1].Contents, over) {
		t.Errorf("boundary messages not read back whole: %d messages", len(msgs))
	}
}

func testEmptyRejected(t *testing.T, l ledger.Ledger) {
	topic := newTopic(t, l)
	if _, err := l.Submit(t.Context(), topic, nil); !errors.Is(err, ledger.ErrRejected) {
		t.Errorf("Submit(empty) = %v, want ErrRejected", err)
	}
}

func testUnknownTopic(t *testing.T, l ledger.Ledger) {
	if _, err := l.Submit(t.Context(), UnknownTopic, []byte("x")); !errors.Is(err, ledger.ErrTopicNotFound) {
		t.Errorf("Submit(unknown topic) = %v, want ErrTopicNotFound", err)
	}
	if _, err := l.Messages(t.Context(), UnknownTopic, time.Time{}, 10); !errors.Is(err, ledger.ErrTopicNotFound) {
		t.Errorf("Messages(unknown topic) = %v, want ErrTopicNotFound", err)
	}
}

func testConcurrentSubmit(t *testing.T, l ledger.Ledger) {
	topic := newTopic(t, l)
	const workers, each = 8, 10
	var (
		mu   sync.Mutex
		seen = map[uint64]string{}
		wg   sync.WaitGroup
		errs = make(chan error, workers*each)
	)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				msg := fmt.Sprintf("w%d-%d", w, i)
				r, err := l.Submit(t.Context(), topic, []byte(msg))
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if prev, dup := seen[r.Sequence]; dup {
					errs <- fmt.Errorf("sequence %d given to %q and %q", r.Sequence, prev, msg)
				}
				seen[r.Sequence] = msg
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	for s := uint64(1); s <= workers*each; s++ {
		if _, ok := seen[s]; !ok {
			t.Fatalf("sequence %d missing: not gapless", s)
		}
	}
	msgs := waitMessages(t, l, topic, workers*each)
	if len(msgs) != workers*each {
		t.Fatalf("read %d messages, want %d", len(msgs), workers*each)
	}
	for i, m := range msgs {
		if m.Sequence != uint64(i+1) {
			t.Fatalf("message %d has Sequence %d", i, m.Sequence)
		}
		if string(m.Contents) != seen[m.Sequence] {
			t.Errorf("sequence %d holds %q, receipt was for %q", m.Sequence, m.Contents, seen[m.Sequence])
		}
		if i > 0 && !m.ConsensusTime.After(msgs[i-1].ConsensusTime) {
			t.Errorf("sequence %d consensus time %v not after %v", m.Sequence, m.ConsensusTime, msgs[i-1].ConsensusTime)
		}
	}
}

func testContextCancelled(t *testing.T, l ledger.Ledger) {
	topic := newTopic(t, l)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := l.CreateTopic(ctx, ledger.TopicOptions{}); err == nil {
		t.Error("CreateTopic with a cancelled context succeeded")
	}
	if _, err := l.Submit(ctx, topic, []byte("x")); err == nil {
		t.Error("Submit with a cancelled context succeeded")
	}
	if _, err := l.Messages(ctx, topic, time.Time{}, 10); err == nil {
		t.Error("Messages with a cancelled context succeeded")
	}
	// Nothing was written by the cancelled Submit.
	if r := submit(t, l, topic, []byte("after")); r.Sequence != 1 {
		t.Errorf("first successful Submit after a cancelled one has Sequence %d, want 1", r.Sequence)
	}
}
