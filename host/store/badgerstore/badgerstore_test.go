package badgerstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ubeu/gateway/host/seal"
	"github.com/ubeu/gateway/host/store"
)

var ctx = context.Background()

type keys struct {
	sealer *seal.Sealer
	index  []byte
}

func newKeys(t testing.TB) keys {
	t.Helper()
	mk := make([]byte, seal.KeySize)
	rand.Read(mk)
	s, err := seal.New(mk)
	if err != nil {
		t.Fatal(err)
	}
	ik := make([]byte, 32)
	rand.Read(ik)
	return keys{s, ik}
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func openDir(t testing.TB, dir string, k keys) *Store {
	t.Helper()
	s, err := Open(ctx, Options{Dir: dir, Sealer: k.sealer, IndexKey: k.index, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t testing.TB) *Store {
	t.Helper()
	return openDir(t, t.TempDir(), newKeys(t))
}

func mustIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var t0 = time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)

func testUser(id, email string) *store.User {
	return &store.User{
		ID: id, Email: email, PasswordHash: "$argon2id$v=19$m=65536,t=3,p=2$salt$hash",
		Roles: []string{store.RoleUser}, Tier: "individual", Status: "active",
		CreatedAt: t0, UpdatedAt: t0,
	}
}

func TestUsersCRUD(t *testing.T) {
	s := newStore(t)
	us := s.Users()
	u := testUser("u1", "alice@example.org")
	ok(t, us.Create(ctx, u))

	got, err := us.Get(ctx, "u1")
	ok(t, err)
	if got.Email != "alice@example.org" || got.PasswordHash != u.PasswordHash || got.Tier != "individual" ||
		len(got.Roles) != 1 || !got.CreatedAt.Equal(t0) {
		t.Fatalf("Get = %+v", got)
	}
	got, err = us.GetByEmail(ctx, "Alice@Example.org ")
	ok(t, err)
	if got.ID != "u1" {
		t.Fatalf("GetByEmail = %+v", got)
	}

	mustIs(t, us.Create(ctx, testUser("u2", "alice@example.org")), store.ErrConflict)
	mustIs(t, us.Create(ctx, testUser("u1", "other@example.org")), store.ErrConflict)
	_, err = us.Get(ctx, "nobody")
	mustIs(t, err, store.ErrNotFound)
	_, err = us.GetByEmail(ctx, "nobody@example.org")
	mustIs(t, err, store.ErrNotFound)
	_, err = us.GetByEmail(ctx, "")
	mustIs(t, err, store.ErrNotFound)
	// The failed create of u2 left no index entry behind.
	_, err = us.GetByEmail(ctx, "other@example.org")
	mustIs(t, err, store.ErrNotFound)

	u.Roles = []string{store.RoleUser, store.RoleAdmin}
	u.Status = "suspended"
	u.LastLoginAt = t0.Add(time.Hour)
	ok(t, us.Update(ctx, u))
	got, err = us.Get(ctx, "u1")
	ok(t, err)
	if len(got.Roles) != 2 || got.Status != "suspended" || !got.LastLoginAt.Equal(t0.Add(time.Hour)) || got.Email != "alice@example.org" {
		t.Fatalf("after Update: %+v", got)
	}
	changed := *u
	changed.Email = "mallory@example.org"
	if err := us.Update(ctx, &changed); err == nil {
		t.Fatal("Update changed the e-mail")
	}
	mustIs(t, us.Update(ctx, testUser("ghost", "ghost@example.org")), store.ErrNotFound)

	// A user without an e-mail is allowed and not indexed.
	ok(t, us.Create(ctx, testUser("u3", "")))
	n, err := us.Count(ctx)
	ok(t, err)
	if n != 2 {
		t.Fatalf("Count = %d, want 2", n)
	}
	if err := us.Create(ctx, testUser("a/b", "x@example.org")); err == nil {
		t.Fatal("ID with '/' accepted")
	}
}

func TestConcurrentDuplicateEmail(t *testing.T) {
	s := newStore(t)
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Users().Create(ctx, testUser(fmt.Sprintf("u%d", i), "same@example.org"))
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, store.ErrConflict):
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d creates succeeded, want exactly 1", wins)
	}
	c, err := s.Users().Count(ctx)
	ok(t, err)
	if c != 1 {
		t.Fatalf("Count = %d, want 1", c)
	}
	if _, err := s.Users().GetByEmail(ctx, "same@example.org"); err != nil {
		t.Fatal(err)
	}
}

func testEnterprise(id, domain string) *store.Enterprise {
	return &store.Enterprise{
		ID: id, OrganizationName: "Acme " + id, ParentDomain: domain, ContactEmail: "ops@" + domain,
		Tier: "pro", Status: "active", OwnerUserID: "owner-" + id, ManagedDID: "did:hedera:testnet:z6Mk_0.0.1",
		CreatedAt: t0, UpdatedAt: t0,
	}
}

