package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultsAreValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if c.Listen != "127.0.0.1:8080" || c.DataDir != "./data" || c.Ledger.Backend != "local" {
		t.Fatalf("defaults changed: %+v", c)
	}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gatewayd.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFileEnvPrecedence(t *testing.T) {
	p := writeFile(t, "listen: 0.0.0.0:9000\nhttp:\n  max_body_bytes: 4096\n  trusted_proxies: [10.0.0.1]\nratelimit:\n  api: {limit: 7, window: 30s}\n")
	c, err := Load(p, []string{"GATEWAYD_HTTP_MAX_BODY_BYTES=8192", "GATEWAYD_RATELIMIT_API_WINDOW=2m",
		"GATEWAYD_HTTP_TRUSTED_PROXIES=10.0.0.2, 10.0.0.0/8", "GATEWAYD_LOG_ACCESS_LOG=false", "OTHER=1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "0.0.0.0:9000" {
		t.Errorf("listen %q from the file", c.Listen)
	}
	if c.HTTP.MaxBodyBytes != 8192 {
		t.Errorf("env must win over file: %d", c.HTTP.MaxBodyBytes)
	}
	if c.RateLimit.API.Limit != 7 || c.RateLimit.API.Window != 2*time.Minute {
		t.Errorf("ratelimit.api = %+v", c.RateLimit.API)
	}
	if strings.Join(c.HTTP.TrustedProxies, "|") != "10.0.0.2|10.0.0.0/8" {
		t.Errorf("list from env: %q", c.HTTP.TrustedProxies)
	}
	if c.Log.AccessLog {
		t.Error("bool from env ignored")
	}
	if c.Limits.Tiers["individual"].Static["did_profiles"] != 2 {
		t.Error("untouched defaults lost")
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownKeyRejected(t *testing.T) {
	p := writeFile(t, "listen: 127.0.0.1:1\nmaster_key: c2VjcmV0\n")
	if _, err := Load(p, nil); err == nil || !strings.Contains(err.Error(), "master_key") {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestEnvErrorsNameTheVariable(t *testing.T) {
	_, err := Load("", []string{"GATEWAYD_HTTP_READ_TIMEOUT=soon"})
	if err == nil || !strings.Contains(err.Error(), "GATEWAYD_HTTP_READ_TIMEOUT") || !strings.Contains(err.Error(), "http.read_timeout") {
		t.Fatalf("err = %v", err)
	}
}

func TestValidateNamesKeys(t *testing.T) {
	c := Default()
	c.Listen = "nowhere"
	c.Log.Level = "loud"
	c.HTTP.MaxBodyBytes = 10
	c.Auth.AccessTokenTTL = 2 * time.Hour
	c.RateLimit.DID.Limit = 0
	c.TLS.CertFile = "/x.pem"
	c.HTTP.TrustedProxies = []string{"not-an-ip"}
	c.Ledger.Backend = "ipfs"
	err := c.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, key := range []string{"listen", "log.level", "http.max_body_bytes", "auth.access_token_ttl", "ratelimit.did.limit", "tls", "http.trusted_proxies", "ledger.backend"} {
		found := false
		for _, e := range unwrapAll(err) {
			var ce *Error
			if errors.As(e, &ce) && ce.Key == key {
				found = true
			}
		}
		if !found {
			t.Errorf("no error names %s in: %v", key, err)
		}
	}
}

func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestPrintRedactsAndRoundTrips(t *testing.T) {
	c := Default()
	var buf bytes.Buffer
	if err := c.Print(&buf, true); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "GATEWAYD_MASTER_KEY: set ([redacted])") {
		t.Fatalf("master key state missing:\n%s", out)
	}
	// The printed configuration is itself a valid file.
	p := writeFile(t, out)
	c2, err := Load(p, nil)
	if err != nil {
		t.Fatalf("printed config does not load: %v", err)
	}
	if c2.Auth.AccessTokenTTL != c.Auth.AccessTokenTTL || c2.RateLimit.Auth != c.RateLimit.Auth {
		t.Fatal("round trip changed values")
	}
}

func TestExampleFileIsValid(t *testing.T) {
	c, err := Load("../../gatewayd.example.yaml", nil)
	if err != nil {
		t.Fatalf("gatewayd.example.yaml: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("gatewayd.example.yaml: %v", err)
	}
	d := Default()
	var a, b bytes.Buffer
	c.Print(&a, false)
	d.Print(&b, false)
	if a.String() != b.String() {
		t.Fatalf("the example file must document the defaults:\n--- example\n%s\n--- defaults\n%s", a.String(), b.String())
	}
}

func TestEnvNamesCoverKeys(t *testing.T) {
	names := map[string]string{}
	for _, e := range EnvNames() {
		names[e[0]] = e[1]
	}
	for _, want := range []string{"GATEWAYD_LISTEN", "GATEWAYD_DATA_DIR", "GATEWAYD_MASTER_KEY_FILE", "GATEWAYD_POLICY_DIR", "GATEWAYD_LOG_LEVEL", "GATEWAYD_RATELIMIT_AUTH_LIMIT"} {
		if _, ok := names[want]; !ok {
			t.Errorf("%s missing", want)
		}
	}
}
