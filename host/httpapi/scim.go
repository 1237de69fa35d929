package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/directory"
)

// scimPermission is the API-key permission of the SCIM routes: the key an
// enterprise gives its identity provider (Okta, Entra ID) as the bearer
// token of its SCIM connector.
const scimPermission = "scim"

// scimRoutes wires /scim/v2/{enterpriseId}/… to the enterprise's directory
// plugin and the connector's configuration and status.
func (s *Server) scimRoutes() {
	r := s.router
	const col, item = "/scim/v2/{enterpriseId}/{resource}", "/scim/v2/{enterpriseId}/{resource}/{id}"
	r.add("GET", col, "scim.list", s.scimForward)
	r.add("POST", col, "scim.create", s.scimForward)
	r.add("GET", item, "scim.get", s.scimForward)
	r.add("POST", item, "scim.search", s.scimForward) // POST /Users/.search
	r.add("PUT", item, "scim.replace", s.scimForward)
	r.add("PATCH", item, "scim.patch", s.scimForward)
	r.add("DELETE", item, "scim.delete", s.scimForward)
	r.add("GET", "/api/v1/enterprises/{enterpriseId}/directory", "enterprises.directory.get", s.directoryGet)
	r.add("PUT", "/api/v1/enterprises/{enterpriseId}/directory", "enterprises.directory.put", s.directoryPut)
	r.add("GET", "/api/v1/enterprises/{enterpriseId}/directory/members", "enterprises.directory.members", s.directoryMembers)
	r.add("POST", "/api/v1/enterprises/{enterpriseId}/directory/pull", "enterprises.directory.pull", s.directoryPull)
}

// scimError writes a SCIM error body (RFC 7644 section 3.12).
func scimError(c *Ctx, status int, detail string) error {
	c.SetStatusCode(status)
	c.SetContentType("application/scim+json")
	b, _ := json.Marshal(map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:Error"},
		"status": strconv.Itoa(status), "detail": detail})
	c.SetBody(b)
	return nil
}

// scimHeaders are the request headers a directory plugin sees.
var scimHeaders = []string{"Content-Type", "If-Match", "If-None-Match"}

// scimForward hands a SCIM request to the enterprise's directory plugin.
// The policy has already checked that the API key holds the scim
// permission and belongs to the enterprise of the path.
func (s *Server) scimForward(c *Ctx) error {
	ent := c.Param("enterpriseId")
	if c.apiKey == nil || c.apiKey.EnterpriseID != ent {
		return errForbidden("not your enterprise")
	}
	if s.Directory == nil {
		return scimError(c, http.StatusServiceUnavailable, "SCIM provisioning is not configured on this gateway")
	}
	path := "/" + c.Param("resource")
	if id := c.Param("id"); id != "" {
		path += "/" + id
	}
	hdr := map[string]string{"X-SCIM-Base-URL": s.publicBase(c) + "/scim/v2/" + ent}
	for _, h := range scimHeaders {
		if v := c.Request.Header.Peek(h); len(v) > 0 {
			hdr[h] = string(v)
		}
	}
	res, err := s.Directory.SCIM(c, directory.SCIMRequest{Enterprise: ent, Method: string(c.Method()), Path: path,
		Query: string(c.URI().QueryString()), Headers: hdr, Body: c.PostBody()})
	switch {
	case errors.Is(err, directory.ErrDisabled):
		return scimError(c, http.StatusForbidden, "the enterprise's directory connector is disabled")
	case errors.Is(err, directory.ErrNoPlugin):
		return scimError(c, http.StatusServiceUnavailable, "the directory plugin is not loaded")
	case err != nil:
		var pe *abiv1.Error
		if errors.As(err, &pe) && pe.Code == abiv1.ErrorCodeInvalidArgument {
			return scimError(c, http.StatusBadRequest, pe.Message)
		}
		s.Logger.Error("SCIM request failed", "requestId", c.RequestID, "enterprise", ent, "err", err)
		return scimError(c, http.StatusServiceUnavailable, "the directory plugin failed; retry later")
	}
	status := int(res.Status)
	if status < 200 || status > 599 {
		status = http.StatusBadGateway
	}
	c.SetStatusCode(status)
	for _, h := range res.Headers {
		if len(h.Values) == 0 {
			continue
		}
		switch strings.ToLower(h.Name) {
		case "content-type", "etag", "location":
			c.Response.Header.Set(h.Name, h.Values[0])
		}
	}
	c.SetBody(res.Body)
	return nil
}

