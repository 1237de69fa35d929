package gateway_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

type registered struct {
	session
	DID         string `json:"did"`
	DomainAlias string `json:"domainAlias"`
}

func (tg *testGateway) registerFull(body map[string]string) registered {
	tg.t.Helper()
	r := tg.do("POST", "/api/v1/users/register", body)
	if r.status != http.StatusCreated {
		tg.t.Fatalf("register: %d %s", r.status, r.body)
	}
	var out registered
	json.Unmarshal(r.body, &out)
	// The design's answer: userId, did, limits and the tokens; no
	// hederaAccount (users hold no ledger account: the treasury pays).
	var full struct {
		Limits        map[string]any `json:"limits"`
		HederaAccount *string        `json:"hederaAccount"`
	}
	json.Unmarshal(r.body, &full)
	if out.UserID == "" || out.DID == "" || out.AccessToken == "" || full.Limits["maxDidProfiles"] != float64(2) || full.HederaAccount != nil {
		tg.t.Fatalf("register answer: %s", r.body)
	}
	return out
}

func TestRegistrationCreatesAResolvableDID(t *testing.T) {
	tg := startGateway(t, testConfig(t))
	u := tg.registerFull(map[string]string{"email": "dee@example.com", "password": goodPassword, "domainAlias": "dee.iam"})
	if !strings.HasPrefix(u.DID, "did:hedera:local:z") || u.DomainAlias != "dee.iam" {
		t.Fatalf("registration answer: %+v", u)
	}

	// Universal Resolver shape, default representation.
	r := tg.do("GET", "/1.0/identifiers/"+u.DID, nil)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/did-resolution") {
		t.Fatalf("resolve: %d %s %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	var res struct {
		DIDDocument struct {
			ID          string   `json:"id"`
			AlsoKnownAs []string `json:"alsoKnownAs"`
		} `json:"didDocument"`
		Meta struct {
			ContentType string `json:"contentType"`
		} `json:"didResolutionMetadata"`
		DocMeta struct {
			Created   string `json:"created"`
			VersionID string `json:"versionId"`
		} `json:"didDocumentMetadata"`
	}
	if err := json.Unmarshal(r.body, &res); err != nil {
		t.Fatal(err)
	}
	if res.DIDDocument.ID != u.DID || res.DocMeta.Created == "" || res.DocMeta.VersionID == "" {
		t.Fatalf("resolution %s", r.body)
	}
	if len(res.DIDDocument.AlsoKnownAs) != 1 || !strings.Contains(res.DIDDocument.AlsoKnownAs[0], "dee.iam") {
		t.Fatalf("alsoKnownAs lacks the .iam name: %s", r.body)
	}
	// A second read comes from the edge cache.
	if r2 := tg.do("GET", "/1.0/identifiers/"+u.DID, nil); r2.header.Get("X-Cache") == "" {
		t.Fatalf("not served from the cache: %v", r2.header)
	}
	// Content negotiation.
	for accept, ct := range map[string]string{
		"application/did+json":    "application/did+json",
		"application/did+ld+json": "application/did+ld+json",
		`application/ld+json;profile="https://w3id.org/did-resolution"`: "application/ld+json",
	} {
		r := tg.do("GET", "/1.0/identifiers/"+u.DID, nil, "Accept", accept)
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), ct) {
			t.Errorf("Accept %s: %d %s", accept, r.status, r.header.Get("Content-Type"))
		}
	}
	if r := tg.do("GET", "/1.0/identifiers/"+u.DID, nil, "Accept", "text/html"); r.status != 406 {
		t.Fatalf("text/html: %d", r.status)
	}
	// The name resolves to the DID.
	r = tg.do("GET", "/1.0/identifiers/dee.iam", nil, "Accept", "application/did+json")
	if r.status != 200 || !strings.Contains(string(r.body), u.DID) {
		t.Fatalf("name resolution: %d %s", r.status, r.body)
	}
	// The design's document endpoint.
	r = tg.do("GET", "/api/v1/identity/did/"+u.DID, nil)
	if r.status != 200 || r.json(t)["id"] != u.DID {
		t.Fatalf("identity/did: %d %s", r.status, r.body)
	}
}

