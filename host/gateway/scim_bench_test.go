package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/gateway"
	"github.com/ubeu/gateway/host/httpapi"
)

// Figures of issue 9 (SCIM) over HTTP on loopback, client and server on
// the same machine, each with its baseline in the same run:
//
//	go test -run '^$' -bench 'SCIMProvision1000|SCIMFilter10k' -benchtime 1x ./host/gateway
//
// SCIMProvision1000: 1,000 users through POST /scim/v2/{id}/Users, each
// made an enterprise member with a managed DID and an employee credential
// before the answer; baselines: 1,000 POST /api/v1/credentials/issue
// (the credential alone) and 1,000 creates through the plugin alone (no
// lifecycle work).
// SCIMFilter10k: GET /Users?filter=userName eq "…" over 10,000 users,
// p50/p99; baselines: GET /ServiceProviderConfig through the same chain
// and plugin, and an unindexed filter (displayName eq) over the same users.

type scimBenchServer struct {
	g      *gateway.Gateway
	base   string
	client *http.Client
}

type benchEnt struct {
	id, scimKey, issueKey string
}

func (s *scimBenchServer) do(b *testing.B, method, path string, body any, want int, headers ...string) []byte {
	b.Helper()
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		rd = bytes.NewReader([]byte(v))
	default:
		j, _ := json.Marshal(v)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, s.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := s.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		b.Fatalf("%s %s: %d %s", method, path, res.StatusCode, out)
	}
	return out
}

