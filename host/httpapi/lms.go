package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ubeu/gateway/host/lms"
	"github.com/ubeu/gateway/host/vc/openbadges"
)

// LMS integration (design 6.6): an enterprise's API key (permission
// issue_credentials) manages its LMS connections and badge mappings, runs
// syncs (POST /api/v1/lms/sync, the design's body or a stored connection)
// and reads their reports. Tokens are write-only: no answer carries one.
func (s *Server) lmsRoutes() {
	r := s.router
	r.add("POST", "/api/v1/lms/sync", "lms.sync", s.lmsSync)
	r.add("GET", "/api/v1/lms/connections", "lms.connections.list", s.lmsConnectionsList)
	r.add("POST", "/api/v1/lms/connections", "lms.connections.create", s.lmsConnectionsCreate)
	r.add("GET", "/api/v1/lms/connections/{connectionId}", "lms.connections.get", s.lmsConnectionsGet)
	r.add("PATCH", "/api/v1/lms/connections/{connectionId}", "lms.connections.update", s.lmsConnectionsUpdate)
	r.add("DELETE", "/api/v1/lms/connections/{connectionId}", "lms.connections.delete", s.lmsConnectionsDelete)
	r.add("GET", "/api/v1/lms/connections/{connectionId}/mappings", "lms.mappings.list", s.lmsMappingsList)
	r.add("POST", "/api/v1/lms/connections/{connectionId}/mappings", "lms.mappings.create", s.lmsMappingsCreate)
	r.add("GET", "/api/v1/lms/connections/{connectionId}/mappings/{mappingId}", "lms.mappings.get", s.lmsMappingsGet)
	r.add("DELETE", "/api/v1/lms/connections/{connectionId}/mappings/{mappingId}", "lms.mappings.delete", s.lmsMappingsDelete)
	r.add("GET", "/api/v1/lms/reports", "lms.reports.list", s.lmsReportsList)
	r.add("GET", "/api/v1/lms/reports/{reportId}", "lms.reports.get", s.lmsReportsGet)
}

// lmsEnterprise is the enterprise of the request's API key, verified and
// able to issue.
func (s *Server) lmsEnterprise(c *Ctx) (string, error) {
	if s.LMS == nil {
		return "", errUnavailable("the LMS integration is not configured")
	}
	ent, err := s.issuingEnterprise(c, "")
	if err != nil {
		return "", err
	}
	return ent.ID, nil
}

// lmsError maps an lms error to the API's.
func lmsError(err error, what string) error {
	var fe *lms.FieldError
	switch {
	case errors.As(err, &fe):
		return errField(fe.Field, fe.Problem)
	case errors.Is(err, lms.ErrNotFound):
		return errNotFound(what)
	case errors.Is(err, lms.ErrBusy):
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: err.Error(), RetryAfter: 5}
	}
	return err
}

