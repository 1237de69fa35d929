package lmstest

import (
	"cmp"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
)

// NewMoodle starts a fixture of Moodle Web Services, REST protocol with
// JSON replies (https://docs.moodle.org/dev/Creating_a_web_service_client):
// POST (or GET) /webservice/rest/server.php with wstoken, wsfunction,
// moodlewsrestformat=json and the function's parameters, array parameters
// written name[i][key]=value. Errors come back with HTTP 200 and
// {"exception","errorcode","message"} (webservice/lib.php,
// webservice_base_server::send_error;
// https://docs.moodle.org/dev/Web_service_API_functions).
//
// Functions served, each with the reply structure of its *_returns()
// definition in the Moodle source (the API documentation of a site,
// Administration > Server > Web services > API Documentation, prints the
// same): core_webservice_get_site_info, core_course_get_courses_by_field,
// core_enrol_get_enrolled_users (options limitfrom, limitnumber, sortby),
// core_completion_get_course_completion_status,
// core_completion_get_activities_completion_status and
// gradereport_user_get_grade_items. Any other function answers
// accessexception, as a service that does not list it does.
func NewMoodle(token string, courses []Course) *Server {
	s := newServer(token, courses)
	s.Server = httptest.NewServer(http.HandlerFunc(s.moodle))
	return s
}

// moodleError is the error body of Moodle Web Services.
type moodleError struct {
	Exception string `json:"exception"`
	ErrorCode string `json:"errorcode"`
	Message   string `json:"message"`
}

