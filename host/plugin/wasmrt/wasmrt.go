// Package wasmrt runs gatewayd plugins: WebAssembly modules speaking ABI v1
// (see abi/README.md) inside wazero, each in its own sandbox.
//
// A Runtime holds what plugins share (the compilation cache, the logger,
// the metrics). Runtime.Load checks a module against the ABI before it is
// instantiated, compiles it once and returns a *Plugin, which serves calls
// from a bounded pool of instances. Every plugin gets its own wazero runtime,
// so its memory cap is its own; every instance serves one call at a time.
// A plugin that traps, runs out of memory or time, or breaks the ABI fails
// the call with a *PluginError, loses the instance, and the host keeps
// serving; after repeated failures a circuit breaker fails calls fast.
//
// Runtime and Plugin are safe for concurrent use.
package wasmrt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tetratelabs/wazero"

	"github.com/ubeu/gateway/host/plugin/caps"
)

// HostMinor is the minor version of ABI v1 this host implements. A module
// exporting gatewayd_abi_v1_<minor> with a greater minor is refused.
const HostMinor = 0

// Options configures a Runtime.
type Options struct {
	// CacheDir holds wazero's on-disk compilation cache, shared by all
	// plugins, so that a restart does not recompile. Empty keeps the cache
	// in memory only. Whoever can write the directory can run code in the
	// gateway: protect it like the binary.
	CacheDir string
	// Logger receives the runtime's logs and, by default, the plugins'.
	// Nil means slog.Default().
	Logger *slog.Logger
	// Registerer receives the plugin metrics. Nil registers nothing.
	Registerer prometheus.Registerer
}

// Runtime loads plugins. Close it after the plugins it loaded.
type Runtime struct {
	cache   wazero.CompilationCache
	log     *slog.Logger
	metrics *metrics

	mu      sync.Mutex
	plugins map[string]*Plugin
	closed  bool
}

// NewRuntime returns a Runtime. It fails if the cache directory cannot be
// created or the metrics cannot be registered.
func NewRuntime(ctx context.Context, opts Options) (*Runtime, error) {
	var cache wazero.CompilationCache
	if opts.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(opts.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasmrt: compilation cache: %w", err)
		}
		cache = c
	} else {
		cache = wazero.NewCompilationCache()
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		_ = cache.Close(ctx)
		return nil, err
	}
	return &Runtime{cache: cache, log: log, metrics: m, plugins: make(map[string]*Plugin)}, nil
}

// Close closes every plugin still loaded (see Plugin.Close) and the
// compilation cache. Calls still running when ctx ends are cut short.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	ps := make([]*Plugin, 0, len(r.plugins))
	for _, p := range r.plugins {
		ps = append(ps, p)
	}
	r.mu.Unlock()
	var errs []error
	for _, p := range ps {
		errs = append(errs, p.Close(ctx))
	}
	errs = append(errs, r.cache.Close(ctx))
	return errors.Join(errs...)
}

func (r *Runtime) forget(p *Plugin) {
	r.mu.Lock()
	if r.plugins[p.name] == p {
		delete(r.plugins, p.name)
	}
	r.mu.Unlock()
}

// Call results, the "result" label of gatewayd_plugin_calls_total.
const (
	resultOK          = "ok"
	resultAppError    = "app_error"
	resultPluginError = "plugin_error"
	resultCircuitOpen = "circuit_open"
	resultBusy        = "busy"
)

type metrics struct {
	calls     *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	instances *prometheus.GaugeVec
	memory    *prometheus.GaugeVec
	circuit   *prometheus.GaugeVec

	guest *caps.GuestMetrics
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewayd_plugin_calls_total",
			Help: "Plugin calls by plugin, method and result (ok, app_error, plugin_error, circuit_open, busy).",
		}, []string{"plugin", "method", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatewayd_plugin_call_duration_seconds",
			Help:    "Duration of plugin calls that reached an instance.",
			Buckets: []float64{5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 5e-3, 0.025, 0.1, 0.5, 2.5},
		}, []string{"plugin"}),
		instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatewayd_plugin_instances",
			Help: "Live instances of a plugin, idle or busy.",
		}, []string{"plugin"}),
		memory: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatewayd_plugin_memory_bytes",
			Help: "Linear memory of all live instances of a plugin, as of their last call.",
		}, []string{"plugin"}),
		circuit: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatewayd_plugin_circuit_open",
			Help: "1 while a plugin's circuit breaker is open or half-open, else 0.",
		}, []string{"plugin"}),
	}
	if reg == nil {
		m.guest, _ = caps.NewGuestMetrics(nil)
		return m, nil
	}
	var err error
	if m.calls, err = register(reg, m.calls); err != nil {
		return nil, err
	}
	if m.duration, err = register(reg, m.duration); err != nil {
		return nil, err
	}
	if m.instances, err = register(reg, m.instances); err != nil {
		return nil, err
	}
	if m.memory, err = register(reg, m.memory); err != nil {
		return nil, err
	}
	if m.circuit, err = register(reg, m.circuit); err != nil {
		return nil, err
	}
	if m.guest, err = caps.NewGuestMetrics(reg); err != nil {
		return nil, fmt.Errorf("wasmrt: %w", err)
	}
	return m, nil
}

// register registers c, or returns the equal collector registered before
// (a second Runtime on the same registry).
func register[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(T); ok {
				return old, nil
			}
		}
		return c, fmt.Errorf("wasmrt: metrics: %w", err)
	}
	return c, nil
}
