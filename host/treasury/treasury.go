// Package treasury pays every network fee of the gateway from the
// platform treasury, and accounts for each one.
//
// Every ledger write runs through one sponsorship step (Sponsor, or the
// Ledger wrapper for writes made outside a named operation): an estimate in
// microcents (millionths of a US cent) from the operation table, converted
// to tinybars at the network's exchange rate (cached; refused past a
// maximum age), the sponsorship policy (package gatewayd.treasury), a
// monthly quota if the policy sets one and a reservation against the
// treasury's balance, then the ledger calls, then the actual fees from the
// receipts into one spend record.
//
// # Atomicity
//
// The ledger is the write-ahead log of spending. Each transaction the
// treasury pays for carries a memo that seals the spend record's identity
// (see memo.go): its ID, payer, operation, units and estimate. Spend
// records are written to the store after the receipts, in batches; if the
// process dies in between, Recover rebuilds the missing records from the
// ledger's transactions, with their actual fees. So a record exists only
// for transactions that happened (records are written from receipts) and
// every paid transaction gets its record (rebuilt from its memo), also
// across a crash. Reconcile checks both directions over the whole history.
package treasury

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ubeu/gateway/host/ledger"
	"github.com/ubeu/gateway/host/policy"
	"github.com/ubeu/gateway/host/store"
)

// Errors of the sponsorship step; test with errors.Is.
var (
	// ErrNotSponsored means the policy (or the payer's monthly quota)
	// refused to sponsor the operation.
	ErrNotSponsored = errors.New("treasury: operation not sponsored")
	// ErrStaleRate means no exchange rate younger than the maximum age is
	// known: the treasury refuses to price, rather than guess.
	ErrStaleRate = errors.New("treasury: exchange rate unavailable or stale")
	// ErrInsufficientBalance means the treasury cannot cover the estimate.
	ErrInsufficientBalance = errors.New("treasury: balance too low")
	// ErrUnknownOperation is an operation type not in the table.
	ErrUnknownOperation = errors.New("treasury: unknown operation type")
)

// Payer is who an operation is sponsored for.
type Payer struct {
	Kind string `json:"kind"` // KindUser, KindEnterprise or KindPlatform
	ID   string `json:"id"`
	Tier string `json:"tier,omitempty"`
}

// Platform is the payer of the gateway's own writes (registries, anchors).
var Platform = Payer{Kind: KindPlatform, ID: "gatewayd"}

func (p Payer) key() string { return p.Kind + ":" + p.ID }

// Sponsorer is the sponsorship policy (policy.Engine).
type Sponsorer interface {
	Sponsor(ctx context.Context, in policy.SponsorInput) (policy.SponsorDecision, error)
}

