package lms

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ubeu/gateway/host/lms/lmstest"
	pluginpkg "github.com/ubeu/gateway/host/plugin/pkg"
)

// syncWith runs one sync of a fresh connection to srv with one mapping
// per course id and returns the report.
func syncWith(t *testing.T, f *fixture, typ, url, token string, courses ...string) (*Report, *Connection) {
	t.Helper()
	c := mustConn(t, f, typ, url, token)
	for _, id := range courses {
		mustMap(t, f, c, MappingInput{CourseID: id})
	}
	return mustSync(t, f, c), c
}

func errorCodes(r *Report) []string {
	var out []string
	for _, e := range r.Errors {
		out = append(out, e.Code+": "+e.Message)
	}
	return out
}

// TestBadInput: wrong tokens, HTML instead of JSON, truncated JSON, a 10 MB
// reply, endless pagination and an unknown course each end their mapping
// with a clear error in the report; the other mapping of the same sync
// goes on, and nothing is issued twice.
func TestBadInput(t *testing.T) {
	courses := lmstest.Dataset(2, 4) // courses 101 and 102
	moodle := lmstest.NewMoodle("good-token", courses)
	defer moodle.Close()
	canvas := lmstest.NewCanvas("good-token", courses)
	defer canvas.Close()
	plugins := loadPlugins(t, true, moodle.URL, canvas.URL)
	servers := map[string]*lmstest.Server{"moodle": moodle, "canvas": canvas}

	cases := []struct {
		name   string
		faults lmstest.Faults
		token  string
		want   string // in the error of every mapping
		code   string
	}{
		{name: "wrong token", token: "bad-token", code: "UNAUTHENTICATED", want: ""},
		{name: "html", faults: lmstest.Faults{HTML: true}, code: "UNAVAILABLE", want: "HTML, not JSON"},
		{name: "truncated", faults: lmstest.Faults{Truncate: true}, code: "UNAVAILABLE", want: "truncated JSON"},
		{name: "10 MB reply", faults: lmstest.Faults{PadTo: 10 << 20}, code: "UNAVAILABLE", want: "over the cap"},
		{name: "endless pagination", faults: lmstest.Faults{EndlessPages: true}, want: "pag"},
	}
	for _, typ := range []string{"moodle", "canvas"} {
		srv := servers[typ]
		for _, tc := range cases {
			t.Run(typ+"/"+tc.name, func(t *testing.T) {
				f := newFixture(t, plugins)
				f.svc.o.PageSize = 2
				registerAll(f, courses)
				srv.SetFaults(tc.faults)
				defer srv.SetFaults(lmstest.Faults{})
				tok := tc.token
				if tok == "" {
					tok = "good-token"
				}
				r, c := syncWith(t, f, typ, srv.URL, tok, "101", "102")
				// Endless pagination: the first page of each course is
				// issued, then the repeat is refused.
				issued := 0
				if tc.faults.EndlessPages {
					issued = 4
				}
				if r.Issued != issued || r.Status != StatusPartial || len(r.Errors) != 2 {
					t.Fatalf("issued %d status %s errors %v", r.Issued, r.Status, errorCodes(r))
				}
				if r2 := mustSync(t, f, c); r2.Issued != 0 || countBadges(t, f) != issued {
					t.Fatalf("second sync issued %d", r2.Issued)
				}
				for _, e := range r.Errors {
					if tc.code != "" && e.Code != tc.code {
						t.Errorf("code %s, want %s (%s)", e.Code, tc.code, e.Message)
					}
					if !strings.Contains(e.Message, tc.want) {
						t.Errorf("message %q does not say %q", e.Message, tc.want)
					}
					if strings.Contains(e.Message, tok) {
						t.Errorf("the token is in the report: %q", e.Message)
					}
				}
			})
		}
		t.Run(typ+"/unknown course, the rest goes on", func(t *testing.T) {
			f := newFixture(t, plugins)
			registerAll(f, courses)
			c := mustConn(t, f, typ, srv.URL, "good-token")
			// The LMS has no course 999: the mapping is refused...
			if _, err := f.svc.CreateMapping(ctx, f.ent.ID, c.ID, MappingInput{CourseID: "999", BadgeTemplateID: "course-completion"}); err == nil ||
				!strings.Contains(err.Error(), "no course 999") {
				t.Fatalf("mapping of a missing course: %v", err)
			}
			// ...unless the LMS cannot be asked (then the sync reports it).
			srv.SetFaults(lmstest.Faults{HTML: true})
			mustMap(t, f, c, MappingInput{CourseID: "999"})
			srv.SetFaults(lmstest.Faults{})
			mustMap(t, f, c, MappingInput{CourseID: "101"})
			mustMap(t, f, c, MappingInput{CourseID: "102"})
			r := mustSync(t, f, c)
			if r.Issued != 8 || len(r.Errors) != 1 || r.Errors[0].Code != "NOT_FOUND" || r.Status != StatusPartial {
				t.Fatalf("issued %d errors %v", r.Issued, errorCodes(r))
			}
			r = mustSync(t, f, c)
			if r.Issued != 0 || r.SkippedBy[SkipAlreadyIssued] != 8 {
				t.Fatalf("second sync issued %d (%v)", r.Issued, r.SkippedBy)
			}
		})
	}
}

