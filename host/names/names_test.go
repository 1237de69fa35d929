package names

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ubeu/gateway/host/did"
	"github.com/ubeu/gateway/host/ledger/local"
	"github.com/ubeu/gateway/host/seal"
	"github.com/ubeu/gateway/host/store/badgerstore"
)

var ctx = context.Background()

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newRegistry(t *testing.T) (*Registry, *local.Ledger, *clock) {
	t.Helper()
	s, _ := seal.New(bytes.Repeat([]byte{1}, seal.KeySize))
	st, err := badgerstore.Open(ctx, badgerstore.Options{Dir: t.TempDir(), Sealer: s, IndexKey: bytes.Repeat([]byte{2}, 32), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l, err := local.Open(local.Options{Dir: t.TempDir(), Sealer: s, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	return New(st.KV(), l, c.now), l, c
}

func TestNormalise(t *testing.T) {
	good := map[string]string{"Alice.IAM": "alice.iam", "a-b.iam": "a-b.iam", "abc.iam": "abc.iam", "x1y.iam": "x1y.iam"}
	for in, want := range good {
		if got, err := Normalise(in); err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	for _, in := range []string{"", "alice", "alice.com", "a.b.iam", "ab.iam", "-ab.iam", "ab-.iam", "a--b.iam", "xn--abc.iam", "al ice.iam", "alice.iam.", "ålice.iam", ".iam"} {
		if _, err := Normalise(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestRegisterResolveRenew(t *testing.T) {
	r, l, c := newRegistry(t)
	n, err := r.Register(ctx, "Alice.iam", "u1", "did:hedera:local:zA_0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if n.Name != "alice.iam" || n.Serial != 1 || n.TopicID == "" || n.TransactionID == "" || !n.ExpiresAt.Equal(c.now().Add(Term)) {
		t.Fatalf("registered %+v", n)
	}
	// The name's token: NFT serial 1 of the .iam collection.
	nft, err := l.NFT(ctx, n.TokenID, 1)
	if err != nil || string(nft.Metadata) != "iam:alice.iam" {
		t.Fatalf("NFT of the name: %+v %v", nft, err)
	}
	if err := l.VerifyToken(ctx, n.TokenID); err != nil {
		t.Fatal(err)
	}
	// On the ledger.
	msgs, err := l.Messages(ctx, n.TopicID, time.Time{}, 10)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("ledger: %v %d", err, len(msgs))
	}
	var ev event
	json.Unmarshal(msgs[0].Contents, &ev)
	if ev.Type != "register" || ev.Name != "alice.iam" || ev.Serial != 1 || ev.TokenID != n.TokenID || ev.Owner != n.DID {
		t.Fatalf("ledger event %+v", ev)
	}
	if did, err := r.ResolveName(ctx, "ALICE.iam"); err != nil || did != n.DID {
		t.Fatalf("resolve: %q %v", did, err)
	}
	if _, err := r.Register(ctx, "alice.iam", "u2", "did:x"); !errors.Is(err, ErrTaken) {
		t.Fatalf("second registration: %v", err)
	}
	if _, err := r.Renew(ctx, "alice.iam", "u1"); !errors.Is(err, ErrTooEarly) {
		t.Fatalf("early renewal: %v", err)
	}
	if _, err := r.Renew(ctx, "alice.iam", "u2"); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("renewal by another user: %v", err)
	}
	c.add(Term - RenewWindow + time.Hour)
	rn, err := r.Renew(ctx, "alice.iam", "u1")
	if err != nil || !rn.ExpiresAt.Equal(n.ExpiresAt.Add(Term)) || rn.Serial != 1 {
		t.Fatalf("renew: %+v %v", rn, err)
	}
	owned, err := r.ByOwner(ctx, "u1")
	if err != nil || len(owned) != 1 {
		t.Fatalf("by owner: %v %v", owned, err)
	}
}

func TestExpiryAndRelease(t *testing.T) {
	r, _, c := newRegistry(t)
	n, err := r.Register(ctx, "bob.iam", "u1", "did:1")
	if err != nil {
		t.Fatal(err)
	}
	c.add(Term + time.Hour) // expired, in grace
	if _, err := r.ResolveName(ctx, "bob.iam"); !errors.Is(err, did.ErrNotFound) {
		t.Fatalf("expired name resolves: %v", err)
	}
	if _, err := r.Register(ctx, "bob.iam", "u2", "did:2"); !errors.Is(err, ErrTaken) {
		t.Fatalf("taken during grace: %v", err)
	}
	c.add(Grace)
	n2, err := r.Register(ctx, "bob.iam", "u2", "did:2")
	if err != nil || n2.Serial == n.Serial || n2.Owner != "u2" {
		t.Fatalf("re-registration after grace: %+v %v", n2, err)
	}
	if owned, _ := r.ByOwner(ctx, "u1"); len(owned) != 0 {
		t.Fatalf("old owner still lists it: %v", owned)
	}
}

func TestConcurrentRegistration(t *testing.T) {
	r, _, _ := newRegistry(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.Register(ctx, "carol.iam", "u", "did:c"); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !errors.Is(err, ErrTaken) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d registrations won", wins)
	}
}
