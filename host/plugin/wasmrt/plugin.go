package wasmrt

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/plugin/caps"
)

// Spec describes a plugin to load.
type Spec struct {
	// Name identifies the plugin in errors, logs and metrics, and names its
	// KV namespace. Names are unique within a Runtime.
	Name string
	// Wasm is the module. Check its provenance (digest, signature) before.
	Wasm []byte
	// Grants lists the capability import modules (ModuleHTTP, ModuleKV, …)
	// the plugin may import. Importing any other module refuses the plugin.
	Grants []string
	// Caps implements the granted capabilities.
	Caps Capabilities
	// MemoryLimitPages caps the linear memory of each instance, in 64 KiB
	// pages (default 512, 32 MiB). A Go guest needs about 60 to start.
	MemoryLimitPages uint32
	// CallTimeout bounds each call (default 5 s); a guest still running
	// then is stopped and its instance discarded.
	CallTimeout time.Duration
	// MinInstances are created by Load, and the pool is topped back up to
	// it in the background after instances are discarded (failures,
	// recycling). MaxInstances (default 4) bounds the instances alive at
	// once, so the calls served at once.
	MinInstances, MaxInstances int
	// RecycleAfterCalls, if positive, replaces an instance after that many
	// calls.
	RecycleAfterCalls int
	// RecycleAboveBytes, if positive, replaces an instance whose linear
	// memory has grown beyond it.
	RecycleAboveBytes uint64
	// MaxOutputBytes caps a call's output (default 1 MiB).
	MaxOutputBytes uint32
	// BreakerFailures consecutive failed calls open the circuit (default 5;
	// negative disables the breaker). It stays open BreakerCooldown (default
	// 10 s), then lets one trial call through (half-open): its success
	// closes the circuit, its failure opens it again.
	BreakerFailures int
	BreakerCooldown time.Duration
	// Deterministic gives the guest a fake clock (WASI and capability) and
	// a fixed-seed random source, for tests and reproducible runs.
	Deterministic bool
}

// DefaultMemoryLimitPages is the memory cap of an instance when the Spec
// sets none: 512 pages of 64 KiB, 32 MiB.
const DefaultMemoryLimitPages = 512

// earlyRecycleCalls: an instance recycled for its memory after fewer calls
// than this means the plugin's threshold is below its working size.
const earlyRecycleCalls = 10

var _ abiv1.Transport = (*Plugin)(nil)

// Plugin is a loaded plugin. Its Call method implements abiv1.Transport.
// It is safe for concurrent use; each instance serves one call at a time.
type Plugin struct {
	name    string
	rt      *Runtime
	spec    Spec
	caps    Capabilities
	host    *caps.Host // serves the capabilities
	ifaces  []string
	feats   []string
	minor   int
	wrt     wazero.Runtime
	module  wazero.CompiledModule
	modCfg  wazero.ModuleConfig
	timeout time.Duration

	sem    chan struct{} // one token per live-or-creatable instance
	done   chan struct{} // closed by Close
	mu     sync.Mutex
	idle   []*instance
	closed bool

	live         atomic.Int64
	refillOn     atomic.Bool    // a refill goroutine is running
	refillN      atomic.Int64   // refill requests, to catch those made while it ran
	bg           sync.WaitGroup // the refill goroutine
	created      atomic.Int64   // instances created, for tests
	memBytes     atomic.Int64
	br           breaker
	earlyRecycle sync.Once // warns of instances recycled for memory after few calls

	mInstances prometheus.Gauge
	mMemory    prometheus.Gauge
	mCircuit   prometheus.Gauge
	mDuration  prometheus.Observer
	mCalls     sync.Map // callKeyM -> prometheus.Counter
}

type instance struct {
	mod   api.Module
	fn    api.Function
	mem   api.Memory
	state callState
	stack [2]uint64
	calls int
	size  int64 // linear memory size last reported to memBytes
	tail  *tailWriter
}

