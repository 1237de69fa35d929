package wasmrt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/netguard"
	"github.com/ubeu/gateway/host/store"
)

// memKV is an in-memory store.KV with the semantics of badgerstore's:
// versions grow per write, conditions give store.ErrConflict, Usage counts
// keys and values. usageDelay widens the window between a quota check and
// the write it admits.
type memKV struct {
	mu         sync.Mutex
	ns         map[string]map[string]store.KVItem
	ver        uint64
	usageDelay time.Duration
	fail       error // returned by every call when set
}

func newMemKV() *memKV { return &memKV{ns: map[string]map[string]store.KVItem{}} }

func (m *memKV) Get(_ context.Context, ns, key string) ([]byte, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, 0, m.fail
	}
	it, ok := m.ns[ns][key]
	if !ok {
		return nil, 0, store.ErrNotFound
	}
	return bytes.Clone(it.Value), it.Version, nil
}

func (m *memKV) Put(_ context.Context, ns, key string, value []byte, cond store.KVCond) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return 0, m.fail
	}
	it, ok := m.ns[ns][key]
	if (cond.Absent && ok) || (cond.Version != 0 && it.Version != cond.Version) {
		return 0, fmt.Errorf("%w: condition", store.ErrConflict)
	}
	if m.ns[ns] == nil {
		m.ns[ns] = map[string]store.KVItem{}
	}
	m.ver++
	m.ns[ns][key] = store.KVItem{Key: key, Value: bytes.Clone(value), Version: m.ver}
	return m.ver, nil
}

func (m *memKV) Delete(_ context.Context, ns, key string, cond store.KVCond) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	it, ok := m.ns[ns][key]
	if !ok {
		return store.ErrNotFound
	}
	if cond.Version != 0 && it.Version != cond.Version {
		return fmt.Errorf("%w: version", store.ErrConflict)
	}
	delete(m.ns[ns], key)
	return nil
}

