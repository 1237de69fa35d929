package httpapi

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ubeu/gateway/host/auth"
	"github.com/ubeu/gateway/host/limits"
	"github.com/ubeu/gateway/host/names"
	"github.com/ubeu/gateway/host/plugin/manager"
	"github.com/ubeu/gateway/host/store"
	"github.com/ubeu/gateway/host/treasury"
)

func (s *Server) routes() {
	r := s.router
	r.add("GET", "/healthz", "health.live", s.healthz)
	r.add("GET", "/readyz", "health.ready", s.readyz)
	r.add("GET", "/metrics", "metrics", s.metrics)
	r.add("GET", "/openapi.json", "openapi", s.openapi)
	r.add("GET", "/.well-known/jwks.json", "jwks", s.jwks)
	r.add("POST", "/api/v1/users/register", "users.register", s.register)
	r.add("POST", "/api/v1/auth/login", "auth.login", s.login)
	r.add("POST", "/api/v1/auth/refresh", "auth.refresh", s.refresh)
	r.add("POST", "/api/v1/auth/logout", "auth.logout", s.logout)
	r.add("GET", "/api/v1/auth/whoami", "auth.whoami", s.whoami)
	r.add("GET", "/api/v1/users/me", "users.me", s.me)
	r.add("GET", "/api/v1/users/{userId}/limits", "users.limits.get", s.limitsGet)
	r.add("POST", "/api/v1/users/{userId}/limits/check", "users.limits.check", s.limitsCheck)
	r.add("GET", "/api/v1/admin/users/{userId}", "admin.users.get", s.adminUserGet)
	r.add("GET", "/api/v1/admin/backup", "admin.backup", s.adminBackup)
	r.add("GET", "/api/v1/admin/plugins", "admin.plugins.list", s.adminPlugins)
	r.add("POST", "/api/v1/admin/plugins/reload", "admin.plugins.reload", s.adminPluginsReload)
	s.identityRoutes()
	s.enterpriseRoutes()
	s.credentialRoutes()
	s.vcapiRoutes()
	s.badgeRoutes()
	s.treasuryRoutes()
	s.lmsRoutes()
	s.scimRoutes()
	s.ssoRoutes()
	s.externalDomainRoutes()
}

func (s *Server) healthz(c *Ctx) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// Ready reports whether the server can serve: the store answers and a
// policy is loaded.
func (s *Server) Ready(c *Ctx) map[string]string {
	checks := map[string]string{"store": "ok", "policy": "ok", "plugins": "ok"}
	if err := s.Store.Ping(c); err != nil {
		checks["store"] = "unavailable"
	}
	if !s.Policy.Ready() {
		checks["policy"] = "not loaded"
	}
	if s.Plugins != nil {
		if err := s.Plugins.Ready(); err != nil {
			checks["plugins"] = err.Error()
		}
	}
	return checks
}

func (s *Server) readyz(c *Ctx) error {
	checks := s.Ready(c)
	status := "ready"
	code := http.StatusOK
	for _, v := range checks {
		if v != "ok" {
			status, code = "not ready", http.StatusServiceUnavailable
		}
	}
	// The treasury warns (a low balance, no fresh exchange rate) without
	// taking the gateway out of service: reads and verification go on.
	if s.Treasury != nil {
		h := s.Treasury.Health()
		checks["treasury"] = h
		if h != "ok" && code == http.StatusOK {
			status = "warning"
		}
	}
	return c.JSON(code, map[string]any{"status": status, "checks": checks, "policyRevision": s.Policy.Revision(), "version": s.Version})
}

func (s *Server) metrics(c *Ctx) error {
	s.metricsH(c.RequestCtx)
	return nil
}

func (s *Server) jwks(c *Ctx) error {
	c.Response.Header.Set("Cache-Control", "public, max-age=300")
	c.SetContentType("application/jwk-set+json")
	c.SetBody(s.Keyring.JWKS())
	return nil
}

// tokenResponse is the answer of register, login and refresh: the design's
// sessionToken as an OAuth-style token pair.
type tokenResponse struct {
	UserID       string `json:"userId"`
	DID          string `json:"did,omitempty"`
	DomainAlias  string `json:"domainAlias,omitempty"`
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	TokenType    string `json:"tokenType"`
	ExpiresIn    int    `json:"expiresIn"`
	Limits       any    `json:"limits,omitempty"`
}

type loginRequest struct {
	Email            string `json:"email"`
	Password         string `json:"password"`
	SubscriptionTier string `json:"subscriptionTier,omitempty"`
	DomainAlias      string `json:"domainAlias,omitempty"` // register only: a .iam name
}

