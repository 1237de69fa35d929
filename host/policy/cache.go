package policy

import (
	"hash/maphash"
	"sync"
)

// cacheShards is the number of independently locked parts of the cache.
const cacheShards = 32

// cacheEntry is one cached decision.
type cacheEntry struct {
	decision Decision
	// expires is when the entry stops being served (Unix ns, wall clock).
	expires int64
	// For time-dependent decisions: the entry is served only for request
	// times in [notBefore, validUntil).
	timed      bool
	notBefore  int64
	validUntil int64
}

// decisionCache is a bounded map from cache key to decision, split into
// shards with their own lock. When a shard is full an arbitrary entry is
// evicted.
type decisionCache struct {
	seed     maphash.Seed
	perShard int
	shards   [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]*cacheEntry
}

func newDecisionCache(size int64) *decisionCache {
	per := int(size / cacheShards)
	if per < 1 {
		per = 1
	}
	c := &decisionCache{seed: maphash.MakeSeed(), perShard: per}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*cacheEntry)
	}
	return c
}

func (c *decisionCache) shard(key []byte) *cacheShard {
	return &c.shards[maphash.Bytes(c.seed, key)%cacheShards]
}

// get returns the entry for key, if any. The caller checks expiry.
func (c *decisionCache) get(key []byte) (*cacheEntry, bool) {
	s := c.shard(key)
	s.mu.RLock()
	e, ok := s.m[string(key)]
	s.mu.RUnlock()
	return e, ok
}

// put stores e under key, evicting another entry if the shard is full.
func (c *decisionCache) put(key []byte, e *cacheEntry) {
	s := c.shard(key)
	k := string(key)
	s.mu.Lock()
	if _, ok := s.m[k]; !ok && len(s.m) >= c.perShard {
		for old := range s.m {
			delete(s.m, old)
			break
		}
	}
	s.m[k] = e
	s.mu.Unlock()
}

// clear drops every entry.
func (c *decisionCache) clear() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		clear(s.m)
		s.mu.Unlock()
	}
}

// len returns the number of entries.
func (c *decisionCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
