package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	abiv1 "github.com/ubeu/gateway/abi/v1"
)

// Wire format of Moodle Web Services (REST, moodlewsrestformat=json). An
// error is answered with HTTP 200 and the body
//
//	{"exception":"moodle_exception","errorcode":"invalidtoken","message":"Invalid token - token not found"}
//
// (webservice/lib.php, webservice_base_server::send_error; see
// https://docs.moodle.org/dev/Web_service_API_functions and
// https://docs.moodle.org/dev/Creating_a_web_service_client).
type wsError struct {
	Exception *string `json:"exception"`
	ErrorCode string  `json:"errorcode"`
	Message   string  `json:"message"`
}

// errorCodes maps Moodle error codes to plugin error codes.
var errorCodes = map[string]abiv1.ErrorCode{
	"invalidtoken":          abiv1.ErrorCodeUnauthenticated,
	"invalidlogin":          abiv1.ErrorCodeUnauthenticated,
	"accessexception":       abiv1.ErrorCodePermissionDenied,
	"accessdenied":          abiv1.ErrorCodePermissionDenied,
	"nopermissions":         abiv1.ErrorCodePermissionDenied,
	"requireloginerror":     abiv1.ErrorCodePermissionDenied,
	"servicenotavailable":   abiv1.ErrorCodePermissionDenied,
	"webservicesnotenabled": abiv1.ErrorCodePermissionDenied,
	"cannotviewreport":      abiv1.ErrorCodePermissionDenied,
	"invalidrecord":         abiv1.ErrorCodeNotFound,
	"invalidrecordunknown":  abiv1.ErrorCodeNotFound,
	"invalidcourseid":       abiv1.ErrorCodeNotFound,
	"coursenotfound":        abiv1.ErrorCodeNotFound,
	"usernotenroled":        abiv1.ErrorCodeNotFound,
	"notenroled":            abiv1.ErrorCodeNotFound,
	"invalidparameter":      abiv1.ErrorCodeInvalidArgument,
	"nocriteriaset":         abiv1.ErrorCodeInvalidArgument,
	"completionnotenabled":  abiv1.ErrorCodeInvalidArgument,
}

// maxReply caps a reply the plugin decodes (the host caps the body too).
const maxReply = 8 << 20

