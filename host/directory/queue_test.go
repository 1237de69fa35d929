package directory

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/did"
	"github.com/ubeu/gateway/host/seal"
	"github.com/ubeu/gateway/host/store"
	"github.com/ubeu/gateway/host/store/badgerstore"
)

// flakyDIDs fails its first fail calls.
type flakyDIDs struct {
	mu    sync.Mutex
	fail  int
	calls int
}

func (f *flakyDIDs) CreateManaged(ctx context.Context, ent string) (string, *did.Document, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls <= f.fail {
		return "", nil, errors.New("ledger unavailable")
	}
	return "did:example:" + ent + ":" + string(rune('a'+f.calls)), nil, nil
}

type noPlugins struct{}

func (noPlugins) Get(string) (abiv1.Transport, bool) { return nil, false }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func userEvent(id string, action abiv1.EventAction, active string) *abiv1.DirectoryEvent {
	return &abiv1.DirectoryEvent{Kind: abiv1.ObjectKindUser, Action: action, ID: id,
		Attributes: map[string]string{"userName": id + "@acme-university.edu", "active": active}}
}

// TestQueueOrderAndRetry: a failed step keeps its event queued; a later
// event of the same user waits behind it while other users go on; once
// the retry is due both apply in order. Nothing of the failed user is
// visible before: no account.
func TestQueueOrderAndRetry(t *testing.T) {
	ctx := context.Background()
	sealer, _ := seal.New(make([]byte, seal.KeySize))
	st, err := badgerstore.Open(ctx, badgerstore.Options{InMemory: true, Sealer: sealer, IndexKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	ent := &store.Enterprise{ID: "ent-1", OrganizationName: "Acme", ParentDomain: "acme-university.edu", Status: "active", ManagedDID: "did:example:ent", CreatedAt: now, UpdatedAt: now}
	if err := st.Enterprises().Create(ctx, ent); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: now}
	dids := &flakyDIDs{fail: 1}
	s, err := New(Options{KV: st.KV(), Users: st.Users(), Enterprises: st.Enterprises(), Sessions: st.Sessions(), DIDs: dids,
		Plugins: noPlugins{}, Sealer: sealer, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, "ent-1", "scim", []*abiv1.DirectoryEvent{userEvent("u1", abiv1.EventActionCreated, "true")}); err != nil {
		t.Fatal(err)
	}
	l, _, _ := s.Member(ctx, "ent-1", "u1")
	if l.State != StatePending || l.UserID != "" || l.DID != "" {
		t.Fatalf("after a failed DID step: %+v", l)
	}
	// u1's deactivation waits behind its creation; u2 is not held up.
	if err := s.Apply(ctx, "ent-1", "scim", []*abiv1.DirectoryEvent{userEvent("u1", abiv1.EventActionDeactivated, "false"), userEvent("u2", abiv1.EventActionCreated, "true")}); err != nil {
		t.Fatal(err)
	}
	if l, _, _ := s.Member(ctx, "ent-1", "u2"); l.State != StateActive || l.UserID == "" {
		t.Fatalf("u2 held up: %+v", l)
	}
	if l, _, _ := s.Member(ctx, "ent-1", "u1"); l.State != StatePending {
		t.Fatalf("u1's deactivation applied before its creation: %+v", l)
	}
	if st := s.Status(ctx, "ent-1"); st.Pending != 2 || st.Events["failed"] != 1 || st.Events["applied"] != 1 || len(st.LastErrors) != 1 || st.LastErrors[0].Step != "did" {
		t.Fatalf("status: %+v", st)
	}
	// Not due yet: nothing happens.
	s.RetryDue(ctx)
	if dids.calls != 2 { // u1 once, u2 once
		t.Fatalf("retried before due: %d DID calls", dids.calls)
	}
	clk.add(time.Minute)
	s.RetryDue(ctx)
	l, _, _ = s.Member(ctx, "ent-1", "u1")
	if l.State != StateDeactivated || l.UserID == "" || l.DID == "" {
		t.Fatalf("after the retry: %+v", l)
	}
	u, err := st.Users().Get(ctx, l.UserID)
	if err != nil || u.Status != "suspended" || u.Tenant != "ent-1" || u.Email != "u1@acme-university.edu" {
		t.Fatalf("account: %+v %v", u, err)
	}
	if st := s.Status(ctx, "ent-1"); st.Pending != 0 || st.Events["applied"] != 3 {
		t.Fatalf("status after the retry: %+v", st)
	}
	// A restart finds nothing pending; the audit has every attempt.
	s2, err := New(Options{KV: st.KV(), Users: st.Users(), Enterprises: st.Enterprises(), Sessions: st.Sessions(), DIDs: dids, Plugins: noPlugins{}, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	if st := s2.Status(ctx, "ent-1"); st.Pending != 0 {
		t.Fatalf("pending after restart: %+v", st)
	}
	audit, _ := s.Audit(ctx, "ent-1", "", 100)
	var ok, failed int
	for _, a := range audit {
		switch a.Result {
		case "ok":
			ok++
		case "failed":
			failed++
		}
	}
	if ok != 3 || failed != 1 {
		t.Fatalf("audit: %+v", audit)
	}
}

// TestQueueSurvivesRestart: an event queued and failed before a restart
// is applied by the new service's retry.
func TestQueueSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	sealer, _ := seal.New(make([]byte, seal.KeySize))
	st, err := badgerstore.Open(ctx, badgerstore.Options{InMemory: true, Sealer: sealer, IndexKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	st.Enterprises().Create(ctx, &store.Enterprise{ID: "e", ParentDomain: "acme-university.edu", Status: "active", CreatedAt: now, UpdatedAt: now})
	clk := &clock{t: now}
	opts := Options{KV: st.KV(), Users: st.Users(), Enterprises: st.Enterprises(), Sessions: st.Sessions(), DIDs: &flakyDIDs{fail: 1}, Plugins: noPlugins{}, Now: clk.now}
	s, _ := New(opts)
	s.Apply(ctx, "e", "pull", []*abiv1.DirectoryEvent{userEvent("p1", abiv1.EventActionUpdated, "true")})
	s2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if st := s2.Status(ctx, "e"); st.Pending != 1 {
		t.Fatalf("pending after restart: %+v", st)
	}
	clk.add(time.Hour)
	s2.RetryDue(ctx)
	if l, _, _ := s2.Member(ctx, "e", "p1"); l.State != StateActive {
		t.Fatalf("not applied after restart: %+v", l)
	}
}