func (m *memKV) List(_ context.Context, ns, prefix, after string, limit int) ([]store.KVItem, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	var out []store.KVItem
	for k, it := range m.ns[ns] {
		if strings.HasPrefix(k, prefix) && k > after {
			out = append(out, it)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (m *memKV) Usage(_ context.Context, ns string) (int, int64, error) {
	m.mu.Lock()
	n, size := len(m.ns[ns]), int64(0)
	for k, it := range m.ns[ns] {
		size += int64(len(k) + len(it.Value))
	}
	err := m.fail
	m.mu.Unlock()
	time.Sleep(m.usageDelay)
	return n, size, err
}

type secretMap map[string]string

func (s secretMap) Secret(_ context.Context, name string) ([]byte, error) {
	v, ok := s[name]
	if !ok {
		return nil, fmt.Errorf("secret %s: %w", name, store.ErrNotFound)
	}
	return []byte(v), nil
}

type recSink struct {
	mu  sync.Mutex
	got []string
}

func (r *recSink) CounterAdd(name string, v float64) {
	r.mu.Lock()
	r.got = append(r.got, fmt.Sprintf("counter %s %g", name, v))
	r.mu.Unlock()
}

func (r *recSink) HistogramObserve(name string, v float64) {
	r.mu.Lock()
	r.got = append(r.got, fmt.Sprintf("histogram %s %g", name, v))
	r.mu.Unlock()
}

// logBuffer collects log lines written by concurrent instances.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// resolve runs a command of the sdkcaps guest.
func resolve(t *testing.T, p *Plugin, cmd string, args ...string) map[string]string {
	t.Helper()
	res, err := abiv1.NewResolverClient(p).Resolve(context.Background(), &abiv1.ResolveRequest{Name: cmd, Networks: args})
	if err != nil {
		t.Fatalf("%s %v: %v", cmd, args, err)
	}
	return res.Records
}

// raw calls method of the rawcaps (or httpget) guest with req and returns
// the import's return value and result.
func raw(t *testing.T, p *Plugin, method uint32, req []byte) (int32, []byte) {
	t.Helper()
	out, err := p.Call(context.Background(), method, req)
	if err != nil {
		t.Fatalf("method %d: %v", method, err)
	}
	if len(out) < 4 {
		t.Fatalf("method %d: output %x", method, out)
	}
	return int32(binary.LittleEndian.Uint32(out)), out[4:]
}

// rawError checks that r and res are a failure with code want and returns
// the decoded Error.
func rawError(t *testing.T, r int32, res []byte, want abiv1.ErrorCode) *abiv1.Error {
	t.Helper()
	var e abiv1.Error
	if err := e.Unmarshal(res); err != nil {
		t.Fatalf("r = %d, result %x does not decode as Error: %v", r, res, err)
	}
	if r != -int32(want) || e.Code != want {
		t.Fatalf("r = %d, Error %+v; want code %v", r, &e, want)
	}
	return &e
}

func hostPort(t *testing.T, raw string) (string, int) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	return u.Hostname(), port
}

func allCaps() []string {
	return []string{ModuleHTTP, ModuleKV, ModuleSecrets, ModuleLog, ModuleMetrics, ModuleClock, ModuleRandom, ModuleConfig}
}

// sdkSpec is a spec for the sdkcaps guest, which imports every capability:
// all are granted, those c leaves nil with harmless implementations.
func sdkSpec(t *testing.T, name string, c Capabilities) Spec {
	if c.HTTP == nil {
		c.HTTP = GuardedHTTP(&netguard.Policy{Allow: []netguard.Rule{{Host: "example.invalid"}}})
	}
	if c.KV == nil {
		c.KV = newMemKV()
	}
	if c.Secrets == nil {
		c.Secrets = secretMap{}
	}
	return Spec{Name: name, Wasm: guest(t, "sdkcaps"), Grants: allCaps(), Caps: c}
}

// TestSDKGuestCapabilities runs a guest built with the SDK that uses every
// capability once, against an allowed local HTTP server.
func TestSDKGuestCapabilities(t *testing.T) {
	var gotHeader atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHeader.Store(r.Header.Get("X-Guest"))
		w.Header().Set("X-Served-By", "httptest")
		io.WriteString(w, "hello from loopback")
	}))
	defer srv.Close()
	host, port := hostPort(t, srv.URL)
	kv := newMemKV()
	logs := &logBuffer{}
	sink := &recSink{}
	r := newTestRuntime(t, nil)
	p := load(t, r, sdkSpec(t, "sdkcaps", Capabilities{
		HTTP: GuardedHTTP(&netguard.Policy{
			Allow:           []netguard.Rule{{Scheme: "http", Host: host, Port: port}},
			AllowedPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
			Timeout:         5 * time.Second,
		}),
		KV:      kv,
		Secrets: secretMap{"api-key": "s3cret"},
		Log:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: sink,
		Config:  []byte(`{"greeting": "bonjour"}`),
	}))
	got := resolve(t, p, "all", srv.URL)
	want := map[string]string{
		"status":                "200",
		"body":                  "hello from loopback",
		"header.X-Served-By":    "httptest",
		"put_absent_conflict":   "true",
		"put_stale_conflict":    "true",
		"get1":                  "two/true/true",
		"list1":                 "k1=two,k2=deux",
		"list2":                 "k2=deux",
		"delete_stale_conflict": "true",
		"deleted":               "true",
		"deleted_again":         "false",
		"get2_found":            "false",
		"secret":                "s3cret",
		"now_year":              "2026", // the deterministic clock
		"config_greeting":       "bonjour",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for k, v := range got {
		if strings.Contains(k, "error") {
			t.Errorf("%s = %q", k, v)
		}
	}
	if rnd := got["random"]; len(rnd) != 32 || rnd == strings.Repeat("0", 32) {
		t.Errorf("random = %q, want 16 random bytes", rnd)
	}
	if gotHeader.Load() != "sdkcaps" {
		t.Errorf("server saw X-Guest = %v", gotHeader.Load())
	}
	if v, _, err := kv.Get(context.Background(), "sdkcaps", "k1"); err != nil || string(v) != "two" {
		t.Errorf("k1 in the plugin's namespace = %q, %v", v, err)
	}
	line := logs.String()
	for _, s := range []string{"level=WARN", `msg="hello from sdkcaps"`, "plugin=sdkcaps", "step=all", "n=7"} {
		if !strings.Contains(line, s) {
			t.Errorf("log %q lacks %s", line, s)
		}
	}
	sink.mu.Lock()
	if m := strings.Join(sink.got, ";"); m != "counter guest_calls 2;histogram guest_latency 0.25" {
		t.Errorf("metrics = %q", m)
	}
	sink.mu.Unlock()
}

