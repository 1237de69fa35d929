package httpapi

import (
	"strings"
	"testing"
)

func TestDecodeJSON(t *testing.T) {
	type req struct {
		Email string `json:"email"`
		N     int    `json:"n"`
	}
	cases := []struct {
		ct, body string
		status   int
		field    string
	}{
		{"application/json", `{"email":"a@b.c","n":1}`, 0, ""},
		{"application/json; charset=utf-8", `{"email":"a"}`, 0, ""},
		{"application/merge-patch+json", `{"email":"a"}`, 0, ""},
		{"application/json; charset=latin1", `{"email":"a"}`, 415, ""},
		{"text/plain", `{"email":"a"}`, 415, ""},
		{"", `{"email":"a"}`, 415, ""},
		{"application/json", ``, 400, ""},
		{"application/json", `{"email":`, 400, ""},
		{"application/json", `{"email":1}`, 400, "email"},
		{"application/json", `{"other":1}`, 400, "other"},
		{"application/json", `{"email":"a"}{"email":"b"}`, 400, ""},
		{"application/json", `null`, 0, ""},
		// Stricter than encoding/json: a repeated member (which copy would
		// a policy have seen?), invalid UTF-8, a name differing in case.
		{"application/json", `{"email":"a","email":"b"}`, 400, ""},
		{"application/json", "{\"email\":\"\xff\"}", 400, ""},
		{"application/json", `{"Email":"a"}`, 400, "Email"},
		{"application/json", `[1]`, 400, "(body)"},
	}
	for _, c := range cases {
		var v req
		e := decodeJSON(c.ct, []byte(c.body), &v)
		switch {
		case c.status == 0 && e != nil:
			t.Errorf("%q %q: %v", c.ct, c.body, e)
		case c.status != 0 && (e == nil || e.Status != c.status):
			t.Errorf("%q %q: got %v, want status %d", c.ct, c.body, e, c.status)
		case c.field != "" && e.Details["field"] != c.field:
			t.Errorf("%q: details %v, want field %s", c.body, e.Details, c.field)
		}
	}
}

// FuzzDecodeJSON: any bytes and content type give either a decoded value
// or a 400/415 error with a message, never a panic.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"email":"a@b.c","password":"x"}`, `{"email":`, `[]`, `{"a":1}`, "\xff\xfe", `{"email":"\u0000"}`, `{"password":1e999}`} {
		f.Add("application/json", []byte(s))
	}
	f.Add("application/json; charset=\"", []byte(`{}`))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		var v loginRequest
		e := decodeJSON(ct, body, &v)
		if e != nil && (e.Status != 400 && e.Status != 415 || e.Message == "" || e.Code == "") {
			t.Fatalf("bad error %+v", e)
		}
	})
}

func TestNormaliseEmail(t *testing.T) {
	good := map[string]string{"Ada@Example.COM": "ada@example.com", "a.b+c@sub.example.org": "a.b+c@sub.example.org", "admin@localhost": "admin@localhost"}
	for in, want := range good {
		got, e := normaliseEmail(in)
		if e != nil || got != want {
			t.Errorf("%q: %q %v", in, got, e)
		}
	}
	for _, in := range []string{"", "plain", "a@", "@b.c", "A <a@b.c>", "a@b", strings.Repeat("a", 65) + "@b.c", strings.Repeat("a", 250) + "@b.cc", "a@b.c\n"} {
		if _, e := normaliseEmail(in); e == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestValidRequestID(t *testing.T) {
	for _, ok := range []string{"abc", "A-1_2.3:4", strings.Repeat("x", 128)} {
		if !validRequestID([]byte(ok)) {
			t.Errorf("%q refused", ok)
		}
	}
	for _, bad := range []string{"", "a b", "a\nb", "<script>", strings.Repeat("x", 129), "é"} {
		if validRequestID([]byte(bad)) {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestIsJSONContentType: JSON media types, with or without a UTF-8
// charset, in any case, are JSON; other types and charsets are not.
func TestIsJSONContentType(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/json":                      true,
		"APPLICATION/JSON":                      true,
		"application/json; charset=utf-8":       true,
		"application/json;charset=UTF-8":        true,
		`application/json; charset="utf-8"`:     true,
		"application/ld+json":                   true,
		"application/vc+ld+json; charset=utf-8": true,
		"application/json; charset=latin1":      false,
		"application/jsonx":                     false,
		"text/json":                             false,
		"text/plain":                            false,
		"application/json; charset=utf-8; x":    false,
		"":                                      false,
	} {
		if got := isJSONContentType(ct); got != want {
			t.Errorf("%q: %v, want %v", ct, got, want)
		}
	}
}
