//go:build !wasip1

// Package plugintest is what a gatewayd plugin author tests with.
//
// New runs the plugin's handler in process (sdk.Handler) against a
// simulated host: fake HTTP peers (an http.Handler per host name), an
// in-memory KV namespace, a configuration, secrets, and captured logs and
// metrics. BuildWasm and NewWasm (or RunWasm) run the compiled module under
// the gateway's real WebAssembly runtime (host/plugin/wasmrt) with the same
// fakes wired as its capabilities, so one test can cover both builds.
// ResolverConformance, LMSConformance, DirectoryConformance and
// SSOConformance check the behaviour every plugin of an interface owes the
// gateway.
//
//	func TestResolver(t *testing.T) {
//		h := plugintest.New(t, plugintest.Options{Config: `{"names": {}}`})
//		plugintest.ResolverConformance(t, h.Transport(), plugintest.ResolverCases{...})
//	}
package plugintest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/store"
	sdk "github.com/ubeu/gateway/sdk-plugin"
)

// Options are the fakes a simulated host serves.
type Options struct {
	// Config is the plugin's configuration: []byte or string of JSON, or
	// any other value, which is encoded as JSON. Nil means {}.
	Config any
	// Peers are the HTTP servers the plugin may reach, by host name
	// ("api.example.com", without port). A request to any other host fails
	// as the gateway's allow-list would make it fail.
	Peers map[string]http.Handler
	// KV is the initial content of the plugin's KV namespace.
	KV map[string][]byte
	// Secrets are the secrets granted to the plugin, by name.
	Secrets map[string]string
	// Now is the host clock (default time.Now).
	Now func() time.Time
}

// LogEntry is one record the plugin logged.
type LogEntry struct {
	Level   slog.Level
	Message string
	Attrs   map[string]string
}

// Host is a simulated gatewayd host. It implements sdk.Host for the
// in-process plugin; its fakes also back the capabilities of a wasm plugin
// started with NewWasm. It is safe for concurrent use.
type Host struct {
	t      testing.TB
	config []byte
	peers  map[string]http.Handler
	now    func() time.Time
	kv     *memKV

	mu       sync.Mutex
	secrets  map[string]string
	logs     []LogEntry
	counters map[string]float64
	observed map[string][]float64

	tr abiv1.Transport
}

var _ sdk.Host = (*Host)(nil)

// global serialises in-process hosts: the SDK has one host per process.
var global sync.Mutex

// New returns a simulated host running the plugin linked into the test
// binary in process: sdk.SetHost points the SDK at it until the test ends,
// and Transport calls sdk.Handler(). In-process hosts of one test binary
// run one at a time (a second New waits for the first test to end).
func New(t testing.TB, opts Options) *Host {
	t.Helper()
	h := newHost(t, opts)
	global.Lock()
	sdk.SetHost(h)
	t.Cleanup(func() {
		sdk.SetHost(nil)
		global.Unlock()
	})
	h.tr = abiv1.HandlerTransport(sdk.Handler())
	return h
}

func newHost(t testing.TB, opts Options) *Host {
	t.Helper()
	h := &Host{
		t:        t,
		peers:    opts.Peers,
		now:      opts.Now,
		kv:       newMemKV(),
		secrets:  map[string]string{},
		counters: map[string]float64{},
		observed: map[string][]float64{},
	}
	switch c := opts.Config.(type) {
	case nil:
		h.config = []byte("{}")
	case []byte:
		h.config = c
	case string:
		h.config = []byte(c)
	default:
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("plugintest: config: %v", err)
		}
		h.config = b
	}
	if h.now == nil {
		h.now = time.Now
	}
	for k, v := range opts.KV {
		if _, err := h.kv.Put(context.Background(), "", k, v, store.KVCond{}); err != nil {
			t.Fatalf("plugintest: kv: %v", err)
		}
	}
	for k, v := range opts.Secrets {
		h.secrets[k] = v
	}
	return h
}

// Transport returns the transport to the plugin: in process for New, the
// wasm runtime for NewWasm. Use it with the generated clients
// (abiv1.NewResolverClient) or the conformance suites.
func (h *Host) Transport() abiv1.Transport { return h.tr }

// Logs returns the records the plugin logged so far.
func (h *Host) Logs() []LogEntry {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.logs)
}

// Counter returns the value of the plugin's counter name.
func (h *Host) Counter(name string) float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counters[name]
}

