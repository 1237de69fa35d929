// Package config loads, overrides, validates and prints gatewayd's
// configuration.
//
// Precedence, lowest first: embedded defaults, the YAML file (decoded
// strictly: an unknown key is an error), GATEWAYD_* environment variables
// (one per key: the key path upper-cased and joined with "_", so
// http.max_body_bytes is GATEWAYD_HTTP_MAX_BODY_BYTES), then command-line
// flags. Secrets never come from the file itself: the master key is read
// from master_key_file or from GATEWAYD_MASTER_KEY.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ubeu/gateway/host/limits"
	"github.com/ubeu/gateway/host/ratelimit"
	"github.com/ubeu/gateway/host/treasury"
)

// EnvPrefix starts the name of every environment variable that overrides a
// key.
const EnvPrefix = "GATEWAYD_"

// MasterKeyEnv holds the master key itself (base64 or hex); it is never
// part of the configuration file.
const MasterKeyEnv = "GATEWAYD_MASTER_KEY"

// Config is the whole configuration. Field tags: yaml names the key;
// secret:"true" marks values that `gatewayd config print` redacts.
type Config struct {
	// Listen is the address of the public API listener.
	Listen string `yaml:"listen"`
	// DataDir holds the Badger store, the sealed signing keys and, in
	// development, the generated master key.
	DataDir string `yaml:"data_dir"`
	// MasterKeyFile is a file holding the 32-byte master key (base64 or
	// hex). Empty with GATEWAYD_MASTER_KEY unset: a development key is
	// generated under the data dir and a warning logged at every start.
	MasterKeyFile string `yaml:"master_key_file"`

	Log       Log           `yaml:"log"`
	TLS       TLS           `yaml:"tls"`
	HTTP      HTTP          `yaml:"http"`
	Admin     Admin         `yaml:"admin"`
	Auth      Auth          `yaml:"auth"`
	Policy    Policy        `yaml:"policy"`
	RateLimit RateLimit     `yaml:"ratelimit"`
	Limits    limits.Config `yaml:"limits"`
	Store     Store         `yaml:"store"`
	Ledger    Ledger        `yaml:"ledger"`
	DID       DID           `yaml:"did"`

	Enterprise  Enterprise  `yaml:"enterprise"`
	Credentials Credentials `yaml:"credentials"`
	Treasury    Treasury    `yaml:"treasury"`
}

// WebhookSecretEnv holds the payment provider's webhook signing secrets
// (comma-separated while one is rotated); never part of the file.
const WebhookSecretEnv = "GATEWAYD_BILLING_WEBHOOK_SECRET"

// Treasury configures sponsorship of network fees and billing.
type Treasury struct {
	// Operations is the operation table: the estimated cost of one unit
	// of each operation type, in US dollars ("0.02"). Estimates price the
	// policy decision and the reports; the receipt's fee is what is
	// recorded as spent. Set in the file only.
	Operations map[string]string `yaml:"operations"`
	// ExchangeRate is the HBAR to US cent rate on the local ledger (the
	// hedera backend reads the network's from the mirror node).
	ExchangeRate ExchangeRate `yaml:"exchange_rate"`
	// RateRefresh is how often the rate is refreshed; RateMaxAge how old a
	// rate may be before sponsorship is refused rather than guessed.
	RateRefresh time.Duration `yaml:"rate_refresh"`
	RateMaxAge  time.Duration `yaml:"rate_max_age"`
	// MinCentsPerHbar and MaxCentsPerHbar bound a believable rate.
	MinCentsPerHbar float64 `yaml:"min_cents_per_hbar"`
	MaxCentsPerHbar float64 `yaml:"max_cents_per_hbar"`
	// LowBalanceHbar: below it /readyz warns and the policy sees
	// treasury.low_balance.
	LowBalanceHbar int64 `yaml:"low_balance_hbar"`
	// BalanceInterval is how often the treasury's balance is read.
	BalanceInterval time.Duration `yaml:"balance_interval"`
	// LocalBalanceHbar is the local ledger's initial treasury balance.
	LocalBalanceHbar int64 `yaml:"local_balance_hbar"`
	// LocalFees are the fees the local ledger charges, in US dollars, by
	// transaction (create_topic, submit_message per chunk, token_create,
	// token_mint): Hedera's prices. Set in the file only.
	LocalFees map[string]string `yaml:"local_fees"`
	// WebhookSecretFile holds the payment provider's webhook secret(s),
	// one per line; or set GATEWAYD_BILLING_WEBHOOK_SECRET. Without one the
	// webhook answers 503.
	WebhookSecretFile string `yaml:"webhook_secret_file"`
	// Pricing is the plans' prices (integer cents).
	Pricing treasury.Pricing `yaml:"pricing"`
}

