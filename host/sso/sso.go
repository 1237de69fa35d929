// Package sso is the host side of enterprise single sign-on: each
// enterprise's SAML connector configuration, the login and assertion
// consumer flow through the "sso" plugin (plugins/saml), and the mapping
// of the identity it asserts to the enterprise's member account, for which
// the HTTP layer then issues the gateway's own session.
//
// Configuration. An enterprise's owner (or an admin) sets the connector
// with SetConfig: the settings are decoded strictly, completed with the
// SP's entity ID, ACS and metadata URLs derived from the gateway's public
// URL (<public>/saml/<enterpriseId>/metadata, …/acs), checked against the
// installed plugin's configuration schema ($defs.connector, as
// {"enterprises": {id: connector}}) and stored where the plugin reads it:
// "connector/<enterpriseId>" in the plugin's KV namespace "plugin:saml".
// Host-only settings (just-in-time provisioning) stay in the namespace
// "sso".
//
// Login. Begin asks the plugin for an AuthnRequest (HTTP-Redirect binding)
// with a fresh random RelayState and keeps {enterprise, request ID} under
// that state for StateTTL; the HTTP layer also sets it as a cookie scoped
// to /saml/<enterpriseId>/, so a response is accepted only in the browser
// that started the login (no login CSRF). Consume takes the state back
// (once: it is deleted before the plugin is called), has the plugin
// validate the response against the request ID (InResponseTo), and
// resolves the member: a subject already linked to an account, else the
// account of the asserted e-mail address if it is this enterprise's member
// (as SCIM provisioning creates them: store.User with the enterprise as
// tenant and role "member"), else, if the enterprise allows it, a new
// member created just in time. Suspended or deleted members are refused.
//
// Every login is counted (gatewayd_sso_logins_total{result}), audited (log
// records with audit=sso) and reflected in the connector's status (last
// login, last error, counts).
package sso

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	pluginpkg "github.com/ubeu/gateway/host/plugin/pkg"
	"github.com/ubeu/gateway/host/store"
)

// PluginName is the plugin that serves SAML ("sso" interface).
const PluginName = "saml"

// RoleMember is the role of enterprise member accounts (as SCIM
// provisioning creates them).
const RoleMember = "member"

// StateTTL is how long a started login waits for the IdP's response.
const StateTTL = 10 * time.Minute

// Namespaces of the KV.
const (
	nsHost    = "sso"
	nsPlugin  = "plugin:" + PluginName
	statePref = "sso-state:"
)

// Plugins finds a loaded plugin (host/plugin/manager.Manager).
type Plugins interface {
	Get(name string) (abiv1.Transport, bool)
}

// Options configure a Service.
type Options struct {
	Plugins Plugins
	// PluginsDir is the plugin directory; the installed plugin's config
	// schema is read from it.
	PluginsDir string
	// Schema, if set, returns the config schema instead (tests, embedders).
	Schema func() ([]byte, error)
	Store  store.Store
	// PublicURL is the gateway's public base URL, without a trailing slash.
	PublicURL string
	// MemberTier is the tier of members created just in time (default
	// "individual").
	MemberTier string
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Service runs enterprise SSO. It is safe for concurrent use.
type Service struct {
	o      Options
	logins *prometheus.CounterVec
	mu     sync.Mutex // serialises status updates
}

// New returns a Service.
func New(o Options) (*Service, error) {
	if o.Store == nil {
		return nil, errors.New("sso: no store")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MemberTier == "" {
		o.MemberTier = "individual"
	}
	o.PublicURL = strings.TrimRight(o.PublicURL, "/")
	s := &Service{o: o, logins: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatewayd_sso_logins_total",
		Help: "Enterprise SSO (SAML) logins by result: success, refused (the response failed validation), invalid (not a SAML response), denied (connector disabled, member suspended, no member and no just-in-time provisioning), error.",
	}, []string{"result"})}
	if o.Registerer != nil {
		if err := o.Registerer.Register(s.logins); err != nil {
			return nil, fmt.Errorf("sso metrics: %w", err)
		}
	}
	return s, nil
}

// Error is a failure with the HTTP status and API error code to answer.
type Error struct {
	Status  int
	Code    string
	Message string
	Details map[string]any
	cause   error
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.cause }

// Error codes (those of the HTTP API).
const (
	CodeValidation   = "VALIDATION_ERROR"
	CodeUnauthorized = "UNAUTHORIZED"
	CodeForbidden    = "FORBIDDEN"
	CodeNotFound     = "NOT_FOUND"
	CodeUnavailable  = "SERVICE_UNAVAILABLE"
)

