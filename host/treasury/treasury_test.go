package treasury

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ubeu/gateway/host/ledger"
	"github.com/ubeu/gateway/host/ledger/local"
	"github.com/ubeu/gateway/host/policy"
	"github.com/ubeu/gateway/host/seal"
	"github.com/ubeu/gateway/host/store"
	"github.com/ubeu/gateway/host/store/badgerstore"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fixture is a treasury over a local ledger and a store, both on disk so
// that a test can reopen them.
type fixture struct {
	t        testing.TB
	dir      string
	key      []byte
	st       *badgerstore.Store
	l        *local.Ledger
	s        *Service
	opts     Options
	fees     local.Fees
	initBal  int64
	ledgerIn ledger.Ledger // what the service wraps (the ledger, or a fault injector)
}

func testEstimates() map[string]int64 {
	m := map[string]int64{}
	for _, op := range Operations {
		m[op] = 1 * MicrocentsPerCent // 1 cent each
	}
	m[OpDIDCreate] = 2 * MicrocentsPerCent
	m[OpBulkIssuance] = 3 * MicrocentsPerCent
	return m
}

var sharedPolicy struct {
	once sync.Once
	e    *policy.Engine
	err  error
}

func defaultPolicy(t testing.TB) *policy.Engine {
	sharedPolicy.once.Do(func() {
		sharedPolicy.e, sharedPolicy.err = policy.New(context.Background(), policy.Options{Logger: quiet})
	})
	if sharedPolicy.err != nil {
		t.Fatal(sharedPolicy.err)
	}
	return sharedPolicy.e
}

func newFixture(t testing.TB, mod func(*Options)) *fixture {
	t.Helper()
	return newFixtureBalance(t, mod, 1_000*100_000_000)
}

// newFixtureBalance is newFixture with the ledger's initial treasury
// balance, in tinybars.
func newFixtureBalance(t testing.TB, mod func(*Options), initBal int64) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), key: make([]byte, 32), fees: local.Fees{CreateTopic: 8_333_333, Submit: 666_667, TokenCreate: 833_333_333, Mint: 16_666_667}, initBal: initBal}
	rand.Read(f.key)
	f.opts = Options{Policy: defaultPolicy(t), MemoKey: f.key, Estimates: testEstimates(), Logger: quiet,
		LowBalance: 100 * 100_000_000, FlushInterval: time.Hour, BalanceInterval: time.Hour}
	if mod != nil {
		mod(&f.opts)
	}
	f.open()
	return f
}