// ExchangeRate is HbarEquivalent HBAR = CentEquivalent US cents.
type ExchangeRate struct {
	HbarEquivalent int64 `yaml:"hbar_equivalent"`
	CentEquivalent int64 `yaml:"cent_equivalent"`
}

// Credentials configures credential issuance and verification.
type Credentials struct {
	// PublicURL is the base URL verifiers reach this gateway at; status
	// lists are served under PublicURL/status/. Empty means
	// "http://" + listen (development).
	PublicURL string `yaml:"public_url"`
	// StatusListEntries is the size of a new status list (at least 131072,
	// the Bitstring Status List minimum).
	StatusListEntries int `yaml:"status_list_entries"`
	// StatusTTL is the ttl of served status lists and the longest time a
	// verifier here reuses a fetched one.
	StatusTTL time.Duration `yaml:"status_ttl"`
	// BulkMax is the most credentials one bulk request may carry.
	BulkMax int `yaml:"bulk_max"`
	// MaxCredentialBytes caps one credential (unsigned on issue, secured on
	// verify).
	MaxCredentialBytes int `yaml:"max_credential_bytes"`
	// FetchTimeout and FetchMaxBytes cap fetching a remote status list or
	// schema during verification.
	FetchTimeout  time.Duration `yaml:"fetch_timeout"`
	FetchMaxBytes int64         `yaml:"fetch_max_bytes"`
	// FetchAllowPrivate lets those fetches reach private and loopback
	// addresses (tests, private deployments). Off by default.
	FetchAllowPrivate bool `yaml:"fetch_allow_private"`
}

// CredentialsPublicURL returns credentials.public_url, or the development
// default derived from listen, without a trailing slash.
func (c *Config) CredentialsPublicURL() string {
	if u := strings.TrimRight(c.Credentials.PublicURL, "/"); u != "" {
		return u
	}
	return "http://" + c.Listen
}

// Enterprise configures enterprise issuers: the DNS proof of their parent
// domain and the tiers they register with.
type Enterprise struct {
	// DNSServer is the DNS server the TXT challenge is looked up through,
	// "host:port" (port 53 if omitted); empty uses the system's resolvers
	// (/etc/resolv.conf).
	DNSServer string `yaml:"dns_server"`
	// DNSTimeout bounds one verification lookup, all queries included.
	DNSTimeout time.Duration `yaml:"dns_timeout"`
	// ChallengeTTL is how long a DNS challenge stays valid.
	ChallengeTTL time.Duration `yaml:"challenge_ttl"`
	// Tiers are the enterprise tiers, with the monthly limit given to each
	// of their API keys.
	Tiers EnterpriseTiers `yaml:"tiers"`
}

// EnterpriseTiers are the tiers an enterprise registers with.
type EnterpriseTiers struct {
	Pro        EnterpriseTier `yaml:"pro"`
	Enterprise EnterpriseTier `yaml:"enterprise"`
}

// EnterpriseTier is one enterprise tier.
type EnterpriseTier struct {
	// MonthlyCredentials is the monthly limit of an API key of the tier.
	MonthlyCredentials int `yaml:"monthly_credentials"`
}

// Get returns the tier called name ("pro" or "enterprise").
func (t EnterpriseTiers) Get(name string) (EnterpriseTier, bool) {
	switch name {
	case "pro":
		return t.Pro, true
	case "enterprise":
		return t.Enterprise, true
	}
	return EnterpriseTier{}, false
}