func TestEnterprises(t *testing.T) {
	s := newStore(t)
	es := s.Enterprises()
	e := testEnterprise("e1", "acme.example")
	ok(t, es.Create(ctx, e))
	got, err := es.Get(ctx, "e1")
	ok(t, err)
	if got.ContactEmail != "ops@acme.example" || got.ParentDomain != "acme.example" || got.OrganizationName != "Acme e1" ||
		got.OwnerUserID != "owner-e1" || got.ManagedDID != e.ManagedDID {
		t.Fatalf("Get = %+v", got)
	}
	mustIs(t, es.Create(ctx, testEnterprise("e2", "ACME.example")), store.ErrConflict)
	mustIs(t, es.Create(ctx, testEnterprise("e1", "other.example")), store.ErrConflict)
	_, err = es.Get(ctx, "e9")
	mustIs(t, err, store.ErrNotFound)

	e.Tier = "enterprise"
	e.ContactEmail = "new@acme.example"
	e.VerifiedAt = t0.Add(time.Hour)
	ok(t, es.Update(ctx, e))
	got, err = es.Get(ctx, "e1")
	ok(t, err)
	if got.Tier != "enterprise" || got.ContactEmail != "new@acme.example" || !got.VerifiedAt.Equal(e.VerifiedAt) || got.OwnerUserID != "owner-e1" {
		t.Fatalf("after Update: %+v", got)
	}
	moved := *e
	moved.ParentDomain = "elsewhere.example"
	if err := es.Update(ctx, &moved); err == nil {
		t.Fatal("Update changed the domain")
	}
	mustIs(t, es.Update(ctx, testEnterprise("e9", "nine.example")), store.ErrNotFound)

	// Delete frees the domain.
	ok(t, es.Delete(ctx, "e1"))
	_, err = es.Get(ctx, "e1")
	mustIs(t, err, store.ErrNotFound)
	mustIs(t, es.Delete(ctx, "e1"), store.ErrNotFound)
	ok(t, es.Create(ctx, testEnterprise("e2", "ACME.example")))
	got, err = es.Get(ctx, "e2")
	ok(t, err)
	if got.ParentDomain != "ACME.example" {
		t.Fatalf("re-created %+v", got)
	}
}

func testKey(id, ent, prefix string, created time.Time) *store.APIKey {
	return &store.APIKey{
		ID: id, Prefix: prefix, EnterpriseID: ent, Name: "key " + id,
		SecretHash: bytes.Repeat([]byte{7}, 32), Permissions: []string{"read"}, MonthlyLimit: 1000,
		CreatedAt: created,
	}
}

func TestAPIKeys(t *testing.T) {
	s := newStore(t)
	ks := s.APIKeys()
	// Created out of order: the list must follow CreatedAt, not insertion.
	ok(t, ks.Create(ctx, testKey("k2", "e1", "pfx_b", t0.Add(2*time.Minute))))
	ok(t, ks.Create(ctx, testKey("k1", "e1", "pfx_a", t0.Add(time.Minute))))
	ok(t, ks.Create(ctx, testKey("k3", "e1", "pfx_c", t0.Add(3*time.Minute))))
	ok(t, ks.Create(ctx, testKey("k9", "e10", "pfx_z", t0)))
	mustIs(t, ks.Create(ctx, testKey("k4", "e1", "pfx_a", t0)), store.ErrConflict)

	got, err := ks.GetByPrefix(ctx, "pfx_b")
	ok(t, err)
	if got.ID != "k2" || got.EnterpriseID != "e1" || !bytes.Equal(got.SecretHash, bytes.Repeat([]byte{7}, 32)) || got.MonthlyLimit != 1000 {
		t.Fatalf("GetByPrefix = %+v", got)
	}
	_, err = ks.GetByPrefix(ctx, "pfx_nope")
	mustIs(t, err, store.ErrNotFound)

	list, err := ks.ListByEnterprise(ctx, "e1")
	ok(t, err)
	var ids []string
	for _, k := range list {
		ids = append(ids, k.ID)
	}
	if strings.Join(ids, ",") != "k1,k2,k3" {
		t.Fatalf("ListByEnterprise order = %v, want k1,k2,k3", ids)
	}
	list, err = ks.ListByEnterprise(ctx, "e2")
	ok(t, err)
	if list == nil || len(list) != 0 {
		t.Fatalf("empty enterprise: %v", list)
	}

	at := t0.Add(time.Hour)
	ok(t, ks.Revoke(ctx, "e1", "k2", at))
	got, err = ks.GetByPrefix(ctx, "pfx_b")
	ok(t, err)
	if !got.RevokedAt.Equal(at) {
		t.Fatalf("RevokedAt = %v", got.RevokedAt)
	}
	ok(t, ks.Revoke(ctx, "e1", "k2", at.Add(time.Hour))) // keeps the first time
	got, _ = ks.GetByPrefix(ctx, "pfx_b")
	if !got.RevokedAt.Equal(at) {
		t.Fatalf("second Revoke moved RevokedAt to %v", got.RevokedAt)
	}
	mustIs(t, ks.Revoke(ctx, "e1", "k9", at), store.ErrNotFound) // another enterprise's key
	mustIs(t, ks.Revoke(ctx, "e1", "nope", at), store.ErrNotFound)
	got, _ = ks.GetByPrefix(ctx, "pfx_a")
	if !got.RevokedAt.IsZero() {
		t.Fatal("Revoke touched another key")
	}
}

