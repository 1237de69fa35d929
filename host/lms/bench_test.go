package lms

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ubeu/gateway/host/credentials"
	"github.com/ubeu/gateway/host/lms/lmstest"
)

// Figures of issue 7: a sync of 10,000 completions across 20 courses
// against the local fixture servers (the plugin compiled to wasm under the
// real runtime, netguard HTTP over loopback), every badge issued
// (OpenBadgeCredential, eddsa-rdfc-2022, status entry, stored); and, in the
// same run, the baseline: the credential service issuing the same badges
// in batches of the same size with no LMS in front. resync-completions/s
// is a second sync of the same data (every completion fetched through the
// plugin and found already issued): the LMS side alone.
//
//	go test -run '^$' -bench 'Sync10k' -benchtime 1x ./host/lms
func BenchmarkSync10k(b *testing.B) {
	const courses, per = 20, 500
	data := lmstest.Dataset(courses, per)
	for _, typ := range []string{"moodle", "canvas"} {
		b.Run(typ, func(b *testing.B) {
			var srv *lmstest.Server
			if typ == "moodle" {
				srv = lmstest.NewMoodle("tok", data)
			} else {
				srv = lmstest.NewCanvas("tok", data)
			}
			defer srv.Close()
			plugins := loadPlugins(b, true, srv.URL)
			var total, again time.Duration
			for range b.N {
				b.StopTimer()
				f := newFixture(b, plugins)
				registerAll(f, data)
				c, err := f.svc.CreateConnection(ctx, f.ent.ID, ConnectionInput{Type: typ, BaseURL: srv.URL, Token: "tok"})
				if err != nil {
					b.Fatal(err)
				}
				for _, co := range data {
					if _, err := f.svc.CreateMapping(ctx, f.ent.ID, c.ID, MappingInput{CourseID: fmt.Sprint(co.ID), BadgeTemplateID: "course-completion"}); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				start := time.Now()
				r, err := f.svc.Sync(ctx, f.ent.ID, c.ID, SyncOptions{})
				total += time.Since(start)
				if err != nil || r.Issued != courses*per || len(r.Errors) != 0 {
					b.Fatalf("%v issued %d errors %v", err, r.Issued, errorCodes(r))
				}
				// The same sync again: every completion fetched and found
				// already issued — the LMS side alone.
				b.StopTimer()
				start = time.Now()
				r, err = f.svc.Sync(ctx, f.ent.ID, c.ID, SyncOptions{})
				again += time.Since(start)
				if err != nil || r.Issued != 0 || r.SkippedBy[SkipAlreadyIssued] != courses*per {
					b.Fatalf("%v resync issued %d", err, r.Issued)
				}
				b.StartTimer()
			}
			n := float64(b.N * courses * per)
			b.ReportMetric(total.Seconds()/float64(b.N), "s/sync")
			b.ReportMetric(n/total.Seconds(), "badges/s")
			b.ReportMetric(n/again.Seconds(), "resync-completions/s")
		})
	}
	b.Run("baseline-issue-batch", func(b *testing.B) {
		var total time.Duration
		for range b.N {
			b.StopTimer()
			f := newFixture(b, pluginSet{})
			m := &Mapping{ID: "m", CourseID: "101", BadgeTemplateID: "course-completion"}
			var err error
			if m, err = f.svc.CreateMapping(ctx, f.ent.ID, mustConnB(b, f).ID, MappingInput{CourseID: "101", BadgeTemplateID: "course-completion"}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			start := time.Now()
			for done := 0; done < courses*per; done += f.svc.o.BatchSize {
				items := make([]credentials.BatchItem, f.svc.o.BatchSize)
				for i := range items {
					cred, err := f.svc.build(f.ent, m, learnerDID(int64(done+i)), 1_700_000_000, time.Now(), "urn:uuid:"+uuid.NewString())
					if err != nil {
						b.Fatal(err)
					}
					items[i] = credentials.BatchItem{Credential: cred, Options: credentials.IssueOptions{OpenBadges: true}}
				}
				res, err := f.creds.IssueBatch(ctx, credentials.Issuer{EnterpriseID: f.ent.ID, DID: f.ent.ManagedDID, Name: f.ent.OrganizationName}, items)
				if err != nil || res[0].Err != nil {
					b.Fatal(err, res[0].Err)
				}
			}
			total += time.Since(start)
		}
		n := float64(b.N * courses * per)
		b.ReportMetric(total.Seconds()/float64(b.N), "s/sync")
		b.ReportMetric(n/total.Seconds(), "badges/s")
	})
}

func mustConnB(b *testing.B, f *fixture) *Connection {
	c, err := f.svc.CreateConnection(ctx, f.ent.ID, ConnectionInput{Type: "moodle", BaseURL: "http://127.0.0.1:1", Token: "t"})
	if err != nil {
		b.Fatal(err)
	}
	return c
}
