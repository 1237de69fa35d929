package ratelimit

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a manually advanced clock safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func newTestLimiter(t testing.TB, o Options) (*Limiter, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	if o.Now == nil {
		o.Now = clk.Now
	}
	if o.CleanupInterval == 0 {
		o.CleanupInterval = -1
	}
	l := New(o)
	t.Cleanup(l.Close)
	return l, clk
}

var auth = Rule{Limit: 5, Window: 15 * time.Minute} // one every 3 minutes

func TestBurstThenRefusal(t *testing.T) {
	l, _ := newTestLimiter(t, Options{})
	for i := range auth.Limit {
		res := l.Allow("k", auth)
		if !res.Allowed {
			t.Fatalf("request %d refused: %+v", i+1, res)
		}
		if want := auth.Limit - 1 - i; res.Remaining != want {
			t.Errorf("request %d: Remaining = %d, want %d", i+1, res.Remaining, want)
		}
		if want := time.Duration(i+1) * 3 * time.Minute; res.ResetAfter != want {
			t.Errorf("request %d: ResetAfter = %s, want %s", i+1, res.ResetAfter, want)
		}
		if res.RetryAfter != 0 || res.Limit != auth.Limit {
			t.Errorf("request %d: %+v", i+1, res)
		}
	}
	res := l.Allow("k", auth)
	if res.Allowed {
		t.Fatalf("request %d allowed", auth.Limit+1)
	}
	if res.Remaining != 0 || res.RetryAfter != 3*time.Minute || res.ResetAfter != 15*time.Minute {
		t.Errorf("refusal: %+v", res)
	}
}

func TestRefillAndRetryAfter(t *testing.T) {
	l, clk := newTestLimiter(t, Options{})
	for range auth.Limit {
		l.Allow("k", auth)
	}
	clk.Advance(time.Minute)
	res := l.Allow("k", auth)
	if res.Allowed || res.RetryAfter != 2*time.Minute {
		t.Fatalf("after 1m: %+v, want refusal with RetryAfter 2m", res)
	}
	clk.Advance(res.RetryAfter - time.Nanosecond)
	if res := l.Allow("k", auth); res.Allowed || res.RetryAfter != time.Nanosecond {
		t.Fatalf("1ns early: %+v", res)
	}
	clk.Advance(time.Nanosecond)
	if res := l.Allow("k", auth); !res.Allowed || res.Remaining != 0 {
		t.Fatalf("after RetryAfter: %+v, want allowed with 0 remaining", res)
	}
	// A full window later the whole burst is available again.
	clk.Advance(auth.Window)
	for i := range auth.Limit {
		if res := l.Allow("k", auth); !res.Allowed {
			t.Fatalf("after a window, request %d refused", i+1)
		}
	}
	// Idle time beyond a window does not accumulate extra burst.
	clk.Advance(10 * auth.Window)
	for range auth.Limit {
		l.Allow("k", auth)
	}
	if res := l.Allow("k", auth); res.Allowed {
		t.Fatal("burst grew beyond Limit after a long idle period")
	}
}

func TestPeekDoesNotConsume(t *testing.T) {
	l, _ := newTestLimiter(t, Options{})
	for range 20 {
		res := l.Peek("k", auth)
		if !res.Allowed || res.Remaining != auth.Limit || res.ResetAfter != 0 {
			t.Fatalf("Peek on a fresh key: %+v", res)
		}
	}
	if n := l.Len(); n != 0 {
		t.Fatalf("Peek stored %d keys", n)
	}
	for range auth.Limit - 1 {
		l.Allow("k", auth)
	}
	if res := l.Peek("k", auth); !res.Allowed || res.Remaining != 1 {
		t.Fatalf("Peek with one left: %+v", res)
	}
	l.Allow("k", auth)
	res := l.Peek("k", auth)
	if res.Allowed || res.Remaining != 0 || res.RetryAfter != 3*time.Minute {
		t.Fatalf("Peek when exhausted: %+v", res)
	}
}

