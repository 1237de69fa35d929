//go:build !wasip1

package plugintest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	abiv1 "github.com/ubeu/gateway/abi/v1"
)

// TB is the part of testing.TB the conformance suites use, so that a suite
// can itself be tested. *testing.T implements it.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
}

// PluginInfo is what a plugin must report in Describe. Empty Name or
// Version accept any non-empty value; Interfaces, if set, must be equal
// (in any order), else the interface under test must be listed.
type PluginInfo struct {
	Name       string
	Version    string
	Interfaces []string
}

// ResolveCase is one declared Resolve answer. Exactly one of Want and
// WantCode is set: the plugin must answer Want (compared after an encoding
// round trip, so nil and empty are the same), or fail with an *abiv1.Error
// of code WantCode.
type ResolveCase struct {
	Req      *abiv1.ResolveRequest
	Want     *abiv1.ResolveResponse
	WantCode abiv1.ErrorCode
}

// CheckOwnershipCase is one declared CheckOwnership answer, like ResolveCase.
type CheckOwnershipCase struct {
	Req      *abiv1.CheckOwnershipRequest
	Want     *abiv1.CheckOwnershipResponse
	WantCode abiv1.ErrorCode
}

// ResolverCases is what ResolverConformance checks beyond the generic rules.
type ResolverCases struct {
	Plugin         PluginInfo
	Resolve        []ResolveCase
	CheckOwnership []CheckOwnershipCase
	// Parallel is the number of goroutines replaying the cases at once
	// (default 8); Rounds is how many times each replays them (default 10).
	Parallel, Rounds int
	// Timeout bounds each call (default 10 s).
	Timeout time.Duration
}

// SSOCases is what SSOConformance checks. With EnterpriseID empty only the
// generic rules are checked; set it to an enterprise the plugin is
// configured for (by the test's fixtures) to check the login flow too.
type SSOCases struct {
	Plugin PluginInfo
	// EnterpriseID is a configured enterprise; ACSURL the assertion
	// consumer URL the host would pass (default
	// "https://gateway.example/saml/<enterprise>/acs").
	EnterpriseID, ACSURL string
	Parallel, Rounds     int
	Timeout              time.Duration
}

// DirectoryCases is what DirectoryConformance checks beyond the generic
// rules.
type DirectoryCases struct {
	Plugin PluginInfo
	// EnterpriseID the SCIM requests are made for (default "conformance").
	EnterpriseID string
	// Headers added to every SCIM request (e.g. what the host passes on).
	Headers          []*abiv1.Header
	Parallel, Rounds int
	Timeout          time.Duration
}

// LMSCases is what LMSConformance checks beyond the generic rules. The
// plugin runs against fixtures the test provides (simulated peers); the
// cases name what those fixtures hold.
type LMSCases struct {
	Plugin PluginInfo
	// Course is a course of the fixture with completions; its listing is
	// walked page by page. Empty skips the completion checks.
	Course string
	// Completions, if positive, is how many distinct learners completed
	// Course: the walk must find exactly that many.
	Completions int
	// MissingCourse is a course ID the fixture does not have: listing it
	// must fail with NOT_FOUND. Empty skips the check.
	MissingCourse string
	// PageSize asked for in the walks (default 2, so that they paginate).
	PageSize uint32
	// MaxPages bounds each walk (default 10,000): a plugin whose cursor
	// never settles fails.
	MaxPages         int
	Parallel, Rounds int
	Timeout          time.Duration
}

// GenericCases configures the checks every interface shares.
type GenericCases struct {
	Plugin           PluginInfo
	Parallel, Rounds int
	Timeout          time.Duration
}

// A request that does not decode: field 1, length-delimited, claiming 5
// bytes where 1 follows.
var malformed = []byte{0x0a, 0x05, 'x'}

// unknownMethod is a method ID no ABI version assigns (block 0xff).
const unknownMethod = 0xff01

