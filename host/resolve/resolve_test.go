package resolve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ubeu/gateway/host/did"
)

// fakeMethod is a method resolver with a settable answer per DID.
type fakeMethod struct {
	mu      sync.Mutex
	docs    map[string]*did.Resolution
	errs    map[string]error
	calls   atomic.Int64
	gate    chan struct{} // if set, Resolve waits for it
	lastOpt did.ResolveOptions
}

func newFakeMethod() *fakeMethod {
	return &fakeMethod{docs: map[string]*did.Resolution{}, errs: map[string]error{}}
}

func (f *fakeMethod) set(id, marker string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.docs[id] = &did.Resolution{
		Document: &did.Document{
			Context: did.StringList{did.ContextDIDv1},
			ID:      id,
			Service: []did.Service{{ID: id + "#s", Type: "Marker", ServiceEndpoint: marker}},
		},
		DocumentMetadata: did.Metadata{Created: time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)},
	}
}

func (f *fakeMethod) Resolve(ctx context.Context, id string, opts did.ResolveOptions) (*did.Resolution, error) {
	f.calls.Add(1)
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastOpt = opts
	if err := f.errs[id]; err != nil {
		return nil, err
	}
	if r := f.docs[id]; r != nil {
		cp := *r
		return &cp, nil
	}
	return nil, did.Errorf(did.CodeNotFound, "no such DID")
}

// memStore is a store.Cache in memory; expiry is left to the resolver.
type memStore struct {
	mu   sync.Mutex
	m    map[string][]byte
	gets atomic.Int64
}

func newMemStore() *memStore { return &memStore{m: map[string][]byte{}} }

func (s *memStore) Get(_ context.Context, key string) ([]byte, bool, error) {
	s.gets.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	return v, ok, nil
}

func (s *memStore) Set(_ context.Context, key string, value []byte, _ time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = append([]byte(nil), value...)
	return nil
}

func (s *memStore) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

// clock is an injectable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	r     *Resolver
	key   *fakeMethod
	web   *fakeMethod
	store *memStore
	clock *clock
	names *fakeNames
	reg   *prometheus.Registry
}

func newFixture(t testing.TB, cfg CacheConfig) *fixture {
	f := &fixture{key: newFakeMethod(), web: newFakeMethod(), store: newMemStore(), clock: newClock(), names: &fakeNames{m: map[string]string{}}}
	if cfg.Store == nil {
		cfg.Store = f.store
	}
	f.r = f.open(t, cfg)
	return f
}

// open starts a resolver (a "gateway process") over the fixture's methods,
// store and clock.
func (f *fixture) open(t testing.TB, cfg CacheConfig) *Resolver {
	f.reg = prometheus.NewRegistry()
	r := New(Options{
		Methods:    map[string]MethodResolver{"key": f.key, "web": f.web},
		Names:      map[string]NameResolver{"iam": f.names},
		Cache:      cfg,
		Registerer: f.reg,
		Now:        f.clock.Now,
	})
	t.Cleanup(r.Close)
	return r
}

// settle waits for the memory tier's buffered writes and the background
// refreshes.
func settle(r *Resolver) {
	r.wg.Wait()
	if r.hot != nil {
		r.hot.Wait()
	}
}

func mustResolve(t testing.TB, r *Resolver, input string, opts ResolveOptions) *Result {
	t.Helper()
	res, err := r.Resolve(context.Background(), input, opts)
	if err != nil {
		t.Fatalf("Resolve(%q): %v", input, err)
	}
	settle(r)
	return res
}

// marker returns the service endpoint the fake put in the document.
func marker(t testing.TB, res *Result) string {
	t.Helper()
	var doc struct {
		Service []struct{ ServiceEndpoint string } `json:"service"`
	}
	if err := json.Unmarshal(res.Document, &doc); err != nil || len(doc.Service) == 0 {
		t.Fatalf("document %s: %v", res.Document, err)
	}
	return doc.Service[0].ServiceEndpoint
}

const keyDID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
const webDID = "did:web:example.com"