func TestResolutionErrors(t *testing.T) {
	tg := startGateway(t, testConfig(t))
	cases := map[string]int{
		"not-a-did":                   400,
		"did:example:123":             501,
		"did:hedera:local:zQ3s_0.0.1": 400,
		"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK": 200,
		"did:key:zBAD": 400,
		"nobody.iam":   404,
		// A well-formed DID of a topic that does not exist.
		"did:hedera:local:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK_0.0.999999": 404,
		// A network this gateway's ledger is not on.
		"did:hedera:mainnet:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK_0.0.5": 501,
	}
	for in, want := range cases {
		r := tg.do("GET", "/1.0/identifiers/"+url.PathEscape(in), nil)
		if r.status != want {
			t.Errorf("%s: %d, want %d: %s", in, r.status, want, r.body)
		}
		if want >= 400 {
			// An RFC 9457 problem with a type of the W3C DID namespace.
			var res struct {
				Meta struct {
					Error struct{ Type, Title, Detail, Code string }
				} `json:"didResolutionMetadata"`
			}
			if err := json.Unmarshal(r.body, &res); err != nil || !strings.HasPrefix(res.Meta.Error.Type, "https://www.w3.org/ns/did#") ||
				res.Meta.Error.Code == "" || res.Meta.Error.Title == "" {
				t.Errorf("%s: no problem details in the resolution metadata: %s (%v)", in, r.body, err)
			}
			// The detail is for the client: no internal error chain.
			if strings.Contains(res.Meta.Error.Detail, "ledger:") || strings.Contains(res.Meta.Error.Detail, "did: ") {
				t.Errorf("%s: internal error text in the detail %q", in, res.Meta.Error.Detail)
			}
		}
	}
	wantError(t, tg.do("GET", "/api/v1/identity/did/not-a-did", nil), 400, "VALIDATION_ERROR")
}

func TestDIDProfilesAndUpdates(t *testing.T) {
	tg := startGateway(t, testConfig(t))
	u := tg.registerFull(map[string]string{"email": "eve@example.com", "password": goodPassword})
	other := tg.registerFull(map[string]string{"email": "fay@example.com", "password": goodPassword})
	auth := bearer(u.AccessToken)

	r := tg.do("POST", "/api/v1/identity/dids", map[string]any{"profile": "professional",
		"services": []map[string]any{{"id": "#vcs", "type": "LinkedDomains", "serviceEndpoint": "https://eve.example.com"}}}, auth...)
	if r.status != 201 {
		t.Fatalf("create profile: %d %s", r.status, r.body)
	}
	second := r.json(t)["did"].(string)
	// Two profiles is the limit.
	m := wantError(t, tg.do("POST", "/api/v1/identity/dids", map[string]any{"profile": "third"}, auth...), 429, "LIMIT_EXCEEDED")
	if d, _ := m["details"].(map[string]any); d["limit"] == nil || d["used"] == nil {
		t.Fatalf("limit details %v", m["details"])
	}
	r = tg.do("GET", "/api/v1/identity/dids", nil, auth...)
	if r.status != 200 || strings.Count(string(r.body), "did:hedera:") != 2 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	// Update, seen at once through the cache.
	tg.do("GET", "/1.0/identifiers/"+second, nil)
	r = tg.do("PATCH", "/api/v1/identity/dids/"+second, map[string]any{"addServices": []map[string]any{{"id": "#hub", "type": "DIDCommMessaging", "serviceEndpoint": "https://hub.example.com"}}}, auth...)
	if r.status != 200 {
		t.Fatalf("update: %d %s", r.status, r.body)
	}
	r = tg.do("GET", "/1.0/identifiers/"+second, nil, "Accept", "application/did+json")
	if !strings.Contains(string(r.body), "hub.example.com") {
		t.Fatalf("update not visible: %s", r.body)
	}
	// Someone else's DID.
	wantError(t, tg.do("PATCH", "/api/v1/identity/dids/"+second, map[string]any{"rotateKey": true}, bearer(other.AccessToken)...), 403, "FORBIDDEN")
	wantError(t, tg.do("DELETE", "/api/v1/identity/dids/"+second, nil, bearer(other.AccessToken)...), 403, "FORBIDDEN")
	wantError(t, tg.do("PATCH", "/api/v1/identity/dids/"+second, map[string]any{}, auth...), 400, "VALIDATION_ERROR")
	// The primary cannot be deactivated; the second can, and then answers 410.
	wantError(t, tg.do("DELETE", "/api/v1/identity/dids/"+u.DID, nil, auth...), 409, "CONFLICT")
	if r := tg.do("DELETE", "/api/v1/identity/dids/"+second, nil, auth...); r.status != 204 {
		t.Fatalf("deactivate: %d %s", r.status, r.body)
	}
	r = tg.do("GET", "/1.0/identifiers/"+second, nil)
	if r.status != 410 || !strings.Contains(string(r.body), `"deactivated":true`) {
		t.Fatalf("deactivated DID: %d %s", r.status, r.body)
	}
	// The slot came back.
	if r := tg.do("POST", "/api/v1/identity/dids", map[string]any{"profile": "again"}, auth...); r.status != 201 {
		t.Fatalf("profile after deactivation: %d %s", r.status, r.body)
	}
}

