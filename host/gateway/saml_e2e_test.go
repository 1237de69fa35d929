package gateway_test

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ubeu/gateway/host/config"
	pluginpkg "github.com/ubeu/gateway/host/plugin/pkg"
	"github.com/ubeu/gateway/host/store"
	"github.com/ubeu/gateway/interop/samlidp"
)

// The SAML tests run the real plugins/saml (runtime process, built for
// this os/arch and installed with the capabilities its manifest requests)
// in a real gateway on loopback, against a real SimpleSAMLphp IdP
// (interop/samlidp), driving its login form headlessly.

var (
	samlBinOnce sync.Once
	samlBin     string
	samlBinErr  error
)

// buildSAMLPlugin builds plugins/saml natively once per test binary.
func buildSAMLPlugin(t *testing.T) string {
	t.Helper()
	samlBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "saml-plugin-")
		if err != nil {
			samlBinErr = err
			return
		}
		samlBin = filepath.Join(dir, "saml")
		cmd := exec.Command("go", "build", "-o", samlBin, "github.com/ubeu/gateway/plugins/saml")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			samlBinErr = fmt.Errorf("build plugins/saml: %v\n%s", err, out)
		}
	})
	if samlBinErr != nil {
		t.Fatal(samlBinErr)
	}
	return samlBin
}

func sha256File(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

var processBlock = regexp.MustCompile(`(?s)artifacts:\n  process:\n(    [^\n]+\n)+`)

// installSAMLPlugin installs plugins/saml into cfg's plugin directory from
// its own plugin.yaml (artifacts narrowed to this os/arch, digests filled
// in), granting what the manifest requests, with spKey as the sp_key
// secret.
func installSAMLPlugin(t *testing.T, cfg *config.Config, spKey *rsa.PrivateKey, spCert []byte) {
	t.Helper()
	bin := buildSAMLPlugin(t)
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "bin"), 0o755)
	plat := runtime.GOOS + "/" + runtime.GOARCH
	file := "bin/saml-" + runtime.GOOS + "-" + runtime.GOARCH
	b, _ := os.ReadFile(bin)
	os.WriteFile(filepath.Join(src, file), b, 0o755)
	schema, err := os.ReadFile("../../plugins/saml/config.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "config.schema.json"), schema, 0o644)
	man, err := os.ReadFile("../../plugins/saml/plugin.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := processBlock.ReplaceAllString(string(man), fmt.Sprintf("artifacts:\n  process:\n    %s: {file: %s, sha256: %s}\n", plat, file, sha256File(t, filepath.Join(src, file))))
	m = strings.Replace(m, `config_schema: {file: config.schema.json, sha256: ""}`,
		fmt.Sprintf("config_schema: {file: config.schema.json, sha256: %x}", sha256.Sum256(schema)), 1)
	if err := os.WriteFile(filepath.Join(src, "plugin.yaml"), []byte(m), 0o644); err != nil {
		t.Fatal(err)
	}
	mf, err := pluginpkg.DecodeManifest([]byte(m))
	if err != nil {
		t.Fatal(err)
	}
	g := pluginpkg.Grants{Capabilities: []string{"log", "config", "metrics", "clock", "kv", "secrets", "http"}}
	for _, a := range mf.Capabilities.HTTP.Allow {
		g.HTTPHosts = append(g.HTTPHosts, a.Host)
	}
	if _, err := pluginpkg.Install(context.Background(), src, pluginpkg.InstallOptions{
		Root: cfg.PluginsDir(), AllowUnsigned: true, ABIVersion: "1.0", Grants: g,
	}); err != nil {
		t.Fatal(err)
	}
	sec := filepath.Join(cfg.PluginsDir(), "secrets", "saml")
	os.MkdirAll(sec, 0o700)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(spKey)})
	pemKey = append(pemKey, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: spCert})...)
	if err := os.WriteFile(filepath.Join(sec, "sp_key"), pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
}

// samlGateway is a gateway with the SAML plugin, an enterprise and its
// owner, and a SimpleSAMLphp IdP registered for the enterprise's SP.
type samlGateway struct {
	*testGateway
	owner   session
	ent     string
	idp     *samlidp.IdP
	spCert0 []byte
	scimEnt scimEnterprise
}