func TestHitMissAndTiers(t *testing.T) {
	f := newFixture(t, CacheConfig{})
	f.key.set(keyDID, "v1")

	res := mustResolve(t, f.r, keyDID, ResolveOptions{})
	if res.Cache != "" || res.HTTPStatus() != 200 || marker(t, res) != "v1" {
		t.Fatalf("first resolution: cache %q status %d", res.Cache, res.HTTPStatus())
	}
	res = mustResolve(t, f.r, keyDID, ResolveOptions{})
	if res.Cache != "memory" {
		t.Fatalf("second resolution came from %q, want memory", res.Cache)
	}
	if n := f.key.calls.Load(); n != 1 {
		t.Fatalf("upstream calls = %d, want 1", n)
	}

	// A restarted gateway: new memory tier over the same store.
	r2 := f.open(t, CacheConfig{Store: f.store})
	res = mustResolve(t, r2, keyDID, ResolveOptions{})
	if res.Cache != "store" || marker(t, res) != "v1" {
		t.Fatalf("after restart: from %q, want store", res.Cache)
	}
	if string(res.Body) == "" || res.MediaType != MediaTypeResolution {
		t.Fatalf("store hit: body %q media type %q", res.Body, res.MediaType)
	}
	res = mustResolve(t, r2, keyDID, ResolveOptions{})
	if res.Cache != "memory" {
		t.Fatalf("after store hit: from %q, want memory (promoted)", res.Cache)
	}
	if n := f.key.calls.Load(); n != 1 {
		t.Fatalf("upstream calls = %d, want 1", n)
	}
	if got := counterValue(r2.m.store[hit]); got != 1 {
		t.Fatalf("store hits = %v, want 1", got)
	}

	// Each representation is cached apart; the bytes differ.
	doc := mustResolve(t, r2, keyDID, ResolveOptions{Accept: MediaTypeDIDJSON})
	if doc.MediaType != MediaTypeDIDJSON || strings.Contains(string(doc.Body), "@context") {
		t.Fatalf("did+json: %s %s", doc.MediaType, doc.Body)
	}
}

func TestBodyIsServedWithoutReencoding(t *testing.T) {
	f := newFixture(t, CacheConfig{})
	f.key.set(keyDID, "v1")
	a := mustResolve(t, f.r, keyDID, ResolveOptions{})
	b := mustResolve(t, f.r, keyDID, ResolveOptions{})
	if &a.Body[0] != &b.Body[0] {
		t.Fatal("a memory hit re-encoded the body")
	}
	enc, err := Encode(b, MediaTypeResolution)
	if err != nil || &enc[0] != &b.Body[0] {
		t.Fatalf("Encode of a resolved result did not return its body: %v", err)
	}
}

func TestInvalidate(t *testing.T) {
	f := newFixture(t, CacheConfig{})
	f.key.set(keyDID, "v1")
	mustResolve(t, f.r, keyDID, ResolveOptions{})
	mustResolve(t, f.r, keyDID, ResolveOptions{Accept: MediaTypeDIDLDJSON})
	mustResolve(t, f.r, keyDID, ResolveOptions{VersionID: "1"})

	f.key.set(keyDID, "v2")
	if err := f.r.Invalidate(context.Background(), keyDID); err != nil {
		t.Fatal(err)
	}
	settle(f.r)
	calls := f.key.calls.Load()
	for _, opts := range []ResolveOptions{{}, {Accept: MediaTypeDIDLDJSON}, {VersionID: "1"}} {
		res := mustResolve(t, f.r, keyDID, opts)
		if res.Cache != "" {
			t.Errorf("%+v after Invalidate: from %q, want upstream", opts, res.Cache)
		}
	}
	if got := f.key.calls.Load() - calls; got != 3 {
		t.Fatalf("upstream calls after Invalidate = %d, want 3", got)
	}
	res := mustResolve(t, f.r, keyDID, ResolveOptions{})
	if res.Cache != "memory" || marker(t, res) != "v2" {
		t.Fatalf("after refill: from %q marker %q", res.Cache, marker(t, res))
	}

	// A restarted gateway must not serve pre-invalidation entries from the
	// store: invalidate again, then restart.
	f.key.set(keyDID, "v3")
	if err := f.r.Invalidate(context.Background(), keyDID); err != nil {
		t.Fatal(err)
	}
	r2 := f.open(t, CacheConfig{Store: f.store})
	res = mustResolve(t, r2, keyDID, ResolveOptions{})
	if res.Cache != "" || marker(t, res) != "v3" {
		t.Fatalf("restart after Invalidate: from %q marker %q", res.Cache, marker(t, res))
	}
	// The unversioned entries of the old generation were deleted.
	for k := range f.store.m {
		if strings.HasSuffix(k, "|"+keyDID+"||") {
			// present entries must be of the current generation
			gen := r2.generation(context.Background(), keyDID)
			if !strings.Contains(k, fmt.Sprintf("|%x|", gen)) {
				t.Errorf("store still holds %q", k)
			}
		}
	}
}

