package lmstest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// NewCanvas starts a fixture of the Canvas REST API
// (https://canvas.instructure.com/doc/api/): bearer token in the
// Authorization header (https://canvas.instructure.com/doc/api/file.oauth.html,
// "Using an Access Token"), 401 {"errors":[{"message":"Invalid access
// token."}]} without one; pagination by the Link header with rel current,
// next, first and last and per_page
// (https://canvas.instructure.com/doc/api/file.pagination.html);
// X-Request-Cost and X-Rate-Limit-Remaining on every reply and throttling
// as 403 "403 Forbidden (Rate Limit Exceeded)"
// (https://canvas.instructure.com/doc/api/file.throttling.html).
//
// Routes: GET /api/v1/courses, GET /api/v1/courses/:id
// (https://canvas.instructure.com/doc/api/courses.html), GET
// /api/v1/courses/:id/enrollments with type[] and state[]
// (https://canvas.instructure.com/doc/api/enrollments.html), GET
// /api/v1/courses/:course_id/users/:user_id/progress (CourseProgress:
// requirement_count, requirement_completed_count, next_requirement_url,
// completed_at; https://canvas.instructure.com/doc/api/courses.html#method.courses.user_progress).
// A learner's login_id is its e-mail address.
func NewCanvas(token string, courses []Course) *Server {
	s := newServer(token, courses)
	s.Server = httptest.NewServer(http.HandlerFunc(s.canvas))
	return s
}

type canvasErrors struct {
	Errors []canvasMessage `json:"errors"`
}

type canvasMessage struct {
	Message string `json:"message"`
}

func (s *Server) canvas(w http.ResponseWriter, r *http.Request) {
	n := s.requests.Add(1)
	f := s.getFaults()
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	op := "GET " + routeName(parts)
	s.count(op)
	if s.fault(w, f, n) {
		return
	}
	reply := func(status int, v any) {
		b, _ := json.Marshal(v)
		writeJSON(w, f, status, b)
	}
	if r.Method != http.MethodGet {
		reply(http.StatusNotFound, canvasErrors{[]canvasMessage{{"The specified resource does not exist."}}})
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		w.Header().Set("WWW-Authenticate", `Bearer realm="canvas-lms"`)
		reply(http.StatusUnauthorized, canvasErrors{[]canvasMessage{{"Invalid access token."}}})
		return
	}
	quota := f.Quota.withDefaults()
	remaining, ok, done := s.take(quota)
	defer done()
	w.Header().Set("X-Request-Cost", strconv.FormatFloat(quota.Cost, 'f', -1, 64))
	if !ok || f.ThrottleEvery > 0 && n%f.ThrottleEvery == 0 {
		w.Header().Set("X-Rate-Limit-Remaining", "0.0")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("403 Forbidden (Rate Limit Exceeded)\n"))
		return
	}
	w.Header().Set("X-Rate-Limit-Remaining", strconv.FormatFloat(remaining, 'f', 2, 64))
	notFound := func() {
		reply(http.StatusNotFound, canvasErrors{[]canvasMessage{{"The specified resource does not exist."}}})
	}
	if len(parts) < 3 || parts[0] != "api" || parts[1] != "v1" || parts[2] != "courses" {
		notFound()
		return
	}
	q := r.URL.Query()
	switch {
	case len(parts) == 3: // /api/v1/courses
		s.mu.Lock()
		var all []any
		for _, id := range s.order {
			all = append(all, canvasCourse(s.courses[id]))
		}
		s.mu.Unlock()
		s.page(w, r, f, all)
	case len(parts) == 4: // /api/v1/courses/:id
		c, ok := s.courseID(parts[3])
		if !ok {
			notFound()
			return
		}
		reply(http.StatusOK, canvasCourse(c))
	case len(parts) == 5 && parts[4] == "enrollments":
		c, ok := s.courseID(parts[3])
		if !ok {
			notFound()
			return
		}
		types := q["type[]"]
		if len(types) > 0 && !contains(types, "StudentEnrollment") {
			s.page(w, r, f, nil)
			return
		}
		s.mu.Lock()
		var all []any
		for i, l := range c.Learners {
			all = append(all, canvasEnrollment(c, l, i))
		}
		s.mu.Unlock()
		s.page(w, r, f, all)
	case len(parts) == 7 && parts[4] == "users" && parts[6] == "progress":
		c, ok := s.courseID(parts[3])
		if !ok {
			notFound()
			return
		}
		uid, _ := strconv.ParseInt(parts[5], 10, 64)
		s.mu.Lock()
		var l *Learner
		for i := range c.Learners {
			if c.Learners[i].ID == uid {
				l = &c.Learners[i]
			}
		}
		var lv Learner
		if l != nil {
			lv = *l
		}
		s.mu.Unlock()
		if l == nil {
			notFound()
			return
		}
		p := map[string]any{"requirement_count": 10, "requirement_completed_count": 4,
			"next_requirement_url": fmt.Sprintf("http://%s/courses/%d/modules/items/%d", r.Host, c.ID, 5), "completed_at": nil}
		if lv.Completed {
			p["requirement_completed_count"] = 10
			p["next_requirement_url"] = nil
			p["completed_at"] = time.Unix(lv.CompletedAt, 0).UTC().Format("2006-01-02T15:04:05Z")
		}
		reply(http.StatusOK, p)
	default:
		notFound()
	}
}