func freeLoopback(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startSAMLGateway(t *testing.T, encrypt bool) *samlGateway {
	t.Helper()
	return startSAMLGatewayWith(t, encrypt, false)
}

// startSAMLGatewayWith also installs plugins/scim when scim is set; the
// enterprise then has a SCIM key (samlGateway.scimEnt).
func startSAMLGatewayWith(t *testing.T, encrypt, scim bool) *samlGateway {
	t.Helper()
	samlidp.Require(t)
	cfg := testConfig(t)
	cfg.Listen = freeLoopback(t) // the SP's URLs derive from the public URL
	var z *txtZone
	if scim {
		var addr string
		z, addr = startDNS(t)
		cfg.Enterprise.DNSServer = addr
		cfg.Enterprise.DNSTimeout = 2 * time.Second
		installSCIM(t, cfg)
	}
	spKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "gatewayd test SP"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	spCert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, spKey.Public(), spKey)
	if err != nil {
		t.Fatal(err)
	}
	installSAMLPlugin(t, cfg, spKey, spCert)
	tg := startGateway(t, cfg)
	if _, ok := tg.g.Plugins.Get("saml"); !ok {
		t.Fatalf("saml plugin not loaded: %+v", tg.g.Plugins.List())
	}
	sg := &samlGateway{testGateway: tg, spCert0: spCert}
	if scim {
		sg.scimEnt = tg.scimEnterprise(t, z, "owner@acme-university.edu", acme(), true)
		sg.owner, sg.ent = sg.scimEnt.owner, sg.scimEnt.id
	} else {
		sg.owner = tg.register("owner@acme-university.edu")
		sg.ent = tg.registerEnterprise(sg.owner.AccessToken, acme()).EnterpriseID
	}
	base := "http://" + cfg.Listen + "/saml/" + sg.ent
	sg.idp = samlidp.Start(t, samlidp.Options{SPEntityID: base + "/metadata", SPACSURL: base + "/acs", EncryptAssertions: encrypt, SPCertificate: spCert})
	return sg
}

// spCert reads the encryption certificate from the SP metadata.
func (sg *samlGateway) spCert(t *testing.T) []byte {
	r := sg.do("GET", "/saml/"+sg.ent+"/metadata", nil)
	m := regexp.MustCompile(`<X509Certificate[^>]*>([^<]+)<`).FindSubmatch(r.body)
	if r.status != 200 || m == nil {
		t.Fatalf("SP metadata: %d %s", r.status, r.body)
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(m[1])), ""))
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// configure stores the enterprise's SSO settings with the IdP's metadata.
func (sg *samlGateway) configure(t *testing.T, extra map[string]any) map[string]any {
	t.Helper()
	meta, err := sg.idp.Metadata(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"enabled": true, "idpMetadataXml": string(meta)}
	for k, v := range extra {
		body[k] = v
	}
	r := sg.do("PUT", "/api/v1/enterprises/"+sg.ent+"/sso", body, bearer(sg.owner.AccessToken)...)
	if r.status != 200 {
		t.Fatalf("PUT sso: %d %s", r.status, r.body)
	}
	return r.json(t)
}

