package statuslist

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ubeu/gateway/host/store"
)

// Status purposes (§ BitstringStatusListEntry, statusPurpose).
const (
	// PurposeRevocation cancels a credential; it is not reversible.
	PurposeRevocation = "revocation"
	// PurposeSuspension temporarily prevents acceptance; it is reversible.
	PurposeSuspension = "suspension"
	// PurposeMessage conveys one of several status messages (statusSize
	// bits per entry). Checker understands it; Registry does not allocate
	// such lists.
	PurposeMessage = "message"
)

// Registry errors.
var (
	// ErrUnsupportedPurpose means a status purpose this package does not
	// handle (the registry handles revocation and suspension).
	ErrUnsupportedPurpose = errors.New("statuslist: unsupported status purpose")
	// ErrRevocationFinal means an attempt to clear a revocation bit.
	ErrRevocationFinal = errors.New("statuslist: a revocation cannot be undone")
	// ErrNotAllocated means a Set or Get of an index never allocated.
	ErrNotAllocated = errors.New("statuslist: index not allocated")
	// ErrPurposeMismatch means a Set whose purpose is not the list's.
	ErrPurposeMismatch = errors.New("statuslist: purpose does not match the list")
	// ErrListNotFound means no list has this ID.
	ErrListNotFound = errors.New("statuslist: list not found")
)

// KV namespace and key layout:
//
//	l/<listID>                  the list record (JSON of record)
//	c/<issuer>/<purpose>        the issuer's current list for a purpose
const ns = "vcstatuslist"

// maxAttempts bounds the compare-and-swap retries of one operation. A
// conflict means another writer succeeded, so the system always progresses;
// the bound only stops a caller starved for very long.
const maxAttempts = 10000

// Signer secures an unsigned status list credential (for example with a
// Data Integrity proof) and returns the bytes to serve.
type Signer func(ctx context.Context, doc map[string]any) ([]byte, error)

// Options configures a Registry.
type Options struct {
	// KV persists the lists. Required.
	KV store.KV
	// BaseURL is the prefix of the list URLs, which are
	// BaseURL/<issuer>/<listID> (the issuer path-escaped), e.g.
	// "https://gw.example/status". Required.
	BaseURL string
	// Entries is the number of one-bit entries of a new list, rounded up
	// to whole bytes; at least (and by default) MinEntries.
	Entries int
	// FillRatio is the share of a list's entries that may be allocated
	// before the issuer's next allocation opens a new list. Default 0.75,
	// which keeps random allocation cheap (at most four draws on
	// average) and every list's group size large.
	FillRatio float64
	// TTL is the credentialSubject.ttl of served lists and the longest
	// max-age handed to HTTP caches. Default 5 minutes, the specification's
	// default of 300000 ms (§ BitstringStatusListCredential, ttl).
	TTL time.Duration
	// Validity is validUntil - validFrom of a served list credential. A
	// list is re-signed when half of it has elapsed, or as soon as a
	// status changes. Default 24 hours.
	Validity time.Duration
	// Recheck is how long a signed list is served from memory without
	// asking the store whether it changed (another gateway sharing the
	// store may have written it). Changes made through this Registry are
	// seen at once. Default 1 second.
	Recheck time.Duration
	// Signer secures list credentials. Nil serves the unsigned credential
	// as JSON (for development and tests).
	Signer Signer
	// IssuerID maps the issuer given to Allocate (e.g. an enterprise ID)
	// to the list credential's issuer (a DID or URL). Nil uses the issuer
	// as given.
	IssuerID func(ctx context.Context, issuer string) (string, error)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the source of index randomness; nil means crypto/rand.
	Rand io.Reader
}

// Entry is an allocated status entry.
type Entry struct {
	ListID  string
	ListURL string
	Index   int
	Purpose string
}

