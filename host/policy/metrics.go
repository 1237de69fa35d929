package policy

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the engine's Prometheus collectors.
type metrics struct {
	decisions *prometheus.CounterVec
	// Pre-bound children of decisions, indexed by [result][cached].
	byResult [3][2]prometheus.Counter
	duration prometheus.Histogram
	reloads  *prometheus.CounterVec
	revision *prometheus.GaugeVec
	loadedAt prometheus.Gauge
}

// Indexes into metrics.byResult.
const (
	idxAllow = iota
	idxDeny
	idxError
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewayd_policy_decisions_total",
			Help: "Policy decisions by result (allow, deny, error) and whether they came from the cache.",
		}, []string{"result", "cached"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gatewayd_policy_decision_duration_seconds",
			Help:    "Time to evaluate the policy for decisions not served from the cache.",
			Buckets: prometheus.ExponentialBuckets(5e-6, 2, 12), // 5 µs to ~10 ms
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewayd_policy_reloads_total",
			Help: "Policy versions loaded, by result (success, compile_error, test_failure).",
		}, []string{"result"}),
		revision: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatewayd_policy_revision_info",
			Help: "Set to 1 for the revision of the policy being served.",
		}, []string{"revision"}),
		loadedAt: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatewayd_policy_loaded_timestamp_seconds",
			Help: "Unix time at which the policy being served was loaded.",
		}),
	}
	for i, result := range []string{"allow", "deny", "error"} {
		for j, cached := range []string{"false", "true"} {
			m.byResult[i][j] = m.decisions.WithLabelValues(result, cached)
		}
	}
	for _, r := range []string{resultSuccess, resultCompileError, resultTestFailure} {
		m.reloads.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.decisions, m.duration, m.reloads, m.revision, m.loadedAt} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("policy: register metrics: %w", err)
		}
	}
	return m, nil
}
