package gateway_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ubeu/gateway/host/did"
	"github.com/ubeu/gateway/host/did/didkey"
	"github.com/ubeu/gateway/host/vc/dataintegrity"
	"github.com/ubeu/gateway/host/vc/openbadges"
	"github.com/ubeu/gateway/interop"
)

// issuer is a verified enterprise with its API key, ready to issue.
type issuer struct {
	reg   enterpriseRegistration
	key   []string // X-API-Key header
	owner session
}

// verifiedIssuer registers an enterprise and proves its domain through the
// loopback DNS server.
func verifiedIssuer(t *testing.T, tg *testGateway, z *txtZone, email string, body map[string]any) issuer {
	t.Helper()
	owner := tg.register(email)
	reg := tg.registerEnterprise(owner.AccessToken, body)
	z.set(reg.DNSChallenge.RecordName, reg.DNSChallenge.RecordValue)
	r := tg.do("POST", "/api/v1/enterprises/"+reg.EnterpriseID+"/dns-verification/verify", nil, bearer(owner.AccessToken)...)
	if r.status != 200 || r.json(t)["verified"] != true {
		t.Fatalf("DNS verification: %d %s", r.status, r.body)
	}
	return issuer{reg: reg, key: []string{"X-API-Key", reg.APIKey}, owner: owner}
}

func primaryDID(t *testing.T, tg *testGateway, s session) string {
	t.Helper()
	r := tg.do("GET", "/api/v1/identity/dids", nil, bearer(s.AccessToken)...)
	if r.status != 200 {
		t.Fatalf("dids: %d %s", r.status, r.body)
	}
	var id struct {
		DIDs []struct {
			DID string `json:"did"`
		} `json:"dids"`
	}
	if err := json.Unmarshal(r.body, &id); err != nil || len(id.DIDs) == 0 {
		t.Fatalf("dids: %s", r.body)
	}
	return id.DIDs[0].DID
}

type issued struct {
	CredentialID  string          `json:"credentialId"`
	Status        string          `json:"status"`
	TransactionID string          `json:"transactionId"`
	Format        string          `json:"format"`
	Credential    json.RawMessage `json:"credential"`
}

func (tg *testGateway) issue(t *testing.T, key []string, body any, headers ...string) (resp, issued) {
	t.Helper()
	r := tg.do("POST", "/api/v1/credentials/issue", body, append(key, headers...)...)
	var out issued
	if r.status == 201 || r.status == 200 {
		if err := json.Unmarshal(r.body, &out); err != nil {
			t.Fatal(err)
		}
	}
	return r, out
}

type verification struct {
	Verified bool `json:"verified"`
	Checks   []struct {
		Check   string `json:"check"`
		Status  string `json:"status"`
		Message string `json:"message"`
	} `json:"checks"`
	Errors []string `json:"errors"`
}

func (v verification) status(check string) string {
	for _, c := range v.Checks {
		if c.Check == check {
			return c.Status
		}
	}
	return ""
}

