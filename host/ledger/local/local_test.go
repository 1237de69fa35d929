package local

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ubeu/gateway/host/ledger"
	"github.com/ubeu/gateway/host/ledger/ledgertest"
	"github.com/ubeu/gateway/host/seal"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func ok(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// openDir opens a ledger in dir, closed at the end of the test.
func openDir(t testing.TB, dir string, o Options) *Ledger {
	t.Helper()
	o.Dir = dir
	if o.Logger == nil {
		o.Logger = quietLogger()
	}
	l, err := Open(o)
	ok(t, err)
	t.Cleanup(func() { l.Close() })
	return l
}

func TestConformance(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T) ledger.Ledger {
		return openDir(t, t.TempDir(), Options{})
	})
}

// TestConformanceInMemory runs the suite on a caller-owned in-memory DB.
func TestConformanceInMemory(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T) ledger.Ledger {
		db, err := badger.Open(badger.DefaultOptions("").WithInMemory(true).WithLogger(nil))
		ok(t, err)
		t.Cleanup(func() { db.Close() })
		l, err := Open(Options{DB: db, Logger: quietLogger()})
		ok(t, err)
		t.Cleanup(func() { l.Close() })
		return l
	})
}

// TestRunningHashJavaVector checks RunningHash against the output of the
// consensus node's algorithm (ObjectOutputStream writeObject/writeLong/
// writeInt, as in ConsensusSubmitMessageHandler) run on OpenJDK 17: payer
// 0.0.2, topic 0.0.1001, messages "hello 1" and "hello 2" at
// 1700000001.123456789 and 1700000002.123456789.
func TestRunningHashJavaVector(t *testing.T) {
	want := []string{
		"31ad14458b71b5fde469b6344d69e2d070137a7579019fa00bad26423bcb4818205939c8e081110bb04e4e3a0051d181",
		"bc7b25f36657b7c88e389409ed1f42255ac79ed8deadc9da54f8d9ca85b3be0e686b916849d96acffc34f45646451220",
	}
	h := make([]byte, hashSize)
	for i, w := range want {
		seq := uint64(i + 1)
		at := time.Unix(1700000000+int64(seq), 123456789)
		h = RunningHash(h, EntityID{0, 0, 2}, EntityID{0, 0, 1001}, at, seq, []byte("hello "+string(rune('0'+seq))))
		if got := hex.EncodeToString(h); got != w {
			t.Fatalf("running hash %d = %s, want %s", seq, got, w)
		}
	}
}

func TestRunningHashAgainstStoredMessages(t *testing.T) {
	l := openDir(t, t.TempDir(), Options{})
	r, err := l.CreateTopic(t.Context(), ledger.TopicOptions{})
	ok(t, err)
	topicID, _ := ParseEntityID(r.TopicID)
	prev := make([]byte, hashSize)
	for i := range 3 {
		msg := []byte{byte(i), 'x'}
		rc, err := l.Submit(t.Context(), r.TopicID, msg)
		ok(t, err)
		want := RunningHash(prev, EntityID{0, 0, 2}, topicID, rc.ConsensusTime, rc.Sequence, msg)
		if !bytes.Equal(rc.RunningHash, want) {
			t.Fatalf("receipt %d running hash differs from RunningHash over its inputs", i)
		}
		prev = want
	}
}

func TestEntityIDs(t *testing.T) {
	l := openDir(t, t.TempDir(), Options{ShardRealm: "1.2", Network: "testnet", FeeTinybars: 7})
	if l.Network() != "testnet" {
		t.Errorf("Network() = %q", l.Network())
	}
	r, err := l.CreateTopic(t.Context(), ledger.TopicOptions{Memo: "m"})
	ok(t, err)
	if r.TopicID != "1.2.1001" {
		t.Errorf("first topic ID = %q, want 1.2.1001", r.TopicID)
	}
	if r.FeeTinybars != 7 {
		t.Errorf("create fee %d, want 7", r.FeeTinybars)
	}
	at := r.ConsensusTime
	if want := fmt.Sprintf("1.2.2@%d.%09d", at.Unix(), at.Nanosecond()); r.TransactionID != want {
		t.Errorf("transaction ID %q, want %q", r.TransactionID, want)
	}
	s, err := l.Submit(t.Context(), r.TopicID, make([]byte, 3000))
	ok(t, err)
	if s.FeeTinybars != 21 {
		t.Errorf("3-chunk submit fee %d, want 21", s.FeeTinybars)
	}
	if _, err := l.Submit(t.Context(), "0.0.1001", []byte("x")); !errors.Is(err, ledger.ErrTopicNotFound) {
		t.Errorf("topic of another shard.realm: %v, want ErrTopicNotFound", err)
	}
	if _, err := l.Submit(t.Context(), "nonsense", []byte("x")); !errors.Is(err, ledger.ErrTopicNotFound) {
		t.Errorf("malformed topic ID: %v, want ErrTopicNotFound", err)
	}
	if _, err := Open(Options{Dir: t.TempDir(), ShardRealm: "x"}); err == nil {
		t.Error("Open accepted ShardRealm \"x\"")
	}
}

