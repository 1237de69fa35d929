// Package manager runs the plugins installed in the gateway's plugin
// directory and keeps them in step with its lock file.
//
// At start, New loads every plugin the lock file lists: pluginpkg.Load
// re-checks its digests, then the Runtime for its manifest's runtime starts
// it with exactly the capabilities the lock file records as granted (HTTP
// through netguard with the manifest's allow-list restricted to the granted
// hosts, a KV namespace of its own with the manifest's quota, the secrets
// granted by name, logs into the gateway's logger, the operator's config),
// and a Describe call warms it. A plugin that fails to load is recorded with
// its error (List, Ready) and does not stop the gateway.
//
// Callers hold a per-name transport (Get, ByInterface) that stays valid
// across upgrades. When the lock file changes (Install, Remove, the
// `gatewayd plugin` commands run beside a live server, picked up by polling,
// or Reload), the new generation of a plugin is started and warmed first,
// then swapped in atomically; the old one stops taking calls, is drained
// (calls in flight finish, up to a deadline) and only then closed. No call
// is dropped by a swap: a call that lost the race to the swap is retried on
// the new generation before it reaches the plugin.
package manager

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	pluginpkg "github.com/ubeu/gateway/host/plugin/pkg"
	"github.com/ubeu/gateway/host/plugin/wasmrt"
	"github.com/ubeu/gateway/host/store"
)

// Plugin states reported in Status.State.
const (
	StateLoaded   = "loaded"   // serving calls
	StateFailed   = "failed"   // in the lock file but not running; see Status.Error
	StateDraining = "draining" // being removed: finishing the calls in flight
)

// ErrNotLoaded is the cause of the *abiv1.PluginError a transport returns
// once its plugin is no longer loaded.
var ErrNotLoaded = errors.New("plugin not loaded")

// ErrClosed is returned by the methods of a closed Manager.
var ErrClosed = errors.New("plugin manager closed")

// Options configures a Manager.
type Options struct {
	// Root is the plugin directory, <data-dir>/plugins.
	Root string
	// TrustedDir holds the trusted publisher keys (*.pub) Install accepts;
	// empty means <Root>/trusted.
	TrustedDir string
	// Runtimes start plugins, one per manifest runtime. Empty means both
	// a WasmRuntime with the compilation cache in <Root>/.wasm-cache,
	// Logger and Registerer, and a ProcessRuntime with Logger and
	// Registerer.
	Runtimes []Runtime
	// Store backs the KV capability; each plugin gets the namespace
	// "plugin:<name>". Nil fails the plugins granted kv.
	Store store.KV
	// Secrets resolves the secrets granted to plugins; nil means
	// EnvFileSecrets{Dir: <Root>/secrets}.
	Secrets SecretsProvider
	// Logger receives the manager's and the plugins' logs; nil means
	// slog.Default().
	Logger *slog.Logger
	// Registerer receives the runtimes' metrics (default runtimes only).
	Registerer prometheus.Registerer
	// PollInterval is how often the lock file is checked for changes
	// made by another process (default 2 s; negative disables polling:
	// call Reload).
	PollInterval time.Duration
	// DrainTimeout bounds the wait for calls in flight on a generation
	// being replaced or removed (default 30 s); calls still running then
	// are cut short.
	DrainTimeout time.Duration
	// WarmTimeout bounds the Describe call that warms a new generation
	// before it is swapped in (default 10 s).
	WarmTimeout time.Duration
	// GatewaydVersion is checked by Install against manifests' gatewayd
	// ranges; empty or not a semantic version skips the check.
	GatewaydVersion string
}

// Manager runs the installed plugins. It is safe for concurrent use.
type Manager struct {
	root         string
	trustedDir   string
	runtimes     map[string]Runtime
	kv           store.KV
	secrets      SecretsProvider
	log          *slog.Logger
	drainTimeout time.Duration
	warmTimeout  time.Duration
	gwVersion    string
	// inspect replaces pluginpkg.InspectWasm in Install (tests memoise it).
	inspect func([]byte) (pluginpkg.ModuleInfo, error)
	// checkWasm is the wasm runtime's check at install (nil without one).
	checkWasm func(context.Context, []byte, []string) error

	reloadMu sync.Mutex // serialises Reload and Close
	mu       sync.RWMutex
	slots    map[string]*slot
	closed   bool

	stopWatch chan struct{}
	watchDone chan struct{}
}

