package gateway_test

import (
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ubeu/gateway/host/auth"
	"github.com/ubeu/gateway/host/store"
)

// txtZone is a tiny authoritative DNS zone of TXT records, served by a real
// miekg/dns server on loopback.
type txtZone struct {
	mu  sync.Mutex
	txt map[string][]string // canonical name → values
}

func (z *txtZone) set(name string, values ...string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.txt[dns.CanonicalName(name)] = values
}

func (z *txtZone) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	q := req.Question[0]
	z.mu.Lock()
	vals, ok := z.txt[dns.CanonicalName(q.Name)]
	z.mu.Unlock()
	switch {
	case !ok:
		m.Rcode = dns.RcodeNameError
	case q.Qtype == dns.TypeTXT:
		for _, v := range vals {
			m.Answer = append(m.Answer, &dns.TXT{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
				Txt: []string{v},
			})
		}
	}
	if o := req.IsEdns0(); o != nil {
		m.SetEdns0(o.UDPSize(), false)
	}
	w.WriteMsg(m)
}

// startDNS runs the zone on a loopback UDP and TCP port pair and returns
// its address.
func startDNS(t *testing.T) (*txtZone, string) {
	t.Helper()
	z := &txtZone{txt: map[string][]string{}}
	var pc net.PacketConn
	var ln net.Listener
	for range 20 {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
		pc, ln = nil, nil
	}
	if pc == nil {
		t.Fatal("no free UDP+TCP port pair")
	}
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: z}, {Listener: ln, Handler: z}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go s.ActivateAndServe()
		<-started
		t.Cleanup(func() { s.Shutdown() })
	}
	return z, pc.LocalAddr().String()
}

type enterpriseRegistration struct {
	EnterpriseID string `json:"enterpriseId"`
	ManagedDID   string `json:"managedDid"`
	DNSChallenge struct {
		RecordName  string    `json:"recordName"`
		RecordValue string    `json:"recordValue"`
		ExpiresAt   time.Time `json:"expiresAt"`
	} `json:"dnsChallenge"`
	APIKey   string `json:"apiKey"`
	APIKeyID string `json:"apiKeyId"`
	Status   string `json:"status"`
}

func (tg *testGateway) registerEnterprise(tok string, body map[string]any) enterpriseRegistration {
	tg.t.Helper()
	r := tg.do("POST", "/api/v1/enterprises/register", body, bearer(tok)...)
	if r.status != http.StatusCreated {
		tg.t.Fatalf("enterprise register: %d %s", r.status, r.body)
	}
	var out enterpriseRegistration
	if err := json.Unmarshal(r.body, &out); err != nil {
		tg.t.Fatal(err)
	}
	return out
}

func enterpriseConfig(t *testing.T) (*txtZone, *testGateway) {
	z, addr := startDNS(t)
	cfg := testConfig(t)
	cfg.Enterprise.DNSServer = addr
	cfg.Enterprise.DNSTimeout = 2 * time.Second
	return z, startGateway(t, cfg)
}

func acme() map[string]any {
	return map[string]any{"organizationName": "Acme University", "parentDomain": "Acme-University.edu.",
		"contactEmail": "it@acme-university.edu", "enterpriseTier": "pro"}
}