// Options configure a Service.
type Options struct {
	// KV holds spend records, aggregates and subscriptions (namespace
	// "treasury").
	KV store.KV
	// Ledger is the ledger the treasury pays for. If it implements
	// ledger.Treasury, its balance is watched, its exchange rate used and
	// its transactions reconciled.
	Ledger ledger.Ledger
	// Policy decides sponsorship.
	Policy Sponsorer
	// MemoKey seals transaction memos (32 bytes).
	MemoKey []byte
	// Estimates is the operation table: the estimated cost of one unit of
	// each operation type, in microcents. Every type of Operations must be
	// present.
	Estimates map[string]int64
	// Rate, if set, is the exchange rate used instead of the ledger's.
	Rate ledger.ExchangeRate
	// RateRefresh is how often the rate is fetched (5 minutes if 0);
	// RateMaxAge how old a rate may be and still be used (1 hour if 0).
	RateRefresh, RateMaxAge time.Duration
	// MinCentsPerHbar and MaxCentsPerHbar bound a believable rate; a rate
	// outside them is refused as nonsense (0.01 and 100,000 if 0).
	MinCentsPerHbar, MaxCentsPerHbar float64
	// LowBalance, in tinybars: below it /readyz warns and the policy sees
	// treasury.low_balance.
	LowBalance int64
	// BalanceInterval is how often the balance is read (1 minute if 0).
	BalanceInterval time.Duration
	// FlushInterval is how often spend records are written (100 ms if 0).
	FlushInterval time.Duration
	// RecoverWindow is how far before the last checkpoint Recover looks
	// (10 minutes if 0): longer than any operation lasts.
	RecoverWindow time.Duration
	// Registerer receives the treasury's metrics (none if nil).
	Registerer prometheus.Registerer
	// Transactions, if set, counts every ledger transaction written through
	// Ledger() by transaction_type (the Tx* names) and status (success,
	// failure, refused): the design's hedera_transactions_total. A chunked
	// message counts one per chunk.
	Transactions *prometheus.CounterVec
	// Logger; slog.Default() if nil.
	Logger *slog.Logger
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// Service is the treasury. It is safe for concurrent use.
type Service struct {
	o     Options
	kv    store.KV
	inner ledger.Ledger
	tr    ledger.Treasury // nil if the ledger cannot report
	memo  *memoCodec
	log   *slog.Logger
	now   func() time.Time
	m     *metrics

	rateMu    sync.Mutex
	rate      ledger.ExchangeRate
	rateAt    time.Time // when rate was fetched; zero: never
	rateErr   error
	rateFetch sync.Mutex // one fetch at a time

	balance    atomic.Int64 // last known balance, less fees paid since
	balanceOK  atomic.Bool  // balance has been read
	reserved   atomic.Int64 // tinybars reserved by sponsorships in flight
	balanceErr atomic.Pointer[string]

	mu       sync.Mutex
	inflight map[string]*Sponsorship // by spend ID
	quota    map[string]int64        // payer-month → sponsorships in flight counted against a quota
	days     map[string]*DayAgg      // by day, UTC
	payers   map[string]OpAggs       // by payer key + "/" + month
	dirty    map[string]bool         // aggregate keys to write
	journal  []*Record               // records to write
	subs     map[string]*Subscription
	checkpt  time.Time

	flushMu sync.Mutex
	auditMu sync.Mutex
	stop    chan struct{}
	done    chan struct{}
	closed  atomic.Bool
}

// Agg sums spend records.
type Agg struct {
	Count            int64 `json:"count"`
	Units            int64 `json:"units"`
	EstimateMicro    int64 `json:"estimateMicrocents"`
	ActualTinybars   int64 `json:"actualTinybars"`
	ActualMicrocents int64 `json:"actualMicrocents"`
}

func (a *Agg) add(r *Record) {
	a.Count++
	a.Units += r.Units
	a.EstimateMicro += r.EstimateMicrocents
	a.ActualTinybars += r.ActualTinybars
	a.ActualMicrocents += r.ActualMicrocents
}

// OpAggs are aggregates by operation type.
type OpAggs map[string]*Agg

func (m OpAggs) add(r *Record) {
	a := m[r.Operation]
	if a == nil {
		a = &Agg{}
		m[r.Operation] = a
	}
	a.add(r)
}

// Total sums every operation.
func (m OpAggs) Total() Agg {
	var t Agg
	for _, a := range m {
		t.Count += a.Count
		t.Units += a.Units
		t.EstimateMicro += a.EstimateMicro
		t.ActualTinybars += a.ActualTinybars
		t.ActualMicrocents += a.ActualMicrocents
	}
	return t
}

// DayAgg is one day's spending by operation and by tier.
type DayAgg struct {
	ByOperation OpAggs `json:"byOperation"`
	ByTier      OpAggs `json:"byTier"`
}

// Record is one spend record: what the treasury paid for one operation.
type Record struct {
	ID        string `json:"id"`
	Payer     Payer  `json:"payer"`
	Operation string `json:"operation"`
	// Units is how many credentials (or other units) the operation
	// covered; 1 for most.
	Units              int64                `json:"units"`
	EstimateMicrocents int64                `json:"estimateMicrocents"`
	EstimateTinybars   int64                `json:"estimateTinybars"`
	ActualTinybars     int64                `json:"actualTinybars"`
	ActualMicrocents   int64                `json:"actualMicrocents"`
	Rate               ledger.ExchangeRate  `json:"rate"`
	Transactions       []TransactionRef     `json:"transactions"`
	Time               time.Time            `json:"time"` // consensus time of the first transaction
	Reason             string               `json:"reason,omitempty"`
	Recovered          bool                 `json:"recovered,omitempty"`
	Manual             *ManualSponsorRecord `json:"manual,omitempty"`
}

// TransactionRef is one ledger transaction of a record.
type TransactionRef struct {
	ID          string    `json:"id"`
	Type        string    `json:"type"`
	Entity      string    `json:"entity"` // topic or token
	FeeTinybars int64     `json:"feeTinybars"`
	Time        time.Time `json:"time"`
}

// ManualSponsorRecord is what an admin asked for in a manual sponsorship.
type ManualSponsorRecord struct {
	By                 string `json:"by"`
	RequestedMicrocent int64  `json:"requestedMicrocents"`
}

const ns = "treasury"

// New opens the treasury: it loads the aggregates and subscriptions,
// fetches the rate and the balance, and recovers records a crash lost
// (see Recover). Close stops its background work.
func New(ctx context.Context, o Options) (*Service, error) {
	if o.KV == nil || o.Ledger == nil || o.Policy == nil {
		return nil, errors.New("treasury: KV, Ledger and Policy are required")
	}
	for _, op := range Operations {
		v, ok := o.Estimates[op]
		if !ok {
			return nil, fmt.Errorf("treasury: no estimate for operation %q", op)
		}
		if v < 0 || v > MaxEstimateMicrocents {
			return nil, fmt.Errorf("%w: estimate of %s", ErrAmount, op)
		}
	}
	for op := range o.Estimates {
		if !ValidOperation(op) {
			return nil, fmt.Errorf("%w: %q in the operation table", ErrUnknownOperation, op)
		}
	}
	codec, err := newMemoCodec(o.MemoKey)
	if err != nil {
		return nil, err
	}
	if o.RateRefresh <= 0 {
		o.RateRefresh = 5 * time.Minute
	}
	if o.RateMaxAge <= 0 {
		o.RateMaxAge = time.Hour
	}
	if o.MinCentsPerHbar <= 0 {
		o.MinCentsPerHbar = 0.01
	}
	if o.MaxCentsPerHbar <= 0 {
		o.MaxCentsPerHbar = 100_000
	}
	if o.BalanceInterval <= 0 {
		o.BalanceInterval = time.Minute
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 100 * time.Millisecond
	}
	if o.RecoverWindow <= 0 {
		o.RecoverWindow = 10 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Service{
		o: o, kv: o.KV, inner: o.Ledger, memo: codec, log: o.Logger.With("component", "treasury"), now: o.Now,
		inflight: map[string]*Sponsorship{}, quota: map[string]int64{}, days: map[string]*DayAgg{},
		payers: map[string]OpAggs{}, dirty: map[string]bool{}, subs: map[string]*Subscription{},
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	s.tr, _ = o.Ledger.(ledger.Treasury)
	s.m = newMetrics(o.Registerer, s)
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	if _, err := s.currentRate(ctx); err != nil {
		s.log.Warn("no exchange rate yet: sponsorship is refused until one is fetched", "err", err)
	}
	s.readBalance(ctx)
	if _, err := s.Recover(ctx); err != nil {
		return nil, fmt.Errorf("treasury: recover: %w", err)
	}
	go s.background()
	return s, nil
}

// load reads the aggregates, subscriptions and checkpoint.
func (s *Service) load(ctx context.Context) error {
	for _, prefix := range []string{"agg/day/", "agg/payer/", "sub/"} {
		after := ""
		for {
			items, err := s.kv.List(ctx, ns, prefix, after, 1000)
			if err != nil {
				return fmt.Errorf("treasury: load %s: %w", prefix, err)
			}
			for _, it := range items {
				k := strings.TrimPrefix(it.Key, prefix)
				var err error
				switch prefix {
				case "agg/day/":
					d := &DayAgg{}
					err = json.Unmarshal(it.Value, d)
					s.days[k] = d
				case "agg/payer/":
					m := OpAggs{}
					err = json.Unmarshal(it.Value, &m)
					s.payers[k] = m
				case "sub/":
					sub := &Subscription{}
					err = json.Unmarshal(it.Value, sub)
					s.subs[k] = sub
				}
				if err != nil {
					return fmt.Errorf("treasury: %s: %w", it.Key, err)
				}
			}
			if len(items) < 1000 {
				break
			}
			after = items[len(items)-1].Key
		}
	}
	v, _, err := s.kv.Get(ctx, ns, "meta/checkpoint")
	switch {
	case err == nil:
		if err := s.checkpt.UnmarshalText(v); err != nil {
			return fmt.Errorf("treasury: checkpoint: %w", err)
		}
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("treasury: checkpoint: %w", err)
	}
	return nil
}

// Close writes pending records and stops the background work.
func (s *Service) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	close(s.stop)
	<-s.done
	return s.Flush(context.Background())
}

func (s *Service) background() {
	defer close(s.done)
	flush := time.NewTicker(s.o.FlushInterval)
	defer flush.Stop()
	bal := time.NewTicker(s.o.BalanceInterval)
	defer bal.Stop()
	sweep := time.NewTicker(max(s.o.RecoverWindow/2, time.Minute))
	defer sweep.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-flush.C:
			if err := s.Flush(context.Background()); err != nil {
				s.log.Error("writing spend records failed; they will be retried", "err", err)
			}
		case <-bal.C:
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			s.readBalance(ctx)
			if _, err := s.currentRate(ctx); err != nil {
				s.log.Warn("exchange rate", "err", err)
			}
			cancel()
		case <-sweep.C:
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if n, err := s.Recover(ctx); err != nil {
				s.log.Error("spend record sweep failed", "err", err)
			} else if n > 0 {
				s.log.Warn("spend records rebuilt from the ledger", "records", n)
			}
			cancel()
		}
	}
}