func routeName(parts []string) string {
	out := make([]string, len(parts))
	for i, p := range parts {
		if _, err := strconv.ParseInt(p, 10, 64); err == nil {
			out[i] = ":id"
		} else {
			out[i] = p
		}
	}
	return "/" + strings.Join(out, "/")
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func (s *Server) courseID(p string) (*Course, bool) {
	id, err := strconv.ParseInt(p, 10, 64)
	if err != nil {
		return nil, false
	}
	return s.course(id)
}

// page writes one page of all, per page and per_page, with the Link
// header Canvas sends: current, next (if any), first and last.
func (s *Server) page(w http.ResponseWriter, r *http.Request, f Faults, all []any) {
	q := r.URL.Query()
	per, _ := strconv.Atoi(q.Get("per_page"))
	if per <= 0 {
		per = 10
	}
	per = min(per, 100)
	page, _ := strconv.Atoi(q.Get("page"))
	if page <= 0 || f.EndlessPages {
		page = 1
	}
	last := max(1, (len(all)+per-1)/per)
	link := func(p int) string {
		qq := url.Values{}
		for k, v := range q {
			qq[k] = v
		}
		qq.Set("page", strconv.Itoa(p))
		qq.Set("per_page", strconv.Itoa(per))
		return "<http://" + r.Host + r.URL.Path + "?" + qq.Encode() + ">"
	}
	links := []string{link(page) + `; rel="current"`}
	if page < last || f.EndlessPages {
		links = append(links, link(page+1)+`; rel="next"`)
	}
	if page > 1 {
		links = append(links, link(page-1)+`; rel="prev"`)
	}
	links = append(links, link(1)+`; rel="first"`, link(last)+`; rel="last"`)
	w.Header().Set("Link", strings.Join(links, ","))
	out := []any{}
	for i := (page - 1) * per; i < len(all) && i < page*per; i++ {
		out = append(out, all[i])
	}
	b, _ := json.Marshal(out)
	writeJSON(w, f, http.StatusOK, b)
}

func canvasCourse(c *Course) map[string]any {
	return map[string]any{"id": c.ID, "sis_course_id": nil, "uuid": fmt.Sprintf("WvAHhY5FINzq5IyRIJybGeiXyFkG3SqHUPb7jZY%d", c.ID),
		"integration_id": nil, "name": c.Name, "course_code": "C" + strconv.FormatInt(c.ID, 10), "workflow_state": "available",
		"account_id": 1, "root_account_id": 1, "enrollment_term_id": 1, "start_at": nil, "end_at": nil, "public_description": c.Name,
		"default_view": "modules", "is_public": false, "course_format": "on_campus", "time_zone": "UTC", "blueprint": false}
}

func canvasEnrollment(c *Course, l Learner, i int) map[string]any {
	var grades map[string]any
	if l.HasGrade {
		grades = map[string]any{"html_url": "", "current_score": l.Grade, "current_grade": nil, "final_score": l.Grade, "final_grade": nil}
	} else {
		grades = map[string]any{"html_url": "", "current_score": nil, "current_grade": nil, "final_score": nil, "final_grade": nil}
	}
	user := map[string]any{"id": l.ID, "name": "Learner " + strconv.FormatInt(l.ID, 10), "sortable_name": strconv.FormatInt(l.ID, 10) + ", Learner",
		"short_name": "Learner " + strconv.FormatInt(l.ID, 10)}
	if l.Email != "" {
		user["login_id"] = l.Email
	} else {
		user["login_id"] = "learner" + strconv.FormatInt(l.ID, 10)
	}
	state := "active"
	if l.Completed {
		state = "completed"
	}
	return map[string]any{"id": 5000 + int64(i) + c.ID*100000, "course_id": c.ID, "course_section_id": c.ID, "enrollment_state": state,
		"limit_privileges_to_course_section": false, "root_account_id": 1, "type": "StudentEnrollment", "user_id": l.ID,
		"associated_user_id": nil, "role": "StudentEnrollment", "role_id": 3, "created_at": "2023-09-01T08:00:00Z",
		"updated_at": "2023-09-01T08:00:00Z", "start_at": nil, "end_at": nil, "last_activity_at": nil, "total_activity_time": 0,
		"html_url": fmt.Sprintf("/courses/%d/users/%d", c.ID, l.ID), "grades": grades, "user": user}
}
