// Package badgerstore implements store.Store on an embedded Badger database.
//
// Every write is committed with SyncWrites, so a method that returned nil has
// reached stable storage and survives kill -9 or a power cut. Records are
// JSON. The e-mail addresses of users and enterprises are sealed with the
// master key (AES-256-GCM, associated data = the record key) and found
// through a blind index: HMAC-SHA256(IndexKey, normalised e-mail).
//
// # Key layout
//
// Every key starts with a prefix naming its kind; "/" separates the parts.
// IDs used inside composite keys may not contain "/".
//
//	u/<userID>                           user JSON, e-mail sealed
//	ue/<32-byte HMAC of e-mail>          → userID (unique e-mail index)
//	e/<enterpriseID>                     enterprise JSON, contact e-mail sealed
//	ed/<lower-case parent domain>        → enterpriseID (unique domain index)
//	k/<prefix>                           API key JSON
//	ke/<enterpriseID>/<createdAt>/<keyID> → prefix; createdAt is 16 hex digits of
//	                                     Unix nanoseconds, so keys list oldest first
//	rf/<familyID>                        refresh family JSON     (TTL family expiry + 24 h)
//	rt/<token hash>                      refresh token JSON      (TTL family expiry + 24 h)
//	ru/<userID>/<familyID>               empty; families of a user (TTL family expiry + 24 h)
//	rv/<id>                              revocation JSON         (TTL Until)
//	c/<key>                              counter value (caller's bytes)
//	x/<key>                              cache value             (TTL as given)
//
// Uniqueness is enforced inside the writing transaction: the index key is
// read and must be absent. Badger's conflict detection turns a concurrent
// writer of the same index key into badger.ErrConflict, and the transaction
// is then retried, so exactly one of several racing creates succeeds.
package badgerstore

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ubeu/gateway/host/seal"
	"github.com/ubeu/gateway/host/store"
)

// ErrLocked is returned (wrapped) by Open when another process holds the
// directory lock of the database.
var ErrLocked = errors.New("badgerstore: database directory is locked")

// errClosed is returned by methods called after Close.
var errClosed = errors.New("badgerstore: store is closed")

// Key prefixes; see the package documentation.
const (
	pUser       = "u/"
	pUserEmail  = "ue/"
	pEnt        = "e/"
	pEntDomain  = "ed/"
	pKey        = "k/"
	pKeyByEnt   = "ke/"
	pFamily     = "rf/"
	pToken      = "rt/"
	pUserFamily = "ru/"
	pRevocation = "rv/"
	pCounter    = "c/"
	pCache      = "x/"
	pKV         = "n/"  // n/<ns>/<key> → 8-byte version || value
	pKVUsage    = "nu/" // nu/<ns> → JSON {entries, bytes}
)

const (
	defaultGCInterval = 10 * time.Minute
	// gcDiscardRatio is the share of stale data that makes a value-log file
	// worth rewriting.
	gcDiscardRatio = 0.5
	// maxTxnAttempts bounds the retries of a transaction that keeps hitting
	// badger.ErrConflict.
	maxTxnAttempts = 20
	// sessionGrace keeps refresh families and tokens a little past their
	// expiry, so that a late request is told "revoked" rather than "unknown".
	sessionGrace = 24 * time.Hour
	// touchFlushInterval is how often coalesced API-key uses are written.
	touchFlushInterval = 5 * time.Second
	// touchResolution is the precision of a stored APIKey.LastUsedAt: a use
	// less than this after the stored one is not written.
	touchResolution = time.Minute
)

// Options configures Open.
type Options struct {
	// Dir is the Badger directory (created if missing). Unused with InMemory.
	Dir string
	// Sealer encrypts sensitive fields (e-mail addresses). Required.
	Sealer *seal.Sealer
	// IndexKey is the 32-byte HMAC key of the blind index of e-mail
	// addresses. Required.
	IndexKey []byte
	// Logger receives the store's and Badger's warnings; slog.Default() if nil.
	Logger *slog.Logger
	// Registerer receives the store metrics; none are kept if nil.
	Registerer prometheus.Registerer
	// GCInterval is the period of value-log garbage collection (default 10m).
	GCInterval time.Duration
	// InMemory keeps everything in memory; for tests only.
	InMemory bool
	// ReadOnly opens the database without write access. Writes fail and
	// API-key uses are not recorded.
	ReadOnly bool

	// tweak adjusts the Badger options; tests only.
	tweak func(badger.Options) badger.Options
}

