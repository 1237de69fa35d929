package wasmrt

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/netguard"
	"github.com/ubeu/gateway/host/plugin/caps"
)

// Capabilities are the host services a plugin may be granted. A service is
// reachable only if its import module is listed in Spec.Grants; a granted
// module whose field is nil is refused at Load, except Log, Metrics, Clock,
// Random and Config, which have defaults. Implementations are called
// concurrently by the instances of a plugin.
//
// The services are host/plugin/caps's (caps.Host), with its codes and
// limits. The request/result capabilities (HTTP, KV, secrets) follow the
// call convention of abi/README.md: a non-negative return is the length of
// the encoded response waiting in result_read; a negative return is
// -abiv1.ErrorCode and result_read then holds an encoded abiv1.Error. A
// request that does not decode is INVALID_ARGUMENT.
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
type HTTPDoer = caps.HTTPDoer

// GuardedHTTP returns an HTTPDoer that enforces p (allow-list on the URL and
// every redirect, address checks at dial time, p.Timeout).
func GuardedHTTP(p *netguard.Policy) HTTPDoer { return caps.GuardedHTTP(p) }

// KVStore is the part of store.KV the KV capability uses.
type KVStore = caps.KVStore

// KVQuota bounds a plugin's KV namespace. Zero fields take the defaults
// (10,000 entries, 16 MiB of keys and values). The writes of a plugin are
// serialised, so its instances cannot overshoot the quota together; writers
// outside this Plugin (another process sharing the store, or a second
// Runtime loading the same name) are not accounted for.
type KVQuota = caps.Quota

// SecretSource returns a named secret. It returns an error wrapping
// store.ErrNotFound for an unknown name.
type SecretSource = caps.SecretSource

// MetricsSink receives a plugin's own metrics.
type MetricsSink = caps.Sink

const (
	maxLogRecord   = 64 << 10
	maxRandomBytes = 1 << 16
)

var reqResp = []api.ValueType{i32, i32}
var one32 = []api.ValueType{i32}

type message interface {
	MarshalAppend([]byte) []byte
	Unmarshal([]byte) error
}

// capFunc builds the (ptr, len) -> i32 request/result host function
// <module>.<export> named by name (e.g. "kv.put"): it reads
// and decodes the request (an undecodable one is INVALID_ARGUMENT), runs op
// on the plugin's caps.Host and leaves the encoded response or Error for
// result_read. Only pointers outside linear memory fault the call.
func capFunc[Req any, Resp message, PReq interface {
	*Req
	message
}](name string, op func(h *caps.Host, ctx context.Context, req PReq) (Resp, *abiv1.Error)) hostFuncDef {
	_, export, _ := strings.Cut(name, ".")
	return hostFuncDef{export, reqResp, one32, func(ctx context.Context, c *callState, mem guestMemory, s []uint64) error {
		b, err := readGuest(mem, name, api.DecodeU32(s[0]), api.DecodeU32(s[1]))
		if err != nil {
			return err
		}
		req := PReq(new(Req))
		if err := req.Unmarshal(b); err != nil {
			return c.fail(s, caps.Errorf(abiv1.ErrorCodeInvalidArgument, nil, "%s: request does not decode: %v", name, err))
		}
		resp, e := op(c.plugin.host, ctx, req)
		if e != nil {
			return c.fail(s, e)
		}
		return c.respond(s, resp.MarshalAppend(nil))
	}}
}

// respond leaves res for result_read and returns its length.
func (c *callState) respond(s []uint64, res []byte) error {
	if uint64(len(res)) > math.MaxInt32 {
		return c.fail(s, caps.Errorf(abiv1.ErrorCodeUnavailable, caps.TooLarge(), "result of %d bytes", len(res)))
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

var httpFuncs = []hostFuncDef{capFunc("http.request", (*caps.Host).HTTP)}

var kvFuncs = []hostFuncDef{
	capFunc("kv.get", (*caps.Host).KVGet),
	capFunc("kv.put", (*caps.Host).KVPut),
	capFunc("kv.delete", (*caps.Host).KVDelete),
	capFunc("kv.list", (*caps.Host).KVList),
}

var secretsFuncs = []hostFuncDef{capFunc("secrets.get", (*caps.Host).Secret)}

// logFuncs serve gatewayd_v1_log.log. A record that is too long or does not
// decode is dropped with a warning on the host: logging cannot fail a call.
var logFuncs = []hostFuncDef{{"log", []api.ValueType{i32, i32, i32}, nil, func(ctx context.Context, c *callState, mem guestMemory, s []uint64) error {
	level := slog.Level(api.DecodeI32(s[0]))
	ptr, n := api.DecodeU32(s[1]), api.DecodeU32(s[2])
	b, err := readGuest(mem, "log.log", ptr, n)
	if err != nil {
		return err
	}
	h := c.plugin.host
	if n > maxLogRecord {
		h.Warn(ctx, "plugin log record dropped", "bytes", n, "max", maxLogRecord)
		return nil
	}
	var rec abiv1.LogRecord
	if err := rec.Unmarshal(b); err != nil {
		h.Warn(ctx, "plugin log record dropped", "err", err)
		return nil
	}
	h.Log(ctx, level, &rec)
	return nil
}}}

func metricFunc(name string, f func(*caps.Host, string, float64)) hostFuncDef {
	return hostFuncDef{name, []api.ValueType{i32, i32, f64}, nil, func(_ context.Context, c *callState, mem guestMemory, s []uint64) error {
		b, err := readGuest(mem, "metrics."+name, api.DecodeU32(s[0]), api.DecodeU32(s[1]))
		if err != nil {
			return err
		}
		f(c.plugin.host, string(b), api.DecodeF64(s[2]))
		return nil
	}}
}

var metricsFuncs = []hostFuncDef{
	metricFunc("counter_add", (*caps.Host).CounterAdd),
	metricFunc("histogram_observe", (*caps.Host).HistogramObserve),
}

var clockFuncs = []hostFuncDef{{"now_unix_nano", nil, []api.ValueType{i64}, func(_ context.Context, c *callState, _ guestMemory, s []uint64) error {
	s[0] = api.EncodeI64(c.plugin.host.Now().UnixNano())
	return nil
}}}

var randomFuncs = []hostFuncDef{{"fill", reqResp, nil, func(_ context.Context, c *callState, mem guestMemory, s []uint64) error {
	ptr, n := api.DecodeU32(s[0]), api.DecodeU32(s[1])
	if n > maxRandomBytes {
		return fmt.Errorf("%w: random.fill: %d bytes, at most %d", ErrABI, n, maxRandomBytes)
	}
	buf := make([]byte, n)
	if err := c.plugin.host.Random(buf); err != nil {
		return fmt.Errorf("wasmrt: random.fill: %w", err)
	}
	if n > 0 && !mem.Write(ptr, buf) {
		return oob("random.fill", ptr, uint64(n))
	}
	return nil
}}}

var configFuncs = []hostFuncDef{{"read", reqResp, one32, func(_ context.Context, c *callState, mem guestMemory, s []uint64) error {
	n, err := copyOut(mem, "config.read", c.plugin.host.ConfigBytes(), api.DecodeU32(s[0]), api.DecodeU32(s[1]))
	s[0] = api.EncodeU32(n)
	return err
}}}
