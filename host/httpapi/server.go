// Package httpapi is gatewayd's HTTP core on fasthttp: the router, the one
// middleware chain every request runs through, and the API handlers.
//
// The chain, in order: request ID, security headers, panic recovery, CORS,
// routing, authentication (JWT access token or enterprise API key), the
// OPA decision, the API rate limit of the class the policy names, the
// handler, then the access log line and metrics. Body size and timeouts are
// enforced by the fasthttp server itself.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/ubeu/gateway/host/auth"
	"github.com/ubeu/gateway/host/config"
	"github.com/ubeu/gateway/host/credentials"
	"github.com/ubeu/gateway/host/directory"
	"github.com/ubeu/gateway/host/enterprise/dnsverify"
	"github.com/ubeu/gateway/host/identity"
	"github.com/ubeu/gateway/host/limits"
	"github.com/ubeu/gateway/host/lms"
	"github.com/ubeu/gateway/host/metrics"
	"github.com/ubeu/gateway/host/names"
	"github.com/ubeu/gateway/host/plugin/manager"
	"github.com/ubeu/gateway/host/policy"
	"github.com/ubeu/gateway/host/ratelimit"
	"github.com/ubeu/gateway/host/resolve"
	"github.com/ubeu/gateway/host/sso"
	"github.com/ubeu/gateway/host/store"
	"github.com/ubeu/gateway/host/treasury"
	"github.com/ubeu/gateway/host/vc/statuslist"
	"github.com/ubeu/gateway/host/web3"
)

// Deps are what the server is built from.
type Deps struct {
	Config   *config.Config
	Logger   *slog.Logger
	Store    store.Store
	Backup   func(ctx context.Context, w io.Writer) (uint64, error)
	Keyring  *auth.Keyring
	Tokens   *auth.Tokens
	Policy   *policy.Engine
	Limits   *limits.Service
	Limiter  *ratelimit.Limiter
	Identity *identity.Service
	// DNS issues and verifies enterprises' domain challenges.
	DNS      *dnsverify.Challenger
	Names    *names.Registry
	Resolver *resolve.Resolver
	Plugins  *manager.Manager
	// LMS syncs course completions into badges (the /api/v1/lms routes
	// answer 503 if nil).
	LMS *lms.Service
	// Credentials issues and verifies credentials; StatusLists serves
	// their status lists. Both nil: the credential routes answer 503.
	Credentials *credentials.Service
	StatusLists *statuslist.Registry
	// Treasury sponsors the ledger writes of requests and serves the
	// treasury, usage and billing routes (503 if nil).
	Treasury *treasury.Service
	// Web3 proves and resolves external Web3 names (503 if nil).
	Web3 *web3.Service
	// Directory routes SCIM requests to enterprises' directory plugins
	// and applies their lifecycle events (503 if nil).
	Directory *directory.Service
	// SSO runs enterprises' SAML single sign-on (503 if nil).
	SSO      *sso.Service
	Registry *prometheus.Registry
	Metrics  *metrics.Metrics
	Version  string
	// AccessLog receives the access log lines; nil means os.Stderr.
	AccessLog io.Writer
	// Now is the clock (tests inject one); nil means time.Now.
	Now func() time.Time
}

// Server serves the API.
type Server struct {
	Deps
	router    *router
	trusted   []*net.IPNet
	idPrefix  string
	idCounter atomic.Uint64
	ctxPool   sync.Pool
	metricsH  fasthttp.RequestHandler
	corsAllow map[string]bool
	corsAny   bool
	corsHdrs  string
	corsAge   string

	// regLocks serialises registrations of one e-mail address.
	regLocks keyLocks

	access   *accessLog
	httpSrv  *fasthttp.Server
	adminSrv *fasthttp.Server
}

// New builds a server and registers its routes.
func New(d Deps) (*Server, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Server{Deps: d, router: newRouter()}
	if d.AccessLog == nil {
		d.AccessLog = os.Stderr
	}
	s.access = newAccessLog(d.AccessLog)
	var b [4]byte
	rand.Read(b[:])
	s.idPrefix = hex.EncodeToString(b[:])
	s.ctxPool.New = func() any { return &Ctx{s: s} }
	for _, p := range d.Config.HTTP.TrustedProxies {
		if !strings.Contains(p, "/") {
			if strings.Contains(p, ":") {
				p += "/128"
			} else {
				p += "/32"
			}
		}
		_, n, err := net.ParseCIDR(p)
		if err != nil {
			return nil, fmt.Errorf("http.trusted_proxies: %w", err)
		}
		s.trusted = append(s.trusted, n)
	}
	s.corsAllow = make(map[string]bool)
	for _, o := range d.Config.HTTP.CORS.AllowedOrigins {
		if o == "*" {
			s.corsAny = true
		}
		s.corsAllow[o] = true
	}
	s.corsHdrs = strings.Join(d.Config.HTTP.CORS.AllowedHeaders, ", ")
	s.corsAge = strconv.Itoa(int(d.Config.HTTP.CORS.MaxAge.Seconds()))
	s.metricsH = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{}))
	s.routes()
	return s, nil
}