// Store is the Badger backend. It implements store.Store and is safe for
// concurrent use.
type Store struct {
	db       *badger.DB
	sealer   *seal.Sealer
	indexKey []byte
	log      *slog.Logger
	readOnly bool
	m        *metrics

	closed    atomic.Bool
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	// counterLocks serialise Counters.Update per key stripe inside this
	// process (the only one that can open the directory), so that a hot
	// counter does not burn its retries on Badger write conflicts.
	counterLocks [64]sync.Mutex

	touchMu sync.Mutex
	touches map[string]time.Time // API-key prefix → latest use not yet written
}

var _ store.Store = (*Store)(nil)

// Open opens (or creates) the database described by o. If another process
// holds the directory, the error wraps ErrLocked.
func Open(ctx context.Context, o Options) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if o.Sealer == nil {
		return nil, errors.New("badgerstore: Options.Sealer is required")
	}
	if len(o.IndexKey) != 32 {
		return nil, fmt.Errorf("badgerstore: Options.IndexKey must be 32 bytes, got %d", len(o.IndexKey))
	}
	if o.Dir == "" && !o.InMemory {
		return nil, errors.New("badgerstore: Options.Dir is required")
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "badgerstore")
	if o.GCInterval <= 0 {
		o.GCInterval = defaultGCInterval
	}

	db, err := badger.Open(badgerOptions(o.Dir, o, log))
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, fmt.Errorf("%w: %s is in use by another gatewayd process", ErrLocked, o.Dir)
		}
		return nil, fmt.Errorf("badgerstore: open %s: %w", o.Dir, err)
	}

	s := &Store{
		db:       db,
		sealer:   o.Sealer,
		indexKey: append([]byte(nil), o.IndexKey...),
		log:      log,
		readOnly: o.ReadOnly,
		stop:     make(chan struct{}),
		touches:  make(map[string]time.Time),
	}
	if err := s.checkKeys(); err != nil {
		db.Close()
		return nil, err
	}
	if o.Registerer != nil {
		m, err := newMetrics(o.Registerer, db)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("badgerstore: metrics: %w", err)
		}
		s.m = m
	}
	if !o.ReadOnly {
		s.wg.Add(1)
		go s.touchLoop()
		if !o.InMemory {
			s.wg.Add(1)
			go s.gcLoop(o.GCInterval)
		}
	}
	log.Info("store opened", "dir", o.Dir, "inMemory", o.InMemory, "readOnly", o.ReadOnly)
	return s, nil
}

// badgerOptions returns the Badger options shared by Open and Restore.
func badgerOptions(dir string, o Options, log *slog.Logger) badger.Options {
	bo := badger.DefaultOptions(dir).
		WithSyncWrites(true).
		WithLogger(badgerLogger{log.With("component", "badger")}).
		WithLoggingLevel(badger.WARNING).
		WithReadOnly(o.ReadOnly).
		// Records are small: smaller memtables and block cache than Badger's
		// defaults (64 MiB × 5 and 256 MiB) keep the resident set modest.
		WithMemTableSize(16 << 20).
		WithBlockCacheSize(64 << 20)
	if o.InMemory {
		bo = bo.WithDir("").WithValueDir("").WithInMemory(true)
	}
	if o.tweak != nil {
		bo = o.tweak(bo)
	}
	return bo
}

// Users returns the user repository.
func (s *Store) Users() store.Users { return users{s} }

// Enterprises returns the enterprise repository.
func (s *Store) Enterprises() store.Enterprises { return enterprises{s} }

// APIKeys returns the API-key repository.
func (s *Store) APIKeys() store.APIKeys { return apiKeys{s} }