func TestInvalidateDuringFetchIsNotUndone(t *testing.T) {
	f := newFixture(t, CacheConfig{})
	f.key.set(keyDID, "v1")
	f.key.gate = make(chan struct{})
	done := make(chan *Result)
	go func() {
		res, _ := f.r.Resolve(context.Background(), keyDID, ResolveOptions{})
		done <- res
	}()
	for f.key.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	// The DID changes while the old document is being fetched.
	if err := f.r.Invalidate(context.Background(), keyDID); err != nil {
		t.Fatal(err)
	}
	close(f.key.gate)
	<-done
	settle(f.r)
	f.key.set(keyDID, "v2")
	res := mustResolve(t, f.r, keyDID, ResolveOptions{})
	if res.Cache != "" || marker(t, res) != "v2" {
		t.Fatalf("a fetch begun before Invalidate was cached: from %q marker %q", res.Cache, marker(t, res))
	}
}

func TestTTLExpiry(t *testing.T) {
	f := newFixture(t, CacheConfig{TTL: map[string]time.Duration{"key": time.Minute}})
	f.key.set(keyDID, "v1")
	mustResolve(t, f.r, keyDID, ResolveOptions{})
	f.clock.Advance(59 * time.Second)
	if res := mustResolve(t, f.r, keyDID, ResolveOptions{}); res.Cache != "memory" {
		t.Fatalf("before expiry: from %q", res.Cache)
	}
	f.clock.Advance(2 * time.Second)
	f.key.set(keyDID, "v2")
	res := mustResolve(t, f.r, keyDID, ResolveOptions{})
	if res.Cache != "" || marker(t, res) != "v2" {
		t.Fatalf("after expiry: from %q marker %q", res.Cache, marker(t, res))
	}
	if n := f.key.calls.Load(); n != 2 {
		t.Fatalf("upstream calls = %d, want 2", n)
	}
}

func TestStaleWhileRevalidate(t *testing.T) {
	f := newFixture(t, CacheConfig{
		TTL:        map[string]time.Duration{"web": time.Minute},
		StaleGrace: map[string]time.Duration{"web": 10 * time.Minute},
	})
	f.web.set(webDID, "v1")
	mustResolve(t, f.r, webDID, ResolveOptions{})
	f.clock.Advance(2 * time.Minute)
	f.web.set(webDID, "v2")
	f.web.gate = make(chan struct{})

	// Many requests while stale: all served the stale entry at once, one
	// refresh upstream.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			res, err := f.r.Resolve(context.Background(), webDID, ResolveOptions{})
			if err != nil || res.Cache != "stale" || marker(t, res) != "v1" {
				t.Errorf("stale request: from %q err %v", res.Cache, err)
			}
		})
	}
	wg.Wait()
	close(f.web.gate)
	settle(f.r)
	if n := f.web.calls.Load(); n != 2 {
		t.Fatalf("upstream calls = %d, want 2 (fill and one refresh)", n)
	}
	res := mustResolve(t, f.r, webDID, ResolveOptions{})
	if res.Cache != "memory" || marker(t, res) != "v2" {
		t.Fatalf("after refresh: from %q marker %q", res.Cache, marker(t, res))
	}

	// Past the grace window the entry is not served.
	f.clock.Advance(12 * time.Minute)
	f.web.set(webDID, "v3")
	if res := mustResolve(t, f.r, webDID, ResolveOptions{}); res.Cache != "" || marker(t, res) != "v3" {
		t.Fatalf("past grace: from %q", res.Cache)
	}

	// did:key has no grace: an expired entry is a miss.
	f.key.set(keyDID, "k1")
	mustResolve(t, f.r, keyDID, ResolveOptions{})
	f.clock.Advance(25 * time.Hour)
	if res := mustResolve(t, f.r, keyDID, ResolveOptions{}); res.Cache != "" {
		t.Fatalf("did:key past TTL: from %q, want upstream", res.Cache)
	}
}

func TestStaleKeptWhenRefreshFails(t *testing.T) {
	f := newFixture(t, CacheConfig{
		TTL:        map[string]time.Duration{"web": time.Minute},
		StaleGrace: map[string]time.Duration{"web": 10 * time.Minute},
	})
	f.web.set(webDID, "v1")
	mustResolve(t, f.r, webDID, ResolveOptions{})
	f.clock.Advance(2 * time.Minute)
	f.web.errs[webDID] = errors.New("connection refused")
	for range 2 {
		res := mustResolve(t, f.r, webDID, ResolveOptions{})
		if res.Cache != "stale" || marker(t, res) != "v1" {
			t.Fatalf("refresh failure replaced the stale entry: from %q err %q", res.Cache, res.ResolutionMetadata.Error)
		}
	}
}