func TestTooManyChunksRejected(t *testing.T) {
	l := openDir(t, t.TempDir(), Options{MaxChunks: 3})
	r, err := l.CreateTopic(t.Context(), ledger.TopicOptions{})
	ok(t, err)
	if _, err := l.Submit(t.Context(), r.TopicID, make([]byte, 3*ledger.MaxChunkSize+1)); !errors.Is(err, ledger.ErrRejected) {
		t.Fatalf("4-chunk message with MaxChunks 3: %v, want ErrRejected", err)
	}
	if _, err := l.CreateTopic(t.Context(), ledger.TopicOptions{Memo: string(make([]byte, 101))}); !errors.Is(err, ledger.ErrRejected) {
		t.Fatalf("101-byte memo: %v, want ErrRejected", err)
	}
}

// TestClockDoesNotAdvance: a stopped clock still gives strictly increasing
// times, 1 ns apart, and a clock that goes back does not reorder the topic,
// even across a reopen.
func TestClockDoesNotAdvance(t *testing.T) {
	dir := t.TempDir()
	fixed := time.Unix(1_800_000_000, 0)
	l := openDir(t, dir, Options{Now: func() time.Time { return fixed }})
	r, err := l.CreateTopic(t.Context(), ledger.TopicOptions{})
	ok(t, err)
	var last time.Time
	for i := range 3 {
		s, err := l.Submit(t.Context(), r.TopicID, make([]byte, 1500))
		ok(t, err)
		if i > 0 && s.ConsensusTime.Sub(last) != 2*time.Nanosecond {
			t.Errorf("2-chunk message %d is %v after the previous, want 2ns", i, s.ConsensusTime.Sub(last))
		}
		last = s.ConsensusTime
	}
	ok(t, l.Close())
	l2 := openDir(t, dir, Options{Now: func() time.Time { return fixed.Add(-time.Hour) }})
	s, err := l2.Submit(t.Context(), r.TopicID, []byte("later"))
	ok(t, err)
	if !s.ConsensusTime.After(last) {
		t.Errorf("after reopen with the clock an hour back: %v not after %v", s.ConsensusTime, last)
	}
	ok(t, l2.Verify(t.Context(), r.TopicID))
}

func TestOperatorKeySealed(t *testing.T) {
	dir := t.TempDir()
	mk := bytes.Repeat([]byte{7}, seal.KeySize)
	sealer, err := seal.New(mk)
	ok(t, err)
	l := openDir(t, dir, Options{Sealer: sealer})
	pub := l.OperatorPublicKey()
	ok(t, l.Close())

	// The stored key is sealed, not the seed in plain.
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	ok(t, err)
	var rec []byte
	ok(t, db.View(func(txn *badger.Txn) error {
		rec, err = getValue(txn, keyOperator)
		return err
	}))
	ok(t, db.Close())
	if rec[0] != 1 {
		t.Fatalf("operator key record kind %d, want 1 (sealed)", rec[0])
	}

	if _, err := Open(Options{Dir: dir, Logger: quietLogger()}); err == nil {
		t.Fatal("Open of a sealed operator key without a sealer succeeded")
	}
	other, _ := seal.New(bytes.Repeat([]byte{8}, seal.KeySize))
	if _, err := Open(Options{Dir: dir, Logger: quietLogger(), Sealer: other}); !errors.Is(err, seal.ErrOpen) {
		t.Fatalf("Open with the wrong master key: %v, want seal.ErrOpen", err)
	}
	l2 := openDir(t, dir, Options{Sealer: sealer})
	if !bytes.Equal(l2.OperatorPublicKey(), pub) {
		t.Fatal("operator key changed across reopen")
	}
}

