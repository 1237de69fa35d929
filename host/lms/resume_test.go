package lms

import (
	"testing"

	"github.com/ubeu/gateway/host/lms/lmstest"
)

// TestResumeAfterInterruption: the LMS starts failing halfway through a
// sync (HTTP 500 from the Nth request on). The report says so, the cursor
// of the interrupted course stays at its last complete page, and the next
// sync resumes there: every completion ends up with exactly one badge —
// no duplicates, no gaps.
func TestResumeAfterInterruption(t *testing.T) {
	for _, typ := range []string{"moodle", "canvas"} {
		t.Run(typ, func(t *testing.T) {
			courses := lmstest.Dataset(3, 12)
			var srv *lmstest.Server
			if typ == "moodle" {
				srv = lmstest.NewMoodle("tok", courses)
			} else {
				srv = lmstest.NewCanvas("tok", courses)
			}
			defer srv.Close()
			f := newFixture(t, loadPlugins(t, true, srv.URL))
			f.svc.o.PageSize = 4
			registerAll(f, courses)
			c := mustConn(t, f, typ, srv.URL, "tok")
			for _, co := range []string{"101", "102", "103"} {
				mustMap(t, f, c, MappingInput{CourseID: co})
			}
			// 36 completions: about 2 requests each with the listings; fail
			// a little after a third of them.
			srv.SetFaults(lmstest.Faults{FailFrom: 30})
			r1 := mustSync(t, f, c)
			if r1.Status != StatusPartial || len(r1.Errors) == 0 || r1.Issued == 0 || r1.Issued >= 36 {
				t.Fatalf("first sync: status %s issued %d errors %v", r1.Status, r1.Issued, errorCodes(r1))
			}
			if got := countBadges(t, f); got != r1.Issued {
				t.Fatalf("%d badges after the interrupted sync, report says %d", got, r1.Issued)
			}
			srv.SetFaults(lmstest.Faults{})
			r2 := mustSync(t, f, c)
			if r2.Status != StatusCompleted {
				t.Fatalf("second sync: %s %v", r2.Status, errorCodes(r2))
			}
			resumed := 0
			for _, mr := range r2.Mappings {
				if mr.Resumed {
					resumed++
				}
			}
			if resumed == 0 {
				t.Fatal("no mapping resumed from a stored cursor")
			}
			if r1.Issued+r2.Issued != 36 || countBadges(t, f) != 36 {
				t.Fatalf("issued %d + %d, %d badges; want 36", r1.Issued, r2.Issued, countBadges(t, f))
			}
			// An interrupted mapping resumes at the page it had not
			// finished, so it reads nothing it had issued; only a mapping
			// whose pass had completed starts a new pass (all already
			// issued).
			again := 0
			for _, mr := range r1.Mappings {
				if mr.PassComplete {
					again += mr.Issued
				}
			}
			if r2.SkippedBy[SkipAlreadyIssued] != again {
				t.Errorf("resume re-read %d issued completions, want %d", r2.SkippedBy[SkipAlreadyIssued], again)
			}
			r3 := mustSync(t, f, c)
			if r3.Issued != 0 || r3.SkippedBy[SkipAlreadyIssued] != 36 {
				t.Fatalf("third sync issued %d, skipped %v", r3.Issued, r3.SkippedBy)
			}
		})
	}
}

// TestCrashBetweenIssueAndMarker: a badge stored by a sync that died
// before recording it (its marker missing) is found by its derived ID and
// not issued again.
func TestCrashBetweenIssueAndMarker(t *testing.T) {
	courses := lmstest.Dataset(1, 3)
	srv := lmstest.NewMoodle("tok", courses)
	defer srv.Close()
	f := newFixture(t, loadPlugins(t, true, srv.URL))
	registerAll(f, courses)
	c := mustConn(t, f, "moodle", srv.URL, "tok")
	m := mustMap(t, f, c, MappingInput{CourseID: "101"})
	if r := mustSync(t, f, c); r.Issued != 3 {
		t.Fatalf("issued %d", r.Issued)
	}
	// Lose the markers and the cursor, as a crash right after the
	// credential store's write would.
	for _, l := range courses[0].Learners {
		learner := itoa(l.ID)
		_ = f.kv.Delete(ctx, ns, markerKey(m.ID, learner), storeCond())
		_ = f.kv.Delete(ctx, ns, markerKey(m.ID, "user:u-"+learnerDID(l.ID)), storeCond())
	}
	r := mustSync(t, f, c)
	if r.Issued != 0 || r.SkippedBy[SkipAlreadyIssued] != 3 || countBadges(t, f) != 3 {
		t.Fatalf("issued %d skipped %v badges %d", r.Issued, r.SkippedBy, countBadges(t, f))
	}
}

// TestMoodleActivityAndGrade: a mapping of one activity with a minimum
// grade calls the activity completion and grade functions.
func TestMoodleActivityAndGrade(t *testing.T) {
	courses := []lmstest.Course{{ID: 21, Name: "Graded", Learners: []lmstest.Learner{
		{ID: 1, Email: "a@example.edu", Completed: true, CompletedAt: 1_700_000_000, Grade: 81, HasGrade: true},
		{ID: 2, Email: "b@example.edu", Completed: true, CompletedAt: 1_700_000_000, Grade: 79, HasGrade: true},
		{ID: 3, Email: "c@example.edu", Completed: true, CompletedAt: 1_700_000_000},
		{ID: 4, Email: "d@example.edu"},
	}}}
	srv := lmstest.NewMoodle("tok", courses)
	defer srv.Close()
	f := newFixture(t, loadPlugins(t, true, srv.URL))
	registerAll(f, courses)
	c := mustConn(t, f, "moodle", srv.URL, "tok")
	mustMap(t, f, c, MappingInput{CourseID: "21", ActivityID: "7", MinGrade: 0.8})
	r := mustSync(t, f, c)
	checkReport(t, r, 3, 1, map[string]int{SkipBelowMinGrade: 1, SkipNoGrade: 1})
	if srv.Calls("core_completion_get_activities_completion_status") != 4 || srv.Calls("core_completion_get_course_completion_status") != 0 ||
		srv.Calls("gradereport_user_get_grade_items") != 3 {
		t.Fatalf("calls: activities %d course %d grades %d", srv.Calls("core_completion_get_activities_completion_status"),
			srv.Calls("core_completion_get_course_completion_status"), srv.Calls("gradereport_user_get_grade_items"))
	}
	if _, err := f.svc.CreateMapping(ctx, f.ent.ID, c.ID, MappingInput{CourseID: "21", ActivityID: "7", BadgeTemplateID: "course-completion", MinGrade: 1.5}); err == nil {
		t.Fatal("minGrade 1.5 accepted")
	}
}