func TestTouchLastUsed(t *testing.T) {
	dir, k := t.TempDir(), newKeys(t)
	s := openDir(t, dir, k)
	ks := s.APIKeys()
	ok(t, ks.Create(ctx, testKey("k1", "e1", "pfx_a", t0)))
	use := t0.Add(10 * time.Minute)
	ok(t, ks.TouchLastUsed(ctx, "pfx_a", use))
	ok(t, ks.TouchLastUsed(ctx, "pfx_a", use.Add(-time.Minute))) // older: ignored
	ok(t, ks.TouchLastUsed(ctx, "pfx_unknown", use))             // dropped at flush
	got, err := ks.GetByPrefix(ctx, "pfx_a")
	ok(t, err)
	if !got.LastUsedAt.Equal(use) {
		t.Fatalf("pending use not visible: %v", got.LastUsedAt)
	}

	stored := func() time.Time {
		var k store.APIKey
		ok(t, s.db.View(func(txn *badger.Txn) error { return getJSON(txn, apiKeyKey("pfx_a"), &k) }))
		return k.LastUsedAt
	}
	if !stored().IsZero() {
		t.Fatal("use written synchronously")
	}
	s.flushTouches(ctx)
	if !stored().Equal(use) {
		t.Fatalf("stored LastUsedAt = %v after flush", stored())
	}
	// A use within a minute of the stored one is coalesced away.
	ok(t, ks.TouchLastUsed(ctx, "pfx_a", use.Add(30*time.Second)))
	s.flushTouches(ctx)
	if !stored().Equal(use) {
		t.Fatalf("use within a minute was written: %v", stored())
	}
	// Close writes what is pending.
	later := use.Add(5 * time.Minute)
	ok(t, ks.TouchLastUsed(ctx, "pfx_a", later))
	ok(t, s.Close())
	s2 := openDir(t, dir, k)
	got, err = s2.APIKeys().GetByPrefix(ctx, "pfx_a")
	ok(t, err)
	if !got.LastUsedAt.Equal(later) {
		t.Fatalf("after reopen LastUsedAt = %v, want %v", got.LastUsedAt, later)
	}
	_, err = s2.APIKeys().GetByPrefix(ctx, "pfx_unknown")
	mustIs(t, err, store.ErrNotFound)
}

func family(id, user string, exp time.Time) *store.RefreshFamily {
	return &store.RefreshFamily{ID: id, UserID: user, CreatedAt: t0, ExpiresAt: exp}
}

func token(hash string, exp time.Time) *store.RefreshToken {
	return &store.RefreshToken{Hash: hash, IssuedAt: t0, ExpiresAt: exp}
}

func TestRotationAndReuse(t *testing.T) {
	s := newStore(t)
	ss := s.Sessions()
	now := time.Now()
	exp := now.Add(24 * time.Hour)
	ok(t, ss.Start(ctx, family("f1", "u1", exp), token("h1", exp)))
	mustIs(t, ss.Start(ctx, family("f1", "u1", exp), token("hx", exp)), store.ErrConflict)
	mustIs(t, ss.Start(ctx, family("f2", "u1", exp), token("h1", exp)), store.ErrConflict)

	f, err := ss.Rotate(ctx, "h1", token("h2", exp), now)
	ok(t, err)
	if f.ID != "f1" || f.UserID != "u1" || !f.RevokedAt.IsZero() {
		t.Fatalf("Rotate family = %+v", f)
	}
	f, err = ss.Rotate(ctx, "h2", token("h3", exp), now.Add(time.Second))
	ok(t, err)
	if f.ID != "f1" {
		t.Fatalf("family %q", f.ID)
	}
	tok, fam, err := ss.Lookup(ctx, "h3")
	ok(t, err)
	if tok.FamilyID != "f1" || tok.UserID != "u1" || !tok.UsedAt.IsZero() || fam.ID != "f1" {
		t.Fatalf("Lookup h3 = %+v %+v", tok, fam)
	}
	tok, _, err = ss.Lookup(ctx, "h1")
	ok(t, err)
	if !tok.UsedAt.Equal(now) {
		t.Fatalf("h1 UsedAt = %v", tok.UsedAt)
	}

	// A new token whose hash exists is refused and h3 stays unspent.
	_, err = ss.Rotate(ctx, "h3", token("h1", exp), now)
	mustIs(t, err, store.ErrConflict)
	tok, _, _ = ss.Lookup(ctx, "h3")
	if !tok.UsedAt.IsZero() {
		t.Fatal("failed Rotate spent the token")
	}
	_, err = ss.Rotate(ctx, "unknown", token("h9", exp), now)
	mustIs(t, err, store.ErrNotFound)

	// Re-use of h1: the family is revoked and returned.
	reuseAt := now.Add(time.Minute)
	f, err = ss.Rotate(ctx, "h1", token("h4", exp), reuseAt)
	mustIs(t, err, store.ErrTokenReused)
	if f == nil || f.ID != "f1" || !f.RevokedAt.Equal(reuseAt) {
		t.Fatalf("reuse family = %+v", f)
	}
	_, fam, err = ss.Lookup(ctx, "h3")
	ok(t, err)
	if !fam.RevokedAt.Equal(reuseAt) {
		t.Fatalf("revocation not committed: %+v", fam)
	}
	if _, _, err := ss.Lookup(ctx, "h4"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("next token stored on reuse: %v", err)
	}
	// The newest token is dead too.
	_, err = ss.Rotate(ctx, "h3", token("h5", exp), reuseAt)
	mustIs(t, err, store.ErrRevoked)
}