// httpPlugin loads sdkcaps with only the HTTP capability under policy pol.
func httpPlugin(t *testing.T, r *Runtime, name string, pol *netguard.Policy, maxBody int64) *Plugin {
	t.Helper()
	if pol.Timeout == 0 {
		pol.Timeout = 5 * time.Second
	}
	spec := sdkSpec(t, name, Capabilities{HTTP: GuardedHTTP(pol), HTTPMaxBodyBytes: maxBody})
	spec.MaxInstances = 1
	return load(t, r, spec)
}

func TestHTTPFailures(t *testing.T) {
	var hits atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "loopback secret")
	}))
	defer target.Close()
	// A server on 127.0.0.2 (granted) that redirects to 127.0.0.1.
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	big := strings.Repeat("x", 4096)
	redir := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, target.URL+"/", http.StatusFound)
		case "/metadata":
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/iam/", http.StatusTemporaryRedirect)
		case "/big":
			io.WriteString(w, big)
		case "/chunked":
			for range 8 {
				io.WriteString(w, big[:512])
				w.(http.Flusher).Flush()
			}
		case "/headers":
			for i := range 100 {
				w.Header().Set(fmt.Sprintf("X-H%d", i), "v")
			}
		default:
			io.WriteString(w, "ok")
		}
	})}}
	redir.Start()
	defer redir.Close()
	rhost, rport := hostPort(t, redir.URL)
	_, tport := hostPort(t, target.URL)
	grant2 := []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}

	r := newTestRuntime(t, nil)
	for _, tc := range []struct {
		name   string
		pol    *netguard.Policy
		url    string
		code   abiv1.ErrorCode
		reason string
		text   string
	}{
		{"ungranted host", &netguard.Policy{Allow: []netguard.Rule{{Scheme: "https", Host: "api.example.com"}}, AllowedPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, target.URL, abiv1.ErrorCodePermissionDenied, "", "not on the allow-list"},
		{"metadata address", &netguard.Policy{}, "http://169.254.169.254/latest/meta-data/", abiv1.ErrorCodePermissionDenied, "", "169.254.169.254 is a private or special-purpose address"},
		{"loopback without grant", &netguard.Policy{}, target.URL, abiv1.ErrorCodePermissionDenied, "", "private or special-purpose"},
		{"redirect to loopback", &netguard.Policy{AllowedPrefixes: grant2}, redir.URL + "/redirect", abiv1.ErrorCodePermissionDenied, "", "127.0.0.1 is a private or special-purpose address"},
		{"redirect to the metadata address", &netguard.Policy{AllowedPrefixes: grant2}, redir.URL + "/metadata", abiv1.ErrorCodePermissionDenied, "", "169.254.169.254 is a private or special-purpose address"},
		{"redirect off the allow-list", &netguard.Policy{
			Allow:           []netguard.Rule{{Scheme: "http", Host: rhost, Port: rport}},
			AllowedPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		}, redir.URL + "/redirect", abiv1.ErrorCodePermissionDenied, "", fmt.Sprintf("http://127.0.0.1:%d is not on the allow-list", tport)},
		{"name resolving to loopback, refused at dial", &netguard.Policy{
			Allow: []netguard.Rule{{Scheme: "http", Host: "localhost", Port: tport}},
		}, fmt.Sprintf("http://localhost:%d/", tport), abiv1.ErrorCodePermissionDenied, "", "private or special-purpose"},
		{"response too large", &netguard.Policy{AllowedPrefixes: grant2}, redir.URL + "/big", abiv1.ErrorCodeUnavailable, "response_too_large", "over the cap of 1024"},
		{"chunked response too large", &netguard.Policy{AllowedPrefixes: grant2}, redir.URL + "/chunked", abiv1.ErrorCodeUnavailable, "response_too_large", "over the cap of 1024"},
		{"response headers too large", &netguard.Policy{AllowedPrefixes: grant2}, redir.URL + "/headers", abiv1.ErrorCodeUnavailable, "response_too_large", "response headers"},
		{"bad scheme", &netguard.Policy{}, "file:///etc/passwd", abiv1.ErrorCodePermissionDenied, "", "scheme"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := httpPlugin(t, r, "http-fail", tc.pol, 1024)
			defer p.Close(context.Background())
			got := resolve(t, p, "http", tc.url)
			if got["error_code"] != strconv.Itoa(int(tc.code)) || got["error_reason"] != tc.reason || !strings.Contains(got["error"], tc.text) {
				t.Fatalf("got %v, want code %d reason %q text %q", got, tc.code, tc.reason, tc.text)
			}
			if got["status"] != "" {
				t.Fatalf("a failure with a status: %v", got)
			}
			// The failure is the guest's to handle: the instance serves on.
			if ok := resolve(t, p, "http", redir.URL+"/"); ok["status"] != "200" && tc.pol.AllowedPrefixes != nil && len(tc.pol.Allow) == 0 {
				t.Fatalf("next request: %v", ok)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the loopback target was reached %d times", n)
	}
	// The same redirect is followed when its target is granted.
	p := httpPlugin(t, r, "http-ok", &netguard.Policy{AllowedPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, 1024)
	if got := resolve(t, p, "http", redir.URL+"/redirect"); got["status"] != "200" || got["body"] != "loopback secret" {
		t.Fatalf("granted redirect: %v", got)
	}
}

// TestHTTPLimits sends hand-made requests through the raw guest.
func TestHTTPLimits(t *testing.T) {
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(int64(len(b)))
		if r.URL.Path == "/slow" {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}
		fmt.Fprintf(w, "%s %d", r.Method, len(b))
	}))
	defer srv.Close()
	r := newTestRuntime(t, nil)
	p := load(t, r, Spec{Name: "httpget", MaxInstances: 1, BreakerFailures: -1, Grants: []string{ModuleHTTP}, Caps: Capabilities{
		HTTP:             GuardedHTTP(&netguard.Policy{AllowedPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}),
		HTTPMaxBodyBytes: 1000,
	}})
	call := func(req *abiv1.HTTPRequest) (int32, []byte) { return raw(t, p, 5, req.MarshalAppend(nil)) }

	rn, res := call(&abiv1.HTTPRequest{Method: "POST", URL: srv.URL, Body: bytes.Repeat([]byte("b"), 1000)})
	var resp abiv1.HTTPResponse
	if rn != int32(len(res)) || resp.Unmarshal(res) != nil || resp.Status != 200 || string(resp.Body) != "POST 1000" {
		t.Fatalf("body at the cap: r = %d, %+v", rn, &resp)
	}
	rn, res = call(&abiv1.HTTPRequest{Method: "POST", URL: srv.URL, Body: bytes.Repeat([]byte("b"), 1001)})
	if e := rawError(t, rn, res, abiv1.ErrorCodeInvalidArgument); e.Details["limit"] != "1000" {
		t.Fatalf("body over the cap: %+v", e)
	}
	many := make([]*abiv1.Header, 65)
	for i := range many {
		many[i] = &abiv1.Header{Name: fmt.Sprintf("X-%d", i), Values: []string{"v"}}
	}
	rn, res = call(&abiv1.HTTPRequest{URL: srv.URL, Headers: many})
	rawError(t, rn, res, abiv1.ErrorCodeInvalidArgument)
	rn, res = call(&abiv1.HTTPRequest{URL: srv.URL, Headers: []*abiv1.Header{{Name: "X-Big", Values: []string{strings.Repeat("v", 17<<10)}}}})
	rawError(t, rn, res, abiv1.ErrorCodeInvalidArgument)
	rn, res = call(&abiv1.HTTPRequest{Method: "BAD METHOD", URL: srv.URL})
	rawError(t, rn, res, abiv1.ErrorCodeInvalidArgument)

	start := time.Now()
	rn, res = call(&abiv1.HTTPRequest{URL: srv.URL + "/slow", TimeoutMs: 100})
	rawError(t, rn, res, abiv1.ErrorCodeDeadlineExceeded)
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("timeout_ms of 100 took %v", d)
	}

	// The call's own deadline bounds the request too: the guest is stopped.
	q := load(t, r, Spec{Name: "httpget2", Wasm: guest(t, "httpget"), MaxInstances: 1, CallTimeout: 200 * time.Millisecond, Grants: []string{ModuleHTTP}, Caps: Capabilities{
		HTTP: GuardedHTTP(&netguard.Policy{AllowedPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}),
	}})
	start = time.Now()
	_, err := q.Call(context.Background(), 5, (&abiv1.HTTPRequest{URL: srv.URL + "/slow"}).MarshalAppend(nil))
	if !errors.Is(err, ErrTrap) || !strings.Contains(err.Error(), "deadline") || time.Since(start) > 3*time.Second {
		t.Fatalf("slow request past the call deadline: %v after %v", err, time.Since(start))
	}
	mustEcho(t, q)
}

