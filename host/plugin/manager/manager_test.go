package manager

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	pluginpkg "github.com/ubeu/gateway/host/plugin/pkg"
	"github.com/ubeu/gateway/host/plugin/wasmrt"
	"github.com/ubeu/gateway/host/store"
)

// build is a go build of the echo resolver, made once per test binary.
type build struct {
	env  []string // added to the environment
	args []string // before -o
	once sync.Once
	bin  []byte
	err  error
}

var (
	echoWasmBuild   = &build{env: []string{"GOOS=wasip1", "GOARCH=wasm"}, args: []string{"-buildmode=c-shared"}}
	echoNativeBuild = &build{env: []string{"CGO_ENABLED=0"}} // serves over go-plugin
)

// get returns the output of the build.
func (b *build) get(t *testing.T) []byte {
	t.Helper()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "manager-echo-")
		if err != nil {
			b.err = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "echo")
		args := append(append([]string{"build"}, b.args...), "-o", out, "../../../sdk-plugin/examples/echo-resolver")
		cmd := exec.Command("go", args...)
		cmd.Env = append(os.Environ(), b.env...)
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build: %v\n%s", err, msg)
			return
		}
		b.bin, b.err = os.ReadFile(out)
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.bin
}

// writePackage writes an unsigned package directory of the echo resolver
// named name at version, as a wasm plugin.
func writePackage(t *testing.T, name, version string) string {
	t.Helper()
	wasm := echoWasmBuild.get(t)
	return writeEchoPackage(t, name, version, "plugin.wasm", wasm, fmt.Sprintf(`runtime: wasm
artifacts:
  wasm: {file: plugin.wasm, sha256: %x}
limits: {max_instances: 8}
`, sha256.Sum256(wasm)))
}

