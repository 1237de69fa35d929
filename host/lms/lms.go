// Package lms turns course completions of learning management systems
// (Moodle, Canvas, through the "lms" plugins) into Open Badges 3.0
// credentials (design 6.6, POST /api/v1/lms/sync).
//
// An enterprise registers LMS connections (the plugin, the site URL and a
// token, which is sealed at rest) and badge mappings (an LMS course, or one
// activity of it, to a badge template, with a minimum grade and auto-issue).
// A sync asks the connection's plugin for the completions of each mapped
// course, page by page, and issues one badge per learner × course × mapping:
//
//   - Idempotent. The credential ID is derived from enterprise, mapping,
//     course and learner (a name-based UUID), and an "issued" marker is kept
//     per mapping and learner; a learner seen again (in the same page, a
//     later page, a later sync, or after a crash between issuing and
//     recording) is skipped as already issued. The credential store refuses
//     a second record of one ID, so not even a crash can issue twice.
//   - Resumable. The plugin's cursor is stored per mapping only after every
//     completion of its page has been issued, skipped or recorded as
//     failed; a sync that stops halfway (plugin error, crash, shutdown)
//     resumes at that page: no gaps, and no duplicates thanks to the above.
//     A pass over a course ends when the plugin's cursor settles (the ABI:
//     equal to the request's when nothing is new) or is empty; the next
//     sync starts a new pass (a learner listed earlier may complete later).
//   - Learners are matched to gateway accounts by e-mail (the address of an
//     active account; the gateway keeps no separate verification state, so
//     an account's address is the one it registered with). A learner with
//     no account yet is held as a pending claim (its e-mail sealed) and
//     issued when an account with that address exists, at the next sync of
//     the connection or through ReleaseClaims (not yet called on
//     registration: the scheduler's or the next manual sync releases it).
//   - Reported. Every sync writes a report: found, issued, skipped (with
//     reasons: already_issued, duplicate, no_email, pending_claim,
//     below_min_grade, no_grade, auto_issue_off) and failed (with errors),
//     kept per enterprise; progress goes to metrics
//     (gatewayd_lms_completions_total{result}, gatewayd_lms_sync_seconds) and
//     the log (never a token or an e-mail address).
//
// The plugin is told which connection it serves through the secrets
// "base_url" and "token", bound to the context of each call (WithConnection,
// BoundSecrets): one installed plugin serves every enterprise's
// connections, and the netguard allow-list of the plugin still decides
// which hosts it may reach.
package lms

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/credentials"
	"github.com/ubeu/gateway/host/seal"
	"github.com/ubeu/gateway/host/store"
	"github.com/ubeu/gateway/host/treasury"
	"github.com/ubeu/gateway/host/vc/openbadges"
)

// ns is the KV namespace of the package's records.
const ns = "lms"

// Errors. Test them with errors.Is.
var (
	ErrNotFound  = errors.New("lms: not found")
	ErrInvalid   = errors.New("lms: invalid")
	ErrBusy      = errors.New("lms: a sync of this connection is already running")
	ErrNoPlugin  = errors.New("lms: the connection's plugin is not loaded")
	ErrNoLearner = errors.New("lms: no active account with this e-mail")
)

// FieldError is an ErrInvalid naming the offending field.
type FieldError struct {
	Field, Problem string
}

func (e *FieldError) Error() string { return "lms: " + e.Field + ": " + e.Problem }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// Plugins gives the transport of a loaded plugin by name
// (*manager.Manager does).
type Plugins interface {
	Get(name string) (abiv1.Transport, bool)
}

// Directory finds the gateway account of a learner.
type Directory interface {
	// Learner returns the user ID and the DID to issue to of the active
	// account with this (lower-case) e-mail, or an error wrapping
	// ErrNoLearner.
	Learner(ctx context.Context, email string) (userID, did string, err error)
}

// Enterprises gives an enterprise's issuing identity.
type Enterprises interface {
	Get(ctx context.Context, id string) (*store.Enterprise, error)
}

