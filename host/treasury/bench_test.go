package treasury

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ubeu/gateway/host/ledger"
)

// BenchmarkSponsorshipOverhead measures the sponsorship step around one
// ledger write — estimate, rate, policy, quota and balance reservation,
// the memo, the receipt noted, the record queued and counted, its batch
// written (amortised: a flush every 1,000) — and, as the baseline in the
// same run, the local ledger's Submit it wraps. It reports the median
// (p50-ns) and p99 of the step alone.
func BenchmarkSponsorshipOverhead(b *testing.B) {
	f := newFixture(b, nil)
	ctx := context.Background()
	r, err := f.l.CreateTopic(ctx, ledger.TopicOptions{})
	if err != nil {
		b.Fatal(err)
	}
	f.s.PutSubscription(ctx, &Subscription{Kind: KindEnterprise, ID: acme.ID, Plan: "pro", Status: SubActive, PeriodEnd: time.Now().AddDate(0, 1, 0)})
	rcpt, err := f.l.Submit(ctx, r.TopicID, []byte("x"))
	if err != nil {
		b.Fatal(err)
	}
	report := func(b *testing.B, d []time.Duration) {
		slices.Sort(d)
		b.ReportMetric(float64(d[len(d)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds()), "p99-ns")
	}
	b.Run("step", func(b *testing.B) {
		d := make([]time.Duration, 0, b.N)
		i := 0
		for b.Loop() {
			t0 := time.Now()
			_, sp, err := f.s.Sponsor(ctx, acme, OpCredentialIssuance, 1)
			if err != nil {
				b.Fatal(err)
			}
			sp.add(rcpt, ledger.TxSubmitMessage, r.TopicID)
			sp.End()
			if i++; i%1000 == 0 {
				f.s.Flush(ctx)
			}
			d = append(d, time.Since(t0))
		}
		report(b, d)
	})
	// Every payer new: the policy is evaluated each time (no cache hit).
	b.Run("step-uncached-policy", func(b *testing.B) {
		d := make([]time.Duration, 0, b.N)
		i := 0
		for b.Loop() {
			p := acme
			p.ID = uuid.NewString()
			t0 := time.Now()
			_, sp, err := f.s.Sponsor(ctx, p, OpCredentialIssuance, 1)
			if err != nil {
				b.Fatal(err)
			}
			sp.add(rcpt, ledger.TxSubmitMessage, r.TopicID)
			sp.End()
			if i++; i%1000 == 0 {
				f.s.Flush(ctx)
			}
			d = append(d, time.Since(t0))
		}
		report(b, d)
	})
	b.Run("baseline-ledger-submit", func(b *testing.B) {
		d := make([]time.Duration, 0, b.N)
		for b.Loop() {
			t0 := time.Now()
			if _, err := f.l.Submit(ctx, r.TopicID, []byte("x")); err != nil {
				b.Fatal(err)
			}
			d = append(d, time.Since(t0))
		}
		report(b, d)
	})
}
