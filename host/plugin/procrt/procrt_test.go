package procrt

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	abiv1 "github.com/ubeu/gateway/abi/v1"
)

// Plugin binaries built once by TestMain.
var (
	crashyPath, crashySum string
	echoPath, echoSum     string
)

func TestMain(m *testing.M) {
	if os.Getenv("PROCRT_TEST_HELPER") == "1" {
		orphanHelper()
		return
	}
	dir, err := os.MkdirTemp("", "procrt-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	crashyPath, crashySum, err = buildPlugin(dir, "crashy", "./testdata/crashy")
	if err == nil {
		echoPath, echoSum, err = buildPlugin(dir, "echo-resolver", "../../../sdk-plugin/examples/echo-resolver")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	Shutdown()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildPlugin builds the native plugin in pkg (a plain go build) and
// returns its path and hex SHA-256.
func buildPlugin(dir, name, pkg string) (string, string, error) {
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return "", "", err
	}
	sum := sha256.Sum256(b)
	return out, hex.EncodeToString(sum[:]), nil
}

// orphanHelper runs in a child test process: it starts crashy, prints the
// plugin's pid and waits to be killed.
func orphanHelper() {
	p, err := Start(context.Background(), Spec{Name: "crashy", Path: os.Getenv("PROCRT_TEST_PLUGIN"), SHA256: os.Getenv("PROCRT_TEST_SHA")})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println(p.Pid())
	select {}
}

// logBuffer collects a text log.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogger(t *testing.T) (*slog.Logger, *logBuffer) {
	t.Helper()
	b := new(logBuffer)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", b.String())
		}
	})
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// fakeCaps implements Capabilities in memory.
type fakeCaps struct {
	mu       sync.Mutex
	config   []byte
	logs     []string
	counters map[string]float64
	now      int64
}

func (c *fakeCaps) HTTP(context.Context, *abiv1.HTTPRequest) (*abiv1.HTTPResponse, error) {
	return nil, abiv1.Errorf(abiv1.ErrorCodeUnavailable, "no http")
}
func (c *fakeCaps) KVGet(context.Context, *abiv1.KVGetRequest) (*abiv1.KVGetResponse, error) {
	return &abiv1.KVGetResponse{Found: true, Value: []byte("from-kv"), Version: 1}, nil
}
func (c *fakeCaps) KVPut(context.Context, *abiv1.KVPutRequest) (*abiv1.KVPutResponse, error) {
	return nil, abiv1.Errorf(abiv1.ErrorCodeUnavailable, "read-only")
}
func (c *fakeCaps) KVDelete(context.Context, *abiv1.KVDeleteRequest) (*abiv1.KVDeleteResponse, error) {
	return nil, abiv1.Errorf(abiv1.ErrorCodeUnavailable, "read-only")
}
func (c *fakeCaps) KVList(context.Context, *abiv1.KVListRequest) (*abiv1.KVListResponse, error) {
	return &abiv1.KVListResponse{}, nil
}
func (c *fakeCaps) SecretGet(_ context.Context, req *abiv1.SecretGetRequest) (*abiv1.SecretGetResponse, error) {
	return nil, abiv1.Errorf(abiv1.ErrorCodeNotFound, "no secret %q", req.Name)
}
func (c *fakeCaps) Log(level slog.Level, rec *abiv1.LogRecord) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.logs = append(c.logs, fmt.Sprintf("%s %s %v", level, rec.Message, rec.Attrs))
}
func (c *fakeCaps) CounterAdd(name string, v float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counters == nil {
		c.counters = map[string]float64{}
	}
	c.counters[name] += v
}
func (c *fakeCaps) HistogramObserve(string, float64) {}
func (c *fakeCaps) NowUnixNano() int64               { return c.now }
func (c *fakeCaps) RandomFill(p []byte) {
	for i := range p {
		p[i] = byte(i + 1)
	}
}
func (c *fakeCaps) Config() []byte { return c.config }

func (c *fakeCaps) logged() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.logs...)
}

