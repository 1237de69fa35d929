package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	sdk "github.com/ubeu/gateway/sdk-plugin"
)

// The plugin's KV namespace holds, per enterprise E:
//
//	e/E/u/<id>                  a User resource (JSON, without meta.version)
//	e/E/g/<id>                  a Group resource
//	e/E/un/<lower-case userName> the id of the User holding that userName
//
// meta.version is the entry's KV version, so the ETag changes with every
// write and a conditional Put is the If-Match check. The userName index
// makes "userName eq" a single Get however many users there are, and its
// IfAbsent claim is what keeps userName unique under concurrent creates.

var errConflict = sdk.ErrConflict

type repo struct {
	ent string
	rt  *resourceType
}

func (r repo) key(id string) string { return "e/" + r.ent + "/" + r.rt.kvKind + "/" + id }
func (r repo) prefix() string       { return "e/" + r.ent + "/" + r.rt.kvKind + "/" }
func (r repo) nameKey(userName string) string {
	return "e/" + r.ent + "/un/" + strings.ToLower(userName)
}

func decodeResource(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("stored resource: %w", err)
	}
	return m, nil
}

// get returns a resource and its version; found is false if absent.
func (r repo) get(ctx context.Context, id string) (map[string]any, uint64, bool, error) {
	if !validID(id) {
		return nil, 0, false, nil
	}
	b, ver, ok, err := sdk.KV().Get(ctx, r.key(id))
	if err != nil || !ok {
		return nil, 0, false, err
	}
	m, err := decodeResource(b)
	if err != nil {
		return nil, 0, false, err
	}
	return m, ver, true, nil
}

// put writes a resource: new (ifVersion 0, must be absent) or replacing
// the version ifVersion. errConflict if the condition does not hold.
func (r repo) put(ctx context.Context, id string, res map[string]any, ifVersion uint64) (uint64, error) {
	b, err := json.Marshal(res)
	if err != nil {
		return 0, err
	}
	cond := sdk.PutCond{IfVersion: ifVersion, IfAbsent: ifVersion == 0}
	return sdk.KV().Put(ctx, r.key(id), b, cond)
}

func (r repo) delete(ctx context.Context, id string, ifVersion uint64) (bool, error) {
	return sdk.KV().Delete(ctx, r.key(id), ifVersion)
}

// scan calls f with every resource of the enterprise in id order until f
// returns false.
func (r repo) scan(ctx context.Context, f func(id string, res map[string]any, ver uint64) bool) error {
	return r.scanRaw(ctx, nil, f)
}

// scanRaw is scan with a test on the stored bytes: resources for which
// pre returns false are skipped without being decoded.
func (r repo) scanRaw(ctx context.Context, pre func([]byte) bool, f func(id string, res map[string]any, ver uint64) bool) error {
	return r.scanBytes(ctx, func(id string, raw []byte, ver uint64) (bool, error) {
		if pre != nil && !pre(raw) {
			return true, nil
		}
		m, err := decodeResource(raw)
		if err != nil {
			return false, err
		}
		return f(id, m, ver), nil
	})
}

// scanBytes calls f with the stored bytes of every resource in id order
// until f returns false or an error.
func (r repo) scanBytes(ctx context.Context, f func(id string, raw []byte, ver uint64) (bool, error)) error {
	after := ""
	p := r.prefix()
	for {
		items, err := sdk.KV().List(ctx, p, after, 1000)
		if err != nil {
			return err
		}
		for _, it := range items {
			more, err := f(strings.TrimPrefix(it.Key, p), it.Value, it.Version)
			if err != nil || !more {
				return err
			}
		}
		if len(items) < 1000 {
			return nil
		}
		after = items[len(items)-1].Key
	}
}

// errTaken is a userName held by another user.
var errTaken = errors.New("userName taken")

// claimName points the userName index at id. It fails with errTaken if
// another existing user holds the name; an index entry left by a user
// that no longer exists (a crash between two writes) is taken over.
func (r repo) claimName(ctx context.Context, userName, id string) error {
	k := r.nameKey(userName)
	for range 5 {
		b, ver, ok, err := sdk.KV().Get(ctx, k)
		if err != nil {
			return err
		}
		if ok {
			holder := string(b)
			if holder == id {
				return nil
			}
			if _, _, exists, err := r.get(ctx, holder); err != nil {
				return err
			} else if exists {
				return errTaken
			}
		}
		_, err = sdk.KV().Put(ctx, k, []byte(id), sdk.PutCond{IfVersion: ver, IfAbsent: !ok})
		if errors.Is(err, errConflict) {
			continue
		}
		return err
	}
	return errTaken
}

// releaseName removes the index entry of userName if it points at id.
func (r repo) releaseName(ctx context.Context, userName, id string) error {
	k := r.nameKey(userName)
	b, ver, ok, err := sdk.KV().Get(ctx, k)
	if err != nil || !ok || string(b) != id {
		return err
	}
	_, err = sdk.KV().Delete(ctx, k, ver)
	if errors.Is(err, errConflict) {
		return nil
	}
	return err
}

// byName returns the user holding userName, if any.
func (r repo) byName(ctx context.Context, userName string) (string, map[string]any, uint64, bool, error) {
	b, _, ok, err := sdk.KV().Get(ctx, r.nameKey(userName))
	if err != nil || !ok {
		return "", nil, 0, false, err
	}
	id := string(b)
	m, ver, ok, err := r.get(ctx, id)
	if err != nil || !ok {
		return "", nil, 0, false, err
	}
	// The index is written before the user on a rename: check.
	if u, _ := m["userName"].(string); !strings.EqualFold(u, userName) {
		return "", nil, 0, false, nil
	}
	return id, m, ver, true, nil
}

// validID accepts the ids this plugin makes (and anything similar): a
// resource id is part of a KV key, so no "/" and a bounded length.
func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}