// Load checks spec.Wasm against ABI v1 and the grants, compiles it (or takes
// it from the compilation cache) and creates spec.MinInstances instances.
func (r *Runtime) Load(ctx context.Context, spec Spec) (_ *Plugin, err error) {
	if spec.Name == "" || strings.ContainsAny(spec.Name, " \t\n/") {
		return nil, fmt.Errorf("wasmrt: invalid plugin name %q", spec.Name)
	}
	p := &Plugin{name: spec.Name, rt: r, spec: spec, caps: spec.Caps, done: make(chan struct{})}
	if err := p.applyDefaults(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, fmt.Errorf("wasmrt: load %s: %w", spec.Name, ErrClosed)
	}
	if _, dup := r.plugins[spec.Name]; dup {
		r.mu.Unlock()
		return nil, fmt.Errorf("wasmrt: plugin %s is already loaded", spec.Name)
	}
	r.plugins[spec.Name] = p
	r.mu.Unlock()
	defer func() {
		if err != nil {
			r.forget(p)
			if p.wrt != nil {
				_ = p.wrt.Close(context.WithoutCancel(ctx))
			}
		}
	}()

	cfg := wazero.NewRuntimeConfig().
		WithCompilationCache(r.cache).
		WithMemoryLimitPages(p.spec.MemoryLimitPages).
		WithCloseOnContextDone(true)
	p.wrt = wazero.NewRuntimeWithConfig(ctx, cfg)
	p.module, err = p.wrt.CompileModule(ctx, spec.Wasm)
	if err != nil {
		return nil, fmt.Errorf("wasmrt: compile %s: %w", spec.Name, err)
	}
	if err := p.checkModule(); err != nil {
		return nil, err
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, p.wrt); err != nil {
		return nil, fmt.Errorf("wasmrt: %s: wasi: %w", spec.Name, err)
	}
	if err := instantiateHostModule(ctx, p.wrt, ModuleCore); err != nil {
		return nil, err
	}
	for _, g := range spec.Grants {
		if err := instantiateHostModule(ctx, p.wrt, g); err != nil {
			return nil, err
		}
	}
	mc := wazero.NewModuleConfig().WithName("").WithStartFunctions("_initialize")
	if !spec.Deterministic {
		mc = mc.WithSysWalltime().WithSysNanotime().WithSysNanosleep().WithRandSource(crand.Reader)
	}
	p.modCfg = mc

	m := r.metrics
	p.mInstances = m.instances.WithLabelValues(p.name)
	p.mMemory = m.memory.WithLabelValues(p.name)
	p.mCircuit = m.circuit.WithLabelValues(p.name)
	p.mDuration = m.duration.WithLabelValues(p.name)
	p.mCircuit.Set(0)

	p.sem = make(chan struct{}, p.spec.MaxInstances)
	for range p.spec.MinInstances {
		in, err := p.newInstance(ctx)
		if err != nil {
			p.closeIdle(ctx)
			return nil, err
		}
		p.idle = append(p.idle, in)
	}
	r.log.Info("plugin loaded", "plugin", p.name, "abi_minor", p.minor, "interfaces", p.ifaces, "features", p.feats, "grants", spec.Grants)
	return p, nil
}

