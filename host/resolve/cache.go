package resolve

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ubeu/gateway/host/did"
)

// Cache key design.
//
// An entry holds one representation of one resolution: the Result and its
// encoded bytes. Its key is
//
//	e|<kind>|<generation, hex>|<DID>|<versionTime>|<versionId>
//
// where kind names the representation (the two names of the resolution
// result share one), versionTime is normalised to UTC whole seconds and
// versionId, the only free-form part, comes last, so keys are unambiguous
// ('|' cannot occur in a DID or a normalised time). The store tier uses
// the same key under the prefix "didres/".
//
// The generation of a DID changes when Invalidate is called: entries under
// the old generation are no longer reachable and expire on their own (the
// unversioned ones are also deleted at once). Generations are kept in the
// store under "didres/g|<DID>" for as long as any entry can live, so that a
// restarted gateway (new memory tier, same store) does not serve entries
// from before an invalidation, and in memory for the DIDs seen. A fetch
// started before an invalidation fills its old-generation key, which no one
// reads any more: an invalidation cannot be undone by a slow fetch.
//
// Names map to DIDs in entries "n|<name>" (store "didres/n|<name>"); the
// DID's document is then cached under the DID, so that invalidating a DID
// covers every name that points at it.

const storePrefix = "didres/"

// entry is a cached resolution (res) or name mapping (name*).
type entry struct {
	res        *Result // Body holds the encoding of the entry's kind
	hit        *Result // res as a memory hit for res.requested, shared
	freshUntil time.Time
	staleUntil time.Time // freshUntil plus the stale grace, if any

	nameDID  string // the DID a name maps to
	nameCode string // or the error of the name
	nameMsg  string
}

func entryKey(kind string, gen uint64, q query) string {
	return "e|" + kind + "|" + strconv.FormatUint(gen, 16) + "|" + q.did + "|" + q.versionTime + "|" + q.versionID
}

func genKey(id string) string { return storePrefix + "g|" + id }

// genRecord is a DID's generation as known in memory. Records of DIDs never
// invalidated (gen 0) may be forgotten at any time; others only after until,
// when every entry of an older generation has expired.
type genRecord struct {
	gen   uint64
	until time.Time
}

// generation returns the current generation of a DID.
func (r *Resolver) generation(ctx context.Context, id string) uint64 {
	if v, ok := r.gens.Load(id); ok {
		return v.(genRecord).gen
	}
	// Concurrent first requests for a DID share one store read.
	v, _, _ := r.genReads.Do(id, func() (any, error) {
		if v, ok := r.gens.Load(id); ok {
			return v, nil
		}
		var rec genRecord
		if r.store != nil {
			b, ok, err := r.store.Get(context.WithoutCancel(ctx), genKey(id))
			switch {
			case err != nil:
				r.log.Warn("did cache: reading a generation", "did", id, "err", err)
			case ok && len(b) == 8:
				rec = genRecord{gen: binary.BigEndian.Uint64(b), until: r.now().Add(r.lifetime)}
			}
		}
		v, loaded := r.gens.LoadOrStore(id, rec)
		if !loaded {
			r.genAdded()
		}
		return v, nil
	})
	return v.(genRecord).gen
}

// genAdded counts a remembered generation and forgets the ones that may be
// forgotten when there are too many.
func (r *Resolver) genAdded() {
	r.genN.Lock()
	defer r.genN.Unlock()
	r.genSize++
	if r.genSize <= r.cfg.MaxGenerations {
		return
	}
	now := r.now()
	r.gens.Range(func(k, v any) bool {
		if rec := v.(genRecord); rec.gen == 0 || now.After(rec.until) {
			if r.gens.CompareAndDelete(k, v) {
				r.genSize--
			}
		}
		return r.genSize > r.cfg.MaxGenerations*9/10
	})
}