func TestAllowN(t *testing.T) {
	l, _ := newTestLimiter(t, Options{})
	r := Rule{Limit: 10, Window: 10 * time.Second}
	if res := l.AllowN("k", r, 7); !res.Allowed || res.Remaining != 3 {
		t.Fatalf("AllowN(7): %+v", res)
	}
	res := l.AllowN("k", r, 4)
	if res.Allowed || res.Remaining != 3 || res.RetryAfter != time.Second {
		t.Fatalf("AllowN(4) with 3 left: %+v", res)
	}
	if res := l.AllowN("k", r, 3); !res.Allowed || res.Remaining != 0 {
		t.Fatalf("AllowN(3) with 3 left: %+v", res)
	}
	if res := l.AllowN("other", r, 11); res.Allowed || res.RetryAfter <= 0 {
		t.Fatalf("AllowN above Limit: %+v", res)
	}
	if res := l.AllowN("k", r, 0); !res.Allowed || res.Remaining != 0 {
		t.Fatalf("AllowN(0): %+v", res)
	}
}

func TestKeysIndependentAndReset(t *testing.T) {
	l, _ := newTestLimiter(t, Options{})
	for range auth.Limit {
		l.Allow("a", auth)
	}
	if l.Allow("a", auth).Allowed {
		t.Fatal("a not limited")
	}
	if res := l.Allow("b", auth); !res.Allowed || res.Remaining != auth.Limit-1 {
		t.Fatalf("b affected by a: %+v", res)
	}
	l.Reset("a")
	if res := l.Allow("a", auth); !res.Allowed || res.Remaining != auth.Limit-1 {
		t.Fatalf("after Reset: %+v", res)
	}
}

func TestClockBackwards(t *testing.T) {
	l, clk := newTestLimiter(t, Options{})
	for range auth.Limit {
		l.Allow("k", auth)
	}
	clk.Advance(-time.Hour)
	res := l.Allow("k", auth)
	if res.Allowed || res.Remaining != 0 {
		t.Fatalf("after the clock went back: %+v", res)
	}
}

func TestInvalidRuleRefuses(t *testing.T) {
	l, _ := newTestLimiter(t, Options{})
	for _, r := range []Rule{{}, {Limit: 0, Window: time.Second}, {Limit: 5}, {Limit: -1, Window: time.Minute}} {
		if res := l.Allow("k", r); res.Allowed || res.RetryAfter <= 0 {
			t.Errorf("rule %+v: %+v", r, res)
		}
		if r.Validate() == nil {
			t.Errorf("rule %+v validated", r)
		}
	}
	// A window shorter than Limit nanoseconds still limits the burst.
	r := Rule{Limit: 1000, Window: 10 * time.Nanosecond}
	n := 0
	for l.Allow("tiny", r).Allowed {
		n++
	}
	if n != r.Limit {
		t.Fatalf("tiny window allowed %d, want %d", n, r.Limit)
	}
}

func TestHeaders(t *testing.T) {
	cases := []struct {
		res                                 Result
		limit, remaining, reset, retryAfter string
	}{
		{Result{Allowed: true, Limit: 5, Remaining: 4, ResetAfter: 3 * time.Minute}, "5", "4", "180", ""},
		{Result{Allowed: true, Limit: 100, Remaining: 99, ResetAfter: 600 * time.Millisecond}, "100", "99", "1", ""},
		{Result{Allowed: false, Limit: 5, ResetAfter: 15 * time.Minute, RetryAfter: 2*time.Minute + time.Nanosecond}, "5", "0", "900", "121"},
		{Result{Allowed: false, Limit: 5, RetryAfter: 0}, "5", "0", "0", "1"},
	}
	for _, c := range cases {
		limit, remaining, reset, retryAfter := c.res.Headers()
		if limit != c.limit || remaining != c.remaining || reset != c.reset || retryAfter != c.retryAfter {
			t.Errorf("%+v.Headers() = %q %q %q %q, want %q %q %q %q", c.res,
				limit, remaining, reset, retryAfter, c.limit, c.remaining, c.reset, c.retryAfter)
		}
	}
}