// KVValue returns the value stored under key in the plugin's namespace.
func (h *Host) KVValue(key string) ([]byte, bool) {
	v, _, err := h.kv.Get(context.Background(), "", key)
	return v, err == nil
}

// SetSecret sets or, with an empty value, deletes a secret.
func (h *Host) SetSecret(name, value string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if value == "" {
		delete(h.secrets, name)
	} else {
		h.secrets[name] = value
	}
}

// HTTP implements sdk.Host: it serves the request with the peer of its
// host.
func (h *Host) HTTP(ctx context.Context, req *abiv1.HTTPRequest) (*abiv1.HTTPResponse, error) {
	r, err := http.NewRequestWithContext(ctx, req.Method, req.URL, bytes.NewReader(req.Body))
	if err != nil {
		return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "http: %v", err)
	}
	for _, hd := range req.Headers {
		for _, v := range hd.Values {
			r.Header.Add(hd.Name, v)
		}
	}
	res, err := h.do(r)
	if err != nil {
		return nil, abiv1.Errorf(abiv1.ErrorCodePermissionDenied, "%v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	out := &abiv1.HTTPResponse{Status: int32(res.StatusCode), Body: body}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range res.Header {
			if !yield(k) {
				return
			}
		}
	}) {
		out.Headers = append(out.Headers, &abiv1.Header{Name: k, Values: res.Header[k]})
	}
	return out, nil
}

// errNoPeer is the failure of a request to a host with no fake peer.
var errNoPeer = errors.New("plugintest: host not in Options.Peers (the gateway's allow-list would refuse it)")

// do serves r with the peer of its host; it is also the wasm runtime's
// HTTP capability (HTTPDoer).
func (h *Host) do(r *http.Request) (*http.Response, error) {
	peer, ok := h.peers[r.URL.Hostname()]
	if !ok {
		return nil, fmt.Errorf("%s: %w", r.URL.Hostname(), errNoPeer)
	}
	rec := httptest.NewRecorder()
	peer.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// Do implements wasmrt.HTTPDoer.
func (h *Host) Do(r *http.Request) (*http.Response, error) { return h.do(r) }

// KVGet implements sdk.Host.
func (h *Host) KVGet(ctx context.Context, req *abiv1.KVGetRequest) (*abiv1.KVGetResponse, error) {
	v, ver, err := h.kv.Get(ctx, "", req.Key)
	if errors.Is(err, store.ErrNotFound) {
		return &abiv1.KVGetResponse{}, nil
	}
	return &abiv1.KVGetResponse{Found: true, Value: v, Version: ver}, nil
}

// KVPut implements sdk.Host.
func (h *Host) KVPut(ctx context.Context, req *abiv1.KVPutRequest) (*abiv1.KVPutResponse, error) {
	ver, err := h.kv.Put(ctx, "", req.Key, req.Value, store.KVCond{Version: req.IfVersion, Absent: req.IfAbsent})
	if errors.Is(err, store.ErrConflict) {
		return &abiv1.KVPutResponse{Conflict: true}, nil
	}
	return &abiv1.KVPutResponse{Version: ver}, nil
}

// KVDelete implements sdk.Host.
func (h *Host) KVDelete(ctx context.Context, req *abiv1.KVDeleteRequest) (*abiv1.KVDeleteResponse, error) {
	err := h.kv.Delete(ctx, "", req.Key, store.KVCond{Version: req.IfVersion})
	switch {
	case errors.Is(err, store.ErrConflict):
		return &abiv1.KVDeleteResponse{Conflict: true}, nil
	case errors.Is(err, store.ErrNotFound):
		return &abiv1.KVDeleteResponse{}, nil
	}
	return &abiv1.KVDeleteResponse{Deleted: true}, nil
}

// KVList implements sdk.Host.
func (h *Host) KVList(ctx context.Context, req *abiv1.KVListRequest) (*abiv1.KVListResponse, error) {
	items, _ := h.kv.List(ctx, "", req.Prefix, req.After, int(req.Limit))
	out := &abiv1.KVListResponse{}
	for _, it := range items {
		out.Items = append(out.Items, &abiv1.KVItem{Key: it.Key, Value: it.Value, Version: it.Version})
	}
	return out, nil
}

// SecretGet implements sdk.Host.
func (h *Host) SecretGet(ctx context.Context, req *abiv1.SecretGetRequest) (*abiv1.SecretGetResponse, error) {
	v, err := h.Secret(ctx, req.Name)
	if err != nil {
		return nil, abiv1.Errorf(abiv1.ErrorCodeNotFound, "%v", err)
	}
	return &abiv1.SecretGetResponse{Value: v}, nil
}

// Secret implements wasmrt.SecretSource.
func (h *Host) Secret(_ context.Context, name string) ([]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.secrets[name]
	if !ok {
		return nil, fmt.Errorf("secret %q: %w", name, store.ErrNotFound)
	}
	return []byte(v), nil
}

// Log implements sdk.Host.
func (h *Host) Log(level slog.Level, rec *abiv1.LogRecord) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.logs = append(h.logs, LogEntry{Level: level, Message: rec.Message, Attrs: rec.Attrs})
}

