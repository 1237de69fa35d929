package wasmrt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tetratelabs/wazero/api"

	"github.com/ubeu/gateway/host/netguard"
	"github.com/ubeu/gateway/host/store"
)

// Capabilities are the host services a plugin may be granted. A service is
// reachable only if its import module is listed in Spec.Grants; a granted
// module whose field is nil is refused at Load, except Log, Metrics, Clock,
// Random and Config, which have defaults. Implementations are called
// concurrently by the instances of a plugin.
type Capabilities struct {
	// HTTP serves gatewayd_v1_http.request. Use GuardedHTTP so that the
	// netguard policy applies to every URL, redirect and connection.
	HTTP HTTPDoer
	// HTTPMaxBodyBytes caps request and response bodies (default 1 MiB).
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
// (10,000 entries, 16 MiB). The check reads Usage before each write, so
// concurrent writers may overshoot by what they write at the same time.
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
	defaultHTTPBody   = 1 << 20
	maxHTTPHeaders    = 64
	maxHTTPHeaderSize = 16 << 10
	defaultKVEntries  = 10000
	defaultKVBytes    = 16 << 20
	maxKVList         = 1000
	maxLogBytes       = 4 << 10
	maxRandomBytes    = 1 << 16
)

// request reads the (ptr, len) request of a capability call.
func request(mem guestMemory, fn string, s []uint64) ([]byte, error) {
	return readGuest(mem, fn, api.DecodeU32(s[0]), api.DecodeU32(s[1]))
}

// respond leaves res for result_read and returns its length.
func (c *callState) respond(s []uint64, res []byte) error {
	if uint64(len(res)) > math.MaxInt32 {
		return fmt.Errorf("%w: capability result of %d bytes", ErrABI, len(res))
	}
	c.result = res
	s[0] = api.EncodeU32(uint32(len(res)))
	return nil
}

var reqResp = []api.ValueType{i32, i32}
var one32 = []api.ValueType{i32}

var httpFuncs = []hostFuncDef{{"request", reqResp, one32, func(ctx context.Context, c *callState, mem api.Memory, s []uint64) error {
	b, err := request(mem, "http.request", s)
	if err != nil {
		return err
	}
	return c.respond(s, c.plugin.doHTTP(ctx, b))
}}}

