package treasury

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ubeu/gateway/host/ledger"
	"github.com/ubeu/gateway/host/store"
)

// txGroup is the ledger transactions of one spend ID.
type txGroup struct {
	meta memoMeta
	txs  []ledger.Transaction
}

// scan reads the treasury's ledger transactions after `after` and groups
// those with this gateway's memos by spend ID; foreign gets the others.
func (s *Service) scan(ctx context.Context, after time.Time, foreign func(ledger.Transaction)) (map[string]*txGroup, []string, int, error) {
	groups := map[string]*txGroup{}
	var order []string
	n := 0
	for {
		page, err := s.tr.Transactions(ctx, after, 1000)
		if err != nil {
			return nil, nil, n, fmt.Errorf("treasury: read ledger transactions: %w", err)
		}
		for _, tx := range page {
			n++
			m, err := s.memo.decode(tx.Memo)
			if err != nil {
				if foreign != nil {
					foreign(tx)
				}
				continue
			}
			g := groups[m.SpendID]
			if g == nil {
				g = &txGroup{meta: m}
				groups[m.SpendID] = g
				order = append(order, m.SpendID)
			}
			g.txs = append(g.txs, tx)
		}
		if len(page) < 1000 {
			return groups, order, n, nil
		}
		after = page[len(page)-1].ConsensusTime
	}
}

// recordFrom rebuilds a spend record from its ledger transactions.
func recordFrom(g *txGroup, rate ledger.ExchangeRate) *Record {
	r := &Record{ID: g.meta.SpendID, Payer: g.meta.Payer, Operation: g.meta.Operation, Units: g.meta.Units,
		EstimateMicrocents: g.meta.Estimate, Rate: rate, Time: g.txs[0].ConsensusTime, Recovered: true,
		Reason: "rebuilt from the ledger"}
	r.EstimateTinybars, _ = ToTinybars(r.EstimateMicrocents, rate)
	for _, tx := range g.txs {
		r.Transactions = append(r.Transactions, TransactionRef{ID: tx.ID, Type: tx.Type, Entity: tx.Entity, FeeTinybars: tx.FeeTinybars, Time: tx.ConsensusTime})
		r.ActualTinybars += tx.FeeTinybars
	}
	r.ActualMicrocents, _ = ToMicrocents(r.ActualTinybars, rate)
	return r
}

// Recover rebuilds, from the ledger, the spend records of paid
// transactions that have none — those a crash lost between the receipt and
// the write — looking from the last checkpoint less RecoverWindow. It
// returns how many records it rebuilt. New calls it once; the service
// also sweeps periodically.
func (s *Service) Recover(ctx context.Context) (int, error) {
	if s.tr == nil {
		return 0, nil
	}
	if err := s.Flush(ctx); err != nil {
		return 0, err
	}
	s.mu.Lock()
	from := time.Time{}
	if !s.checkpt.IsZero() {
		from = s.checkpt.Add(-s.o.RecoverWindow)
	}
	rate := s.rate
	s.mu.Unlock()
	groups, order, _, err := s.scan(ctx, from, nil)
	if err != nil {
		return 0, err
	}
	if rate.Check() != nil {
		rate = s.o.Rate
	}
	if rate.Check() != nil {
		if rate, err = s.tr.ExchangeRate(ctx); err != nil || rate.Check() != nil {
			rate = ledger.ExchangeRate{HbarEquiv: 1, CentEquiv: 1} // only the microcents are approximate
		}
	}
	// Hold flushMu so that no queued record moves to the store between the
	// store lookup and the journal check below.
	s.flushMu.Lock()
	n := 0
	for _, id := range order {
		_, _, err := s.kv.Get(ctx, ns, "s/"+id)
		if err == nil {
			continue
		}
		if !errors.Is(err, store.ErrNotFound) {
			s.flushMu.Unlock()
			return n, err
		}
		s.mu.Lock()
		_, busy := s.inflight[id]
		for _, r := range s.journal {
			busy = busy || r.ID == id
		}
		if !busy {
			r := recordFrom(groups[id], rate)
			s.account(r)
			s.journal = append(s.journal, r)
			s.m.recovered.Inc()
			n++
		}
		s.mu.Unlock()
	}
	s.flushMu.Unlock()
	return n, s.Flush(ctx)
}

// Difference is one disagreement between the spend records and the ledger.
type Difference struct {
	Kind          string `json:"kind"`
	SpendID       string `json:"spendId,omitempty"`
	TransactionID string `json:"transactionId,omitempty"`
	Detail        string `json:"detail"`
}

// Kinds of Difference.
const (
	DiffMissingRecord     = "transaction_without_record" // a paid transaction of ours with no record
	DiffForeign           = "foreign_transaction"        // a paid transaction without a memo of ours
	DiffMissingTx         = "record_without_transaction" // a record the ledger knows nothing of
	DiffTransactions      = "transactions_differ"        // the record lists other transactions
	DiffFee               = "fee_mismatch"               // the fees differ
	DiffAltered           = "record_altered"             // payer, operation, units or estimate differ from the memo
	DiffAggregate         = "aggregate_mismatch"         // the stored aggregates are not the sum of the records
	maxReportedDifference = 1000
)

// Report is the outcome of Reconcile.
type Report struct {
	Records      int          `json:"records"`
	Transactions int          `json:"transactions"`
	Matched      int          `json:"matched"`
	Count        int          `json:"differences"`
	Differences  []Difference `json:"details"`
	Seconds      float64      `json:"seconds"`
}

func (r *Report) add(d Difference) {
	r.Count++
	if len(r.Differences) < maxReportedDifference {
		r.Differences = append(r.Differences, d)
	}
}