func (tg *testGateway) verify(t *testing.T, cred json.RawMessage) verification {
	t.Helper()
	r := tg.do("POST", "/api/v1/credentials/verify", map[string]any{"verifiableCredential": cred})
	if r.status != 200 {
		t.Fatalf("verify: %d %s", r.status, r.body)
	}
	var v verification
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func credentialsConfig(t *testing.T) (*txtZone, *testGateway) {
	z, addr := startDNS(t)
	cfg := testConfig(t)
	cfg.Enterprise.DNSServer = addr
	cfg.Enterprise.DNSTimeout = 2 * time.Second
	cfg.HTTP.MaxBodyBytes = 4 << 20
	cfg.Credentials.BulkMax = 50
	cfg.Enterprise.Tiers.Pro.MonthlyCredentials = 60
	return z, startGateway(t, cfg)
}

func TestCredentialLifecycle(t *testing.T) {
	z, tg := credentialsConfig(t)
	holder := tg.register("learner@example.com")
	holderDID := primaryDID(t, tg, holder)

	// An enterprise that has not proved its domain cannot issue.
	pendingOwner := tg.register("pending@example.com")
	pending := tg.registerEnterprise(pendingOwner.AccessToken, map[string]any{"organizationName": "Pending Inc",
		"parentDomain": "pending-inc.com", "contactEmail": "it@pending-inc.com", "enterpriseTier": "pro"})
	r, _ := tg.issue(t, []string{"X-API-Key", pending.APIKey}, map[string]any{"subjectDid": holderDID, "credentialType": "x", "claims": map[string]any{}})
	wantError(t, r, http.StatusForbidden, "FORBIDDEN")

	iss := verifiedIssuer(t, tg, z, "registrar@example.com", acme())
	short := map[string]any{"issuerId": iss.reg.EnterpriseID, "subjectDid": holderDID, "credentialType": "educational_degree",
		"claims":         map[string]any{"degree": "Bachelor of Science", "institution": "Acme University", "graduationDate": "2023-05-15"},
		"deliveryMethod": "wallet"}
	r, rdfc := tg.issue(t, iss.key, short)
	if r.status != 201 || rdfc.Status != "issued" || !strings.HasPrefix(rdfc.CredentialID, "urn:uuid:") || rdfc.Format != "ldp_vc" || rdfc.TransactionID == "" {
		t.Fatalf("issue: %d %s", r.status, r.body)
	}
	var vc map[string]any
	json.Unmarshal(rdfc.Credential, &vc)
	proof, _ := vc["proof"].(map[string]any)
	if vc["issuer"] != iss.reg.ManagedDID || proof["cryptosuite"] != "eddsa-rdfc-2022" || proof["verificationMethod"] != iss.reg.ManagedDID+"#did-root-key" {
		t.Fatalf("credential %s", rdfc.Credential)
	}
	if types := anyStrings(vc["type"]); len(types) != 2 || types[1] != "EducationalDegreeCredential" {
		t.Fatalf("types %v", types)
	}
	sts, _ := vc["credentialStatus"].([]any)
	if len(sts) != 2 {
		t.Fatalf("credentialStatus %v", vc["credentialStatus"])
	}
	if v := tg.verify(t, rdfc.Credential); !v.Verified || v.status("proof") != "passed" || v.status("status.revocation") != "passed" || v.status("status.suspension") != "passed" {
		t.Fatalf("verify rdfc: %+v", v)
	}

	// The whole-credential form, with eddsa-jcs-2022 and vc+jwt.
	full := map[string]any{"credential": map[string]any{
		"@context":          []any{"https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"},
		"type":              []any{"VerifiableCredential", "ExampleDegreeCredential"},
		"credentialSubject": map[string]any{"id": holderDID, "degree": map[string]any{"type": "ExampleBachelorDegree", "name": "Bachelor of Arts"}},
		"validUntil":        "2099-01-01T00:00:00Z",
	}, "options": map[string]any{"cryptosuite": "eddsa-jcs-2022"}}
	r, jcs := tg.issue(t, iss.key, full)
	if r.status != 201 {
		t.Fatalf("issue jcs: %d %s", r.status, r.body)
	}
	full["options"] = map[string]any{"format": "vc+jwt"}
	full["credential"].(map[string]any)["validUntil"] = "2098-01-01T00:00:00Z"
	r, jwt := tg.issue(t, iss.key, full)
	if r.status != 201 || jwt.Format != "vc+jwt" || jwt.Credential[0] != '"' {
		t.Fatalf("issue jwt: %d %s", r.status, r.body)
	}
	for name, c := range map[string]json.RawMessage{"jcs": jcs.Credential, "jwt": jwt.Credential} {
		if v := tg.verify(t, c); !v.Verified || v.status("validUntil") != "passed" {
			t.Fatalf("verify %s: %+v", name, v)
		}
	}
	// An enveloped vc+jwt verifies the same (VCDM 2.0 § 4.13).
	var tok string
	json.Unmarshal(jwt.Credential, &tok)
	env, _ := json.Marshal(map[string]any{"@context": []any{"https://www.w3.org/ns/credentials/v2"}, "type": "EnvelopedVerifiableCredential", "id": "data:application/vc+jwt," + tok})
	if v := tg.verify(t, env); !v.Verified {
		t.Fatalf("enveloped: %+v", v)
	}

	// ES256: the first request adds a P-256 key to the issuer's DID
	// (<did>#key-p256, in assertionMethod); later ones reuse it.
	full["options"] = map[string]any{"format": "vc+jwt", "alg": "ES256"}
	var es [2]string
	for i := range es {
		full["credential"].(map[string]any)["validUntil"] = fmt.Sprintf("209%d-01-01T00:00:00Z", i)
		r, out := tg.issue(t, iss.key, full)
		if r.status != 201 || out.Format != "vc+jwt" {
			t.Fatalf("issue ES256: %d %s", r.status, r.body)
		}
		json.Unmarshal(out.Credential, &es[i])
		hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(es[i], ".")[0])
		var h struct{ Alg, Kid string }
		if json.Unmarshal(hdr, &h); h.Alg != "ES256" || h.Kid != iss.reg.ManagedDID+"#key-p256" {
			t.Fatalf("ES256 header %s", hdr)
		}
		if v := tg.verify(t, out.Credential); !v.Verified || v.status("proof") != "passed" {
			t.Fatalf("verify ES256: %+v", v)
		}
	}
	esDoc := tg.do("GET", "/1.0/identifiers/"+iss.reg.ManagedDID, nil, "Accept", "application/did+json")
	if n := strings.Count(string(esDoc.body), "#key-p256"); n != 2 { // the method and its assertionMethod reference
		t.Fatalf("issuer DID after two ES256 issues has %d mentions of #key-p256: %s", n, esDoc.body)
	}
	// A changed payload fails the ES256 signature.
	parts := strings.Split(es[0], ".")
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(mustB64(t, parts[1])), "Bachelor of Arts", "Doctor of Arts", 1)))
	forged, _ := json.Marshal(strings.Join(parts, "."))
	if v := tg.verify(t, forged); v.Verified || v.status("proof") != "failed" {
		t.Fatalf("forged ES256: %+v", v)
	}

	// A changed claim fails the proof; verification answers 200 with the check.
	tampered := strings.Replace(string(rdfc.Credential), "Bachelor of Science", "Doctor of Science", 1)
	if v := tg.verify(t, json.RawMessage(tampered)); v.Verified || v.status("proof") != "failed" {
		t.Fatalf("tampered: %+v", v)
	}

	// The issuer reads its record; another enterprise and users cannot.
	path := "/api/v1/credentials/" + strings.TrimPrefix(rdfc.CredentialID, "urn:uuid:")
	if r := tg.do("GET", path, nil, iss.key...); r.status != 200 || r.json(t)["state"] != "active" {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	other := verifiedIssuer(t, tg, z, "other-registrar@example.com", map[string]any{"organizationName": "Other College",
		"parentDomain": "other-college.edu", "contactEmail": "it@other-college.edu", "enterpriseTier": "enterprise"})
	wantError(t, tg.do("GET", path, nil, other.key...), http.StatusNotFound, "NOT_FOUND")
	wantError(t, tg.do("POST", path+"/revoke", nil, other.key...), http.StatusNotFound, "NOT_FOUND")
	wantError(t, tg.do("GET", path, nil, bearer(holder.AccessToken)...), http.StatusForbidden, "FORBIDDEN")
	wantError(t, tg.do("GET", "/api/v1/credentials/not-a-credential", nil, iss.key...), http.StatusNotFound, "NOT_FOUND")

	// A key without revoke_credentials cannot revoke.
	kr := tg.do("POST", "/api/v1/enterprises/"+iss.reg.EnterpriseID+"/api-keys", map[string]any{"name": "issuer-only", "permissions": []string{"issue_credentials"}}, bearer(iss.owner.AccessToken)...)
	if kr.status != 201 {
		t.Fatalf("create key: %d %s", kr.status, kr.body)
	}
	issueOnly := []string{"X-API-Key", kr.json(t)["apiKey"].(string)}
	wantError(t, tg.do("POST", path+"/revoke", nil, issueOnly...), http.StatusForbidden, "FORBIDDEN")

	// Suspend, unsuspend, revoke: each seen at once by verification.
	step := func(action, state, failing string) {
		t.Helper()
		r := tg.do("POST", path+"/"+action, map[string]any{"reason": "test"}, iss.key...)
		if r.status != 200 || r.json(t)["state"] != state {
			t.Fatalf("%s: %d %s", action, r.status, r.body)
		}
		v := tg.verify(t, rdfc.Credential)
		if (failing == "") != v.Verified || (failing != "" && v.status(failing) != "failed") {
			t.Fatalf("after %s: %+v", action, v)
		}
	}
	step("suspend", "suspended", "status.suspension")
	step("unsuspend", "active", "")
	step("revoke", "revoked", "status.revocation")
	wantError(t, tg.do("POST", path+"/unsuspend", nil, iss.key...), http.StatusConflict, "CONFLICT")

	// The status list: signed, cached by ETag.
	entry := sts[0].(map[string]any)
	lu, _ := url.Parse(entry["statusListCredential"].(string))
	lr := tg.do("GET", lu.Path, nil)
	if lr.status != 200 || lr.header.Get("ETag") == "" || !strings.Contains(lr.header.Get("Cache-Control"), "max-age=") {
		t.Fatalf("status list: %d %v %s", lr.status, lr.header, lr.body)
	}
	if v := tg.verify(t, lr.body); !v.Verified {
		t.Fatalf("the status list credential does not verify: %+v", v)
	}
	if r := tg.do("GET", lu.Path, nil, "If-None-Match", lr.header.Get("ETag")); r.status != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", r.status)
	}
	wantError(t, tg.do("GET", "/status/x/nosuchlist", nil), http.StatusNotFound, "NOT_FOUND")

	// The holder's wallet.
	wr := tg.do("GET", "/api/v1/wallet/credentials", nil, bearer(holder.AccessToken)...)
	if wr.status != 200 || len(wr.json(t)["credentials"].([]any)) != 5 { // rdfc, jcs, EdDSA jwt, two ES256 jwt
		t.Fatalf("wallet: %d %s", wr.status, wr.body)
	}
	wpath := "/api/v1/wallet/credentials/" + strings.TrimPrefix(jcs.CredentialID, "urn:uuid:")
	if r := tg.do("GET", wpath, nil, bearer(iss.owner.AccessToken)...); r.status != 404 {
		t.Fatalf("someone else's wallet: %d", r.status)
	}
	if r := tg.do("GET", wpath, nil, bearer(holder.AccessToken)...); r.status != 200 {
		t.Fatalf("wallet get: %d %s", r.status, r.body)
	}
	if r := tg.do("DELETE", wpath, nil, bearer(holder.AccessToken)...); r.status != 204 {
		t.Fatalf("wallet delete: %d %s", r.status, r.body)
	}
	if r := tg.do("GET", wpath, nil, bearer(holder.AccessToken)...); r.status != 404 {
		t.Fatalf("deleted credential still in the wallet: %d", r.status)
	}
	if v := tg.verify(t, jcs.Credential); !v.Verified {
		t.Fatal("the holder's deletion broke verification")
	}

	// Independent implementation: Digital Bazaar's verifier checks the
	// credential and its status list, given the issuer's DID document as
	// this gateway resolves it.
	dir := interop.Require(t)
	dr := tg.do("GET", "/1.0/identifiers/"+iss.reg.ManagedDID, nil, "Accept", "application/did+ld+json")
	if dr.status != 200 {
		t.Fatalf("resolve issuer: %d %s", dr.status, dr.body)
	}
	var didDoc any
	json.Unmarshal(dr.body, &didDoc)
	// The documents the verifier may load: the issuer's DID and every
	// status list the credentials name, fetched over HTTP from the gateway.
	docs := map[string]any{iss.reg.ManagedDID: didDoc}
	for _, c := range []json.RawMessage{jcs.Credential, rdfc.Credential} {
		var m map[string]any
		json.Unmarshal(c, &m)
		for _, e := range m["credentialStatus"].([]any) {
			u := e.(map[string]any)["statusListCredential"].(string)
			pu, _ := url.Parse(u)
			r := tg.do("GET", pu.Path, nil)
			if r.status != 200 {
				t.Fatalf("status list %s: %d", u, r.status)
			}
			var list any
			json.Unmarshal(r.body, &list)
			docs[u] = list
		}
	}
	var jsRes interop.VerifyCredentialResult
	if err := interop.Run(t.Context(), dir, interop.NewVerifyCredential(jcs.Credential, docs), &jsRes); err != nil {
		t.Fatal(err)
	}
	if !jsRes.Verified {
		t.Fatalf("Digital Bazaar does not verify a gatewayd credential: %+v", jsRes)
	}
	var revoked interop.VerifyCredentialResult
	if err := interop.Run(t.Context(), dir, interop.NewVerifyCredential(rdfc.Credential, docs), &revoked); err != nil {
		t.Fatal(err)
	}
	if revoked.StatusResult == nil {
		t.Fatalf("no status checked by Digital Bazaar: %+v", revoked)
	}
	// Revoked: the reference verifier reads the revocation bit as set and
	// the suspension bit (lifted) as clear. (Its "verified" covers the
	// proof and the status check having run; the bits are the status.)
	raw, _ := json.Marshal(revoked.StatusResult)
	var sr struct {
		Results []struct {
			StatusPurpose string `json:"statusPurpose"`
			Status        bool   `json:"status"`
		} `json:"results"`
	}
	json.Unmarshal(raw, &sr)
	bits := map[string]bool{}
	for _, x := range sr.Results {
		bits[x.StatusPurpose] = x.Status
	}
	if len(bits) != 2 || !bits["revocation"] || bits["suspension"] {
		t.Fatalf("Digital Bazaar on the revoked credential: %s", raw)
	}
}