func TestRotationExpiry(t *testing.T) {
	s := newStore(t)
	ss := s.Sessions()
	now := time.Now()
	ok(t, ss.Start(ctx, family("f1", "u1", now.Add(time.Hour)), token("h1", now.Add(time.Minute))))
	_, err := ss.Rotate(ctx, "h1", token("h2", now.Add(time.Hour)), now.Add(2*time.Minute))
	mustIs(t, err, store.ErrRevoked)
	tok, fam, err := ss.Lookup(ctx, "h1")
	ok(t, err)
	if !tok.UsedAt.IsZero() || !fam.RevokedAt.IsZero() {
		t.Fatal("expired rotation wrote something")
	}
	// Family expiry also ends the session.
	ok(t, ss.Start(ctx, family("f2", "u1", now.Add(time.Hour)), token("g1", now.Add(2*time.Hour))))
	_, err = ss.Rotate(ctx, "g1", token("g2", now.Add(2*time.Hour)), now.Add(90*time.Minute))
	mustIs(t, err, store.ErrRevoked)
}

func TestRevokeUser(t *testing.T) {
	s := newStore(t)
	ss := s.Sessions()
	now := time.Now()
	exp := now.Add(time.Hour)
	for i, user := range []string{"u1", "u1", "u1", "u2"} {
		ok(t, ss.Start(ctx, family(fmt.Sprintf("f%d", i), user, exp), token(fmt.Sprintf("h%d", i), exp)))
	}
	ok(t, ss.RevokeFamily(ctx, "f0", now))
	mustIs(t, ss.RevokeFamily(ctx, "nope", now), store.ErrNotFound)

	ids, err := ss.RevokeUser(ctx, "u1", now.Add(time.Second))
	ok(t, err)
	if strings.Join(ids, ",") != "f1,f2" {
		t.Fatalf("RevokeUser = %v, want f1,f2", ids)
	}
	for i, want := range []bool{true, true, true, false} {
		_, fam, err := ss.Lookup(ctx, fmt.Sprintf("h%d", i))
		ok(t, err)
		if fam.RevokedAt.IsZero() == want {
			t.Errorf("family f%d revoked = %v, want %v", i, !fam.RevokedAt.IsZero(), want)
		}
	}
	_, fam, _ := ss.Lookup(ctx, "h0")
	if !fam.RevokedAt.Equal(now) {
		t.Error("RevokeUser moved an earlier revocation")
	}
	_, err = ss.Rotate(ctx, "h1", token("n1", exp), now)
	mustIs(t, err, store.ErrRevoked)
	_, err = ss.Rotate(ctx, "h3", token("n3", exp), now)
	ok(t, err)
	ids, err = ss.RevokeUser(ctx, "nobody", now)
	ok(t, err)
	if len(ids) != 0 {
		t.Fatalf("RevokeUser(nobody) = %v", ids)
	}
}