// CredentialStatus returns the credentialStatus object of a credential
// that uses this entry (§ BitstringStatusListEntry). Its id is the list
// URL with the index as fragment, which is not the list's URL as the
// specification requires.
func (e Entry) CredentialStatus() map[string]any {
	idx := strconv.Itoa(e.Index)
	return map[string]any{
		"id":                   e.ListURL + "#" + idx,
		"type":                 "BitstringStatusListEntry",
		"statusPurpose":        e.Purpose,
		"statusListIndex":      idx,
		"statusListCredential": e.ListURL,
	}
}

// record is a persisted list.
type record struct {
	ID        string    `json:"id"`
	Issuer    string    `json:"issuer"`
	Purpose   string    `json:"purpose"`
	Created   time.Time `json:"created"`
	Allocated int       `json:"allocated"`
	// Rev counts status changes; allocations do not change it.
	Rev  uint64 `json:"rev"`
	Used []byte `json:"used"` // allocation bitmap, same layout as Bits
	Bits []byte `json:"bits"` // the status bitstring
}

type pointer struct {
	List string `json:"list"`
}

// served is a signed list held for ServeBytes.
type served struct {
	kvVersion  uint64
	rev        uint64
	body       []byte
	etag       string
	validUntil time.Time
	refreshAt  time.Time
	checked    time.Time
}

// Registry allocates status entries and keeps and serves status lists.
// It is safe for concurrent use, also by several processes sharing one
// store: every update is a compare-and-swap on the list's KV version.
//
// Allocation rule: each (issuer, purpose) has a current list. An index is
// drawn uniformly at random from the current list's free entries (never
// one allocated before, even if its credential was revoked). When
// FillRatio of a list's entries are allocated, the next allocation opens
// a new list, which becomes current; older lists keep being served and
// updated.
type Registry struct {
	kv        store.KV
	base      string
	entries   int
	fill      float64
	ttl       time.Duration
	validity  time.Duration
	recheck   time.Duration
	signer    Signer
	issuerID  func(ctx context.Context, issuer string) (string, error)
	now       func() time.Time
	rand      io.Reader
	mu        sync.Mutex
	servedMap map[string]*served
	locks     sync.Map // string -> *sync.Mutex, see lock
}