// Handle registers a route. It must be called before Serve; the policy
// sees name as the route ID, so the policy must grant it.
func (s *Server) Handle(method, pattern, name string, h HandlerFunc) {
	s.router.add(method, pattern, name, h)
}

// Routes returns every registered route (for the OpenAPI check and docs).
func (s *Server) Routes() []Route {
	out := make([]Route, 0, len(s.router.all))
	for _, r := range s.router.all {
		out = append(out, *r)
	}
	return out
}

// Ctx is the state of one request through the chain. It is pooled: it
// must not be kept after the handler returns.
type Ctx struct {
	*fasthttp.RequestCtx
	s         *Server
	RequestID string
	Route     *Route
	params    []param
	Principal policy.Principal
	ClientIP  string
	listener  string
	status    int
	sessionID string
	tokenID   string
	tokenExp  time.Time
	start     time.Time
	// apiKey is the enterprise API key that authenticated the request.
	apiKey *store.APIKey
	// sp is the request's treasury sponsorship and vctx the context that
	// carries it (nil: none); see sponsor.
	sp   *treasury.Sponsorship
	vctx context.Context
}

// s2b returns the bytes of s without copying; the result must not be
// modified (fasthttp copies header values it is given).
func s2b(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// Pre-built response headers, set with SetCanonical (no normalisation).
var (
	hdrRequestID    = []byte("X-Request-ID")
	hdrHSTS         = []byte("Strict-Transport-Security")
	hdrRLLimit      = []byte("RateLimit-Limit")
	hdrRLRemaining  = []byte("RateLimit-Remaining")
	hdrRLReset      = []byte("RateLimit-Reset")
	hdrXCache       = []byte("X-Cache")
	hdrCacheControl = []byte("Cache-Control")
	valPublic60     = []byte("public, max-age=60")
	valHSTS         = []byte("max-age=63072000")
	securityHeaders = [][2][]byte{
		{[]byte("X-Content-Type-Options"), []byte("nosniff")},
		{[]byte("X-Frame-Options"), []byte("DENY")},
		{[]byte("Referrer-Policy"), []byte("no-referrer")},
		{[]byte("Content-Security-Policy"), []byte("default-src 'none'; frame-ancestors 'none'")},
		{[]byte("Cache-Control"), []byte("no-store")},
	}
)

// Ctx is the request's context.Context: the server's base context, not
// fasthttp's RequestCtx, which must not be used after the handler returns
// (libraries such as OPA watch Done from goroutines of their own).
func (c *Ctx) Deadline() (time.Time, bool) { return baseCtx.Deadline() }

// Done implements context.Context.
func (c *Ctx) Done() <-chan struct{} { return baseCtx.Done() }

// Err implements context.Context.
func (c *Ctx) Err() error { return baseCtx.Err() }

// Value implements context.Context.
func (c *Ctx) Value(key any) any {
	if c.vctx != nil {
		return c.vctx.Value(key)
	}
	return baseCtx.Value(key)
}

var baseCtx = context.Background()

var _ context.Context = (*Ctx)(nil)

// Param returns a path parameter.
func (c *Ctx) Param(name string) string {
	for _, p := range c.params {
		if p.name == name {
			return p.value
		}
	}
	return ""
}

// JSON writes v as the JSON response body with the status.
func (c *Ctx) JSON(status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	c.SetStatusCode(status)
	c.SetContentType("application/json")
	c.SetBody(b)
	return nil
}

// Decode decodes the request body strictly into v.
func (c *Ctx) Decode(v any) error {
	if e := decodeJSON(string(c.Request.Header.ContentType()), c.PostBody(), v); e != nil {
		return e
	}
	return nil
}

func (s *Server) newRequestID() string {
	n := s.idCounter.Add(1)
	return s.idPrefix + "-" + strconv.FormatUint(n, 36)
}

// validRequestID accepts a client's X-Request-ID if it is short and made of
// safe characters (it is echoed and logged).
func validRequestID(b []byte) bool {
	if len(b) == 0 || len(b) > 128 {
		return false
	}
	for _, ch := range b {
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '-', ch == '_', ch == '.', ch == ':':
		default:
			return false
		}
	}
	return true
}