// member creates the enterprise member as SCIM provisioning does.
func (sg *samlGateway) member(t *testing.T, email, status string) *store.User {
	t.Helper()
	now := time.Now().UTC()
	u := &store.User{ID: "member-" + strings.Split(email, "@")[0], Email: email, Roles: []string{"user", "member"}, Tier: "individual",
		Tenant: sg.ent, Status: status, CreatedAt: now, UpdatedAt: now}
	if err := sg.g.Store.Users().Create(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

// browser is a cookie-keeping client that does not follow redirects.
func browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// startLogin GETs the gateway's login URL in the browser and returns where
// it redirects (the IdP, with the AuthnRequest).
func (sg *samlGateway) startLogin(t *testing.T, b *http.Client) string {
	t.Helper()
	res, err := b.Get(sg.base + "/saml/" + sg.ent + "/login")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusFound || !strings.HasPrefix(loc, sg.idp.BaseURL) {
		t.Fatalf("login: %d to %q", res.StatusCode, loc)
	}
	return loc
}

// idpLogin signs in at SimpleSAMLphp (following its redirects with the
// same cookie jar) and returns the form it posts to the ACS.
func (sg *samlGateway) idpLogin(t *testing.T, b *http.Client, loc, user, pass string) *samlidp.PostedForm {
	t.Helper()
	follow := &http.Client{Jar: b.Jar, Timeout: 20 * time.Second}
	form, err := sg.idp.Login(context.Background(), follow, loc, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	if form.Action != sg.base+"/saml/"+sg.ent+"/acs" {
		t.Fatalf("IdP posts to %q", form.Action)
	}
	return form
}

// post sends the form to the ACS as the browser would (its cookies).
func post(t *testing.T, b *http.Client, action string, f url.Values) resp {
	t.Helper()
	res, err := b.PostForm(action, f)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: body}
}

// login runs the browser part of a login for user and returns the form
// SimpleSAMLphp posts to the ACS, and the browser.
func (sg *samlGateway) login(t *testing.T, user, pass string) (*http.Client, *samlidp.PostedForm) {
	t.Helper()
	b := browser()
	return b, sg.idpLogin(t, b, sg.startLogin(t, b), user, pass)
}

func (sg *samlGateway) acs() string { return sg.base + "/saml/" + sg.ent + "/acs" }

// TestSAMLLoginSimpleSAMLphp is the whole SP-initiated login: the owner
// configures the enterprise's SSO with SimpleSAMLphp's metadata; a member
// provisioned beforehand (as SCIM does) opens the gateway's login URL, is
// sent to SimpleSAMLphp with an AuthnRequest, signs in on its form, and
// the signed response posted to the ACS gets the gateway's own session:
// an access token that works, a refresh token that rotates. Then the same
// response again, a response posted by another browser, a response for
// another request, a tampered one, and a suspended member are all refused
// without a session; the status shows the logins and the last errors.
func TestSAMLLoginSimpleSAMLphp(t *testing.T) {
	sg := startSAMLGateway(t, false)
	view := sg.configure(t, map[string]any{"attributeMapping": map[string]any{"email": "email", "groups": "groups"}})
	if view["entityId"] != sg.base+"/saml/"+sg.ent+"/metadata" || view["acsUrl"] != sg.acs() || view["loginUrl"] != sg.base+"/saml/"+sg.ent+"/login" {
		t.Fatalf("view: %v", view)
	}
	alice := sg.member(t, "alice@acme.example", "active")

	// The SP metadata for the IdP: entity ID, ACS, the SP's certificate.
	md := sg.do("GET", "/saml/"+sg.ent+"/metadata", nil)
	if md.status != 200 || md.header.Get("Content-Type") != "application/samlmetadata+xml" ||
		!bytes.Contains(md.body, []byte(`entityID="`+sg.base+"/saml/"+sg.ent+`/metadata"`)) || !bytes.Contains(md.body, []byte(`Location="`+sg.acs()+`"`)) {
		t.Fatalf("metadata: %d %s %s", md.status, md.header.Get("Content-Type"), md.body)
	}
	if !bytes.Equal(sg.spCert(t), sg.spCertWant()) {
		t.Fatal("metadata does not publish the SP certificate of sp_key")
	}

	b, form := sg.login(t, "alice", "alicepass")
	r := post(t, b, form.Action, form.Fields)
	if r.status != 200 {
		t.Fatalf("ACS: %d %s", r.status, r.body)
	}
	var sess session
	json.Unmarshal(r.body, &sess)
	if sess.UserID != alice.ID || sess.AccessToken == "" || sess.RefreshToken == "" || sess.TokenType != "Bearer" {
		t.Fatalf("session: %s", r.body)
	}
	me := sg.do("GET", "/api/v1/users/me", nil, bearer(sess.AccessToken)...)
	if me.status != 200 || me.json(t)["email"] != "alice@acme.example" || me.json(t)["tenant"] != sg.ent {
		t.Fatalf("users/me with the SSO session: %d %s", me.status, me.body)
	}
	rf := sg.do("POST", "/api/v1/auth/refresh", map[string]string{"refreshToken": sess.RefreshToken})
	if rf.status != 200 {
		t.Fatalf("refresh of the SSO session: %d %s", rf.status, rf.body)
	}

	// The same response posted again: the state is spent, the assertion
	// ID remembered.
	if r := post(t, b, form.Action, form.Fields); r.status != 401 && r.status != 403 {
		t.Fatalf("replayed response: %d %s", r.status, r.body)
	} else {
		wantError(t, r, r.status, map[int]string{401: "UNAUTHORIZED", 403: "FORBIDDEN"}[r.status])
	}

	// A response posted from a browser that did not start the login
	// (login CSRF): refused, and the state is spent.
	_, form2 := sg.login(t, "alice", "alicepass")
	wantError(t, post(t, browser(), form2.Action, form2.Fields), 401, "UNAUTHORIZED")

	// The response to login B posted with login A's state and cookie: its
	// InResponseTo is not A's request.
	bA, formA := sg.login(t, "alice", "alicepass")
	_, formB := sg.login(t, "alice", "alicepass")
	mixed := url.Values{"SAMLResponse": {formB.Fields.Get("SAMLResponse")}, "RelayState": {formA.Fields.Get("RelayState")}}
	m := wantError(t, post(t, bA, sg.acs(), mixed), 401, "UNAUTHORIZED")
	if !strings.Contains(fmt.Sprint(m["message"]), "InResponseTo") {
		t.Fatalf("refused for another reason: %v", m["message"])
	}

	// A signed response with its NameID changed: the signature fails.
	bT, formT := sg.login(t, "alice", "alicepass")
	raw, _ := base64.StdEncoding.DecodeString(formT.Fields.Get("SAMLResponse"))
	tampered := bytes.Replace(raw, []byte("alice@acme.example"), []byte("admin@acme.example"), -1)
	if bytes.Equal(raw, tampered) {
		t.Fatal("NameID not found in the response")
	}
	formT.Fields.Set("SAMLResponse", base64.StdEncoding.EncodeToString(tampered))
	wantError(t, post(t, bT, formT.Action, formT.Fields), 401, "UNAUTHORIZED")

	// A suspended member gets no session.
	alice.Status = "suspended"
	if err := sg.g.Store.Users().Update(context.Background(), alice); err != nil {
		t.Fatal(err)
	}
	bS, formS := sg.login(t, "alice", "alicepass")
	wantError(t, post(t, bS, formS.Action, formS.Fields), 403, "FORBIDDEN")

	// Status, last errors and metrics.
	v := sg.do("GET", "/api/v1/enterprises/"+sg.ent+"/sso", nil, bearer(sg.owner.AccessToken)...)
	var got struct {
		Status struct {
			Logins, Failures int
			LastErrors       []struct{ Code, Message string }
			PluginLoaded     bool
		}
	}
	json.Unmarshal(v.body, &got)
	if v.status != 200 || got.Status.Logins != 1 || got.Status.Failures < 5 || len(got.Status.LastErrors) < 5 || !got.Status.PluginLoaded {
		t.Fatalf("status: %d %s", v.status, v.body)
	}
	mt := sg.do("GET", "/metrics", nil, bearer(sg.adminToken())...)
	if metricValue(t, mt.body, `gatewayd_sso_logins_total{result="success"}`) != 1 || metricValue(t, mt.body, `gatewayd_sso_logins_total{result="refused"}`) < 3 {
		t.Fatalf("metrics: %s", mt.body)
	}
	if strings.Contains(sg.logs.String(), formT.Fields.Get("SAMLResponse")[:64]) {
		t.Fatal("a SAMLResponse was logged")
	}
}

func (sg *samlGateway) spCertWant() []byte { return sg.spCert0 }

// TestSAMLBadInput: the ACS and the configuration endpoints get malformed,
// oversized, unauthenticated and unauthorised input, each answered with
// its JSON error, and nothing signs anyone in.
func TestSAMLBadInput(t *testing.T) {
	sg := startSAMLGateway(t, false)
	acs := sg.acs()
	before := sg.userCount()

	// Before any configuration: no SSO for this enterprise.
	wantError(t, sg.do("GET", "/saml/"+sg.ent+"/metadata", nil), 404, "NOT_FOUND")
	b := browser()
	res, _ := b.Get(sg.base + "/saml/" + sg.ent + "/login")
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Fatalf("login without SSO: %d", res.StatusCode)
	}
	wantError(t, sg.do("GET", "/api/v1/enterprises/"+sg.ent+"/sso", nil, bearer(sg.owner.AccessToken)...), 404, "NOT_FOUND")

	// Configuration: authentication, ownership, strictness, the plugin's schema.
	put := func(body any, auth ...string) resp {
		return sg.do("PUT", "/api/v1/enterprises/"+sg.ent+"/sso", body, auth...)
	}
	meta, _ := sg.idp.Metadata(context.Background())
	good := map[string]any{"enabled": true, "idpMetadataXml": string(meta)}
	wantError(t, put(good), 401, "UNAUTHORIZED")
	other := sg.register("other@example.com")
	wantError(t, put(good, bearer(other.AccessToken)...), 403, "FORBIDDEN")
	wantError(t, sg.do("GET", "/api/v1/enterprises/"+sg.ent+"/sso", nil, bearer(other.AccessToken)...), 403, "FORBIDDEN")
	wantError(t, sg.do("DELETE", "/api/v1/enterprises/"+sg.ent+"/sso", nil, bearer(other.AccessToken)...), 403, "FORBIDDEN")
	own := bearer(sg.owner.AccessToken)
	wantError(t, put(`{"enabled": true, "idpMetadataXml": "x", "surprise": 1}`, own...), 400, "VALIDATION_ERROR")
	wantError(t, put(`{"enabled": tru`, own...), 400, "VALIDATION_ERROR")
	wantError(t, put(map[string]any{"enabled": true}, own...), 400, "VALIDATION_ERROR") // no IdP metadata
	wantError(t, put(map[string]any{"enabled": true, "idpMetadataXml": string(meta), "idpMetadataUrl": "https://idp.example/metadata"}, own...), 400, "VALIDATION_ERROR")
	wantError(t, put(map[string]any{"enabled": true, "idpMetadataUrl": "http://idp.example/metadata"}, own...), 400, "VALIDATION_ERROR")
	wantError(t, put(map[string]any{"enabled": true, "idpMetadataXml": string(meta), "attributeMapping": map[string]any{"salary": "x"}}, own...), 400, "VALIDATION_ERROR")
	wantError(t, put(map[string]any{"enabled": true, "idpMetadataXml": string(meta), "nameIdFormat": "urn:evil"}, own...), 400, "VALIDATION_ERROR")
	// Valid for the schema, unusable by the plugin: refused at once.
	wantError(t, put(map[string]any{"enabled": true, "idpMetadataXml": "<EntityDescriptor/>"}, own...), 400, "VALIDATION_ERROR")
	wantError(t, put(map[string]any{"enabled": true, "idpMetadataXml": `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>`}, own...), 400, "VALIDATION_ERROR")
	wantError(t, sg.do("PUT", "/api/v1/enterprises/"+sg.ent+"/sso", `{}`, append(own, "Content-Type", "application/xml")...), 415, "UNSUPPORTED_MEDIA_TYPE")
	wantError(t, sg.oversized("PUT", "/api/v1/enterprises/"+sg.ent+"/sso", own...), 413, "PAYLOAD_TOO_LARGE")
	wantError(t, sg.do("PUT", "/api/v1/enterprises/nope/sso", good, own...), 404, "NOT_FOUND")
	sg.configure(t, nil)

	// The ACS.
	form := func(v url.Values) resp { return post(t, browser(), acs, v) }
	wantError(t, form(url.Values{}), 400, "VALIDATION_ERROR")
	wantError(t, form(url.Values{"SAMLResponse": {"%%% not base64 %%%"}}), 400, "VALIDATION_ERROR")
	wantError(t, form(url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString([]byte("definitely not XML"))}}), 400, "VALIDATION_ERROR")
	wantError(t, form(url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString([]byte(`{"json": true}`))}}), 400, "VALIDATION_ERROR")
	xxe := `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&x;</samlp:Response>`
	m := wantError(t, form(url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString([]byte(xxe))}}), 400, "VALIDATION_ERROR")
	if !strings.Contains(fmt.Sprint(m["message"]), "DTD") {
		t.Fatalf("XXE refused for another reason: %v", m)
	}
	// An unsolicited response (IdP-initiated login is off by default).
	_, f := sg.login(t, "alice", "alicepass")
	f.Fields.Del("RelayState")
	wantError(t, form(f.Fields), 403, "FORBIDDEN")
	// Not a form, and too large.
	res, err := http.Post(acs, "application/json", strings.NewReader(`{"SAMLResponse": "x"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	wantError(t, resp{status: res.StatusCode, header: res.Header, body: body}, 415, "UNSUPPORTED_MEDIA_TYPE")
	wantError(t, sg.oversized("POST", "/saml/"+sg.ent+"/acs"), 413, "PAYLOAD_TOO_LARGE")
	// A deflate bomb on the HTTP-Redirect binding: 8 MiB of spaces in the
	// ~11 KiB a URL may carry here (fasthttp's 16 KiB header limit),
	// refused after inflating 384 KiB.
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestCompression)
	w.Write([]byte(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">`))
	chunk := bytes.Repeat([]byte(" "), 1<<20)
	for range 8 {
		w.Write(chunk)
	}
	w.Close()
	bomb := url.QueryEscape(base64.StdEncoding.EncodeToString(z.Bytes()))
	if len(bomb) > 14<<10 {
		t.Fatalf("bomb too large for a URL: %d", len(bomb))
	}
	start := time.Now()
	m = wantError(t, sg.do("GET", "/saml/"+sg.ent+"/acs?SAMLResponse="+bomb, nil), 400, "VALIDATION_ERROR")
	if !strings.Contains(fmt.Sprint(m["message"]), "too large") || time.Since(start) > 5*time.Second {
		t.Fatalf("bomb: %v after %v", m, time.Since(start))
	}
	// Unknown and malformed enterprises.
	wantError(t, form2(t, sg.base+"/saml/nope/acs"), 404, "NOT_FOUND")
	wantError(t, sg.do("GET", "/saml/"+strings.Repeat("x", 200)+"/metadata", nil), 404, "NOT_FOUND")

	// Not provisioned and no just-in-time provisioning: refused; with it,
	// the member is created for the enterprise.
	b2, f2 := sg.login(t, "alice", "alicepass")
	wantError(t, post(t, b2, f2.Action, f2.Fields), 403, "FORBIDDEN")
	if n := sg.userCount(); n != before+1 { // other@example.com only
		t.Fatalf("bad input created %d users", n-before-1)
	}
	sg.configure(t, map[string]any{"jitProvisioning": true})
	b3, f3 := sg.login(t, "alice", "alicepass")
	r := post(t, b3, f3.Action, f3.Fields)
	if r.status != 200 {
		t.Fatalf("JIT login: %d %s", r.status, r.body)
	}
	var sess session
	json.Unmarshal(r.body, &sess)
	u, err := sg.g.Store.Users().Get(context.Background(), sess.UserID)
	if err != nil || u.Tenant != sg.ent || u.Email != "alice@acme.example" || u.PasswordHash != "" || u.Status != "active" {
		t.Fatalf("JIT member: %+v %v", u, err)
	}
	// The next login finds the same member through the subject link.
	b4, f4 := sg.login(t, "alice", "alicepass")
	r = post(t, b4, f4.Action, f4.Fields)
	json.Unmarshal(r.body, &sess)
	if r.status != 200 || sess.UserID != u.ID {
		t.Fatalf("second login: %d %s", r.status, r.body)
	}
	// IdP-initiated login (SimpleSAMLphp's unsolicited response, no
	// InResponseTo, no RelayState of ours): refused by default (above),
	// accepted once the enterprise enables it.
	sg.configure(t, map[string]any{"jitProvisioning": true, "allowIdpInitiated": true})
	b5 := browser()
	f5, err := sg.idp.Login(context.Background(), &http.Client{Jar: b5.Jar, Timeout: 20 * time.Second},
		sg.idp.IdPInitiatedURL(sg.base+"/saml/"+sg.ent+"/metadata"), "alice", "alicepass")
	if err != nil {
		t.Fatal(err)
	}
	r = post(t, b5, f5.Action, f5.Fields)
	json.Unmarshal(r.body, &sess)
	if r.status != 200 || sess.UserID != u.ID {
		t.Fatalf("IdP-initiated login: %d %s", r.status, r.body)
	}
	// Disabled, then removed.
	sg.configure(t, map[string]any{"enabled": false})
	res, _ = browser().Get(sg.base + "/saml/" + sg.ent + "/login")
	res.Body.Close()
	if res.StatusCode != 403 {
		t.Fatalf("login with SSO disabled: %d", res.StatusCode)
	}
	if r := sg.do("DELETE", "/api/v1/enterprises/"+sg.ent+"/sso", nil, own...); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	wantError(t, sg.do("GET", "/saml/"+sg.ent+"/metadata", nil), 404, "NOT_FOUND")
}