func kvPlugin(t *testing.T, r *Runtime, name string, kv KVStore, q KVQuota, maxInstances int) *Plugin {
	t.Helper()
	spec := sdkSpec(t, name, Capabilities{KV: kv, KVQuota: q})
	spec.MaxInstances = maxInstances
	return load(t, r, spec)
}

func TestKVQuota(t *testing.T) {
	r := newTestRuntime(t, nil)
	kv := newMemKV()
	p := kvPlugin(t, r, "quota", kv, KVQuota{MaxEntries: 2, MaxBytes: 40}, 1)
	put := func(k, v string) map[string]string { return resolve(t, p, "kvput", k, v) }
	for _, k := range []string{"a", "b"} {
		if got := put(k, "0123456789"); got["error"] != "" {
			t.Fatalf("put %s: %v", k, got)
		}
	}
	got := put("c", "x")
	if got["error_code"] != "7" || got["error_reason"] != "quota" || !strings.Contains(got["error"], "quota of 2 entries") {
		t.Fatalf("third entry: %v, want RATE_LIMITED quota", got)
	}
	// Overwriting keeps the entry count; it may grow up to the byte quota.
	if got := put("a", strings.Repeat("y", 28)); got["error"] != "" { // 29 + 11 bytes
		t.Fatalf("overwrite within the byte quota: %v", got)
	}
	if got := put("a", strings.Repeat("y", 29)); got["error_code"] != "7" {
		t.Fatalf("overwrite past the byte quota (41 bytes): %v", got)
	}
	if got := put("b", ""); got["error"] != "" {
		t.Fatalf("shrinking: %v", got)
	}
	if n, size, _ := kv.Usage(context.Background(), "quota"); n != 2 || size != 30 {
		t.Fatalf("usage %d entries, %d bytes; want 2, 30", n, size)
	}
	// Store failures are UNAVAILABLE without the store's details.
	kv.mu.Lock()
	kv.fail = errors.New("disk on fire at /var/lib/gatewayd")
	kv.mu.Unlock()
	if got := put("a", "z"); got["error_code"] != "5" || strings.Contains(got["error"], "disk") {
		t.Fatalf("store failure: %v", got)
	}
}