// DID configures DID resolution.
type DID struct {
	// CacheMemoryBytes bounds the in-memory tier of the resolution cache.
	CacheMemoryBytes int64 `yaml:"cache_memory_bytes"`
	// Cache TTLs per method (hedera, key, web) and for names.
	CacheTTLHedera time.Duration `yaml:"cache_ttl_hedera"`
	CacheTTLKey    time.Duration `yaml:"cache_ttl_key"`
	CacheTTLWeb    time.Duration `yaml:"cache_ttl_web"`
	CacheTTLNames  time.Duration `yaml:"cache_ttl_names"`
	// NegativeTTL is how long notFound and invalidDid answers are cached.
	NegativeTTL time.Duration `yaml:"negative_ttl"`
	// WebTimeout and WebMaxBytes cap a did:web fetch.
	WebTimeout  time.Duration `yaml:"web_timeout"`
	WebMaxBytes int64         `yaml:"web_max_bytes"`
	// WebAllowPrivate lets did:web reach private and loopback addresses
	// (tests, private deployments). Off by default.
	WebAllowPrivate bool `yaml:"web_allow_private"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is json or text.
	Format string `yaml:"format"`
	// AccessLog writes one line per request.
	AccessLog bool `yaml:"access_log"`
}

// TLS configures HTTPS on the public listener.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// SelfSigned serves a certificate generated at start (development and
	// tests only).
	SelfSigned bool `yaml:"self_signed"`
}

// Enabled reports whether the public listener speaks TLS.
func (t TLS) Enabled() bool { return t.SelfSigned || t.CertFile != "" }

// HTTP configures the server.
type HTTP struct {
	MaxBodyBytes    int           `yaml:"max_body_bytes"`
	ReadTimeout     time.Duration `yaml:"read_timeout"`
	WriteTimeout    time.Duration `yaml:"write_timeout"`
	IdleTimeout     time.Duration `yaml:"idle_timeout"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// TrustedProxies are addresses or CIDRs whose X-Forwarded-For header
	// names the client.
	TrustedProxies []string `yaml:"trusted_proxies"`
	CORS           CORS     `yaml:"cors"`
}

// CORS configures cross-origin requests. With no allowed origins, no CORS
// header is sent.
type CORS struct {
	AllowedOrigins []string      `yaml:"allowed_origins"`
	AllowedHeaders []string      `yaml:"allowed_headers"`
	MaxAge         time.Duration `yaml:"max_age"`
}

// Admin configures the optional admin listener (metrics and health).
type Admin struct {
	// Listen is empty for none; then /metrics is served on the public
	// listener to admins only.
	Listen string `yaml:"listen"`
}

// Auth configures tokens and logins.
type Auth struct {
	Issuer          string        `yaml:"issuer"`
	Audience        string        `yaml:"audience"`
	AccessTokenTTL  time.Duration `yaml:"access_token_ttl"`
	RefreshTokenTTL time.Duration `yaml:"refresh_token_ttl"`
	// KeyRotation is the age at which the JWT signing key is replaced.
	KeyRotation time.Duration `yaml:"key_rotation"`
	// LoginAttempts bounds failed logins per client IP and per account.
	LoginAttempts ratelimit.Rule `yaml:"login_attempts"`
}

// Policy configures the OPA authorisation policy.
type Policy struct {
	// Dir is the operator's policy folder; empty uses the embedded defaults.
	Dir string `yaml:"dir"`
	// ReloadInterval is how often Dir is checked for changes.
	ReloadInterval time.Duration `yaml:"reload_interval"`
	// DecisionLogSample is the fraction of decisions logged (0..1).
	DecisionLogSample float64 `yaml:"decision_log_sample"`
}

// RateLimit configures API rate limits per client IP and per principal,
// by the class the policy assigns to a route.
type RateLimit struct {
	Enabled bool           `yaml:"enabled"`
	Auth    ratelimit.Rule `yaml:"auth"`
	DID     ratelimit.Rule `yaml:"did"`
	API     ratelimit.Rule `yaml:"api"`
}

