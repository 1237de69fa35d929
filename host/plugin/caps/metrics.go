package caps

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Names of the series of the plugins' own metrics, shared by every
// runtime: a registry accepts a second registration only if name, help and
// labels are equal, so that the runtimes of one gateway add to the same
// series.
const (
	GuestCounterName = "gatewayd_plugin_guest_counter_total"
	GuestCounterHelp = "Counters a plugin adds to through gatewayd_v1_metrics.counter_add."
	GuestValueName   = "gatewayd_plugin_guest_value"
	GuestValueHelp   = "Values a plugin observes through gatewayd_v1_metrics.histogram_observe."
	// MaxGuestMetricNames bounds the metric names of one plugin sink.
	MaxGuestMetricNames = 64
)

var guestMetricName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,63}$`)

// GuestMetrics are the Prometheus series of the plugins' own metrics,
// labelled plugin and name.
type GuestMetrics struct {
	Counters *prometheus.CounterVec
	Values   *prometheus.HistogramVec
}

// NewGuestMetrics returns the series, registered with reg unless it is nil.
// A series already registered with reg (by another runtime) is reused. On
// a registration failure the returned GuestMetrics work unregistered.
func NewGuestMetrics(reg prometheus.Registerer) (*GuestMetrics, error) {
	gm := &GuestMetrics{
		Counters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: GuestCounterName,
			Help: GuestCounterHelp,
		}, []string{"plugin", "name"}),
		Values: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: GuestValueName,
			Help: GuestValueHelp,
		}, []string{"plugin", "name"}),
	}
	if reg == nil {
		return gm, nil
	}
	var err1, err2 error
	gm.Counters, err1 = RegisterOrReuse(reg, gm.Counters)
	gm.Values, err2 = RegisterOrReuse(reg, gm.Values)
	return gm, errors.Join(err1, err2)
}

// RegisterOrReuse registers c, or returns the equal collector registered
// before.
func RegisterOrReuse[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
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

// Sink returns a Sink adding to the series of plugin: at most
// MaxGuestMetricNames names, names matching [a-z_][a-z0-9_]{0,63}; other
// names, negative or non-finite counter increments and NaN observations
// are dropped. Each Sink counts its names afresh.
func (g *GuestMetrics) Sink(plugin string) Sink {
	return &promSink{plugin: plugin, g: g, names: map[string]bool{}}
}

type promSink struct {
	plugin string
	g      *GuestMetrics
	mu     sync.Mutex
	names  map[string]bool
}

func (s *promSink) admit(name string) bool {
	if !guestMetricName.MatchString(name) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.names[name] {
		return true
	}
	if len(s.names) >= MaxGuestMetricNames {
		return false
	}
	s.names[name] = true
	return true
}

func (s *promSink) CounterAdd(name string, v float64) {
	if v >= 0 && !math.IsInf(v, 0) && !math.IsNaN(v) && s.admit(name) {
		s.g.Counters.WithLabelValues(s.plugin, name).Add(v)
	}
}

func (s *promSink) HistogramObserve(name string, v float64) {
	if !math.IsNaN(v) && s.admit(name) {
		s.g.Values.WithLabelValues(s.plugin, name).Observe(v)
	}
}