// CheckModule applies to wasm the checks Load applies (ABI marker and
// minor, interface markers, gatewayd_call's signature, an exported and no
// imported memory, every import granted and of the right signature)
// without instantiating it, and compiles it into the compilation cache in
// cacheDir ("" for none), so that a later Load with the same cache does not
// compile again. Installers call it before recording a plugin.
func CheckModule(ctx context.Context, cacheDir, name string, wasm []byte, grants []string) (err error) {
	// The same configuration as Load's where it changes the compiled code
	// (CloseOnContextDone is part of wazero's cache key), so that Load
	// finds what this compiles.
	cfg := wazero.NewRuntimeConfig().WithCloseOnContextDone(true)
	if cacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(cacheDir)
		if err != nil {
			return fmt.Errorf("wasmrt: compilation cache: %w", err)
		}
		defer cache.Close(context.WithoutCancel(ctx))
		cfg = cfg.WithCompilationCache(cache)
	}
	wrt := wazero.NewRuntimeWithConfig(ctx, cfg)
	defer wrt.Close(context.WithoutCancel(ctx))
	p := &Plugin{name: name, spec: Spec{Name: name, Grants: grants}}
	if p.module, err = wrt.CompileModule(ctx, wasm); err != nil {
		return fmt.Errorf("wasmrt: compile %s: %w", name, err)
	}
	return p.checkModule()
}

func (p *Plugin) applyDefaults() error {
	s := &p.spec
	if s.MemoryLimitPages == 0 {
		s.MemoryLimitPages = DefaultMemoryLimitPages
	}
	if s.MemoryLimitPages > 65536 {
		return fmt.Errorf("wasmrt: %s: MemoryLimitPages %d exceeds 65536", s.Name, s.MemoryLimitPages)
	}
	if s.CallTimeout <= 0 {
		s.CallTimeout = 5 * time.Second
	}
	p.timeout = s.CallTimeout
	if s.MaxInstances <= 0 {
		s.MaxInstances = 4
	}
	if s.MinInstances < 0 || s.MinInstances > s.MaxInstances {
		return fmt.Errorf("wasmrt: %s: MinInstances %d not in [0, MaxInstances=%d]", s.Name, s.MinInstances, s.MaxInstances)
	}
	if s.MaxOutputBytes == 0 {
		s.MaxOutputBytes = 1 << 20
	}
	if s.MaxOutputBytes > math.MaxInt32 {
		s.MaxOutputBytes = math.MaxInt32
	}
	if s.BreakerFailures == 0 {
		s.BreakerFailures = 5
	}
	if s.BreakerCooldown <= 0 {
		s.BreakerCooldown = 10 * time.Second
	}
	p.br = breaker{threshold: s.BreakerFailures, cooldown: s.BreakerCooldown}

	granted := make(map[string]bool)
	for _, g := range s.Grants {
		if _, ok := hostModules[g]; !ok || g == ModuleCore {
			return fmt.Errorf("wasmrt: %s: unknown capability module %q", s.Name, g)
		}
		if granted[g] {
			return fmt.Errorf("wasmrt: %s: capability %s granted twice", s.Name, g)
		}
		granted[g] = true
	}
	c := &p.caps
	missing := func(mod, field string) error {
		return fmt.Errorf("wasmrt: %s: %s granted but Caps.%s is nil", s.Name, mod, field)
	}
	if granted[ModuleHTTP] && c.HTTP == nil {
		return missing(ModuleHTTP, "HTTP")
	}
	if granted[ModuleKV] && c.KV == nil {
		return missing(ModuleKV, "KV")
	}
	if granted[ModuleSecrets] && c.Secrets == nil {
		return missing(ModuleSecrets, "Secrets")
	}
	h := &caps.Host{
		Plugin:           s.Name,
		HTTPClient:       c.HTTP,
		HTTPMaxBodyBytes: c.HTTPMaxBodyBytes,
		KV:               c.KV,
		KVQuota:          c.KVQuota,
		Secrets:          c.Secrets,
		Logger:           c.Log,
		HostLog:          p.rt.log,
		Metrics:          c.Metrics,
		Clock:            c.Clock,
		Rand:             c.Random,
		Config:           c.Config,
	}
	if h.Logger == nil {
		h.Logger = p.rt.log
	}
	if h.Metrics == nil {
		h.Metrics = p.rt.metrics.guest.Sink(s.Name)
	}
	if s.Deterministic {
		if h.Clock == nil {
			var ticks atomic.Int64
			epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			h.Clock = func() time.Time { return epoch.Add(time.Duration(ticks.Add(1)) * time.Millisecond) }
		}
		if h.Rand == nil {
			h.Rand = rand.NewChaCha8([32]byte{'g', 'a', 't', 'e', 'w', 'a', 'y', 'd'})
		}
	}
	p.host = h
	return nil
}

