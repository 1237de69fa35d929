package plugintest_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/sdk-plugin/plugintest"
)

// fakeLMS is an in-memory LMS: five courses, course "c1" completed by
// seven learners. Its cursors are offsets. The defect fields break one
// rule each.
type fakeLMS struct {
	overfull   bool // pages larger than asked
	dupLearner bool // a learner listed on two pages
	neverEnds  bool // ListCompletions never settles
	noTime     bool // a completion without a time
	badGrade   bool // a grade of 87 (a percentage, not [0, 1])
}

var lmsLearners = []string{"l1", "l2", "l3", "l4", "l5", "l6", "l7"}

func (f *fakeLMS) DescribeCourses(_ context.Context, req *abiv1.DescribeCoursesRequest) (*abiv1.DescribeCoursesResponse, error) {
	all := []*abiv1.Course{}
	for i := 1; i <= 5; i++ {
		all = append(all, &abiv1.Course{ID: fmt.Sprintf("c%d", i), Title: fmt.Sprintf("Course %d", i)})
	}
	if len(req.IDs) > 0 {
		var out []*abiv1.Course
		for _, c := range all {
			for _, id := range req.IDs {
				if c.ID == id {
					out = append(out, c)
				}
			}
		}
		return &abiv1.DescribeCoursesResponse{Courses: out}, nil
	}
	off, _ := strconv.Atoi(req.Cursor)
	n := int(req.PageSize)
	if n == 0 {
		n = 100
	}
	end := min(off+n, len(all))
	r := &abiv1.DescribeCoursesResponse{Courses: all[off:end]}
	if end < len(all) {
		r.NextCursor = strconv.Itoa(end)
	}
	return r, nil
}

func (f *fakeLMS) ListCompletions(_ context.Context, req *abiv1.ListCompletionsRequest) (*abiv1.ListCompletionsResponse, error) {
	if req.CourseID != "c1" {
		return nil, abiv1.Errorf(abiv1.ErrorCodeNotFound, "no course %q", req.CourseID)
	}
	off := 0
	if req.SinceCursor != "" {
		var err error
		if off, err = strconv.Atoi(req.SinceCursor); err != nil {
			return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "bad cursor")
		}
	}
	n := int(req.PageSize)
	if f.overfull {
		n++
	}
	end := min(off+n, len(lmsLearners))
	var out []*abiv1.Completion
	for i := off; i < end; i++ {
		c := &abiv1.Completion{LearnerExternalID: lmsLearners[i], Email: lmsLearners[i] + "@example.edu", CompletedAtUnix: 1_700_000_000 + int64(i), CourseID: "c1"}
		if f.noTime && i == 3 {
			c.CompletedAtUnix = 0
		}
		if f.badGrade && i == 2 {
			c.Grade, c.HasGrade = 87, true
		}
		out = append(out, c)
	}
	if f.dupLearner && off == 2 {
		out = append(out, &abiv1.Completion{LearnerExternalID: "l1", CompletedAtUnix: 1_700_000_000})
		out = out[1:]
	}
	next := strconv.Itoa(end)
	if f.neverEnds && end == len(lmsLearners) {
		next = strconv.Itoa(end + 1 + off)
	}
	return &abiv1.ListCompletionsResponse{Completions: out, NextCursor: next}, nil
}

func lmsTransport(f *fakeLMS) abiv1.Transport {
	h := abiv1.DispatchLMS(f)
	return abiv1.HandlerTransport(func(ctx context.Context, method uint32, req []byte) ([]byte, error) {
		if method == abiv1.MethodPluginDescribe {
			return (&abiv1.DescribeResponse{Name: "fake-lms", Version: "1.0.0", Interfaces: []string{"lms"}}).MarshalAppend(nil), nil
		}
		if info, ok := abiv1.LookupMethod(method); !ok || info.Interface != "lms" {
			return nil, abiv1.Unimplemented(method)
		}
		return h(ctx, method, req)
	})
}

var lmsCases = plugintest.LMSCases{
	Plugin: plugintest.PluginInfo{Name: "fake-lms", Interfaces: []string{"lms"}},
	Course: "c1", Completions: 7, MissingCourse: "c404", MaxPages: 50, Parallel: 3, Rounds: 5,
}

func TestLMSConformancePasses(t *testing.T) {
	plugintest.LMSConformance(t, lmsTransport(&fakeLMS{}), lmsCases)
}

func TestLMSConformanceCatchesDefects(t *testing.T) {
	for name, tc := range map[string]struct {
		lms  *fakeLMS
		want string
	}{
		"overfull pages":      {&fakeLMS{overfull: true}, "page size 2"},
		"learner twice":       {&fakeLMS{dupLearner: true}, `learner "l1" listed twice`},
		"cursor never settle": {&fakeLMS{neverEnds: true}, "did not settle in 50 pages"},
		"no completion time":  {&fakeLMS{noTime: true}, `learner "l4" has no completion time`},
		"grade outside [0,1]": {&fakeLMS{badGrade: true}, "outside [0, 1]"},
	} {
		t.Run(name, func(t *testing.T) {
			var r recorder
			r.run(func() { plugintest.LMSConformance(&r, lmsTransport(tc.lms), lmsCases) })
			if !r.has(tc.want) {
				t.Errorf("suite did not report %q; reported:\n%s", tc.want, strings.Join(r.errors, "\n"))
			}
		})
	}
}
