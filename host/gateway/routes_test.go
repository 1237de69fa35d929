package gateway_test

import (
	"net/http"
	"strings"
	"testing"
)

// routeClass says who may call a route, for TestEveryRouteBadInput. A route
// missing here fails the test: classify new routes when adding them.
var routeClass = map[string]string{
	"health.live":          "public",
	"health.ready":         "public",
	"openapi":              "public",
	"jwks":                 "public",
	"metrics":              "admin",
	"admin.plugins.list":   "admin",
	"admin.plugins.reload": "admin",
	"users.register":       "public",
	"auth.login":           "public",
	"auth.refresh":         "public",
	"auth.logout":          "session",
	"auth.whoami":          "session",
	"users.me":             "session",
	"users.limits.get":     "self",
	"users.limits.check":   "self",
	"admin.users.get":      "admin",
	"admin.backup":         "admin",
	"did.resolve":          "public",
	"identity.did.get":     "public",
	"domains.iam.get":      "public",
	"identity.dids.list":   "session",
	"identity.dids.create": "session",
	"identity.dids.update": "session",
	"identity.dids.delete": "session",
	"domains.iam.register": "session",
	"domains.iam.renew":    "session",
	// External Web3 domains (web3_test.go covers each further).
	"domains.external.challenge": "session",
	"domains.external.verify":    "session",
	"domains.external.list":      "session",
	"domains.external.delete":    "session",
	// Enterprise routes: a session (the handler checks ownership; the
	// enterprise e2e tests cover other users and API keys).
	"enterprises.register":       "session",
	"enterprises.get":            "session",
	"enterprises.dns.initiate":   "session",
	"enterprises.dns.verify":     "session",
	"enterprises.apikeys.list":   "session",
	"enterprises.apikeys.create": "session",
	"enterprises.apikeys.revoke": "session",
	// Credentials: an enterprise API key (issue, manage), anyone (verify,
	// status lists) or a session (the wallet).
	"credentials.issue":          "apikey",
	"credentials.bulk":           "apikey",
	"credentials.list":           "apikey",
	"credentials.get":            "apikey",
	"credentials.revoke":         "apikey",
	"credentials.suspend":        "apikey",
	"credentials.unsuspend":      "apikey",
	"credentials.verify":         "public",
	"statuslists.get":            "public",
	"wallet.list":                "session",
	"wallet.get":                 "session",
	"wallet.delete":              "session",
	"vcapi.credentials.issue":    "apikey",
	"vcapi.credentials.status":   "apikey",
	"vcapi.credentials.get":      "apikey",
	"vcapi.credentials.verify":   "public",
	"vcapi.presentations.verify": "public",
	"badges.issue":               "apikey",
	"badges.templates":           "public",
	"badges.verify":              "public",
	"badges.share":               "public",
	"badges.png":                 "public",
	"badges.svg":                 "public",
	"backpack.export":            "session",
	// LMS: an enterprise API key with issue_credentials (lms_e2e_test.go
	// covers other enterprises' records and bad input further).
	"lms.sync":               "apikey",
	"lms.connections.list":   "apikey",
	"lms.connections.create": "apikey",
	"lms.connections.get":    "apikey",
	"lms.connections.update": "apikey",
	"lms.connections.delete": "apikey",
	"lms.mappings.list":      "apikey",
	"lms.mappings.create":    "apikey",
	"lms.mappings.get":       "apikey",
	"lms.mappings.delete":    "apikey",
	"lms.reports.list":       "apikey",
	"lms.reports.get":        "apikey",
	// Treasury and billing (treasury_test.go covers each further).
	"treasury.stats":           "admin",
	"treasury.sponsor":         "admin",
	"admin.billing.margins":    "admin",
	"admin.treasury.reconcile": "admin",
	"analytics.usage":          "self",
	"enterprises.usage":        "session",
	"enterprises.invoices":     "session",
	"billing.webhook":          "public",
	// SCIM: an API key with the scim permission (scim_e2e_test.go sends
	// them malformed, oversized and other enterprises' input); the
	// connector's routes: a session (the handler checks ownership).
	"scim.list":                     "scim",
	"scim.create":                   "scim",
	"scim.get":                      "scim",
	"scim.search":                   "scim",
	"scim.replace":                  "scim",
	"scim.patch":                    "scim",
	"scim.delete":                   "scim",
	"enterprises.directory.get":     "session",
	"enterprises.directory.put":     "session",
	"enterprises.directory.members": "session",
	"enterprises.directory.pull":    "session",
	// SAML SSO: the browser endpoints are public (saml_e2e_test.go sends
	// the ACS malformed, oversized, forged and replayed responses); the
	// connector's configuration: a session (the handler checks ownership).
	"saml.metadata":          "public",
	"saml.login":             "public",
	"saml.acs":               "public",
	"saml.acs.redirect":      "public",
	"enterprises.sso.get":    "session",
	"enterprises.sso.put":    "session",
	"enterprises.sso.delete": "session",
}