// Store configures the embedded Badger store.
type Store struct {
	GCInterval time.Duration `yaml:"gc_interval"`
}

// Ledger selects the ledger backend.
type Ledger struct {
	// Backend is local (embedded) or hedera.
	Backend string `yaml:"backend"`
	Hedera  Hedera `yaml:"hedera"`
}

// HederaKeyEnv holds the Hedera operator's private key itself; it is never
// part of the configuration file.
const HederaKeyEnv = "GATEWAYD_HEDERA_OPERATOR_KEY"

// Hedera configures the hedera ledger backend. The operator (treasury)
// account pays every fee.
type Hedera struct {
	// Network is mainnet, testnet, previewnet or local.
	Network string `yaml:"network"`
	// OperatorID is the treasury account, e.g. 0.0.1234.
	OperatorID string `yaml:"operator_id"`
	// OperatorKeyFile holds the operator's private key (DER or hex); or
	// set GATEWAYD_HEDERA_OPERATOR_KEY.
	OperatorKeyFile string `yaml:"operator_key_file"`
	// MirrorURL is the mirror node REST base (…/api/v1); empty: the
	// network's public mirror node.
	MirrorURL string `yaml:"mirror_url"`
	// Nodes maps consensus node addresses to node account IDs (network
	// "local" or a private network only).
	Nodes map[string]string `yaml:"nodes"`
}

// Default returns the embedded defaults: everything gatewayd needs to run
// with no file at all.
func Default() Config {
	return Config{
		Listen:  "127.0.0.1:8080",
		DataDir: "./data",
		Log:     Log{Level: "info", Format: "json", AccessLog: true},
		HTTP: HTTP{
			MaxBodyBytes:    1 << 20,
			ReadTimeout:     10 * time.Second,
			WriteTimeout:    30 * time.Second,
			IdleTimeout:     90 * time.Second,
			ShutdownTimeout: 20 * time.Second,
			CORS: CORS{
				AllowedHeaders: []string{"Authorization", "Content-Type", "X-API-Key", "X-Request-ID"},
				MaxAge:         10 * time.Minute,
			},
		},
		Auth: Auth{
			Issuer:          "gatewayd",
			Audience:        "gatewayd",
			AccessTokenTTL:  15 * time.Minute,
			RefreshTokenTTL: 7 * 24 * time.Hour,
			KeyRotation:     30 * 24 * time.Hour,
			LoginAttempts:   ratelimit.Rule{Limit: 5, Window: 15 * time.Minute},
		},
		Policy: Policy{ReloadInterval: 2 * time.Second, DecisionLogSample: 0.001},
		RateLimit: RateLimit{
			Enabled: true,
			Auth:    ratelimit.Rule{Limit: 5, Window: 15 * time.Minute},
			DID:     ratelimit.Rule{Limit: 100, Window: time.Minute},
			API:     ratelimit.Rule{Limit: 1000, Window: time.Minute},
		},
		Limits: limits.DefaultConfig(),
		Store:  Store{GCInterval: 10 * time.Minute},
		Ledger: Ledger{Backend: "local"},
		DID: DID{
			CacheMemoryBytes: 64 << 20,
			CacheTTLHedera:   5 * time.Minute,
			CacheTTLKey:      24 * time.Hour,
			CacheTTLWeb:      5 * time.Minute,
			CacheTTLNames:    time.Minute,
			NegativeTTL:      30 * time.Second,
			WebTimeout:       5 * time.Second,
			WebMaxBytes:      256 << 10,
		},
		Enterprise: Enterprise{
			DNSTimeout:   5 * time.Second,
			ChallengeTTL: 72 * time.Hour,
			Tiers: EnterpriseTiers{
				Pro:        EnterpriseTier{MonthlyCredentials: 10_000},
				Enterprise: EnterpriseTier{MonthlyCredentials: 100_000},
			},
		},
		Credentials: Credentials{
			StatusListEntries:  131072,
			StatusTTL:          5 * time.Minute,
			BulkMax:            1000,
			MaxCredentialBytes: 256 << 10,
			FetchTimeout:       5 * time.Second,
			FetchMaxBytes:      1 << 20,
		},
		Treasury: Treasury{
			// The design's "Network Cost Breakdown", per unit.
			Operations: map[string]string{
				"did_create": "0.02", "did_update": "0.01", "credential_issuance": "0.05", "badge_issuance": "0.03",
				"bulk_issuance": "0.03", "domain_registration": "0.01", "name_registration": "0.02", "lms_sync": "0.08",
				"anchor_setup": "0.01", "manual": "0.01",
				"topic_create": "0.01", "message_submit": "0.0008", "token_create": "1", "token_mint": "0.02",
			},
			ExchangeRate:     ExchangeRate{HbarEquivalent: 1, CentEquivalent: 12},
			RateRefresh:      5 * time.Minute,
			RateMaxAge:       time.Hour,
			MinCentsPerHbar:  0.01,
			MaxCentsPerHbar:  100_000,
			LowBalanceHbar:   100,
			BalanceInterval:  time.Minute,
			LocalBalanceHbar: 10_000,
			LocalFees: map[string]string{"create_topic": "0.01", "submit_message": "0.0008",
				"token_create": "1", "token_mint": "0.02"},
			Pricing: treasury.DefaultPricing(),
		},
	}
}

