// Package samlidp runs a real SAML 2.0 identity provider for tests:
// SimpleSAMLphp from Debian (package simplesamlphp, 1.19 on bookworm),
// served by PHP's built-in web server on a loopback port, as
// ../shared/specs/local-peers.md describes. Start writes a configuration
// into a temporary directory (a copy of Debian's /etc/simplesamlphp/config.php
// without its secrets include, with the URLs, directories, secrets and the
// IdP switched on), a hosted IdP with a fresh self-signed RSA key that
// signs responses and assertions with RSA-SHA256, one SP registered in
// saml20-sp-remote.php, and an exampleauth:UserPass source; Login drives
// the IdP's login form headlessly with net/http and a cookie jar.
//
// Tests that need the IdP call Start; it skips the test when php or
// SimpleSAMLphp is not installed, and fails it instead when the
// environment variable CI is set (.ci/run installs both).
package samlidp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"html"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// Paths of the Debian package.
const (
	WWWDir        = "/usr/share/simplesamlphp/www"
	debianConfig  = "/etc/simplesamlphp/config.php"
	secretsInclue = "require_once('/var/lib/simplesamlphp/secrets.inc.php');"
)

// User is an account of the IdP's UserPass source with its attributes.
type User struct {
	Password   string
	Attributes map[string][]string
}

// Options configure the IdP.
type Options struct {
	// SPEntityID and SPACSURL register the one SP (saml20-sp-remote.php).
	SPEntityID, SPACSURL string
	// SPCertificate (DER), when set with EncryptAssertions, is the SP's
	// encryption certificate: assertions are then encrypted for it.
	SPCertificate     []byte
	EncryptAssertions bool
	// NameIDFormat the IdP sends (default emailAddress, from the "email"
	// attribute).
	NameIDFormat string
	// Users of the UserPass source, by user name. Default: alice with
	// password alicepass, email alice@acme.example, displayName Alice Doe,
	// groups eng.
	Users map[string]User
}

// IdP is a running SimpleSAMLphp IdP.
type IdP struct {
	// BaseURL is http://127.0.0.1:<port>/.
	BaseURL string
	// EntityID is the hosted IdP's entity ID (its metadata URL).
	EntityID string
	// Dir holds the configuration, keys, logs and sessions.
	Dir string
	// Certificate is the IdP's signing certificate (DER).
	Certificate []byte
	cmd         *exec.Cmd
	out         *bytes.Buffer
}

// Available reports why SimpleSAMLphp cannot run here, or nil.
func Available() error {
	if _, err := exec.LookPath("php"); err != nil {
		return errors.New("php is not installed (apt-get install --no-install-recommends simplesamlphp php-cli php-xml php-mbstring)")
	}
	for _, p := range []string{WWWDir, debianConfig} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("simplesamlphp is not installed: %v", err)
		}
	}
	return nil
}

// Require skips tb when SimpleSAMLphp is not installed, or fails it when
// the environment variable CI is set.
func Require(tb testing.TB) {
	tb.Helper()
	if err := Available(); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("SimpleSAMLphp required in CI: %v", err)
		}
		tb.Skipf("SimpleSAMLphp not available: %v", err)
	}
}

