package plugintest_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	sdk "github.com/ubeu/gateway/sdk-plugin"
	"github.com/ubeu/gateway/sdk-plugin/plugintest"
	"github.com/ubeu/gateway/sdk-plugin/resolver"
)

// profileResolver is the plugin linked into this test binary: it resolves
// a name by asking a profile API (HTTP, with a secret), caches the answer
// in KV and logs.
type profileResolver struct{}

func (profileResolver) Resolve(ctx context.Context, req *abiv1.ResolveRequest) (*abiv1.ResolveResponse, error) {
	if req.Name == "" {
		return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "name is required")
	}
	if v, _, ok, err := sdk.KV().Get(ctx, "did/"+req.Name); err == nil && ok {
		return &abiv1.ResolveResponse{DID: string(v)}, nil
	}
	var cfg struct {
		API string `json:"api"`
	}
	if err := sdk.Config(&cfg); err != nil {
		return nil, abiv1.Errorf(abiv1.ErrorCodeInternal, "config: %v", err)
	}
	token, err := sdk.Secret("token")
	if err != nil {
		return nil, err
	}
	res, err := sdk.HTTP(ctx, &abiv1.HTTPRequest{Method: "GET", URL: cfg.API + "/did/" + req.Name,
		Headers: []*abiv1.Header{{Name: "Authorization", Values: []string{"Bearer " + string(token)}}}})
	if err != nil {
		return nil, err
	}
	if res.Status == http.StatusNotFound {
		return nil, abiv1.Errorf(abiv1.ErrorCodeNotFound, "%s not found", req.Name)
	}
	if _, err := sdk.KV().Put(ctx, "did/"+req.Name, res.Body, sdk.PutCond{}); err != nil {
		return nil, err
	}
	sdk.Log(slog.LevelDebug, "resolved", slog.String("name", req.Name))
	return &abiv1.ResolveResponse{DID: string(res.Body)}, nil
}

func (profileResolver) CheckOwnership(ctx context.Context, req *abiv1.CheckOwnershipRequest) (*abiv1.CheckOwnershipResponse, error) {
	if req.Name == "" {
		return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "name is required")
	}
	return &abiv1.CheckOwnershipResponse{Owns: false}, nil
}

func init() {
	sdk.SetInfo("profile-resolver", "1.2.3")
	resolver.Serve(profileResolver{})
}

// profileAPI is the fake peer.
func profileAPI(calls *int) http.Handler {
	var mu sync.Mutex
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		*calls++
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/did/alice.eth":
			io.WriteString(w, "did:example:alice")
		default:
			http.NotFound(w, r)
		}
	})
}

func TestInProcessHost(t *testing.T) {
	var calls int
	h := plugintest.New(t, plugintest.Options{
		Config:  map[string]string{"api": "https://profiles.example"},
		Peers:   map[string]http.Handler{"profiles.example": profileAPI(&calls)},
		Secrets: map[string]string{"token": "s3cret"},
	})
	plugintest.ResolverConformance(t, h.Transport(), plugintest.ResolverCases{
		Plugin: plugintest.PluginInfo{Name: "profile-resolver", Version: "1.2.3", Interfaces: []string{"resolver"}},
		Resolve: []plugintest.ResolveCase{
			{Req: &abiv1.ResolveRequest{Name: "alice.eth"}, Want: &abiv1.ResolveResponse{DID: "did:example:alice"}},
			{Req: &abiv1.ResolveRequest{Name: "bob.eth"}, WantCode: abiv1.ErrorCodeNotFound},
		},
		CheckOwnership: []plugintest.CheckOwnershipCase{
			{Req: &abiv1.CheckOwnershipRequest{Name: "alice.eth"}, Want: &abiv1.CheckOwnershipResponse{}},
		},
	})
	if v, ok := h.KVValue("did/alice.eth"); !ok || string(v) != "did:example:alice" {
		t.Errorf("KV = %q, %v", v, ok)
	}
	if logs := h.Logs(); len(logs) != 1 || logs[0].Message != "resolved" || logs[0].Attrs["name"] != "alice.eth" {
		t.Errorf("logs = %+v", logs)
	}
	if calls == 0 {
		t.Error("the fake peer was never called")
	}
	// A host that is not a peer fails like the allow-list would.
	if _, err := sdk.HTTP(context.Background(), &abiv1.HTTPRequest{Method: "GET", URL: "https://elsewhere.example/"}); err == nil {
		t.Error("request to a host that is not a peer succeeded")
	}
}