func errf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// URLs of an enterprise's SP.
func (s *Service) urls(ent string) (entityID, acs, metadata, login string) {
	base := s.o.PublicURL + "/saml/" + ent
	return base + "/metadata", base + "/acs", base + "/metadata", base + "/login"
}

// Settings are what an enterprise configures (PUT
// /api/v1/enterprises/{id}/sso); see plugins/saml Connector.
type Settings struct {
	Enabled                    bool              `json:"enabled"`
	IdPMetadataXML             string            `json:"idpMetadataXml,omitempty"`
	IdPMetadataURL             string            `json:"idpMetadataUrl,omitempty"`
	AllowIdPInitiated          bool              `json:"allowIdpInitiated,omitempty"`
	NameIDFormat               string            `json:"nameIdFormat,omitempty"`
	AttributeMapping           map[string]string `json:"attributeMapping,omitempty"`
	SignAuthnRequests          bool              `json:"signAuthnRequests,omitempty"`
	RequireEncryptedAssertions bool              `json:"requireEncryptedAssertions,omitempty"`
	// JITProvisioning creates a member account at the first login of a
	// person the enterprise has not provisioned (off: such logins are
	// refused).
	JITProvisioning bool `json:"jitProvisioning,omitempty"`
}

// hostSettings are the settings only the host uses.
type hostSettings struct {
	Enabled         bool      `json:"enabled"`
	JITProvisioning bool      `json:"jitProvisioning"`
	UpdatedAt       time.Time `json:"updatedAt"`
}

// View is an enterprise's SSO configuration and status as the API shows it.
type View struct {
	EnterpriseID string   `json:"enterpriseId"`
	Settings     Settings `json:"settings"`
	EntityID     string   `json:"entityId"`
	ACSURL       string   `json:"acsUrl"`
	MetadataURL  string   `json:"metadataUrl"`
	LoginURL     string   `json:"loginUrl"`
	Status       Status   `json:"status"`
}

// Status is a connector's record of logins.
type Status struct {
	Logins        int64         `json:"logins"`
	Failures      int64         `json:"failures"`
	LastLoginAt   time.Time     `json:"lastLoginAt,omitzero"`
	LastErrors    []ErrorRecord `json:"lastErrors,omitempty"`
	PluginLoaded  bool          `json:"pluginLoaded"`
	ConfigUpdated time.Time     `json:"configUpdatedAt,omitzero"`
}

// ErrorRecord is one recent failure.
type ErrorRecord struct {
	At      time.Time `json:"at"`
	Code    string    `json:"code"`
	Message string    `json:"message"`
}

// maxLastErrors is how many recent failures a status keeps.
const maxLastErrors = 10

// SetConfig validates and stores an enterprise's settings.
func (s *Service) SetConfig(ctx context.Context, ent string, st Settings) (*View, error) {
	conn, err := s.connector(ent, &st)
	if err != nil {
		return nil, err
	}
	schema, err := s.schema()
	if err != nil {
		return nil, err
	}
	wrapped, _ := json.Marshal(map[string]any{"enterprises": map[string]json.RawMessage{ent: conn}})
	if err := pluginpkg.ValidateConfig(schema, wrapped); err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Code: CodeValidation, Message: "SSO settings do not match the SAML plugin's schema: " + err.Error(), cause: err}
	}
	now := s.o.Now().UTC()
	hs, _ := json.Marshal(hostSettings{Enabled: st.Enabled, JITProvisioning: st.JITProvisioning, UpdatedAt: now})
	kv := s.o.Store.KV()
	prev, _, perr := kv.Get(ctx, nsPlugin, "connector/"+ent)
	if perr != nil && !errors.Is(perr, store.ErrNotFound) {
		return nil, perr
	}
	if _, err := kv.Put(ctx, nsPlugin, "connector/"+ent, conn, store.KVCond{}); err != nil {
		return nil, err
	}
	// The plugin builds the SP from it now (IdP metadata parsed or
	// fetched, signing certificates, sp_key): settings it cannot use are
	// refused here rather than at the first login. Without a loaded plugin
	// they are kept unchecked (the status says so).
	if c, err := s.sso(); err == nil {
		if _, err := c.Metadata(ctx, &abiv1.MetadataRequest{EnterpriseID: ent}); err != nil {
			if prev != nil {
				_, _ = kv.Put(ctx, nsPlugin, "connector/"+ent, prev, store.KVCond{})
			} else {
				_ = kv.Delete(ctx, nsPlugin, "connector/"+ent, store.KVCond{})
			}
			e := pluginError(err)
			if e.Status == http.StatusServiceUnavailable {
				var ae *abiv1.Error
				if errors.As(err, &ae) && ae.Code == abiv1.ErrorCodeUnavailable {
					// The plugin could not use the IdP metadata or key.
					return nil, &Error{Status: http.StatusBadRequest, Code: CodeValidation, Message: "the SAML plugin cannot use these settings: " + ae.Message,
						Details: map[string]any{"field": "idpMetadata"}, cause: err}
				}
			}
			return nil, e
		}
	}
	if _, err := kv.Put(ctx, nsHost, "config/"+ent, hs, store.KVCond{}); err != nil {
		return nil, err
	}
	s.audit(ctx, "sso.config.updated", ent, "enabled", st.Enabled, "jit", st.JITProvisioning, "idpMetadataUrl", st.IdPMetadataURL)
	return s.View(ctx, ent)
}

