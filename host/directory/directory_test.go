package directory

import (
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(`{"employeeCredential":{"enabled":true,"type":"StaffCredential","claims":["email"]},"groupRoles":{"Engineering":"engineer"},"onDeactivate":"revoke","pull":{"url":"https://hr.example.com/scim/v2","token":"t","intervalSeconds":600}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !c.enabled() || c.plugin() != "scim" || c.onDeactivate() != OnDeactivateRevoke || c.pullInterval().Minutes() != 10 {
		t.Fatalf("%+v", c)
	}
	for _, bad := range []string{
		`{"unknown":1}`, `{"onDeactivate":"delete"}`, `{"groupRoles":{"x":"admin"}}`, `{"groupRoles":{"x":"Bad Role"}}`,
		`{"groupRoles":{"":"r"}}`, `{"employeeCredential":{"enabled":true,"type":"lower"}}`, `{"employeeCredential":{"claims":["password"]}}`,
		`{"pull":{"url":"ftp://x"}}`, `{"pull":{"url":"https://u:p@x"}}`, `{"pull":{"url":"https://x","intervalSeconds":5}}`,
		`{"pull":{"url":"https://x","pageSize":5000}}`, `{"plugin":"../x"}`, `{} {}`, `[`, `null x`,
	} {
		if _, err := ParseConfig([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestRoles(t *testing.T) {
	c := &Config{GroupRoles: map[string]string{"Engineering": "engineer"}}
	for name, want := range map[string]string{
		"engineering": "engineer", "Sales Team": "group:sales-team", "R&D / Labs": "group:r-d-labs", "  ": "", "Ünïcode": "group:n-code",
		strings.Repeat("a", 100): "group:" + strings.Repeat("a", 56),
	} {
		if got := c.role(name); got != want {
			t.Errorf("role(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestMemberEmail(t *testing.T) {
	for _, tc := range []struct {
		attrs map[string]string
		want  string
	}{
		{map[string]string{"email": "Jane@Acme.EDU", "userName": "jdoe"}, "jane@acme.edu"},
		{map[string]string{"userName": "Jane@acme.edu"}, "jane@acme.edu"},
		{map[string]string{"userName": "jdoe"}, "jdoe@acme.edu"},
		{map[string]string{"userName": ""}, ""},
		{map[string]string{"email": "a b@c"}, ""},
		{map[string]string{"email": "@c"}, ""},
	} {
		got, err := memberEmail(tc.attrs, "acme.edu")
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("%v: %q %v, want %q", tc.attrs, got, err, tc.want)
		}
	}
}

// FuzzParseConfig feeds arbitrary bytes to the connector configuration
// decoder: never a panic, and what it accepts validates again after an
// encoding round trip.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{`{}`, `{"enabled":false}`, `{"groupRoles":{"A":"b"}}`, `{"pull":{"url":"https://x/y","token":"t"}}`,
		`{"employeeCredential":{"enabled":true,"claims":["email","title"]}}`, `{"onDeactivate":"suspend"}`, `{"x":`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err != nil {
			return
		}
		if err := c.validate(); err != nil {
			t.Fatalf("accepted then invalid: %v", err)
		}
		for g := range c.GroupRoles {
			if r := c.role(g); reserve[r] {
				t.Fatalf("reserved role %q", r)
			}
		}
	})
}