func TestNegativeCaching(t *testing.T) {
	f := newFixture(t, CacheConfig{NegativeTTL: 30 * time.Second})
	missing := "did:key:z6MkmissingXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
	for range 3 {
		res, err := f.r.Resolve(context.Background(), missing, ResolveOptions{})
		if did.Code(err) != CodeNotFound || res.HTTPStatus() != http.StatusNotFound {
			t.Fatalf("missing DID: %v status %d", err, res.HTTPStatus())
		}
		settle(f.r)
	}
	if n := f.key.calls.Load(); n != 1 {
		t.Fatalf("notFound not cached: %d upstream calls", n)
	}
	f.clock.Advance(31 * time.Second)
	mustFail(t, f.r, missing, CodeNotFound)
	if n := f.key.calls.Load(); n != 2 {
		t.Fatalf("negative entry outlived NegativeTTL: %d calls", n)
	}

	// invalidDid from the method is cached too.
	bad := "did:key:notmultibase"
	f.key.errs[bad] = did.Errorf(did.CodeInvalidDID, "not a multibase key")
	mustFail(t, f.r, bad, CodeInvalidDID)
	mustFail(t, f.r, bad, CodeInvalidDID)
	if n := f.key.calls.Load(); n != 3 {
		t.Fatalf("invalidDid not cached: %d calls", n)
	}

	// Internal errors and unavailability are never cached.
	for _, err := range []error{errors.New("boom"), did.Errorf(did.CodeUnavailable, "mirror node down")} {
		f.web.errs[webDID] = err
		before := f.web.calls.Load()
		for range 3 {
			mustFail(t, f.r, webDID, did.Code(err))
		}
		if n := f.web.calls.Load() - before; n != 3 {
			t.Fatalf("%v cached: %d calls for 3 requests", err, n)
		}
	}
}

func mustFail(t testing.TB, r *Resolver, input, code string) *Result {
	t.Helper()
	res, err := r.Resolve(context.Background(), input, ResolveOptions{})
	settle(r)
	if did.Code(err) != code || res.ResolutionMetadata.Error != code {
		t.Fatalf("Resolve(%q): err %v, metadata error %q, want %s", input, err, res.ResolutionMetadata.Error, code)
	}
	return res
}

func TestCoalescing(t *testing.T) {
	f := newFixture(t, CacheConfig{})
	f.web.set(webDID, "v1")
	f.web.gate = make(chan struct{})
	const n = 100
	var wg sync.WaitGroup
	results := make(chan *Result, n)
	for range n {
		wg.Go(func() {
			res, err := f.r.Resolve(context.Background(), webDID, ResolveOptions{})
			if err != nil {
				t.Error(err)
			}
			results <- res
		})
	}
	// Wait until every request has missed the memory tier, then let the
	// single fetch finish.
	deadline := time.Now().Add(5 * time.Second)
	for counterValue(f.r.m.memory[miss]) < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	close(f.web.gate)
	wg.Wait()
	close(results)
	for res := range results {
		if marker(t, res) != "v1" {
			t.Fatal("wrong document")
		}
	}
	if got := f.web.calls.Load(); got != 1 {
		t.Fatalf("%d concurrent misses made %d upstream calls, want 1", n, got)
	}
	if got := f.store.gets.Load(); got > 3 { // the generation and one entry read
		t.Fatalf("%d store reads for one key", got)
	}
}

func TestCoalescingAcrossRepresentations(t *testing.T) {
	f := newFixture(t, CacheConfig{})
	f.web.set(webDID, "v1")
	f.web.gate = make(chan struct{})
	var wg sync.WaitGroup
	for _, accept := range []string{MediaTypeResolution, MediaTypeDIDJSON, MediaTypeDIDLDJSON, MediaTypeDID} {
		wg.Go(func() {
			res, err := f.r.Resolve(context.Background(), webDID, ResolveOptions{Accept: accept})
			if err != nil || res.MediaType != accept {
				t.Errorf("%s: %v %s", accept, err, res.MediaType)
			}
		})
	}
	for counterValue(f.r.m.memory[miss]) < 4 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	close(f.web.gate)
	wg.Wait()
	if got := f.web.calls.Load(); got != 1 {
		t.Fatalf("4 representations made %d upstream calls, want 1", got)
	}
}

