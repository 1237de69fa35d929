// Package caps implements the capabilities the gateway offers plugins
// (abi/README.md, "Capability call convention"), once for every runtime:
// host/plugin/wasmrt decodes a guest's pointers and bytes and calls a Host,
// and the process runtime of host/plugin/manager maps procrt.Capabilities
// onto one.
//
// The request/result operations (HTTP, KV, secrets) return an *abiv1.Error
// on failure, with the codes:
//
//	INVALID_ARGUMENT   the request breaks a rule (empty key, request body
//	                   or headers over the caps); a cap is named in
//	                   Details["limit"]
//	NOT_FOUND          unknown secret
//	PERMISSION_DENIED  URL, redirect or address refused by the netguard
//	                   policy, or HTTP not served
//	DEADLINE_EXCEEDED  the call's deadline (or timeout_ms) passed
//	RATE_LIMITED       KV quota exceeded (Details["reason"] = "quota")
//	UNAVAILABLE        the store, the secret source or the remote server
//	                   failed, or the response is over the caps
//	                   (Details["reason"] = "response_too_large")
//
// KV conditional writes that do not hold are not errors: they come back as
// conflict = true in the response.
package caps

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/netguard"
	"github.com/ubeu/gateway/host/store"
)

// Limits of the capabilities, the same under every runtime.
const (
	// DefaultHTTPBody caps request and response bodies when
	// Host.HTTPMaxBodyBytes is not set.
	DefaultHTTPBody = 1 << 20
	// MaxHTTPHeaders caps the header lines of a request and a response.
	MaxHTTPHeaders = 64
	// MaxHTTPHeaderBytes caps the names and values of the headers of a
	// request and a response.
	MaxHTTPHeaderBytes = 16 << 10
	// DefaultKVEntries and DefaultKVBytes are the quota when Quota's
	// fields are not set.
	DefaultKVEntries = 10000
	DefaultKVBytes   = 16 << 20
	// MaxKVKey and MaxKVValue cap a key and a value.
	MaxKVKey   = 1024
	MaxKVValue = 1 << 20
	// DefaultKVList and MaxKVList bound the items of a kv.list.
	DefaultKVList = 100
	MaxKVList     = 1000
	// MaxLogMessage and MaxLogAttrs cap a log record: its message is cut,
	// its attributes beyond the first (sorted) are dropped.
	MaxLogMessage = 4 << 10
	MaxLogAttrs   = 32
	// MaxMetricName caps a metric name; longer ones are dropped.
	MaxMetricName = 128
)

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

// Quota bounds a plugin's KV namespace. Zero fields take the defaults
// (DefaultKVEntries, DefaultKVBytes). The writes through one Host are
// serialised, so concurrent callers cannot overshoot the quota together;
// writers outside the Host are not accounted for.
type Quota struct {
	MaxEntries int
	MaxBytes   int64
}

// SecretSource returns a named secret. It returns an error wrapping
// store.ErrNotFound for an unknown name.
type SecretSource interface {
	Secret(ctx context.Context, name string) ([]byte, error)
}

// Sink receives a plugin's own metrics.
type Sink interface {
	CounterAdd(name string, v float64)
	HistogramObserve(name string, v float64)
}

// Host serves the capabilities of one plugin. Set its fields, then use it
// by pointer, concurrently; do not change the fields after the first call.
type Host struct {
	// Plugin names the plugin: its KV namespace and the plugin attribute
	// of its logs.
	Plugin string
	// HTTPClient sends the outbound requests (use GuardedHTTP); nil
	// refuses them with PERMISSION_DENIED.
	HTTPClient HTTPDoer
	// HTTPMaxBodyBytes caps request and response bodies (default
	// DefaultHTTPBody).
	HTTPMaxBodyBytes int64
	// KV stores the plugin's data in the namespace Plugin.
	KV KVStore
	// KVQuota bounds what the plugin may store.
	KVQuota Quota
	// Secrets returns the secrets granted to the plugin.
	Secrets SecretSource
	// Logger receives the plugin's log records, with plugin=<Plugin>
	// added. Nil drops them.
	Logger *slog.Logger
	// HostLog receives the host's warnings about the plugin (store or
	// secret source failures, dropped records), with plugin=<Plugin>
	// added (default Logger).
	HostLog *slog.Logger
	// Metrics receives the plugin's metrics; nil drops them.
	Metrics Sink
	// Clock serves Now (default time.Now).
	Clock func() time.Time
	// Rand serves Random (default crypto/rand).
	Rand io.Reader
	// Config is what ConfigBytes returns.
	Config []byte

	once    sync.Once
	log     *slog.Logger
	hostLog *slog.Logger
	kvMu    chan struct{} // serialises writes: quota check and write are one step
	randMu  sync.Mutex
}

