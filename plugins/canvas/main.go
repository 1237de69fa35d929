// Command canvas is the gatewayd "lms" plugin for Canvas LMS: it reads
// courses, student enrollments and per-user course progress over the
// Canvas REST API (https://canvas.instructure.com/doc/api/) with a bearer
// token.
//
// Connection. The instance and its token are the secrets "base_url" and
// "token", read on every call: the gateway binds them to the LMS
// connection a sync runs for (host/lms); an operator may set defaults the
// usual way. The token goes only in the Authorization header and is never
// logged.
//
// Configuration (all optional): {"page_size": 50, "max_pages": 10000}.
//
// Lists are paged by the Link header (rel="next", followed as given but only
// on the instance's own scheme and host); the cursor is
// "<pages>|<skip>|<page URL>", so a server whose pages never end, or that
// links a page to itself, is refused. After the last page the completion
// cursor settles on it: asked again, it answers the enrollments added to
// that page since, or nothing and the same cursor. Throttling (403 "Rate Limit Exceeded",
// https://canvas.instructure.com/doc/api/file.throttling.html) is answered
// RATE_LIMITED with a retry_after_ms detail; the gateway backs off and
// retries the same cursor.
//
// Course IDs are Canvas course ids ("42"); a ListCompletions course ID may
// end in ":grade" (accepted for symmetry with other LMS plugins: the final
// score comes with each enrollment anyway). A learner completed when the
// course progress has a completed_at (all module requirements met). The
// e-mail of a learner is the enrollment user's email, or its login_id when
// that is an e-mail address; a learner without one is returned with an
// empty e-mail.
package main

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	sdk "github.com/ubeu/gateway/sdk-plugin"
	"github.com/ubeu/gateway/sdk-plugin/lms"
)

type config struct {
	PageSize int `json:"page_size"`
	MaxPages int `json:"max_pages"`
}

type canvas struct {
	cfg *config
}

type conn struct {
	base  *url.URL
	token string
	cfg   *config
}

func (p *canvas) connect() (*conn, error) {
	if p.cfg == nil {
		var c config
		if err := sdk.Config(&c); err != nil {
			return nil, abiv1.Errorf(abiv1.ErrorCodeInternal, "canvas: config: %v", err)
		}
		if c.PageSize <= 0 || c.PageSize > 100 {
			c.PageSize = 50
		}
		if c.MaxPages <= 0 {
			c.MaxPages = 10000
		}
		p.cfg = &c
	}
	base, err := sdk.Secret("base_url")
	if err != nil || len(base) == 0 {
		return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "canvas: no instance URL (secret base_url) for this connection")
	}
	u, err := checkBaseURL(string(base))
	if err != nil {
		return nil, err
	}
	tok, err := sdk.Secret("token")
	if err != nil || len(tok) == 0 {
		return nil, abiv1.Errorf(abiv1.ErrorCodeUnauthenticated, "canvas: no access token (secret token) for this connection")
	}
	return &conn{base: u, token: string(tok), cfg: p.cfg}, nil
}

