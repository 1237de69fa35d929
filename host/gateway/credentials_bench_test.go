package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ubeu/gateway/host/gateway"
	"github.com/ubeu/gateway/host/httpapi"
)

// Figures of issue 5 over HTTP (loopback, client and server on the same
// two cores):
//
//	go test -run '^$' -bench 'BulkIssueHTTP|VerifyHTTP' -benchtime 5x ./host/gateway
//
// BulkIssueHTTP: one POST /api/v1/credentials/bulk-issue of 1,000
// credentials, end to end (ms/op is the request's duration).
// VerifyHTTP64: POST /api/v1/credentials/verify of a credential whose
// issuer DID and status lists are cached, from 64 connections at once,
// beside GET /healthz through the same chain in the same run.

type benchServer struct {
	base   string
	apiKey string
	did    string
	client *http.Client
	g      *gateway.Gateway
}

func startBenchServer(b *testing.B) *benchServer {
	b.Helper()
	cfg := testConfig(&testing.T{})
	cfg.DataDir = b.TempDir()
	cfg.Log.Level = "warn"
	cfg.Log.AccessLog = false
	cfg.RateLimit.Enabled = false
	cfg.HTTP.MaxBodyBytes = 8 << 20
	cfg.Enterprise.Tiers.Pro.MonthlyCredentials = 1 << 30
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.OpenWith(ctx, cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	l, err := g.Server.Listen()
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Server.Serve(ctx, l) }()
	b.Cleanup(func() { cancel(); <-done; g.Close() })
	s := &benchServer{base: "http://" + l.Public.Addr().String(), g: g,
		client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 128}}}
	var reg struct {
		AccessToken string `json:"accessToken"`
	}
	s.post(b, "/api/v1/users/register", map[string]string{"email": "bench@example.com", "password": goodPassword}, nil, 201, &reg)
	s.did = "did:example:learner"
	var ent struct {
		EnterpriseID string `json:"enterpriseId"`
		APIKey       string `json:"apiKey"`
	}
	s.post(b, "/api/v1/enterprises/register", acme(), []string{"Authorization", "Bearer " + reg.AccessToken}, 201, &ent)
	// The DNS proof is tested elsewhere; here the enterprise is activated
	// in the store.
	e, err := g.Store.Enterprises().Get(ctx, ent.EnterpriseID)
	if err != nil {
		b.Fatal(err)
	}
	e.Status = httpapi.EnterpriseActive
	if err := g.Store.Enterprises().Update(ctx, e); err != nil {
		b.Fatal(err)
	}
	s.apiKey = ent.APIKey
	return s
}

func (s *benchServer) post(b *testing.B, path string, body any, headers []string, want int, out any) time.Duration {
	b.Helper()
	j, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", s.base+path, bytes.NewReader(j))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	start := time.Now()
	res, err := s.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	rb, _ := io.ReadAll(res.Body)
	res.Body.Close()
	d := time.Since(start)
	if res.StatusCode != want {
		b.Fatalf("%s: %d %.300s", path, res.StatusCode, rb)
	}
	if out != nil {
		if err := json.Unmarshal(rb, out); err != nil {
			b.Fatal(err)
		}
	}
	return d
}

func BenchmarkBulkIssueHTTP(b *testing.B) {
	for _, suite := range []string{"eddsa-rdfc-2022", "eddsa-jcs-2022"} {
		b.Run(suite, func(b *testing.B) {
			s := startBenchServer(b)
			items := make([]any, 1000)
			for i := range items {
				items[i] = map[string]any{"subjectDid": fmt.Sprintf("did:example:learner%d", i), "credentialType": "course_completion",
					"claims": map[string]any{"course": "CS101", "grade": "A"}}
			}
			body := map[string]any{"credentials": items, "options": map[string]any{"cryptosuite": suite}}
			var ds []time.Duration
			for b.Loop() {
				var out struct{ Issued int }
				ds = append(ds, s.post(b, "/api/v1/credentials/bulk-issue", body, []string{"X-API-Key", s.apiKey}, 200, &out))
				if out.Issued != 1000 {
					b.Fatalf("issued %d", out.Issued)
				}
			}
			slices.Sort(ds)
			b.ReportMetric(float64(ds[len(ds)/2].Milliseconds()), "median-ms/1000")
			b.ReportMetric(float64(ds[len(ds)-1].Milliseconds()), "max-ms/1000")
		})
	}
}