// TestKVQuotaConcurrent has many instances put distinct keys at once
// through a store whose Usage is slow: the quota still holds exactly.
func TestKVQuotaConcurrent(t *testing.T) {
	r := newTestRuntime(t, nil)
	kv := newMemKV()
	kv.usageDelay = 2 * time.Millisecond
	const quota, callers, each = 10, 8, 4
	p := kvPlugin(t, r, "quota-race", kv, KVQuota{MaxEntries: quota}, 4)
	var ok, limited atomic.Int64
	var wg sync.WaitGroup
	for g := range callers {
		wg.Go(func() {
			for i := range each {
				got := resolve(t, p, "kvput", fmt.Sprintf("g%d-%d", g, i), "v")
				switch got["error_code"] {
				case "":
					ok.Add(1)
				case "7":
					limited.Add(1)
				default:
					t.Errorf("put: %v", got)
				}
			}
		})
	}
	wg.Wait()
	n, _, _ := kv.Usage(context.Background(), "quota-race")
	if n != quota || ok.Load() != quota || limited.Load() != callers*each-quota {
		t.Fatalf("%d entries stored, %d puts admitted, %d refused; quota %d of %d puts", n, ok.Load(), limited.Load(), quota, callers*each)
	}
}

func TestSecrets(t *testing.T) {
	r := newTestRuntime(t, nil)
	p := load(t, r, sdkSpec(t, "sdkcaps", Capabilities{Secrets: secretMap{"db": "pw"}}))
	if got := resolve(t, p, "secret", "db"); got["value"] != "pw" || got["error"] != "" {
		t.Fatalf("known secret: %v", got)
	}
	if got := resolve(t, p, "secret", "nope"); got["error_code"] != "2" || !strings.Contains(got["error"], `no secret "nope"`) {
		t.Fatalf("unknown secret: %v, want NOT_FOUND", got)
	}
	if got := resolve(t, p, "secret", ""); got["error_code"] != "1" {
		t.Fatalf("empty name: %v, want INVALID_ARGUMENT", got)
	}
}

