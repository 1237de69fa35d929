package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	pevm "github.com/ubeu/gateway/plugins/internal/evm"
)

// TestNamehash checks token IDs against the examples of UNS's
// documentation (https://docs.unstoppabledomains.com/resolution/guides/resolve-using-smart-contracts/,
// "brad.crypto") and EIP-137's.
func TestNamehash(t *testing.T) {
	for name, want := range map[string]string{
		"crypto":      "0f4a10a4f46c288cea365fcf45cccf0e9d901b945b9829ccdb54c10dc3cb7a6f",
		"brad.crypto": "756e4e998dbffd803c21d23b06cd855cdc7a4b57706c95964a37e24b47c10fc9",
		"foo.eth":     "de9b09fd7c5f901e23a3f19fecc54828e9c848539801e86591bd9801b019f84f",
	} {
		if got := pevm.Namehash(name); hex.EncodeToString(got[:]) != want {
			t.Errorf("namehash(%s) = %x, want %s", name, got, want)
		}
	}
}

func TestConfig(t *testing.T) {
	if _, err := parseConfig([]byte(`{"networks":[],"x":1}`)); err == nil {
		t.Error("unknown key accepted")
	}
	if _, err := parseConfig([]byte(`{"networks":[{"chainId":1,"proxyReader":"0x1"}]}`)); err == nil {
		t.Error("bad proxyReader accepted")
	}
	if _, err := parseConfig([]byte(`{"networks":[{"chainId":1,"proxyReader":"0x578853aa776Eef10CeE6c4dd2B5862bdcE767A8B"},{"chainId":1,"proxyReader":"0x578853aa776Eef10CeE6c4dd2B5862bdcE767A8B"}]}`)); err == nil {
		t.Error("a repeated chain accepted")
	}
	raw, err := os.ReadFile("config.json")
	if err != nil {
		t.Fatal(err)
	}
	s, err := parseConfig(raw)
	if err != nil || len(s.networks) != 2 || s.networks[0].client.CAIP2() != "eip155:1" || s.networks[1].client.CAIP2() != "eip155:137" || !s.tlds["crypto"] || !s.tlds["x"] {
		t.Fatalf("config.json: %+v %v", s, err)
	}
}

func TestBadNames(t *testing.T) {
	p := sharedPlugin(t)
	ctx := context.Background()
	for _, n := range []string{"", "crypto", "alice.eth", "alice.com", "ali ce.crypto", "алиса.crypto", "a..crypto", ".crypto", "alice.crypto.", "a_b.x", "a\u200bb.x", "\u212a.crypto", strings.Repeat("a", 250) + ".crypto"} {
		_, err := p.Resolve(ctx, &abiv1.ResolveRequest{Name: n})
		mustCode(t, err, abiv1.ErrorCodeInvalidArgument)
		_, err = p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: n, Address: &abiv1.Address{Address: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"}})
		mustCode(t, err, abiv1.ErrorCodeInvalidArgument)
	}
	for _, a := range []*abiv1.Address{nil, {}, {Address: "0x12"}, {Address: "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"}} {
		_, err := p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "alice.crypto", Address: a})
		mustCode(t, err, abiv1.ErrorCodeInvalidArgument)
	}
}