func TestEnterpriseRegistrationAndDNSVerification(t *testing.T) {
	z, tg := enterpriseConfig(t)
	owner := tg.register("owner@example.com")
	reg := tg.registerEnterprise(owner.AccessToken, acme())

	if reg.EnterpriseID == "" || !strings.HasPrefix(reg.ManagedDID, "did:hedera:") || reg.Status != "pending_verification" ||
		!strings.HasPrefix(reg.APIKey, "gwk_") || reg.APIKeyID == "" {
		t.Fatalf("registration %+v", reg)
	}
	if reg.DNSChallenge.RecordName != "_gatewayd-challenge.acme-university.edu" ||
		!strings.HasPrefix(reg.DNSChallenge.RecordValue, "gatewayd-verification=") ||
		reg.DNSChallenge.ExpiresAt.Before(time.Now().Add(71*time.Hour)) {
		t.Fatalf("challenge %+v", reg.DNSChallenge)
	}
	// The managed DID resolves.
	if r := tg.do("GET", "/api/v1/identity/did/"+reg.ManagedDID, nil); r.status != 200 {
		t.Fatalf("managed DID: %d %s", r.status, r.body)
	}
	base := "/api/v1/enterprises/" + reg.EnterpriseID
	get := func(headers ...string) map[string]any {
		t.Helper()
		r := tg.do("GET", base, nil, headers...)
		if r.status != 200 {
			t.Fatalf("get enterprise: %d %s", r.status, r.body)
		}
		return r.json(t)
	}
	m := get(bearer(owner.AccessToken)...)
	if m["status"] != "pending_verification" || m["canIssue"] != false || m["parentDomain"] != "acme-university.edu" ||
		m["ownerUserId"] != owner.UserID || m["managedDid"] != reg.ManagedDID || m["monthlyLimit"] != float64(10000) {
		t.Fatalf("pending enterprise %v", m)
	}
	if st, _ := tg.g.Store.Enterprises().Get(t.Context(), reg.EnterpriseID); st == nil || st.OwnerUserID != owner.UserID {
		t.Fatalf("stored enterprise %+v", st)
	}

	verify := func() map[string]any {
		t.Helper()
		r := tg.do("POST", base+"/dns-verification/verify", nil, bearer(owner.AccessToken)...)
		if r.status != 200 {
			t.Fatalf("verify: %d %s", r.status, r.body)
		}
		return r.json(t)
	}
	// Before the record exists.
	if v := verify(); v["verified"] != false || v["status"] != "pending_verification" || len(v["found"].([]any)) != 0 {
		t.Fatalf("verify without record: %v", v)
	}
	// A wrong value is reported.
	z.set(reg.DNSChallenge.RecordName, "gatewayd-verification=WRONG")
	if v := verify(); v["verified"] != false || !slices.Equal(anyStrings(v["found"]), []string{"gatewayd-verification=WRONG"}) {
		t.Fatalf("verify with a wrong record: %v", v)
	}
	if m := get(bearer(owner.AccessToken)...); m["canIssue"] != false {
		t.Fatalf("unverified enterprise can issue: %v", m)
	}
	// Re-initiating replaces the challenge: the old value no longer verifies.
	r := tg.do("POST", base+"/dns-verification/initiate", nil, bearer(owner.AccessToken)...)
	if r.status != 200 {
		t.Fatalf("initiate: %d %s", r.status, r.body)
	}
	var ini struct {
		DNSChallenge struct{ RecordName, RecordValue string } `json:"dnsChallenge"`
	}
	json.Unmarshal(r.body, &ini)
	if ini.DNSChallenge.RecordName != reg.DNSChallenge.RecordName || ini.DNSChallenge.RecordValue == reg.DNSChallenge.RecordValue ||
		!strings.HasPrefix(ini.DNSChallenge.RecordValue, "gatewayd-verification=") {
		t.Fatalf("initiate %s", r.body)
	}
	z.set(reg.DNSChallenge.RecordName, reg.DNSChallenge.RecordValue)
	if v := verify(); v["verified"] != false {
		t.Fatalf("superseded challenge verified: %v", v)
	}
	// The published record verifies (among other TXT values).
	z.set(reg.DNSChallenge.RecordName, "v=spf1 -all", ini.DNSChallenge.RecordValue)
	if v := verify(); v["verified"] != true || v["status"] != "active" {
		t.Fatalf("verify: %v", v)
	}
	m = get(bearer(owner.AccessToken)...)
	if m["status"] != "active" || m["canIssue"] != true || m["verifiedAt"] == nil {
		t.Fatalf("active enterprise %v", m)
	}
	// Idempotent once active; nothing left to initiate.
	if v := verify(); v["verified"] != true || v["status"] != "active" {
		t.Fatalf("verify again: %v", v)
	}
	wantError(t, tg.do("POST", base+"/dns-verification/initiate", nil, bearer(owner.AccessToken)...), 409, "ALREADY_VERIFIED")

	// The registration's API key authenticates as the enterprise.
	r = tg.do("GET", "/api/v1/auth/whoami", nil, "X-API-Key", reg.APIKey)
	if r.status != 200 {
		t.Fatalf("whoami with the registration key: %d %s", r.status, r.body)
	}
	who := r.json(t)
	if who["authMethod"] != "api_key" || who["tenant"] != reg.EnterpriseID ||
		!slices.Equal(anyStrings(who["permissions"]), []string{"issue_credentials", "revoke_credentials", "query_recipients"}) {
		t.Fatalf("whoami %v", who)
	}
	// It may read its enterprise, and nothing it does not own or manage.
	if m := get("X-API-Key", reg.APIKey); m["canIssue"] != true {
		t.Fatalf("enterprise via its key %v", m)
	}
	wantError(t, tg.do("GET", base+"/api-keys", nil, "X-API-Key", reg.APIKey), 403, "FORBIDDEN")
	wantError(t, tg.do("POST", "/api/v1/enterprises/register", acme(), "X-API-Key", reg.APIKey), 403, "FORBIDDEN")
	wantError(t, tg.do("GET", "/api/v1/enterprises/someone-else", nil, "X-API-Key", reg.APIKey), 403, "FORBIDDEN")

	// An admin may read and manage it.
	admin := tg.adminToken()
	get(bearer(admin)...)
	if r := tg.do("GET", base+"/api-keys", nil, bearer(admin)...); r.status != 200 {
		t.Fatalf("admin list keys: %d %s", r.status, r.body)
	}

	// Duplicate domain, in another spelling, by another user.
	other := tg.register("other@example.com")
	dup := acme()
	dup["parentDomain"] = "ACME-UNIVERSITY.EDU"
	wantError(t, tg.do("POST", "/api/v1/enterprises/register", dup, bearer(other.AccessToken)...), 409, "CONFLICT")
	wantError(t, tg.do("POST", "/api/v1/enterprises/register", acme(), bearer(owner.AccessToken)...), 409, "CONFLICT")
}