// recorder is a plugintest.TB that records failures instead of failing.
type recorder struct {
	mu     sync.Mutex
	errors []string
	fatal  bool
}

func (r *recorder) Helper()             {}
func (r *recorder) Logf(string, ...any) {}
func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.fatal = true
	runtime.Goexit()
}

// run runs a suite against r in a goroutine of its own (Fatalf exits it).
func (r *recorder) run(f func()) {
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	<-done
}

func (r *recorder) has(substr string) bool {
	for _, e := range r.errors {
		if strings.Contains(e, substr) {
			return true
		}
	}
	return false
}

// sloppy breaks every rule the suite checks.
type sloppy struct {
	mu sync.Mutex
	n  int
}

func (s *sloppy) Resolve(_ context.Context, req *abiv1.ResolveRequest) (*abiv1.ResolveResponse, error) {
	s.mu.Lock()
	s.n++
	n := s.n
	s.mu.Unlock()
	if req.Name == "" {
		return nil, abiv1.Errorf(abiv1.ErrorCodeNotFound, "no")
	}
	if n > 20 { // answers change under load
		return &abiv1.ResolveResponse{DID: "did:example:other"}, nil
	}
	return &abiv1.ResolveResponse{DID: "did:example:" + req.Name}, nil
}

func (s *sloppy) CheckOwnership(context.Context, *abiv1.CheckOwnershipRequest) (*abiv1.CheckOwnershipResponse, error) {
	return &abiv1.CheckOwnershipResponse{}, nil
}

func TestConformanceCatchesDefects(t *testing.T) {
	res := abiv1.DispatchResolver(&sloppy{})
	tr := abiv1.HandlerTransport(func(ctx context.Context, method uint32, req []byte) ([]byte, error) {
		if method == abiv1.MethodPluginDescribe {
			return (&abiv1.DescribeResponse{Name: "sloppy", Interfaces: []string{"resolver", "lms"}}).MarshalAppend(nil), nil
		}
		if method == 0xff01 {
			return nil, abiv1.Errorf(abiv1.ErrorCodeInternal, "what?")
		}
		return res(ctx, method, req)
	})
	var r recorder
	r.run(func() {
		plugintest.ResolverConformance(&r, tr, plugintest.ResolverCases{
			Plugin: plugintest.PluginInfo{Interfaces: []string{"resolver"}},
			Resolve: []plugintest.ResolveCase{
				{Req: &abiv1.ResolveRequest{Name: "a"}, Want: &abiv1.ResolveResponse{DID: "did:example:a"}},
			},
		})
	})
	for _, want := range []string{
		"Describe version",             // empty version
		"Describe interfaces",          // lms declared but not expected
		"unknown method",               // INTERNAL instead of UNIMPLEMENTED
		"Resolve with an empty name",   // NOT_FOUND instead of INVALID_ARGUMENT
		"CheckOwnership with an empty", // answered
		"parallel calls",               // answers change under load
	} {
		if !r.has(want) {
			t.Errorf("suite did not report %q; reported:\n%s", want, strings.Join(r.errors, "\n"))
		}
	}
	if r.fatal {
		t.Errorf("suite stopped early: %v", r.errors)
	}
}

const echoPkg = "../examples/echo-resolver"

var echoConfig = `{"names": {"alice.eth": {"owners": [{"chain": "eip155:1", "address": "0xA11CE"}], "did": "did:example:alice"}}}`