// slot is one plugin name. Its current generation is swapped atomically;
// the other fields are guarded by Manager.mu.
type slot struct {
	name   string
	cur    atomic.Pointer[generation]
	handle *handle

	key      string              // entryKey of the lock entry last applied
	entry    pluginpkg.LockEntry // lock entry last applied
	err      error               // error of the last load, if it failed
	removing bool
	draining []*generation
}

// New returns a Manager that has loaded every plugin of the lock file in
// opts.Root. A plugin that fails is recorded, not returned as an error; New
// fails only if the lock file cannot be read or a runtime cannot be made.
func New(ctx context.Context, opts Options) (*Manager, error) {
	if opts.Root == "" {
		return nil, errors.New("plugin manager: no plugin root")
	}
	m := &Manager{
		root:         opts.Root,
		trustedDir:   opts.TrustedDir,
		runtimes:     make(map[string]Runtime),
		kv:           opts.Store,
		secrets:      opts.Secrets,
		log:          opts.Logger,
		drainTimeout: opts.DrainTimeout,
		warmTimeout:  opts.WarmTimeout,
		gwVersion:    opts.GatewaydVersion,
		slots:        make(map[string]*slot),
	}
	if m.trustedDir == "" {
		m.trustedDir = filepath.Join(opts.Root, "trusted")
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.secrets == nil {
		m.secrets = EnvFileSecrets{Dir: filepath.Join(opts.Root, "secrets")}
	}
	if m.drainTimeout <= 0 {
		m.drainTimeout = 30 * time.Second
	}
	if m.warmTimeout <= 0 {
		m.warmTimeout = 10 * time.Second
	}
	rts := opts.Runtimes
	if len(rts) == 0 {
		rts = []Runtime{NewWasmRuntime(wasmrt.Options{
			CacheDir:   CacheDir(opts.Root),
			Logger:     m.log,
			Registerer: opts.Registerer,
		}), NewProcessRuntime(ProcessOptions{Logger: m.log, Registerer: opts.Registerer})}
	}
	for _, rt := range rts {
		m.runtimes[rt.Name()] = rt
		if w, ok := rt.(*WasmRuntime); ok {
			m.checkWasm = CheckWasm(w.opts.CacheDir)
		}
	}
	if err := os.MkdirAll(opts.Root, 0o700); err != nil {
		return nil, fmt.Errorf("plugin manager: %w", err)
	}
	digest := m.lockDigest()
	if err := m.Reload(ctx); err != nil {
		_ = m.Close(ctx)
		return nil, err
	}
	interval := opts.PollInterval
	if interval == 0 {
		interval = 2 * time.Second
	}
	if interval > 0 {
		m.stopWatch, m.watchDone = make(chan struct{}), make(chan struct{})
		go m.watch(context.WithoutCancel(ctx), interval, digest)
	}
	return m, nil
}

// entryKey identifies everything of a lock entry that a running plugin
// depends on: a change of any of it means a new generation.
func entryKey(e pluginpkg.LockEntry) string {
	b, _ := json.Marshal(e)
	sum := sha256.Sum256(b)
	return fmt.Sprintf("%x", sum)
}

// Reload makes the running plugins match the lock file: it starts plugins
// that were added, swaps in those whose entry changed (a new version,
// configuration or grants), retries those that failed, and drains and
// closes those that were removed. It returns an error only if the lock file
// cannot be read; per-plugin failures are in List and Ready. The manager
// calls it when it sees the lock file change; the admin API may call it too.
func (m *Manager) Reload(ctx context.Context) error {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	m.mu.RLock()
	closed := m.closed
	m.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	lf, err := pluginpkg.ReadLock(m.root)
	if err != nil {
		return fmt.Errorf("plugin manager: %w", err)
	}
	names := make([]string, 0, len(lf.Plugins))
	for name := range lf.Plugins {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		e := lf.Plugins[name]
		m.mu.RLock()
		s := m.slots[name]
		same := s != nil && s.key == entryKey(e) && s.err == nil
		m.mu.RUnlock()
		if !same {
			m.load(ctx, name, e)
		}
	}
	m.mu.RLock()
	var gone []string
	for name := range m.slots {
		if _, ok := lf.Plugins[name]; !ok {
			gone = append(gone, name)
		}
	}
	m.mu.RUnlock()
	slices.Sort(gone)
	for _, name := range gone {
		m.unload(ctx, name)
	}
	return nil
}

// load starts the plugin of lock entry e and swaps it in; on failure the
// generation serving before, if any, keeps serving.
func (m *Manager) load(ctx context.Context, name string, e pluginpkg.LockEntry) {
	start := time.Now()
	gen, err := m.start(ctx, name)
	if gen != nil {
		e = gen.entry // the lock file may have moved on since it was read
	}
	m.mu.Lock()
	s := m.slots[name]
	if s == nil {
		s = &slot{name: name}
		s.handle = &handle{s: s}
		m.slots[name] = s
	}
	s.key, s.entry, s.err, s.removing = entryKey(e), e, err, false
	if err != nil {
		serving := s.cur.Load()
		m.mu.Unlock()
		if serving != nil {
			m.log.ErrorContext(ctx, "plugin upgrade failed, previous version keeps serving",
				"plugin", name, "version", e.Version, "serving", serving.entry.Version, "err", err)
		} else {
			m.log.ErrorContext(ctx, "plugin failed to load", "plugin", name, "version", e.Version, "err", err)
		}
		return
	}
	old := s.cur.Swap(gen)
	if old != nil {
		s.draining = append(s.draining, old)
	}
	m.mu.Unlock()
	if old == nil {
		m.log.InfoContext(ctx, "plugin loaded", "plugin", name, "version", e.Version, "interfaces", gen.ifaces,
			"signer", e.Signer, "took", time.Since(start))
		return
	}
	m.log.InfoContext(ctx, "plugin swapped", "plugin", name, "from", old.entry.Version, "to", e.Version, "took", time.Since(start))
	m.retire(ctx, s, old)
}

// start loads, starts and warms the active version of name.
func (m *Manager) start(ctx context.Context, name string) (*generation, error) {
	inst, err := pluginpkg.Load(m.root, name)
	if err != nil {
		return nil, err
	}
	rt, ok := m.runtimes[inst.Runtime]
	if !ok {
		return nil, fmt.Errorf("%s %s: no %q runtime in this gateway", name, inst.Version, inst.Runtime)
	}
	caps, err := m.capabilities(inst)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", name, inst.Version, err)
	}
	in, err := rt.Start(ctx, inst, caps)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", name, inst.Version, err)
	}
	warm := m.warmTimeout
	if t := time.Duration(inst.Manifest.Limits.StartTimeout); t > warm {
		warm = t
	}
	wctx, cancel := context.WithTimeout(ctx, warm)
	d, err := abiv1.NewPluginClient(in).Describe(wctx, &abiv1.DescribeRequest{})
	cancel()
	if err != nil {
		_ = in.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("%s %s: warm-up Describe: %w", name, inst.Version, err)
	}
	if d.Version != "" && d.Version != inst.Version {
		m.log.WarnContext(ctx, "plugin describes another version than its manifest", "plugin", name,
			"manifest", inst.Version, "describe", d.Version)
	}
	ifaces := in.Interfaces()
	if len(ifaces) == 0 {
		ifaces = slices.Clone(inst.Interfaces)
	}
	return &generation{entry: inst.LockEntry, inst: in, ifaces: ifaces, loadedAt: time.Now(), drained: make(chan struct{})}, nil
}