var discard = slog.New(slog.DiscardHandler)

func (h *Host) init() {
	h.once.Do(func() {
		h.kvMu = make(chan struct{}, 1)
		base := h.Logger
		if base == nil {
			base = discard
		}
		h.log = base.With("plugin", h.Plugin)
		if h.HostLog != nil {
			h.hostLog = h.HostLog.With("plugin", h.Plugin)
		} else {
			h.hostLog = h.log
		}
	})
}

// Warn logs a warning about the plugin to HostLog, with plugin=<Plugin>.
func (h *Host) Warn(ctx context.Context, msg string, args ...any) {
	h.init()
	h.hostLog.WarnContext(ctx, msg, args...)
}

// Errorf returns an *abiv1.Error with code, details and a formatted message.
func Errorf(code abiv1.ErrorCode, details map[string]string, format string, args ...any) *abiv1.Error {
	return &abiv1.Error{Code: code, Message: fmt.Sprintf(format, args...), Details: details}
}

func limit(n int64) map[string]string {
	return map[string]string{"limit": strconv.FormatInt(n, 10)}
}

// TooLarge returns the details of an UNAVAILABLE error for a response over
// a cap.
func TooLarge() map[string]string { return map[string]string{"reason": "response_too_large"} }

// headerSize counts the lines and the bytes of names and values of hs.
func headerSize(hs []*abiv1.Header) (lines, size int) {
	for _, h := range hs {
		if h == nil {
			continue
		}
		for _, v := range h.Values {
			size += len(h.Name) + len(v)
			lines++
		}
	}
	return lines, size
}

// HTTP sends req through h.HTTPClient, within the call's deadline (shortened by
// timeout_ms) and the size caps.
func (h *Host) HTTP(ctx context.Context, req *abiv1.HTTPRequest) (*abiv1.HTTPResponse, *abiv1.Error) {
	if h.HTTPClient == nil {
		return nil, Errorf(abiv1.ErrorCodePermissionDenied, nil, "http: not granted")
	}
	max := h.HTTPMaxBodyBytes
	if max <= 0 {
		max = DefaultHTTPBody
	}
	if int64(len(req.Body)) > max {
		return nil, Errorf(abiv1.ErrorCodeInvalidArgument, limit(max), "request body of %d bytes is over the cap of %d", len(req.Body), max)
	}
	if len(req.Headers) > MaxHTTPHeaders {
		return nil, Errorf(abiv1.ErrorCodeInvalidArgument, limit(MaxHTTPHeaders), "%d request headers, at most %d", len(req.Headers), MaxHTTPHeaders)
	}
	lines, size := headerSize(req.Headers)
	if lines > MaxHTTPHeaders {
		return nil, Errorf(abiv1.ErrorCodeInvalidArgument, limit(MaxHTTPHeaders), "%d request header lines, at most %d", lines, MaxHTTPHeaders)
	}
	if size > MaxHTTPHeaderBytes {
		return nil, Errorf(abiv1.ErrorCodeInvalidArgument, limit(MaxHTTPHeaderBytes), "request headers of %d bytes, at most %d", size, MaxHTTPHeaderBytes)
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
		return nil, Errorf(abiv1.ErrorCodeInvalidArgument, nil, "http: %v", err)
	}
	for _, hd := range req.Headers {
		if hd == nil {
			continue
		}
		for _, v := range hd.Values {
			hr.Header.Add(hd.Name, v)
		}
	}
	res, err := h.HTTPClient.Do(hr)
	if err != nil {
		return nil, httpError(ctx, err)
	}
	defer res.Body.Close()
	out := &abiv1.HTTPResponse{Status: int32(res.StatusCode)}
	keys := make([]string, 0, len(res.Header))
	for k := range res.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out.Headers = append(out.Headers, &abiv1.Header{Name: k, Values: res.Header[k]})
	}
	if lines, size := headerSize(out.Headers); lines > MaxHTTPHeaders || size > MaxHTTPHeaderBytes {
		return nil, Errorf(abiv1.ErrorCodeUnavailable, TooLarge(), "response headers (%d lines, %d bytes) over the caps of %d lines, %d bytes", lines, size, MaxHTTPHeaders, MaxHTTPHeaderBytes)
	}
	if res.ContentLength > max {
		return nil, Errorf(abiv1.ErrorCodeUnavailable, TooLarge(), "response body of %d bytes is over the cap of %d", res.ContentLength, max)
	}
	out.Body, err = io.ReadAll(io.LimitReader(res.Body, max+1))
	if err != nil {
		return nil, httpError(ctx, err)
	}
	if int64(len(out.Body)) > max {
		return nil, Errorf(abiv1.ErrorCodeUnavailable, TooLarge(), "response body over the cap of %d bytes", max)
	}
	return out, nil
}

