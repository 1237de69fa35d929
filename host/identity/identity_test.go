package identity

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ubeu/gateway/host/did"
	"github.com/ubeu/gateway/host/did/hederadid"
	"github.com/ubeu/gateway/host/ledger/local"
	"github.com/ubeu/gateway/host/limits"
	"github.com/ubeu/gateway/host/metrics"
	"github.com/ubeu/gateway/host/seal"
	"github.com/ubeu/gateway/host/store/badgerstore"
)

var ctx = context.Background()

func newService(t *testing.T) (*Service, *[]string) {
	t.Helper()
	s, _ := seal.New(bytes.Repeat([]byte{1}, seal.KeySize))
	log := slog.New(slog.DiscardHandler)
	st, err := badgerstore.Open(ctx, badgerstore.Options{Dir: t.TempDir(), Sealer: s, IndexKey: bytes.Repeat([]byte{2}, 32), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l, err := local.Open(local.Options{Dir: t.TempDir(), Sealer: s, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	dids, err := hederadid.New(hederadid.Options{Ledger: l, Keys: hederadid.NewKeys(st.KV(), s), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	changed := &[]string{}
	return New(Options{KV: st.KV(), DIDs: dids, Limits: limits.New(st.Counters(), limits.DefaultConfig()),
		Metrics:  metrics.New(prometheus.NewRegistry()),
		OnChange: func(_ context.Context, d string) { *changed = append(*changed, d) }}), changed
}

func TestProfilesLimitsAndOwnership(t *testing.T) {
	s, changed := newService(t)
	p, doc, err := s.CreatePrimary(ctx, "u1", "individual")
	if err != nil {
		t.Fatal(err)
	}
	if !p.Primary || doc == nil || doc.ID != p.DID {
		t.Fatalf("primary %+v %+v", p, doc)
	}
	p2, _, err := s.CreateProfile(ctx, "u1", "individual", "professional", nil)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := s.Get(ctx, "u1")
	if len(id.Profiles) != 2 || id.TopicID == "" {
		t.Fatalf("identity %+v", id)
	}
	// Both profiles share the user's topic.
	pid, _ := hederadid.Parse(p.DID)
	p2id, _ := hederadid.Parse(p2.DID)
	if pid.TopicID != p2id.TopicID {
		t.Fatal("profiles on different topics")
	}
	// The limit is two profiles.
	var le *limits.ExceededError
	if _, _, err := s.CreateProfile(ctx, "u1", "individual", "third", nil); !errors.As(err, &le) {
		t.Fatalf("third profile: %v", err)
	}
	// Only the owner may change a DID.
	if _, _, err := s.CreatePrimary(ctx, "u2", "individual"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, "u2", p2.DID, hederadid.Update{RotateKey: true}); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("update by another user: %v", err)
	}
	doc, err = s.AddAlias(ctx, "u1", p.DID, "alice.iam")
	if err != nil || len(doc.AlsoKnownAs) != 1 || doc.AlsoKnownAs[0] != "alice.iam" {
		t.Fatalf("alias: %+v %v", doc, err)
	}
	if err := s.Deactivate(ctx, "u1", "individual", p.DID); !errors.Is(err, ErrPrimary) {
		t.Fatalf("primary deactivated: %v", err)
	}
	if err := s.Deactivate(ctx, "u1", "individual", p2.DID); err != nil {
		t.Fatal(err)
	}
	if len(*changed) != 2 {
		t.Fatalf("change notifications %v", *changed)
	}
	if _, err := s.Update(ctx, "u1", p2.DID, hederadid.Update{RotateKey: true}); !errors.Is(err, ErrDeactivated) {
		t.Fatalf("update of a deactivated DID: %v", err)
	}
	if _, err := s.Owner(ctx, "did:hedera:local:zX_0.0.1"); !errors.Is(err, did.ErrNotFound) {
		t.Fatalf("owner of unknown: %v", err)
	}
}

func TestCreateManaged(t *testing.T) {
	s, _ := newService(t)
	d, doc, err := s.CreateManaged(ctx, "ent-1")
	if err != nil {
		t.Fatal(err)
	}
	if doc == nil || doc.ID != d {
		t.Fatalf("managed DID %s, document %+v", d, doc)
	}
	owner, err := s.Owner(ctx, d)
	if err != nil || owner != ManagedOwnerPrefix+"ent-1" {
		t.Fatalf("owner %q, %v", owner, err)
	}
	// No user can change it.
	if _, _, err := s.CreatePrimary(ctx, "u1", "individual"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, "u1", d, hederadid.Update{RotateKey: true}); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("update of a managed DID by a user: %v", err)
	}
	if _, _, err := s.CreateManaged(ctx, ""); err == nil {
		t.Fatal("empty enterprise ID accepted")
	}
}
