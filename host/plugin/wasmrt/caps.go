package wasmrt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tetratelabs/wazero/api"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/netguard"
	"github.com/ubeu/gateway/host/store"
)

// Capabilities are the host services a plugin may be granted. A service is
// reachable only if its import module is listed in Spec.Grants; a granted
// module whose field is nil is refused at Load, except Log, Metrics, Clock,
// Random and Config, which have defaults. Implementations are called
// concurrently by the instances of a plugin.
//
// The request/result capabilities (HTTP, KV, secrets) follow the call
// convention of abi/README.md: a non-negative return is the length of the
// encoded response waiting in result_read; a negative return is
// -abiv1.ErrorCode and result_read then holds an encoded abiv1.Error. The
// codes used:
//
//	INVALID_ARGUMENT   the request does not decode or breaks a rule (empty
//	                   key, request body or headers over the caps); a cap
//	                   is named in Details["limit"]
//	NOT_FOUND          unknown secret
//	PERMISSION_DENIED  URL, redirect or address refused by the netguard policy
//	DEADLINE_EXCEEDED  the call's deadline (or timeout_ms) passed
//	RATE_LIMITED       KV quota exceeded (Details["reason"] = "quota")
//	UNAVAILABLE        the store, the secret source or the remote server
//	                   failed, or the response is over the caps
//	                   (Details["reason"] = "response_too_large")
//
// KV conditional writes that do not hold are not errors: they come back as
// conflict = true in the response.
type Capabilities struct {
	// HTTP serves gatewayd_v1_http.request. Use GuardedHTTP so that the
	// netguard policy applies to every URL, redirect and connection.
	HTTP HTTPDoer
	// HTTPMaxBodyBytes caps request and response bodies (default 1 MiB).
	// Headers are capped too: at most 64 header lines and 16 KiB of names
	// and values each way.
	HTTPMaxBodyBytes int64
	// KV serves gatewayd_v1_kv in the namespace named after the plugin.
	KV KVStore
	// KVQuota bounds what the plugin may store.
	KVQuota KVQuota
	// Secrets serves gatewayd_v1_secrets.get.
	Secrets SecretSource
	// Log receives gatewayd_v1_log.log (default: the runtime's logger).
	// Records carry the attribute plugin=<name>.
	Log *slog.Logger
	// Metrics receives gatewayd_v1_metrics (default: Prometheus series
	// gatewayd_plugin_guest_counter_total and gatewayd_plugin_guest_value).
	Metrics MetricsSink
	// Clock serves gatewayd_v1_clock.now_unix_nano (default time.Now, or a
	// fake clock when the spec is deterministic).
	Clock func() time.Time
	// Random serves gatewayd_v1_random.fill (default crypto/rand, or a
	// seeded stream when the spec is deterministic).
	Random io.Reader
	// Config is what gatewayd_v1_config.read returns.
	Config []byte
}

// HTTPDoer sends an outbound request; *http.Client implements it.
type HTTPDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// GuardedHTTP returns an HTTPDoer that enforces p (allow-list on the URL and
// every redirect, address checks at dial time, p.Timeout).
func GuardedHTTP(p *netguard.Policy) HTTPDoer { return p.Client() }

// KVStore is the part of store.KV the KV capability uses.
type KVStore interface {
	Get(ctx context.Context, ns, key string) ([]byte, uint64, error)
	Put(ctx context.Context, ns, key string, value []byte, cond store.KVCond) (uint64, error)
	Delete(ctx context.Context, ns, key string, cond store.KVCond) error
	List(ctx context.Context, ns, prefix, after string, limit int) ([]store.KVItem, error)
	Usage(ctx context.Context, ns string) (entries int, bytes int64, err error)
}

// KVQuota bounds a plugin's KV namespace. Zero fields take the defaults
// (10,000 entries, 16 MiB of keys and values). The writes of a plugin are
// serialised, so its instances cannot overshoot the quota together; writers
// outside this Plugin (another process sharing the store, or a second
// Runtime loading the same name) are not accounted for.
type KVQuota struct {
	MaxEntries int
	MaxBytes   int64
}