// lock serialises this process's writers of one key (an issuer's
// allocations, or one list's status changes). Correctness does not depend
// on it: every write is a compare-and-swap, which is what keeps several
// gateways on one store apart. It keeps a burst of local writers from
// spinning on conflicts (the Badger backend serialises all writes of a KV
// namespace and gives up after a bounded number of retries).
func (r *Registry) lock(key string) func() {
	m, _ := r.locks.LoadOrStore(key, new(sync.Mutex))
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// New returns a Registry.
func New(o Options) (*Registry, error) {
	if o.KV == nil {
		return nil, errors.New("statuslist: Options.KV is required")
	}
	u, err := url.Parse(o.BaseURL)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return nil, fmt.Errorf("statuslist: Options.BaseURL %q is not an absolute URL", o.BaseURL)
	}
	r := &Registry{
		kv: o.KV, base: strings.TrimRight(o.BaseURL, "/"),
		entries: max(o.Entries, MinEntries), fill: o.FillRatio,
		ttl: o.TTL, validity: o.Validity, recheck: o.Recheck,
		signer: o.Signer, issuerID: o.IssuerID, now: o.Now, rand: o.Rand,
		servedMap: map[string]*served{},
	}
	if r.entries > MaxDecodedBytes*8 {
		return nil, fmt.Errorf("statuslist: Options.Entries %d exceeds %d", o.Entries, MaxDecodedBytes*8)
	}
	if r.fill <= 0 || r.fill > 1 {
		r.fill = 0.75
	}
	if r.ttl <= 0 {
		r.ttl = 5 * time.Minute
	}
	if r.validity <= 0 {
		r.validity = 24 * time.Hour
	}
	if r.recheck <= 0 {
		r.recheck = time.Second
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.rand == nil {
		r.rand = rand.Reader
	}
	return r, nil
}

// ListURL returns the URL at which a list is served.
func (r *Registry) ListURL(issuer, listID string) string {
	return r.base + "/" + url.PathEscape(issuer) + "/" + listID
}

// ParseListURL reports whether u is the URL of a list of this registry
// (BaseURL/<issuer>/<listID>) and returns the issuer and list ID.
func (r *Registry) ParseListURL(u string) (issuer, listID string, ok bool) {
	rest, found := strings.CutPrefix(u, r.base+"/")
	if !found {
		return "", "", false
	}
	esc, id, found := strings.Cut(rest, "/")
	if !found || id == "" || strings.ContainsAny(id, "/?#") {
		return "", "", false
	}
	iss, err := url.PathUnescape(esc)
	if err != nil || iss == "" {
		return "", "", false
	}
	return iss, id, true
}

func checkPurpose(p string) error {
	switch p {
	case PurposeRevocation, PurposeSuspension:
		return nil
	}
	return fmt.Errorf("%w: %q", ErrUnsupportedPurpose, p)
}

func listKey(id string) string                 { return "l/" + id }
func currentKey(issuer, purpose string) string { return "c/" + issuer + "/" + purpose }

// Allocate reserves a fresh random index for a credential of issuer in the
// issuer's current list for purpose.
func (r *Registry) Allocate(ctx context.Context, issuer, purpose string) (Entry, error) {
	es, err := r.AllocateN(ctx, issuer, purpose, 1)
	if err != nil {
		return Entry{}, err
	}
	return es[0], nil
}

// AllocateN reserves n fresh random indexes at once (bulk issuance): as
// many as the current list has room for in one write, then the next list.
// The indexes are drawn at random like Allocate's, so their order says
// nothing about the order of issuance.
func (r *Registry) AllocateN(ctx context.Context, issuer, purpose string, n int) ([]Entry, error) {
	if err := checkPurpose(purpose); err != nil {
		return nil, err
	}
	if issuer == "" {
		return nil, fmt.Errorf("%w: empty issuer", ErrMalformed)
	}
	if n < 1 {
		return nil, fmt.Errorf("%w: allocate %d entries", ErrMalformed, n)
	}
	defer r.lock(currentKey(issuer, purpose))()
	out := make([]Entry, 0, n)
	for range maxAttempts {
		if len(out) == n {
			return out, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p, pver, err := r.current(ctx, issuer, purpose)
		if err != nil {
			return nil, err
		}
		if p.List == "" {
			if err := r.rollover(ctx, issuer, purpose, pver); err != nil {
				return nil, err
			}
			continue
		}
		rec, ver, err := r.load(ctx, p.List)
		if err != nil {
			return nil, fmt.Errorf("statuslist: current list of %q: %w", issuer, err)
		}
		room := int(math.Ceil(r.fill*float64(len(rec.Used)*8))) - rec.Allocated // as long as allocated < fill × entries
		if room <= 0 {
			if err := r.rollover(ctx, issuer, purpose, pver); err != nil {
				return nil, err
			}
			continue
		}
		take := min(room, n-len(out))
		idxs := make([]int, 0, take)
		for range take {
			idx, err := r.pick(Bitstring(rec.Used), rec.Allocated)
			if err != nil {
				return nil, err
			}
			_ = Bitstring(rec.Used).Set(idx, true)
			rec.Allocated++
			idxs = append(idxs, idx)
		}
		ok, err := r.save(ctx, rec, store.KVCond{Version: ver})
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		u := r.ListURL(rec.Issuer, rec.ID)
		for _, idx := range idxs {
			out = append(out, Entry{ListID: rec.ID, ListURL: u, Index: idx, Purpose: purpose})
		}
	}
	if len(out) == n {
		return out, nil
	}
	return nil, fmt.Errorf("statuslist: allocate for %q: gave up after %d conflicts", issuer, maxAttempts)
}

// pick draws an unallocated index uniformly at random: rejection sampling
// over the whole list (uniform over the free entries), falling back to
// choosing the k-th free entry when the list is nearly full.
func (r *Registry) pick(used Bitstring, allocated int) (int, error) {
	n := used.Len()
	free := n - allocated
	if free <= 0 {
		return 0, fmt.Errorf("statuslist: list full")
	}
	for range 64 {
		i, err := r.intn(n)
		if err != nil {
			return 0, err
		}
		if set, _ := used.Get(i); !set {
			return i, nil
		}
	}
	k, err := r.intn(free)
	if err != nil {
		return 0, err
	}
	for i := range n {
		if set, _ := used.Get(i); !set {
			if k == 0 {
				return i, nil
			}
			k--
		}
	}
	return 0, fmt.Errorf("statuslist: allocation count out of step with the bitmap")
}

// intn returns a uniform integer in [0, n) from r.rand, without modulo
// bias.
func (r *Registry) intn(n int) (int, error) {
	var b [8]byte
	lim := uint64(math.MaxUint64) - uint64(math.MaxUint64)%uint64(n)
	for {
		if _, err := io.ReadFull(r.rand, b[:]); err != nil {
			return 0, fmt.Errorf("statuslist: random: %w", err)
		}
		if v := binary.BigEndian.Uint64(b[:]); v < lim {
			return int(v % uint64(n)), nil
		}
	}
}

// current returns the issuer's current list pointer and its version (an
// empty pointer and version 0 if none).
func (r *Registry) current(ctx context.Context, issuer, purpose string) (pointer, uint64, error) {
	v, ver, err := r.kv.Get(ctx, ns, currentKey(issuer, purpose))
	if errors.Is(err, store.ErrNotFound) {
		return pointer{}, 0, nil
	}
	if err != nil {
		return pointer{}, 0, fmt.Errorf("statuslist: current list of %q: %w", issuer, err)
	}
	var p pointer
	if err := json.Unmarshal(v, &p); err != nil {
		return pointer{}, 0, fmt.Errorf("statuslist: current list of %q: %w", issuer, err)
	}
	return p, ver, nil
}

// rollover creates a new list and makes it the issuer's current one if the
// pointer still has version pver (0: absent). Losing that race is not an
// error: the new list is deleted and the caller retries with the winner's.
func (r *Registry) rollover(ctx context.Context, issuer, purpose string, pver uint64) error {
	var idb [12]byte
	if _, err := io.ReadFull(r.rand, idb[:]); err != nil {
		return fmt.Errorf("statuslist: list ID: %w", err)
	}
	n := (r.entries + 7) / 8
	rec := &record{
		ID: base64.RawURLEncoding.EncodeToString(idb[:]), Issuer: issuer, Purpose: purpose,
		Created: r.now().UTC(), Used: make([]byte, n), Bits: make([]byte, n),
	}
	ok, err := r.save(ctx, rec, store.KVCond{Absent: true})
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("statuslist: list ID %s already taken", rec.ID)
	}
	pv, err := json.Marshal(pointer{List: rec.ID})
	if err != nil {
		return err
	}
	cond := store.KVCond{Version: pver, Absent: pver == 0}
	_, err = r.kv.Put(ctx, ns, currentKey(issuer, purpose), pv, cond)
	if errors.Is(err, store.ErrConflict) {
		if derr := r.kv.Delete(ctx, ns, listKey(rec.ID), store.KVCond{}); derr != nil && !errors.Is(derr, store.ErrNotFound) {
			return fmt.Errorf("statuslist: drop unused list %s: %w", rec.ID, derr)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("statuslist: set current list of %q: %w", issuer, err)
	}
	return nil
}

// load reads a list record and its KV version.
func (r *Registry) load(ctx context.Context, listID string) (*record, uint64, error) {
	v, ver, err := r.kv.Get(ctx, ns, listKey(listID))
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, fmt.Errorf("%w: %q", ErrListNotFound, listID)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("statuslist: load list %q: %w", listID, err)
	}
	rec, err := decodeRecord(v)
	if err != nil {
		return nil, 0, fmt.Errorf("statuslist: load list %q: %w", listID, err)
	}
	return rec, ver, nil
}

func decodeRecord(v []byte) (*record, error) {
	var rec record
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, err
	}
	if len(rec.Bits) < MinBytes || len(rec.Used) != len(rec.Bits) {
		return nil, fmt.Errorf("corrupt record: %d status bytes, %d allocation bytes", len(rec.Bits), len(rec.Used))
	}
	return &rec, nil
}