// Start configures and starts the IdP; it is stopped when tb ends.
func Start(tb testing.TB, o Options) *IdP {
	tb.Helper()
	Require(tb)
	if o.NameIDFormat == "" {
		o.NameIDFormat = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
	}
	if o.Users == nil {
		o.Users = map[string]User{"alice": {Password: "alicepass", Attributes: map[string][]string{
			"email": {"alice@acme.example"}, "displayName": {"Alice Doe"}, "groups": {"eng"}}}}
	}
	dir := tb.TempDir()
	port, err := freePort()
	if err != nil {
		tb.Fatal(err)
	}
	idp := &IdP{BaseURL: fmt.Sprintf("http://127.0.0.1:%d/", port), Dir: dir, out: &bytes.Buffer{}}
	idp.EntityID = idp.BaseURL + "saml2/idp/metadata.php"
	if err := idp.writeConfig(o); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command("php", "-S", fmt.Sprintf("127.0.0.1:%d", port), "-t", WWWDir,
		"-d", "session.save_path="+filepath.Join(dir, "sessions"), "-d", "display_errors=stderr", "-d", "error_reporting=E_ALL & ~E_DEPRECATED")
	cmd.Env = append(os.Environ(), "SIMPLESAMLPHP_CONFIG_DIR="+filepath.Join(dir, "config"))
	cmd.Stdout, cmd.Stderr = idp.out, idp.out
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	idp.cmd = cmd
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if tb.Failed() {
			tb.Logf("SimpleSAMLphp output:\n%s", idp.out.String())
			if b, err := os.ReadFile(filepath.Join(dir, "log", "simplesamlphp.log")); err == nil {
				tb.Logf("SimpleSAMLphp log (last 4 KiB):\n%s", tail(b, 4096))
			}
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(idp.EntityID)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("SimpleSAMLphp did not serve its metadata: %v\n%s", err, idp.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return idp
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// phpString quotes s as a PHP single-quoted string.
func phpString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func (idp *IdP) writeConfig(o Options) error {
	d := idp.Dir
	for _, sub := range []string{"config", "cert", "log", "data", "tmp", "metadata", "sessions"} {
		if err := os.MkdirAll(filepath.Join(d, sub), 0o700); err != nil {
			return err
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "SimpleSAMLphp test IdP"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return err
	}
	idp.Certificate = der
	if err := os.WriteFile(filepath.Join(d, "cert", "idp.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d, "cert", "idp.pem"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return err
	}
	base, err := os.ReadFile(debianConfig)
	if err != nil {
		return err
	}
	cfg := strings.Replace(string(base), secretsInclue, "", 1)
	salt := make([]byte, 24)
	rand.Read(salt)
	set := func(k, v string) { cfg += "$config[" + phpString(k) + "] = " + v + ";\n" }
	cfg += "\n// gatewayd test overrides\n"
	set("baseurlpath", phpString(idp.BaseURL))
	set("certdir", phpString(filepath.Join(d, "cert")+"/"))
	set("loggingdir", phpString(filepath.Join(d, "log")+"/"))
	set("datadir", phpString(filepath.Join(d, "data")+"/"))
	set("tempdir", phpString(filepath.Join(d, "tmp")))
	set("metadatadir", phpString(filepath.Join(d, "metadata")+"/"))
	set("secretsalt", phpString(base64.RawStdEncoding.EncodeToString(salt)))
	set("auth.adminpassword", phpString(base64.RawStdEncoding.EncodeToString(salt[:12])))
	set("technicalcontact_email", phpString("nobody@example.test"))
	set("timezone", phpString("UTC"))
	set("enable.saml20-idp", "true")
	set("module.enable", "['exampleauth' => true, 'core' => true, 'saml' => true, 'admin' => true]")
	set("session.cookie.secure", "false")
	set("session.cookie.samesite", "null")
	set("logging.handler", phpString("file"))
	set("logging.logfile", phpString("simplesamlphp.log"))
	set("logging.level", "SimpleSAML\\Logger::DEBUG")
	set("store.type", phpString("phpsession"))
	set("language.default", phpString("en"))
	set("metadata.sources", "[['type' => 'flatfile']]")
	if err := os.WriteFile(filepath.Join(d, "config", "config.php"), []byte(cfg), 0o600); err != nil {
		return err
	}

	var users strings.Builder
	names := make([]string, 0, len(o.Users))
	for n := range o.Users {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		u := o.Users[n]
		fmt.Fprintf(&users, "        %s => [", phpString(n+":"+u.Password))
		keys := make([]string, 0, len(u.Attributes))
		for k := range u.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			var vs []string
			for _, v := range u.Attributes[k] {
				vs = append(vs, phpString(v))
			}
			fmt.Fprintf(&users, "%s => [%s], ", phpString(k), strings.Join(vs, ", "))
		}
		users.WriteString("],\n")
	}
	auth := "<?php\n$config = [\n    'admin' => ['core:AdminPassword'],\n    'example-userpass' => [\n        'exampleauth:UserPass',\n" +
		users.String() + "    ],\n];\n"
	if err := os.WriteFile(filepath.Join(d, "config", "authsources.php"), []byte(auth), 0o600); err != nil {
		return err
	}

	hosted := `<?php
$metadata['__DYNAMIC:1__'] = [
    'host' => '__DEFAULT__',
    'privatekey' => 'idp.pem',
    'certificate' => 'idp.crt',
    'auth' => 'example-userpass',
    'saml20.sign.response' => true,
    'saml20.sign.assertion' => true,
    'signature.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
];
`
	if err := os.WriteFile(filepath.Join(d, "metadata", "saml20-idp-hosted.php"), []byte(hosted), 0o600); err != nil {
		return err
	}
	sp := "<?php\n$metadata[" + phpString(o.SPEntityID) + "] = [\n" +
		"    'AssertionConsumerService' => " + phpString(o.SPACSURL) + ",\n" +
		"    'NameIDFormat' => " + phpString(o.NameIDFormat) + ",\n" +
		"    'simplesaml.nameidattribute' => 'email',\n" +
		"    'simplesaml.attributes' => true,\n" +
		"    'signature.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',\n"
	if o.EncryptAssertions && o.SPCertificate != nil {
		sp += "    'assertion.encryption' => true,\n" +
			"    'sharedkey_algorithm' => 'http://www.w3.org/2001/04/xmlenc#aes256-cbc',\n" +
			"    'certData' => " + phpString(base64.StdEncoding.EncodeToString(o.SPCertificate)) + ",\n"
	}
	sp += "];\n"
	if err := os.WriteFile(filepath.Join(d, "metadata", "saml20-sp-remote.php"), []byte(sp), 0o600); err != nil {
		return err
	}
	return nil
}

// Metadata fetches the IdP's metadata XML.
func (idp *IdP) Metadata(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", idp.EntityID, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("metadata: HTTP %d", resp.StatusCode)
	}
	return b, nil
}

// IdPInitiatedURL is where a browser starts an IdP-initiated login for the
// SP spEntityID (SimpleSAMLphp's saml2/idp/SSOService.php?spentityid=…);
// pass it to Login as the redirect URL.
func (idp *IdP) IdPInitiatedURL(spEntityID string) string {
	return idp.BaseURL + "saml2/idp/SSOService.php?spentityid=" + url.QueryEscape(spEntityID)
}

// PostedForm is the auto-submitted form the IdP answers a successful login
// with (SAML Bindings 3.5, HTTP-POST).
type PostedForm struct {
	Action string
	Fields url.Values
}

var (
	reAuthState = regexp.MustCompile(`name="AuthState"\s+value="([^"]*)"`)
	reFormPost  = regexp.MustCompile(`(?is)<form[^>]*method="post"[^>]*action="([^"]*)"`)
	reHidden    = regexp.MustCompile(`(?is)<input[^>]*type="hidden"[^>]*name="([^"]*)"[^>]*value="([^"]*)"`)
)

// Login follows redirectURL (the SP's AuthnRequest over HTTP-Redirect) to
// the IdP's login form with client (which should carry a cookie jar),
// signs in as user with password, and returns the form the IdP then
// posts to the SP, without posting it.
func (idp *IdP) Login(ctx context.Context, client *http.Client, redirectURL, user, password string) (*PostedForm, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", redirectURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	page, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("IdP answered the AuthnRequest with HTTP %d: %s", resp.StatusCode, tail(page, 2000))
	}
	m := reAuthState.FindSubmatch(page)
	if m == nil {
		return nil, fmt.Errorf("no login form at %s: %s", resp.Request.URL, tail(page, 2000))
	}
	loginURL := resp.Request.URL
	form := url.Values{"username": {user}, "password": {password}, "AuthState": {html.UnescapeString(string(m[1]))}}
	req, err = http.NewRequestWithContext(ctx, "POST", loginURL.Scheme+"://"+loginURL.Host+loginURL.Path, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = client.Do(req)
	if err != nil {
		return nil, err
	}
	page, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("login: HTTP %d: %s", resp.StatusCode, tail(page, 2000))
	}
	return parsePostForm(page)
}

func parsePostForm(page []byte) (*PostedForm, error) {
	m := reFormPost.FindSubmatch(page)
	if m == nil {
		return nil, fmt.Errorf("no auto-submitted form in the IdP's answer: %s", tail(page, 2000))
	}
	pf := &PostedForm{Action: html.UnescapeString(string(m[1])), Fields: url.Values{}}
	for _, h := range reHidden.FindAllSubmatch(page, -1) {
		pf.Fields.Add(html.UnescapeString(string(h[1])), html.UnescapeString(string(h[2])))
	}
	if pf.Fields.Get("SAMLResponse") == "" {
		return nil, fmt.Errorf("the IdP's form has no SAMLResponse: %s", tail(page, 2000))
	}
	return pf, nil
}
