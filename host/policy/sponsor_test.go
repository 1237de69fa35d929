package policy

import (
	"context"
	"testing"
)

func TestSponsorDefaultPolicy(t *testing.T) {
	e, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	in := SponsorInput{PayerKind: "user", PayerID: "u1", Tier: "individual", Subscription: "none", Operation: "did_create", EstimateMicrocents: 2_000_000}
	d, err := e.Sponsor(ctx, in)
	if err != nil || !d.Allow || d.MonthlyQuota != 100 || d.Cached || d.Revision == "" {
		t.Fatalf("unsubscribed: %+v %v", d, err)
	}
	if d, err = e.Sponsor(ctx, in); err != nil || !d.Cached || d.MonthlyQuota != 100 {
		t.Fatalf("second decision not cached: %+v %v", d, err)
	}
	in.LowBalance = true
	if d, err = e.Sponsor(ctx, in); err != nil || d.Allow || d.Cached {
		t.Fatalf("low balance, unsubscribed: %+v %v", d, err)
	}
	in.Subscription = "active"
	if d, err = e.Sponsor(ctx, in); err != nil || !d.Allow || d.MonthlyQuota != 0 {
		t.Fatalf("active: %+v %v", d, err)
	}
	in.Operation = "nonsense"
	if d, err = e.Sponsor(ctx, in); err != nil || d.Allow || d.Reason != "unknown operation" {
		t.Fatalf("unknown operation: %+v %v", d, err)
	}
}

func BenchmarkSponsor(b *testing.B) {
	e, err := New(context.Background(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	in := SponsorInput{PayerKind: "user", PayerID: "u1", Tier: "individual", Subscription: "active", Operation: "did_create", EstimateMicrocents: 2_000_000}
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			e.Sponsor(context.Background(), in)
		}
	})
	b.Run("uncached", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			in.EstimateMicrocents = int64(i)
			e.Sponsor(context.Background(), in)
		}
	})
}
