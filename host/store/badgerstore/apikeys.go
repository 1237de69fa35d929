package badgerstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ubeu/gateway/host/store"
)

type apiKeys struct{ s *Store }

func apiKeyKey(prefix string) []byte { return []byte(pKey + prefix) }

// apiKeyIndexKey orders an enterprise's keys by creation time.
func apiKeyIndexKey(enterpriseID string, createdAt time.Time, id string) []byte {
	ns := createdAt.UnixNano()
	if ns < 0 || createdAt.IsZero() {
		ns = 0
	}
	return fmt.Appendf(nil, "%s%s/%016x/%s", pKeyByEnt, enterpriseID, uint64(ns), id)
}

// Create stores a key; store.ErrConflict if the prefix is taken.
func (r apiKeys) Create(ctx context.Context, k *store.APIKey) (err error) {
	defer r.s.done("apikeys.create", time.Now(), &err)
	if err := checkID("API key ID", k.ID); err != nil {
		return err
	}
	if err := checkID("enterprise ID", k.EnterpriseID); err != nil {
		return err
	}
	if k.Prefix == "" {
		return errors.New("empty API key prefix")
	}
	key := apiKeyKey(k.Prefix)
	idx := apiKeyIndexKey(k.EnterpriseID, k.CreatedAt, k.ID)
	return r.s.update(ctx, func(txn *badger.Txn) error {
		if ok, err := exists(txn, key); err != nil || ok {
			return conflictOr(err, "API key prefix taken")
		}
		if err := txn.Set(idx, []byte(k.Prefix)); err != nil {
			return err
		}
		return setJSON(txn, key, k, 0)
	})
}

// GetByPrefix returns the key with this prefix or store.ErrNotFound.
// LastUsedAt includes uses not yet written.
func (r apiKeys) GetByPrefix(ctx context.Context, prefix string) (k *store.APIKey, err error) {
	defer r.s.done("apikeys.get_by_prefix", time.Now(), &err)
	err = r.s.view(ctx, func(txn *badger.Txn) error {
		k = new(store.APIKey)
		return getJSON(txn, apiKeyKey(prefix), k)
	})
	if err != nil {
		return nil, err
	}
	r.s.overlayTouch(k)
	return k, nil
}

// ListByEnterprise returns an enterprise's keys, oldest first (never nil).
func (r apiKeys) ListByEnterprise(ctx context.Context, enterpriseID string) (keys []*store.APIKey, err error) {
	defer r.s.done("apikeys.list_by_enterprise", time.Now(), &err)
	if err := checkID("enterprise ID", enterpriseID); err != nil {
		return nil, err
	}
	err = r.s.view(ctx, func(txn *badger.Txn) error {
		keys = []*store.APIKey{}
		return r.eachOfEnterprise(txn, enterpriseID, func(_ string, prefix []byte) (bool, error) {
			k := new(store.APIKey)
			if err := getJSON(txn, apiKeyKey(string(prefix)), k); err != nil {
				return false, fmt.Errorf("index entry for prefix %q: %w", prefix, err)
			}
			keys = append(keys, k)
			return true, nil
		})
	})
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		r.s.overlayTouch(k)
	}
	return keys, nil
}

// eachOfEnterprise calls fn with the key ID and prefix of each index entry
// of the enterprise, oldest first, while fn returns true.
func (r apiKeys) eachOfEnterprise(txn *badger.Txn, enterpriseID string, fn func(id string, prefix []byte) (bool, error)) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = []byte(pKeyByEnt + enterpriseID + "/")
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		k := item.Key()
		id := string(k[bytes.LastIndexByte(k, '/')+1:])
		prefix, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		more, err := fn(id, prefix)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// Revoke marks the key revoked at the given time; store.ErrNotFound if the
// enterprise has no key with this ID. An earlier revocation time is kept.
func (r apiKeys) Revoke(ctx context.Context, enterpriseID, id string, at time.Time) (err error) {
	defer r.s.done("apikeys.revoke", time.Now(), &err)
	if err := checkID("enterprise ID", enterpriseID); err != nil {
		return err
	}
	return r.s.update(ctx, func(txn *badger.Txn) error {
		var prefix []byte
		err := r.eachOfEnterprise(txn, enterpriseID, func(kid string, p []byte) (bool, error) {
			if kid == id {
				prefix = p
				return false, nil
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		if prefix == nil {
			return store.ErrNotFound
		}
		key := apiKeyKey(string(prefix))
		var k store.APIKey
		if err := getJSON(txn, key, &k); err != nil {
			return err
		}
		if !k.RevokedAt.IsZero() && !k.RevokedAt.After(at) {
			return nil
		}
		k.RevokedAt = at
		return setJSON(txn, key, &k, 0)
	})
}

// TouchLastUsed records a use of the key in memory; uses are written every
// few seconds and on Close, at most one write per key per minute. A use of
// an unknown prefix is dropped when written.
func (r apiKeys) TouchLastUsed(ctx context.Context, prefix string, at time.Time) error {
	if err := r.s.check(ctx); err != nil {
		return fmt.Errorf("badgerstore: apikeys.touch_last_used: %w", err)
	}
	if r.s.readOnly {
		return nil
	}
	r.s.touchMu.Lock()
	if old, ok := r.s.touches[prefix]; !ok || at.After(old) {
		r.s.touches[prefix] = at
	}
	r.s.touchMu.Unlock()
	return nil
}

// overlayTouch applies a pending use to k.
func (s *Store) overlayTouch(k *store.APIKey) {
	s.touchMu.Lock()
	at, ok := s.touches[k.Prefix]
	s.touchMu.Unlock()
	if ok && at.After(k.LastUsedAt) {
		k.LastUsedAt = at
	}
}

// touchLoop flushes pending API-key uses until Close.
func (s *Store) touchLoop() {
	defer s.wg.Done()
	t := time.NewTicker(touchFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.flushTouches(context.Background())
		}
	}
}

// touchBatch bounds the keys written by one flush transaction.
const touchBatch = 256

// flushTouches writes the pending API-key uses, in batches of one
// transaction each. A batch that fails is put back for the next flush unless
// newer uses arrived meanwhile.
func (s *Store) flushTouches(ctx context.Context) {
	s.touchMu.Lock()
	pending := s.touches
	s.touches = make(map[string]time.Time)
	s.touchMu.Unlock()
	if len(pending) == 0 {
		return
	}
	batch := make(map[string]time.Time, min(len(pending), touchBatch))
	for prefix, at := range pending {
		batch[prefix] = at
		if len(batch) == touchBatch {
			s.writeTouches(ctx, batch)
			clear(batch)
		}
	}
	if len(batch) > 0 {
		s.writeTouches(ctx, batch)
	}
}

func (s *Store) writeTouches(ctx context.Context, batch map[string]time.Time) {
	start := time.Now()
	err := s.update(ctx, func(txn *badger.Txn) error {
		for prefix, at := range batch {
			key := apiKeyKey(prefix)
			var k store.APIKey
			err := getJSON(txn, key, &k)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if at.Sub(k.LastUsedAt) < touchResolution {
				continue
			}
			k.LastUsedAt = at
			if err := setJSON(txn, key, &k, 0); err != nil {
				return err
			}
		}
		return nil
	})
	s.done("apikeys.flush_last_used", start, &err)
	if err == nil {
		return
	}
	s.log.Warn("writing API-key last-use times failed; will retry", "keys", len(batch), "err", err)
	s.touchMu.Lock()
	for prefix, at := range batch {
		if old, ok := s.touches[prefix]; !ok || at.After(old) {
			s.touches[prefix] = at
		}
	}
	s.touchMu.Unlock()
}
