// Package ratelimit limits request rates in memory with the generic cell
// rate algorithm (GCRA).
//
// A Rule allows Limit requests per Window with a burst of Limit. For every
// key the Limiter keeps a single number, the theoretical arrival time (TAT):
// the instant at which the key's bucket would be full again. A request of
// weight n is allowed when pushing the TAT forward by n emission intervals
// (Window/Limit) keeps it within Window of now. A key whose TAT is in the
// past holds no information and is dropped by the periodic cleanup.
//
// Keys are spread over 64 mutex-guarded shards by hash. Callers namespace
// keys by rule (for example "auth:ip:192.0.2.1" and "api:user:u123"): a key
// must always be used with the same Rule.
package ratelimit

import (
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"sync"
	"time"
)

const (
	numShards = 64
	// evictSample is how many entries of a full shard are looked at to
	// choose one to evict.
	evictSample = 8
	// shrinkMin is the peak size from which prune rebuilds a shard's map
	// once three quarters of it are gone.
	shrinkMin = 1024
)

// DefaultMaxKeys is the number of keys a Limiter keeps when Options.MaxKeys
// is zero.
const DefaultMaxKeys = 1 << 20

// DefaultCleanupInterval is how often idle keys are pruned when
// Options.CleanupInterval is zero.
const DefaultCleanupInterval = time.Minute

// Names of the response headers, per draft-ietf-httpapi-ratelimit-headers
// and RFC 9110.
const (
	HeaderLimit      = "RateLimit-Limit"
	HeaderRemaining  = "RateLimit-Remaining"
	HeaderReset      = "RateLimit-Reset"
	HeaderRetryAfter = "Retry-After"
)

// Rule allows Limit requests per Window, with a burst of Limit. The
// design's defaults are 5 per 15 minutes for authentication endpoints, 100
// per minute for DID resolution and 1000 per minute for the rest of the
// API; they are configured in package config.
type Rule struct {
	Limit  int           `yaml:"limit"`
	Window time.Duration `yaml:"window"`
}

// Validate reports whether the rule can be enforced.
func (r Rule) Validate() error {
	var errs []error
	if r.Limit <= 0 {
		errs = append(errs, fmt.Errorf("limit: must be > 0, got %d", r.Limit))
	}
	if r.Window <= 0 {
		errs = append(errs, fmt.Errorf("window: must be > 0, got %s", r.Window))
	}
	return errors.Join(errs...)
}

// Result is the outcome of a rate-limit decision.
type Result struct {
	// Allowed reports whether the request may proceed.
	Allowed bool
	// Limit is the rule's Limit (the burst size).
	Limit int
	// Remaining is how many requests would still be allowed right now: after
	// this one for Allow and AllowN when allowed, before it otherwise.
	Remaining int
	// ResetAfter is the time until the bucket is full again.
	ResetAfter time.Duration
	// RetryAfter is the time until the request would be allowed; 0 when
	// allowed.
	RetryAfter time.Duration
}

// Headers returns the values of RateLimit-Limit, RateLimit-Remaining,
// RateLimit-Reset and Retry-After, in whole seconds rounded up. retryAfter
// is empty when the request was allowed, and at least "1" otherwise.
func (r Result) Headers() (limit, remaining, reset, retryAfter string) {
	limit = strconv.Itoa(r.Limit)
	remaining = strconv.Itoa(max(r.Remaining, 0))
	reset = strconv.FormatInt(ceilSeconds(r.ResetAfter), 10)
	if !r.Allowed {
		retryAfter = strconv.FormatInt(max(ceilSeconds(r.RetryAfter), 1), 10)
	}
	return limit, remaining, reset, retryAfter
}

// ceilSeconds rounds d up to whole seconds; negative durations give 0.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// Options configure a Limiter. The zero value is usable.
type Options struct {
	// MaxKeys bounds the number of keys held. When a new key arrives and its
	// shard is full, an idle key is dropped or, failing that, the sampled key
	// whose bucket is closest to full. The bound is enforced per shard, so
	// the total is MaxKeys rounded up to a multiple of 64. Zero means
	// DefaultMaxKeys; negative means unbounded.
	MaxKeys int
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// CleanupInterval is how often idle keys are pruned. Zero means
	// DefaultCleanupInterval; negative disables the background cleanup.
	CleanupInterval time.Duration
}

// shard is one lock and map of the Limiter, padded to keep shards on
// separate cache lines.
type shard struct {
	mu sync.Mutex
	// tats maps a key to its theoretical arrival time in nanoseconds since
	// the Limiter's epoch.
	tats map[string]int64
	// peak is the largest size of tats since it was last rebuilt: Go maps
	// do not shrink, so prune rebuilds a map that has emptied.
	peak int
	_    [128 - 24]byte
}