// Handler returns the public listener's handler.
func (s *Server) Handler() fasthttp.RequestHandler {
	return func(rc *fasthttp.RequestCtx) { s.serve(rc, "public") }
}

// AdminHandler returns the admin listener's handler.
func (s *Server) AdminHandler() fasthttp.RequestHandler {
	return func(rc *fasthttp.RequestCtx) { s.serve(rc, "admin") }
}

func (s *Server) serve(rc *fasthttp.RequestCtx, listener string) {
	start := time.Now()
	c := s.ctxPool.Get().(*Ctx)
	c.RequestCtx = rc
	c.listener = listener
	c.params = c.params[:0]
	c.Route = nil
	c.Principal = policy.Principal{AuthMethod: "anonymous"}
	c.status = 0
	c.sessionID, c.tokenID, c.tokenExp, c.apiKey = "", "", time.Time{}, nil
	if id := rc.Request.Header.Peek("X-Request-ID"); validRequestID(id) {
		c.RequestID = string(id)
	} else {
		c.RequestID = s.newRequestID()
	}
	c.ClientIP = s.clientIP(rc)
	c.start = start
	s.Metrics.HTTPInFlight.Inc()

	h := &rc.Response.Header
	h.SetCanonical(hdrRequestID, []byte(c.RequestID))
	for _, kv := range securityHeaders {
		h.SetCanonical(kv[0], kv[1])
	}
	if s.Config.TLS.Enabled() {
		h.SetCanonical(hdrHSTS, valHSTS)
	}

	func() {
		defer func() {
			if p := recover(); p != nil {
				s.Logger.Error("panic serving request", "requestId", c.RequestID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				rc.Response.Reset()
				rc.Response.Header.Set("X-Request-ID", c.RequestID)
				s.writeError(c, errInternal())
			}
		}()
		if err := s.chain(c); err != nil {
			s.writeError(c, err)
		}
	}()
	if c.sp != nil {
		c.sp.End()
		c.sp, c.vctx = nil, nil
	}

	status := rc.Response.StatusCode()
	route := "notfound"
	if c.Route != nil {
		route = c.Route.Name
	}
	end := time.Now()
	dur := end.Sub(start)
	method := string(rc.Method())
	s.Metrics.HTTPInFlight.Dec()
	s.Metrics.HTTPDuration.WithLabelValues(method, route, strconv.Itoa(status)).Observe(dur.Seconds())
	if s.Config.Log.AccessLog {
		s.access.write(&accessEntry{time: end, method: method, route: route, path: string(rc.Path()), status: status, dur: dur,
			principal: c.Principal.ID, auth: c.Principal.AuthMethod, ip: c.ClientIP, id: c.RequestID})
	}
	c.RequestCtx = nil
	s.ctxPool.Put(c)
}

func (s *Server) chain(c *Ctx) error {
	method := string(c.Method())
	if s.cors(c, method) {
		return nil
	}
	path := string(c.Path())
	rt, mismatch := s.router.match(method, path, &c.params)
	c.Route = rt

	if err := s.authenticate(c); err != nil {
		return err
	}

	in := policy.Input{
		Method:    method,
		Path:      path,
		Listener:  c.listener,
		ClientIP:  c.ClientIP,
		Principal: c.Principal,
		Time:      c.start,
	}
	if rt != nil {
		in.Route = rt.Name
		if len(c.params) > 0 {
			in.Params = make(map[string]string, len(c.params))
			for _, p := range c.params {
				in.Params[p.name] = p.value
			}
		}
	}
	dec, err := s.Policy.Decide(c, &in)
	if err != nil {
		s.Logger.Error("policy evaluation failed", "requestId", c.RequestID, "route", in.Route, "err", err)
		return errInternal()
	}
	if !dec.Allow {
		if !c.Principal.Authenticated {
			return errUnauthorized(dec.Reason)
		}
		return errForbidden(dec.Reason)
	}
	if err := s.rateLimit(c, dec.RateLimitClass); err != nil {
		return err
	}
	if rt == nil {
		if mismatch {
			return &Error{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed, Message: "method " + method + " is not allowed on " + path}
		}
		return errNotFound("route " + path)
	}
	return rt.Handler(c)
}

// writeError writes err as the JSON error body.
func (s *Server) writeError(c *Ctx, err error) {
	var e *Error
	if !errors.As(err, &e) {
		var le *limits.ExceededError
		if errors.As(err, &le) {
			e = limitError(le, s.Now())
		} else {
			s.Logger.Error("request failed", "requestId", c.RequestID, "err", err)
			e = errInternal()
		}
	}
	body := struct {
		Error     string         `json:"error"`
		Message   string         `json:"message"`
		Details   map[string]any `json:"details"`
		RequestID string         `json:"requestId"`
	}{e.Code, e.Message, e.Details, c.RequestID}
	if body.Details == nil {
		body.Details = map[string]any{}
	}
	b, _ := json.Marshal(body)
	c.SetStatusCode(e.Status)
	c.SetContentType("application/json")
	for k, v := range e.Header {
		c.Response.Header.Set(k, v)
	}
	if e.RetryAfter > 0 {
		c.Response.Header.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	c.SetBody(b)
}

func limitError(le *limits.ExceededError, now time.Time) *Error {
	d := map[string]any{"limit": le.Limit, "used": le.Used, "max": le.Max, "nextReset": nil}
	e := &Error{Status: http.StatusTooManyRequests, Code: CodeLimitExceeded,
		Message: "usage limit reached: " + le.Limit, Details: d}
	if le.NextReset != nil {
		d["nextReset"] = le.NextReset.UTC().Format(time.RFC3339)
		if secs := int(le.NextReset.Sub(now).Seconds()) + 1; secs > 0 {
			e.RetryAfter = secs
		}
	}
	return e
}

// clientIP is the peer address, or the last untrusted address of
// X-Forwarded-For when the peer is a trusted proxy.
func (s *Server) clientIP(rc *fasthttp.RequestCtx) string {
	ip := rc.RemoteIP()
	if len(s.trusted) == 0 || !s.isTrusted(ip) {
		return ip.String()
	}
	raw := rc.Request.Header.Peek("X-Forwarded-For")
	if len(raw) == 0 {
		return ip.String()
	}
	parts := strings.Split(string(raw), ",")
	for i := len(parts) - 1; i >= 0; i-- {
		cand := net.ParseIP(strings.TrimSpace(parts[i]))
		if cand == nil {
			break
		}
		if !s.isTrusted(cand) {
			return cand.String()
		}
		ip = cand
	}
	return ip.String()
}

func (s *Server) isTrusted(ip net.IP) bool {
	for _, n := range s.trusted {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// cors adds CORS headers for allowed origins and answers preflight
// requests. It reports whether the request was fully answered.
func (s *Server) cors(c *Ctx, method string) bool {
	origin := c.Request.Header.Peek("Origin")
	if len(origin) == 0 || len(s.corsAllow) == 0 {
		return false
	}
	o := string(origin)
	if !s.corsAny && !s.corsAllow[o] {
		return false
	}
	h := &c.Response.Header
	h.Set("Access-Control-Allow-Origin", o)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Expose-Headers", "X-Request-ID, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset")
	if method == "OPTIONS" && len(c.Request.Header.Peek("Access-Control-Request-Method")) > 0 {
		h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
		h.Set("Access-Control-Allow-Headers", s.corsHdrs)
		h.Set("Access-Control-Max-Age", s.corsAge)
		c.SetStatusCode(http.StatusNoContent)
		return true
	}
	return false
}

// rateLimit applies the API rate limit of class per client IP and, for an
// authenticated principal, per principal.
func (s *Server) rateLimit(c *Ctx, class string) error {
	if !s.Config.RateLimit.Enabled || s.Limiter == nil {
		return nil
	}
	var rule ratelimit.Rule
	switch class {
	case "auth":
		rule = s.Config.RateLimit.Auth
	case "did":
		rule = s.Config.RateLimit.DID
	case "api", "":
		class = "api"
		rule = s.Config.RateLimit.API
	default: // "none"
		return nil
	}
	res := s.Limiter.Allow("ip:"+class+":"+c.ClientIP, rule)
	if res.Allowed && c.Principal.Authenticated {
		pr := s.Limiter.Allow("p:"+class+":"+c.Principal.ID, rule)
		if !pr.Allowed || pr.Remaining < res.Remaining {
			res = pr
		}
	}
	limit, remaining, reset, retry := res.Headers()
	h := &c.Response.Header
	h.SetCanonical(hdrRLLimit, s2b(limit))
	h.SetCanonical(hdrRLRemaining, s2b(remaining))
	h.SetCanonical(hdrRLReset, s2b(reset))
	if res.Allowed {
		return nil
	}
	s.Metrics.RateLimited.WithLabelValues(class).Inc()
	ra, _ := strconv.Atoi(retry)
	if ra < 1 {
		ra = 1
	}
	return &Error{Status: http.StatusTooManyRequests, Code: CodeRateLimited,
		Message:    "rate limit exceeded; retry later",
		Details:    map[string]any{"class": class, "limit": res.Limit, "window": rule.Window.String()},
		RetryAfter: ra}
}
