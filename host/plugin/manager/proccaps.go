package manager

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/netguard"
	"github.com/ubeu/gateway/host/plugin/procrt"
	"github.com/ubeu/gateway/host/plugin/wasmrt"
	"github.com/ubeu/gateway/host/store"
)

// Limits of the capabilities, the same as host/plugin/wasmrt's (see
// wasmrt.Capabilities): a plugin meets the same rules under either runtime.
const (
	capHTTPBody        = 1 << 20
	capHTTPHeaders     = 64
	capHTTPHeaderBytes = 16 << 10
	capKVEntries       = 10000
	capKVBytes         = 16 << 20
	capKVKey           = 1024
	capKVValue         = 1 << 20
	capKVList          = 100
	capKVListMax       = 1000
	capLogMessage      = 4 << 10
	capLogAttrs        = 32
	capMetricNames     = 64
)

// procCaps serves one process plugin's capabilities (procrt.Capabilities)
// from the manager's Capabilities, with the codes and limits of the wasm
// runtime. procrt calls it only for granted modules.
type procCaps struct {
	name    string
	http    wasmrt.HTTPDoer
	kv      KVStore
	quota   wasmrt.KVQuota
	kvMu    chan struct{} // serialises writes: quota check and write are one step
	secrets SecretSource
	log     *slog.Logger // plugin=<name>
	metrics *guestMetrics
	config  []byte
}

var _ procrt.Capabilities = (*procCaps)(nil)

func newProcCaps(name string, c Capabilities, log *slog.Logger, gm *guestMetrics) *procCaps {
	p := &procCaps{name: name, kv: c.KV, quota: c.KVQuota, kvMu: make(chan struct{}, 1), secrets: c.Secrets,
		log: log.With("plugin", name), metrics: gm, config: c.Config}
	if c.HTTP != nil {
		p.http = wasmrt.GuardedHTTP(c.HTTP)
	}
	if p.quota.MaxEntries <= 0 {
		p.quota.MaxEntries = capKVEntries
	}
	if p.quota.MaxBytes <= 0 {
		p.quota.MaxBytes = capKVBytes
	}
	return p
}

func capErr(code abiv1.ErrorCode, details map[string]string, format string, args ...any) *abiv1.Error {
	return &abiv1.Error{Code: code, Message: fmt.Sprintf(format, args...), Details: details}
}

func capLimit(n int64) map[string]string { return map[string]string{"limit": strconv.FormatInt(n, 10)} }

var responseTooLarge = map[string]string{"reason": "response_too_large"}

// headerSize counts the lines and bytes of names and values of headers.
func headerSize(hs []*abiv1.Header) (lines, size int) {
	for _, h := range hs {
		if h == nil {
			continue
		}
		for _, v := range h.Values {
			lines++
			size += len(h.Name) + len(v)
		}
	}
	return lines, size
}

