package badgerstore

import (
	"context"
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ubeu/gateway/host/store"
)

// enterpriseRecord is an enterprise as stored: the contact e-mail is sealed.
type enterpriseRecord struct {
	store.Enterprise
	ContactEmail []byte `json:"contactEmail,omitempty"`
}

type enterprises struct{ s *Store }

func entKey(id string) []byte           { return []byte(pEnt + id) }
func entDomainKey(domain string) []byte { return []byte(pEntDomain + normDomain(domain)) }

func (r enterprises) encode(e *store.Enterprise) *enterpriseRecord {
	rec := &enterpriseRecord{Enterprise: *e, ContactEmail: r.s.sealField(e.ContactEmail, entKey(e.ID))}
	rec.Enterprise.ContactEmail = ""
	return rec
}

func (r enterprises) load(txn *badger.Txn, id string) (*store.Enterprise, error) {
	key := entKey(id)
	var rec enterpriseRecord
	if err := getJSON(txn, key, &rec); err != nil {
		return nil, err
	}
	email, err := r.s.openField(rec.ContactEmail, key, "contact e-mail")
	if err != nil {
		return nil, err
	}
	e := rec.Enterprise
	e.ContactEmail = email
	return &e, nil
}

// Create stores a new enterprise; store.ErrConflict if the ID or the parent
// domain (compared in lower case) is taken.
func (r enterprises) Create(ctx context.Context, e *store.Enterprise) (err error) {
	defer r.s.done("enterprises.create", time.Now(), &err)
	if err := checkID("enterprise ID", e.ID); err != nil {
		return err
	}
	if normDomain(e.ParentDomain) == "" {
		return errors.New("empty parent domain")
	}
	key, idx := entKey(e.ID), entDomainKey(e.ParentDomain)
	rec := r.encode(e)
	return r.s.update(ctx, func(txn *badger.Txn) error {
		if ok, err := exists(txn, key); err != nil || ok {
			return conflictOr(err, "enterprise ID taken")
		}
		if ok, err := exists(txn, idx); err != nil || ok {
			return conflictOr(err, "parent domain taken")
		}
		if err := txn.Set(idx, []byte(e.ID)); err != nil {
			return err
		}
		return setJSON(txn, key, rec, 0)
	})
}

// Get returns the enterprise or store.ErrNotFound.
func (r enterprises) Get(ctx context.Context, id string) (e *store.Enterprise, err error) {
	defer r.s.done("enterprises.get", time.Now(), &err)
	err = r.s.view(ctx, func(txn *badger.Txn) error {
		var err error
		e, err = r.load(txn, id)
		return err
	})
	return e, err
}

// Update replaces a stored enterprise; store.ErrNotFound if absent. The
// parent domain must equal the stored one.
func (r enterprises) Update(ctx context.Context, e *store.Enterprise) (err error) {
	defer r.s.done("enterprises.update", time.Now(), &err)
	if err := checkID("enterprise ID", e.ID); err != nil {
		return err
	}
	rec := r.encode(e)
	return r.s.update(ctx, func(txn *badger.Txn) error {
		old, err := r.load(txn, e.ID)
		if err != nil {
			return err
		}
		if normDomain(old.ParentDomain) != normDomain(e.ParentDomain) {
			return errDomainChange
		}
		return setJSON(txn, entKey(e.ID), rec, 0)
	})
}

// Delete removes an enterprise and its domain index entry;
// store.ErrNotFound if absent.
func (r enterprises) Delete(ctx context.Context, id string) (err error) {
	defer r.s.done("enterprises.delete", time.Now(), &err)
	if err := checkID("enterprise ID", id); err != nil {
		return err
	}
	return r.s.update(ctx, func(txn *badger.Txn) error {
		old, err := r.load(txn, id)
		if err != nil {
			return err
		}
		idx := entDomainKey(old.ParentDomain)
		if owner, err := txn.Get(idx); err == nil {
			if v, err := owner.ValueCopy(nil); err == nil && string(v) == id {
				if err := txn.Delete(idx); err != nil {
					return err
				}
			}
		}
		return txn.Delete(entKey(id))
	})
}

// Each calls f with every enterprise in ID order. Enterprises are read in
// pages of one short transaction each, so f may take its time.
func (r enterprises) Each(ctx context.Context, f func(*store.Enterprise) error) (err error) {
	defer r.s.done("enterprises.each", time.Now(), &err)
	after := []byte(pEnt)
	for {
		var page []*store.Enterprise
		err := r.s.view(ctx, func(txn *badger.Txn) error {
			opts := badger.DefaultIteratorOptions
			opts.Prefix = []byte(pEnt)
			it := txn.NewIterator(opts)
			defer it.Close()
			for it.Seek(after); it.Valid() && len(page) < 256; it.Next() {
				k := it.Item().KeyCopy(nil)
				if string(k) == string(after) {
					continue
				}
				e, err := r.load(txn, string(k[len(pEnt):]))
				if err != nil {
					return err
				}
				page = append(page, e)
				after = k
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, e := range page {
			if err := f(e); err != nil {
				return err
			}
		}
		if len(page) < 256 {
			return nil
		}
	}
}