// CounterAdd implements sdk.Host and wasmrt.MetricsSink.
func (h *Host) CounterAdd(name string, value float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counters[name] += value
}

// HistogramObserve implements sdk.Host and wasmrt.MetricsSink.
func (h *Host) HistogramObserve(name string, value float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.observed[name] = append(h.observed[name], value)
}

// NowUnixNano implements sdk.Host.
func (h *Host) NowUnixNano() int64 { return h.now().UnixNano() }

// RandomFill implements sdk.Host with a deterministic stream.
func (h *Host) RandomFill(p []byte) {
	for i := range p {
		p[i] = byte(i*131 + 7)
	}
}

// Config implements sdk.Host.
func (h *Host) Config() []byte { return h.config }

// logHandler captures the wasm plugin's logs into the host.
type logHandler struct {
	h     *Host
	attrs map[string]string
}

func (l logHandler) Enabled(context.Context, slog.Level) bool { return true }

func (l logHandler) Handle(_ context.Context, r slog.Record) error {
	attrs := map[string]string{}
	for k, v := range l.attrs {
		attrs[k] = v
	}
	r.Attrs(func(a slog.Attr) bool {
		attrs[a.Key] = a.Value.String()
		return true
	})
	l.h.mu.Lock()
	defer l.h.mu.Unlock()
	l.h.logs = append(l.h.logs, LogEntry{Level: r.Level, Message: r.Message, Attrs: attrs})
	return nil
}

func (l logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := logHandler{h: l.h, attrs: map[string]string{}}
	for k, v := range l.attrs {
		n.attrs[k] = v
	}
	for _, a := range as {
		n.attrs[a.Key] = a.Value.String()
	}
	return n
}

func (l logHandler) WithGroup(string) slog.Handler { return l }

// memKV is an in-memory store.KV namespace (the namespace argument is
// ignored: a plugin sees only its own).
type memKV struct {
	mu    sync.Mutex
	items map[string]store.KVItem
	seq   uint64
}

func newMemKV() *memKV { return &memKV{items: map[string]store.KVItem{}} }

func (k *memKV) Get(_ context.Context, _, key string) ([]byte, uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	it, ok := k.items[key]
	if !ok {
		return nil, 0, store.ErrNotFound
	}
	return slices.Clone(it.Value), it.Version, nil
}

func (k *memKV) check(key string, cond store.KVCond) (store.KVItem, bool, error) {
	it, ok := k.items[key]
	if cond.Absent && ok {
		return it, ok, store.ErrConflict
	}
	if cond.Version != 0 && (!ok || it.Version != cond.Version) {
		return it, ok, store.ErrConflict
	}
	return it, ok, nil
}

func (k *memKV) Put(_ context.Context, _, key string, value []byte, cond store.KVCond) (uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, _, err := k.check(key, cond); err != nil {
		return 0, err
	}
	k.seq++
	k.items[key] = store.KVItem{Key: key, Value: slices.Clone(value), Version: k.seq}
	return k.seq, nil
}

func (k *memKV) Delete(_ context.Context, _, key string, cond store.KVCond) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok, err := k.check(key, cond)
	if err != nil {
		return err
	}
	if !ok {
		return store.ErrNotFound
	}
	delete(k.items, key)
	return nil
}

func (k *memKV) List(_ context.Context, _, prefix, after string, limit int) ([]store.KVItem, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var keys []string
	for key := range k.items {
		if strings.HasPrefix(key, prefix) && key > after {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	var out []store.KVItem
	for _, key := range keys[:min(limit, len(keys))] {
		out = append(out, k.items[key])
	}
	return out, nil
}

func (k *memKV) Usage(context.Context, string) (int, int64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var n int64
	for key, it := range k.items {
		n += int64(len(key) + len(it.Value))
	}
	return len(k.items), n, nil
}
