package treasury

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// Stats is the treasury's spending: all time, today, by operation type,
// by tier and by day (the last Days days, UTC).
type Stats struct {
	// TotalSponsored is every fee paid, in tinybars.
	TotalSponsored int64 `json:"totalSponsored"`
	// OperationsToday counts the sponsored operations of today (UTC).
	OperationsToday int64 `json:"operationsToday"`
	// USDCost is TotalSponsored in US cents (rounded); USDCostMicrocents
	// exactly, at the rates of the day each fee was paid.
	USDCost           int64              `json:"usdCost"`
	USDCostMicrocents int64              `json:"usdCostMicrocents"`
	Operations        int64              `json:"operations"`
	EstimatedCost     int64              `json:"estimatedCost"` // cents
	ByType            map[string]AggView `json:"byType"`
	ByTier            map[string]AggView `json:"byTier"`
	ByDay             []DayView          `json:"byDay"`
	Balance           *int64             `json:"balanceTinybars"`
	LowBalance        bool               `json:"lowBalance"`
	Rate              *RateView          `json:"exchangeRate"`
	Subscriptions     map[string]int     `json:"subscriptions"`
}

// AggView is an Agg as the API shows it.
type AggView struct {
	Count             int64 `json:"count"`
	Units             int64 `json:"units"`
	Tinybars          int64 `json:"tinybars"`
	USDCost           int64 `json:"usdCost"` // cents, rounded
	USDCostMicrocents int64 `json:"usdCostMicrocents"`
	EstimatedCost     int64 `json:"estimatedCost"` // cents, rounded
}

// DayView is one day of Stats.ByDay.
type DayView struct {
	Day string `json:"day"`
	AggView
}

// RateView is the rate in use.
type RateView struct {
	HbarEquiv int64     `json:"hbarEquivalent"`
	CentEquiv int64     `json:"centEquivalent"`
	FetchedAt time.Time `json:"fetchedAt"`
}

func roundCents(mc int64) int64 { return (mc + MicrocentsPerCent/2) / MicrocentsPerCent }

// CeilCents is mc microcents in whole cents, rounded up: what a fee shown
// to its payer costs at most.
func CeilCents(mc int64) int64 { return (mc + MicrocentsPerCent - 1) / MicrocentsPerCent }

func view(a Agg) AggView {
	return AggView{Count: a.Count, Units: a.Units, Tinybars: a.ActualTinybars, USDCost: roundCents(a.ActualMicrocents),
		USDCostMicrocents: a.ActualMicrocents, EstimatedCost: roundCents(a.EstimateMicro)}
}

// Stats sums the aggregates. days bounds ByDay (30 if <= 0, at most 366).
func (s *Service) Stats(days int) Stats {
	if days <= 0 {
		days = 30
	}
	days = min(days, 366)
	now := s.now()
	st := Stats{ByType: map[string]AggView{}, ByTier: map[string]AggView{}, Subscriptions: map[string]int{}}
	byType, byTier := OpAggs{}, OpAggs{}
	s.mu.Lock()
	for _, d := range s.days {
		for op, a := range d.ByOperation {
			merge(byType, op, a)
		}
		for t, a := range d.ByTier {
			merge(byTier, t, a)
		}
	}
	if d := s.days[day(now)]; d != nil {
		st.OperationsToday = d.ByOperation.Total().Count
	}
	for i := days - 1; i >= 0; i-- {
		k := day(now.AddDate(0, 0, -i))
		var a Agg
		if d := s.days[k]; d != nil {
			a = d.ByOperation.Total()
		}
		st.ByDay = append(st.ByDay, DayView{Day: k, AggView: view(a)})
	}
	for _, sub := range s.subs {
		st.Subscriptions[sub.Effective(now)]++
	}
	if !s.rateAt.IsZero() {
		st.Rate = &RateView{HbarEquiv: s.rate.HbarEquiv, CentEquiv: s.rate.CentEquiv, FetchedAt: s.rateAt.UTC()}
	}
	s.mu.Unlock()
	for op, a := range byType {
		st.ByType[op] = view(*a)
	}
	for t, a := range byTier {
		st.ByTier[t] = view(*a)
	}
	tot := byType.Total()
	st.TotalSponsored, st.USDCostMicrocents, st.USDCost = tot.ActualTinybars, tot.ActualMicrocents, roundCents(tot.ActualMicrocents)
	st.Operations, st.EstimatedCost = tot.Count, roundCents(tot.EstimateMicro)
	if b, ok := s.Balance(); ok {
		st.Balance = &b
	}
	st.LowBalance = s.LowBalance()
	return st
}