// Options configures a Service.
type Options struct {
	// KV keeps connections, mappings, cursors, markers, claims and
	// reports. Required.
	KV store.KV
	// Sealer seals tokens and the e-mails of pending claims. Required.
	Sealer *seal.Sealer
	// Plugins serves the LMS plugins. Required.
	Plugins Plugins
	// Credentials issues the badges. Required.
	Credentials *credentials.Service
	// Enterprises gives the issuer (managed DID, name, domain). Required.
	Enterprises Enterprises
	// Directory matches learners to accounts. Required.
	Directory Directory
	// Treasury sponsors the anchors of the badges (operation lms_sync);
	// nil issues without a sponsorship step.
	Treasury *treasury.Service
	// PluginTypes maps a connection type to the plugin serving it
	// (default {"moodle": "moodle", "canvas": "canvas"}).
	PluginTypes map[string]string
	// PageSize is asked of the plugin per page (default 100).
	PageSize int
	// MaxPages bounds the pages of one mapping in one sync (default
	// 10,000): a plugin whose cursor never ends is stopped there.
	MaxPages int
	// BatchSize bounds the badges issued in one credential batch (one
	// anchor) (default 500).
	BatchSize int
	// Concurrency is how many mappings of a sync run at once (default 2:
	// one fetches from the LMS while the other issues; more only contend
	// for the cores issuance already uses — on 2 shared cores, 4 gave 57 %
	// of the issuance baseline of the same run, 2 gave 92–106 %).
	Concurrency int
	// Retries of a throttled (RATE_LIMITED) or unavailable plugin call,
	// with exponential back-off from RetryBase (defaults 4 and 500 ms).
	Retries   int
	RetryBase time.Duration
	// MaxReports kept per enterprise (default 100; older ones are deleted).
	MaxReports int
	// IndexKey keys the blind index of pending claims by e-mail (HMAC-SHA256),
	// so that ReleaseClaimsFor finds, when an account is created, the
	// enterprises holding claims for its address. Nil: claims wait for the
	// next sync.
	IndexKey []byte
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	Now        func() time.Time
}

// Service holds the connections and runs syncs. It is safe for
// concurrent use.
type Service struct {
	o   Options
	log *slog.Logger
	now func() time.Time
	m   metrics

	mu      sync.Mutex
	running map[string]bool // connection ID -> a sync runs
}

type metrics struct {
	completions *prometheus.CounterVec
	syncs       *prometheus.CounterVec
	seconds     prometheus.Histogram
}

// New returns a Service.
func New(o Options) (*Service, error) {
	if o.KV == nil || o.Sealer == nil || o.Plugins == nil || o.Credentials == nil || o.Enterprises == nil || o.Directory == nil {
		return nil, errors.New("lms: KV, Sealer, Plugins, Credentials, Enterprises and Directory are required")
	}
	if o.PluginTypes == nil {
		o.PluginTypes = map[string]string{"moodle": "moodle", "canvas": "canvas"}
	}
	if o.PageSize <= 0 {
		o.PageSize = 100
	}
	if o.MaxPages <= 0 {
		o.MaxPages = 10000
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 2
	}
	if o.Retries <= 0 {
		o.Retries = 4
	}
	if o.RetryBase <= 0 {
		o.RetryBase = 500 * time.Millisecond
	}
	if o.MaxReports <= 0 {
		o.MaxReports = 100
	}
	s := &Service{o: o, log: o.Logger, now: o.Now, running: map[string]bool{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.m = metrics{
		completions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatewayd_lms_completions_total",
			Help: "LMS completions handled by syncs, by result (issued, skipped, failed)."}, []string{"result"}),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatewayd_lms_syncs_total",
			Help: "LMS syncs run, by outcome (completed, partial, failed)."}, []string{"outcome"}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gatewayd_lms_sync_seconds",
			Help: "Duration of LMS syncs.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 14)}),
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{s.m.completions, s.m.syncs, s.m.seconds} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("lms: metrics: %w", err)
			}
		}
	}
	return s, nil
}

// Connection is an enterprise's link to one LMS site.
type Connection struct {
	ID           string `json:"id"`
	EnterpriseID string `json:"enterpriseId"`
	// Type is the LMS: "moodle" or "canvas" (a key of Options.PluginTypes).
	Type    string `json:"type"`
	Name    string `json:"name,omitempty"`
	BaseURL string `json:"baseUrl"`
	// TokenSealed is the API token, sealed with the connection ID as
	// associated data. Never shown.
	TokenSealed []byte `json:"tokenSealed"`
	// SyncInterval, if positive, syncs the connection on a schedule.
	SyncInterval time.Duration `json:"syncInterval,omitempty"`
	CreatedAt    time.Time     `json:"createdAt"`
	UpdatedAt    time.Time     `json:"updatedAt"`
	LastSyncAt   time.Time     `json:"lastSyncAt,omitzero"`
	LastReportID string        `json:"lastReportId,omitempty"`
}

