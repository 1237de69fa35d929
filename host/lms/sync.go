package lms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/credentials"
	"github.com/ubeu/gateway/host/store"
	"github.com/ubeu/gateway/host/treasury"
	"github.com/ubeu/gateway/host/vc/openbadges"
)

// Skip reasons of a sync report.
const (
	SkipAlreadyIssued = "already_issued"  // a badge of this mapping exists for the learner
	SkipDuplicate     = "duplicate"       // the learner came twice in this sync
	SkipNoEmail       = "no_email"        // the LMS gave no (valid) e-mail address
	SkipNoLearnerID   = "no_learner_id"   // the LMS gave no learner id
	SkipPendingClaim  = "pending_claim"   // no account with this e-mail yet: held as a claim
	SkipBelowMinGrade = "below_min_grade" // the grade is under the mapping's minimum
	SkipNoGrade       = "no_grade"        // a minimum grade is asked and the LMS gave none
	SkipAutoIssueOff  = "auto_issue_off"  // the mapping does not issue automatically
)

// Report statuses.
const (
	StatusRunning   = "running"
	StatusCompleted = "completed" // every mapping synced without error
	StatusPartial   = "partial"   // some mappings or completions failed; the rest went on
	StatusFailed    = "failed"    // nothing could be synced (plugin missing, connection unusable)
)

// maxListed bounds the skips and failures listed one by one in a report
// (they are all counted).
const maxListed = 200

// Report is the outcome of one sync.
type Report struct {
	ID           string    `json:"id"`
	EnterpriseID string    `json:"enterpriseId"`
	ConnectionID string    `json:"connectionId"`
	Trigger      string    `json:"trigger"` // api | schedule
	Status       string    `json:"status"`
	StartedAt    time.Time `json:"startedAt"`
	FinishedAt   time.Time `json:"finishedAt,omitzero"`
	// Found counts the completions the LMS reported; each is issued,
	// skipped or failed.
	Found     int            `json:"found"`
	Issued    int            `json:"issued"`
	Skipped   int            `json:"skipped"`
	Failed    int            `json:"failed"`
	SkippedBy map[string]int `json:"skippedBy"`
	// ClaimsReleased counts the pending claims issued in this sync.
	ClaimsReleased int              `json:"claimsReleased"`
	Mappings       []*MappingReport `json:"mappings"`
	Skips          []Item           `json:"skips,omitempty"`
	Failures       []Item           `json:"failures,omitempty"`
	// Errors are failures that stopped a mapping (its cursor is kept: the
	// next sync resumes there) or the whole sync.
	Errors []SyncError `json:"errors,omitempty"`

	mu sync.Mutex
}

// MappingReport is the part of a sync of one mapping.
type MappingReport struct {
	MappingID string `json:"mappingId"`
	CourseID  string `json:"courseId"`
	// Resumed is true when the sync started at a stored cursor.
	Resumed bool `json:"resumed"`
	Pages   int  `json:"pages"`
	Found   int  `json:"found"`
	Issued  int  `json:"issued"`
	Skipped int  `json:"skipped"`
	Failed  int  `json:"failed"`
	// PassComplete is true when the LMS had no more pages.
	PassComplete bool `json:"passComplete"`
}

// Item is one skipped or failed completion. Learner is the LMS's id of the
// learner (never the e-mail).
type Item struct {
	MappingID string `json:"mappingId"`
	CourseID  string `json:"courseId"`
	Learner   string `json:"learner"`
	Reason    string `json:"reason"`
	Message   string `json:"message,omitempty"`
}

// SyncError is a failure of a plugin call or of a batch.
type SyncError struct {
	MappingID string `json:"mappingId,omitempty"`
	CourseID  string `json:"courseId,omitempty"`
	// Code is the plugin error code (UNAUTHENTICATED, PERMISSION_DENIED,
	// NOT_FOUND, UNAVAILABLE, RATE_LIMITED, ...) or ISSUANCE.
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (r *Report) skip(mr *MappingReport, it Item) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Skipped++
	mr.Skipped++
	r.SkippedBy[it.Reason]++
	if len(r.Skips) < maxListed {
		r.Skips = append(r.Skips, it)
	}
}