// Sessions returns the refresh-token repository.
func (s *Store) Sessions() store.Sessions { return sessions{s} }

// Revocations returns the persisted deny list.
func (s *Store) Revocations() store.Revocations { return revocations{s} }

// Counters returns the counter repository.
func (s *Store) Counters() store.Counters { return counters{s} }

// Cache returns the cache namespace. Cache writes go through the same
// synced commit path as records (Badger's SyncWrites is per database).
func (s *Store) Cache() store.Cache { return cache{s} }

// KV returns the namespaced key-value repository.
func (s *Store) KV() store.KV { return kv{s} }

// DB returns the underlying Badger database, for tests and diagnostics only.
func (s *Store) DB() *badger.DB { return s.db }

// Ping runs a cheap read transaction; it fails once the store is closed.
func (s *Store) Ping(ctx context.Context) (err error) {
	defer s.done("ping", time.Now(), &err)
	if err := s.check(ctx); err != nil {
		return err
	}
	return s.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get([]byte("ping"))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		return err
	})
}

// Close stops the background work, writes pending API-key uses and closes
// the database. It is safe to call more than once; later calls return the
// first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.wg.Wait()
		if !s.readOnly {
			s.flushTouches(context.Background())
		}
		s.closed.Store(true)
		if s.m != nil {
			s.m.unregister()
		}
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("badgerstore: close: %w", err)
		}
	})
	return s.closeErr
}

// check returns an error if ctx is done or the store closed.
func (s *Store) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return errClosed
	}
	return nil
}

// view runs fn in a read transaction.
func (s *Store) view(ctx context.Context, fn func(txn *badger.Txn) error) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	return s.db.View(fn)
}

// update runs fn in a read-write transaction and commits it, retrying the
// whole transaction (fn included) on badger.ErrConflict with a short
// jittered backoff.
func (s *Store) update(ctx context.Context, fn func(txn *badger.Txn) error) error {
	for attempt := 1; ; attempt++ {
		if err := s.check(ctx); err != nil {
			return err
		}
		err := s.db.Update(fn)
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
		if attempt == maxTxnAttempts {
			return fmt.Errorf("transaction still conflicting after %d attempts: %w", attempt, err)
		}
		// Full jitter over an exponential ceiling: 100 µs, 200 µs, … 10 ms.
		ceiling := min(100*time.Microsecond<<min(attempt-1, 7), 10*time.Millisecond)
		d := time.Duration(rand.Int64N(int64(ceiling)))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// done records the duration and outcome of op and wraps a non-nil error with
// the operation name.
func (s *Store) done(op string, start time.Time, err *error) {
	if s.m != nil {
		s.m.observe(op, time.Since(start), *err)
	}
	if *err != nil {
		*err = fmt.Errorf("badgerstore: %s: %w", op, *err)
	}
}

// emailIndex returns the blind-index key of a normalised e-mail address.
func (s *Store) emailIndex(email string) []byte {
	mac := hmac.New(sha256.New, s.indexKey)
	mac.Write([]byte(normEmail(email)))
	return mac.Sum([]byte(pUserEmail))
}

// sealField encrypts a sensitive string bound to the record key; an empty
// string stays empty.
func (s *Store) sealField(v string, recordKey []byte) []byte {
	if v == "" {
		return nil
	}
	return s.sealer.Seal([]byte(v), recordKey)
}

// openField decrypts a value made by sealField.
func (s *Store) openField(sealed []byte, recordKey []byte, what string) (string, error) {
	if len(sealed) == 0 {
		return "", nil
	}
	pt, err := s.sealer.Open(sealed, recordKey)
	if err != nil {
		return "", fmt.Errorf("cannot decrypt %s of %s (wrong master key or damaged record): %w", what, recordKey, err)
	}
	return string(pt), nil
}

func normEmail(e string) string  { return strings.ToLower(strings.TrimSpace(e)) }
func normDomain(d string) string { return strings.ToLower(strings.TrimSpace(d)) }

// checkID rejects IDs that would break the key layout.
func checkID(what, id string) error {
	if id == "" {
		return fmt.Errorf("empty %s", what)
	}
	if strings.Contains(id, "/") {
		return fmt.Errorf("%s %q contains '/'", what, id)
	}
	return nil
}

// getJSON loads the JSON value of key into v; store.ErrNotFound if absent.
func getJSON(txn *badger.Txn, key []byte, v any) error {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return store.ErrNotFound
	}
	if err != nil {
		return err
	}
	return item.Value(func(b []byte) error {
		if err := json.Unmarshal(b, v); err != nil {
			return fmt.Errorf("decode %s: %w", key, err)
		}
		return nil
	})
}

// setJSON stores v as JSON under key, expiring at the Unix second exp (0 =
// never).
func setJSON(txn *badger.Txn, key []byte, v any, exp uint64) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	e := badger.NewEntry(key, b)
	e.ExpiresAt = exp
	return txn.SetEntry(e)
}

