package statuslist

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ubeu/gateway/host/seal"
	"github.com/ubeu/gateway/host/store"
	"github.com/ubeu/gateway/host/store/badgerstore"
)

var ctx = context.Background()

func newKV(t testing.TB) store.KV {
	t.Helper()
	s, _ := seal.New(bytes.Repeat([]byte{1}, seal.KeySize))
	st, err := badgerstore.Open(ctx, badgerstore.Options{InMemory: true, Sealer: s,
		IndexKey: bytes.Repeat([]byte{2}, 32), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st.KV()
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newRegistry(t testing.TB, o Options) (*Registry, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	if o.KV == nil {
		o.KV = newKV(t)
	}
	if o.BaseURL == "" {
		o.BaseURL = "https://gw.example/status/"
	}
	o.Now = clk.Now
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return r, clk
}

func TestAllocateEntry(t *testing.T) {
	r, _ := newRegistry(t, Options{})
	e, err := r.Allocate(ctx, "ent/1", PurposeRevocation)
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://gw.example/status/ent%2F1/" + e.ListID; e.ListURL != want {
		t.Fatalf("ListURL %s, want %s", e.ListURL, want)
	}
	if e.Index < 0 || e.Index >= MinEntries || e.Purpose != PurposeRevocation {
		t.Fatalf("entry %+v", e)
	}
	cs := e.CredentialStatus()
	want := map[string]any{
		"id":                   e.ListURL + "#" + strconv.Itoa(e.Index),
		"type":                 "BitstringStatusListEntry",
		"statusPurpose":        "revocation",
		"statusListIndex":      strconv.Itoa(e.Index),
		"statusListCredential": e.ListURL,
	}
	for k, v := range want {
		if cs[k] != v {
			t.Errorf("%s = %v, want %v", k, cs[k], v)
		}
	}
	if _, err := r.Allocate(ctx, "ent/1", "message"); !errors.Is(err, ErrUnsupportedPurpose) {
		t.Fatalf("message purpose: %v", err)
	}
	if _, err := r.Allocate(ctx, "ent/1", "bogus"); !errors.Is(err, ErrUnsupportedPurpose) {
		t.Fatalf("unknown purpose: %v", err)
	}
	// A second purpose gets its own list.
	s, err := r.Allocate(ctx, "ent/1", PurposeSuspension)
	if err != nil || s.ListID == e.ListID {
		t.Fatalf("suspension entry %+v, %v", s, err)
	}
}

func TestAllocateRandom(t *testing.T) {
	r, _ := newRegistry(t, Options{})
	var idx []int
	lists := map[string]bool{}
	for range 200 {
		e, err := r.Allocate(ctx, "ent1", PurposeRevocation)
		if err != nil {
			t.Fatal(err)
		}
		idx = append(idx, e.Index)
		lists[e.ListID] = true
	}
	if len(lists) != 1 {
		t.Fatalf("200 allocations used %d lists", len(lists))
	}
	first := idx[:100]
	if slices.IsSorted(first) {
		t.Fatal("first 100 indexes are in ascending order")
	}
	rev := slices.Clone(first)
	slices.Reverse(rev)
	if slices.IsSorted(rev) {
		t.Fatal("first 100 indexes are in descending order")
	}
	// Consecutive allocations are not neighbours.
	near := 0
	for i := 1; i < len(idx); i++ {
		if d := idx[i] - idx[i-1]; d >= -8 && d <= 8 {
			near++
		}
	}
	if near > 2 {
		t.Fatalf("%d of 199 consecutive allocations within 8 of each other", near)
	}
	// Spread over the whole list: every quarter is hit (chance of a miss
	// is 4 * (3/4)^200).
	var quarters [4]int
	for _, i := range idx {
		quarters[i*4/MinEntries]++
	}
	for q, n := range quarters {
		if n == 0 {
			t.Fatalf("quarter %d of the list got no allocation: %v", q, quarters)
		}
	}
	slices.Sort(idx)
	if len(slices.Compact(idx)) != 200 {
		t.Fatal("an index was allocated twice")
	}
}

func TestRolloverAtFillRatio(t *testing.T) {
	// 0.0001 of 131,072 entries: a list takes 14 allocations.
	r, _ := newRegistry(t, Options{FillRatio: 0.0001})
	perList := map[string]int{}
	var order []string
	for range 30 {
		e, err := r.Allocate(ctx, "ent1", PurposeSuspension)
		if err != nil {
			t.Fatal(err)
		}
		if perList[e.ListID] == 0 {
			order = append(order, e.ListID)
		}
		perList[e.ListID]++
	}
	if len(order) != 3 || perList[order[0]] != 14 || perList[order[1]] != 14 || perList[order[2]] != 2 {
		t.Fatalf("lists %v, counts %v", order, perList)
	}
	// Old lists stay usable.
	if _, _, _, err := r.ServeBytes(ctx, order[0]); err != nil {
		t.Fatal(err)
	}
}

func TestAllocateN(t *testing.T) {
	// 14 allocations per list: a batch of 30 spans three lists, each index
	// allocated once and marked in its list's bitmap.
	r, _ := newRegistry(t, Options{FillRatio: 0.0001})
	if _, err := r.AllocateN(ctx, "ent1", PurposeRevocation, 0); err == nil {
		t.Fatal("AllocateN(0) succeeded")
	}
	es, err := r.AllocateN(ctx, "ent1", PurposeRevocation, 30)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 30 {
		t.Fatalf("%d entries", len(es))
	}
	perList := map[string]int{}
	seen := map[string]bool{}
	for _, e := range es {
		k := e.ListID + "#" + strconv.Itoa(e.Index)
		if seen[k] {
			t.Fatalf("%s allocated twice", k)
		}
		seen[k] = true
		perList[e.ListID]++
		if e.Purpose != PurposeRevocation || e.ListURL != r.ListURL("ent1", e.ListID) {
			t.Fatalf("entry %+v", e)
		}
		// Allocated: Set works on it, and an unallocated neighbour fails.
		if err := r.Set(ctx, e.ListID, e.Index, PurposeRevocation, true); err != nil {
			t.Fatalf("set %s: %v", k, err)
		}
	}
	if len(perList) != 3 {
		t.Fatalf("counts %v, want three lists (14, 14, 2)", perList)
	}
	// The next single allocation continues the third list.
	e, err := r.Allocate(ctx, "ent1", PurposeRevocation)
	if err != nil || perList[e.ListID] != 2 {
		t.Fatalf("next allocation %+v (%v), lists %v", e, err, perList)
	}
}

func TestRevocationFinal(t *testing.T) {
	r, _ := newRegistry(t, Options{})
	e, _ := r.Allocate(ctx, "ent1", PurposeRevocation)
	if set, err := r.Get(ctx, e.ListID, e.Index); err != nil || set {
		t.Fatalf("fresh entry: %v %v", set, err)
	}
	if err := r.Set(ctx, e.ListID, e.Index, PurposeRevocation, true); err != nil {
		t.Fatal(err)
	}
	if err := r.Set(ctx, e.ListID, e.Index, PurposeRevocation, true); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	if err := r.Set(ctx, e.ListID, e.Index, PurposeRevocation, false); !errors.Is(err, ErrRevocationFinal) {
		t.Fatalf("un-revoke: %v", err)
	}
	if set, _ := r.Get(ctx, e.ListID, e.Index); !set {
		t.Fatal("revocation lost")
	}
	if err := r.Set(ctx, e.ListID, e.Index, PurposeSuspension, true); !errors.Is(err, ErrPurposeMismatch) {
		t.Fatalf("suspend in a revocation list: %v", err)
	}
	free := (e.Index + 1) % MinEntries
	if err := r.Set(ctx, e.ListID, free, PurposeRevocation, true); !errors.Is(err, ErrNotAllocated) {
		t.Fatalf("unallocated index: %v", err)
	}
	if err := r.Set(ctx, e.ListID, MinEntries, PurposeRevocation, true); !errors.Is(err, ErrRange) {
		t.Fatalf("index past the end: %v", err)
	}
	if err := r.Set(ctx, "nope", 0, PurposeRevocation, true); !errors.Is(err, ErrListNotFound) {
		t.Fatalf("unknown list: %v", err)
	}
}

func TestSuspensionToggles(t *testing.T) {
	r, _ := newRegistry(t, Options{})
	e, _ := r.Allocate(ctx, "ent1", PurposeSuspension)
	for _, v := range []bool{true, false, true, false} {
		if err := r.Set(ctx, e.ListID, e.Index, PurposeSuspension, v); err != nil {
			t.Fatal(err)
		}
		if got, _ := r.Get(ctx, e.ListID, e.Index); got != v {
			t.Fatalf("after Set(%v) Get = %v", v, got)
		}
	}
}

func TestConcurrentAllocateAndSet(t *testing.T) {
	r, _ := newRegistry(t, Options{})
	const n = 50
	entries := make([]Entry, n)
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			e, err := r.Allocate(ctx, "ent1", PurposeSuspension)
			if err != nil {
				errs <- err
			}
			entries[i] = e
		})
	}
	wg.Wait()
	seen := map[int]bool{}
	for _, e := range entries {
		if seen[e.Index] {
			t.Fatalf("index %d allocated twice", e.Index)
		}
		seen[e.Index] = true
		if e.ListID != entries[0].ListID {
			t.Fatal("concurrent allocations opened several lists")
		}
	}
	for _, e := range entries {
		wg.Go(func() {
			if err := r.Set(ctx, e.ListID, e.Index, PurposeSuspension, true); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, e := range entries {
		if set, err := r.Get(ctx, e.ListID, e.Index); err != nil || !set {
			t.Fatalf("index %d lost its bit: %v %v", e.Index, set, err)
		}
	}
	body, _, _, err := r.ServeBytes(ctx, entries[0].ListID)
	if err != nil {
		t.Fatal(err)
	}
	var vc struct {
		CredentialSubject struct {
			EncodedList string `json:"encodedList"`
		} `json:"credentialSubject"`
	}
	json.Unmarshal(body, &vc)
	b, err := Decode(vc.CredentialSubject.EncodedList)
	if err != nil || b.Count() != n {
		t.Fatalf("served list has %d bits set, want %d (%v)", b.Count(), n, err)
	}
}

func TestConcurrentFirstAllocationAcrossRegistries(t *testing.T) {
	// Two registries (two gateways) on one store race to open the first
	// list: both must end up in the same list with distinct indexes.
	kv := newKV(t)
	a, _ := newRegistry(t, Options{KV: kv})
	b, _ := newRegistry(t, Options{KV: kv})
	var wg sync.WaitGroup
	out := make([]Entry, 40)
	for i := range out {
		reg := a
		if i%2 == 1 {
			reg = b
		}
		wg.Go(func() {
			e, err := reg.Allocate(ctx, "shared", PurposeRevocation)
			if err != nil {
				t.Error(err)
			}
			out[i] = e
		})
	}
	wg.Wait()
	seen := map[int]bool{}
	for _, e := range out {
		if e.ListID != out[0].ListID || seen[e.Index] {
			t.Fatalf("entry %+v (first list %s)", e, out[0].ListID)
		}
		seen[e.Index] = true
	}
}

func TestCredentialAndServe(t *testing.T) {
	var signs atomic.Int32
	signer := func(_ context.Context, doc map[string]any) ([]byte, error) {
		signs.Add(1)
		doc["proof"] = map[string]any{"type": "DataIntegrityProof", "cryptosuite": "test"}
		return json.Marshal(doc)
	}
	r, clk := newRegistry(t, Options{Signer: signer, TTL: time.Minute, Validity: time.Hour,
		IssuerID: func(_ context.Context, issuer string) (string, error) { return "did:example:" + issuer, nil }})
	e, _ := r.Allocate(ctx, "ent1", PurposeRevocation)

	doc, err := r.Credential(ctx, e.ListID)
	if err != nil {
		t.Fatal(err)
	}
	subj := doc["credentialSubject"].(map[string]any)
	if doc["id"] != e.ListURL || doc["issuer"] != "did:example:ent1" ||
		!slices.Equal(doc["type"].([]any), []any{"VerifiableCredential", "BitstringStatusListCredential"}) ||
		subj["type"] != "BitstringStatusList" || subj["statusPurpose"] != "revocation" ||
		subj["ttl"] != int64(60000) || doc["validFrom"] != "2026-03-01T12:00:00Z" ||
		doc["validUntil"] != "2026-03-01T13:00:00Z" {
		t.Fatalf("credential %v", doc)
	}

	body, etag, maxAge, err := r.ServeBytes(ctx, e.ListID)
	if err != nil {
		t.Fatal(err)
	}
	if maxAge != time.Minute || !strings.HasPrefix(etag, `"`) || !bytes.Contains(body, []byte("DataIntegrityProof")) {
		t.Fatalf("maxAge %v etag %s body %s", maxAge, etag, body)
	}
	// Served again without re-signing, also after the recheck interval
	// and after allocations (which do not change any status).
	for range 3 {
		r.Allocate(ctx, "ent1", PurposeRevocation)
		clk.Add(2 * time.Second)
		b2, etag2, _, err := r.ServeBytes(ctx, e.ListID)
		if err != nil || etag2 != etag || !bytes.Equal(b2, body) {
			t.Fatalf("re-served a different body (%v)", err)
		}
	}
	if signs.Load() != 1 {
		t.Fatalf("signed %d times, want 1", signs.Load())
	}
	// A status change is served at once, signed once more.
	if err := r.Set(ctx, e.ListID, e.Index, PurposeRevocation, true); err != nil {
		t.Fatal(err)
	}
	b3, etag3, _, _ := r.ServeBytes(ctx, e.ListID)
	if etag3 == etag || signs.Load() != 2 {
		t.Fatalf("after revoke: etag %s (was %s), %d signatures", etag3, etag, signs.Load())
	}
	chk := NewChecker(CheckerOptions{Now: clk.Now})
	st, err := chk.Check(ctx, e.CredentialStatus(), func(context.Context, string) ([]byte, error) { return b3, nil })
	if err != nil || !st.Set || st.Purpose != PurposeRevocation {
		t.Fatalf("check after revoke: %+v %v", st, err)
	}
	// max-age never outlives validUntil; past half the validity the list
	// is re-signed.
	clk.Add(25 * time.Minute)
	_, _, maxAge, _ = r.ServeBytes(ctx, e.ListID)
	if signs.Load() != 2 || maxAge != time.Minute {
		t.Fatalf("before refresh: %d signatures, max-age %v", signs.Load(), maxAge)
	}
	clk.Add(10 * time.Minute)
	if _, _, _, err := r.ServeBytes(ctx, e.ListID); err != nil || signs.Load() != 3 {
		t.Fatalf("after half the validity: %d signatures, %v", signs.Load(), err)
	}
	if _, _, _, err := r.ServeBytes(ctx, "missing"); !errors.Is(err, ErrListNotFound) {
		t.Fatalf("missing list: %v", err)
	}
}

func TestServeSeesOtherWriter(t *testing.T) {
	// A change made by another gateway on the same store is served once
	// the recheck interval has passed.
	kv := newKV(t)
	a, clk := newRegistry(t, Options{KV: kv})
	b, _ := newRegistry(t, Options{KV: kv})
	e, _ := a.Allocate(ctx, "ent1", PurposeSuspension)
	_, etag1, _, _ := a.ServeBytes(ctx, e.ListID)
	if err := b.Set(ctx, e.ListID, e.Index, PurposeSuspension, true); err != nil {
		t.Fatal(err)
	}
	if _, etag, _, _ := a.ServeBytes(ctx, e.ListID); etag != etag1 {
		t.Fatal("expected the cached body within the recheck interval")
	}
	clk.Add(2 * time.Second)
	if _, etag, _, _ := a.ServeBytes(ctx, e.ListID); etag == etag1 {
		t.Fatal("the other gateway's change is not served after the recheck interval")
	}
}

func BenchmarkAllocate(b *testing.B) {
	r, _ := newRegistry(b, Options{})
	for b.Loop() {
		if _, err := r.Allocate(ctx, "ent1", PurposeRevocation); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSet(b *testing.B) {
	r, _ := newRegistry(b, Options{})
	e, _ := r.Allocate(ctx, "ent1", PurposeSuspension)
	v := false
	for b.Loop() {
		v = !v
		if err := r.Set(ctx, e.ListID, e.Index, PurposeSuspension, v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkServeBytesCached(b *testing.B) {
	r, _ := newRegistry(b, Options{})
	e, _ := r.Allocate(ctx, "ent1", PurposeSuspension)
	r.ServeBytes(ctx, e.ListID)
	for b.Loop() {
		if _, _, _, err := r.ServeBytes(ctx, e.ListID); err != nil {
			b.Fatal(err)
		}
	}
}
