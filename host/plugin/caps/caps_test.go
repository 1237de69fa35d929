package caps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/netguard"
	"github.com/ubeu/gateway/host/store"
)

// mapKV is a store.KV in a map (one namespace is enough here); usageDelay
// widens the window between a quota check and the write it admits, and
// every call fails while fail is set.
type mapKV struct {
	mu         sync.Mutex
	items      map[string]store.KVItem
	ver        uint64
	usageDelay time.Duration
	fail       atomic.Bool
}

var errStore = errors.New("disk on fire")

func newKV(*testing.T) *mapKV { return &mapKV{items: map[string]store.KVItem{}} }

func (k *mapKV) lock() error {
	k.mu.Lock()
	if k.fail.Load() {
		k.mu.Unlock()
		return errStore
	}
	return nil
}

func (k *mapKV) Get(_ context.Context, _, key string) ([]byte, uint64, error) {
	if err := k.lock(); err != nil {
		return nil, 0, err
	}
	defer k.mu.Unlock()
	it, ok := k.items[key]
	if !ok {
		return nil, 0, store.ErrNotFound
	}
	return it.Value, it.Version, nil
}

func (k *mapKV) Put(_ context.Context, _, key string, value []byte, cond store.KVCond) (uint64, error) {
	if err := k.lock(); err != nil {
		return 0, err
	}
	defer k.mu.Unlock()
	if it, ok := k.items[key]; (cond.Absent && ok) || (cond.Version != 0 && it.Version != cond.Version) {
		return 0, store.ErrConflict
	}
	k.ver++
	k.items[key] = store.KVItem{Key: key, Value: bytes.Clone(value), Version: k.ver}
	return k.ver, nil
}

func (k *mapKV) Delete(_ context.Context, _, key string, cond store.KVCond) error {
	if err := k.lock(); err != nil {
		return err
	}
	defer k.mu.Unlock()
	it, ok := k.items[key]
	switch {
	case !ok:
		return store.ErrNotFound
	case cond.Version != 0 && it.Version != cond.Version:
		return store.ErrConflict
	}
	delete(k.items, key)
	return nil
}

func (k *mapKV) List(_ context.Context, _, prefix, after string, limit int) ([]store.KVItem, error) {
	if err := k.lock(); err != nil {
		return nil, err
	}
	defer k.mu.Unlock()
	var out []store.KVItem
	for _, key := range slices.Sorted(maps.Keys(k.items)) {
		if strings.HasPrefix(key, prefix) && key > after && len(out) < limit {
			out = append(out, k.items[key])
		}
	}
	return out, nil
}

func (k *mapKV) Usage(context.Context, string) (int, int64, error) {
	if err := k.lock(); err != nil {
		return 0, 0, err
	}
	n, size := len(k.items), int64(0)
	for key, it := range k.items {
		size += int64(len(key) + len(it.Value))
	}
	k.mu.Unlock()
	time.Sleep(k.usageDelay)
	return n, size, nil
}

func wantCode(t *testing.T, what string, e *abiv1.Error, code abiv1.ErrorCode) {
	t.Helper()
	if e == nil || e.Code != code {
		t.Errorf("%s = %v, want %v", what, e, code)
	}
}

// TestKVQuotaConcurrentDirect drives the put capability from many
// goroutines, to stress the quota check.
func TestKVQuotaConcurrentDirect(t *testing.T) {
	kv := newKV(t)
	kv.usageDelay = 100 * time.Microsecond
	h := &Host{Plugin: "direct", KV: kv, KVQuota: Quota{MaxEntries: 1000, MaxBytes: 25 * 19}}
	var wg sync.WaitGroup
	var admitted atomic.Int64
	for g := range 32 {
		wg.Go(func() {
			for i := range 10 {
				res, e := h.KVPut(context.Background(), &abiv1.KVPutRequest{Key: fmt.Sprintf("key-%02d-%02d", g, i), Value: []byte("0123456789")}) // 19 bytes
				switch {
				case e == nil && !res.Conflict:
					admitted.Add(1)
				case e != nil && e.Code != abiv1.ErrorCodeRateLimited:
					t.Errorf("put: %v", e)
				}
			}
		})
	}
	wg.Wait()
	n, size, _ := kv.Usage(context.Background(), "direct")
	if size > 25*19 || n != 25 || admitted.Load() != 25 {
		t.Fatalf("%d entries, %d bytes, %d admitted; quota %d bytes = 25 entries", n, size, admitted.Load(), 25*19)
	}
}