// Invalidate makes every cached resolution of the DID unreachable in both
// tiers, at once: the gateway calls it when it changes the DID (create,
// update, deactivate). It fails only if the new generation cannot be
// written to the store, in which case a restarted gateway could serve an
// older document until its TTL ends.
func (r *Resolver) Invalidate(ctx context.Context, id string) error {
	if r.hot == nil {
		return nil
	}
	old := r.generation(ctx, id)
	now := r.now()
	gen := max(old+1, uint64(now.UnixNano()))
	var err error
	if r.store != nil {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], gen)
		if err = r.store.Set(ctx, genKey(id), b[:], r.lifetime); err != nil {
			err = fmt.Errorf("resolve: invalidate %s: %w", id, err)
		}
	}
	r.gens.Store(id, genRecord{gen: gen, until: now.Add(r.lifetime)})
	// Free the unversioned entries of the old generation now; versioned
	// ones are unreachable and expire.
	q := query{did: id}
	for _, kind := range []string{"r", "l", "j", "d"} {
		k := entryKey(kind, old, q)
		r.hot.Del(k)
		if r.store != nil {
			if derr := r.store.Delete(ctx, storePrefix+k); derr != nil {
				r.log.Warn("did cache: deleting an invalidated entry", "did", id, "err", derr)
			}
		}
	}
	return err
}

// InvalidateName forgets the cached DID of a name in both tiers.
func (r *Resolver) InvalidateName(ctx context.Context, name string) error {
	if r.hot == nil {
		return nil
	}
	name, _, ok := parseName(name)
	if !ok {
		return nil
	}
	k := "n|" + name
	r.hot.Del(k)
	if r.store != nil {
		if err := r.store.Delete(ctx, storePrefix+k); err != nil {
			return fmt.Errorf("resolve: invalidate name %s: %w", name, err)
		}
	}
	return nil
}

// resolveDID serves q from the cache or upstream and says where it came
// from ("memory", "store", "stale" or "").
func (r *Resolver) resolveDID(ctx context.Context, q query, noCache bool, now time.Time) (*Result, string) {
	if r.hot == nil {
		return r.encodeFor(r.fetch(ctx, q, 0), q.mediaType), ""
	}
	gen := r.generation(ctx, q.did)
	key := entryKey(kindOf(q.mediaType), gen, q)
	if !noCache {
		if e, ok := r.hot.Get(key); ok {
			if now.Before(e.freshUntil) {
				r.m.memory[hit].Inc()
				if e.hit != nil && e.hit.requested == q.mediaType {
					return e.hit, "memory"
				}
				return e.res, "memory"
			}
			if now.Before(e.staleUntil) {
				r.m.memory[stale].Inc()
				r.refreshLater(ctx, key, func(ctx context.Context) { r.fill(ctx, q, gen, key, false) })
				return e.res, "stale"
			}
		}
		r.m.memory[miss].Inc()
		ch := r.fills.DoChan(key, func() (any, error) {
			res, src := r.fill(context.WithoutCancel(ctx), q, gen, key, true)
			return fillResult{res, src}, nil
		})
		select {
		case v := <-ch:
			f := v.Val.(fillResult)
			return f.res, f.source
		case <-ctx.Done():
			return r.encodeFor(errorResult(CodeInternalError, "resolution abandoned: "+ctx.Err().Error()), q.mediaType), ""
		}
	}
	res, _ := r.fill(ctx, q, gen, key, false)
	return res, ""
}

type fillResult struct {
	res    *Result
	source string
}

// fill reads the store tier (if readStore) and else resolves upstream,
// filling both tiers. A stale store entry is served when readStore is set
// and the method allows it, with a refresh in the background.
func (r *Resolver) fill(ctx context.Context, q query, gen uint64, key string, readStore bool) (*Result, string) {
	if readStore && r.store != nil {
		e, err := r.loadStore(ctx, key)
		if err != nil {
			r.log.Warn("did cache: reading the store tier", "did", q.did, "err", err)
		}
		now := r.now()
		switch {
		case e != nil && now.Before(e.freshUntil):
			r.m.store[hit].Inc()
			r.putHot(key, e, now)
			return e.res, "store"
		case e != nil && now.Before(e.staleUntil):
			r.m.store[stale].Inc()
			r.putHot(key, e, now)
			r.refreshLater(ctx, key, func(ctx context.Context) { r.fill(ctx, q, gen, key, false) })
			return e.res, "stale"
		}
		r.m.store[miss].Inc()
	}
	res := r.encodeFor(r.fetch(ctx, q, gen), q.mediaType)
	if ttl, grace := r.policy(q.method, res); ttl > 0 {
		now := r.now()
		e := &entry{res: res, freshUntil: now.Add(ttl), staleUntil: now.Add(ttl + grace)}
		r.putHot(key, e, now)
		r.saveStore(ctx, key, e, now)
	}
	return res, ""
}