// connector is the plugin's connector document for settings st.
func (s *Service) connector(ent string, st *Settings) (json.RawMessage, error) {
	entityID, acs, meta, _ := s.urls(ent)
	c := map[string]any{"enabled": st.Enabled, "entityId": entityID, "acsUrl": acs, "metadataUrl": meta}
	add := func(k string, v any, set bool) {
		if set {
			c[k] = v
		}
	}
	add("idpMetadataXml", st.IdPMetadataXML, st.IdPMetadataXML != "")
	add("idpMetadataUrl", st.IdPMetadataURL, st.IdPMetadataURL != "")
	add("allowIdpInitiated", st.AllowIdPInitiated, st.AllowIdPInitiated)
	add("nameIdFormat", st.NameIDFormat, st.NameIDFormat != "")
	add("attributeMapping", st.AttributeMapping, st.AttributeMapping != nil)
	add("signAuthnRequests", st.SignAuthnRequests, st.SignAuthnRequests)
	add("requireEncryptedAssertions", st.RequireEncryptedAssertions, st.RequireEncryptedAssertions)
	return json.Marshal(c)
}

// schema reads the installed SAML plugin's config schema, checking its
// digest against the manifest.
func (s *Service) schema() ([]byte, error) {
	if s.o.Schema != nil {
		return s.o.Schema()
	}
	if s.o.PluginsDir == "" {
		return nil, errf(http.StatusServiceUnavailable, CodeUnavailable, "the SAML plugin is not installed")
	}
	inst, err := pluginpkg.Load(s.o.PluginsDir, PluginName)
	if err != nil {
		return nil, &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "the SAML plugin is not installed", cause: err}
	}
	b, err := inst.ConfigSchema()
	if err != nil {
		return nil, fmt.Errorf("saml plugin %w", err)
	}
	return b, nil
}

// View returns an enterprise's settings, URLs and status; NOT_FOUND if it
// has none.
func (s *Service) View(ctx context.Context, ent string) (*View, error) {
	kv := s.o.Store.KV()
	raw, _, err := kv.Get(ctx, nsPlugin, "connector/"+ent)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errf(http.StatusNotFound, CodeNotFound, "this enterprise has no SSO configuration")
	}
	if err != nil {
		return nil, err
	}
	var st Settings
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, err
	}
	hs, err := s.host(ctx, ent)
	if err != nil {
		return nil, err
	}
	st.JITProvisioning = hs.JITProvisioning
	entityID, acs, meta, login := s.urls(ent)
	v := &View{EnterpriseID: ent, Settings: st, EntityID: entityID, ACSURL: acs, MetadataURL: meta, LoginURL: login, Status: s.status(ctx, ent)}
	v.Status.ConfigUpdated = hs.UpdatedAt
	if s.o.Plugins != nil {
		_, v.Status.PluginLoaded = s.o.Plugins.Get(PluginName)
	}
	return v, nil
}

// DeleteConfig removes an enterprise's SSO configuration.
func (s *Service) DeleteConfig(ctx context.Context, ent string) error {
	kv := s.o.Store.KV()
	err := kv.Delete(ctx, nsPlugin, "connector/"+ent, store.KVCond{})
	if errors.Is(err, store.ErrNotFound) {
		return errf(http.StatusNotFound, CodeNotFound, "this enterprise has no SSO configuration")
	}
	if err != nil {
		return err
	}
	if err := kv.Delete(ctx, nsHost, "config/"+ent, store.KVCond{}); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	s.audit(ctx, "sso.config.deleted", ent)
	return nil
}