// ResolverConformance checks that tr (a plugin implementing "resolver")
// behaves as the gateway expects:
//   - Describe reports a name, a version, the interfaces and ABI minor 1.x;
//   - an unknown method ID and a method of an interface the plugin does not
//     implement get an *abiv1.Error with code UNIMPLEMENTED;
//   - a request that does not decode gets INVALID_ARGUMENT (not a crash:
//     the plugin keeps answering);
//   - an empty name gets INVALID_ARGUMENT from Resolve and CheckOwnership;
//   - the declared cases get their declared answers;
//   - the same cases, replayed from parallel goroutines, get the same answers.
func ResolverConformance(t TB, tr abiv1.Transport, cases ResolverCases) {
	t.Helper()
	c := newChecker(t, tr, cases.Timeout)
	c.describe(abiv1.IfaceResolver, cases.Plugin)
	c.unimplemented(abiv1.IfaceResolver, cases.Plugin.Interfaces)
	c.malformed(abiv1.MethodResolverResolve, abiv1.MethodResolverCheckOwnership)

	cl := abiv1.NewResolverClient(c)
	_, err := cl.Resolve(c.ctx(), &abiv1.ResolveRequest{Name: ""})
	c.wantCode("Resolve with an empty name", err, abiv1.ErrorCodeInvalidArgument)
	_, err = cl.CheckOwnership(c.ctx(), &abiv1.CheckOwnershipRequest{Name: "", Address: &abiv1.Address{Chain: "eip155:1", Address: "0x0"}})
	c.wantCode("CheckOwnership with an empty name", err, abiv1.ErrorCodeInvalidArgument)

	var calls []func() error
	for i, rc := range cases.Resolve {
		if rc.Req == nil {
			t.Errorf("Resolve case %d: Req is nil", i)
			continue
		}
		call := func() error {
			got, err := cl.Resolve(c.ctx(), rc.Req)
			if err := compare(err, got, rc.Want, rc.WantCode); err != nil {
				return fmt.Errorf("resolve case %d (%q): %w", i, rc.Req.Name, err)
			}
			return nil
		}
		if err := call(); err != nil {
			t.Errorf("%v", err)
		}
		calls = append(calls, call)
	}
	for i, oc := range cases.CheckOwnership {
		if oc.Req == nil {
			t.Errorf("CheckOwnership case %d: Req is nil", i)
			continue
		}
		call := func() error {
			got, err := cl.CheckOwnership(c.ctx(), oc.Req)
			if err := compare(err, got, oc.Want, oc.WantCode); err != nil {
				return fmt.Errorf("checkOwnership case %d (%q): %w", i, oc.Req.Name, err)
			}
			return nil
		}
		if err := call(); err != nil {
			t.Errorf("%v", err)
		}
		calls = append(calls, call)
	}
	calls = append(calls, func() error {
		_, err := cl.Resolve(c.ctx(), &abiv1.ResolveRequest{Name: ""})
		if err := compare(err, (*abiv1.ResolveResponse)(nil), nil, abiv1.ErrorCodeInvalidArgument); err != nil {
			return fmt.Errorf("resolve with an empty name: %w", err)
		}
		return nil
	})
	c.parallel(calls, cases.Parallel, cases.Rounds)
}

