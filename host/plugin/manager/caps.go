package manager

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ubeu/gateway/host/netguard"
	pluginpkg "github.com/ubeu/gateway/host/plugin/pkg"
	"github.com/ubeu/gateway/host/plugin/wasmrt"
	"github.com/ubeu/gateway/host/store"
)

// SecretsProvider returns the secrets the operator bound to plugins.
type SecretsProvider interface {
	// Secret returns the secret name of plugin, or an error wrapping
	// store.ErrNotFound.
	Secret(ctx context.Context, plugin, name string) ([]byte, error)
}

// EnvFileSecrets looks a secret up in the environment variable
// GATEWAYD_PLUGIN_SECRET_<PLUGIN>_<NAME> (plugin and name upper-cased,
// every character other than A-Z and 0-9 replaced by '_'), then in the file
// Dir/<plugin>/<name>, which must be a regular file readable by its owner
// only (mode 0600 or stricter). The manager's default uses
// <root>/secrets.
type EnvFileSecrets struct {
	Dir string
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
}

// SecretEnvVar returns the environment variable EnvFileSecrets reads for
// the secret name of plugin.
func SecretEnvVar(plugin, name string) string {
	return "GATEWAYD_PLUGIN_SECRET_" + envName(plugin) + "_" + envName(name)
}

func envName(s string) string {
	b := []byte(strings.ToUpper(s))
	for i, c := range b {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// Secret implements SecretsProvider.
func (s EnvFileSecrets) Secret(_ context.Context, plugin, name string) ([]byte, error) {
	getenv := s.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if v := getenv(SecretEnvVar(plugin, name)); v != "" {
		return []byte(v), nil
	}
	if s.Dir == "" || !validSecretName(plugin) || !validSecretName(name) {
		return nil, fmt.Errorf("secret %s of plugin %s: %w", name, plugin, store.ErrNotFound)
	}
	p := filepath.Join(s.Dir, plugin, name)
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("secret %s of plugin %s: %w", name, plugin, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("secret %s of plugin %s: %w", name, plugin, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secret %s of plugin %s: %s must be a regular file with mode 0600", name, plugin, p)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("secret %s of plugin %s: %w", name, plugin, err)
	}
	return b, nil
}

// validSecretName refuses names that could leave the secrets directory.
func validSecretName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, `/\`) && !strings.HasPrefix(s, ".")
}

// pluginSecrets serves one plugin the secrets it was granted, by name.
type pluginSecrets struct {
	plugin  string
	allowed []string
	src     SecretsProvider
}

// errSecretNotGranted is returned for a secret name the plugin was not granted.
var errSecretNotGranted = errors.New("secret not granted")

func (s pluginSecrets) Secret(ctx context.Context, name string) ([]byte, error) {
	if !slices.Contains(s.allowed, name) {
		// Reported like an unknown name, so that a plugin cannot probe
		// for secrets it was not granted.
		return nil, fmt.Errorf("secret %q: %w: %w", name, errSecretNotGranted, store.ErrNotFound)
	}
	return s.src.Secret(ctx, s.plugin, name)
}

// namespacedKV pins every operation to one namespace of the store.
type namespacedKV struct {
	kv store.KV
	ns string
}

// kvNamespace is the namespace of plugin's KV data.
func kvNamespace(plugin string) string { return "plugin:" + plugin }

func (k namespacedKV) Get(ctx context.Context, _, key string) ([]byte, uint64, error) {
	return k.kv.Get(ctx, k.ns, key)
}

func (k namespacedKV) Put(ctx context.Context, _, key string, value []byte, cond store.KVCond) (uint64, error) {
	return k.kv.Put(ctx, k.ns, key, value, cond)
}

func (k namespacedKV) Delete(ctx context.Context, _, key string, cond store.KVCond) error {
	return k.kv.Delete(ctx, k.ns, key, cond)
}

func (k namespacedKV) List(ctx context.Context, _, prefix, after string, limit int) ([]store.KVItem, error) {
	return k.kv.List(ctx, k.ns, prefix, after, limit)
}

func (k namespacedKV) Usage(ctx context.Context, _ string) (int, int64, error) {
	return k.kv.Usage(ctx, k.ns)
}

// hostGranted reports whether host is covered by a granted name: the same
// name, or a granted "*.example.com" covering a subdomain or the same
// wildcard. It mirrors the check pluginpkg.Install makes.
func hostGranted(host string, granted []string) bool {
	host = strings.ToLower(host)
	for _, g := range granted {
		g = strings.ToLower(g)
		if g == host {
			return true
		}
		if suffix, ok := strings.CutPrefix(g, "*"); ok && strings.HasPrefix(suffix, ".") {
			h := strings.TrimPrefix(host, "*")
			if strings.HasSuffix(h, suffix) && len(h) > len(suffix) {
				return true
			}
		}
	}
	return false
}

// capabilities builds the capabilities of inst from the lock entry's grants
// and the manifest.
func (m *Manager) capabilities(inst *pluginpkg.Installed) (Capabilities, error) {
	g := inst.Grants
	caps := Capabilities{Granted: slices.Clone(g.Capabilities), Log: m.log, Config: inst.Config}
	man := inst.Manifest.Capabilities
	for _, c := range g.Capabilities {
		switch c {
		case "http":
			if man.HTTP == nil {
				return caps, errors.New("http granted but not requested by the manifest")
			}
			pol := &netguard.Policy{AllowPrivate: man.HTTP.AllowPrivate && g.HTTPAllowPrivate}
			for _, r := range man.HTTP.Allow {
				if hostGranted(r.Host, g.HTTPHosts) {
					pol.Allow = append(pol.Allow, netguard.Rule{Scheme: r.Scheme, Host: r.Host, Port: r.Port})
				}
			}
			if len(pol.Allow) == 0 {
				// An empty netguard allow-list allows any host: never
				// hand that to a plugin.
				return caps, errors.New("http granted but no requested host is granted")
			}
			caps.HTTP = pol
		case "kv":
			if m.kv == nil {
				return caps, errors.New("kv granted but the gateway has no store")
			}
			caps.KV = namespacedKV{kv: m.kv, ns: kvNamespace(inst.Name)}
			if man.KV != nil {
				caps.KVQuota = wasmrt.KVQuota{MaxEntries: int(man.KV.MaxEntries), MaxBytes: man.KV.MaxBytes}
			}
		case "secrets":
			allowed := g.Secrets
			if allowed == nil {
				allowed = man.Secrets
			}
			caps.Secrets = pluginSecrets{plugin: inst.Name, allowed: slices.Clone(allowed), src: m.secrets}
		}
	}
	return caps, nil
}
