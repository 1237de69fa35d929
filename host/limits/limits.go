// Package limits is the User Limits Service: it enforces, per subscription
// tier, how many resources a user may hold (static limits) and how often a
// user may act (windowed limits).
//
// All of one user's counters live in one store.Counters value under
// "limits/<userID>", so that every counter an operation touches changes in
// a single atomic update: an operation is consumed whole or not at all.
package limits

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ubeu/gateway/host/store"
)

// Operation is a user action subject to limits.
type Operation string

// The operations, by the design's names.
const (
	// OpCreateDID counts a DID profile held and a DID creation.
	OpCreateDID Operation = "create_did"
	// OpAddExternalDomain counts an external Web3 domain held and an
	// external-domain update.
	OpAddExternalDomain Operation = "add_external_domain"
	// OpUpdateExternalDomain counts an external-domain update.
	OpUpdateExternalDomain Operation = "update_external_domain"
	// OpAddIAMDomain counts an IAM personal domain held.
	OpAddIAMDomain Operation = "add_iam_domain"
	// OpSocialVerification counts a social verification held and a social
	// verification performed.
	OpSocialVerification Operation = "social_verification"
)

// ErrUnknownOperation is returned for an operation that is not one of the
// Op constants.
var ErrUnknownOperation = errors.New("limits: unknown operation")

// opLimits names the static and windowed limits an operation counts
// against; an empty name means none.
type opLimits struct{ static, windowed string }

var operations = map[Operation]opLimits{
	OpCreateDID:            {StaticDIDProfiles, WindowedDIDCreations},
	OpAddExternalDomain:    {StaticExternalWeb3Domains, WindowedExternalDomainUpdates},
	OpUpdateExternalDomain: {"", WindowedExternalDomainUpdates},
	OpAddIAMDomain:         {StaticIAMDomains, ""},
	OpSocialVerification:   {StaticSocialVerifications, WindowedSocialVerifications},
}

// ParseOperation returns the operation named s, or an error wrapping
// ErrUnknownOperation.
func ParseOperation(s string) (Operation, error) {
	if _, ok := operations[Operation(s)]; !ok {
		return "", fmt.Errorf("%w %q", ErrUnknownOperation, s)
	}
	return Operation(s), nil
}

// CheckResult is the answer to Check and Consume.
type CheckResult struct {
	// Allowed reports whether the operation may be (or was) performed.
	Allowed bool `json:"allowed"`
	// RemainingAttempts is the smallest number of further operations the
	// operation's limits allow: after this one for Consume, from now for
	// Check. Unlimited (-1) when no limit applies.
	RemainingAttempts int `json:"remainingAttempts"`
	// NextReset is when the operation's current window closes; null when
	// no windowed limit applies or no window is open.
	NextReset *time.Time `json:"nextReset"`
	// Limit names the limit that refused, as "static.<name>" or
	// "windowed.<name>".
	Limit string `json:"limit,omitempty"`
}

// ExceededError is returned by Consume when a limit refuses the operation.
// The HTTP layer maps it to 429 LIMIT_EXCEEDED with details {limit, used,
// max, nextReset}.
type ExceededError struct {
	// Limit names the limit, as "static.<name>" or "windowed.<name>".
	Limit string `json:"limit"`
	// Used is the limit's current use.
	Used int `json:"used"`
	// Max is the limit's maximum.
	Max int `json:"max"`
	// NextReset is when a windowed limit's window closes; nil for a static
	// limit.
	NextReset *time.Time `json:"nextReset"`
}

// Error describes the exceeded limit.
func (e *ExceededError) Error() string {
	msg := fmt.Sprintf("limits: %s exceeded: %d of %d used", e.Limit, e.Used, e.Max)
	if e.NextReset != nil {
		msg += ", resets at " + e.NextReset.UTC().Format(time.RFC3339)
	}
	return msg
}