// TestThrottledCanvas: a Canvas that throttles every third request (403
// Rate Limit Exceeded) is backed off and retried (by the plugin, then the
// host); every badge is issued.
func TestThrottledCanvas(t *testing.T) {
	courses := lmstest.Dataset(2, 5)
	srv := lmstest.NewCanvas("tok", courses)
	defer srv.Close()
	srv.SetFaults(lmstest.Faults{ThrottleEvery: 3})
	f := newFixture(t, loadPlugins(t, true, srv.URL))
	f.svc.o.PageSize = 2
	f.svc.o.Retries = 8
	registerAll(f, courses)
	r, _ := syncWith(t, f, "canvas", srv.URL, "tok", "101", "102")
	if r.Issued != 10 || len(r.Errors) != 0 {
		t.Fatalf("issued %d errors %v", r.Issued, errorCodes(r))
	}
	if n := countBadges(t, f); n != 10 {
		t.Fatalf("%d badges", n)
	}
}

// TestPrivateAddressRefused: a connection whose base URL is a private
// address the plugin was not granted is refused by the host's netguard
// (the plugin never reaches it).
func TestPrivateAddressRefused(t *testing.T) {
	courses := lmstest.Dataset(1, 2)
	for _, typ := range []string{"moodle", "canvas"} {
		t.Run(typ, func(t *testing.T) {
			var srv *lmstest.Server
			if typ == "moodle" {
				srv = lmstest.NewMoodle("tok", courses)
			} else {
				srv = lmstest.NewCanvas("tok", courses)
			}
			defer srv.Close()
			f := newFixture(t, loadPlugins(t, false, srv.URL))
			registerAll(f, courses)
			r, _ := syncWith(t, f, typ, srv.URL, "tok", "101")
			if r.Issued != 0 || len(r.Errors) != 1 || r.Errors[0].Code != "PERMISSION_DENIED" {
				t.Fatalf("issued %d errors %v", r.Issued, errorCodes(r))
			}
			if !strings.Contains(r.Errors[0].Message, "private") {
				t.Errorf("message %q does not name the private address", r.Errors[0].Message)
			}
			if srv.Requests() != 0 {
				t.Fatalf("the fixture got %d requests", srv.Requests())
			}
		})
	}
}

// TestManifests: the plugins' manifests are valid and request the
// secrets the host binds.
func TestManifests(t *testing.T) {
	for _, name := range []string{"moodle", "canvas"} {
		b, err := os.ReadFile("../../plugins/" + name + "/plugin.yaml")
		if err != nil {
			t.Fatal(err)
		}
		// The bundle fills the digests in; any value checks the rest.
		b = []byte(strings.ReplaceAll(string(b), `sha256: ""`, "sha256: "+strings.Repeat("0", 64)))
		m, err := pluginpkg.DecodeManifest(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if m.Name != name || strings.Join(m.Capabilities.Secrets, ",") != "base_url,token" {
			t.Fatalf("%s: %+v", name, m.Capabilities)
		}
	}
}

// TestCanvasQuota: against Canvas's throttling model (a quota drained by
// each request's cost and by a penalty while it is in flight, replenished
// over time), the plugin paces itself while the quota is low (100 ms after
// a reply with under 20 left) and backs off when it is spent (403 Rate
// Limit Exceeded); every badge is issued either way.
func TestCanvasQuota(t *testing.T) {
	for _, tc := range []struct {
		name      string
		quota     lmstest.Quota
		throttled bool
	}{
		{"low", lmstest.Quota{HighWaterMark: 60, Penalty: 50, Cost: 1, PerSecond: 10}, false},
		{"spent", lmstest.Quota{HighWaterMark: 55, Penalty: 50, Cost: 20, PerSecond: 40}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			courses := lmstest.Dataset(1, 5)
			srv := lmstest.NewCanvas("tok", courses)
			defer srv.Close()
			srv.SetFaults(lmstest.Faults{Quota: tc.quota})
			f := newFixture(t, loadPlugins(t, true, srv.URL))
			f.svc.o.Retries = 8
			registerAll(f, courses)
			start := time.Now()
			r, _ := syncWith(t, f, "canvas", srv.URL, "tok", "101")
			took := time.Since(start)
			if r.Issued != 5 || len(r.Errors) != 0 {
				t.Fatalf("issued %d errors %v", r.Issued, errorCodes(r))
			}
			throttled, low := srv.QuotaStats()
			if low == 0 || (throttled > 0) != tc.throttled {
				t.Fatalf("%d replies with a low quota, %d throttled", low, throttled)
			}
			// Paced: at least 100 ms after every low reply but the last.
			if min := time.Duration(low-1) * 100 * time.Millisecond; took < min {
				t.Fatalf("sync took %v after %d low replies: not paced", took, low)
			}
		})
	}
}
