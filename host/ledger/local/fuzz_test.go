package local

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ubeu/gateway/host/ledger"
)

func ctxBackground() context.Context { return context.Background() }

// FuzzChunkReassembly writes arbitrary chunk sets, in arbitrary order, to a
// topic's log — with a valid running-hash chain and valid signatures, so
// that only the chunk info is wrong — and reads them back. Reads and Verify
// must never panic, must reject sets that are not chunks 1..total of one
// message, and what they accept must be exactly the chunks joined.
// reassemble is also called directly on each set, in the stored order.
func FuzzChunkReassembly(f *testing.F) {
	f.Add([]byte{1, 1, 0, 5})
	f.Add([]byte{1, 3, 0, 4, 2, 3, 0, 4, 3, 3, 0, 4})
	f.Add([]byte{3, 3, 0, 4, 1, 3, 0, 4, 2, 3, 0, 4})
	f.Add([]byte{1, 2, 0, 4, 2, 3, 0, 4})
	f.Add([]byte{1, 2, 0, 4, 2, 2, 1, 4})
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{1, 2, 0, 4, 1, 1, 0, 4, 2, 2, 0, 4})

	db, err := badger.Open(badger.DefaultOptions("").WithInMemory(true).WithLogger(nil))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	l, err := Open(Options{DB: db, Logger: quietLogger(), MaxChunks: 5})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { l.Close() })

	f.Fuzz(func(t *testing.T, spec []byte) {
		if len(spec) > 4*40 {
			return
		}
		r, err := l.CreateTopic(t.Context(), ledger.TopicOptions{})
		if err != nil {
			t.Fatal(err)
		}
		id, _ := ParseEntityID(r.TopicID)
		// Each 4 bytes: chunk number, total, message (initial transaction),
		// content length (0..1100: some over MaxChunkSize).
		var chunks []chunk
		prev := make([]byte, hashSize)
		at := int64(1_700_000_000_000_000_000)
		for i := 0; i+4 <= len(spec); i += 4 {
			seq := uint64(len(chunks) + 1)
			at += 10
			content := bytes.Repeat([]byte{spec[i] ^ spec[i+3]}, int(spec[i+3])*5%1101)
			c := chunk{
				Seq: seq, Consensus: at, Payer: l.payer, ValidStart: at,
				InitialStart: int64(spec[i+2] % 3),
				Number:       uint32(spec[i] % 7), Total: uint32(spec[i+1] % 7),
				Contents: content,
			}
			c.RunningHash = RunningHash(prev, l.payer, id, nanoTime(at), seq, content)
			prev = c.RunningHash
			chunks = append(chunks, c)
		}
		err = db.Update(func(txn *badger.Txn) error {
			for _, c := range chunks {
				key := msgKey(id.Num, c.Seq)
				rec := c.encode()
				rec = append(rec, ed25519.Sign(l.priv, signedBytes(key, rec))...)
				if err := txn.Set(key, rec); err != nil {
					return err
				}
				if c.Number == c.Total {
					idx := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, c.Seq-uint64(c.Total)+1), c.Seq)
					if err := txn.Set(indexKey(id.Num, c.Consensus), idx); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		// Direct reassembly of the whole set in stored order.
		if len(chunks) > 0 {
			if got, err := reassemble(chunks, 5); err == nil {
				checkWhole(t, chunks, got)
			} else if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("reassemble error %v does not wrap ErrCorrupt", err)
			}
			// Shuffled: the same verdict and result.
			shuffled := append([]chunk(nil), chunks...)
			rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			a, errA := reassemble(chunks, 5)
			b, errB := reassemble(shuffled, 5)
			if (errA == nil) != (errB == nil) || !bytes.Equal(a, b) {
				t.Fatalf("reassemble depends on chunk order: %v / %v", errA, errB)
			}
		}

		msgs, err := l.Messages(t.Context(), r.TopicID, time.Time{}, 1000)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Messages error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		// Accepted: the messages must be exactly the chunk groups, in order.
		i := 0
		for _, m := range msgs {
			if i >= len(chunks) || chunks[i].Number != 1 {
				t.Fatalf("message at %d does not start with chunk 1", m.Sequence)
			}
			n := int(chunks[i].Total)
			if i+n > len(chunks) {
				t.Fatalf("message at %d accepted with %d chunks of %d", m.Sequence, len(chunks)-i, n)
			}
			checkWhole(t, chunks[i:i+n], m.Contents)
			if m.Sequence != chunks[i].Seq || !m.ConsensusTime.Equal(nanoTime(chunks[i+n-1].Consensus)) {
				t.Fatalf("message at %d: wrong sequence or time", m.Sequence)
			}
			i += n
		}
		if i != len(chunks) {
			t.Fatalf("Messages accepted %d of %d chunks", i, len(chunks))
		}
		// The head of this hand-made topic was not updated, so Verify must
		// fail unless there were no chunks; it must not panic either way.
		if err := l.Verify(t.Context(), r.TopicID); (err == nil) != (len(chunks) == 0) {
			t.Fatalf("Verify = %v with %d chunks and a stale head", err, len(chunks))
		}
	})
}

// checkWhole checks that got is a valid reassembly of group: numbers
// 1..total exactly once, one total, one initial transaction, contents
// joined in number order.
func checkWhole(t *testing.T, group []chunk, got []byte) {
	t.Helper()
	total := int(group[0].Total)
	if total != len(group) || total == 0 || total > 5 {
		t.Fatalf("accepted %d chunks with total %d", len(group), total)
	}
	byNum := make([][]byte, total+1)
	for _, c := range group {
		if int(c.Total) != total || c.Number == 0 || int(c.Number) > total || byNum[c.Number] != nil {
			t.Fatalf("accepted chunk %d/%d in a message of %d", c.Number, c.Total, total)
		}
		if c.InitialStart != group[0].InitialStart {
			t.Fatal("accepted chunks of different initial transactions")
		}
		if len(c.Contents) == 0 || len(c.Contents) > ledger.MaxChunkSize {
			t.Fatalf("accepted a chunk of %d bytes", len(c.Contents))
		}
		byNum[c.Number] = c.Contents
	}
	if want := bytes.Join(byNum[1:], nil); !bytes.Equal(got, want) {
		t.Fatal("reassembled contents are not the chunks joined in order")
	}
}