func TestCredentialIssueBadInputAndLimits(t *testing.T) {
	z, tg := credentialsConfig(t)
	iss := verifiedIssuer(t, tg, z, "registrar@example.com", acme())
	holder := tg.register("learner@example.com")
	did := primaryDID(t, tg, holder)
	good := map[string]any{"subjectDid": did, "credentialType": "certification", "claims": map[string]any{"skill": "Go"}}

	for name, c := range map[string]struct {
		body   any
		status int
		code   string
	}{
		"no subject":       {map[string]any{"credentialType": "x"}, 400, "VALIDATION_ERROR"},
		"subject not DID":  {map[string]any{"subjectDid": "alice", "credentialType": "x"}, 400, "VALIDATION_ERROR"},
		"bad type":         {map[string]any{"subjectDid": did, "credentialType": "1 bad"}, 400, "VALIDATION_ERROR"},
		"reserved claim":   {map[string]any{"subjectDid": did, "credentialType": "x", "claims": map[string]any{"@context": 1}}, 400, "VALIDATION_ERROR"},
		"both forms":       {map[string]any{"subjectDid": did, "credentialType": "x", "credential": map[string]any{}}, 400, "VALIDATION_ERROR"},
		"bad delivery":     {map[string]any{"subjectDid": did, "credentialType": "x", "deliveryMethod": "fax"}, 400, "VALIDATION_ERROR"},
		"other issuer":     {map[string]any{"issuerId": "someone-else", "subjectDid": did, "credentialType": "x"}, 403, "FORBIDDEN"},
		"no VC type":       {map[string]any{"credential": map[string]any{"@context": []any{"https://www.w3.org/ns/credentials/v2"}, "type": []any{"X"}, "credentialSubject": map[string]any{"id": did}}}, 422, "VALIDATION_ERROR"},
		"evidence untyped": {map[string]any{"credential": map[string]any{"@context": []any{"https://www.w3.org/ns/credentials/v2"}, "type": []any{"VerifiableCredential"}, "credentialSubject": map[string]any{"id": did}, "evidence": []any{map[string]any{"id": "https://x.example"}}}}, 422, "VALIDATION_ERROR"},
		"unknown term":     {map[string]any{"credential": map[string]any{"@context": []any{"https://www.w3.org/ns/credentials/v2"}, "type": []any{"VerifiableCredential"}, "credentialSubject": map[string]any{"id": did, "undefinedTerm": 1}}}, 422, "VALIDATION_ERROR"},
		"context fetched":  {map[string]any{"credential": map[string]any{"@context": []any{"https://www.w3.org/ns/credentials/v2", "https://evil.example/ctx"}, "type": []any{"VerifiableCredential"}, "credentialSubject": map[string]any{"id": did}}}, 422, "VALIDATION_ERROR"},
		"ES256 on ldp_vc":  {map[string]any{"subjectDid": did, "credentialType": "x", "options": map[string]any{"alg": "ES256"}}, 422, "VALIDATION_ERROR"},
		"RS256":            {map[string]any{"subjectDid": did, "credentialType": "x", "options": map[string]any{"format": "vc+jwt", "alg": "RS256"}}, 422, "VALIDATION_ERROR"},
		"bad suite":        {map[string]any{"subjectDid": did, "credentialType": "x", "options": map[string]any{"cryptosuite": "bbs-2023"}}, 422, "VALIDATION_ERROR"},
		"unknown option":   {map[string]any{"subjectDid": did, "credentialType": "x", "options": map[string]any{"proofType": "x"}}, 400, "VALIDATION_ERROR"},
	} {
		r, _ := tg.issue(t, iss.key, c.body)
		if r.status != c.status {
			t.Errorf("%s: %d %s", name, r.status, r.body)
			continue
		}
		wantError(t, r, c.status, c.code)
	}

	// Idempotency-Key: a retry answers the first credential; the same key
	// for another request is refused.
	r1, a := tg.issue(t, iss.key, good, "Idempotency-Key", "order-42")
	r2, b := tg.issue(t, iss.key, good, "Idempotency-Key", "order-42")
	if r1.status != 201 || r2.status != 200 || r2.header.Get("Idempotent-Replayed") != "true" || a.CredentialID != b.CredentialID {
		t.Fatalf("replay: %d %d %s %s", r1.status, r2.status, a.CredentialID, b.CredentialID)
	}
	other := map[string]any{"subjectDid": did, "credentialType": "other", "claims": map[string]any{}}
	r3, _ := tg.issue(t, iss.key, other, "Idempotency-Key", "order-42")
	wantError(t, r3, http.StatusUnprocessableEntity, "UNPROCESSABLE_ENTITY")

	// Bulk: bad items answered on their own, one anchor for the batch.
	items := make([]any, 30)
	for i := range items {
		items[i] = map[string]any{"subjectDid": did, "credentialType": "course_completion", "claims": map[string]any{"course": fmt.Sprintf("CS%d", i)}}
	}
	items[4] = map[string]any{"subjectDid": "nope", "credentialType": "x"}
	items[9] = map[string]any{"credential": map[string]any{"@context": []any{"https://www.w3.org/ns/credentials/v2"}, "type": []any{"VerifiableCredential"}}}
	br := tg.do("POST", "/api/v1/credentials/bulk-issue", map[string]any{"issuerId": iss.reg.EnterpriseID, "credentials": items, "options": map[string]any{"cryptosuite": "eddsa-jcs-2022"}}, iss.key...)
	if br.status != 200 {
		t.Fatalf("bulk: %d %s", br.status, br.body)
	}
	var bulk struct {
		Issued, Failed int
		TransactionID  string
		MerkleRoot     string
		Results        []struct {
			Index        int
			Status       string
			CredentialID string
			Credential   json.RawMessage
			Error        map[string]any
		}
	}
	json.Unmarshal(br.body, &bulk)
	if bulk.Issued != 28 || bulk.Failed != 2 || bulk.TransactionID == "" || bulk.MerkleRoot == "" || len(bulk.Results) != 30 {
		t.Fatalf("bulk: %s", br.body)
	}
	for i, res := range bulk.Results {
		switch {
		case i == 4 || i == 9:
			if res.Status != "failed" || res.Error["error"] == nil || res.Error["message"] == nil {
				t.Fatalf("item %d: %+v", i, res)
			}
		case res.Status != "issued" || res.Index != i:
			t.Fatalf("item %d: %+v", i, res)
		}
	}
	if v := tg.verify(t, bulk.Results[17].Credential); !v.Verified {
		t.Fatalf("bulk credential: %+v", v)
	}
	// One anchor for the batch: every record names the same transaction.
	rec := tg.do("GET", "/api/v1/credentials/"+strings.TrimPrefix(bulk.Results[3].CredentialID, "urn:uuid:"), nil, iss.key...).json(t)
	if a := rec["anchor"].(map[string]any); a["transactionId"] != bulk.TransactionID || a["root"] != bulk.MerkleRoot || a["count"] != float64(28) {
		t.Fatalf("anchor %v", rec["anchor"])
	}
	over := make([]any, 51)
	for i := range over {
		over[i] = items[0]
	}
	wantError(t, tg.do("POST", "/api/v1/credentials/bulk-issue", map[string]any{"credentials": over}, iss.key...), http.StatusUnprocessableEntity, "VALIDATION_ERROR")
	wantError(t, tg.do("POST", "/api/v1/credentials/bulk-issue", map[string]any{"credentials": []any{}}, iss.key...), http.StatusBadRequest, "VALIDATION_ERROR")

	// The monthly limit of the key (60 in this test): 1 + 28 used; a batch
	// of 50 would pass it, and takes nothing.
	fifty := make([]any, 50)
	for i := range fifty {
		fifty[i] = items[0]
	}
	m := wantError(t, tg.do("POST", "/api/v1/credentials/bulk-issue", map[string]any{"credentials": fifty}, iss.key...), http.StatusTooManyRequests, "LIMIT_EXCEEDED")
	if d := m["details"].(map[string]any); d["limit"] != "monthly_credentials" || d["used"] != float64(29) || d["max"] != float64(60) {
		t.Fatalf("limit details %v", d)
	}
	for range 31 {
		if r, _ := tg.issue(t, iss.key, good); r.status != 201 {
			t.Fatalf("issue within the limit: %d %s", r.status, r.body)
		}
	}
	r, _ := tg.issue(t, iss.key, good)
	wantError(t, r, http.StatusTooManyRequests, "LIMIT_EXCEEDED")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("LIMIT_EXCEEDED without Retry-After")
	}
	// Verification keeps serving.
	if v := tg.verify(t, bulk.Results[0].Credential); !v.Verified {
		t.Fatal("verification after the limit")
	}
	for _, bad := range []string{`{"verifiableCredential":null}`, `{"verifiableCredential":"ey.x.y"}`, `{"verifiableCredential":{"type":"x"}}`, `{"verifiableCredential":12}`} {
		r := tg.do("POST", "/api/v1/credentials/verify", bad)
		if r.status == 200 {
			var v verification
			json.Unmarshal(r.body, &v)
			if v.Verified {
				t.Fatalf("%s verified", bad)
			}
		} else if r.status != 400 {
			t.Fatalf("%s: %d %s", bad, r.status, r.body)
		}
	}
}