func TestRevocationsTTL(t *testing.T) {
	s := newStore(t)
	rs := s.Revocations()
	now := time.Now()
	ok(t, rs.Add(ctx, store.Revocation{ID: "jti-short", Until: now.Add(1200 * time.Millisecond)}))
	ok(t, rs.Add(ctx, store.Revocation{ID: "jti-long", Until: now.Add(time.Hour)}))
	ok(t, rs.Add(ctx, store.Revocation{ID: "jti-past", Until: now.Add(-time.Second)}))
	// A shorter re-add does not shorten an entry.
	ok(t, rs.Add(ctx, store.Revocation{ID: "jti-long", Until: now.Add(time.Minute)}))

	list, err := rs.List(ctx, now)
	ok(t, err)
	if len(list) != 2 {
		t.Fatalf("List(now) = %v", list)
	}
	for _, r := range list {
		if r.ID == "jti-long" && !r.Until.Equal(now.Add(time.Hour)) {
			t.Fatalf("jti-long shortened to %v", r.Until)
		}
	}
	list, err = rs.List(ctx, now.Add(2*time.Second))
	ok(t, err)
	if len(list) != 1 || list[0].ID != "jti-long" {
		t.Fatalf("List(now+2s) = %v", list)
	}
	// Badger's TTL drops the entry by itself.
	time.Sleep(time.Until(now.Add(2200 * time.Millisecond)))
	err = s.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get([]byte(pRevocation + "jti-short"))
		return err
	})
	mustIs(t, err, badger.ErrKeyNotFound)
}