var echoCases = plugintest.ResolverCases{
	Plugin: plugintest.PluginInfo{Name: "echo-resolver", Version: "0.1.0", Interfaces: []string{"resolver"}},
	Resolve: []plugintest.ResolveCase{
		{Req: &abiv1.ResolveRequest{Name: "alice.eth"}, Want: &abiv1.ResolveResponse{
			DID: "did:example:alice", Owners: []*abiv1.Address{{Chain: "eip155:1", Address: "0xA11CE"}}}},
		{Req: &abiv1.ResolveRequest{Name: "alice.eth", Networks: []string{"eip155:137"}}, Want: &abiv1.ResolveResponse{DID: "did:example:alice"}},
		{Req: &abiv1.ResolveRequest{Name: "nobody.eth"}, WantCode: abiv1.ErrorCodeNotFound},
	},
	CheckOwnership: []plugintest.CheckOwnershipCase{
		{Req: &abiv1.CheckOwnershipRequest{Name: "alice.eth", Address: &abiv1.Address{Chain: "eip155:1", Address: "0xa11ce"}},
			Want: &abiv1.CheckOwnershipResponse{Owns: true, Evidence: map[string]string{"source": "config"}}},
		{Req: &abiv1.CheckOwnershipRequest{Name: "alice.eth", Address: &abiv1.Address{Chain: "eip155:1", Address: "0xB0B"}},
			Want: &abiv1.CheckOwnershipResponse{}},
	},
	Parallel: 4, Rounds: 3,
}

// TestEchoResolverWasm applies the resolver conformance suite to the
// echo-resolver example under the real wasm runtime.
func TestEchoResolverWasm(t *testing.T) {
	wasm := plugintest.BuildWasm(t, echoPkg)
	h := plugintest.NewWasm(t, wasm, plugintest.Options{Config: echoConfig})
	plugintest.ResolverConformance(t, h.Transport(), echoCases)
}

// TestEchoResolverFixedInProcessAndWasm copies the example into a module of
// its own, as a third-party author's plugin, and runs the full suite in
// process and under wasm there, with `go test`.
func TestEchoResolverFixedInProcessAndWasm(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test in a copy of the example")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(repo, "sdk-plugin/examples/echo-resolver/main.go"))
	if err != nil {
		t.Fatal(err)
	}
	fixed := string(src)
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("main.go", fixed)
	gosum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	write("go.sum", string(gosum))
	write("go.mod", "module example.com/echo\n\ngo 1.26.0\n\nrequire github.com/ubeu/gateway v0.0.0\n\nreplace github.com/ubeu/gateway => "+repo+"\n")
	write("conformance_test.go", `package main

import (
	"testing"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/sdk-plugin/plugintest"
)

var cases = plugintest.ResolverCases{
	Plugin: plugintest.PluginInfo{Name: "echo-resolver", Version: "0.1.0", Interfaces: []string{"resolver"}},
	Resolve: []plugintest.ResolveCase{
		{Req: &abiv1.ResolveRequest{Name: "alice.eth"}, Want: &abiv1.ResolveResponse{DID: "did:example:alice"}},
		{Req: &abiv1.ResolveRequest{Name: "nobody.eth"}, WantCode: abiv1.ErrorCodeNotFound},
	},
}

const testConfig = `+"`"+`{"names": {"alice.eth": {"did": "did:example:alice"}}}`+"`"+`

func TestInProcess(t *testing.T) {
	h := plugintest.New(t, plugintest.Options{Config: testConfig})
	plugintest.ResolverConformance(t, h.Transport(), cases)
}

func TestWasm(t *testing.T) {
	plugintest.ResolverConformance(t, plugintest.RunWasm(t, plugintest.BuildWasm(t, "."), plugintest.Options{Config: testConfig}), cases)
}
`)
	cmd := exec.Command("go", "test", "-count=1", "-v", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test in the fixed copy: %v\n%s", err, out)
	}
	for _, want := range []string{"--- PASS: TestInProcess", "--- PASS: TestWasm"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}
