package main

import (
	"strings"
	"testing"

	abiv1 "github.com/ubeu/gateway/abi/v1"
)

// FuzzParseLink: the Link header parser (RFC 8288, as Canvas pages with it:
// https://canvas.instructure.com/doc/api/file.pagination.html) never
// panics, never returns a link over the cap, and parses the documented
// form.
func FuzzParseLink(f *testing.F) {
	for _, s := range []string{
		`<https://canvas.example/api/v1/courses/1/enrollments?page=2&per_page=10>; rel="next", <https://canvas.example/api/v1/courses/1/enrollments?page=1&per_page=10>; rel="first"`,
		`<https://x/a?page=1>; rel="current",<https://x/a?page=2>; rel="next",<https://x/a?page=1>; rel="first",<https://x/a?page=9>; rel="last"`,
		`<https://x/a>; rel=next`, `<https://x/a>; title="a,b"; rel="prev next"`, `<`, `<a>;`, `<a>; rel="`, ``, `,`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		m, err := parseLink(h)
		if err != nil {
			return
		}
		if len(m) > 64 {
			t.Fatalf("%d rels", len(m))
		}
		for _, u := range m {
			if len(u) > maxLinkURL {
				t.Fatalf("link of %d bytes", len(u))
			}
		}
	})
}

func TestParseLink(t *testing.T) {
	h := `<https://c.example/api/v1/courses?page=1&per_page=10>; rel="current",` +
		`<https://c.example/api/v1/courses?page=2&per_page=10>; rel="next",` +
		`<https://c.example/api/v1/courses?page=1&per_page=10>; rel="first",` +
		`<https://c.example/api/v1/courses?page=5&per_page=10>; rel="last"`
	m, err := parseLink(h)
	if err != nil || m["next"] != "https://c.example/api/v1/courses?page=2&per_page=10" || m["last"] != "https://c.example/api/v1/courses?page=5&per_page=10" {
		t.Fatalf("%v %v", m, err)
	}
	if m, err := parseLink(`<https://x/a>; title="x, y"; rel="prev next"`); err != nil || m["next"] != "https://x/a" || m["prev"] != "https://x/a" {
		t.Fatalf("%v %v", m, err)
	}
	for _, bad := range []string{`https://x/a; rel="next"`, `<https://x/a; rel="next"`, `<https://x/a>; rel="next`, `<a> <b>`} {
		if _, err := parseLink(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := parseLink(strings.Repeat(`<a>; rel="x",`, 40) + `<a>`); err == nil {
		t.Error("too many links accepted")
	}
}

// FuzzParseReplies: the JSON replies of the routes the plugin reads
// (https://canvas.instructure.com/doc/api/enrollments.html,
// courses.html#method.courses.user_progress) and the status mapping never
// panic; failures are typed.
func FuzzParseReplies(f *testing.F) {
	for _, s := range []string{
		`[{"id":1,"user_id":7,"type":"StudentEnrollment","enrollment_state":"active","grades":{"final_score":88.5},"user":{"id":7,"name":"A","login_id":"a@example.edu"}}]`,
		`{"requirement_count":10,"requirement_completed_count":10,"next_requirement_url":null,"completed_at":"2013-06-01T00:00:00-06:00"}`,
		`[{"id":2,"name":"C","course_code":"c","workflow_state":"available"}]`,
		`while(1);[{"id":2}]`, `{"errors":[{"message":"Invalid access token."}]}`, `403 Forbidden (Rate Limit Exceeded)`,
		`<html></html>`, `[{"id":`, ``,
	} {
		f.Add([]byte(s), int32(200))
	}
	f.Fuzz(func(t *testing.T, b []byte, status int32) {
		for _, out := range []any{new([]enrollment), new(progress), new([]course), new(course)} {
			if err := parseJSON(b, out); err != nil {
				if _, ok := err.(*abiv1.Error); !ok {
					t.Fatalf("untyped %T", err)
				}
			}
		}
		var p progress
		if parseJSON(b, &p) == nil {
			if at, ok := p.completed(); ok && p.RequirementCount > 0 && p.RequirementCompletedCount < p.RequirementCount {
				t.Fatalf("completed at %d with %d/%d", at, p.RequirementCompletedCount, p.RequirementCount)
			}
		}
		var es []enrollment
		if parseJSON(b, &es) == nil {
			for _, e := range es {
				if m := e.email(); m != "" && !strings.Contains(m, "@") {
					t.Fatalf("email %q", m)
				}
			}
		}
		res := &abiv1.HTTPResponse{Status: status, Body: b}
		if err := checkStatus(res); err != nil {
			if _, ok := err.(*abiv1.Error); !ok {
				t.Fatalf("untyped %T", err)
			}
		} else if status < 200 || status > 299 {
			t.Fatalf("status %d accepted", status)
		}
	})
}

func TestCheckStatus(t *testing.T) {
	cases := []struct {
		status int32
		body   string
		hdr    []*abiv1.Header
		code   abiv1.ErrorCode
	}{
		{401, `{"errors":[{"message":"Invalid access token."}]}`, nil, abiv1.ErrorCodeUnauthenticated},
		{403, "403 Forbidden (Rate Limit Exceeded)\n", []*abiv1.Header{{Name: "X-Rate-Limit-Remaining", Values: []string{"0.0"}}}, abiv1.ErrorCodeRateLimited},
		{403, `{"status":"unauthorized","errors":[{"message":"user not authorized to perform that action"}]}`, nil, abiv1.ErrorCodePermissionDenied},
		{404, `{"errors":[{"message":"The specified resource does not exist."}]}`, nil, abiv1.ErrorCodeNotFound},
		{500, `<html>oops</html>`, nil, abiv1.ErrorCodeUnavailable},
	}
	for _, c := range cases {
		err := checkStatus(&abiv1.HTTPResponse{Status: c.status, Body: []byte(c.body), Headers: c.hdr})
		e, ok := err.(*abiv1.Error)
		if !ok || e.Code != c.code {
			t.Errorf("%d %s: %v", c.status, c.body, err)
		}
		if c.code == abiv1.ErrorCodeRateLimited && e.Details["retry_after_ms"] == "" {
			t.Error("no retry_after_ms")
		}
	}
}