// connectionView is a connection as the API shows it: never the token.
type connectionView struct {
	ID           string    `json:"id"`
	Type         string    `json:"type"`
	Name         string    `json:"name,omitempty"`
	BaseURL      string    `json:"baseUrl"`
	HasAPIKey    bool      `json:"hasApiKey"`
	SyncInterval string    `json:"syncInterval,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
	LastSyncAt   time.Time `json:"lastSyncAt,omitzero"`
	LastReportID string    `json:"lastReportId,omitempty"`
}

func viewConnection(c *lms.Connection) connectionView {
	v := connectionView{ID: c.ID, Type: c.Type, Name: c.Name, BaseURL: c.BaseURL, HasAPIKey: len(c.TokenSealed) > 0,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, LastSyncAt: c.LastSyncAt, LastReportID: c.LastReportID}
	if c.SyncInterval > 0 {
		v.SyncInterval = c.SyncInterval.String()
	}
	return v
}

// connectionRequest creates or changes a connection.
type connectionRequest struct {
	Type         string `json:"type"`
	Name         string `json:"name,omitempty"`
	BaseURL      string `json:"baseUrl"`
	APIKey       string `json:"apiKey"`
	SyncInterval string `json:"syncInterval,omitempty"` // Go duration, e.g. "6h"; "" on demand only
}

func (r connectionRequest) input() (lms.ConnectionInput, error) {
	in := lms.ConnectionInput{Type: r.Type, Name: r.Name, BaseURL: r.BaseURL, Token: r.APIKey}
	if r.SyncInterval != "" {
		d, err := time.ParseDuration(r.SyncInterval)
		if err != nil {
			return in, errField("syncInterval", "must be a duration such as \"6h\"")
		}
		in.SyncInterval = d
	}
	return in, nil
}

func (s *Server) lmsConnectionsList(c *Ctx) error {
	ent, err := s.lmsEnterprise(c)
	if err != nil {
		return err
	}
	cs, err := s.LMS.Connections(c, ent)
	if err != nil {
		return err
	}
	out := make([]connectionView, 0, len(cs))
	for _, x := range cs {
		out = append(out, viewConnection(x))
	}
	return c.JSON(http.StatusOK, map[string]any{"connections": out})
}

func (s *Server) lmsConnectionsCreate(c *Ctx) error {
	var req connectionRequest
	if err := c.Decode(&req); err != nil {
		return err
	}
	ent, err := s.lmsEnterprise(c)
	if err != nil {
		return err
	}
	in, err := req.input()
	if err != nil {
		return err
	}
	conn, err := s.LMS.CreateConnection(c, ent, in)
	if err != nil {
		return lmsError(err, "connection")
	}
	c.Response.Header.Set("Location", "/api/v1/lms/connections/"+conn.ID)
	return c.JSON(http.StatusCreated, viewConnection(conn))
}

func (s *Server) lmsConnectionsGet(c *Ctx) error {
	ent, err := s.lmsEnterprise(c)
	if err != nil {
		return err
	}
	conn, err := s.LMS.Connection(c, ent, c.Param("connectionId"))
	if err != nil {
		return lmsError(err, "connection")
	}
	return c.JSON(http.StatusOK, viewConnection(conn))
}

func (s *Server) lmsConnectionsUpdate(c *Ctx) error {
	var req connectionRequest
	if err := c.Decode(&req); err != nil {
		return err
	}
	ent, err := s.lmsEnterprise(c)
	if err != nil {
		return err
	}
	in, err := req.input()
	if err != nil {
		return err
	}
	conn, err := s.LMS.UpdateConnection(c, ent, c.Param("connectionId"), in)
	if err != nil {
		return lmsError(err, "connection")
	}
	return c.JSON(http.StatusOK, viewConnection(conn))
}

func (s *Server) lmsConnectionsDelete(c *Ctx) error {
	ent, err := s.lmsEnterprise(c)
	if err != nil {
		return err
	}
	if err := s.LMS.DeleteConnection(c, ent, c.Param("connectionId")); err != nil {
		return lmsError(err, "connection")
	}
	c.SetStatusCode(http.StatusNoContent)
	return nil
}

// mappingRequest is a badge mapping: the design's badgeMapping, with an
// optional activity, minimum grade and template fields.
type mappingRequest struct {
	CourseID        string                       `json:"courseId"`
	ActivityID      string                       `json:"activityId,omitempty"`
	BadgeTemplateID string                       `json:"badgeTemplateId"`
	TemplateFields  *openbadges.TemplateFields   `json:"templateFields,omitempty"`
	Achievement     *openbadges.AchievementInput `json:"achievement,omitempty"`
	IssuerDID       string                       `json:"issuerDid,omitempty"`
	MinGrade        float64                      `json:"minGrade,omitempty"`
	AutoIssue       *bool                        `json:"autoIssue,omitempty"`
}

func (r mappingRequest) input() lms.MappingInput {
	return lms.MappingInput{CourseID: r.CourseID, ActivityID: r.ActivityID, BadgeTemplateID: r.BadgeTemplateID,
		TemplateFields: r.TemplateFields, Achievement: r.Achievement, IssuerDID: r.IssuerDID, MinGrade: r.MinGrade, AutoIssue: r.AutoIssue}
}

func (s *Server) lmsMappingsList(c *Ctx) error {
	ent, err := s.lmsEnterprise(c)
	if err != nil {
		return err
	}
	id := c.Param("connectionId")
	if _, err := s.LMS.Connection(c, ent, id); err != nil {
		return lmsError(err, "connection")
	}
	ms, err := s.LMS.Mappings(c, ent, id)
	if err != nil {
		return err
	}
	if ms == nil {
		ms = []*lms.Mapping{}
	}
	return c.JSON(http.StatusOK, map[string]any{"mappings": ms})
}

func (s *Server) lmsMappingsCreate(c *Ctx) error {
	var req mappingRequest
	if err := c.Decode(&req); err != nil {
		return err
	}
	ent, err := s.lmsEnterprise(c)
	if err != nil {
		return err
	}
	m, err := s.LMS.CreateMapping(c, ent, c.Param("connectionId"), req.input())
	if err != nil {
		return lmsError(err, "connection")
	}
	c.Response.Header.Set("Location", "/api/v1/lms/connections/"+m.ConnectionID+"/mappings/"+m.ID)
	return c.JSON(http.StatusCreated, m)
}

func (s *Server) lmsMappingsGet(c *Ctx) error {
	ent, err := s.lmsEnterprise(c)
	if err != nil {
		return err
	}
	m, err := s.LMS.Mapping(c, ent, c.Param("connectionId"), c.Param("mappingId"))
	if err != nil {
		return lmsError(err, "mapping")
	}
	return c.JSON(http.StatusOK, m)
}

func (s *Server) lmsMappingsDelete(c *Ctx) error {
	ent, err := s.lmsEnterprise(c)
	if err != nil {
		return err
	}
	if err := s.LMS.DeleteMapping(c, ent, c.Param("connectionId"), c.Param("mappingId")); err != nil {
		return lmsError(err, "mapping")
	}
	c.SetStatusCode(http.StatusNoContent)
	return nil
}

// lmsSyncRequest is the body of POST /api/v1/lms/sync: the design's
// {lmsConfig, badgeMapping} (the connection and mapping are found or
// made), or a stored connectionId with optional mappingIds. async answers
// 202 at once with the report's ID; otherwise the answer is the report.
type lmsSyncRequest struct {
	LMSConfig *struct {
		Type     string `json:"type"`
		BaseURL  string `json:"baseUrl"`
		APIKey   string `json:"apiKey"`
		CourseID string `json:"courseId,omitempty"`
	} `json:"lmsConfig,omitempty"`
	BadgeMapping *mappingRequest `json:"badgeMapping,omitempty"`
	ConnectionID string          `json:"connectionId,omitempty"`
	MappingIDs   []string        `json:"mappingIds,omitempty"`
	Async        bool            `json:"async,omitempty"`
}

func (s *Server) lmsSync(c *Ctx) error {
	var req lmsSyncRequest
	if err := c.Decode(&req); err != nil {
		return err
	}
	ent, err := s.lmsEnterprise(c)
	if err != nil {
		return err
	}
	connID, mappings := req.ConnectionID, req.MappingIDs
	switch {
	case req.LMSConfig != nil && req.ConnectionID != "":
		return errField("connectionId", "give either lmsConfig or connectionId")
	case req.LMSConfig != nil:
		if req.BadgeMapping == nil {
			return errField("badgeMapping", "is required with lmsConfig")
		}
		if req.LMSConfig.CourseID != "" && req.BadgeMapping.CourseID != "" && req.LMSConfig.CourseID != req.BadgeMapping.CourseID {
			return errField("badgeMapping.courseId", "differs from lmsConfig.courseId")
		}
		if req.BadgeMapping.CourseID == "" {
			req.BadgeMapping.CourseID = req.LMSConfig.CourseID
		}
		conn, err := s.LMS.EnsureConnection(c, ent, lms.ConnectionInput{Type: req.LMSConfig.Type, BaseURL: req.LMSConfig.BaseURL, Token: req.LMSConfig.APIKey})
		if err != nil {
			return prefixField(lmsError(err, "connection"), "lmsConfig.")
		}
		m, err := s.LMS.EnsureMapping(c, ent, conn.ID, req.BadgeMapping.input())
		if err != nil {
			return prefixField(lmsError(err, "connection"), "badgeMapping.")
		}
		connID, mappings = conn.ID, []string{m.ID}
	case req.ConnectionID == "":
		return errField("connectionId", "is required (or lmsConfig and badgeMapping)")
	case req.BadgeMapping != nil:
		return errField("badgeMapping", "is given with lmsConfig only; map courses at /api/v1/lms/connections/{connectionId}/mappings")
	}
	if len(mappings) > 1000 {
		return errField("mappingIds", "at most 1000")
	}
	if _, err := s.LMS.Connection(c, ent, connID); err != nil {
		return lmsError(err, "connection")
	}
	o := lms.SyncOptions{MappingIDs: mappings, Trigger: "api", ReportID: lms.NewReportID(), Quota: s.lmsQuota(c.apiKey.ID, c.apiKey.MonthlyLimit)}
	if req.Async {
		// The sync outlives the request: it runs on the server's context.
		go func() {
			if _, err := s.LMS.Sync(context.WithoutCancel(baseCtx), ent, connID, o); err != nil {
				s.Logger.Warn("lms sync did not start", "connection", connID, "err", err)
			}
		}()
		c.Response.Header.Set("Location", "/api/v1/lms/reports/"+o.ReportID)
		return c.JSON(http.StatusAccepted, map[string]any{"reportId": o.ReportID, "connectionId": connID, "status": lms.StatusRunning})
	}
	rep, err := s.LMS.Sync(c, ent, connID, o)
	if err != nil {
		return lmsError(err, "mapping")
	}
	return c.JSON(http.StatusOK, rep)
}

// prefixField puts prefix before the field of a validation error.
func prefixField(err error, prefix string) error {
	if e, ok := err.(*Error); ok && e.Code == CodeValidation {
		if f, ok := e.Details["field"].(string); ok {
			return errField(prefix+f, e.Details["problem"].(string))
		}
	}
	return err
}

func (s *Server) lmsReportsList(c *Ctx) error {
	ent, err := s.lmsEnterprise(c)
	if err != nil {
		return err
	}
	rs, err := s.LMS.Reports(c, ent, string(c.QueryArgs().Peek("connectionId")))
	if err != nil {
		return err
	}
	if rs == nil {
		rs = []*lms.Report{}
	}
	return c.JSON(http.StatusOK, map[string]any{"reports": rs})
}

func (s *Server) lmsReportsGet(c *Ctx) error {
	ent, err := s.lmsEnterprise(c)
	if err != nil {
		return err
	}
	r, err := s.LMS.Report(c, ent, c.Param("reportId"))
	if err != nil {
		return lmsError(err, "report")
	}
	return c.JSON(http.StatusOK, r)
}

// lmsQuota takes a sync's badges from the API key's monthly issuance limit,
// the counter /api/v1/badges/issue and the credential routes use: a batch
// over the limit is not issued (the report says LIMIT_EXCEEDED; the next
// sync resumes there). Nil when the key has no limit.
func (s *Server) lmsQuota(keyID string, limit int) func(context.Context, int) error {
	if limit <= 0 {
		return nil
	}
	return func(ctx context.Context, n int) error {
		if n == 0 {
			return nil
		}
		now := s.Now().UTC()
		key := "apikey-month/" + keyID + "/" + now.Format("2006-01")
		return s.Store.Counters().Update(ctx, key, func(old []byte) ([]byte, error) {
			var m monthly
			if old != nil {
				if err := json.Unmarshal(old, &m); err != nil {
					return nil, err
				}
			}
			if n > 0 && m.Used+n > limit {
				return nil, fmt.Errorf("monthly_credentials: %d used of %d, %d more asked", m.Used, limit, n)
			}
			m.Used = max(0, m.Used+n)
			return json.Marshal(m)
		})
	}
}
