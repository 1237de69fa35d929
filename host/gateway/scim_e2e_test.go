package gateway_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ubeu/gateway/host/auth"
	"github.com/ubeu/gateway/host/config"
	pluginpkg "github.com/ubeu/gateway/host/plugin/pkg"
	"github.com/ubeu/gateway/host/store"
	"github.com/ubeu/gateway/sdk-plugin/plugintest"
)

// installSCIM installs plugins/scim, built for wasm, into the data dir of
// cfg as the bundle would (its own manifest, all its capabilities granted).
func installSCIM(t testing.TB, cfg *config.Config) { installSCIMWith(t, cfg, "") }

// installSCIMWith installs plugins/scim allowed to reach the remote SCIM
// endpoint at hrHostPort (loopback, for the pull) too, if not empty.
func installSCIMWith(t testing.TB, cfg *config.Config, hrHostPort string) {
	t.Helper()
	extra, hosts, private := "", []string{"hr.acme.example"}, false
	if hrHostPort != "" {
		h, p, _ := strings.Cut(hrHostPort, ":")
		extra = fmt.Sprintf("      - {scheme: http, host: %q, port: %s}\n    allow_private: true\n", h, p)
		hosts, private = append(hosts, h), true
	}
	wasm := plugintest.BuildWasm(t, "github.com/ubeu/gateway/plugins/scim")
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "plugin.wasm"), wasm, 0o644)
	os.WriteFile(filepath.Join(src, "plugin.yaml"), []byte(fmt.Sprintf(`name: scim
publisher: UBeU
version: 0.1.0
interfaces: [directory]
runtime: wasm
abi: ">=1.0 <2"
artifacts:
  wasm: {file: plugin.wasm, sha256: %x}
capabilities:
  log: true
  config: true
  metrics: true
  clock: true
  random: true
  kv: {max_entries: 2000000, max_bytes: 4294967296}
  http:
    allow:
      - {scheme: https, host: hr.acme.example}
%s`, sha256.Sum256(wasm), extra)), 0o644)
	if _, err := pluginpkg.Install(context.Background(), src, pluginpkg.InstallOptions{
		Root: cfg.PluginsDir(), AllowUnsigned: true, ABIVersion: "1.0",
		Grants: pluginpkg.Grants{Capabilities: []string{"log", "config", "metrics", "clock", "random", "kv", "http"}, HTTPHosts: hosts, HTTPAllowPrivate: private},
		Config: []byte(`{"maxBodyBytes": 262144}`),
	}); err != nil {
		t.Fatal(err)
	}
	// One wazero compilation cache for every gateway of these tests: the
	// module is compiled once per test binary, not once per gateway
	// (compiling it takes tens of seconds under -race).
	if err := os.Symlink(scimWasmCache(t), filepath.Join(cfg.PluginsDir(), ".wasm-cache")); err != nil {
		t.Fatal(err)
	}
}

var (
	scimCacheOnce sync.Once
	scimCacheDir  string
)

// scimWasmCache is a compilation cache kept between runs in the temporary
// directory, one per user (wazero writes its entries atomically, so test
// binaries running at once may share it); entries unused for a day are
// removed.
func scimWasmCache(t testing.TB) string {
	scimCacheOnce.Do(func() {
		d := filepath.Join(os.TempDir(), fmt.Sprintf("gatewayd-test-wasm-cache-%d", os.Getuid()))
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		_ = filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > 24*time.Hour {
					_ = os.Remove(p)
				}
			}
			return nil
		})
		scimCacheDir = d
	})
	return scimCacheDir
}

// scimEnterprise is a verified enterprise with a SCIM key.
type scimEnterprise struct {
	issuer
	id      string
	scimKey string
}