// SecretSource returns a named secret. It returns an error wrapping
// store.ErrNotFound for an unknown name.
type SecretSource interface {
	Secret(ctx context.Context, name string) ([]byte, error)
}

// MetricsSink receives a plugin's own metrics.
type MetricsSink interface {
	CounterAdd(name string, v float64)
	HistogramObserve(name string, v float64)
}

const (
	defaultHTTPBody    = 1 << 20
	maxHTTPHeaders     = 64
	maxHTTPHeaderBytes = 16 << 10
	defaultKVEntries   = 10000
	defaultKVBytes     = 16 << 20
	maxKVKey           = 1024
	maxKVValue         = 1 << 20
	defaultKVList      = 100
	maxKVList          = 1000
	maxLogRecord       = 64 << 10
	maxLogMessage      = 4 << 10
	maxLogAttrs        = 32
	maxMetricName      = 128
	maxRandomBytes     = 1 << 16
)

var reqResp = []api.ValueType{i32, i32}
var one32 = []api.ValueType{i32}

// capError is a failure of a capability call, returned to the guest as
// -code and an encoded abiv1.Error.
func capError(code abiv1.ErrorCode, details map[string]string, format string, args ...any) *abiv1.Error {
	return &abiv1.Error{Code: code, Message: fmt.Sprintf(format, args...), Details: details}
}

type message interface {
	MarshalAppend([]byte) []byte
	Unmarshal([]byte) error
}

// capFunc builds the (ptr, len) -> i32 request/result host function
// <module>.<export> named by name (e.g. "kv.put"): it reads
// and decodes the request (an undecodable one is INVALID_ARGUMENT), runs op
// and leaves the encoded response or Error for result_read. Only pointers
// outside linear memory fault the call.
func capFunc[Req any, Resp message, PReq interface {
	*Req
	message
}](name string, op func(p *Plugin, ctx context.Context, req PReq) (Resp, *abiv1.Error)) hostFuncDef {
	_, export, _ := strings.Cut(name, ".")
	return hostFuncDef{export, reqResp, one32, func(ctx context.Context, c *callState, mem guestMemory, s []uint64) error {
		b, err := readGuest(mem, name, api.DecodeU32(s[0]), api.DecodeU32(s[1]))
		if err != nil {
			return err
		}
		req := PReq(new(Req))
		if err := req.Unmarshal(b); err != nil {
			return c.fail(s, capError(abiv1.ErrorCodeInvalidArgument, nil, "%s: request does not decode: %v", name, err))
		}
		resp, e := op(c.plugin, ctx, req)
		if e != nil {
			return c.fail(s, e)
		}
		return c.respond(s, resp.MarshalAppend(nil))
	}}
}

// respond leaves res for result_read and returns its length.
func (c *callState) respond(s []uint64, res []byte) error {
	if uint64(len(res)) > math.MaxInt32 {
		return c.fail(s, capError(abiv1.ErrorCodeUnavailable, map[string]string{"reason": "response_too_large"}, "result of %d bytes", len(res)))
	}
	c.result = res
	s[0] = api.EncodeI32(int32(len(res)))
	return nil
}

// fail leaves the encoded e for result_read and returns -e.Code.
func (c *callState) fail(s []uint64, e *abiv1.Error) error {
	if e.Code <= 0 {
		e.Code = abiv1.ErrorCodeInternal
	}
	c.result = e.MarshalAppend(nil)
	s[0] = api.EncodeI32(-int32(e.Code))
	return nil
}

var httpFuncs = []hostFuncDef{capFunc("http.request", (*Plugin).doHTTP)}

func limit(n int64) map[string]string {
	return map[string]string{"limit": strconv.FormatInt(n, 10)}
}

var tooLarge = map[string]string{"reason": "response_too_large"}