// httpError classifies an outbound request failure.
func httpError(ctx context.Context, err error) *abiv1.Error {
	var ne net.Error
	switch {
	case errors.Is(err, netguard.ErrDenied):
		return Errorf(abiv1.ErrorCodePermissionDenied, nil, "http: %v", err)
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return Errorf(abiv1.ErrorCodeDeadlineExceeded, nil, "http: %v", err)
	default:
		e := Errorf(abiv1.ErrorCodeUnavailable, nil, "http: %v", err)
		e.Retryable = true
		return e
	}
}

func checkKey(key string) *abiv1.Error {
	if key == "" || len(key) > MaxKVKey {
		return Errorf(abiv1.ErrorCodeInvalidArgument, limit(MaxKVKey), "kv: key must have 1 to %d bytes", MaxKVKey)
	}
	return nil
}

// storeError reports a store failure without its details, which go to the
// host's log.
func (h *Host) storeError(ctx context.Context, op string, err error) *abiv1.Error {
	if ctx.Err() != nil {
		return Errorf(abiv1.ErrorCodeDeadlineExceeded, nil, "kv.%s: %v", op, ctx.Err())
	}
	h.Warn(ctx, "plugin kv store failed", "op", op, "err", err)
	e := Errorf(abiv1.ErrorCodeUnavailable, nil, "kv.%s: store unavailable", op)
	e.Retryable = true
	return e
}

func (h *Host) noKV(op string) *abiv1.Error {
	return Errorf(abiv1.ErrorCodePermissionDenied, nil, "kv.%s: not granted", op)
}

// KVGet reads a key; a missing key is found = false.
func (h *Host) KVGet(ctx context.Context, r *abiv1.KVGetRequest) (*abiv1.KVGetResponse, *abiv1.Error) {
	if e := checkKey(r.Key); e != nil {
		return nil, e
	}
	if h.KV == nil {
		return nil, h.noKV("get")
	}
	v, ver, err := h.KV.Get(ctx, h.Plugin, r.Key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &abiv1.KVGetResponse{}, nil
	case err != nil:
		return nil, h.storeError(ctx, "get", err)
	}
	return &abiv1.KVGetResponse{Found: true, Value: v, Version: ver}, nil
}

// lockKV serialises the writes of the plugin's namespace, so that the quota
// check and the write it admits are one step.
func (h *Host) lockKV(ctx context.Context) *abiv1.Error {
	h.init()
	select {
	case h.kvMu <- struct{}{}:
		return nil
	case <-ctx.Done():
		return Errorf(abiv1.ErrorCodeDeadlineExceeded, nil, "kv: waiting for the namespace: %v", ctx.Err())
	}
}

func (h *Host) unlockKV() { <-h.kvMu }