// noBody lists the POST routes that take no request body.
var noBody = map[string]bool{"auth.logout": true, "domains.iam.renew": true, "admin.plugins.reload": true,
	"enterprises.dns.initiate": true, "enterprises.dns.verify": true, "admin.treasury.reconcile": true,
	"enterprises.directory.pull": true,
	// The ACS takes the SAML HTTP-POST form, not JSON: saml_e2e_test.go
	// sends it bad input.
	"saml.acs": true,
	// The webhook authenticates the raw body by its signature before
	// parsing it: TestBillingWebhook sends it bad input.
	"billing.webhook": true}

// TestEveryRouteBadInput sends every registered route unauthenticated,
// unauthorised, malformed, oversized and wrongly typed input, and checks
// the JSON error and status of each, then that the server still serves.
func TestEveryRouteBadInput(t *testing.T) {
	tg := startGateway(t, testConfig(t))
	owner := tg.register("owner@example.com")
	other := tg.register("other@example.com")
	ent := tg.registerEnterprise(owner.AccessToken, acme())
	before := tg.userCount()
	path := func(p string) string { return strings.ReplaceAll(p, "{userId}", owner.UserID) }

	for _, rt := range tg.g.Server.Routes() {
		class, ok := routeClass[rt.Name]
		if !ok {
			t.Errorf("route %s is not classified in routeClass", rt.Name)
			continue
		}
		t.Run(rt.Name, func(t *testing.T) {
			p := path(rt.Pattern)
			if class != "public" {
				wantError(t, tg.do(rt.Method, p, nil), http.StatusUnauthorized, "UNAUTHORIZED")
				wantError(t, tg.do(rt.Method, p, nil, bearer("eyJhbGciOiJFZERTQSJ9.e30.AAAA")...), http.StatusUnauthorized, "UNAUTHORIZED")
			}
			switch class {
			case "admin":
				wantError(t, tg.do(rt.Method, p, nil, bearer(owner.AccessToken)...), http.StatusForbidden, "FORBIDDEN")
			case "self":
				wantError(t, tg.do(rt.Method, p, nil, bearer(other.AccessToken)...), http.StatusForbidden, "FORBIDDEN")
			case "apikey":
				// A session is not an API key.
				wantError(t, tg.do(rt.Method, p, nil, bearer(owner.AccessToken)...), http.StatusForbidden, "FORBIDDEN")
			case "scim":
				// Neither a session nor a key without the scim permission;
				// SCIM bodies get SCIM errors (scim_e2e_test.go).
				wantError(t, tg.do(rt.Method, p, nil, bearer(owner.AccessToken)...), http.StatusForbidden, "FORBIDDEN")
				wantError(t, tg.do(rt.Method, p, nil, "X-API-Key", ent.APIKey), http.StatusForbidden, "FORBIDDEN")
				return
			}
			if (rt.Method != "POST" && rt.Method != "PATCH") || noBody[rt.Name] {
				return
			}
			auth := bearer(owner.AccessToken)
			switch class {
			case "apikey":
				auth = []string{"X-API-Key", ent.APIKey}
			case "admin":
				auth = bearer(tg.adminToken())
			}
			wantError(t, tg.do(rt.Method, p, `{"x":`, auth...), http.StatusBadRequest, "VALIDATION_ERROR")
			wantError(t, tg.do(rt.Method, p, `{"unknownField":1}`, auth...), http.StatusBadRequest, "VALIDATION_ERROR")
			wantError(t, tg.do(rt.Method, p, `{}`, append(auth, "Content-Type", "application/xml")...), http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE")
			wantError(t, tg.oversized(rt.Method, p, auth...), http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE")
		})
	}
	if n := tg.userCount(); n != before {
		t.Fatalf("bad input changed the user count by %d", n-before)
	}
	if r := tg.do("GET", "/api/v1/users/me", nil, bearer(owner.AccessToken)...); r.status != 200 {
		t.Fatalf("server not serving after bad input: %d", r.status)
	}
}