// ConnectionInput creates or changes a connection. On update, empty
// fields are left as they are.
type ConnectionInput struct {
	Type         string        `json:"type"`
	Name         string        `json:"name,omitempty"`
	BaseURL      string        `json:"baseUrl"`
	Token        string        `json:"apiKey"`
	SyncInterval time.Duration `json:"-"`
}

// Mapping maps an LMS course (or one activity of it) to a badge.
type Mapping struct {
	ID           string `json:"id"`
	EnterpriseID string `json:"enterpriseId"`
	ConnectionID string `json:"connectionId"`
	CourseID     string `json:"courseId"`
	// ActivityID names one activity (Moodle course module id) whose
	// completion earns the badge instead of the course's.
	ActivityID      string `json:"activityId,omitempty"`
	BadgeTemplateID string `json:"badgeTemplateId"`
	// Achievement is the template applied (or given whole), fixed when the
	// mapping is made, so every learner gets the same achievement.
	Achievement openbadges.AchievementInput `json:"achievement"`
	IssuerDID   string                      `json:"issuerDid"`
	// MinGrade in [0, 1]; 0 asks no grade.
	MinGrade  float64   `json:"minGrade,omitempty"`
	AutoIssue bool      `json:"autoIssue"`
	CreatedAt time.Time `json:"createdAt"`
}