// TestConcurrentFrozenClock hammers one key from many goroutines while time
// stands still: exactly Limit requests may pass.
func TestConcurrentFrozenClock(t *testing.T) {
	l, _ := newTestLimiter(t, Options{})
	r := Rule{Limit: 100, Window: time.Minute}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range 50 {
				if l.Allow("hot", r).Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != int64(r.Limit) {
		t.Fatalf("allowed %d, want exactly %d", got, r.Limit)
	}
}

// TestConcurrentAdvancingClock hammers one key while time moves under the
// goroutines: over the whole run at most Limit + elapsed/interval requests
// may pass.
func TestConcurrentAdvancingClock(t *testing.T) {
	l, clk := newTestLimiter(t, Options{})
	r := Rule{Limit: 10, Window: time.Second} // one per 100ms
	var allowed atomic.Int64
	var wg sync.WaitGroup
	const goroutines, iterations = 16, 500
	for range goroutines {
		wg.Go(func() {
			for range iterations {
				clk.Advance(time.Millisecond)
				if l.Allow("hot", r).Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := goroutines * iterations * time.Millisecond
	most := int64(r.Limit) + int64(elapsed/(r.Window/time.Duration(r.Limit)))
	if got := allowed.Load(); got > most || got < most-int64(r.Limit) {
		t.Fatalf("allowed %d over %s, want at most %d (and close to it)", got, elapsed, most)
	}
}

// TestSlidingBound checks the GCRA guarantee on every stretch of time: k
// requests allowed between t1 and t2 satisfy k <= Limit + (t2-t1)/interval.
func TestSlidingBound(t *testing.T) {
	l, clk := newTestLimiter(t, Options{})
	r := Rule{Limit: 5, Window: 15 * time.Minute}
	interval := r.Window / time.Duration(r.Limit)
	rng := rand.New(rand.NewPCG(1, 2))
	var times []time.Time
	for range 2000 {
		clk.Advance(time.Duration(rng.Int64N(int64(2 * time.Minute))))
		if l.Allow("k", r).Allowed {
			times = append(times, clk.Now())
		}
	}
	for i := range times {
		for j := i; j < len(times); j++ {
			if k := j - i + 1; k > r.Limit+int(times[j].Sub(times[i])/interval) {
				t.Fatalf("%d requests allowed within %s", k, times[j].Sub(times[i]))
			}
		}
	}
	if len(times) < 100 {
		t.Fatalf("only %d allowed", len(times))
	}
}

func TestRealClockConcurrency(t *testing.T) {
	l := New(Options{CleanupInterval: -1})
	defer l.Close()
	r := Rule{Limit: 20, Window: 200 * time.Millisecond}
	start := time.Now()
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for time.Since(start) < 300*time.Millisecond {
				if l.Allow("hot", r).Allowed {
					allowed.Add(1)
				}
				runtime.Gosched()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	most := int64(r.Limit) + int64(elapsed/(r.Window/time.Duration(r.Limit))) + 1
	if got := allowed.Load(); got > most || got < int64(r.Limit) {
		t.Fatalf("allowed %d in %s, want between %d and %d", got, elapsed, r.Limit, most)
	}
}

func TestPruneDropsIdleKeys(t *testing.T) {
	l, clk := newTestLimiter(t, Options{})
	r := Rule{Limit: 10, Window: time.Minute}
	for i := range 5000 {
		l.Allow("k"+strconv.Itoa(i), r)
	}
	l.Allow("busy", r)
	l.Allow("busy", r)
	if n := l.Len(); n != 5001 {
		t.Fatalf("Len = %d, want 5001", n)
	}
	clk.Advance(6 * time.Second) // one interval: single-use keys are idle
	if dropped := l.prune(); dropped != 5000 {
		t.Fatalf("prune dropped %d, want 5000", dropped)
	}
	if n := l.Len(); n != 1 {
		t.Fatalf("Len after prune = %d, want 1", n)
	}
	if res := l.Peek("busy", r); res.Remaining != r.Limit-1 {
		t.Fatalf("busy key lost its state: %+v", res)
	}
}

func TestBackgroundCleanup(t *testing.T) {
	clk := newFakeClock()
	l := New(Options{Now: clk.Now, CleanupInterval: 5 * time.Millisecond})
	defer l.Close()
	r := Rule{Limit: 10, Window: time.Second}
	for i := range 100 {
		l.Allow(fmt.Sprint(i), r)
	}
	clk.Advance(time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for l.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("Len = %d after cleanup", l.Len())
		}
		time.Sleep(5 * time.Millisecond)
	}
	l.Close()
	l.Close() // idempotent
}

func TestMaxKeysBoundsMemory(t *testing.T) {
	l, clk := newTestLimiter(t, Options{MaxKeys: 640})
	r := Rule{Limit: 10, Window: time.Minute}
	for i := range 100_000 {
		if !l.Allow("k"+strconv.Itoa(i), r).Allowed {
			t.Fatalf("new key %d refused", i)
		}
		if i%1000 == 0 {
			clk.Advance(time.Millisecond)
		}
	}
	if n := l.Len(); n > 640 {
		t.Fatalf("Len = %d, want <= 640", n)
	}
	// An active key survives a flood of new keys better than the flood:
	// exhausted keys are evicted last.
	for range r.Limit {
		l.Allow("victim", r)
	}
	for i := range 5000 {
		l.Allow("flood"+strconv.Itoa(i), r)
	}
	if l.Len() > 640 {
		t.Fatalf("Len = %d, want <= 640", l.Len())
	}
	if l.Allow("victim", r).Allowed {
		t.Fatal("flood of new keys evicted an exhausted key")
	}
}

func TestShrinkAfterSpike(t *testing.T) {
	l, clk := newTestLimiter(t, Options{MaxKeys: -1})
	r := Rule{Limit: 10, Window: time.Minute}
	for i := range 200_000 {
		l.Allow("k"+strconv.Itoa(i), r)
	}
	clk.Advance(time.Minute)
	l.prune()
	for i := range l.shards {
		if p := l.shards[i].peak; p != 0 {
			t.Fatalf("shard %d peak = %d after emptying, want a rebuilt map", i, p)
		}
	}
}

func TestAllowDoesNotAllocate(t *testing.T) {
	l, _ := newTestLimiter(t, Options{})
	r := Rule{Limit: 1 << 30, Window: time.Hour}
	key := "api:user:u123"
	l.Allow(key, r)
	if n := testing.AllocsPerRun(1000, func() { l.Allow(key, r) }); n != 0 {
		t.Fatalf("Allow allocates %.1f times per call on an existing key", n)
	}
	if n := testing.AllocsPerRun(1000, func() { l.Peek(key, r) }); n != 0 {
		t.Fatalf("Peek allocates %.1f times per call", n)
	}
}

func BenchmarkAllow(b *testing.B) {
	r := Rule{Limit: 1 << 30, Window: time.Hour}
	b.Run("serial", func(b *testing.B) {
		l := New(Options{CleanupInterval: -1})
		defer l.Close()
		key := "api:ip:192.0.2.1"
		l.Allow(key, r)
		b.ReportAllocs()
		for b.Loop() {
			l.Allow(key, r)
		}
	})
	b.Run("parallel-one-key", func(b *testing.B) {
		l := New(Options{CleanupInterval: -1})
		defer l.Close()
		key := "api:ip:192.0.2.1"
		l.Allow(key, r)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Allow(key, r)
			}
		})
	})
	b.Run("parallel-many-keys", func(b *testing.B) {
		l := New(Options{CleanupInterval: -1})
		defer l.Close()
		keys := make([]string, 1024)
		for i := range keys {
			keys[i] = "api:ip:192.0.2." + strconv.Itoa(i)
			l.Allow(keys[i], r)
		}
		b.ReportAllocs()
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(1)) * 7919
			for pb.Next() {
				l.Allow(keys[i%len(keys)], r)
				i++
			}
		})
	})
}