// encodeFor returns a copy of res with Body encoded for the media type's
// kind.
func (r *Resolver) encodeFor(res *Result, mediaType string) *Result {
	out := *res
	out.Body, out.requested = nil, ""
	body, err := Encode(&out, mediaType)
	if err != nil {
		r.log.Error("did resolution: encoding", "err", err)
		out = *errorResult(CodeInternalError, "the result cannot be encoded")
		body, _ = Encode(&out, mediaType)
	}
	out.Body, out.requested = body, mediaType
	out.MediaType = ContentType(&out, mediaType)
	return &out
}

// policy returns how long a result stays fresh and then stale-servable;
// a zero TTL means it is not cached. Successes (deactivated included) use
// the method's TTL and grace, notFound and invalidDid NegativeTTL; other
// errors are never cached.
func (r *Resolver) policy(method string, res *Result) (ttl, grace time.Duration) {
	switch res.ResolutionMetadata.Error {
	case "":
		ttl, ok := r.cfg.TTL[method]
		if !ok {
			ttl = r.cfg.DefaultTTL
		}
		return max(ttl, 0), max(r.cfg.StaleGrace[method], 0)
	case CodeNotFound, CodeInvalidDID, CodeUnsupportedNetwork:
		return max(r.cfg.NegativeTTL, 0), 0
	}
	return 0, 0
}

// refreshLater runs fn in the background unless a refresh of key is under
// way or RefreshWorkers are busy (the next stale hit tries again).
func (r *Resolver) refreshLater(ctx context.Context, key string, fn func(context.Context)) {
	if _, busy := r.refreshing.LoadOrStore(key, struct{}{}); busy {
		return
	}
	select {
	case r.sem <- struct{}{}:
	default:
		r.refreshing.Delete(key)
		return
	}
	r.wg.Add(1)
	go func() {
		defer func() {
			<-r.sem
			r.refreshing.Delete(key)
			r.wg.Done()
		}()
		fn(context.WithoutCancel(ctx))
	}()
}

// putHot stores an entry in the memory tier until it can no longer be
// served.
func (r *Resolver) putHot(key string, e *entry, now time.Time) {
	life := e.staleUntil.Sub(now)
	if life <= 0 {
		return
	}
	cost := int64(len(key) + 256)
	if e.res != nil {
		cost += int64(len(e.res.Body) + len(e.res.Document))
		hit := *e.res
		hit.MediaType = ContentType(e.res, e.res.requested)
		hit.Cache = "memory"
		e.hit = &hit
	}
	r.hot.SetWithTTL(key, e, cost, life)
}

// Store-tier encoding: version byte, freshUntil and staleUntil (Unix ns),
// the length of the JSON header, the header (the Result without its body,
// or the name mapping), then the body.
const storeVersion = 2 // 2: resolution errors as problem details

type storedHeader struct {
	Result  *Result `json:"r,omitempty"`
	Kind    string  `json:"k,omitempty"`
	NameDID string  `json:"nd,omitempty"`
	NameErr string  `json:"ne,omitempty"`
	NameMsg string  `json:"nm,omitempty"`
}

func (r *Resolver) saveStore(ctx context.Context, key string, e *entry, now time.Time) {
	if r.store == nil {
		return
	}
	life := e.staleUntil.Sub(now)
	if life <= 0 {
		return
	}
	h := storedHeader{Result: e.res, NameDID: e.nameDID, NameErr: e.nameCode, NameMsg: e.nameMsg}
	var body []byte
	if e.res != nil {
		h.Kind = e.res.requested
		body = e.res.Body
	}
	hb, err := json.Marshal(&h)
	if err != nil {
		r.log.Error("did cache: encoding an entry", "err", err)
		return
	}
	b := make([]byte, 0, 1+8+8+4+len(hb)+len(body))
	b = append(b, storeVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(e.freshUntil.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(e.staleUntil.UnixNano()))
	b = binary.BigEndian.AppendUint32(b, uint32(len(hb)))
	b = append(b, hb...)
	b = append(b, body...)
	if err := r.store.Set(ctx, storePrefix+key, b, life); err != nil {
		r.log.Warn("did cache: writing the store tier", "err", err)
	}
}

var errBadEntry = errors.New("resolve: malformed store entry")

// loadStore reads an entry from the store tier; nil if absent.
func (r *Resolver) loadStore(ctx context.Context, key string) (*entry, error) {
	b, ok, err := r.store.Get(ctx, storePrefix+key)
	if err != nil || !ok {
		return nil, err
	}
	if len(b) < 21 || b[0] != storeVersion {
		return nil, errBadEntry
	}
	e := &entry{
		freshUntil: time.Unix(0, int64(binary.BigEndian.Uint64(b[1:9]))),
		staleUntil: time.Unix(0, int64(binary.BigEndian.Uint64(b[9:17]))),
	}
	n := int(binary.BigEndian.Uint32(b[17:21]))
	if n > len(b)-21 {
		return nil, errBadEntry
	}
	var h storedHeader
	if err := json.Unmarshal(b[21:21+n], &h); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadEntry, err)
	}
	e.nameDID, e.nameCode, e.nameMsg = h.NameDID, h.NameErr, h.NameMsg
	if h.Result != nil {
		h.Result.Body = b[21+n:]
		h.Result.requested = h.Kind
		e.res = h.Result
	}
	return e, nil
}