// Service checks and consumes user limits. It is safe for concurrent use.
type Service struct {
	counters store.Counters
	def      *tierLimits
	tiers    map[string]*tierLimits
}

// New returns a Service over counters. cfg must pass Validate: New panics
// otherwise, as for a programming error.
func New(c store.Counters, cfg Config) *Service {
	if err := cfg.Validate(); err != nil {
		panic(fmt.Sprintf("limits.New: invalid config: %v", err))
	}
	def, tiers := resolve(cfg)
	return &Service{counters: c, def: def, tiers: tiers}
}

// tier returns the limits of a tier, or of the default tier if it is not
// configured.
func (s *Service) tier(name string) *tierLimits {
	if t, ok := s.tiers[name]; ok {
		return t
	}
	return s.def
}

// record is the stored value of one user: static counters and windows by
// limit name.
type record struct {
	Static  map[string]int         `json:"static,omitempty"`
	Windows map[string]windowState `json:"windows,omitempty"`
}

// windowState is a fixed window: Count actions since Start (the design's
// lastReset).
type windowState struct {
	Count int       `json:"count"`
	Start time.Time `json:"start"`
}

func decode(b []byte) (record, error) {
	var r record
	if len(b) == 0 {
		return r, nil
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("limits: corrupt record: %w", err)
	}
	return r, nil
}

func key(userID string) string { return "limits/" + userID }

// ErrNoUser is returned for an empty user ID.
var ErrNoUser = errors.New("limits: empty user ID")

// prepare resolves op and checks userID.
func prepare(userID string, op Operation) (opLimits, error) {
	if userID == "" {
		return opLimits{}, ErrNoUser
	}
	return operation(op)
}

// load reads a user's record; a missing one is empty.
func (s *Service) load(ctx context.Context, userID string) (record, error) {
	b, err := s.counters.Get(ctx, key(userID))
	if errors.Is(err, store.ErrNotFound) {
		return record{}, nil
	}
	if err != nil {
		return record{}, fmt.Errorf("limits: load %s: %w", userID, err)
	}
	return decode(b)
}

// status is one limit evaluated against a record at an instant.
type status struct {
	name      string // "static.x" or "windowed.x"
	used, max int    // max is Unlimited for no limit
	nextReset *time.Time
}

func (st status) remaining() int {
	if st.max == Unlimited {
		return Unlimited
	}
	return max(st.max-st.used, 0)
}

// window returns the use of a windowed limit at now: the count of the open
// window and when it closes, or 0 and nil if none is open.
func (r record) window(name string, w Window, now time.Time) (int, *time.Time) {
	ws, ok := r.Windows[name]
	if !ok || ws.Start.IsZero() || w.Period <= 0 {
		return 0, nil
	}
	end := ws.Start.Add(w.Period)
	if !now.Before(end) {
		return 0, nil
	}
	return ws.Count, &end
}

// evaluate returns the statuses of op's limits for the tier at now,
// static first.
func (r record) evaluate(t *tierLimits, ol opLimits, now time.Time) []status {
	sts := make([]status, 0, 2)
	if ol.static != "" {
		m, ok := t.static[ol.static]
		if !ok {
			m = Unlimited
		}
		sts = append(sts, status{name: "static." + ol.static, used: r.Static[ol.static], max: m})
	}
	if ol.windowed != "" {
		w, ok := t.windowed[ol.windowed]
		if !ok {
			w = Window{Limit: Unlimited}
		}
		used, next := r.window(ol.windowed, w, now)
		st := status{name: "windowed." + ol.windowed, used: used, max: w.Limit}
		if w.Limit != Unlimited {
			st.nextReset = next
		}
		sts = append(sts, st)
	}
	return sts
}

