package manager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/netguard"
	"github.com/ubeu/gateway/host/plugin/caps"
	pluginpkg "github.com/ubeu/gateway/host/plugin/pkg"
	"github.com/ubeu/gateway/host/plugin/wasmrt"
)

// Runtime starts installed plugins of one kind: "wasm" (WasmRuntime) or
// "process" (ProcessRuntime). The manager picks the runtime whose Name
// equals the manifest's runtime.
type Runtime interface {
	// Name is the manifest runtime served ("wasm" or "process").
	Name() string
	// Start runs the verified plugin inst (from pluginpkg.Load) with the
	// capabilities caps and returns it ready to serve calls. Two instances
	// of the same plugin may be running at once during a hot swap.
	Start(ctx context.Context, inst *pluginpkg.Installed, caps Capabilities) (Instance, error)
}

// Instance is a started plugin.
type Instance interface {
	abiv1.Transport
	// Interfaces returns the interfaces the running plugin declares.
	Interfaces() []string
	// Close stops the plugin. Calls in flight when ctx ends are cut short.
	Close(ctx context.Context) error
}

// Capabilities are the host services wired for one plugin, already narrowed
// to what the lock file records as granted. Fields of capabilities that are
// not granted are nil.
type Capabilities struct {
	// Granted are the capability names granted, as in the lock file
	// ("http", "kv", "secrets", "log", "metrics", "clock", "random",
	// "config").
	Granted []string
	// HTTP is the outbound policy: the manifest's allow-list restricted to
	// the granted hosts.
	HTTP *netguard.Policy
	// KV is the plugin's own namespace of the gateway's store: it ignores
	// the namespace argument of its methods.
	KV KVStore
	// KVQuota bounds the namespace, from the manifest.
	KVQuota wasmrt.KVQuota
	// Secrets returns the secrets granted to the plugin, by name.
	Secrets SecretSource
	// Log is the gateway's logger; the runtime adds plugin=<name>.
	Log *slog.Logger
	// Config is the operator's JSON configuration.
	Config []byte
}

// KVStore is the part of store.KV a plugin's KV capability uses.
type KVStore = caps.KVStore

// SecretSource returns a named secret of one plugin, or an error wrapping
// store.ErrNotFound.
type SecretSource = caps.SecretSource

// wasmModules maps lock-file capability names to wasm import modules.
var wasmModules = map[string]string{
	"http":    wasmrt.ModuleHTTP,
	"kv":      wasmrt.ModuleKV,
	"secrets": wasmrt.ModuleSecrets,
	"log":     wasmrt.ModuleLog,
	"metrics": wasmrt.ModuleMetrics,
	"clock":   wasmrt.ModuleClock,
	"random":  wasmrt.ModuleRandom,
	"config":  wasmrt.ModuleConfig,
}

// WasmRuntime starts wasm plugins with host/plugin/wasmrt.
//
// wasmrt allows one plugin of a name per wasmrt.Runtime, and a hot swap
// runs two generations of a plugin side by side, so every Start makes its
// own wasmrt.Runtime; they share the on-disk compilation cache
// (Options.CacheDir) and the Prometheus collectors.
type WasmRuntime struct {
	opts wasmrt.Options
	// Tune, if set, adjusts every Spec before Load (tests use it for
	// Deterministic or lower limits).
	Tune func(*wasmrt.Spec)
}

// CheckWasm returns the check pluginpkg.InstallOptions.CheckWasm wants:
// the wasm runtime's load-time check of a module with the capabilities
// granted, compiling it into the compilation cache in cacheDir (that of
// the manager of the same plugin root: <root>/.wasm-cache) so that the
// gateway does not compile it again when it loads it.
func CheckWasm(cacheDir string) func(ctx context.Context, wasm []byte, capabilities []string) error {
	return func(ctx context.Context, wasm []byte, capabilities []string) error {
		grants := make([]string, 0, len(capabilities))
		for _, c := range capabilities {
			mod, ok := wasmModules[c]
			if !ok {
				return fmt.Errorf("unknown capability %q", c)
			}
			grants = append(grants, mod)
		}
		return wasmrt.CheckModule(ctx, cacheDir, "module", wasm, grants)
	}
}