// LMSConformance checks the generic rules (Describe, UNIMPLEMENTED,
// INVALID_ARGUMENT for malformed requests, parallel calls) for "lms", and
// what a sync relies on:
//   - DescribeCourses pages hold at most the page size, every course has an
//     ID and a title, no ID repeats across pages, the walk ends (an empty
//     next_cursor), and describing one listed course by ID answers it;
//   - ListCompletions of Course, walked from the start, pages hold at most
//     the page size, every completion names its learner and a completion
//     time, grades are in [0, 1], course_id is empty or the course, no
//     learner repeats, and the cursor settles (next_cursor equal to the
//     request's) within MaxPages; asking again from the settled cursor
//     answers nothing new; resuming from a cursor met on the way answers
//     what the walk saw from there (an interrupted sync resumes without
//     duplicates or gaps);
//   - a course the LMS does not have gets NOT_FOUND;
//   - the walks replayed from parallel goroutines answer the same.
func LMSConformance(t TB, tr abiv1.Transport, cases LMSCases) {
	t.Helper()
	genericConformance(t, tr, abiv1.IfaceLMS, GenericCases{Plugin: cases.Plugin, Parallel: cases.Parallel, Rounds: cases.Rounds, Timeout: cases.Timeout},
		abiv1.MethodLMSDescribeCourses, abiv1.MethodLMSListCompletions)
	c := newChecker(t, tr, cases.Timeout)
	if cases.PageSize == 0 {
		cases.PageSize = 2
	}
	if cases.MaxPages <= 0 {
		cases.MaxPages = 10_000
	}
	cl := abiv1.NewLMSClient(c)

	courses, err := walkCourses(c.ctx(), cl, cases.PageSize, cases.MaxPages)
	if err != nil {
		t.Errorf("DescribeCourses: %v", err)
	} else if len(courses) > 0 {
		one, err := cl.DescribeCourses(c.ctx(), &abiv1.DescribeCoursesRequest{IDs: []string{courses[0].ID}})
		if err != nil || len(one.Courses) != 1 || one.Courses[0].ID != courses[0].ID {
			t.Errorf("DescribeCourses(ids: [%q]) = %+v, %v; want that course", courses[0].ID, one, err)
		}
	}

	if cases.MissingCourse != "" {
		_, err := cl.ListCompletions(c.ctx(), &abiv1.ListCompletionsRequest{CourseID: cases.MissingCourse, PageSize: cases.PageSize})
		c.wantCode(fmt.Sprintf("ListCompletions of the missing course %q", cases.MissingCourse), err, abiv1.ErrorCodeNotFound)
	}
	var calls []func() error
	if cases.Course != "" {
		w, err := walkCompletions(c.ctx(), cl, cases.Course, "", cases.PageSize, cases.MaxPages)
		if err != nil {
			t.Errorf("ListCompletions(%q): %v", cases.Course, err)
		} else {
			if cases.Completions > 0 && len(w.learners) != cases.Completions {
				t.Errorf("ListCompletions(%q) found %d learners, want %d", cases.Course, len(w.learners), cases.Completions)
			}
			again, err := cl.ListCompletions(c.ctx(), &abiv1.ListCompletionsRequest{CourseID: cases.Course, SinceCursor: w.final, PageSize: cases.PageSize})
			if err != nil {
				t.Errorf("ListCompletions(%q) from the settled cursor: %v", cases.Course, err)
			} else if len(again.Completions) != 0 || again.NextCursor != w.final {
				t.Errorf("ListCompletions(%q) from the settled cursor = %d completions, cursor %q; want nothing new and the same cursor %q",
					cases.Course, len(again.Completions), again.NextCursor, w.final)
			}
			if len(w.cursors) > 1 {
				// Resume from the middle of the walk.
				mid := len(w.cursors) / 2
				r, err := walkCompletions(c.ctx(), cl, cases.Course, w.cursors[mid], cases.PageSize, cases.MaxPages)
				if err != nil || !slices.Equal(r.order, w.order[w.seenAt[mid]:]) {
					t.Errorf("ListCompletions(%q) resumed from cursor %d of %d: %d learners (%v), want the %d the walk saw from there",
						cases.Course, mid, len(w.cursors), len(r.order), err, len(w.order)-w.seenAt[mid])
				}
			}
			want := w.order
			calls = append(calls, func() error {
				r, err := walkCompletions(c.ctx(), cl, cases.Course, "", cases.PageSize, cases.MaxPages)
				if err != nil {
					return fmt.Errorf("ListCompletions(%q) walk: %w", cases.Course, err)
				}
				if !slices.Equal(r.order, want) {
					return fmt.Errorf("ListCompletions(%q) walk found %d learners, %d the first time", cases.Course, len(r.order), len(want))
				}
				return nil
			})
		}
	}
	if len(calls) > 0 {
		c.parallel(calls, cases.Parallel, max(1, cases.Rounds/5))
	}
}

