package lms

import (
	"encoding/json"
	"strings"
	"testing"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/lms/lmstest"
	"github.com/ubeu/gateway/host/vc/openbadges"
)

// countBadges returns the credentials of the enterprise and fails on a
// subject holding two badges of one achievement.
func countBadges(t *testing.T, f *fixture) int {
	t.Helper()
	n, after := 0, ""
	seen := map[string]bool{}
	for {
		rs, err := f.creds.List(ctx, false, f.ent.ID, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			_, b, err := f.creds.Get(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			var m struct {
				CredentialSubject struct {
					Achievement struct {
						ID string `json:"id"`
					} `json:"achievement"`
				} `json:"credentialSubject"`
			}
			_ = json.Unmarshal(b, &m)
			k := r.SubjectDID + "|" + m.CredentialSubject.Achievement.ID
			if seen[k] {
				t.Fatalf("two badges of %s", k)
			}
			seen[k] = true
		}
		n += len(rs)
		if len(rs) < 1000 {
			return n
		}
		after = rs[len(rs)-1].ID
	}
}

func mustConn(t *testing.T, f *fixture, typ, base, token string) *Connection {
	t.Helper()
	c, err := f.svc.CreateConnection(ctx, f.ent.ID, ConnectionInput{Type: typ, BaseURL: base, Token: token, Name: typ})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustMap(t *testing.T, f *fixture, c *Connection, in MappingInput) *Mapping {
	t.Helper()
	if in.BadgeTemplateID == "" {
		in.BadgeTemplateID = "course-completion"
	}
	m, err := f.svc.CreateMapping(ctx, f.ent.ID, c.ID, in)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustSync(t *testing.T, f *fixture, c *Connection) *Report {
	t.Helper()
	r, err := f.svc.Sync(ctx, f.ent.ID, c.ID, SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// registerAll gives every learner of the courses with an e-mail an account.
func registerAll(f *fixture, courses []lmstest.Course, except ...int64) {
	for _, c := range courses {
		for _, l := range c.Learners {
			skip := false
			for _, e := range except {
				skip = skip || e == l.ID
			}
			e := strings.ToLower(l.Email)
			if _, taken := f.dir.m[e]; e != "" && !skip && !taken {
				f.dir.add(e, learnerDID(l.ID))
			}
		}
	}
}

// mixed is a course with every kind of learner: completed (1, 2), no
// e-mail (3), not completed (4), no account yet (5), grade 50 (6), 7 with
// another LMS account of 1's person, and 2 enrolled a second time (Canvas:
// another section; Moodle lists a user once).
func mixed(id int64) lmstest.Course {
	return lmstest.Course{ID: id, Name: "Mixed", Learners: []lmstest.Learner{
		{ID: 1, Email: "one@example.edu", Completed: true, CompletedAt: 1_700_000_001, Grade: 95, HasGrade: true},
		{ID: 2, Email: "Two@Example.edu", Completed: true, CompletedAt: 1_700_000_002, Grade: 85, HasGrade: true},
		{ID: 3, Email: "", Completed: true, CompletedAt: 1_700_000_003, Grade: 90, HasGrade: true},
		{ID: 4, Email: "four@example.edu", Completed: false},
		{ID: 5, Email: "five@example.edu", Completed: true, CompletedAt: 1_700_000_005, Grade: 90, HasGrade: true},
		{ID: 6, Email: "six@example.edu", Completed: true, CompletedAt: 1_700_000_006, Grade: 50, HasGrade: true},
		{ID: 7, Email: "ONE@example.edu", Completed: true, CompletedAt: 1_700_000_007, Grade: 95, HasGrade: true},
		{ID: 2, Email: "Two@Example.edu", Completed: true, CompletedAt: 1_700_000_002, Grade: 85, HasGrade: true},
	}}
}

func checkReport(t *testing.T, r *Report, found, issued int, skipped map[string]int) {
	t.Helper()
	if r.Found != found || r.Issued != issued {
		t.Errorf("found %d issued %d, want %d and %d (report %+v)", r.Found, r.Issued, found, issued, r)
	}
	total := 0
	for k, v := range skipped {
		total += v
		if r.SkippedBy[k] != v {
			t.Errorf("skipped %s = %d, want %d (%v)", k, r.SkippedBy[k], v, r.SkippedBy)
		}
	}
	if r.Skipped != total {
		t.Errorf("skipped %d, want %d (%v)", r.Skipped, total, r.SkippedBy)
	}
	if r.Found != r.Issued+r.Skipped+r.Failed {
		t.Errorf("found %d != issued %d + skipped %d + failed %d", r.Found, r.Issued, r.Skipped, r.Failed)
	}
}

// TestSyncMoodleAndCanvas runs both plugins (compiled .wasm, real runtime)
// against the fixtures: the learners of every kind give an issue or a
// skip with its reason, a second sync issues nothing, and a pending claim
// is issued once its learner has an account.
func TestSyncMoodleAndCanvas(t *testing.T) {
	for _, typ := range []string{"moodle", "canvas"} {
		t.Run(typ, func(t *testing.T) {
			courses := []lmstest.Course{mixed(11)}
			var srv *lmstest.Server
			if typ == "moodle" {
				srv = lmstest.NewMoodle("tok-"+typ, courses)
			} else {
				srv = lmstest.NewCanvas("tok-"+typ, courses)
			}
			defer srv.Close()
			f := newFixture(t, loadPlugins(t, true, srv.URL))
			f.svc.o.PageSize = 3 // several pages
			registerAll(f, courses, 5)
			c := mustConn(t, f, typ, srv.URL, "tok-"+typ)
			plain := mustMap(t, f, c, MappingInput{CourseID: "11", TemplateFields: &openbadges.TemplateFields{Subject: "Mixed"}})
			graded := mustMap(t, f, c, MappingInput{CourseID: "11", MinGrade: 0.8})

			r := mustSync(t, f, c)
			if r.Status != StatusCompleted || len(r.Errors) != 0 {
				t.Fatalf("status %s errors %v", r.Status, r.Errors)
			}
			// Per mapping, completions 1, 2, 3, 5, 6, 7 (and 2 again on
			// Canvas); plain issues 1, 2, 6; graded issues 1, 2.
			found, dups := 12, 2
			if typ == "canvas" {
				found, dups = 14, 4
			}
			checkReport(t, r, found, 5, map[string]int{SkipDuplicate: dups, SkipNoEmail: 2, SkipPendingClaim: 2, SkipBelowMinGrade: 1})
			for _, mr := range r.Mappings {
				if !mr.PassComplete || mr.Pages < 2 {
					t.Errorf("mapping %+v: want a complete pass over several pages", mr)
				}
			}
			if n := countBadges(t, f); n != 5 {
				t.Fatalf("%d badges, want 5", n)
			}
			// A badge is a valid OB 3.0 credential for the learner.
			_, b, err := f.creds.Get(ctx, credentialID(f.ent.ID, plain, "1"))
			if err != nil {
				t.Fatal(err)
			}
			if err := openbadges.Validate(b); err != nil {
				t.Fatalf("badge fails the OB 3.0 schema: %v", err)
			}
			if !strings.Contains(string(b), learnerDID(1)) || !strings.Contains(string(b), "Mixed") {
				t.Fatalf("badge: %s", b)
			}
			if _, _, err := f.creds.Get(ctx, credentialID(f.ent.ID, graded, "6")); err == nil {
				t.Fatal("a badge below the minimum grade was issued")
			}

			r = mustSync(t, f, c)
			checkReport(t, r, found, 0, map[string]int{SkipAlreadyIssued: 5, SkipDuplicate: dups, SkipNoEmail: 2, SkipPendingClaim: 2, SkipBelowMinGrade: 1})

			// Learner 5 registers: the claims are issued at the next sync,
			// once, and not again.
			f.dir.add("five@example.edu", learnerDID(5))
			r = mustSync(t, f, c)
			if r.ClaimsReleased != 2 || r.Issued != 2 {
				t.Fatalf("claims released %d issued %d, want 2 and 2", r.ClaimsReleased, r.Issued)
			}
			r = mustSync(t, f, c)
			if r.Issued != 0 || r.ClaimsReleased != 0 {
				t.Fatalf("third sync issued %d", r.Issued)
			}
			if n := countBadges(t, f); n != 7 {
				t.Fatalf("%d badges, want 7", n)
			}
			stored, err := f.svc.Report(ctx, f.ent.ID, r.ID)
			if err != nil || stored.Found != r.Found {
				t.Fatalf("stored report %+v %v", stored, err)
			}
		})
	}
}

// TestDescribeCourses: both plugins list a site's courses page by page
// (Moodle: offset cursor over core_course_get_courses_by_field, the front
// page left out; Canvas: the Link header) and fetch courses by id; a
// mapping takes its badge's subject from the course title.
func TestDescribeCourses(t *testing.T) {
	data := lmstest.Dataset(5, 1)
	for _, typ := range []string{"moodle", "canvas"} {
		t.Run(typ, func(t *testing.T) {
			var srv *lmstest.Server
			if typ == "moodle" {
				srv = lmstest.NewMoodle("tok", data)
			} else {
				srv = lmstest.NewCanvas("tok", data)
			}
			defer srv.Close()
			plugins := loadPlugins(t, true, srv.URL)
			tr, _ := plugins.Get(typ)
			cl := abiv1.NewLMSClient(tr)
			bctx := WithConnection(ctx, typ, srv.URL, []byte("tok"))
			var ids []string
			cur := ""
			for range 10 {
				r, err := cl.DescribeCourses(bctx, &abiv1.DescribeCoursesRequest{Cursor: cur, PageSize: 2})
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range r.Courses {
					ids = append(ids, c.ID)
				}
				if cur = r.NextCursor; cur == "" {
					break
				}
			}
			if strings.Join(ids, ",") != "101,102,103,104,105" {
				t.Fatalf("courses %v", ids)
			}
			r, err := cl.DescribeCourses(bctx, &abiv1.DescribeCoursesRequest{IDs: []string{"103"}})
			if err != nil || len(r.Courses) != 1 || r.Courses[0].Title != "Course 103" {
				t.Fatalf("by id: %+v %v", r, err)
			}
			_, err = cl.DescribeCourses(bctx, &abiv1.DescribeCoursesRequest{IDs: []string{"999"}})
			if abiv1.AsError(err).Code != abiv1.ErrorCodeNotFound {
				t.Fatalf("missing course: %v", err)
			}
			_, err = cl.DescribeCourses(WithConnection(ctx, typ, srv.URL, []byte("wrong")), &abiv1.DescribeCoursesRequest{})
			if abiv1.AsError(err).Code != abiv1.ErrorCodeUnauthenticated {
				t.Fatalf("wrong token: %v", err)
			}
			f := newFixture(t, plugins)
			c := mustConn(t, f, typ, srv.URL, "tok")
			m := mustMap(t, f, c, MappingInput{CourseID: "104"})
			if m.Achievement.Name != "Course Completion: Course 104" {
				t.Fatalf("achievement %q", m.Achievement.Name)
			}
		})
	}
}