func TestCallerCancelDoesNotFailOthers(t *testing.T) {
	f := newFixture(t, CacheConfig{})
	f.web.set(webDID, "v1")
	f.web.gate = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := f.r.Resolve(ctx, webDID, ResolveOptions{})
		errc <- err
	}()
	for f.web.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-errc; did.Code(err) != CodeInternalError {
		t.Fatalf("cancelled caller: %v", err)
	}
	close(f.web.gate)
	res := mustResolve(t, f.r, webDID, ResolveOptions{})
	if marker(t, res) != "v1" || f.web.calls.Load() != 1 {
		t.Fatalf("the fetch did not complete for others: %d calls", f.web.calls.Load())
	}
}

func TestFetchDeadline(t *testing.T) {
	f := newFixture(t, CacheConfig{FetchTimeout: 20 * time.Millisecond})
	f.web.set(webDID, "v1")
	f.web.gate = make(chan struct{}) // never opened
	start := time.Now()
	res := mustFail(t, f.r, webDID, CodeInternalError)
	if time.Since(start) > 2*time.Second {
		t.Fatal("fetch deadline not applied")
	}
	if !strings.Contains(res.ResolutionMetadata.ErrorMessage, "in time") {
		t.Fatalf("message %q", res.ResolutionMetadata.ErrorMessage)
	}
}

func TestErrorStatuses(t *testing.T) {
	f := newFixture(t, CacheConfig{})
	deact := "did:key:z6Mkdeactivated"
	f.key.set(deact, "v1")
	f.key.docs[deact].DocumentMetadata.Deactivated = true
	f.key.errs["did:key:zpanic"] = did.Errorf(did.CodeInternalError, "x")
	tests := []struct {
		input, accept string
		status        int
		code          string
	}{
		{keyDID, "", 404, CodeNotFound},
		{"not a did", "", 400, CodeInvalidDID},
		{"did:KEY:abc", "", 400, CodeInvalidDID},
		{"did:key:abc#frag", "", 400, CodeInvalidDID},
		{"did:key:", "", 400, CodeInvalidDID},
		{"did:example:123", "", 501, CodeMethodNotSupported},
		{keyDID, "text/html", 406, CodeRepresentationNotSupported},
		{"did:key:zpanic", "", 500, CodeInternalError},
		{"bob.unknowntld", "", 501, CodeMethodNotSupported},
		{"bad..name", "", 400, CodeInvalidDID},
	}
	for _, tt := range tests {
		res, err := f.r.Resolve(context.Background(), tt.input, ResolveOptions{Accept: tt.accept})
		if res.HTTPStatus() != tt.status || did.Code(err) != tt.code {
			t.Errorf("%q: status %d err %v, want %d %s", tt.input, res.HTTPStatus(), err, tt.status, tt.code)
		}
		var body map[string]any
		if json.Unmarshal(res.Body, &body) != nil || res.MediaType != MediaTypeResolution {
			t.Errorf("%q: error body %s (%s)", tt.input, res.Body, res.MediaType)
		}
		// The error is an RFC 9457 problem of the W3C DID namespace.
		md, _ := body["didResolutionMetadata"].(map[string]any)
		pd, _ := md["error"].(map[string]any)
		if pd["type"] != TypeURI(tt.code) || pd["code"] != tt.code || pd["title"] == "" || body["didDocument"] != nil {
			t.Errorf("%q: body %s", tt.input, res.Body)
		}
	}

	// Deactivated: 410 with the document metadata, not an error.
	for _, accept := range []string{"", MediaTypeDIDJSON} {
		res, err := f.r.Resolve(context.Background(), deact, ResolveOptions{Accept: accept})
		if err != nil || res.HTTPStatus() != http.StatusGone || !res.DocumentMetadata.Deactivated {
			t.Fatalf("deactivated (%q): %v status %d", accept, err, res.HTTPStatus())
		}
		if accept == "" && (!strings.Contains(string(res.Body), `"deactivated":true`) ||
			!strings.Contains(string(res.Body), `"type":"https://www.w3.org/ns/did#DEACTIVATED"`)) {
			t.Fatalf("deactivated body %s", res.Body)
		}
	}

	// Invalid options.
	res, err := f.r.Resolve(context.Background(), keyDID, ResolveOptions{VersionTime: "yesterday"})
	if did.Code(err) != CodeInvalidOptions || res.HTTPStatus() != 400 {
		t.Fatalf("bad versionTime: %v %d", err, res.HTTPStatus())
	}
	if StatusForCode(CodeUnavailable) != 500 || StatusForCode("somethingElse") != 500 || StatusForCode(CodeInvalidDIDDocument) != 500 {
		t.Fatal("other codes must be 500 (DID Resolution §12.1)")
	}
}