// retire drains old, which no longer takes calls, and closes it.
func (m *Manager) retire(ctx context.Context, s *slot, old *generation) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.drainTimeout)
	defer cancel()
	start := time.Now()
	if err := old.drain(dctx); err != nil {
		m.log.WarnContext(ctx, "plugin drain timed out; cutting calls short", "plugin", s.name,
			"version", old.entry.Version, "in_flight", old.inFlight(), "timeout", m.drainTimeout)
	}
	if err := old.inst.Close(dctx); err != nil {
		m.log.WarnContext(ctx, "plugin close", "plugin", s.name, "version", old.entry.Version, "err", err)
	}
	m.mu.Lock()
	s.draining = slices.DeleteFunc(s.draining, func(g *generation) bool { return g == old })
	m.mu.Unlock()
	m.log.InfoContext(ctx, "plugin generation closed", "plugin", s.name, "version", old.entry.Version, "drained_in", time.Since(start))
}

// unload drains and closes a plugin no longer in the lock file.
func (m *Manager) unload(ctx context.Context, name string) {
	m.mu.Lock()
	s := m.slots[name]
	if s == nil {
		m.mu.Unlock()
		return
	}
	s.removing = true
	old := s.cur.Swap(nil)
	if old != nil {
		s.draining = append(s.draining, old)
	}
	m.mu.Unlock()
	if old != nil {
		m.retire(ctx, s, old)
	}
	m.mu.Lock()
	if m.slots[name] == s && s.removing {
		delete(m.slots, name)
	}
	m.mu.Unlock()
	m.log.InfoContext(ctx, "plugin removed", "plugin", name)
}