func (p *Plugin) doHTTP(ctx context.Context, b []byte) []byte {
	req, err := decodeHTTPRequest(b)
	if err != nil {
		return encodeHTTPResponse(nil, codeInvalid, err)
	}
	max := p.caps.HTTPMaxBodyBytes
	if max <= 0 {
		max = defaultHTTPBody
	}
	if int64(len(req.Body)) > max || len(req.Header) > maxHTTPHeaders {
		return encodeHTTPResponse(nil, codeTooLarge, errors.New("request body or headers too large"))
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	hr, err := http.NewRequestWithContext(ctx, method, req.URL, strings.NewReader(string(req.Body)))
	if err != nil {
		return encodeHTTPResponse(nil, codeInvalid, err)
	}
	size := 0
	for _, kv := range req.Header {
		size += len(kv[0]) + len(kv[1])
		hr.Header.Add(kv[0], kv[1])
	}
	if size > maxHTTPHeaderSize {
		return encodeHTTPResponse(nil, codeTooLarge, errors.New("request headers too large"))
	}
	res, err := p.caps.HTTP.Do(hr)
	if err != nil {
		code := codeUnavailable
		if errors.Is(err, netguard.ErrDenied) {
			code = codeDenied
		}
		return encodeHTTPResponse(nil, code, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, max+1))
	if err != nil {
		return encodeHTTPResponse(nil, codeUnavailable, err)
	}
	if int64(len(body)) > max {
		return encodeHTTPResponse(nil, codeTooLarge, fmt.Errorf("response body over %d bytes", max))
	}
	out := &httpResponse{Status: res.StatusCode, Body: body}
	size = 0
	for k, vs := range res.Header {
		for _, v := range vs {
			size += len(k) + len(v)
			if len(out.Header) < maxHTTPHeaders && size <= maxHTTPHeaderSize {
				out.Header = append(out.Header, [2]string{k, v})
			}
		}
	}
	return encodeHTTPResponse(out, "", nil)
}

func kvFunc(name string, op func(ctx context.Context, p *Plugin, req *kvRequest) *kvResponse) hostFuncDef {
	return hostFuncDef{name, reqResp, one32, func(ctx context.Context, c *callState, mem api.Memory, s []uint64) error {
		b, err := request(mem, "kv."+name, s)
		if err != nil {
			return err
		}
		req, err := decodeKVRequest(b)
		var res *kvResponse
		if err != nil {
			res = &kvResponse{Code: codeInvalid, Error: err.Error()}
		} else {
			res = op(ctx, c.plugin, req)
		}
		return c.respond(s, encodeKVResponse(res))
	}}
}

func kvError(err error) *kvResponse {
	code := codeUnavailable
	switch {
	case errors.Is(err, store.ErrNotFound):
		code = codeNotFound
	case errors.Is(err, store.ErrConflict):
		code = codeConflict
	}
	return &kvResponse{Code: code, Error: err.Error()}
}

var kvFuncs = []hostFuncDef{
	kvFunc("get", func(ctx context.Context, p *Plugin, r *kvRequest) *kvResponse {
		v, ver, err := p.caps.KV.Get(ctx, p.name, r.Key)
		if err != nil {
			return kvError(err)
		}
		return &kvResponse{Value: v, Version: ver}
	}),
	kvFunc("put", func(ctx context.Context, p *Plugin, r *kvRequest) *kvResponse {
		q := p.caps.KVQuota
		if q.MaxEntries <= 0 {
			q.MaxEntries = defaultKVEntries
		}
		if q.MaxBytes <= 0 {
			q.MaxBytes = defaultKVBytes
		}
		n, size, err := p.caps.KV.Usage(ctx, p.name)
		if err != nil {
			return kvError(err)
		}
		if n+1 > q.MaxEntries || size+int64(len(r.Key)+len(r.Value)) > q.MaxBytes {
			return &kvResponse{Code: codeQuota, Error: fmt.Sprintf("quota of %d entries, %d bytes reached", q.MaxEntries, q.MaxBytes)}
		}
		ver, err := p.caps.KV.Put(ctx, p.name, r.Key, r.Value, store.KVCond{Version: r.Version, Absent: r.Absent})
		if err != nil {
			return kvError(err)
		}
		return &kvResponse{Version: ver}
	}),
	kvFunc("delete", func(ctx context.Context, p *Plugin, r *kvRequest) *kvResponse {
		if err := p.caps.KV.Delete(ctx, p.name, r.Key, store.KVCond{Version: r.Version, Absent: r.Absent}); err != nil {
			return kvError(err)
		}
		return &kvResponse{}
	}),
	kvFunc("list", func(ctx context.Context, p *Plugin, r *kvRequest) *kvResponse {
		limit := r.Limit
		if limit <= 0 || limit > maxKVList {
			limit = maxKVList
		}
		items, err := p.caps.KV.List(ctx, p.name, r.Prefix, r.After, limit)
		if err != nil {
			return kvError(err)
		}
		res := &kvResponse{}
		for _, it := range items {
			res.Items = append(res.Items, kvItem{Key: it.Key, Value: it.Value, Version: it.Version})
		}
		return res
	}),
}

var secretsFuncs = []hostFuncDef{{"get", reqResp, one32, func(ctx context.Context, c *callState, mem api.Memory, s []uint64) error {
	name, err := request(mem, "secrets.get", s)
	if err != nil {
		return err
	}
	v, err := c.plugin.caps.Secrets.Secret(ctx, string(name))
	if err != nil {
		code := codeUnavailable
		if errors.Is(err, store.ErrNotFound) {
			code = codeNotFound
		}
		return c.respond(s, encodeSecretResponse(nil, code, err))
	}
	return c.respond(s, encodeSecretResponse(v, "", nil))
}}}

var logFuncs = []hostFuncDef{{"log", []api.ValueType{i32, i32, i32}, nil, func(ctx context.Context, c *callState, mem api.Memory, s []uint64) error {
	level := slog.Level(api.DecodeI32(s[0]))
	n := min(api.DecodeU32(s[2]), maxLogBytes)
	msg, err := readGuest(mem, "log.log", api.DecodeU32(s[1]), n)
	if err != nil {
		return err
	}
	c.plugin.log.Log(ctx, level, string(msg))
	return nil
}}}

func metricFunc(name string, f func(MetricsSink, string, float64)) hostFuncDef {
	return hostFuncDef{name, []api.ValueType{i32, i32, f64}, nil, func(_ context.Context, c *callState, mem api.Memory, s []uint64) error {
		b, err := readGuest(mem, "metrics."+name, api.DecodeU32(s[0]), api.DecodeU32(s[1]))
		if err != nil {
			return err
		}
		f(c.plugin.sink, string(b), api.DecodeF64(s[2]))
		return nil
	}}
}

var metricsFuncs = []hostFuncDef{
	metricFunc("counter_add", MetricsSink.CounterAdd),
	metricFunc("histogram_observe", MetricsSink.HistogramObserve),
}

var clockFuncs = []hostFuncDef{{"now_unix_nano", nil, []api.ValueType{i64}, func(_ context.Context, c *callState, _ api.Memory, s []uint64) error {
	s[0] = api.EncodeI64(c.plugin.clock().UnixNano())
	return nil
}}}

var randomFuncs = []hostFuncDef{{"fill", reqResp, nil, func(_ context.Context, c *callState, mem api.Memory, s []uint64) error {
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

var configFuncs = []hostFuncDef{{"read", reqResp, one32, func(_ context.Context, c *callState, mem api.Memory, s []uint64) error {
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
