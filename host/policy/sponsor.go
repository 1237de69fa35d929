package policy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// sponsorRef is the rule that decides treasury sponsorship.
const sponsorRef = "data.gatewayd.treasury.decision"

// SponsorInput is what the sponsorship policy (package gatewayd.treasury,
// rule decision) sees as input:
//
//	{"payer": {"kind": "user", "id": "…", "tier": "individual", "subscription": "active"},
//	 "operation": "did_create", "estimate_microcents": 2000000,
//	 "treasury": {"low_balance": false}}
type SponsorInput struct {
	PayerKind    string // "user", "enterprise" or "platform"
	PayerID      string
	Tier         string
	Subscription string // "active", "expired" or "none"
	Operation    string
	// EstimateMicrocents is the operation's estimated cost in millionths of
	// a US cent.
	EstimateMicrocents int64
	LowBalance         bool
}

func (in *SponsorInput) key(revision string) string {
	return strings.Join([]string{revision, in.PayerKind, in.PayerID, in.Tier, in.Subscription, in.Operation,
		strconv.FormatInt(in.EstimateMicrocents, 10), strconv.FormatBool(in.LowBalance)}, "\x00")
}

func (in *SponsorInput) value() ast.Value {
	return ast.NewObject(
		ast.Item(ast.StringTerm("payer"), ast.ObjectTerm(
			ast.Item(ast.StringTerm("kind"), ast.StringTerm(in.PayerKind)),
			ast.Item(ast.StringTerm("id"), ast.StringTerm(in.PayerID)),
			ast.Item(ast.StringTerm("tier"), ast.StringTerm(in.Tier)),
			ast.Item(ast.StringTerm("subscription"), ast.StringTerm(in.Subscription)),
		)),
		ast.Item(ast.StringTerm("operation"), ast.StringTerm(in.Operation)),
		ast.Item(ast.StringTerm("estimate_microcents"), ast.IntNumberTerm(int(in.EstimateMicrocents))),
		ast.Item(ast.StringTerm("treasury"), ast.ObjectTerm(
			ast.Item(ast.StringTerm("low_balance"), ast.BooleanTerm(in.LowBalance)),
		)),
	)
}

// SponsorDecision is the sponsorship policy's answer.
type SponsorDecision struct {
	Allow  bool
	Reason string
	// MonthlyQuota, if positive, caps the sponsored operations of this
	// payer in a calendar month (UTC); the treasury enforces it.
	MonthlyQuota int64
	Revision     string
	Cached       bool
}

// sponsorCache holds a version's recent sponsorship decisions.
type sponsorCache struct {
	mu sync.Mutex
	m  map[string]sponsorEntry
}

type sponsorEntry struct {
	d       SponsorDecision
	expires int64
}

const sponsorCacheSize = 10_000

// ErrNoSponsorPolicy means the loaded policy has no gatewayd.treasury
// decision rule.
var ErrNoSponsorPolicy = errors.New("policy: no " + sponsorRef + " rule")

func prepareSponsor(ctx context.Context, c *compiled) (*rego.PreparedEvalQuery, error) {
	if len(c.compiler.GetRulesExact(ast.MustParseRef(sponsorRef))) == 0 {
		return nil, nil
	}
	pq, err := rego.New(
		rego.Compiler(c.compiler),
		rego.Store(c.store),
		rego.Query("d := "+sponsorRef),
		rego.GenerateJSON(rawTerm),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("prepare %s: %w", sponsorRef, err)
	}
	return &pq, nil
}

// Sponsor evaluates the sponsorship policy for in. Decisions are cached
// per policy revision and input for at most a minute, so a policy must not
// depend on the time.
func (e *Engine) Sponsor(ctx context.Context, in SponsorInput) (SponsorDecision, error) {
	v := e.cur.Load()
	if v.sponsor == nil {
		return SponsorDecision{Reason: "no sponsorship policy", Revision: v.revision}, ErrNoSponsorPolicy
	}
	now := time.Now().UnixNano()
	key := in.key(v.revision)
	v.sponsorCache.mu.Lock()
	ent, ok := v.sponsorCache.m[key]
	v.sponsorCache.mu.Unlock()
	if ok && now < ent.expires {
		d := ent.d
		d.Cached = true
		return d, nil
	}
	rs, err := v.sponsor.Eval(ctx, rego.EvalParsedInput(in.value()), rego.EvalMetrics(noMetrics),
		rego.EvalExternalCancel(neverCancel))
	d := SponsorDecision{Revision: v.revision, Reason: ReasonEvalError}
	if err != nil {
		return d, fmt.Errorf("policy: sponsorship, revision %s: %w", v.revision, err)
	}
	if len(rs) == 0 {
		d.Reason = "not sponsored (decision undefined)"
		return d, nil
	}
	t, _ := rs[0].Bindings["d"].(*ast.Term)
	if t == nil {
		return d, fmt.Errorf("policy: %s has no value", sponsorRef)
	}
	obj, ok := t.Value.(ast.Object)
	if !ok {
		return d, fmt.Errorf("policy: %s is not an object", sponsorRef)
	}
	if a := obj.Get(ast.StringTerm("allow")); a != nil {
		b, ok := a.Value.(ast.Boolean)
		if !ok {
			return d, fmt.Errorf("policy: %s.allow is not a boolean", sponsorRef)
		}
		d.Allow = bool(b)
	}
	d.Reason = ""
	if r := obj.Get(ast.StringTerm("reason")); r != nil {
		s, ok := r.Value.(ast.String)
		if !ok {
			return d, fmt.Errorf("policy: %s.reason is not a string", sponsorRef)
		}
		d.Reason = string(s)
	}
	if q := obj.Get(ast.StringTerm("monthly_quota")); q != nil {
		n, ok := q.Value.(ast.Number)
		var qi int64
		if ok {
			qi, ok = n.Int64()
		}
		if !ok || qi < 0 {
			return d, fmt.Errorf("policy: %s.monthly_quota is not a non-negative integer", sponsorRef)
		}
		d.MonthlyQuota = qi
	}
	v.sponsorCache.mu.Lock()
	if v.sponsorCache.m == nil || len(v.sponsorCache.m) >= sponsorCacheSize {
		v.sponsorCache.m = make(map[string]sponsorEntry)
	}
	v.sponsorCache.m[key] = sponsorEntry{d: d, expires: now + int64(maxCacheTTL)}
	v.sponsorCache.mu.Unlock()
	return d, nil
}
