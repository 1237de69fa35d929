package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/sdk-plugin/plugintest"
)

// The conversations below follow, request for request, the shapes the two
// big identity providers document for their SCIM 2.0 clients:
//
//   - Okta: https://developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20
//     (userName eq lookup before create, POST /Users, PUT /Users/{id},
//     PATCH {"op":"replace","value":{"active":false}}, group push with
//     PATCH replace of displayName, add of members, remove with
//     members[value eq "…"]).
//   - Microsoft Entra ID: https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups
//     (operation names "Replace"/"Add"/"Remove", emails[type eq "work"].value,
//     the enterprise extension's manager as a bare value, "active":"False"
//     as a string before the aadOptscim062020 flag, member removal with a
//     value array, GET /Groups/{id}?excludedAttributes=members).

type suite struct {
	name string
	run  func(t *testing.T, c client)
}

var suites = []suite{
	{"Okta", testOkta},
	{"Entra", testEntra},
	{"Quirks", testQuirks},
	{"Discovery", testDiscovery},
	{"Lists", testLists},
	{"ETags", testETags},
	{"BadInput", testBadInput},
	{"Pull", testPull},
}

func runSuites(t *testing.T, dc *abiv1.DirectoryClient) {
	for i, s := range suites {
		t.Run(s.name, func(t *testing.T) {
			s.run(t, client{t: t, dc: dc, ent: fmt.Sprintf("ent-%d", i)})
		})
	}
}

// TestWasm runs every conversation against the plugin compiled to
// WebAssembly, under the gateway's runtime, as it ships.
func TestWasm(t *testing.T) {
	h := plugintest.NewWasm(t, plugintest.BuildWasm(t, "."), plugintest.Options{Config: `{"maxBodyBytes": 65536}`, Peers: hrPeers()})
	plugintest.DirectoryConformance(t, h.Transport(), plugintest.DirectoryCases{
		Plugin: plugintest.PluginInfo{Name: "scim", Version: pluginVersion, Interfaces: []string{"directory"}},
	})
	runSuites(t, abiv1.NewDirectoryClient(h.Transport()))
}

// TestInProcess runs the same conversations natively (quicker to debug).
func TestInProcess(t *testing.T) {
	resetConfig()
	h := plugintest.New(t, plugintest.Options{Config: `{"maxBodyBytes": 65536}`, Peers: hrPeers()})
	runSuites(t, abiv1.NewDirectoryClient(h.Transport()))
}

const oktaUser = `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
  "userName": "test.user@okta.local",
  "name": {"givenName": "Test", "familyName": "User"},
  "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
  "displayName": "Test User",
  "locale": "en-US",
  "externalId": "00ujl29u0le5T6Aj10h7",
  "groups": [],
  "password": "1mz050nq",
  "active": true
}`