// TestMalformedRequests sends requests that do not decode, and other
// invalid ones, through the raw guest: each capability answers
// INVALID_ARGUMENT with an encoded Error, and the instance serves on.
func TestMalformedRequests(t *testing.T) {
	logs := &logBuffer{}
	r, err := NewRuntime(context.Background(), Options{CacheDir: testCacheDir(), Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	kv := newMemKV()
	p := load(t, r, Spec{Name: "rawcaps", MaxInstances: 1, Grants: []string{ModuleHTTP, ModuleKV, ModuleSecrets, ModuleLog}, Caps: Capabilities{
		HTTP: GuardedHTTP(&netguard.Policy{}), KV: kv, Secrets: secretMap{},
	}})
	garbage := [][]byte{{0xff}, {0x0a, 0x05, 'a'}, {0x0a, 0x02, 0xff, 0xfe}, bytes.Repeat([]byte{0x80}, 11)}
	for method := uint32(10); method <= 15; method++ {
		for _, g := range garbage {
			rn, res := raw(t, p, method, g)
			if e := rawError(t, rn, res, abiv1.ErrorCodeInvalidArgument); !strings.Contains(e.Message, "does not decode") {
				t.Fatalf("method %d, request %x: %+v", method, g, e)
			}
		}
	}
	for _, req := range []struct {
		method uint32
		msg    interface{ MarshalAppend([]byte) []byte }
	}{
		{11, &abiv1.KVGetRequest{}},
		{12, &abiv1.KVPutRequest{Key: strings.Repeat("k", 1025)}},
		{12, &abiv1.KVPutRequest{Key: "k", IfAbsent: true, IfVersion: 3}},
		{13, &abiv1.KVDeleteRequest{}},
		{15, &abiv1.SecretGetRequest{}},
		{10, &abiv1.HTTPRequest{URL: "::not a url"}},
	} {
		rn, res := raw(t, p, req.method, req.msg.MarshalAppend(nil))
		rawError(t, rn, res, abiv1.ErrorCodeInvalidArgument)
	}
	// An empty request is a valid (empty) message: list everything.
	if rn, res := raw(t, p, 14, nil); rn != int32(len(res)) {
		t.Fatalf("empty list request: r = %d", rn)
	}
	// A log record that does not decode is dropped; the call succeeds.
	if _, err := p.Call(context.Background(), 16, []byte{0xff, 0xff}); err != nil {
		t.Fatalf("undecodable log record: %v", err)
	}
	if !strings.Contains(logs.String(), "plugin log record dropped") {
		t.Errorf("no warning for the undecodable log record: %s", logs.String())
	}
	if _, err := p.Call(context.Background(), 16, (&abiv1.LogRecord{Message: "raw hello", Attrs: map[string]string{"plugin": "spoof"}}).MarshalAppend(nil)); err != nil {
		t.Fatal(err)
	}
	if l := logs.String(); !strings.Contains(l, `msg="raw hello" plugin=rawcaps guest.plugin=spoof`) {
		t.Errorf("log record: %s", l)
	}
	mustEcho(t, p)
	if p.created.Load() != 1 {
		t.Fatalf("%d instances created: a malformed request cost the instance", p.created.Load())
	}
}

// TestEchoResolverExample runs sdk-plugin/examples/echo-resolver through
// the generated clients.
func TestEchoResolverExample(t *testing.T) {
	r := newTestRuntime(t, nil)
	logs := &logBuffer{}
	p := load(t, r, Spec{Name: "echo-resolver", Grants: []string{ModuleConfig, ModuleLog}, Caps: Capabilities{
		Config: []byte(`{"names": {"alice.eth": {"owners": [{"chain": "eip155:1", "address": "0xA11CE"}, {"chain": "eip155:10", "address": "0xA10"}],
			"records": {"email": "alice@example.com"}, "did": "did:example:alice", "expires_unix": 1900000000}}}`),
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}})
	ctx := context.Background()
	d, err := abiv1.NewPluginClient(p).Describe(ctx, &abiv1.DescribeRequest{})
	if err != nil || d.Name != "echo-resolver" || d.Version != "0.1.0" || len(d.Interfaces) != 1 || d.Interfaces[0] != "resolver" || d.ABIMinor != 0 {
		t.Fatalf("Describe = %+v, %v", d, err)
	}
	rc := abiv1.NewResolverClient(p)
	res, err := rc.Resolve(ctx, &abiv1.ResolveRequest{Name: "Alice.eth", Networks: []string{"eip155:1"}})
	if err != nil || res.DID != "did:example:alice" || res.Records["email"] != "alice@example.com" || res.ExpiresUnix != 1900000000 ||
		len(res.Owners) != 1 || res.Owners[0].Address != "0xA11CE" {
		t.Fatalf("Resolve = %+v, %v", res, err)
	}
	_, err = rc.Resolve(ctx, &abiv1.ResolveRequest{Name: "carol.eth"})
	var ae *abiv1.Error
	if !errors.As(err, &ae) || ae.Code != abiv1.ErrorCodeNotFound {
		t.Fatalf("Resolve(carol.eth) = %v, want NOT_FOUND", err)
	}
	own, err := rc.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "alice.eth", Address: &abiv1.Address{Chain: "eip155:1", Address: "0xa11ce"}})
	if err != nil || !own.Owns || own.Evidence["source"] != "config" {
		t.Fatalf("CheckOwnership = %+v, %v", own, err)
	}
	own, err = rc.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "alice.eth", Address: &abiv1.Address{Chain: "eip155:1", Address: "0xbad"}})
	if err != nil || own.Owns || !strings.Contains(logs.String(), `msg="ownership denied" plugin=echo-resolver name=alice.eth`) {
		t.Fatalf("CheckOwnership(other) = %+v, %v; log %s", own, err, logs.String())
	}
}

