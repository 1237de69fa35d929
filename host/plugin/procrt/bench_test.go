package procrt

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	abiv1 "github.com/ubeu/gateway/abi/v1"
)

// reportMedian reports the median of d as a metric in µs.
func reportMedian(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds())/1e3, "median-µs")
}

// BenchmarkCall64 is one call through go-plugin with a 64-byte request
// and a 64-byte response (Resolve of a 62-character name, echoed as the DID).
func BenchmarkCall64(b *testing.B) {
	p, err := Start(context.Background(), Spec{Name: "crashy", Path: crashyPath, SHA256: crashySum, Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	req := (&abiv1.ResolveRequest{Name: strings.Repeat("a", 62)}).MarshalAppend(nil)
	if len(req) != 64 {
		b.Fatalf("request is %d bytes", len(req))
	}
	ctx := context.Background()
	if out, err := p.Call(ctx, abiv1.MethodResolverResolve, req); err != nil || len(out) != 64 {
		b.Fatalf("Call = %d bytes, %v", len(out), err)
	}
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := p.Call(ctx, abiv1.MethodResolverResolve, req); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t0))
	}
	b.StopTimer()
	reportMedian(b, d)
}

// BenchmarkUnixPingPong is this machine's floor: 64 bytes each way over a
// unix socket, without gRPC or TLS.
func BenchmarkUnixPingPong(b *testing.B) {
	ln, err := net.Listen("unix", filepath.Join(b.TempDir(), "s"))
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 64)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
	c, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64)
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t0))
	}
	b.StopTimer()
	reportMedian(b, d)
}

// BenchmarkStart measures Start (sha256 check, launch with AutoMTLS,
// handshake, Describe); Close is not timed.
func BenchmarkStart(b *testing.B) {
	d := make([]time.Duration, 0, b.N)
	for range b.N {
		t0 := time.Now()
		p, err := Start(context.Background(), Spec{Name: "crashy", Path: crashyPath, SHA256: crashySum, Logger: discardLogger()})
		if err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t0))
		b.StopTimer()
		p.Close()
		b.StartTimer()
	}
	reportMedian(b, d)
}