func TestIAMNames(t *testing.T) {
	tg := startGateway(t, testConfig(t))
	u := tg.registerFull(map[string]string{"email": "gus@example.com", "password": goodPassword})
	v := tg.registerFull(map[string]string{"email": "hal@example.com", "password": goodPassword})
	r := tg.do("POST", "/api/v1/domains/iam", map[string]string{"domainName": "Gus.iam"}, bearer(u.AccessToken)...)
	if r.status != 201 {
		t.Fatalf("register name: %d %s", r.status, r.body)
	}
	n := r.json(t)
	if n["domainName"] != "gus.iam" || n["did"] != u.DID || n["expiresAt"] == nil || n["transactionId"] == "" || n["tokenId"] == "" || n["tokenSerial"] != float64(1) {
		t.Fatalf("name %s", r.body)
	}
	wantError(t, tg.do("POST", "/api/v1/domains/iam", map[string]string{"domainName": "gus.iam"}, bearer(v.AccessToken)...), 409, "CONFLICT")
	wantError(t, tg.do("POST", "/api/v1/domains/iam", map[string]string{"domainName": "second.iam"}, bearer(u.AccessToken)...), 429, "LIMIT_EXCEEDED")
	wantError(t, tg.do("POST", "/api/v1/domains/iam", map[string]string{"domainName": "bad name.iam"}, bearer(v.AccessToken)...), 400, "VALIDATION_ERROR")
	wantError(t, tg.do("POST", "/api/v1/domains/iam", map[string]string{"domainName": "x.com"}, bearer(v.AccessToken)...), 400, "VALIDATION_ERROR")
	wantError(t, tg.do("POST", "/api/v1/domains/iam/gus.iam/renew", nil, bearer(u.AccessToken)...), 409, "RENEWAL_NOT_OPEN")
	wantError(t, tg.do("POST", "/api/v1/domains/iam/gus.iam/renew", nil, bearer(v.AccessToken)...), 403, "FORBIDDEN")
	r = tg.do("GET", "/api/v1/domains/iam/gus.iam", nil)
	if r.status != 200 || r.json(t)["status"] != "active" {
		t.Fatalf("get name: %d %s", r.status, r.body)
	}
	wantError(t, tg.do("GET", "/api/v1/domains/iam/nobody.iam", nil), 404, "NOT_FOUND")
	r = tg.do("GET", "/1.0/identifiers/gus.iam", nil, "Accept", "application/did+json")
	if r.status != 200 || r.json(t)["id"] != u.DID {
		t.Fatalf("gus.iam: %d %s", r.status, r.body)
	}
}