// parseReply decodes a Moodle Web Services JSON reply into out. An error
// body becomes a typed *abiv1.Error (Details: errorcode); a reply that is not
// JSON (an HTML login or error page) or is cut short is UNAVAILABLE with a
// message saying so.
func parseReply(body []byte, out any) error {
	if len(body) > maxReply {
		return abiv1.Errorf(abiv1.ErrorCodeUnavailable, "reply of %d bytes is over the %d-byte cap", len(body), maxReply)
	}
	b := bytes.TrimSpace(body)
	if len(b) == 0 {
		return abiv1.Errorf(abiv1.ErrorCodeUnavailable, "empty reply (expected JSON)")
	}
	if b[0] == '<' {
		return abiv1.Errorf(abiv1.ErrorCodeUnavailable, "reply is HTML, not JSON (%s): is the base URL the Moodle site and the REST protocol enabled?", snippet(b))
	}
	if b[0] != '{' && b[0] != '[' && b[0] != 'n' {
		return abiv1.Errorf(abiv1.ErrorCodeUnavailable, "reply is not JSON (%s)", snippet(b))
	}
	if !json.Valid(b) {
		err := json.Unmarshal(b, new(any))
		if err != nil && strings.Contains(err.Error(), "unexpected end of JSON input") {
			return abiv1.Errorf(abiv1.ErrorCodeUnavailable, "reply is truncated JSON (%d bytes)", len(b))
		}
		return abiv1.Errorf(abiv1.ErrorCodeUnavailable, "reply is malformed JSON: %v", err)
	}
	if b[0] == '{' {
		var e wsError
		if err := json.Unmarshal(b, &e); err == nil && e.Exception != nil {
			code, ok := errorCodes[e.ErrorCode]
			if !ok {
				code = abiv1.ErrorCodeUnknown
			}
			return &abiv1.Error{Code: code, Message: fmt.Sprintf("%s: %s", e.ErrorCode, clip(e.Message, 300)),
				Details: map[string]string{"errorcode": clip(e.ErrorCode, 64), "exception": clip(*e.Exception, 128)}}
		}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return abiv1.Errorf(abiv1.ErrorCodeUnavailable, "reply does not have the documented shape: %v", err)
	}
	return nil
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

// siteInfo is the part of core_webservice_get_site_info the plugin reads.
type siteInfo struct {
	SiteName string `json:"sitename"`
	Release  string `json:"release"`
	UserID   int64  `json:"userid"`
}

// course is one course of core_course_get_courses_by_field
// (course/externallib.php, get_courses_by_field_returns).
type course struct {
	ID               int64  `json:"id"`
	FullName         string `json:"fullname"`
	ShortName        string `json:"shortname"`
	Summary          string `json:"summary"`
	EnableCompletion int    `json:"enablecompletion"`
	Format           string `json:"format"`
}

type coursesReply struct {
	Courses []course `json:"courses"`
}

// user is one enrolled user of core_enrol_get_enrolled_users
// (enrol/externallib.php, get_enrolled_users_returns). email is absent
// when the token's user may not see it.
type user struct {
	ID       int64  `json:"id"`
	FullName string `json:"fullname"`
	Email    string `json:"email"`
}

// courseCompletion is core_completion_get_course_completion_status
// (completion/classes/external.php, get_course_completion_status_returns).
type courseCompletion struct {
	CompletionStatus struct {
		Completed   bool `json:"completed"`
		Completions []struct {
			Complete      bool   `json:"complete"`
			TimeCompleted *int64 `json:"timecompleted"`
		} `json:"completions"`
	} `json:"completionstatus"`
}

// completedAt is when the course was completed: the latest criterion's
// completion time (0 when Moodle reports none).
func (c *courseCompletion) completedAt() (int64, bool) {
	if !c.CompletionStatus.Completed {
		return 0, false
	}
	var t int64
	for _, cr := range c.CompletionStatus.Completions {
		if cr.TimeCompleted != nil && *cr.TimeCompleted > t {
			t = *cr.TimeCompleted
		}
	}
	return t, true
}

// activitiesCompletion is core_completion_get_activities_completion_status
// (get_activities_completion_status_returns): state 0 incomplete, 1
// complete, 2 complete with pass, 3 complete with fail.
type activitiesCompletion struct {
	Statuses []struct {
		CMID          int64 `json:"cmid"`
		State         int   `json:"state"`
		TimeCompleted int64 `json:"timecompleted"`
	} `json:"statuses"`
}

func (a *activitiesCompletion) completedAt(cmid int64) (int64, bool) {
	for _, s := range a.Statuses {
		if s.CMID == cmid {
			return s.TimeCompleted, s.State == 1 || s.State == 2
		}
	}
	return 0, false
}

// gradeItems is gradereport_user_get_grade_items
// (grade/report/user/classes/external/user.php, get_grade_items_returns).
type gradeItems struct {
	UserGrades []struct {
		UserID     int64 `json:"userid"`
		GradeItems []struct {
			ItemType string   `json:"itemtype"`
			GradeRaw *float64 `json:"graderaw"`
			GradeMin float64  `json:"grademin"`
			GradeMax float64  `json:"grademax"`
		} `json:"gradeitems"`
	} `json:"usergrades"`
}

// courseGrade is the user's course total scaled to [0, 1], if graded.
func (g *gradeItems) courseGrade(uid int64) (float64, bool) {
	for _, ug := range g.UserGrades {
		if ug.UserID != 0 && ug.UserID != uid {
			continue
		}
		for _, it := range ug.GradeItems {
			if it.ItemType != "course" || it.GradeRaw == nil || it.GradeMax <= it.GradeMin {
				continue
			}
			v := (*it.GradeRaw - it.GradeMin) / (it.GradeMax - it.GradeMin)
			return min(max(v, 0), 1), true
		}
	}
	return 0, false
}

// target is what a ListCompletions course ID names.
type target struct {
	courseID int64
	cmID     int64 // 0: course completion
	grade    bool
}

func (t target) String() string {
	s := itoa(t.courseID)
	if t.cmID != 0 {
		s += ":cm:" + itoa(t.cmID)
	}
	if t.grade {
		s += ":grade"
	}
	return s
}

func parseTarget(s string) (target, error) {
	bad := abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "course id %q: want <course id>[:cm:<activity id>][:grade]", s)
	parts := strings.Split(s, ":")
	var t target
	var err error
	if t.courseID, err = strconv.ParseInt(parts[0], 10, 64); err != nil || t.courseID <= 0 {
		return target{}, bad
	}
	rest := parts[1:]
	if len(rest) >= 2 && rest[0] == "cm" {
		if t.cmID, err = strconv.ParseInt(rest[1], 10, 64); err != nil || t.cmID <= 0 {
			return target{}, bad
		}
		rest = rest[2:]
	}
	if len(rest) == 1 && rest[0] == "grade" {
		t.grade, rest = true, nil
	}
	if len(rest) != 0 {
		return target{}, bad
	}
	return t, nil
}

// cursor is a position in the enrolled users: the offset of the next page
// and the highest user id seen so far.
type cursor struct {
	offset int
	lastID int64
}

func parseCursor(s string, maxOffset int) (cursor, error) {
	if s == "" {
		return cursor{}, nil
	}
	o, l, ok := strings.Cut(s, ".")
	var c cursor
	var err1, err2 error
	c.offset, err1 = strconv.Atoi(o)
	c.lastID, err2 = strconv.ParseInt(l, 10, 64)
	if !ok || err1 != nil || err2 != nil || c.offset < 0 || c.offset > maxOffset || c.lastID < 0 {
		return cursor{}, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "cursor %q is not <offset>.<last user id>", s)
	}
	return c, nil
}

// defaultMaxOffset bounds paging through enrolled users.
const defaultMaxOffset = 1_000_000

// checkBaseURL accepts an http(s) URL without credentials, query or
// fragment and returns it without a trailing slash.
func checkBaseURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "moodle: base URL %q is not an http(s) URL of a site", s)
	}
	return strings.TrimRight(s, "/"), nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