// Limiter enforces Rules per key. It is safe for concurrent use.
type Limiter struct {
	seed        maphash.Seed
	shards      [numShards]shard
	maxPerShard int // 0: unbounded
	now         func() time.Time
	epoch       time.Time

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// New returns a Limiter. Close it to stop its background cleanup.
func New(o Options) *Limiter {
	l := &Limiter{
		seed: maphash.MakeSeed(),
		now:  o.Now,
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	if l.now == nil {
		l.now = time.Now
	}
	// Times are kept as durations since epoch: with time.Now both readings
	// carry the monotonic clock, so wall-clock jumps do not matter.
	l.epoch = l.now()
	switch {
	case o.MaxKeys == 0:
		l.maxPerShard = (DefaultMaxKeys + numShards - 1) / numShards
	case o.MaxKeys > 0:
		l.maxPerShard = (o.MaxKeys + numShards - 1) / numShards
	}
	for i := range l.shards {
		l.shards[i].tats = make(map[string]int64)
	}
	interval := o.CleanupInterval
	if interval == 0 {
		interval = DefaultCleanupInterval
	}
	if interval < 0 {
		close(l.done)
		return l
	}
	go l.cleanup(interval)
	return l
}

// Close stops the background cleanup. The Limiter remains usable.
func (l *Limiter) Close() {
	l.closeOnce.Do(func() { close(l.stop) })
	<-l.done
}

// Allow consumes one request for key under r if it is allowed.
func (l *Limiter) Allow(key string, r Rule) Result {
	return l.take(key, r, 1, true)
}

// AllowN consumes n requests for key under r if all n are allowed; none are
// consumed otherwise. An n greater than r.Limit is never allowed; an n of
// zero or less consumes nothing and reports the current state.
func (l *Limiter) AllowN(key string, r Rule, n int) Result {
	return l.take(key, r, n, true)
}

// Peek reports whether one request for key would be allowed, without
// consuming it. Remaining is the number of requests allowed right now. It
// suits login throttling: peek before checking the password, consume with
// Allow only when the attempt fails.
func (l *Limiter) Peek(key string, r Rule) Result {
	return l.take(key, r, 1, false)
}

// Reset forgets key, so that its bucket is full again.
func (l *Limiter) Reset(key string) {
	s := l.shard(key)
	s.mu.Lock()
	delete(s.tats, key)
	s.mu.Unlock()
}

// Len returns the number of keys held.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.tats)
		s.mu.Unlock()
	}
	return n
}

func (l *Limiter) shard(key string) *shard {
	return &l.shards[maphash.String(l.seed, key)%numShards]
}

func (l *Limiter) clock() int64 {
	return int64(l.now().Sub(l.epoch))
}

// take is the GCRA decision. With consume false nothing is stored.
func (l *Limiter) take(key string, r Rule, n int, consume bool) Result {
	if r.Limit <= 0 || r.Window <= 0 {
		// An unusable rule refuses everything rather than nothing.
		return Result{Limit: max(r.Limit, 0), RetryAfter: max(r.Window, time.Second)}
	}
	n = max(n, 0)
	interval := int64(r.Window) / int64(r.Limit) // emission interval T
	if interval == 0 {
		interval = 1
	}
	tau := interval * int64(r.Limit) // burst capacity, <= Window

	now := l.clock()
	s := l.shard(key)
	s.mu.Lock()
	tat, held := s.tats[key]
	if tat < now {
		tat = now
	}
	cur := tat - now // time until the bucket is full
	// Requests that fit right now; never negative, even if the injected
	// clock went backwards.
	avail := max(int((tau-cur)/interval), 0)
	allowed := n <= avail
	if allowed && consume && n > 0 {
		next := tat + int64(n)*interval
		if held {
			s.tats[key] = next
		} else {
			l.insert(s, key, next, now)
		}
		s.mu.Unlock()
		return Result{
			Allowed:    true,
			Limit:      r.Limit,
			Remaining:  avail - n,
			ResetAfter: time.Duration(cur + int64(n)*interval),
		}
	}
	s.mu.Unlock()

	res := Result{
		Allowed:    allowed,
		Limit:      r.Limit,
		Remaining:  avail,
		ResetAfter: time.Duration(cur),
	}
	if !allowed {
		if n > r.Limit {
			res.RetryAfter = r.Window // never; tell the client to back off
		} else {
			res.RetryAfter = time.Duration(cur + int64(n)*interval - tau)
		}
	}
	return res
}

// insert stores a new key, making room first if the shard is full. The
// caller holds s.mu.
func (l *Limiter) insert(s *shard, key string, tat, now int64) {
	if l.maxPerShard > 0 && len(s.tats) >= l.maxPerShard {
		s.evict(now)
	}
	s.tats[key] = tat
	s.peak = max(s.peak, len(s.tats))
}

// evict drops one key: the first idle one among a random sample of the
// shard, or else the sampled key whose bucket is closest to full, which
// forgets the least. Sampling keeps insertion cheap when the shard is full.
// The caller holds s.mu.
func (s *shard) evict(now int64) {
	var (
		victim string
		best   int64
		found  bool
		seen   int
	)
	for k, t := range s.tats { // map iteration starts at a random entry
		if t <= now {
			delete(s.tats, k)
			return
		}
		if !found || t < best {
			victim, best, found = k, t, true
		}
		if seen++; seen >= evictSample {
			break
		}
	}
	if found {
		delete(s.tats, victim)
	}
}

// prune drops every idle key, one shard at a time, and returns how many
// were dropped.
func (l *Limiter) prune() int {
	dropped := 0
	for i := range l.shards {
		s := &l.shards[i]
		now := l.clock()
		s.mu.Lock()
		for k, t := range s.tats {
			if t <= now {
				delete(s.tats, k)
				dropped++
			}
		}
		if s.peak >= shrinkMin && len(s.tats) < s.peak/4 {
			m := make(map[string]int64, len(s.tats))
			for k, t := range s.tats {
				m[k] = t
			}
			s.tats, s.peak = m, len(m)
		}
		s.mu.Unlock()
	}
	return dropped
}

func (l *Limiter) cleanup(interval time.Duration) {
	defer close(l.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.prune()
		}
	}
}
