package treasury

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ubeu/gateway/host/ledger"
	"github.com/ubeu/gateway/host/store"
)

// BenchmarkReconcile100k is the reconciliation figure of the treasury:
// 100,000 sponsored operations (GATEWAYD_BENCH_RECONCILE_OPS to change it)
// written through the sponsored ledger the gateway uses — credential
// anchors of one message and DID creations of a topic and a message —
// then reconciled. The honest run must report zero differences; then a
// set of differences of every kind is injected and each must be found.
// The baseline in the same run is listing the ledger's paid transactions
// alone (what any reconciliation has to read).
func BenchmarkReconcile100k(b *testing.B) {
	n := 100_000
	if v := os.Getenv("GATEWAYD_BENCH_RECONCILE_OPS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 100 {
			b.Fatalf("GATEWAYD_BENCH_RECONCILE_OPS=%q", v)
		}
	}
	f := newFixtureBalance(b, func(o *Options) { o.FlushInterval = 50 * time.Millisecond }, 1_000_000*100_000_000)
	ctx := context.Background()
	payers := make([]Payer, 200)
	for i := range payers {
		payers[i] = Payer{Kind: KindEnterprise, ID: fmt.Sprintf("ent-%03d", i), Tier: "enterprise"}
		f.s.PutSubscription(ctx, &Subscription{Kind: KindEnterprise, ID: payers[i].ID, Plan: "enterprise", Status: SubActive,
			PeriodEnd: time.Now().AddDate(1, 0, 0)})
	}
	start := time.Now()
	const workers = 4
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			l := f.s.Ledger()
			var topic string
			for i := w; i < n; i += workers {
				p := payers[i%len(payers)]
				op := OpCredentialIssuance
				if i%10 == 0 || topic == "" {
					op = OpDIDCreate
				}
				cctx, sp, err := f.s.Sponsor(ctx, p, op, 1)
				if err != nil {
					errs <- err
					return
				}
				if op == OpDIDCreate {
					r, err := l.CreateTopic(cctx, ledger.TopicOptions{})
					if err != nil {
						errs <- err
						return
					}
					topic = r.TopicID
				}
				if _, err := l.Submit(cctx, topic, []byte(`{"anchor":"`+strconv.Itoa(i)+`"}`)); err != nil {
					errs <- err
					return
				}
				sp.End()
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	if err := f.s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("wrote %d sponsored operations in %v", n, time.Since(start).Round(time.Millisecond))

	b.Run("baseline-list-transactions", func(b *testing.B) {
		for b.Loop() {
			after, total := time.Time{}, 0
			for {
				page, err := f.l.Transactions(ctx, after, 1000)
				if err != nil {
					b.Fatal(err)
				}
				total += len(page)
				if len(page) < 1000 {
					break
				}
				after = page[len(page)-1].ConsensusTime
			}
			b.ReportMetric(float64(total), "transactions")
		}
	})
	b.Run("honest", func(b *testing.B) {
		for b.Loop() {
			rep, err := f.s.Reconcile(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if rep.Count != 0 || rep.Records != n || rep.Matched != n {
				b.Fatalf("honest run: %d records, %d matched, %d differences: %+v", rep.Records, rep.Matched, rep.Count, rep.Differences)
			}
			b.ReportMetric(float64(rep.Records), "records")
			b.ReportMetric(float64(rep.Transactions), "transactions")
		}
	})

	// Inject ten differences of each kind into the records and the ledger.
	const each = 10
	var recs []*Record
	f.s.EachRecord(ctx, func(r *Record) error {
		if len(recs) < 5*each && len(r.Transactions) == 2 {
			c := *r
			recs = append(recs, &c)
		}
		return nil
	})
	if len(recs) < 5*each {
		b.Fatalf("only %d DID records to tamper with", len(recs))
	}
	kv := f.st.KV()
	put := func(r *Record) {
		v, _ := jsonMarshal(r)
		if _, err := kv.Put(ctx, ns, "s/"+r.ID, v, store.KVCond{}); err != nil {
			b.Fatal(err)
		}
	}
	for i := range each {
		kv.Delete(ctx, ns, "s/"+recs[i].ID, store.KVCond{}) // transaction_without_record
		r := *recs[each+i]
		r.ActualTinybars++ // fee_mismatch
		put(&r)
		r = *recs[2*each+i]
		r.Payer = Payer{Kind: KindEnterprise, ID: "intruder", Tier: "enterprise"} // record_altered
		put(&r)
		r = *recs[3*each+i]
		r.Transactions = []TransactionRef{r.Transactions[0], {ID: "0.0.2@1.000000001", Type: ledger.TxSubmitMessage, FeeTinybars: r.Transactions[1].FeeTinybars}} // transactions_differ
		put(&r)
		r = *recs[4*each+i]
		r.ID = fmt.Sprintf("PHANTOM%09d", i) // record_without_transaction
		put(&r)
		if _, err := f.l.CreateTopic(ctx, ledger.TopicOptions{}); err != nil { // foreign_transaction
			b.Fatal(err)
		}
	}
	// The stored aggregates no longer add up either: one more.
	want := map[string]int{DiffMissingRecord: each, DiffFee: each, DiffAltered: each, DiffTransactions: each,
		DiffMissingTx: each, DiffForeign: each, DiffAggregate: 1}
	b.Run("injected", func(b *testing.B) {
		for b.Loop() {
			rep, err := f.s.Reconcile(ctx)
			if err != nil {
				b.Fatal(err)
			}
			got := map[string]int{}
			for _, d := range rep.Differences {
				got[d.Kind]++
			}
			total := 0
			for k, w := range want {
				if got[k] != w {
					b.Fatalf("%s: found %d, injected %d (%v)", k, got[k], w, got)
				}
				total += w
			}
			if rep.Count != total || len(got) != len(want) {
				b.Fatalf("%d differences, injected %d (%v)", rep.Count, total, got)
			}
			b.ReportMetric(float64(rep.Count), "differences")
		}
	})
}