func TestCountersConcurrent(t *testing.T) {
	s := newStore(t)
	cs := s.Counters()
	incr := func(old []byte) ([]byte, error) {
		var n int
		if old != nil {
			if _, err := fmt.Sscan(string(old), &n); err != nil {
				return nil, err
			}
		}
		return fmt.Appendf(nil, "%d", n+1), nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for range 50 {
		wg.Go(func() {
			for range 20 {
				if err := cs.Update(ctx, "usage/e1/2026-11", incr); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	v, err := cs.Get(ctx, "usage/e1/2026-11")
	ok(t, err)
	if string(v) != "1000" {
		t.Fatalf("counter = %s, want 1000", v)
	}

	boom := errors.New("over limit")
	err = cs.Update(ctx, "usage/e1/2026-11", func([]byte) ([]byte, error) { return []byte("999999"), boom })
	mustIs(t, err, boom)
	v, _ = cs.Get(ctx, "usage/e1/2026-11")
	if string(v) != "1000" {
		t.Fatalf("failed Update wrote %s", v)
	}
	_, err = cs.Get(ctx, "missing")
	mustIs(t, err, store.ErrNotFound)
	ok(t, cs.Update(ctx, "usage/e1/2026-11", func([]byte) ([]byte, error) { return nil, nil }))
	_, err = cs.Get(ctx, "usage/e1/2026-11")
	mustIs(t, err, store.ErrNotFound)
}

func TestCacheTTL(t *testing.T) {
	s := newStore(t)
	c := s.Cache()
	ok(t, c.Set(ctx, "short", []byte("v1"), time.Second))
	ok(t, c.Set(ctx, "long", []byte("v2"), time.Hour))
	ok(t, c.Set(ctx, "gone", []byte("v3"), time.Hour))
	v, hit, err := c.Get(ctx, "short")
	ok(t, err)
	if !hit || string(v) != "v1" {
		t.Fatalf("Get(short) = %q %v", v, hit)
	}
	ok(t, c.Delete(ctx, "gone"))
	ok(t, c.Delete(ctx, "never-set"))
	if _, hit, err := c.Get(ctx, "gone"); err != nil || hit {
		t.Fatalf("deleted key: hit=%v err=%v", hit, err)
	}
	time.Sleep(2100 * time.Millisecond)
	if _, hit, err := c.Get(ctx, "short"); err != nil || hit {
		t.Fatalf("expired key: hit=%v err=%v", hit, err)
	}
	if v, hit, err := c.Get(ctx, "long"); err != nil || !hit || string(v) != "v2" {
		t.Fatalf("long key: %q hit=%v err=%v", v, hit, err)
	}
	// Cache keys live apart from counters.
	ok(t, s.Counters().Update(ctx, "long", func([]byte) ([]byte, error) { return []byte("c"), nil }))
	if v, _, _ := c.Get(ctx, "long"); string(v) != "v2" {
		t.Fatal("namespaces overlap")
	}
}

// TestEmailNotInPlaintext writes sealed e-mails and scans every file of the
// closed database for them. A plaintext field serves as the control that the
// scan can see record bytes at all.
//
// Badger compresses table blocks with Snappy, whose back-references can split
// a string; the store is opened without compression here so that the scan
// of the tables is meaningful, and the files are scanned twice: while open
// (write-ahead log) and after Close (tables).
func TestEmailNotInPlaintext(t *testing.T) {
	dir, k := t.TempDir(), newKeys(t)
	s, err := Open(ctx, Options{Dir: dir, Sealer: k.sealer, IndexKey: k.index, Logger: quietLogger(),
		tweak: func(o badger.Options) badger.Options {
			// Small files keep the scan quick; the value log is preallocated.
			return o.WithCompression(options.None).WithValueLogFileSize(1 << 20)
		}})
	ok(t, err)
	t.Cleanup(func() { s.Close() })
	const (
		email   = "very.secret.person@private-mail.example"
		contact = "hidden.contact@corp-secret.example"
		control = "Plaintext-Control-Organisation-Name"
	)
	ok(t, s.Users().Create(ctx, testUser("u1", email)))
	e := testEnterprise("e1", "corp.example")
	e.ContactEmail = contact
	e.OrganizationName = control
	ok(t, s.Enterprises().Create(ctx, e))
	u, err := s.Users().GetByEmail(ctx, email)
	ok(t, err)
	u.Status = "active" // a second version of the record
	ok(t, s.Users().Update(ctx, u))
	scanFiles(t, dir, control, email, contact)
	ok(t, s.Close())
	scanFiles(t, dir, control, email, contact)

	s2 := openDir(t, dir, k)
	u, err = s2.Users().GetByEmail(ctx, email)
	ok(t, err)
	if u.Email != email {
		t.Fatalf("decrypted e-mail %q", u.Email)
	}
}

// scanFiles fails if a secret occurs in any file under dir, or if the
// control does not.
func scanFiles(t *testing.T, dir, control string, secrets ...string) {
	t.Helper()
	needles := []string{control}
	for _, s := range secrets {
		needles = append(needles, s, s[:strings.IndexByte(s, '@')])
	}
	found := map[string]bool{}
	files := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		for _, needle := range needles {
			if bytes.Contains(b, []byte(needle)) {
				found[needle] = true
				t.Logf("%q found in %s", needle, filepath.Base(p))
			}
		}
		return nil
	})
	ok(t, err)
	if files == 0 {
		t.Fatal("no files scanned")
	}
	if !found[control] {
		t.Fatal("control string not found: the scan proves nothing")
	}
	for _, needle := range needles[1:] {
		if found[needle] {
			t.Errorf("%q is stored in plaintext", needle)
		}
	}
}

func TestSurvivesReopen(t *testing.T) {
	dir, k := t.TempDir(), newKeys(t)
	s := openDir(t, dir, k)
	fill(t, s)
	ok(t, s.Close())
	checkFilled(t, openDir(t, dir, k))
}

// fill writes one record of every kind.
func fill(t *testing.T, s *Store) {
	t.Helper()
	exp := time.Now().Add(time.Hour)
	ok(t, s.Users().Create(ctx, testUser("u1", "alice@example.org")))
	ok(t, s.Enterprises().Create(ctx, testEnterprise("e1", "acme.example")))
	ok(t, s.APIKeys().Create(ctx, testKey("k1", "e1", "pfx_a", t0)))
	ok(t, s.Sessions().Start(ctx, family("f1", "u1", exp), token("h1", exp)))
	ok(t, s.Revocations().Add(ctx, store.Revocation{ID: "jti1", Until: exp}))
	ok(t, s.Counters().Update(ctx, "c1", func([]byte) ([]byte, error) { return []byte("42"), nil }))
}

// checkFilled verifies what fill wrote.
func checkFilled(t *testing.T, s *Store) {
	t.Helper()
	u, err := s.Users().GetByEmail(ctx, "alice@example.org")
	ok(t, err)
	if u.ID != "u1" || u.PasswordHash == "" {
		t.Fatalf("user %+v", u)
	}
	e, err := s.Enterprises().Get(ctx, "e1")
	ok(t, err)
	if e.ContactEmail != "ops@acme.example" {
		t.Fatalf("enterprise %+v", e)
	}
	list, err := s.APIKeys().ListByEnterprise(ctx, "e1")
	ok(t, err)
	if len(list) != 1 || list[0].Prefix != "pfx_a" {
		t.Fatalf("keys %+v", list)
	}
	if _, err := s.Sessions().Rotate(ctx, "h1", token("h2", time.Now().Add(time.Hour)), time.Now()); err != nil {
		t.Fatal(err)
	}
	rv, err := s.Revocations().List(ctx, time.Now())
	ok(t, err)
	if len(rv) != 1 || rv[0].ID != "jti1" {
		t.Fatalf("revocations %+v", rv)
	}
	v, err := s.Counters().Get(ctx, "c1")
	ok(t, err)
	if string(v) != "42" {
		t.Fatalf("counter %q", v)
	}
}

func TestWrongMasterKey(t *testing.T) {
	dir, k := t.TempDir(), newKeys(t)
	s := openDir(t, dir, k)
	ok(t, s.Users().Create(ctx, testUser("u1", "alice@example.org")))
	ok(t, s.Enterprises().Create(ctx, testEnterprise("e1", "acme.example")))
	ok(t, s.Close())

	// Opening with another master key is refused outright.
	for name, other := range map[string]func(*keys){
		"sealing key": func(o *keys) { o.index = k.index },
		"index key":   func(o *keys) { o.sealer = k.sealer },
	} {
		o := newKeys(t)
		other(&o)
		if _, err := Open(ctx, Options{Dir: dir, Sealer: o.sealer, IndexKey: o.index, Logger: quietLogger()}); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("open with another %s: %v, want ErrWrongKey", name, err)
		}
	}
	// Past that check (a record sealed under another key), a read fails
	// with a clear error rather than garbage.
	s2 := openDir(t, dir, k)
	ok(t, s2.db.Update(func(txn *badger.Txn) error {
		it, err := txn.Get([]byte("u/u1"))
		if err != nil {
			return err
		}
		v, _ := it.ValueCopy(nil)
		v = bytes.Replace(v, []byte(`"email":"`), []byte(`"email":"AAAA`), 1)
		return txn.Set([]byte("u/u1"), v)
	}))
	_, err := s2.Users().Get(ctx, "u1")
	if err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of a damaged record: %v", err)
	}
	t.Log(err)
}

func TestBackupRestore(t *testing.T) {
	k := newKeys(t)
	s := openDir(t, t.TempDir(), k)
	fill(t, s)
	var buf bytes.Buffer
	ver, err := s.Backup(ctx, &buf)
	ok(t, err)
	if ver == 0 || buf.Len() == 0 {
		t.Fatalf("Backup version %d, %d bytes", ver, buf.Len())
	}
	if bytes.Contains(buf.Bytes(), []byte("alice@example.org")) {
		t.Fatal("backup holds a plaintext e-mail")
	}

	// Into a directory that does not exist yet.
	dst := filepath.Join(t.TempDir(), "restored")
	ok(t, Restore(ctx, Options{Dir: dst, Logger: quietLogger()}, bytes.NewReader(buf.Bytes())))
	checkFilled(t, openDir(t, dst, k))

	// Into an existing empty directory.
	empty := t.TempDir()
	ok(t, Restore(ctx, Options{Dir: empty, Logger: quietLogger()}, bytes.NewReader(buf.Bytes())))

	// Never over data.
	if err := Restore(ctx, Options{Dir: dst, Logger: quietLogger()}, bytes.NewReader(buf.Bytes())); err == nil {
		t.Fatal("Restore overwrote a database")
	}
	// A broken stream leaves nothing behind.
	bad := filepath.Join(t.TempDir(), "bad")
	if err := Restore(ctx, Options{Dir: bad, Logger: quietLogger()}, bytes.NewReader(buf.Bytes()[:buf.Len()/2])); err == nil {
		t.Fatal("truncated backup restored")
	}
	if _, err := os.Stat(bad); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("failed restore left %s: %v", bad, err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(bad), ".bad.restore-*"))
	if len(leftovers) != 0 {
		t.Fatalf("temporary directories left: %v", leftovers)
	}
}