func testOkta(t *testing.T, c client) {
	// Okta looks the user up by userName before creating it.
	r := c.do("GET", "/Users?filter="+q(`userName eq "test.user@okta.local"`)+"&startIndex=1&count=100", "").want(t, 200)
	if r.body["totalResults"] != 0.0 || len(r.body["Resources"].([]any)) != 0 || r.body["startIndex"] != 1.0 {
		t.Fatalf("empty lookup: %s", r.raw)
	}
	r = c.do("POST", "/Users", oktaUser).want(t, 201)
	id := r.str("id")
	if id == "" || r.header["Location"] != "https://gw.example/scim/v2/"+c.ent+"/Users/"+id || r.header["ETag"] == "" {
		t.Fatalf("create: %v %s", r.header, r.raw)
	}
	if r.body["password"] != nil || r.body["groups"] != nil {
		t.Fatalf("password or read-only groups stored: %s", r.raw)
	}
	if len(r.events) != 1 || r.events[0].Action != abiv1.EventActionCreated || r.events[0].Kind != abiv1.ObjectKindUser ||
		r.events[0].ID != id || r.events[0].Attributes["email"] != "test.user@okta.local" || r.events[0].Attributes["active"] != "true" ||
		r.events[0].ExternalID != "00ujl29u0le5T6Aj10h7" {
		t.Fatalf("create event: %+v", r.events)
	}
	// The lookup now finds it, whatever the case of the userName.
	r = c.do("GET", "/Users?filter="+q(`userName eq "TEST.USER@okta.local"`)+"&startIndex=1&count=100", "").want(t, 200)
	if r.body["totalResults"] != 1.0 || dig(r.body, "Resources.0.id") != id {
		t.Fatalf("lookup: %s", r.raw)
	}
	// A second create of the same userName (any case) is a conflict.
	c.do("POST", "/Users", strings.Replace(oktaUser, "test.user@okta.local", "Test.User@OKTA.local", 1)).want(t, 409, "uniqueness")
	c.do("GET", "/Users/"+id, "").want(t, 200)

	// Profile update: PUT the whole user.
	put := strings.Replace(strings.Replace(oktaUser, `"givenName": "Test"`, `"givenName": "Another"`, 1), `"schemas"`, `"id": "`+id+`", "schemas"`, 1)
	r = c.do("PUT", "/Users/"+id, put).want(t, 200)
	if r.str("name.givenName") != "Another" || len(r.events) != 1 || r.events[0].Action != abiv1.EventActionUpdated {
		t.Fatalf("put: %s %+v", r.raw, r.events)
	}
	// Deprovisioning: a path-less replace of {"active": false}.
	r = c.do("PATCH", "/Users/"+id, patchBody(`{"op":"replace","value":{"active":false}}`)).want(t, 200)
	if r.body["active"] != false || len(r.events) != 1 || r.events[0].Action != abiv1.EventActionDeactivated || r.events[0].Attributes["active"] != "false" {
		t.Fatalf("deactivate: %s %+v", r.raw, r.events)
	}
	// Reactivation.
	r = c.do("PATCH", "/Users/"+id, patchBody(`{"op":"replace","value":{"active":true}}`)).want(t, 200)
	if r.body["active"] != true || r.events[0].Action != abiv1.EventActionUpdated || r.events[0].Attributes["active"] != "true" {
		t.Fatalf("reactivate: %s %+v", r.raw, r.events)
	}

	// Group push.
	r = c.do("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Test SCIMv2","members":[]}`).want(t, 201)
	gid := r.str("id")
	if len(r.events) != 1 || r.events[0].Kind != abiv1.ObjectKindGroup || r.events[0].Attributes["displayName"] != "Test SCIMv2" {
		t.Fatalf("group create: %+v", r.events)
	}
	r = c.do("GET", "/Groups?filter="+q(`displayName eq "Test SCIMv2"`)+"&startIndex=1&count=100", "").want(t, 200)
	if r.body["totalResults"] != 1.0 {
		t.Fatalf("group lookup: %s", r.raw)
	}
	c.do("PATCH", "/Groups/"+gid, patchBody(`{"op":"replace","value":{"id":"`+gid+`","displayName":"Test SCIMv2 renamed"}}`)).want(t, 200)
	r = c.do("POST", "/Users", strings.ReplaceAll(oktaUser, "test.user@okta.local", "second@okta.local")).want(t, 201)
	id2 := r.str("id")
	r = c.do("PATCH", "/Groups/"+gid, patchBody(`{"op":"add","path":"members","value":[{"value":"`+id+`","display":"test.user@okta.local"},{"value":"`+id2+`","display":"second@okta.local"}]}`)).want(t, 200)
	if r.str("displayName") != "Test SCIMv2 renamed" || len(memberIDs(r)) != 2 || !slices.Equal(r.events[0].MemberIDs, sorted(id, id2)) {
		t.Fatalf("add members: %s %+v", r.raw, r.events)
	}
	// The user's read-only groups attribute lists them.
	if r := c.do("GET", "/Users/"+id, "").want(t, 200); dig(r.body, "groups.0.value") != gid || dig(r.body, "groups.0.display") != "Test SCIMv2 renamed" || dig(r.body, "groups.0.type") != "direct" {
		t.Fatalf("groups of the user: %s", r.raw)
	}
	r = c.do("PATCH", "/Groups/"+gid, patchBody(`{"op":"remove","path":"members[value eq \"`+id+`\"]"}`)).want(t, 200)
	if !slices.Equal(memberIDs(r), []string{id2}) || !slices.Equal(r.events[0].MemberIDs, []string{id2}) {
		t.Fatalf("remove member: %s %+v", r.raw, r.events)
	}
	if r := c.do("GET", "/Users/"+id, "").want(t, 200); r.body["groups"] != nil {
		t.Fatalf("groups after the removal: %s", r.raw)
	}
	// Deleting a user drops it from its groups (and says so).
	r = c.do("DELETE", "/Users/"+id2, "").want(t, 204)
	if len(r.events) != 2 || r.events[0].Action != abiv1.EventActionDeleted || r.events[1].Kind != abiv1.ObjectKindGroup || len(r.events[1].MemberIDs) != 0 {
		t.Fatalf("delete events: %+v", r.events)
	}
	if r := c.do("GET", "/Groups/"+gid, "").want(t, 200); r.body["members"] != nil {
		t.Fatalf("deleted user still a member: %s", r.raw)
	}
	c.do("GET", "/Users/"+id2, "").want(t, 404)
	r = c.do("DELETE", "/Groups/"+gid, "").want(t, 204)
	if len(r.events) != 1 || r.events[0].Action != abiv1.EventActionDeleted || r.events[0].Kind != abiv1.ObjectKindGroup {
		t.Fatalf("group delete: %+v", r.events)
	}
	// The userName of a deleted user is free again.
	c.do("POST", "/Users", strings.ReplaceAll(oktaUser, "test.user@okta.local", "second@okta.local")).want(t, 201)
}

func sorted(s ...string) []string { slices.Sort(s); return s }

const entraUser = `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
  "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
  "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
  "active": true,
  "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2b@testuser.com"}],
  "meta": {"resourceType": "User"},
  "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
  "roles": [],
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "1234", "department": "Engineering"}
}`

func testEntra(t *testing.T, c client) {
	c.do("GET", "/Users?filter="+q(`userName eq "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1"`), "").want(t, 200)
	r := c.do("POST", "/Users", entraUser).want(t, 201)
	id := r.str("id")
	if !slices.Contains(r.body["schemas"].([]any), any(urnEnterpriseUser)) || r.events[0].Attributes["department"] != "Engineering" {
		t.Fatalf("create with the extension: %s %+v", r.raw, r.events)
	}
	// Entra also looks users up by externalId and by the work e-mail.
	r = c.do("GET", "/Users?filter="+q(`externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"`), "").want(t, 200)
	if r.body["totalResults"] != 1.0 {
		t.Fatalf("externalId lookup: %s", r.raw)
	}
	r = c.do("GET", "/Users?filter="+q(`emails[type eq "work"].value eq "x"`), "")
	r.want(t, 400, "invalidFilter") // a value path has no sub-attribute in a filter
	r = c.do("GET", "/Users?filter="+q(`emails[type eq "work" and value eq "test_user_fd0ea19b-0777-472c-9f96-4f70d2226f2b@testuser.com"]`), "").want(t, 200)
	if r.body["totalResults"] != 1.0 {
		t.Fatalf("e-mail lookup (case-insensitive value): %s", r.raw)
	}
	// Update User [Multi-valued properties] with operation names in
	// Entra's case.
	r = c.do("PATCH", "/Users/"+id, patchBody(
		`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"updatedEmail@microsoft.com"}`,
		`{"op":"Replace","path":"name.familyName","value":"updatedFamilyName"}`)).want(t, 200)
	if r.str("emails.0.value") != "updatedEmail@microsoft.com" || r.str("name.familyName") != "updatedFamilyName" || r.str("name.givenName") != "givenName" {
		t.Fatalf("multi-valued update: %s", r.raw)
	}
	// Update User [Single-valued properties], the manager as a bare value.
	r = c.do("PATCH", "/Users/"+id, patchBody(
		`{"op":"Replace","path":"userName","value":"5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"}`,
		`{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"2819c223-7f76-453a-919d-413861904646"}`,
		`{"op":"Add","path":"phoneNumbers[type eq \"mobile\"].value","value":"+1 555 0100"}`)).want(t, 200)
	if r.str("userName") != "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com" || dig(r.body[urnEnterpriseUser], "manager.value") != "2819c223-7f76-453a-919d-413861904646" ||
		r.str("phoneNumbers.0.type") != "mobile" || r.str("phoneNumbers.0.value") != "+1 555 0100" {
		t.Fatalf("single-valued update: %s", r.raw)
	}
	// The old userName is free, the new one is indexed.
	if r := c.do("GET", "/Users?filter="+q(`userName eq "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1"`), "").want(t, 200); r.body["totalResults"] != 0.0 {
		t.Fatalf("old userName still found: %s", r.raw)
	}
	if r := c.do("GET", "/Users?filter="+q(`userName eq "5B50642D-79fc-4410-9e90-4c077cdd1a59@testuser.com"`), "").want(t, 200); r.body["totalResults"] != 1.0 {
		t.Fatalf("new userName not found: %s", r.raw)
	}
	// Disable User, with the boolean as a string.
	r = c.do("PATCH", "/Users/"+id, patchBody(`{"op":"Replace","path":"active","value":"False"}`)).want(t, 200)
	if r.body["active"] != false || r.events[0].Action != abiv1.EventActionDeactivated {
		t.Fatalf("disable: %s %+v", r.raw, r.events)
	}
	if r := c.do("GET", "/Users?filter="+q(`active eq false`), "").want(t, 200); r.body["totalResults"] != 1.0 {
		t.Fatalf("filter on active: %s", r.raw)
	}

	// Groups: create with members, get without them, add and remove.
	var ids []string
	for i := range 3 {
		r := c.do("POST", "/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"member%d@testuser.com","active":"True"}`, i)).want(t, 201)
		if r.body["active"] != true {
			t.Fatalf("active as the string True: %s", r.raw)
		}
		ids = append(ids, r.str("id"))
	}
	r = c.do("POST", "/Groups", `{"externalId":"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159","id":"ignored","displayName":"displayName","meta":{"resourceType":"Group"},"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"members":[{"value":"`+ids[0]+`"}]}`).want(t, 201)
	gid := r.str("id")
	if gid == "ignored" || !slices.Equal(r.events[0].MemberIDs, []string{ids[0]}) {
		t.Fatalf("group create: %s", r.raw)
	}
	r = c.do("GET", "/Groups/"+gid+"?excludedAttributes=members", "").want(t, 200)
	if _, ok := r.body["members"]; ok || r.str("displayName") != "displayName" || r.str("id") != gid {
		t.Fatalf("excludedAttributes=members: %s", r.raw)
	}
	r = c.do("PATCH", "/Groups/"+gid, patchBody(`{"op":"Add","path":"members","value":[{"$ref":null,"value":"`+ids[1]+`"},{"$ref":null,"value":"`+ids[2]+`"}]}`)).want(t, 200)
	if len(memberIDs(r)) != 3 {
		t.Fatalf("add members: %s", r.raw)
	}
	// Remove Members: exactly the values given.
	r = c.do("PATCH", "/Groups/"+gid, patchBody(`{"op":"Remove","path":"members","value":[{"$ref":null,"value":"`+ids[0]+`"},{"$ref":null,"value":"`+ids[2]+`"}]}`)).want(t, 200)
	if !slices.Equal(memberIDs(r), []string{ids[1]}) || !slices.Equal(r.events[0].MemberIDs, []string{ids[1]}) {
		t.Fatalf("remove members: %s %+v", r.raw, r.events)
	}
	// A value nobody has removes nobody.
	r = c.do("PATCH", "/Groups/"+gid, patchBody(`{"op":"Remove","path":"members","value":[{"value":"not-a-member"}]}`)).want(t, 200)
	if !slices.Equal(memberIDs(r), []string{ids[1]}) {
		t.Fatalf("removal of a non-member removed: %s", r.raw)
	}
	r = c.do("PATCH", "/Groups/"+gid, patchBody(`{"op":"Replace","path":"displayName","value":"1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}`)).want(t, 200)
	if r.str("displayName") != "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName" {
		t.Fatalf("rename: %s", r.raw)
	}
	c.do("DELETE", "/Users/"+id, "").want(t, 204)
	c.do("DELETE", "/Users/"+id, "").want(t, 404)
}

