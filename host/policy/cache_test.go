package policy

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// engineFor starts an engine on a directory holding one policy file.
func engineFor(t *testing.T, rego string, o Options) *Engine {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, dir, "authz.rego", "package gatewayd.authz\n\n"+rego)
	o.Dir = dir
	o.ReloadInterval = time.Hour
	e, _ := newEngine(t, o)
	return e
}

func TestCacheSplitsOnlyOnFieldsRead(t *testing.T) {
	e := engineFor(t, `
default allow := false

allow if "admin" in input.principal.roles

reason := "r"

obligations := {"rate_limit_class": "api"}
`, Options{})
	v := e.cur.Load()
	if !v.deps.cacheable || fmt.Sprint(v.deps.paths) != "[input.principal.roles]" {
		t.Fatalf("deps = %+v", v.deps)
	}

	admin := &Input{Route: "a", Principal: Principal{Roles: []string{"admin"}}}
	user := &Input{Route: "a", Principal: Principal{Roles: []string{"user"}}}
	if d := decide(t, e, admin); !d.Allow || d.Cached {
		t.Fatalf("admin: %+v", d)
	}
	// Differs only in a field the policy reads: its own decision, not the cached one.
	if d := decide(t, e, user); d.Allow || d.Cached {
		t.Fatalf("user: %+v", d)
	}
	// Differs only in fields the policy does not read: served from the cache.
	other := &Input{
		Method: "POST", Route: "b", Path: "/p", Listener: "admin", ClientIP: "10.0.0.9",
		Params: map[string]string{"userId": "z"}, Time: time.Unix(1, 0),
		Principal: Principal{Authenticated: true, ID: "x", Roles: []string{"admin"}, Tenant: "t9",
			AuthMethod: "jwt", Permissions: []string{"p"}},
	}
	if d := decide(t, e, other); !d.Allow || !d.Cached {
		t.Fatalf("other: %+v", d)
	}
	if n := e.cache.len(); n != 2 {
		t.Errorf("cache holds %d entries, want 2", n)
	}
}

func TestCacheParamPresence(t *testing.T) {
	e := engineFor(t, `
default allow := false

allow if input.params.userId == ""

reason := "r"
`, Options{})
	absent := &Input{Params: map[string]string{"other": "1"}}
	empty := &Input{Params: map[string]string{"userId": ""}}
	if d := decide(t, e, absent); d.Allow {
		t.Fatalf("absent: %+v", d)
	}
	if d := decide(t, e, empty); !d.Allow || d.Cached {
		t.Fatalf("empty: %+v", d)
	}
	// Other parameters are not read.
	if d := decide(t, e, &Input{Params: map[string]string{"userId": "", "other": "2"}}); !d.Allow || !d.Cached {
		t.Fatalf("extra param: %+v", d)
	}
}

func TestCacheKeyAnalysis(t *testing.T) {
	tests := []struct {
		name      string
		rego      string
		cacheable bool
		usesTime  bool
		paths     string
		noCache   string
	}{
		{
			name:      "function and rule",
			rego:      "allow if owner(input.params.userId)\n\nowner(u) if u == input.principal.id\n",
			cacheable: true,
			paths:     "[input.params.userId input.principal.id]",
		},
		{
			name:      "import alias",
			rego:      "import input.principal as p\n\nallow if \"admin\" in p.roles\n",
			cacheable: true,
			paths:     "[input.principal.roles]",
		},
		{
			name:      "whole object",
			rego:      "allow if { p := input.principal; p.tenant == \"t1\" }\n",
			cacheable: true,
			paths:     "[input.principal]",
		},
		{
			name:      "comprehension and every",
			rego:      "allow if { every r in input.principal.roles { r != \"banned\" }; count([x | some x in input.principal.permissions]) > 0 }\n",
			cacheable: true,
			paths:     "[input.principal.permissions input.principal.roles]",
		},
		{
			name:    "dynamic field",
			rego:    "allow if input[input.route]\n",
			noCache: "dynamic reference",
		},
		{
			name:    "whole input",
			rego:    "allow if count(input) > 3\n",
			noCache: "whole input",
		},
		{
			name:    "non-deterministic built-in",
			rego:    "allow if rand.intn(input.route, 10) >= 0\n",
			noCache: "rand.intn",
		},
		{
			name:      "time",
			rego:      "allow if input.time_ns < 2000\n",
			cacheable: true,
			usesTime:  true,
			paths:     "[input.time_ns]",
		},
		{
			name:      "clock",
			rego:      "allow if time.now_ns() < 2000\n",
			cacheable: true,
			usesTime:  true,
			paths:     "[]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := engineFor(t, "default allow := false\n\n"+tt.rego, Options{})
			d := e.cur.Load().deps
			if d.cacheable != tt.cacheable || d.usesTime != tt.usesTime {
				t.Fatalf("deps = %+v", d)
			}
			if tt.cacheable && fmt.Sprint(d.paths) != tt.paths {
				t.Errorf("paths = %v, want %s", d.paths, tt.paths)
			}
			if !strings.Contains(d.noCache, tt.noCache) {
				t.Errorf("noCache = %q, want it to mention %q", d.noCache, tt.noCache)
			}
			if !tt.cacheable {
				in := &Input{Route: "route"}
				decide(t, e, in)
				if dd := decide(t, e, in); dd.Cached {
					t.Error("decision of an uncacheable policy was cached")
				}
			}
		})
	}
}