// result summarises statuses: allowed if each has room for one more.
func result(sts []status) CheckResult {
	res := CheckResult{Allowed: true, RemainingAttempts: Unlimited}
	for _, st := range sts {
		if st.nextReset != nil {
			res.NextReset = st.nextReset
		}
		rem := st.remaining()
		if rem == Unlimited {
			continue
		}
		if res.RemainingAttempts == Unlimited || rem < res.RemainingAttempts {
			res.RemainingAttempts = rem
		}
		if rem == 0 && res.Allowed {
			res.Allowed = false
			res.Limit = st.name
		}
	}
	return res
}

func operation(op Operation) (opLimits, error) {
	ol, ok := operations[op]
	if !ok {
		return opLimits{}, fmt.Errorf("%w %q", ErrUnknownOperation, op)
	}
	return ol, nil
}

// Check reports whether userID may perform op at now, without consuming
// anything.
func (s *Service) Check(ctx context.Context, userID, tier string, op Operation, now time.Time) (CheckResult, error) {
	ol, err := prepare(userID, op)
	if err != nil {
		return CheckResult{}, err
	}
	r, err := s.load(ctx, userID)
	if err != nil {
		return CheckResult{}, err
	}
	return result(r.evaluate(s.tier(tier), ol, now)), nil
}

// Consume performs op's accounting for userID at now: every counter of op
// moves by one, atomically, or, if any limit is reached, none moves and the
// error is an *ExceededError (with the refusing CheckResult).
func (s *Service) Consume(ctx context.Context, userID, tier string, op Operation, now time.Time) (CheckResult, error) {
	ol, err := prepare(userID, op)
	if err != nil {
		return CheckResult{}, err
	}
	t := s.tier(tier)
	now = now.Round(0) // drop the monotonic reading; only wall time is stored
	var res CheckResult
	err = s.counters.Update(ctx, key(userID), func(old []byte) ([]byte, error) {
		r, err := decode(old)
		if err != nil {
			return nil, err
		}
		sts := r.evaluate(t, ol, now)
		if res = result(sts); !res.Allowed {
			for _, st := range sts {
				if st.name == res.Limit {
					return nil, &ExceededError{Limit: st.name, Used: st.used, Max: st.max, NextReset: st.nextReset}
				}
			}
		}
		if ol.static != "" {
			if r.Static == nil {
				r.Static = map[string]int{}
			}
			r.Static[ol.static]++
		}
		if ol.windowed != "" {
			if r.Windows == nil {
				r.Windows = map[string]windowState{}
			}
			ws := r.Windows[ol.windowed]
			if used, _ := r.window(ol.windowed, t.windowed[ol.windowed], now); used == 0 {
				ws = windowState{Start: now}
			}
			ws.Count++
			r.Windows[ol.windowed] = ws
		}
		res = result(r.evaluate(t, ol, now))
		res.Allowed = true // the remaining attempts may now be 0
		res.Limit = ""
		return json.Marshal(r)
	})
	if err != nil {
		if ee, ok := errors.AsType[*ExceededError](err); ok {
			return res, ee
		}
		return CheckResult{}, fmt.Errorf("limits: consume %s for %s: %w", op, userID, err)
	}
	return res, nil
}

// errUnchanged aborts an update that would write nothing new.
var errUnchanged = errors.New("limits: unchanged")

// Release records that a resource counted by op's static limit went away:
// the static counter drops by one, never below zero. Windowed use is not
// given back. An op without a static limit is a no-op. tier is accepted
// for symmetry with Consume: releasing does not depend on it.
func (s *Service) Release(ctx context.Context, userID, tier string, op Operation) error {
	ol, err := prepare(userID, op)
	if err != nil {
		return err
	}
	if ol.static == "" {
		return nil
	}
	err = s.counters.Update(ctx, key(userID), func(old []byte) ([]byte, error) {
		r, err := decode(old)
		if err != nil {
			return nil, err
		}
		if r.Static[ol.static] <= 0 {
			return nil, errUnchanged
		}
		r.Static[ol.static]--
		return json.Marshal(r)
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		return fmt.Errorf("limits: release %s for %s: %w", op, userID, err)
	}
	return nil
}