// writeEchoPackage writes a package directory holding artifact (mode 0755)
// at file and a manifest of name and version requesting log and config,
// with the lines of runtime, artifacts and limits given.
func writeEchoPackage(t *testing.T, name, version, file string, artifact []byte, lines string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, filepath.FromSlash(file))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, artifact, 0o755); err != nil {
		t.Fatal(err)
	}
	manifest := fmt.Sprintf(`name: %s
publisher: Test
version: %s
interfaces: [resolver]
abi: ">=1.0 <2"
capabilities:
  log: true
  config: true
`, name, version) + lines
	if err := os.WriteFile(filepath.Join(dir, pluginpkg.ManifestFile), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func configFor(did string) []byte {
	return []byte(`{"names": {"alice.eth": {"did": "` + did + `"}}}`)
}

var grants = pluginpkg.Grants{Capabilities: []string{"log", "config"}}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

var (
	inspectMu    sync.Mutex
	inspectCache = map[[32]byte]pluginpkg.ModuleInfo{}
)

// inspect memoises pluginpkg.InspectWasm, which compiles the module: slow
// under -race, and the tests install the same module many times.
func inspect(wasm []byte) (pluginpkg.ModuleInfo, error) {
	inspectMu.Lock()
	defer inspectMu.Unlock()
	k := sha256.Sum256(wasm)
	if info, ok := inspectCache[k]; ok {
		return info, nil
	}
	info, err := pluginpkg.InspectWasm(context.Background(), wasm)
	if err == nil {
		inspectCache[k] = info
	}
	return info, err
}

func install(t *testing.T, root, src string, config []byte) {
	t.Helper()
	_, err := pluginpkg.Install(context.Background(), src, pluginpkg.InstallOptions{
		Root: root, AllowUnsigned: true, Grants: grants, Config: config, Inspect: inspect, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
}

// cacheDir is a compilation cache shared by the tests, so that the module
// is compiled once per run (compiling is slow under -race).
var cacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "manager-cache-")
	if err != nil {
		panic(err)
	}
	cacheDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func newManager(t *testing.T, opts Options) *Manager {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	if opts.Runtimes == nil {
		opts.Runtimes = []Runtime{NewWasmRuntime(wasmrt.Options{CacheDir: cacheDir, Logger: opts.Logger})}
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = -1
	}
	m, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	m.inspect = inspect
	t.Cleanup(func() {
		if err := m.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}

func resolveDID(ctx context.Context, tr abiv1.Transport) (string, error) {
	r, err := abiv1.NewResolverClient(tr).Resolve(ctx, &abiv1.ResolveRequest{Name: "alice.eth"})
	if err != nil {
		return "", err
	}
	return r.DID, nil
}

func status(t *testing.T, m *Manager, name string) Status {
	t.Helper()
	for _, st := range m.List() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("%s not in List: %+v", name, m.List())
	return Status{}
}

func TestStartLoadsLockFileAndRecordsFailures(t *testing.T) {
	root := t.TempDir()
	install(t, root, writePackage(t, "echo", "1.0.0"), configFor("did:example:v1"))
	install(t, root, writePackage(t, "broken", "1.0.0"), configFor("x"))
	// Tamper with the installed module: Load's digest check must refuse it.
	if err := os.WriteFile(filepath.Join(root, "broken", "1.0.0", "plugin.wasm"), []byte("\x00asm tampered"), 0o600); err != nil {
		t.Fatal(err)
	}

	m := newManager(t, Options{Root: root})
	ctx := context.Background()

	tr, ok := m.Get("echo")
	if !ok {
		t.Fatalf("echo not loaded: %+v", m.List())
	}
	if did, err := resolveDID(ctx, tr); err != nil || did != "did:example:v1" {
		t.Fatalf("Resolve = %q, %v", did, err)
	}
	if _, ok := m.Get("broken"); ok {
		t.Error("Get(broken) succeeded")
	}
	if _, ok := m.Get("absent"); ok {
		t.Error("Get(absent) succeeded")
	}
	es := m.ByInterface(abiv1.IfaceResolver)
	if len(es) != 1 || es[0].Name != "echo" || es[0].Version != "1.0.0" {
		t.Errorf("ByInterface(resolver) = %+v", es)
	}
	if es := m.ByInterface(abiv1.IfaceLMS); len(es) != 0 {
		t.Errorf("ByInterface(lms) = %+v", es)
	}

	st := status(t, m, "echo")
	if st.State != StateLoaded || st.Version != "1.0.0" || st.Runtime != "wasm" || st.Signer != pluginpkg.Unsigned ||
		st.Calls < 1 || st.Errors != 0 || st.LoadedAt.IsZero() || len(st.Interfaces) != 1 || st.Interfaces[0] != "resolver" {
		t.Errorf("echo status = %+v", st)
	}
	bst := status(t, m, "broken")
	if bst.State != StateFailed || !strings.Contains(bst.Error, "sha256 mismatch") {
		t.Errorf("broken status = %+v", bst)
	}
	err := m.Ready()
	if err == nil || !strings.Contains(err.Error(), "broken") || strings.Contains(err.Error(), "echo") {
		t.Errorf("Ready() = %v, want an error naming broken only", err)
	}

	// Removing the broken plugin makes the gateway ready.
	if err := m.Remove(ctx, "broken"); err != nil {
		t.Fatal(err)
	}
	if err := m.Ready(); err != nil {
		t.Errorf("Ready() after removing broken = %v", err)
	}
}

// upgradeUnderLoad runs upgrade (which installs the answer
// did:example:v2) while goroutines resolve through tr in a loop: no call
// may fail, every answer is v1 or v2, and once upgrade has returned every
// call sees v2. It returns upgrade's Status.
func upgradeUnderLoad(t *testing.T, tr abiv1.Transport, callers int, upgrade func() (Status, error)) Status {
	t.Helper()
	ctx := context.Background()
	var (
		stop, swapped atomic.Bool // swapped: upgrade has returned
		calls, sawV2  atomic.Int64
		failures      = make(chan error, callers)
		wg            sync.WaitGroup
	)
	for range callers {
		wg.Go(func() {
			for !stop.Load() {
				after := swapped.Load()
				did, err := resolveDID(ctx, tr)
				calls.Add(1)
				switch {
				case err != nil:
					failures <- err
					return
				case did == "did:example:v2":
					sawV2.Add(1)
				case did != "did:example:v1":
					failures <- fmt.Errorf("unexpected answer %q", did)
					return
				case after:
					failures <- errors.New("old version answered after the swap completed")
					return
				}
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	before := calls.Load()
	st, err := upgrade()
	swapped.Store(true)
	if err != nil {
		stop.Store(true)
		wg.Wait()
		t.Fatalf("upgrade: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Errorf("call during upgrade: %v", err)
	}
	if before == 0 || sawV2.Load() == 0 {
		t.Fatalf("calls before the swap %d, v2 answers %d: the loop did not straddle the swap", before, sawV2.Load())
	}
	t.Logf("%d calls, %d answered by v2", calls.Load(), sawV2.Load())
	return st
}

// TestHotSwapNoDroppedCalls upgrades a plugin while goroutines call it in a
// loop: no call may fail, and once Install returns every call sees the new
// version. Then it removes the plugin under the same load.
func TestHotSwapNoDroppedCalls(t *testing.T) {
	root := t.TempDir()
	install(t, root, writePackage(t, "echo", "1.0.0"), configFor("did:example:v1"))
	m := newManager(t, Options{Root: root})
	ctx := context.Background()
	tr, ok := m.Get("echo")
	if !ok {
		t.Fatalf("echo not loaded: %+v", m.List())
	}

	st := upgradeUnderLoad(t, tr, 6, func() (Status, error) {
		return m.Install(ctx, writePackage(t, "echo", "2.0.0"), InstallOptions{
			AllowUnsigned: true, Grants: grants, Config: configFor("did:example:v2")})
	})
	if st.Version != "2.0.0" || st.State != StateLoaded || len(st.Draining) != 0 {
		t.Errorf("status after upgrade = %+v", st)
	}
	if did, err := resolveDID(ctx, tr); err != nil || did != "did:example:v2" {
		t.Errorf("after upgrade: %q, %v", did, err)
	}

	// Remove under load: calls succeed until the swap-out, then fail with
	// ErrNotLoaded, never with anything else.
	removed := make(chan struct{})
	errs := make(chan error, 10)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				afterRemove := false
				select {
				case <-removed:
					afterRemove = true
				default:
				}
				_, err := resolveDID(ctx, tr)
				if err != nil {
					if !errors.Is(err, ErrNotLoaded) {
						errs <- err
					}
					return
				}
				if afterRemove {
					errs <- errors.New("call made after Remove returned was answered")
					return
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	if err := m.Remove(ctx, "echo"); err != nil {
		t.Fatal(err)
	}
	close(removed)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("call during remove: %v", err)
	}
	if _, ok := m.Get("echo"); ok || len(m.List()) != 0 {
		t.Errorf("after Remove: Get ok=%v, List %+v", ok, m.List())
	}
}

func TestWatchPicksUpChangesFromAnotherProcess(t *testing.T) {
	root := t.TempDir()
	m := newManager(t, Options{Root: root, PollInterval: 20 * time.Millisecond})
	ctx := context.Background()

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; List %+v", what, m.List())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// The CLI installs straight into the directory.
	install(t, root, writePackage(t, "echo", "1.0.0"), configFor("did:example:v1"))
	waitFor("install", func() bool { _, ok := m.Get("echo"); return ok })
	tr, _ := m.Get("echo")
	if did, err := resolveDID(ctx, tr); err != nil || did != "did:example:v1" {
		t.Fatalf("Resolve = %q, %v", did, err)
	}
	install(t, root, writePackage(t, "echo", "1.1.0"), configFor("did:example:v11"))
	waitFor("upgrade", func() bool { did, _ := resolveDID(ctx, tr); return did == "did:example:v11" })
	if err := pluginpkg.Remove(root, "echo"); err != nil {
		t.Fatal(err)
	}
	waitFor("remove", func() bool { _, ok := m.Get("echo"); return !ok })
}

// fakeRuntime starts instances whose calls block until released, to observe
// the order of swap, drain and close.
type fakeRuntime struct {
	mu        sync.Mutex
	instances []*fakeInstance
	failNext  error
}

func (f *fakeRuntime) Name() string { return pluginpkg.RuntimeWasm }

func (f *fakeRuntime) Start(_ context.Context, inst *pluginpkg.Installed, _ Capabilities) (Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failNext; err != nil {
		f.failNext = nil
		return nil, err
	}
	in := &fakeInstance{version: inst.Version, gate: make(chan struct{}), entered: make(chan struct{}, 100)}
	f.instances = append(f.instances, in)
	return in, nil
}

type fakeInstance struct {
	version  string
	gate     chan struct{} // calls block until closed (Describe excepted)
	entered  chan struct{}
	inFlight atomic.Int64
	closed   atomic.Bool
	closedIn int64 // in-flight calls when Close was called
}

func (f *fakeInstance) Call(ctx context.Context, method uint32, _ []byte) ([]byte, error) {
	if f.closed.Load() {
		return nil, errors.New("call on a closed instance")
	}
	if method == abiv1.MethodPluginDescribe {
		return (&abiv1.DescribeResponse{Version: f.version}).MarshalAppend(nil), nil
	}
	f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	f.entered <- struct{}{}
	select {
	case <-f.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return []byte(f.version), nil
}

func (f *fakeInstance) Interfaces() []string { return []string{"resolver"} }

func (f *fakeInstance) Close(context.Context) error {
	f.closedIn = f.inFlight.Load()
	f.closed.Store(true)
	return nil
}

func TestSwapDrainsBeforeClose(t *testing.T) {
	root := t.TempDir()
	install(t, root, writePackage(t, "echo", "1.0.0"), nil)
	rt := &fakeRuntime{}
	m := newManager(t, Options{Root: root, Runtimes: []Runtime{rt}, DrainTimeout: 10 * time.Second})
	ctx := context.Background()
	tr, _ := m.Get("echo")

	// A call in flight on v1.
	v1 := rt.instances[0]
	first := make(chan string)
	go func() { out, _ := tr.Call(ctx, abiv1.MethodResolverResolve, nil); first <- string(out) }()
	<-v1.entered

	installed := make(chan error)
	go func() {
		_, err := m.Install(ctx, writePackage(t, "echo", "2.0.0"), InstallOptions{AllowUnsigned: true, Grants: grants})
		installed <- err
	}()
	// Wait for the swap: v2 exists and is current.
	deadline := time.Now().Add(10 * time.Second)
	for status(t, m, "echo").Version != "2.0.0" {
		if time.Now().After(deadline) {
			t.Fatal("no swap")
		}
		time.Sleep(5 * time.Millisecond)
	}
	st := status(t, m, "echo")
	if len(st.Draining) != 1 || st.Draining[0] != "1.0.0" {
		t.Errorf("status during drain = %+v", st)
	}
	// New calls go to v2 while v1 drains.
	v2 := rt.instances[1]
	close(v2.gate)
	if out, err := tr.Call(ctx, abiv1.MethodResolverResolve, nil); err != nil || string(out) != "2.0.0" {
		t.Errorf("call during drain = %q, %v", out, err)
	}
	select {
	case err := <-installed:
		t.Fatalf("Install returned (%v) while v1 still had a call in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	if v1.closed.Load() {
		t.Fatal("v1 closed with a call in flight")
	}
	close(v1.gate)
	if got := <-first; got != "1.0.0" {
		t.Errorf("in-flight call answered %q", got)
	}
	if err := <-installed; err != nil {
		t.Fatal(err)
	}
	if !v1.closed.Load() || v1.closedIn != 0 {
		t.Errorf("v1 closed=%v with %d calls in flight", v1.closed.Load(), v1.closedIn)
	}

	// A failed upgrade keeps the previous version serving and says so.
	rt.mu.Lock()
	rt.failNext = errors.New("boom")
	rt.mu.Unlock()
	if _, err := m.Install(ctx, writePackage(t, "echo", "3.0.0"), InstallOptions{AllowUnsigned: true, Grants: grants}); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("Install of a failing version = %v", err)
	}
	st = status(t, m, "echo")
	if st.State != StateLoaded || st.Version != "2.0.0" || !strings.Contains(st.Error, "upgrade to 3.0.0 failed") {
		t.Errorf("status after failed upgrade = %+v", st)
	}
	if out, err := tr.Call(ctx, abiv1.MethodResolverResolve, nil); err != nil || string(out) != "2.0.0" {
		t.Errorf("call after failed upgrade = %q, %v", out, err)
	}
	if err := m.Ready(); err != nil {
		t.Errorf("Ready() with the previous version serving = %v", err)
	}
	// Reload retries it.
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if st := status(t, m, "echo"); st.Version != "3.0.0" || st.Error != "" {
		t.Errorf("status after retry = %+v", st)
	}
}

func TestDrainDeadlineCutsCallsShort(t *testing.T) {
	root := t.TempDir()
	install(t, root, writePackage(t, "echo", "1.0.0"), nil)
	rt := &fakeRuntime{}
	m := newManager(t, Options{Root: root, Runtimes: []Runtime{rt}, DrainTimeout: 50 * time.Millisecond})
	ctx := context.Background()
	tr, _ := m.Get("echo")
	go func() { _, _ = tr.Call(ctx, abiv1.MethodResolverResolve, nil) }()
	<-rt.instances[0].entered
	start := time.Now()
	if err := m.Remove(ctx, "echo"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Remove took %v with a stuck call and a 50ms drain timeout", d)
	}
	if !rt.instances[0].closed.Load() {
		t.Error("stuck instance not closed")
	}
	close(rt.instances[0].gate)
}

func TestCapabilities(t *testing.T) {
	mem := newMemKV()
	m := &Manager{log: quietLogger(), kv: mem, secrets: EnvFileSecrets{Dir: t.TempDir(), Getenv: func(k string) string {
		if k == "GATEWAYD_PLUGIN_SECRET_ENS_RESOLVER_API_KEY" {
			return "from-env"
		}
		return ""
	}}}
	inst := &pluginpkg.Installed{
		LockEntry: pluginpkg.LockEntry{Name: "ens-resolver", Grants: pluginpkg.Grants{
			Capabilities: []string{"http", "kv", "secrets"},
			HTTPHosts:    []string{"*.infura.io"},
			Secrets:      []string{"api_key", "file_key"},
		}},
		Manifest: &pluginpkg.Manifest{Capabilities: pluginpkg.Capabilities{
			HTTP: &pluginpkg.HTTPCapability{Allow: []pluginpkg.HTTPRule{
				{Scheme: "https", Host: "mainnet.infura.io", Port: 443},
				{Scheme: "https", Host: "evil.example"},
			}, AllowPrivate: true},
			KV:      &pluginpkg.KVCapability{MaxEntries: 10, MaxBytes: 100},
			Secrets: []string{"api_key", "file_key", "other"},
		}},
	}
	caps, err := m.capabilities(inst)
	if err != nil {
		t.Fatal(err)
	}
	if caps.HTTP == nil || len(caps.HTTP.Allow) != 1 || caps.HTTP.Allow[0].Host != "mainnet.infura.io" || caps.HTTP.AllowPrivate {
		t.Errorf("HTTP policy = %+v, want mainnet.infura.io only, no private", caps.HTTP)
	}
	if caps.KVQuota != (wasmrt.KVQuota{MaxEntries: 10, MaxBytes: 100}) {
		t.Errorf("KVQuota = %+v", caps.KVQuota)
	}
	ctx := context.Background()
	if _, err := caps.KV.Put(ctx, "whatever", "k", []byte("v"), store.KVCond{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := mem.Get(ctx, "plugin:ens-resolver", "k"); err != nil {
		t.Errorf("KV write not in namespace plugin:ens-resolver: %v", err)
	}
	if v, err := caps.Secrets.Secret(ctx, "api_key"); err != nil || string(v) != "from-env" {
		t.Errorf("secret from env = %q, %v", v, err)
	}
	if _, err := caps.Secrets.Secret(ctx, "other"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("secret not granted = %v, want not found", err)
	}
	dir := m.secrets.(EnvFileSecrets).Dir
	p := filepath.Join(dir, "ens-resolver", "file_key")
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("from-file"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := caps.Secrets.Secret(ctx, "file_key"); err == nil || !strings.Contains(err.Error(), "0600") {
		t.Errorf("world-readable secret file = %v, want refused", err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if v, err := caps.Secrets.Secret(ctx, "file_key"); err != nil || string(v) != "from-file" {
		t.Errorf("secret from file = %q, %v", v, err)
	}

	// HTTP granted but none of the manifest's hosts: refused rather than
	// handing netguard an empty (allow-all) list.
	inst.Grants.HTTPHosts = []string{"other.example"}
	if _, err := m.capabilities(inst); err == nil {
		t.Error("http with no granted host accepted")
	}
}

// memKV is an in-memory store.KV.
type memKV struct {
	mu  sync.Mutex
	m   map[string][]byte
	ver map[string]uint64
	seq uint64
}

func newMemKV() *memKV { return &memKV{m: map[string][]byte{}, ver: map[string]uint64{}} }

func (k *memKV) Get(_ context.Context, ns, key string) ([]byte, uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[ns+"\x00"+key]
	if !ok {
		return nil, 0, store.ErrNotFound
	}
	return v, k.ver[ns+"\x00"+key], nil
}

func (k *memKV) Put(_ context.Context, ns, key string, value []byte, _ store.KVCond) (uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.seq++
	k.m[ns+"\x00"+key], k.ver[ns+"\x00"+key] = value, k.seq
	return k.seq, nil
}

func (k *memKV) Delete(_ context.Context, ns, key string, _ store.KVCond) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, ns+"\x00"+key)
	return nil
}

func (k *memKV) List(context.Context, string, string, string, int) ([]store.KVItem, error) {
	return nil, nil
}

func (k *memKV) Usage(_ context.Context, ns string) (int, int64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	n, size := 0, int64(0)
	for nk, v := range k.m {
		if key, ok := strings.CutPrefix(nk, ns+"\x00"); ok {
			n, size = n+1, size+int64(len(key)+len(v))
		}
	}
	return n, size, nil
}
