// Command moodle is the gatewayd "lms" plugin for Moodle: it reads courses,
// course and activity completions and grades over Moodle Web Services
// (REST protocol: POST /webservice/rest/server.php with wstoken, wsfunction
// and moodlewsrestformat=json; https://docs.moodle.org/dev/Creating_a_web_service_client).
//
// Connection. The site and its token are the secrets "base_url" and
// "token", read on every call: the gateway binds them to the LMS
// connection a sync runs for (host/lms), and an operator may set defaults
// the usual way (GATEWAYD_PLUGIN_SECRET_MOODLE_TOKEN, ...). The token is
// sent only in the POST body and never logged.
//
// Configuration (all optional): {"page_size": 50, "max_offset": 1000000}.
//
// Course IDs. DescribeCourses takes Moodle course ids ("42"). A
// ListCompletions course ID is a target: "42" (course completion),
// "42:cm:7" (completion of the activity with course module id 7) and either
// followed by ":grade" to fetch the learner's course total as a grade in
// [0, 1] (for a badge mapping with a minimum grade). Only learners who
// completed are returned. The cursor is "<offset>.<last user id>" into the
// enrolled users (sorted by id); after the last user it settles (asked
// again: the users enrolled since, or nothing and the same cursor); a
// server that ignores limitfrom (pages repeating) or never stops is
// refused.
package main

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	sdk "github.com/ubeu/gateway/sdk-plugin"
	"github.com/ubeu/gateway/sdk-plugin/lms"
)

type config struct {
	PageSize  int `json:"page_size"`
	MaxOffset int `json:"max_offset"`
}

// moodle is the LMS. It keeps nothing between calls but the configuration:
// the connection (base URL, token) may differ from one call to the next.
type moodle struct {
	cfg *config
}

// conn is the connection of one call.
type conn struct {
	base  string
	token string
	cfg   *config
}

func (m *moodle) connect() (*conn, error) {
	if m.cfg == nil {
		var c config
		if err := sdk.Config(&c); err != nil {
			return nil, abiv1.Errorf(abiv1.ErrorCodeInternal, "moodle: config: %v", err)
		}
		if c.PageSize <= 0 || c.PageSize > 500 {
			c.PageSize = 50
		}
		if c.MaxOffset <= 0 {
			c.MaxOffset = defaultMaxOffset
		}
		m.cfg = &c
	}
	base, err := sdk.Secret("base_url")
	if err != nil || len(base) == 0 {
		return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "moodle: no site URL (secret base_url) for this connection")
	}
	b, err := checkBaseURL(string(base))
	if err != nil {
		return nil, err
	}
	tok, err := sdk.Secret("token")
	if err != nil || len(tok) == 0 {
		return nil, abiv1.Errorf(abiv1.ErrorCodeUnauthenticated, "moodle: no web services token (secret token) for this connection")
	}
	return &conn{base: b, token: string(tok), cfg: m.cfg}, nil
}

// call invokes Web Services function fn with params and decodes its reply
// into out.
func (c *conn) call(ctx context.Context, fn string, params url.Values, out any) error {
	form := url.Values{}
	for k, v := range params {
		form[k] = v
	}
	form.Set("wstoken", c.token)
	form.Set("wsfunction", fn)
	form.Set("moodlewsrestformat", "json")
	res, err := sdk.HTTP(ctx, &abiv1.HTTPRequest{
		Method: "POST",
		URL:    c.base + "/webservice/rest/server.php",
		Headers: []*abiv1.Header{
			{Name: "Content-Type", Values: []string{"application/x-www-form-urlencoded"}},
			{Name: "Accept", Values: []string{"application/json"}},
		},
		Body: []byte(form.Encode()),
	})
	if err != nil {
		return prefix(err, "moodle "+fn)
	}
	if res.Status != 200 {
		code := abiv1.ErrorCodeUnavailable
		switch res.Status {
		case 401:
			code = abiv1.ErrorCodeUnauthenticated
		case 403:
			code = abiv1.ErrorCodePermissionDenied
		case 404:
			code = abiv1.ErrorCodeNotFound
		case 429:
			code = abiv1.ErrorCodeRateLimited
		}
		return abiv1.Errorf(code, "moodle %s: HTTP %d", fn, res.Status)
	}
	if err := parseReply(res.Body, out); err != nil {
		return prefix(err, "moodle "+fn)
	}
	return nil
}