// doHTTP serves gatewayd_v1_http.request through p.caps.HTTP, within the
// call's deadline (shortened by timeout_ms) and the size caps.
func (p *Plugin) doHTTP(ctx context.Context, req *abiv1.HTTPRequest) (*abiv1.HTTPResponse, *abiv1.Error) {
	max := p.caps.HTTPMaxBodyBytes
	if max <= 0 {
		max = defaultHTTPBody
	}
	if int64(len(req.Body)) > max {
		return nil, capError(abiv1.ErrorCodeInvalidArgument, limit(max), "request body of %d bytes is over the cap of %d", len(req.Body), max)
	}
	if len(req.Headers) > maxHTTPHeaders {
		return nil, capError(abiv1.ErrorCodeInvalidArgument, limit(maxHTTPHeaders), "%d request headers, at most %d", len(req.Headers), maxHTTPHeaders)
	}
	size, lines := 0, 0
	for _, h := range req.Headers {
		if h == nil {
			continue
		}
		for _, v := range h.Values {
			size += len(h.Name) + len(v)
			lines++
		}
	}
	if lines > maxHTTPHeaders {
		return nil, capError(abiv1.ErrorCodeInvalidArgument, limit(maxHTTPHeaders), "%d request header lines, at most %d", lines, maxHTTPHeaders)
	}
	if size > maxHTTPHeaderBytes {
		return nil, capError(abiv1.ErrorCodeInvalidArgument, limit(maxHTTPHeaderBytes), "request headers of %d bytes, at most %d", size, maxHTTPHeaderBytes)
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
	var body io.Reader
	if len(req.Body) > 0 {
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, method, req.URL, body)
	if err != nil {
		return nil, capError(abiv1.ErrorCodeInvalidArgument, nil, "http: %v", err)
	}
	for _, h := range req.Headers {
		if h == nil {
			continue
		}
		for _, v := range h.Values {
			hr.Header.Add(h.Name, v)
		}
	}
	res, err := p.caps.HTTP.Do(hr)
	if err != nil {
		return nil, httpError(ctx, err)
	}
	defer res.Body.Close()
	out := &abiv1.HTTPResponse{Status: int32(res.StatusCode)}
	size, lines = 0, 0
	keys := make([]string, 0, len(res.Header))
	for k, vs := range res.Header {
		keys = append(keys, k)
		for _, v := range vs {
			size += len(k) + len(v)
			lines++
		}
	}
	if lines > maxHTTPHeaders || size > maxHTTPHeaderBytes {
		return nil, capError(abiv1.ErrorCodeUnavailable, tooLarge, "response headers (%d lines, %d bytes) over the caps of %d lines, %d bytes", lines, size, maxHTTPHeaders, maxHTTPHeaderBytes)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out.Headers = append(out.Headers, &abiv1.Header{Name: k, Values: res.Header[k]})
	}
	if res.ContentLength > max {
		return nil, capError(abiv1.ErrorCodeUnavailable, tooLarge, "response body of %d bytes is over the cap of %d", res.ContentLength, max)
	}
	out.Body, err = io.ReadAll(io.LimitReader(res.Body, max+1))
	if err != nil {
		return nil, httpError(ctx, err)
	}
	if int64(len(out.Body)) > max {
		return nil, capError(abiv1.ErrorCodeUnavailable, tooLarge, "response body over the cap of %d bytes", max)
	}
	return out, nil
}

// httpError classifies an outbound request failure.
func httpError(ctx context.Context, err error) *abiv1.Error {
	var ne net.Error
	switch {
	case errors.Is(err, netguard.ErrDenied):
		return capError(abiv1.ErrorCodePermissionDenied, nil, "http: %v", err)
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return capError(abiv1.ErrorCodeDeadlineExceeded, nil, "http: %v", err)
	default:
		e := capError(abiv1.ErrorCodeUnavailable, nil, "http: %v", err)
		e.Retryable = true
		return e
	}
}

var kvFuncs = []hostFuncDef{
	capFunc("kv.get", (*Plugin).kvGet),
	capFunc("kv.put", (*Plugin).kvPut),
	capFunc("kv.delete", (*Plugin).kvDelete),
	capFunc("kv.list", (*Plugin).kvList),
}

func checkKey(key string) *abiv1.Error {
	if key == "" || len(key) > maxKVKey {
		return capError(abiv1.ErrorCodeInvalidArgument, limit(maxKVKey), "kv: key must have 1 to %d bytes", maxKVKey)
	}
	return nil
}

// storeError reports a store failure to the guest without its details,
// which go to the host's log.
func (p *Plugin) storeError(ctx context.Context, op string, err error) *abiv1.Error {
	if ctx.Err() != nil {
		return capError(abiv1.ErrorCodeDeadlineExceeded, nil, "kv.%s: %v", op, ctx.Err())
	}
	p.rt.log.Warn("plugin kv store failed", "plugin", p.name, "op", op, "err", err)
	e := capError(abiv1.ErrorCodeUnavailable, nil, "kv.%s: store unavailable", op)
	e.Retryable = true
	return e
}

func (p *Plugin) kvGet(ctx context.Context, r *abiv1.KVGetRequest) (*abiv1.KVGetResponse, *abiv1.Error) {
	if e := checkKey(r.Key); e != nil {
		return nil, e
	}
	v, ver, err := p.caps.KV.Get(ctx, p.name, r.Key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &abiv1.KVGetResponse{}, nil
	case err != nil:
		return nil, p.storeError(ctx, "get", err)
	}
	return &abiv1.KVGetResponse{Found: true, Value: v, Version: ver}, nil
}

// lockKV serialises the writes of the plugin's namespace, so that the quota
// check and the write it admits are one step.
func (p *Plugin) lockKV(ctx context.Context) *abiv1.Error {
	select {
	case p.kvMu <- struct{}{}:
		return nil
	case <-ctx.Done():
		return capError(abiv1.ErrorCodeDeadlineExceeded, nil, "kv: waiting for the namespace: %v", ctx.Err())
	}
}

func (p *Plugin) unlockKV() { <-p.kvMu }

func (p *Plugin) kvPut(ctx context.Context, r *abiv1.KVPutRequest) (*abiv1.KVPutResponse, *abiv1.Error) {
	if e := checkKey(r.Key); e != nil {
		return nil, e
	}
	if len(r.Value) > maxKVValue {
		return nil, capError(abiv1.ErrorCodeInvalidArgument, limit(maxKVValue), "kv.put: value of %d bytes, at most %d", len(r.Value), maxKVValue)
	}
	if r.IfAbsent && r.IfVersion != 0 {
		return nil, capError(abiv1.ErrorCodeInvalidArgument, nil, "kv.put: if_absent and if_version exclude each other")
	}
	if e := p.lockKV(ctx); e != nil {
		return nil, e
	}
	defer p.unlockKV()
	old, ver, err := p.caps.KV.Get(ctx, p.name, r.Key)
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, p.storeError(ctx, "put", err)
	}
	if (r.IfAbsent && found) || (r.IfVersion != 0 && ver != r.IfVersion) {
		return &abiv1.KVPutResponse{Conflict: true}, nil
	}
	q := p.caps.KVQuota
	if q.MaxEntries <= 0 {
		q.MaxEntries = defaultKVEntries
	}
	if q.MaxBytes <= 0 {
		q.MaxBytes = defaultKVBytes
	}
	dEntries, dBytes := 0, int64(len(r.Value))-int64(len(old))
	if !found {
		dEntries, dBytes = 1, dBytes+int64(len(r.Key))
	}
	n, size, err := p.caps.KV.Usage(ctx, p.name)
	if err != nil {
		return nil, p.storeError(ctx, "put", err)
	}
	if (dEntries > 0 && n+dEntries > q.MaxEntries) || (dBytes > 0 && size+dBytes > q.MaxBytes) {
		return nil, capError(abiv1.ErrorCodeRateLimited, map[string]string{"reason": "quota"},
			"kv.put: quota of %d entries, %d bytes exceeded (%d entries, %d bytes used)", q.MaxEntries, q.MaxBytes, n, size)
	}
	nv, err := p.caps.KV.Put(ctx, p.name, r.Key, r.Value, store.KVCond{Version: r.IfVersion, Absent: r.IfAbsent})
	switch {
	case errors.Is(err, store.ErrConflict):
		return &abiv1.KVPutResponse{Conflict: true}, nil
	case err != nil:
		return nil, p.storeError(ctx, "put", err)
	}
	return &abiv1.KVPutResponse{Version: nv}, nil
}

