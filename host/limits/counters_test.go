package limits

import (
	"bytes"
	"context"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/ubeu/gateway/host/store"
)

// memCounters is a store.Counters whose Update runs fn under a mutex: truly
// atomic, never retried.
type memCounters struct {
	mu     sync.Mutex
	m      map[string][]byte
	writes int
}

func newMemCounters() *memCounters { return &memCounters{m: map[string][]byte{}} }

func (c *memCounters) Update(ctx context.Context, key string, fn func([]byte) ([]byte, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.m[key]
	if ok {
		old = bytes.Clone(old)
	}
	nv, err := fn(old)
	if err != nil {
		return err
	}
	c.m[key] = bytes.Clone(nv)
	c.writes++
	return nil
}

func (c *memCounters) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	if !ok {
		return nil, store.ErrNotFound
	}
	return bytes.Clone(v), nil
}

// optimisticCounters is a store.Counters with optimistic concurrency, like
// Badger: fn runs outside any lock on a snapshot and the write commits only
// if the key did not change meanwhile; otherwise fn is run again.
type optimisticCounters struct {
	mu        sync.Mutex
	m         map[string]versioned
	conflicts atomic.Int64
}

type versioned struct {
	v       []byte
	version int
}

func newOptimisticCounters() *optimisticCounters {
	return &optimisticCounters{m: map[string]versioned{}}
}

func (c *optimisticCounters) Update(ctx context.Context, key string, fn func([]byte) ([]byte, error)) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		c.mu.Lock()
		snap := c.m[key]
		c.mu.Unlock()
		runtime.Gosched() // widen the race window
		nv, err := fn(bytes.Clone(snap.v))
		if err != nil {
			return err
		}
		c.mu.Lock()
		if c.m[key].version != snap.version {
			c.mu.Unlock()
			c.conflicts.Add(1)
			continue
		}
		c.m[key] = versioned{v: bytes.Clone(nv), version: snap.version + 1}
		c.mu.Unlock()
		return nil
	}
}

func (c *optimisticCounters) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok {
		return nil, store.ErrNotFound
	}
	return bytes.Clone(e.v), nil
}
