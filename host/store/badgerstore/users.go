package badgerstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ubeu/gateway/host/store"
)

// errEmailChange is returned by Users.Update when the e-mail differs from
// the stored one.
var errEmailChange = errors.New("the e-mail of a user cannot be changed by Update")

// errDomainChange is returned by Enterprises.Update when the parent domain
// differs from the stored one.
var errDomainChange = errors.New("the parent domain of an enterprise cannot be changed by Update")

// userRecord is a user as stored: the e-mail is replaced by its sealed form.
// The outer Email field shadows store.User.Email in JSON.
type userRecord struct {
	store.User
	Email []byte `json:"email,omitempty"`
}

type users struct{ s *Store }

func userKey(id string) []byte { return []byte(pUser + id) }

func (r users) encode(u *store.User) *userRecord {
	key := userKey(u.ID)
	rec := &userRecord{User: *u, Email: r.s.sealField(normEmail(u.Email), key)}
	rec.User.Email = ""
	return rec
}

func (r users) load(txn *badger.Txn, id string) (*store.User, error) {
	key := userKey(id)
	var rec userRecord
	if err := getJSON(txn, key, &rec); err != nil {
		return nil, err
	}
	email, err := r.s.openField(rec.Email, key, "e-mail")
	if err != nil {
		return nil, err
	}
	u := rec.User
	u.Email = email
	return &u, nil
}

// Create stores a new user; store.ErrConflict if the ID or the e-mail is
// taken. A user without an e-mail has no index entry.
func (r users) Create(ctx context.Context, u *store.User) (err error) {
	defer r.s.done("users.create", time.Now(), &err)
	if err := checkID("user ID", u.ID); err != nil {
		return err
	}
	key := userKey(u.ID)
	rec := r.encode(u)
	var idx []byte
	if normEmail(u.Email) != "" {
		idx = r.s.emailIndex(u.Email)
	}
	return r.s.update(ctx, func(txn *badger.Txn) error {
		if ok, err := exists(txn, key); err != nil || ok {
			return conflictOr(err, "user ID taken")
		}
		if idx != nil {
			if ok, err := exists(txn, idx); err != nil || ok {
				return conflictOr(err, "e-mail taken")
			}
			if err := txn.Set(idx, []byte(u.ID)); err != nil {
				return err
			}
		}
		return setJSON(txn, key, rec, 0)
	})
}

// Get returns the user with this ID or store.ErrNotFound.
func (r users) Get(ctx context.Context, id string) (u *store.User, err error) {
	defer r.s.done("users.get", time.Now(), &err)
	err = r.s.view(ctx, func(txn *badger.Txn) error {
		var err error
		u, err = r.load(txn, id)
		return err
	})
	return u, err
}

// GetByEmail returns the user with this e-mail or store.ErrNotFound.
func (r users) GetByEmail(ctx context.Context, email string) (u *store.User, err error) {
	defer r.s.done("users.get_by_email", time.Now(), &err)
	if normEmail(email) == "" {
		return nil, store.ErrNotFound
	}
	idx := r.s.emailIndex(email)
	err = r.s.view(ctx, func(txn *badger.Txn) error {
		item, err := txn.Get(idx)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		id, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		u, err = r.load(txn, string(id))
		return err
	})
	return u, err
}

// Update replaces a stored user; store.ErrNotFound if absent. The e-mail
// must equal the stored one.
func (r users) Update(ctx context.Context, u *store.User) (err error) {
	defer r.s.done("users.update", time.Now(), &err)
	if err := checkID("user ID", u.ID); err != nil {
		return err
	}
	rec := r.encode(u)
	return r.s.update(ctx, func(txn *badger.Txn) error {
		old, err := r.load(txn, u.ID)
		if err != nil {
			return err
		}
		if normEmail(old.Email) != normEmail(u.Email) {
			return errEmailChange
		}
		return setJSON(txn, userKey(u.ID), rec, 0)
	})
}

// Count returns the number of users. It walks the user keys without reading
// their values.
func (r users) Count(ctx context.Context) (n int, err error) {
	defer r.s.done("users.count", time.Now(), &err)
	err = r.s.view(ctx, func(txn *badger.Txn) error {
		n = 0
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = []byte(pUser)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
			if n%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return n, err
}

// conflictOr returns err if non-nil, else store.ErrConflict with a reason.
func conflictOr(err error, reason string) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: %s", store.ErrConflict, reason)
}
