package gateway_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/ubeu/gateway/host/gateway"
)

// benchGateway opens a gateway whose access log goes to io.Discard.
func benchGateway(b *testing.B) *gateway.Gateway {
	cfg := testConfig(&testing.T{})
	cfg.DataDir = b.TempDir()
	cfg.RateLimit.DID.Limit = 1 << 30
	cfg.RateLimit.API.Limit = 1 << 30
	g, err := gateway.OpenWith(context.Background(), cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { g.Close() })
	return g
}

func newCtx(path string, headers ...string) *fasthttp.RequestCtx {
	var rc fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI(path)
	req.Header.SetMethod("GET")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rc.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5555}, nil)
	return &rc
}

// BenchmarkChainDIDResolveCached is one cached DID resolution through the
// whole chain, in process (no network), beside BenchmarkBareMapHandler.
func BenchmarkChainDIDResolveCached(b *testing.B) {
	g := benchGateway(b)
	p, _, err := g.Identity.CreatePrimary(context.Background(), "bench", "individual")
	if err != nil {
		b.Fatal(err)
	}
	h := g.Server.Handler()
	rc := newCtx("/1.0/identifiers/" + p.DID)
	h(rc)
	if rc.Response.StatusCode() != 200 {
		b.Fatalf("status %d: %s", rc.Response.StatusCode(), rc.Response.Body())
	}
	b.ReportAllocs()
	for b.Loop() {
		rc.Response.Reset()
		h(rc)
	}
}

// BenchmarkChainWhoami is an authenticated GET through the whole chain.
func BenchmarkChainWhoami(b *testing.B) {
	g := benchGateway(b)
	tok, _, err := gateway.MintAdminToken(g.Config, slog.New(slog.DiscardHandler), 10*60e9)
	if err != nil {
		b.Fatal(err)
	}
	h := g.Server.Handler()
	rc := newCtx("/api/v1/auth/whoami", "Authorization", "Bearer "+tok)
	h(rc)
	if rc.Response.StatusCode() != 200 {
		b.Fatalf("status %d: %s", rc.Response.StatusCode(), rc.Response.Body())
	}
	b.ReportAllocs()
	for b.Loop() {
		rc.Response.Reset()
		h(rc)
	}
}

// BenchmarkBareMapHandler is the baseline: a path lookup and the bytes.
func BenchmarkBareMapHandler(b *testing.B) {
	body := make([]byte, 1200)
	m := map[string][]byte{"/1.0/identifiers/did:x": body}
	h := func(rc *fasthttp.RequestCtx) {
		rc.SetContentType("application/did-resolution")
		rc.SetBody(m[string(rc.Path())])
	}
	rc := newCtx("/1.0/identifiers/did:x")
	b.ReportAllocs()
	for b.Loop() {
		rc.Response.Reset()
		h(rc)
	}
}