func TestOperatorKeyPlainThenSealed(t *testing.T) {
	dir := t.TempDir()
	l := openDir(t, dir, Options{})
	pub := l.OperatorPublicKey()
	ok(t, l.Close())
	l = openDir(t, dir, Options{})
	if !bytes.Equal(l.OperatorPublicKey(), pub) {
		t.Fatal("plain operator key changed across reopen")
	}
	ok(t, l.Close())
	sealer, _ := seal.New(bytes.Repeat([]byte{9}, seal.KeySize))
	l = openDir(t, dir, Options{Sealer: sealer})
	if !bytes.Equal(l.OperatorPublicKey(), pub) {
		t.Fatal("operator key changed when sealed")
	}
	ok(t, l.Close())
	if _, err := Open(Options{Dir: dir, Logger: quietLogger()}); err == nil {
		t.Fatal("the key was not re-stored sealed: Open without a sealer succeeded")
	}
}

// tamper opens dir's database and changes the value of key with fn.
func tamper(t *testing.T, dir string, key []byte, fn func(v []byte) []byte) {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	ok(t, err)
	defer db.Close()
	ok(t, db.Update(func(txn *badger.Txn) error {
		v, err := getValue(txn, key)
		if err != nil {
			return err
		}
		return txn.Set(key, fn(v))
	}))
}

func TestTamperingDetected(t *testing.T) {
	setup := func(t *testing.T) (dir string, topicID string, num int64) {
		dir = t.TempDir()
		l := openDir(t, dir, Options{})
		r, err := l.CreateTopic(t.Context(), ledger.TopicOptions{})
		ok(t, err)
		for i := range 4 {
			msg := fmt.Appendf(nil, "message %d", i)
			if i == 2 {
				msg = bytes.Repeat([]byte("big"), 1000) // 3 chunks: sequences 3-5
			}
			_, err := l.Submit(t.Context(), r.TopicID, msg)
			ok(t, err)
		}
		ok(t, l.Verify(t.Context(), r.TopicID))
		ok(t, l.Close())
		id, _ := ParseEntityID(r.TopicID)
		return dir, r.TopicID, id.Num
	}
	cases := []struct {
		name     string
		key      func(num int64) []byte
		fn       func(v []byte) []byte
		readFail bool // Messages detects it too (running hash chain)
	}{
		{"content byte", func(n int64) []byte { return msgKey(n, 2) }, func(v []byte) []byte {
			v[chunkFixedSize] ^= 1
			return v
		}, true},
		{"chunk content byte", func(n int64) []byte { return msgKey(n, 4) }, func(v []byte) []byte {
			v[chunkFixedSize+10] ^= 0x80
			return v
		}, true},
		{"running hash", func(n int64) []byte { return msgKey(n, 6) }, func(v []byte) []byte {
			v[60] ^= 1
			return v
		}, true},
		{"signature", func(n int64) []byte { return msgKey(n, 1) }, func(v []byte) []byte {
			v[len(v)-1] ^= 1
			return v
		}, false},
		{"chunk total", func(n int64) []byte { return msgKey(n, 3) }, func(v []byte) []byte {
			v[56]++
			return v
		}, true},
		{"topic head", func(n int64) []byte { return topicKey(n) }, func(v []byte) []byte {
			v[16]-- // last sequence
			return v
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, topicID, num := setup(t)
			tamper(t, dir, tc.key(num), tc.fn)
			l := openDir(t, dir, Options{})
			err := l.Verify(t.Context(), topicID)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Verify after tampering: %v, want ErrCorrupt", err)
			}
			_, err = l.Messages(t.Context(), topicID, time.Time{}, 100)
			if tc.readFail && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Messages after tampering: %v, want ErrCorrupt", err)
			}
		})
	}
	t.Run("deleted record", func(t *testing.T) {
		dir, topicID, num := setup(t)
		db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
		ok(t, err)
		ok(t, db.Update(func(txn *badger.Txn) error { return txn.Delete(msgKey(num, 2)) }))
		ok(t, db.Close())
		l := openDir(t, dir, Options{})
		if err := l.Verify(t.Context(), topicID); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Verify with a record deleted: %v, want ErrCorrupt", err)
		}
		if _, err := l.Messages(t.Context(), topicID, time.Time{}, 100); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Messages with a record deleted: %v, want ErrCorrupt", err)
		}
	})
}

func TestSubmitAfterClose(t *testing.T) {
	l := openDir(t, t.TempDir(), Options{})
	r, err := l.CreateTopic(t.Context(), ledger.TopicOptions{})
	ok(t, err)
	ok(t, l.Close())
	if _, err := l.Submit(context.Background(), r.TopicID, []byte("x")); err == nil {
		t.Fatal("Submit after Close succeeded")
	}
	ok(t, l.Close()) // idempotent
}
