package lms

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/credentials"
	"github.com/ubeu/gateway/host/did"
	"github.com/ubeu/gateway/host/did/didkey"
	"github.com/ubeu/gateway/host/netguard"
	"github.com/ubeu/gateway/host/plugin/wasmrt"
	"github.com/ubeu/gateway/host/seal"
	"github.com/ubeu/gateway/host/store"
	"github.com/ubeu/gateway/host/store/badgerstore"
	"github.com/ubeu/gateway/host/vc/dataintegrity"
	"github.com/ubeu/gateway/host/vc/statuslist"
	"github.com/ubeu/gateway/sdk-plugin/plugintest"
)

var ctx = context.Background()

// cacheDir shares wazero's compilation cache between the tests of the
// binary (the plugins compile once).
var cacheDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "lms-wasm-cache-")
	if err != nil {
		panic(err)
	}
	cacheDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

type didKeys struct {
	mu   sync.Mutex
	keys map[string]ed25519.PrivateKey
}

func (k *didKeys) add(seed byte) string {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))
	d := didkey.Format(did.CodecEd25519Pub, priv.Public().(ed25519.PublicKey))
	k.mu.Lock()
	k.keys[d] = priv
	k.mu.Unlock()
	return d
}

func (k *didKeys) SigningKey(_ context.Context, d string) (string, ed25519.PrivateKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	priv, ok := k.keys[d]
	if !ok {
		return "", nil, errors.New("no key")
	}
	return d + "#" + strings.TrimPrefix(d, "did:key:"), priv, nil
}

type enterprises map[string]*store.Enterprise

func (e enterprises) Get(_ context.Context, id string) (*store.Enterprise, error) {
	if x, ok := e[id]; ok {
		return x, nil
	}
	return nil, store.ErrNotFound
}

// directory is a map of e-mail to DID (user ID = "u-" + DID).
type directory struct {
	mu sync.Mutex
	m  map[string]string
}

func (d *directory) Learner(_ context.Context, email string) (string, string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	did, ok := d.m[email]
	if !ok {
		return "", "", ErrNoLearner
	}
	return "u-" + did, did, nil
}

func (d *directory) add(email, did string) {
	d.mu.Lock()
	d.m[email] = did
	d.mu.Unlock()
}

// pluginSet is the loaded LMS plugins, under the real wasm runtime.
type pluginSet map[string]abiv1.Transport

func (p pluginSet) Get(name string) (abiv1.Transport, bool) {
	t, ok := p[name]
	return t, ok
}

// noSecrets is the operator's secret store with nothing in it.
type noSecrets struct{}

func (noSecrets) Secret(_ context.Context, plugin, name string) ([]byte, error) {
	return nil, store.ErrNotFound
}

// pluginSecrets is what the manager gives one plugin: its secrets from
// the provider, by name.
type pluginSecrets struct {
	plugin string
	src    SecretsProvider
}

func (p pluginSecrets) Secret(ctx context.Context, name string) ([]byte, error) {
	return p.src.Secret(ctx, p.plugin, name)
}

// loadPlugins builds the moodle and canvas plugins and loads them under
// host/plugin/wasmrt with the capabilities the manager would give them:
// HTTP through netguard allowing exactly the fixture servers' host:ports
// (private addresses allowed only if allowPrivate), secrets through
// BoundSecrets.
func loadPlugins(t testing.TB, allowPrivate bool, servers ...string) pluginSet {
	t.Helper()
	pol := &netguard.Policy{AllowPrivate: allowPrivate}
	for _, s := range servers {
		u, _ := url.Parse(s)
		port, _ := strconv.Atoi(u.Port())
		pol.Allow = append(pol.Allow, netguard.Rule{Scheme: u.Scheme, Host: u.Hostname(), Port: port})
	}
	if allowPrivate {
		pol.AllowedPrefixes = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}
	out := pluginSet{}
	for _, name := range []string{"moodle", "canvas"} {
		wasm := plugintest.BuildWasm(t, "github.com/ubeu/gateway/plugins/"+name)
		rt, err := wasmrt.NewRuntime(ctx, wasmrt.Options{CacheDir: filepath.Join(cacheDir), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rt.Close(context.Background()) })
		p, err := rt.Load(ctx, wasmrt.Spec{Name: name, Wasm: wasm,
			Grants: []string{wasmrt.ModuleHTTP, wasmrt.ModuleSecrets, wasmrt.ModuleLog, wasmrt.ModuleMetrics, wasmrt.ModuleClock, wasmrt.ModuleConfig},
			Caps: wasmrt.Capabilities{HTTP: wasmrt.GuardedHTTP(pol), Secrets: pluginSecrets{plugin: name, src: BoundSecrets{Next: noSecrets{}}},
				Config: []byte("{}")},
			CallTimeout: 60e9, MaxInstances: 4})
		if err != nil {
			t.Fatal(err)
		}
		out[name] = p
	}
	return out
}

// fixture is a Service over an in-memory store with a real credential
// service.
type fixture struct {
	svc   *Service
	kv    store.KV
	creds *credentials.Service
	dir   *directory
	ent   *store.Enterprise
}

func newFixture(t testing.TB, plugins Plugins) *fixture {
	t.Helper()
	sl, _ := seal.New(bytes.Repeat([]byte{1}, seal.KeySize))
	st, err := badgerstore.Open(ctx, badgerstore.Options{InMemory: true, Sealer: sl,
		IndexKey: bytes.Repeat([]byte{2}, 32), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys := &didKeys{keys: map[string]ed25519.PrivateKey{}}
	issuer := keys.add(7)
	ent := &store.Enterprise{ID: "ent-1", OrganizationName: "Fixture University", ParentDomain: "fixture.edu", Tier: "enterprise",
		Status: "active", ManagedDID: issuer}
	reg, err := statuslist.New(statuslist.Options{KV: st.KV(), BaseURL: "https://gw.example/status",
		IssuerID: func(context.Context, string) (string, error) { return issuer, nil },
		Signer: func(ctx context.Context, doc map[string]any) ([]byte, error) {
			vm, key, err := keys.SigningKey(ctx, issuer)
			if err != nil {
				return nil, err
			}
			return dataintegrity.Sign(ctx, doc, key, dataintegrity.ProofOptions{VerificationMethod: vm})
		}})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := credentials.New(credentials.Options{KV: st.KV(), Sealer: sl, Keys: keys, Status: reg,
		Resolve: func(_ context.Context, d string) (*did.Document, error) { return (&didkey.Resolver{}).Document(d) },
		Logger:  slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	dir := &directory{m: map[string]string{}}
	svc, err := New(Options{KV: st.KV(), Sealer: sl, Plugins: plugins, Credentials: creds, Enterprises: enterprises{ent.ID: ent},
		Directory: dir, RetryBase: 5e6, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{svc: svc, kv: st.KV(), creds: creds, dir: dir, ent: ent}
}

// learnerDID gives every learner e-mail a did:key of its own.
func learnerDID(i int64) string {
	return "did:example:learner" + strconv.FormatInt(i, 10)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func storeCond() store.KVCond { return store.KVCond{} }