// MappingInput creates a mapping.
type MappingInput struct {
	CourseID        string                       `json:"courseId"`
	ActivityID      string                       `json:"activityId,omitempty"`
	BadgeTemplateID string                       `json:"badgeTemplateId"`
	TemplateFields  *openbadges.TemplateFields   `json:"templateFields,omitempty"`
	Achievement     *openbadges.AchievementInput `json:"achievement,omitempty"`
	IssuerDID       string                       `json:"issuerDid,omitempty"`
	MinGrade        float64                      `json:"minGrade,omitempty"`
	AutoIssue       *bool                        `json:"autoIssue,omitempty"`
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

func connKey(ent, id string) string      { return "conn/" + ent + "/" + id }
func mapKey(ent, conn, id string) string { return "map/" + ent + "/" + conn + "/" + id }
func cursorKey(mapping string) string    { return "cur/" + mapping }
func markerKey(mapping, learner string) string {
	return "iss/" + mapping + "/" + hex.EncodeToString([]byte(learner))
}

// claimByKey is the blind-index entry "enterprise ent holds a claim for
// the address whose keyed hash is h".
func claimByKey(h, ent string) string { return "claimby/" + h + "/" + ent }

// emailHash is the keyed hash of a normalised e-mail address.
func (s *Service) emailHash(email string) string {
	m := hmac.New(sha256.New, s.o.IndexKey)
	m.Write([]byte(strings.ToLower(strings.TrimSpace(email))))
	return hex.EncodeToString(m.Sum(nil))
}

func claimKey(conn, mapping, learner string) string {
	return "claim/" + conn + "/" + mapping + "/" + hex.EncodeToString([]byte(learner))
}
func reportKey(ent, id string) string { return "rep/" + ent + "/" + id }

func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func (s *Service) checkConnection(in ConnectionInput, create bool) error {
	if create || in.Type != "" {
		if _, ok := s.o.PluginTypes[in.Type]; !ok {
			return invalid("type", "must be one of %s", strings.Join(s.types(), ", "))
		}
	}
	if create || in.BaseURL != "" {
		u, err := url.Parse(in.BaseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || len(in.BaseURL) > 2048 {
			return invalid("baseUrl", "must be an http(s) URL of the LMS site, without credentials, query or fragment")
		}
	}
	if create && in.Token == "" {
		return invalid("apiKey", "is required")
	}
	if len(in.Token) > 4096 {
		return invalid("apiKey", "is longer than 4096 bytes")
	}
	if len(in.Name) > 200 {
		return invalid("name", "is longer than 200 bytes")
	}
	if in.SyncInterval != 0 && (in.SyncInterval < time.Minute || in.SyncInterval > 30*24*time.Hour) {
		return invalid("syncInterval", "must be between 1 minute and 30 days, or 0 (on demand)")
	}
	return nil
}

func (s *Service) types() []string {
	var out []string
	for k := range s.o.PluginTypes {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// CreateConnection stores a new connection of enterprise ent.
func (s *Service) CreateConnection(ctx context.Context, ent string, in ConnectionInput) (*Connection, error) {
	if err := s.checkConnection(in, true); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	c := &Connection{ID: newID("lmsc_"), EnterpriseID: ent, Type: in.Type, Name: in.Name,
		BaseURL: strings.TrimRight(in.BaseURL, "/"), SyncInterval: in.SyncInterval, CreatedAt: now, UpdatedAt: now}
	c.TokenSealed = s.o.Sealer.Seal([]byte(in.Token), []byte(c.ID))
	if err := s.putJSON(ctx, connKey(ent, c.ID), c, store.KVCond{Absent: true}); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "lms connection created", "enterprise", ent, "connection", c.ID, "type", c.Type)
	return c, nil
}

// UpdateConnection changes a connection: fields of in left empty stay.
func (s *Service) UpdateConnection(ctx context.Context, ent, id string, in ConnectionInput) (*Connection, error) {
	if err := s.checkConnection(in, false); err != nil {
		return nil, err
	}
	c, ver, err := s.connection(ctx, ent, id)
	if err != nil {
		return nil, err
	}
	if in.Type != "" {
		c.Type = in.Type
	}
	if in.Name != "" {
		c.Name = in.Name
	}
	if in.BaseURL != "" {
		c.BaseURL = strings.TrimRight(in.BaseURL, "/")
	}
	if in.Token != "" {
		c.TokenSealed = s.o.Sealer.Seal([]byte(in.Token), []byte(c.ID))
	}
	if in.SyncInterval != 0 {
		c.SyncInterval = in.SyncInterval
	}
	c.UpdatedAt = s.now().UTC()
	if err := s.putJSON(ctx, connKey(ent, id), c, store.KVCond{Version: ver}); err != nil {
		return nil, err
	}
	return c, nil
}

// Connection returns a connection of ent.
func (s *Service) Connection(ctx context.Context, ent, id string) (*Connection, error) {
	c, _, err := s.connection(ctx, ent, id)
	return c, err
}

func (s *Service) connection(ctx context.Context, ent, id string) (*Connection, uint64, error) {
	if !idRE.MatchString(id) {
		return nil, 0, fmt.Errorf("connection %q: %w", id, ErrNotFound)
	}
	var c Connection
	ver, err := s.getJSON(ctx, connKey(ent, id), &c)
	if err != nil {
		return nil, 0, fmt.Errorf("connection %s: %w", id, err)
	}
	return &c, ver, nil
}

// Connections lists ent's connections.
func (s *Service) Connections(ctx context.Context, ent string) ([]*Connection, error) {
	var out []*Connection
	err := s.each(ctx, "conn/"+ent+"/", func(v []byte) error {
		var c Connection
		if err := json.Unmarshal(v, &c); err != nil {
			return err
		}
		out = append(out, &c)
		return nil
	})
	return out, err
}

// DeleteConnection removes a connection and its mappings (the badges
// issued and the reports stay).
func (s *Service) DeleteConnection(ctx context.Context, ent, id string) error {
	if _, _, err := s.connection(ctx, ent, id); err != nil {
		return err
	}
	ms, err := s.Mappings(ctx, ent, id)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := s.DeleteMapping(ctx, ent, id, m.ID); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	if err := s.o.KV.Delete(ctx, ns, connKey(ent, id), store.KVCond{}); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("lms: %w", err)
	}
	s.log.InfoContext(ctx, "lms connection deleted", "enterprise", ent, "connection", id)
	return nil
}

// token opens a connection's token.
func (s *Service) token(c *Connection) ([]byte, error) {
	t, err := s.o.Sealer.Open(c.TokenSealed, []byte(c.ID))
	if err != nil {
		return nil, fmt.Errorf("lms: token of connection %s: %w", c.ID, err)
	}
	return t, nil
}

// CreateMapping stores a badge mapping for a course of connection conn.
func (s *Service) CreateMapping(ctx context.Context, ent, conn string, in MappingInput) (*Mapping, error) {
	c, _, err := s.connection(ctx, ent, conn)
	if err != nil {
		return nil, err
	}
	if in.CourseID == "" || len(in.CourseID) > 128 || strings.ContainsAny(in.CourseID, ": /") {
		return nil, invalid("courseId", "is required: the LMS course id (at most 128 characters, no ':', '/' or space)")
	}
	if in.ActivityID != "" && (len(in.ActivityID) > 64 || strings.ContainsAny(in.ActivityID, ": /")) {
		return nil, invalid("activityId", "must be an LMS activity id (at most 64 characters, no ':', '/' or space)")
	}
	if in.ActivityID != "" && c.Type != "moodle" {
		return nil, invalid("activityId", "is supported for moodle connections only")
	}
	if in.MinGrade < 0 || in.MinGrade > 1 {
		return nil, invalid("minGrade", "must be in [0, 1]")
	}
	e, err := s.o.Enterprises.Get(ctx, ent)
	if err != nil {
		return nil, fmt.Errorf("lms: enterprise %s: %w", ent, err)
	}
	// Ask the LMS for the course: refuse one it does not have, take its
	// title for the badge. An LMS that cannot be asked now (down, plugin
	// not loaded) does not stop the mapping: the sync will report it.
	lmsCourse, derr := s.describeCourse(ctx, c, in.CourseID)
	if e, ok := errors.AsType[*abiv1.Error](derr); ok && e.Code == abiv1.ErrorCodeNotFound {
		return nil, invalid("courseId", "the LMS has no course %s", in.CourseID)
	}
	if in.IssuerDID != "" && in.IssuerDID != e.ManagedDID {
		return nil, invalid("issuerDid", "must be the enterprise's managed DID")
	}
	m := &Mapping{ID: newID("lmsm_"), EnterpriseID: ent, ConnectionID: conn, CourseID: in.CourseID, ActivityID: in.ActivityID,
		BadgeTemplateID: in.BadgeTemplateID, IssuerDID: e.ManagedDID, MinGrade: in.MinGrade, AutoIssue: true, CreatedAt: s.now().UTC()}
	if in.AutoIssue != nil {
		m.AutoIssue = *in.AutoIssue
	}
	switch {
	case in.Achievement != nil:
		m.Achievement = *in.Achievement
	case in.BadgeTemplateID != "":
		t, ok := openbadges.TemplateByID(in.BadgeTemplateID)
		if !ok {
			return nil, invalid("badgeTemplateId", "unknown template")
		}
		f := openbadges.TemplateFields{}
		if in.TemplateFields != nil {
			f = *in.TemplateFields
		}
		if f.AchievementID == "" {
			f.AchievementID = "urn:uuid:" + uuid.NewSHA1(idSpace, []byte(ent+"|"+conn+"|"+m.ID+"|"+in.CourseID+"|"+in.ActivityID)).String()
		}
		if f.Subject == "" {
			f.Subject = "course " + in.CourseID
			if derr == nil && lmsCourse.Title != "" && len(lmsCourse.Title) <= 200 {
				f.Subject = lmsCourse.Title
			}
		}
		a, err := t.Apply(f)
		if err != nil {
			return nil, badgeError(err)
		}
		m.Achievement = a
	default:
		return nil, invalid("badgeTemplateId", "is required (or achievement)")
	}
	// Build a sample badge now, so a mapping that cannot issue is refused
	// at creation rather than at every sync.
	if _, err := s.build(e, m, "did:example:sample", 0, time.Unix(0, 0), "urn:uuid:"+uuid.NewString()); err != nil {
		return nil, badgeError(err)
	}
	if err := s.putJSON(ctx, mapKey(ent, conn, m.ID), m, store.KVCond{Absent: true}); err != nil {
		return nil, err
	}
	return m, nil
}

func badgeError(err error) error {
	if fes := openbadges.FieldErrors(err); len(fes) > 0 {
		return invalid(fes[0].Field, "%s", fes[0].Reason)
	}
	return err
}

// Mappings lists the mappings of connection conn.
func (s *Service) Mappings(ctx context.Context, ent, conn string) ([]*Mapping, error) {
	var out []*Mapping
	err := s.each(ctx, "map/"+ent+"/"+conn+"/", func(v []byte) error {
		var m Mapping
		if err := json.Unmarshal(v, &m); err != nil {
			return err
		}
		out = append(out, &m)
		return nil
	})
	return out, err
}

// Mapping returns one mapping.
func (s *Service) Mapping(ctx context.Context, ent, conn, id string) (*Mapping, error) {
	if !idRE.MatchString(id) || !idRE.MatchString(conn) {
		return nil, fmt.Errorf("mapping %q: %w", id, ErrNotFound)
	}
	var m Mapping
	if _, err := s.getJSON(ctx, mapKey(ent, conn, id), &m); err != nil {
		return nil, fmt.Errorf("mapping %s: %w", id, err)
	}
	return &m, nil
}

// DeleteMapping removes a mapping and its cursor (its issued markers stay:
// the badges exist).
func (s *Service) DeleteMapping(ctx context.Context, ent, conn, id string) error {
	if _, err := s.Mapping(ctx, ent, conn, id); err != nil {
		return err
	}
	if err := s.o.KV.Delete(ctx, ns, mapKey(ent, conn, id), store.KVCond{}); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("lms: %w", err)
	}
	if err := s.o.KV.Delete(ctx, ns, cursorKey(id), store.KVCond{}); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("lms: %w", err)
	}
	return nil
}

