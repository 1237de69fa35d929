// Package directory connects enterprises' identity providers to gatewayd:
// it routes each enterprise's SCIM requests to its directory plugin
// (plugins/scim) and acts on the lifecycle events the plugin reports, and
// it pulls changes from a remote SCIM endpoint on a schedule.
//
// The lifecycle of a provisioned user:
//
//   - active (created, updated, reactivated): the user gets a managed DID
//     held by the gateway for the enterprise, then, if the enterprise
//     configures one, an employee credential the enterprise issues to that
//     DID, and only then an enterprise member account (store.User with the
//     enterprise as tenant, no password: members sign in through the
//     enterprise's SSO). Group membership gives the member roles the
//     policies see ("group:<name>" or the configured role).
//   - deactivated: the account is suspended (no new session), the member's
//     sessions end (refresh families revoked and their access tokens
//     denied), and the employee credential is suspended (or revoked, as
//     configured) through the status list.
//   - deleted: the same, the credential revoked, the account marked deleted.
//
// Nothing is half-provisioned: every event is first written to a durable
// per-enterprise queue, then applied by idempotent steps whose results are
// recorded one by one on the member's link record (the DID once created is
// reused, the credential is issued under an idempotency key), and the
// account, the only thing a person can use, is created last. A step that
// fails leaves the event in the queue; it is retried with backoff, by the
// next request for the same user or by the background loop, and later
// events for the same user wait behind it. Steps are retried rather than
// rolled back because the ledger write of a DID cannot be undone: rolling
// back would waste it, retrying reuses it. Every event, applied or failed,
// is audited.
package directory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/credentials"
	"github.com/ubeu/gateway/host/did"
	pluginpkg "github.com/ubeu/gateway/host/plugin/pkg"
	"github.com/ubeu/gateway/host/seal"
	"github.com/ubeu/gateway/host/store"
	"github.com/ubeu/gateway/host/treasury"
)

// Errors.
var (
	// ErrDisabled: the enterprise turned its connector off.
	ErrDisabled = errors.New("directory: the enterprise's directory connector is disabled")
	// ErrNoPlugin: the configured directory plugin is not loaded.
	ErrNoPlugin = errors.New("directory: the directory plugin is not loaded")
	// ErrNotFound: no such enterprise.
	ErrNotFound = errors.New("directory: enterprise not found")
)

// DIDMaker makes managed DIDs (identity.Service).
type DIDMaker interface {
	CreateManaged(ctx context.Context, enterpriseID string) (string, *did.Document, error)
}

// Issuer issues credentials and changes their status (credentials.Service).
type Issuer interface {
	Issue(ctx context.Context, iss credentials.Issuer, cred map[string]any, o credentials.IssueOptions) (*credentials.Issued, error)
	SetStatus(ctx context.Context, enterprise, id, action string) (*credentials.Record, error)
}

// TokenRevoker denies access tokens by session ID (auth.Tokens).
type TokenRevoker interface {
	Revoke(ctx context.Context, id string, until time.Time) error
}

// Plugins finds the directory plugin (manager.Manager).
type Plugins interface {
	Get(name string) (abiv1.Transport, bool)
}

// Options configures a Service.
type Options struct {
	KV          store.KV
	Users       store.Users
	Enterprises store.Enterprises
	Sessions    store.Sessions
	Tokens      TokenRevoker
	// TokenTTL is the access tokens' lifetime: a revocation lasts that long.
	TokenTTL    time.Duration
	DIDs        DIDMaker
	Credentials Issuer // nil: no employee credentials
	Treasury    *treasury.Service
	Plugins     Plugins
	Sealer      *seal.Sealer
	Logger      *slog.Logger
	Registerer  prometheus.Registerer
	Now         func() time.Time
	// RetryInterval is how often the background loop looks for due
	// retries and pulls (default 5 s).
	RetryInterval time.Duration
	// MemberTier is the tier of member accounts (default "individual").
	MemberTier string
	// PluginSchema, if set, returns the installed directory plugin's
	// configuration schema: SetConfig then also validates the connector
	// against its $defs.connector (nil schema or no such definition: the
	// strict built-in checks only).
	PluginSchema func(plugin string) ([]byte, error)
}

// Service is the directory service. It is safe for concurrent use.
type Service struct {
	o     Options
	log   *slog.Logger
	m     *metrics
	locks [256]sync.Mutex
	seq   atomic.Uint64

	mu      sync.Mutex
	pending map[string]int // "ent/object" → queued events not yet applied
	status  map[string]*Status
	dirty   map[string]bool // statuses changed since they were last saved

	stop chan struct{}
	done chan struct{}
}

const ns = "directory"