func anyStrings(v any) []string {
	var out []string
	a, _ := v.([]any)
	for _, x := range a {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func TestEnterpriseAPIKeys(t *testing.T) {
	_, tg := enterpriseConfig(t)
	owner := tg.register("owner@example.com")
	body := acme()
	body["enterpriseTier"] = "enterprise"
	reg := tg.registerEnterprise(owner.AccessToken, body)
	keys := "/api/v1/enterprises/" + reg.EnterpriseID + "/api-keys"
	auth := bearer(owner.AccessToken)

	// Use the first key once so that it has a lastUsedAt.
	if r := tg.do("GET", "/api/v1/auth/whoami", nil, bearer(reg.APIKey)...); r.status != 200 {
		t.Fatalf("whoami: %d %s", r.status, r.body)
	}

	exp := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	r := tg.do("POST", keys, map[string]any{"name": "ci", "permissions": []string{"issue_credentials", "query_recipients"},
		"expiresAt": exp.Format(time.RFC3339)}, auth...)
	if r.status != 201 {
		t.Fatalf("create key: %d %s", r.status, r.body)
	}
	created := r.json(t)
	secret, _ := created["apiKey"].(string)
	if !strings.HasPrefix(secret, "gwk_") || created["name"] != "ci" || created["monthlyLimit"] != float64(100000) ||
		created["expiresAt"] != exp.Format(time.RFC3339) || created["revokedAt"] != nil {
		t.Fatalf("created %v", created)
	}
	r = tg.do("GET", "/api/v1/auth/whoami", nil, "X-API-Key", secret)
	if r.status != 200 {
		t.Fatalf("whoami new key: %d %s", r.status, r.body)
	}
	if who := r.json(t); who["tenant"] != reg.EnterpriseID ||
		!slices.Equal(anyStrings(who["permissions"]), []string{"issue_credentials", "query_recipients"}) {
		t.Fatalf("whoami new key %v", who)
	}
	// Without expiry, one permission.
	r = tg.do("POST", keys, map[string]any{"name": "revoker", "permissions": []string{"revoke_credentials"}}, auth...)
	if r.status != 201 || r.json(t)["expiresAt"] != nil {
		t.Fatalf("create key without expiry: %d %s", r.status, r.body)
	}

	// List: metadata only, never a secret or its hash.
	var list struct {
		APIKeys []map[string]any `json:"apiKeys"`
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		r = tg.do("GET", keys, nil, auth...)
		if r.status != 200 {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		list.APIKeys = nil
		json.Unmarshal(r.body, &list)
		if len(list.APIKeys) == 3 && list.APIKeys[0]["lastUsedAt"] != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(list.APIKeys) != 3 {
		t.Fatalf("list %s", r.body)
	}
	for _, s := range []string{secret, reg.APIKey, "secretHash", "SecretHash", `"apiKey"`} {
		if strings.Contains(string(r.body), s) {
			t.Fatalf("list leaks %q: %s", s, r.body)
		}
	}
	first := list.APIKeys[0]
	if first["id"] != reg.APIKeyID || first["name"] != "default" || first["lastUsedAt"] == nil || first["createdAt"] == nil ||
		first["revokedAt"] != nil || first["prefix"] != keyPrefix(t, reg.APIKey) {
		t.Fatalf("first key %v", first)
	}
	if list.APIKeys[1]["id"] != created["id"] || list.APIKeys[1]["prefix"] != created["prefix"] {
		t.Fatalf("second key %v, created %v", list.APIKeys[1], created)
	}

	// Revoke: effective at once.
	r = tg.do("DELETE", keys+"/"+created["id"].(string), nil, auth...)
	if r.status != 204 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	wantError(t, tg.do("GET", "/api/v1/auth/whoami", nil, "X-API-Key", secret), 401, "UNAUTHORIZED")
	wantError(t, tg.do("GET", "/api/v1/enterprises/"+reg.EnterpriseID, nil, bearer(secret)...), 401, "UNAUTHORIZED")
	if r := tg.do("GET", "/api/v1/auth/whoami", nil, "X-API-Key", reg.APIKey); r.status != 200 {
		t.Fatalf("other key after a revocation: %d", r.status)
	}
	r = tg.do("GET", keys, nil, auth...)
	json.Unmarshal(r.body, &list)
	if list.APIKeys[1]["revokedAt"] == nil || list.APIKeys[0]["revokedAt"] != nil {
		t.Fatalf("after revoke %s", r.body)
	}
	wantError(t, tg.do("DELETE", keys+"/no-such-key", nil, auth...), 404, "NOT_FOUND")
	// Revoking again is harmless.
	if r := tg.do("DELETE", keys+"/"+created["id"].(string), nil, auth...); r.status != 204 {
		t.Fatalf("revoke again: %d", r.status)
	}

	// Invalid key requests.
	for _, b := range []string{
		`{"name":"","permissions":["issue_credentials"]}`,
		`{"name":"x","permissions":[]}`,
		`{"name":"x"}`,
		`{"name":"x","permissions":["admin"]}`,
		`{"name":"x","permissions":["issue_credentials","issue_credentials"]}`,
		`{"name":"x","permissions":"issue_credentials"}`,
		`{"name":7,"permissions":["issue_credentials"]}`,
		`{"name":"x","permissions":["issue_credentials"],"expiresAt":"tomorrow"}`,
		`{"name":"x","permissions":["issue_credentials"],"expiresAt":"2001-01-01T00:00:00Z"}`,
		`{"name":"x","permissions":["issue_credentials"],"monthlyLimit":5}`,
		`{"name":"` + strings.Repeat("n", 101) + `","permissions":["issue_credentials"]}`,
		`{"name":"a\u0000b","permissions":["issue_credentials"]}`,
		`[]`,
	} {
		wantError(t, tg.do("POST", keys, b, auth...), 400, "VALIDATION_ERROR")
	}
	wantError(t, tg.do("POST", keys, `{"name":"x","permissions":["issue_credentials"]}`), 401, "UNAUTHORIZED")
}

func keyPrefix(t *testing.T, key string) string {
	p, err := auth.ParseAPIKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEnterpriseOwnerOnly(t *testing.T) {
	_, tg := enterpriseConfig(t)
	owner := tg.register("owner@example.com")
	other := tg.register("other@example.com")
	reg := tg.registerEnterprise(owner.AccessToken, acme())
	otherReg := tg.registerEnterprise(other.AccessToken, map[string]any{"organizationName": "Other Org",
		"parentDomain": "other-org.com", "contactEmail": "a@other-org.com", "enterpriseTier": "pro"})
	base := "/api/v1/enterprises/" + reg.EnterpriseID
	keyBody := map[string]any{"name": "x", "permissions": []string{"issue_credentials"}}
	routes := []struct {
		method, path string
		body         any
	}{
		{"GET", base, nil},
		{"POST", base + "/dns-verification/initiate", nil},
		{"POST", base + "/dns-verification/verify", nil},
		{"GET", base + "/api-keys", nil},
		{"POST", base + "/api-keys", keyBody},
		{"DELETE", base + "/api-keys/" + reg.APIKeyID, nil},
	}
	for _, rt := range routes {
		wantError(t, tg.do(rt.method, rt.path, rt.body, bearer(other.AccessToken)...), 403, "FORBIDDEN")
		// Another enterprise's API key.
		wantError(t, tg.do(rt.method, rt.path, rt.body, "X-API-Key", otherReg.APIKey), 403, "FORBIDDEN")
		wantError(t, tg.do(rt.method, rt.path, rt.body), 401, "UNAUTHORIZED")
		unknown := strings.Replace(rt.path, reg.EnterpriseID, "00000000-0000-0000-0000-000000000000", 1)
		wantError(t, tg.do(rt.method, unknown, rt.body, bearer(owner.AccessToken)...), 404, "NOT_FOUND")
	}
	// Another owner's key ID under one's own enterprise is not found.
	wantError(t, tg.do("DELETE", "/api/v1/enterprises/"+otherReg.EnterpriseID+"/api-keys/"+reg.APIKeyID, nil,
		bearer(other.AccessToken)...), 404, "NOT_FOUND")
	// Nothing changed: the owner's key still works, the enterprise is pending.
	if r := tg.do("GET", "/api/v1/auth/whoami", nil, "X-API-Key", reg.APIKey); r.status != 200 {
		t.Fatalf("owner key after others' attempts: %d", r.status)
	}
	r := tg.do("GET", base+"/api-keys", nil, bearer(owner.AccessToken)...)
	if r.status != 200 || strings.Count(string(r.body), `"id"`) != 1 {
		t.Fatalf("keys after others' attempts: %s", r.body)
	}
}

func TestEnterpriseRegisterBadInput(t *testing.T) {
	_, tg := enterpriseConfig(t)
	owner := tg.register("owner@example.com")
	auth := bearer(owner.AccessToken)
	good := `"organizationName":"Acme","contactEmail":"it@acme.com","enterpriseTier":"pro"`
	for _, b := range []string{
		`{` + good + `}`, // no domain
		`{"parentDomain":"acme.com","contactEmail":"it@acme.com","enterpriseTier":"pro"}`,
		`{"organizationName":"Acme","parentDomain":"acme.com","enterpriseTier":"pro"}`,
		`{"organizationName":"Acme","parentDomain":"acme.com","contactEmail":"it@acme.com"}`,
		`{` + good + `,"parentDomain":"localhost"}`,
		`{` + good + `,"parentDomain":"acme.test"}`,
		`{` + good + `,"parentDomain":"192.168.1.1"}`,
		`{` + good + `,"parentDomain":"ac me.com"}`,
		`{` + good + `,"parentDomain":"https://acme.com/"}`,
		`{` + good + `,"parentDomain":"` + strings.Repeat("a", 64) + `.com"}`,
		`{"organizationName":"Acme","parentDomain":"acme.com","contactEmail":"not-an-email","enterpriseTier":"pro"}`,
		`{"organizationName":"Acme","parentDomain":"acme.com","contactEmail":"it@acme.com","enterpriseTier":"gold"}`,
		`{"organizationName":"Acme","parentDomain":"acme.com","contactEmail":"it@acme.com","enterpriseTier":"Pro"}`,
		`{"organizationName":"   ","parentDomain":"acme.com","contactEmail":"it@acme.com","enterpriseTier":"pro"}`,
		`{"organizationName":"` + strings.Repeat("o", 201) + `","parentDomain":"acme.com","contactEmail":"it@acme.com","enterpriseTier":"pro"}`,
		`{"organizationName":5,"parentDomain":"acme.com","contactEmail":"it@acme.com","enterpriseTier":"pro"}`,
		`{"organizationName":"Acme","parentDomain":["acme.com"],"contactEmail":"it@acme.com","enterpriseTier":"pro"}`,
		`{` + good + `,"parentDomain":"acme.com","status":"active"}`,
		`{` + good + `,"parentDomain":"acme.com"} {}`,
		`{` + good + `,"parentDomain":"acme.com"`,
		`null`,
	} {
		wantError(t, tg.do("POST", "/api/v1/enterprises/register", b, auth...), 400, "VALIDATION_ERROR")
	}
	ok := `{` + good + `,"parentDomain":"acme.com"}`
	wantError(t, tg.do("POST", "/api/v1/enterprises/register", ok), 401, "UNAUTHORIZED")
	wantError(t, tg.do("POST", "/api/v1/enterprises/register", ok, append(auth, "Content-Type", "text/plain")...), 415, "UNSUPPORTED_MEDIA_TYPE")
	wantError(t, tg.oversized("POST", "/api/v1/enterprises/register", auth...), 413, "PAYLOAD_TOO_LARGE")
	// Nothing was registered: the domain is still free.
	reg := tg.registerEnterprise(owner.AccessToken, map[string]any{"organizationName": "Acme", "parentDomain": "acme.com",
		"contactEmail": "it@acme.com", "enterpriseTier": "pro"})
	if reg.Status != "pending_verification" {
		t.Fatalf("%+v", reg)
	}
}

// A registration that cannot complete (here: the ledger is gone) is undone:
// the domain stays free and no enterprise is left behind.
func TestEnterpriseRegistrationUndoneOnFailure(t *testing.T) {
	_, tg := enterpriseConfig(t)
	owner := tg.register("owner@example.com")
	if err := tg.g.Ledger.Close(); err != nil {
		t.Fatal(err)
	}
	r := tg.do("POST", "/api/v1/enterprises/register", acme(), bearer(owner.AccessToken)...)
	if r.status < 500 {
		t.Fatalf("register without a ledger: %d %s", r.status, r.body)
	}
	if strings.Contains(string(r.body), "gwk_") {
		t.Fatalf("failed registration leaks a key: %s", r.body)
	}
	e := &store.Enterprise{ID: "probe", OrganizationName: "Probe", ParentDomain: "acme-university.edu",
		ContactEmail: "a@acme-university.edu", Tier: "pro", Status: "pending_verification"}
	if err := tg.g.Store.Enterprises().Create(t.Context(), e); err != nil {
		t.Fatalf("domain still claimed after a failed registration: %v", err)
	}
}
