package lms

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ubeu/gateway/host/lms/lmstest"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSchedulerClaimsMetricsAndSecrecy: a connection with a sync interval
// is synced when due and not before; ReleaseClaims issues a claim without
// reading the LMS; the metrics count what happened; the token is sealed in
// the store and neither the token nor a learner's e-mail reaches the log.
func TestSchedulerClaimsMetricsAndSecrecy(t *testing.T) {
	courses := lmstest.Dataset(1, 3)
	srv := lmstest.NewMoodle("s3cret-token-value", courses)
	defer srv.Close()
	f := newFixture(t, loadPlugins(t, true, srv.URL))
	var logs syncBuffer
	f.svc.log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	f.svc.now = func() time.Time { return now }
	registerAll(f, courses, courses[0].Learners[2].ID)

	c, err := f.svc.CreateConnection(ctx, f.ent.ID, ConnectionInput{Type: "moodle", BaseURL: srv.URL, Token: "s3cret-token-value", SyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	mustMap(t, f, c, MappingInput{CourseID: "101"})
	raw, _, err := f.kv.Get(ctx, ns, connKey(f.ent.ID, c.ID))
	if err != nil || bytes.Contains(raw, []byte("s3cret-token-value")) {
		t.Fatalf("the token is stored in clear: %s", raw)
	}

	if rs := f.svc.SyncDue(ctx); len(rs) != 1 || rs[0].Issued != 2 || rs[0].Trigger != "schedule" {
		t.Fatalf("first due sync: %+v", rs)
	}
	now = now.Add(30 * time.Minute)
	if rs := f.svc.SyncDue(ctx); len(rs) != 0 {
		t.Fatalf("synced before the interval passed: %d", len(rs))
	}
	now = now.Add(31 * time.Minute)
	if rs := f.svc.SyncDue(ctx); len(rs) != 1 || rs[0].Issued != 0 {
		t.Fatalf("second due sync: %+v", rs)
	}

	// The third learner registers: its claim is issued without the LMS.
	before := srv.Requests()
	f.dir.add(strings.ToLower(courses[0].Learners[2].Email), learnerDID(courses[0].Learners[2].ID))
	n, err := f.svc.ReleaseClaims(ctx, f.ent.ID)
	if err != nil || n != 1 {
		t.Fatalf("released %d %v", n, err)
	}
	if srv.Requests() != before {
		t.Fatalf("ReleaseClaims read the LMS (%d requests)", srv.Requests()-before)
	}
	if countBadges(t, f) != 3 {
		t.Fatal("badge of the claim missing")
	}

	if v := counter(f.svc.m.completions.WithLabelValues("issued")); v != 3 {
		t.Fatalf("issued metric %v", v)
	}
	if v := counter(f.svc.m.completions.WithLabelValues("skipped")); v != 4 {
		t.Fatalf("skipped metric %v (pending claim, then 2 already issued and the claim again)", v)
	}
	if v := counter(f.svc.m.syncs.WithLabelValues(StatusCompleted)); v != 3 {
		t.Fatalf("syncs metric %v", v)
	}
	out := logs.String()
	if !strings.Contains(out, "lms sync finished") {
		t.Fatalf("no progress in the log: %s", out)
	}
	for _, secret := range []string{"s3cret-token-value", "example.edu"} {
		if strings.Contains(out, secret) {
			t.Fatalf("the log holds %q: %s", secret, out)
		}
	}
}

func counter(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}