// New returns a Service.
func New(o Options) (*Service, error) {
	if o.KV == nil || o.Users == nil || o.Enterprises == nil || o.Sessions == nil || o.DIDs == nil || o.Plugins == nil {
		return nil, errors.New("directory: KV, Users, Enterprises, Sessions, DIDs and Plugins are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = 5 * time.Second
	}
	if o.MemberTier == "" {
		o.MemberTier = "individual"
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = time.Hour
	}
	s := &Service{o: o, log: o.Logger.With("component", "directory"), m: newMetrics(o.Registerer),
		pending: map[string]int{}, status: map[string]*Status{}, dirty: map[string]bool{}}
	if err := s.loadPending(context.Background()); err != nil {
		return nil, err
	}
	return s, nil
}

// Start runs the background loop (retries and scheduled pulls) until Stop.
func (s *Service) Start() {
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go s.loop()
}

// Stop ends the background loop and waits for it.
func (s *Service) Stop() {
	if s.stop == nil {
		return
	}
	close(s.stop)
	<-s.done
	s.stop = nil
	s.flushStatus(context.Background())
}

func (s *Service) loop() {
	defer close(s.done)
	t := time.NewTicker(s.o.RetryInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		s.RetryDue(ctx)
		s.pullDue(ctx)
		s.flushStatus(ctx)
		cancel()
	}
}

// ---- configuration and status ----

// Config returns an enterprise's connector configuration (the default if
// none was set) and whether a pull token is stored.
func (s *Service) Config(ctx context.Context, ent string) (*Config, bool, error) {
	st, err := s.loadConfig(ctx, ent)
	if err != nil {
		return nil, false, err
	}
	c := st.Config
	if c.Pull != nil {
		p := *c.Pull
		p.Token = ""
		c.Pull = &p
	}
	return &c, len(st.TokenSealed) > 0, nil
}

func (s *Service) loadConfig(ctx context.Context, ent string) (*stored, error) {
	b, _, err := s.o.KV.Get(ctx, ns, "cfg/"+ent)
	if errors.Is(err, store.ErrNotFound) {
		return &stored{}, nil
	}
	if err != nil {
		return nil, err
	}
	var st stored
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("directory: config of %s: %w", ent, err)
	}
	return &st, nil
}

// SetConfig validates and stores an enterprise's connector configuration.
// A pull without a token keeps the token stored before.
func (s *Service) SetConfig(ctx context.Context, ent string, c *Config) error {
	if err := c.validate(); err != nil {
		return err
	}
	if err := s.checkPluginSchema(c); err != nil {
		return err
	}
	old, err := s.loadConfig(ctx, ent)
	if err != nil {
		return err
	}
	st := &stored{Config: *c, UpdatedAt: s.o.Now().UTC()}
	if c.Pull != nil {
		p := *c.Pull
		switch {
		case p.Token != "":
			if s.o.Sealer == nil {
				return errors.New("directory: no sealer for the pull token")
			}
			st.TokenSealed = s.o.Sealer.Seal([]byte(p.Token), []byte("directory-pull/"+ent))
		case old.Pull != nil && old.Pull.URL == p.URL:
			st.TokenSealed = old.TokenSealed
		}
		p.Token = ""
		st.Config.Pull = &p
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if _, err := s.o.KV.Put(ctx, ns, "cfg/"+ent, b, store.KVCond{}); err != nil {
		return err
	}
	s.audit(ctx, ent, AuditRecord{Kind: "config", Action: "updated", Result: "ok"})
	return nil
}

// Status is a connector's state: counters, pending retries, last errors,
// the pull's progress.
type Status struct {
	Events      map[string]int `json:"events"` // by result: applied, failed
	Pending     int            `json:"pending"`
	LastEventAt time.Time      `json:"lastEventAt,omitzero"`
	LastErrors  []ErrorRecord  `json:"lastErrors"`
	Pull        PullStatus     `json:"pull"`
}

// ErrorRecord is one failure.
type ErrorRecord struct {
	At     time.Time `json:"at"`
	Object string    `json:"object"`
	Step   string    `json:"step"`
	Error  string    `json:"error"`
}

// PullStatus is the pull's progress.
type PullStatus struct {
	LastRunAt  time.Time `json:"lastRunAt,omitzero"`
	LastOKAt   time.Time `json:"lastOkAt,omitzero"`
	LastError  string    `json:"lastError,omitempty"`
	Cursor     string    `json:"cursor,omitempty"`
	EventsSeen int       `json:"eventsSeen"`
}

func (s *Service) statusOf(ctx context.Context, ent string) *Status {
	st := s.status[ent]
	if st != nil {
		return st
	}
	st = &Status{Events: map[string]int{}, LastErrors: []ErrorRecord{}}
	if b, _, err := s.o.KV.Get(ctx, ns, "st/"+ent); err == nil {
		_ = json.Unmarshal(b, st)
		if st.Events == nil {
			st.Events = map[string]int{}
		}
		if st.LastErrors == nil {
			st.LastErrors = []ErrorRecord{}
		}
	}
	s.status[ent] = st
	return st
}

// updateStatus changes the status under the lock. A change with save
// (failures, pulls) is persisted at once; the counters of applied events
// are persisted by the background loop (flushStatus), not once per event.
func (s *Service) updateStatus(ctx context.Context, ent string, save bool, f func(*Status)) {
	s.mu.Lock()
	st := s.statusOf(ctx, ent)
	f(st)
	if !save {
		s.dirty[ent] = true
		s.mu.Unlock()
		return
	}
	delete(s.dirty, ent)
	b, _ := json.Marshal(st)
	s.mu.Unlock()
	s.saveStatus(ctx, ent, b)
}

func (s *Service) saveStatus(ctx context.Context, ent string, b []byte) {
	if _, err := s.o.KV.Put(context.WithoutCancel(ctx), ns, "st/"+ent, b, store.KVCond{}); err != nil {
		s.log.Warn("directory status not saved", "enterprise", ent, "err", err)
	}
}

// flushStatus persists the statuses changed since they were last saved.
func (s *Service) flushStatus(ctx context.Context) {
	s.mu.Lock()
	out := map[string][]byte{}
	for ent := range s.dirty {
		out[ent], _ = json.Marshal(s.status[ent])
	}
	clear(s.dirty)
	s.mu.Unlock()
	for ent, b := range out {
		s.saveStatus(ctx, ent, b)
	}
}

// Status returns an enterprise's connector status.
func (s *Service) Status(ctx context.Context, ent string) Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := *s.statusOf(ctx, ent)
	st.Pending = 0
	for k, n := range s.pending {
		if strings.HasPrefix(k, ent+"/") {
			st.Pending += n
		}
	}
	st.Events = maps(st.Events)
	st.LastErrors = slices.Clone(st.LastErrors)
	return st
}

