package badgerstore

import (
	"context"
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ubeu/gateway/host/store"
)

type revocations struct{ s *Store }

// Add stores an entry that Badger drops by itself after Until. An entry
// already in force until later is kept; an entry whose Until has passed is
// not written.
func (r revocations) Add(ctx context.Context, rv store.Revocation) (err error) {
	defer r.s.done("revocations.add", time.Now(), &err)
	if rv.ID == "" {
		return errors.New("empty revocation ID")
	}
	if !rv.Until.After(time.Now()) {
		return nil
	}
	key := []byte(pRevocation + rv.ID)
	return r.s.update(ctx, func(txn *badger.Txn) error {
		var old store.Revocation
		err := getJSON(txn, key, &old)
		if err == nil && !old.Until.Before(rv.Until) {
			return nil
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return setJSON(txn, key, rv, expiresAt(rv.Until))
	})
}

// List returns the entries still in force at now (an empty slice if none).
func (r revocations) List(ctx context.Context, now time.Time) (list []store.Revocation, err error) {
	defer r.s.done("revocations.list", time.Now(), &err)
	err = r.s.view(ctx, func(txn *badger.Txn) error {
		list = []store.Revocation{}
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(pRevocation)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var rv store.Revocation
			if err := getJSON(txn, it.Item().KeyCopy(nil), &rv); err != nil {
				return err
			}
			if rv.Until.After(now) {
				list = append(list, rv)
			}
		}
		return nil
	})
	return list, err
}

type counters struct{ s *Store }

// Update loads the value under key (nil if none), calls fn and stores its
// result in one transaction, retried with fn on a write conflict. If fn
// returns an error nothing is written. A nil result deletes the key.
func (r counters) Update(ctx context.Context, key string, fn func(old []byte) ([]byte, error)) (err error) {
	defer r.s.done("counters.update", time.Now(), &err)
	k := []byte(pCounter + key)
	mu := &r.s.counterLocks[fnv32(key)%uint32(len(r.s.counterLocks))]
	mu.Lock()
	defer mu.Unlock()
	return r.s.update(ctx, func(txn *badger.Txn) error {
		var old []byte
		item, err := txn.Get(k)
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
		case err != nil:
			return err
		default:
			if old, err = item.ValueCopy(nil); err != nil {
				return err
			}
		}
		v, err := fn(old)
		if err != nil {
			return err
		}
		if v == nil {
			return txn.Delete(k)
		}
		return txn.Set(k, v)
	})
}

// Get returns the value under key; store.ErrNotFound if none.
func (r counters) Get(ctx context.Context, key string) (v []byte, err error) {
	defer r.s.done("counters.get", time.Now(), &err)
	err = r.s.view(ctx, func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(pCounter + key))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// fnv32 is the FNV-1a hash of s.
func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

type cache struct{ s *Store }

// Get returns a live value; a miss or an expired entry is (nil, false, nil).
func (c cache) Get(ctx context.Context, key string) (v []byte, ok bool, err error) {
	defer c.s.done("cache.get", time.Now(), &err)
	err = c.s.view(ctx, func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(pCache + key))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		ok = err == nil
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return v, ok, nil
}

// Set stores value for at least ttl; Badger's expiry has a granularity of
// one second, so the entry lives less than ttl + 1 s. A ttl ≤ 0 deletes the
// key.
func (c cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) (err error) {
	defer c.s.done("cache.set", time.Now(), &err)
	k := []byte(pCache + key)
	return c.s.update(ctx, func(txn *badger.Txn) error {
		if ttl <= 0 {
			return txn.Delete(k)
		}
		e := badger.NewEntry(k, value)
		e.ExpiresAt = expiresAt(time.Now().Add(ttl))
		return txn.SetEntry(e)
	})
}

// Delete removes key; deleting a missing key is not an error.
func (c cache) Delete(ctx context.Context, key string) (err error) {
	defer c.s.done("cache.delete", time.Now(), &err)
	return c.s.update(ctx, func(txn *badger.Txn) error {
		return txn.Delete([]byte(pCache + key))
	})
}