// Reconcile checks every spend record against the ledger's transactions,
// both ways: each paid transaction has its record with the same fee, and
// each record's transactions exist with the fees it says; the stored
// aggregates are checked against the records. It changes nothing.
func (s *Service) Reconcile(ctx context.Context) (*Report, error) {
	if s.tr == nil {
		return nil, errors.New("treasury: the ledger cannot list its transactions")
	}
	start := time.Now()
	rep := &Report{}
	groups, _, n, err := s.scan(ctx, time.Time{}, func(tx ledger.Transaction) {
		rep.add(Difference{Kind: DiffForeign, TransactionID: tx.ID, Detail: fmt.Sprintf("%s on %s, %d tinybars, memo %q", tx.Type, tx.Entity, tx.FeeTinybars, tx.Memo)})
	})
	if err != nil {
		return nil, err
	}
	rep.Transactions = n
	days := map[string]*DayAgg{}
	payers := map[string]OpAggs{}
	seen := map[string]bool{}
	ac := &Service{days: days, payers: payers, dirty: map[string]bool{}}
	type txKey struct {
		id string
		at int64
	}
	ids := map[txKey]int64{}
	err = s.EachRecord(ctx, func(r *Record) error {
		rep.Records++
		seen[r.ID] = true
		ac.account(r)
		g := groups[r.ID]
		if g == nil {
			rep.add(Difference{Kind: DiffMissingTx, SpendID: r.ID, Detail: fmt.Sprintf("%s for %s, %d tinybars: no such transaction on the ledger", r.Operation, r.Payer.key(), r.ActualTinybars)})
			return nil
		}
		ok := true
		if g.meta.Payer.Kind != r.Payer.Kind || g.meta.Payer.ID != r.Payer.ID || g.meta.Operation != r.Operation ||
			g.meta.Units != r.Units || g.meta.Estimate != r.EstimateMicrocents {
			ok = false
			rep.add(Difference{Kind: DiffAltered, SpendID: r.ID, Detail: fmt.Sprintf("record says %s %s ×%d est %d, ledger memo says %s %s ×%d est %d",
				r.Payer.key(), r.Operation, r.Units, r.EstimateMicrocents, g.meta.Payer.key(), g.meta.Operation, g.meta.Units, g.meta.Estimate)})
		}
		var ledgerFee, recordFee int64
		clear(ids)
		for _, tx := range g.txs {
			ledgerFee += tx.FeeTinybars
			ids[txKey{tx.ID, tx.ConsensusTime.UnixNano()}] = tx.FeeTinybars
		}
		same := len(r.Transactions) == len(g.txs)
		for _, t := range r.Transactions {
			recordFee += t.FeeTinybars
			fee, found := ids[txKey{t.ID, t.Time.UnixNano()}]
			same = same && found && fee == t.FeeTinybars
		}
		switch {
		case ledgerFee != r.ActualTinybars:
			ok = false
			rep.add(Difference{Kind: DiffFee, SpendID: r.ID, Detail: fmt.Sprintf("record says %d tinybars, the ledger charged %d", r.ActualTinybars, ledgerFee)})
		case recordFee != r.ActualTinybars:
			ok = false
			rep.add(Difference{Kind: DiffFee, SpendID: r.ID, Detail: fmt.Sprintf("record total %d tinybars, its transactions %d", r.ActualTinybars, recordFee)})
		case !same:
			ok = false
			rep.add(Difference{Kind: DiffTransactions, SpendID: r.ID, Detail: fmt.Sprintf("record lists %d transactions, the ledger has %d", len(r.Transactions), len(g.txs))})
		}
		if ok {
			rep.Matched++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	missing := make([]string, 0)
	for id := range groups {
		if !seen[id] {
			missing = append(missing, id)
		}
	}
	sort.Slice(missing, func(i, j int) bool {
		return groups[missing[i]].txs[0].ConsensusTime.Before(groups[missing[j]].txs[0].ConsensusTime)
	})
	for _, id := range missing {
		g := groups[id]
		var fee int64
		for _, tx := range g.txs {
			fee += tx.FeeTinybars
		}
		rep.add(Difference{Kind: DiffMissingRecord, SpendID: id, TransactionID: g.txs[0].ID,
			Detail: fmt.Sprintf("%s for %s, %d transactions, %d tinybars: no spend record", g.meta.Operation, g.meta.Payer.key(), len(g.txs), fee)})
	}
	// The stored aggregates must be the sums of the records.
	stored := map[string]*DayAgg{}
	after := ""
	for {
		items, err := s.kv.List(ctx, ns, "agg/day/", after, 1000)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			d := &DayAgg{}
			if err := json.Unmarshal(it.Value, d); err != nil {
				rep.add(Difference{Kind: DiffAggregate, Detail: it.Key + ": " + err.Error()})
				continue
			}
			stored[strings.TrimPrefix(it.Key, "agg/day/")] = d
		}
		if len(items) < 1000 {
			break
		}
		after = items[len(items)-1].Key
	}
	for k, d := range stored {
		if !sameAggs(d.ByOperation, days[k].byOp()) {
			rep.add(Difference{Kind: DiffAggregate, Detail: "day " + k + ": the stored aggregate is not the sum of the records"})
		}
	}
	for k := range days {
		if stored[k] == nil {
			rep.add(Difference{Kind: DiffAggregate, Detail: "day " + k + ": records without a stored aggregate"})
		}
	}
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

func (d *DayAgg) byOp() OpAggs {
	if d == nil {
		return nil
	}
	return d.ByOperation
}

func sameAggs(a, b OpAggs) bool {
	if len(a) != len(b) {
		return false
	}
	for k, x := range a {
		y := b[k]
		if y == nil || *x != *y {
			return false
		}
	}
	return true
}