// walkCourses lists every course page by page and checks each page.
func walkCourses(ctx context.Context, cl *abiv1.LMSClient, pageSize uint32, maxPages int) ([]*abiv1.Course, error) {
	var all []*abiv1.Course
	seen := map[string]bool{}
	cursor := ""
	for page := 0; ; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("no end after %d pages", maxPages)
		}
		r, err := cl.DescribeCourses(ctx, &abiv1.DescribeCoursesRequest{Cursor: cursor, PageSize: pageSize})
		if err != nil {
			return nil, fmt.Errorf("page %d: %w", page, err)
		}
		if uint32(len(r.Courses)) > pageSize {
			return nil, fmt.Errorf("page %d has %d courses, page size %d", page, len(r.Courses), pageSize)
		}
		for _, co := range r.Courses {
			switch {
			case co.ID == "" || co.Title == "":
				return nil, fmt.Errorf("page %d: a course without an ID or a title: %+v", page, co)
			case seen[co.ID]:
				return nil, fmt.Errorf("page %d: course %q listed twice", page, co.ID)
			}
			seen[co.ID] = true
			all = append(all, co)
		}
		if r.NextCursor == "" {
			return all, nil
		}
		if r.NextCursor == cursor {
			return nil, fmt.Errorf("page %d: next_cursor %q repeats the request's (the end is an empty cursor)", page, cursor)
		}
		cursor = r.NextCursor
	}
}

// completionWalk is what walkCompletions saw: the learners in order, the
// cursor each page was asked with and how many learners came before it,
// and the settled cursor.
type completionWalk struct {
	order    []string
	learners map[string]bool
	cursors  []string
	seenAt   []int
	final    string
}

// walkCompletions lists a course's completions from since until the
// cursor settles, checking each page.
func walkCompletions(ctx context.Context, cl *abiv1.LMSClient, course, since string, pageSize uint32, maxPages int) (*completionWalk, error) {
	w := &completionWalk{learners: map[string]bool{}}
	cursor := since
	for page := 0; ; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("the cursor did not settle in %d pages", maxPages)
		}
		w.cursors = append(w.cursors, cursor)
		w.seenAt = append(w.seenAt, len(w.order))
		r, err := cl.ListCompletions(ctx, &abiv1.ListCompletionsRequest{CourseID: course, SinceCursor: cursor, PageSize: pageSize})
		if err != nil {
			return nil, fmt.Errorf("page %d: %w", page, err)
		}
		if uint32(len(r.Completions)) > pageSize {
			return nil, fmt.Errorf("page %d has %d completions, page size %d", page, len(r.Completions), pageSize)
		}
		for _, co := range r.Completions {
			switch {
			case co.LearnerExternalID == "":
				return nil, fmt.Errorf("page %d: a completion without a learner: %+v", page, co)
			case co.CompletedAtUnix <= 0:
				return nil, fmt.Errorf("page %d: learner %q has no completion time", page, co.LearnerExternalID)
			case co.HasGrade && (co.Grade < 0 || co.Grade > 1):
				return nil, fmt.Errorf("page %d: learner %q has grade %v, outside [0, 1]", page, co.LearnerExternalID, co.Grade)
			case co.CourseID != "" && co.CourseID != course:
				return nil, fmt.Errorf("page %d: learner %q completed course %q, asked for %q", page, co.LearnerExternalID, co.CourseID, course)
			case w.learners[co.LearnerExternalID]:
				return nil, fmt.Errorf("page %d: learner %q listed twice", page, co.LearnerExternalID)
			}
			w.learners[co.LearnerExternalID] = true
			w.order = append(w.order, co.LearnerExternalID)
		}
		if r.NextCursor == cursor {
			if len(r.Completions) > 0 {
				return nil, fmt.Errorf("page %d: %d completions but the cursor did not move (they would be read again)", page, len(r.Completions))
			}
			w.cursors, w.seenAt = w.cursors[:len(w.cursors)-1], w.seenAt[:len(w.seenAt)-1]
			w.final = cursor
			return w, nil
		}
		cursor = r.NextCursor
	}
}