func maps(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ---- SCIM ----

// SCIMRequest is one SCIM request for an enterprise, the path relative to
// /scim/v2/{enterpriseId}.
type SCIMRequest struct {
	Enterprise string
	Method     string
	Path       string
	Query      string
	Headers    map[string]string
	Body       []byte
}

// SCIM forwards a request to the enterprise's directory plugin and applies
// the lifecycle events it reports before answering. The events are queued
// durably first: if applying one fails, the answer is still the plugin's
// (the SCIM resource exists) and the event is retried.
func (s *Service) SCIM(ctx context.Context, r SCIMRequest) (*abiv1.HandleSCIMResponse, error) {
	start := s.o.Now()
	cfg, err := s.loadConfig(ctx, r.Enterprise)
	if err != nil {
		return nil, err
	}
	if !cfg.enabled() {
		return nil, ErrDisabled
	}
	tr, ok := s.o.Plugins.Get(cfg.plugin())
	if !ok {
		return nil, ErrNoPlugin
	}
	req := &abiv1.HandleSCIMRequest{Method: r.Method, Path: r.Path, Query: r.Query, Body: r.Body, EnterpriseID: r.Enterprise}
	names := make([]string, 0, len(r.Headers))
	for k := range r.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		req.Headers = append(req.Headers, &abiv1.Header{Name: k, Values: []string{r.Headers[k]}})
	}
	res, err := abiv1.NewDirectoryClient(tr).HandleSCIM(ctx, req)
	if err != nil {
		s.m.scim.WithLabelValues(r.Method, "plugin_error").Inc()
		return nil, err
	}
	s.m.scim.WithLabelValues(r.Method, strconv.Itoa(int(res.Status))).Inc()
	if len(res.Events) > 0 {
		if err := s.Apply(ctx, r.Enterprise, "scim", res.Events); err != nil {
			return nil, err
		}
	}
	s.m.scimSeconds.Observe(s.o.Now().Sub(start).Seconds())
	return res, nil
}

// ---- the queue ----