// normaliseEmail validates an address (RFC 5322 addr-spec, no display
// name) and returns it lower-cased.
func normaliseEmail(s string) (string, *Error) {
	if s == "" {
		return "", errField("email", "is required")
	}
	if len(s) > 254 {
		return "", errField("email", "is longer than 254 characters")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", errField("email", "is not a valid e-mail address")
	}
	local, domain, _ := strings.Cut(s, "@")
	if local == "" || len(local) > 64 || !strings.Contains(domain, ".") && domain != "localhost" {
		return "", errField("email", "is not a valid e-mail address")
	}
	return strings.ToLower(s), nil
}

func (s *Server) register(c *Ctx) error {
	var req loginRequest
	if err := c.Decode(&req); err != nil {
		return err
	}
	email, e := normaliseEmail(req.Email)
	if e != nil {
		return e
	}
	tier := req.SubscriptionTier
	if tier == "" {
		tier = "individual"
	}
	if tier != "individual" {
		return errField("subscriptionTier", "must be individual (enterprises register at /api/v1/enterprises/register)")
	}
	if req.DomainAlias != "" {
		if _, err := names.Normalise(req.DomainAlias); err != nil {
			return namesError(err)
		}
	}
	if err := auth.CheckPassword(req.Password, email); err != nil {
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeUnprocessable, Message: "password rejected: " + err.Error(),
			Details: map[string]any{"field": "password", "problem": err.Error()}}
	}
	// One registration of an address at a time, so that the losers of a
	// race are refused before a DID is created and paid for them. (The
	// store's unique e-mail index still decides; this keeps a lost race
	// from leaving an unused topic, DID and fee behind.)
	defer s.regLocks.lock(email)()
	if _, err := s.Store.Users().GetByEmail(c, email); err == nil {
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: "an account with this e-mail already exists", Details: map[string]any{"field": "email"}}
	}
	hash, err := auth.HashPassword(req.Password)
	if err != nil {
		return err
	}
	now := s.Now()
	u := &store.User{ID: uuid.NewString(), Email: email, PasswordHash: hash, Roles: []string{store.RoleUser},
		Tier: tier, Status: "active", CreatedAt: now, UpdatedAt: now, LastLoginAt: now}
	// The identity first: a user record never exists without its DID.
	if err := c.sponsor(userPayer(u), treasury.OpDIDCreate, 1); err != nil {
		return err
	}
	prof, _, err := s.Identity.CreatePrimary(c, u.ID, u.Tier)
	if err != nil {
		return identityError(err)
	}
	if err := s.Store.Users().Create(c, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: "an account with this e-mail already exists", Details: map[string]any{"field": "email"}}
		}
		return err
	}
	resp, err := s.startSession(c, u)
	if err != nil {
		return err
	}
	usage, err := s.Limits.Usage(c, u.ID, u.Tier, now)
	if err != nil {
		return err
	}
	resp.Limits = usage.Limits
	resp.DID = prof.DID
	if req.DomainAlias != "" {
		n, err := s.registerName(c, u.ID, u.Tier, req.DomainAlias, prof.DID)
		if err != nil {
			// The account exists: report the name problem without failing
			// the registration.
			s.Logger.Warn("registration: name not registered", "requestId", c.RequestID, "err", err)
		} else {
			resp.DomainAlias = n.Name
		}
	}
	s.releaseLMSClaims(c, email)
	c.Response.Header.Set("Location", "/api/v1/users/me")
	return c.JSON(http.StatusCreated, resp)
}

// releaseLMSClaims issues, in the background, the badges LMS syncs held
// for this address until it had an account (registration does not wait
// for them).
func (s *Server) releaseLMSClaims(c *Ctx, email string) {
	if s.LMS == nil {
		return
	}
	ctx, rid := context.WithoutCancel(c), c.RequestID
	go func() {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		n, err := s.LMS.ReleaseClaimsFor(ctx, email)
		if err != nil {
			s.Logger.Warn("registration: releasing LMS claims failed; the next sync releases them", "requestId", rid, "err", err)
			return
		}
		if n > 0 {
			s.Logger.Info("registration: LMS badges issued from pending claims", "requestId", rid, "badges", n)
		}
	}()
}

// startSession opens a refresh-token family for u and issues the pair.
func (s *Server) startSession(c *Ctx, u *store.User) (*tokenResponse, error) {
	now := s.Now()
	fam := &store.RefreshFamily{ID: uuid.NewString(), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(s.Config.Auth.RefreshTokenTTL)}
	rt, hash := auth.NewRefreshToken()
	first := &store.RefreshToken{Hash: hash, FamilyID: fam.ID, UserID: u.ID, IssuedAt: now, ExpiresAt: fam.ExpiresAt}
	if err := s.Store.Sessions().Start(c, fam, first); err != nil {
		return nil, err
	}
	return s.issuePair(u, fam.ID, rt)
}

