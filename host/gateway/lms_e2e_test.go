package gateway_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ubeu/gateway/host/config"
	"github.com/ubeu/gateway/host/lms/lmstest"
	pluginpkg "github.com/ubeu/gateway/host/plugin/pkg"
	"github.com/ubeu/gateway/sdk-plugin/plugintest"
)

// installLMSPlugin installs plugins/<name> (built to wasm) into the data
// dir with its manifest's allow-list replaced by the fixture's loopback
// host and port, with allow_private granted: the operator's grant a test
// against a local server needs.
func installLMSPlugin(t *testing.T, cfg *config.Config, name, fixtureURL string) {
	t.Helper()
	wasm := plugintest.BuildWasm(t, "github.com/ubeu/gateway/plugins/"+name)
	u, _ := url.Parse(fixtureURL)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "plugin.wasm"), wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	man := fmt.Sprintf(`name: %s
publisher: UBeU
version: 0.1.0
interfaces: [lms]
runtime: wasm
abi: ">=1.0 <2"
artifacts:
  wasm: {file: plugin.wasm, sha256: %x}
capabilities:
  log: true
  config: true
  metrics: true
  clock: true
  secrets: [base_url, token]
  http:
    allow:
      - {scheme: http, host: "%s", port: %s}
    allow_private: true
limits: {call_timeout: 60s, max_instances: 4}
`, name, sha256.Sum256(wasm), u.Hostname(), u.Port())
	if err := os.WriteFile(filepath.Join(src, "plugin.yaml"), []byte(man), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := pluginpkg.Install(context.Background(), src, pluginpkg.InstallOptions{
		Root: cfg.PluginsDir(), AllowUnsigned: true, ABIVersion: "1.0",
		Grants: pluginpkg.Grants{Capabilities: []string{"log", "config", "metrics", "clock", "secrets", "http"},
			HTTPHosts: []string{u.Hostname()}, HTTPAllowPrivate: true},
	}); err != nil {
		t.Fatal(err)
	}
}

type lmsReport struct {
	ID             string         `json:"id"`
	ConnectionID   string         `json:"connectionId"`
	Status         string         `json:"status"`
	Found          int            `json:"found"`
	Issued         int            `json:"issued"`
	Skipped        int            `json:"skipped"`
	Failed         int            `json:"failed"`
	SkippedBy      map[string]int `json:"skippedBy"`
	ClaimsReleased int            `json:"claimsReleased"`
	Errors         []struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
}