// prefix puts what failed in front of an error's message, keeping its code
// and details.
func prefix(err error, what string) error {
	e := abiv1.AsError(err)
	return &abiv1.Error{Code: e.Code, Message: what + ": " + e.Message, Details: e.Details}
}

// DescribeCourses lists the site's courses (core_course_get_courses_by_field),
// all of them or those of req.IDs, a page at a time (the cursor is an
// offset into the courses sorted by id). The token is checked first with
// core_webservice_get_site_info, so a wrong token is UNAUTHENTICATED.
func (m *moodle) DescribeCourses(ctx context.Context, req *abiv1.DescribeCoursesRequest) (*abiv1.DescribeCoursesResponse, error) {
	c, err := m.connect()
	if err != nil {
		return nil, err
	}
	var site siteInfo
	if err := c.call(ctx, "core_webservice_get_site_info", nil, &site); err != nil {
		return nil, err
	}
	params := url.Values{}
	if len(req.IDs) > 0 {
		if len(req.IDs) > 1000 {
			return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "at most 1000 course ids")
		}
		for _, id := range req.IDs {
			if n, err := strconv.ParseInt(id, 10, 64); err != nil || n <= 0 {
				return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "course id %q is not a Moodle course id", id)
			}
		}
		params.Set("field", "ids")
		params.Set("value", strings.Join(req.IDs, ","))
	}
	var r coursesReply
	if err := c.call(ctx, "core_course_get_courses_by_field", params, &r); err != nil {
		return nil, err
	}
	courses := slices.DeleteFunc(r.Courses, func(x course) bool { return x.Format == "site" })
	slices.SortFunc(courses, func(a, b course) int { return cmpInt(a.ID, b.ID) })
	if len(req.IDs) > 0 && len(courses) == 0 {
		return nil, abiv1.Errorf(abiv1.ErrorCodeNotFound, "moodle: no course %s", strings.Join(req.IDs, ","))
	}
	off := 0
	if req.Cursor != "" {
		if off, err = strconv.Atoi(req.Cursor); err != nil || off < 0 || off > len(courses) {
			return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "cursor %q is not an offset", req.Cursor)
		}
	}
	size := int(req.PageSize)
	if size <= 0 || size > 500 {
		size = 100
	}
	resp := &abiv1.DescribeCoursesResponse{}
	end := min(off+size, len(courses))
	for _, x := range courses[off:end] {
		resp.Courses = append(resp.Courses, &abiv1.Course{
			ID:          itoa(x.ID),
			Title:       x.FullName,
			Description: x.Summary,
			URL:         c.base + "/course/view.php?id=" + itoa(x.ID),
			Attributes: map[string]string{"shortname": x.ShortName,
				"completion_enabled": strconv.FormatBool(x.EnableCompletion == 1), "site": site.SiteName},
		})
	}
	if end < len(courses) {
		resp.NextCursor = strconv.Itoa(end)
	}
	return resp, nil
}

