package limits_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ubeu/gateway/host/limits"
	"github.com/ubeu/gateway/host/seal"
	"github.com/ubeu/gateway/host/store"
	"github.com/ubeu/gateway/host/store/badgerstore"
)

func openBadger(t *testing.T) *badgerstore.Store {
	t.Helper()
	sealer, err := seal.New(make([]byte, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	st, err := badgerstore.Open(context.Background(), badgerstore.Options{
		Dir:      t.TempDir(),
		Sealer:   sealer,
		IndexKey: make([]byte, 32),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	return st
}

// TestBadgerConcurrentConsume races 50 Consume calls on a limit of 10
// against the real Badger backend, whose transactions conflict and retry.
func TestBadgerConcurrentConsume(t *testing.T) {
	st := openBadger(t)
	cfg := limits.DefaultConfig()
	cfg.Tiers["t"] = limits.TierLimits{
		Static:   map[string]int{limits.StaticDIDProfiles: 10},
		Windowed: map[string]limits.Window{limits.WindowedDIDCreations: {Limit: 1000, Period: limits.Week}},
	}
	cc := &countingCounters{Counters: st.Counters()}
	s := limits.New(cc, cfg)
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 50 {
		wg.Go(func() {
			<-start
			_, err := s.Consume(ctx, "racer", "t", limits.OpCreateDID, now)
			var ee *limits.ExceededError
			switch {
			case err == nil:
				ok.Add(1)
			case errors.As(err, &ee):
				refused.Add(1)
			default:
				t.Errorf("Consume: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if ok.Load() != 10 || refused.Load() != 40 {
		t.Fatalf("%d succeeded and %d were refused, want 10 and 40", ok.Load(), refused.Load())
	}
	t.Logf("50 updates ran fn %d times (Badger conflicts retried)", cc.calls.Load())
	u, err := s.Usage(ctx, "racer", "t", now)
	if err != nil {
		t.Fatal(err)
	}
	if u.Usage.CurrentDIDProfiles != 10 || u.RateLimits.DIDCreations.Count != 10 {
		t.Fatalf("after the race: %+v %+v", u.Usage, u.RateLimits.DIDCreations)
	}

	// Release and a further Consume go through the same record.
	if err := s.Release(ctx, "racer", "t", limits.OpCreateDID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Consume(ctx, "racer", "t", limits.OpCreateDID, now); err != nil {
		t.Fatal(err)
	}
	// A user never seen reads as empty.
	if res, err := s.Check(ctx, "nobody", "", limits.OpCreateDID, now); err != nil || !res.Allowed {
		t.Fatalf("Check(nobody) = %+v, %v", res, err)
	}
}

// countingCounters counts the calls of Update's fn, to show retries.
type countingCounters struct {
	store.Counters
	calls atomic.Int64
}

func (c *countingCounters) Update(ctx context.Context, key string, fn func([]byte) ([]byte, error)) error {
	return c.Counters.Update(ctx, key, func(old []byte) ([]byte, error) {
		c.calls.Add(1)
		return fn(old)
	})
}