// Interfaces returns the interfaces the module declares
// (gatewayd_iface_<name> exports), sorted.
func (p *Plugin) Interfaces() []string { return append([]string(nil), p.ifaces...) }

// Features returns the optional guest features the module declares
// (gatewayd_feature_<name> exports), sorted. ABI 1.0 defines none: a host
// ignores features it does not know, and host code that relies on one
// checks for it here before making a call that needs it.
func (p *Plugin) Features() []string { return append([]string(nil), p.feats...) }

// Name returns the plugin's name.
func (p *Plugin) Name() string { return p.name }

var knownInterfaces = map[string]bool{"resolver": true, "lms": true, "directory": true, "sso": true}

// checkModule refuses a module that does not speak ABI v1 at a minor this
// host serves, imports what was not granted, or lacks the required exports.
func (p *Plugin) checkModule() error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("wasmrt: refusing plugin %s: %w: %s", p.name, ErrABI, fmt.Sprintf(format, args...))
	}
	var markers []string
	exports := p.module.ExportedFunctions()
	for name := range exports {
		if rest, ok := strings.CutPrefix(name, "gatewayd_abi_"); ok {
			markers = append(markers, name)
			minor, ok := strings.CutPrefix(rest, "v1_")
			n, err := strconv.ParseUint(minor, 10, 16)
			if !ok || err != nil || (len(minor) > 1 && minor[0] == '0') {
				return fail("export %s: this host serves ABI v1 (gatewayd_abi_v1_<minor>)", name)
			}
			if n > HostMinor {
				return fail("module needs ABI v1.%d, this host serves up to v1.%d", n, HostMinor)
			}
			p.minor = int(n)
		}
		if iface, ok := strings.CutPrefix(name, "gatewayd_iface_"); ok {
			if !knownInterfaces[iface] {
				return fail("unknown interface marker %s", name)
			}
			p.ifaces = append(p.ifaces, iface)
		}
		if feat, ok := strings.CutPrefix(name, abiv1.FeatureExportPrefix); ok {
			if !validFeature(feat) {
				return fail("feature marker %s: want gatewayd_feature_<name>, name of [a-z0-9_], 1 to 64 bytes", name)
			}
			p.feats = append(p.feats, feat)
		}
		// Markers are never called; they are () -> () so that no tool
		// mistakes them for entry points.
		if marker := strings.HasPrefix(name, "gatewayd_abi_") || strings.HasPrefix(name, "gatewayd_iface_") ||
			strings.HasPrefix(name, abiv1.FeatureExportPrefix); marker {
			if f := exports[name]; len(f.ParamTypes()) != 0 || len(f.ResultTypes()) != 0 {
				return fail("marker %s must be () -> ()", name)
			}
		}
	}
	switch len(markers) {
	case 0:
		return fail("no gatewayd_abi_v1_<minor> export")
	case 1:
	default:
		return fail("several ABI markers: %s", strings.Join(markers, ", "))
	}
	sortStrings(p.ifaces)
	sortStrings(p.feats)
	call, ok := exports["gatewayd_call"]
	if !ok {
		return fail("no gatewayd_call export")
	}
	if !sameTypes(call.ParamTypes(), []api.ValueType{i32, i32}) || !sameTypes(call.ResultTypes(), one32) {
		return fail("gatewayd_call must be (i32, i32) -> i32")
	}
	if _, ok := p.module.ExportedMemories()["memory"]; !ok {
		return fail("no exported memory")
	}
	if len(p.module.ImportedMemories()) > 0 {
		return fail("imports a memory")
	}
	granted := map[string]bool{ModuleWASI: true, ModuleCore: true}
	for _, g := range p.spec.Grants {
		granted[g] = true
	}
	for _, f := range p.module.ImportedFunctions() {
		mod, name, _ := f.Import()
		if !granted[mod] {
			if _, known := hostModules[mod]; known {
				return fail("imports %s.%s but capability %s is not granted", mod, name, mod)
			}
			return fail("imports unknown module %s (function %s)", mod, name)
		}
		if mod == ModuleWASI {
			continue
		}
		d, ok := lookupHostFunc(mod, name)
		if !ok {
			return fail("imports %s.%s, which ABI v1.%d does not define", mod, name, HostMinor)
		}
		if !sameTypes(f.ParamTypes(), d.params) || !sameTypes(f.ResultTypes(), d.results) {
			return fail("imports %s.%s with the wrong signature", mod, name)
		}
	}
	return nil
}

