package badgerstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ubeu/gateway/host/store"
)

// kv implements store.KV. Each entry is stored as an 8-byte big-endian
// version followed by the value; versions are taken from the clock and are
// strictly increasing per key, also across a delete and re-create, so an
// old compare-and-swap token never matches a new entry. Per-namespace usage
// is kept in the same transaction as each write.
type kv struct{ s *Store }

type kvUsage struct {
	Entries int   `json:"entries"`
	Bytes   int64 `json:"bytes"`
}

func kvKey(ns, key string) ([]byte, error) {
	if ns == "" || strings.Contains(ns, "/") {
		return nil, fmt.Errorf("kv: invalid namespace %q", ns)
	}
	if key == "" || len(key) > 1024 {
		return nil, fmt.Errorf("kv: invalid key (empty or longer than 1024 bytes)")
	}
	return []byte(pKV + ns + "/" + key), nil
}

func readVersioned(item *badger.Item) ([]byte, uint64, error) {
	v, err := item.ValueCopy(nil)
	if err != nil {
		return nil, 0, err
	}
	if len(v) < 8 {
		return nil, 0, fmt.Errorf("kv: damaged entry %q", item.Key())
	}
	return v[8:], binary.BigEndian.Uint64(v[:8]), nil
}

func (r kv) Get(ctx context.Context, ns, key string) (val []byte, ver uint64, err error) {
	defer r.s.done("kv.get", time.Now(), &err)
	k, err := kvKey(ns, key)
	if err != nil {
		return nil, 0, err
	}
	err = r.s.view(ctx, func(txn *badger.Txn) error {
		item, err := txn.Get(k)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		val, ver, err = readVersioned(item)
		return err
	})
	return val, ver, err
}

// current loads the entry's version (0 if absent) and size.
func current(txn *badger.Txn, k []byte) (ver uint64, size int64, err error) {
	item, err := txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	_, ver, err = readVersioned(item)
	return ver, int64(len(k)) + item.ValueSize() - 8, err
}

func checkCond(ver uint64, cond store.KVCond) error {
	if cond.Absent && ver != 0 {
		return fmt.Errorf("%w: entry exists", store.ErrConflict)
	}
	if cond.Version != 0 && cond.Version != ver {
		return fmt.Errorf("%w: version mismatch", store.ErrConflict)
	}
	return nil
}

func addUsage(txn *badger.Txn, ns string, entries int, size int64) error {
	uk := []byte(pKVUsage + ns)
	var u kvUsage
	if err := getJSON(txn, uk, &u); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	u.Entries += entries
	u.Bytes += size
	if u.Entries <= 0 {
		return txn.Delete(uk)
	}
	return setJSON(txn, uk, u, 0)
}

func (r kv) Put(ctx context.Context, ns, key string, value []byte, cond store.KVCond) (ver uint64, err error) {
	defer r.s.done("kv.put", time.Now(), &err)
	k, err := kvKey(ns, key)
	if err != nil {
		return 0, err
	}
	err = r.s.update(ctx, func(txn *badger.Txn) error {
		old, oldSize, err := current(txn, k)
		if err != nil {
			return err
		}
		if err := checkCond(old, cond); err != nil {
			return err
		}
		ver = max(uint64(time.Now().UnixNano()), old+1)
		buf := make([]byte, 8+len(value))
		binary.BigEndian.PutUint64(buf, ver)
		copy(buf[8:], value)
		if err := txn.Set(k, buf); err != nil {
			return err
		}
		n := 1
		if old != 0 {
			n = 0
		}
		return addUsage(txn, ns, n, int64(len(k)+len(value))-oldSize)
	})
	return ver, err
}

// PutBatch writes every entry in one transaction (store.KVBatch).
func (r kv) PutBatch(ctx context.Context, ns string, writes []store.KVWrite) (err error) {
	defer r.s.done("kv.put_batch", time.Now(), &err)
	keys := make([][]byte, len(writes))
	for i, w := range writes {
		if keys[i], err = kvKey(ns, w.Key); err != nil {
			return err
		}
	}
	return r.s.update(ctx, func(txn *badger.Txn) error {
		entries, size := 0, int64(0)
		now := uint64(time.Now().UnixNano())
		for i, w := range writes {
			old, oldSize, err := current(txn, keys[i])
			if err != nil {
				return err
			}
			if err := checkCond(old, w.Cond); err != nil {
				return fmt.Errorf("%w (key %q)", err, w.Key)
			}
			buf := make([]byte, 8+len(w.Value))
			binary.BigEndian.PutUint64(buf, max(now, old+1))
			copy(buf[8:], w.Value)
			if err := txn.Set(keys[i], buf); err != nil {
				return err
			}
			if old == 0 {
				entries++
			}
			size += int64(len(keys[i])+len(w.Value)) - oldSize
		}
		return addUsage(txn, ns, entries, size)
	})
}

func (r kv) Delete(ctx context.Context, ns, key string, cond store.KVCond) (err error) {
	defer r.s.done("kv.delete", time.Now(), &err)
	k, err := kvKey(ns, key)
	if err != nil {
		return err
	}
	return r.s.update(ctx, func(txn *badger.Txn) error {
		old, oldSize, err := current(txn, k)
		if err != nil {
			return err
		}
		if old == 0 {
			return store.ErrNotFound
		}
		if err := checkCond(old, cond); err != nil {
			return err
		}
		if err := txn.Delete(k); err != nil {
			return err
		}
		return addUsage(txn, ns, -1, -oldSize)
	})
}

func (r kv) List(ctx context.Context, ns, prefix, after string, limit int) (items []store.KVItem, err error) {
	defer r.s.done("kv.list", time.Now(), &err)
	if ns == "" || strings.Contains(ns, "/") {
		return nil, fmt.Errorf("kv: invalid namespace %q", ns)
	}
	if limit <= 0 {
		limit = 100
	}
	base := []byte(pKV + ns + "/")
	pre := append(append([]byte(nil), base...), prefix...)
	err = r.s.view(ctx, func(txn *badger.Txn) error {
		items = []store.KVItem{}
		opts := badger.DefaultIteratorOptions
		opts.Prefix = pre
		it := txn.NewIterator(opts)
		defer it.Close()
		start := pre
		if after != "" {
			start = append(append(append([]byte(nil), base...), after...), 0)
			if bytes.Compare(start, pre) < 0 {
				start = pre
			}
		}
		for it.Seek(start); it.Valid() && len(items) < limit; it.Next() {
			v, ver, err := readVersioned(it.Item())
			if err != nil {
				return err
			}
			items = append(items, store.KVItem{Key: string(it.Item().Key()[len(base):]), Value: v, Version: ver})
		}
		return nil
	})
	return items, err
}

func (r kv) Usage(ctx context.Context, ns string) (entries int, size int64, err error) {
	defer r.s.done("kv.usage", time.Now(), &err)
	err = r.s.view(ctx, func(txn *badger.Txn) error {
		var u kvUsage
		if err := getJSON(txn, []byte(pKVUsage+ns), &u); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		entries, size = u.Entries, u.Bytes
		return nil
	})
	return entries, size, err
}