func (f *fixture) open() {
	t := f.t
	t.Helper()
	sealer, _ := seal.New(f.key)
	st, err := badgerstore.Open(context.Background(), badgerstore.Options{Dir: f.dir + "/db", Sealer: sealer, IndexKey: f.key, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	l, err := local.Open(local.Options{Dir: f.dir + "/ledger", Logger: quiet, Fees: f.fees, InitialBalance: f.initBal})
	if err != nil {
		t.Fatal(err)
	}
	f.st, f.l = st, l
	o := f.opts
	o.KV, o.Ledger = st.KV(), l
	if f.ledgerIn != nil {
		o.Ledger = f.ledgerIn
	}
	f.s, err = New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.close)
}

func (f *fixture) close() {
	if f.s != nil {
		f.s.Close()
		f.l.Close()
		f.st.Close()
		f.s = nil
	}
}

// crash drops the service without flushing, as kill -9 would, and closes
// the databases.
func (f *fixture) crash() {
	f.s.closed.Store(true)
	close(f.s.stop)
	<-f.s.done
	f.l.Close()
	f.st.Close()
	f.s = nil
}

var alice = Payer{Kind: KindUser, ID: "7f8a3a5e-3c1e-4b8e-9a51-0a3f0a6b9d11", Tier: "individual"}
var acme = Payer{Kind: KindEnterprise, ID: "0c9e2b4f-95d6-4a41-8d2c-6b37d3e1a7f0", Tier: "pro"}

// didCreate is what a DID creation does on the ledger: a topic, then a
// message.
func (f *fixture) didCreate(ctx context.Context, p Payer) (*Record, error) {
	ctx, sp, err := f.s.Sponsor(ctx, p, OpDIDCreate, 1)
	if err != nil {
		return nil, err
	}
	defer sp.End()
	l := f.s.Ledger()
	r, err := l.CreateTopic(ctx, ledger.TopicOptions{})
	if err != nil {
		return nil, err
	}
	if _, err := l.Submit(ctx, r.TopicID, []byte(`{"create":"did"}`)); err != nil {
		return nil, err
	}
	return sp.End(), nil
}

func TestSponsoredOperationRecorded(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	before, _ := f.s.Balance()
	rec, err := f.didCreate(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Operation != OpDIDCreate || rec.Payer != alice || len(rec.Transactions) != 2 || rec.Recovered {
		t.Fatalf("record: %+v", rec)
	}
	wantFee := f.fees.CreateTopic + f.fees.Submit
	if rec.ActualTinybars != wantFee {
		t.Fatalf("actual %d tinybars, want %d (the receipts' fees)", rec.ActualTinybars, wantFee)
	}
	// 1 HBAR = 12 cents: 9,000,000 tinybars = 1.08 cents.
	if want, _ := ToMicrocents(wantFee, local.DefaultRate); rec.ActualMicrocents != want {
		t.Fatalf("actual %d microcents, want %d", rec.ActualMicrocents, want)
	}
	if rec.EstimateMicrocents != 2*MicrocentsPerCent {
		t.Fatalf("estimate %d", rec.EstimateMicrocents)
	}
	if after, _ := f.s.Balance(); before-after != wantFee {
		t.Fatalf("balance fell by %d, want %d", before-after, wantFee)
	}
	// Each transaction carries the record's memo.
	txs, _ := f.l.Transactions(ctx, time.Time{}, 0)
	for _, tx := range txs {
		m, err := f.s.memo.decode(tx.Memo)
		if err != nil || m.SpendID != rec.ID || m.Payer != (Payer{Kind: alice.Kind, ID: alice.ID, Tier: alice.Tier}) || m.Operation != OpDIDCreate {
			t.Fatalf("memo of %s: %+v %v", tx.ID, m, err)
		}
	}
	got, err := f.s.Get(ctx, rec.ID)
	if err != nil || got.ActualTinybars != wantFee {
		t.Fatalf("stored record: %+v %v", got, err)
	}
	st := f.s.Stats(7)
	if st.OperationsToday != 1 || st.TotalSponsored != wantFee || st.ByType[OpDIDCreate].Count != 1 || st.ByTier["individual"].Count != 1 {
		t.Fatalf("stats: %+v", st)
	}
	u, _ := f.s.PayerUsage(KindUser, alice.ID, "")
	if u.Total.Count != 1 || u.Subscription != SubNone {
		t.Fatalf("usage: %+v", u)
	}
	rep, err := f.s.Reconcile(ctx)
	if err != nil || rep.Count != 0 || rep.Matched != 1 || rep.Transactions != 2 {
		t.Fatalf("reconcile: %+v %v", rep, err)
	}
}

func TestUnsponsoredWriteIsPlatformsOwn(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	if _, err := f.s.Ledger().CreateTopic(ctx, ledger.TopicOptions{}); err != nil {
		t.Fatal(err)
	}
	st := f.s.Stats(1)
	if st.ByType[OpTopicCreate].Count != 1 || st.ByTier["platform"].Count != 1 {
		t.Fatalf("stats: %+v", st)
	}
}

func TestRefusals(t *testing.T) {
	ctx := context.Background()
	t.Run("unknown operation", func(t *testing.T) {
		f := newFixture(t, nil)
		if _, _, err := f.s.Sponsor(ctx, alice, "mine_bitcoin", 1); !errors.Is(err, ErrUnknownOperation) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("absurd units", func(t *testing.T) {
		f := newFixture(t, nil)
		for _, n := range []int64{0, -1, 1 << 40} {
			if _, _, err := f.s.Sponsor(ctx, acme, OpBulkIssuance, n); !errors.Is(err, ErrAmount) {
				t.Fatalf("%d units: %v", n, err)
			}
		}
	})
	t.Run("expired subscription gets the reduced quota, exactly", func(t *testing.T) {
		f := newFixture(t, nil)
		now := time.Now()
		f.s.PutSubscription(ctx, &Subscription{Kind: KindEnterprise, ID: acme.ID, Plan: "pro", Status: SubActive, PeriodEnd: now.Add(-time.Hour)})
		// Twenty racers for a quota of ten: exactly ten are sponsored.
		var ok, refused atomic.Int32
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, sp, err := f.s.Sponsor(ctx, acme, OpCredentialIssuance, 1)
				if errors.Is(err, ErrNotSponsored) {
					refused.Add(1)
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := f.s.Ledger().CreateTopic(c, ledger.TopicOptions{}); err != nil {
					t.Error(err)
				}
				sp.End()
				ok.Add(1)
			}()
		}
		wg.Wait()
		if ok.Load() != 10 || refused.Load() != 10 {
			t.Fatalf("%d sponsored, %d refused; want 10 and 10", ok.Load(), refused.Load())
		}
		u, _ := f.s.PayerUsage(KindEnterprise, acme.ID, "")
		if u.Total.Count != 10 || u.Subscription != SubExpired {
			t.Fatalf("usage %+v", u)
		}
	})
	t.Run("low balance blocks the unpaid, not the paid", func(t *testing.T) {
		f := newFixture(t, func(o *Options) { o.LowBalance = 2_000 * 100_000_000 }) // above the initial balance
		if h := f.s.Health(); h == "ok" {
			t.Fatalf("health %q with a low balance", h)
		}
		if _, _, err := f.s.Sponsor(ctx, alice, OpDIDCreate, 1); !errors.Is(err, ErrNotSponsored) {
			t.Fatalf("unpaid user sponsored on a low balance: %v", err)
		}
		f.s.PutSubscription(ctx, &Subscription{Kind: KindUser, ID: alice.ID, Plan: "individual", Status: SubActive, PeriodEnd: time.Now().AddDate(1, 0, 0)})
		if _, sp, err := f.s.Sponsor(ctx, alice, OpDIDCreate, 1); err != nil {
			t.Fatalf("paying user refused: %v", err)
		} else {
			sp.End()
		}
	})
	t.Run("balance cannot be overdrawn by racers", func(t *testing.T) {
		f := newFixture(t, func(o *Options) {
			o.Estimates[OpManual] = 50 * MicrocentsPerDollar // $50 = 416.7 HBAR at 12 cents
		})
		f.s.PutSubscription(ctx, &Subscription{Kind: KindEnterprise, ID: acme.ID, Plan: "pro", Status: SubActive, PeriodEnd: time.Now().AddDate(0, 1, 0)})
		var ok atomic.Int32
		var wg sync.WaitGroup
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, _, err := f.s.Sponsor(ctx, acme, OpManual, 1); err == nil {
					ok.Add(1) // never ended: the reservation holds
				} else if !errors.Is(err, ErrInsufficientBalance) {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 2 { // 1,000 HBAR covers two reservations of 416.7
			t.Fatalf("%d reservations of 416.7 HBAR granted on 1,000 HBAR", ok.Load())
		}
	})
}

// flakyRate answers the rates it is given, in turn.
type flakyRate struct {
	ledger.Ledger
	tr    ledger.Treasury
	mu    sync.Mutex
	rates []any // ledger.ExchangeRate or error
}

func (f *flakyRate) TreasuryAccount() string                    { return f.tr.TreasuryAccount() }
func (f *flakyRate) Balance(ctx context.Context) (int64, error) { return f.tr.Balance(ctx) }
func (f *flakyRate) Transactions(ctx context.Context, after time.Time, limit int) ([]ledger.Transaction, error) {
	return f.tr.Transactions(ctx, after, limit)
}
func (f *flakyRate) ExchangeRate(context.Context) (ledger.ExchangeRate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.rates[0]
	if len(f.rates) > 1 {
		f.rates = f.rates[1:]
	}
	if err, ok := v.(error); ok {
		return ledger.ExchangeRate{}, err
	}
	return v.(ledger.ExchangeRate), nil
}

func TestExchangeRate(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	clock := func() time.Time { return now }
	f := newFixture(t, func(o *Options) { o.Now = clock; o.RateRefresh = time.Minute; o.RateMaxAge = time.Hour })
	f.s.Close()
	fr := &flakyRate{Ledger: f.l, tr: f.l, rates: []any{
		ledger.ExchangeRate{HbarEquiv: 1, CentEquiv: 10},
		errors.New("mirror node down"),
		ledger.ExchangeRate{HbarEquiv: 1, CentEquiv: 0},       // nonsense
		ledger.ExchangeRate{HbarEquiv: 1, CentEquiv: 9000000}, // $90,000 an HBAR: nonsense
		ledger.ExchangeRate{HbarEquiv: 30000, CentEquiv: 360000},
	}}
	o := f.opts
	o.KV, o.Ledger = f.st.KV(), fr
	s, err := New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sp := func() (*Sponsorship, error) {
		_, sp, err := s.Sponsor(ctx, alice, OpDIDCreate, 1)
		sp.End()
		return sp, err
	}
	if p, err := sp(); err != nil || p.Rate.CentEquiv != 10 || p.EstTiny != 20_000_000 { // 2 cents at 10 cents/HBAR
		t.Fatalf("first: %+v %v", p, err)
	}
	now = now.Add(2 * time.Minute) // refresh fails: the cached rate is still young enough
	if p, err := sp(); err != nil || p.Rate.CentEquiv != 10 {
		t.Fatalf("after a failed refresh: %+v %v", p, err)
	}
	now = now.Add(2 * time.Hour) // nonsense answers, and the cached rate is too old
	for range 2 {
		if _, err := sp(); !errors.Is(err, ErrStaleRate) {
			t.Fatalf("stale rate used: %v", err)
		}
		now = now.Add(2 * time.Minute)
	}
	if h := s.Health(); h == "ok" {
		t.Fatal("health ok without a rate")
	}
	if p, err := sp(); err != nil || p.Rate.CentEquiv != 360000 || p.EstTiny != 16_666_667 {
		t.Fatalf("recovered rate: %+v %v", p, err)
	}
}

// TestCrashRecovery kills the treasury after the ledger wrote but before
// the records were flushed: reopening rebuilds every record from the
// ledger, with the actual fees, and reconciliation then finds nothing.
func TestCrashRecovery(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	var want int64
	for range 5 {
		r, err := f.didCreate(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		want += r.ActualTinybars
	}
	f.s.Flush(ctx)
	for range 3 {
		r, err := f.didCreate(ctx, acme)
		if err != nil {
			t.Fatal(err)
		}
		want += r.ActualTinybars
	}
	f.crash() // the last three records were never written
	f.open()
	st := f.s.Stats(1)
	if st.Operations != 8 || st.TotalSponsored != want {
		t.Fatalf("after the crash: %d operations, %d tinybars; want 8 and %d", st.Operations, st.TotalSponsored, want)
	}
	n := 0
	f.s.EachRecord(ctx, func(r *Record) error {
		if r.Recovered {
			n++
			if r.Payer.ID != acme.ID || r.Operation != OpDIDCreate || len(r.Transactions) != 2 {
				t.Errorf("recovered %+v", r)
			}
		}
		return nil
	})
	if n != 3 {
		t.Fatalf("%d records recovered, want 3", n)
	}
	rep, err := f.s.Reconcile(ctx)
	if err != nil || rep.Count != 0 || rep.Matched != 8 {
		t.Fatalf("reconcile after recovery: %+v %v", rep, err)
	}
	// A second recovery finds nothing more.
	if n, err := f.s.Recover(ctx); err != nil || n != 0 {
		t.Fatalf("second recovery: %d %v", n, err)
	}
}

// TestReconcileFindsInjectedDifferences tampers with the records in every
// way reconciliation must notice.
func TestReconcileFindsInjectedDifferences(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	var recs []*Record
	for range 6 {
		r, err := f.didCreate(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	f.s.Flush(ctx)
	kv := f.st.KV()
	put := func(r *Record) {
		b, _ := jsonMarshal(r)
		if _, err := kv.Put(ctx, ns, "s/"+r.ID, b, store.KVCond{}); err != nil {
			t.Fatal(err)
		}
	}
	// 1. a record deleted: its transactions have no record.
	kv.Delete(ctx, ns, "s/"+recs[0].ID, store.KVCond{})
	// 2. a fee changed.
	r := *recs[1]
	r.ActualTinybars++
	put(&r)
	// 3. the payer changed.
	r = *recs[2]
	r.Payer = acme
	put(&r)
	// 4. a transaction dropped from a record.
	r = *recs[3]
	r.ActualTinybars -= r.Transactions[1].FeeTinybars
	r.Transactions = r.Transactions[:1]
	put(&r)
	// 5. a record with no transaction.
	r = *recs[4]
	r.ID = "AAAAAAAAAAAAAAAA"
	put(&r)
	// 6. a transaction paid outside the treasury (no memo).
	if _, err := f.l.CreateTopic(ctx, ledger.TopicOptions{}); err != nil {
		t.Fatal(err)
	}
	rep, err := f.s.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, d := range rep.Differences {
		kinds[d.Kind]++
	}
	want := map[string]int{DiffMissingRecord: 1, DiffFee: 2, DiffAltered: 1, DiffMissingTx: 1, DiffForeign: 1, DiffAggregate: 1, DiffTransactions: 0}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%s: %d, want %d (%+v)", k, kinds[k], n, rep.Differences)
		}
	}
	if rep.Matched != 2 {
		t.Errorf("%d matched, want 2 (recs[4] and recs[5])", rep.Matched)
	}
}
