package schema

import (
	"container/list"
	"sync"
	"time"
)

// lru is a bounded map whose entries expire; the least recently used entry
// goes first when it is full.
type lru struct {
	mu  sync.Mutex
	max int
	ll  *list.List
	m   map[string]*list.Element
}

type lruItem struct {
	key     string
	val     any
	expires time.Time
}

func newLRU(max int) *lru {
	return &lru{max: max, ll: list.New(), m: map[string]*list.Element{}}
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
		c.ll.Remove(el)
		delete(c.m, key)
		return nil, false
	}
	c.ll.MoveToFront(el)
	return it.val, true
}

// put stores val under key until expires (zero: until evicted), evicting the least recently used
// entries beyond the bound.
func (c *lru) put(key string, val any, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[key]; ok {
		it := el.Value.(*lruItem)
		it.val, it.expires = val, expires
		c.ll.MoveToFront(el)
		return
	}
	c.m[key] = c.ll.PushFront(&lruItem{key: key, val: val, expires: expires})
	for c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.m, old.Value.(*lruItem).key)
	}
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
}
