package auth

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ubeu/gateway/host/store"
)

// revocationSet is the in-memory deny list: token or session ID → the time
// until which it is refused.
type revocationSet struct {
	n  atomic.Int64 // len(m), read without the lock to skip an empty set
	mu sync.RWMutex
	m  map[string]time.Time
}

func (s *revocationSet) add(id string, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]time.Time)
	}
	if old, ok := s.m[id]; !ok || until.After(old) {
		s.m[id] = until
	}
	s.n.Store(int64(len(s.m)))
}

// has reports whether any of ids is revoked at now. Empty IDs are ignored.
func (s *revocationSet) has(now time.Time, jti, sid string) bool {
	if s.n.Load() == 0 {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if until, ok := s.m[jti]; ok && now.Before(until) {
		return true
	}
	if sid == "" {
		return false
	}
	until, ok := s.m[sid]
	return ok && now.Before(until)
}

func (s *revocationSet) prune(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, until := range s.m {
		if !now.Before(until) {
			delete(s.m, id)
		}
	}
	s.n.Store(int64(len(s.m)))
}

// Revoke refuses the access tokens with token ID (jti) or session ID (sid)
// id until the given time, which should be the latest expiry of a token it
// covers. It takes effect at once in this process, cached tokens included,
// and is persisted through TokenOptions.Revocations.
func (t *Tokens) Revoke(ctx context.Context, id string, until time.Time) error {
	if id == "" {
		return fmt.Errorf("auth: revoke: empty id")
	}
	t.revoked.add(id, until)
	if t.o.Revocations == nil {
		return nil
	}
	if err := t.o.Revocations.Add(ctx, store.Revocation{ID: id, Until: until}); err != nil {
		return fmt.Errorf("auth: revoke %s: %w", id, err)
	}
	return nil
}

// RevocationHorizon returns the time until which a revocation made now must
// last to cover every token already issued: now + TTL + leeway. Use it as
// Revoke's until for a session or a user.
func (t *Tokens) RevocationHorizon() time.Time {
	return t.o.Now().Add(t.o.TTL + t.o.Leeway)
}

// LoadRevocations adds the persisted deny list to the in-memory one. Call it
// at start.
func (t *Tokens) LoadRevocations(ctx context.Context) error {
	if t.o.Revocations == nil {
		return nil
	}
	now := t.o.Now()
	list, err := t.o.Revocations.List(ctx, now)
	if err != nil {
		return fmt.Errorf("auth: load revocations: %w", err)
	}
	for _, r := range list {
		if now.Before(r.Until) {
			t.revoked.add(r.ID, r.Until)
		}
	}
	return nil
}