func form2(t *testing.T, action string) resp {
	return post(t, browser(), action, url.Values{"SAMLResponse": {"PHg+"}})
}

// TestSAMLEncryptedSimpleSAMLphp: SimpleSAMLphp encrypts the assertion for
// the certificate the SP publishes; the login succeeds, and the connector
// can require encryption.
//
// The first login comes more than 5 s after the plugin started: go-plugin's
// broker drops the host's connection info after 5 s, so the SDK's process
// runner must have dialled the host's capabilities at the first call (the
// warm-up Describe), or the plugin could not reach its KV.
func TestSAMLEncryptedSimpleSAMLphp(t *testing.T) {
	sg := startSAMLGateway(t, true)
	time.Sleep(6 * time.Second)
	sg.configure(t, map[string]any{"requireEncryptedAssertions": true})
	sg.member(t, "alice@acme.example", "active")
	b, f := sg.login(t, "alice", "alicepass")
	raw, _ := base64.StdEncoding.DecodeString(f.Fields.Get("SAMLResponse"))
	if !bytes.Contains(raw, []byte("EncryptedAssertion")) {
		t.Fatal("SimpleSAMLphp did not encrypt the assertion")
	}
	if r := post(t, b, f.Action, f.Fields); r.status != 200 {
		t.Fatalf("encrypted login: %d %s", r.status, r.body)
	}
}

