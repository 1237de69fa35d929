package lms

import (
	"net/http"
	"testing"

	"github.com/ubeu/gateway/host/lms/lmstest"
	"github.com/ubeu/gateway/sdk-plugin/plugintest"
)

// TestLMSConformance runs the SDK's LMS conformance suite against both
// plugins, compiled to wasm, with the fixture servers as their peers: page
// sizes, fields, grades in [0, 1], no learner twice, cursors that settle,
// nothing new from the settled cursor, resuming mid-walk gives exactly the
// rest, NOT_FOUND for a missing course, stable under parallel walks.
func TestLMSConformance(t *testing.T) {
	data := lmstest.Dataset(3, 7)
	data[0].Learners[3].Completed = false // 6 of 7 completed course 101
	data[0].Learners[5].HasGrade = false  // one without a grade
	for _, typ := range []string{"moodle", "canvas"} {
		t.Run(typ, func(t *testing.T) {
			var srv *lmstest.Server
			if typ == "moodle" {
				srv = lmstest.NewMoodle("tok", data)
			} else {
				srv = lmstest.NewCanvas("tok", data)
			}
			defer srv.Close()
			tr := plugintest.RunWasm(t, plugintest.BuildWasm(t, "github.com/ubeu/gateway/plugins/"+typ), plugintest.Options{
				Peers:   map[string]http.Handler{"127.0.0.1": srv.Config.Handler},
				Secrets: map[string]string{"base_url": srv.URL, "token": "tok"},
			})
			plugintest.LMSConformance(t, tr, plugintest.LMSCases{
				Plugin:        plugintest.PluginInfo{Name: typ, Version: "0.1.0"},
				Course:        "101",
				Completions:   6,
				MissingCourse: "999",
				PageSize:      2,
			})
		})
	}
}
