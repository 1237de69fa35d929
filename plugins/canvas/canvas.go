package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	abiv1 "github.com/ubeu/gateway/abi/v1"
)

// Limits on what the plugin accepts from a server.
const (
	maxReply   = 8 << 20 // a JSON body (the host caps bodies too)
	maxLinkURL = 4096    // a next link
	maxLinks   = 16      // links of one Link header
	// throttleRetries bounds the retries of a throttled request inside one
	// call; lowQuota is the X-Rate-Limit-Remaining under which requests
	// are paced.
	throttleRetries = 3
	lowQuota        = 20
	// defaultRetryMs is the back-off asked of the host on throttling when
	// the server gives no Retry-After.
	defaultRetryMs = 1000
)

// course is a Course object (https://canvas.instructure.com/doc/api/courses.html).
type course struct {
	ID                int64  `json:"id"`
	Name              string `json:"name"`
	CourseCode        string `json:"course_code"`
	WorkflowState     string `json:"workflow_state"`
	PublicDescription string `json:"public_description"`
}

// enrollment is an Enrollment object
// (https://canvas.instructure.com/doc/api/enrollments.html).
type enrollment struct {
	ID     int64  `json:"id"`
	UserID int64  `json:"user_id"`
	Type   string `json:"type"`
	State  string `json:"enrollment_state"`
	Grades *struct {
		FinalScore *float64 `json:"final_score"`
	} `json:"grades"`
	User struct {
		ID      int64  `json:"id"`
		Name    string `json:"name"`
		LoginID string `json:"login_id"`
		Email   string `json:"email"`
	} `json:"user"`
}

// email is the learner's address: user.email, or login_id if it is one.
func (e *enrollment) email() string {
	for _, s := range []string{e.User.Email, e.User.LoginID} {
		s = strings.TrimSpace(s)
		if a, err := mail.ParseAddress(s); err == nil && a.Address == s && a.Name == "" {
			return s
		}
	}
	return ""
}

// progress is a CourseProgress object (GET
// /api/v1/courses/:course_id/users/:user_id/progress,
// https://canvas.instructure.com/doc/api/courses.html#method.courses.user_progress).
type progress struct {
	RequirementCount          int     `json:"requirement_count"`
	RequirementCompletedCount int     `json:"requirement_completed_count"`
	NextRequirementURL        *string `json:"next_requirement_url"`
	CompletedAt               *string `json:"completed_at"`
}

// completed reports whether every requirement is met, and when.
func (p *progress) completed() (int64, bool) {
	if p.CompletedAt == nil || *p.CompletedAt == "" {
		return 0, false
	}
	t, err := time.Parse(time.RFC3339, *p.CompletedAt)
	if err != nil {
		return 0, false
	}
	if p.RequirementCount > 0 && p.RequirementCompletedCount < p.RequirementCount {
		return 0, false
	}
	return t.Unix(), true
}

// apiErrors is Canvas's error body: {"errors":[{"message":"..."}]} (also
// {"status":"unauthorized","errors":[...]}).
type apiErrors struct {
	Errors []struct {
		Message string `json:"message"`
	} `json:"errors"`
}

func header(res *abiv1.HTTPResponse, name string) string {
	for _, h := range res.Headers {
		if strings.EqualFold(h.Name, name) && len(h.Values) > 0 {
			return strings.Join(h.Values, ", ")
		}
	}
	return ""
}

// checkStatus maps a non-2xx reply to a typed error. Throttling is a 403
// whose body says "Rate Limit Exceeded" (or with X-Rate-Limit-Remaining at
// zero): RATE_LIMITED with retry_after_ms.
func checkStatus(res *abiv1.HTTPResponse) error {
	if res.Status >= 200 && res.Status < 300 {
		return nil
	}
	msg := errorMessage(res.Body)
	throttled := res.Status == 429 || res.Status == 403 && (strings.Contains(string(bytes.ToLower(res.Body)), "rate limit exceeded") ||
		strings.TrimSpace(header(res, "X-Rate-Limit-Remaining")) == "0" || strings.HasPrefix(strings.TrimSpace(header(res, "X-Rate-Limit-Remaining")), "0.0"))
	if throttled {
		retry := defaultRetryMs
		if s, err := strconv.Atoi(strings.TrimSpace(header(res, "Retry-After"))); err == nil && s >= 0 && s <= 3600 {
			retry = s * 1000
		}
		d := map[string]string{"reason": "throttled", "retry_after_ms": strconv.Itoa(retry)}
		if r := header(res, "X-Rate-Limit-Remaining"); r != "" {
			d["x_rate_limit_remaining"] = clip(r, 32)
		}
		return &abiv1.Error{Code: abiv1.ErrorCodeRateLimited, Message: fmt.Sprintf("HTTP %d: throttled (%s)", res.Status, msg), Details: d}
	}
	code := abiv1.ErrorCodeUnavailable
	switch res.Status {
	case 400, 422:
		code = abiv1.ErrorCodeInvalidArgument
	case 401:
		code = abiv1.ErrorCodeUnauthenticated
	case 403:
		code = abiv1.ErrorCodePermissionDenied
	case 404:
		code = abiv1.ErrorCodeNotFound
	}
	return &abiv1.Error{Code: code, Message: fmt.Sprintf("HTTP %d: %s", res.Status, msg), Details: map[string]string{"status": strconv.Itoa(int(res.Status))}}
}