func TestKV(t *testing.T) {
	ctx := context.Background()
	kv := newKV(t)
	var logs bytes.Buffer
	h := &Host{Plugin: "p", KV: kv, KVQuota: Quota{MaxEntries: 2}, HostLog: slog.New(slog.NewTextHandler(&logs, nil))}
	r, e := h.KVPut(ctx, &abiv1.KVPutRequest{Key: "a", Value: []byte("1")})
	if e != nil || r.Version == 0 || r.Conflict {
		t.Fatalf("put a = %+v, %v", r, e)
	}
	v1 := r.Version
	if r, e := h.KVPut(ctx, &abiv1.KVPutRequest{Key: "a", Value: []byte("2"), IfAbsent: true}); e != nil || !r.Conflict {
		t.Errorf("put if_absent of a present key = %+v, %v, want conflict", r, e)
	}
	if r, e := h.KVPut(ctx, &abiv1.KVPutRequest{Key: "a", Value: []byte("2"), IfVersion: v1 + 100}); e != nil || !r.Conflict {
		t.Errorf("put with a stale version = %+v, %v, want conflict", r, e)
	}
	if r, e := h.KVPut(ctx, &abiv1.KVPutRequest{Key: "a", Value: []byte("2"), IfVersion: v1}); e != nil || r.Conflict || r.Version == v1 {
		t.Errorf("put with the current version = %+v, %v", r, e)
	}
	_, e = h.KVPut(ctx, &abiv1.KVPutRequest{Key: "a", IfAbsent: true, IfVersion: 1})
	wantCode(t, "put if_absent and if_version", e, abiv1.ErrorCodeInvalidArgument)
	_, e = h.KVPut(ctx, &abiv1.KVPutRequest{Key: ""})
	wantCode(t, "put empty key", e, abiv1.ErrorCodeInvalidArgument)
	_, e = h.KVGet(ctx, &abiv1.KVGetRequest{Key: strings.Repeat("k", MaxKVKey+1)})
	wantCode(t, "get long key", e, abiv1.ErrorCodeInvalidArgument)
	_, e = h.KVPut(ctx, &abiv1.KVPutRequest{Key: "big", Value: make([]byte, MaxKVValue+1)})
	wantCode(t, "put big value", e, abiv1.ErrorCodeInvalidArgument)
	if e != nil && e.Details["limit"] != fmt.Sprint(MaxKVValue) {
		t.Errorf("limit = %q", e.Details["limit"])
	}
	if _, e := h.KVPut(ctx, &abiv1.KVPutRequest{Key: "b", Value: []byte("1")}); e != nil {
		t.Fatal(e)
	}
	_, e = h.KVPut(ctx, &abiv1.KVPutRequest{Key: "c", Value: []byte("1")})
	wantCode(t, "put over the quota", e, abiv1.ErrorCodeRateLimited)
	if e != nil && e.Details["reason"] != "quota" {
		t.Errorf("details = %v", e.Details)
	}
	if g, e := h.KVGet(ctx, &abiv1.KVGetRequest{Key: "a"}); e != nil || !g.Found || string(g.Value) != "2" {
		t.Errorf("get a = %+v, %v", g, e)
	}
	if g, e := h.KVGet(ctx, &abiv1.KVGetRequest{Key: "zz"}); e != nil || g.Found {
		t.Errorf("get missing = %+v, %v", g, e)
	}
	if l, e := h.KVList(ctx, &abiv1.KVListRequest{}); e != nil || len(l.Items) != 2 || l.Items[0].Key != "a" {
		t.Errorf("list = %+v, %v", l, e)
	}
	if d, e := h.KVDelete(ctx, &abiv1.KVDeleteRequest{Key: "b", IfVersion: 12345}); e != nil || !d.Conflict {
		t.Errorf("delete with a stale version = %+v, %v", d, e)
	}
	if d, e := h.KVDelete(ctx, &abiv1.KVDeleteRequest{Key: "b"}); e != nil || !d.Deleted {
		t.Errorf("delete b = %+v, %v", d, e)
	}
	if d, e := h.KVDelete(ctx, &abiv1.KVDeleteRequest{Key: "b"}); e != nil || d.Deleted {
		t.Errorf("delete missing = %+v, %v", d, e)
	}

	kv.fail.Store(true)
	_, e = h.KVGet(ctx, &abiv1.KVGetRequest{Key: "a"})
	wantCode(t, "get with a failing store", e, abiv1.ErrorCodeUnavailable)
	if e != nil && (!e.Retryable || strings.Contains(e.Message, errStore.Error())) {
		t.Errorf("store failure = %+v: want retryable, without the store's details", e)
	}
	if !strings.Contains(logs.String(), "plugin=p") || !strings.Contains(logs.String(), errStore.Error()) {
		t.Errorf("store failure not logged for the host: %s", logs.String())
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, e = h.KVList(cctx, &abiv1.KVListRequest{})
	wantCode(t, "list after the deadline", e, abiv1.ErrorCodeDeadlineExceeded)

	_, e = (&Host{Plugin: "p"}).KVGet(ctx, &abiv1.KVGetRequest{Key: "a"})
	wantCode(t, "get without a store", e, abiv1.ErrorCodePermissionDenied)
}

type secretMap map[string]string

func (s secretMap) Secret(_ context.Context, name string) ([]byte, error) {
	if name == "broken" {
		return nil, errors.New("vault down")
	}
	v, ok := s[name]
	if !ok {
		return nil, fmt.Errorf("secret %s: %w", name, store.ErrNotFound)
	}
	return []byte(v), nil
}

func TestSecret(t *testing.T) {
	ctx := context.Background()
	h := &Host{Plugin: "p", Secrets: secretMap{"db": "pw"}}
	if r, e := h.Secret(ctx, &abiv1.SecretGetRequest{Name: "db"}); e != nil || string(r.Value) != "pw" {
		t.Errorf("db = %+v, %v", r, e)
	}
	_, e := h.Secret(ctx, &abiv1.SecretGetRequest{Name: "nope"})
	wantCode(t, "unknown", e, abiv1.ErrorCodeNotFound)
	_, e = h.Secret(ctx, &abiv1.SecretGetRequest{})
	wantCode(t, "empty name", e, abiv1.ErrorCodeInvalidArgument)
	_, e = h.Secret(ctx, &abiv1.SecretGetRequest{Name: "broken"})
	wantCode(t, "failing source", e, abiv1.ErrorCodeUnavailable)
	if e != nil && (!e.Retryable || strings.Contains(e.Message, "vault")) {
		t.Errorf("failing source = %+v", e)
	}
}

func TestHTTP(t *testing.T) {
	ctx := context.Background()
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			_, _ = w.Write(make([]byte, 100))
		case "/headers":
			for i := range MaxHTTPHeaders + 1 {
				w.Header().Add(fmt.Sprintf("X-H%d", i), "v")
			}
		case "/slow":
			time.Sleep(200 * time.Millisecond)
		default:
			w.Header().Set("X-Echo", r.Header.Get("X-Req"))
			_, _ = fmt.Fprintf(w, "hello %s", r.Method)
		}
	}))
	defer peer.Close()
	u, _ := url.Parse(peer.URL)
	port, _ := strconv.Atoi(u.Port())
	h := &Host{Plugin: "p", HTTPClient: GuardedHTTP(&netguard.Policy{AllowPrivate: true,
		Allow: []netguard.Rule{{Scheme: "http", Host: "127.0.0.1", Port: port}}}), HTTPMaxBodyBytes: 64}

	res, e := h.HTTP(ctx, &abiv1.HTTPRequest{Method: "POST", URL: peer.URL + "/x", Body: []byte("b"),
		Headers: []*abiv1.Header{{Name: "X-Req", Values: []string{"42"}}}})
	if e != nil || res.Status != 200 || string(res.Body) != "hello POST" {
		t.Fatalf("HTTP = %+v, %v", res, e)
	}
	found := false
	for _, hd := range res.Headers {
		found = found || (hd.Name == "X-Echo" && len(hd.Values) == 1 && hd.Values[0] == "42")
	}
	if !found {
		t.Errorf("headers = %+v", res.Headers)
	}

	_, e = h.HTTP(ctx, &abiv1.HTTPRequest{URL: strings.Replace(peer.URL, "127.0.0.1", "localhost", 1)})
	wantCode(t, "host not allowed", e, abiv1.ErrorCodePermissionDenied)
	_, e = h.HTTP(ctx, &abiv1.HTTPRequest{URL: peer.URL, Body: make([]byte, 65)})
	wantCode(t, "request body over the cap", e, abiv1.ErrorCodeInvalidArgument)
	if e != nil && e.Details["limit"] != "64" {
		t.Errorf("limit = %v", e.Details)
	}
	many := make([]*abiv1.Header, 0, MaxHTTPHeaders+1)
	for range MaxHTTPHeaders + 1 {
		many = append(many, &abiv1.Header{Name: "A", Values: []string{"1"}})
	}
	_, e = h.HTTP(ctx, &abiv1.HTTPRequest{URL: peer.URL, Headers: many})
	wantCode(t, "too many request headers", e, abiv1.ErrorCodeInvalidArgument)
	_, e = h.HTTP(ctx, &abiv1.HTTPRequest{URL: peer.URL, Headers: []*abiv1.Header{{Name: "A", Values: []string{strings.Repeat("v", MaxHTTPHeaderBytes)}}}})
	wantCode(t, "request headers over the cap", e, abiv1.ErrorCodeInvalidArgument)
	_, e = h.HTTP(ctx, &abiv1.HTTPRequest{URL: peer.URL + "/big"})
	wantCode(t, "response body over the cap", e, abiv1.ErrorCodeUnavailable)
	if e != nil && e.Details["reason"] != "response_too_large" {
		t.Errorf("details = %v", e.Details)
	}
	_, e = h.HTTP(ctx, &abiv1.HTTPRequest{URL: peer.URL + "/headers"})
	wantCode(t, "response headers over the cap", e, abiv1.ErrorCodeUnavailable)
	_, e = h.HTTP(ctx, &abiv1.HTTPRequest{URL: peer.URL + "/slow", TimeoutMs: 20})
	wantCode(t, "timeout_ms", e, abiv1.ErrorCodeDeadlineExceeded)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	_, e = (&Host{Plugin: "p", HTTPClient: http.DefaultClient}).HTTP(ctx, &abiv1.HTTPRequest{URL: closed.URL})
	wantCode(t, "refused connection", e, abiv1.ErrorCodeUnavailable)
	if e != nil && !e.Retryable {
		t.Errorf("refused connection not retryable: %+v", e)
	}
	_, e = (&Host{Plugin: "p"}).HTTP(ctx, &abiv1.HTTPRequest{URL: peer.URL})
	wantCode(t, "without a client", e, abiv1.ErrorCodePermissionDenied)
}