// readBalance reads the treasury's balance from the ledger.
func (s *Service) readBalance(ctx context.Context) {
	if s.tr == nil {
		return
	}
	b, err := s.tr.Balance(ctx)
	if err != nil {
		msg := err.Error()
		s.balanceErr.Store(&msg)
		s.log.Warn("treasury balance unavailable", "err", err)
		return
	}
	s.balanceErr.Store(nil)
	s.balance.Store(b)
	s.balanceOK.Store(true)
	s.m.balance.Set(float64(b))
}

// Balance returns the last known treasury balance in tinybars (less the
// fees paid since it was read) and whether it is known.
func (s *Service) Balance() (int64, bool) {
	return s.balance.Load(), s.balanceOK.Load()
}

// LowBalance reports whether the known balance is under the threshold.
func (s *Service) LowBalance() bool {
	b, ok := s.Balance()
	return ok && b < s.o.LowBalance
}

// Health is the treasury's line of /readyz: "ok", or a warning.
func (s *Service) Health() string {
	var warn []string
	if s.LowBalance() {
		b, _ := s.Balance()
		warn = append(warn, fmt.Sprintf("low balance: %d tinybars, under %d", b, s.o.LowBalance))
	}
	if e := s.balanceErr.Load(); e != nil {
		warn = append(warn, "balance unavailable: "+*e)
	}
	s.rateMu.Lock()
	stale := s.rateAt.IsZero() || s.now().Sub(s.rateAt) > s.o.RateMaxAge
	s.rateMu.Unlock()
	if stale {
		warn = append(warn, "no fresh exchange rate: sponsorship refused")
	}
	if len(warn) == 0 {
		return "ok"
	}
	return "warning: " + strings.Join(warn, "; ")
}