// TestOwned: a .crypto name minted by the MintingManager lands in the CNS
// registry, a .x name in UNS; ProxyReader answers both.
func TestOwned(t *testing.T) {
	p, f := onChain(t)
	ctx := context.Background()
	r, err := p.Resolve(ctx, &abiv1.ResolveRequest{Name: "Alice.Crypto"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Owners) != 1 || r.Owners[0].Chain != "eip155:1337" || r.Owners[0].Address != checksum(t, f.alice) {
		t.Fatalf("owners %+v", r.Owners)
	}
	if len(r.Records) != 2 || !strings.EqualFold(r.Records["crypto.ETH.address"], f.alice) || r.Records["social.twitter.username"] != "alice" {
		t.Fatalf("records %v", r.Records)
	}
	if r.ResolverContract == nil || r.ResolverContract.Chain != "eip155:1337" {
		t.Fatalf("resolver %+v", r.ResolverContract)
	}
	o, err := p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "alice.crypto", Address: &abiv1.Address{Chain: "eip155:1", Address: f.alice}})
	if err != nil || !o.Owns || o.Evidence["registry"] != checksum(t, l1.UNS.CNSRegistry) || o.Evidence["contract"] != checksum(t, l1.UNS.ProxyReader) || o.Evidence["chain"] != "eip155:1337" || o.Evidence["block"] == "" {
		t.Fatalf("alice.crypto: %+v %v", o, err)
	}
	o, err = p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "bob.x", Address: &abiv1.Address{Address: f.bob}})
	if err != nil || !o.Owns || o.Evidence["registry"] != checksum(t, l1.UNS.UNSRegistry) {
		t.Fatalf("bob.x: %+v %v", o, err)
	}
	if o, err := p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "bob.x", Address: &abiv1.Address{Address: f.alice}}); err != nil || o.Owns || o.Evidence["reason"] != "owned by another address" {
		t.Fatalf("alice does not own bob.x: %+v %v", o, err)
	}
	if o, err := p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "bob.x", Address: &abiv1.Address{Chain: "solana:mainnet", Address: f.bob}}); err != nil || o.Owns {
		t.Fatalf("a non-EVM chain: %+v %v", o, err)
	}
}

func TestUnowned(t *testing.T) {
	p, f := onChain(t)
	ctx := context.Background()
	_, err := p.Resolve(ctx, &abiv1.ResolveRequest{Name: "nobody-here.x"})
	mustCode(t, err, abiv1.ErrorCodeNotFound)
	o, err := p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "nobody-here.crypto", Address: &abiv1.Address{Address: f.alice}})
	if err != nil || o.Owns || o.Evidence["reason"] != "not registered" {
		t.Fatalf("%+v %v", o, err)
	}
}

func TestTransferred(t *testing.T) {
	p, f := onChain(t)
	ctx := context.Background()
	if o, err := p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "gone.x", Address: &abiv1.Address{Address: f.carol}}); err != nil || o.Owns {
		t.Fatalf("carol: %+v %v", o, err)
	}
	if o, err := p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "gone.x", Address: &abiv1.Address{Address: f.dave}}); err != nil || !o.Owns {
		t.Fatalf("dave: %+v %v", o, err)
	}
	// A transfer between two answers is seen at once.
	if err := l1.TransferUNS(ctx, "gone.x", f.dave, f.carol); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := l1.TransferUNS(ctx, "gone.x", f.carol, f.dave); err != nil {
			t.Fatal(err)
		}
	}()
	if o, err := p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "gone.x", Address: &abiv1.Address{Address: f.dave}}); err != nil || o.Owns {
		t.Fatalf("dave after transfer back: %+v %v", o, err)
	}
}

// TestPolygon: names that live on the second chain, including one whose
// Ethereum token is held by the bridge.
func TestPolygon(t *testing.T) {
	p, f := onChain(t)
	ctx := context.Background()
	for _, n := range []string{"l2only.x", "moved.x"} {
		r, err := p.Resolve(ctx, &abiv1.ResolveRequest{Name: n})
		if err != nil || len(r.Owners) != 1 || r.Owners[0].Chain != "eip155:137" || r.Owners[0].Address != checksum(t, f.eve) {
			t.Fatalf("%s: %+v %v", n, r, err)
		}
		o, err := p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: n, Address: &abiv1.Address{Chain: "eip155:1", Address: f.eve}})
		if err != nil || !o.Owns || o.Evidence["chain"] != "eip155:137" {
			t.Fatalf("%s: %+v %v", n, o, err)
		}
	}
	if o, _ := p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "moved.x", Address: &abiv1.Address{Address: l1.UNS.MintableERC721Predicate}}); o.Owns {
		t.Fatal("the bridge owns moved.x")
	}
	// Restricted to the first chain, a Polygon name is not found.
	_, err := p.Resolve(ctx, &abiv1.ResolveRequest{Name: "l2only.x", Networks: []string{"eip155:1337"}})
	mustCode(t, err, abiv1.ErrorCodeNotFound)
}

func fixed(status int, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
}

