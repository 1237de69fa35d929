package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/interop/evm"
)

// rewrite forwards batches to the chain and lets edit change each reply
// (given the method it answers) before it goes back.
func rewrite(c *evm.Chain, edit func(method string, reply map[string]any)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var batch []struct {
			ID     int    `json:"id"`
			Method string `json:"method"`
		}
		_ = json.Unmarshal(body, &batch)
		rec := &bufferWriter{header: http.Header{}}
		r.Body = io.NopCloser(bytes.NewReader(body))
		proxy(c).ServeHTTP(rec, r)
		var replies []map[string]any
		if err := json.Unmarshal(rec.buf.Bytes(), &replies); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		for _, rep := range replies {
			id, _ := rep["id"].(float64)
			for _, q := range batch {
				if q.ID == int(id) {
					edit(q.Method, rep)
				}
			}
		}
		_ = json.NewEncoder(w).Encode(replies)
	})
}

func fixed(status int, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
}

// TestBadRPC: an endpoint that fails in each way the issue names gets a
// clear UNAVAILABLE (or RATE_LIMITED), for Resolve and CheckOwnership
// alike, and never an ownership answer. The replies follow the Ethereum
// JSON-RPC wire format (https://ethereum.org/en/developers/docs/apis/json-rpc/,
// JSON-RPC 2.0 batches).
func TestBadRPC(t *testing.T) {
	p, c, f := onChain(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		h    http.Handler
		code abiv1.ErrorCode
		msg  string
	}{
		{"wrong chain ID", rewrite(c, func(m string, r map[string]any) {
			if m == "eth_chainId" {
				r["result"] = "0x1"
			}
		}), abiv1.ErrorCodeUnavailable, "chain ID 1, expected 1337"},
		{"JSON-RPC error for the batch", fixed(200, `{"jsonrpc":"2.0","id":null,"error":{"code":-32005,"message":"daily request count exceeded"}}`), abiv1.ErrorCodeUnavailable, "daily request count"},
		{"JSON-RPC error for a call", rewrite(c, func(m string, r map[string]any) {
			if m == "eth_call" {
				delete(r, "result")
				r["error"] = map[string]any{"code": -32603, "message": "header not found"}
			}
		}), abiv1.ErrorCodeUnavailable, "header not found"},
		{"garbage", fixed(200, `<html><body>502 Bad Gateway</body></html>`), abiv1.ErrorCodeUnavailable, "malformed"},
		{"garbage return data", rewrite(c, func(m string, r map[string]any) {
			if m == "eth_call" {
				r["result"] = "0x1234"
			}
		}), abiv1.ErrorCodeUnavailable, "ABI"},
		{"dirty address word", rewrite(c, func(m string, r map[string]any) {
			if m == "eth_call" {
				r["result"] = "0x" + strings.Repeat("ff", 32)
			}
		}), abiv1.ErrorCodeUnavailable, "not an address"},
		{"missing replies", fixed(200, `[{"jsonrpc":"2.0","id":1,"result":"0x539"}]`), abiv1.ErrorCodeUnavailable, "replies"},
		{"huge body over the plugin's cap", fixed(200, `[`+strings.Repeat(" ", 300<<10)+`]`), abiv1.ErrorCodeUnavailable, "over the cap"},
		{"huge body over the host's cap", fixed(200, `[`+strings.Repeat(" ", 2<<20)+`]`), abiv1.ErrorCodeUnavailable, ""},
		{"HTTP 503", fixed(503, `{}`), abiv1.ErrorCodeUnavailable, "HTTP 503"},
		{"HTTP 429", fixed(429, ``), abiv1.ErrorCodeRateLimited, "429"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rpc.Use(t, tc.h)
			_, err := p.Resolve(ctx, &abiv1.ResolveRequest{Name: "alice.eth"})
			e := mustCode(t, err, tc.code)
			if !strings.Contains(e.Message, tc.msg) {
				t.Errorf("message %q, want it to say %q", e.Message, tc.msg)
			}
			o, err := p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "alice.eth", Address: &abiv1.Address{Address: f.alice}})
			if o != nil {
				t.Fatalf("ownership answered: %+v", o)
			}
			mustCode(t, err, tc.code)
		})
	}
	// And the plugin is fine again with a good endpoint.
	if o, err := p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "alice.eth", Address: &abiv1.Address{Address: f.alice}}); err != nil || !o.Owns {
		t.Fatalf("after: %+v %v", o, err)
	}
}

// BenchmarkCheckOwnership measures CheckOwnership of a .eth name through
// the compiled plugin in the real runtime against the local chain, and
// reports its median. The baseline, measured in the same run, is the same
// JSON-RPC batch (chain ID, block number and the five eth_calls the plugin
// makes) posted straight to anvil by Go's HTTP client.
func BenchmarkCheckOwnership(b *testing.B) {
	p, c, f := onChain(b)
	ctx := context.Background()
	req := &abiv1.CheckOwnershipRequest{Name: "alice.eth", Address: &abiv1.Address{Address: f.alice}}
	if o, err := p.CheckOwnership(ctx, req); err != nil || !o.Owns {
		b.Fatalf("%+v %v", o, err)
	}
	b.Run("plugin", func(b *testing.B) {
		times := make([]time.Duration, 0, b.N)
		for i := 0; i < b.N; i++ {
			st := time.Now()
			if _, err := p.CheckOwnership(ctx, req); err != nil {
				b.Fatal(err)
			}
			times = append(times, time.Since(st))
		}
		reportMedian(b, times)
	})
	b.Run("baseline-raw-batch", func(b *testing.B) {
		body := rawBatch(c)
		times := make([]time.Duration, 0, b.N)
		for i := 0; i < b.N; i++ {
			st := time.Now()
			res, err := http.Post(c.URL, "application/json", bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			times = append(times, time.Since(st))
		}
		reportMedian(b, times)
	})
}