// DirectoryConformance checks the generic rules for "directory" and what
// every SCIM 2.0 service provider owes a client (RFC 7644), on an empty
// directory:
//   - GET /ServiceProviderConfig, /ResourceTypes and /Schemas answer 200
//     with JSON, the configuration with its schema URN and the attributes
//     RFC 7643 §5 requires (patch, bulk, filter, changePassword, sort, etag,
//     authenticationSchemes);
//   - errors are SCIM error bodies (the Error schema URN, status as a
//     string equal to the HTTP status): an unknown endpoint 404, an unknown
//     user 404, a body that is not JSON 400 invalidSyntax, a filter that
//     does not parse 400 invalidFilter;
//   - a list is a ListResponse even when empty (totalResults 0);
//   - JSON answers are labelled application/scim+json;
//   - reads and refused requests report no lifecycle events.
func DirectoryConformance(t TB, tr abiv1.Transport, cases DirectoryCases) {
	t.Helper()
	genericConformance(t, tr, abiv1.IfaceDirectory, GenericCases{Plugin: cases.Plugin, Parallel: cases.Parallel, Rounds: cases.Rounds, Timeout: cases.Timeout},
		abiv1.MethodDirectoryHandleSCIM, abiv1.MethodDirectoryPullChanges)
	c := newChecker(t, tr, cases.Timeout)
	ent := cases.EnterpriseID
	if ent == "" {
		ent = "conformance"
	}
	cl := abiv1.NewDirectoryClient(c)
	do := func(method, path, query string, body []byte) (*abiv1.HandleSCIMResponse, map[string]any) {
		t.Helper()
		hdrs := append([]*abiv1.Header{{Name: "Accept", Values: []string{"application/scim+json"}}}, cases.Headers...)
		if body != nil {
			hdrs = append(hdrs, &abiv1.Header{Name: "Content-Type", Values: []string{"application/scim+json"}})
		}
		r, err := cl.HandleSCIM(c.ctx(), &abiv1.HandleSCIMRequest{Method: method, Path: path, Query: query, Body: body, EnterpriseID: ent, Headers: hdrs})
		if err != nil {
			t.Errorf("%s %s: %v, want a SCIM answer", method, path, err)
			return nil, nil
		}
		what := method + " " + path
		if query != "" {
			what += "?" + query
		}
		if len(r.Events) > 0 {
			t.Errorf("%s reported %d lifecycle events, want none", what, len(r.Events))
		}
		var m map[string]any
		if len(r.Body) > 0 {
			if err := json.Unmarshal(r.Body, &m); err != nil {
				t.Errorf("%s: the body is not a JSON object: %v", what, err)
				return r, nil
			}
			if ct := headerValue(r.Headers, "Content-Type"); !strings.HasPrefix(ct, "application/scim+json") {
				t.Errorf("%s: Content-Type %q, want application/scim+json", what, ct)
			}
		}
		return r, m
	}
	wantError := func(method, path, query string, body []byte, status int32, scimType string) {
		t.Helper()
		r, m := do(method, path, query, body)
		if r == nil {
			return
		}
		what := method + " " + path + "?" + query
		schemas, _ := m["schemas"].([]any)
		if r.Status != status || !slices.Contains(schemas, any("urn:ietf:params:scim:api:messages:2.0:Error")) || m["status"] != strconv.Itoa(int(status)) {
			t.Errorf("%s: %d %s, want %d with a SCIM error body (Error schema, status %q)", what, r.Status, r.Body, status, strconv.Itoa(int(status)))
			return
		}
		if scimType != "" && m["scimType"] != scimType {
			t.Errorf("%s: scimType %v, want %q", what, m["scimType"], scimType)
		}
	}

	if r, m := do("GET", "/ServiceProviderConfig", "", nil); r != nil {
		schemas, _ := m["schemas"].([]any)
		if r.Status != 200 || !slices.Contains(schemas, any("urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig")) {
			t.Errorf("GET /ServiceProviderConfig: %d %s", r.Status, r.Body)
		}
		for _, a := range []string{"patch", "bulk", "filter", "changePassword", "sort", "etag", "authenticationSchemes"} {
			if _, ok := m[a]; !ok {
				t.Errorf("GET /ServiceProviderConfig: no %q (RFC 7643 §5 requires it)", a)
			}
		}
	}
	for _, p := range []string{"/ResourceTypes", "/Schemas"} {
		if r, _ := do("GET", p, "", nil); r != nil && r.Status != 200 {
			t.Errorf("GET %s: %d %s", p, r.Status, r.Body)
		}
	}
	if r, m := do("GET", "/Users", "startIndex=1&count=10", nil); r != nil {
		schemas, _ := m["schemas"].([]any)
		if r.Status != 200 || !slices.Contains(schemas, any("urn:ietf:params:scim:api:messages:2.0:ListResponse")) || m["totalResults"] != float64(0) {
			t.Errorf("GET /Users on an empty directory: %d %s, want a ListResponse with totalResults 0", r.Status, r.Body)
		}
	}
	wantError("GET", "/NoSuchEndpoint", "", nil, 404, "")
	wantError("GET", "/Users/00000000-0000-0000-0000-000000000000", "", nil, 404, "")
	wantError("POST", "/Users", "", []byte(`{"userName": `), 400, "invalidSyntax")
	wantError("GET", "/Users", "filter="+url.QueryEscape(`userName eq`), nil, 400, "invalidFilter")
}