func TestLog(t *testing.T) {
	var buf bytes.Buffer
	h := &Host{Plugin: "p", Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	h.Log(context.Background(), slog.LevelWarn, &abiv1.LogRecord{Message: "from the plugin", Attrs: map[string]string{"plugin": "spoof", "k": "v"}})
	if got := buf.String(); !strings.Contains(got, `msg="from the plugin" plugin=p k=v guest.plugin=spoof`) {
		t.Errorf("log = %s", got)
	}
	buf.Reset()
	attrs := map[string]string{}
	for i := range MaxLogAttrs + 5 {
		attrs[fmt.Sprintf("a%03d", i)] = "x"
	}
	h.Log(context.Background(), slog.LevelInfo, &abiv1.LogRecord{Message: strings.Repeat("é", MaxLogMessage), Attrs: attrs})
	got := buf.String()
	if n := strings.Count(got, "=x"); n != MaxLogAttrs {
		t.Errorf("%d attributes logged, want %d", n, MaxLogAttrs)
	}
	if n := strings.Count(got, "é"); n != MaxLogMessage/2 {
		t.Errorf("message of %d runes, want %d", n, MaxLogMessage/2)
	}
	buf.Reset()
	h.Log(context.Background(), slog.LevelDebug, &abiv1.LogRecord{Message: "quiet"})
	if buf.Len() != 0 {
		t.Errorf("debug record logged at info: %s", buf.String())
	}
	(&Host{Plugin: "p"}).Log(context.Background(), slog.LevelError, &abiv1.LogRecord{Message: "dropped"}) // no logger: no panic
}

type recSink struct{ got []string }

func (r *recSink) CounterAdd(name string, v float64) {
	r.got = append(r.got, fmt.Sprintf("counter %s %g", name, v))
}

func (r *recSink) HistogramObserve(name string, v float64) {
	r.got = append(r.got, fmt.Sprintf("histogram %s %g", name, v))
}

func TestMetrics(t *testing.T) {
	sink := &recSink{}
	h := &Host{Plugin: "p", Metrics: sink}
	h.CounterAdd("hits", 2)
	h.CounterAdd("", 1)
	h.HistogramObserve(strings.Repeat("n", MaxMetricName+1), 1)
	h.HistogramObserve("bad\xff", 1)
	h.HistogramObserve("lat", 0.5)
	if got := strings.Join(sink.got, "; "); got != "counter hits 2; histogram lat 0.5" {
		t.Errorf("sink got %q", got)
	}
	(&Host{}).CounterAdd("x", 1) // no sink: no panic

	reg := prometheus.NewRegistry()
	gm, err := NewGuestMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if gm2, err := NewGuestMetrics(reg); err != nil || gm2.Counters != gm.Counters || gm2.Values != gm.Values {
		t.Fatalf("second registration: %v, not reusing the series", err)
	}
	s := gm.Sink("p")
	s.CounterAdd("hits", 2)
	s.CounterAdd("hits", -1)
	s.CounterAdd("Bad Name", 1)
	s.HistogramObserve("lat", 0.5)
	for i := range MaxGuestMetricNames + 3 {
		s.CounterAdd(fmt.Sprintf("n%d", i), 1)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, mf := range mfs {
		series[mf.GetName()] = len(mf.GetMetric())
		for _, m := range mf.GetMetric() {
			if c := m.GetCounter(); c != nil && m.GetLabel()[0].GetValue() == "hits" && c.GetValue() != 2 {
				t.Errorf("hits = %v, want 2", c.GetValue())
			}
		}
	}
	// hits and lat take two of the names.
	if series[GuestCounterName] != MaxGuestMetricNames-1 || series[GuestValueName] != 1 {
		t.Errorf("series = %v", series)
	}
}

func TestClockRandomConfig(t *testing.T) {
	fixed := time.Unix(42, 0)
	h := &Host{Clock: func() time.Time { return fixed }, Rand: strings.NewReader("abcd"), Config: []byte("{}")}
	if !h.Now().Equal(fixed) {
		t.Errorf("Now = %v", h.Now())
	}
	b := make([]byte, 4)
	if err := h.Random(b); err != nil || string(b) != "abcd" {
		t.Errorf("Random = %q, %v", b, err)
	}
	if err := h.Random(b); err == nil {
		t.Error("Random from an exhausted reader did not fail")
	}
	if string(h.ConfigBytes()) != "{}" {
		t.Errorf("Config = %q", h.ConfigBytes())
	}
	var d Host
	if time.Since(d.Now()) > time.Minute {
		t.Errorf("default clock = %v", d.Now())
	}
	if err := d.Random(b); err != nil {
		t.Errorf("default Random: %v", err)
	}
}