func validFeature(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func sameTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// newInstance instantiates the module and runs _initialize.
func (p *Plugin) newInstance(ctx context.Context) (*instance, error) {
	tail := &tailWriter{}
	mod, err := p.wrt.InstantiateModule(ctx, p.module, p.modCfg.WithStderr(tail).WithStdout(tail))
	if err != nil {
		return nil, &PluginError{Plugin: p.name, Cause: fmt.Errorf("%w: instantiate: %w%s", ErrTrap, err, tail.suffix())}
	}
	p.created.Add(1)
	in := &instance{mod: mod, fn: mod.ExportedFunction("gatewayd_call"), mem: mod.Memory(), tail: tail}
	in.state.plugin = p
	in.state.maxOutput = p.spec.MaxOutputBytes
	in.size = int64(in.mem.Size())
	p.memBytes.Add(in.size)
	p.mMemory.Set(float64(p.memBytes.Load()))
	p.mInstances.Set(float64(p.live.Add(1)))
	return in, nil
}

// discard closes an instance that may not serve again.
func (p *Plugin) discard(in *instance) {
	_ = in.mod.Close(context.Background())
	p.memBytes.Add(-in.size)
	p.mMemory.Set(float64(p.memBytes.Load()))
	p.mInstances.Set(float64(p.live.Add(-1)))
}

// acquire takes a free instance, creating one if fewer than MaxInstances
// exist, or waits for one until ctx ends.
func (p *Plugin) acquire(ctx context.Context) (*instance, error) {
	select {
	case p.sem <- struct{}{}:
	default:
		select {
		case p.sem <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: all %d instances busy: %w", ErrBusy, p.spec.MaxInstances, ctx.Err())
		case <-p.done:
			return nil, ErrClosed
		}
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.sem
		return nil, ErrClosed
	}
	if n := len(p.idle); n > 0 {
		in := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return in, nil
	}
	p.mu.Unlock()
	in, err := p.newInstance(ctx)
	if err != nil {
		<-p.sem
		return nil, err
	}
	return in, nil
}

// release returns a healthy instance to the pool, or discards it.
func (p *Plugin) release(in *instance, healthy bool) {
	if healthy {
		size := int64(in.mem.Size())
		if d := size - in.size; d != 0 {
			in.size = size
			p.mMemory.Set(float64(p.memBytes.Add(d)))
		}
		if p.spec.RecycleAfterCalls > 0 && in.calls >= p.spec.RecycleAfterCalls {
			healthy = false
		} else if p.spec.RecycleAboveBytes > 0 && uint64(size) > p.spec.RecycleAboveBytes {
			healthy = false
			if in.calls < earlyRecycleCalls {
				// Every call would then pay for a new instance.
				p.earlyRecycle.Do(func() {
					p.rt.log.Warn("plugin instances outgrow their recycling threshold within a few calls: raise the manifest's limits.memory_pages or recycle_pages",
						"plugin", p.name, "calls", in.calls, "memoryBytes", size, "recycleAboveBytes", p.spec.RecycleAboveBytes)
				})
			}
		}
	}
	if healthy {
		p.mu.Lock()
		if !p.closed {
			p.idle = append(p.idle, in)
			p.mu.Unlock()
			<-p.sem
			return
		}
		p.mu.Unlock()
	}
	p.discard(in)
	<-p.sem
	p.refill()
}

// refill tops the pool back up to MinInstances in the background after an
// instance was discarded. At most one refill goroutine runs per plugin. It
// creates instances one at a time, each in a free slot of MaxInstances (it
// never waits for one) and within CallTimeout, and stops at the first
// failure; a later discard tries again.
func (p *Plugin) refill() {
	if p.spec.MinInstances == 0 {
		return
	}
	p.refillN.Add(1)
	if !p.refillOn.CompareAndSwap(false, true) {
		return
	}
	p.bg.Add(1)
	go func() {
		defer p.bg.Done()
		for {
			n := p.refillN.Load()
			for p.topUpOne() {
			}
			p.refillOn.Store(false)
			if p.refillN.Load() == n || !p.refillOn.CompareAndSwap(false, true) {
				return
			}
		}
	}()
}

// topUpOne adds one idle instance if fewer than MinInstances are alive and
// a slot is free. It reports whether it did.
func (p *Plugin) topUpOne() bool {
	if p.live.Load() >= int64(p.spec.MinInstances) {
		return false
	}
	select {
	case p.sem <- struct{}{}:
	default:
		return false // every slot is in use
	}
	defer func() { <-p.sem }()
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed || p.live.Load() >= int64(p.spec.MinInstances) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	in, err := p.newInstance(ctx)
	if err != nil {
		p.rt.log.Warn("plugin pool refill failed", "plugin", p.name, "err", err)
		return false
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.discard(in)
		return false
	}
	p.idle = append(p.idle, in)
	p.mu.Unlock()
	return true
}

// Call runs method with the encoded request req in a pooled instance and
// returns the encoded response. It implements abiv1.Transport. It blocks
// while all MaxInstances instances are busy, until ctx ends. Errors:
//   - *abiv1.Error: the plugin answered with an application error
//     (status 1 and an encoded Error);
//   - *PluginError: anything else (trap, out of memory, deadline, ABI
//     violation, circuit open, no free instance, closed). The instance is
//     discarded and the next call gets another one.
//
// The returned slice belongs to the caller; req is not retained.
func (p *Plugin) Call(ctx context.Context, method uint32, req []byte) ([]byte, error) {
	tk, err := p.br.allow(time.Now())
	if err != nil {
		p.count(method, resultCircuitOpen)
		return nil, &PluginError{Plugin: p.name, Method: method, Cause: err}
	}
	if uint64(len(req)) > math.MaxInt32 {
		p.br.abandon(tk)
		return nil, &PluginError{Plugin: p.name, Method: method, Cause: fmt.Errorf("%w: request of %d bytes", ErrABI, len(req))}
	}
	in, err := p.acquire(ctx)
	if err != nil {
		var pe *PluginError
		if errors.As(err, &pe) { // instantiation failed: the plugin's fault
			pe.Method = method
			p.record(tk, method, false)
			return nil, pe
		}
		p.br.abandon(tk)
		p.count(method, resultBusy)
		return nil, &PluginError{Plugin: p.name, Method: method, Cause: err}
	}
	start := time.Now()
	out, err := p.run(ctx, in, method, req)
	p.mDuration.Observe(time.Since(start).Seconds())
	var ae *abiv1.Error
	switch {
	case err == nil:
		p.release(in, true)
		p.record(tk, method, true)
		p.count(method, resultOK)
		return out, nil
	case errors.As(err, &ae):
		p.release(in, true)
		p.record(tk, method, true)
		p.count(method, resultAppError)
		return nil, err
	default:
		p.release(in, false)
		p.record(tk, method, false)
		p.rt.log.Warn("plugin call failed", "plugin", p.name, "method", method, "err", err)
		return nil, err
	}
}

// run makes one call in instance in.
func (p *Plugin) run(ctx context.Context, in *instance, method uint32, req []byte) ([]byte, error) {
	cctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	st := &in.state
	st.reset(req)
	defer func() { st.input, st.result = nil, nil }()
	in.calls++
	in.stack[0], in.stack[1] = api.EncodeU32(method), api.EncodeU32(uint32(len(req)))
	err := in.fn.CallWithStack(context.WithValue(cctx, callKey{}, st), in.stack[:])
	fail := func(cause error) error { return &PluginError{Plugin: p.name, Method: method, Cause: cause} }
	if err != nil {
		switch {
		case st.fault != nil:
			return nil, fail(st.fault)
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || cctx.Err() != nil:
			why := fmt.Sprintf("exceeded its deadline of %v", p.timeout)
			if ctx.Err() != nil {
				why = "caller's context ended: " + ctx.Err().Error()
			}
			return nil, fail(fmt.Errorf("%w: %s: %w", ErrTrap, why, err))
		default:
			var ee *sys.ExitError
			if errors.As(err, &ee) {
				return nil, fail(fmt.Errorf("%w: guest exited with code %d%s", ErrTrap, ee.ExitCode(), in.tail.suffix()))
			}
			return nil, fail(fmt.Errorf("%w: %s%s", ErrTrap, firstLine(err.Error()), in.tail.suffix()))
		}
	}
	switch status := api.DecodeI32(in.stack[0]); status {
	case 0:
		if st.overflow > 0 {
			return nil, fail(fmt.Errorf("%w: output of %d bytes exceeds the cap of %d", ErrABI, st.overflow, st.maxOutput))
		}
		if err := abiv1.CheckResponse(method, st.output); err != nil {
			return nil, fail(fmt.Errorf("%w: the answer to %s does not decode: %w", ErrABI, abiv1.MethodName(method), err))
		}
		if st.output == nil {
			return []byte{}, nil
		}
		return st.output, nil
	case 1:
		if st.overflow > 0 {
			return nil, fail(fmt.Errorf("%w: output of %d bytes exceeds the cap of %d", ErrABI, st.overflow, st.maxOutput))
		}
		return nil, decodeAppError(p, method, st.output)
	default:
		return nil, fail(fmt.Errorf("%w: gatewayd_call returned status %d", ErrABI, status))
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func (p *Plugin) record(tk ticket, method uint32, ok bool) {
	opened, closed := p.br.record(tk, ok, time.Now())
	if !ok {
		p.count(method, resultPluginError)
	}
	if opened {
		p.mCircuit.Set(1)
		p.rt.log.Error("plugin circuit opened", "plugin", p.name, "cooldown", p.spec.BreakerCooldown)
	}
	if closed {
		p.mCircuit.Set(0)
		p.rt.log.Info("plugin circuit closed", "plugin", p.name)
	}
}

type callsKey struct {
	method uint32
	result string
}

func (p *Plugin) count(method uint32, result string) {
	k := callsKey{method, result}
	c, ok := p.mCalls.Load(k)
	if !ok {
		c, _ = p.mCalls.LoadOrStore(k, p.rt.metrics.calls.WithLabelValues(p.name, strconv.FormatUint(uint64(method), 10), result))
	}
	c.(prometheus.Counter).Inc()
}

// Close stops new calls, waits until the calls in flight have finished or
// ctx ends (calls still running then are cut short), and frees the plugin.
// Later calls fail with ErrClosed.
func (p *Plugin) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	p.mu.Unlock()
	var err error
	for range cap(p.sem) {
		select {
		case p.sem <- struct{}{}:
		case <-ctx.Done():
			err = fmt.Errorf("wasmrt: close %s: calls still running: %w", p.name, ctx.Err())
		}
		if err != nil {
			break
		}
	}
	p.closeIdle(ctx)
	if cerr := p.wrt.Close(context.WithoutCancel(ctx)); cerr != nil && err == nil {
		err = fmt.Errorf("wasmrt: close %s: %w", p.name, cerr)
	}
	p.bg.Wait()
	m := p.rt.metrics
	m.instances.DeleteLabelValues(p.name)
	m.memory.DeleteLabelValues(p.name)
	m.circuit.DeleteLabelValues(p.name)
	p.rt.forget(p)
	return err
}

func (p *Plugin) closeIdle(context.Context) {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, in := range idle {
		p.discard(in)
	}
}

// breaker is a consecutive-failure circuit breaker. Each opening starts a
// new generation; a call only counts in the generation it was admitted in,
// so a call that started before the circuit opened cannot close it (or
// count against it) when it ends late. Only the half-open trial call, which
// is admitted in the current generation, closes an open circuit.
type breaker struct {
	threshold int // <= 0 disables
	cooldown  time.Duration

	mu        sync.Mutex
	failures  int
	openUntil time.Time // zero while closed
	probing   bool      // a half-open trial call is running
	gen       uint64    // incremented each time the circuit opens
}

// ticket is what allow gives a call, for record and abandon.
type ticket struct {
	gen   uint64
	trial bool
}

func (b *breaker) allow(now time.Time) (ticket, error) {
	if b.threshold <= 0 {
		return ticket{}, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.openUntil.IsZero() {
		return ticket{gen: b.gen}, nil
	}
	if now.Before(b.openUntil) {
		return ticket{}, fmt.Errorf("%w after %d consecutive failures; retry after %s", ErrCircuitOpen, b.failures, b.openUntil.Format(time.RFC3339))
	}
	if b.probing {
		return ticket{}, fmt.Errorf("%w: half-open, a trial call is running", ErrCircuitOpen)
	}
	b.probing = true
	return ticket{gen: b.gen, trial: true}, nil
}

// abandon gives back a call that did not reach the plugin.
func (b *breaker) abandon(t ticket) {
	if !t.trial {
		return
	}
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

// record counts a call's outcome and reports whether it opened or closed
// the circuit. Outcomes of calls admitted before the latest opening are
// ignored.
func (b *breaker) record(t ticket, ok bool, now time.Time) (opened, closed bool) {
	if b.threshold <= 0 {
		return false, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.trial {
		b.probing = false
	}
	if t.gen != b.gen {
		return false, false // admitted before the circuit (last) opened
	}
	if ok {
		b.failures = 0
		if !b.openUntil.IsZero() { // only a trial call gets here
			b.openUntil = time.Time{}
			return false, true
		}
		return false, false
	}
	b.failures++
	switch {
	case t.trial:
		b.openUntil = now.Add(b.cooldown)
		b.gen++
	case b.failures >= b.threshold && b.openUntil.IsZero():
		b.openUntil = now.Add(b.cooldown)
		b.gen++
		opened = true
	}
	return opened, false
}

// tailWriter keeps the first bytes a guest wrote to stdout and stderr, to
// explain a crash (the Go runtime starts with "fatal error: out of memory"
// or "panic: …" before its stack trace).
type tailWriter struct {
	mu  sync.Mutex
	buf []byte
}

const tailBytes = 256

func (t *tailWriter) Write(b []byte) (int, error) {
	t.mu.Lock()
	if n := tailBytes - len(t.buf); n > 0 {
		t.buf = append(t.buf, b[:min(n, len(b))]...)
	}
	t.mu.Unlock()
	return len(b), nil
}

// suffix returns " (guest wrote: <first line>)" or "".
func (t *tailWriter) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.buf))
	if s == "" {
		return ""
	}
	return " (guest wrote: " + firstLine(s) + ")"
}
