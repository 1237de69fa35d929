package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/ubeu/gateway/host/auth"
	"github.com/ubeu/gateway/host/config"
	"github.com/ubeu/gateway/host/gateway"
	"github.com/ubeu/gateway/host/httpapi"
	"github.com/ubeu/gateway/host/ratelimit"
	"github.com/ubeu/gateway/host/store"
	"github.com/ubeu/gateway/host/store/badgerstore"
)

// testGateway is a gatewayd on a loopback port with its own data dir.
type testGateway struct {
	t      *testing.T
	g      *gateway.Gateway
	cfg    *config.Config
	base   string
	admin  string // base URL of the admin listener, if any
	client *http.Client
	cancel context.CancelFunc
	done   chan error
	logs   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testConfig(t *testing.T) *config.Config {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Log.Level = "debug"
	cfg.HTTP.MaxBodyBytes = 64 << 10
	cfg.HTTP.TrustedProxies = []string{"127.0.0.1"}
	cfg.RateLimit.Auth = ratelimit.Rule{Limit: 1000, Window: time.Minute}
	cfg.Policy.ReloadInterval = 100 * time.Millisecond
	return &cfg
}

func startGateway(t *testing.T, cfg *config.Config, before ...func(*gateway.Gateway)) *testGateway {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.OpenWith(ctx, cfg, log, logs)
	if err != nil {
		cancel()
		t.Fatalf("open: %v", err)
	}
	for _, f := range before {
		f(g)
	}
	l, err := g.Server.Listen()
	if err != nil {
		cancel()
		g.Close()
		t.Fatalf("listen: %v", err)
	}
	scheme := "http"
	client := &http.Client{Timeout: 10 * time.Second}
	if cfg.TLS.Enabled() {
		scheme = "https"
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	}
	tg := &testGateway{t: t, g: g, cfg: cfg, base: scheme + "://" + l.Public.Addr().String(), client: client,
		cancel: cancel, done: make(chan error, 1), logs: logs}
	if l.Admin != nil {
		tg.admin = "http://" + l.Admin.Addr().String()
	}
	go func() { tg.done <- g.Server.Serve(ctx, l) }()
	t.Cleanup(tg.stop)
	return tg
}

func (tg *testGateway) stop() {
	if tg.cancel == nil {
		return
	}
	tg.cancel()
	tg.cancel = nil
	if err := <-tg.done; err != nil {
		tg.t.Errorf("serve: %v", err)
	}
	if err := tg.g.Close(); err != nil {
		tg.t.Errorf("close: %v", err)
	}
	if tg.t.Failed() {
		tg.t.Logf("gateway logs:\n%s", tg.logs.String())
	}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not JSON (%d): %q", r.status, r.body)
	}
	return m
}