// queued is an event waiting to be applied.
type queued struct {
	Seq        string            `json:"seq"`
	Source     string            `json:"source"` // scim | pull
	Kind       string            `json:"kind"`
	Action     string            `json:"action"`
	ID         string            `json:"id"`
	ExternalID string            `json:"externalId,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	MemberIDs  []string          `json:"memberIds,omitempty"`
	Attempts   int               `json:"attempts"`
	NextAt     time.Time         `json:"nextAt,omitzero"`
	LastError  string            `json:"lastError,omitempty"`
}

func (q *queued) object() string { return strings.ToLower(q.Kind[:1]) + ":" + q.ID }

func (s *Service) nextSeq() string {
	return fmt.Sprintf("%020d-%08d", s.o.Now().UnixNano(), s.seq.Add(1)%100000000)
}

func qKey(ent, seq string) string { return "q/" + ent + "/" + seq }

// maxAttr bounds what is kept of an attribute the plugin reports.
const maxAttr = 512

func validEventID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	return !strings.ContainsAny(id, "/\x00")
}

// Apply queues the events of an enterprise durably, then applies those
// whose object has nothing older waiting. A failure to apply is recorded
// and retried; only a failure to queue is returned.
func (s *Service) Apply(ctx context.Context, ent, source string, events []*abiv1.DirectoryEvent) error {
	var qs []*queued
	for _, ev := range events {
		if ev == nil || !validEventID(ev.ID) {
			s.log.Warn("directory plugin reported an event without a valid id", "enterprise", ent)
			continue
		}
		q := &queued{Seq: s.nextSeq(), Source: source, ID: ev.ID, ExternalID: clip(ev.ExternalID)}
		switch ev.Kind {
		case abiv1.ObjectKindUser:
			q.Kind = "user"
		case abiv1.ObjectKindGroup:
			q.Kind = "group"
		default:
			continue
		}
		switch ev.Action {
		case abiv1.EventActionCreated:
			q.Action = "created"
		case abiv1.EventActionUpdated:
			q.Action = "updated"
		case abiv1.EventActionDeactivated:
			q.Action = "deactivated"
		case abiv1.EventActionDeleted:
			q.Action = "deleted"
		default:
			continue
		}
		q.Attributes = map[string]string{}
		for k, v := range ev.Attributes {
			if len(q.Attributes) < 64 && len(k) <= 64 {
				q.Attributes[k] = clip(v)
			}
		}
		for _, m := range ev.MemberIDs {
			if validEventID(m) && len(q.MemberIDs) < 100000 {
				q.MemberIDs = append(q.MemberIDs, m)
			}
		}
		b, err := json.Marshal(q)
		if err != nil {
			return err
		}
		if _, err := s.o.KV.Put(ctx, ns, qKey(ent, q.Seq), b, store.KVCond{Absent: true}); err != nil {
			return fmt.Errorf("directory: queue an event: %w", err)
		}
		s.mu.Lock()
		s.pending[ent+"/"+q.object()]++
		s.mu.Unlock()
		qs = append(qs, q)
	}
	for _, q := range qs {
		s.applyQueued(ctx, ent, q, true)
	}
	return nil
}

func clip(s string) string {
	if len(s) > maxAttr {
		return s[:maxAttr]
	}
	return s
}

// applyQueued applies one queued event under its object's lock, unless
// an older event of the same object is still waiting (fresh: the event was
// just queued and counted).
func (s *Service) applyQueued(ctx context.Context, ent string, q *queued, fresh bool) {
	objs := []string{ent + "/" + q.object()}
	if q.Kind == "group" {
		old, _ := s.loadGroup(ctx, ent, q.ID)
		for _, m := range union(old.Members, q.MemberIDs) {
			objs = append(objs, ent+"/u:"+m)
		}
	}
	unlock := s.lock(objs)
	defer unlock()
	if fresh {
		// Older events of this object queued and not yet applied go first.
		if older, err := s.olderQueued(ctx, ent, q); err != nil || older {
			return
		}
	}
	start := s.o.Now()
	step, err := s.applyEvent(ctx, ent, q)
	s.m.events.WithLabelValues(q.Kind, q.Action, result(err)).Inc()
	s.m.eventSeconds.WithLabelValues(q.Kind).Observe(s.o.Now().Sub(start).Seconds())
	if err == nil {
		if err := s.o.KV.Delete(context.WithoutCancel(ctx), ns, qKey(ent, q.Seq), store.KVCond{}); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("directory: dequeue failed", "err", err)
		}
		s.mu.Lock()
		if s.pending[ent+"/"+q.object()]--; s.pending[ent+"/"+q.object()] <= 0 {
			delete(s.pending, ent+"/"+q.object())
		}
		s.mu.Unlock()
		s.audit(ctx, ent, AuditRecord{Kind: q.Kind, Action: q.Action, Object: q.ID, Source: q.Source, Result: "ok"})
		s.updateStatus(ctx, ent, false, func(st *Status) { st.Events["applied"]++; st.LastEventAt = s.o.Now().UTC() })
		return
	}
	q.Attempts++
	q.LastError = step + ": " + err.Error()
	q.NextAt = s.o.Now().Add(backoff(q.Attempts))
	if b, merr := json.Marshal(q); merr == nil {
		if _, perr := s.o.KV.Put(context.WithoutCancel(ctx), ns, qKey(ent, q.Seq), b, store.KVCond{}); perr != nil {
			s.log.Error("directory: could not record a failed event", "err", perr)
		}
	}
	s.log.Warn("directory event failed; will retry", "enterprise", ent, "kind", q.Kind, "action", q.Action, "object", q.ID,
		"step", step, "attempt", q.Attempts, "err", err)
	s.audit(ctx, ent, AuditRecord{Kind: q.Kind, Action: q.Action, Object: q.ID, Source: q.Source, Result: "failed", Step: step, Error: err.Error()})
	s.updateStatus(ctx, ent, true, func(st *Status) {
		st.Events["failed"]++
		st.LastEventAt = s.o.Now().UTC()
		st.LastErrors = append(st.LastErrors, ErrorRecord{At: s.o.Now().UTC(), Object: q.object(), Step: step, Error: err.Error()})
		if len(st.LastErrors) > 20 {
			st.LastErrors = st.LastErrors[len(st.LastErrors)-20:]
		}
	})
}

func result(err error) string {
	if err != nil {
		return "failed"
	}
	return "applied"
}

func backoff(attempt int) time.Duration {
	d := time.Second << min(attempt, 12)
	return min(d, time.Hour)
}

// olderQueued reports whether an event of q's object older than q waits.
func (s *Service) olderQueued(ctx context.Context, ent string, q *queued) (bool, error) {
	s.mu.Lock()
	n := s.pending[ent+"/"+q.object()]
	s.mu.Unlock()
	if n <= 1 {
		return false, nil
	}
	items, err := s.o.KV.List(ctx, ns, "q/"+ent+"/", "", 1000)
	if err != nil {
		return true, err
	}
	for _, it := range items {
		var o queued
		if json.Unmarshal(it.Value, &o) == nil && o.object() == q.object() {
			return o.Seq < q.Seq, nil
		}
	}
	return false, nil
}

// lock takes the locks of the objects in a fixed order.
func (s *Service) lock(objs []string) func() {
	idx := map[int]bool{}
	for _, o := range objs {
		h := fnv.New32a()
		h.Write([]byte(o))
		idx[int(h.Sum32()%uint32(len(s.locks)))] = true
	}
	order := make([]int, 0, len(idx))
	for i := range idx {
		order = append(order, i)
	}
	sort.Ints(order)
	for _, i := range order {
		s.locks[i].Lock()
	}
	return func() {
		for j := len(order) - 1; j >= 0; j-- {
			s.locks[order[j]].Unlock()
		}
	}
}

func (s *Service) loadPending(ctx context.Context) error {
	after := ""
	for {
		items, err := s.o.KV.List(ctx, ns, "q/", after, 1000)
		if err != nil {
			return err
		}
		for _, it := range items {
			ent, _, _ := strings.Cut(strings.TrimPrefix(it.Key, "q/"), "/")
			var q queued
			if json.Unmarshal(it.Value, &q) == nil && q.Kind != "" {
				s.pending[ent+"/"+q.object()]++
			}
		}
		if len(items) < 1000 {
			return nil
		}
		after = items[len(items)-1].Key
	}
}

// RetryDue applies the queued events whose retry time has come, oldest
// first; an object whose oldest event is not due (or fails again) keeps
// its later events waiting.
func (s *Service) RetryDue(ctx context.Context) {
	s.mu.Lock()
	none := len(s.pending) == 0
	s.mu.Unlock()
	if none {
		return
	}
	after := ""
	blocked := map[string]bool{}
	now := s.o.Now()
	for {
		items, err := s.o.KV.List(ctx, ns, "q/", after, 1000)
		if err != nil {
			s.log.Warn("directory: list the queue", "err", err)
			return
		}
		for _, it := range items {
			ent, _, _ := strings.Cut(strings.TrimPrefix(it.Key, "q/"), "/")
			var q queued
			if json.Unmarshal(it.Value, &q) != nil || q.Kind == "" {
				continue
			}
			key := ent + "/" + q.object()
			if blocked[key] {
				continue
			}
			if q.NextAt.After(now) {
				blocked[key] = true
				continue
			}
			s.applyQueued(ctx, ent, &q, false)
			s.mu.Lock()
			still := s.pending[key] > 0
			s.mu.Unlock()
			if _, _, err := s.o.KV.Get(ctx, ns, it.Key); err == nil && still {
				blocked[key] = true // failed again
			}
		}
		if len(items) < 1000 {
			return
		}
		after = items[len(items)-1].Key
	}
}

// ---- applying events ----

// Link is what the gateway keeps of a provisioned user: the member
// account, DID and credential made for it, its groups.
type Link struct {
	ID           string    `json:"id"` // the directory's id of the user
	ExternalID   string    `json:"externalId,omitempty"`
	UserName     string    `json:"userName,omitempty"`
	UserID       string    `json:"userId,omitempty"` // the member account
	Email        string    `json:"email,omitempty"`
	DID          string    `json:"did,omitempty"`
	CredentialID string    `json:"credentialId,omitempty"`
	CredentialN  int       `json:"credentialGeneration,omitempty"`
	CredState    string    `json:"credentialState,omitempty"`
	State        string    `json:"state"` // pending | active | deactivated | deleted
	Groups       []string  `json:"groups,omitempty"`
	Roles        []string  `json:"roles,omitempty"`
	UpdatedAt    time.Time `json:"updatedAt"`

	indexed string // the userName the index points at, as loaded
}

// Member states.
const (
	StatePending     = "pending"
	StateActive      = "active"
	StateDeactivated = "deactivated"
	StateDeleted     = "deleted"
)

func linkKey(ent, id string) string { return "m/" + ent + "/" + id }

func (s *Service) loadLink(ctx context.Context, ent, id string) (*Link, error) {
	b, _, err := s.o.KV.Get(ctx, ns, linkKey(ent, id))
	if errors.Is(err, store.ErrNotFound) {
		return &Link{ID: id, State: StatePending}, nil
	}
	if err != nil {
		return nil, err
	}
	var l Link
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("directory: link %s: %w", id, err)
	}
	l.indexed = l.UserName
	return &l, nil
}

func (s *Service) saveLink(ctx context.Context, ent string, l *Link) error {
	l.UpdatedAt = s.o.Now().UTC()
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	if l.UserName != "" && !strings.EqualFold(l.UserName, l.indexed) {
		// The index by userName, for sign-in (SSO answers a NameID that is
		// the directory's userName or e-mail).
		if _, err := s.o.KV.Put(ctx, ns, nameKey(ent, l.UserName), []byte(l.ID), store.KVCond{}); err != nil {
			return err
		}
		l.indexed = l.UserName
	}
	_, err = s.o.KV.Put(ctx, ns, linkKey(ent, l.ID), b, store.KVCond{})
	return err
}

func nameKey(ent, userName string) string { return "mu/" + ent + "/" + strings.ToLower(userName) }

// MemberByUserName returns the link of the directory user with this
// userName (case-insensitive), as the SSO sign-in looks members up; found
// is false if the directory never provisioned one.
func (s *Service) MemberByUserName(ctx context.Context, ent, userName string) (l *Link, found bool, err error) {
	b, _, err := s.o.KV.Get(ctx, ns, nameKey(ent, userName))
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	l, err = s.loadLink(ctx, ent, string(b))
	if err != nil {
		return nil, false, err
	}
	if !strings.EqualFold(l.UserName, userName) { // renamed since
		return nil, false, nil
	}
	return l, true, nil
}

// Members lists an enterprise's links in id order after `after`.
func (s *Service) Members(ctx context.Context, ent, after string, limit int) ([]*Link, error) {
	a := ""
	if after != "" {
		a = linkKey(ent, after)
	}
	items, err := s.o.KV.List(ctx, ns, "m/"+ent+"/", a, limit)
	if err != nil {
		return nil, err
	}
	out := make([]*Link, 0, len(items))
	for _, it := range items {
		var l Link
		if json.Unmarshal(it.Value, &l) == nil {
			out = append(out, &l)
		}
	}
	return out, nil
}

// Member returns the link of a directory user.
func (s *Service) Member(ctx context.Context, ent, id string) (*Link, bool, error) {
	l, err := s.loadLink(ctx, ent, id)
	if err != nil {
		return nil, false, err
	}
	return l, l.UpdatedAt != (time.Time{}), nil
}

type group struct {
	Name    string   `json:"name"`
	Members []string `json:"members,omitempty"`
}

func (s *Service) loadGroup(ctx context.Context, ent, id string) (*group, error) {
	b, _, err := s.o.KV.Get(ctx, ns, "g/"+ent+"/"+id)
	if errors.Is(err, store.ErrNotFound) {
		return &group{}, nil
	}
	if err != nil {
		return nil, err
	}
	var g group
	err = json.Unmarshal(b, &g)
	return &g, err
}

// applyEvent applies one event; on failure it names the step.
func (s *Service) applyEvent(ctx context.Context, ent string, q *queued) (string, error) {
	cfg, err := s.loadConfig(ctx, ent)
	if err != nil {
		return "config", err
	}
	if q.Kind == "group" {
		return s.applyGroup(ctx, ent, &cfg.Config, q)
	}
	active := q.Attributes["active"] != "false"
	switch {
	case q.Action == "deleted":
		return s.deprovision(ctx, ent, q, true, OnDeactivateRevoke)
	case q.Action == "deactivated" || !active:
		return s.deprovision(ctx, ent, q, false, cfg.onDeactivate())
	}
	return s.provision(ctx, ent, &cfg.Config, q)
}

func (s *Service) timed(step string, f func() error) error {
	start := s.o.Now()
	err := f()
	s.m.steps.WithLabelValues(step, result(err)).Observe(s.o.Now().Sub(start).Seconds())
	return err
}

// accountEmail is the member account's e-mail address: the directory's,
// once the enterprise has verified its domain. An enterprise that has not
// must not claim addresses (an account's e-mail is unique in the gateway,
// so a claimed address would lock its owner out): its members get an
// address of their own that reaches no one, <link id>@<enterprise
// id>.scim.invalid (RFC 2606). SSO sign-in matches members by e-mail, so
// a verified enterprise's members keep the directory's address, also
// outside its parent domain.
func accountEmail(attrs map[string]string, ent *store.Enterprise, linkID string) (string, error) {
	e, err := memberEmail(attrs, ent.ParentDomain)
	if err != nil {
		return "", err
	}
	if ent.Status == "active" {
		return e, nil
	}
	local := strings.ToLower(linkID)
	if len(local) > 64 || strings.Trim(local, "abcdefghijklmnopqrstuvwxyz0123456789-_.") != "" {
		h := sha256.Sum256([]byte(linkID))
		local = "h" + hex.EncodeToString(h[:12])
	}
	return local + "@" + strings.ToLower(ent.ID) + ".scim.invalid", nil
}

// memberEmail is the user's e-mail, else its userName if it is an
// address, else userName@<the enterprise's domain>.
func memberEmail(attrs map[string]string, domain string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(attrs["email"]))
	if e == "" {
		e = strings.ToLower(strings.TrimSpace(attrs["userName"]))
		if !strings.Contains(e, "@") {
			e += "@" + domain
		}
	}
	at := strings.LastIndex(e, "@")
	if at < 1 || at == len(e)-1 || len(e) > 254 || strings.ContainsAny(e, " \t\r\n<>\"") {
		return "", fmt.Errorf("the user has no usable e-mail address")
	}
	return e, nil
}

var errEmailTaken = errors.New("the e-mail address belongs to an account outside this enterprise")

func (s *Service) provision(ctx context.Context, entID string, cfg *Config, q *queued) (string, error) {
	ent, err := s.o.Enterprises.Get(ctx, entID)
	if err != nil {
		return "enterprise", err
	}
	l, err := s.loadLink(ctx, entID, q.ID)
	if err != nil {
		return "link", err
	}
	l.ExternalID, l.UserName = q.ExternalID, q.Attributes["userName"]
	if l.State == StateDeleted {
		return "link", errors.New("the user was deleted")
	}
	// 0. The account's e-mail must be free (or already this member's)
	// before anything is spent on the ledger.
	var user *store.User
	if l.UserID != "" {
		if user, err = s.o.Users.Get(ctx, l.UserID); err != nil {
			return "member", err
		}
	} else {
		email, err := accountEmail(q.Attributes, ent, l.ID)
		if err != nil {
			return "member", err
		}
		u, err := s.o.Users.GetByEmail(ctx, email)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return "member", err
		case u.Tenant == entID && slices.Contains(u.Roles, "member"):
			user = u // made by an earlier attempt that stopped before recording it
			l.UserID = u.ID
		default:
			return "member", errEmailTaken
		}
		l.Email = email
	}
	// 1. The managed DID, recorded at once so that a retry reuses it.
	if l.DID == "" {
		err := s.timed("did", func() error {
			dctx := ctx
			if s.o.Treasury != nil {
				c, sp, err := s.o.Treasury.Sponsor(ctx, treasury.Payer{Kind: treasury.KindEnterprise, ID: ent.ID, Tier: ent.Tier}, treasury.OpDIDCreate, 1)
				if err != nil {
					return err
				}
				defer sp.End()
				dctx = c
			}
			d, _, err := s.o.DIDs.CreateManaged(dctx, entID)
			if err != nil {
				return err
			}
			l.DID = d
			return s.saveLink(ctx, entID, l)
		})
		if err != nil {
			return "did", err
		}
	}
	// 2. The employee credential (issued under an idempotency key, so a
	// retry after an unrecorded success gets the same credential).
	if ec := cfg.EmployeeCredential; ec != nil && ec.Enabled && s.o.Credentials != nil {
		if err := s.timed("credential", func() error { return s.employeeCredential(ctx, ent, ec, l, q) }); err != nil {
			return "credential", err
		}
	}
	// 3. The member account, last.
	roles, err := s.roles(ctx, entID, cfg, l.Groups)
	if err != nil {
		return "roles", err
	}
	l.Roles = roles
	err = s.timed("member", func() error {
		now := s.o.Now().UTC()
		if user == nil {
			user = &store.User{ID: uuid.NewString(), Email: l.Email, Roles: append([]string{store.RoleUser, "member"}, roles...),
				Tier: s.o.MemberTier, Tenant: entID, Status: "active", CreatedAt: now, UpdatedAt: now}
			if err := s.o.Users.Create(ctx, user); err != nil {
				if errors.Is(err, store.ErrConflict) {
					return errEmailTaken
				}
				return err
			}
			l.UserID = user.ID
			return nil
		}
		user.Roles = append([]string{store.RoleUser, "member"}, roles...)
		user.Status, user.UpdatedAt = "active", now
		return s.o.Users.Update(ctx, user)
	})
	if err != nil {
		return "member", err
	}
	l.State = StateActive
	if err := s.saveLink(ctx, entID, l); err != nil {
		return "link", err
	}
	return "", nil
}

func (s *Service) employeeCredential(ctx context.Context, ent *store.Enterprise, ec *CredentialConfig, l *Link, q *queued) error {
	if l.CredentialID != "" {
		if l.CredState == credentials.StateSuspended {
			if _, err := s.o.Credentials.SetStatus(ctx, ent.ID, l.CredentialID, credentials.ActionUnsuspend); err != nil {
				return err
			}
			l.CredState = credentials.StateActive
			return s.saveLink(ctx, ent.ID, l)
		}
		if l.CredState != credentials.StateRevoked {
			return nil
		}
		// Revoked (deactivated with onDeactivate revoke): a new one.
		l.CredentialID, l.CredentialN = "", l.CredentialN+1
	}
	if ent.Status != "active" || ent.ManagedDID == "" {
		return fmt.Errorf("the enterprise has not verified its domain yet and cannot issue")
	}
	typ := ec.Type
	if typ == "" {
		typ = "EmployeeCredential"
	}
	claims := ec.Claims
	if len(claims) == 0 {
		claims = []string{"userName", "displayName", "email", "title", "department", "employeeNumber"}
	}
	sub := map[string]any{"id": l.DID, "employer": ent.OrganizationName}
	for _, c := range claims {
		v := q.Attributes[c]
		if c == "email" {
			v = l.Email
		}
		if v != "" {
			sub[c] = v
		}
	}
	cred := map[string]any{
		"@context":          []any{credentials.ContextV2, "https://www.w3.org/ns/credentials/undefined-terms/v2"},
		"type":              []any{"VerifiableCredential", typ},
		"credentialSubject": sub,
	}
	key := "directory/" + ent.ID + "/" + l.ID + "/" + strconv.Itoa(l.CredentialN)
	h := sha256.Sum256([]byte(key))
	cctx := ctx
	if s.o.Treasury != nil {
		c, sp, err := s.o.Treasury.Sponsor(ctx, treasury.Payer{Kind: treasury.KindEnterprise, ID: ent.ID, Tier: ent.Tier}, treasury.OpCredentialIssuance, 1)
		if err != nil {
			return err
		}
		defer sp.End()
		cctx = c
	}
	out, err := s.o.Credentials.Issue(cctx, credentials.Issuer{EnterpriseID: ent.ID, DID: ent.ManagedDID, Name: ent.OrganizationName}, cred,
		credentials.IssueOptions{IdempotencyKey: key, RequestHash: hex.EncodeToString(h[:])})
	if err != nil {
		return err
	}
	l.CredentialID, l.CredState = out.Record.ID, credentials.StateActive
	return s.saveLink(ctx, ent.ID, l)
}

// deprovision suspends (or, deleted, marks deleted) a user's account, so
// that no new session can start, then ends its sessions, then changes its
// credential's status. Each step is idempotent: a retry after a failure
// repeats what was done and finishes the rest.
func (s *Service) deprovision(ctx context.Context, ent string, q *queued, deleted bool, credAction string) (string, error) {
	l, err := s.loadLink(ctx, ent, q.ID)
	if err != nil {
		return "link", err
	}
	if l.UserID != "" {
		err := s.timed("member", func() error {
			u, err := s.o.Users.Get(ctx, l.UserID)
			if err != nil {
				return err
			}
			want := "suspended"
			if deleted {
				want = "deleted"
			}
			if u.Status == want {
				return nil
			}
			u.Status, u.UpdatedAt = want, s.o.Now().UTC()
			return s.o.Users.Update(ctx, u)
		})
		if err != nil {
			return "member", err
		}
		if err := s.timed("sessions", func() error { return s.endSessions(ctx, l.UserID) }); err != nil {
			return "sessions", err
		}
	}
	if l.CredentialID != "" && s.o.Credentials != nil {
		want := credentials.StateSuspended
		if credAction == OnDeactivateRevoke {
			want = credentials.StateRevoked
		}
		if l.CredState != want && l.CredState != credentials.StateRevoked {
			err := s.timed("credential_status", func() error {
				_, err := s.o.Credentials.SetStatus(ctx, ent, l.CredentialID, credAction)
				if errors.Is(err, credentials.ErrState) {
					return nil // revoked already: final
				}
				return err
			})
			if err != nil {
				return "credential_status", err
			}
			l.CredState = want
			if err := s.saveLink(ctx, ent, l); err != nil {
				return "link", err
			}
		}
	}
	l.State = StateDeactivated
	if deleted {
		l.State = StateDeleted
	}
	if l.ExternalID == "" {
		l.ExternalID = q.ExternalID
	}
	if err := s.saveLink(ctx, ent, l); err != nil {
		return "link", err
	}
	return "", nil
}

// endSessions revokes every refresh family of the user and denies their
// access tokens for as long as one could still be valid.
func (s *Service) endSessions(ctx context.Context, userID string) error {
	fams, err := s.o.Sessions.RevokeUser(ctx, userID, s.o.Now())
	if err != nil {
		return err
	}
	if s.o.Tokens == nil {
		return nil
	}
	until := s.o.Now().Add(s.o.TokenTTL + time.Minute)
	for _, f := range fams {
		if err := s.o.Tokens.Revoke(ctx, f, until); err != nil {
			return err
		}
	}
	return nil
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// applyGroup records a group and recomputes the roles of the members it
// gained or lost.
func (s *Service) applyGroup(ctx context.Context, ent string, cfg *Config, q *queued) (string, error) {
	old, err := s.loadGroup(ctx, ent, q.ID)
	if err != nil {
		return "group", err
	}
	now := &group{Name: q.Attributes["displayName"], Members: q.MemberIDs}
	if q.Action == "deleted" {
		now = &group{Name: old.Name}
	}
	if now.Name == "" {
		now.Name = old.Name
	}
	if q.Action == "deleted" {
		if err := s.o.KV.Delete(ctx, ns, "g/"+ent+"/"+q.ID, store.KVCond{}); err != nil && !errors.Is(err, store.ErrNotFound) {
			return "group", err
		}
	} else {
		b, _ := json.Marshal(now)
		if _, err := s.o.KV.Put(ctx, ns, "g/"+ent+"/"+q.ID, b, store.KVCond{}); err != nil {
			return "group", err
		}
	}
	renamed := old.Name != now.Name
	for _, m := range union(old.Members, now.Members) {
		in := slices.Contains(now.Members, m)
		was := slices.Contains(old.Members, m)
		if in == was && !renamed {
			continue
		}
		l, err := s.loadLink(ctx, ent, m)
		if err != nil {
			return "link", err
		}
		l.Groups = slices.DeleteFunc(l.Groups, func(g string) bool { return g == q.ID })
		if in {
			l.Groups = append(l.Groups, q.ID)
			sort.Strings(l.Groups)
		}
		if l.Roles, err = s.roles(ctx, ent, cfg, l.Groups); err != nil {
			return "roles", err
		}
		if l.UserID != "" {
			u, err := s.o.Users.Get(ctx, l.UserID)
			if err != nil {
				return "member", err
			}
			u.Roles = append([]string{store.RoleUser, "member"}, l.Roles...)
			u.UpdatedAt = s.o.Now().UTC()
			if err := s.o.Users.Update(ctx, u); err != nil {
				return "member", err
			}
		}
		if err := s.saveLink(ctx, ent, l); err != nil {
			return "link", err
		}
	}
	return "", nil
}

func (s *Service) roles(ctx context.Context, ent string, cfg *Config, groups []string) ([]string, error) {
	var out []string
	for _, gid := range groups {
		g, err := s.loadGroup(ctx, ent, gid)
		if err != nil {
			return nil, err
		}
		if r := cfg.role(g.Name); r != "" && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return out, nil
}

// ---- audit ----

// AuditRecord is one audited directory action.
type AuditRecord struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"` // user | group | config | pull
	Action string    `json:"action"`
	Object string    `json:"object,omitempty"`
	Source string    `json:"source,omitempty"`
	Result string    `json:"result"` // ok | failed
	Step   string    `json:"step,omitempty"`
	Error  string    `json:"error,omitempty"`
}