// get fetches rawURL (on the instance) and decodes the JSON reply into
// out; it returns the rel="next" link, if any.
//
// A throttled request (403 Rate Limit Exceeded) is retried here after a
// short back-off (250 ms, doubling, at most throttleRetries times); if it
// is still throttled the call fails RATE_LIMITED and the gateway backs off
// longer. When X-Rate-Limit-Remaining runs low the next request waits a
// little, as the throttling page advises clients to pace themselves.
func (c *conn) get(ctx context.Context, rawURL string, out any) (next string, err error) {
	var res *abiv1.HTTPResponse
	backoff := 250 * time.Millisecond
	for attempt := 0; ; attempt++ {
		res, err = sdk.HTTP(ctx, &abiv1.HTTPRequest{
			Method: "GET",
			URL:    rawURL,
			Headers: []*abiv1.Header{
				{Name: "Authorization", Values: []string{"Bearer " + c.token}},
				{Name: "Accept", Values: []string{"application/json"}},
			},
		})
		if err != nil {
			e := abiv1.AsError(err)
			return "", &abiv1.Error{Code: e.Code, Message: "canvas GET " + redact(rawURL) + ": " + e.Message, Details: e.Details}
		}
		err = checkStatus(res)
		if e, ok := err.(*abiv1.Error); ok && e.Code == abiv1.ErrorCodeRateLimited && attempt < throttleRetries {
			sdk.CounterAdd("canvas_throttled", 1)
			time.Sleep(backoff)
			backoff *= 2
			continue
		}
		break
	}
	if err != nil {
		e := abiv1.AsError(err)
		e.Message = "canvas GET " + redact(rawURL) + ": " + e.Message
		return "", e
	}
	if r, perr := strconv.ParseFloat(strings.TrimSpace(header(res, "X-Rate-Limit-Remaining")), 64); perr == nil && r < lowQuota {
		time.Sleep(100 * time.Millisecond)
	}
	if err := parseJSON(res.Body, out); err != nil {
		e := abiv1.AsError(err)
		e.Message = "canvas GET " + redact(rawURL) + ": " + e.Message
		return "", e
	}
	links, err := parseLink(header(res, "Link"))
	if err != nil {
		return "", abiv1.Errorf(abiv1.ErrorCodeUnavailable, "canvas GET %s: %v", redact(rawURL), err)
	}
	if n := links["next"]; n != "" {
		if err := c.sameOrigin(n); err != nil {
			return "", err
		}
		return n, nil
	}
	return "", nil
}

// sameOrigin refuses a link off the instance: the token must not follow it.
func (c *conn) sameOrigin(link string) error {
	u, err := url.Parse(link)
	if err != nil || len(link) > maxLinkURL || !strings.EqualFold(u.Scheme, c.base.Scheme) || !strings.EqualFold(u.Host, c.base.Host) || u.User != nil {
		return abiv1.Errorf(abiv1.ErrorCodeUnavailable, "canvas: next link %s is not on %s", strconv.Quote(clip(link, 100)), c.base.Host)
	}
	return nil
}

func (c *conn) api(path string, q url.Values) string {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawQuery = q.Encode()
	return u.String()
}

// page resolves a cursor "<pages>|<skip>|<url>" to the URL of the page to
// fetch, the count of pages fetched before it and how many of its items
// were already answered.
func (c *conn) page(cur, first string) (u string, pages, skip int, err error) {
	if cur == "" {
		return first, 0, 0, nil
	}
	parts := strings.SplitN(cur, "|", 3)
	if len(parts) != 3 {
		return "", 0, 0, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "cursor is not <pages>|<skip>|<URL>")
	}
	pages, err1 := strconv.Atoi(parts[0])
	skip, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil || pages < 0 || skip < 0 || skip > 100000 {
		return "", 0, 0, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "cursor is not <pages>|<skip>|<URL>")
	}
	if pages >= c.cfg.MaxPages {
		return "", 0, 0, abiv1.Errorf(abiv1.ErrorCodeUnavailable, "canvas: more than %d pages; refusing to page further", c.cfg.MaxPages)
	}
	if err := c.sameOrigin(parts[2]); err != nil {
		return "", 0, 0, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "cursor: %v", abiv1.AsError(err).Message)
	}
	return parts[2], pages, skip, nil
}

// nextCursor is the cursor after fetching pageURL (page number pages,
// holding n items): the next page if there is one, else this page past
// its n items — the settled cursor, which asked again answers what was
// added to the page since, or nothing and the same cursor.
func nextCursor(pages int, pageURL string, n int, next string) (string, error) {
	if next == "" {
		return strconv.Itoa(pages) + "|" + strconv.Itoa(n) + "|" + pageURL, nil
	}
	if next == pageURL {
		return "", abiv1.Errorf(abiv1.ErrorCodeUnavailable, "canvas: page %d links to itself as next; refusing to page further", pages+1)
	}
	return strconv.Itoa(pages+1) + "|0|" + next, nil
}

