package local

import (
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ubeu/gateway/host/ledger"
)

// BenchmarkSubmit submits 200-byte messages to one topic of an on-disk
// ledger (SyncWrites: one fsync per Submit).
func BenchmarkSubmit(b *testing.B) {
	l := openDir(b, b.TempDir(), Options{})
	benchSubmit(b, l)
}

// BenchmarkSubmitInMemory is BenchmarkSubmit without the disk: the cost of
// hashing, signing and the Badger transaction.
func BenchmarkSubmitInMemory(b *testing.B) {
	db, err := badger.Open(badger.DefaultOptions("").WithInMemory(true).WithLogger(nil))
	ok(b, err)
	b.Cleanup(func() { db.Close() })
	l, err := Open(Options{DB: db, Logger: quietLogger()})
	ok(b, err)
	benchSubmit(b, l)
}

func benchSubmit(b *testing.B, l *Ledger) {
	r, err := l.CreateTopic(b.Context(), ledger.TopicOptions{})
	ok(b, err)
	msg := make([]byte, 200)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Submit(b.Context(), r.TopicID, msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMessages20 reads a whole 20-message topic (DID-document sized
// messages of 300 bytes, one of them chunked), as an uncached did:hedera
// resolution does.
func BenchmarkMessages20(b *testing.B) {
	l := openDir(b, b.TempDir(), Options{})
	r, err := l.CreateTopic(b.Context(), ledger.TopicOptions{})
	ok(b, err)
	for i := range 20 {
		msg := make([]byte, 300)
		if i == 10 {
			msg = make([]byte, 2500)
		}
		msg[0] = byte(i)
		_, err := l.Submit(b.Context(), r.TopicID, msg)
		ok(b, err)
	}
	// Another topic's messages around it, so the read seeks.
	o, err := l.CreateTopic(b.Context(), ledger.TopicOptions{})
	ok(b, err)
	for range 50 {
		_, err := l.Submit(b.Context(), o.TopicID, make([]byte, 300))
		ok(b, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		msgs, err := l.Messages(b.Context(), r.TopicID, time.Time{}, 100)
		if err != nil || len(msgs) != 20 {
			b.Fatalf("%d messages, %v", len(msgs), err)
		}
	}
}