// currentRate returns a rate no older than RateMaxAge, fetching one when
// the cached rate is older than RateRefresh.
func (s *Service) currentRate(ctx context.Context) (ledger.ExchangeRate, error) {
	now := s.now()
	s.rateMu.Lock()
	r, at := s.rate, s.rateAt
	s.rateMu.Unlock()
	if !at.IsZero() && now.Sub(at) < s.o.RateRefresh {
		return r, nil
	}
	s.rateFetch.Lock()
	defer s.rateFetch.Unlock()
	s.rateMu.Lock()
	r, at = s.rate, s.rateAt
	s.rateMu.Unlock()
	if !at.IsZero() && now.Sub(at) < s.o.RateRefresh {
		return r, nil
	}
	fresh, err := s.fetchRate(ctx)
	if err == nil {
		s.rateMu.Lock()
		s.rate, s.rateAt, s.rateErr = fresh, s.now(), nil
		s.rateMu.Unlock()
		s.m.rate.Set(float64(fresh.CentEquiv) / float64(fresh.HbarEquiv))
		return fresh, nil
	}
	s.rateMu.Lock()
	s.rateErr = err
	s.rateMu.Unlock()
	if !at.IsZero() && now.Sub(at) <= s.o.RateMaxAge {
		s.log.Warn("exchange rate refresh failed; using the cached rate", "age", now.Sub(at), "err", err)
		return r, nil
	}
	return ledger.ExchangeRate{}, fmt.Errorf("%w: %v", ErrStaleRate, err)
}