// DescribeCourses lists the courses of the token's user (GET
// /api/v1/courses), or fetches those of req.IDs (GET /api/v1/courses/:id).
func (p *canvas) DescribeCourses(ctx context.Context, req *abiv1.DescribeCoursesRequest) (*abiv1.DescribeCoursesResponse, error) {
	c, err := p.connect()
	if err != nil {
		return nil, err
	}
	resp := &abiv1.DescribeCoursesResponse{}
	if len(req.IDs) > 0 {
		if len(req.IDs) > 100 {
			return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "at most 100 course ids")
		}
		for _, id := range req.IDs {
			if _, err := parseID(id); err != nil {
				return nil, err
			}
			var co course
			if _, err := c.get(ctx, c.api("/api/v1/courses/"+id, nil), &co); err != nil {
				return nil, err
			}
			resp.Courses = append(resp.Courses, c.course(co))
		}
		return resp, nil
	}
	size := int(req.PageSize)
	if size <= 0 || size > 100 {
		size = c.cfg.PageSize
	}
	u, pages, _, err := c.page(req.Cursor, c.api("/api/v1/courses", url.Values{"per_page": {strconv.Itoa(size)}}))
	if err != nil {
		return nil, err
	}
	var list []course
	next, err := c.get(ctx, u, &list)
	if err != nil {
		return nil, err
	}
	for _, co := range list {
		resp.Courses = append(resp.Courses, c.course(co))
	}
	if next != "" { // the course list ends with an empty cursor
		if resp.NextCursor, err = nextCursor(pages, u, len(list), next); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

func (c *conn) course(co course) *abiv1.Course {
	id := strconv.FormatInt(co.ID, 10)
	return &abiv1.Course{ID: id, Title: co.Name, Description: co.PublicDescription,
		URL:        c.api("/courses/"+id, nil),
		Attributes: map[string]string{"course_code": co.CourseCode, "workflow_state": co.WorkflowState}}
}

// ListCompletions returns the completions among one page of the course's
// student enrollments (GET /api/v1/courses/:id/enrollments), each learner's
// progress read from GET /api/v1/courses/:course_id/users/:user_id/progress.
func (p *canvas) ListCompletions(ctx context.Context, req *abiv1.ListCompletionsRequest) (*abiv1.ListCompletionsResponse, error) {
	courseID, _, _ := strings.Cut(req.CourseID, ":")
	if rest := strings.TrimPrefix(req.CourseID, courseID); rest != "" && rest != ":grade" {
		return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "course id %q: want <course id>[:grade]", req.CourseID)
	}
	if _, err := parseID(courseID); err != nil {
		return nil, err
	}
	c, err := p.connect()
	if err != nil {
		return nil, err
	}
	size := int(req.PageSize)
	if size <= 0 || size > 100 {
		size = c.cfg.PageSize
	}
	first := c.api("/api/v1/courses/"+courseID+"/enrollments", url.Values{
		"type[]":   {"StudentEnrollment"},
		"state[]":  {"active", "completed"},
		"per_page": {strconv.Itoa(size)},
	})
	u, pages, skip, err := c.page(req.SinceCursor, first)
	if err != nil {
		return nil, err
	}
	var list []enrollment
	next, err := c.get(ctx, u, &list)
	if err != nil {
		return nil, err
	}
	resp := &abiv1.ListCompletionsResponse{}
	seen := map[int64]bool{}
	for _, en := range list[min(skip, len(list)):] {
		if en.UserID <= 0 || seen[en.UserID] {
			continue
		}
		seen[en.UserID] = true
		uid := strconv.FormatInt(en.UserID, 10)
		var pr progress
		if _, err := c.get(ctx, c.api("/api/v1/courses/"+courseID+"/users/"+uid+"/progress", nil), &pr); err != nil {
			return nil, err
		}
		at, done := pr.completed()
		if !done {
			continue
		}
		comp := &abiv1.Completion{LearnerExternalID: uid, Email: en.email(), CompletedAtUnix: at, CourseID: courseID}
		if g := en.Grades; g != nil && g.FinalScore != nil {
			comp.Grade, comp.HasGrade = min(max(*g.FinalScore/100, 0), 1), true
		}
		resp.Completions = append(resp.Completions, comp)
	}
	if resp.NextCursor, err = nextCursor(pages, u, len(list), next); err != nil {
		return nil, err
	}
	if len(resp.Completions) == 0 && len(list) <= skip && next == "" {
		resp.NextCursor = req.SinceCursor // nothing new: settled
	}
	sdk.CounterAdd("canvas_completions_listed", float64(len(resp.Completions)))
	return resp, nil
}

func init() {
	sdk.SetInfo("canvas", "0.1.0")
	lms.Serve(&canvas{})
}

func main() { sdk.Main() }