// TestPoolRefill checks that the pool is topped back up to MinInstances in
// the background after failures discard instances.
func TestPoolRefill(t *testing.T) {
	r := newTestRuntime(t, nil)
	p := load(t, r, Spec{Name: "badstatus", MinInstances: 2, MaxInstances: 3, BreakerFailures: -1})
	for range 3 {
		if _, err := p.Call(context.Background(), 9, nil); !errors.Is(err, ErrABI) {
			t.Fatalf("failing call: %v", err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.mu.Lock()
		idle := len(p.idle)
		p.mu.Unlock()
		if idle == 2 && p.live.Load() == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d idle, %d live 10 s after the failures; want MinInstances = 2", idle, p.live.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Refilling respects MaxInstances: at most 3 alive at any time, and
	// exactly 3 failures were replaced.
	if c := p.created.Load(); c != 5 {
		t.Fatalf("created %d instances, want 2 + 3 replacements", c)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p.live.Load() != 0 {
		t.Fatal("instances left after Close")
	}
}

// TestBreakerLateSuccess: a call that started before the circuit opened
// and succeeds afterwards must not close it.
func TestBreakerLateSuccess(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		io.WriteString(w, "late")
	}))
	defer srv.Close()
	defer close(release)
	r := newTestRuntime(t, nil)
	spec := sdkSpec(t, "sdkcaps", Capabilities{HTTP: GuardedHTTP(&netguard.Policy{AllowPrivate: true})})
	spec.MaxInstances, spec.BreakerFailures, spec.BreakerCooldown, spec.CallTimeout = 3, 2, time.Minute, 10*time.Second
	p := load(t, r, spec)
	slow := make(chan map[string]string)
	go func() {
		res, err := abiv1.NewResolverClient(p).Resolve(context.Background(), &abiv1.ResolveRequest{Name: "http", Networks: []string{srv.URL}})
		if err != nil {
			t.Error(err)
			slow <- nil
			return
		}
		slow <- res.Records
	}()
	<-started
	rc := abiv1.NewResolverClient(p)
	for range 2 {
		if _, err := rc.Resolve(context.Background(), &abiv1.ResolveRequest{Name: "panic"}); !errors.Is(err, ErrTrap) {
			t.Fatalf("panic: %v", err)
		}
	}
	if _, err := rc.Resolve(context.Background(), &abiv1.ResolveRequest{Name: "secret"}); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("after 2 failures: %v, want circuit open", err)
	}
	release <- struct{}{}
	if got := <-slow; got["body"] != "late" {
		t.Fatalf("slow call: %v", got)
	}
	if _, err := rc.Resolve(context.Background(), &abiv1.ResolveRequest{Name: "secret"}); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("after the late success: %v, want the circuit still open", err)
	}
	if value(r.metrics.circuit.WithLabelValues("sdkcaps")) != 1 {
		t.Fatal("circuit gauge closed by a late success")
	}
}