func (s *Service) host(ctx context.Context, ent string) (*hostSettings, error) {
	raw, _, err := s.o.Store.KV().Get(ctx, nsHost, "config/"+ent)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errf(http.StatusNotFound, CodeNotFound, "this enterprise has no SSO configuration")
	}
	if err != nil {
		return nil, err
	}
	var hs hostSettings
	if err := json.Unmarshal(raw, &hs); err != nil {
		return nil, err
	}
	return &hs, nil
}

// sso returns the plugin's client, or 503.
func (s *Service) sso() (*abiv1.SSOClient, error) {
	if s.o.Plugins == nil {
		return nil, errf(http.StatusServiceUnavailable, CodeUnavailable, "the SAML plugin is not loaded")
	}
	t, ok := s.o.Plugins.Get(PluginName)
	if !ok {
		return nil, errf(http.StatusServiceUnavailable, CodeUnavailable, "the SAML plugin is not loaded")
	}
	return abiv1.NewSSOClient(t), nil
}

// ready checks that ent exists and has an SSO configuration.
func (s *Service) ready(ctx context.Context, ent string) (*hostSettings, error) {
	if _, err := s.o.Store.Enterprises().Get(ctx, ent); errors.Is(err, store.ErrNotFound) {
		return nil, errf(http.StatusNotFound, CodeNotFound, "enterprise not found")
	} else if err != nil {
		return nil, err
	}
	return s.host(ctx, ent)
}

// Metadata returns the SP metadata XML of ent.
func (s *Service) Metadata(ctx context.Context, ent string) ([]byte, error) {
	if _, err := s.ready(ctx, ent); err != nil {
		return nil, err
	}
	c, err := s.sso()
	if err != nil {
		return nil, err
	}
	r, err := c.Metadata(ctx, &abiv1.MetadataRequest{EnterpriseID: ent})
	if err != nil {
		return nil, pluginError(err)
	}
	return r.XML, nil
}

// loginState is a started login, kept under the sha256 of its RelayState.
type loginState struct {
	Enterprise string    `json:"enterprise"`
	RequestID  string    `json:"requestId"`
	Started    time.Time `json:"started"`
}

func stateKey(state string) string {
	sum := sha256.Sum256([]byte(state))
	return statePref + hex.EncodeToString(sum[:])
}