func (p *Plugin) kvDelete(ctx context.Context, r *abiv1.KVDeleteRequest) (*abiv1.KVDeleteResponse, *abiv1.Error) {
	if e := checkKey(r.Key); e != nil {
		return nil, e
	}
	if e := p.lockKV(ctx); e != nil {
		return nil, e
	}
	defer p.unlockKV()
	err := p.caps.KV.Delete(ctx, p.name, r.Key, store.KVCond{Version: r.IfVersion})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &abiv1.KVDeleteResponse{}, nil
	case errors.Is(err, store.ErrConflict):
		return &abiv1.KVDeleteResponse{Conflict: true}, nil
	case err != nil:
		return nil, p.storeError(ctx, "delete", err)
	}
	return &abiv1.KVDeleteResponse{Deleted: true}, nil
}

func (p *Plugin) kvList(ctx context.Context, r *abiv1.KVListRequest) (*abiv1.KVListResponse, *abiv1.Error) {
	n := int(r.Limit)
	switch {
	case n == 0:
		n = defaultKVList
	case n > maxKVList:
		n = maxKVList
	}
	items, err := p.caps.KV.List(ctx, p.name, r.Prefix, r.After, n)
	if err != nil {
		return nil, p.storeError(ctx, "list", err)
	}
	res := &abiv1.KVListResponse{Items: make([]*abiv1.KVItem, 0, len(items))}
	for _, it := range items {
		res.Items = append(res.Items, &abiv1.KVItem{Key: it.Key, Value: it.Value, Version: it.Version})
	}
	return res, nil
}

