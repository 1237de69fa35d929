package names

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/hiero-ledger/hiero-sdk-go/v2/proto/services"
	hiero "github.com/hiero-ledger/hiero-sdk-go/v2/sdk"

	"github.com/ubeu/gateway/host/ledger"
	"github.com/ubeu/gateway/host/ledger/hedera"
	"github.com/ubeu/gateway/host/ledger/hedera/hederatest"
	"github.com/ubeu/gateway/host/seal"
	"github.com/ubeu/gateway/host/store"
	"github.com/ubeu/gateway/host/store/badgerstore"
)

func newKV(t *testing.T) store.KV {
	t.Helper()
	s, _ := seal.New(bytes.Repeat([]byte{1}, seal.KeySize))
	st, err := badgerstore.Open(ctx, badgerstore.Options{Dir: t.TempDir(), Sealer: s, IndexKey: bytes.Repeat([]byte{2}, 32), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st.KV()
}

// TestTokenPerRegistrationLocal: serials follow registrations, and a
// second registry on the same store keeps the collection.
func TestTokenPerRegistrationLocal(t *testing.T) {
	r, l, _ := newRegistry(t)
	a, err := r.Register(ctx, "alice.iam", "u1", "did:a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Register(ctx, "bob.iam", "u2", "did:b")
	if err != nil {
		t.Fatal(err)
	}
	if a.TokenID == "" || b.TokenID != a.TokenID || a.Serial != 1 || b.Serial != 2 {
		t.Fatalf("tokens: %s#%d, %s#%d", a.TokenID, a.Serial, b.TokenID, b.Serial)
	}
	got, err := r.Get(ctx, "bob.iam")
	if err != nil || got.TokenID != a.TokenID || got.Serial != 2 {
		t.Fatalf("stored record %+v %v", got, err)
	}
	r2 := New(r.kv, l, r.now)
	c, err := r2.Register(ctx, "carol.iam", "u3", "did:c")
	if err != nil || c.TokenID != a.TokenID || c.Serial != 3 {
		t.Fatalf("second registry: %+v %v", c, err)
	}
	nft, err := l.NFT(ctx, a.TokenID, 3)
	if err != nil || string(nft.Metadata) != "iam:carol.iam" {
		t.Fatalf("NFT 3: %+v %v", nft, err)
	}
}

func newHederaRegistry(t *testing.T) (*Registry, *hedera.Ledger, *hederatest.Network) {
	t.Helper()
	key, err := hiero.PrivateKeyGenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	net, err := hederatest.Start(hederatest.Config{OperatorID: "0.0.2", OperatorKey: key.PublicKey()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(net.Close)
	l, err := hedera.Open(ctx, hedera.Options{
		Network:     "local",
		Nodes:       net.Nodes(),
		MirrorURL:   net.MirrorURL,
		OperatorID:  "0.0.2",
		OperatorKey: key.StringDer(),
		MaxRetries:  2,
		Backoff:     10 * time.Millisecond,
		HTTPClient:  &http.Client{Timeout: 5 * time.Second},
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return New(newKV(t), l, nil), l, net
}

func TestTokenPerRegistrationHedera(t *testing.T) {
	r, l, net := newHederaRegistry(t)
	a, err := r.Register(ctx, "Alice.iam", "u1", "did:a")
	if err != nil {
		t.Fatal(err)
	}
	if a.TokenID == "" || a.Serial != 1 || a.TopicID == "" || a.TransactionID == "" {
		t.Fatalf("registered %+v", a)
	}
	nft, err := l.NFT(ctx, a.TokenID, 1)
	if err != nil || string(nft.Metadata) != "iam:alice.iam" || nft.Owner != "0.0.2" {
		t.Fatalf("NFT on the mirror: %+v %v", nft, err)
	}

	// A mint the node refuses gives the name back; nothing is half-done.
	net.InjectPrecheck(services.ResponseCodeEnum_INSUFFICIENT_PAYER_BALANCE, 1)
	if _, err := r.Register(ctx, "bob.iam", "u2", "did:b"); !errors.Is(err, ledger.ErrRejected) {
		t.Fatalf("register with a refused mint: %v, want ErrRejected", err)
	}
	if _, err := r.Get(ctx, "bob.iam"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bob.iam still reserved after the failed mint: %v", err)
	}
	if n := net.NFTCount(a.TokenID); n != 1 {
		t.Fatalf("%d NFTs after the failed mint, want 1", n)
	}
	b, err := r.Register(ctx, "bob.iam", "u2", "did:b")
	if err != nil || b.TokenID != a.TokenID || b.Serial != 2 {
		t.Fatalf("retry: %+v %v", b, err)
	}
	got, err := r.Get(ctx, "bob.iam")
	if err != nil || got.Serial != 2 || got.TokenID != a.TokenID || got.TransactionID != b.TransactionID {
		t.Fatalf("stored %+v %v", got, err)
	}
	msgs, err := l.Messages(ctx, a.TopicID, time.Time{}, 10)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("registry topic: %d messages, %v", len(msgs), err)
	}
}