// Load builds the configuration from the defaults, the file at path (if
// path is not empty) and the environment env (as os.Environ returns it).
// It does not validate: call Validate after applying flags.
func Load(path string, env []string) (Config, error) {
	c := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		if err := decodeYAML(b, &c); err != nil {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := applyEnv(&c, env); err != nil {
		return c, err
	}
	return c, nil
}

func decodeYAML(b []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// EnvNames lists every environment variable that overrides a key, with the
// key it overrides, in file order.
func EnvNames() [][2]string {
	var out [][2]string
	walk(reflect.ValueOf(&Config{}).Elem(), nil, func(path []string, _ reflect.Value, _ reflect.StructField) {
		out = append(out, [2]string{envName(path), strings.Join(path, ".")})
	})
	return out
}

func envName(path []string) string {
	return EnvPrefix + strings.ToUpper(strings.Join(path, "_"))
}

// walk calls fn for every leaf (non-struct, non-map) field, with its key path.
func walk(v reflect.Value, path []string, fn func(path []string, v reflect.Value, f reflect.StructField)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		p := append(append([]string(nil), path...), name)
		fv := v.Field(i)
		switch {
		case fv.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]():
			walk(fv, p, fn)
		case fv.Kind() == reflect.Map:
			// Maps (limits.tiers) are set in the file only.
		default:
			fn(p, fv, f)
		}
	}
}

func applyEnv(c *Config, env []string) error {
	vals := make(map[string]string)
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, EnvPrefix) {
			vals[k] = v
		}
	}
	var err error
	walk(reflect.ValueOf(c).Elem(), nil, func(path []string, fv reflect.Value, _ reflect.StructField) {
		name := envName(path)
		s, ok := vals[name]
		if !ok || err != nil {
			return
		}
		if e := setValue(fv, s); e != nil {
			err = fmt.Errorf("config: %s (%s): %w", name, strings.Join(path, "."), e)
		}
	})
	return err
}

func setValue(fv reflect.Value, s string) error {
	switch {
	case fv.Type() == reflect.TypeFor[time.Duration]():
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("not a duration: %q", s)
		}
		fv.SetInt(int64(d))
	case fv.Kind() == reflect.String:
		fv.SetString(s)
	case fv.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("not a boolean: %q", s)
		}
		fv.SetBool(b)
	case fv.Kind() == reflect.Int || fv.Kind() == reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer: %q", s)
		}
		fv.SetInt(n)
	case fv.Kind() == reflect.Float64:
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("not a number: %q", s)
		}
		fv.SetFloat(n)
	case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.String:
		var items []string
		for _, it := range strings.Split(s, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		fv.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}