func (s *Service) fetchRate(ctx context.Context) (ledger.ExchangeRate, error) {
	r := s.o.Rate
	if r == (ledger.ExchangeRate{}) {
		if s.tr == nil {
			return r, errors.New("no rate configured and the ledger has none")
		}
		var err error
		if r, err = s.tr.ExchangeRate(ctx); err != nil {
			return r, err
		}
	}
	if err := r.Check(); err != nil {
		return r, err
	}
	c := float64(r.CentEquiv) / float64(r.HbarEquiv)
	if c < s.o.MinCentsPerHbar || c > s.o.MaxCentsPerHbar {
		return r, fmt.Errorf("%w: %g cents per HBAR is outside [%g, %g]", ledger.ErrBadRate, c, s.o.MinCentsPerHbar, s.o.MaxCentsPerHbar)
	}
	return r, nil
}

// Estimate returns the estimated cost of units of op in microcents.
func (s *Service) Estimate(op string, units int64) (int64, error) {
	per, ok := s.o.Estimates[op]
	if !ok {
		return 0, fmt.Errorf("%w: %q", ErrUnknownOperation, op)
	}
	if units < 1 || units > 1_000_000 {
		return 0, fmt.Errorf("%w: %d units", ErrAmount, units)
	}
	return per * units, nil
}

func month(t time.Time) string { return t.UTC().Format("2006-01") }
func day(t time.Time) string   { return t.UTC().Format("2006-01-02") }

// Sponsorship is one sponsored operation in flight. Ledger writes made
// with its context are paid by the treasury and recorded under it; End
// closes it.
type Sponsorship struct {
	s        *Service
	ID       string
	Payer    Payer
	Op       string
	Units    int64
	Estimate int64 // microcents
	EstTiny  int64
	Rate     ledger.ExchangeRate
	Decision policy.SponsorDecision
	memo     string
	quotaKey string
	manual   *ManualSponsorRecord

	mu    sync.Mutex
	txs   []TransactionRef
	ended bool
}

type spKey struct{}

// FromContext returns the sponsorship of ctx, or nil.
func FromContext(ctx context.Context) *Sponsorship {
	sp, _ := ctx.Value(spKey{}).(*Sponsorship)
	return sp
}

// Sponsor runs the sponsorship step for units of op on behalf of payer:
// estimate, rate, policy, quota and balance. On success the returned
// context carries the sponsorship: the ledger writes made with it (through
// the Ledger wrapper) are paid and recorded, and the caller must call End
// once the operation is over. A refusal wraps ErrNotSponsored,
// ErrStaleRate, ErrInsufficientBalance or ErrUnknownOperation.
func (s *Service) Sponsor(ctx context.Context, payer Payer, op string, units int64) (context.Context, *Sponsorship, error) {
	sp, err := s.begin(ctx, payer, op, units, 0)
	if err != nil {
		return ctx, nil, err
	}
	return context.WithValue(ctx, spKey{}, sp), sp, nil
}

// begin is Sponsor without the context; estimate overrides the table's
// when positive (manual sponsorship).
func (s *Service) begin(ctx context.Context, payer Payer, op string, units, estimate int64) (*Sponsorship, error) {
	if payer.Kind == "" {
		payer = Platform
	}
	var err error
	if estimate <= 0 {
		if estimate, err = s.Estimate(op, units); err != nil {
			return nil, err
		}
	} else if !ValidOperation(op) {
		return nil, fmt.Errorf("%w: %q", ErrUnknownOperation, op)
	}
	rate, err := s.currentRate(ctx)
	if err != nil {
		s.m.decisions.WithLabelValues(op, "stale_rate").Inc()
		return nil, err
	}
	tiny, err := ToTinybars(estimate, rate)
	if err != nil {
		return nil, err
	}
	now := s.now()
	sub := s.subscriptionStatus(payer, now)
	d, err := s.o.Policy.Sponsor(ctx, policy.SponsorInput{
		PayerKind: payer.Kind, PayerID: payer.ID, Tier: payer.Tier, Subscription: sub,
		Operation: op, EstimateMicrocents: estimate, LowBalance: s.LowBalance(),
	})
	if err != nil {
		s.m.decisions.WithLabelValues(op, "error").Inc()
		return nil, fmt.Errorf("treasury: policy: %w", err)
	}
	if !d.Allow {
		s.m.decisions.WithLabelValues(op, "denied").Inc()
		return nil, fmt.Errorf("%w: %s", ErrNotSponsored, d.Reason)
	}
	sp := &Sponsorship{s: s, Payer: payer, Op: op, Units: units, Estimate: estimate, EstTiny: tiny, Rate: rate, Decision: d}
	sp.memo, sp.ID, err = s.memo.encode(payer, op, units, estimate)
	if err != nil {
		return nil, err
	}
	// Balance: reserve the estimate so that racing operations cannot
	// together overdraw what is known to be there.
	if bal, ok := s.Balance(); ok {
		if r := s.reserved.Add(tiny); bal-r < 0 {
			s.reserved.Add(-tiny)
			s.m.decisions.WithLabelValues(op, "insufficient_balance").Inc()
			return nil, fmt.Errorf("%w: %d tinybars known, %d needed", ErrInsufficientBalance, bal, r)
		}
	} else {
		s.reserved.Add(tiny)
	}
	s.mu.Lock()
	if d.MonthlyQuota > 0 {
		sp.quotaKey = payer.key() + "/" + month(now)
		used := s.payers[sp.quotaKey].Total().Count + s.quota[sp.quotaKey]
		if used >= d.MonthlyQuota {
			s.mu.Unlock()
			s.reserved.Add(-tiny)
			s.m.decisions.WithLabelValues(op, "quota").Inc()
			return nil, fmt.Errorf("%w: monthly allowance of %d sponsored operations used (%s)", ErrNotSponsored, d.MonthlyQuota, d.Reason)
		}
		s.quota[sp.quotaKey]++
	}
	s.inflight[sp.ID] = sp
	s.mu.Unlock()
	s.m.decisions.WithLabelValues(op, "sponsored").Inc()
	return sp, nil
}

