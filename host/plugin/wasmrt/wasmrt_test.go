package wasmrt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
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

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	abiv1 "github.com/ubeu/gateway/abi/v1"
)

// guests maps the test guests to their packages: testdata/<name> unless
// listed here.
var guests = map[string]string{
	"echo": "", "loop": "", "oob": "", "oom": "", "badabi": "", "ungranted": "", "badstatus": "", "httpget": "", "sandbox": "", "badmarker": "",
	"rawcaps": "", "sdkcaps": "",
	"echo-resolver": "../../../sdk-plugin/examples/echo-resolver",
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// guest returns the bytes of testdata/<name> built for wasip1. All guests
// are built once per test binary run; the test is skipped if the toolchain
// cannot build wasip1.
func guest(tb testing.TB, name string) []byte {
	tb.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "wasmrt-guests-")
		if buildErr != nil {
			return
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		for g, pkg := range guests {
			if pkg == "" {
				pkg = "./testdata/" + g
			}
			wg.Go(func() {
				cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", filepath.Join(buildDir, g+".wasm"), pkg)
				cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
				if out, err := cmd.CombinedOutput(); err != nil {
					mu.Lock()
					buildErr = errors.Join(buildErr, fmt.Errorf("build %s: %v\n%s", g, err, out))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	})
	if buildErr != nil {
		tb.Skipf("cannot build the wasip1 test guests with this Go toolchain: %v", buildErr)
	}
	b, err := os.ReadFile(filepath.Join(buildDir, name+".wasm"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// testCacheDir is a compilation cache shared by the tests, so that each
// guest is compiled once. It lives in the user's cache directory and is
// kept between runs (compiling the guests is most of the time of a -race
// run); wazero keys it by module hash and its own version.
var testCacheDir = sync.OnceValue(func() string {
	if c, err := os.UserCacheDir(); err == nil {
		d := filepath.Join(c, "gatewayd-wasmrt-test-cache")
		if os.MkdirAll(d, 0o700) == nil {
			return d
		}
	}
	d, err := os.MkdirTemp("", "wasmrt-cache-")
	if err != nil {
		panic(err)
	}
	return d
})

func newTestRuntime(tb testing.TB, reg prometheus.Registerer) *Runtime {
	tb.Helper()
	r, err := NewRuntime(context.Background(), Options{
		CacheDir:   testCacheDir(),
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registerer: reg,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.Close(context.Background()) })
	return r
}

func load(tb testing.TB, r *Runtime, spec Spec) *Plugin {
	tb.Helper()
	if spec.Wasm == nil {
		spec.Wasm = guest(tb, spec.Name)
	}
	spec.Deterministic = true
	p, err := r.Load(context.Background(), spec)
	if err != nil {
		tb.Fatalf("Load(%s): %v", spec.Name, err)
	}
	tb.Cleanup(func() { p.Close(context.Background()) })
	return p
}

// echoMethod is the test guests' echo: a method ID outside the ABI's
// blocks, whose answers the runtime passes on without decoding them.
const echoMethod uint32 = 0xF001

func mustEcho(t *testing.T, p *Plugin) {
	t.Helper()
	in := []byte("still serving " + p.name)
	out, err := p.Call(context.Background(), echoMethod, in)
	if err != nil {
		t.Fatalf("well-behaved call after failure: %v", err)
	}
	if !bytes.Equal(out, in) {
		t.Fatalf("echo = %q, want %q", out, in)
	}
}

func TestEcho(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := newTestRuntime(t, reg)
	p := load(t, r, Spec{Name: "echo", MinInstances: 1})
	if got := p.Interfaces(); len(got) != 1 || got[0] != "resolver" {
		t.Errorf("Interfaces() = %v, want [resolver]", got)
	}
	for _, in := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("ab"), 3000)} {
		out, err := p.Call(context.Background(), echoMethod, in)
		if err != nil || !bytes.Equal(out, in) || out == nil {
			t.Fatalf("Call(1, %d bytes) = %d bytes, %v", len(in), len(out), err)
		}
	}
	appErr := &abiv1.Error{Code: abiv1.ErrorCodeNotFound, Message: "no such DID"}
	_, err := p.Call(context.Background(), 2, appErr.MarshalAppend(nil))
	var ae *abiv1.Error
	if !errors.As(err, &ae) || ae.Code != abiv1.ErrorCodeNotFound || ae.Message != "no such DID" {
		t.Fatalf("status 1: err = %#v, want the decoded *abiv1.Error", err)
	}
	var pe *PluginError
	if errors.As(err, &pe) {
		t.Fatalf("an application error is not a PluginError: %v", err)
	}
	// Status 1 with an output that is not an Error is an ABI failure.
	_, err = p.Call(context.Background(), 2, []byte{0xff, 0xff, 0xff})
	var ape *abiv1.PluginError
	if !errors.As(err, &pe) || !errors.Is(err, ErrABI) || !strings.Contains(err.Error(), "error output does not decode") || !errors.As(err, &ape) || ape.Method != 2 {
		t.Fatalf("undecodable error output: %v", err)
	}
	mustEcho(t, p)
	if got := value(r.metrics.calls.WithLabelValues("echo", fmt.Sprint(echoMethod), "ok")); got != 4 {
		t.Errorf("calls_total{ok} = %v, want 4", got)
	}
	if got := value(r.metrics.calls.WithLabelValues("echo", "2", "app_error")); got != 1 {
		t.Errorf("calls_total{app_error} = %v, want 1", got)
	}
	// The failed call's instance was discarded and the pool topped back up
	// to MinInstances in the background; mustEcho may have created another
	// one meanwhile.
	p.bg.Wait()
	if got := value(r.metrics.instances.WithLabelValues("echo")); got != float64(p.live.Load()) || got < 1 || got > 2 {
		t.Errorf("instances = %v (live %d), want 1 or 2", got, p.live.Load())
	}
	if got := value(r.metrics.memory.WithLabelValues("echo")); got < 1<<20 {
		t.Errorf("memory_bytes = %v, want the instance's linear memory", got)
	}
}

func TestRefusedModules(t *testing.T) {
	r := newTestRuntime(t, nil)
	for _, tc := range []struct {
		name   string
		spec   Spec
		want   string
		wantIs error
	}{
		{"newer minor", Spec{Name: "badabi"}, "module needs ABI v1.7, this host serves up to v1.0", ErrABI},
		{"ungranted capability", Spec{Name: "ungranted"}, "imports gatewayd_v1_secrets.get but capability gatewayd_v1_secrets is not granted", ErrABI},
		{"ungranted http", Spec{Name: "httpget"}, "capability gatewayd_v1_http is not granted", ErrABI},
		{"granted without implementation", Spec{Name: "ungranted", Grants: []string{ModuleSecrets}}, "gatewayd_v1_secrets granted but Caps.Secrets is nil", nil},
		{"unknown grant", Spec{Name: "echo", Grants: []string{"gatewayd_v1_fs"}}, `unknown capability module "gatewayd_v1_fs"`, nil},
		{"not wasm", Spec{Name: "echo", Wasm: []byte("\x00asm garbage")}, "compile echo", nil},
		{"marker with a signature", Spec{Name: "badmarker"}, "marker gatewayd_feature_batch must be () -> ()", ErrABI},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.spec.Wasm == nil {
				tc.spec.Wasm = guest(t, tc.spec.Name)
			}
			p, err := r.Load(context.Background(), tc.spec)
			if err == nil {
				p.Close(context.Background())
				t.Fatal("Load succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Fatalf("err = %v, want errors.Is %v", err, tc.wantIs)
			}
			// Installers run the same check: what Load refuses for the
			// module itself, CheckModule refuses with the same words.
			if tc.wantIs == ErrABI || tc.name == "not wasm" {
				err := CheckModule(context.Background(), "", tc.spec.Name, tc.spec.Wasm, tc.spec.Grants)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("CheckModule: %v, want it to contain %q", err, tc.want)
				}
			}
		})
	}
	// A module Load accepts, CheckModule accepts, and it fills the cache.
	cache := t.TempDir()
	if err := CheckModule(context.Background(), cache, "echo", guest(t, "echo"), nil); err != nil {
		t.Fatalf("CheckModule(echo): %v", err)
	}
	countFiles := func() int {
		n := 0
		filepath.WalkDir(cache, func(_ string, d os.DirEntry, _ error) error {
			if d != nil && !d.IsDir() {
				n++
			}
			return nil
		})
		return n
	}
	before := countFiles()
	if before == 0 {
		t.Fatal("CheckModule left the compilation cache empty")
	}
	// Load with that cache finds the module compiled: nothing is added.
	cr, err := NewRuntime(context.Background(), Options{CacheDir: cache, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	cp, err := cr.Load(context.Background(), Spec{Name: "echo", Wasm: guest(t, "echo"), MinInstances: 1})
	if err != nil {
		t.Fatal(err)
	}
	cp.Close(context.Background())
	cr.Close(context.Background())
	if after := countFiles(); after != before {
		t.Fatalf("Load compiled the module again: %d cache files after CheckModule, %d after Load", before, after)
	}
	// A refused name can be loaded again once fixed.
	load(t, r, Spec{Name: "ungranted", Grants: []string{ModuleSecrets}, Caps: Capabilities{Secrets: secrets{}}})
}

type secrets struct{}

func (secrets) Secret(context.Context, string) ([]byte, error) { return []byte("s3cret"), nil }

func le(ptr, n uint32) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint32(b, ptr)
	binary.LittleEndian.PutUint32(b[4:], n)
	return b
}

// TestFailuresKeepServing makes each misbehaving guest fail a call and
// checks the error, that the instance was discarded, and that the next
// well-behaved call on the same plugin succeeds.
func TestFailuresKeepServing(t *testing.T) {
	r := newTestRuntime(t, prometheus.NewRegistry())
	for _, tc := range []struct {
		name   string
		spec   Spec
		method uint32
		in     []byte
		is     error
		want   string
	}{
		{"infinite loop", Spec{Name: "loop", CallTimeout: 200 * time.Millisecond}, 9, nil, ErrTrap, "exceeded its deadline of 200ms"},
		{"out of memory", Spec{Name: "oom", MemoryLimitPages: 160}, 9, nil, ErrTrap, "out of memory"},
		{"garbage status", Spec{Name: "badstatus"}, 9, nil, ErrABI, "gatewayd_call returned status 77"},
		{"success that does not decode", Spec{Name: "badstatus"}, abiv1.MethodResolverResolve, nil, ErrABI, "the answer to Resolver.Resolve does not decode"},
		{"input_read out of bounds", Spec{Name: "oob"}, 2, le(0xFFFFFFF0, 64), ErrABI, "input_read: bytes [4294967280, 4294967288) are outside linear memory"},
		{"input_read past memory end", Spec{Name: "oob"}, 2, le(200<<16, 8), ErrABI, "input_read: bytes [13107200, 13107208) are outside linear memory"},
		{"output_write out of bounds", Spec{Name: "oob"}, 3, le(0x7FFFFFFF, 16), ErrABI, "output_write: bytes [2147483647, 2147483663) are outside linear memory"},
		{"over-long output", Spec{Name: "echo", MaxOutputBytes: 32}, echoMethod, bytes.Repeat([]byte("x"), 64), ErrABI, "output of 64 bytes exceeds the cap of 32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.MaxInstances = 1
			tc.spec.BreakerFailures = -1
			p := load(t, r, tc.spec)
			defer p.Close(context.Background())
			mustEcho(t, p)
			start := time.Now()
			_, err := p.Call(context.Background(), tc.method, tc.in)
			var pe *PluginError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *PluginError", err)
			}
			if pe.Plugin != tc.spec.Name || pe.Method != tc.method || !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want plugin %s method %d, errors.Is %v, text %q", err, tc.spec.Name, tc.method, tc.is, tc.want)
			}
			t.Logf("%v (after %v)", err, time.Since(start).Round(time.Millisecond))
			if n := p.live.Load(); n != 0 {
				t.Fatalf("%d instances live after a failure, want the instance discarded", n)
			}
			mustEcho(t, p)
			if got := value(r.metrics.calls.WithLabelValues(tc.spec.Name, fmt.Sprint(tc.method), "plugin_error")); got != 1 {
				t.Errorf("calls_total{plugin_error} = %v, want 1", got)
			}
			p.Close(context.Background())
			r.metrics.calls.Reset()
		})
	}
}