// TestCredentialSchema: a credentialSchema of type JsonSchema, fetched
// through the SSRF guard (loopback granted in this test), is enforced at
// issuance and checked again at verification.
func TestCredentialSchema(t *testing.T) {
	schemaDoc := `{"$schema":"https://json-schema.org/draft/2020-12/schema","$id":"SCHEMA_URL","type":"object",
	  "required":["credentialSubject"],
	  "properties":{"credentialSubject":{"type":"object","required":["skill"],"properties":{"skill":{"type":"string","minLength":2}}}}}`
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/schema+json")
		io.WriteString(w, strings.ReplaceAll(schemaDoc, "SCHEMA_URL", "http://"+r.Host+r.URL.Path))
	}))
	defer srv.Close()
	z, addr := startDNS(t)
	cfg := testConfig(t)
	cfg.Enterprise.DNSServer = addr
	cfg.Credentials.FetchAllowPrivate = true
	tg := startGateway(t, cfg)
	iss := verifiedIssuer(t, tg, z, "registrar@example.com", acme())
	holder := tg.register("learner@example.com")
	did := primaryDID(t, tg, holder)
	cred := func(skill any) map[string]any {
		return map[string]any{"credential": map[string]any{
			"@context":          []any{"https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/undefined-terms/v2"},
			"type":              []any{"VerifiableCredential", "SkillCredential"},
			"credentialSubject": map[string]any{"id": did, "skill": skill},
			"credentialSchema":  map[string]any{"id": srv.URL + "/skill.json", "type": "JsonSchema"},
		}}
	}
	r, ok := tg.issue(t, iss.key, cred("Go"))
	if r.status != 201 {
		t.Fatalf("valid against its schema: %d %s", r.status, r.body)
	}
	if v := tg.verify(t, ok.Credential); !v.Verified || v.status("schema") != "passed" {
		t.Fatalf("verify: %+v", v)
	}
	r, _ = tg.issue(t, iss.key, cred(7))
	m := wantError(t, r, http.StatusUnprocessableEntity, "VALIDATION_ERROR")
	if d := m["details"].(map[string]any); d["field"] != "credentialSchema" {
		t.Fatalf("details %v", d)
	}
	if hits.Load() != 1 {
		t.Fatalf("schema fetched %d times, want once (cached)", hits.Load())
	}
}