func startCrashy(t *testing.T, spec Spec) *Plugin {
	t.Helper()
	spec.Name, spec.Path, spec.SHA256 = "crashy", crashyPath, crashySum
	if spec.Logger == nil {
		spec.Logger, _ = newLogger(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := Start(ctx, spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func resolve(ctx context.Context, p *Plugin, name string) (*abiv1.ResolveResponse, error) {
	return abiv1.NewResolverClient(p).Resolve(ctx, &abiv1.ResolveRequest{Name: name})
}

// processGone reports whether pid no longer runs (absent or a zombie).
func processGone(pid int) bool {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if i := bytes.LastIndexByte(b, ')'); i > 0 && i+2 < len(b) {
			return b[i+2] == 'Z'
		}
		return false
	}
	proc, err := os.FindProcess(pid)
	if err != nil {
		return true
	}
	return errors.Is(proc.Signal(syscall.Signal(0)), os.ErrProcessDone) || errors.Is(proc.Signal(syscall.Signal(0)), syscall.ESRCH)
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEchoResolver(t *testing.T) {
	caps := &fakeCaps{config: []byte(`{"names": {"alice.eth": {"owners": [{"chain": "eip155:1", "address": "0xA11CE"}], "did": "did:example:alice"}}}`)}
	log, _ := newLogger(t)
	p, err := Start(context.Background(), Spec{
		Name: "echo", Path: echoPath, SHA256: echoSum,
		Grants: []string{abiv1.ConfigModule, abiv1.LogModule}, Host: NewHost(caps),
		Interfaces: []string{abiv1.IfaceResolver}, CallTimeout: 10 * time.Second, Logger: log,
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer p.Close()
	ctx := context.Background()

	d, err := abiv1.NewPluginClient(p).Describe(ctx, &abiv1.DescribeRequest{})
	if err != nil || d.Name != "echo-resolver" || d.Version != "0.1.0" || len(d.Interfaces) != 1 || d.Interfaces[0] != abiv1.IfaceResolver {
		t.Fatalf("Describe = %+v, %v", d, err)
	}
	if info := p.Info(); info.Name != "echo-resolver" {
		t.Errorf("Info = %+v", info)
	}
	r := abiv1.NewResolverClient(p)
	got, err := r.Resolve(ctx, &abiv1.ResolveRequest{Name: "Alice.eth"})
	if err != nil || got.DID != "did:example:alice" || len(got.Owners) != 1 || got.Owners[0].Address != "0xA11CE" {
		t.Fatalf("Resolve = %+v, %v", got, err)
	}
	_, err = r.Resolve(ctx, &abiv1.ResolveRequest{Name: "carol.eth"})
	if e, ok := errors.AsType[*abiv1.Error](err); !ok || e.Code != abiv1.ErrorCodeNotFound || !strings.Contains(e.Message, "carol.eth") {
		t.Errorf("Resolve(carol.eth) = %v, want an *abiv1.Error NOT_FOUND", err)
	}
	own, err := r.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "alice.eth", Address: &abiv1.Address{Chain: "eip155:1", Address: "0xdead"}})
	if err != nil || own.Owns {
		t.Fatalf("CheckOwnership = %+v, %v", own, err)
	}
	if logs := caps.logged(); len(logs) != 1 || !strings.Contains(logs[0], "DEBUG ownership denied map[name:alice.eth]") {
		t.Errorf("plugin logs = %q", logs)
	}
	_, err = abiv1.NewLMSClient(p).DescribeCourses(ctx, &abiv1.DescribeCoursesRequest{})
	if e, ok := errors.AsType[*abiv1.Error](err); !ok || e.Code != abiv1.ErrorCodeUnimplemented {
		t.Errorf("LMS call = %v, want UNIMPLEMENTED", err)
	}
}

func TestCapabilities(t *testing.T) {
	caps := &fakeCaps{config: []byte(`{"k":1}`), now: 1_700_000_000_123_456_789}
	p := startCrashy(t, Spec{
		Grants: []string{abiv1.ConfigModule, abiv1.LogModule, abiv1.RandomModule, abiv1.ClockModule, abiv1.MetricsModule, abiv1.SecretsModule},
		Host:   NewHost(caps),
	})
	ctx := context.Background()
	got, err := resolve(ctx, p, "caps")
	if err != nil {
		t.Fatalf("caps: %v", err)
	}
	if got.DID != `{"k":1}` || got.ExpiresUnix != 1_700_000_000 || got.Records["random"] != "0102030405060708" {
		t.Errorf("caps = %+v", got)
	}
	if logs := caps.logged(); len(logs) != 1 || logs[0] != "WARN caps called map[from:crashy]" {
		t.Errorf("logs = %q", logs)
	}
	caps.mu.Lock()
	if caps.counters["calls"] != 1 {
		t.Errorf("counters = %v", caps.counters)
	}
	caps.mu.Unlock()

	// kv is not granted: refused by the host, reported to the plugin as
	// PERMISSION_DENIED, which the plugin returns.
	_, err = resolve(ctx, p, "kv")
	if e, ok := errors.AsType[*abiv1.Error](err); !ok || e.Code != abiv1.ErrorCodePermissionDenied {
		t.Errorf("kv without grant = %v, want PERMISSION_DENIED", err)
	}
	// A granted capability's application error reaches the plugin.
	_, err = resolve(ctx, p, "secret")
	if e, ok := errors.AsType[*abiv1.Error](err); !ok || e.Code != abiv1.ErrorCodeNotFound || !strings.Contains(e.Message, `no secret "s"`) {
		t.Errorf("secret = %v, want NOT_FOUND from the host", err)
	}
	_, err = resolve(ctx, p, "err:gone")
	if e, ok := errors.AsType[*abiv1.Error](err); !ok || e.Code != abiv1.ErrorCodeNotFound || e.Message != "gone" {
		t.Errorf("err:gone = %v", err)
	}
}

func TestGrantedKV(t *testing.T) {
	p := startCrashy(t, Spec{Grants: []string{abiv1.KVModule}, Host: NewHost(&fakeCaps{})})
	got, err := resolve(context.Background(), p, "kv")
	if err != nil || got.DID != "from-kv" {
		t.Errorf("kv = %+v, %v", got, err)
	}
}

func TestCrashRestart(t *testing.T) {
	log, logs := newLogger(t)
	p := startCrashy(t, Spec{CallTimeout: 5 * time.Second, RestartBackoff: 20 * time.Millisecond, Logger: log})
	ctx := context.Background()
	for i, how := range []string{"crash", "panic"} {
		old := p.Pid()
		_, err := resolve(ctx, p, how)
		if _, ok := errors.AsType[*abiv1.PluginError](err); !ok {
			t.Fatalf("%s: err = %v, want *abiv1.PluginError", how, err)
		}
		waitFor(t, "restart", 10*time.Second, func() bool { return p.Restarts() == i+1 && p.Pid() != 0 })
		if p.Pid() == old {
			t.Errorf("%s: same pid %d after restart", how, old)
		}
		waitFor(t, "old process gone", 5*time.Second, func() bool { return processGone(old) })
		got, err := resolve(ctx, p, "pid")
		if err != nil || got.DID != strconv.Itoa(p.Pid()) {
			t.Errorf("after %s: Resolve(pid) = %+v, %v (pid %d)", how, got, err, p.Pid())
		}
	}
	if s := logs.String(); !strings.Contains(s, "crashy: asked to panic") {
		t.Errorf("the panic is not in the host log:\n%s", s)
	}
}

func TestCallsDuringOutageFailFast(t *testing.T) {
	p := startCrashy(t, Spec{RestartBackoff: 3 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := resolve(ctx, p, "crash"); err == nil {
		t.Fatal("crash: no error")
	}
	waitFor(t, "the supervisor to notice", 2*time.Second, func() bool { return p.Pid() == 0 })
	start := time.Now()
	_, err := resolve(ctx, p, "x")
	pe, ok := errors.AsType[*abiv1.PluginError](err)
	if !ok || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("during outage: %v, want *abiv1.PluginError wrapping ErrUnavailable", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("call during outage took %v", d)
	}
	if pe.Method != abiv1.MethodResolverResolve {
		t.Errorf("PluginError.Method = %#x", pe.Method)
	}
}

func TestDeadline(t *testing.T) {
	p := startCrashy(t, Spec{CallTimeout: 300 * time.Millisecond, RestartBackoff: 20 * time.Millisecond})
	old := p.Pid()
	start := time.Now()
	_, err := resolve(context.Background(), p, "hang")
	if pe, ok := errors.AsType[*abiv1.PluginError](err); !ok || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hang = %v (%#v), want a deadline PluginError", err, pe)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("hang returned after %v", d)
	}
	// The stuck process is replaced.
	waitFor(t, "replacement", 10*time.Second, func() bool { return p.Restarts() == 1 && p.Pid() != 0 })
	if _, err := resolve(context.Background(), p, "ok"); err != nil {
		t.Errorf("after replacement: %v", err)
	}
	waitFor(t, "stuck process gone", 5*time.Second, func() bool { return processGone(old) })
}

func TestChecksumMismatch(t *testing.T) {
	_, err := Start(context.Background(), Spec{Name: "crashy", Path: crashyPath, SHA256: echoSum})
	if !errors.Is(err, ErrChecksum) {
		t.Errorf("Start with wrong sha256 = %v, want ErrChecksum", err)
	}
	if _, err := Start(context.Background(), Spec{Name: "crashy", Path: crashyPath, SHA256: "abc"}); err == nil {
		t.Error("Start with a malformed sha256 succeeded")
	}
}

func TestInterfaceMismatch(t *testing.T) {
	log, _ := newLogger(t)
	_, err := Start(context.Background(), Spec{Name: "crashy", Path: crashyPath, SHA256: crashySum, Interfaces: []string{abiv1.IfaceLMS}, Logger: log})
	if err == nil || !strings.Contains(err.Error(), `does not implement interface "lms"`) {
		t.Errorf("Start = %v, want an interface mismatch", err)
	}
}

func TestCloseReaps(t *testing.T) {
	p := startCrashy(t, Spec{})
	pid := p.Pid()
	if pid == 0 || processGone(pid) {
		t.Fatalf("pid %d not running", pid)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if !processGone(pid) {
		t.Errorf("plugin process %d still runs after Close", pid)
	}
	_, err := resolve(context.Background(), p, "x")
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("call after Close = %v", err)
	}
	p.Close() // idempotent
}

func TestShutdown(t *testing.T) {
	a, b := startCrashy(t, Spec{}), startCrashy(t, Spec{})
	pa, pb := a.Pid(), b.Pid()
	Shutdown()
	if !processGone(pa) || !processGone(pb) {
		t.Errorf("after Shutdown: %d gone %v, %d gone %v", pa, processGone(pa), pb, processGone(pb))
	}
}

func TestStdoutLogged(t *testing.T) {
	log, logs := newLogger(t)
	p := startCrashy(t, Spec{Logger: log})
	if _, err := resolve(context.Background(), p, "stdout"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "stdout in the log", 5*time.Second, func() bool {
		return strings.Contains(logs.String(), `msg="hello from stdout" plugin=crashy stream=stdout`)
	})
}

// TestParentDeath kills a process that started a plugin and checks the
// plugin does not outlive it.
func TestParentDeath(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PROCRT_TEST_HELPER=1", "PROCRT_TEST_PLUGIN="+crashyPath, "PROCRT_TEST_SHA="+crashySum)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	pid, perr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || perr != nil || pid <= 0 {
		t.Fatalf("helper said %q (%v)", line, err)
	}
	if processGone(pid) {
		t.Fatalf("plugin %d not running", pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	waitFor(t, "orphaned plugin to exit", 5*time.Second, func() bool { return processGone(pid) })
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestCapabilitiesAfterIdle: a plugin whose first capability call comes
// later than go-plugin keeps the host's broker connection info (5 s) still
// reaches the host: the SDK dials the capability service at the first call
// that names the broker, not at the first capability call.
func TestCapabilitiesAfterIdle(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 6 s")
	}
	p := startCrashy(t, Spec{Grants: []string{abiv1.KVModule}, Host: NewHost(&fakeCaps{})})
	ctx := context.Background()
	if _, err := abiv1.NewPluginClient(p).Describe(ctx, &abiv1.DescribeRequest{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(6 * time.Second)
	got, err := resolve(ctx, p, "kv")
	if err != nil || got.DID != "from-kv" {
		t.Fatalf("first capability call 6 s after start: %+v, %v", got, err)
	}
}