// headerValue is the first value of the header named name (any case).
func headerValue(hs []*abiv1.Header, name string) string {
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) && len(h.Values) > 0 {
			return h.Values[0]
		}
	}
	return ""
}

// SSOConformance checks the generic rules for "sso" and, for a configured
// EnterpriseID:
//   - Metadata is well-formed XML without a DTD;
//   - BeginLogin answers exactly one of an absolute redirect URL and a POST
//     form with an absolute action, and a request ID, fresh for every login
//     (InResponseTo binding and replay protection rest on it);
//   - ConsumeResponse signs no one in on an empty form, on a response that
//     is not base64, on XML that is not a signed response, or on a reply to
//     a request this host never made: each is an *abiv1.Error
//     (INVALID_ARGUMENT, UNAUTHENTICATED or PERMISSION_DENIED) without an
//     identity.
func SSOConformance(t TB, tr abiv1.Transport, cases SSOCases) {
	t.Helper()
	genericConformance(t, tr, abiv1.IfaceSSO, GenericCases{Plugin: cases.Plugin, Parallel: cases.Parallel, Rounds: cases.Rounds, Timeout: cases.Timeout},
		abiv1.MethodSSOBeginLogin, abiv1.MethodSSOConsumeResponse, abiv1.MethodSSOMetadata)
	if cases.EnterpriseID == "" {
		return
	}
	c := newChecker(t, tr, cases.Timeout)
	cl := abiv1.NewSSOClient(c)
	ent, acs := cases.EnterpriseID, cases.ACSURL
	if acs == "" {
		acs = "https://gateway.example/saml/" + ent + "/acs"
	}
	md, err := cl.Metadata(c.ctx(), &abiv1.MetadataRequest{EnterpriseID: ent})
	if err != nil {
		t.Errorf("Metadata(%q): %v", ent, err)
	} else if err := wellFormedXML(md.XML); err != nil {
		t.Errorf("Metadata(%q): %v", ent, err)
	}
	begin := func() *abiv1.BeginLoginResponse {
		t.Helper()
		r, err := cl.BeginLogin(c.ctx(), &abiv1.BeginLoginRequest{EnterpriseID: ent, ACSURL: acs, RelayState: "conformance-relay"})
		if err != nil {
			t.Errorf("BeginLogin(%q): %v", ent, err)
			return nil
		}
		absolute := func(s string) bool {
			u, err := url.Parse(s)
			return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
		}
		switch {
		case (r.RedirectURL != "") == (r.PostForm != nil):
			t.Errorf("BeginLogin(%q) = %+v: want exactly one of a redirect URL and a POST form", ent, r)
		case r.RedirectURL != "" && !absolute(r.RedirectURL):
			t.Errorf("BeginLogin(%q): redirect URL %q is not an absolute http(s) URL", ent, r.RedirectURL)
		case r.PostForm != nil && !absolute(r.PostForm.Action):
			t.Errorf("BeginLogin(%q): form action %q is not an absolute http(s) URL", ent, r.PostForm.Action)
		case r.RequestID == "":
			t.Errorf("BeginLogin(%q): no request ID", ent)
		}
		return r
	}
	first, second := begin(), begin()
	if first != nil && second != nil && first.RequestID == second.RequestID {
		t.Errorf("BeginLogin(%q) gave the request ID %q twice", ent, first.RequestID)
	}
	expected := ""
	if first != nil {
		expected = first.RequestID
	}
	for _, bad := range []struct {
		what string
		form map[string]string
	}{
		{"an empty form", map[string]string{}},
		{"a response that is not base64", map[string]string{"SAMLResponse": "%%% not base64 %%%"}},
		{"XML that is not a signed response", map[string]string{"SAMLResponse": base64.StdEncoding.EncodeToString([]byte(`<?xml version="1.0"?><a:b xmlns:a="urn:x">no</a:b>`))}},
	} {
		for _, exp := range []string{expected, "id-this-host-never-made"} {
			r, err := cl.ConsumeResponse(c.ctx(), &abiv1.ConsumeResponseRequest{Form: bad.form, EnterpriseID: ent, ExpectedRequestID: exp, ACSURL: acs,
				ContentType: "application/x-www-form-urlencoded"})
			var ae *abiv1.Error
			switch {
			case err == nil:
				t.Errorf("ConsumeResponse with %s signed in %+v", bad.what, r.Identity)
			case !errors.As(err, &ae):
				t.Errorf("ConsumeResponse with %s: %v, want an *abiv1.Error", bad.what, err)
			case ae.Code != abiv1.ErrorCodeInvalidArgument && ae.Code != abiv1.ErrorCodeUnauthenticated && ae.Code != abiv1.ErrorCodePermissionDenied:
				t.Errorf("ConsumeResponse with %s: code %v, want INVALID_ARGUMENT, UNAUTHENTICATED or PERMISSION_DENIED", bad.what, ae.Code)
			}
		}
	}
}