func (r *Report) fail(mr *MappingReport, it Item) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Failed++
	mr.Failed++
	if len(r.Failures) < maxListed {
		r.Failures = append(r.Failures, it)
	}
}

func (r *Report) found(mr *MappingReport, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Found += n
	mr.Found += n
}

func (r *Report) issued(mr *MappingReport, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Issued += n
	mr.Issued += n
}

func (r *Report) error(e SyncError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Errors = append(r.Errors, e)
}

// SyncOptions choose what a sync covers.
type SyncOptions struct {
	// MappingIDs limits the sync to these mappings (default: all of the
	// connection).
	MappingIDs []string
	// Trigger is recorded in the report ("api", "schedule").
	Trigger string
	// ClaimsOnly issues the pending claims whose learner now has an
	// account and reads nothing from the LMS.
	ClaimsOnly bool
	// Quota, if set, takes n badges from the caller's allowance before a
	// batch is issued (n < 0 gives back what a failed batch did not
	// issue); an error stops the mapping at its cursor, nothing of the
	// batch issued, and is reported with code LIMIT_EXCEEDED.
	Quota func(ctx context.Context, n int) error
	// ReportID names the report (default: a new ID); NewReportID makes
	// one, for a caller that answers before the sync ends.
	ReportID string
}

// NewReportID returns a fresh report ID.
func NewReportID() string { return newID("lmsr_") }

