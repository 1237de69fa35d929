package evm

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"testing"
)

// Handler returns an http.Handler that forwards every request body to the
// chain's endpoint and copies back the status and body: the peer to give
// a plugin under sdk-plugin/plugintest, whose fake hosts are handlers. A
// nil chain answers 502.
func (c *Chain) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c == nil {
			http.Error(w, "evm: no chain", http.StatusBadGateway)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, c.URL, bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := c.client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer res.Body.Close()
		w.Header().Set("Content-Type", res.Header.Get("Content-Type"))
		w.WriteHeader(res.StatusCode)
		_, _ = io.Copy(w, res.Body)
	})
}

// Switch is an http.Handler serving with the handler last installed by
// Use: a test swaps a plugin's endpoint for a failing one and back.
type Switch struct {
	mu sync.Mutex
	h  http.Handler
}

// NewSwitch returns a Switch serving with h.
func NewSwitch(h http.Handler) *Switch { return &Switch{h: h} }

// ServeHTTP implements http.Handler.
func (s *Switch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	h := s.h
	s.mu.Unlock()
	h.ServeHTTP(w, r)
}

// Set serves with h from now on.
func (s *Switch) Set(h http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.h = h
}

// Use serves with h until tb ends, then with the handler before.
func (s *Switch) Use(tb testing.TB, h http.Handler) {
	s.mu.Lock()
	prev := s.h
	s.h = h
	s.mu.Unlock()
	tb.Cleanup(func() { s.Set(prev) })
}

// Keep is a testing.TB whose cleanups run when Run is called (from
// TestMain, after every test) instead of when the test it wraps ends: for
// what one test starts and the whole package shares, such as a plugin
// instance.
type Keep struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
}

// NewKeep wraps tb.
func NewKeep(tb testing.TB) *Keep { return &Keep{TB: tb} }

// Cleanup records f for Run.
func (k *Keep) Cleanup(f func()) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.cleanups = append(k.cleanups, f)
}

// Run runs the recorded cleanups, last first. A nil Keep does nothing.
func (k *Keep) Run() {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for i := len(k.cleanups) - 1; i >= 0; i-- {
		k.cleanups[i]()
	}
	k.cleanups = nil
}