func TestResolutionMetadataJSON(t *testing.T) {
	for _, code := range []string{CodeInvalidDID, CodeNotFound, CodeUnavailable, CodeUnsupportedNetwork, CodeDeactivated} {
		in := ResolutionMetadata{Duration: 3, Error: code, ErrorMessage: "why"}
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			Error Problem `json:"error"`
		}
		if err := json.Unmarshal(b, &p); err != nil || !strings.HasPrefix(p.Error.Type, "https://www.w3.org/ns/did#") || p.Error.Detail != "why" {
			t.Fatalf("%s: %s", code, b)
		}
		var out ResolutionMetadata
		if err := json.Unmarshal(b, &out); err != nil || out != in {
			t.Fatalf("%s: round trip %+v from %s (%v)", code, out, b, err)
		}
	}
	// The older keyword form, and a problem with a type only.
	var m ResolutionMetadata
	if err := json.Unmarshal([]byte(`{"duration":1,"error":"notFound","errorMessage":"gone"}`), &m); err != nil || m.Error != CodeNotFound || m.ErrorMessage != "gone" {
		t.Fatalf("keyword form: %+v %v", m, err)
	}
	if err := json.Unmarshal([]byte(`{"error":{"type":"https://www.w3.org/ns/did#INVALID_DID"}}`), &m); err != nil || m.Error != CodeInvalidDID {
		t.Fatalf("type only: %+v %v", m, err)
	}
	if err := json.Unmarshal([]byte(`{"error":{"type":"urn:x"}}`), &m); err != nil || m.Error != CodeInternalError {
		t.Fatalf("unknown type: %+v %v", m, err)
	}
	if b, _ := json.Marshal(ResolutionMetadata{ContentType: MediaTypeDIDLDJSON}); strings.Contains(string(b), "error") {
		t.Fatalf("success carries an error: %s", b)
	}
}

func TestMethodPanicAndWrongDocument(t *testing.T) {
	f := newFixture(t, CacheConfig{})
	r := New(Options{Methods: map[string]MethodResolver{"web": panicky{}, "key": f.key}})
	defer r.Close()
	mustFail(t, r, webDID, CodeInternalError)

	// A method answering with another DID's document is refused.
	f.key.set(keyDID, "v1")
	f.key.docs["did:key:zother"] = f.key.docs[keyDID]
	res := mustFail(t, r, "did:key:zother", CodeInvalidDIDDocument)
	if res.HTTPStatus() != 500 {
		t.Fatalf("status %d", res.HTTPStatus())
	}
}

type panicky struct{}

func (panicky) Resolve(context.Context, string, did.ResolveOptions) (*did.Resolution, error) {
	panic("method bug")
}

func TestVersionedResolution(t *testing.T) {
	f := newFixture(t, CacheConfig{})
	f.key.set(keyDID, "v1")
	mustResolve(t, f.r, keyDID, ResolveOptions{VersionID: "7", VersionTime: "2026-01-02T03:04:05.123+02:00"})
	f.key.mu.Lock()
	opt := f.key.lastOpt
	f.key.mu.Unlock()
	if opt.VersionID != "7" || opt.VersionTime == nil || !opt.VersionTime.Equal(time.Date(2026, 1, 2, 1, 4, 5, 0, time.UTC)) {
		t.Fatalf("method got %+v", opt)
	}
	// The same instant written another way is the same cache entry.
	res := mustResolve(t, f.r, keyDID, ResolveOptions{VersionID: "7", VersionTime: "2026-01-02T01:04:05Z"})
	if res.Cache != "memory" {
		t.Fatalf("normalised versionTime missed: %q", res.Cache)
	}
	// Another version is another entry.
	if res := mustResolve(t, f.r, keyDID, ResolveOptions{VersionID: "8"}); res.Cache != "" {
		t.Fatalf("versionId 8 came from %q", res.Cache)
	}
	if res := mustResolve(t, f.r, keyDID, ResolveOptions{}); res.Cache != "" {
		t.Fatalf("unversioned came from %q", res.Cache)
	}
	if n := f.key.calls.Load(); n != 3 {
		t.Fatalf("calls %d", n)
	}
}

