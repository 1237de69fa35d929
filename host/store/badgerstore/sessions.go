package badgerstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ubeu/gateway/host/store"
)

type sessions struct{ s *Store }

func familyKey(id string) []byte  { return []byte(pFamily + id) }
func tokenKey(hash string) []byte { return []byte(pToken + hash) }
func userFamilyKey(userID, familyID string) []byte {
	return []byte(pUserFamily + userID + "/" + familyID)
}

// sessionExpiry is the Badger expiry of every key of a family: its expiry
// plus a grace period, or never if the family does not expire.
func sessionExpiry(f *store.RefreshFamily) uint64 {
	if f.ExpiresAt.IsZero() {
		return 0
	}
	return expiresAt(f.ExpiresAt.Add(sessionGrace))
}

// Start creates a family with its first token; store.ErrConflict if the
// family or the token hash exists. The token's FamilyID and UserID are taken
// from the family when empty and must match it otherwise.
func (r sessions) Start(ctx context.Context, f *store.RefreshFamily, first *store.RefreshToken) (err error) {
	defer r.s.done("sessions.start", time.Now(), &err)
	if err := checkID("family ID", f.ID); err != nil {
		return err
	}
	if err := checkID("user ID", f.UserID); err != nil {
		return err
	}
	tok, err := tokenOf(f, first)
	if err != nil {
		return err
	}
	exp := sessionExpiry(f)
	return r.s.update(ctx, func(txn *badger.Txn) error {
		if ok, err := exists(txn, familyKey(f.ID)); err != nil || ok {
			return conflictOr(err, "family ID taken")
		}
		if ok, err := exists(txn, tokenKey(tok.Hash)); err != nil || ok {
			return conflictOr(err, "token hash taken")
		}
		if err := setJSON(txn, familyKey(f.ID), f, exp); err != nil {
			return err
		}
		if err := setJSON(txn, tokenKey(tok.Hash), tok, exp); err != nil {
			return err
		}
		e := badger.NewEntry(userFamilyKey(f.UserID, f.ID), nil)
		e.ExpiresAt = exp
		return txn.SetEntry(e)
	})
}

// tokenOf returns a copy of t bound to family f.
func tokenOf(f *store.RefreshFamily, t *store.RefreshToken) (*store.RefreshToken, error) {
	if t.Hash == "" {
		return nil, errors.New("empty refresh token hash")
	}
	c := *t
	if c.FamilyID == "" {
		c.FamilyID = f.ID
	}
	if c.UserID == "" {
		c.UserID = f.UserID
	}
	if c.FamilyID != f.ID || c.UserID != f.UserID {
		return nil, fmt.Errorf("refresh token belongs to family %q of user %q, not %q of %q", c.FamilyID, c.UserID, f.ID, f.UserID)
	}
	return &c, nil
}

// Rotate spends the token oldHash and stores next in the same family, in one
// transaction. Outcomes: store.ErrNotFound if the token is unknown;
// store.ErrRevoked if its family is revoked or expired, or the token expired
// at now; store.ErrTokenReused, with the family, if the token was already
// spent — the family's revocation is committed before Rotate returns;
// store.ErrConflict if next's hash exists. next's FamilyID and UserID are
// filled from the family; next itself is not modified.
func (r sessions) Rotate(ctx context.Context, oldHash string, next *store.RefreshToken, now time.Time) (fam *store.RefreshFamily, err error) {
	defer r.s.done("sessions.rotate", time.Now(), &err)
	var outcome error // an error to report although the transaction commits
	err = r.s.update(ctx, func(txn *badger.Txn) error {
		fam, outcome = nil, nil
		var tok store.RefreshToken
		if err := getJSON(txn, tokenKey(oldHash), &tok); err != nil {
			return err
		}
		var f store.RefreshFamily
		if err := getJSON(txn, familyKey(tok.FamilyID), &f); err != nil {
			return err
		}
		exp := sessionExpiry(&f)
		if !f.RevokedAt.IsZero() ||
			(!f.ExpiresAt.IsZero() && !now.Before(f.ExpiresAt)) ||
			(!tok.ExpiresAt.IsZero() && !now.Before(tok.ExpiresAt)) {
			return store.ErrRevoked
		}
		if !tok.UsedAt.IsZero() {
			f.RevokedAt = now
			if err := setJSON(txn, familyKey(f.ID), &f, exp); err != nil {
				return err
			}
			fam, outcome = &f, store.ErrTokenReused
			return nil
		}
		nt, err := tokenOf(&f, next)
		if err != nil {
			return err
		}
		if ok, err := exists(txn, tokenKey(nt.Hash)); err != nil || ok {
			return conflictOr(err, "next token hash taken")
		}
		tok.UsedAt = now
		if err := setJSON(txn, tokenKey(tok.Hash), &tok, exp); err != nil {
			return err
		}
		if err := setJSON(txn, tokenKey(nt.Hash), nt, exp); err != nil {
			return err
		}
		fam = &f
		return nil
	})
	if err != nil {
		return nil, err
	}
	return fam, outcome
}