func testQuirks(t *testing.T, c client) {
	id := c.do("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"UserName":"quirk@example.com","EMAILS":[{"value":"a@example.com","type":"home","primary":"true"},{"value":"b@example.com","type":"work"}]}`).want(t, 201).str("id")
	r := c.do("GET", "/Users/"+id, "").want(t, 200)
	if r.str("userName") != "quirk@example.com" || dig(r.body, "emails.0.primary") != true || r.body["active"] != true {
		t.Fatalf("case-insensitive attribute names, string booleans: %s", r.raw)
	}
	// Operation names in any case; attribute names in any case in paths.
	r = c.do("PATCH", "/Users/"+id, patchBody(`{"OP":"ADD","Path":"NAME.GIVENNAME","Value":"Q"}`, `{"op":"rePlace","path":"Emails[Type EQ \"WORK\"].Value","value":"c@example.com"}`)).want(t, 200)
	if r.str("name.givenName") != "Q" || r.str("emails.1.value") != "c@example.com" || r.str("emails.0.value") != "a@example.com" {
		t.Fatalf("any-case names: %s", r.raw)
	}
	// Setting another primary clears the first.
	r = c.do("PATCH", "/Users/"+id, patchBody(`{"op":"replace","path":"emails[value eq \"c@example.com\"].primary","value":"True"}`)).want(t, 200)
	if dig(r.body, "emails.0.primary") != false || dig(r.body, "emails.1.primary") != true {
		t.Fatalf("primary: %s", r.raw)
	}
	// A path-less replace of several attributes, one in dotted form and one
	// under the extension's URN.
	r = c.do("PATCH", "/Users/"+id, patchBody(`{"op":"Replace","value":{"active":"False","name.familyName":"Z","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Ops"}}}`)).want(t, 200)
	if r.body["active"] != false || r.str("name.familyName") != "Z" || r.str("name.givenName") != "Q" || dig(r.body[urnEnterpriseUser], "department") != "Ops" {
		t.Fatalf("path-less replace: %s", r.raw)
	}
	// An unchanged replace writes nothing and reports nothing.
	r = c.do("PATCH", "/Users/"+id, patchBody(`{"op":"replace","value":{"active":false}}`)).want(t, 200)
	if len(r.events) != 0 {
		t.Fatalf("no-op patch reported: %+v", r.events)
	}
	// remove of a whole attribute and of the extension.
	r = c.do("PATCH", "/Users/"+id, patchBody(`{"op":"remove","path":"emails[type eq \"home\"]"}`, `{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"}`)).want(t, 200)
	if len(r.body["emails"].([]any)) != 1 || r.body[urnEnterpriseUser] != nil || slices.Contains(r.body["schemas"].([]any), any(urnEnterpriseUser)) {
		t.Fatalf("remove: %s", r.raw)
	}
	// Group members: a bad value filter removes nothing and fails.
	gid := c.do("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"G","members":[{"value":"`+id+`"},{"value":"other"}]}`).want(t, 201).str("id")
	for _, p := range []string{`members[value eq ]`, `members[value eq "x"`, `members[nosuch eq "x"]`, `members[value zz "x"]`, `members[value eq "x"] or`} {
		r = c.do("PATCH", "/Groups/"+gid, patchBody(`{"op":"remove","path":`+jsonString(p)+`}`))
		r.want(t, 400, "invalidFilter")
	}
	if r := c.do("GET", "/Groups/"+gid, "").want(t, 200); len(memberIDs(r)) != 2 {
		t.Fatalf("members lost to a bad filter: %s", r.raw)
	}
	// A filter that matches nothing removes nothing.
	r = c.do("PATCH", "/Groups/"+gid, patchBody(`{"op":"remove","path":"members[value eq \"nobody\"]"}`)).want(t, 200)
	if len(memberIDs(r)) != 2 {
		t.Fatalf("members lost to a filter matching none: %s", r.raw)
	}
	// The whole PATCH fails if one operation does: nothing is applied.
	c.do("PATCH", "/Groups/"+gid, patchBody(`{"op":"replace","path":"displayName","value":"H"}`, `{"op":"remove","path":"members[value eq \"x\""}`)).want(t, 400, "invalidFilter")
	if r := c.do("GET", "/Groups/"+gid, "").want(t, 200); r.str("displayName") != "G" {
		t.Fatalf("partial patch applied: %s", r.raw)
	}
	// remove of "members" without a value removes all of them (RFC 7644 3.5.2.2).
	r = c.do("PATCH", "/Groups/"+gid, patchBody(`{"op":"remove","path":"members"}`)).want(t, 200)
	if r.body["members"] != nil {
		t.Fatalf("remove all: %s", r.raw)
	}
}

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

func testDiscovery(t *testing.T, c client) {
	r := c.do("GET", "/ServiceProviderConfig", "").want(t, 200)
	if dig(r.body, "patch.supported") != true || dig(r.body, "filter.supported") != true || dig(r.body, "etag.supported") != true ||
		dig(r.body, "authenticationSchemes.0.type") != "oauthbearertoken" {
		t.Fatalf("ServiceProviderConfig: %s", r.raw)
	}
	r = c.do("GET", "/ResourceTypes", "").want(t, 200)
	if r.body["totalResults"] != 2.0 || dig(r.body, "Resources.0.schemaExtensions.0.schema") != urnEnterpriseUser {
		t.Fatalf("ResourceTypes: %s", r.raw)
	}
	c.do("GET", "/ResourceTypes/Group", "").want(t, 200)
	c.do("GET", "/ResourceTypes/Nope", "").want(t, 404)
	r = c.do("GET", "/Schemas", "").want(t, 200)
	if r.body["totalResults"] != 3.0 {
		t.Fatalf("Schemas: %s", r.raw)
	}
	r = c.do("GET", "/Schemas/"+urnUser, "").want(t, 200)
	var userNameDef map[string]any
	for _, a := range r.body["attributes"].([]any) {
		if a.(map[string]any)["name"] == "userName" {
			userNameDef = a.(map[string]any)
		}
	}
	if userNameDef["uniqueness"] != "server" || userNameDef["caseExact"] != false || userNameDef["required"] != true {
		t.Fatalf("userName definition: %v", userNameDef)
	}
	c.do("GET", "/Schemas/urn:nope", "").want(t, 404)
	c.do("POST", "/ServiceProviderConfig", "{}").want(t, 405)
	c.do("POST", "/Bulk", "{}").want(t, 501)
	c.do("GET", "/Nothing", "").want(t, 404)
}

func testLists(t *testing.T, c client) {
	// An empty directory still answers a ListResponse.
	r := c.do("GET", "/Users", "").want(t, 200)
	if r.body["totalResults"] != 0.0 || r.body["Resources"] == nil || r.body["itemsPerPage"] != 0.0 {
		t.Fatalf("empty list: %s", r.raw)
	}
	for i := range 25 {
		body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u%02d@example.com","title":"t%d","active":%v,"name":{"givenName":"G%02d"},"emails":[{"value":"u%02d@example.com","type":"work"}]}`, i, i%3, i%2 == 0, i, i)
		c.do("POST", "/Users", body).want(t, 201)
	}
	page := func(query string) result { return c.do("GET", "/Users?"+query, "").want(t, 200) }
	r = page("startIndex=1&count=10")
	if r.body["totalResults"] != 25.0 || r.body["itemsPerPage"] != 10.0 || r.body["startIndex"] != 1.0 {
		t.Fatalf("page 1: %s", r.raw)
	}
	r = page("startIndex=21&count=10")
	if r.body["itemsPerPage"] != 5.0 {
		t.Fatalf("last page: %s", r.raw)
	}
	// Past the end: an empty page, the total still right.
	r = page("startIndex=100&count=10")
	if r.body["totalResults"] != 25.0 || r.body["itemsPerPage"] != 0.0 || len(r.body["Resources"].([]any)) != 0 {
		t.Fatalf("past the end: %s", r.raw)
	}
	// count=0 answers the total only; negative start is 1; a huge count is capped.
	if r = page("count=0"); r.body["itemsPerPage"] != 0.0 || r.body["totalResults"] != 25.0 {
		t.Fatalf("count=0: %s", r.raw)
	}
	if r = page("startIndex=-5&count=1"); r.body["startIndex"] != 1.0 || r.body["itemsPerPage"] != 1.0 {
		t.Fatalf("startIndex<1: %s", r.raw)
	}
	for _, tc := range []struct {
		filter string
		want   float64
	}{
		{`userName eq "u03@example.com"`, 1},
		{`userName eq "U03@EXAMPLE.COM"`, 1},
		{`userName ne "u03@example.com"`, 24},
		{`userName sw "u1"`, 10},
		{`userName ew "5@example.com"`, 2},
		{`userName co "2"`, 7},
		{`title eq "t0"`, 9},
		{`title pr`, 25},
		{`nickName pr`, 0},
		{`active eq true`, 13},
		{`active eq "True"`, 13},
		{`not (active eq true)`, 12},
		{`active eq true and title eq "t0"`, 5},
		{`title eq "t0" or title eq "t1"`, 17},
		{`(title eq "t0" or title eq "t1") and active eq false`, 8},
		{`title eq "t0" or title eq "t1" and active eq false`, 13},
		{`name.givenName gt "G20"`, 4},
		{`name.givenName ge "G20"`, 5},
		{`name.givenName lt "G02"`, 2},
		{`name.givenName le "G02"`, 3},
		{`emails[type eq "work" and value co "u1"]`, 10},
		{`emails.value ew "9@example.com"`, 2},
		{`emails co "u24"`, 1},
		{`meta.created gt "2000-01-01T00:00:00Z"`, 25},
		{`meta.lastModified lt "2000-01-01T00:00:00Z"`, 0},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "u04@example.com"`, 1},
		{`userName eq "u04@example.com" and title eq "t9"`, 0},
		{`nickName eq null`, 25},
	} {
		r := page("filter=" + q(tc.filter))
		if r.body["totalResults"] != tc.want {
			t.Errorf("filter %s: totalResults %v, want %v", tc.filter, r.body["totalResults"], tc.want)
		}
	}
	// attributes / excludedAttributes.
	r = page("filter=" + q(`userName eq "u01@example.com"`) + "&attributes=userName,name.givenName")
	u := dig(r.body, "Resources.0").(map[string]any)
	if u["id"] == nil || u["userName"] != "u01@example.com" || dig(u, "name.givenName") != "G01" || u["emails"] != nil || u["title"] != nil {
		t.Fatalf("attributes: %s", r.raw)
	}
	r = page("filter=" + q(`userName eq "u01@example.com"`) + "&excludedAttributes=emails,meta")
	u = dig(r.body, "Resources.0").(map[string]any)
	if u["emails"] != nil || u["meta"] != nil || u["userName"] == nil || u["id"] == nil {
		t.Fatalf("excludedAttributes: %s", r.raw)
	}
	c.do("GET", "/Users?attributes=nosuch", "").want(t, 400, "invalidValue")
	// POST /.search.
	r = c.do("POST", "/Users/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"title eq \"t2\"","startIndex":1,"count":3,"attributes":["userName"]}`).want(t, 200)
	if r.body["totalResults"] != 8.0 || r.body["itemsPerPage"] != 3.0 {
		t.Fatalf(".search: %s", r.raw)
	}
}

func testETags(t *testing.T, c client) {
	r := c.do("POST", "/Users", `{"userName":"etag@example.com"}`).want(t, 201)
	id, v1 := r.str("id"), r.str("meta.version")
	if v1 == "" || r.header["ETag"] != v1 || !strings.HasPrefix(v1, `W/"`) {
		t.Fatalf("version: %v %s", r.header, r.raw)
	}
	c.do("GET", "/Users/"+id, "", "If-None-Match", v1).want(t, 304)
	r = c.do("PATCH", "/Users/"+id, patchBody(`{"op":"add","path":"title","value":"x"}`), "If-Match", v1).want(t, 200)
	v2 := r.str("meta.version")
	if v2 == v1 {
		t.Fatalf("version did not change")
	}
	// A stale version: 412, nothing written.
	c.do("PATCH", "/Users/"+id, patchBody(`{"op":"add","path":"title","value":"y"}`), "If-Match", v1).want(t, 412)
	c.do("PUT", "/Users/"+id, `{"userName":"etag@example.com"}`, "If-Match", v1).want(t, 412)
	c.do("DELETE", "/Users/"+id, "", "If-Match", v1).want(t, 412)
	if r := c.do("GET", "/Users/"+id, "").want(t, 200); r.str("title") != "x" {
		t.Fatalf("stale write applied: %s", r.raw)
	}
	c.do("PUT", "/Users/"+id, `{"userName":"etag@example.com","title":"z"}`, "If-Match", v2).want(t, 200)
	c.do("DELETE", "/Users/"+id, "", "If-Match", "*").want(t, 204)
}

func testBadInput(t *testing.T, c client) {
	id := c.do("POST", "/Users", `{"userName":"bad@example.com"}`).want(t, 201).str("id")
	for _, tc := range []struct {
		method, path, body, scimType string
		status                       int
	}{
		{"POST", "/Users", `{"userName":`, "invalidSyntax", 400},
		{"POST", "/Users", `[1,2]`, "invalidSyntax", 400},
		{"POST", "/Users", `{"userName":"a"} {"userName":"b"}`, "invalidSyntax", 400},
		{"POST", "/Users", `{}`, "invalidValue", 400},
		{"POST", "/Users", `{"userName":"  "}`, "invalidValue", 400},
		{"POST", "/Users", `{"userName":"x@example.com","favouriteColour":"blue"}`, "invalidSyntax", 400},
		{"POST", "/Users", `{"userName":"x@example.com","name":{"nick":"x"}}`, "invalidSyntax", 400},
		{"POST", "/Users", `{"userName":"x@example.com","schemas":["urn:example:custom"]}`, "invalidValue", 400},
		{"POST", "/Users", `{"userName":"x@example.com","active":"maybe"}`, "invalidValue", 400},
		{"POST", "/Users", `{"userName":"x@example.com","emails":"x"}`, "invalidValue", 400},
		{"POST", "/Users", `{"userName":["x"]}`, "invalidValue", 400},
		{"POST", "/Users", `{"userName":true}`, "invalidValue", 400},
		{"POST", "/Groups", `{"members":[]}`, "invalidValue", 400},
		{"PATCH", "/Users/" + id, `{"Operations":[]}`, "invalidSyntax", 400},
		{"PATCH", "/Users/" + id, `{"schemas":["urn:x"],"Operations":[{"op":"add","path":"title","value":"x"}]}`, "invalidValue", 400},
		{"PATCH", "/Users/" + id, patchBody(`{"op":"move","path":"title","value":"x"}`), "invalidSyntax", 400},
		{"PATCH", "/Users/" + id, patchBody(`{"op":"add","path":"nosuch","value":"x"}`), "invalidPath", 400},
		{"PATCH", "/Users/" + id, patchBody(`{"op":"add","path":"name.nosuch","value":"x"}`), "invalidPath", 400},
		{"PATCH", "/Users/" + id, patchBody(`{"op":"add","path":"title[","value":"x"}`), "invalidFilter", 400},
		{"PATCH", "/Users/" + id, patchBody(`{"op":"add","value":{"nosuch":1}}`), "invalidPath", 400},
		{"PATCH", "/Users/" + id, patchBody(`{"op":"add","value":"x"}`), "invalidValue", 400},
		{"PATCH", "/Users/" + id, patchBody(`{"op":"remove"}`), "noTarget", 400},
		{"PATCH", "/Users/" + id, patchBody(`{"op":"replace","path":"id","value":"x"}`), "mutability", 400},
		{"PATCH", "/Users/" + id, patchBody(`{"op":"replace","path":"userName","value":null}`), "invalidValue", 400},
		{"PATCH", "/Users/" + id, patchBody(`{"op":"replace","path":"emails[type eq \"work\"]","value":{"value":"x"}}`), "noTarget", 400},
		{"PATCH", "/Users/" + id, patchBody(`{"op":"add","path":"title","value":"x","extra":1}`), "invalidSyntax", 400},
		{"PUT", "/Users/" + id, `{"id":"other","userName":"bad@example.com"}`, "mutability", 400},
		{"GET", "/Users?filter=" + q(`userName eq`), "", "invalidFilter", 400},
		{"GET", "/Users?filter=" + q(`userName eq "x`), "", "invalidFilter", 400},
		{"GET", "/Users?filter=" + q(`nosuch eq "x"`), "", "invalidFilter", 400},
		{"GET", "/Users?filter=" + q(`userName xx "x"`), "", "invalidFilter", 400},
		{"GET", "/Users?filter=" + q(`active gt true`), "", "invalidFilter", 400},
		{"GET", "/Users?filter=" + q(`userName eq 5`), "", "invalidFilter", 400},
		{"GET", "/Users?filter=" + q(`meta.created gt "yesterday"`), "", "invalidFilter", 400},
		{"GET", "/Users?filter=" + q(`(userName eq "x"`), "", "invalidFilter", 400},
		{"GET", "/Users?filter=" + q(`not userName eq "x"`), "", "invalidFilter", 400},
		{"GET", "/Users?filter=" + q(strings.Repeat("(", 100)+`userName pr`+strings.Repeat(")", 100)), "", "invalidFilter", 400},
		{"GET", "/Users?startIndex=abc", "", "invalidValue", 400},
		{"GET", "/Users?count=1e3", "", "invalidValue", 400},
		{"GET", "/Users?%zz", "", "invalidSyntax", 400},
		{"GET", "/Users/nope", "", "", 404},
		{"GET", "/Users/a%2Fb", "", "", 404},
		{"DELETE", "/Users", "", "", 405},
	} {
		r := c.do(tc.method, tc.path, tc.body)
		if tc.scimType == "" {
			r.want(t, tc.status)
		} else {
			r.want(t, tc.status, tc.scimType)
		}
		if len(r.events) != 0 {
			t.Errorf("%s %s reported events on failure", tc.method, tc.path)
		}
	}
	// Oversized: the configured 64 KiB.
	big := `{"userName":"big@example.com","title":"` + strings.Repeat("x", 70<<10) + `"}`
	c.do("POST", "/Users", big).want(t, 413)
	c.do("POST", "/Users", `{"userName":"x"}`, "Content-Type", "text/plain").want(t, 415)
	// Nothing of the bad requests was kept.
	if r := c.do("GET", "/Users", "").want(t, 200); r.body["totalResults"] != 1.0 {
		t.Fatalf("bad input left resources: %s", r.raw)
	}
}

// hrPeers is a remote SCIM endpoint (an HR system) for PullChanges,
// answering RFC 7644 ListResponses to GET /Users with startIndex, count
// and a meta.lastModified gt filter.
func hrPeers() map[string]http.Handler {
	users := []map[string]any{}
	for i := range 5 {
		users = append(users, map[string]any{
			"schemas": []any{urnUser}, "id": fmt.Sprintf("hr-%d", i), "userName": fmt.Sprintf("hr%d@acme.example", i),
			"active": i != 4, "emails": []any{map[string]any{"value": fmt.Sprintf("hr%d@acme.example", i), "type": "work"}},
			"meta": map[string]any{"lastModified": fmt.Sprintf("2026-01-0%dT10:00:00Z", i+1)},
			"x-hr": "ignored",
		})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/scim/v2/Users", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer hr-token" {
			w.WriteHeader(401)
			return
		}
		since := ""
		if f := r.URL.Query().Get("filter"); f != "" {
			if !strings.HasPrefix(f, `meta.lastModified gt "`) {
				w.WriteHeader(400)
				return
			}
			since = strings.TrimSuffix(strings.TrimPrefix(f, `meta.lastModified gt "`), `"`)
		}
		var match []any
		for _, u := range users {
			if lm := u["meta"].(map[string]any)["lastModified"].(string); lm > since {
				match = append(match, u)
			}
		}
		var start, count int
		fmt.Sscan(r.URL.Query().Get("startIndex"), &start)
		fmt.Sscan(r.URL.Query().Get("count"), &count)
		page := []any{}
		for i := start - 1; i >= 0 && i < len(match) && len(page) < count; i++ {
			page = append(page, match[i])
		}
		w.Header().Set("Content-Type", "application/scim+json")
		json.NewEncoder(w).Encode(map[string]any{"schemas": []any{urnListResponse}, "totalResults": len(match), "startIndex": start, "itemsPerPage": len(page), "Resources": page})
	})
	mux.HandleFunc("/garbage/Users", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) })
	return map[string]http.Handler{"hr.acme.example": mux}
}