// Begin starts an SP-initiated login for ent: it returns the IdP URL to
// redirect the browser to and the state to bind to the browser (cookie).
func (s *Service) Begin(ctx context.Context, ent string, forceAuthn bool) (redirect, state string, err error) {
	hs, err := s.ready(ctx, ent)
	if err != nil {
		return "", "", err
	}
	if !hs.Enabled {
		return "", "", errf(http.StatusForbidden, CodeForbidden, "SSO is disabled for this enterprise")
	}
	c, err := s.sso()
	if err != nil {
		return "", "", err
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	state = base64.RawURLEncoding.EncodeToString(b[:])
	_, acs, _, _ := s.urls(ent)
	r, err := c.BeginLogin(ctx, &abiv1.BeginLoginRequest{EnterpriseID: ent, ACSURL: acs, RelayState: state, ForceAuthn: forceAuthn})
	if err != nil {
		e := pluginError(err)
		s.recordFailure(ctx, ent, e)
		return "", "", e
	}
	if r.RedirectURL == "" || r.RequestID == "" {
		return "", "", errf(http.StatusBadGateway, CodeUnavailable, "the SAML plugin answered without a redirect")
	}
	st, _ := json.Marshal(loginState{Enterprise: ent, RequestID: r.RequestID, Started: s.o.Now().UTC()})
	if err := s.o.Store.Cache().Set(ctx, stateKey(state), st, StateTTL); err != nil {
		return "", "", err
	}
	return r.RedirectURL, state, nil
}

// Response is what the assertion consumer service received.
type Response struct {
	// Form holds SAMLResponse and RelayState (the POST form, or the query
	// of the HTTP-Redirect binding).
	Form map[string]string
	// Redirect is set for the HTTP-Redirect binding (GET).
	Redirect bool
	// Cookie is the state cookie the browser sent ("" if none).
	Cookie string
}

// Login is a successful SSO login: the member and what the IdP asserted.
type Login struct {
	User     *store.User
	Identity *abiv1.Identity
	// Created is set when the member was created just in time.
	Created bool
}

// Consume validates an IdP's response for ent through the plugin and
// returns the member to open a session for.
func (s *Service) Consume(ctx context.Context, ent string, r Response) (l *Login, err error) {
	defer func() { s.count(ctx, ent, l, err) }()
	hs, err := s.ready(ctx, ent)
	if err != nil {
		return nil, err
	}
	if !hs.Enabled {
		return nil, errf(http.StatusForbidden, CodeForbidden, "SSO is disabled for this enterprise")
	}
	c, err := s.sso()
	if err != nil {
		return nil, err
	}
	expected := ""
	if rs := r.Form["RelayState"]; rs != "" && len(rs) <= 80 {
		key := stateKey(rs)
		raw, ok, err := s.o.Store.Cache().Get(ctx, key)
		if err != nil {
			return nil, err
		}
		if ok {
			// A login this gateway started: single use, same enterprise,
			// same browser.
			if err := s.o.Store.Cache().Delete(ctx, key); err != nil {
				return nil, err
			}
			var st loginState
			if json.Unmarshal(raw, &st) != nil || st.Enterprise != ent {
				return nil, errf(http.StatusUnauthorized, CodeUnauthorized, "SAML response refused: the login was started for another enterprise")
			}
			if subtle.ConstantTimeCompare([]byte(r.Cookie), []byte(rs)) != 1 {
				return nil, errf(http.StatusUnauthorized, CodeUnauthorized, "SAML response refused: the login was not started in this browser")
			}
			expected = st.RequestID
		}
	}
	_, acs, _, _ := s.urls(ent)
	ct := "application/x-www-form-urlencoded"
	if r.Redirect {
		ct = "application/x-saml-redirect"
	}
	res, err := c.ConsumeResponse(ctx, &abiv1.ConsumeResponseRequest{EnterpriseID: ent, ACSURL: acs, ExpectedRequestID: expected, Form: r.Form, ContentType: ct})
	if err != nil {
		return nil, pluginError(err)
	}
	if res.Identity == nil || res.Identity.Subject == "" {
		return nil, errf(http.StatusBadGateway, CodeUnavailable, "the SAML plugin answered without an identity")
	}
	return s.member(ctx, ent, hs, res.Identity)
}

// pluginError maps a plugin failure to an API error.
func pluginError(err error) *Error {
	var e *abiv1.Error
	if !errors.As(err, &e) {
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "the SAML plugin failed", cause: err}
	}
	msg := e.Message
	switch e.Code {
	case abiv1.ErrorCodeInvalidArgument:
		return &Error{Status: http.StatusBadRequest, Code: CodeValidation, Message: msg, Details: map[string]any{"field": "SAMLResponse"}, cause: err}
	case abiv1.ErrorCodeUnauthenticated:
		return &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: msg, cause: err}
	case abiv1.ErrorCodePermissionDenied:
		return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: msg, cause: err}
	case abiv1.ErrorCodeNotFound:
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: msg, cause: err}
	}
	return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "the SAML plugin failed: " + msg, cause: err}
}

// subjectKey links an IdP subject to a member account.
func subjectKey(ent string, id *abiv1.Identity) string {
	sum := sha256.Sum256([]byte(id.Issuer + "\x00" + id.Subject))
	return "subject/" + ent + "/" + hex.EncodeToString(sum[:])
}

