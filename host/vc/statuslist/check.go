package statuslist

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Status is the outcome of checking a status entry (§ Validate Algorithm,
// #validate-algorithm, steps 11-15).
type Status struct {
	// Purpose is the entry's statusPurpose.
	Purpose string
	// Set reports a non-zero status: revoked, suspended, or for purpose
	// message any status but 0x0 (the algorithm's valid == false).
	Set bool
	// Value is the status value (0 or 1 unless statusSize > 1).
	Value uint64
	// Message is the entry's statusMessage for Value, if it has them.
	Message string
}

// Fetcher dereferences a statusListCredential URL and returns the status
// list credential, whose proof the caller has verified.
type Fetcher func(ctx context.Context, url string) (listCredential []byte, err error)

// TaggedFetcher is a Fetcher that also returns a tag which changes whenever
// the bytes do (a strong ETag, such as Registry.ServeBytes gives). A
// Checker compares tags instead of hashing the list each time; an empty
// tag falls back to the hash.
type TaggedFetcher func(ctx context.Context, url string) (listCredential []byte, tag string, err error)

// CheckerOptions configures a Checker.
type CheckerOptions struct {
	// TTL is how long a fetched list is reused. The list's own ttl, when
	// smaller, wins (§ BitstringStatusListCredential, ttl: a verifier
	// "MUST NOT use a cached BitstringStatusListCredential that was cached
	// for more than the ttl"). Default 5 minutes.
	TTL time.Duration
	// MaxLists bounds the number of cached lists. Default 1024.
	MaxLists int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Checker checks credentialStatus entries against status lists, caching
// decoded lists by URL and content hash. It is safe for concurrent use.
type Checker struct {
	ttl   time.Duration
	max   int
	now   func() time.Time
	mu    sync.Mutex
	lists map[string]*cachedList
}

type cachedList struct {
	sum        [32]byte // of the bytes, when fetched without a tag
	tag        string   // the TaggedFetcher's tag, if it gave one
	fetched    time.Time
	ttl        time.Duration
	validFrom  time.Time
	validUntil time.Time
	purposes   []string
	bits       Bitstring
}

// NewChecker returns a Checker.
func NewChecker(o CheckerOptions) *Checker {
	c := &Checker{ttl: o.TTL, max: o.MaxLists, now: o.Now, lists: map[string]*cachedList{}}
	if c.ttl <= 0 {
		c.ttl = 5 * time.Minute
	}
	if c.max <= 0 {
		c.max = 1024
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// maxStatusSize is the largest statusSize Check accepts: 2^16 status
// messages are already far more than any real list carries.
const maxStatusSize = 16

// ParsedEntry is a credential's BitstringStatusListEntry as ParseEntry
// read it, ready to be checked any number of times (CheckEntry). It is
// read-only.
type ParsedEntry struct {
	purpose  string
	index    uint64
	size     int
	listURL  string
	messages map[uint64]string
}

// Check validates a credentialStatus entry of type BitstringStatusListEntry
// following § Validate Algorithm: it fetches the list credential (or uses
// a cached one), checks that the list has the entry's purpose, expands
// encodedList, checks the list length and the index, and returns the
// status. Errors wrap ErrMalformed, ErrUnsupportedPurpose, ErrRetrieval,
// ErrVerification, ErrListLength or ErrRange.
func (c *Checker) Check(ctx context.Context, entryObj map[string]any, fetch Fetcher) (Status, error) {
	e, err := ParseEntry(entryObj)
	if err != nil {
		return Status{}, err
	}
	var tagged TaggedFetcher
	if fetch != nil {
		tagged = func(ctx context.Context, u string) ([]byte, string, error) {
			b, err := fetch(ctx, u)
			return b, "", err
		}
	}
	return c.CheckEntry(ctx, e, tagged)
}

// CheckEntry is Check of an entry parsed by ParseEntry.
func (c *Checker) CheckEntry(ctx context.Context, e *ParsedEntry, fetch TaggedFetcher) (Status, error) {
	l, err := c.list(ctx, e.listURL, fetch)
	if err != nil {
		return Status{}, err
	}
	// Step 5: the entry's purpose must be one of the list's.
	if !slices.Contains(l.purposes, e.purpose) {
		return Status{}, fmt.Errorf("%w: entry purpose %q, list purposes %q", ErrVerification, e.purpose, l.purposes)
	}
	// Step 9.
	if l.bits.Len()/e.size < MinEntries {
		return Status{}, fmt.Errorf("%w: %d entries of %d bits", ErrListLength, l.bits.Len()/e.size, e.size)
	}
	// Step 10.
	v, err := l.bits.Status(e.index, e.size)
	if err != nil {
		return Status{}, err
	}
	return Status{Purpose: e.purpose, Set: v != 0, Value: v, Message: e.messages[v]}, nil
}

// list returns the decoded list at u, from the cache while it is fresh.
func (c *Checker) list(ctx context.Context, u string, fetch TaggedFetcher) (*cachedList, error) {
	now := c.now()
	c.mu.Lock()
	l := c.lists[u]
	c.mu.Unlock()
	if l != nil && now.Sub(l.fetched) < l.ttl && l.valid(now) {
		return l, nil
	}
	if fetch == nil {
		return nil, fmt.Errorf("%w: no fetcher for %s", ErrRetrieval, u)
	}
	raw, tag, err := fetch(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrRetrieval, u, err)
	}
	if tag != "" && l != nil && l.tag == tag && l.valid(now) {
		// Unchanged, by its tag: nothing to decode or store.
		return l, nil
	}
	var sum [32]byte
	if tag == "" {
		sum = sha256.Sum256(raw)
	}
	var fresh *cachedList
	if l != nil && (tag != "" && l.tag == tag || tag == "" && l.tag == "" && l.sum == sum) {
		// Same content as before: reuse the decoded bitstring.
		c2 := *l
		c2.fetched = now
		fresh = &c2
	} else if fresh, err = parseListCredential(raw, c.ttl); err != nil {
		return nil, fmt.Errorf("status list %s: %w", u, err)
	} else {
		fresh.sum, fresh.tag, fresh.fetched = sum, tag, now
	}
	if !fresh.valid(now) {
		return nil, fmt.Errorf("%w: status list %s is not valid at %s", ErrVerification, u, now.UTC().Format(time.RFC3339))
	}
	c.mu.Lock()
	if len(c.lists) >= c.max && c.lists[u] == nil {
		c.evict(now)
	}
	c.lists[u] = fresh
	c.mu.Unlock()
	return fresh, nil
}

// evict drops expired lists, or one arbitrary list if none has expired.
// c.mu is held.
func (c *Checker) evict(now time.Time) {
	for k, l := range c.lists {
		if now.Sub(l.fetched) >= l.ttl {
			delete(c.lists, k)
		}
	}
	if len(c.lists) >= c.max {
		for k := range c.lists {
			delete(c.lists, k)
			break
		}
	}
}

func (l *cachedList) valid(now time.Time) bool {
	return !now.Before(l.validFrom) && (l.validUntil.IsZero() || now.Before(l.validUntil))
}

// ParseEntry checks a BitstringStatusListEntry against the MUSTs of
// § BitstringStatusListEntry. Errors wrap ErrMalformed,
// ErrUnsupportedPurpose or ErrRange.
func ParseEntry(m map[string]any) (*ParsedEntry, error) {
	if !hasType(m["type"], "BitstringStatusListEntry") {
		return nil, fmt.Errorf("%w: credentialStatus type is not BitstringStatusListEntry", ErrMalformed)
	}
	e := &ParsedEntry{size: 1}
	var ok bool
	if e.purpose, ok = m["statusPurpose"].(string); !ok || e.purpose == "" {
		return nil, fmt.Errorf("%w: statusPurpose must be a string", ErrMalformed)
	}
	switch e.purpose {
	case PurposeRevocation, PurposeSuspension, PurposeMessage:
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedPurpose, e.purpose)
	}
	idx, ok := m["statusListIndex"].(string)
	if !ok || idx == "" || strings.TrimLeft(idx, "0123456789") != "" {
		return nil, fmt.Errorf("%w: statusListIndex must be a base-10 integer string", ErrMalformed)
	}
	var err error
	if e.index, err = strconv.ParseUint(idx, 10, 64); err != nil {
		return nil, fmt.Errorf("%w: statusListIndex %s", ErrRange, idx)
	}
	if e.listURL, ok = m["statusListCredential"].(string); !ok {
		return nil, fmt.Errorf("%w: statusListCredential must be a URL", ErrMalformed)
	}
	if u, err := url.Parse(e.listURL); err != nil || !u.IsAbs() {
		return nil, fmt.Errorf("%w: statusListCredential %q is not a URL", ErrMalformed, e.listURL)
	}
	if s, present := m["statusSize"]; present {
		n, ok := integer(s)
		if !ok || n < 1 {
			return nil, fmt.Errorf("%w: statusSize must be an integer greater than zero", ErrMalformed)
		}
		if n > maxStatusSize {
			return nil, fmt.Errorf("%w: statusSize %d (at most %d supported)", ErrMalformed, n, maxStatusSize)
		}
		e.size = int(n)
	}
	msgs, present := m["statusMessage"]
	if e.size > 1 && !present {
		return nil, fmt.Errorf("%w: statusMessage is required when statusSize > 1", ErrMalformed)
	}
	if present {
		arr, ok := msgs.([]any)
		if !ok || len(arr) != 1<<e.size {
			return nil, fmt.Errorf("%w: statusMessage must be an array of %d entries", ErrMalformed, 1<<e.size)
		}
		e.messages = make(map[uint64]string, len(arr))
		for _, a := range arr {
			o, _ := a.(map[string]any)
			st, _ := o["status"].(string)
			msg, mok := o["message"].(string)
			hexv, hok := strings.CutPrefix(st, "0x")
			v, err := strconv.ParseUint(hexv, 16, 64)
			if !hok || !mok || err != nil || v >= 1<<e.size {
				return nil, fmt.Errorf("%w: statusMessage entry %v", ErrMalformed, a)
			}
			e.messages[v] = msg
		}
	}
	return e, nil
}

// parseListCredential extracts what Check needs from a status list
// credential (§ BitstringStatusListCredential).
func parseListCredential(raw []byte, maxTTL time.Duration) (*cachedList, error) {
	var vc map[string]any
	if err := json.Unmarshal(raw, &vc); err != nil {
		return nil, fmt.Errorf("%w: list credential is not a JSON object: %w", ErrMalformed, err)
	}
	if !hasType(vc["type"], "BitstringStatusListCredential") {
		return nil, fmt.Errorf("%w: list credential type lacks BitstringStatusListCredential", ErrMalformed)
	}
	subj, ok := vc["credentialSubject"].(map[string]any)
	if !ok {
		if arr, isArr := vc["credentialSubject"].([]any); isArr && len(arr) == 1 {
			subj, ok = arr[0].(map[string]any)
		}
	}
	if !ok {
		return nil, fmt.Errorf("%w: list credential has no single credentialSubject", ErrMalformed)
	}
	if !hasType(subj["type"], "BitstringStatusList") {
		return nil, fmt.Errorf("%w: credentialSubject type is not BitstringStatusList", ErrMalformed)
	}
	l := &cachedList{ttl: maxTTL}
	switch p := subj["statusPurpose"].(type) {
	case string:
		l.purposes = []string{p}
	case []any:
		for _, s := range p {
			str, ok := s.(string)
			if !ok {
				return nil, fmt.Errorf("%w: statusPurpose must be strings", ErrMalformed)
			}
			l.purposes = append(l.purposes, str)
		}
	}
	if len(l.purposes) == 0 {
		return nil, fmt.Errorf("%w: list statusPurpose missing", ErrMalformed)
	}
	if t, present := subj["ttl"]; present {
		ms, ok := integer(t)
		if !ok || ms < 0 {
			return nil, fmt.Errorf("%w: ttl must be a non-negative integer", ErrMalformed)
		}
		if d := time.Duration(min(ms, int64(maxTTL/time.Millisecond))) * time.Millisecond; d < l.ttl {
			l.ttl = d
		}
	}
	var err error
	if l.validFrom, err = dateTime(vc, "validFrom"); err != nil {
		return nil, err
	}
	if l.validUntil, err = dateTime(vc, "validUntil"); err != nil {
		return nil, err
	}
	enc, ok := subj["encodedList"].(string)
	if !ok {
		return nil, fmt.Errorf("%w: encodedList must be a string", ErrMalformed)
	}
	if l.bits, err = Decode(enc); err != nil {
		return nil, err
	}
	return l, nil
}

func dateTime(vc map[string]any, key string) (time.Time, error) {
	v, present := vc[key]
	if !present {
		return time.Time{}, nil
	}
	s, _ := v.(string)
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s %v", ErrMalformed, key, v)
	}
	return t, nil
}

// hasType reports whether a JSON-LD type value (a string or an array of
// strings) includes want.
func hasType(v any, want string) bool {
	switch t := v.(type) {
	case string:
		return t == want
	case []any:
		for _, x := range t {
			if s, _ := x.(string); s == want {
				return true
			}
		}
	case []string:
		return slices.Contains(t, want)
	}
	return false
}

// integer converts a JSON number (float64 from encoding/json, or a Go
// integer, or json.Number) to int64 if it is integral.
func integer(v any) (int64, bool) {
	switch n := v.(type) {
	case float64:
		if n != float64(int64(n)) || n > 1<<53 || n < -(1<<53) {
			return 0, false
		}
		return int64(n), true
	case int:
		return int64(n), true
	case int64:
		return n, true
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}
