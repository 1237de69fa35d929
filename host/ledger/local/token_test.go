package local

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

func TestNFTMintSerialsAndDurability(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := Open(Options{Dir: dir, Logger: quietLogger(), FeeTinybars: 7})
	ok(t, err)

	topic, err := l.CreateTopic(ctx, ledger.TopicOptions{})
	ok(t, err)
	tokenID, cr, err := l.CreateNFTCollection(ctx, ledger.NFTCollectionOptions{Name: "names", Symbol: "IAM", Memo: "m"})
	ok(t, err)
	if topic.TopicID != "0.0.1001" || tokenID != "0.0.1002" {
		t.Fatalf("entity IDs: topic %s token %s, want one counter 0.0.1001, 0.0.1002", topic.TopicID, tokenID)
	}
	if cr.FeeTinybars != 7 || cr.TransactionID == "" || cr.ConsensusTime.IsZero() {
		t.Fatalf("create receipt %+v", cr)
	}
	var prev ledger.Receipt
	for i := 1; i <= 3; i++ {
		serial, r, err := l.MintNFT(ctx, tokenID, fmt.Appendf(nil, "iam:n%d.iam", i))
		ok(t, err)
		if serial != int64(i) {
			t.Fatalf("mint %d: serial %d", i, serial)
		}
		if r.FeeTinybars != 7 || !r.ConsensusTime.After(cr.ConsensusTime) || !r.ConsensusTime.After(prev.ConsensusTime) {
			t.Fatalf("mint %d receipt %+v", i, r)
		}
		prev = r
	}
	ok(t, l.VerifyToken(ctx, tokenID))
	ok(t, l.Close())

	// Reopen: the NFTs, the serial counter and the entity counter survive.
	l = openDir(t, dir, Options{})
	n, err := l.NFT(ctx, tokenID, 2)
	ok(t, err)
	if n.Serial != 2 || string(n.Metadata) != "iam:n2.iam" || n.Owner != "0.0.2" || n.MintedAt.IsZero() || n.TokenID != tokenID {
		t.Fatalf("NFT after reopen %+v", n)
	}
	last, err := l.NFT(ctx, tokenID, 3)
	ok(t, err)
	if !last.MintedAt.Equal(prev.ConsensusTime) || last.TransactionID != prev.TransactionID {
		t.Fatalf("NFT 3 %+v, mint receipt %+v", last, prev)
	}
	serial, _, err := l.MintNFT(ctx, tokenID, nil)
	if err != nil || serial != 4 {
		t.Fatalf("mint after reopen: %d %v", serial, err)
	}
	next, err := l.CreateTopic(ctx, ledger.TopicOptions{})
	ok(t, err)
	if next.TopicID != "0.0.1003" {
		t.Fatalf("topic after reopen %s", next.TopicID)
	}
	ok(t, l.VerifyToken(ctx, tokenID))
}

func TestNFTRejections(t *testing.T) {
	ctx := context.Background()
	l := openDir(t, t.TempDir(), Options{})
	topic, err := l.CreateTopic(ctx, ledger.TopicOptions{})
	ok(t, err)
	tokenID, _, err := l.CreateNFTCollection(ctx, ledger.NFTCollectionOptions{Name: "n", Symbol: "S"})
	ok(t, err)

	if _, _, err := l.MintNFT(ctx, tokenID, bytes.Repeat([]byte("x"), ledger.MaxNFTMetadata+1)); !errors.Is(err, ledger.ErrRejected) {
		t.Errorf("101-byte metadata: %v", err)
	}
	if _, _, err := l.MintNFT(ctx, tokenID, bytes.Repeat([]byte("x"), ledger.MaxNFTMetadata)); err != nil {
		t.Errorf("100-byte metadata: %v", err)
	}
	for _, id := range []string{topic.TopicID, "0.0.9999", "garbage", "1.0.1002"} {
		if _, _, err := l.MintNFT(ctx, id, []byte("x")); !errors.Is(err, ledger.ErrTokenNotFound) {
			t.Errorf("mint on %q: %v", id, err)
		}
	}
	if _, err := l.NFT(ctx, tokenID, 2); !errors.Is(err, ledger.ErrTokenNotFound) {
		t.Errorf("unminted serial: %v", err)
	}
	if _, err := l.Messages(ctx, tokenID, time.Time{}, 10); !errors.Is(err, ledger.ErrTopicNotFound) {
		t.Errorf("token ID read as a topic: %v", err)
	}
	for _, o := range []ledger.NFTCollectionOptions{{Symbol: "S"}, {Name: "n"}, {Name: "n", Symbol: "S", Memo: string(bytes.Repeat([]byte("m"), 101))}} {
		if _, _, err := l.CreateNFTCollection(ctx, o); !errors.Is(err, ledger.ErrRejected) {
			t.Errorf("create %+v: %v", o, err)
		}
	}
}

func TestNFTConcurrentMints(t *testing.T) {
	ctx := context.Background()
	l := openDir(t, t.TempDir(), Options{})
	tokenID, _, err := l.CreateNFTCollection(ctx, ledger.NFTCollectionOptions{Name: "n", Symbol: "S"})
	ok(t, err)
	const n = 20
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[int64]bool{}
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, _, err := l.MintNFT(ctx, tokenID, fmt.Appendf(nil, "%d", i))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			seen[s] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	for s := int64(1); s <= n; s++ {
		if !seen[s] {
			t.Fatalf("serial %d missing from %v", s, seen)
		}
	}
	ok(t, l.VerifyToken(ctx, tokenID))
}

func TestNFTTamperingDetected(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := Open(Options{Dir: dir, Logger: quietLogger()})
	ok(t, err)
	tokenID, _, err := l.CreateNFTCollection(ctx, ledger.NFTCollectionOptions{Name: "n", Symbol: "S"})
	ok(t, err)
	for range 2 {
		_, _, err := l.MintNFT(ctx, tokenID, []byte("iam:alice.iam"))
		ok(t, err)
	}
	ok(t, l.Close())
	id, _ := ParseEntityID(tokenID)
	tamper(t, dir, nftKey(id.Num, 2), func(v []byte) []byte {
		v[nftFixedSize] ^= 1 // a metadata byte
		return v
	})
	l = openDir(t, dir, Options{})
	if err := l.VerifyToken(ctx, tokenID); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("verify after tampering: %v", err)
	}
	if _, err := l.NFT(ctx, tokenID, 2); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read after tampering: %v", err)
	}
	if _, err := l.NFT(ctx, tokenID, 1); err != nil {
		t.Fatalf("untouched NFT: %v", err)
	}
}