func startSCIMBench(b *testing.B) *scimBenchServer {
	b.Helper()
	cfg := testConfig(&testing.T{})
	cfg.DataDir = b.TempDir()
	cfg.Log.Level = "warn"
	cfg.Log.AccessLog = false
	cfg.RateLimit.Enabled = false
	cfg.Enterprise.Tiers.Pro.MonthlyCredentials = 1 << 30
	cfg.Enterprise.Tiers.Enterprise.MonthlyCredentials = 1 << 30
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	installSCIM(b, cfg)
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
	return &scimBenchServer{g: g, base: "http://" + l.Public.Addr().String(),
		client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
}

func (s *scimBenchServer) enterprise(b *testing.B, n int, config string) benchEnt {
	b.Helper()
	var reg struct {
		AccessToken string `json:"accessToken"`
	}
	json.Unmarshal(s.do(b, "POST", "/api/v1/users/register", map[string]string{"email": fmt.Sprintf("owner%d@example.com", n), "password": goodPassword}, 201), &reg)
	var ent struct {
		EnterpriseID string `json:"enterpriseId"`
		APIKey       string `json:"apiKey"`
	}
	json.Unmarshal(s.do(b, "POST", "/api/v1/enterprises/register", map[string]any{"organizationName": fmt.Sprintf("Bench %d", n),
		"parentDomain": fmt.Sprintf("bench%d-university.edu", n), "contactEmail": "it@example.com", "enterpriseTier": "enterprise"},
		201, "Authorization", "Bearer "+reg.AccessToken), &ent)
	// The DNS proof is tested elsewhere; here the enterprise is activated in the store.
	e, err := s.g.Store.Enterprises().Get(context.Background(), ent.EnterpriseID)
	if err != nil {
		b.Fatal(err)
	}
	e.Status = httpapi.EnterpriseActive
	if err := s.g.Store.Enterprises().Update(context.Background(), e); err != nil {
		b.Fatal(err)
	}
	var key struct {
		APIKey string `json:"apiKey"`
	}
	json.Unmarshal(s.do(b, "POST", "/api/v1/enterprises/"+ent.EnterpriseID+"/api-keys", map[string]any{"name": "idp", "permissions": []string{"scim"}}, 201,
		"Authorization", "Bearer "+reg.AccessToken), &key)
	s.do(b, "PUT", "/api/v1/enterprises/"+ent.EnterpriseID+"/directory", config, 200, "Authorization", "Bearer "+reg.AccessToken)
	return benchEnt{id: ent.EnterpriseID, scimKey: key.APIKey, issueKey: ent.APIKey}
}

func scimUser(i int) string {
	return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"user%05d@bench.example","displayName":"User %05d",`+
		`"name":{"givenName":"User","familyName":"%05d"},"emails":[{"primary":true,"type":"work","value":"user%05d@bench.example"}],"active":true}`, i, i, i, i)
}

func BenchmarkSCIMProvision1000(b *testing.B) {
	const n = 1000
	s := startSCIMBench(b)
	e := s.enterprise(b, 1, `{"employeeCredential":{"enabled":true}}`)
	for b.Loop() {
		// Baseline 1: the employee credential alone, issued over HTTP.
		start := time.Now()
		for i := range n {
			s.do(b, "POST", "/api/v1/credentials/issue", map[string]any{"subjectDid": fmt.Sprintf("did:example:%d", i), "credentialType": "EmployeeCredential",
				"claims": map[string]any{"userName": fmt.Sprintf("user%05d@bench.example", i)}}, 201, "X-API-Key", e.issueKey)
		}
		issue := time.Since(start)
		// Baseline 2: the plugin alone (no lifecycle work), through the runtime.
		tr, ok := s.g.Plugins.Get("scim")
		if !ok {
			b.Fatal("scim plugin not loaded")
		}
		dc := abiv1.NewDirectoryClient(tr)
		start = time.Now()
		for i := range n {
			res, err := dc.HandleSCIM(context.Background(), &abiv1.HandleSCIMRequest{Method: "POST", Path: "/Users", Body: []byte(scimUser(i)), EnterpriseID: "plugin-only"})
			if err != nil || res.Status != 201 {
				b.Fatalf("plugin: %v %v", res, err)
			}
		}
		plugin := time.Since(start)
		// The figure: POST /Users, each a member with a DID and a credential.
		start = time.Now()
		for i := range n {
			s.do(b, "POST", "/scim/v2/"+e.id+"/Users", scimUser(i), 201, "Authorization", "Bearer "+e.scimKey, "Content-Type", "application/scim+json")
		}
		full := time.Since(start)
		ms, err := s.g.Directory.Members(context.Background(), e.id, "", 1000)
		if err != nil || len(ms) != n || ms[n-1].CredentialID == "" || ms[n-1].DID == "" || ms[n-1].State != "active" {
			b.Fatalf("members: %d %v", len(ms), err)
		}
		// The same from 4 connections at once (an IdP's parallel workers).
		start = time.Now()
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := n + w; i < 2*n; i += 4 {
					s.do(b, "POST", "/scim/v2/"+e.id+"/Users", scimUser(i), 201, "Authorization", "Bearer "+e.scimKey, "Content-Type", "application/scim+json")
				}
			}()
		}
		wg.Wait()
		par := time.Since(start)
		b.ReportMetric(n/par.Seconds(), "users/s-4conns")
		b.Logf("the next 1,000 from 4 connections at once: %v, %.0f users/s", par.Round(time.Millisecond), n/par.Seconds())
		b.ReportMetric(full.Seconds(), "s/1000users")
		b.ReportMetric(n/full.Seconds(), "users/s")
		b.ReportMetric(n/issue.Seconds(), "baseline-issue/s")
		b.ReportMetric(n/plugin.Seconds(), "baseline-plugin-creates/s")
		b.Logf("1,000 users provisioned (POST /Users + managed DID + employee credential + member): %v, %.0f users/s; "+
			"baselines in the same run: 1,000 POST /credentials/issue %v (%.0f/s), 1,000 plugin-only creates %v (%.0f/s)",
			full.Round(time.Millisecond), n/full.Seconds(), issue.Round(time.Millisecond), n/issue.Seconds(), plugin.Round(time.Millisecond), n/plugin.Seconds())
	}
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func BenchmarkSCIMFilter10k(b *testing.B) {
	const users, queries = 10000, 2000
	s := startSCIMBench(b)
	e := s.enterprise(b, 2, `{}`)
	// The users are written through the plugin directly (their
	// provisioning is the other figure); the list goes over HTTP.
	tr, _ := s.g.Plugins.Get("scim")
	dc := abiv1.NewDirectoryClient(tr)
	for i := range users {
		res, err := dc.HandleSCIM(context.Background(), &abiv1.HandleSCIMRequest{Method: "POST", Path: "/Users", Body: []byte(scimUser(i)), EnterpriseID: e.id})
		if err != nil || res.Status != 201 {
			b.Fatalf("seed %d: %v %v", i, res, err)
		}
	}
	auth := []string{"Authorization", "Bearer " + e.scimKey}
	series := func(n int, path func(i int) string, check func([]byte)) []time.Duration {
		out := make([]time.Duration, 0, n)
		for i := range n {
			p := path(i)
			start := time.Now()
			body := s.do(b, "GET", p, nil, 200, auth...)
			out = append(out, time.Since(start))
			if check != nil {
				check(body)
			}
		}
		return out
	}
	one := func(body []byte) {
		var lr struct{ TotalResults int }
		json.Unmarshal(body, &lr)
		if lr.TotalResults != 1 {
			b.Fatalf("filter found %d: %s", lr.TotalResults, body)
		}
	}
	for b.Loop() {
		r := rand.New(rand.NewPCG(1, 2))
		indexed := series(queries, func(int) string {
			return "/scim/v2/" + e.id + "/Users?filter=" + url.QueryEscape(fmt.Sprintf(`userName eq "USER%05d@bench.example"`, r.IntN(users)))
		}, one)
		floor := series(queries, func(int) string { return "/scim/v2/" + e.id + "/ServiceProviderConfig" }, nil)
		scan := series(20, func(int) string {
			return "/scim/v2/" + e.id + "/Users?filter=" + url.QueryEscape(fmt.Sprintf(`displayName eq "User %05d"`, r.IntN(users)))
		}, one)
		ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
		b.ReportMetric(ms(percentile(indexed, 0.99)), "p99-ms")
		b.ReportMetric(ms(percentile(indexed, 0.50)), "p50-ms")
		b.ReportMetric(ms(percentile(floor, 0.99)), "baseline-spconfig-p99-ms")
		b.ReportMetric(ms(percentile(scan, 0.99)), "baseline-unindexed-p99-ms")
		b.Logf("userName eq over %d users, %d queries over HTTP: p50 %v, p99 %v; baselines in the same run: GET /ServiceProviderConfig p50 %v p99 %v; "+
			"unindexed displayName eq (20 queries) p50 %v p99 %v", users, queries, percentile(indexed, 0.5), percentile(indexed, 0.99),
			percentile(floor, 0.5), percentile(floor, 0.99), percentile(scan, 0.5), percentile(scan, 0.99))
	}
}
