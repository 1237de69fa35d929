package manager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	pluginpkg "github.com/ubeu/gateway/host/plugin/pkg"
	"github.com/ubeu/gateway/host/plugin/procrt"
)

// ProcessOptions configures a ProcessRuntime.
type ProcessOptions struct {
	// Logger is used when the manager hands a plugin no logger; nil means
	// slog.Default(). Plugin logs carry plugin=<name>.
	Logger *slog.Logger
	// Registerer receives the plugins' own metrics (gatewayd_v1_metrics),
	// in the same series as the wasm runtime's. Nil registers nothing.
	Registerer prometheus.Registerer
	// Env is every plugin process's whole environment (gatewayd's own is
	// not inherited).
	Env []string
	// StartTimeout bounds one launch of a plugin (0: procrt's default).
	StartTimeout time.Duration
}

// ProcessRuntime starts process plugins (manifest runtime "process") as
// go-plugin binaries with host/plugin/procrt. The binary and its sha256
// come from pluginpkg.Load; procrt checks the digest again before every
// launch, restarts included. Capabilities have the wasm runtime's
// semantics, codes and limits: HTTP through the netguard policy, KV in the
// plugin's namespace within its quota, secrets by grant, logs into the
// gateway's logger with plugin=<name>, metrics in the wasm runtime's
// series, clock, random and config.
//
// Each Start launches its own process, so two generations of a plugin run
// side by side during a hot swap. Close stops every process the runtime
// started and has not closed yet; Manager.Close calls it.
type ProcessRuntime struct {
	opts    ProcessOptions
	metrics *guestMetrics

	mu      sync.Mutex
	running map[*procrt.Plugin]struct{}
	closed  bool

	// Tune, if set, adjusts every Spec before the launch (tests use it
	// for shorter timeouts).
	Tune func(*procrt.Spec)
}

// NewProcessRuntime returns a ProcessRuntime. If the metrics cannot be
// registered with opts.Registerer, the failure is logged and the plugins'
// metrics are kept unregistered.
func NewProcessRuntime(opts ProcessOptions) *ProcessRuntime {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	gm, err := newGuestMetrics(opts.Registerer)
	if err != nil {
		opts.Logger.Warn("process plugin metrics not registered", "err", err)
	}
	return &ProcessRuntime{opts: opts, metrics: gm, running: map[*procrt.Plugin]struct{}{}}
}

// Name returns "process".
func (r *ProcessRuntime) Name() string { return pluginpkg.RuntimeProcess }

// Start launches inst.Binary, pinned to inst.BinarySHA256, with the granted
// capabilities and the manifest's call timeout, and checks that it
// implements the interfaces of its lock entry.
func (r *ProcessRuntime) Start(ctx context.Context, inst *pluginpkg.Installed, caps Capabilities) (Instance, error) {
	if inst.Binary == "" || inst.BinarySHA256 == "" {
		return nil, errors.New("process runtime: no verified binary (use pluginpkg.Load)")
	}
	log := caps.Log
	if log == nil {
		log = r.opts.Logger
	}
	spec := procrt.Spec{
		Name:         inst.Name,
		Path:         inst.Binary,
		SHA256:       inst.BinarySHA256,
		Interfaces:   slices.Clone(inst.Interfaces),
		Logger:       log,
		Env:          slices.Clone(r.opts.Env),
		StartTimeout: r.opts.StartTimeout,
	}
	for _, c := range caps.Granted {
		mod, ok := wasmModules[c] // the ABI's module names, shared by both runtimes
		if !ok {
			return nil, fmt.Errorf("process runtime: unknown capability %q", c)
		}
		spec.Grants = append(spec.Grants, mod)
	}
	if len(spec.Grants) > 0 {
		spec.Host = procrt.NewHost(newProcCaps(inst.Name, caps, log, r.metrics))
	}
	if m := inst.Manifest; m != nil {
		spec.CallTimeout = time.Duration(m.Limits.CallTimeout)
	}
	if r.Tune != nil {
		r.Tune(&spec)
	}
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, errors.New("process runtime: closed")
	}
	p, err := procrt.Start(ctx, spec)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		_ = p.Close()
		return nil, errors.New("process runtime: closed")
	}
	r.running[p] = struct{}{}
	r.mu.Unlock()
	return &processInstance{Plugin: p, rt: r}, nil
}

// Close stops every plugin process the runtime started and still runs,
// waiting until each has exited (procrt.Shutdown, for this runtime's
// plugins only: other runtimes in the process keep theirs). Start fails
// afterwards.
func (r *ProcessRuntime) Close(context.Context) error {
	r.mu.Lock()
	r.closed = true
	ps := make([]*procrt.Plugin, 0, len(r.running))
	for p := range r.running {
		ps = append(ps, p)
	}
	clear(r.running)
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() { _ = p.Close() })
	}
	wg.Wait()
	return nil
}

// processInstance is one launched process plugin.
type processInstance struct {
	*procrt.Plugin
	rt *ProcessRuntime
}

// Interfaces returns the interfaces of the plugin's last Describe.
func (p *processInstance) Interfaces() []string {
	if info := p.Info(); info != nil {
		return slices.Clone(info.Interfaces)
	}
	return nil
}

// Close stops the plugin and reaps its process. procrt gives the process a
// short graceful shutdown and then kills it, whatever ctx says.
func (p *processInstance) Close(context.Context) error {
	p.rt.mu.Lock()
	delete(p.rt.running, p.Plugin)
	p.rt.mu.Unlock()
	return p.Plugin.Close()
}