// Get returns the transport of the loaded plugin name. The transport stays
// valid across upgrades (it always calls the current generation); once the
// plugin is removed its calls fail with ErrNotLoaded.
func (m *Manager) Get(name string) (abiv1.Transport, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s := m.slots[name]
	if s == nil || s.cur.Load() == nil {
		return nil, false
	}
	return s.handle, true
}

// Entry is a loaded plugin serving an interface.
type Entry struct {
	Name      string
	Version   string
	Transport abiv1.Transport
}

// ByInterface returns the loaded plugins that declare iface ("resolver",
// "lms", "directory", "sso"), sorted by name.
func (m *Manager) ByInterface(iface string) []Entry {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []Entry
	for _, s := range m.slots {
		g := s.cur.Load()
		if g != nil && slices.Contains(g.ifaces, iface) {
			out = append(out, Entry{Name: s.name, Version: g.entry.Version, Transport: s.handle})
		}
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Status describes one plugin, for `GET /api/v1/admin/plugins`.
type Status struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Runtime string `json:"runtime"`
	// Interfaces are those the running plugin declares (the lock file's
	// when it is not running).
	Interfaces []string `json:"interfaces"`
	// State is StateLoaded, StateFailed or StateDraining.
	State string `json:"status"`
	// Error is why the plugin failed to load or, for a loaded plugin, why
	// its last upgrade failed (the previous version keeps serving).
	Error  string `json:"error,omitempty"`
	Signer string `json:"signer"`
	// Calls and Errors count the calls made through the manager to the
	// current generation, and those that failed at the plugin level (not
	// the plugin's application errors).
	Calls    uint64    `json:"calls"`
	Errors   uint64    `json:"errors"`
	LoadedAt time.Time `json:"loaded_at,omitzero"`
	// Draining lists versions replaced and still finishing calls.
	Draining []string `json:"draining,omitempty"`
}

// List returns the status of every plugin of the lock file and of those
// being removed, sorted by name.
func (m *Manager) List() []Status {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Status, 0, len(m.slots))
	for _, s := range m.slots {
		st := Status{Name: s.name, Version: s.entry.Version, Runtime: s.entry.Runtime,
			Interfaces: slices.Clone(s.entry.Interfaces), Signer: s.entry.Signer}
		if s.err != nil {
			st.Error = s.err.Error()
		}
		for _, g := range s.draining {
			st.Draining = append(st.Draining, g.entry.Version)
		}
		switch g := s.cur.Load(); {
		case s.removing:
			st.State = StateDraining
		case g != nil:
			st.State = StateLoaded
			st.Version, st.Runtime, st.Signer = g.entry.Version, g.entry.Runtime, g.entry.Signer
			st.Interfaces = slices.Clone(g.ifaces)
			st.Calls, st.Errors, st.LoadedAt = g.calls.Load(), g.errors.Load(), g.loadedAt
			if s.err != nil {
				st.Error = fmt.Sprintf("upgrade to %s failed: %v", s.entry.Version, s.err)
			}
		default:
			st.State = StateFailed
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Ready returns nil if every plugin of the lock file is loaded, else an
// error naming each plugin that is not, with its cause. A plugin whose
// upgrade failed while its previous version keeps serving counts as loaded.
func (m *Manager) Ready() error {
	var errs []error
	for _, st := range m.List() {
		if st.State == StateFailed {
			errs = append(errs, fmt.Errorf("plugin %s %s failed to load: %s", st.Name, st.Version, st.Error))
		}
	}
	return errors.Join(errs...)
}

// InstallOptions is what the operator grants and trusts for one Install.
type InstallOptions struct {
	// AllowUnsigned accepts a package without a signature.
	AllowUnsigned bool
	// Grants must cover every capability the manifest requests.
	Grants pluginpkg.Grants
	// Config is the plugin's JSON configuration (empty: {}).
	Config []byte
	// AllowDowngrade permits installing a lower version.
	AllowDowngrade bool
}

// Install verifies and installs the package at src (a directory or a
// .tar.gz) with pluginpkg.Install, trusting the keys of the trusted
// directory, then hot-swaps it in. The error is non-nil if the install was
// refused or the new version failed to start; in the latter case the lock
// file already points to it and the previous version, if any, keeps serving.
func (m *Manager) Install(ctx context.Context, src string, o InstallOptions) (Status, error) {
	trusted, err := pluginpkg.LoadTrusted(m.trustedDir)
	if err != nil {
		return Status{}, fmt.Errorf("install: trusted keys: %w", err)
	}
	inst, err := pluginpkg.Install(ctx, src, pluginpkg.InstallOptions{
		Root:            m.root,
		Trusted:         trusted,
		AllowUnsigned:   o.AllowUnsigned,
		Grants:          o.Grants,
		Config:          o.Config,
		GatewaydVersion: semverOrEmpty(m.gwVersion),
		AllowDowngrade:  o.AllowDowngrade,
		Inspect:         m.inspect,
		CheckWasm:       m.checkWasm,
		Logger:          m.log,
	})
	if err != nil {
		return Status{}, err
	}
	if err := m.Reload(ctx); err != nil {
		return Status{}, err
	}
	for _, st := range m.List() {
		if st.Name == inst.Name {
			if st.Error != "" {
				return st, fmt.Errorf("plugin %s %s installed but not started: %s", inst.Name, inst.Version, st.Error)
			}
			return st, nil
		}
	}
	return Status{}, fmt.Errorf("plugin %s: not in the lock file after install", inst.Name)
}

// semverOrEmpty returns v if it is a semantic version, else "" (which
// pluginpkg.Install treats as unknown: the range check is skipped).
func semverOrEmpty(v string) string {
	if _, err := pluginpkg.ParseVersion(strings.TrimPrefix(v, "v")); err != nil {
		return ""
	}
	return strings.TrimPrefix(v, "v")
}

// Remove removes name from the lock file and its files (pluginpkg.Remove),
// then drains and closes the running plugin.
func (m *Manager) Remove(ctx context.Context, name string) error {
	if err := pluginpkg.Remove(m.root, name); err != nil {
		return err
	}
	return m.Reload(ctx)
}

// Close stops watching the lock file, then drains and closes every plugin,
// and then closes the runtimes that have a Close method: a ProcessRuntime
// stops every process it started, so no plugin process outlives the
// manager. Calls still running when ctx ends are cut short.
func (m *Manager) Close(ctx context.Context) error {
	if m.stopWatch != nil {
		select {
		case <-m.stopWatch:
		default:
			close(m.stopWatch)
		}
		<-m.watchDone
	}
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	var gens []*generation
	for _, s := range m.slots {
		if g := s.cur.Swap(nil); g != nil {
			gens = append(gens, g)
		}
	}
	m.slots = map[string]*slot{}
	m.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(gens))
	for i, g := range gens {
		wg.Go(func() {
			if err := g.drain(ctx); err != nil {
				errs[i] = fmt.Errorf("plugin %s: %w", g.entry.Name, err)
			}
			if err := g.inst.Close(ctx); err != nil && errs[i] == nil {
				errs[i] = fmt.Errorf("plugin %s: %w", g.entry.Name, err)
			}
		})
	}
	wg.Wait()
	var rerr []error
	for _, rt := range m.runtimes {
		if c, ok := rt.(interface{ Close(context.Context) error }); ok {
			rerr = append(rerr, c.Close(ctx))
		}
	}
	return errors.Join(append(errs, rerr...)...)
}

// watch reloads when the lock file's contents change.
func (m *Manager) watch(ctx context.Context, interval time.Duration, last string) {
	defer close(m.watchDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-m.stopWatch:
			return
		case <-t.C:
		}
		d := m.lockDigest()
		if d == last {
			continue
		}
		last = d
		if err := m.Reload(ctx); err != nil && !errors.Is(err, ErrClosed) {
			m.log.ErrorContext(ctx, "plugin lock file reload", "err", err)
		}
	}
}

// lockDigest is the sha256 of the lock file, "" if it is missing.
func (m *Manager) lockDigest() string {
	b, err := os.ReadFile(filepath.Join(m.root, pluginpkg.LockFileName))
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return string(sum[:])
}