// member finds (or creates just in time) the member account of id.
func (s *Service) member(ctx context.Context, ent string, hs *hostSettings, id *abiv1.Identity) (*Login, error) {
	users := s.o.Store.Users()
	kv := s.o.Store.KV()
	check := func(u *store.User) error {
		if u.Tenant != ent {
			return errf(http.StatusForbidden, CodeForbidden, "the asserted account is not a member of this enterprise")
		}
		if u.Status != "active" {
			return errf(http.StatusForbidden, CodeForbidden, "the member account is %s", u.Status)
		}
		return nil
	}
	link := subjectKey(ent, id)
	if raw, _, err := kv.Get(ctx, nsHost, link); err == nil {
		u, err := users.Get(ctx, string(raw))
		if err == nil {
			if err := check(u); err != nil {
				return nil, err
			}
			return &Login{User: u, Identity: id}, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	email := ""
	if id.Email != "" {
		a, err := mail.ParseAddress(id.Email)
		if err != nil || a.Address != id.Email || len(id.Email) > 254 {
			return nil, errf(http.StatusForbidden, CodeForbidden, "the asserted e-mail address is not valid")
		}
		email = strings.ToLower(id.Email)
	}
	if email == "" {
		return nil, errf(http.StatusForbidden, CodeForbidden, "the IdP asserted no e-mail address and the subject is not linked to a member")
	}
	u, err := users.GetByEmail(ctx, email)
	created := false
	switch {
	case err == nil:
		if err := check(u); err != nil {
			return nil, err
		}
	case errors.Is(err, store.ErrNotFound):
		if !hs.JITProvisioning {
			return nil, errf(http.StatusForbidden, CodeForbidden, "no member of this enterprise has this e-mail address (provision it through SCIM, or enable just-in-time provisioning)")
		}
		now := s.o.Now().UTC()
		u = &store.User{ID: uuid.NewString(), Email: email, Roles: []string{store.RoleUser, RoleMember}, Tier: s.o.MemberTier,
			Tenant: ent, Status: "active", CreatedAt: now, UpdatedAt: now}
		if err := users.Create(ctx, u); errors.Is(err, store.ErrConflict) {
			return nil, errf(http.StatusForbidden, CodeForbidden, "the asserted e-mail address belongs to another account")
		} else if err != nil {
			return nil, err
		}
		created = true
		s.audit(ctx, "sso.member.created", ent, "userId", u.ID, "issuer", id.Issuer)
	default:
		return nil, err
	}
	if _, err := kv.Put(ctx, nsHost, link, []byte(u.ID), store.KVCond{}); err != nil {
		return nil, err
	}
	return &Login{User: u, Identity: id, Created: created}, nil
}

// count records the outcome of a login in the metrics, the status and the
// audit log.
func (s *Service) count(ctx context.Context, ent string, l *Login, err error) {
	if err == nil {
		s.logins.WithLabelValues("success").Inc()
		s.update(ctx, ent, func(st *Status) {
			st.Logins++
			st.LastLoginAt = s.o.Now().UTC()
		})
		s.audit(ctx, "sso.login", ent, "result", "success", "userId", l.User.ID, "issuer", l.Identity.Issuer, "jit", l.Created)
		return
	}
	var e *Error
	result := "error"
	if errors.As(err, &e) {
		switch e.Status {
		case http.StatusBadRequest:
			result = "invalid"
		case http.StatusUnauthorized:
			result = "refused"
		case http.StatusForbidden:
			result = "denied"
		case http.StatusNotFound:
			result = "denied"
		}
	}
	s.logins.WithLabelValues(result).Inc()
	if e != nil && e.Status == http.StatusNotFound {
		return // nothing configured: no status to record
	}
	s.recordFailure(ctx, ent, err)
	s.audit(ctx, "sso.login", ent, "result", result, "reason", err.Error())
}

func (s *Service) recordFailure(ctx context.Context, ent string, err error) {
	code := CodeUnavailable
	var e *Error
	if errors.As(err, &e) {
		code = e.Code
	}
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300]
	}
	s.update(ctx, ent, func(st *Status) {
		st.Failures++
		st.LastErrors = append(st.LastErrors, ErrorRecord{At: s.o.Now().UTC(), Code: code, Message: msg})
		if n := len(st.LastErrors); n > maxLastErrors {
			st.LastErrors = st.LastErrors[n-maxLastErrors:]
		}
	})
}

func (s *Service) status(ctx context.Context, ent string) Status {
	var st Status
	if raw, _, err := s.o.Store.KV().Get(ctx, nsHost, "status/"+ent); err == nil {
		_ = json.Unmarshal(raw, &st)
	}
	return st
}

func (s *Service) update(ctx context.Context, ent string, f func(*Status)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status(ctx, ent)
	f(&st)
	b, _ := json.Marshal(st)
	if _, err := s.o.Store.KV().Put(ctx, nsHost, "status/"+ent, b, store.KVCond{}); err != nil {
		s.o.Logger.Warn("sso status not stored", "enterprise", ent, "err", err)
	}
}

// audit writes an audit record (never the response or any secret).
func (s *Service) audit(ctx context.Context, event, ent string, kv ...any) {
	args := append([]any{"audit", "sso", "event", event, "enterpriseId", ent}, kv...)
	s.o.Logger.InfoContext(ctx, "audit", args...)
}