// cursorState is the stored position of a mapping in its LMS listing.
type cursorState struct {
	Cursor    string    `json:"cursor"`
	Pass      int       `json:"pass"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// marker records a badge issued for a mapping and learner.
type marker struct {
	CredentialID string    `json:"credentialId"`
	At           time.Time `json:"at"`
}

// claim is a completion waiting for its learner's account.
type claim struct {
	MappingID   string    `json:"mappingId"`
	CourseID    string    `json:"courseId"`
	Learner     string    `json:"learner"`
	EmailSealed []byte    `json:"emailSealed"`
	CompletedAt int64     `json:"completedAt"`
	At          time.Time `json:"at"`
}

// syncRun is the state of one sync.
type syncRun struct {
	quota func(ctx context.Context, n int) error
	rep   *Report
	conn  *Connection
	ent   *store.Enterprise
	tr    *abiv1.LMSClient
	ctx   context.Context // bound to the connection
}

// Sync runs a sync of connection id of enterprise ent and returns its
// report, which is also stored. An error is returned only when no sync
// could start (unknown connection, one already running: ErrBusy); failures
// during the sync are in the report.
func (s *Service) Sync(ctx context.Context, ent, id string, o SyncOptions) (*Report, error) {
	c, _, err := s.connection(ctx, ent, id)
	if err != nil {
		return nil, err
	}
	ms, err := s.Mappings(ctx, ent, id)
	if err != nil {
		return nil, err
	}
	if len(o.MappingIDs) > 0 {
		ms = slices.DeleteFunc(ms, func(m *Mapping) bool { return !slices.Contains(o.MappingIDs, m.ID) })
		if len(ms) != len(o.MappingIDs) {
			return nil, fmt.Errorf("mapping of %v: %w", o.MappingIDs, ErrNotFound)
		}
	}
	s.mu.Lock()
	if s.running[id] {
		s.mu.Unlock()
		return nil, ErrBusy
	}
	s.running[id] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.running, id)
		s.mu.Unlock()
	}()
	if o.Trigger == "" {
		o.Trigger = "api"
	}
	start := s.now()
	if o.ReportID == "" {
		o.ReportID = NewReportID()
	} else if !idRE.MatchString(o.ReportID) {
		return nil, invalid("reportId", "must be 1 to 128 of [A-Za-z0-9._-]")
	}
	rep := &Report{ID: o.ReportID, EnterpriseID: ent, ConnectionID: id, Trigger: o.Trigger, Status: StatusRunning,
		StartedAt: start.UTC(), SkippedBy: map[string]int{}, Mappings: []*MappingReport{}}
	log := s.log.With("enterprise", ent, "connection", id, "report", rep.ID)
	log.InfoContext(ctx, "lms sync started", "type", c.Type, "mappings", len(ms), "trigger", o.Trigger)
	if err := s.saveReport(ctx, rep); err != nil {
		return nil, err
	}
	s.runSync(ctx, rep, c, ms, o, log)
	rep.FinishedAt = s.now().UTC()
	switch {
	case rep.Status == StatusFailed:
	case len(rep.Errors) > 0 || rep.Failed > 0:
		rep.Status = StatusPartial
	default:
		rep.Status = StatusCompleted
	}
	s.m.syncs.WithLabelValues(rep.Status).Inc()
	s.m.seconds.Observe(s.now().Sub(start).Seconds())
	sctx := context.WithoutCancel(ctx)
	if err := s.saveReport(sctx, rep); err != nil {
		log.ErrorContext(ctx, "lms sync report not stored", "err", err)
	}
	s.noteSync(sctx, c, rep)
	s.pruneReports(sctx, ent)
	log.InfoContext(ctx, "lms sync finished", "status", rep.Status, "found", rep.Found, "issued", rep.Issued,
		"skipped", rep.Skipped, "failed", rep.Failed, "errors", len(rep.Errors), "seconds", s.now().Sub(start).Seconds())
	return rep, nil
}

func (s *Service) runSync(ctx context.Context, rep *Report, c *Connection, ms []*Mapping, o SyncOptions, log interface {
	WarnContext(context.Context, string, ...any)
}) {
	fail := func(code, msg string) {
		rep.Status = StatusFailed
		rep.error(SyncError{Code: code, Message: msg})
	}
	plugin := s.o.PluginTypes[c.Type]
	t, ok := s.o.Plugins.Get(plugin)
	if !ok {
		fail("PLUGIN_NOT_LOADED", fmt.Sprintf("the %s plugin is not loaded", plugin))
		return
	}
	tok, err := s.token(c)
	if err != nil {
		fail("CONNECTION", "the connection's token cannot be opened")
		return
	}
	e, err := s.o.Enterprises.Get(ctx, c.EnterpriseID)
	if err != nil || e.ManagedDID == "" {
		fail("ENTERPRISE", "the enterprise has no issuing DID")
		return
	}
	run := &syncRun{rep: rep, conn: c, ent: e, tr: abiv1.NewLMSClient(t), ctx: WithConnection(ctx, plugin, c.BaseURL, tok), quota: o.Quota}
	if err := s.releaseClaims(run, ms); err != nil {
		rep.error(SyncError{Code: "CLAIMS", Message: err.Error()})
	}
	if o.ClaimsOnly {
		return
	}
	slices.SortFunc(ms, func(a, b *Mapping) int { return strings.Compare(a.ID, b.ID) })
	mrs := make([]*MappingReport, len(ms))
	for i, m := range ms {
		mrs[i] = &MappingReport{MappingID: m.ID, CourseID: m.CourseID}
	}
	rep.Mappings = mrs
	// Several mappings at once: some fetch from the LMS while others issue
	// (issuance itself signs on every core).
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(s.o.Concurrency, len(ms)) {
		wg.Go(func() {
			for i := range work {
				if err := s.syncMapping(run, ms[i], mrs[i]); err != nil {
					log.WarnContext(ctx, "lms mapping sync stopped", "mapping", ms[i].ID, "err", err)
				}
			}
		})
	}
	for i := range ms {
		if ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	if ctx.Err() != nil {
		rep.error(SyncError{Code: "CANCELLED", Message: "the sync was stopped; the next one resumes from the stored cursors"})
	}
}

// target is the course ID the plugin is asked for.
func target(c *Connection, m *Mapping) string {
	t := m.CourseID
	if m.ActivityID != "" {
		t += ":cm:" + m.ActivityID
	}
	if m.MinGrade > 0 {
		t += ":grade"
	}
	return t
}

// syncMapping pages through one mapping's completions from its stored
// cursor. The cursor is stored after each page is fully handled.
func (s *Service) syncMapping(run *syncRun, m *Mapping, mr *MappingReport) error {
	ctx := run.ctx
	var st cursorState
	ver, err := s.getJSON(ctx, cursorKey(m.ID), &st)
	if err != nil && !errors.Is(err, ErrNotFound) {
		run.rep.error(SyncError{MappingID: m.ID, CourseID: m.CourseID, Code: "STORE", Message: err.Error()})
		return err
	}
	mr.Resumed = st.Cursor != ""
	seenCursors := map[string]bool{st.Cursor: true}
	seenLearners := map[string]bool{}
	tgt := target(run.conn, m)
	for page := 0; ; page++ {
		if page >= s.o.MaxPages {
			err := fmt.Errorf("more than %d pages in one sync: stopped (the next sync resumes here)", s.o.MaxPages)
			run.rep.error(SyncError{MappingID: m.ID, CourseID: m.CourseID, Code: "PAGE_LIMIT", Message: err.Error()})
			return err
		}
		resp, err := s.list(ctx, run.tr, &abiv1.ListCompletionsRequest{CourseID: tgt, SinceCursor: st.Cursor, PageSize: uint32(s.o.PageSize)})
		if err != nil {
			e := abiv1.AsError(err)
			code := e.Code.String()
			if _, ok := errors.AsType[*abiv1.PluginError](err); ok {
				code = "PLUGIN_ERROR"
			}
			run.rep.error(SyncError{MappingID: m.ID, CourseID: m.CourseID, Code: strings.TrimPrefix(code, "ERROR_CODE_"), Message: clip(e.Message, 500)})
			return err
		}
		mr.Pages++
		if err := s.handlePage(run, m, mr, resp.Completions, seenLearners); err != nil {
			code := "ISSUANCE"
			if _, ok := errors.AsType[*quotaError](err); ok {
				code = "LIMIT_EXCEEDED"
			}
			run.rep.error(SyncError{MappingID: m.ID, CourseID: m.CourseID, Code: code, Message: clip(err.Error(), 500)})
			return err
		}
		next := resp.NextCursor
		done := next == "" || next == st.Cursor
		if !done && seenCursors[next] {
			err := fmt.Errorf("the LMS cursor repeats (%s): endless pagination stopped", clip(next, 80))
			run.rep.error(SyncError{MappingID: m.ID, CourseID: m.CourseID, Code: "PAGINATION", Message: err.Error()})
			return err
		}
		seenCursors[next] = true
		if done {
			st = cursorState{Pass: st.Pass + 1}
		} else {
			st.Cursor = next
		}
		st.UpdatedAt = s.now().UTC()
		b, _ := json.Marshal(st)
		nv, err := s.o.KV.Put(context.WithoutCancel(ctx), ns, cursorKey(m.ID), b, store.KVCond{Version: ver, Absent: ver == 0})
		if err != nil {
			run.rep.error(SyncError{MappingID: m.ID, CourseID: m.CourseID, Code: "STORE", Message: "cursor not stored: " + err.Error()})
			return err
		}
		ver = nv
		if done {
			mr.PassComplete = true
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// list calls ListCompletions, backing off and retrying a throttled or
// retryable failure.
func (s *Service) list(ctx context.Context, c *abiv1.LMSClient, req *abiv1.ListCompletionsRequest) (*abiv1.ListCompletionsResponse, error) {
	delay := s.o.RetryBase
	for attempt := 0; ; attempt++ {
		resp, err := c.ListCompletions(ctx, req)
		if err == nil || attempt >= s.o.Retries {
			return resp, err
		}
		var wait time.Duration
		if e, ok := errors.AsType[*abiv1.Error](err); ok {
			if e.Code != abiv1.ErrorCodeRateLimited && !e.Retryable {
				return nil, err
			}
			if ms, perr := strconv.Atoi(e.Details["retry_after_ms"]); perr == nil && ms > 0 {
				wait = min(time.Duration(ms)*time.Millisecond, time.Minute)
			}
		} else if _, ok := errors.AsType[*abiv1.PluginError](err); !ok {
			return nil, err
		}
		wait = max(wait, delay)
		delay *= 2
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// pendingBadge is a completion ready to issue.
type pendingBadge struct {
	learner     string
	user        string
	did         string
	completedAt int64
	claimKey    string // set when it releases a claim
}

// handlePage decides every completion of a page and issues the badges. An
// error means a whole batch could not be issued (the page is not done).
func (s *Service) handlePage(run *syncRun, m *Mapping, mr *MappingReport, comps []*abiv1.Completion, seen map[string]bool) error {
	ctx := run.ctx
	rep := run.rep
	rep.found(mr, len(comps))
	var ready []pendingBadge
	for _, c := range comps {
		it := Item{MappingID: m.ID, CourseID: m.CourseID, Learner: clip(c.LearnerExternalID, 128)}
		skip := func(reason string) {
			it.Reason = reason
			rep.skip(mr, it)
			s.m.completions.WithLabelValues("skipped").Inc()
		}
		if c.LearnerExternalID == "" || len(c.LearnerExternalID) > 256 {
			skip(SkipNoLearnerID)
			continue
		}
		if seen[c.LearnerExternalID] {
			skip(SkipDuplicate)
			continue
		}
		seen[c.LearnerExternalID] = true
		if _, _, err := s.o.KV.Get(ctx, ns, markerKey(m.ID, c.LearnerExternalID)); err == nil {
			skip(SkipAlreadyIssued)
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if m.MinGrade > 0 {
			if !c.HasGrade {
				skip(SkipNoGrade)
				continue
			}
			if c.Grade+1e-9 < m.MinGrade {
				skip(SkipBelowMinGrade)
				continue
			}
		}
		email, ok := normaliseEmail(c.Email)
		if !ok {
			skip(SkipNoEmail)
			continue
		}
		if !m.AutoIssue {
			skip(SkipAutoIssueOff)
			continue
		}
		userID, did, err := s.o.Directory.Learner(ctx, email)
		if errors.Is(err, ErrNoLearner) {
			if err := s.holdClaim(ctx, run.conn, m, c, email); err != nil {
				return err
			}
			skip(SkipPendingClaim)
			continue
		}
		if err != nil {
			it.Reason, it.Message = "learner_lookup", "the account lookup failed"
			rep.fail(mr, it)
			s.m.completions.WithLabelValues("failed").Inc()
			continue
		}
		// The same person under two LMS accounts gets one badge.
		if seen["user:"+userID] {
			skip(SkipDuplicate)
			continue
		}
		seen["user:"+userID] = true
		if _, _, err := s.o.KV.Get(ctx, ns, markerKey(m.ID, "user:"+userID)); err == nil {
			skip(SkipDuplicate)
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		ready = append(ready, pendingBadge{learner: c.LearnerExternalID, user: userID, did: did, completedAt: c.CompletedAtUnix})
	}
	return s.issue(run, m, mr, ready)
}

func normaliseEmail(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || len(s) > 254 {
		return "", false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || !strings.Contains(s, "@") {
		return "", false
	}
	return s, true
}

// credentialID is the ID of the badge of learner for mapping m: the same
// for every sync, so a badge can only be stored once.
func credentialID(ent string, m *Mapping, learner string) string {
	return "urn:uuid:" + uuid.NewSHA1(idSpace, []byte(ent+"|"+m.ID+"|"+m.CourseID+"|"+m.ActivityID+"|"+learner)).String()
}

// build makes the unsigned OpenBadgeCredential of one completion.
func (s *Service) build(e *store.Enterprise, m *Mapping, did string, completedAt int64, now time.Time, id string) (map[string]any, error) {
	ev := openbadges.EvidenceInput{Name: "LMS course completion", Narrative: "Completed course " + m.CourseID}
	if m.ActivityID != "" {
		ev.Narrative = "Completed activity " + m.ActivityID + " of course " + m.CourseID
	}
	if completedAt > 0 {
		ev.Narrative += " on " + time.Unix(completedAt, 0).UTC().Format("2 January 2006")
	}
	prof := openbadges.Profile{ID: e.ManagedDID, Name: e.OrganizationName}
	if e.ParentDomain != "" {
		prof.URL = "https://" + e.ParentDomain
	}
	if prof.Name == "" {
		prof.Name = e.ID
	}
	return openbadges.Build(openbadges.IssueRequest{RecipientDID: did, Achievement: m.Achievement, IssuerDID: e.ManagedDID,
		Evidence: []openbadges.EvidenceInput{ev}}, prof, openbadges.BuildOptions{ID: id, ValidFrom: now})
}

// issue issues the badges of ready in batches and records their markers
// (and releases their claims).
func (s *Service) issue(run *syncRun, m *Mapping, mr *MappingReport, ready []pendingBadge) error {
	for len(ready) > 0 {
		n := min(len(ready), s.o.BatchSize)
		if err := s.issueBatch(run, m, mr, ready[:n]); err != nil {
			return err
		}
		ready = ready[n:]
	}
	return nil
}

func (s *Service) issueBatch(run *syncRun, m *Mapping, mr *MappingReport, batch []pendingBadge) error {
	ctx, rep := run.ctx, run.rep
	now := s.now()
	var items []credentials.BatchItem
	var todo []pendingBadge
	var marks []store.KVWrite
	var claims []string
	for _, p := range batch {
		id := credentialID(run.ent.ID, m, p.learner)
		// A badge stored by a sync that stopped before its markers were
		// written: record it, do not issue again.
		if _, _, err := s.o.Credentials.Get(ctx, id); err == nil {
			marks = append(marks, s.markerWrite(m, p.learner, id, now), s.markerWrite(m, "user:"+p.user, id, now))
			if p.claimKey != "" {
				claims = append(claims, p.claimKey)
			}
			rep.skip(mr, Item{MappingID: m.ID, CourseID: m.CourseID, Learner: p.learner, Reason: SkipAlreadyIssued})
			s.m.completions.WithLabelValues("skipped").Inc()
			continue
		}
		cred, err := s.build(run.ent, m, p.did, p.completedAt, now, id)
		if err != nil {
			rep.fail(mr, Item{MappingID: m.ID, CourseID: m.CourseID, Learner: p.learner, Reason: "invalid_badge", Message: clip(err.Error(), 300)})
			s.m.completions.WithLabelValues("failed").Inc()
			continue
		}
		items = append(items, credentials.BatchItem{Credential: cred, Options: credentials.IssueOptions{OpenBadges: true}})
		todo = append(todo, p)
	}
	if len(items) > 0 && run.quota != nil {
		if err := run.quota(ctx, len(items)); err != nil {
			return &quotaError{err}
		}
	}
	if len(items) > 0 {
		ictx := ctx
		if s.o.Treasury != nil {
			sctx, sp, err := s.o.Treasury.Sponsor(ctx, treasury.Payer{Kind: treasury.KindEnterprise, ID: run.ent.ID, Tier: run.ent.Tier}, treasury.OpLMSSync, int64(len(items)))
			if err != nil {
				return fmt.Errorf("sponsorship refused: %w", err)
			}
			defer sp.End()
			ictx = sctx
		}
		res, err := s.o.Credentials.IssueBatch(ictx, credentials.Issuer{EnterpriseID: run.ent.ID, DID: run.ent.ManagedDID, Name: run.ent.OrganizationName}, items)
		if err != nil {
			if run.quota != nil {
				_ = run.quota(context.WithoutCancel(ctx), -len(items))
			}
			return fmt.Errorf("issue %d badges: %w", len(items), err)
		}
		ok := 0
		for i, r := range res {
			p := todo[i]
			if r.Err != nil {
				rep.fail(mr, Item{MappingID: m.ID, CourseID: m.CourseID, Learner: p.learner, Reason: "issuance", Message: clip(r.Err.Error(), 300)})
				s.m.completions.WithLabelValues("failed").Inc()
				continue
			}
			ok++
			marks = append(marks, s.markerWrite(m, p.learner, r.Issued.Record.ID, now), s.markerWrite(m, "user:"+p.user, r.Issued.Record.ID, now))
			if p.claimKey != "" {
				claims = append(claims, p.claimKey)
				rep.mu.Lock()
				rep.ClaimsReleased++
				rep.mu.Unlock()
			}
		}
		rep.issued(mr, ok)
		s.m.completions.WithLabelValues("issued").Add(float64(ok))
		if run.quota != nil && ok < len(items) {
			_ = run.quota(context.WithoutCancel(ctx), ok-len(items))
		}
	}
	if err := s.writeAll(context.WithoutCancel(ctx), marks); err != nil {
		return fmt.Errorf("record issued badges: %w", err)
	}
	for _, k := range claims {
		if err := s.o.KV.Delete(context.WithoutCancel(ctx), ns, k, store.KVCond{}); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("release claim: %w", err)
		}
	}
	return nil
}

func (s *Service) markerWrite(m *Mapping, learner, id string, now time.Time) store.KVWrite {
	b, _ := json.Marshal(marker{CredentialID: id, At: now.UTC()})
	return store.KVWrite{Key: markerKey(m.ID, learner), Value: b}
}

// writeAll writes ws in one transaction when the store can.
func (s *Service) writeAll(ctx context.Context, ws []store.KVWrite) error {
	if len(ws) == 0 {
		return nil
	}
	if b, ok := s.o.KV.(store.KVBatch); ok {
		for len(ws) > 0 {
			n := min(len(ws), 1000)
			if err := b.PutBatch(ctx, ns, ws[:n]); err != nil {
				return err
			}
			ws = ws[n:]
		}
		return nil
	}
	for _, w := range ws {
		if _, err := s.o.KV.Put(ctx, ns, w.Key, w.Value, w.Cond); err != nil {
			return err
		}
	}
	return nil
}

// holdClaim stores a completion whose learner has no account yet.
func (s *Service) holdClaim(ctx context.Context, c *Connection, m *Mapping, comp *abiv1.Completion, email string) error {
	k := claimKey(c.ID, m.ID, comp.LearnerExternalID)
	cl := claim{MappingID: m.ID, CourseID: m.CourseID, Learner: comp.LearnerExternalID, CompletedAt: comp.CompletedAtUnix, At: s.now().UTC(),
		EmailSealed: s.o.Sealer.Seal([]byte(email), []byte(k))}
	if err := s.putJSON(ctx, k, cl, store.KVCond{}); err != nil {
		return err
	}
	if s.o.IndexKey != nil {
		if _, err := s.o.KV.Put(ctx, ns, claimByKey(s.emailHash(email), c.EnterpriseID), []byte{}, store.KVCond{}); err != nil {
			return fmt.Errorf("lms: claim index: %w", err)
		}
	}
	return nil
}

// ReleaseClaimsFor issues the pending claims of the learner with this
// e-mail address in every enterprise that holds one (found through the
// blind index; Options.IndexKey), as ReleaseClaims does per enterprise.
// Call it when an account is created. It returns how many badges were
// issued.
func (s *Service) ReleaseClaimsFor(ctx context.Context, email string) (int, error) {
	if s.o.IndexKey == nil || email == "" {
		return 0, nil
	}
	prefix := "claimby/" + s.emailHash(email) + "/"
	items, err := s.o.KV.List(ctx, ns, prefix, "", 1000)
	if err != nil {
		return 0, fmt.Errorf("lms: claim index: %w", err)
	}
	n := 0
	for _, it := range items {
		ent := strings.TrimPrefix(it.Key, prefix)
		k, err := s.ReleaseClaims(ctx, ent)
		n += k
		if err != nil {
			return n, err
		}
		// A claim still waiting (its sync was busy, or it failed) is taken
		// by the next sync, which releases claims first.
		if err := s.o.KV.Delete(ctx, ns, it.Key, store.KVCond{}); err != nil && !errors.Is(err, store.ErrNotFound) {
			return n, fmt.Errorf("lms: claim index: %w", err)
		}
	}
	return n, nil
}

// releaseClaims issues the pending claims of the connection whose learner
// now has an account.
func (s *Service) releaseClaims(run *syncRun, ms []*Mapping) error {
	ctx := run.ctx
	byID := map[string]*Mapping{}
	for _, m := range ms {
		byID[m.ID] = m
	}
	ready := map[string][]pendingBadge{}
	prefix := "claim/" + run.conn.ID + "/"
	after := ""
	for {
		items, err := s.o.KV.List(ctx, ns, prefix, after, 500)
		if err != nil {
			return err
		}
		for _, it := range items {
			var cl claim
			if json.Unmarshal(it.Value, &cl) != nil || byID[cl.MappingID] == nil {
				continue
			}
			email, err := s.o.Sealer.Open(cl.EmailSealed, []byte(it.Key))
			if err != nil {
				continue
			}
			userID, did, err := s.o.Directory.Learner(ctx, string(email))
			if err != nil {
				continue
			}
			ready[cl.MappingID] = append(ready[cl.MappingID], pendingBadge{learner: cl.Learner, user: userID, did: did, completedAt: cl.CompletedAt, claimKey: it.Key})
		}
		if len(items) < 500 {
			break
		}
		after = items[len(items)-1].Key
	}
	for id, ps := range ready {
		m := byID[id]
		mr := &MappingReport{MappingID: m.ID, CourseID: m.CourseID}
		if err := s.issue(run, m, mr, ps); err != nil {
			return err
		}
	}
	return nil
}

// ReleaseClaims issues, for every connection of enterprise ent, the
// pending claims whose learner now has an account, without reading the
// LMS (a sync does this first too); each connection gets a report with
// trigger "claims". It returns how many badges were issued. Call it when
// an account is created to issue its learner's badges at once.
func (s *Service) ReleaseClaims(ctx context.Context, ent string) (int, error) {
	cs, err := s.Connections(ctx, ent)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range cs {
		rep, err := s.Sync(ctx, ent, c.ID, SyncOptions{Trigger: "claims", ClaimsOnly: true})
		if err != nil {
			if errors.Is(err, ErrBusy) {
				continue
			}
			return n, err
		}
		n += rep.ClaimsReleased
	}
	return n, nil
}

func (s *Service) saveReport(ctx context.Context, r *Report) error {
	r.mu.Lock()
	b, err := json.Marshal(r)
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if _, err := s.o.KV.Put(ctx, ns, reportKey(r.EnterpriseID, r.ID), b, store.KVCond{}); err != nil {
		return fmt.Errorf("lms: store report: %w", err)
	}
	return nil
}

func (s *Service) noteSync(ctx context.Context, c *Connection, r *Report) {
	for range 3 {
		cur, ver, err := s.connection(ctx, c.EnterpriseID, c.ID)
		if err != nil {
			return
		}
		cur.LastSyncAt, cur.LastReportID = r.StartedAt, r.ID
		if err := s.putJSON(ctx, connKey(c.EnterpriseID, c.ID), cur, store.KVCond{Version: ver}); err == nil || !errors.Is(err, store.ErrConflict) {
			return
		}
	}
}

// Report returns a stored sync report of ent.
func (s *Service) Report(ctx context.Context, ent, id string) (*Report, error) {
	if !idRE.MatchString(id) {
		return nil, fmt.Errorf("report %q: %w", id, ErrNotFound)
	}
	var r Report
	if _, err := s.getJSON(ctx, reportKey(ent, id), &r); err != nil {
		return nil, fmt.Errorf("report %s: %w", id, err)
	}
	return &r, nil
}

// Reports lists ent's reports, newest first, optionally of one connection.
func (s *Service) Reports(ctx context.Context, ent, conn string) ([]*Report, error) {
	var out []*Report
	err := s.each(ctx, "rep/"+ent+"/", func(v []byte) error {
		var r Report
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		if conn == "" || r.ConnectionID == conn {
			r.Skips, r.Failures = nil, nil
			out = append(out, &r)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b *Report) int { return b.StartedAt.Compare(a.StartedAt) })
	return out, err
}

func (s *Service) pruneReports(ctx context.Context, ent string) {
	rs, err := s.Reports(ctx, ent, "")
	if err != nil || len(rs) <= s.o.MaxReports {
		return
	}
	for _, r := range rs[s.o.MaxReports:] {
		_ = s.o.KV.Delete(ctx, ns, reportKey(ent, r.ID), store.KVCond{})
	}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// quotaError is a batch the caller's allowance refused.
type quotaError struct{ err error }

func (e *quotaError) Error() string { return "usage limit: " + e.err.Error() }
func (e *quotaError) Unwrap() error { return e.err }
