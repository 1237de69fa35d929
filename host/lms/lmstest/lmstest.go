// Package lmstest runs local HTTP servers that answer like Moodle Web
// Services and the Canvas REST API, for tests of the LMS plugins and the
// sync engine. No real Moodle or Canvas runs here: each handler
// reproduces the documented requests and replies — paths, parameters,
// pagination, error bodies, throttling — with the documentation it follows
// cited beside it. Faults (HTML, truncated JSON, huge replies, endless
// pagination, failing from the Nth request, throttling) can be switched on
// while a server runs.
package lmstest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Learner is an enrolled student of a course.
type Learner struct {
	ID    int64
	Email string // "" means the LMS shows no address
	// Completed marks the course (and every activity) complete at
	// CompletedAt (Unix seconds).
	Completed   bool
	CompletedAt int64
	// Grade is the course total out of 100, if HasGrade.
	Grade    float64
	HasGrade bool
}

// Course is a course with its learners, in enrolment order.
type Course struct {
	ID       int64
	Name     string
	Learners []Learner
}

// Faults change how a server answers. Set them with Server.SetFaults.
type Faults struct {
	// HTML answers every request with an HTML page (HTTP 200), as a
	// misconfigured site or a login redirect does.
	HTML bool
	// Truncate cuts every JSON reply in half.
	Truncate bool
	// PadTo pads every JSON reply with spaces to this many bytes.
	PadTo int
	// EndlessPages ignores the paging parameters: every page is the first
	// one and always has a next page.
	EndlessPages bool
	// FailFrom makes requests from the FailFrom-th on (counted from 1)
	// fail with HTTP 500; 0 disables it.
	FailFrom int64
	// ThrottleEvery answers every ThrottleEvery-th request as throttled
	// (Canvas: 403 Rate Limit Exceeded); 0 disables it.
	ThrottleEvery int64
	// Canvas's request quota (see Quota); zero values take its defaults.
	Quota Quota
}

// Quota is the Canvas throttling model of
// https://canvas.instructure.com/doc/api/file.throttling.html: every request
// subtracts its cost from a quota that is replenished over time; a request
// in flight also holds a pre-flight penalty, credited back when it
// finishes, so that parallel requests drain the quota before their cost is
// known. A request that finds the quota spent is answered 403 (Rate Limit
// Exceeded). X-Request-Cost and X-Rate-Limit-Remaining report it.
type Quota struct {
	HighWaterMark float64 // the full quota; default 700
	Cost          float64 // of one request; default 0.01
	Penalty       float64 // held while a request is in flight; default 50
	PerSecond     float64 // replenishment; default 10
}

func (q Quota) withDefaults() Quota {
	if q.HighWaterMark <= 0 {
		q.HighWaterMark = 700
	}
	if q.Cost <= 0 {
		q.Cost = 0.01
	}
	if q.Penalty <= 0 {
		q.Penalty = 50
	}
	if q.PerSecond <= 0 {
		q.PerSecond = 10
	}
	return q
}

// bucket is the state of a Quota: what is used of it, as of last.
type bucket struct {
	used      float64
	last      time.Time
	throttled int64
	low       int64 // replies whose remaining quota was under 20
}

// take charges a request's penalty and answers the quota left, or false
// if it is spent; the returned func ends the request.
func (s *Server) take(q Quota) (remaining float64, ok bool, done func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if !s.quota.last.IsZero() {
		s.quota.used = max(0, s.quota.used-q.PerSecond*now.Sub(s.quota.last).Seconds())
	}
	s.quota.last = now
	if s.quota.used >= q.HighWaterMark {
		s.quota.throttled++
		return 0, false, func() {}
	}
	s.quota.used += q.Penalty
	remaining = max(0, q.HighWaterMark-s.quota.used)
	if remaining < 20 {
		s.quota.low++
	}
	return remaining, true, func() {
		s.mu.Lock()
		s.quota.used += q.Cost - q.Penalty
		s.mu.Unlock()
	}
}

// QuotaStats returns how many requests the quota throttled and how many
// replies reported under 20 of it left.
func (s *Server) QuotaStats() (throttled, low int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.quota.throttled, s.quota.low
}

// Server is a running fixture.
type Server struct {
	*httptest.Server
	Token string

	mu      sync.Mutex
	courses map[int64]*Course
	order   []int64
	faults  Faults
	quota   bucket

	requests atomic.Int64
	// Calls counts requests by operation (wsfunction, or Canvas route).
	calls sync.Map // string -> *atomic.Int64
}

func newServer(token string, courses []Course) *Server {
	s := &Server{Token: token, courses: map[int64]*Course{}}
	for i := range courses {
		c := courses[i]
		s.courses[c.ID] = &c
		s.order = append(s.order, c.ID)
	}
	return s
}

// SetFaults replaces the server's faults.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

func (s *Server) getFaults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// ResetRequests sets the request counter used by Faults.FailFrom and
// ThrottleEvery back to zero.
func (s *Server) ResetRequests() { s.requests.Store(0) }

// Requests returns the requests served so far.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Calls returns how many requests an operation got.
func (s *Server) Calls(op string) int64 {
	v, ok := s.calls.Load(op)
	if !ok {
		return 0
	}
	return v.(*atomic.Int64).Load()
}

func (s *Server) count(op string) {
	v, _ := s.calls.LoadOrStore(op, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func (s *Server) course(id int64) (*Course, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.courses[id]
	return c, ok
}

// SetLearner changes or adds a learner of a course.
func (s *Server) SetLearner(course int64, l Learner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.courses[course]
	for i := range c.Learners {
		if c.Learners[i].ID == l.ID {
			c.Learners[i] = l
			return
		}
	}
	c.Learners = append(c.Learners, l)
}

// fault answers the request if a fault applies and reports whether it did.
func (s *Server) fault(w http.ResponseWriter, f Faults, n int64) bool {
	if f.FailFrom > 0 && n >= f.FailFrom {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, "<!DOCTYPE html><html><body><h1>500 Internal Server Error</h1></body></html>")
		return true
	}
	if f.HTML {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!DOCTYPE html>\n<html dir=\"ltr\" lang=\"en\"><head><title>Log in to the site</title></head><body><form action=\"/login/index.php\"></form></body></html>")
		return true
	}
	return false
}

// writeJSON writes a JSON body, applying Truncate and PadTo.
func writeJSON(w http.ResponseWriter, f Faults, status int, body []byte) {
	if f.PadTo > len(body) {
		body = append(body, bytes.Repeat([]byte(" "), f.PadTo-len(body))...)
	}
	if f.Truncate {
		body = body[:len(strings.TrimSpace(string(body)))/2]
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Dataset makes n courses (ids 101, 102, …) of per learners each, all
// completed with a grade of 90 and an address learner<id>@example.edu;
// learner ids are unique across courses.
func Dataset(n, per int) []Course {
	var out []Course
	id := int64(1000)
	for c := range n {
		co := Course{ID: int64(101 + c), Name: fmt.Sprintf("Course %d", 101+c)}
		for range per {
			id++
			co.Learners = append(co.Learners, Learner{ID: id, Email: fmt.Sprintf("learner%d@example.edu", id),
				Completed: true, CompletedAt: 1_700_000_000 + id, Grade: 90, HasGrade: true})
		}
		out = append(out, co)
	}
	return out
}