// publicBase is the gateway's external URL for meta.location: the
// configured public URL, else the scheme and Host of the request.
func (s *Server) publicBase(c *Ctx) string {
	if u := strings.TrimRight(s.Config.Credentials.PublicURL, "/"); u != "" {
		return u
	}
	scheme := "http"
	if s.Config.TLS.Enabled() {
		scheme = "https"
	}
	return scheme + "://" + string(c.Host())
}

func (s *Server) needDirectory() error {
	if s.Directory == nil {
		return errUnavailable("directory provisioning is not configured")
	}
	return nil
}

type directoryView struct {
	EnterpriseID string                  `json:"enterpriseId"`
	Config       *directory.Config       `json:"config"`
	PullTokenSet bool                    `json:"pullTokenSet"`
	Status       directory.Status        `json:"status"`
	Audit        []directory.AuditRecord `json:"audit"`
}

// directoryGet shows the connector's configuration (the pull token never),
// its status, last errors and audit trail.
func (s *Server) directoryGet(c *Ctx) error {
	if err := s.needDirectory(); err != nil {
		return err
	}
	ent, err := s.readableEnterprise(c)
	if err != nil {
		return err
	}
	cfg, tokenSet, err := s.Directory.Config(c, ent.ID)
	if err != nil {
		return err
	}
	audit, err := s.Directory.Audit(c, ent.ID, string(c.QueryArgs().Peek("auditAfter")), 100)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, directoryView{EnterpriseID: ent.ID, Config: cfg, PullTokenSet: tokenSet,
		Status: s.Directory.Status(c, ent.ID), Audit: audit})
}

// directoryPut replaces the connector's configuration (owner or admin).
func (s *Server) directoryPut(c *Ctx) error {
	if err := s.needDirectory(); err != nil {
		return err
	}
	if e := checkJSONType(c); e != nil {
		return e
	}
	ent, err := s.managedEnterprise(c)
	if err != nil {
		return err
	}
	cfg, err := directory.ParseConfig(c.PostBody())
	if err != nil {
		return errValidation("invalid directory configuration: "+err.Error(), map[string]any{"problem": err.Error()})
	}
	if err := s.Directory.SetConfig(c, ent.ID, cfg); err != nil {
		if errors.Is(err, directory.ErrSchema) {
			return errValidation("invalid directory configuration: "+err.Error(), map[string]any{"problem": err.Error()})
		}
		return err
	}
	return s.directoryGet(c)
}

func checkJSONType(c *Ctx) *Error {
	ct := strings.ToLower(string(c.Request.Header.ContentType()))
	if ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &Error{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedMedia, Message: "the body must be application/json"}
	}
	return nil
}

// directoryMembers lists the provisioned users: member account, DID,
// credential and state.
func (s *Server) directoryMembers(c *Ctx) error {
	if err := s.needDirectory(); err != nil {
		return err
	}
	ent, err := s.readableEnterprise(c)
	if err != nil {
		return err
	}
	limit := 100
	if v := c.QueryArgs().Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > 1000 {
			return errField("limit", "must be 1 to 1000")
		}
		limit = n
	}
	ms, err := s.Directory.Members(c, ent.ID, string(c.QueryArgs().Peek("after")), limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"members": ms})
}

// directoryPull runs the connector's pull now.
func (s *Server) directoryPull(c *Ctx) error {
	if err := s.needDirectory(); err != nil {
		return err
	}
	ent, err := s.managedEnterprise(c)
	if err != nil {
		return err
	}
	n, err := s.Directory.Pull(c, ent.ID)
	switch {
	case errors.Is(err, directory.ErrNoPull):
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: "no pull is configured"}
	case errors.Is(err, directory.ErrDisabled), errors.Is(err, directory.ErrNoPlugin):
		return errUnavailable(err.Error())
	case err != nil:
		return &Error{Status: http.StatusBadGateway, Code: "PULL_FAILED", Message: "the pull failed: " + err.Error(), Details: map[string]any{"events": n}}
	}
	return c.JSON(http.StatusOK, map[string]any{"events": n, "status": s.Directory.Status(c, ent.ID)})
}