func TestNoCache(t *testing.T) {
	f := newFixture(t, CacheConfig{})
	f.key.set(keyDID, "v1")
	mustResolve(t, f.r, keyDID, ResolveOptions{})
	f.key.set(keyDID, "v2")
	res := mustResolve(t, f.r, keyDID, ResolveOptions{NoCache: true})
	if res.Cache != "" || marker(t, res) != "v2" {
		t.Fatalf("NoCache: from %q", res.Cache)
	}
	if res := mustResolve(t, f.r, keyDID, ResolveOptions{}); res.Cache != "memory" || marker(t, res) != "v2" {
		t.Fatalf("NoCache result did not refill the cache: %q", res.Cache)
	}
}

func TestCacheDisabled(t *testing.T) {
	f := newFixture(t, CacheConfig{Disabled: true})
	f.key.set(keyDID, "v1")
	for range 2 {
		if res := mustResolve(t, f.r, keyDID, ResolveOptions{}); res.Cache != "" {
			t.Fatalf("disabled cache served from %q", res.Cache)
		}
	}
	if f.key.calls.Load() != 2 || len(f.store.m) != 0 {
		t.Fatalf("calls %d, store %d", f.key.calls.Load(), len(f.store.m))
	}
	if err := f.r.Invalidate(context.Background(), keyDID); err != nil {
		t.Fatal(err)
	}
}

type fakeNames struct {
	mu    sync.Mutex
	m     map[string]string
	calls atomic.Int64
}

func (n *fakeNames) ResolveName(_ context.Context, name string) (string, error) {
	n.calls.Add(1)
	n.mu.Lock()
	defer n.mu.Unlock()
	if id, ok := n.m[name]; ok {
		return id, nil
	}
	return "", did.Errorf(did.CodeNotFound, "name %s is not registered", name)
}

func TestNames(t *testing.T) {
	f := newFixture(t, CacheConfig{})
	f.key.set(keyDID, "v1")
	f.names.m["alice.iam"] = keyDID

	res := mustResolve(t, f.r, "Alice.IAM", ResolveOptions{})
	if marker(t, res) != "v1" || f.names.calls.Load() != 1 {
		t.Fatalf("name: %s", res.Body)
	}
	res = mustResolve(t, f.r, "alice.iam", ResolveOptions{})
	if res.Cache != "memory" || f.names.calls.Load() != 1 || f.key.calls.Load() != 1 {
		t.Fatalf("cached name: from %q, name calls %d", res.Cache, f.names.calls.Load())
	}
	// The document behind a name is the DID's entry: invalidating the DID
	// reaches it.
	f.key.set(keyDID, "v2")
	if err := f.r.Invalidate(context.Background(), keyDID); err != nil {
		t.Fatal(err)
	}
	if res := mustResolve(t, f.r, "alice.iam", ResolveOptions{}); marker(t, res) != "v2" {
		t.Fatal("name served a document from before the DID's invalidation")
	}
	// Re-pointing a name.
	f.web.set(webDID, "w1")
	f.names.m["alice.iam"] = webDID
	if err := f.r.InvalidateName(context.Background(), "alice.iam"); err != nil {
		t.Fatal(err)
	}
	if res := mustResolve(t, f.r, "alice.iam", ResolveOptions{}); marker(t, res) != "w1" {
		t.Fatal("InvalidateName did not take effect")
	}
	// The name mapping expires after the names TTL (60s by default).
	f.names.m["alice.iam"] = keyDID
	f.clock.Advance(30 * time.Second)
	if res := mustResolve(t, f.r, "alice.iam", ResolveOptions{}); marker(t, res) != "w1" {
		t.Fatal("name mapping expired early")
	}
	f.clock.Advance(31 * time.Second)
	calls := f.names.calls.Load()
	if res := mustResolve(t, f.r, "alice.iam", ResolveOptions{}); marker(t, res) != "w1" {
		t.Fatal("expired name within grace was not served stale")
	}
	if f.names.calls.Load() != calls+1 {
		t.Fatal("stale name was not refreshed in the background")
	}
	if res := mustResolve(t, f.r, "alice.iam", ResolveOptions{}); marker(t, res) != "v2" {
		t.Fatal("name mapping was not refreshed")
	}

	// Unknown names: notFound (404), cached briefly.
	before := f.names.calls.Load()
	mustFail(t, f.r, "nobody.iam", CodeNotFound)
	mustFail(t, f.r, "nobody.iam", CodeNotFound)
	if f.names.calls.Load()-before != 1 {
		t.Fatal("unknown name not negatively cached")
	}
	// A name with an unserved TLD.
	mustFail(t, f.r, "vitalik.eth", CodeMethodNotSupported)
	// Restart: the name mapping comes from the store.
	r2 := f.open(t, CacheConfig{Store: f.store})
	before = f.names.calls.Load()
	mustResolve(t, r2, "alice.iam", ResolveOptions{})
	if f.names.calls.Load() != before {
		t.Fatal("name mapping not served from the store after restart")
	}
}