func (s *Service) audit(ctx context.Context, ent string, r AuditRecord) {
	r.At = s.o.Now().UTC()
	s.log.Info("directory audit", "enterprise", ent, "kind", r.Kind, "action", r.Action, "object", r.Object,
		"source", r.Source, "result", r.Result, "step", r.Step, "error", r.Error)
	b, _ := json.Marshal(r)
	if _, err := s.o.KV.Put(context.WithoutCancel(ctx), ns, "audit/"+ent+"/"+s.nextSeq(), b, store.KVCond{}); err != nil {
		s.log.Error("directory audit record not saved", "enterprise", ent, "err", err)
	}
}

// Audit returns up to limit audit records of an enterprise, oldest first,
// after the record sequence `after`.
func (s *Service) Audit(ctx context.Context, ent, after string, limit int) ([]AuditRecord, error) {
	a := ""
	if after != "" {
		a = "audit/" + ent + "/" + after
	}
	items, err := s.o.KV.List(ctx, ns, "audit/"+ent+"/", a, limit)
	if err != nil {
		return nil, err
	}
	out := make([]AuditRecord, 0, len(items))
	for _, it := range items {
		var r AuditRecord
		if json.Unmarshal(it.Value, &r) == nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// ErrSchema wraps a connector configuration the directory plugin's schema
// refuses.
var ErrSchema = errors.New("directory: the configuration does not match the plugin's schema")

// checkPluginSchema validates c against the plugin's $defs.connector.
func (s *Service) checkPluginSchema(c *Config) error {
	if s.o.PluginSchema == nil {
		return nil
	}
	plugin := c.Plugin
	if plugin == "" {
		plugin = "scim"
	}
	schema, err := s.o.PluginSchema(plugin)
	if err != nil || schema == nil {
		return err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if _, err := pluginpkg.ValidateDef(schema, "connector", b); err != nil {
		return fmt.Errorf("%w: %w", ErrSchema, err)
	}
	return nil
}
