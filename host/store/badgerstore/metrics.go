package badgerstore

import (
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ubeu/gateway/host/store"
)

// metrics holds the store's Prometheus collectors.
type metrics struct {
	reg        prometheus.Registerer
	collectors []prometheus.Collector
	duration   *prometheus.HistogramVec
	errors     *prometheus.CounterVec
	gcRuns     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, db *badger.DB) (*metrics, error) {
	m := &metrics{
		reg: reg,
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatewayd_store_operation_duration_seconds",
			Help:    "Duration of store operations by repository method.",
			Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .1, .5},
		}, []string{"op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewayd_store_errors_total",
			Help: "Store operations that failed, not counting the expected outcomes not found, conflict, revoked and token reused.",
		}, []string{"op"}),
		gcRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewayd_store_vlog_gc_runs_total",
			Help: "Value-log GC calls by result: rewrote (a file was rewritten), nothing, error.",
		}, []string{"result"}),
	}
	lsm := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gatewayd_store_lsm_size_bytes",
		Help: "Size of the Badger LSM tree files.",
	}, func() float64 { l, _ := db.Size(); return float64(l) })
	vlog := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gatewayd_store_vlog_size_bytes",
		Help: "Size of the Badger value-log files.",
	}, func() float64 { _, v := db.Size(); return float64(v) })
	for _, c := range []prometheus.Collector{m.duration, m.errors, m.gcRuns, lsm, vlog} {
		if err := reg.Register(c); err != nil {
			m.unregister()
			return nil, err
		}
		m.collectors = append(m.collectors, c)
	}
	return m, nil
}

// unregister removes the collectors so that the store can be reopened with
// the same registerer.
func (m *metrics) unregister() {
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
	m.collectors = nil
}

// observe records one operation.
func (m *metrics) observe(op string, d time.Duration, err error) {
	m.duration.WithLabelValues(op).Observe(d.Seconds())
	if err != nil && !expected(err) {
		m.errors.WithLabelValues(op).Inc()
	}
}

// gcRun counts one value-log GC call; m may be nil.
func (m *metrics) gcRun(result string) {
	if m != nil {
		m.gcRuns.WithLabelValues(result).Inc()
	}
}

// expected reports whether err is an outcome of the store contract rather
// than a failure.
func expected(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) ||
		errors.Is(err, store.ErrRevoked) || errors.Is(err, store.ErrTokenReused)
}
