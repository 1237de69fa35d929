package policy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	opametrics "github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ubeu/gateway/policies"
)

// ReasonEvalError is the reason of the deny decision returned when the policy
// cannot be evaluated.
const ReasonEvalError = "policy evaluation error"

// Defaults for Options.
const (
	DefaultReloadInterval = 2 * time.Second
	DefaultCacheSize      = 10_000
)

// maxCacheTTL caps the life of every cached decision.
const maxCacheTTL = time.Minute

// Options configure an Engine.
type Options struct {
	// Dir is the policy directory, polled for changes. Empty means the
	// policies compiled into the binary (policies.FS), which never change.
	Dir string
	// ReloadInterval is how often Dir is polled; 0 means DefaultReloadInterval.
	ReloadInterval time.Duration
	// Logger receives load, reload and sampled decision logs; nil means
	// slog.Default().
	Logger *slog.Logger
	// Registerer receives the engine's metrics; nil means they are not
	// registered.
	Registerer prometheus.Registerer
	// DecisionLogSample is the fraction of decisions logged, from 0 to 1.
	DecisionLogSample float64
	// CacheSize bounds the number of cached decisions; 0 means
	// DefaultCacheSize and a negative value disables the cache.
	CacheSize int64
}

// Decision is the policy's answer for one request.
type Decision struct {
	// Allow reports whether the request may proceed.
	Allow bool
	// Reason says why, e.g. "public route" or "admin role required".
	Reason string
	// RateLimitClass is obligations.rate_limit_class: "auth", "did", "api"
	// or "none"; "api" when the policy does not set it.
	RateLimitClass string
	// Obligations is the policy's obligations object. It may be shared with
	// other decisions and must not be modified.
	Obligations map[string]any
	// Revision is the revision of the policy that made the decision.
	Revision string
	// Cached reports whether the decision came from the decision cache.
	Cached bool
}

// Engine evaluates the authorisation policy. It is safe for concurrent use.
type Engine struct {
	fsys     fs.FS
	dir      string
	interval time.Duration
	log      *slog.Logger
	sample   float64
	m        *metrics
	cache    *decisionCache // nil when disabled

	cur atomic.Pointer[version]

	// Watcher state, touched only by the watcher goroutine.
	lastSeen    string
	lastReadErr string

	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
	closed    atomic.Bool
}

// New loads, compiles and tests the policy and prepares it for evaluation.
// It fails if that policy is bad. If o.Dir is set, a watcher polls it until
// Close; ctx bounds the initial load only.
func New(ctx context.Context, o Options) (*Engine, error) {
	e := &Engine{
		dir:      o.Dir,
		interval: o.ReloadInterval,
		log:      o.Logger,
		sample:   min(max(o.DecisionLogSample, 0), 1),
		done:     make(chan struct{}),
	}
	if e.interval <= 0 {
		e.interval = DefaultReloadInterval
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	switch {
	case o.CacheSize == 0:
		e.cache = newDecisionCache(DefaultCacheSize)
	case o.CacheSize > 0:
		e.cache = newDecisionCache(o.CacheSize)
	}
	if o.Dir == "" {
		e.fsys = policies.FS
	} else {
		e.fsys = os.DirFS(o.Dir)
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	e.m = m

	src, err := readSource(e.fsys)
	if err != nil {
		return nil, err
	}
	e.lastSeen = src.revision
	v, err := buildVersion(ctx, src)
	if err != nil {
		e.rejected(src.revision, err)
		return nil, fmt.Errorf("policy: load %s: %w", e.location(), err)
	}
	e.install(v)

	if o.Dir == "" {
		close(e.done)
		e.cancel = func() {}
		return e, nil
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.cancel = cancel
	go e.watch(wctx)
	return e, nil
}

// location names where the policy comes from, for logs.
func (e *Engine) location() string {
	if e.dir == "" {
		return "embedded policies"
	}
	return e.dir
}

// Revision returns the revision of the policy being served: a short hex
// digest of its file names and contents.
func (e *Engine) Revision() string {
	return e.cur.Load().revision
}

// Ready reports whether the engine has a policy and has not been closed.
func (e *Engine) Ready() bool {
	return e.cur.Load() != nil && !e.closed.Load()
}

// Close stops the watcher and waits for it to exit. Decide keeps working
// with the last policy.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		e.closed.Store(true)
		e.cancel()
		<-e.done
	})
	return nil
}

// watch polls the policy directory until ctx is cancelled.
func (e *Engine) watch(ctx context.Context) {
	defer close(e.done)
	t := time.NewTicker(e.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.poll(ctx)
		}
	}
}