func at(ns int64) *Input {
	return &Input{Route: "a", Time: time.Unix(0, ns)}
}

func TestCacheTimeWithoutValidUntil(t *testing.T) {
	for _, rule := range []string{"allow if input.time_ns < 2000", "allow if time.now_ns() < 2000"} {
		t.Run(rule, func(t *testing.T) {
			e := engineFor(t, "default allow := false\n\n"+rule+"\n", Options{})
			for i, ns := range []int64{1000, 1000, 1500, 2500, 2500} {
				d := decide(t, e, at(ns))
				if d.Cached {
					t.Errorf("decision %d cached", i)
				}
				if d.Allow != (ns < 2000) {
					t.Errorf("at %d: allow=%v", ns, d.Allow)
				}
			}
		})
	}
}

func TestCacheTimeWithValidUntil(t *testing.T) {
	e := engineFor(t, `
default allow := false

allow if input.time_ns < 2000

valid_until_ns := 2000 if input.time_ns < 2000
`, Options{})
	for _, step := range []struct {
		ns           int64
		allow, cache bool
	}{
		{1000, true, false},
		{1500, true, true},   // within [1000, 2000): cached
		{1999, true, true},   // last valid nanosecond
		{500, true, false},   // before the cached decision was made: fresh
		{2000, false, false}, // expired: fresh, and no valid_until_ns, so not cached
		{2500, false, false},
	} {
		d := decide(t, e, at(step.ns))
		if d.Allow != step.allow || d.Cached != step.cache {
			t.Errorf("at %d: allow=%v cached=%v, want %v %v", step.ns, d.Allow, d.Cached, step.allow, step.cache)
		}
	}
}

func TestCacheEntryLifetimeCapped(t *testing.T) {
	e := engineFor(t, "default allow := true\n\nvalid_until_ns := input.time_ns + 3600000000000\n", Options{})
	start := time.Now()
	decide(t, e, &Input{})
	var entries int
	for i := range e.cache.shards {
		for _, ent := range e.cache.shards[i].m {
			entries++
			if life := time.Duration(ent.expires - start.UnixNano()); life > maxCacheTTL+time.Second {
				t.Errorf("entry lives %v", life)
			}
		}
	}
	if entries != 1 {
		t.Fatalf("%d entries", entries)
	}
}

func TestCacheBounded(t *testing.T) {
	e := engineFor(t, "default allow := false\n\nallow if input.principal.id != \"\"\n", Options{CacheSize: 64})
	for i := range 1000 {
		decide(t, e, &Input{Principal: Principal{ID: fmt.Sprint(i)}})
	}
	if n := e.cache.len(); n > 64 || n < 32 {
		t.Errorf("cache holds %d entries, want at most 64", n)
	}
}