// TestLMSSyncEndToEnd: through the real HTTP server, an enterprise's API
// key syncs a Moodle fixture (the moodle plugin compiled to wasm, installed
// and run by the gateway's plugin manager) with the design's request body;
// the learners with accounts get verifiable badges in their wallets, a
// second sync issues nothing, a learner who registers later gets the badge
// at the next sync; tokens never come back; another enterprise sees
// nothing of it; bad requests get the JSON error.
func TestLMSSyncEndToEnd(t *testing.T) {
	courses := lmstest.Dataset(2, 3)  // learners 1001-1006 in courses 101, 102
	courses[1].Learners[2].Email = "" // 1006: no e-mail
	moodle := lmstest.NewMoodle("moodle-secret-token", courses)
	defer moodle.Close()

	z, addr := startDNS(t)
	cfg := testConfig(t)
	cfg.Enterprise.DNSServer = addr
	cfg.Enterprise.DNSTimeout = 2 * time.Second
	installLMSPlugin(t, cfg, "moodle", moodle.URL)
	tg := startGateway(t, cfg)
	if _, ok := tg.g.Plugins.Get("moodle"); !ok {
		t.Fatalf("moodle plugin not loaded: %+v", tg.g.Plugins.List())
	}
	iss := verifiedIssuer(t, tg, z, "registrar@acme-university.edu", acme())
	learners := map[int64]session{}
	for _, id := range []int64{1001, 1002, 1003, 1004} { // 1005 registers later
		learners[id] = tg.register(fmt.Sprintf("learner%d@example.edu", id))
	}

	body := map[string]any{
		"lmsConfig": map[string]any{"type": "moodle", "baseUrl": moodle.URL, "apiKey": "moodle-secret-token", "courseId": "101"},
		"badgeMapping": map[string]any{"courseId": "101", "badgeTemplateId": "course-completion", "issuerDid": iss.reg.ManagedDID,
			"autoIssue": true, "templateFields": map[string]any{"subject": "Introduction to Testing"}},
	}
	sync := func(body any) lmsReport {
		t.Helper()
		r := tg.do("POST", "/api/v1/lms/sync", body, iss.key...)
		if r.status != http.StatusOK {
			t.Fatalf("sync: %d %s", r.status, r.body)
		}
		if strings.Contains(string(r.body), "moodle-secret-token") {
			t.Fatal("the token is in the sync answer")
		}
		var rep lmsReport
		decodeJSON(t, r, &rep)
		return rep
	}
	rep := sync(body)
	if rep.Status != "completed" || rep.Found != 3 || rep.Issued != 3 || len(rep.Errors) != 0 {
		t.Fatalf("first sync: %+v", rep)
	}
	// Each learner holds a badge that verifies.
	r := tg.do("GET", "/api/v1/wallet/credentials", nil, bearer(learners[1001].AccessToken)...)
	var wallet struct {
		Credentials []struct {
			CredentialID string `json:"credentialId"`
			ID           string `json:"id"`
		} `json:"credentials"`
	}
	decodeJSON(t, r, &wallet)
	if r.status != 200 || len(wallet.Credentials) != 1 {
		t.Fatalf("wallet: %d %s", r.status, r.body)
	}
	badge := wallet.Credentials[0].CredentialID
	if badge == "" {
		badge = wallet.Credentials[0].ID
	}
	v := tg.do("GET", "/api/v1/badges/"+strings.TrimPrefix(badge, "urn:uuid:")+"/verify", nil)
	if v.status != 200 || v.json(t)["verified"] != true || !strings.Contains(string(v.body), "Introduction to Testing") {
		t.Fatalf("verify: %d %s", v.status, v.body)
	}

	// Again: the same connection and mapping, nothing issued twice.
	rep = sync(body)
	if rep.Issued != 0 || rep.SkippedBy["already_issued"] != 3 {
		t.Fatalf("second sync: %+v", rep)
	}
	var conns struct {
		Connections []map[string]any `json:"connections"`
	}
	r = tg.do("GET", "/api/v1/lms/connections", nil, iss.key...)
	decodeJSON(t, r, &conns)
	if r.status != 200 || len(conns.Connections) != 1 || strings.Contains(string(r.body), "moodle-secret-token") || conns.Connections[0]["hasApiKey"] != true {
		t.Fatalf("connections: %d %s", r.status, r.body)
	}
	connID := conns.Connections[0]["id"].(string)

	// A second mapping through the CRUD routes, synced by connection ID.
	r = tg.do("POST", "/api/v1/lms/connections/"+connID+"/mappings", map[string]any{"courseId": "102", "badgeTemplateId": "course-completion"}, iss.key...)
	if r.status != http.StatusCreated {
		t.Fatalf("mapping: %d %s", r.status, r.body)
	}
	rep = sync(map[string]any{"connectionId": connID})
	// 101: 3 already issued; 102: 1004 issued, 1005 pending, 1006 no e-mail.
	if rep.Issued != 1 || rep.SkippedBy["already_issued"] != 3 || rep.SkippedBy["pending_claim"] != 1 || rep.SkippedBy["no_email"] != 1 {
		t.Fatalf("third sync: %+v", rep)
	}
	// Registering releases the held claim at once (in the background), with
	// no sync: the badge reaches the new wallet.
	late := tg.register("learner1005@example.edu")
	for i := 0; ; i++ {
		r = tg.do("GET", "/api/v1/wallet/credentials", nil, bearer(late.AccessToken)...)
		decodeJSON(t, r, &wallet)
		if len(wallet.Credentials) == 1 {
			break
		}
		if i > 300 {
			t.Fatalf("late learner's wallet after registration: %s", r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The next sync issues nothing more.
	rep = sync(map[string]any{"connectionId": connID})
	if rep.ClaimsReleased != 0 || rep.Issued != 0 || rep.SkippedBy["already_issued"] != 5 {
		t.Fatalf("sync after registration: %+v", rep)
	}

	// Reports: listed and read back (the registration's release has one).
	r = tg.do("GET", "/api/v1/lms/reports?connectionId="+connID, nil, iss.key...)
	var reports struct {
		Reports []lmsReport `json:"reports"`
	}
	decodeJSON(t, r, &reports)
	if r.status != 200 || len(reports.Reports) != 5 || reports.Reports[0].ID != rep.ID {
		t.Fatalf("reports: %d %s", r.status, r.body)
	}
	released := reports.Reports[1]
	r = tg.do("GET", "/api/v1/lms/reports/"+released.ID, nil, iss.key...)
	if r.status != 200 || !strings.Contains(string(r.body), `"claimsReleased":1`) || !strings.Contains(string(r.body), `"trigger":"claims"`) {
		t.Fatalf("the registration's release report: %d %s", r.status, r.body)
	}
	// Async: 202 with the report to poll.
	r = tg.do("POST", "/api/v1/lms/sync", map[string]any{"connectionId": connID, "async": true}, iss.key...)
	if r.status != http.StatusAccepted || !strings.HasPrefix(r.header.Get("Location"), "/api/v1/lms/reports/lmsr_") {
		t.Fatalf("async: %d %s", r.status, r.body)
	}
	loc := r.header.Get("Location")
	for i := 0; ; i++ {
		r = tg.do("GET", loc, nil, iss.key...)
		if r.status == 200 && !strings.Contains(string(r.body), `"status":"running"`) {
			break
		}
		if i > 100 {
			t.Fatalf("async report: %d %s", r.status, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Another enterprise: none of it is visible or usable.
	other := verifiedIssuer(t, tg, z, "it@other.edu", map[string]any{"organizationName": "Other College", "parentDomain": "other.edu",
		"contactEmail": "it@other.edu", "enterpriseTier": "pro"})
	wantError(t, tg.do("GET", "/api/v1/lms/connections/"+connID, nil, other.key...), http.StatusNotFound, "NOT_FOUND")
	wantError(t, tg.do("POST", "/api/v1/lms/sync", map[string]any{"connectionId": connID}, other.key...), http.StatusNotFound, "NOT_FOUND")
	wantError(t, tg.do("GET", "/api/v1/lms/reports/"+rep.ID, nil, other.key...), http.StatusNotFound, "NOT_FOUND")
	wantError(t, tg.do("DELETE", "/api/v1/lms/connections/"+connID, nil, other.key...), http.StatusNotFound, "NOT_FOUND")
	r = tg.do("GET", "/api/v1/lms/connections", nil, other.key...)
	if r.status != 200 || strings.Contains(string(r.body), connID) {
		t.Fatalf("other's connections: %s", r.body)
	}

	// Bad requests: the JSON error with the right status.
	wantError(t, tg.do("POST", "/api/v1/lms/sync", body), http.StatusUnauthorized, "UNAUTHORIZED")
	wantError(t, tg.do("POST", "/api/v1/lms/sync", body, bearer(iss.owner.AccessToken)...), http.StatusForbidden, "FORBIDDEN")
	r = tg.do("POST", "/api/v1/enterprises/"+iss.reg.EnterpriseID+"/api-keys", map[string]any{"name": "reader", "permissions": []string{"query_recipients"}},
		bearer(iss.owner.AccessToken)...)
	if r.status != http.StatusCreated {
		t.Fatalf("api key: %d %s", r.status, r.body)
	}
	reader := []string{"X-API-Key", r.json(t)["apiKey"].(string)}
	wantError(t, tg.do("POST", "/api/v1/lms/sync", body, reader...), http.StatusForbidden, "FORBIDDEN")
	wantError(t, tg.do("GET", "/api/v1/lms/connections", nil, reader...), http.StatusForbidden, "FORBIDDEN")
	wantError(t, tg.do("POST", "/api/v1/lms/sync", `{"connectionId":`, iss.key...), http.StatusBadRequest, "VALIDATION_ERROR")
	wantError(t, tg.do("POST", "/api/v1/lms/sync", `{"connectionId":7}`, iss.key...), http.StatusBadRequest, "VALIDATION_ERROR")
	wantError(t, tg.do("POST", "/api/v1/lms/sync", `{}`, iss.key...), http.StatusBadRequest, "VALIDATION_ERROR")
	wantError(t, tg.do("POST", "/api/v1/lms/sync", map[string]any{"connectionId": "lmsc_nope"}, iss.key...), http.StatusNotFound, "NOT_FOUND")
	wantError(t, tg.do("POST", "/api/v1/lms/sync", map[string]any{"connectionId": connID, "lmsConfig": body["lmsConfig"]}, iss.key...), http.StatusBadRequest, "VALIDATION_ERROR")
	wantError(t, tg.oversized("POST", "/api/v1/lms/sync", iss.key...), http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE")
	e := wantError(t, tg.do("POST", "/api/v1/lms/connections", map[string]any{"type": "blackboard", "baseUrl": moodle.URL, "apiKey": "x"}, iss.key...),
		http.StatusBadRequest, "VALIDATION_ERROR")
	if e["details"].(map[string]any)["field"] != "type" {
		t.Fatalf("details %v", e["details"])
	}
	wantError(t, tg.do("POST", "/api/v1/lms/connections", map[string]any{"type": "moodle", "baseUrl": "ftp://x", "apiKey": "x"}, iss.key...),
		http.StatusBadRequest, "VALIDATION_ERROR")
	wantError(t, tg.do("POST", "/api/v1/lms/connections/"+connID+"/mappings", map[string]any{"courseId": "101", "badgeTemplateId": "nope"}, iss.key...),
		http.StatusBadRequest, "VALIDATION_ERROR")
	wantError(t, tg.do("POST", "/api/v1/lms/connections/"+connID+"/mappings", map[string]any{"courseId": "101", "badgeTemplateId": "course-completion", "minGrade": 2}, iss.key...),
		http.StatusBadRequest, "VALIDATION_ERROR")
	wantError(t, tg.do("PATCH", "/api/v1/lms/connections/"+connID, map[string]any{"syncInterval": "soon"}, iss.key...), http.StatusBadRequest, "VALIDATION_ERROR")
	wantError(t, tg.do("GET", "/api/v1/lms/reports/"+strings.Repeat("x", 300), nil, iss.key...), http.StatusNotFound, "NOT_FOUND")

	// A wrong token is a report error, not a request error; the badges stay.
	r = tg.do("PATCH", "/api/v1/lms/connections/"+connID, map[string]any{"apiKey": "wrong", "syncInterval": "1h"}, iss.key...)
	if r.status != 200 || r.json(t)["syncInterval"] != "1h0m0s" {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	rep = sync(map[string]any{"connectionId": connID})
	if rep.Status != "partial" || len(rep.Errors) != 2 || rep.Errors[0].Code != "UNAUTHENTICATED" || rep.Issued != 0 {
		t.Fatalf("wrong token: %+v", rep)
	}
	if r := tg.do("DELETE", "/api/v1/lms/connections/"+connID, nil, iss.key...); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	wantError(t, tg.do("GET", "/api/v1/lms/connections/"+connID, nil, iss.key...), http.StatusNotFound, "NOT_FOUND")
}

func decodeJSON(t *testing.T, r resp, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
}