// TestDIDKeyRotationAndVersions: the owner sets alsoKnownAs and rotates
// the DID's key over HTTP; the current document has the new key, the
// earlier versions (by versionId and by versionTime) still have the old
// one, and the DID keeps accepting updates signed with the new key.
func TestDIDKeyRotationAndVersions(t *testing.T) {
	tg := startGateway(t, testConfig(t))
	u := tg.registerFull(map[string]string{"email": "rot@example.com", "password": goodPassword})
	auth := bearer(u.AccessToken)
	type version struct {
		Doc struct {
			AlsoKnownAs        []string `json:"alsoKnownAs"`
			VerificationMethod []struct {
				ID                 string `json:"id"`
				PublicKeyMultibase string `json:"publicKeyMultibase"`
			} `json:"verificationMethod"`
		} `json:"didDocument"`
		Meta struct {
			Created   string `json:"created"`
			Updated   string `json:"updated"`
			VersionID string `json:"versionId"`
		} `json:"didDocumentMetadata"`
	}
	resolve := func(query string) version {
		t.Helper()
		r := tg.do("GET", "/1.0/identifiers/"+u.DID+query, nil)
		if r.status != 200 {
			t.Fatalf("resolve %s: %d %s", query, r.status, r.body)
		}
		var v version
		if err := json.Unmarshal(r.body, &v); err != nil || len(v.Doc.VerificationMethod) == 0 {
			t.Fatalf("resolve %s: %s (%v)", query, r.body, err)
		}
		return v
	}
	first := resolve("")
	oldKey := first.Doc.VerificationMethod[0].PublicKeyMultibase

	wantError(t, tg.do("PATCH", "/api/v1/identity/dids/"+u.DID, map[string]any{"alsoKnownAs": []string{"not a uri"}}, auth...), 400, "VALIDATION_ERROR")
	r := tg.do("PATCH", "/api/v1/identity/dids/"+u.DID, map[string]any{"alsoKnownAs": []string{"https://rot.example.com/"}}, auth...)
	if r.status != 200 {
		t.Fatalf("alsoKnownAs: %d %s", r.status, r.body)
	}
	if v := resolve(""); !slices.Contains(v.Doc.AlsoKnownAs, "https://rot.example.com/") {
		t.Fatalf("alsoKnownAs not in the document: %v", v.Doc.AlsoKnownAs)
	}
	// versionTime has whole seconds: rotate at least 1.5 s after creation,
	// and ask for the version valid one second after "created" (which is
	// truncated to the second).
	time.Sleep(1500 * time.Millisecond)
	if r := tg.do("PATCH", "/api/v1/identity/dids/"+u.DID, map[string]any{"rotateKey": true}, auth...); r.status != 200 {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	rotated := resolve("")
	newKey := rotated.Doc.VerificationMethod[0].PublicKeyMultibase
	if newKey == oldKey || rotated.Meta.VersionID == first.Meta.VersionID {
		t.Fatalf("rotation did not change the key or the version: %s / %s", oldKey, rotated.Meta.VersionID)
	}
	// Earlier versions keep the old key.
	if v := resolve("?versionId=" + url.QueryEscape(first.Meta.VersionID)); v.Doc.VerificationMethod[0].PublicKeyMultibase != oldKey || v.Meta.VersionID != first.Meta.VersionID {
		t.Fatalf("versionId %s: key %s version %s", first.Meta.VersionID, v.Doc.VerificationMethod[0].PublicKeyMultibase, v.Meta.VersionID)
	}
	created, err := time.Parse(time.RFC3339, first.Meta.Created)
	if err != nil {
		t.Fatalf("created %q: %v", first.Meta.Created, err)
	}
	before := created.Add(time.Second).Format(time.RFC3339)
	if v := resolve("?versionTime=" + url.QueryEscape(before)); v.Doc.VerificationMethod[0].PublicKeyMultibase != oldKey {
		t.Fatalf("versionTime %s: key %s, want the old one", before, v.Doc.VerificationMethod[0].PublicKeyMultibase)
	}
	if v := resolve("?versionTime=" + url.QueryEscape(time.Now().UTC().Add(time.Second).Format(time.RFC3339))); v.Doc.VerificationMethod[0].PublicKeyMultibase != newKey {
		t.Fatal("versionTime now: want the new key")
	}
	if r := tg.do("GET", "/1.0/identifiers/"+u.DID+"?versionTime="+url.QueryEscape(created.Add(-time.Hour).Format(time.RFC3339)), nil); r.status != 404 {
		t.Fatalf("versionTime before the DID existed: %d %s", r.status, r.body)
	}
	if r := tg.do("GET", "/1.0/identifiers/"+u.DID+"?versionId=no-such-version", nil); r.status != 404 {
		t.Fatalf("unknown versionId: %d %s", r.status, r.body)
	}
	if r := tg.do("GET", "/1.0/identifiers/"+u.DID+"?versionTime=yesterday", nil); r.status != 400 {
		t.Fatalf("bad versionTime: %d %s", r.status, r.body)
	}
	// The new key signs what follows.
	r = tg.do("PATCH", "/api/v1/identity/dids/"+u.DID, map[string]any{"addServices": []map[string]any{{"id": "#after", "type": "LinkedDomains", "serviceEndpoint": "https://after.example.com"}}}, auth...)
	if r.status != 200 {
		t.Fatalf("update after rotation: %d %s", r.status, r.body)
	}
	if r := tg.do("GET", "/1.0/identifiers/"+u.DID, nil, "Accept", "application/did+json"); !strings.Contains(string(r.body), "after.example.com") || !strings.Contains(string(r.body), newKey) {
		t.Fatalf("update after rotation not applied: %s", r.body)
	}
}