// do sends a request; body may be a string (sent as is) or a value
// (JSON-encoded); headers are name, value pairs.
func (tg *testGateway) do(method, path string, body any, headers ...string) resp {
	tg.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ct = strings.NewReader(b), "application/json"
	case []byte:
		rd, ct = bytes.NewReader(b), "application/json"
	default:
		j, _ := json.Marshal(b)
		rd, ct = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, tg.base+path, rd)
	if err != nil {
		tg.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := tg.client.Do(req)
	if err != nil {
		tg.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// wantError checks the JSON error shape, status and code.
func wantError(t *testing.T, r resp, status int, code string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error content type %q", ct)
	}
	m := r.json(t)
	for _, k := range []string{"error", "message", "details", "requestId"} {
		if _, ok := m[k]; !ok {
			t.Fatalf("error body lacks %q: %s", k, r.body)
		}
	}
	if m["error"] != code {
		t.Fatalf("error = %v, want %s; body %s", m["error"], code, r.body)
	}
	if m["requestId"] != r.header.Get("X-Request-ID") || m["requestId"] == "" {
		t.Fatalf("requestId %v does not match X-Request-ID %q", m["requestId"], r.header.Get("X-Request-ID"))
	}
	return m
}

type session struct {
	UserID       string `json:"userId"`
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	TokenType    string `json:"tokenType"`
	ExpiresIn    int    `json:"expiresIn"`
}

const goodPassword = "correct horse battery staple"

func (tg *testGateway) register(email string) session {
	tg.t.Helper()
	r := tg.do("POST", "/api/v1/users/register", map[string]string{"email": email, "password": goodPassword})
	if r.status != http.StatusCreated {
		tg.t.Fatalf("register %s: %d %s", email, r.status, r.body)
	}
	var s session
	if err := json.Unmarshal(r.body, &s); err != nil {
		tg.t.Fatal(err)
	}
	return s
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

func (tg *testGateway) userCount() int {
	n, err := tg.g.Store.Users().Count(context.Background())
	if err != nil {
		tg.t.Fatal(err)
	}
	return n
}

func (tg *testGateway) adminToken() string {
	tg.t.Helper()
	tok, _, err := gateway.MintAdminToken(tg.cfg, slog.New(slog.DiscardHandler), 5*time.Minute)
	if err != nil {
		tg.t.Fatalf("admin token: %v", err)
	}
	return tok
}

func TestRegisterLoginAndSession(t *testing.T) {
	tg := startGateway(t, testConfig(t))

	s := tg.register("Alice@Example.com")
	if s.UserID == "" || s.AccessToken == "" || s.RefreshToken == "" || s.TokenType != "Bearer" || s.ExpiresIn < 890 || s.ExpiresIn > 900 {
		t.Fatalf("register answer %+v", s)
	}
	r := tg.do("GET", "/api/v1/users/me", nil, bearer(s.AccessToken)...)
	if r.status != 200 {
		t.Fatalf("me: %d %s", r.status, r.body)
	}
	me := r.json(t)
	if me["email"] != "alice@example.com" || me["userId"] != s.UserID || me["tier"] != "individual" {
		t.Fatalf("me = %v", me)
	}

	// Duplicate, in any case.
	before := tg.userCount()
	wantError(t, tg.do("POST", "/api/v1/users/register", map[string]string{"email": "ALICE@example.com", "password": goodPassword}), 409, "CONFLICT")
	if tg.userCount() != before {
		t.Fatal("duplicate registration wrote a user")
	}

	// Login, wrong password, right password.
	wantError(t, tg.do("POST", "/api/v1/auth/login", map[string]string{"email": "alice@example.com", "password": "not the password!"}), 401, "INVALID_CREDENTIALS")
	wantError(t, tg.do("POST", "/api/v1/auth/login", map[string]string{"email": "nobody@example.com", "password": goodPassword}), 401, "INVALID_CREDENTIALS")
	r = tg.do("POST", "/api/v1/auth/login", map[string]string{"email": "alice@example.com", "password": goodPassword})
	if r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	var l session
	json.Unmarshal(r.body, &l)
	if l.UserID != s.UserID || l.AccessToken == s.AccessToken {
		t.Fatalf("login answer %+v", l)
	}

	// Access tokens verify with the published JWKS, by an independent
	// implementation.
	r = tg.do("GET", "/.well-known/jwks.json", nil)
	set, err := jwk.Parse(r.body)
	if err != nil {
		t.Fatalf("jwks: %v", err)
	}
	tok, err := jwt.Parse([]byte(l.AccessToken), jwt.WithKeySet(set), jwt.WithIssuer(tg.cfg.Auth.Issuer), jwt.WithAudience(tg.cfg.Auth.Audience))
	if err != nil {
		t.Fatalf("jwx rejects our token: %v", err)
	}
	if sub, _ := tok.Subject(); sub != s.UserID {
		t.Fatalf("sub = %q", sub)
	}
}

func TestRefreshRotationAndReuse(t *testing.T) {
	tg := startGateway(t, testConfig(t))
	s := tg.register("bob@example.com")

	r := tg.do("POST", "/api/v1/auth/refresh", map[string]string{"refreshToken": s.RefreshToken})
	if r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	var s2 session
	json.Unmarshal(r.body, &s2)
	if s2.RefreshToken == s.RefreshToken || s2.AccessToken == "" {
		t.Fatalf("refresh did not rotate: %+v", s2)
	}
	if r := tg.do("GET", "/api/v1/users/me", nil, bearer(s2.AccessToken)...); r.status != 200 {
		t.Fatalf("new access token: %d %s", r.status, r.body)
	}
	// The spent token comes back: the whole family is revoked.
	wantError(t, tg.do("POST", "/api/v1/auth/refresh", map[string]string{"refreshToken": s.RefreshToken}), 401, "TOKEN_REUSED")
	wantError(t, tg.do("POST", "/api/v1/auth/refresh", map[string]string{"refreshToken": s2.RefreshToken}), 401, "UNAUTHORIZED")
	wantError(t, tg.do("GET", "/api/v1/users/me", nil, bearer(s2.AccessToken)...), 401, "UNAUTHORIZED")
	wantError(t, tg.do("GET", "/api/v1/users/me", nil, bearer(s.AccessToken)...), 401, "UNAUTHORIZED")

	// Garbage refresh tokens.
	wantError(t, tg.do("POST", "/api/v1/auth/refresh", map[string]string{"refreshToken": "gwr_nope"}), 401, "UNAUTHORIZED")
	wantError(t, tg.do("POST", "/api/v1/auth/refresh", map[string]string{}), 400, "VALIDATION_ERROR")

	// A new login is a new family, unaffected.
	r = tg.do("POST", "/api/v1/auth/login", map[string]string{"email": "bob@example.com", "password": goodPassword})
	var s3 session
	json.Unmarshal(r.body, &s3)
	if r := tg.do("GET", "/api/v1/users/me", nil, bearer(s3.AccessToken)...); r.status != 200 {
		t.Fatalf("fresh login: %d %s", r.status, r.body)
	}
}

func TestLogout(t *testing.T) {
	tg := startGateway(t, testConfig(t))
	s := tg.register("carol@example.com")
	r := tg.do("POST", "/api/v1/auth/logout", nil, bearer(s.AccessToken)...)
	if r.status != 204 {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	wantError(t, tg.do("GET", "/api/v1/users/me", nil, bearer(s.AccessToken)...), 401, "UNAUTHORIZED")
	wantError(t, tg.do("POST", "/api/v1/auth/refresh", map[string]string{"refreshToken": s.RefreshToken}), 401, "UNAUTHORIZED")
	wantError(t, tg.do("POST", "/api/v1/auth/logout", nil), 401, "UNAUTHORIZED")
}

func TestBadInputKeepsServing(t *testing.T) {
	tg := startGateway(t, testConfig(t))
	before := tg.userCount()
	reg := "/api/v1/users/register"
	cases := []struct {
		name   string
		body   any
		ct     string
		status int
		code   string
	}{
		{"malformed", `{"email": "x@example.com", "password": `, "", 400, "VALIDATION_ERROR"},
		{"not an object", `[1,2,3]`, "", 400, "VALIDATION_ERROR"},
		{"two values", `{"email":"a@example.com","password":"correct horse battery"} {}`, "", 400, "VALIDATION_ERROR"},
		{"unknown field", map[string]any{"email": "d@example.com", "password": goodPassword, "admin": true}, "", 400, "VALIDATION_ERROR"},
		{"wrong type", map[string]any{"email": 42, "password": goodPassword}, "", 400, "VALIDATION_ERROR"},
		{"empty", ``, "", 400, "VALIDATION_ERROR"},
		{"invalid email", map[string]any{"email": "not-an-email", "password": goodPassword}, "", 400, "VALIDATION_ERROR"},
		{"email with name", map[string]any{"email": "Dave <d@example.com>", "password": goodPassword}, "", 400, "VALIDATION_ERROR"},
		{"weak password", map[string]any{"email": "e@example.com", "password": "short"}, "", 422, "UNPROCESSABLE_ENTITY"},
		{"common password", map[string]any{"email": "e@example.com", "password": "password12345"}, "", 422, "UNPROCESSABLE_ENTITY"},
		{"text/plain", `{"email":"f@example.com","password":"correct horse battery"}`, "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r resp
			if c.ct != "" {
				r = tg.do("POST", reg, c.body, "Content-Type", c.ct)
			} else {
				r = tg.do("POST", reg, c.body)
			}
			m := wantError(t, r, c.status, c.code)
			if c.code == "VALIDATION_ERROR" && c.name == "unknown field" {
				if d, _ := m["details"].(map[string]any); d["field"] != "admin" {
					t.Fatalf("details = %v", m["details"])
				}
			}
		})
	}
	wantError(t, tg.oversized("POST", reg), 413, "PAYLOAD_TOO_LARGE")
	if n := tg.userCount(); n != before {
		t.Fatalf("bad input wrote %d users", n-before)
	}
	// Still serving.
	tg.register("after@example.com")
	// Unknown route and wrong method.
	wantError(t, tg.do("GET", "/api/v1/nope", nil), 404, "NOT_FOUND")
	wantError(t, tg.do("DELETE", "/api/v1/users/register", nil), 405, "METHOD_NOT_ALLOWED")
}

func TestTokensRejected(t *testing.T) {
	tg := startGateway(t, testConfig(t))
	s := tg.register("dan@example.com")
	kid := tg.g.Keyring.Active().ID
	seg := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	now := time.Now()
	claims := map[string]any{"iss": tg.cfg.Auth.Issuer, "aud": tg.cfg.Auth.Audience, "sub": s.UserID, "jti": "x",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(), "roles": []string{"admin"}}

	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	forge := func(hdr map[string]any, key ed25519.PrivateKey) string {
		in := seg(hdr) + "." + seg(claims)
		return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, []byte(in)))
	}
	expiredTokens, err := auth.NewTokens(tg.g.Keyring, auth.TokenOptions{Issuer: tg.cfg.Auth.Issuer, Audience: tg.cfg.Auth.Audience,
		TTL: time.Minute, CacheSize: -1, Now: func() time.Time { return time.Now().Add(-time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	defer expiredTokens.Close()
	expired, _, err := expiredTokens.Issue(auth.Claims{Subject: s.UserID, Roles: []string{"user"}})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"alg none":    seg(map[string]any{"alg": "none", "typ": "at+jwt", "kid": kid}) + "." + seg(claims) + ".",
		"forged key":  forge(map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": kid}, otherKey),
		"unknown kid": forge(map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": "no-such-kid"}, otherKey),
		"expired":     expired,
		"tampered":    s.AccessToken[:len(s.AccessToken)-4] + "AAAA",
		"garbage":     "not.a.token",
		"huge":        strings.Repeat("a", 9000),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			m := wantError(t, tg.do("GET", "/api/v1/auth/whoami", nil, bearer(tok)...), 401, "UNAUTHORIZED")
			if name == "expired" && !strings.Contains(m["message"].(string), "expired") {
				t.Fatalf("message %v", m["message"])
			}
		})
	}
	wantError(t, tg.do("GET", "/api/v1/auth/whoami", nil, "Authorization", "Basic Zm9vOmJhcg=="), 401, "UNAUTHORIZED")
	wantError(t, tg.do("GET", "/api/v1/auth/whoami", nil, bearer(strings.Repeat("a", 40<<10))...), 431, "HEADERS_TOO_LARGE")
	wantError(t, tg.do("GET", "/api/v1/auth/whoami", nil), 401, "UNAUTHORIZED")
	if r := tg.do("GET", "/api/v1/auth/whoami", nil, bearer(s.AccessToken)...); r.status != 200 {
		t.Fatalf("valid token after bad ones: %d", r.status)
	}
}

func TestPolicyDecisions(t *testing.T) {
	tg := startGateway(t, testConfig(t))
	a := tg.register("erin@example.com")
	b := tg.register("frank@example.com")

	r := tg.do("GET", "/api/v1/users/"+a.UserID+"/limits", nil, bearer(a.AccessToken)...)
	if r.status != 200 {
		t.Fatalf("own limits: %d %s", r.status, r.body)
	}
	m := wantError(t, tg.do("GET", "/api/v1/users/"+a.UserID+"/limits", nil, bearer(b.AccessToken)...), 403, "FORBIDDEN")
	if msg, _ := m["message"].(string); msg == "" || msg == "FORBIDDEN" {
		t.Fatalf("deny message must carry the policy's reason, got %q", msg)
	}
	wantError(t, tg.do("GET", "/api/v1/users/"+a.UserID+"/limits", nil), 401, "UNAUTHORIZED")
	wantError(t, tg.do("GET", "/api/v1/admin/users/"+a.UserID, nil, bearer(a.AccessToken)...), 403, "FORBIDDEN")

	admin := tg.adminToken()
	r = tg.do("GET", "/api/v1/admin/users/"+a.UserID, nil, bearer(admin)...)
	if r.status != 200 || r.json(t)["email"] != "erin@example.com" {
		t.Fatalf("admin get user: %d %s", r.status, r.body)
	}
	if r := tg.do("GET", "/api/v1/users/"+b.UserID+"/limits", nil, bearer(admin)...); r.status != 200 {
		t.Fatalf("admin limits: %d %s", r.status, r.body)
	}
	wantError(t, tg.do("GET", "/api/v1/admin/users/00000000-0000-0000-0000-000000000000", nil, bearer(admin)...), 404, "NOT_FOUND")

	// Metrics: admins only on the public listener.
	wantError(t, tg.do("GET", "/metrics", nil), 401, "UNAUTHORIZED")
	wantError(t, tg.do("GET", "/metrics", nil, bearer(a.AccessToken)...), 403, "FORBIDDEN")
	r = tg.do("GET", "/metrics", nil, bearer(admin)...)
	// Registering erin and frank created two DIDs: a topic and a DID
	// document message each, counted by operation and by transaction.
	for _, name := range []string{"http_request_duration_seconds", "gatewayd_policy_decisions_total", "go_goroutines",
		`did_operations_total{operation_type="create",status="success"}`,
		`hedera_transactions_total{status="success",transaction_type="CONSENSUSCREATETOPIC"}`,
		`hedera_transactions_total{status="success",transaction_type="CONSENSUSSUBMITMESSAGE"}`} {
		if r.status == 200 && !bytes.Contains(r.body, []byte(name)) {
			t.Errorf("metrics lack %s", name)
		}
	}
	if r.status != 200 || !bytes.Contains(r.body, []byte(`route="users.limits.get",status_code="403"`)) {
		t.Fatalf("metrics: %d, want the 403 of users.limits.get counted", r.status)
	}
}

func TestLimitsEndpoints(t *testing.T) {
	tg := startGateway(t, testConfig(t))
	a := tg.register("gina@example.com")
	r := tg.do("GET", "/api/v1/users/"+a.UserID+"/limits", nil, bearer(a.AccessToken)...)
	m := r.json(t)
	lim, _ := m["limits"].(map[string]any)
	if lim["maxExternalWeb3Domains"] != float64(1) || lim["maxDidProfiles"] != float64(2) || lim["maxSocialVerifications"] != float64(5) {
		t.Fatalf("limits = %s", r.body)
	}
	r = tg.do("POST", "/api/v1/users/"+a.UserID+"/limits/check", map[string]string{"operation": "create_did"}, bearer(a.AccessToken)...)
	if r.status != 200 {
		t.Fatalf("check: %d %s", r.status, r.body)
	}
	c := r.json(t)
	if c["allowed"] != true || c["remainingAttempts"] == nil {
		t.Fatalf("check = %s", r.body)
	}
	if _, ok := c["nextReset"]; !ok {
		t.Fatalf("check lacks nextReset: %s", r.body)
	}
	wantError(t, tg.do("POST", "/api/v1/users/"+a.UserID+"/limits/check", map[string]string{"operation": "fly"}, bearer(a.AccessToken)...), 422, "UNPROCESSABLE_ENTITY")
	wantError(t, tg.do("POST", "/api/v1/users/"+a.UserID+"/limits/check", `{"operation":`, bearer(a.AccessToken)...), 400, "VALIDATION_ERROR")
}

func TestLoginBruteForce(t *testing.T) {
	cfg := testConfig(t)
	cfg.Auth.LoginAttempts = ratelimit.Rule{Limit: 3, Window: 15 * time.Minute}
	tg := startGateway(t, cfg)
	tg.register("hank@example.com")
	bad := map[string]string{"email": "hank@example.com", "password": "wrong wrong wrong"}
	good := map[string]string{"email": "hank@example.com", "password": goodPassword}
	// Per account: failures from three different addresses lock the account.
	for i := 0; i < 3; i++ {
		wantError(t, tg.do("POST", "/api/v1/auth/login", bad, "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i+1)), 401, "INVALID_CREDENTIALS")
	}
	r := tg.do("POST", "/api/v1/auth/login", good, "X-Forwarded-For", "198.51.100.99")
	wantError(t, r, 429, "RATE_LIMITED")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	// Per IP: one address failing on three accounts is locked out, others not.
	for i := 0; i < 3; i++ {
		wantError(t, tg.do("POST", "/api/v1/auth/login", map[string]string{"email": fmt.Sprintf("x%d@example.com", i), "password": "whatever whatever"}, "X-Forwarded-For", "203.0.113.7"), 401, "INVALID_CREDENTIALS")
	}
	tg.register("ivy@example.com")
	wantError(t, tg.do("POST", "/api/v1/auth/login", map[string]string{"email": "ivy@example.com", "password": goodPassword}, "X-Forwarded-For", "203.0.113.7"), 429, "RATE_LIMITED")
	if r := tg.do("POST", "/api/v1/auth/login", map[string]string{"email": "ivy@example.com", "password": goodPassword}, "X-Forwarded-For", "203.0.113.8"); r.status != 200 {
		t.Fatalf("other address: %d %s", r.status, r.body)
	}
}

func TestAPIRateLimit(t *testing.T) {
	cfg := testConfig(t)
	cfg.RateLimit.API = ratelimit.Rule{Limit: 3, Window: time.Minute}
	tg := startGateway(t, cfg)
	s := tg.register("jo@example.com")
	for i := 0; i < 3; i++ {
		r := tg.do("GET", "/api/v1/auth/whoami", nil, bearer(s.AccessToken)...)
		if r.status != 200 {
			t.Fatalf("request %d: %d", i, r.status)
		}
		if r.header.Get("RateLimit-Limit") != "3" || r.header.Get("RateLimit-Remaining") != fmt.Sprint(2-i) {
			t.Fatalf("headers %v", r.header)
		}
	}
	r := tg.do("GET", "/api/v1/auth/whoami", nil, bearer(s.AccessToken)...)
	wantError(t, r, 429, "RATE_LIMITED")
	if r.header.Get("Retry-After") == "" || r.header.Get("RateLimit-Reset") == "" {
		t.Fatalf("429 headers %v", r.header)
	}
	// Health is exempt.
	if r := tg.do("GET", "/healthz", nil); r.status != 200 {
		t.Fatalf("healthz: %d", r.status)
	}
}

func TestAPIKeys(t *testing.T) {
	tg := startGateway(t, testConfig(t))
	ctx := context.Background()
	key, prefix, hash, err := auth.NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	k := &store.APIKey{ID: "key-1", Prefix: prefix, EnterpriseID: "ent-1", Name: "ci", SecretHash: hash,
		Permissions: []string{"issue_credentials"}, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	if err := tg.g.Store.APIKeys().Create(ctx, k); err != nil {
		t.Fatal(err)
	}
	for _, h := range [][]string{{"X-API-Key", key}, bearer(key)} {
		r := tg.do("GET", "/api/v1/auth/whoami", nil, h...)
		if r.status != 200 {
			t.Fatalf("whoami with key: %d %s", r.status, r.body)
		}
		m := r.json(t)
		if m["authMethod"] != "api_key" || m["tenant"] != "ent-1" {
			t.Fatalf("principal %v", m)
		}
	}
	// A key is not a user session.
	wantError(t, tg.do("GET", "/api/v1/users/me", nil, "X-API-Key", key), 403, "FORBIDDEN")
	wrong := key[:len(key)-3] + "abc"
	if wrong == key {
		wrong = key[:len(key)-3] + "xyz"
	}
	wantError(t, tg.do("GET", "/api/v1/auth/whoami", nil, "X-API-Key", wrong), 401, "UNAUTHORIZED")
	wantError(t, tg.do("GET", "/api/v1/auth/whoami", nil, "X-API-Key", "gwk_nothing"), 401, "UNAUTHORIZED")
	if err := tg.g.Store.APIKeys().Revoke(ctx, "ent-1", "key-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	wantError(t, tg.do("GET", "/api/v1/auth/whoami", nil, "X-API-Key", key), 401, "UNAUTHORIZED")
}

func TestRequestIDAndHeaders(t *testing.T) {
	tg := startGateway(t, testConfig(t))
	r := tg.do("GET", "/healthz", nil, "X-Request-ID", "abc-123")
	if r.header.Get("X-Request-ID") != "abc-123" {
		t.Fatalf("request id not honoured: %q", r.header.Get("X-Request-ID"))
	}
	r = tg.do("GET", "/healthz", nil, "X-Request-ID", "bad id\twith junk")
	if id := r.header.Get("X-Request-ID"); id == "" || strings.Contains(id, "junk") {
		t.Fatalf("unsafe request id echoed: %q", id)
	}
	if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("security headers missing: %v", r.header)
	}
	if !strings.Contains(tg.logs.String(), `"requestId":"abc-123"`) {
		t.Fatal("access log lacks the request ID")
	}
}

func TestSecretsNeverLogged(t *testing.T) {
	tg := startGateway(t, testConfig(t))
	s := tg.register("kim@example.com")
	tg.do("POST", "/api/v1/auth/login", map[string]string{"email": "kim@example.com", "password": goodPassword})
	tg.do("GET", "/api/v1/users/me", nil, bearer(s.AccessToken)...)
	tg.do("POST", "/api/v1/auth/refresh", map[string]string{"refreshToken": s.RefreshToken})
	logs := tg.logs.String()
	for _, secret := range []string{goodPassword, s.AccessToken, s.RefreshToken, s.AccessToken[strings.LastIndex(s.AccessToken, ".")+1:]} {
		if strings.Contains(logs, secret) {
			t.Fatalf("a secret appears in the logs")
		}
	}
	pw, err := os.ReadFile(tg.cfg.AdminPasswordFile())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs, strings.TrimSpace(string(pw))) {
		t.Fatal("the admin password appears in the logs")
	}
}

func TestBootstrapAdmin(t *testing.T) {
	cfg := testConfig(t)
	// A password file left by a first start that died before creating the
	// account must not keep the data dir from ever starting.
	if err := os.WriteFile(cfg.AdminPasswordFile(), []byte("stale\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tg := startGateway(t, cfg)
	if pw, _ := os.ReadFile(cfg.AdminPasswordFile()); strings.TrimSpace(string(pw)) == "stale" {
		t.Fatal("the stale password file was kept")
	}
	fi, err := os.Stat(cfg.AdminPasswordFile())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file mode %v", fi.Mode())
	}
	pw, _ := os.ReadFile(cfg.AdminPasswordFile())
	r := tg.do("POST", "/api/v1/auth/login", map[string]string{"email": gateway.AdminEmail, "password": strings.TrimSpace(string(pw))})
	if r.status != 200 {
		t.Fatalf("admin login: %d %s", r.status, r.body)
	}
	var s session
	json.Unmarshal(r.body, &s)
	if r := tg.do("GET", "/api/v1/admin/users/"+s.UserID, nil, bearer(s.AccessToken)...); r.status != 200 {
		t.Fatalf("admin route with the admin's session: %d", r.status)
	}
	// A restart neither recreates the admin nor rewrites the file.
	tg.stop()
	os.Remove(cfg.AdminPasswordFile())
	tg2 := startGateway(t, cfg)
	if _, err := os.Stat(cfg.AdminPasswordFile()); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("password file rewritten on restart")
	}
	if n := tg2.userCount(); n != 1 {
		t.Fatalf("%d users after restart", n)
	}
	if !strings.Contains(tg.logs.String(), cfg.AdminPasswordFile()) {
		t.Fatal("the password file's path is not logged")
	}
}

func TestPolicyHotReload(t *testing.T) {
	cfg := testConfig(t)
	dir := t.TempDir()
	copyPolicies(t, dir)
	cfg.Policy.Dir = dir
	tg := startGateway(t, cfg)
	s := tg.register("lee@example.com")
	whoami := func() resp { return tg.do("GET", "/api/v1/auth/whoami", nil, bearer(s.AccessToken)...) }
	if r := whoami(); r.status != 200 {
		t.Fatalf("whoami: %d", r.status)
	}
	rev := tg.g.Policy.Revision()
	// waitReload waits until the engine has rejected one more policy
	// version (it logs each), however slow the machine is.
	rejected := func() int { return strings.Count(tg.logs.String(), "policy: rejected policy version") }
	waitReload := func() {
		t.Helper()
		n := rejected()
		deadline := time.Now().Add(60 * time.Second)
		for rejected() == n {
			if time.Now().After(deadline) {
				t.Fatal("the policy change was not looked at within 60 s")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// 1. A policy that does not compile is rejected; the old one serves.
	broken := filepath.Join(dir, "broken.rego")
	os.WriteFile(broken, []byte("package gatewayd.authz\n\nthis is not rego"), 0o644)
	waitReload()
	if r := whoami(); r.status != 200 || tg.g.Policy.Revision() != rev {
		t.Fatalf("after a broken policy: %d, revision %s→%s", r.status, rev, tg.g.Policy.Revision())
	}
	os.Remove(broken)

	// 2. A change that fails the policy's own tests is rejected too.
	file := filepath.Join(dir, "authz.rego")
	orig, _ := os.ReadFile(file)
	adminOnly := strings.Replace(string(orig), `"auth.whoami": {"access": "authenticated", "class": "api"}`, `"auth.whoami": {"access": "admin", "class": "api"}`, 1)
	if adminOnly == string(orig) {
		t.Fatal("the whoami route line was not found in authz.rego")
	}
	os.WriteFile(file, []byte(adminOnly), 0o644)
	waitReload()
	if r := whoami(); r.status != 200 || tg.g.Policy.Revision() != rev {
		t.Fatalf("after a policy failing its tests: %d", r.status)
	}
	if !strings.Contains(tg.logs.String(), "test_whoami_authenticated") {
		t.Fatal("the failing test is not named in the logs")
	}

	// 3. The same change with its tests updated is taken without a restart,
	// and the deny carries the policy's reason.
	tests, _ := os.ReadFile(filepath.Join(dir, "authz_test.rego"))
	os.WriteFile(filepath.Join(dir, "authz_test.rego"), []byte(strings.Replace(string(tests), "test_whoami_authenticated if", "skipped_whoami_authenticated if", 1)), 0o644)
	deadline := time.Now().Add(60 * time.Second)
	for tg.g.Policy.Revision() == rev && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	m := wantError(t, whoami(), 403, "FORBIDDEN")
	if m["message"] != "admin role required" {
		t.Fatalf("deny message %v", m["message"])
	}
	if r := tg.do("GET", "/api/v1/auth/whoami", nil, bearer(tg.adminToken())...); r.status != 200 {
		t.Fatalf("admin whoami: %d", r.status)
	}
}

func copyPolicies(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir("../../policies")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".rego") || strings.HasSuffix(e.Name(), ".json") {
			b, _ := os.ReadFile(filepath.Join("../../policies", e.Name()))
			os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644)
		}
	}
}

func TestAdminTokenWhileRunningAndBackup(t *testing.T) {
	cfg := testConfig(t)
	tg := startGateway(t, cfg)
	tg.register("mia@example.com")
	tg.register("ned@example.com")
	// The store is locked by the running server ...
	keys, err := gateway.DeriveKeys(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := badgerstore.Open(context.Background(), badgerstore.Options{Dir: cfg.DBDir(), Sealer: keys.Sealer, IndexKey: keys.IndexKey, Logger: slog.New(slog.DiscardHandler)}); !errors.Is(err, badgerstore.ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	// ... yet an admin token can be minted, and a live backup fetched.
	r := tg.do("GET", "/api/v1/admin/backup", nil, bearer(tg.adminToken())...)
	if r.status != 200 || len(r.body) == 0 {
		t.Fatalf("backup: %d (%d bytes)", r.status, len(r.body))
	}
	file := filepath.Join(t.TempDir(), "b.backup")
	os.WriteFile(file, r.body, 0o600)

	// Restore into a fresh data dir that shares the master key.
	cfg2 := testConfig(t)
	cfg2.MasterKeyFile = cfg.DevMasterKeyFile()
	in, _ := os.Open(file)
	defer in.Close()
	if err := badgerstore.Restore(context.Background(), badgerstore.Options{Dir: cfg2.DBDir(), Sealer: keys.Sealer, IndexKey: keys.IndexKey, Logger: slog.New(slog.DiscardHandler)}, in); err != nil {
		t.Fatalf("restore: %v", err)
	}
	tg2 := startGateway(t, cfg2)
	if n := tg2.userCount(); n != 3 {
		t.Fatalf("restored %d users, want 3", n)
	}
	r = tg2.do("POST", "/api/v1/auth/login", map[string]string{"email": "mia@example.com", "password": goodPassword})
	if r.status != 200 {
		t.Fatalf("login on restored store: %d %s", r.status, r.body)
	}
}

func TestTLSSelfSigned(t *testing.T) {
	cfg := testConfig(t)
	cfg.TLS.SelfSigned = true
	tg := startGateway(t, cfg)
	r := tg.do("GET", "/healthz", nil)
	if r.status != 200 || r.header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("healthz over TLS: %d %v", r.status, r.header)
	}
}

func TestOpenAPICoversRoutes(t *testing.T) {
	tg := startGateway(t, testConfig(t))
	r := tg.do("GET", "/openapi.json", nil)
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	for _, rt := range tg.g.Server.Routes() {
		op, ok := doc.Paths[rt.Pattern][strings.ToLower(rt.Method)]
		if !ok {
			t.Errorf("route %s %s (%s) is missing from openapi.json", rt.Method, rt.Pattern, rt.Name)
			continue
		}
		if op["operationId"] != rt.Name {
			t.Errorf("%s %s: operationId %v, want the route ID %s", rt.Method, rt.Pattern, op["operationId"], rt.Name)
		}
	}
	if !bytes.Equal(r.body, httpapi.OpenAPI) {
		t.Fatal("served document differs from the embedded one")
	}
}

func TestConcurrentRegistrationsSameEmail(t *testing.T) {
	tg := startGateway(t, testConfig(t))
	admin := tg.adminToken()
	dids := func() float64 {
		r := tg.do("GET", "/metrics", nil, bearer(admin)...)
		return metricValue(t, r.body, `did_operations_total{operation_type="create",status="success"}`)
	}
	before := dids()
	var wg sync.WaitGroup
	codes := make(chan int, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := tg.do("POST", "/api/v1/users/register", map[string]string{"email": "race@example.com", "password": goodPassword})
			codes <- r.status
		}()
	}
	wg.Wait()
	close(codes)
	created := 0
	for c := range codes {
		switch c {
		case 201:
			created++
		case 409:
		default:
			t.Fatalf("status %d", c)
		}
	}
	if created != 1 {
		t.Fatalf("%d registrations succeeded, want 1", created)
	}
	// The losers were refused before a DID was made (and paid) for them.
	if n := dids() - before; n != 1 {
		t.Fatalf("%v DIDs created for one registration", n)
	}
}

// metricValue returns the value of the sample named exactly series (name
// and labels, as the text exposition prints them), or 0 if absent.
func metricValue(t *testing.T, body []byte, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", series, err)
			}
			return f
		}
	}
	return 0
}

// withTestRoutes adds routes used to test the chain itself, granted by an
// extra line in a copy of the default policy.
func withTestRoutes(t *testing.T, cfg *config.Config) {
	dir := t.TempDir()
	copyPolicies(t, dir)
	file := filepath.Join(dir, "authz.rego")
	b, _ := os.ReadFile(file)
	patched := strings.Replace(string(b), `"health.live": {"access": "public", "class": "none"},`,
		`"health.live": {"access": "public", "class": "none"},
	"test.panic": {"access": "public", "class": "none"},
	"test.slow": {"access": "public", "class": "none"},`, 1)
	if patched == string(b) {
		t.Fatal("could not add test routes to the policy")
	}
	os.WriteFile(file, []byte(patched), 0o644)
	cfg.Policy.Dir = dir
}

func TestPanicRecovery(t *testing.T) {
	cfg := testConfig(t)
	withTestRoutes(t, cfg)
	tg := startGateway(t, cfg, func(g *gateway.Gateway) {
		g.Server.Handle("GET", "/test/panic", "test.panic", func(c *httpapi.Ctx) error { panic("boom") })
	})
	m := wantError(t, tg.do("GET", "/test/panic", nil), 500, "INTERNAL_SERVER_ERROR")
	if strings.Contains(fmt.Sprint(m), "boom") {
		t.Fatal("panic value leaked to the client")
	}
	if !strings.Contains(tg.logs.String(), "boom") {
		t.Fatal("panic not logged")
	}
	if r := tg.do("GET", "/healthz", nil); r.status != 200 {
		t.Fatalf("after panic: %d", r.status)
	}
}

func TestGracefulShutdownDrains(t *testing.T) {
	cfg := testConfig(t)
	withTestRoutes(t, cfg)
	started := make(chan struct{})
	tg := startGateway(t, cfg, func(g *gateway.Gateway) {
		g.Server.Handle("GET", "/test/slow", "test.slow", func(c *httpapi.Ctx) error {
			close(started)
			time.Sleep(700 * time.Millisecond)
			return c.JSON(200, map[string]string{"done": "yes"})
		})
	})
	res := make(chan resp, 1)
	go func() { res <- tg.do("GET", "/test/slow", nil) }()
	<-started
	tg.cancel() // SIGTERM equivalent
	tg.cancel = nil
	r := <-res
	if r.status != 200 || !bytes.Contains(r.body, []byte("yes")) {
		t.Fatalf("in-flight request not drained: %d %s", r.status, r.body)
	}
	if err := <-tg.done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, err := http.Get(tg.base + "/healthz"); err == nil {
		t.Fatal("still accepting after shutdown")
	}
	if err := tg.g.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	// The store was closed cleanly: it reopens at once.
	keys, _ := gateway.DeriveKeys(cfg, slog.New(slog.DiscardHandler))
	st, err := badgerstore.Open(context.Background(), badgerstore.Options{Dir: cfg.DBDir(), Sealer: keys.Sealer, IndexKey: keys.IndexKey, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	st.Close()
}

func TestCORS(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTP.CORS.AllowedOrigins = []string{"https://app.example.com"}
	tg := startGateway(t, cfg)
	r := tg.do("OPTIONS", "/api/v1/users/register", nil, "Origin", "https://app.example.com", "Access-Control-Request-Method", "POST")
	if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || !strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight: %d %v", r.status, r.header)
	}
	r = tg.do("GET", "/healthz", nil, "Origin", "https://evil.example.com")
	if r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS granted to an unlisted origin")
	}
}

func TestAdminListener(t *testing.T) {
	cfg := testConfig(t)
	cfg.Admin.Listen = "127.0.0.1:0"
	tg := startGateway(t, cfg)
	tg.do("GET", "/healthz", nil)
	r, err := http.Get(tg.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || !bytes.Contains(b, []byte("http_request_duration_seconds")) {
		t.Fatalf("admin /metrics: %d", r.StatusCode)
	}
	// The public listener still refuses anonymous scrapes.
	wantError(t, tg.do("GET", "/metrics", nil), 401, "UNAUTHORIZED")
}

// oversized sends a request whose Content-Length exceeds the body limit,
// without the body, and reads the answer: the server must refuse it from
// the headers alone (a client streaming the body could otherwise see the
// connection closed under it before it reads the 413).
func (tg *testGateway) oversized(method, path string, headers ...string) resp {
	tg.t.Helper()
	u, _ := url.Parse(tg.base)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		tg.t.Fatal(err)
	}
	defer conn.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", method, path, u.Host, tg.cfg.HTTP.MaxBodyBytes+1)
	for i := 0; i+1 < len(headers); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", headers[i], headers[i+1])
	}
	b.WriteString("\r\n")
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(b.String())); err != nil {
		tg.t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		tg.t.Fatalf("oversized %s: %v", path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: body}
}

// downStore is a store whose Ping fails while down is set.
type downStore struct {
	store.Store
	down *atomic.Bool
}

func (d downStore) Ping(ctx context.Context) error {
	if d.down.Load() {
		return errors.New("store down")
	}
	return d.Store.Ping(ctx)
}

// TestReadyzNotReady: /readyz answers 503 "not ready" naming the failing
// check while the store does not answer, and ready again once it does;
// /healthz (liveness) stays 200 throughout.
func TestReadyzNotReady(t *testing.T) {
	var down atomic.Bool
	tg := startGateway(t, testConfig(t), func(g *gateway.Gateway) {
		g.Server.Store = downStore{Store: g.Server.Store, down: &down}
	})
	if r := tg.do("GET", "/readyz", nil); r.status != 200 {
		t.Fatalf("readyz: %d %s", r.status, r.body)
	}
	down.Store(true)
	r := tg.do("GET", "/readyz", nil)
	m := r.json(t)
	checks, _ := m["checks"].(map[string]any)
	if r.status != 503 || m["status"] != "not ready" || checks["store"] != "unavailable" || checks["policy"] != "ok" {
		t.Fatalf("readyz with the store down: %d %s", r.status, r.body)
	}
	if r := tg.do("GET", "/healthz", nil); r.status != 200 {
		t.Fatalf("healthz with the store down: %d", r.status)
	}
	down.Store(false)
	if r := tg.do("GET", "/readyz", nil); r.status != 200 {
		t.Fatalf("readyz after the store came back: %d %s", r.status, r.body)
	}
	// A closed policy engine is not ready either.
	tg.g.Policy.Close()
	r = tg.do("GET", "/readyz", nil)
	checks, _ = r.json(t)["checks"].(map[string]any)
	if r.status != 503 || checks["policy"] != "not loaded" {
		t.Fatalf("readyz with the policy closed: %d %s", r.status, r.body)
	}
}