// Error is a validation failure naming the key.
type Error struct {
	Key     string
	Problem string
}

func (e *Error) Error() string { return "config: " + e.Key + ": " + e.Problem }

// Validate checks every key and returns all problems found, each naming its
// key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, &Error{Key: key, Problem: fmt.Sprintf(format, a...)})
	}
	checkAddr := func(key, addr string, optional bool) {
		if addr == "" {
			if !optional {
				bad(key, "must be set, e.g. 127.0.0.1:8080")
			}
			return
		}
		if _, port, err := net.SplitHostPort(addr); err != nil {
			bad(key, "must be host:port: %v", err)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			bad(key, "port %q is not a number between 0 and 65535", port)
		}
	}
	checkAddr("listen", c.Listen, false)
	checkAddr("admin.listen", c.Admin.Listen, true)
	if c.DataDir == "" {
		bad("data_dir", "must be set")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		bad("log.format", "must be json or text, not %q", c.Log.Format)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls", "cert_file and key_file must be set together")
	}
	if c.TLS.SelfSigned && c.TLS.CertFile != "" {
		bad("tls.self_signed", "cannot be combined with cert_file")
	}
	for _, f := range []struct {
		key  string
		path string
	}{{"tls.cert_file", c.TLS.CertFile}, {"tls.key_file", c.TLS.KeyFile}, {"master_key_file", c.MasterKeyFile}, {"policy.dir", c.Policy.Dir}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			bad(f.key, "%v", err)
		}
	}
	if c.HTTP.MaxBodyBytes < 1024 {
		bad("http.max_body_bytes", "must be at least 1024, got %d", c.HTTP.MaxBodyBytes)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"http.read_timeout", c.HTTP.ReadTimeout}, {"http.write_timeout", c.HTTP.WriteTimeout},
		{"http.idle_timeout", c.HTTP.IdleTimeout}, {"http.shutdown_timeout", c.HTTP.ShutdownTimeout},
		{"auth.access_token_ttl", c.Auth.AccessTokenTTL}, {"auth.refresh_token_ttl", c.Auth.RefreshTokenTTL},
		{"auth.key_rotation", c.Auth.KeyRotation}, {"policy.reload_interval", c.Policy.ReloadInterval},
		{"store.gc_interval", c.Store.GCInterval},
		{"did.cache_ttl_hedera", c.DID.CacheTTLHedera}, {"did.cache_ttl_key", c.DID.CacheTTLKey},
		{"did.cache_ttl_web", c.DID.CacheTTLWeb}, {"did.cache_ttl_names", c.DID.CacheTTLNames},
		{"did.negative_ttl", c.DID.NegativeTTL}, {"did.web_timeout", c.DID.WebTimeout},
	} {
		if d.v <= 0 {
			bad(d.key, "must be a positive duration such as 15m, got %v", d.v)
		}
	}
	if c.Auth.AccessTokenTTL > time.Hour {
		bad("auth.access_token_ttl", "must be at most 1h (short-lived access tokens), got %v", c.Auth.AccessTokenTTL)
	}
	if c.Auth.RefreshTokenTTL < c.Auth.AccessTokenTTL {
		bad("auth.refresh_token_ttl", "must not be shorter than auth.access_token_ttl")
	}
	if c.Auth.Issuer == "" {
		bad("auth.issuer", "must be set")
	}
	if c.Auth.Audience == "" {
		bad("auth.audience", "must be set")
	}
	for _, r := range []struct {
		key  string
		rule ratelimit.Rule
	}{{"auth.login_attempts", c.Auth.LoginAttempts}, {"ratelimit.auth", c.RateLimit.Auth}, {"ratelimit.did", c.RateLimit.DID}, {"ratelimit.api", c.RateLimit.API}} {
		if r.rule.Limit < 1 {
			bad(r.key+".limit", "must be at least 1, got %d", r.rule.Limit)
		}
		if r.rule.Window <= 0 {
			bad(r.key+".window", "must be a positive duration, got %v", r.rule.Window)
		}
	}
	if c.DID.CacheMemoryBytes < 0 {
		bad("did.cache_memory_bytes", "must not be negative")
	}
	if c.Enterprise.DNSTimeout <= 0 {
		bad("enterprise.dns_timeout", "must be a positive duration, got %v", c.Enterprise.DNSTimeout)
	}
	if c.Enterprise.ChallengeTTL < time.Minute {
		bad("enterprise.challenge_ttl", "must be at least 1m, got %v", c.Enterprise.ChallengeTTL)
	}
	for _, t := range []struct {
		key string
		n   int
	}{{"enterprise.tiers.pro.monthly_credentials", c.Enterprise.Tiers.Pro.MonthlyCredentials},
		{"enterprise.tiers.enterprise.monthly_credentials", c.Enterprise.Tiers.Enterprise.MonthlyCredentials}} {
		if t.n < 1 {
			bad(t.key, "must be at least 1, got %d", t.n)
		}
	}
	if u := c.Credentials.PublicURL; u != "" {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || pu.RawQuery != "" || pu.Fragment != "" {
			bad("credentials.public_url", "must be an absolute http(s) URL without query or fragment, got %q", u)
		}
	}
	if c.Credentials.StatusListEntries < 131072 {
		bad("credentials.status_list_entries", "must be at least 131072, got %d", c.Credentials.StatusListEntries)
	}
	if c.Credentials.StatusTTL < time.Second {
		bad("credentials.status_ttl", "must be at least 1s, got %v", c.Credentials.StatusTTL)
	}
	if c.Credentials.BulkMax < 1 || c.Credentials.BulkMax > 10000 {
		bad("credentials.bulk_max", "must be between 1 and 10000, got %d", c.Credentials.BulkMax)
	}
	if c.Credentials.MaxCredentialBytes < 1024 {
		bad("credentials.max_credential_bytes", "must be at least 1024, got %d", c.Credentials.MaxCredentialBytes)
	}
	if c.Credentials.FetchTimeout <= 0 {
		bad("credentials.fetch_timeout", "must be a positive duration, got %v", c.Credentials.FetchTimeout)
	}
	if c.Credentials.FetchMaxBytes < 1024 {
		bad("credentials.fetch_max_bytes", "must be at least 1024, got %d", c.Credentials.FetchMaxBytes)
	}
	for op, v := range c.Treasury.Operations {
		if !treasury.ValidOperation(op) {
			bad("treasury.operations."+op, "is not an operation type (one of %s)", strings.Join(treasury.Operations, ", "))
		} else if _, err := treasury.ParseUSD(v); err != nil {
			bad("treasury.operations."+op, "%v", err)
		}
	}
	for _, op := range treasury.Operations {
		if _, ok := c.Treasury.Operations[op]; !ok {
			bad("treasury.operations."+op, "must be set")
		}
	}
	for k, v := range c.Treasury.LocalFees {
		switch k {
		case "create_topic", "submit_message", "token_create", "token_mint":
			if _, err := treasury.ParseUSD(v); err != nil {
				bad("treasury.local_fees."+k, "%v", err)
			}
		default:
			bad("treasury.local_fees."+k, "is not create_topic, submit_message, token_create or token_mint")
		}
	}
	if r := c.Treasury.ExchangeRate; r.HbarEquivalent <= 0 || r.CentEquivalent <= 0 {
		bad("treasury.exchange_rate", "hbar_equivalent and cent_equivalent must be positive")
	}
	if c.Treasury.RateRefresh <= 0 || c.Treasury.RateMaxAge < c.Treasury.RateRefresh {
		bad("treasury.rate_max_age", "must be at least treasury.rate_refresh (%v), and both positive", c.Treasury.RateRefresh)
	}
	if c.Treasury.MinCentsPerHbar <= 0 || c.Treasury.MaxCentsPerHbar <= c.Treasury.MinCentsPerHbar {
		bad("treasury.max_cents_per_hbar", "must be above treasury.min_cents_per_hbar, both positive")
	}
	if c.Treasury.LowBalanceHbar < 0 || c.Treasury.LocalBalanceHbar < 0 {
		bad("treasury.low_balance_hbar", "balances must not be negative")
	}
	if c.Treasury.BalanceInterval < time.Second {
		bad("treasury.balance_interval", "must be at least 1s, got %v", c.Treasury.BalanceInterval)
	}
	if err := c.Treasury.Pricing.Validate(); err != nil {
		bad("treasury.pricing", "%v", err)
	}
	if c.DID.WebMaxBytes < 1024 {
		bad("did.web_max_bytes", "must be at least 1024, got %d", c.DID.WebMaxBytes)
	}
	if c.Policy.DecisionLogSample < 0 || c.Policy.DecisionLogSample > 1 {
		bad("policy.decision_log_sample", "must be between 0 and 1, got %v", c.Policy.DecisionLogSample)
	}
	for _, p := range c.HTTP.TrustedProxies {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			bad("http.trusted_proxies", "%q is neither an IP address nor a CIDR", p)
		}
	}
	switch c.Ledger.Backend {
	case "local":
	case "hedera":
		h := c.Ledger.Hedera
		switch h.Network {
		case "mainnet", "testnet", "previewnet":
		case "local":
			if len(h.Nodes) == 0 || h.MirrorURL == "" {
				bad("ledger.hedera.nodes", "network local needs nodes and mirror_url")
			}
		default:
			bad("ledger.hedera.network", "must be mainnet, testnet, previewnet or local, not %q", h.Network)
		}
		if h.OperatorID == "" {
			bad("ledger.hedera.operator_id", "must be set (the treasury account, e.g. 0.0.1234)")
		}
		if h.OperatorKeyFile == "" && os.Getenv(HederaKeyEnv) == "" {
			bad("ledger.hedera.operator_key_file", "set it, or %s", HederaKeyEnv)
		} else if h.OperatorKeyFile != "" {
			if _, err := os.Stat(h.OperatorKeyFile); err != nil {
				bad("ledger.hedera.operator_key_file", "%v", err)
			}
		}
	default:
		bad("ledger.backend", "must be local or hedera, not %q", c.Ledger.Backend)
	}
	if err := c.Limits.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Paths derived from the data dir.