// resolveName maps a name to a DID through the cache. It returns the DID,
// or an error code and message.
func (r *Resolver) resolveName(ctx context.Context, nr NameResolver, name string, noCache bool) (id, code, msg string) {
	if r.hot == nil {
		e := r.lookupName(ctx, nr, name)
		return e.nameDID, e.nameCode, e.nameMsg
	}
	key := "n|" + name
	if !noCache {
		if e, ok := r.hot.Get(key); ok {
			now := r.now()
			if now.Before(e.freshUntil) {
				r.m.memory[hit].Inc()
				return e.nameDID, e.nameCode, e.nameMsg
			}
			if now.Before(e.staleUntil) {
				r.m.memory[stale].Inc()
				r.refreshLater(ctx, key, func(ctx context.Context) { r.fillName(ctx, nr, name, key, false) })
				return e.nameDID, e.nameCode, e.nameMsg
			}
		}
		r.m.memory[miss].Inc()
	}
	ch := r.fills.DoChan(key, func() (any, error) {
		return r.fillName(context.WithoutCancel(ctx), nr, name, key, !noCache), nil
	})
	select {
	case v := <-ch:
		e := v.Val.(*entry)
		return e.nameDID, e.nameCode, e.nameMsg
	case <-ctx.Done():
		return "", CodeInternalError, "resolution abandoned: " + ctx.Err().Error()
	}
}

// fillName is fill for names.
func (r *Resolver) fillName(ctx context.Context, nr NameResolver, name, key string, readStore bool) *entry {
	if readStore && r.store != nil {
		e, err := r.loadStore(ctx, key)
		if err != nil {
			r.log.Warn("did cache: reading the store tier", "name", name, "err", err)
		}
		now := r.now()
		switch {
		case e != nil && now.Before(e.freshUntil):
			r.m.store[hit].Inc()
			r.putHot(key, e, now)
			return e
		case e != nil && now.Before(e.staleUntil):
			r.m.store[stale].Inc()
			r.putHot(key, e, now)
			r.refreshLater(ctx, key, func(ctx context.Context) { r.fillName(ctx, nr, name, key, false) })
			return e
		}
		r.m.store[miss].Inc()
	}
	e := r.lookupName(ctx, nr, name)
	var ttl, grace time.Duration
	switch e.nameCode {
	case "":
		ttl, grace = r.cfg.TTL[NameMethod], r.cfg.StaleGrace[NameMethod]
	case CodeNotFound, CodeInvalidDID, CodeUnsupportedNetwork:
		ttl = r.cfg.NegativeTTL
	}
	if ttl > 0 {
		now := r.now()
		e.freshUntil, e.staleUntil = now.Add(ttl), now.Add(ttl+max(grace, 0))
		r.putHot(key, e, now)
		r.saveStore(ctx, key, e, now)
	}
	return e
}

// lookupName asks the name resolver, under FetchTimeout.
func (r *Resolver) lookupName(ctx context.Context, nr NameResolver, name string) (e *entry) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.FetchTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("name resolver panicked", "name", name, "panic", p)
			e = &entry{nameCode: CodeInternalError, nameMsg: "the name resolver failed"}
		}
	}()
	id, err := nr.ResolveName(ctx, name)
	if err != nil {
		return &entry{nameCode: did.Code(err), nameMsg: publicMessage(err)}
	}
	if _, ok := parseDID(id); !ok {
		r.log.Warn("name resolver returned an invalid DID", "name", name, "did", id)
		return &entry{nameCode: CodeInternalError, nameMsg: "the name maps to an invalid DID"}
	}
	return &entry{nameDID: id}
}