func TestMetrics(t *testing.T) {
	f := newFixture(t, CacheConfig{})
	f.key.set(keyDID, "v1")
	mustResolve(t, f.r, keyDID, ResolveOptions{})
	mustResolve(t, f.r, keyDID, ResolveOptions{})
	mustFail(t, f.r, "did:nope:x", CodeMethodNotSupported)
	if got := counterValue(f.r.m.resolutions.WithLabelValues("key", "success")); got != 2 {
		t.Fatalf("key successes %v", got)
	}
	if got := counterValue(f.r.m.resolutions.WithLabelValues("other", CodeMethodNotSupported)); got != 1 {
		t.Fatalf("methodNotSupported %v", got)
	}
	if got := counterValue(f.r.m.cache.WithLabelValues("memory", "hit")); got != 1 {
		t.Fatalf("memory hits %v", got)
	}
	fams, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range fams {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"gatewayd_did_cache_requests_total", "gatewayd_did_resolutions_total", "gatewayd_did_resolution_duration_seconds"} {
		if !names[n] {
			t.Errorf("%s not registered", n)
		}
	}
	// A second resolver on the same registry shares the collectors.
	r2 := New(Options{Methods: map[string]MethodResolver{"key": f.key}, Registerer: f.reg})
	r2.Close()
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// TestUnicodeNames: names in other scripts and emoji reach their name
// resolver, lower-cased (ENSIP-15's finer rules are the resolver's); what
// no name may hold is refused as invalidDid before any resolver is asked.
func TestUnicodeNames(t *testing.T) {
	f := newFixture(t, CacheConfig{})
	f.key.set(keyDID, "v1")
	f.names.m["café.iam"] = keyDID
	f.names.m["🦊.iam"] = keyDID
	f.names.m["обмен.iam"] = keyDID
	for _, in := range []string{"café.iam", "CAFÉ.iam", "Café.IAM", "🦊.iam", "ОБМЕН.iam"} {
		if res := mustResolve(t, f.r, in, ResolveOptions{}); marker(t, res) != "v1" {
			t.Fatalf("%s: %s", in, res.Body)
		}
	}
	calls := f.names.calls.Load()
	for _, in := range []string{
		"caf\u200be.iam",       // zero-width space (format)
		"a\u00a0b.iam",         // no-break space
		"a\u0007b.iam",         // control
		"a b.iam",              // space
		"a/b.iam", "a%2fb.iam", // URL delimiters
		"alice.iäm",          // non-ASCII TLD
		"alice..iam", ".iam", // empty label
		"caf\xe9.iam",                     // not UTF-8 (Latin-1 é)
		strings.Repeat("é", 130) + ".iam", // 264 bytes
	} {
		mustFail(t, f.r, in, CodeInvalidDID)
	}
	if f.names.calls.Load() != calls {
		t.Fatal("a refused name reached the name resolver")
	}
}

// FuzzParseName: whatever the input, an accepted name is valid UTF-8 of at
// most maxNameBytes, accepted again unchanged, and its TLD is its last
// label, ASCII letters and digits.
func FuzzParseName(f *testing.F) {
	for _, s := range []string{"alice.eth", "Café.ETH", "🦊.eth", "a..b", "x", "a.b.c.d.iam", "caf\u200be.eth", "\xff.eth", "ß.eth", "İ.eth"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, tld, ok := parseName(s)
		if !ok {
			return
		}
		if !utf8.ValidString(name) || len(s) > maxNameBytes {
			t.Fatalf("%q -> %q", s, name)
		}
		if !strings.HasSuffix(name, "."+tld) || tld == "" {
			t.Fatalf("%q: tld %q of %q", s, tld, name)
		}
		for i := 0; i < len(tld); i++ {
			if c := tld[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
				t.Fatalf("%q: tld %q", s, tld)
			}
		}
		if n2, t2, ok2 := parseName(name); !ok2 || n2 != name || t2 != tld {
			t.Fatalf("%q -> %q, then %q %v", s, name, n2, ok2)
		}
	})
}