// poll loads the policy directory if its contents changed since the last
// version tried, and swaps it in if it is good.
func (e *Engine) poll(ctx context.Context) {
	src, err := readSource(e.fsys)
	if err != nil {
		if msg := err.Error(); msg != e.lastReadErr {
			e.lastReadErr = msg
			e.log.Warn("policy: cannot read policy directory; keeping the current policy",
				"dir", e.dir, "error", err)
		}
		return
	}
	e.lastReadErr = ""
	if src.revision == e.lastSeen {
		return
	}
	e.lastSeen = src.revision
	v, err := buildVersion(ctx, src)
	if err != nil {
		if ctx.Err() != nil {
			return // closing
		}
		e.rejected(src.revision, err)
		return
	}
	e.install(v)
}

// rejected logs and counts a policy version that failed to load.
func (e *Engine) rejected(revision string, err error) {
	result := resultCompileError
	attrs := []any{"revision", revision, "source", e.location()}
	var le *loadError
	if errors.As(err, &le) {
		result = le.result
		if len(le.failures) > 0 {
			attrs = append(attrs, "failed_tests", le.failures)
		}
		attrs = append(attrs, "error", le.err)
	} else {
		attrs = append(attrs, "error", err)
	}
	attrs = append(attrs, "result", result)
	if cur := e.cur.Load(); cur != nil {
		attrs = append(attrs, "serving", cur.revision)
	}
	e.m.reloads.WithLabelValues(result).Inc()
	e.log.Error("policy: rejected policy version", attrs...)
}

// install makes v the version being served.
func (e *Engine) install(v *version) {
	old := e.cur.Swap(v)
	if old != nil {
		e.m.revision.DeleteLabelValues(old.revision)
	}
	e.m.revision.WithLabelValues(v.revision).Set(1)
	e.m.loadedAt.Set(float64(v.loadedAt.UnixNano()) / 1e9)
	e.m.reloads.WithLabelValues(resultSuccess).Inc()
	if e.cache != nil && old != nil {
		// Entries of the old revision can never match again; free them.
		e.cache.clear()
	}
	attrs := []any{
		"revision", v.revision,
		"source", e.location(),
		"tests", v.tests,
		"cacheable", v.deps.cacheable && e.cache != nil,
		"input_paths", v.deps.paths,
	}
	if !v.deps.cacheable {
		attrs = append(attrs, "no_cache_reason", v.deps.noCache)
	}
	if old != nil {
		attrs = append(attrs, "previous", old.revision)
	}
	if v.tests == 0 {
		e.log.Warn("policy: loaded policy has no tests", "revision", v.revision)
	}
	e.log.Info("policy: loaded policy", attrs...)
}

// Decide evaluates the policy for in. On an evaluation error it returns a
// deny decision with reason ReasonEvalError together with the error.
func (e *Engine) Decide(ctx context.Context, in *Input) (Decision, error) {
	v := e.cur.Load()
	if in == nil {
		d := Decision{Reason: ReasonEvalError, RateLimitClass: "api", Revision: v.revision}
		return d, errors.New("policy: nil input")
	}
	now := time.Now()
	t := in.Time
	if t.IsZero() {
		t = now
	}
	tn := t.UnixNano()

	var (
		buf [256]byte
		key []byte
	)
	if e.cache != nil && v.deps.cacheable {
		key = v.deps.appendKey(buf[:0], v.revision, in)
		if ent, ok := e.cache.get(key); ok {
			if now.UnixNano() < ent.expires &&
				(!ent.timed || (tn >= ent.notBefore && tn < ent.validUntil)) {
				d := ent.decision
				d.Cached = true
				e.record(ctx, in, &d, nil)
				return d, nil
			}
		}
	}

	d, validUntil, hasValidUntil, err := e.evaluate(ctx, v, in, t, tn)
	e.m.duration.Observe(time.Since(now).Seconds())
	if err != nil {
		d = Decision{Reason: ReasonEvalError, RateLimitClass: "api", Revision: v.revision}
		err = fmt.Errorf("policy: evaluate revision %s: %w", v.revision, err)
		e.record(ctx, in, &d, err)
		return d, err
	}
	if key != nil {
		e.remember(key, v, d, now, tn, validUntil, hasValidUntil)
	}
	e.record(ctx, in, &d, nil)
	return d, nil
}

// remember caches a fresh decision if the policy allows it.
func (e *Engine) remember(key []byte, v *version, d Decision, now time.Time, tn, validUntil int64, hasValidUntil bool) {
	ent := &cacheEntry{decision: d, expires: now.UnixNano() + int64(maxCacheTTL)}
	switch {
	case hasValidUntil:
		// Served only for request times in [tn, validUntil); the request
		// time is the wall clock unless the caller sets Input.Time.
		if validUntil <= tn {
			return
		}
		ent.timed = true
		ent.notBefore = tn
		ent.validUntil = validUntil
	case v.deps.usesTime:
		return // depends on time but says nothing about how long it holds
	}
	e.cache.put(key, ent)
}

