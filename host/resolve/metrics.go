package resolve

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Indexes of the pre-bound cache request counters.
const (
	hit = iota
	miss
	stale
)

// metrics are the resolver's collectors, with the children of the hot path
// bound in advance.
type metrics struct {
	cache       *prometheus.CounterVec
	resolutions *prometheus.CounterVec
	duration    *prometheus.HistogramVec

	memory, store [3]prometheus.Counter
	byMethod      map[string]*methodMetrics
}

type methodMetrics struct {
	success, deactivated prometheus.Counter
	bySource             map[string]prometheus.Observer
}

var sources = []string{"memory", "store", "stale", "upstream", "none"}

func newMetrics(reg prometheus.Registerer, methods []string) (*metrics, error) {
	m := &metrics{
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewayd_did_cache_requests_total",
			Help: "DID resolution cache lookups by tier (memory, store) and result (hit, miss, stale).",
		}, []string{"tier", "result"}),
		resolutions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewayd_did_resolutions_total",
			Help: "DID resolutions by method and result (success, deactivated or the error code).",
		}, []string{"method", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatewayd_did_resolution_duration_seconds",
			Help:    "Time to answer a DID resolution, by method and source (memory, store, stale, upstream, none).",
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 12), // 1 µs to ~4 s
		}, []string{"method", "source"}),
		byMethod: map[string]*methodMetrics{},
	}
	if reg != nil {
		var err error
		if m.cache, err = register(reg, m.cache); err != nil {
			return nil, err
		}
		if m.resolutions, err = register(reg, m.resolutions); err != nil {
			return nil, err
		}
		if m.duration, err = register(reg, m.duration); err != nil {
			return nil, err
		}
	}
	for i, res := range []string{"hit", "miss", "stale"} {
		m.memory[i] = m.cache.WithLabelValues("memory", res)
		m.store[i] = m.cache.WithLabelValues("store", res)
	}
	for _, method := range append(methods, "") {
		label := methodLabel(method)
		mm := &methodMetrics{
			success:     m.resolutions.WithLabelValues(label, "success"),
			deactivated: m.resolutions.WithLabelValues(label, "deactivated"),
			bySource:    map[string]prometheus.Observer{},
		}
		for _, s := range sources {
			mm.bySource[s] = m.duration.WithLabelValues(label, s)
		}
		m.byMethod[method] = mm
	}
	return m, nil
}

// register registers c, or returns the collector already registered in
// its place (two resolvers may share a registry).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

// methodLabel keeps the method label bounded: requests for unknown methods
// are counted as "other".
func methodLabel(method string) string {
	if method == "" {
		return "other"
	}
	return method
}

// observe counts a finished resolution.
func (m *metrics) observe(method, source string, res *Result, start time.Time) {
	mm := m.byMethod[method]
	if mm == nil {
		mm = m.byMethod[""]
	}
	if source == "" {
		source = "upstream"
	}
	switch {
	case res.ResolutionMetadata.Error != "":
		m.resolutions.WithLabelValues(methodLabel(method), res.ResolutionMetadata.Error).Inc()
	case res.DocumentMetadata.Deactivated:
		mm.deactivated.Inc()
	default:
		mm.success.Inc()
	}
	mm.bySource[source].Observe(time.Since(start).Seconds())
}