func TestCallerContextStopsGuest(t *testing.T) {
	r := newTestRuntime(t, nil)
	p := load(t, r, Spec{Name: "loop", CallTimeout: time.Minute, MaxInstances: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := p.Call(ctx, 9, nil)
	if !errors.Is(err, ErrTrap) || !strings.Contains(err.Error(), "caller's context ended") {
		t.Fatalf("err = %v", err)
	}
	mustEcho(t, p)
}

func TestCircuitBreaker(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := newTestRuntime(t, reg)
	p := load(t, r, Spec{Name: "badstatus", BreakerFailures: 3, BreakerCooldown: 300 * time.Millisecond})
	ctx := context.Background()
	for i := range 3 {
		if _, err := p.Call(ctx, 9, nil); !errors.Is(err, ErrABI) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	circuit := r.metrics.circuit.WithLabelValues("badstatus")
	if value(circuit) != 1 {
		t.Fatal("circuit_open gauge not 1 after 3 failures")
	}
	// Open: even a good call fails fast without reaching the guest.
	created := p.created.Load()
	start := time.Now()
	_, err := p.Call(ctx, echoMethod, []byte("x"))
	if !errors.Is(err, ErrCircuitOpen) || time.Since(start) > 50*time.Millisecond {
		t.Fatalf("open circuit: err = %v after %v", err, time.Since(start))
	}
	if p.created.Load() != created {
		t.Fatal("an open circuit reached the guest")
	}
	time.Sleep(350 * time.Millisecond)
	// Half-open: a failing trial reopens.
	if _, err := p.Call(ctx, 9, nil); !errors.Is(err, ErrABI) {
		t.Fatalf("trial: %v", err)
	}
	if _, err := p.Call(ctx, echoMethod, nil); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("after failed trial: %v, want circuit open", err)
	}
	time.Sleep(350 * time.Millisecond)
	mustEcho(t, p) // successful trial closes
	mustEcho(t, p)
	if value(circuit) != 0 {
		t.Fatal("circuit_open gauge not 0 after a successful trial")
	}
	if got := value(r.metrics.calls.WithLabelValues("badstatus", fmt.Sprint(echoMethod), "circuit_open")); got != 2 {
		t.Errorf("calls_total{circuit_open} = %v, want 2", got)
	}
}

func TestPoolBound(t *testing.T) {
	r := newTestRuntime(t, nil)
	const max = 2
	p := load(t, r, Spec{Name: "echo", MaxInstances: max})
	var wg sync.WaitGroup
	var peak atomic.Int64
	for g := range 12 {
		wg.Go(func() {
			for i := range 40 {
				in := fmt.Appendf(nil, "g%d-%d", g, i)
				out, err := p.Call(context.Background(), echoMethod, in)
				if err != nil || !bytes.Equal(out, in) {
					t.Errorf("Call = %q, %v", out, err)
					return
				}
				n := p.live.Load()
				for old := peak.Load(); n > old && !peak.CompareAndSwap(old, n); old = peak.Load() {
				}
			}
		})
	}
	wg.Wait()
	if peak.Load() > max || p.created.Load() > max {
		t.Fatalf("peak %d live, %d created; MaxInstances is %d", peak.Load(), p.created.Load(), max)
	}
}

func TestPoolWaitsUntilDeadline(t *testing.T) {
	r := newTestRuntime(t, nil)
	p := load(t, r, Spec{Name: "loop", MaxInstances: 1, CallTimeout: time.Second})
	done := make(chan error)
	go func() { _, err := p.Call(context.Background(), 9, nil); done <- err }()
	time.Sleep(100 * time.Millisecond) // let the looping call take the only instance
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Call(ctx, echoMethod, nil)
	if !errors.Is(err, ErrBusy) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrBusy wrapping the deadline", err)
	}
	if d := time.Since(start); d < 80*time.Millisecond {
		t.Fatalf("gave up after %v, before the deadline", d)
	}
	if err := <-done; !errors.Is(err, ErrTrap) {
		t.Fatalf("looping call: %v", err)
	}
	mustEcho(t, p)
}

func TestRecycle(t *testing.T) {
	r := newTestRuntime(t, nil)
	p := load(t, r, Spec{Name: "echo", MaxInstances: 1, RecycleAfterCalls: 3})
	for range 10 {
		mustEcho(t, p)
	}
	if got := p.created.Load(); got != 4 {
		t.Fatalf("created %d instances for 10 calls recycled every 3, want 4", got)
	}

	var logs logBuffer
	r2, err := NewRuntime(context.Background(), Options{CacheDir: testCacheDir(), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close(context.Background())
	q := load(t, r2, Spec{Name: "echo2", Wasm: guest(t, "echo"), MaxInstances: 1, RecycleAboveBytes: 16 << 20})
	mustEcho(t, q)
	if _, err := q.Call(context.Background(), 3, []byte{1}); err != nil { // +64 KiB
		t.Fatal(err)
	}
	if q.created.Load() != 1 {
		t.Fatal("recycled below the threshold")
	}
	if _, err := q.Call(context.Background(), 3, []byte{255}); err != nil { // +16 MiB
		t.Fatal(err)
	}
	if q.live.Load() != 0 {
		t.Fatal("instance above RecycleAboveBytes was kept")
	}
	mustEcho(t, q)
	if q.created.Load() != 2 {
		t.Fatalf("created %d, want 2", q.created.Load())
	}
	// Recycled for memory after 3 calls: the operator is told, once.
	if n := strings.Count(logs.String(), "outgrow their recycling threshold"); n != 1 {
		t.Fatalf("%d warnings of early recycling, want 1:\n%s", n, logs.String())
	}
}

func TestClose(t *testing.T) {
	r := newTestRuntime(t, nil)
	p := load(t, r, Spec{Name: "echo", MinInstances: 2, MaxInstances: 2})
	if p.live.Load() != 2 {
		t.Fatalf("pre-warmed %d instances, want 2", p.live.Load())
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Call(context.Background(), echoMethod, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Call after Close: %v", err)
	}
	if p.live.Load() != 0 {
		t.Fatal("instances left after Close")
	}
	load(t, r, Spec{Name: "echo"}) // the name is free again
}

// value returns the value of a counter or gauge.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

// TestMemoryFlat makes 200,000 calls into one instance and checks that its
// linear memory does not grow (the guest yields at the end of each call).
func TestMemoryFlat(t *testing.T) {
	longTest(t, "200,000 calls")
	r := newTestRuntime(t, nil)
	p := load(t, r, Spec{Name: "echo", MinInstances: 1, MaxInstances: 1})
	in := p.idle[0]
	start := in.mem.Size()
	payload := bytes.Repeat([]byte("x"), 64)
	for i := range 200_000 {
		if _, err := p.Call(context.Background(), echoMethod, payload); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	end := p.idle[0].mem.Size()
	t.Logf("linear memory: %d bytes at start, %d after 200,000 calls", start, end)
	if p.created.Load() != 1 {
		t.Fatal("instance replaced")
	}
	if end > start+1<<20 {
		t.Fatalf("linear memory grew from %d to %d bytes", start, end)
	}
}

// longTest skips a long test unless GATEWAYD_LONG_TESTS=1 or -run names it
// (the default go test of the package stays short, with -race too).
func longTest(t *testing.T, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("%s: skipped with -short", what)
	}
	if os.Getenv("GATEWAYD_LONG_TESTS") == "1" {
		return
	}
	if f := flag.Lookup("test.run"); f != nil && strings.Contains(f.Value.String(), t.Name()) {
		return
	}
	t.Skipf("%s: set GATEWAYD_LONG_TESTS=1 or name it with -run", what)
}

// TestFeatureMarkers: a feature the host does not know is listed and
// otherwise ignored (ABI 1.0 defines none).
func TestFeatureMarkers(t *testing.T) {
	r := newTestRuntime(t, nil)
	p := load(t, r, Spec{Name: "echo", MaxInstances: 1})
	if got := p.Features(); len(got) != 1 || got[0] != "future_thing" {
		t.Fatalf("Features() = %v", got)
	}
	mustEcho(t, p)
	if !validFeature("batch_v2") || validFeature("Batch") || validFeature("") || validFeature(strings.Repeat("x", 65)) || validFeature("a-b") {
		t.Fatal("validFeature")
	}
}

// TestSandboxNoAmbientAuthority: a guest sees no environment variable
// (not even one of the host's), no arguments beyond its name, and no
// filesystem: reads and writes fail.
func TestSandboxNoAmbientAuthority(t *testing.T) {
	t.Setenv("GATEWAYD_TEST_SECRET", "must-not-leak")
	r := newTestRuntime(t, nil)
	p := load(t, r, Spec{Name: "sandbox", MaxInstances: 1})
	out, err := p.Call(context.Background(), echoMethod, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("guest report:\n%s", out)
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		got[k] = v
	}
	want := map[string]string{"environ": "0", "read_etc_passwd": "error", "read_root": "error", "read_cwd": "error", "write_tmp": "error"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q (report:\n%s)", k, got[k], v, out)
		}
	}
	if got["args"] != "0" && got["args"] != "1" {
		t.Errorf("args = %s, want at most the program name", got["args"])
	}
	if _, err := os.Stat("/tmp/sandbox-escape"); err == nil {
		t.Error("the guest wrote to the host's /tmp")
	}
}