func TestLocked(t *testing.T) {
	dir, k := t.TempDir(), newKeys(t)
	s := openDir(t, dir, k)
	_, err := Open(ctx, Options{Dir: dir, Sealer: k.sealer, IndexKey: k.index, Logger: quietLogger()})
	mustIs(t, err, ErrLocked)
	if !strings.Contains(err.Error(), dir) {
		t.Fatalf("error does not name the directory: %v", err)
	}
	ok(t, s.Close())
	openDir(t, dir, k) // free again
}

func TestCloseAndPing(t *testing.T) {
	s := newStore(t)
	ok(t, s.Ping(ctx))
	ok(t, s.Close())
	ok(t, s.Close())
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping after Close succeeded")
	}
	if _, err := s.Users().Get(ctx, "u1"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after Close: %v", err)
	}
	if err := s.Users().Create(ctx, testUser("u1", "a@example.org")); err == nil {
		t.Fatal("Create after Close succeeded")
	}

	s2 := newStore(t)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	mustIs(t, s2.Users().Create(cctx, testUser("u1", "a@example.org")), context.Canceled)
}

func TestOpenValidates(t *testing.T) {
	k := newKeys(t)
	for name, o := range map[string]Options{
		"no sealer":    {Dir: t.TempDir(), IndexKey: k.index},
		"short index":  {Dir: t.TempDir(), Sealer: k.sealer, IndexKey: k.index[:16]},
		"no directory": {Sealer: k.sealer, IndexKey: k.index},
	} {
		if s, err := Open(ctx, o); err == nil {
			s.Close()
			t.Errorf("%s: Open succeeded", name)
		}
	}
}