// ListCompletions returns the completions among one page of the course's
// enrolled users (core_enrol_get_enrolled_users with limitfrom and
// limitnumber, sorted by id), each checked with
// core_completion_get_course_completion_status, or
// core_completion_get_activities_completion_status for an activity target,
// and graded with gradereport_user_get_grade_items when the target asks.
func (m *moodle) ListCompletions(ctx context.Context, req *abiv1.ListCompletionsRequest) (*abiv1.ListCompletionsResponse, error) {
	t, err := parseTarget(req.CourseID)
	if err != nil {
		return nil, err
	}
	c, err := m.connect()
	if err != nil {
		return nil, err
	}
	cur, err := parseCursor(req.SinceCursor, c.cfg.MaxOffset)
	if err != nil {
		return nil, err
	}
	size := int(req.PageSize)
	if size <= 0 || size > 500 {
		size = c.cfg.PageSize
	}
	var users []user
	if err := c.call(ctx, "core_enrol_get_enrolled_users", url.Values{
		"courseid":         {itoa(t.courseID)},
		"options[0][name]": {"limitfrom"}, "options[0][value]": {strconv.Itoa(cur.offset)},
		"options[1][name]": {"limitnumber"}, "options[1][value]": {strconv.Itoa(size)},
		"options[2][name]": {"sortby"}, "options[2][value]": {"id"},
		"options[3][name]": {"sortdirection"}, "options[3][value]": {"ASC"},
	}, &users); err != nil {
		return nil, err
	}
	if len(users) > size {
		return nil, abiv1.Errorf(abiv1.ErrorCodeUnavailable, "moodle: %d enrolled users in a page of %d (limitnumber ignored)", len(users), size)
	}
	if len(users) > 0 && cur.offset > 0 && users[0].ID <= cur.lastID {
		return nil, abiv1.Errorf(abiv1.ErrorCodeUnavailable, "moodle: page at offset %d repeats users (limitfrom ignored); refusing to page further", cur.offset)
	}
	resp := &abiv1.ListCompletionsResponse{}
	seen := map[int64]bool{}
	last := cur.lastID
	for _, u := range users {
		last = max(last, u.ID)
		if seen[u.ID] {
			continue
		}
		seen[u.ID] = true
		comp, err := c.completion(ctx, t, u)
		if err != nil {
			return nil, err
		}
		if comp != nil {
			resp.Completions = append(resp.Completions, comp)
		}
	}
	// The next cursor is the position after this page. Past the last
	// enrolled user it settles: asked again, it answers the users enrolled
	// since (new ids sort last), or nothing and the same cursor (the ABI's
	// "equal to the request's when nothing is new").
	switch next := cur.offset + len(users); {
	case len(users) == 0:
		resp.NextCursor = req.SinceCursor
	case next > c.cfg.MaxOffset:
		return nil, abiv1.Errorf(abiv1.ErrorCodeUnavailable, "moodle: more than %d enrolled users; refusing to page further", c.cfg.MaxOffset)
	default:
		resp.NextCursor = strconv.Itoa(next) + "." + itoa(last)
	}
	sdk.CounterAdd("moodle_completions_listed", float64(len(resp.Completions)))
	return resp, nil
}

// completion is u's completion of t, or nil if u has not completed it.
func (c *conn) completion(ctx context.Context, t target, u user) (*abiv1.Completion, error) {
	uid := itoa(u.ID)
	params := url.Values{"courseid": {itoa(t.courseID)}, "userid": {uid}}
	var at int64
	var done bool
	if t.cmID != 0 {
		var a activitiesCompletion
		if err := c.call(ctx, "core_completion_get_activities_completion_status", params, &a); err != nil {
			return nil, err
		}
		at, done = a.completedAt(t.cmID)
	} else {
		var cc courseCompletion
		err := c.call(ctx, "core_completion_get_course_completion_status", params, &cc)
		if e, ok := err.(*abiv1.Error); ok && (e.Details["errorcode"] == "usernotenroled" || e.Details["errorcode"] == "notenroled") {
			return nil, nil // unenrolled between the two calls
		}
		if err != nil {
			return nil, err
		}
		at, done = cc.completedAt()
	}
	if !done {
		return nil, nil
	}
	if at <= 0 {
		// Moodle keeps no time for this completion: when it was seen.
		at = max(sdk.Now().Unix(), 1)
	}
	out := &abiv1.Completion{LearnerExternalID: uid, Email: strings.TrimSpace(u.Email), CompletedAtUnix: at, CourseID: t.String()}
	if t.grade {
		var g gradeItems
		if err := c.call(ctx, "gradereport_user_get_grade_items", params, &g); err != nil {
			return nil, err
		}
		out.Grade, out.HasGrade = g.courseGrade(u.ID)
	}
	return out, nil
}

func init() {
	sdk.SetInfo("moodle", "0.1.0")
	lms.Serve(&moodle{})
}

func main() { sdk.Main() }