// TestVCAPI drives the W3C VC-API endpoints: issue, get, verify (200 when
// verified, 400 otherwise), presentations (a did:key holder's
// authentication proof with a challenge), and status updates.
func TestVCAPI(t *testing.T) {
	z, tg := credentialsConfig(t)
	iss := verifiedIssuer(t, tg, z, "registrar@example.com", acme())
	holderKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32))
	holder := didkey.Format(did.CodecEd25519Pub, holderKey.Public().(ed25519.PublicKey))
	unsigned := map[string]any{
		"@context":          []any{"https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"},
		"type":              []any{"VerifiableCredential", "ExampleAlumniCredential"},
		"credentialSubject": map[string]any{"id": holder, "alumniOf": "Acme University"},
	}
	r := tg.do("POST", "/credentials/issue", map[string]any{"credential": unsigned}, iss.key...)
	if r.status != 201 {
		t.Fatalf("issue: %d %s", r.status, r.body)
	}
	var out struct {
		VerifiableCredential map[string]any `json:"verifiableCredential"`
	}
	json.Unmarshal(r.body, &out)
	vc := out.VerifiableCredential
	id := vc["id"].(string)
	if g := tg.do("GET", "/credentials/"+url.PathEscape(id), nil, iss.key...); g.status != 200 || g.header.Get("Content-Type") != "application/vc+ld+json" {
		t.Fatalf("get: %d %s", g.status, g.header)
	}
	vr := tg.do("POST", "/credentials/verify", map[string]any{"verifiableCredential": vc})
	if vr.status != 200 || vr.json(t)["verified"] != true || !slices.Contains(anyStrings(vr.json(t)["checks"]), "proof") {
		t.Fatalf("verify: %d %s", vr.status, vr.body)
	}
	tampered := map[string]any{}
	for k, v := range vc {
		tampered[k] = v
	}
	tampered["credentialSubject"] = map[string]any{"id": holder, "alumniOf": "Evil University"}
	if r := tg.do("POST", "/credentials/verify", map[string]any{"verifiableCredential": tampered}); r.status != 400 || r.json(t)["verified"] != false {
		t.Fatalf("tampered: %d %s", r.status, r.body)
	}

	// The holder presents it, signing with its did:key for the verifier's
	// challenge.
	vp := map[string]any{"@context": []any{"https://www.w3.org/ns/credentials/v2"}, "type": []any{"VerifiablePresentation"},
		"holder": holder, "verifiableCredential": []any{vc}}
	signed, err := dataintegrity.Sign(t.Context(), vp, holderKey, dataintegrity.ProofOptions{Cryptosuite: dataintegrity.EdDSAJCS2022,
		VerificationMethod: holder + "#" + strings.TrimPrefix(holder, "did:key:"), ProofPurpose: "authentication", Challenge: "c-81", Domain: "verifier.example"})
	if err != nil {
		t.Fatal(err)
	}
	present := func(challenge string) resp {
		return tg.do("POST", "/presentations/verify", map[string]any{"verifiablePresentation": json.RawMessage(signed),
			"options": map[string]any{"challenge": challenge, "domain": "verifier.example"}})
	}
	if r := present("c-81"); r.status != 200 || r.json(t)["holder"] != holder {
		t.Fatalf("presentation: %d %s", r.status, r.body)
	}
	if r := present("c-82"); r.status != 400 {
		t.Fatalf("replayed presentation: %d %s", r.status, r.body)
	}

	// Status through the VC-API, seen by both verifiers.
	st := func(purpose string, status any) resp {
		return tg.do("POST", "/credentials/status", map[string]any{"credentialId": id,
			"credentialStatus": []any{map[string]any{"type": "BitstringStatusListEntry", "statusPurpose": purpose, "status": status}}}, iss.key...)
	}
	if r := st("suspension", true); r.status != 200 || r.json(t)["state"] != "suspended" {
		t.Fatalf("suspend: %d %s", r.status, r.body)
	}
	if r := present("c-81"); r.status != 400 {
		t.Fatalf("presentation of a suspended credential: %d %s", r.status, r.body)
	}
	if r := st("suspension", "0"); r.status != 200 || r.json(t)["state"] != "active" {
		t.Fatalf("unsuspend: %d %s", r.status, r.body)
	}
	if r := st("revocation", true); r.status != 200 || r.json(t)["state"] != "revoked" {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	wantError(t, st("revocation", false), http.StatusConflict, "CONFLICT")
	wantError(t, st("expiry", true), http.StatusBadRequest, "VALIDATION_ERROR")
	if r := tg.do("POST", "/credentials/verify", map[string]any{"verifiableCredential": vc}); r.status != 400 {
		t.Fatalf("revoked: %d %s", r.status, r.body)
	}
	wantError(t, tg.do("POST", "/credentials/status", map[string]any{"credentialId": "urn:uuid:00000000-0000-0000-0000-000000000000",
		"credentialStatus": []any{map[string]any{"statusPurpose": "revocation", "status": true}}}, iss.key...), http.StatusNotFound, "NOT_FOUND")
}