var secretsFuncs = []hostFuncDef{capFunc("secrets.get", (*Plugin).secretGet)}

func (p *Plugin) secretGet(ctx context.Context, r *abiv1.SecretGetRequest) (*abiv1.SecretGetResponse, *abiv1.Error) {
	if r.Name == "" {
		return nil, capError(abiv1.ErrorCodeInvalidArgument, nil, "secrets.get: empty name")
	}
	v, err := p.caps.Secrets.Secret(ctx, r.Name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, capError(abiv1.ErrorCodeNotFound, nil, "secrets.get: no secret %q", r.Name)
	case err != nil:
		p.rt.log.Warn("plugin secret source failed", "plugin", p.name, "secret", r.Name, "err", err)
		e := capError(abiv1.ErrorCodeUnavailable, nil, "secrets.get: %q unavailable", r.Name)
		e.Retryable = true
		return nil, e
	}
	return &abiv1.SecretGetResponse{Value: v}, nil
}

// logFuncs serve gatewayd_v1_log.log. A record that is too long or does not
// decode is dropped with a warning on the host: logging cannot fail a call.
var logFuncs = []hostFuncDef{{"log", []api.ValueType{i32, i32, i32}, nil, func(ctx context.Context, c *callState, mem guestMemory, s []uint64) error {
	level := slog.Level(api.DecodeI32(s[0]))
	ptr, n := api.DecodeU32(s[1]), api.DecodeU32(s[2])
	b, err := readGuest(mem, "log.log", ptr, n)
	if err != nil {
		return err
	}
	p := c.plugin
	if n > maxLogRecord {
		p.rt.log.Warn("plugin log record dropped", "plugin", p.name, "bytes", n, "max", maxLogRecord)
		return nil
	}
	var rec abiv1.LogRecord
	if err := rec.Unmarshal(b); err != nil {
		p.rt.log.Warn("plugin log record dropped", "plugin", p.name, "err", err)
		return nil
	}
	if !p.log.Enabled(ctx, level) {
		return nil
	}
	msg := rec.Message
	if len(msg) > maxLogMessage {
		msg = msg[:maxLogMessage]
		for !utf8.ValidString(msg) {
			msg = msg[:len(msg)-1]
		}
	}
	keys := make([]string, 0, len(rec.Attrs))
	for k := range rec.Attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > maxLogAttrs {
		keys = keys[:maxLogAttrs]
	}
	attrs := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		name := k
		if name == "plugin" { // set by the host
			name = "guest.plugin"
		}
		attrs = append(attrs, slog.String(name, rec.Attrs[k]))
	}
	p.log.LogAttrs(ctx, level, msg, attrs...)
	return nil
}}}