func (s *Server) issuePair(u *store.User, sessionID, refresh string) (*tokenResponse, error) {
	at, exp, err := s.Tokens.Issue(auth.Claims{Subject: u.ID, SessionID: sessionID, Roles: u.Roles, Tenant: u.Tenant})
	if err != nil {
		return nil, err
	}
	return &tokenResponse{UserID: u.ID, AccessToken: at, RefreshToken: refresh, TokenType: "Bearer",
		ExpiresIn: int(time.Until(exp).Round(time.Second).Seconds())}, nil
}

func (s *Server) login(c *Ctx) error {
	var req loginRequest
	if err := c.Decode(&req); err != nil {
		return err
	}
	if req.SubscriptionTier != "" {
		return errField("subscriptionTier", "unknown field for login")
	}
	email, e := normaliseEmail(req.Email)
	if e != nil {
		return e
	}
	if req.Password == "" || len(req.Password) > 1024 {
		return errField("password", "is required")
	}
	rule := s.Config.Auth.LoginAttempts
	ipKey, acctKey := "login-ip:"+c.ClientIP, "login-acct:"+email
	for _, k := range []string{ipKey, acctKey} {
		if r := s.Limiter.Peek(k, rule); !r.Allowed {
			s.Metrics.Logins.WithLabelValues("locked").Inc()
			_, _, _, retry := r.Headers()
			ra := atoiMin1(retry)
			return &Error{Status: http.StatusTooManyRequests, Code: CodeRateLimited,
				Message: "too many failed logins; retry later", RetryAfter: ra,
				Details: map[string]any{"limit": rule.Limit, "window": rule.Window.String()}}
		}
	}
	fail := func() error {
		s.Limiter.Allow(ipKey, rule)
		s.Limiter.Allow(acctKey, rule)
		s.Metrics.Logins.WithLabelValues("bad_credentials").Inc()
		return &Error{Status: http.StatusUnauthorized, Code: CodeInvalidCreds, Message: "e-mail or password is incorrect"}
	}
	u, err := s.Store.Users().GetByEmail(c, email)
	if errors.Is(err, store.ErrNotFound) {
		auth.DummyVerify()
		return fail()
	}
	if err != nil {
		return err
	}
	ok, err := auth.VerifyPassword(u.PasswordHash, req.Password)
	if err != nil || !ok {
		return fail()
	}
	if u.Status != "active" {
		return errForbidden("account is " + u.Status)
	}
	s.Limiter.Reset(acctKey)
	s.Metrics.Logins.WithLabelValues("success").Inc()
	u.LastLoginAt = s.Now()
	if err := s.Store.Users().Update(c, u); err != nil {
		return err
	}
	resp, err := s.startSession(c, u)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, resp)
}

func atoiMin1(s string) int {
	n := 0
	for _, ch := range s {
		if ch < '0' || ch > '9' {
			break
		}
		n = n*10 + int(ch-'0')
	}
	if n < 1 {
		n = 1
	}
	return n
}

type refreshRequest struct {
	RefreshToken string `json:"refreshToken"`
}

func (s *Server) refresh(c *Ctx) error {
	var req refreshRequest
	if err := c.Decode(&req); err != nil {
		return err
	}
	if req.RefreshToken == "" {
		return errField("refreshToken", "is required")
	}
	hash, err := auth.HashRefreshToken(req.RefreshToken)
	if err != nil {
		return errInvalidToken("invalid refresh token")
	}
	now := s.Now()
	next, nextHash := auth.NewRefreshToken()
	tok := &store.RefreshToken{Hash: nextHash, IssuedAt: now}
	fam, err := s.Store.Sessions().Rotate(c, hash, tok, now)
	switch {
	case errors.Is(err, store.ErrTokenReused):
		// A spent token came back: someone holds a copy. The family is
		// revoked; its access tokens are denied until they would expire.
		if fam != nil {
			if rerr := s.Tokens.Revoke(c, fam.ID, now.Add(s.Config.Auth.AccessTokenTTL+time.Minute)); rerr != nil {
				return rerr
			}
		}
		s.Logger.Warn("refresh token reused: session revoked", "requestId", c.RequestID, "session", familyID(fam))
		return &Error{Status: http.StatusUnauthorized, Code: CodeTokenReused, Message: "refresh token already used; the session has been revoked"}
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrRevoked):
		return errInvalidToken("invalid refresh token")
	case err != nil:
		return err
	}
	u, err := s.Store.Users().Get(c, fam.UserID)
	if err != nil {
		return err
	}
	if u.Status != "active" {
		return errForbidden("account is " + u.Status)
	}
	resp, err := s.issuePair(u, fam.ID, next)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, resp)
}

func familyID(f *store.RefreshFamily) string {
	if f == nil {
		return ""
	}
	return f.ID
}