// Lookup returns a token and its family without spending it;
// store.ErrNotFound if either is unknown.
func (r sessions) Lookup(ctx context.Context, hash string) (tok *store.RefreshToken, fam *store.RefreshFamily, err error) {
	defer r.s.done("sessions.lookup", time.Now(), &err)
	err = r.s.view(ctx, func(txn *badger.Txn) error {
		tok, fam = new(store.RefreshToken), new(store.RefreshFamily)
		if err := getJSON(txn, tokenKey(hash), tok); err != nil {
			return err
		}
		return getJSON(txn, familyKey(tok.FamilyID), fam)
	})
	if err != nil {
		return nil, nil, err
	}
	return tok, fam, nil
}

// RevokeFamily revokes a family at the given time; store.ErrNotFound if
// unknown. An earlier revocation time is kept.
func (r sessions) RevokeFamily(ctx context.Context, familyID string, at time.Time) (err error) {
	defer r.s.done("sessions.revoke_family", time.Now(), &err)
	return r.s.update(ctx, func(txn *badger.Txn) error {
		_, err := revokeFamily(txn, familyID, at)
		return err
	})
}

// revokeFamily sets RevokedAt unless the family is already revoked, and
// reports whether it did.
func revokeFamily(txn *badger.Txn, familyID string, at time.Time) (bool, error) {
	var f store.RefreshFamily
	if err := getJSON(txn, familyKey(familyID), &f); err != nil {
		return false, err
	}
	if !f.RevokedAt.IsZero() {
		return false, nil
	}
	f.RevokedAt = at
	return true, setJSON(txn, familyKey(familyID), &f, sessionExpiry(&f))
}

// revokeBatch bounds the families revoked by one transaction.
const revokeBatch = 500

// RevokeUser revokes every family of the user that is not revoked yet and
// returns their IDs (an empty slice if none). Families are found through the
// ru/ index; each batch of 500 is one transaction.
func (r sessions) RevokeUser(ctx context.Context, userID string, at time.Time) (ids []string, err error) {
	defer r.s.done("sessions.revoke_user", time.Now(), &err)
	if err := checkID("user ID", userID); err != nil {
		return nil, err
	}
	var all []string
	err = r.s.view(ctx, func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = []byte(pUserFamily + userID + "/")
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			all = append(all, string(it.Item().Key()[len(opts.Prefix):]))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ids = []string{}
	for len(all) > 0 {
		batch := all[:min(len(all), revokeBatch)]
		all = all[len(batch):]
		var revoked []string
		err := r.s.update(ctx, func(txn *badger.Txn) error {
			revoked = revoked[:0]
			for _, id := range batch {
				ok, err := revokeFamily(txn, id, at)
				if errors.Is(err, store.ErrNotFound) {
					continue // expired meanwhile
				}
				if err != nil {
					return err
				}
				if ok {
					revoked = append(revoked, id)
				}
			}
			return nil
		})
		if err != nil {
			return ids, err
		}
		ids = append(ids, revoked...)
	}
	return ids, nil
}