// DBDir is the Badger directory.
func (c *Config) DBDir() string { return filepath.Join(c.DataDir, "db") }

// PluginsDir holds installed plugins, the lock file, trusted publisher
// keys (trusted/) and plugin secrets (secrets/).
func (c *Config) PluginsDir() string { return filepath.Join(c.DataDir, "plugins") }

// LedgerDir holds the embedded local ledger.
func (c *Config) LedgerDir() string { return filepath.Join(c.DataDir, "ledger") }

// KeysDir holds the sealed signing keys.
func (c *Config) KeysDir() string { return filepath.Join(c.DataDir, "keys") }

// DevMasterKeyFile is the generated development master key.
func (c *Config) DevMasterKeyFile() string { return filepath.Join(c.DataDir, "master.key") }

// AdminPasswordFile receives the first admin's password once.
func (c *Config) AdminPasswordFile() string {
	return filepath.Join(c.DataDir, "admin.initial-password")
}

// AdminIDFile records the bootstrap admin's user ID (not a secret), for
// `gatewayd admin token`.
func (c *Config) AdminIDFile() string { return filepath.Join(c.DataDir, "admin.id") }

// Print writes the effective configuration as YAML with secrets redacted.
// masterKeySet says whether GATEWAYD_MASTER_KEY is set, reported as such.
func (c *Config) Print(w io.Writer, masterKeySet bool) error {
	cp := *c
	walk(reflect.ValueOf(&cp).Elem(), nil, func(_ []string, fv reflect.Value, f reflect.StructField) {
		if f.Tag.Get("secret") == "true" && fv.Kind() == reflect.String && fv.String() != "" {
			fv.SetString("[redacted]")
		}
	})
	b, err := yaml.Marshal(&cp)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	state := "unset"
	if masterKeySet {
		state = "set ([redacted])"
	}
	_, err = fmt.Fprintf(w, "# %s: %s\n", MasterKeyEnv, state)
	return err
}