var neverCancel = topdown.NewCancel()

// evaluate runs the prepared query for in at time t (tn in Unix ns).
func (e *Engine) evaluate(ctx context.Context, v *version, in *Input, t time.Time, tn int64) (d Decision, validUntil int64, hasValidUntil bool, err error) {
	rs, err := v.query.Eval(ctx,
		rego.EvalParsedInput(in.astValue(tn, v.sel)),
		rego.EvalTime(t),
		rego.EvalMetrics(noMetrics),
		// Without an external cancel, OPA starts a goroutine per
		// evaluation to watch ctx; decisions are short and bounded, so
		// one shared, never-cancelled handle saves that per request.
		rego.EvalExternalCancel(neverCancel))
	if err != nil {
		return d, 0, false, err
	}
	if len(rs) == 0 {
		return d, 0, false, errNoDecision
	}
	b := rs[0].Bindings
	d.Revision = v.revision

	// An undefined allow denies, as a missing default would.
	if t := optional(v, b, "allow"); t != nil {
		allow, ok := t.Value.(ast.Boolean)
		if !ok {
			return d, 0, false, errors.New("allow is not a boolean")
		}
		d.Allow = bool(allow)
	}

	if t := optional(v, b, "reason"); t != nil {
		s, ok := t.Value.(ast.String)
		if !ok {
			return d, 0, false, errors.New("reason is not a string")
		}
		d.Reason = string(s)
	}

	d.RateLimitClass = "api"
	if t := optional(v, b, "obligations"); t != nil {
		obj, ok := t.Value.(ast.Object)
		if !ok {
			return d, 0, false, errors.New("obligations is not an object")
		}
		if c := obj.Get(termRateLimitClass); c != nil {
			s, ok := c.Value.(ast.String)
			if !ok {
				return d, 0, false, errors.New("obligations.rate_limit_class is not a string")
			}
			d.RateLimitClass = string(s)
		}
		o, err := ast.JSON(obj)
		if err != nil {
			return d, 0, false, fmt.Errorf("obligations: %w", err)
		}
		d.Obligations, _ = o.(map[string]any)
	}

	if t := optional(v, b, "valid_until_ns"); t != nil {
		n, ok := t.Value.(ast.Number)
		if !ok {
			return d, 0, false, errors.New("valid_until_ns is not a number")
		}
		validUntil, ok = n.Int64()
		if !ok {
			return d, 0, false, errors.New("valid_until_ns is not an integer")
		}
		hasValidUntil = true
	}
	return d, validUntil, hasValidUntil, nil
}

var termRateLimitClass = ast.StringTerm("rate_limit_class")

// noMetrics skips OPA's per-evaluation timers.
var noMetrics = opametrics.NoOp()

// optional returns an optional result, or nil if it is undefined. See
// decisionQuery: the result is absent, a value, or an array of zero or one
// values collected by a comprehension.
func optional(v *version, b rego.Vars, name string) *ast.Term {
	t, _ := b[name].(*ast.Term)
	if t == nil {
		return nil
	}
	if !v.collected[name] {
		return t
	}
	arr, ok := t.Value.(*ast.Array)
	if !ok || arr.Len() == 0 {
		return nil
	}
	return arr.Elem(0)
}

// record counts a decision and logs a sample of them.
func (e *Engine) record(ctx context.Context, in *Input, d *Decision, err error) {
	cached := 0
	if d.Cached {
		cached = 1
	}
	switch {
	case err != nil:
		e.m.byResult[idxError][cached].Inc()
	case d.Allow:
		e.m.byResult[idxAllow][cached].Inc()
	default:
		e.m.byResult[idxDeny][cached].Inc()
	}
	if e.sample == 0 || (e.sample < 1 && rand.Float64() >= e.sample) {
		return
	}
	attrs := []slog.Attr{
		slog.String("route", in.Route),
		slog.String("method", in.Method),
		slog.String("listener", in.Listener),
		slog.String("principal", in.Principal.ID),
		slog.String("auth_method", in.Principal.AuthMethod),
		slog.Bool("allow", d.Allow),
		slog.String("reason", d.Reason),
		slog.Bool("cached", d.Cached),
		slog.String("revision", d.Revision),
	}
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelWarn
		attrs = append(attrs, slog.Any("error", err))
	}
	e.log.LogAttrs(ctx, level, "policy decision", attrs...)
}
