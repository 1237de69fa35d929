package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/ubeu/gateway/host/sso"
)

// samlStateCookie holds the RelayState of a login started in this browser.
const samlStateCookie = "gatewayd_saml_state"

// maxSAMLForm bounds the fields the ACS reads (SAMLResponse, RelayState).
const maxSAMLForm = 512 << 10

func (s *Server) ssoRoutes() {
	r := s.router
	r.add("GET", "/saml/{enterpriseId}/metadata", "saml.metadata", s.samlMetadata)
	r.add("GET", "/saml/{enterpriseId}/login", "saml.login", s.samlLogin)
	r.add("POST", "/saml/{enterpriseId}/acs", "saml.acs", s.samlACS)
	r.add("GET", "/saml/{enterpriseId}/acs", "saml.acs.redirect", s.samlACS)
	r.add("GET", "/api/v1/enterprises/{enterpriseId}/sso", "enterprises.sso.get", s.ssoGet)
	r.add("PUT", "/api/v1/enterprises/{enterpriseId}/sso", "enterprises.sso.put", s.ssoPut)
	r.add("DELETE", "/api/v1/enterprises/{enterpriseId}/sso", "enterprises.sso.delete", s.ssoDelete)
}

// ssoError converts an sso.Error to the API's error.
func ssoError(err error) error {
	var e *sso.Error
	if errors.As(err, &e) {
		return &Error{Status: e.Status, Code: e.Code, Message: e.Message, Details: e.Details}
	}
	return err
}

func (s *Server) ssoService() (*sso.Service, error) {
	if s.SSO == nil {
		return nil, &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "enterprise SSO is not configured on this gateway"}
	}
	return s.SSO, nil
}

// validEnterpriseParam refuses enterprise IDs that cannot exist before any
// lookup (they end up in KV keys and cookie paths).
func validEnterpriseParam(c *Ctx) (string, error) {
	id := c.Param("enterpriseId")
	if len(id) == 0 || len(id) > 128 {
		return "", errNotFound("enterprise")
	}
	for _, ch := range id {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_' || ch == '.') {
			return "", errNotFound("enterprise")
		}
	}
	return id, nil
}

// samlMetadata serves the SP metadata of an enterprise (SAML Metadata
// 2.4.4) for its IdP to import.
func (s *Server) samlMetadata(c *Ctx) error {
	svc, err := s.ssoService()
	if err != nil {
		return err
	}
	ent, err := validEnterpriseParam(c)
	if err != nil {
		return err
	}
	xml, err := svc.Metadata(c, ent)
	if err != nil {
		return ssoError(err)
	}
	c.SetStatusCode(http.StatusOK)
	c.SetContentType("application/samlmetadata+xml")
	c.Response.Header.Set("Cache-Control", "public, max-age=300")
	c.SetBody(xml)
	return nil
}

// samlLogin starts an SP-initiated login: 302 to the IdP with the
// AuthnRequest (HTTP-Redirect binding), and the login's state bound to
// this browser by a cookie scoped to the enterprise's /saml/ path.
func (s *Server) samlLogin(c *Ctx) error {
	svc, err := s.ssoService()
	if err != nil {
		return err
	}
	ent, err := validEnterpriseParam(c)
	if err != nil {
		return err
	}
	force := string(c.QueryArgs().Peek("forceAuthn")) == "true"
	redirect, state, err := svc.Begin(c, ent, force)
	if err != nil {
		return ssoError(err)
	}
	ck := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(ck)
	ck.SetKey(samlStateCookie)
	ck.SetValue(state)
	ck.SetPath("/saml/" + ent + "/")
	ck.SetHTTPOnly(true)
	ck.SetMaxAge(int(sso.StateTTL.Seconds()))
	if strings.HasPrefix(s.Config.CredentialsPublicURL(), "https://") {
		// The IdP posts cross-site: only SameSite=None cookies come along.
		ck.SetSecure(true)
		ck.SetSameSite(fasthttp.CookieSameSiteNoneMode)
	} else {
		ck.SetSameSite(fasthttp.CookieSameSiteLaxMode)
	}
	c.Response.Header.SetCookie(ck)
	c.Response.Header.Set("Cache-Control", "no-store")
	c.Response.Header.Set("Location", redirect)
	c.SetStatusCode(http.StatusFound)
	return nil
}

// samlACS is the assertion consumer service: the IdP's response (HTTP-POST
// binding, or HTTP-Redirect for GET) is validated by the plugin and, for a
// member of the enterprise, answered with the gateway's own session (the
// same token pair as /api/v1/auth/login).
func (s *Server) samlACS(c *Ctx) error {
	svc, err := s.ssoService()
	if err != nil {
		return err
	}
	ent, err := validEnterpriseParam(c)
	if err != nil {
		return err
	}
	r := sso.Response{Form: map[string]string{}, Cookie: string(c.Request.Header.Cookie(samlStateCookie))}
	var args *fasthttp.Args
	if string(c.Method()) == http.MethodGet {
		r.Redirect = true
		args = c.QueryArgs()
	} else {
		ct := string(c.Request.Header.ContentType())
		if mt, _, _ := strings.Cut(ct, ";"); strings.TrimSpace(strings.ToLower(mt)) != "application/x-www-form-urlencoded" {
			return &Error{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedMedia,
				Message: "the assertion consumer service takes an application/x-www-form-urlencoded form (SAML HTTP-POST binding)",
				Details: map[string]any{"contentType": ct}}
		}
		args = c.PostArgs()
	}
	for _, k := range []string{"SAMLResponse", "RelayState"} {
		v := args.Peek(k)
		if len(v) > maxSAMLForm {
			return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Message: k + " is too large"}
		}
		if len(v) > 0 {
			r.Form[k] = string(v)
		}
	}
	if r.Form["SAMLResponse"] == "" {
		return errField("SAMLResponse", "is required")
	}
	l, err := svc.Consume(c, ent, r)
	if err != nil {
		return ssoError(err)
	}
	u := l.User
	u.LastLoginAt = s.Now()
	if err := s.Store.Users().Update(c, u); err != nil {
		return err
	}
	s.Metrics.Logins.WithLabelValues("sso_success").Inc()
	resp, err := s.startSession(c, u)
	if err != nil {
		return err
	}
	// The state is spent: drop the cookie.
	ck := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(ck)
	ck.SetKey(samlStateCookie)
	ck.SetPath("/saml/" + ent + "/")
	ck.SetExpire(fasthttp.CookieExpireDelete)
	c.Response.Header.SetCookie(ck)
	c.Response.Header.Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, resp)
}

func (s *Server) ssoGet(c *Ctx) error {
	svc, err := s.ssoService()
	if err != nil {
		return err
	}
	ent, err := s.readableEnterprise(c)
	if err != nil {
		return err
	}
	v, err := svc.View(c, ent.ID)
	if err != nil {
		return ssoError(err)
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Server) ssoPut(c *Ctx) error {
	svc, err := s.ssoService()
	if err != nil {
		return err
	}
	ent, err := s.managedEnterprise(c)
	if err != nil {
		return err
	}
	var st sso.Settings
	if err := c.Decode(&st); err != nil {
		return err
	}
	v, err := svc.SetConfig(c, ent.ID, st)
	if err != nil {
		return ssoError(err)
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Server) ssoDelete(c *Ctx) error {
	svc, err := s.ssoService()
	if err != nil {
		return err
	}
	ent, err := s.managedEnterprise(c)
	if err != nil {
		return err
	}
	if err := svc.DeleteConfig(c, ent.ID); err != nil {
		return ssoError(err)
	}
	c.SetStatusCode(http.StatusNoContent)
	return nil
}