// KVPut writes a key within the quota (RATE_LIMITED when over it); a
// condition that does not hold is conflict = true.
func (h *Host) KVPut(ctx context.Context, r *abiv1.KVPutRequest) (*abiv1.KVPutResponse, *abiv1.Error) {
	if e := checkKey(r.Key); e != nil {
		return nil, e
	}
	if len(r.Value) > MaxKVValue {
		return nil, Errorf(abiv1.ErrorCodeInvalidArgument, limit(MaxKVValue), "kv.put: value of %d bytes, at most %d", len(r.Value), MaxKVValue)
	}
	if r.IfAbsent && r.IfVersion != 0 {
		return nil, Errorf(abiv1.ErrorCodeInvalidArgument, nil, "kv.put: if_absent and if_version exclude each other")
	}
	if h.KV == nil {
		return nil, h.noKV("put")
	}
	if e := h.lockKV(ctx); e != nil {
		return nil, e
	}
	defer h.unlockKV()
	old, ver, err := h.KV.Get(ctx, h.Plugin, r.Key)
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, h.storeError(ctx, "put", err)
	}
	if (r.IfAbsent && found) || (r.IfVersion != 0 && ver != r.IfVersion) {
		return &abiv1.KVPutResponse{Conflict: true}, nil
	}
	q := h.KVQuota
	if q.MaxEntries <= 0 {
		q.MaxEntries = DefaultKVEntries
	}
	if q.MaxBytes <= 0 {
		q.MaxBytes = DefaultKVBytes
	}
	dEntries, dBytes := 0, int64(len(r.Value))-int64(len(old))
	if !found {
		dEntries, dBytes = 1, dBytes+int64(len(r.Key))
	}
	n, size, err := h.KV.Usage(ctx, h.Plugin)
	if err != nil {
		return nil, h.storeError(ctx, "put", err)
	}
	if (dEntries > 0 && n+dEntries > q.MaxEntries) || (dBytes > 0 && size+dBytes > q.MaxBytes) {
		return nil, Errorf(abiv1.ErrorCodeRateLimited, map[string]string{"reason": "quota"},
			"kv.put: quota of %d entries, %d bytes exceeded (%d entries, %d bytes used)", q.MaxEntries, q.MaxBytes, n, size)
	}
	nv, err := h.KV.Put(ctx, h.Plugin, r.Key, r.Value, store.KVCond{Version: r.IfVersion, Absent: r.IfAbsent})
	switch {
	case errors.Is(err, store.ErrConflict):
		return &abiv1.KVPutResponse{Conflict: true}, nil
	case err != nil:
		return nil, h.storeError(ctx, "put", err)
	}
	return &abiv1.KVPutResponse{Version: nv}, nil
}

// KVDelete deletes a key; a missing key is deleted = false, a version that
// does not match conflict = true.
func (h *Host) KVDelete(ctx context.Context, r *abiv1.KVDeleteRequest) (*abiv1.KVDeleteResponse, *abiv1.Error) {
	if e := checkKey(r.Key); e != nil {
		return nil, e
	}
	if h.KV == nil {
		return nil, h.noKV("delete")
	}
	if e := h.lockKV(ctx); e != nil {
		return nil, e
	}
	defer h.unlockKV()
	err := h.KV.Delete(ctx, h.Plugin, r.Key, store.KVCond{Version: r.IfVersion})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &abiv1.KVDeleteResponse{}, nil
	case errors.Is(err, store.ErrConflict):
		return &abiv1.KVDeleteResponse{Conflict: true}, nil
	case err != nil:
		return nil, h.storeError(ctx, "delete", err)
	}
	return &abiv1.KVDeleteResponse{Deleted: true}, nil
}