// save writes rec under cond; false (and no error) on a CAS conflict.
func (r *Registry) save(ctx context.Context, rec *record, cond store.KVCond) (bool, error) {
	v, err := json.Marshal(rec)
	if err != nil {
		return false, fmt.Errorf("statuslist: encode list %s: %w", rec.ID, err)
	}
	_, err = r.kv.Put(ctx, ns, listKey(rec.ID), v, cond)
	if errors.Is(err, store.ErrConflict) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("statuslist: save list %s: %w", rec.ID, err)
	}
	return true, nil
}

// Set sets or clears the status bit of an allocated index: revoke
// (purpose revocation, true), suspend (suspension, true) and unsuspend
// (suspension, false). Clearing a revocation bit is refused with
// ErrRevocationFinal, since revocation "is not reversible"
// (§ BitstringStatusListEntry, statusPurpose). Setting a bit to its
// current value succeeds without a write.
func (r *Registry) Set(ctx context.Context, listID string, index int, purpose string, value bool) error {
	if err := checkPurpose(purpose); err != nil {
		return err
	}
	defer r.lock(listKey(listID))()
	for range maxAttempts {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, ver, err := r.load(ctx, listID)
		if err != nil {
			return err
		}
		cur, err := allocatedBit(rec, index)
		if err != nil {
			return err
		}
		if rec.Purpose != purpose {
			return fmt.Errorf("%w: list %s is for %q, not %q", ErrPurposeMismatch, listID, rec.Purpose, purpose)
		}
		if cur == value {
			return nil
		}
		if cur && rec.Purpose == PurposeRevocation {
			return fmt.Errorf("%w: list %s index %d", ErrRevocationFinal, listID, index)
		}
		_ = Bitstring(rec.Bits).Set(index, value)
		rec.Rev++
		ok, err := r.save(ctx, rec, store.KVCond{Version: ver})
		if err != nil {
			return err
		}
		if ok {
			r.mu.Lock()
			delete(r.servedMap, listID)
			r.mu.Unlock()
			return nil
		}
	}
	return fmt.Errorf("statuslist: set list %s index %d: gave up after %d conflicts", listID, index, maxAttempts)
}