// add notes a paid transaction of the sponsorship.
func (sp *Sponsorship) add(r ledger.Receipt, typ, entity string) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.txs = append(sp.txs, TransactionRef{ID: r.TransactionID, Type: typ, Entity: entity, FeeTinybars: r.FeeTinybars, Time: r.ConsensusTime})
}

// Cost is what the sponsorship has paid so far: tinybars and microcents.
func (sp *Sponsorship) Cost() (tinybars, microcents int64) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for _, t := range sp.txs {
		tinybars += t.FeeTinybars
	}
	microcents, _ = ToMicrocents(tinybars, sp.Rate)
	return tinybars, microcents
}

// End closes the sponsorship: if it paid for any transaction, its record is
// queued for writing (and counted at once in the aggregates); its
// reservations are released. Safe to call more than once, or on nil.
func (sp *Sponsorship) End() *Record {
	if sp == nil {
		return nil
	}
	sp.mu.Lock()
	if sp.ended {
		sp.mu.Unlock()
		return nil
	}
	sp.ended = true
	txs := sp.txs
	sp.mu.Unlock()
	s := sp.s
	s.reserved.Add(-sp.EstTiny)
	var rec *Record
	if len(txs) > 0 {
		rec = &Record{ID: sp.ID, Payer: sp.Payer, Operation: sp.Op, Units: sp.Units, EstimateMicrocents: sp.Estimate,
			EstimateTinybars: sp.EstTiny, Rate: sp.Rate, Transactions: txs, Time: txs[0].Time, Reason: sp.Decision.Reason,
			Manual: sp.manual}
		for _, t := range txs {
			rec.ActualTinybars += t.FeeTinybars
		}
		rec.ActualMicrocents, _ = ToMicrocents(rec.ActualTinybars, sp.Rate)
		s.balance.Add(-rec.ActualTinybars)
	}
	s.mu.Lock()
	delete(s.inflight, sp.ID)
	if sp.quotaKey != "" {
		if s.quota[sp.quotaKey]--; s.quota[sp.quotaKey] <= 0 {
			delete(s.quota, sp.quotaKey)
		}
	}
	if rec != nil {
		s.account(rec)
		s.journal = append(s.journal, rec)
	}
	s.mu.Unlock()
	if rec != nil {
		s.m.spend.WithLabelValues(rec.Operation, tierLabel(rec.Payer)).Add(float64(rec.ActualTinybars))
		s.m.operations.WithLabelValues(rec.Operation, tierLabel(rec.Payer)).Inc()
		s.m.balance.Set(float64(s.balance.Load()))
	}
	return rec
}

func tierLabel(p Payer) string {
	if p.Kind == KindPlatform {
		return "platform"
	}
	if _, ok := index(tiers, p.Tier); !ok || p.Tier == "" {
		return "other"
	}
	return p.Tier
}