func TestBreakerGenerations(t *testing.T) {
	b := breaker{threshold: 2, cooldown: time.Second}
	now := time.Unix(1000, 0)
	old, _ := b.allow(now) // starts before the opening
	old2, _ := b.allow(now)
	for range 2 {
		tk, err := b.allow(now)
		if err != nil {
			t.Fatal(err)
		}
		b.record(tk, false, now)
	}
	if _, err := b.allow(now); !errors.Is(err, ErrCircuitOpen) {
		t.Fatal("not open after 2 failures")
	}
	if opened, closed := b.record(old, true, now); opened || closed {
		t.Fatal("a late success changed the state")
	}
	if _, err := b.allow(now); !errors.Is(err, ErrCircuitOpen) {
		t.Fatal("a late success closed the circuit")
	}
	now = now.Add(2 * time.Second)
	trial, err := b.allow(now)
	if err != nil || !trial.trial {
		t.Fatalf("half-open: %+v, %v", trial, err)
	}
	// A late failure does not end the trial or let a second one through.
	b.record(old2, false, now)
	if _, err := b.allow(now); !errors.Is(err, ErrCircuitOpen) {
		t.Fatal("second trial admitted")
	}
	if _, closed := b.record(trial, true, now); !closed {
		t.Fatal("the trial's success did not close")
	}
	if _, err := b.allow(now); err != nil {
		t.Fatalf("closed: %v", err)
	}
}