// CacheDir is the wasm compilation cache of a plugin root.
func CacheDir(root string) string { return filepath.Join(root, ".wasm-cache") }

// DefaultRecycleAfterCalls is how many calls a Wasm instance serves before
// it is replaced, unless its manifest says otherwise.
const DefaultRecycleAfterCalls = 100_000

// NewWasmRuntime returns a WasmRuntime using opts for each plugin's
// wasmrt.Runtime.
func NewWasmRuntime(opts wasmrt.Options) *WasmRuntime { return &WasmRuntime{opts: opts} }

// Name returns "wasm".
func (w *WasmRuntime) Name() string { return pluginpkg.RuntimeWasm }

// Start loads inst.Wasm with the granted capabilities and the manifest's
// limits.
func (w *WasmRuntime) Start(ctx context.Context, inst *pluginpkg.Installed, caps Capabilities) (Instance, error) {
	if inst.Wasm == nil {
		return nil, errors.New("wasm runtime: no verified module (use pluginpkg.Load)")
	}
	spec, err := wasmSpec(inst, caps)
	if err != nil {
		return nil, err
	}
	if w.Tune != nil {
		w.Tune(&spec)
	}
	rt, err := wasmrt.NewRuntime(ctx, w.opts)
	if err != nil {
		return nil, err
	}
	p, err := rt.Load(ctx, spec)
	if err != nil {
		_ = rt.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return &wasmInstance{Plugin: p, rt: rt}, nil
}

// wasmSpec is the wasmrt.Spec of an installed plugin: its module, the
// granted capabilities and the manifest's limits, with the host's
// defaults filled in.
func wasmSpec(inst *pluginpkg.Installed, caps Capabilities) (wasmrt.Spec, error) {
	spec := wasmrt.Spec{Name: inst.Name, Wasm: inst.Wasm}
	for _, c := range caps.Granted {
		mod, ok := wasmModules[c]
		if !ok {
			return wasmrt.Spec{}, fmt.Errorf("wasm runtime: unknown capability %q", c)
		}
		spec.Grants = append(spec.Grants, mod)
	}
	if caps.HTTP != nil {
		spec.Caps.HTTP = wasmrt.GuardedHTTP(caps.HTTP)
	}
	if caps.KV != nil {
		spec.Caps.KV = caps.KV
	}
	spec.Caps.KVQuota = caps.KVQuota
	if caps.Secrets != nil {
		spec.Caps.Secrets = caps.Secrets
	}
	spec.Caps.Log = caps.Log
	spec.Caps.Config = caps.Config
	l := inst.Manifest.Limits
	spec.MemoryLimitPages = l.MemoryPages
	spec.CallTimeout = time.Duration(l.CallTimeout)
	spec.MinInstances = l.MinInstances
	spec.MaxInstances = l.MaxInstances
	if spec.MaxInstances == 0 && spec.MinInstances > 4 {
		spec.MaxInstances = spec.MinInstances // wasmrt's default maximum is 4
	}
	// Linear memory never shrinks: instances are replaced after a number
	// of calls, and once they have grown to three quarters of their cap.
	spec.RecycleAfterCalls = l.RecycleAfterCalls
	if spec.RecycleAfterCalls == 0 {
		spec.RecycleAfterCalls = DefaultRecycleAfterCalls
	}
	pages := l.RecyclePages
	if pages == 0 {
		limit := l.MemoryPages
		if limit == 0 {
			limit = wasmrt.DefaultMemoryLimitPages
		}
		pages = limit / 4 * 3
	}
	spec.RecycleAboveBytes = uint64(pages) << 16
	return spec, nil
}

type wasmInstance struct {
	*wasmrt.Plugin
	rt *wasmrt.Runtime
}

func (w *wasmInstance) Close(ctx context.Context) error {
	return errors.Join(w.Plugin.Close(ctx), w.rt.Close(ctx))
}