// account adds rec to the in-memory aggregates; s.mu held.
func (s *Service) account(rec *Record) {
	dk := day(rec.Time)
	d := s.days[dk]
	if d == nil {
		d = &DayAgg{ByOperation: OpAggs{}, ByTier: OpAggs{}}
		s.days[dk] = d
	}
	d.ByOperation.add(rec)
	tr := *rec
	tr.Operation = tierLabel(rec.Payer)
	d.ByTier.add(&tr)
	pk := rec.Payer.key() + "/" + month(rec.Time)
	p := s.payers[pk]
	if p == nil {
		p = OpAggs{}
		s.payers[pk] = p
	}
	p.add(rec)
	s.dirty["agg/day/"+dk] = true
	s.dirty["agg/payer/"+pk] = true
}

// maxBatch bounds the records written in one store transaction.
const maxBatch = 1000

// Flush writes the queued records with the aggregates they changed, each
// batch in one atomic store transaction.
func (s *Service) Flush(ctx context.Context) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	for {
		s.mu.Lock()
		n := min(len(s.journal), maxBatch)
		if n == 0 && len(s.dirty) == 0 {
			s.mu.Unlock()
			return nil
		}
		batch := s.journal[:n:n]
		writes := make([]store.KVWrite, 0, n+len(s.dirty)+1)
		for _, r := range batch {
			b, err := json.Marshal(r)
			if err != nil {
				s.mu.Unlock()
				return err
			}
			writes = append(writes, store.KVWrite{Key: "s/" + r.ID, Value: b})
		}
		keys := make([]string, 0, len(s.dirty))
		for k := range s.dirty {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			var v any
			if d, ok := strings.CutPrefix(k, "agg/day/"); ok {
				v = s.days[d]
			} else if p, ok := strings.CutPrefix(k, "agg/payer/"); ok {
				v = s.payers[p]
			}
			b, err := json.Marshal(v)
			if err != nil {
				s.mu.Unlock()
				return err
			}
			writes = append(writes, store.KVWrite{Key: k, Value: b})
		}
		// Everything the ledger did before this flush started, less the
		// window, is recorded once this batch is written.
		cp := s.now().Add(-s.o.RecoverWindow)
		if cp.After(s.checkpt) {
			b, _ := cp.MarshalText()
			writes = append(writes, store.KVWrite{Key: "meta/checkpoint", Value: b})
		}
		dirty := s.dirty
		s.dirty = map[string]bool{}
		s.mu.Unlock()

		if err := putBatch(ctx, s.kv, writes); err != nil {
			s.mu.Lock()
			for k := range dirty {
				s.dirty[k] = true
			}
			s.mu.Unlock()
			return fmt.Errorf("treasury: write spend records: %w", err)
		}
		s.mu.Lock()
		s.journal = s.journal[n:]
		if cp.After(s.checkpt) {
			s.checkpt = cp
		}
		s.mu.Unlock()
	}
}

func putBatch(ctx context.Context, kv store.KV, writes []store.KVWrite) error {
	if b, ok := kv.(store.KVBatch); ok {
		return b.PutBatch(ctx, ns, writes)
	}
	for _, w := range writes {
		if _, err := kv.Put(ctx, ns, w.Key, w.Value, w.Cond); err != nil {
			return err
		}
	}
	return nil
}

// Get returns a spend record (writing queued records first).
func (s *Service) Get(ctx context.Context, id string) (*Record, error) {
	if err := s.Flush(ctx); err != nil {
		return nil, err
	}
	b, _, err := s.kv.Get(ctx, ns, "s/"+id)
	if err != nil {
		return nil, err
	}
	r := &Record{}
	return r, json.Unmarshal(b, r)
}

// EachRecord calls f for every stored record, in ID order.
func (s *Service) EachRecord(ctx context.Context, f func(*Record) error) error {
	if err := s.Flush(ctx); err != nil {
		return err
	}
	after := ""
	for {
		items, err := s.kv.List(ctx, ns, "s/", after, 1000)
		if err != nil {
			return err
		}
		for _, it := range items {
			r := &Record{}
			if err := json.Unmarshal(it.Value, r); err != nil {
				return fmt.Errorf("treasury: record %s: %w", it.Key, err)
			}
			if err := f(r); err != nil {
				return err
			}
		}
		if len(items) < 1000 {
			return nil
		}
		after = items[len(items)-1].Key
	}
}