func (s *Server) moodle(w http.ResponseWriter, r *http.Request) {
	n := s.requests.Add(1)
	f := s.getFaults()
	if r.URL.Path != "/webservice/rest/server.php" {
		http.NotFound(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	fn := r.Form.Get("wsfunction")
	s.count(fn)
	if s.fault(w, f, n) {
		return
	}
	reply := func(v any) {
		b, _ := json.Marshal(v)
		writeJSON(w, f, http.StatusOK, b)
	}
	fail := func(exc, code, msg string) { reply(moodleError{exc, code, msg}) }
	if r.Form.Get("moodlewsrestformat") != "json" {
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		_, _ = w.Write([]byte("<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<RESPONSE></RESPONSE>\n"))
		return
	}
	if r.Form.Get("wstoken") != s.Token {
		fail("moodle_exception", "invalidtoken", "Invalid token - token not found")
		return
	}
	opt := func(name string) string {
		for i := 0; i < 16; i++ {
			if r.Form.Get("options["+strconv.Itoa(i)+"][name]") == name {
				return r.Form.Get("options[" + strconv.Itoa(i) + "][value]")
			}
		}
		return ""
	}
	courseParam := func() (*Course, bool) {
		id, _ := strconv.ParseInt(r.Form.Get("courseid"), 10, 64)
		c, ok := s.course(id)
		if !ok {
			fail("dml_missing_record_exception", "invalidrecord", "Can't find data record in database table course.")
		}
		return c, ok
	}
	learner := func(c *Course) (Learner, bool) {
		uid, _ := strconv.ParseInt(r.Form.Get("userid"), 10, 64)
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, l := range c.Learners {
			if l.ID == uid {
				return l, true
			}
		}
		fail("moodle_exception", "usernotenroled", "User is not enrolled in this course")
		return Learner{}, false
	}
	switch fn {
	case "core_webservice_get_site_info":
		reply(map[string]any{"sitename": "Fixture University", "username": "wsuser", "firstname": "Web", "lastname": "Service",
			"fullname": "Web Service", "lang": "en", "userid": 2, "siteurl": "http://" + r.Host, "userpictureurl": "",
			"functions": []any{}, "downloadfiles": 0, "uploadfiles": 0, "release": "4.3 (Build: 20231009)", "version": "2023100900",
			"mobilecssurl": "", "advancedfeatures": []any{}, "usercanmanageownfiles": true, "userquota": 0, "usermaxuploadfilesize": 0,
			"userhomepage": 1, "siteid": 1, "sitecalendartype": "gregorian", "usercalendartype": "gregorian", "theme": "boost"})
	case "core_course_get_courses_by_field":
		type course struct {
			ID               int64  `json:"id"`
			FullName         string `json:"fullname"`
			DisplayName      string `json:"displayname"`
			ShortName        string `json:"shortname"`
			CategoryID       int    `json:"categoryid"`
			Summary          string `json:"summary"`
			SummaryFormat    int    `json:"summaryformat"`
			Format           string `json:"format"`
			EnableCompletion int    `json:"enablecompletion"`
			Visible          int    `json:"visible"`
		}
		var want map[int64]bool
		if r.Form.Get("field") == "ids" || r.Form.Get("field") == "id" {
			want = map[int64]bool{}
			for _, v := range strings.Split(r.Form.Get("value"), ",") {
				id, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				want[id] = true
			}
		}
		out := []course{}
		if want == nil || want[1] {
			out = append(out, course{ID: 1, FullName: "Fixture University", DisplayName: "Fixture University", ShortName: "fixture", Format: "site", Visible: 1})
		}
		s.mu.Lock()
		for _, id := range s.order {
			if want != nil && !want[id] {
				continue
			}
			c := s.courses[id]
			out = append(out, course{ID: c.ID, FullName: c.Name, DisplayName: c.Name, ShortName: "C" + strconv.FormatInt(c.ID, 10),
				CategoryID: 1, Summary: "<p>" + c.Name + "</p>", SummaryFormat: 1, Format: "topics", EnableCompletion: 1, Visible: 1})
		}
		s.mu.Unlock()
		reply(map[string]any{"courses": out, "warnings": []any{}})
	case "core_enrol_get_enrolled_users":
		c, ok := courseParam()
		if !ok {
			return
		}
		from, _ := strconv.Atoi(opt("limitfrom"))
		limit, _ := strconv.Atoi(opt("limitnumber"))
		if f.EndlessPages {
			from = 0
		}
		type user struct {
			ID            int64  `json:"id"`
			Username      string `json:"username"`
			FirstName     string `json:"firstname"`
			LastName      string `json:"lastname"`
			FullName      string `json:"fullname"`
			Email         string `json:"email,omitempty"`
			FirstAccess   int64  `json:"firstaccess"`
			LastAccess    int64  `json:"lastaccess"`
			ProfileImage  string `json:"profileimageurl"`
			EnrolledCours []any  `json:"enrolledcourses"`
		}
		// One row per user, sorted as asked (sortby=id is what the
		// plugin asks for).
		s.mu.Lock()
		var ls []Learner
		dup := map[int64]bool{}
		for _, l := range c.Learners {
			if !dup[l.ID] {
				dup[l.ID] = true
				ls = append(ls, l)
			}
		}
		s.mu.Unlock()
		if opt("sortby") == "id" {
			slices.SortStableFunc(ls, func(a, b Learner) int { return cmp.Compare(a.ID, b.ID) })
		}
		out := []user{}
		for i := from; i < len(ls) && (limit <= 0 || i < from+limit); i++ {
			l := ls[i]
			id := strconv.FormatInt(l.ID, 10)
			out = append(out, user{ID: l.ID, Username: "learner" + id, FirstName: "Learner", LastName: id, FullName: "Learner " + id,
				Email: l.Email, ProfileImage: "http://" + r.Host + "/theme/image.php/boost/core/1/u/f1", EnrolledCours: []any{}})
		}
		reply(out)
	case "core_completion_get_course_completion_status":
		c, ok := courseParam()
		if !ok {
			return
		}
		l, ok := learner(c)
		if !ok {
			return
		}
		var tc *int64
		if l.Completed {
			tc = &l.CompletedAt
		}
		status := "No"
		if l.Completed {
			status = "Yes"
		}
		reply(map[string]any{"completionstatus": map[string]any{"completed": l.Completed, "aggregation": 1,
			"completions": []any{map[string]any{"type": 4, "title": "Activity completion", "status": status, "complete": l.Completed,
				"timecompleted": tc, "details": map[string]any{"type": "Activity completion", "criteria": "Quiz", "requirement": "Marking yourself complete", "status": ""}}}},
			"warnings": []any{}})
	case "core_completion_get_activities_completion_status":
		c, ok := courseParam()
		if !ok {
			return
		}
		l, ok := learner(c)
		if !ok {
			return
		}
		state, tc := 0, int64(0)
		if l.Completed {
			state, tc = 1, l.CompletedAt
		}
		reply(map[string]any{"statuses": []any{map[string]any{"cmid": 7, "modname": "quiz", "instance": 3, "state": state,
			"timecompleted": tc, "tracking": 1, "overrideby": nil, "valueused": false, "hascompletion": true, "isautomatic": true,
			"istrackeduser": true, "uservisible": true, "details": []any{}}}, "warnings": []any{}})
	case "gradereport_user_get_grade_items":
		c, ok := courseParam()
		if !ok {
			return
		}
		l, ok := learner(c)
		if !ok {
			return
		}
		var raw *float64
		if l.HasGrade {
			raw = &l.Grade
		}
		reply(map[string]any{"usergrades": []any{map[string]any{"courseid": c.ID, "courseidnumber": "", "userid": l.ID,
			"userfullname": "Learner " + strconv.FormatInt(l.ID, 10), "useridnumber": "", "maxdepth": 2,
			"gradeitems": []any{map[string]any{"id": 1, "itemname": nil, "itemtype": "course", "itemmodule": nil, "iteminstance": c.ID,
				"itemnumber": nil, "idnumber": "", "categoryid": nil, "outcomeid": nil, "scaleid": nil, "locked": false,
				"graderaw": raw, "gradedatesubmitted": nil, "gradedategraded": nil, "gradehiddenbydate": false,
				"gradeneedsupdate": false, "gradeishidden": false, "gradeislocked": false, "gradeisoverridden": false,
				"gradeformatted": "", "grademin": 0, "grademax": 100, "rangeformatted": "0&ndash;100"}}}},
			"warnings": []any{}})
	default:
		fail("webservice_access_exception", "accessexception", "Access control exception")
	}
}
