package policy

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// policyAllowing is a policy that allows route "x" or not.
func policyAllowing(allow bool) string {
	return `package gatewayd.authz

default allow := false

allow := ` + map[bool]string{true: "true", false: "false"}[allow] + ` if input.route == "x"

default reason := "route not granted"

reason := "flag" if input.route == "x"

obligations := {"rate_limit_class": "api"}
`
}

var routeX = &Input{Method: "GET", Route: "x", Listener: "public", Principal: aliceJWT}

func TestHotReload(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "authz.rego", policyAllowing(true))
	e, reg := newEngine(t, Options{Dir: dir})
	rev1 := e.Revision()
	if d := decide(t, e, routeX); !d.Allow || d.Reason != "flag" {
		t.Fatalf("v1: %+v", d)
	}
	if d := decide(t, e, routeX); !d.Allow || !d.Cached {
		t.Fatalf("v1 second decision not cached: %+v", d)
	}

	start := time.Now()
	writeFile(t, dir, "authz.rego", policyAllowing(false))
	waitFor(t, "the new policy", func() bool { return e.Revision() != rev1 })
	t.Logf("reloaded in %v (poll interval 10ms)", time.Since(start))

	// The cached allow of the old revision must not be served.
	d := decide(t, e, routeX)
	if d.Allow || d.Cached || d.Revision == rev1 {
		t.Fatalf("after reload: %+v", d)
	}
	if got := reloads(reg, resultSuccess); got != 2 {
		t.Errorf("success reloads = %v, want 2", got)
	}
}

func TestReloadRejectsCompileError(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "authz.rego", policyAllowing(true))
	var logs lockedBuffer
	e, reg := newEngine(t, Options{Dir: dir, Logger: newTextLogger(&logs)})
	rev1 := e.Revision()
	decide(t, e, routeX) // cache it

	writeFile(t, dir, "authz.rego", "package gatewayd.authz\n\nallow if {\n")
	waitFor(t, "the compile error to be counted", func() bool { return reloads(reg, resultCompileError) == 1 })

	// A file that parses but does not compile is rejected too.
	writeFile(t, dir, "authz.rego", "package gatewayd.authz\n\nallow if undefined_function(input.x)\n")
	waitFor(t, "the second compile error", func() bool { return reloads(reg, resultCompileError) == 2 })

	// A policy without allow is rejected.
	writeFile(t, dir, "authz.rego", "package gatewayd.other\n\nallow := true\n")
	waitFor(t, "the missing rule error", func() bool { return reloads(reg, resultCompileError) == 3 })

	time.Sleep(50 * time.Millisecond) // several more polls: counted once each
	if got := reloads(reg, resultCompileError); got != 3 {
		t.Errorf("compile errors = %v, want 3", got)
	}
	if e.Revision() != rev1 {
		t.Fatalf("revision changed to %s", e.Revision())
	}
	for _, cached := range []bool{true, false} {
		in := *routeX
		if !cached {
			in.Principal.ID = "someone-else" // a key not yet in the cache
		}
		if d := decide(t, e, &in); !d.Allow || d.Revision != rev1 {
			t.Errorf("old policy not served: %+v", d)
		}
	}
	if !strings.Contains(logs.String(), "rejected policy version") || !strings.Contains(logs.String(), "compile_error") {
		t.Errorf("rejection not logged:\n%s", logs.String())
	}
	if got := reloads(reg, resultSuccess); got != 1 {
		t.Errorf("success reloads = %v, want 1", got)
	}
}