// exists reports whether key is present; the read is recorded for conflict
// detection.
func exists(txn *badger.Txn, key []byte) (bool, error) {
	_, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

// expiresAt converts t to a Badger expiry: the first whole second at or after
// t, so that an entry never disappears before t. Zero means never.
func expiresAt(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	sec := t.Unix()
	if t.Nanosecond() > 0 {
		sec++
	}
	if sec < 1 {
		sec = 1
	}
	return uint64(sec)
}

// gcLoop runs value-log GC every interval until Close.
func (s *Store) gcLoop(interval time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.runGC()
		}
	}
}

// runGC rewrites value-log files while Badger finds one worth rewriting.
func (s *Store) runGC() {
	for {
		select {
		case <-s.stop:
			return
		default:
		}
		err := s.db.RunValueLogGC(gcDiscardRatio)
		switch {
		case err == nil:
			s.m.gcRun("rewrote")
			continue
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
			s.m.gcRun("nothing")
		default:
			s.m.gcRun("error")
			s.log.Warn("value-log GC failed", "err", err)
		}
		return
	}
}

// badgerLogger sends Badger's log lines to slog. Badger is opened at WARNING
// level, so only warnings and errors arrive here.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error(strings.TrimSpace(fmt.Sprintf(f, a...)))
}

func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(strings.TrimSpace(fmt.Sprintf(f, a...)))
}

func (b badgerLogger) Infof(f string, a ...any) {
	b.l.Debug(strings.TrimSpace(fmt.Sprintf(f, a...)))
}

func (b badgerLogger) Debugf(f string, a ...any) {
	b.l.Debug(strings.TrimSpace(fmt.Sprintf(f, a...)))
}

// ErrWrongKey means the store was written under another master key.
var ErrWrongKey = errors.New("badgerstore: the master key does not match the one this store was written with")

// canaryKey holds a value sealed under the sealing key and the blind index
// of a fixed string, written on first open and checked on every open, so
// that gatewayd refuses to start with the wrong master key instead of
// failing on the first read (or, for the blind index, silently finding
// nothing).
var canaryKey = []byte("m/canary")

const canaryText = "gatewayd store canary v1"

func (s *Store) checkKeys() error {
	var stored []byte
	err := s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(canaryKey)
		if err != nil {
			return err
		}
		stored, err = it.ValueCopy(nil)
		return err
	})
	idx := s.emailIndex(canaryText)
	if errors.Is(err, badger.ErrKeyNotFound) {
		if s.readOnly {
			return nil
		}
		v := append(append([]byte(nil), idx...), s.sealer.Seal([]byte(canaryText), canaryKey)...)
		return s.db.Update(func(txn *badger.Txn) error { return txn.Set(canaryKey, v) })
	}
	if err != nil {
		return fmt.Errorf("badgerstore: read canary: %w", err)
	}
	if len(stored) < len(idx) || !hmac.Equal(stored[:len(idx)], idx) {
		return ErrWrongKey
	}
	pt, err := s.sealer.Open(stored[len(idx):], canaryKey)
	if err != nil || string(pt) != canaryText {
		return ErrWrongKey
	}
	return nil
}