// wellFormedXML reports whether b is one well-formed XML document without
// a DTD.
func wellFormedXML(b []byte) error {
	if len(b) == 0 {
		return errors.New("empty XML")
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	depth, roots := 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("XML not well-formed: %w", err)
		}
		switch x := tok.(type) {
		case xml.Directive:
			if bytes.HasPrefix(bytes.TrimSpace(x), []byte("DOCTYPE")) {
				return errors.New("XML with a DTD")
			}
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if roots != 1 || depth != 0 {
		return fmt.Errorf("XML with %d root elements", roots)
	}
	return nil
}

func genericConformance(t TB, tr abiv1.Transport, iface string, cases GenericCases, methods ...uint32) {
	t.Helper()
	c := newChecker(t, tr, cases.Timeout)
	c.describe(iface, cases.Plugin)
	c.unimplemented(iface, cases.Plugin.Interfaces)
	c.malformed(methods...)
	var calls []func() error
	for _, m := range methods {
		calls = append(calls, func() error {
			_, err := c.Call(c.ctx(), m, malformed)
			if err := compare(err, (*abiv1.DescribeResponse)(nil), nil, abiv1.ErrorCodeInvalidArgument); err != nil {
				return fmt.Errorf("%s with a request that does not decode: %w", abiv1.MethodName(m), err)
			}
			return nil
		})
	}
	calls = append(calls, func() error {
		_, err := abiv1.NewPluginClient(c).Describe(c.ctx(), &abiv1.DescribeRequest{})
		return err
	})
	c.parallel(calls, cases.Parallel, cases.Rounds)
}

// checker wraps the transport with a per-call timeout.
type checker struct {
	t       TB
	tr      abiv1.Transport
	timeout time.Duration
	ifaces  []string // from Describe
}

func newChecker(t TB, tr abiv1.Transport, timeout time.Duration) *checker {
	if tr == nil {
		t.Fatalf("plugintest: nil transport")
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &checker{t: t, tr: tr, timeout: timeout}
}

func (c *checker) ctx() context.Context { return context.Background() }

// Call implements abiv1.Transport with the checker's timeout.
func (c *checker) Call(ctx context.Context, method uint32, req []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return c.tr.Call(ctx, method, req)
}

func (c *checker) describe(iface string, want PluginInfo) {
	c.t.Helper()
	d, err := abiv1.NewPluginClient(c).Describe(c.ctx(), &abiv1.DescribeRequest{})
	if err != nil {
		c.t.Fatalf("Describe: %v", err)
		return
	}
	c.ifaces = d.Interfaces
	if d.Name == "" || (want.Name != "" && d.Name != want.Name) {
		c.t.Errorf("Describe name = %q, want %q", d.Name, orAny(want.Name))
	}
	if d.Version == "" || (want.Version != "" && d.Version != want.Version) {
		c.t.Errorf("Describe version = %q, want %q", d.Version, orAny(want.Version))
	}
	if want.Interfaces != nil {
		if !sameSet(d.Interfaces, want.Interfaces) {
			c.t.Errorf("Describe interfaces = %q, want %q", d.Interfaces, want.Interfaces)
		}
	} else if !slices.Contains(d.Interfaces, iface) {
		c.t.Errorf("Describe interfaces = %q, want them to include %q", d.Interfaces, iface)
	}
	if d.ABIMinor > abiv1.Minor {
		c.t.Errorf("Describe abi_minor = %d, newer than this host's %d", d.ABIMinor, abiv1.Minor)
	}
}

// unimplemented checks an unknown method ID and a method of every
// interface the plugin does not declare.
func (c *checker) unimplemented(iface string, declared []string) {
	c.t.Helper()
	_, err := c.Call(c.ctx(), unknownMethod, nil)
	c.wantCode(fmt.Sprintf("unknown method %#04x", unknownMethod), err, abiv1.ErrorCodeUnimplemented)
	have := c.ifaces
	if declared != nil {
		have = declared
	}
	for _, m := range abiv1.Methods {
		if m.Interface == "plugin" || m.Interface == iface || slices.Contains(have, m.Interface) {
			continue
		}
		_, err := c.Call(c.ctx(), m.ID, nil)
		c.wantCode(fmt.Sprintf("%s.%s (interface %s not declared)", m.Service, m.Name, m.Interface), err, abiv1.ErrorCodeUnimplemented)
	}
}

// malformed checks that requests that do not decode get INVALID_ARGUMENT
// and that the plugin still answers after them.
func (c *checker) malformed(methods ...uint32) {
	c.t.Helper()
	for _, m := range methods {
		_, err := c.Call(c.ctx(), m, malformed)
		c.wantCode(abiv1.MethodName(m)+" with a request that does not decode", err, abiv1.ErrorCodeInvalidArgument)
	}
	if _, err := abiv1.NewPluginClient(c).Describe(c.ctx(), &abiv1.DescribeRequest{}); err != nil {
		c.t.Fatalf("Describe after malformed requests: %v (did the plugin crash?)", err)
	}
}

func (c *checker) wantCode(what string, err error, code abiv1.ErrorCode) {
	c.t.Helper()
	if err := compare(err, (*abiv1.DescribeResponse)(nil), nil, code); err != nil {
		c.t.Errorf("%s: %v", what, err)
	}
}

// parallel replays calls from n goroutines, rounds times each, and reports
// the first few disagreements.
func (c *checker) parallel(calls []func() error, n, rounds int) {
	c.t.Helper()
	if n <= 0 {
		n = 8
	}
	if rounds <= 0 {
		rounds = 10
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for g := range n {
		wg.Go(func() {
			for r := range rounds {
				for i := range calls {
					call := calls[(i+g+r)%len(calls)]
					if err := call(); err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i == 3 {
			c.t.Errorf("parallel calls: %d more failures", len(errs)-3)
			break
		}
		c.t.Errorf("parallel calls (%d goroutines): %v", n, err)
	}
}

// message is a generated ABI message.
type message interface {
	MarshalAppend([]byte) []byte
	Unmarshal([]byte) error
}

// compare checks a call's outcome against want or wantCode.
func compare[M message](err error, got, want M, wantCode abiv1.ErrorCode) error {
	if wantCode != 0 || reflect.ValueOf(want).IsNil() {
		var ae *abiv1.Error
		switch {
		case err == nil:
			return fmt.Errorf("answered %+v, want an error with code %v", got, wantCode)
		case !errors.As(err, &ae):
			return fmt.Errorf("failed with %v, want an application error (*abiv1.Error) with code %v", err, wantCode)
		case ae.Code != wantCode:
			return fmt.Errorf("error code %v (%q), want %v", ae.Code, ae.Message, wantCode)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("failed: %v, want %+v", err, want)
	}
	g, w := roundTrip(got), roundTrip(want)
	if !reflect.DeepEqual(g, w) {
		return fmt.Errorf("answered %+v, want %+v", got, want)
	}
	return nil
}

// roundTrip normalises m through its encoding (nil and empty collections
// become the same).
func roundTrip[M message](m M) M {
	out := reflect.New(reflect.TypeOf(m).Elem()).Interface().(M)
	_ = out.Unmarshal(m.MarshalAppend(nil))
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func orAny(s string) string {
	if s == "" {
		return "any non-empty value"
	}
	return s
}