// TestOpenBadges: the design's badge request, the OB 3.0 schema, the
// share page, baked images, the backpack export and templates.
func TestOpenBadges(t *testing.T) {
	z, tg := credentialsConfig(t)
	iss := verifiedIssuer(t, tg, z, "registrar@example.com", acme())
	learner := tg.register("learner@example.com")
	did := primaryDID(t, tg, learner)
	req := map[string]any{
		"recipientDid": did,
		"achievement": map[string]any{"id": "urn:uuid:5f1e2a3c-7b44-4e2a-9d1c-0a8b6c4d2e10", "type": "Achievement",
			"name": "Course Completion Certificate", "description": "Successfully completed the Advanced JavaScript course",
			"criteria": map[string]any{"narrative": "Completed all modules and passed final assessment"},
			"tags":     []string{"education", "javascript", "certification"}},
		"issuerDid":      iss.reg.ManagedDID,
		"expirationDate": "2099-09-20T00:00:00Z",
		"evidence":       []any{map[string]any{"id": "https://university.edu/transcript/123", "narrative": "Official university transcript", "name": "Academic Transcript"}},
	}
	r := tg.do("POST", "/api/v1/badges/issue", req, iss.key...)
	if r.status != 201 {
		t.Fatalf("badge: %d %s", r.status, r.body)
	}
	var badge struct {
		BadgeID    string          `json:"badgeId"`
		Credential json.RawMessage `json:"credential"`
		ShareURL   string          `json:"shareUrl"`
	}
	json.Unmarshal(r.body, &badge)
	if err := openbadges.Validate(badge.Credential); err != nil {
		t.Fatalf("the issued badge fails the OB 3.0 schema: %v", err)
	}
	if v := tg.verify(t, badge.Credential); !v.Verified {
		t.Fatalf("badge verification: %+v", v)
	}
	id := strings.TrimPrefix(badge.BadgeID, "urn:uuid:")
	bv := tg.do("GET", "/api/v1/badges/"+id+"/verify", nil).json(t)
	if bv["verified"] != true || bv["issuer"] != "Acme University" || bv["issuedOn"] == nil {
		t.Fatalf("badge verify: %v", bv)
	}
	page := tg.do("GET", "/badges/"+id, nil)
	if page.status != 200 || !strings.HasPrefix(page.header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(page.body), "Course Completion Certificate") || !strings.Contains(string(page.body), "Verified") {
		t.Fatalf("share page: %d %s", page.status, page.body)
	}
	if j := tg.do("GET", "/badges/"+id, nil, "Accept", "application/json"); j.status != 200 || !bytes.Equal(j.body, badge.Credential) {
		t.Fatalf("share JSON: %d", j.status)
	}
	png := tg.do("GET", "/badges/"+id+"/badge.png", nil)
	if got, err := openbadges.UnbakePNG(png.body); err != nil || !bytes.Equal(got, badge.Credential) {
		t.Fatalf("baked PNG: %v", err)
	}
	wantError(t, tg.do("GET", "/badges/00000000-0000-0000-0000-000000000000", nil), http.StatusNotFound, "NOT_FOUND")

	// Export for the backpack: the recipient's session; someone else gets 404.
	other := tg.register("other@example.com")
	wantError(t, tg.do("POST", "/api/v1/backpack/export", map[string]any{"badgeId": badge.BadgeID}, bearer(other.AccessToken)...), http.StatusNotFound, "NOT_FOUND")
	er := tg.do("POST", "/api/v1/backpack/export", map[string]any{"badgeId": id, "backpackConfig": map[string]any{"provider": "open_badges"},
		"recipientEmail": "learner@example.com"}, bearer(learner.AccessToken)...)
	if er.status != 200 {
		t.Fatalf("export: %d %s", er.status, er.body)
	}
	var exp struct {
		JSON json.RawMessage `json:"json"`
		JWT  string          `json:"jwt"`
		PNG  []byte          `json:"png"`
		SVG  string          `json:"svg"`
	}
	json.Unmarshal(er.body, &exp)
	if got, err := openbadges.UnbakeSVG([]byte(exp.SVG)); err != nil || !jsonEqual(got, badge.Credential) {
		t.Fatalf("baked SVG: %v", err)
	}
	if got, err := openbadges.UnbakePNG(exp.PNG); err != nil || !bytes.Equal(got, badge.Credential) {
		t.Fatalf("exported PNG: %v", err)
	}
	jwtJSON, _ := json.Marshal(exp.JWT)
	if v := tg.verify(t, jwtJSON); !v.Verified {
		t.Fatalf("exported JWT: %+v", v)
	}

	// Templates.
	tr := tg.do("GET", "/api/v1/badges/templates/educational", nil).json(t)
	if ts, _ := tr["templates"].([]any); len(ts) != 3 {
		t.Fatalf("templates %v", tr)
	}
	r = tg.do("POST", "/api/v1/badges/issue", map[string]any{"recipientDid": did, "templateId": "skill-certification",
		"templateFields": map[string]any{"achievementId": "https://acme-university.edu/achievements/go", "subject": "Go programming"}}, iss.key...)
	if r.status != 201 {
		t.Fatalf("template badge: %d %s", r.status, r.body)
	}
	// Bad input: every problem named.
	bad := map[string]any{"recipientDid": "nobody", "achievement": map[string]any{"id": "not a uri", "name": ""}}
	m := wantError(t, tg.do("POST", "/api/v1/badges/issue", bad, iss.key...), http.StatusUnprocessableEntity, "VALIDATION_ERROR")
	if fs, _ := m["details"].(map[string]any)["fields"].([]any); len(fs) < 3 {
		t.Fatalf("field errors %v", m["details"])
	}
	wantError(t, tg.do("POST", "/api/v1/badges/issue", map[string]any{"recipientDid": did, "templateId": "nope", "templateFields": map[string]any{}}, iss.key...), http.StatusBadRequest, "VALIDATION_ERROR")
	wantError(t, tg.do("POST", "/api/v1/badges/issue", map[string]any{"recipientDid": did, "issuerDid": "did:example:other"}, iss.key...), http.StatusForbidden, "FORBIDDEN")

	// The reference implementation verifies the badge (eddsa-rdfc-2022 over
	// the OB 3.0 context) given the issuer's DID document and status lists.
	dir := interop.Require(t)
	docs := map[string]any{}
	dr := tg.do("GET", "/1.0/identifiers/"+iss.reg.ManagedDID, nil, "Accept", "application/did+ld+json")
	var didDoc any
	json.Unmarshal(dr.body, &didDoc)
	docs[iss.reg.ManagedDID] = didDoc
	var bm map[string]any
	json.Unmarshal(badge.Credential, &bm)
	if st, ok := bm["credentialStatus"].(map[string]any); !ok || st["statusPurpose"] != "revocation" {
		t.Fatalf("a badge carries one revocation entry: %v", bm["credentialStatus"])
	}
	for _, e := range []any{bm["credentialStatus"]} {
		u := e.(map[string]any)["statusListCredential"].(string)
		pu, _ := url.Parse(u)
		var list any
		json.Unmarshal(tg.do("GET", pu.Path, nil).body, &list)
		docs[u] = list
	}
	var res interop.VerifyCredentialResult
	if err := interop.Run(t.Context(), dir, interop.NewVerifyCredential(badge.Credential, docs), &res); err != nil {
		t.Fatal(err)
	}
	if !res.Verified {
		t.Fatalf("Digital Bazaar does not verify the badge: %+v", res)
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
