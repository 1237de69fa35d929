package schema

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	emailSchemaURL  = "https://example.com/schemas/email.json"
	schemaCredURL   = "https://example.com/credentials/3734"
	exampleHostPref = "https://example.com/"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeFetch serves documents from a map and records every URL asked for.
type fakeFetch struct {
	mu    sync.Mutex
	docs  map[string][]byte
	errs  map[string]error
	calls map[string]int
	order []string
	// gate, when set, is waited on (or ctx) before answering.
	gate chan struct{}
}

func newFakeFetch(docs map[string][]byte) *fakeFetch {
	return &fakeFetch{docs: docs, errs: map[string]error{}, calls: map[string]int{}}
}

func (f *fakeFetch) Fetch(ctx context.Context, url string) ([]byte, error) {
	f.mu.Lock()
	f.calls[url]++
	f.order = append(f.order, url)
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.errs[url]; err != nil {
		return nil, err
	}
	b, ok := f.docs[url]
	if !ok {
		return nil, fmt.Errorf("404 not found")
	}
	return b, nil
}

func (f *fakeFetch) count(url string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[url]
}

func (f *fakeFetch) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.order)
}

func (f *fakeFetch) asked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.order...)
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// validateOne runs Validate and requires exactly one result.
func validateOne(t testing.TB, v *Validator, cred []byte) Result {
	t.Helper()
	rs, err := v.Validate(context.Background(), cred)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if len(rs) != 1 {
		t.Fatalf("Validate: %d results, want 1: %+v", len(rs), rs)
	}
	return rs[0]
}

func wantOutcome(t testing.TB, r Result, o Outcome, contains ...string) {
	t.Helper()
	if r.Outcome != o || r.Valid != (o == Success) {
		t.Fatalf("outcome %s (valid %v), want %s; errors: %q", r.Outcome, r.Valid, o, r.Errors)
	}
	all := strings.Join(r.Errors, "\n")
	for _, c := range contains {
		if !strings.Contains(all, c) {
			t.Fatalf("errors %q do not mention %q", r.Errors, c)
		}
	}
}

// editJSON decodes b, applies fn to the object, and re-encodes it.
func editJSON(t testing.TB, b []byte, fn func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	fn(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func subject(m map[string]any) map[string]any { return m["credentialSubject"].(map[string]any) }