func merge(m OpAggs, k string, a *Agg) {
	t := m[k]
	if t == nil {
		t = &Agg{}
		m[k] = t
	}
	t.Count += a.Count
	t.Units += a.Units
	t.EstimateMicro += a.EstimateMicro
	t.ActualTinybars += a.ActualTinybars
	t.ActualMicrocents += a.ActualMicrocents
}

// Usage is one payer's sponsored operations in one month.
type Usage struct {
	Kind        string             `json:"kind"`
	ID          string             `json:"id"`
	Month       string             `json:"month"`
	ByOperation map[string]AggView `json:"byOperation"`
	Total       AggView            `json:"total"`
	// Credentials is the number of credentials issued (units of the
	// credential-issuing operations).
	Credentials int64 `json:"credentials"`
	// Subscription is the state the sponsorship policy sees.
	Subscription string `json:"subscription"`
}

// PayerUsage returns a payer's usage in month ("2006-01"; the current
// month if empty).
func (s *Service) PayerUsage(kind, id, mon string) (Usage, error) {
	if mon == "" {
		mon = month(s.now())
	}
	if _, err := time.Parse("2006-01", mon); err != nil {
		return Usage{}, fmt.Errorf("%w: month %q is not YYYY-MM", ErrAmount, mon)
	}
	u := Usage{Kind: kind, ID: id, Month: mon, ByOperation: map[string]AggView{}}
	p := Payer{Kind: kind, ID: id}
	s.mu.Lock()
	aggs := s.payers[p.key()+"/"+mon]
	for op, a := range aggs {
		u.ByOperation[op] = view(*a)
		if IssuesCredentials(op) {
			u.Credentials += a.Units
		}
	}
	s.mu.Unlock()
	u.Total = view(aggs.Total())
	u.Subscription = s.subscriptionStatus(p, s.now())
	return u, nil
}

// Months lists the months ("2006-01") in which the payer was sponsored,
// in order.
func (s *Service) Months(kind, id string) []string {
	prefix := kind + ":" + id + "/"
	s.mu.Lock()
	var out []string
	for k := range s.payers {
		if len(k) > len(prefix) && k[:len(prefix)] == prefix {
			out = append(out, k[len(prefix):])
		}
	}
	s.mu.Unlock()
	sort.Strings(out)
	return out
}

// Manual is an admin's manual sponsorship: units of op for payer at a
// requested estimate (cents, 1 to 100,000), decided like any other, and
// paid as one message on the treasury's audit topic that records it.
func (s *Service) Manual(ctx context.Context, by string, payer Payer, op string, estimateCents int64) (*Record, error) {
	if estimateCents < 1 || estimateCents > MaxEstimateMicrocents/MicrocentsPerCent {
		return nil, fmt.Errorf("%w: estimatedCost must be 1 to %d cents", ErrAmount, MaxEstimateMicrocents/MicrocentsPerCent)
	}
	sp, err := s.begin(ctx, payer, op, 1, estimateCents*MicrocentsPerCent)
	if err != nil {
		return nil, err
	}
	sp.manual = &ManualSponsorRecord{By: by, RequestedMicrocent: estimateCents * MicrocentsPerCent}
	defer sp.End()
	sctx := context.WithValue(ctx, spKey{}, sp)
	topic, err := s.auditTopic(sctx)
	if err != nil {
		return nil, err
	}
	msg, _ := json.Marshal(map[string]any{"type": "gatewayd.treasury.manualSponsorship", "spendId": sp.ID,
		"operation": op, "estimateMicrocents": sp.Estimate})
	if _, err := s.Ledger().Submit(sctx, topic, msg); err != nil {
		return nil, fmt.Errorf("treasury: manual sponsorship: %w", err)
	}
	rec := sp.End()
	if rec == nil {
		return nil, fmt.Errorf("treasury: manual sponsorship paid nothing")
	}
	return rec, nil
}

// auditTopic returns the treasury's audit topic, created on first use.
func (s *Service) auditTopic(ctx context.Context) (string, error) {
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	b, _, err := s.kv.Get(ctx, ns, "meta/audit-topic")
	if err == nil {
		return string(b), nil
	}
	r, err := s.Ledger().CreateTopic(ctx, ledgerTopic("gatewayd treasury audit"))
	if err != nil {
		return "", err
	}
	if _, err := s.kv.Put(ctx, ns, "meta/audit-topic", []byte(r.TopicID), storeAbsent); err != nil {
		return "", err
	}
	return r.TopicID, nil
}