// KVList lists keys by prefix, after a key, DefaultKVList by default and at
// most MaxKVList.
func (h *Host) KVList(ctx context.Context, r *abiv1.KVListRequest) (*abiv1.KVListResponse, *abiv1.Error) {
	if h.KV == nil {
		return nil, h.noKV("list")
	}
	n := int(r.Limit)
	switch {
	case n <= 0:
		n = DefaultKVList
	case n > MaxKVList:
		n = MaxKVList
	}
	items, err := h.KV.List(ctx, h.Plugin, r.Prefix, r.After, n)
	if err != nil {
		return nil, h.storeError(ctx, "list", err)
	}
	res := &abiv1.KVListResponse{Items: make([]*abiv1.KVItem, 0, len(items))}
	for _, it := range items {
		res.Items = append(res.Items, &abiv1.KVItem{Key: it.Key, Value: it.Value, Version: it.Version})
	}
	return res, nil
}

// Secret returns a secret of h.Secrets; an unknown name is NOT_FOUND, a
// failing source UNAVAILABLE (its error goes to the host's log).
func (h *Host) Secret(ctx context.Context, r *abiv1.SecretGetRequest) (*abiv1.SecretGetResponse, *abiv1.Error) {
	if r.Name == "" {
		return nil, Errorf(abiv1.ErrorCodeInvalidArgument, nil, "secrets.get: empty name")
	}
	if h.Secrets == nil {
		return nil, Errorf(abiv1.ErrorCodeNotFound, nil, "secrets.get: no secret %q", r.Name)
	}
	v, err := h.Secrets.Secret(ctx, r.Name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, Errorf(abiv1.ErrorCodeNotFound, nil, "secrets.get: no secret %q", r.Name)
	case err != nil:
		h.Warn(ctx, "plugin secret source failed", "secret", r.Name, "err", err)
		e := Errorf(abiv1.ErrorCodeUnavailable, nil, "secrets.get: %q unavailable", r.Name)
		e.Retryable = true
		return nil, e
	}
	return &abiv1.SecretGetResponse{Value: v}, nil
}

// Log writes rec to h.Logger with plugin=<Plugin>: the message cut to
// MaxLogMessage bytes, at most MaxLogAttrs attributes (sorted), and a
// plugin's own "plugin" attribute renamed guest.plugin.
func (h *Host) Log(ctx context.Context, level slog.Level, rec *abiv1.LogRecord) {
	h.init()
	if !h.log.Enabled(ctx, level) {
		return
	}
	msg := rec.Message
	if len(msg) > MaxLogMessage {
		msg = msg[:MaxLogMessage]
		for !utf8.ValidString(msg) {
			msg = msg[:len(msg)-1]
		}
	}
	keys := make([]string, 0, len(rec.Attrs))
	for k := range rec.Attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > MaxLogAttrs {
		keys = keys[:MaxLogAttrs]
	}
	attrs := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		name := k
		if name == "plugin" { // set by the host
			name = "guest.plugin"
		}
		attrs = append(attrs, slog.String(name, rec.Attrs[k]))
	}
	h.log.LogAttrs(ctx, level, msg, attrs...)
}

// metricNameOK reports whether name may reach the sink: not empty, at most
// MaxMetricName bytes, UTF-8.
func metricNameOK(name string) bool {
	return name != "" && len(name) <= MaxMetricName && utf8.ValidString(name)
}

// CounterAdd adds v to the plugin's counter name; invalid names are dropped.
func (h *Host) CounterAdd(name string, v float64) {
	if h.Metrics != nil && metricNameOK(name) {
		h.Metrics.CounterAdd(name, v)
	}
}

// HistogramObserve observes v in the plugin's histogram name; invalid names
// are dropped.
func (h *Host) HistogramObserve(name string, v float64) {
	if h.Metrics != nil && metricNameOK(name) {
		h.Metrics.HistogramObserve(name, v)
	}
}

// Now returns the time of h.Clock (default time.Now).
func (h *Host) Now() time.Time {
	if h.Clock != nil {
		return h.Clock()
	}
	return time.Now()
}

// Random fills b from h.Rand (default crypto/rand); the reads of one Host
// are serialised.
func (h *Host) Random(b []byte) error {
	if h.Rand == nil {
		_, err := crand.Read(b)
		return err
	}
	h.randMu.Lock()
	defer h.randMu.Unlock()
	_, err := io.ReadFull(h.Rand, b)
	return err
}

// ConfigBytes returns the plugin's configuration.
func (h *Host) ConfigBytes() []byte { return h.Config }