// HTTP sends the request through the netguard policy, within the size caps
// and timeout_ms.
func (p *procCaps) HTTP(ctx context.Context, req *abiv1.HTTPRequest) (*abiv1.HTTPResponse, error) {
	if p.http == nil {
		return nil, capErr(abiv1.ErrorCodePermissionDenied, nil, "http: not granted")
	}
	if len(req.Body) > capHTTPBody {
		return nil, capErr(abiv1.ErrorCodeInvalidArgument, capLimit(capHTTPBody), "request body of %d bytes is over the cap of %d", len(req.Body), capHTTPBody)
	}
	if len(req.Headers) > capHTTPHeaders {
		return nil, capErr(abiv1.ErrorCodeInvalidArgument, capLimit(capHTTPHeaders), "%d request headers, at most %d", len(req.Headers), capHTTPHeaders)
	}
	if lines, size := headerSize(req.Headers); lines > capHTTPHeaders || size > capHTTPHeaderBytes {
		return nil, capErr(abiv1.ErrorCodeInvalidArgument, capLimit(capHTTPHeaderBytes),
			"request headers of %d lines, %d bytes, at most %d lines, %d bytes", lines, size, capHTTPHeaders, capHTTPHeaderBytes)
	}
	if req.TimeoutMs > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(req.TimeoutMs)*time.Millisecond)
		defer cancel()
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	hr, err := http.NewRequestWithContext(ctx, method, req.URL, bytes.NewReader(req.Body))
	if err != nil {
		return nil, capErr(abiv1.ErrorCodeInvalidArgument, nil, "http: %v", err)
	}
	for _, h := range req.Headers {
		if h == nil {
			continue
		}
		for _, v := range h.Values {
			hr.Header.Add(h.Name, v)
		}
	}
	res, err := p.http.Do(hr)
	if err != nil {
		return nil, classifyHTTPError(ctx, err)
	}
	defer res.Body.Close()
	out := &abiv1.HTTPResponse{Status: int32(res.StatusCode)}
	for _, k := range slices.Sorted(maps.Keys(res.Header)) {
		out.Headers = append(out.Headers, &abiv1.Header{Name: k, Values: res.Header[k]})
	}
	if lines, size := headerSize(out.Headers); lines > capHTTPHeaders || size > capHTTPHeaderBytes {
		return nil, capErr(abiv1.ErrorCodeUnavailable, responseTooLarge, "response headers (%d lines, %d bytes) over the caps of %d lines, %d bytes",
			lines, size, capHTTPHeaders, capHTTPHeaderBytes)
	}
	if res.ContentLength > capHTTPBody {
		return nil, capErr(abiv1.ErrorCodeUnavailable, responseTooLarge, "response body of %d bytes is over the cap of %d", res.ContentLength, capHTTPBody)
	}
	if out.Body, err = io.ReadAll(io.LimitReader(res.Body, capHTTPBody+1)); err != nil {
		return nil, classifyHTTPError(ctx, err)
	}
	if len(out.Body) > capHTTPBody {
		return nil, capErr(abiv1.ErrorCodeUnavailable, responseTooLarge, "response body over the cap of %d bytes", capHTTPBody)
	}
	return out, nil
}

// classifyHTTPError maps an outbound request failure to the code the wasm
// runtime reports.
func classifyHTTPError(ctx context.Context, err error) *abiv1.Error {
	var ne net.Error
	switch {
	case errors.Is(err, netguard.ErrDenied):
		return capErr(abiv1.ErrorCodePermissionDenied, nil, "http: %v", err)
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return capErr(abiv1.ErrorCodeDeadlineExceeded, nil, "http: %v", err)
	}
	e := capErr(abiv1.ErrorCodeUnavailable, nil, "http: %v", err)
	e.Retryable = true
	return e
}

func checkKVKey(key string) error {
	if key == "" || len(key) > capKVKey {
		return capErr(abiv1.ErrorCodeInvalidArgument, capLimit(capKVKey), "kv: key must have 1 to %d bytes", capKVKey)
	}
	return nil
}

// kvFailed reports a store failure without its details, which go to the
// gateway's log.
func (p *procCaps) kvFailed(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return capErr(abiv1.ErrorCodeDeadlineExceeded, nil, "kv.%s: %v", op, ctx.Err())
	}
	p.log.WarnContext(ctx, "plugin kv store failed", "op", op, "err", err)
	e := capErr(abiv1.ErrorCodeUnavailable, nil, "kv.%s: store unavailable", op)
	e.Retryable = true
	return e
}

// lockKV takes the namespace's write lock; unlock with <-p.kvMu.
func (p *procCaps) lockKV(ctx context.Context) error {
	select {
	case p.kvMu <- struct{}{}:
		return nil
	case <-ctx.Done():
		return capErr(abiv1.ErrorCodeDeadlineExceeded, nil, "kv: waiting for the namespace: %v", ctx.Err())
	}
}

// KVGet reads a key; a missing key is found = false.
func (p *procCaps) KVGet(ctx context.Context, r *abiv1.KVGetRequest) (*abiv1.KVGetResponse, error) {
	if err := checkKVKey(r.Key); err != nil {
		return nil, err
	}
	v, ver, err := p.kv.Get(ctx, p.name, r.Key)
	if errors.Is(err, store.ErrNotFound) {
		return &abiv1.KVGetResponse{}, nil
	} else if err != nil {
		return nil, p.kvFailed(ctx, "get", err)
	}
	return &abiv1.KVGetResponse{Found: true, Value: v, Version: ver}, nil
}