func testPull(t *testing.T, c client) {
	rc := []byte(`{"url":"https://hr.acme.example/scim/v2","token":"hr-token"}`)
	var all []*abiv1.DirectoryEvent
	cursor := ""
	for range 10 {
		res, err := c.dc.PullChanges(t.Context(), &abiv1.PullChangesRequest{RemoteConfig: rc, Cursor: cursor, PageSize: 2, EnterpriseID: c.ent})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, res.Events...)
		cursor = res.NextCursor
		if !res.More {
			break
		}
	}
	if len(all) != 5 || all[0].ID != "hr-0" || all[4].Action != abiv1.EventActionDeactivated || all[1].Attributes["email"] != "hr1@acme.example" {
		t.Fatalf("first pull: %+v", all)
	}
	// The next pull from the cursor sees nothing new.
	res, err := c.dc.PullChanges(t.Context(), &abiv1.PullChangesRequest{RemoteConfig: rc, Cursor: cursor, PageSize: 2, EnterpriseID: c.ent})
	if err != nil || len(res.Events) != 0 || res.More {
		t.Fatalf("second pull: %+v %v", res, err)
	}
	for _, tc := range []struct {
		rc, cursor string
		code       abiv1.ErrorCode
	}{
		{`{"url":"https://hr.acme.example/scim/v2","token":"wrong"}`, "", abiv1.ErrorCodeUnauthenticated},
		{`{"url":"https://hr.acme.example/garbage","token":"hr-token"}`, "", abiv1.ErrorCodeUnavailable},
		{`{"url":"ftp://hr.acme.example/"}`, "", abiv1.ErrorCodeInvalidArgument},
		{`not json`, "", abiv1.ErrorCodeInvalidArgument},
		{string(rc), "!!!", abiv1.ErrorCodeInvalidArgument},
		{`{"url":"https://elsewhere.example/scim/v2"}`, "", abiv1.ErrorCodePermissionDenied},
	} {
		_, err := c.dc.PullChanges(t.Context(), &abiv1.PullChangesRequest{RemoteConfig: []byte(tc.rc), Cursor: tc.cursor, EnterpriseID: c.ent})
		var e *abiv1.Error
		// A host outside the allow-list: refused by the host (the wasm
		// runtime reports it UNAVAILABLE, the in-process fake PERMISSION_DENIED).
		if !asABIError(err, &e) || (e.Code != tc.code && !(tc.code == abiv1.ErrorCodePermissionDenied && e.Code == abiv1.ErrorCodeUnavailable)) {
			t.Errorf("pull %s: %v, want %v", tc.rc, err, tc.code)
		}
	}
}