func metricFunc(name string, f func(MetricsSink, string, float64)) hostFuncDef {
	return hostFuncDef{name, []api.ValueType{i32, i32, f64}, nil, func(_ context.Context, c *callState, mem guestMemory, s []uint64) error {
		b, err := readGuest(mem, "metrics."+name, api.DecodeU32(s[0]), api.DecodeU32(s[1]))
		if err != nil {
			return err
		}
		if len(b) == 0 || len(b) > maxMetricName || !utf8.Valid(b) {
			return nil // not a metric name; dropped
		}
		f(c.plugin.sink, string(b), api.DecodeF64(s[2]))
		return nil
	}}
}

var metricsFuncs = []hostFuncDef{
	metricFunc("counter_add", MetricsSink.CounterAdd),
	metricFunc("histogram_observe", MetricsSink.HistogramObserve),
}

var clockFuncs = []hostFuncDef{{"now_unix_nano", nil, []api.ValueType{i64}, func(_ context.Context, c *callState, _ guestMemory, s []uint64) error {
	s[0] = api.EncodeI64(c.plugin.clock().UnixNano())
	return nil
}}}

var randomFuncs = []hostFuncDef{{"fill", reqResp, nil, func(_ context.Context, c *callState, mem guestMemory, s []uint64) error {
	ptr, n := api.DecodeU32(s[0]), api.DecodeU32(s[1])
	if n > maxRandomBytes {
		return fmt.Errorf("%w: random.fill: %d bytes, at most %d", ErrABI, n, maxRandomBytes)
	}
	buf := make([]byte, n)
	c.plugin.randMu.Lock()
	_, err := io.ReadFull(c.plugin.random, buf)
	c.plugin.randMu.Unlock()
	if err != nil {
		return fmt.Errorf("wasmrt: random.fill: %w", err)
	}
	if n > 0 && !mem.Write(ptr, buf) {
		return oob("random.fill", ptr, uint64(n))
	}
	return nil
}}}

var configFuncs = []hostFuncDef{{"read", reqResp, one32, func(_ context.Context, c *callState, mem guestMemory, s []uint64) error {
	n, err := copyOut(mem, "config.read", c.plugin.caps.Config, api.DecodeU32(s[0]), api.DecodeU32(s[1]))
	s[0] = api.EncodeU32(n)
	return err
}}}

// promSink is the default MetricsSink: one counter and one histogram series
// per metric name, at most maxGuestMetricNames names per plugin. Other names
// and invalid names are dropped.
type promSink struct {
	plugin   string
	counters *prometheus.CounterVec
	values   *prometheus.HistogramVec
	mu       sync.Mutex
	names    map[string]bool
}

const maxGuestMetricNames = 64

var metricName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,63}$`)

func (s *promSink) admit(name string) bool {
	if !metricName.MatchString(name) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.names[name] {
		return true
	}
	if len(s.names) >= maxGuestMetricNames {
		return false
	}
	s.names[name] = true
	return true
}

func (s *promSink) CounterAdd(name string, v float64) {
	if v >= 0 && !math.IsInf(v, 0) && !math.IsNaN(v) && s.admit(name) {
		s.counters.WithLabelValues(s.plugin, name).Add(v)
	}
}

func (s *promSink) HistogramObserve(name string, v float64) {
	if !math.IsNaN(v) && s.admit(name) {
		s.values.WithLabelValues(s.plugin, name).Observe(v)
	}
}
