package main

import (
	"strings"
	"testing"
)

var sampleUser = map[string]any{
	"id": "u1", "userName": "Alice@Example.com", "active": true, "title": "Engineer",
	"name":            map[string]any{"givenName": "Alice", "familyName": "Smith"},
	"emails":          []any{map[string]any{"value": "alice@example.com", "type": "work", "primary": true}, map[string]any{"value": "a@home.example", "type": "home"}},
	"meta":            map[string]any{"created": "2026-01-01T00:00:00Z", "lastModified": "2026-02-01T00:00:00Z"},
	urnEnterpriseUser: map[string]any{"employeeNumber": "42", "manager": map[string]any{"value": "m1"}},
}

func TestFilterEval(t *testing.T) {
	for _, tc := range []struct {
		f    string
		want bool
	}{
		{`userName eq "alice@example.com"`, true}, // caseExact false
		{`id eq "U1"`, false},                     // id is caseExact
		{`id eq "u1"`, true},
		{`USERNAME Eq "ALICE@EXAMPLE.COM"`, true},
		{`emails[type eq "work"]`, true},
		{`emails[type eq "work" and value ew "@home.example"]`, false},
		{`emails[type eq "home" and value ew "@home.example"]`, true},
		{`emails[not (type eq "work")]`, true},
		{`emails.primary eq true`, true},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "42"`, true},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m1"`, true},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "m1"`, true},
		{`meta.lastModified ge "2026-02-01T00:00:00Z" and meta.created lt "2026-01-01T00:00:01Z"`, true},
		{`meta.lastModified gt "2026-02-01T01:00:00+01:00"`, false},
		{`not (title pr) or active eq false`, false},
		{`(title sw "eng" or title ew "x") and not (name.familyName co "z")`, true},
		{`displayName pr`, false},
		{`displayName ne "x"`, true},
	} {
		n, err := parseFilter(userType, tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.f, err)
		}
		if got := n.eval(sampleUser); got != tc.want {
			t.Errorf("%s = %v, want %v", tc.f, got, tc.want)
		}
	}
	if v, ok := userNameEq(mustFilter(t, `title pr and userName eq "x"`)); !ok || v != "x" {
		t.Errorf("userNameEq in a conjunction: %q %v", v, ok)
	}
	if _, ok := userNameEq(mustFilter(t, `title pr or userName eq "x"`)); ok {
		t.Errorf("userNameEq in a disjunction")
	}
}

func mustFilter(t *testing.T, s string) node {
	n, err := parseFilter(userType, s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPatchPathParse(t *testing.T) {
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{`emails[type eq "work"].value`, true},
		{`members[value eq "2819c223-7f76-453a-919d-413861904646"]`, true},
		{`name.givenName`, true},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`, true},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`, true},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName`, true},
		{`emails[type eq "work"].nosuch`, false},
		{`emails[type eq "work"]value`, false},
		{`emails[type eq "work"].value.x`, false},
		{`name[givenName eq "x"]`, false},
		{`emails[emails[type eq "x"]]`, false},
		{`urn:nope:userName`, false},
		{``, false},
		{`[x]`, false},
	} {
		rt := userType
		if strings.HasPrefix(tc.path, "members") {
			rt = groupType
		}
		_, err := parsePatchPath(rt, tc.path)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok %v", tc.path, err, tc.ok)
		}
	}
}

// FuzzFilter feeds arbitrary filters to the parser: it must never panic,
// and a filter it accepts must evaluate without panicking.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		`userName eq "bjensen"`, `name.familyName co "O'Malley"`, `userName sw "J"`, `title pr`,
		`meta.lastModified gt "2011-05-13T04:42:34Z"`, `title pr and userType eq "Employee"`,
		`userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`,
		`userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`,
		`emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`,
		`active eq "True"`, `x eq`, `((((`, `"unterminated`, `a[b[c]]`, `userName eq "\u00e9\"\\"`, `not(title pr)`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, rt := range []*resourceType{userType, groupType} {
			n, err := parseFilter(rt, s)
			if err != nil {
				if _, ok := err.(*filterError); !ok {
					t.Fatalf("%q: error of type %T", s, err)
				}
				continue
			}
			n.eval(sampleUser)
			n.eval(map[string]any{"members": []any{map[string]any{"value": "x"}, "junk"}, "emails": "junk"})
		}
	})
}

// FuzzPatchPath feeds arbitrary PATCH paths to the path parser and the
// accepted ones, with a value, to the operation that uses them.
func FuzzPatchPath(f *testing.F) {
	for _, s := range []string{
		`members[value eq "2819c223"]`, `emails[type eq "work"].value`, `name.familyName`, `addresses[type eq "work"].streetAddress`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`, `members`, `members[value eq ]`, `emails[`, `].x`,
	} {
		f.Add(s, `"x"`)
	}
	f.Fuzz(func(t *testing.T, path, value string) {
		pp, err := parsePatchPath(userType, path)
		if err != nil {
			return
		}
		_ = pp
		v, derr := decodeResource([]byte(`{"v":` + value + `}`))
		if derr != nil {
			return
		}
		for _, op := range []string{"add", "replace", "remove"} {
			res := deepCopy(sampleUser)
			before := len(elements(res["emails"]))
			err := applyOp(userType, res, op, path, v["v"])
			if op == "remove" && err == nil && strings.Contains(path, "emails[") && !strings.Contains(path, "].") {
				// A removal by filter removes only matching values.
				n, _ := parsePatchPath(userType, path)
				matched := 0
				for _, e := range elements(sampleUser["emails"]) {
					if n.Filter.eval(e) {
						matched++
					}
				}
				if after := len(elements(res["emails"])); after != before-matched {
					t.Fatalf("%q removed %d of %d, %d matched", path, before-after, before, matched)
				}
			}
		}
	})
}