// load sends n requests from conns goroutines and returns the latencies
// and the wall time.
func (s *benchServer) load(b *testing.B, conns, n int, mk func() *http.Request) ([]time.Duration, time.Duration) {
	lat := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < n; i += conns {
				t0 := time.Now()
				res, err := s.client.Do(mk())
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					b.Errorf("status %d", res.StatusCode)
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	return all, wall
}

func pct(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	return float64(ds[int(float64(len(ds)-1)*p)].Microseconds()) / 1000
}

func BenchmarkVerifyHTTP64(b *testing.B) {
	for _, suite := range []string{"eddsa-jcs-2022", "eddsa-rdfc-2022", "vc+jwt"} {
		b.Run(suite, func(b *testing.B) {
			s := startBenchServer(b)
			opts := map[string]any{"cryptosuite": suite}
			if suite == "vc+jwt" {
				opts = map[string]any{"format": "vc+jwt"}
			}
			var is struct {
				Credential json.RawMessage `json:"credential"`
			}
			s.post(b, "/api/v1/credentials/issue", map[string]any{"subjectDid": s.did, "credentialType": "course_completion",
				"claims": map[string]any{"course": "CS101"}, "options": opts}, []string{"X-API-Key", s.apiKey}, 201, &is)
			body, _ := json.Marshal(map[string]any{"verifiableCredential": is.Credential})
			verify := func() *http.Request {
				r, _ := http.NewRequest("POST", s.base+"/api/v1/credentials/verify", bytes.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				return r
			}
			health := func() *http.Request { r, _ := http.NewRequest("GET", s.base+"/healthz", nil); return r }
			const conns, n = 64, 4000
			s.load(b, conns, 640, verify) // warm: DID, status lists, connections
			var vr, hr []float64
			for b.Loop() {
				h, hw := s.load(b, conns, n, health)
				v, vw := s.load(b, conns, n, verify)
				hr = append(hr, float64(n)/hw.Seconds(), pct(h, 0.99))
				vr = append(vr, float64(n)/vw.Seconds(), pct(v, 0.5), pct(v, 0.99))
			}
			k := len(vr) - 3
			b.ReportMetric(vr[k], "verify-req/s")
			b.ReportMetric(vr[k+1], "verify-p50-ms")
			b.ReportMetric(vr[k+2], "verify-p99-ms")
			b.ReportMetric(hr[len(hr)-2], "healthz-req/s")
			b.ReportMetric(hr[len(hr)-1], "healthz-p99-ms")
		})
	}
}

// BenchmarkChainVerifyCached is one verification of a credential whose
// issuer DID, status list and proof are cached, through the whole chain in
// process (no network): the per-request cost and allocations behind
// VerifyHTTP64's tail.
func BenchmarkChainVerifyCached(b *testing.B) {
	for _, suite := range []string{"eddsa-jcs-2022", "eddsa-rdfc-2022", "vc+jwt"} {
		b.Run(suite, func(b *testing.B) {
			s := startBenchServer(b)
			opts := map[string]any{"cryptosuite": suite}
			if suite == "vc+jwt" {
				opts = map[string]any{"format": "vc+jwt"}
			}
			var is struct {
				Credential json.RawMessage `json:"credential"`
			}
			s.post(b, "/api/v1/credentials/issue", map[string]any{"subjectDid": s.did, "credentialType": "course_completion",
				"claims": map[string]any{"course": "CS101"}, "options": opts}, []string{"X-API-Key", s.apiKey}, 201, &is)
			body, _ := json.Marshal(map[string]any{"verifiableCredential": is.Credential})
			h := s.g.Server.Handler()
			rc := newCtx("/api/v1/credentials/verify", "Content-Type", "application/json")
			rc.Request.Header.SetMethod("POST")
			call := func() {
				rc.Response.Reset()
				rc.Request.SetBody(body)
				h(rc)
			}
			call()
			if rc.Response.StatusCode() != 200 || !bytes.Contains(rc.Response.Body(), []byte(`"verified":true`)) {
				b.Fatalf("status %d: %s", rc.Response.StatusCode(), rc.Response.Body())
			}
			b.ReportAllocs()
			for b.Loop() {
				call()
			}
			b.ReportMetric(float64(len(body)), "body-bytes")
		})
	}
}