// TestBadRPC: an endpoint that fails (error, garbage, huge, wrong chain ID)
// is UNAVAILABLE unless another network holds the name.
func TestBadRPC(t *testing.T) {
	p, f := onChain(t)
	ctx := context.Background()
	wrongChain := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		res, err := http.Post(l1.URL, "application/json", bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		// l1 answers 1337 (0x539): claim chain 1 instead.
		_, _ = w.Write(bytes.Replace(out, []byte(`"result":"0x539"`), []byte(`"result":"0x1"`), 1))
	})
	for _, tc := range []struct {
		name string
		h    http.Handler
		code abiv1.ErrorCode
		msg  string
	}{
		{"wrong chain ID", wrongChain, abiv1.ErrorCodeUnavailable, "chain ID 1, expected 1337"},
		{"JSON-RPC error", fixed(200, `{"jsonrpc":"2.0","id":null,"error":{"code":-32005,"message":"rate exceeded"}}`), abiv1.ErrorCodeUnavailable, "rate exceeded"},
		{"garbage", fixed(200, `not json`), abiv1.ErrorCodeUnavailable, "malformed"},
		{"huge", fixed(200, `[`+strings.Repeat(" ", 600<<10)+`]`), abiv1.ErrorCodeUnavailable, "over the cap"},
		{"HTTP 502", fixed(502, ``), abiv1.ErrorCodeUnavailable, "HTTP 502"},
		{"HTTP 429", fixed(429, ``), abiv1.ErrorCodeRateLimited, "429"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rpc1.Use(t, tc.h)
			// A name on l1 cannot be answered...
			_, err := p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "alice.crypto", Address: &abiv1.Address{Address: f.alice}})
			if e := mustCode(t, err, tc.code); !strings.Contains(e.Message, tc.msg) {
				t.Errorf("message %q, want %q", e.Message, tc.msg)
			}
			// ...nor can "not registered" be said...
			_, err = p.Resolve(ctx, &abiv1.ResolveRequest{Name: "nobody-here.x"})
			mustCode(t, err, tc.code)
			// ...but a name l2 holds is still found there.
			if o, err := p.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: "l2only.x", Address: &abiv1.Address{Address: f.eve}}); err != nil || !o.Owns {
				t.Fatalf("l2only.x: %+v %v", o, err)
			}
		})
	}
}

// BenchmarkCheckOwnership reports the median CheckOwnership of a name on
// the first chain through the compiled plugin, beside the same JSON-RPC
// batch posted straight to anvil (baseline, same run).
func BenchmarkCheckOwnership(b *testing.B) {
	p, f := onChain(b)
	ctx := context.Background()
	req := &abiv1.CheckOwnershipRequest{Name: "alice.crypto", Address: &abiv1.Address{Address: f.alice}}
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
		body := rawBatch(l1, "alice.crypto")
		times := make([]time.Duration, 0, b.N)
		for i := 0; i < b.N; i++ {
			st := time.Now()
			res, err := http.Post(l1.URL, "application/json", bytes.NewReader(body))
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

// FuzzNormalise: any name is either refused with INVALID_ARGUMENT or comes
// out lowercase ASCII labels of [a-z0-9-] under a UNS TLD, and normalising
// that again changes nothing.
func FuzzNormalise(f *testing.F) {
	s, err := parseConfig(nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, n := range []string{"alice.crypto", "Alice.X", "a.b.c.wallet", "алиса.crypto", "a..x", "x", "", "a\x00.x", "\u212a.crypto"} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, name string) {
		n, err := s.normalise(name)
		if err != nil {
			if abiv1.AsError(err).Code != abiv1.ErrorCodeInvalidArgument {
				t.Fatalf("%q: %v", name, err)
			}
			return
		}
		if len(n) != len(name) || strings.ContainsFunc(name, func(r rune) bool { return r >= 0x80 }) {
			t.Fatalf("%q (not ASCII) accepted as %q", name, n)
		}
		if n != strings.ToLower(name) || strings.ContainsFunc(n, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.')
		}) {
			t.Fatalf("%q normalised to %q", name, n)
		}
		if again, err := s.normalise(n); err != nil || again != n {
			t.Fatalf("%q: not idempotent: %q %v", n, again, err)
		}
	})
}