func TestInMemoryAndReadOnly(t *testing.T) {
	k := newKeys(t)
	m, err := Open(ctx, Options{InMemory: true, Sealer: k.sealer, IndexKey: k.index, Logger: quietLogger()})
	ok(t, err)
	ok(t, m.Users().Create(ctx, testUser("u1", "a@example.org")))
	ok(t, m.Close())

	dir := t.TempDir()
	s := openDir(t, dir, k)
	ok(t, s.Users().Create(ctx, testUser("u1", "a@example.org")))
	ok(t, s.Close())
	ro, err := Open(ctx, Options{Dir: dir, ReadOnly: true, Sealer: k.sealer, IndexKey: k.index, Logger: quietLogger()})
	ok(t, err)
	defer ro.Close()
	if _, err := ro.Users().GetByEmail(ctx, "a@example.org"); err != nil {
		t.Fatal(err)
	}
	if err := ro.Users().Create(ctx, testUser("u2", "b@example.org")); err == nil {
		t.Fatal("write to a read-only store succeeded")
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	dir, k := t.TempDir(), newKeys(t)
	o := Options{Dir: dir, Sealer: k.sealer, IndexKey: k.index, Logger: quietLogger(), Registerer: reg}
	s, err := Open(ctx, o)
	ok(t, err)
	ok(t, s.Users().Create(ctx, testUser("u1", "a@example.org")))
	mustIs(t, s.Users().Create(ctx, testUser("u2", "a@example.org")), store.ErrConflict)
	_, _ = s.Users().Get(ctx, "nobody")
	ok(t, s.Users().Update(ctx, testUser("u1", "a@example.org")))
	if err := s.Users().Update(ctx, testUser("u1", "changed@example.org")); err == nil {
		t.Fatal("e-mail change accepted")
	}
	s.runGC()

	mfs, err := reg.Gather()
	ok(t, err)
	byName := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	for _, name := range []string{"gatewayd_store_operation_duration_seconds", "gatewayd_store_errors_total",
		"gatewayd_store_lsm_size_bytes", "gatewayd_store_vlog_size_bytes", "gatewayd_store_vlog_gc_runs_total"} {
		if byName[name] == nil {
			t.Errorf("metric %s missing", name)
		}
	}
	count := func(mf *dto.MetricFamily, label string) float64 {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == label {
					if h := m.GetHistogram(); h != nil {
						return float64(h.GetSampleCount())
					}
					return m.GetCounter().GetValue()
				}
			}
		}
		return 0
	}
	if n := count(byName["gatewayd_store_operation_duration_seconds"], "users.create"); n != 2 {
		t.Errorf("users.create observations = %v, want 2", n)
	}
	// Conflict and not-found are outcomes, not errors; the refused update is one.
	if n := count(byName["gatewayd_store_errors_total"], "users.update"); n != 1 {
		t.Errorf("users.update errors = %v, want 1", n)
	}
	if byName["gatewayd_store_errors_total"] != nil && count(byName["gatewayd_store_errors_total"], "users.create") != 0 {
		t.Error("a conflict was counted as an error")
	}
	if n := count(byName["gatewayd_store_vlog_gc_runs_total"], "nothing"); n != 1 {
		t.Errorf("gc runs = %v, want 1", n)
	}
	ok(t, s.Close())
	// Close unregisters, so the same registry takes a reopened store.
	s, err = Open(ctx, o)
	ok(t, err)
	ok(t, s.Close())
}

func BenchmarkUserGet(b *testing.B) {
	s := newStore(b)
	ok := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	for i := range 1000 {
		ok(s.Users().Create(ctx, testUser(fmt.Sprintf("u%d", i), fmt.Sprintf("user%d@example.org", i))))
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := s.Users().Get(ctx, fmt.Sprintf("u%d", i%1000)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkUsersCreate(b *testing.B) {
	s := newStore(b)
	i := 0
	for b.Loop() {
		if err := s.Users().Create(ctx, testUser(fmt.Sprintf("u%d", i), fmt.Sprintf("user%d@example.org", i))); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkUsersCreateParallel shows Badger grouping concurrent synced
// commits into shared fsyncs.
func BenchmarkUsersCreateParallel(b *testing.B) {
	s := newStore(b)
	var mu sync.Mutex
	n := 0
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			i := n
			n++
			mu.Unlock()
			if err := s.Users().Create(ctx, testUser(fmt.Sprintf("u%d", i), fmt.Sprintf("user%d@example.org", i))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestConcurrentRotate presents the same token twice at once: one rotation
// wins, the other is a re-use that revokes the family.
func TestConcurrentRotate(t *testing.T) {
	s := newStore(t)
	ss := s.Sessions()
	now := time.Now()
	exp := now.Add(time.Hour)
	ok(t, ss.Start(ctx, family("f1", "u1", exp), token("h1", exp)))
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = ss.Rotate(ctx, "h1", token(fmt.Sprintf("n%d", i), exp), now)
		})
	}
	wg.Wait()
	wins, reuses := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, store.ErrTokenReused):
			reuses++
		default:
			t.Fatalf("unexpected %v", err)
		}
	}
	if wins != 1 || reuses != 1 {
		t.Fatalf("wins %d, reuses %d", wins, reuses)
	}
	_, fam, err := ss.Lookup(ctx, "h1")
	ok(t, err)
	if fam.RevokedAt.IsZero() {
		t.Fatal("family not revoked")
	}
}