func TestEvaluationErrorFailsClosed(t *testing.T) {
	for name, rego := range map[string]string{
		"conflict":        "default allow := false\n\nallow if input.route == \"x\"\n\nreason := \"a\" if input.route == \"x\"\n\nreason := \"b\" if input.route == \"x\"\n",
		"allow not bool":  "allow := \"yes\"\n",
		"reason not text": "default allow := true\n\nreason := 7\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "authz.rego", "package gatewayd.authz\n\n"+rego)
			e, reg := newEngine(t, Options{Dir: dir, ReloadInterval: time.Hour})
			d, err := e.Decide(context.Background(), routeX)
			if err == nil {
				t.Fatalf("no error: %+v", d)
			}
			if d.Allow || d.Reason != ReasonEvalError {
				t.Errorf("decision = %+v", d)
			}
			if got := counterValue(reg, "gatewayd_policy_decisions_total", map[string]string{"result": "error", "cached": "false"}); got != 1 {
				t.Errorf("error decisions = %v", got)
			}
			// Errors are never cached.
			if _, err := e.Decide(context.Background(), routeX); err == nil {
				t.Error("second decision did not fail")
			}
		})
	}
}

func TestDecisionMetricsAndLog(t *testing.T) {
	var logs lockedBuffer
	dir := t.TempDir()
	writeFile(t, dir, "authz.rego", policyAllowing(true))
	e, reg := newEngine(t, Options{Dir: dir, Logger: newTextLogger(&logs), DecisionLogSample: 1})
	decide(t, e, routeX)
	decide(t, e, routeX)
	decide(t, e, &Input{Route: "y"})
	for _, c := range []struct {
		result, cached string
		want           float64
	}{{"allow", "false", 1}, {"allow", "true", 1}, {"deny", "false", 1}, {"deny", "true", 0}} {
		got := counterValue(reg, "gatewayd_policy_decisions_total", map[string]string{"result": c.result, "cached": c.cached})
		if got != c.want {
			t.Errorf("decisions{result=%s,cached=%s} = %v, want %v", c.result, c.cached, got, c.want)
		}
	}
	out := logs.String()
	if n := strings.Count(out, "policy decision"); n != 3 {
		t.Errorf("%d decisions logged, want 3:\n%s", n, out)
	}
	if !strings.Contains(out, "principal=alice") || !strings.Contains(out, "route=x") {
		t.Errorf("log lacks fields:\n%s", out)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{
		"gatewayd_policy_decisions_total", "gatewayd_policy_decision_duration_seconds",
		"gatewayd_policy_reloads_total", "gatewayd_policy_revision_info", "gatewayd_policy_loaded_timestamp_seconds",
	} {
		if !names[n] {
			t.Errorf("metric %s not registered", n)
		}
	}
}

func TestDecisionLogSampleZero(t *testing.T) {
	var logs lockedBuffer
	e, _ := newEngine(t, Options{Logger: newTextLogger(&logs)})
	for range 100 {
		decide(t, e, routeX)
	}
	if strings.Contains(logs.String(), "policy decision") {
		t.Error("decision logged with sample 0")
	}
}

func TestEmbeddedPolicyCache(t *testing.T) {
	e, _ := newEngine(t, Options{})
	me := &Input{Method: "GET", Route: "users.me", Listener: "public", ClientIP: "192.0.2.1", Principal: aliceJWT}
	if d := decide(t, e, me); !d.Allow || d.Cached {
		t.Fatalf("first: %+v", d)
	}
	// Client address, path and method are not read (the tenant and the
	// permissions are: an enterprise's API key may read its own enterprise
	// and issue with issue_credentials).
	same := *me
	same.ClientIP, same.Path, same.Method = "198.51.100.7", "/other", "HEAD"
	if d := decide(t, e, &same); !d.Allow || !d.Cached {
		t.Fatalf("unread fields split the cache: %+v", d)
	}
	// The auth method is read: an API key gets its own (deny) decision.
	key := *me
	key.Principal.AuthMethod = "api_key"
	if d := decide(t, e, &key); d.Allow || d.Cached || d.Reason != "session token required" {
		t.Fatalf("api key: %+v", d)
	}
	// So is the user ID, even on a route that does not use it.
	bob := *me
	bob.Principal.ID = "bob"
	if d := decide(t, e, &bob); !d.Allow || d.Cached {
		t.Fatalf("bob: %+v", d)
	}
	// Self-service: the path parameter splits the cache.
	limits := &Input{Route: "users.limits.get", Listener: "public", Params: map[string]string{"userId": "alice"}, Principal: aliceJWT}
	other := *limits
	other.Params = map[string]string{"userId": "bob"}
	if d := decide(t, e, limits); !d.Allow {
		t.Fatalf("own limits: %+v", d)
	}
	if d := decide(t, e, &other); d.Allow || d.Cached || d.Reason != "not your account" {
		t.Fatalf("other's limits: %+v", d)
	}
}