func (tg *testGateway) scimEnterprise(t *testing.T, z *txtZone, email string, body map[string]any, verify bool) scimEnterprise {
	t.Helper()
	var iss issuer
	if verify {
		iss = verifiedIssuer(t, tg, z, email, body)
	} else {
		owner := tg.register(email)
		reg := tg.registerEnterprise(owner.AccessToken, body)
		iss = issuer{reg: reg, key: []string{"X-API-Key", reg.APIKey}, owner: owner}
	}
	r := tg.do("POST", "/api/v1/enterprises/"+iss.reg.EnterpriseID+"/api-keys", map[string]any{"name": "okta", "permissions": []string{"scim"}}, bearer(iss.owner.AccessToken)...)
	if r.status != 201 {
		t.Fatalf("scim key: %d %s", r.status, r.body)
	}
	return scimEnterprise{issuer: iss, id: iss.reg.EnterpriseID, scimKey: r.json(t)["apiKey"].(string)}
}

func scimConfig(t *testing.T) (*txtZone, *testGateway) {
	z, addr := startDNS(t)
	cfg := testConfig(t)
	cfg.Enterprise.DNSServer = addr
	cfg.Enterprise.DNSTimeout = 2 * time.Second
	installSCIM(t, cfg)
	return z, startGateway(t, cfg)
}

// scim sends a SCIM request with the enterprise's key as the bearer token,
// as Okta and Entra ID are configured.
func (tg *testGateway) scim(e scimEnterprise, method, path, body string, headers ...string) resp {
	tg.t.Helper()
	h := append([]string{"Authorization", "Bearer " + e.scimKey}, headers...)
	if body == "" {
		return tg.do(method, "/scim/v2/"+e.id+path, nil, h...)
	}
	return tg.do(method, "/scim/v2/"+e.id+path, body, append([]string{"Authorization", "Bearer " + e.scimKey, "Content-Type", "application/scim+json"}, headers...)...)
}

func wantSCIMError(t *testing.T, r resp, status int, scimType string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	m := r.json(t)
	if m["status"] != fmt.Sprint(status) || !strings.Contains(fmt.Sprint(m["schemas"]), "urn:ietf:params:scim:api:messages:2.0:Error") ||
		(scimType != "" && m["scimType"] != scimType) || !strings.HasPrefix(r.header.Get("Content-Type"), "application/scim+json") {
		t.Fatalf("SCIM error: %s", r.body)
	}
}

type memberView struct {
	ID           string   `json:"id"`
	UserID       string   `json:"userId"`
	DID          string   `json:"did"`
	CredentialID string   `json:"credentialId"`
	CredState    string   `json:"credentialState"`
	State        string   `json:"state"`
	Roles        []string `json:"roles"`
	Email        string   `json:"email"`
}

func (tg *testGateway) members(t *testing.T, e scimEnterprise) map[string]memberView {
	t.Helper()
	r := tg.do("GET", "/api/v1/enterprises/"+e.id+"/directory/members", nil, bearer(e.owner.AccessToken)...)
	if r.status != 200 {
		t.Fatalf("members: %d %s", r.status, r.body)
	}
	var out struct{ Members []memberView }
	json.Unmarshal(r.body, &out)
	m := map[string]memberView{}
	for _, v := range out.Members {
		m[v.ID] = v
	}
	return m
}

