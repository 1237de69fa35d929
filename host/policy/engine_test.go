package policy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ubeu/gateway/policies"
)

// Principals used across tests.
var (
	anonymous = Principal{AuthMethod: "anonymous"}
	aliceJWT  = Principal{Authenticated: true, ID: "alice", Roles: []string{"user"}, Tenant: "t1", AuthMethod: "jwt"}
	aliceKey  = Principal{Authenticated: true, ID: "alice", Roles: []string{"user"}, Tenant: "t1", AuthMethod: "api_key"}
	adminJWT  = Principal{Authenticated: true, ID: "root", Roles: []string{"user", "admin"}, AuthMethod: "jwt"}
)

// lockedBuffer is a bytes.Buffer safe for the watcher goroutine to log into.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func discardLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newEngine starts an engine with its own registry and stops it at the end
// of the test.
func newEngine(t *testing.T, o Options) (*Engine, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	o.Registerer = reg
	if o.Logger == nil {
		o.Logger = discardLogger()
	}
	if o.ReloadInterval == 0 {
		o.ReloadInterval = 10 * time.Millisecond
	}
	e, err := New(context.Background(), o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e, reg
}

// writeFile replaces name in dir atomically, so the watcher never sees a
// partly written file.
func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmp.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if err := tmp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func decide(t *testing.T, e *Engine, in *Input) Decision {
	t.Helper()
	d, err := e.Decide(context.Background(), in)
	if err != nil {
		t.Fatalf("Decide(%+v): %v", in, err)
	}
	return d
}

func reloads(reg *prometheus.Registry, result string) float64 {
	return counterValue(reg, "gatewayd_policy_reloads_total", map[string]string{"result": result})
}

// counterValue reads one counter from reg; 0 if absent.
func counterValue(reg *prometheus.Registry, name string, labels map[string]string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func TestEmbeddedPolicyDecisions(t *testing.T) {
	e, _ := newEngine(t, Options{CacheSize: -1})
	tests := []struct {
		name   string
		in     Input
		allow  bool
		reason string
		class  string
	}{
		{"health public", Input{Route: "health.live", Principal: anonymous}, true, "public route", "none"},
		{"jwks public", Input{Route: "jwks", Principal: anonymous}, true, "public route", "none"},
		{"login public", Input{Route: "auth.login", Principal: anonymous}, true, "public route", "auth"},
		{"metrics admin listener", Input{Route: "metrics", Listener: "admin", Principal: anonymous}, true, "admin listener", "none"},
		{"metrics public anonymous", Input{Route: "metrics", Listener: "public", Principal: anonymous}, false, "authentication required", "none"},
		{"metrics public user", Input{Route: "metrics", Listener: "public", Principal: aliceJWT}, false, "admin role required", "none"},
		{"metrics public admin", Input{Route: "metrics", Listener: "public", Principal: adminJWT}, true, "admin role", "none"},
		{"logout jwt", Input{Route: "auth.logout", Principal: aliceJWT}, true, "session authenticated", "auth"},
		{"logout api key", Input{Route: "auth.logout", Principal: aliceKey}, false, "session token required", "auth"},
		{"whoami api key", Input{Route: "auth.whoami", Principal: aliceKey}, true, "authenticated", "api"},
		{"whoami anonymous", Input{Route: "auth.whoami", Principal: anonymous}, false, "authentication required", "api"},
		{"me jwt", Input{Route: "users.me", Principal: aliceJWT}, true, "session authenticated", "api"},
		{"limits self", Input{Route: "users.limits.get", Params: map[string]string{"userId": "alice"}, Principal: aliceJWT}, true, "own account", "api"},
		{"limits other", Input{Route: "users.limits.check", Params: map[string]string{"userId": "bob"}, Principal: aliceJWT}, false, "not your account", "api"},
		{"limits self api key", Input{Route: "users.limits.get", Params: map[string]string{"userId": "alice"}, Principal: aliceKey}, false, "session token required", "api"},
		{"limits admin", Input{Route: "users.limits.get", Params: map[string]string{"userId": "alice"}, Principal: adminJWT}, true, "admin role", "api"},
		{"admin users user", Input{Route: "admin.users.get", Params: map[string]string{"userId": "bob"}, Principal: aliceJWT}, false, "admin role required", "api"},
		{"admin backup admin", Input{Route: "admin.backup", Principal: adminJWT}, true, "admin role", "api"},
		{"admin backup anonymous", Input{Route: "admin.backup", Principal: anonymous}, false, "authentication required", "api"},
		{"not found", Input{Route: "notfound", Principal: anonymous}, true, "no such route", "api"},
		{"no route", Input{Route: "", Principal: anonymous}, true, "no such route", "api"},
		{"unknown route", Input{Route: "admin.secret", Principal: adminJWT}, false, "route not granted", "api"},
		{"forged roles", Input{Route: "admin.backup", Principal: Principal{ID: "root", Roles: []string{"admin"}, AuthMethod: "jwt"}}, false, "authentication required", "api"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.Method = "GET"
			if in.Listener == "" {
				in.Listener = "public"
			}
			d := decide(t, e, &in)
			if d.Allow != tt.allow || d.Reason != tt.reason || d.RateLimitClass != tt.class {
				t.Errorf("got allow=%v reason=%q class=%q, want allow=%v reason=%q class=%q",
					d.Allow, d.Reason, d.RateLimitClass, tt.allow, tt.reason, tt.class)
			}
			if d.Obligations["rate_limit_class"] != tt.class {
				t.Errorf("obligations = %v", d.Obligations)
			}
			if d.Revision != e.Revision() || d.Cached {
				t.Errorf("revision %q cached %v", d.Revision, d.Cached)
			}
		})
	}
	if !e.Ready() {
		t.Error("not ready")
	}
}

func TestEmbeddedPolicyCacheKey(t *testing.T) {
	e, _ := newEngine(t, Options{})
	v := e.cur.Load()
	if !v.deps.cacheable {
		t.Fatalf("embedded policy not cacheable: %s", v.deps.noCache)
	}
	want := []string{
		"input.listener",
		"input.params.enterpriseId",
		"input.params.userId",
		"input.principal.auth_method",
		"input.principal.authenticated",
		"input.principal.id",
		"input.principal.permissions",
		"input.principal.roles",
		"input.principal.tenant",
		"input.route",
	}
	if fmt.Sprint(v.deps.paths) != fmt.Sprint(want) {
		t.Errorf("paths = %v, want %v", v.deps.paths, want)
	}
}

func TestRunTestsEmbedded(t *testing.T) {
	var out bytes.Buffer
	passed, failed, err := RunTests(context.Background(), policies.FS, &out, true)
	if err != nil {
		t.Fatal(err)
	}
	if passed < 30 || failed != 0 {
		t.Fatalf("passed=%d failed=%d\n%s", passed, failed, out.String())
	}
	if !strings.Contains(out.String(), "PASS") {
		t.Errorf("output: %s", out.String())
	}
}

func TestRunTestsFailing(t *testing.T) {
	fsys := fstest.MapFS{
		"p.rego": {Data: []byte("package gatewayd.authz\n\ndefault allow := false\n")},
		"p_test.rego": {Data: []byte(`package gatewayd.authz_test

import data.gatewayd.authz

test_denies if not authz.allow
test_allows if authz.allow
`)},
	}
	var out bytes.Buffer
	passed, failed, err := RunTests(context.Background(), fsys, &out, false)
	if err != nil {
		t.Fatal(err)
	}
	if passed != 1 || failed != 1 {
		t.Fatalf("passed=%d failed=%d", passed, failed)
	}
	if !strings.Contains(out.String(), "test_allows") || !strings.Contains(out.String(), "FAIL") {
		t.Errorf("output does not name the failing test:\n%s", out.String())
	}
}

func TestRunTestsCompileError(t *testing.T) {
	fsys := fstest.MapFS{"p.rego": {Data: []byte("package gatewayd.authz\n\nallow if {\n")}}
	if _, _, err := RunTests(context.Background(), fsys, io.Discard, false); err == nil {
		t.Fatal("no error for a policy that does not parse")
	}
}

// TestEmbeddedTestsCatchMutations checks that the policy's own tests fail
// when the policy is weakened, i.e. that they test something.
func TestEmbeddedTestsCatchMutations(t *testing.T) {
	src, err := fsReadFile(policies.FS, "authz.rego")
	if err != nil {
		t.Fatal(err)
	}
	testSrc, err := fsReadFile(policies.FS, "authz_test.rego")
	if err != nil {
		t.Fatal(err)
	}
	mutations := map[string][2]string{
		"self check dropped":       {"input.principal.id == input.params.userId", "true"},
		"admin check dropped":      {`"admin" in input.principal.roles`, "true"},
		"authenticated ignored":    {"input.principal.authenticated == true", "true"},
		"jwt not required":         {`input.principal.auth_method == "jwt"`, "true"},
		"metrics listener ignored": {`input.listener == "admin"`, "false"},
		"class changed":            {`"auth.login": {"access": "public", "class": "auth"}`, `"auth.login": {"access": "public", "class": "api"}`},
		"backup made public":       {`"admin.backup": {"access": "admin"`, `"admin.backup": {"access": "public"`},
	}
	for name, m := range mutations {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(src, m[0]) {
				t.Fatalf("mutation target %q not in authz.rego", m[0])
			}
			fsys := fstest.MapFS{
				"authz.rego":      {Data: []byte(strings.Replace(src, m[0], m[1], 1))},
				"authz_test.rego": {Data: []byte(testSrc)},
			}
			_, failed, err := RunTests(context.Background(), fsys, io.Discard, false)
			if err != nil {
				t.Fatal(err)
			}
			if failed == 0 {
				t.Error("no test failed")
			}
		})
	}
}

func fsReadFile(fsys fs.FS, name string) (string, error) {
	b, err := fs.ReadFile(fsys, name)
	return string(b), err
}

func newTextLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