// KVPut writes a key within the quota (RATE_LIMITED when over it); a
// condition that does not hold is conflict = true.
func (p *procCaps) KVPut(ctx context.Context, r *abiv1.KVPutRequest) (*abiv1.KVPutResponse, error) {
	if err := checkKVKey(r.Key); err != nil {
		return nil, err
	}
	if len(r.Value) > capKVValue {
		return nil, capErr(abiv1.ErrorCodeInvalidArgument, capLimit(capKVValue), "kv.put: value of %d bytes, at most %d", len(r.Value), capKVValue)
	}
	if r.IfAbsent && r.IfVersion != 0 {
		return nil, capErr(abiv1.ErrorCodeInvalidArgument, nil, "kv.put: if_absent and if_version exclude each other")
	}
	if err := p.lockKV(ctx); err != nil {
		return nil, err
	}
	defer func() { <-p.kvMu }()
	old, ver, err := p.kv.Get(ctx, p.name, r.Key)
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, p.kvFailed(ctx, "put", err)
	}
	if (r.IfAbsent && found) || (r.IfVersion != 0 && ver != r.IfVersion) {
		return &abiv1.KVPutResponse{Conflict: true}, nil
	}
	dEntries, dBytes := 0, int64(len(r.Value))-int64(len(old))
	if !found {
		dEntries, dBytes = 1, dBytes+int64(len(r.Key))
	}
	n, size, err := p.kv.Usage(ctx, p.name)
	if err != nil {
		return nil, p.kvFailed(ctx, "put", err)
	}
	q := p.quota
	if (dEntries > 0 && n+dEntries > q.MaxEntries) || (dBytes > 0 && size+dBytes > q.MaxBytes) {
		return nil, capErr(abiv1.ErrorCodeRateLimited, map[string]string{"reason": "quota"},
			"kv.put: quota of %d entries, %d bytes exceeded (%d entries, %d bytes used)", q.MaxEntries, q.MaxBytes, n, size)
	}
	nv, err := p.kv.Put(ctx, p.name, r.Key, r.Value, store.KVCond{Version: r.IfVersion, Absent: r.IfAbsent})
	if errors.Is(err, store.ErrConflict) {
		return &abiv1.KVPutResponse{Conflict: true}, nil
	} else if err != nil {
		return nil, p.kvFailed(ctx, "put", err)
	}
	return &abiv1.KVPutResponse{Version: nv}, nil
}

// KVDelete deletes a key; a missing key is deleted = false.
func (p *procCaps) KVDelete(ctx context.Context, r *abiv1.KVDeleteRequest) (*abiv1.KVDeleteResponse, error) {
	if err := checkKVKey(r.Key); err != nil {
		return nil, err
	}
	if err := p.lockKV(ctx); err != nil {
		return nil, err
	}
	defer func() { <-p.kvMu }()
	err := p.kv.Delete(ctx, p.name, r.Key, store.KVCond{Version: r.IfVersion})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &abiv1.KVDeleteResponse{}, nil
	case errors.Is(err, store.ErrConflict):
		return &abiv1.KVDeleteResponse{Conflict: true}, nil
	case err != nil:
		return nil, p.kvFailed(ctx, "delete", err)
	}
	return &abiv1.KVDeleteResponse{Deleted: true}, nil
}

// KVList lists keys by prefix, after a key, 100 by default and at most 1000.
func (p *procCaps) KVList(ctx context.Context, r *abiv1.KVListRequest) (*abiv1.KVListResponse, error) {
	n := int(r.Limit)
	if n <= 0 {
		n = capKVList
	}
	items, err := p.kv.List(ctx, p.name, r.Prefix, r.After, min(n, capKVListMax))
	if err != nil {
		return nil, p.kvFailed(ctx, "list", err)
	}
	res := &abiv1.KVListResponse{Items: make([]*abiv1.KVItem, 0, len(items))}
	for _, it := range items {
		res.Items = append(res.Items, &abiv1.KVItem{Key: it.Key, Value: it.Value, Version: it.Version})
	}
	return res, nil
}

// SecretGet returns a granted secret; an unknown or ungranted name is
// NOT_FOUND.
func (p *procCaps) SecretGet(ctx context.Context, r *abiv1.SecretGetRequest) (*abiv1.SecretGetResponse, error) {
	if r.Name == "" {
		return nil, capErr(abiv1.ErrorCodeInvalidArgument, nil, "secrets.get: empty name")
	}
	v, err := p.secrets.Secret(ctx, r.Name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, capErr(abiv1.ErrorCodeNotFound, nil, "secrets.get: no secret %q", r.Name)
	} else if err != nil {
		p.log.WarnContext(ctx, "plugin secret source failed", "secret", r.Name, "err", err)
		e := capErr(abiv1.ErrorCodeUnavailable, nil, "secrets.get: %q unavailable", r.Name)
		e.Retryable = true
		return nil, e
	}
	return &abiv1.SecretGetResponse{Value: v}, nil
}