// Get returns the status bit of an allocated index.
func (r *Registry) Get(ctx context.Context, listID string, index int) (bool, error) {
	rec, _, err := r.load(ctx, listID)
	if err != nil {
		return false, err
	}
	return allocatedBit(rec, index)
}

func allocatedBit(rec *record, index int) (bool, error) {
	used, err := Bitstring(rec.Used).Get(index)
	if err != nil {
		return false, err
	}
	if !used {
		return false, fmt.Errorf("%w: list %s index %d", ErrNotAllocated, rec.ID, index)
	}
	return Bitstring(rec.Bits).Get(index)
}

// Credential returns the unsigned status list credential of a list as it
// is now, valid from now for Options.Validity
// (§ BitstringStatusListCredential; § Generate Algorithm, steps 2-4).
func (r *Registry) Credential(ctx context.Context, listID string) (map[string]any, error) {
	rec, _, err := r.load(ctx, listID)
	if err != nil {
		return nil, err
	}
	return r.credential(ctx, rec, r.now())
}

func (r *Registry) credential(ctx context.Context, rec *record, now time.Time) (map[string]any, error) {
	issuer := rec.Issuer
	if r.issuerID != nil {
		var err error
		if issuer, err = r.issuerID(ctx, rec.Issuer); err != nil {
			return nil, fmt.Errorf("statuslist: issuer of list %s: %w", rec.ID, err)
		}
	}
	enc, err := Bitstring(rec.Bits).Encode()
	if err != nil {
		return nil, err
	}
	u := r.ListURL(rec.Issuer, rec.ID)
	now = now.UTC().Truncate(time.Second)
	return map[string]any{
		"@context":   []any{"https://www.w3.org/ns/credentials/v2"},
		"id":         u,
		"type":       []any{"VerifiableCredential", "BitstringStatusListCredential"},
		"issuer":     issuer,
		"validFrom":  now.Format(time.RFC3339),
		"validUntil": now.Add(r.validity).Format(time.RFC3339),
		"credentialSubject": map[string]any{
			"id":            u + "#list",
			"type":          "BitstringStatusList",
			"statusPurpose": rec.Purpose,
			"encodedList":   enc,
			"ttl":           r.ttl.Milliseconds(),
		},
	}, nil
}