// errorMessage is the first message of an error body, or a snippet.
func errorMessage(b []byte) string {
	var e apiErrors
	if json.Unmarshal(b, &e) == nil && len(e.Errors) > 0 && e.Errors[0].Message != "" {
		return clip(e.Errors[0].Message, 200)
	}
	return snippet(bytes.TrimSpace(b))
}

// parseJSON decodes a reply into out: HTML instead of JSON and truncated
// JSON are UNAVAILABLE with a message saying so.
func parseJSON(body []byte, out any) error {
	if len(body) > maxReply {
		return abiv1.Errorf(abiv1.ErrorCodeUnavailable, "reply of %d bytes is over the %d-byte cap", len(body), maxReply)
	}
	b := bytes.TrimSpace(body)
	// Canvas may prefix JSON with "while(1);" against JSON hijacking
	// (https://canvas.instructure.com/doc/api/index.html, "Authentication").
	b = bytes.TrimPrefix(b, []byte("while(1);"))
	if len(b) == 0 {
		return abiv1.Errorf(abiv1.ErrorCodeUnavailable, "empty reply (expected JSON)")
	}
	if b[0] == '<' {
		return abiv1.Errorf(abiv1.ErrorCodeUnavailable, "reply is HTML, not JSON (%s): is the base URL the Canvas instance?", snippet(b))
	}
	if !json.Valid(b) {
		err := json.Unmarshal(b, new(any))
		if err != nil && strings.Contains(err.Error(), "unexpected end of JSON input") {
			return abiv1.Errorf(abiv1.ErrorCodeUnavailable, "reply is truncated JSON (%d bytes)", len(b))
		}
		return abiv1.Errorf(abiv1.ErrorCodeUnavailable, "reply is not JSON: %v", err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return abiv1.Errorf(abiv1.ErrorCodeUnavailable, "reply does not have the documented shape: %v", err)
	}
	return nil
}

// errLink is a Link header that does not parse.
var errLink = errors.New("malformed Link header")

// parseLink parses an RFC 8288 Link header into rel → URL, the form
// Canvas pages with (https://canvas.instructure.com/doc/api/file.pagination.html):
//
//	<https://x/api/v1/courses?page=2&per_page=10>; rel="next", <...>; rel="first"
//
// A link may carry several space-separated rels; parameters other than rel
// are ignored.
func parseLink(h string) (map[string]string, error) {
	out := map[string]string{}
	s := strings.TrimSpace(h)
	for n := 0; s != ""; n++ {
		if n >= maxLinks {
			return nil, fmt.Errorf("%w: more than %d links", errLink, maxLinks)
		}
		if s[0] != '<' {
			return nil, fmt.Errorf("%w: expected '<'", errLink)
		}
		end := strings.IndexByte(s, '>')
		if end < 0 {
			return nil, fmt.Errorf("%w: unterminated <URL>", errLink)
		}
		target := s[1:end]
		if len(target) > maxLinkURL {
			return nil, fmt.Errorf("%w: link of %d bytes", errLink, len(target))
		}
		s = strings.TrimSpace(s[end+1:])
		var rels []string
		for strings.HasPrefix(s, ";") {
			s = strings.TrimSpace(s[1:])
			eq := strings.IndexAny(s, "=;,")
			name := ""
			if eq < 0 {
				name, s = strings.TrimSpace(s), ""
			} else {
				name = strings.TrimSpace(s[:eq])
				if s[eq] != '=' {
					s = s[eq:]
					continue
				}
				s = strings.TrimSpace(s[eq+1:])
			}
			var val string
			if strings.HasPrefix(s, `"`) {
				q := strings.IndexByte(s[1:], '"')
				if q < 0 {
					return nil, fmt.Errorf("%w: unterminated quoted value", errLink)
				}
				val, s = s[1:1+q], strings.TrimSpace(s[2+q:])
			} else {
				e := strings.IndexAny(s, ";,")
				if e < 0 {
					e = len(s)
				}
				val, s = strings.TrimSpace(s[:e]), s[e:]
			}
			if strings.EqualFold(name, "rel") {
				rels = strings.Fields(strings.ToLower(val))
			}
		}
		for _, r := range rels {
			if _, dup := out[r]; !dup {
				out[r] = target
			}
		}
		if s == "" {
			break
		}
		if s[0] != ',' {
			return nil, fmt.Errorf("%w: expected ','", errLink)
		}
		s = strings.TrimSpace(s[1:])
	}
	return out, nil
}

// checkBaseURL accepts an http(s) URL without credentials, query or
// fragment.
func checkBaseURL(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "canvas: base URL %q is not an http(s) URL of an instance", s)
	}
	return u, nil
}

func parseID(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "%q is not a Canvas id", s)
	}
	return n, nil
}

// redact drops the query of a URL for messages (it may carry an
// access_token if an operator put one there).
func redact(s string) string {
	if i := strings.IndexByte(s, '?'); i >= 0 {
		return s[:i]
	}
	return s
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func snippet(b []byte) string {
	if len(b) > 40 {
		b = b[:40]
	}
	return strconv.Quote(string(b))
}