// memberSession opens a session for a member as a sign-in would (SAML
// login is the sso plugin's; here the session is started directly).
func (tg *testGateway) memberSession(t *testing.T, userID string) (access, refresh string) {
	t.Helper()
	u, err := tg.g.Store.Users().Get(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	fam := &store.RefreshFamily{ID: uuid.NewString(), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	rt, hash := auth.NewRefreshToken()
	if err := tg.g.Store.Sessions().Start(context.Background(), fam, &store.RefreshToken{Hash: hash, FamilyID: fam.ID, UserID: u.ID, IssuedAt: now, ExpiresAt: fam.ExpiresAt}); err != nil {
		t.Fatal(err)
	}
	at, _, err := tg.g.Tokens.Issue(auth.Claims{Subject: u.ID, SessionID: fam.ID, Roles: u.Roles, Tenant: u.Tenant})
	if err != nil {
		t.Fatal(err)
	}
	return at, rt
}

func (tg *testGateway) credentialState(t *testing.T, e scimEnterprise, id string) (string, json.RawMessage) {
	t.Helper()
	r := tg.do("GET", "/api/v1/credentials/"+url.PathEscape(id), nil, e.key...)
	if r.status != 200 {
		t.Fatalf("credential: %d %s", r.status, r.body)
	}
	var v struct {
		State      string          `json:"state"`
		Credential json.RawMessage `json:"credential"`
	}
	json.Unmarshal(r.body, &v)
	return v.State, v.Credential
}

// TestSCIMProvisioningLifecycle drives the gateway over HTTP as an
// identity provider does (the Okta SCIM 2.0 conversation,
// https://developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20):
// lookup, create (member with a managed DID and an employee credential),
// group push (roles), deactivate (credential suspended, sessions ended),
// reactivate, delete (credential revoked); the connector's status and
// audit; the authentication every SCIM route needs.
func TestSCIMProvisioningLifecycle(t *testing.T) {
	z, tg := scimConfig(t)
	e := tg.scimEnterprise(t, z, "it@acme.example", acme(), true)
	other := tg.scimEnterprise(t, z, "it@other.example", map[string]any{"organizationName": "Other", "parentDomain": "other-university.edu",
		"contactEmail": "it@other-university.edu", "enterpriseTier": "pro"}, true)

	// Authentication: none, a session, a key without the permission,
	// another enterprise's SCIM key, a revoked key.
	wantError(t, tg.do("GET", "/scim/v2/"+e.id+"/Users", nil), http.StatusUnauthorized, "UNAUTHORIZED")
	wantError(t, tg.do("GET", "/scim/v2/"+e.id+"/Users", nil, "Authorization", "Bearer gwk_notakey"), http.StatusUnauthorized, "UNAUTHORIZED")
	wantError(t, tg.do("GET", "/scim/v2/"+e.id+"/Users", nil, bearer(e.owner.AccessToken)...), http.StatusForbidden, "FORBIDDEN")
	wantError(t, tg.do("GET", "/scim/v2/"+e.id+"/Users", nil, "Authorization", "Bearer "+e.reg.APIKey), http.StatusForbidden, "FORBIDDEN")
	wantError(t, tg.do("POST", "/scim/v2/"+e.id+"/Users", `{"userName":"x@acme.example"}`, "Authorization", "Bearer "+other.scimKey, "Content-Type", "application/scim+json"), http.StatusForbidden, "FORBIDDEN")

	r := tg.do("PUT", "/api/v1/enterprises/"+e.id+"/directory", map[string]any{
		"employeeCredential": map[string]any{"enabled": true, "claims": []string{"userName", "displayName", "email", "department"}},
		"groupRoles":         map[string]any{"Engineering": "engineer"}, "onDeactivate": "suspend",
	}, bearer(e.owner.AccessToken)...)
	if r.status != 200 {
		t.Fatalf("configure: %d %s", r.status, r.body)
	}

	// The lookup before create, then the create.
	r = tg.scim(e, "GET", "/Users?filter="+url.QueryEscape(`userName eq "jane.doe@acme-university.edu"`)+"&startIndex=1&count=100", "")
	if r.status != 200 || r.json(t)["totalResults"] != 0.0 {
		t.Fatalf("lookup: %d %s", r.status, r.body)
	}
	r = tg.scim(e, "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
		"userName":"jane.doe@acme-university.edu","name":{"givenName":"Jane","familyName":"Doe"},"displayName":"Jane Doe",
		"emails":[{"primary":true,"value":"jane.doe@acme-university.edu","type":"work"}],"active":true,"externalId":"00u1",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"R&D"}}`)
	if r.status != 201 || !strings.HasSuffix(r.header.Get("Location"), "/scim/v2/"+e.id+"/Users/"+r.json(t)["id"].(string)) || r.header.Get("ETag") == "" {
		t.Fatalf("create: %d %v %s", r.status, r.header, r.body)
	}
	id := r.json(t)["id"].(string)
	m := tg.members(t, e)[id]
	if m.State != "active" || !strings.HasPrefix(m.DID, "did:hedera:") || m.CredentialID == "" || m.UserID == "" || m.Email != "jane.doe@acme-university.edu" {
		t.Fatalf("member: %+v", m)
	}
	if l, ok, err := tg.g.Directory.MemberByUserName(context.Background(), e.id, "Jane.Doe@ACME-university.edu"); err != nil || !ok || l.UserID != m.UserID {
		t.Fatalf("member by userName: %+v %v %v", l, ok, err)
	}
	u, err := tg.g.Store.Users().Get(context.Background(), m.UserID)
	if err != nil || u.Tenant != e.id || u.Status != "active" || u.PasswordHash != "" || !slices.Contains(u.Roles, "member") {
		t.Fatalf("member account: %+v %v", u, err)
	}
	state, cred := tg.credentialState(t, e, m.CredentialID)
	var vc map[string]any
	json.Unmarshal(cred, &vc)
	if state != "active" || dig(vc, "credentialSubject", "id") != m.DID || dig(vc, "credentialSubject", "department") != "R&D" ||
		!strings.Contains(fmt.Sprint(vc["type"]), "EmployeeCredential") || vc["issuer"] == nil {
		t.Fatalf("employee credential: %s %s", state, cred)
	}
	if v := tg.verify(t, cred); !v.Verified || v.status("status.suspension") != "passed" {
		t.Fatalf("credential does not verify: %+v", v)
	}
	// A second create of the userName: 409 uniqueness, nothing provisioned.
	wantSCIMError(t, tg.scim(e, "POST", "/Users", `{"userName":"JANE.DOE@acme-university.edu"}`), 409, "uniqueness")
	if n := len(tg.members(t, e)); n != 1 {
		t.Fatalf("%d members after a conflict", n)
	}

	// Group push: the member gets the role the policies see.
	r = tg.scim(e, "POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Engineering","members":[{"value":"`+id+`"}]}`)
	if r.status != 201 {
		t.Fatalf("group: %d %s", r.status, r.body)
	}
	gid := r.json(t)["id"].(string)
	tg.scim(e, "POST", "/Groups", `{"displayName":"Sales Team","members":[{"value":"`+id+`"}]}`)
	if u, _ := tg.g.Store.Users().Get(context.Background(), m.UserID); !slices.Contains(u.Roles, "engineer") || !slices.Contains(u.Roles, "group:sales-team") {
		t.Fatalf("roles: %v", u.Roles)
	}
	access, refresh := tg.memberSession(t, m.UserID)
	if r := tg.do("GET", "/api/v1/users/me", nil, bearer(access)...); r.status != 200 || !strings.Contains(string(r.body), "engineer") {
		t.Fatalf("member session: %d %s", r.status, r.body)
	}
	r = tg.scim(e, "PATCH", "/Groups/"+gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"`+id+`\"]"}]}`)
	if r.status != 200 {
		t.Fatalf("remove member: %d %s", r.status, r.body)
	}
	if u, _ := tg.g.Store.Users().Get(context.Background(), m.UserID); slices.Contains(u.Roles, "engineer") || !slices.Contains(u.Roles, "group:sales-team") {
		t.Fatalf("roles after removal: %v", u.Roles)
	}

	// Deactivation (Okta's path-less replace): credential suspended,
	// sessions ended, account suspended.
	r = tg.scim(e, "PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`)
	if r.status != 200 || r.json(t)["active"] != false {
		t.Fatalf("deactivate: %d %s", r.status, r.body)
	}
	if st, _ := tg.credentialState(t, e, m.CredentialID); st != "suspended" {
		t.Fatalf("credential %s after deactivation", st)
	}
	if v := tg.verify(t, cred); v.Verified || v.status("status.suspension") != "failed" {
		t.Fatalf("a deactivated member's credential verifies: %+v", v)
	}
	wantError(t, tg.do("GET", "/api/v1/users/me", nil, bearer(access)...), http.StatusUnauthorized, "UNAUTHORIZED")
	if r := tg.do("POST", "/api/v1/auth/refresh", map[string]string{"refreshToken": refresh}); r.status < 400 {
		t.Fatalf("refresh after deactivation: %d %s", r.status, r.body)
	}
	if u, _ := tg.g.Store.Users().Get(context.Background(), m.UserID); u.Status != "suspended" {
		t.Fatalf("account %s after deactivation", u.Status)
	}
	// Reactivation (Entra ID's string boolean): unsuspended, same DID.
	r = tg.scim(e, "PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"True"}]}`)
	if r.status != 200 {
		t.Fatalf("reactivate: %d %s", r.status, r.body)
	}
	if st, _ := tg.credentialState(t, e, m.CredentialID); st != "active" {
		t.Fatalf("credential %s after reactivation", st)
	}
	if m2 := tg.members(t, e)[id]; m2.DID != m.DID || m2.CredentialID != m.CredentialID || m2.State != "active" {
		t.Fatalf("reactivated member: %+v", m2)
	}
	// Deletion: revoked (final), account deleted.
	if r := tg.scim(e, "DELETE", "/Users/"+id, ""); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if st, _ := tg.credentialState(t, e, m.CredentialID); st != "revoked" {
		t.Fatalf("credential %s after deletion", st)
	}
	if u, _ := tg.g.Store.Users().Get(context.Background(), m.UserID); u.Status != "deleted" {
		t.Fatalf("account %s after deletion", u.Status)
	}

	// Status and audit.
	r = tg.do("GET", "/api/v1/enterprises/"+e.id+"/directory", nil, bearer(e.owner.AccessToken)...)
	var view struct {
		Config map[string]any
		Status struct {
			Events     map[string]int
			Pending    int
			LastErrors []any
		}
		Audit []struct{ Kind, Action, Object, Result string }
	}
	json.Unmarshal(r.body, &view)
	if r.status != 200 || view.Status.Events["applied"] < 6 || view.Status.Events["failed"] != 0 || view.Status.Pending != 0 || len(view.Audit) < 6 {
		t.Fatalf("status: %d %s", r.status, r.body)
	}
	// The other enterprise's owner sees nothing of it.
	wantError(t, tg.do("GET", "/api/v1/enterprises/"+e.id+"/directory", nil, bearer(other.owner.AccessToken)...), http.StatusForbidden, "FORBIDDEN")
	wantError(t, tg.do("GET", "/api/v1/enterprises/"+e.id+"/directory/members", nil, "X-API-Key", other.scimKey), http.StatusForbidden, "FORBIDDEN")
	// Metrics count the provisioning.
	if v := metricValue(t, tg.do("GET", "/metrics", nil, bearer(tg.adminToken())...).body, `gatewayd_directory_events_total{action="created",kind="user",result="applied"}`); v != 1 {
		t.Fatalf("metric: %v", v)
	}
}