// ServeBytes returns the secured status list credential of a list for the
// HTTP layer: the body, a strong ETag (quoted) and the max-age for
// Cache-Control, which is the TTL capped by the time left until
// validUntil. Bodies are signed once per list status revision (and again
// when half their validity has elapsed) and then served from memory.
func (r *Registry) ServeBytes(ctx context.Context, listID string) (body []byte, etag string, maxAge time.Duration, err error) {
	now := r.now()
	r.mu.Lock()
	s := r.servedMap[listID]
	if s != nil && now.Sub(s.checked) < r.recheck && now.Before(s.refreshAt) {
		r.mu.Unlock()
		return s.body, s.etag, r.maxAge(s, now), nil
	}
	r.mu.Unlock()

	v, ver, err := r.kv.Get(ctx, ns, listKey(listID))
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", 0, fmt.Errorf("%w: %q", ErrListNotFound, listID)
	}
	if err != nil {
		return nil, "", 0, fmt.Errorf("statuslist: load list %q: %w", listID, err)
	}
	if s != nil && s.kvVersion == ver && now.Before(s.refreshAt) {
		return r.touch(listID, s, ver, now)
	}
	rec, err := decodeRecord(v)
	if err != nil {
		return nil, "", 0, fmt.Errorf("statuslist: load list %q: %w", listID, err)
	}
	if s != nil && s.rev == rec.Rev && now.Before(s.refreshAt) {
		return r.touch(listID, s, ver, now)
	}
	doc, err := r.credential(ctx, rec, now)
	if err != nil {
		return nil, "", 0, err
	}
	if r.signer != nil {
		body, err = r.signer(ctx, doc)
		if err != nil {
			return nil, "", 0, fmt.Errorf("statuslist: sign list %s: %w", listID, err)
		}
	} else if body, err = json.Marshal(doc); err != nil {
		return nil, "", 0, fmt.Errorf("statuslist: encode list %s: %w", listID, err)
	}
	sum := sha256.Sum256(body)
	from := now.UTC().Truncate(time.Second)
	fresh := &served{
		kvVersion: ver, rev: rec.Rev, body: body,
		etag:       `"` + hex.EncodeToString(sum[:16]) + `"`,
		validUntil: from.Add(r.validity), refreshAt: from.Add(r.validity / 2), checked: now,
	}
	r.mu.Lock()
	if old := r.servedMap[listID]; old == nil || old.rev <= fresh.rev {
		r.servedMap[listID] = fresh
	}
	r.mu.Unlock()
	return fresh.body, fresh.etag, r.maxAge(fresh, now), nil
}

// touch records that the cached body of listID is still current at KV
// version ver.
func (r *Registry) touch(listID string, s *served, ver uint64, now time.Time) ([]byte, string, time.Duration, error) {
	r.mu.Lock()
	if r.servedMap[listID] == s {
		c := *s
		c.kvVersion, c.checked = ver, now
		r.servedMap[listID] = &c
	}
	r.mu.Unlock()
	return s.body, s.etag, r.maxAge(s, now), nil
}

func (r *Registry) maxAge(s *served, now time.Time) time.Duration {
	return max(0, min(r.ttl, s.validUntil.Sub(now))).Truncate(time.Second)
}
