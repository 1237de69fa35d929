package manager

import (
	"context"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/plugin/caps"
	"github.com/ubeu/gateway/host/plugin/procrt"
)

// capHTTPBody caps the HTTP bodies of a process plugin, as the wasm
// runtime's default does.
const capHTTPBody = caps.DefaultHTTPBody

// procCaps serves one process plugin's capabilities (procrt.Capabilities)
// with a caps.Host, the implementation the wasm runtime uses: a plugin
// meets the same codes and limits under either runtime. procrt calls it
// only for granted modules.
type procCaps struct{ h *caps.Host }

var _ procrt.Capabilities = procCaps{}

func newProcCaps(name string, c Capabilities, log *slog.Logger, gm *guestMetrics) procCaps {
	h := &caps.Host{Plugin: name, KV: c.KV, KVQuota: c.KVQuota, Secrets: c.Secrets, Logger: log, Config: c.Config}
	if c.HTTP != nil {
		h.HTTPClient = caps.GuardedHTTP(c.HTTP)
	}
	if gm != nil {
		h.Metrics = gm.sink(name)
	}
	return procCaps{h}
}

// result turns a caps.Host result into procrt's: a nil *abiv1.Error must
// be a nil error.
func result[T any](v T, e *abiv1.Error) (T, error) {
	if e != nil {
		return v, e
	}
	return v, nil
}

func (p procCaps) HTTP(ctx context.Context, r *abiv1.HTTPRequest) (*abiv1.HTTPResponse, error) {
	return result(p.h.HTTP(ctx, r))
}

func (p procCaps) KVGet(ctx context.Context, r *abiv1.KVGetRequest) (*abiv1.KVGetResponse, error) {
	return result(p.h.KVGet(ctx, r))
}

func (p procCaps) KVPut(ctx context.Context, r *abiv1.KVPutRequest) (*abiv1.KVPutResponse, error) {
	return result(p.h.KVPut(ctx, r))
}

func (p procCaps) KVDelete(ctx context.Context, r *abiv1.KVDeleteRequest) (*abiv1.KVDeleteResponse, error) {
	return result(p.h.KVDelete(ctx, r))
}

func (p procCaps) KVList(ctx context.Context, r *abiv1.KVListRequest) (*abiv1.KVListResponse, error) {
	return result(p.h.KVList(ctx, r))
}

func (p procCaps) SecretGet(ctx context.Context, r *abiv1.SecretGetRequest) (*abiv1.SecretGetResponse, error) {
	return result(p.h.Secret(ctx, r))
}

func (p procCaps) Log(level slog.Level, rec *abiv1.LogRecord) {
	p.h.Log(context.Background(), level, rec)
}

func (p procCaps) CounterAdd(name string, v float64)       { p.h.CounterAdd(name, v) }
func (p procCaps) HistogramObserve(name string, v float64) { p.h.HistogramObserve(name, v) }
func (p procCaps) NowUnixNano() int64                      { return p.h.Now().UnixNano() }
func (p procCaps) RandomFill(b []byte)                     { _ = p.h.Random(b) }
func (p procCaps) Config() []byte                          { return p.h.ConfigBytes() }

// guestMetrics are the series of the plugins' own metrics (caps's, shared
// with the wasm runtime when both use one registry), with one sink per
// plugin name kept across restarts, so that a plugin's 64 names are
// counted once.
type guestMetrics struct {
	series *caps.GuestMetrics

	mu    sync.Mutex
	sinks map[string]caps.Sink
}

func newGuestMetrics(reg prometheus.Registerer) (*guestMetrics, error) {
	series, err := caps.NewGuestMetrics(reg)
	return &guestMetrics{series: series, sinks: map[string]caps.Sink{}}, err
}

func (g *guestMetrics) sink(plugin string) caps.Sink {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.sinks[plugin]
	if s == nil {
		s = g.series.Sink(plugin)
		g.sinks[plugin] = s
	}
	return s
}