func dig(v any, path ...string) any {
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	return v
}

// TestSCIMBadInput sends SCIM and connector routes malformed, oversized
// and unknown input over HTTP: each gets its error and nothing is
// provisioned.
func TestSCIMBadInput(t *testing.T) {
	z, tg := scimConfig(t)
	e := tg.scimEnterprise(t, z, "it@acme.example", acme(), true)
	before := tg.userCount()
	wantSCIMError(t, tg.scim(e, "POST", "/Users", `{"userName":`), 400, "invalidSyntax")
	wantSCIMError(t, tg.scim(e, "POST", "/Users", `{"userName":"a@acme.example","shoeSize":44}`), 400, "invalidSyntax")
	wantSCIMError(t, tg.scim(e, "GET", "/Users?filter="+url.QueryEscape(`userName eq`), ""), 400, "invalidFilter")
	wantSCIMError(t, tg.scim(e, "GET", "/Users?filter="+url.QueryEscape(`emails[type eq "work"`), ""), 400, "invalidFilter")
	wantSCIMError(t, tg.scim(e, "GET", "/Users/does-not-exist", ""), 404, "")
	wantSCIMError(t, tg.scim(e, "POST", "/Users", `{"userName":"a@acme.example"}`, "Content-Type", "text/plain"), 415, "")
	r := tg.scim(e, "GET", "/Users?startIndex=500&count=10", "")
	if r.status != 200 || r.json(t)["totalResults"] != 0.0 || len(r.json(t)["Resources"].([]any)) != 0 {
		t.Fatalf("past the end: %d %s", r.status, r.body)
	}
	// A PATCH that would remove every member through a bad filter: 400,
	// the members stay.
	id := tg.scim(e, "POST", "/Users", `{"userName":"b@acme.example"}`).json(t)["id"].(string)
	gid := tg.scim(e, "POST", "/Groups", `{"displayName":"G","members":[{"value":"`+id+`"}]}`).json(t)["id"].(string)
	wantSCIMError(t, tg.scim(e, "PATCH", "/Groups/"+gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq ]"}]}`), 400, "invalidFilter")
	if r := tg.scim(e, "GET", "/Groups/"+gid, ""); !strings.Contains(string(r.body), id) {
		t.Fatalf("members lost: %s", r.body)
	}
	// The same userName created from 8 connections at once: one 201, seven
	// 409 uniqueness, one member.
	codes := make(chan int, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", tg.base+"/scim/v2/"+e.id+"/Users", strings.NewReader(`{"userName":"Same@acme-university.edu"}`))
			req.Header.Set("Authorization", "Bearer "+e.scimKey)
			req.Header.Set("Content-Type", "application/scim+json")
			res, err := tg.client.Do(req)
			if err != nil {
				codes <- 0
				return
			}
			res.Body.Close()
			codes <- res.StatusCode
		}()
	}
	wg.Wait()
	close(codes)
	got := map[int]int{}
	for c := range codes {
		got[c]++
	}
	if got[201] != 1 || got[409] != 7 {
		t.Fatalf("concurrent creates of one userName: %v", got)
	}
	if n := len(tg.members(t, e)); n != 2 {
		t.Fatalf("%d members after concurrent creates", n)
	}
	// Oversized: the HTTP server's limit (64 KiB here) answers first.
	wantError(t, tg.oversized("POST", "/scim/v2/"+e.id+"/Users", "Authorization", "Bearer "+e.scimKey), http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE")
	// The connector configuration is decoded strictly.
	put := func(body string, headers ...string) resp {
		return tg.do("PUT", "/api/v1/enterprises/"+e.id+"/directory", body, append(bearer(e.owner.AccessToken), headers...)...)
	}
	wantError(t, put(`{"x":`), http.StatusBadRequest, "VALIDATION_ERROR")
	wantError(t, put(`{"unknownField":1}`), http.StatusBadRequest, "VALIDATION_ERROR")
	wantError(t, put(`{"groupRoles":{"Admins":"admin"}}`), http.StatusBadRequest, "VALIDATION_ERROR")
	wantError(t, put(`{"onDeactivate":"delete"}`), http.StatusBadRequest, "VALIDATION_ERROR")
	wantError(t, put(`{"pull":{"url":"ftp://x"}}`), http.StatusBadRequest, "VALIDATION_ERROR")
	wantError(t, put(`{"employeeCredential":{"enabled":true,"claims":["password"]}}`), http.StatusBadRequest, "VALIDATION_ERROR")
	wantError(t, put(`{}`, "Content-Type", "application/xml"), http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE")
	wantError(t, tg.do("PUT", "/api/v1/enterprises/"+e.id+"/directory", `{}`, "X-API-Key", e.scimKey), http.StatusForbidden, "FORBIDDEN")
	wantError(t, tg.do("POST", "/api/v1/enterprises/"+e.id+"/directory/pull", nil, bearer(e.owner.AccessToken)...), http.StatusConflict, "CONFLICT")
	wantError(t, tg.do("GET", "/api/v1/enterprises/"+e.id+"/directory/members?limit=0", nil, bearer(e.owner.AccessToken)...), http.StatusBadRequest, "VALIDATION_ERROR")
	// A disabled connector refuses SCIM.
	if r := put(`{"enabled":false}`); r.status != 200 {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	wantSCIMError(t, tg.scim(e, "GET", "/Users", ""), 403, "")
	if n := tg.userCount(); n != before+2 {
		t.Fatalf("bad input changed the accounts by %d (two members were provisioned)", n-before)
	}
}

// TestSCIMFailedStepRetried: an enterprise that has not verified its
// domain cannot issue, so the employee credential step fails. The SCIM
// user exists, the DID is made and kept, but no account is created (no
// half-provisioned member); the failure is in the status; once the domain
// is verified the retry finishes with the same DID.
func TestSCIMFailedStepRetried(t *testing.T) {
	z, tg := scimConfig(t)
	e := tg.scimEnterprise(t, z, "it@acme.example", acme(), false)
	if r := tg.do("PUT", "/api/v1/enterprises/"+e.id+"/directory", `{"employeeCredential":{"enabled":true}}`, bearer(e.owner.AccessToken)...); r.status != 200 {
		t.Fatalf("configure: %d %s", r.status, r.body)
	}
	before := tg.userCount()
	r := tg.scim(e, "POST", "/Users", `{"userName":"late@acme.example"}`)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)
	m := tg.members(t, e)[id]
	if m.State != "pending" || m.UserID != "" || m.CredentialID != "" || !strings.HasPrefix(m.DID, "did:hedera:") || tg.userCount() != before ||
		m.Email != id+"@"+e.id+".scim.invalid" {
		t.Fatalf("half-provisioned: %+v", m)
	}
	r = tg.do("GET", "/api/v1/enterprises/"+e.id+"/directory", nil, bearer(e.owner.AccessToken)...)
	if !strings.Contains(string(r.body), `"step":"credential"`) || !strings.Contains(string(r.body), `"pending":1`) {
		t.Fatalf("status: %s", r.body)
	}
	z.set(e.reg.DNSChallenge.RecordName, e.reg.DNSChallenge.RecordValue)
	if r := tg.do("POST", "/api/v1/enterprises/"+e.id+"/dns-verification/verify", nil, bearer(e.owner.AccessToken)...); r.status != 200 {
		t.Fatalf("verify: %d", r.status)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		tg.g.Directory.RetryDue(context.Background())
		m2 := tg.members(t, e)[id]
		if m2.State == "active" {
			// The account is made once the domain is verified: with the
			// directory's address (before, the enterprise could claim none).
			if m2.DID != m.DID || m2.CredentialID == "" || m2.UserID == "" || tg.userCount() != before+1 || m2.Email != "late@acme.example" {
				t.Fatalf("retried member: %+v", m2)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not retried: %+v", m2)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st := tg.g.Directory.Status(context.Background(), e.id); st.Pending != 0 || st.Events["applied"] != 1 || st.Events["failed"] < 1 {
		t.Fatalf("status after the retry: %+v", st)
	}
}

// hrDirectory is a remote SCIM endpoint (an HR system) on loopback: it
// answers GET /scim/v2/Users with RFC 7644 ListResponses, paged by
// startIndex and count, filtered by meta.lastModified gt "…", behind a
// bearer token.
type hrDirectory struct {
	mu    sync.Mutex
	users []map[string]any
	seen  []string // filters received
}

func (h *hrDirectory) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/scim/v2/Users" || r.Header.Get("Authorization") != "Bearer hr-secret" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	f := r.URL.Query().Get("filter")
	h.seen = append(h.seen, f)
	since := strings.TrimSuffix(strings.TrimPrefix(f, `meta.lastModified gt "`), `"`)
	var match []any
	for _, u := range h.users {
		if lm := u["meta"].(map[string]any)["lastModified"].(string); f == "" || lm > since {
			match = append(match, u)
		}
	}
	start, count := 1, 100
	fmt.Sscan(r.URL.Query().Get("startIndex"), &start)
	fmt.Sscan(r.URL.Query().Get("count"), &count)
	page := []any{}
	for i := start - 1; i >= 0 && i < len(match) && len(page) < count; i++ {
		page = append(page, match[i])
	}
	w.Header().Set("Content-Type", "application/scim+json")
	json.NewEncoder(w).Encode(map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:ListResponse"},
		"totalResults": len(match), "startIndex": start, "itemsPerPage": len(page), "Resources": page})
}

func (h *hrDirectory) set(id string, active bool, modified string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	u := map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "id": id, "userName": id + "@acme-university.edu",
		"active": active, "meta": map[string]any{"lastModified": modified}, "hrOnly": "ignored"}
	for i, o := range h.users {
		if o["id"] == id {
			h.users[i] = u
			return
		}
	}
	h.users = append(h.users, u)
}

// TestSCIMPullFromHR configures a remote SCIM endpoint for an enterprise
// (design section 7.1, the HR sync): a pull provisions its users, a later
// pull sees only what changed since (a deactivation), the token is kept
// sealed and never shown.
func TestSCIMPullFromHR(t *testing.T) {
	hr := &hrDirectory{}
	for i := range 3 {
		hr.set(fmt.Sprintf("emp-%d", i), true, fmt.Sprintf("2026-11-0%dT09:00:00Z", i+1))
	}
	srv := httptest.NewServer(hr)
	defer srv.Close()
	z, addr := startDNS(t)
	cfg := testConfig(t)
	cfg.Enterprise.DNSServer = addr
	installSCIMWith(t, cfg, strings.TrimPrefix(srv.URL, "http://"))
	tg := startGateway(t, cfg)
	e := tg.scimEnterprise(t, z, "it@acme.example", acme(), true)
	r := tg.do("PUT", "/api/v1/enterprises/"+e.id+"/directory", map[string]any{
		"employeeCredential": map[string]any{"enabled": true},
		"pull":               map[string]any{"url": srv.URL + "/scim/v2", "token": "hr-secret", "intervalSeconds": 3600, "pageSize": 2}}, bearer(e.owner.AccessToken)...)
	if r.status != 200 || strings.Contains(string(r.body), "hr-secret") || r.json(t)["pullTokenSet"] != true {
		t.Fatalf("configure: %d %s", r.status, r.body)
	}
	r = tg.do("POST", "/api/v1/enterprises/"+e.id+"/directory/pull", nil, bearer(e.owner.AccessToken)...)
	if r.status != 200 || r.json(t)["events"] != 3.0 {
		t.Fatalf("pull: %d %s", r.status, r.body)
	}
	ms := tg.members(t, e)
	for i := range 3 {
		m := ms[fmt.Sprintf("emp-%d", i)]
		if m.State != "active" || m.DID == "" || m.CredentialID == "" || m.UserID == "" {
			t.Fatalf("pulled member %d: %+v", i, m)
		}
	}
	// HR deactivates one; the next pull asks only for what changed.
	hr.set("emp-1", false, "2026-11-20T09:00:00Z")
	r = tg.do("POST", "/api/v1/enterprises/"+e.id+"/directory/pull", nil, bearer(e.owner.AccessToken)...)
	if r.status != 200 || r.json(t)["events"] != 1.0 {
		t.Fatalf("second pull: %d %s", r.status, r.body)
	}
	if m := tg.members(t, e)["emp-1"]; m.State != "deactivated" || m.CredState != "suspended" {
		t.Fatalf("deactivated by HR: %+v", m)
	}
	hr.mu.Lock()
	last := hr.seen[len(hr.seen)-1]
	hr.mu.Unlock()
	if last != `meta.lastModified gt "2026-11-03T09:00:00Z"` {
		t.Fatalf("second pull's filter %q", last)
	}
	// The token stays when the configuration is rewritten without it;
	// a wrong one fails the pull and the status says so.
	tg.do("PUT", "/api/v1/enterprises/"+e.id+"/directory", map[string]any{"pull": map[string]any{"url": srv.URL + "/scim/v2", "token": "wrong"}}, bearer(e.owner.AccessToken)...)
	wantError(t, tg.do("POST", "/api/v1/enterprises/"+e.id+"/directory/pull", nil, bearer(e.owner.AccessToken)...), http.StatusBadGateway, "PULL_FAILED")
	if st := tg.g.Directory.Status(context.Background(), e.id); !strings.Contains(st.Pull.LastError, "refused the token") {
		t.Fatalf("pull status: %+v", st.Pull)
	}
}