func (s *Service) putJSON(ctx context.Context, key string, v any, cond store.KVCond) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := s.o.KV.Put(ctx, ns, key, b, cond); err != nil {
		return fmt.Errorf("lms: store %s: %w", strings.SplitN(key, "/", 2)[0], err)
	}
	return nil
}

func (s *Service) getJSON(ctx context.Context, key string, v any) (uint64, error) {
	b, ver, err := s.o.KV.Get(ctx, ns, key)
	if errors.Is(err, store.ErrNotFound) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("lms: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return 0, fmt.Errorf("lms: record %s: %w", strings.SplitN(key, "/", 2)[0], err)
	}
	return ver, nil
}

// each calls f with every value under prefix, in key order.
func (s *Service) each(ctx context.Context, prefix string, f func([]byte) error) error {
	after := ""
	for {
		items, err := s.o.KV.List(ctx, ns, prefix, after, 500)
		if err != nil {
			return fmt.Errorf("lms: %w", err)
		}
		for _, it := range items {
			if err := f(it.Value); err != nil {
				return err
			}
		}
		if len(items) < 500 {
			return nil
		}
		after = items[len(items)-1].Key
	}
}

// idSpace is the UUID namespace of the names of LMS badges.
var idSpace = uuid.MustParse("5b8f1f0e-6a57-4c1e-9a49-2f0e8b6f6d11")