func TestReloadRejectsFailingTest(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "authz.rego", policyAllowing(true))
	writeFile(t, dir, "authz_test.rego", `package gatewayd.authz_test

import data.gatewayd.authz

test_x_allowed if authz.allow with input as {"route": "x"}
`)
	var logs lockedBuffer
	e, reg := newEngine(t, Options{Dir: dir, Logger: newTextLogger(&logs)})
	rev1 := e.Revision()

	// Flip the policy: its own test now fails.
	writeFile(t, dir, "authz.rego", policyAllowing(false))
	waitFor(t, "the test failure to be counted", func() bool { return reloads(reg, resultTestFailure) == 1 })
	if e.Revision() != rev1 {
		t.Fatal("a policy failing its tests was installed")
	}
	if d := decide(t, e, routeX); !d.Allow {
		t.Errorf("old policy not served: %+v", d)
	}
	if !strings.Contains(logs.String(), "test_x_allowed") {
		t.Errorf("failing test not named in the log:\n%s", logs.String())
	}

	// Fixing the test makes the new policy acceptable.
	writeFile(t, dir, "authz_test.rego", `package gatewayd.authz_test

import data.gatewayd.authz

test_x_denied if not authz.allow with input as {"route": "x"}
`)
	waitFor(t, "the fixed policy", func() bool { return e.Revision() != rev1 })
	if d := decide(t, e, routeX); d.Allow {
		t.Errorf("new policy not served: %+v", d)
	}
}

func TestNewRejectsBadPolicy(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"parse error": {"authz.rego": "package gatewayd.authz\n\nallow if {\n"},
		"no allow":    {"authz.rego": "package gatewayd.authz\n\ndeny := true\n"},
		"no rego":     {"data.json": "{}"},
		"bad data":    {"authz.rego": policyAllowing(true), "data.json": "{"},
		"failing test": {
			"authz.rego":      policyAllowing(true),
			"authz_test.rego": "package gatewayd.authz_test\n\ntest_fails if false\n",
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for n, c := range files {
				writeFile(t, dir, n, c)
			}
			if e, err := New(context.Background(), Options{Dir: dir, Logger: discardLogger()}); err == nil {
				_ = e.Close()
				t.Fatal("New accepted a bad policy")
			}
		})
	}
}

func TestDataFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "authz.rego", `package gatewayd.authz

default allow := false

allow if input.principal.tenant in data.tenants.allowed

reason := "tenant"
`)
	writeFile(t, dir, "data.yaml", "tenants:\n  allowed: [t1]\n")
	e, _ := newEngine(t, Options{Dir: dir})
	if d := decide(t, e, routeX); !d.Allow || d.RateLimitClass != "api" {
		t.Errorf("t1: %+v", d)
	}
	in := *routeX
	in.Principal.Tenant = "t2"
	if d := decide(t, e, &in); d.Allow {
		t.Errorf("t2: %+v", d)
	}
}

// TestConcurrentDecideDuringReload checks, under -race, that every decision
// made while the policy flips back and forth is the one the revision it
// reports would make.
func TestConcurrentDecideDuringReload(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "authz.rego", policyAllowing(true))
	e, _ := newEngine(t, Options{Dir: dir, ReloadInterval: time.Millisecond})

	var (
		mu       sync.Mutex
		expected = map[string]bool{e.Revision(): true} // revision -> allow
	)
	var (
		stop      atomic.Bool
		wg        sync.WaitGroup
		decisions atomic.Int64
		seen      sync.Map // revision -> allow, as observed
	)
	for g := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				in := *routeX
				in.Principal.ID = []string{"a", "b", "c"}[(g+i)%3]
				d, err := e.Decide(context.Background(), &in)
				if err != nil {
					t.Error(err)
					return
				}
				if prev, loaded := seen.LoadOrStore(d.Revision, d.Allow); loaded && prev.(bool) != d.Allow {
					t.Errorf("revision %s gave both allow and deny", d.Revision)
					return
				}
				decisions.Add(1)
			}
		})
	}
	allow := true
	for range 6 {
		allow = !allow
		before := e.Revision()
		writeFile(t, dir, "authz.rego", policyAllowing(allow)+"\n# "+time.Now().String()+"\n")
		waitFor(t, "reload", func() bool { return e.Revision() != before })
		mu.Lock()
		expected[e.Revision()] = allow
		mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()

	seen.Range(func(k, v any) bool {
		want, ok := expected[k.(string)]
		if !ok {
			t.Errorf("decision from unknown revision %s", k)
		} else if v.(bool) != want {
			t.Errorf("revision %s: allow=%v, want %v", k, v, want)
		}
		return true
	})
	t.Logf("%d decisions across %d revisions", decisions.Load(), len(expected))
}