// Log writes the record to the gateway's logger with plugin=<name>: the
// message cut to 4 KiB, at most 32 attributes (sorted), and a plugin's own
// "plugin" attribute renamed guest.plugin.
func (p *procCaps) Log(level slog.Level, rec *abiv1.LogRecord) {
	ctx := context.Background()
	if !p.log.Enabled(ctx, level) {
		return
	}
	msg := rec.Message
	if len(msg) > capLogMessage {
		msg = msg[:capLogMessage]
		for !utf8.ValidString(msg) {
			msg = msg[:len(msg)-1]
		}
	}
	keys := slices.Sorted(maps.Keys(rec.Attrs))
	attrs := make([]slog.Attr, 0, min(len(keys), capLogAttrs))
	for _, k := range keys[:min(len(keys), capLogAttrs)] {
		name := k
		if name == "plugin" {
			name = "guest.plugin"
		}
		attrs = append(attrs, slog.String(name, rec.Attrs[k]))
	}
	p.log.LogAttrs(ctx, level, msg, attrs...)
}

// CounterAdd adds to the plugin's counter name.
func (p *procCaps) CounterAdd(name string, v float64) {
	if v >= 0 && !math.IsInf(v, 0) && !math.IsNaN(v) && p.metrics.admit(p.name, name) {
		p.metrics.counters.WithLabelValues(p.name, name).Add(v)
	}
}

// HistogramObserve observes a value of the plugin's histogram name.
func (p *procCaps) HistogramObserve(name string, v float64) {
	if !math.IsNaN(v) && p.metrics.admit(p.name, name) {
		p.metrics.values.WithLabelValues(p.name, name).Observe(v)
	}
}

// NowUnixNano returns the gateway's clock.
func (p *procCaps) NowUnixNano() int64 { return time.Now().UnixNano() }

// RandomFill fills b from crypto/rand.
func (p *procCaps) RandomFill(b []byte) { _, _ = rand.Read(b) }

// Config returns the operator's configuration.
func (p *procCaps) Config() []byte { return p.config }

// guestMetrics are the series of the plugins' own metrics, named as the
// wasm runtime names them, so that both runtimes add to the same series
// when they share a registry: at most 64 names per plugin, names matching
// [a-z_][a-z0-9_]{0,63}; others are dropped.
type guestMetrics struct {
	counters *prometheus.CounterVec
	values   *prometheus.HistogramVec

	mu    sync.Mutex
	names map[string]map[string]bool // plugin -> names admitted
}

var guestMetricName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,63}$`)

func newGuestMetrics(reg prometheus.Registerer) (*guestMetrics, error) {
	gm := &guestMetrics{
		// Name, help and labels are the wasm runtime's: a registry
		// accepts the second registration only if they are equal.
		counters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewayd_plugin_guest_counter_total",
			Help: "Counters a plugin adds to through gatewayd_v1_metrics.counter_add.",
		}, []string{"plugin", "name"}),
		values: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatewayd_plugin_guest_value",
			Help: "Values a plugin observes through gatewayd_v1_metrics.histogram_observe.",
		}, []string{"plugin", "name"}),
		names: map[string]map[string]bool{},
	}
	if reg == nil {
		return gm, nil
	}
	var err1, err2 error
	gm.counters, err1 = registerOrReuse(reg, gm.counters)
	gm.values, err2 = registerOrReuse(reg, gm.values)
	return gm, errors.Join(err1, err2)
}

// registerOrReuse registers c, or returns the equal collector registered
// before (by the wasm runtime or another manager).
func registerOrReuse[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	err := reg.Register(c)
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		if old, ok := are.ExistingCollector.(T); ok {
			return old, nil
		}
	}
	if err != nil {
		return c, fmt.Errorf("metrics: %w", err)
	}
	return c, nil
}

// admit reports whether plugin may use the metric name.
func (g *guestMetrics) admit(plugin, name string) bool {
	if !guestMetricName.MatchString(name) {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	names := g.names[plugin]
	if names == nil {
		names = map[string]bool{}
		g.names[plugin] = names
	}
	if !names[name] && len(names) >= capMetricNames {
		return false
	}
	names[name] = true
	return true
}