func (s *Server) logout(c *Ctx) error {
	if len(c.PostBody()) > 0 {
		var req refreshRequest
		if err := c.Decode(&req); err != nil {
			return err
		}
	}
	now := s.Now()
	if c.sessionID != "" {
		if err := s.Store.Sessions().RevokeFamily(c, c.sessionID, now); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := s.Tokens.Revoke(c, c.sessionID, now.Add(s.Config.Auth.AccessTokenTTL+time.Minute)); err != nil {
			return err
		}
	}
	if c.tokenID != "" {
		if err := s.Tokens.Revoke(c, c.tokenID, c.tokenExp.Add(time.Minute)); err != nil {
			return err
		}
	}
	c.SetStatusCode(http.StatusNoContent)
	return nil
}

type principalView struct {
	AuthMethod  string   `json:"authMethod"`
	ID          string   `json:"id"`
	Permissions []string `json:"permissions"`
	Roles       []string `json:"roles"`
	Tenant      string   `json:"tenant"`
}

func (s *Server) whoami(c *Ctx) error {
	p := c.Principal
	roles := p.Roles
	if roles == nil {
		roles = []string{}
	}
	return c.JSON(http.StatusOK, principalView{ID: p.ID, Roles: roles, Tenant: p.Tenant, AuthMethod: p.AuthMethod, Permissions: p.Permissions})
}

// userView is the public shape of a user.
type userView struct {
	ID          string    `json:"userId"`
	Email       string    `json:"email"`
	Roles       []string  `json:"roles"`
	Tier        string    `json:"tier"`
	Tenant      string    `json:"tenant,omitempty"`
	Status      string    `json:"status"`
	CreatedAt   time.Time `json:"createdAt"`
	LastLoginAt time.Time `json:"lastLoginAt,omitzero"`
}

func viewUser(u *store.User) userView {
	return userView{ID: u.ID, Email: u.Email, Roles: u.Roles, Tier: u.Tier, Tenant: u.Tenant, Status: u.Status, CreatedAt: u.CreatedAt, LastLoginAt: u.LastLoginAt}
}

func (s *Server) userByID(c *Ctx, id string) (*store.User, error) {
	u, err := s.Store.Users().Get(c, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNotFound("user")
	}
	return u, err
}

func (s *Server) me(c *Ctx) error {
	u, err := s.userByID(c, c.Principal.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewUser(u))
}

func (s *Server) adminUserGet(c *Ctx) error {
	u, err := s.userByID(c, c.Param("userId"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewUser(u))
}

func (s *Server) limitsGet(c *Ctx) error {
	u, err := s.userByID(c, c.Param("userId"))
	if err != nil {
		return err
	}
	usage, err := s.Limits.Usage(c, u.ID, u.Tier, s.Now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, usage)
}

type limitsCheckRequest struct {
	Operation string `json:"operation"`
}

func (s *Server) limitsCheck(c *Ctx) error {
	var req limitsCheckRequest
	if err := c.Decode(&req); err != nil {
		return err
	}
	if req.Operation == "" {
		return errField("operation", "is required")
	}
	op, err := limits.ParseOperation(req.Operation)
	if err != nil {
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeUnprocessable, Message: err.Error(),
			Details: map[string]any{"field": "operation", "problem": "unknown operation"}}
	}
	u, err := s.userByID(c, c.Param("userId"))
	if err != nil {
		return err
	}
	res, err := s.Limits.Check(c, u.ID, u.Tier, op, s.Now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

// adminBackup streams Badger's backup of the whole store.
func (s *Server) adminBackup(c *Ctx) error {
	if s.Backup == nil {
		return errNotFound("backup")
	}
	c.SetContentType("application/octet-stream")
	c.Response.Header.Set("Content-Disposition", `attachment; filename="gatewayd.backup"`)
	reqID := c.RequestID
	// The stream is written after the handler returns: use nothing of c.
	c.SetBodyStreamWriter(func(w *bufio.Writer) {
		n, err := s.Backup(context.Background(), w)
		if err != nil {
			s.Logger.Error("backup failed", "requestId", reqID, "err", err)
			return
		}
		s.Logger.Info("backup streamed", "requestId", reqID, "version", n)
	})
	return nil
}

// adminPlugins lists installed plugins with their status and counters.
func (s *Server) adminPlugins(c *Ctx) error {
	list := []manager.Status{}
	if s.Plugins != nil {
		list = append(list, s.Plugins.List()...)
	}
	return c.JSON(http.StatusOK, map[string]any{"plugins": list})
}

// adminPluginsReload re-reads the lock file now (installs and removes made
// with `gatewayd plugin` are otherwise picked up within seconds).
func (s *Server) adminPluginsReload(c *Ctx) error {
	if s.Plugins == nil {
		return errNotFound("plugins")
	}
	if err := s.Plugins.Reload(c); err != nil {
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeUnprocessable, Message: "reload: " + err.Error()}
	}
	return s.adminPlugins(c)
}