// TestSAMLLoginOfSCIMProvisionedMember joins the two halves of the
// enterprise directory: Okta-style SCIM provisioning creates the member
// (plugins/scim), the SAML login through SimpleSAMLphp signs that member
// in, and once SCIM deactivates the user the next SAML login is refused.
func TestSAMLLoginOfSCIMProvisionedMember(t *testing.T) {
	sg := startSAMLGatewayWith(t, false, true)
	sg.configure(t, nil)
	r := sg.scim(sg.scimEnt, "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
		"userName":"alice@acme.example","displayName":"Alice Doe","emails":[{"primary":true,"value":"alice@acme.example","type":"work"}],"active":true}`)
	if r.status != 201 {
		t.Fatalf("SCIM create: %d %s", r.status, r.body)
	}
	scimID := r.json(t)["id"].(string)
	m := sg.members(t, sg.scimEnt)[scimID]
	if m.UserID == "" {
		t.Fatalf("no member account: %+v", m)
	}
	b, f := sg.login(t, "alice", "alicepass")
	res := post(t, b, f.Action, f.Fields)
	var sess session
	json.Unmarshal(res.body, &sess)
	if res.status != 200 || sess.UserID != m.UserID {
		t.Fatalf("SAML login of the SCIM member %s: %d %s", m.UserID, res.status, res.body)
	}
	who := sg.do("GET", "/api/v1/auth/whoami", nil, bearer(sess.AccessToken)...)
	if who.status != 200 || who.json(t)["tenant"] != sg.ent {
		t.Fatalf("whoami: %d %s", who.status, who.body)
	}
	// Deactivated through SCIM: no more SAML logins.
	r = sg.scim(sg.scimEnt, "PATCH", "/Users/"+scimID, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","value":{"active":false}}]}`)
	if r.status != 200 {
		t.Fatalf("SCIM deactivate: %d %s", r.status, r.body)
	}
	b2, f2 := sg.login(t, "alice", "alicepass")
	wantError(t, post(t, b2, f2.Action, f2.Fields), 403, "FORBIDDEN")
}
