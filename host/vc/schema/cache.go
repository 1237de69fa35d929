package schema

import (
	"container/list"
	"sync"
	"time"
)

// lru is a map bounded in entries and in total weight, whose entries
// expire; the least recently used entries go first when it is full.
type lru struct {
	mu        sync.Mutex
	max       int
	maxWeight int64
	weight    int64
	ll        *list.List
	m         map[string]*list.Element
}

type lruItem struct {
	key     string
	val     any
	weight  int64
	expires time.Time
}

func newLRU(max int, maxWeight int64) *lru {
	return &lru{max: max, maxWeight: maxWeight, ll: list.New(), m: map[string]*list.Element{}}
}

// get returns the live value for key.
func (c *lru) get(key string, now time.Time) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[key]
	if !ok {
		return nil, false
	}
	it := el.Value.(*lruItem)
	if !it.expires.IsZero() && !now.Before(it.expires) {
		c.remove(el)
		return nil, false
	}
	c.ll.MoveToFront(el)
	return it.val, true
}

// put stores val, of the given weight, under key until expires (zero:
// until evicted), evicting the least recently used entries beyond the
// bounds. A value heavier than the whole budget is not stored.
func (c *lru) put(key string, val any, weight int64, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[key]; ok {
		c.remove(el)
	}
	if weight > c.maxWeight {
		return
	}
	c.m[key] = c.ll.PushFront(&lruItem{key: key, val: val, weight: weight, expires: expires})
	c.weight += weight
	for c.ll.Len() > c.max || c.weight > c.maxWeight {
		c.remove(c.ll.Back())
	}
}

// remove drops an element; c.mu is held.
func (c *lru) remove(el *list.Element) {
	it := el.Value.(*lruItem)
	c.ll.Remove(el)
	delete(c.m, it.key)
	c.weight -= it.weight
}

// len is the number of entries, live or not yet found expired.
func (c *lru) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// clear empties the cache.
func (c *lru) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ll.Init()
	clear(c.m)
	c.weight = 0
}