// EnsureConnection returns ent's connection of in.Type to in.BaseURL,
// created if there is none; an existing one gets in.Token if it differs
// (design 6.6: a sync request names its LMS by type, base URL and key).
func (s *Service) EnsureConnection(ctx context.Context, ent string, in ConnectionInput) (*Connection, error) {
	if err := s.checkConnection(in, true); err != nil {
		return nil, err
	}
	cs, err := s.Connections(ctx, ent)
	if err != nil {
		return nil, err
	}
	base := strings.TrimRight(in.BaseURL, "/")
	for _, c := range cs {
		if c.Type != in.Type || !strings.EqualFold(c.BaseURL, base) {
			continue
		}
		tok, err := s.token(c)
		if err == nil && subtle.ConstantTimeCompare(tok, []byte(in.Token)) == 1 {
			return c, nil
		}
		return s.UpdateConnection(ctx, ent, c.ID, ConnectionInput{Token: in.Token})
	}
	return s.CreateConnection(ctx, ent, in)
}

// EnsureMapping returns the mapping of conn for the same course, activity,
// template and minimum grade, created from in if there is none.
func (s *Service) EnsureMapping(ctx context.Context, ent, conn string, in MappingInput) (*Mapping, error) {
	ms, err := s.Mappings(ctx, ent, conn)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.CourseID == in.CourseID && m.ActivityID == in.ActivityID && m.BadgeTemplateID == in.BadgeTemplateID &&
			m.MinGrade == in.MinGrade && in.Achievement == nil && (in.AutoIssue == nil || *in.AutoIssue == m.AutoIssue) {
			return m, nil
		}
	}
	return s.CreateMapping(ctx, ent, conn, in)
}

// describeCourse asks the connection's plugin for one course (a short
// call: the LMS may be slow or down, which does not stop a mapping).
func (s *Service) describeCourse(ctx context.Context, c *Connection, course string) (*abiv1.Course, error) {
	plugin := s.o.PluginTypes[c.Type]
	t, ok := s.o.Plugins.Get(plugin)
	if !ok {
		return nil, ErrNoPlugin
	}
	tok, err := s.token(c)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(WithConnection(ctx, plugin, c.BaseURL, tok), 10*time.Second)
	defer cancel()
	r, err := abiv1.NewLMSClient(t).DescribeCourses(cctx, &abiv1.DescribeCoursesRequest{IDs: []string{course}})
	if err != nil {
		return nil, err
	}
	for _, x := range r.Courses {
		if x.ID == course {
			return x, nil
		}
	}
	return nil, abiv1.Errorf(abiv1.ErrorCodeNotFound, "no course %s", course)
}
