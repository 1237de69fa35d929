// Package gateway assembles a gatewayd process from its configuration: the
// master key, the store, the signing keys, the policy engine, limits and the
// HTTP server. cmd/gatewayd and the end-to-end tests both start gatewayd
// through it.
package gateway

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ubeu/gateway/host/auth"
	"github.com/ubeu/gateway/host/config"
	"github.com/ubeu/gateway/host/credentials"
	"github.com/ubeu/gateway/host/did"
	"github.com/ubeu/gateway/host/did/didkey"
	"github.com/ubeu/gateway/host/did/didweb"
	"github.com/ubeu/gateway/host/did/hederadid"
	"github.com/ubeu/gateway/host/directory"
	"github.com/ubeu/gateway/host/enterprise/dnsverify"
	"github.com/ubeu/gateway/host/fsutil"
	"github.com/ubeu/gateway/host/httpapi"
	"github.com/ubeu/gateway/host/identity"
	"github.com/ubeu/gateway/host/ledger"
	"github.com/ubeu/gateway/host/ledger/hedera"
	"github.com/ubeu/gateway/host/ledger/local"
	"github.com/ubeu/gateway/host/limits"
	"github.com/ubeu/gateway/host/lms"
	"github.com/ubeu/gateway/host/metrics"
	"github.com/ubeu/gateway/host/names"
	"github.com/ubeu/gateway/host/netguard"
	"github.com/ubeu/gateway/host/plugin/manager"
	pluginpkg "github.com/ubeu/gateway/host/plugin/pkg"
	"github.com/ubeu/gateway/host/policy"
	"github.com/ubeu/gateway/host/ratelimit"
	"github.com/ubeu/gateway/host/resolve"
	"github.com/ubeu/gateway/host/seal"
	"github.com/ubeu/gateway/host/sso"
	"github.com/ubeu/gateway/host/store"
	"github.com/ubeu/gateway/host/store/badgerstore"
	"github.com/ubeu/gateway/host/treasury"
	"github.com/ubeu/gateway/host/vc/dataintegrity"
	"github.com/ubeu/gateway/host/vc/schema"
	"github.com/ubeu/gateway/host/vc/statuslist"
	"github.com/ubeu/gateway/host/web3"
)

// Version is the build's version, set with -ldflags "-X ...".
var Version = "dev"

// AdminEmail is the bootstrap administrator's account.
const AdminEmail = "admin@localhost"

// Keys are the keys derived from the master key.
type Keys struct {
	Sealer   *seal.Sealer
	IndexKey []byte
	// MemoKey seals the treasury's transaction memos.
	MemoKey []byte
}

// DeriveKeys loads the master key as configured and derives the sealing
// and blind-index keys from it (HKDF-SHA256, one label each), so that no
// key is used for two purposes.
func DeriveKeys(cfg *config.Config, log *slog.Logger) (*Keys, error) {
	master, err := seal.LoadMasterKey(os.Getenv(config.MasterKeyEnv), cfg.MasterKeyFile, cfg.DevMasterKeyFile(), log)
	if err != nil {
		return nil, err
	}
	sk, err := hkdf.Key(sha256.New, master, nil, "gatewayd seal v1", seal.KeySize)
	if err != nil {
		return nil, err
	}
	ik, err := hkdf.Key(sha256.New, master, nil, "gatewayd blind index v1", 32)
	if err != nil {
		return nil, err
	}
	mk, err := hkdf.Key(sha256.New, master, nil, "gatewayd treasury memo v1", 32)
	if err != nil {
		return nil, err
	}
	s, err := seal.New(sk)
	if err != nil {
		return nil, err
	}
	return &Keys{Sealer: s, IndexKey: ik, MemoKey: mk}, nil
}

// Gateway is an assembled, running-ready gatewayd.
type Gateway struct {
	Config  *config.Config
	Logger  *slog.Logger
	Store   *badgerstore.Store
	Keyring *auth.Keyring
	Tokens  *auth.Tokens
	Policy  *policy.Engine
	Limiter *ratelimit.Limiter
	// Ledger is the backend itself; every write of the gateway goes
	// through Treasury.Ledger(), which pays and records it.
	Ledger   ledger.Ledger
	Treasury *treasury.Service
	DIDs     *hederadid.Service
	Identity *identity.Service
	DNS      *dnsverify.Challenger
	Names    *names.Registry
	Resolver *resolve.Resolver
	Plugins  *manager.Manager
	// LMS syncs course completions of Moodle and Canvas into badges.
	LMS       *lms.Service
	lmsCancel context.CancelFunc
	// StatusLists keeps the issuers' Bitstring Status Lists; Credentials
	// issues and verifies credentials.
	StatusLists *statuslist.Registry
	Credentials *credentials.Service
	// Web3 proves external Web3 names (.eth, UNS) and resolves them.
	Web3 *web3.Service
	// Directory provisions enterprise members from SCIM and HR pulls.
	Directory *directory.Service
	// SSO runs enterprises' SAML single sign-on through the saml plugin.
	SSO    *sso.Service
	Server *httpapi.Server

	stop chan struct{}
	done chan struct{}
}

// Open assembles gatewayd, writing the access log to stderr. The caller
// must Close it.
func Open(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Gateway, error) {
	return OpenWith(ctx, cfg, log, os.Stderr)
}

// OpenWith is Open with the access log written to accessLog.
func OpenWith(ctx context.Context, cfg *config.Config, log *slog.Logger, accessLog io.Writer) (g *Gateway, err error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	keys, err := DeriveKeys(cfg, log)
	if err != nil {
		return nil, err
	}
	g = &Gateway{Config: cfg, Logger: log, stop: make(chan struct{}), done: make(chan struct{})}
	defer func() {
		if err != nil {
			g.closeParts()
		}
	}()
	reg := metrics.NewRegistry()
	m := metrics.New(reg)

	g.Store, err = badgerstore.Open(ctx, badgerstore.Options{
		Dir: cfg.DBDir(), Sealer: keys.Sealer, IndexKey: keys.IndexKey, Logger: log,
		Registerer: reg, GCInterval: cfg.Store.GCInterval,
	})
	if err != nil {
		return nil, err
	}
	g.Keyring, err = auth.OpenKeyring(cfg.KeysDir(), keys.Sealer, auth.KeyringOptions{
		RotateEvery: cfg.Auth.KeyRotation, Retain: cfg.Auth.AccessTokenTTL + time.Hour, Create: true,
	})
	if err != nil {
		return nil, err
	}
	g.Tokens, err = auth.NewTokens(g.Keyring, auth.TokenOptions{
		Issuer: cfg.Auth.Issuer, Audience: cfg.Auth.Audience, TTL: cfg.Auth.AccessTokenTTL,
		Revocations: g.Store.Revocations(), Registerer: reg,
	})
	if err != nil {
		return nil, err
	}
	if err := g.Tokens.LoadRevocations(ctx); err != nil {
		return nil, err
	}
	g.Policy, err = policy.New(ctx, policy.Options{
		Dir: cfg.Policy.Dir, ReloadInterval: cfg.Policy.ReloadInterval, Logger: log,
		Registerer: reg, DecisionLogSample: cfg.Policy.DecisionLogSample,
	})
	if err != nil {
		return nil, err
	}
	g.Limiter = ratelimit.New(ratelimit.Options{MaxKeys: 1_000_000})
	lim := limits.New(g.Store.Counters(), cfg.Limits)
	if err := g.openIdentity(cfg, keys, lim, m, reg, log); err != nil {
		return nil, err
	}

	g.DNS, err = dnsverify.New(g.Store.KV(), dnsverify.Options{
		Server: cfg.Enterprise.DNSServer, Timeout: cfg.Enterprise.DNSTimeout, TTL: cfg.Enterprise.ChallengeTTL,
	})
	if err != nil {
		return nil, fmt.Errorf("enterprise.dns_server: %w", err)
	}

	if err := g.openCredentials(cfg, keys, log); err != nil {
		return nil, err
	}

	g.Plugins, err = manager.New(ctx, manager.Options{Root: cfg.PluginsDir(), Store: g.Store.KV(),
		Logger: log, Registerer: reg, GatewaydVersion: Version,
		// The LMS plugins get the site and token of the connection a
		// sync runs for; every other secret comes from the operator.
		Secrets: lms.BoundSecrets{Next: manager.EnvFileSecrets{Dir: filepath.Join(cfg.PluginsDir(), "secrets")}}})
	if err != nil {
		return nil, fmt.Errorf("plugins: %w", err)
	}
	g.Web3.SetPlugins(g.Plugins)
	if err := g.openLMS(keys, reg, log); err != nil {
		return nil, err
	}
	if g.Directory, err = directory.New(directory.Options{
		KV: g.Store.KV(), Users: g.Store.Users(), Enterprises: g.Store.Enterprises(), Sessions: g.Store.Sessions(),
		Tokens: g.Tokens, TokenTTL: cfg.Auth.AccessTokenTTL, DIDs: g.Identity, Credentials: g.Credentials,
		Treasury: g.Treasury, Plugins: g.Plugins, Sealer: keys.Sealer, Logger: log, Registerer: reg,
		PluginSchema: func(plugin string) ([]byte, error) {
			inst, err := pluginpkg.Load(cfg.PluginsDir(), plugin)
			if errors.Is(err, pluginpkg.ErrNotInstalled) {
				return nil, nil // nothing to check against yet; the strict checks still apply
			}
			if err != nil {
				return nil, err
			}
			return inst.ConfigSchema()
		},
	}); err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	g.Directory.Start()
	if g.SSO, err = sso.New(sso.Options{Plugins: g.Plugins, PluginsDir: cfg.PluginsDir(), Store: g.Store,
		PublicURL: cfg.CredentialsPublicURL(), Logger: log, Registerer: reg}); err != nil {
		return nil, fmt.Errorf("sso: %w", err)
	}
	g.Server, err = httpapi.New(httpapi.Deps{
		Config: cfg, Logger: log, Store: g.Store, Backup: g.Store.Backup,
		Keyring: g.Keyring, Tokens: g.Tokens, Policy: g.Policy, Limits: lim, Limiter: g.Limiter,
		Identity: g.Identity, DNS: g.DNS, Names: g.Names, Resolver: g.Resolver, Plugins: g.Plugins,
		Credentials: g.Credentials, StatusLists: g.StatusLists, Treasury: g.Treasury, Web3: g.Web3,
		Directory: g.Directory, SSO: g.SSO, Registry: reg, Metrics: m, Version: Version, AccessLog: accessLog,
	})
	if err != nil {
		return nil, err
	}
	g.Server.LMS = g.LMS
	if err := g.bootstrapAdmin(ctx); err != nil {
		return nil, err
	}
	go g.maintain()
	return g, nil
}

// openLMS opens the LMS integration and starts its scheduler: learners
// are matched to active accounts by e-mail and given badges at their
// primary DID.
func (g *Gateway) openLMS(keys *Keys, reg prometheus.Registerer, log *slog.Logger) error {
	var err error
	g.LMS, err = lms.New(lms.Options{
		KV: g.Store.KV(), Sealer: keys.Sealer, IndexKey: keys.IndexKey, Plugins: g.Plugins, Credentials: g.Credentials,
		Enterprises: g.Store.Enterprises(), Treasury: g.Treasury, Registerer: reg, Logger: log,
		Directory: lms.AccountDirectory{Users: g.Store.Users(), DID: func(ctx context.Context, userID string) (string, error) {
			id, err := g.Identity.Get(ctx, userID)
			if err != nil {
				return "", err
			}
			for _, p := range id.Profiles {
				if p.Primary && p.Status == "active" {
					return p.DID, nil
				}
			}
			return "", errors.New("no active primary DID")
		}},
	})
	if err != nil {
		return fmt.Errorf("lms: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.lmsCancel = cancel
	go g.LMS.RunScheduler(ctx, 30*time.Second)
	return nil
}

// openIdentity opens the ledger, the did:hedera registrar, the .iam name
// registry and the DID resolver with its edge cache.
func (g *Gateway) openIdentity(cfg *config.Config, keys *Keys, lim *limits.Service, m *metrics.Metrics, reg prometheus.Registerer, log *slog.Logger) error {
	raw, err := openLedger(cfg, keys, log)
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	g.Ledger = raw
	if g.Treasury, err = openTreasury(cfg, keys, g.Store.KV(), raw, g.Policy, m, reg, log); err != nil {
		return err
	}
	l := g.Treasury.Ledger()
	g.DIDs, err = hederadid.New(hederadid.Options{Ledger: l, Keys: hederadid.NewKeys(g.Store.KV(), keys.Sealer), Logger: log})
	if err != nil {
		return err
	}
	g.Names = names.New(g.Store.KV(), l, nil)
	// External Web3 names resolve through the resolver plugins (set once
	// the plugin manager is up) to DIDs; did:pkh for unproven names.
	if g.Web3, err = web3.New(web3.Options{KV: g.Store.KV(), PublicURL: cfg.CredentialsPublicURL(), Logger: log}); err != nil {
		return err
	}
	nameResolvers := map[string]resolve.NameResolver{"iam": g.Names}
	for tld := range web3.DefaultTLDs() {
		nameResolvers[tld] = g.Web3
	}
	web := &netguard.Policy{AllowPrivate: cfg.DID.WebAllowPrivate, MaxBodyBytes: cfg.DID.WebMaxBytes, Timeout: cfg.DID.WebTimeout}
	g.Resolver = resolve.New(resolve.Options{
		Methods: map[string]resolve.MethodResolver{
			"hedera": g.DIDs,
			"key":    &didkey.Resolver{},
			"web":    didweb.New(didweb.Options{Policy: web, MaxBytes: cfg.DID.WebMaxBytes, Timeout: cfg.DID.WebTimeout}),
			"pkh":    web3.PKHResolver{},
		},
		Names: nameResolvers,
		Cache: resolve.CacheConfig{
			MaxMemoryBytes: cfg.DID.CacheMemoryBytes,
			Store:          g.Store.Cache(),
			TTL: map[string]time.Duration{"hedera": cfg.DID.CacheTTLHedera, "key": cfg.DID.CacheTTLKey,
				"web": cfg.DID.CacheTTLWeb, resolve.NameMethod: cfg.DID.CacheTTLNames},
			NegativeTTL: cfg.DID.NegativeTTL,
		},
		Registerer: reg,
		Logger:     log,
	})
	g.Identity = identity.New(identity.Options{
		KV: g.Store.KV(), DIDs: g.DIDs, Limits: lim, Metrics: m,
		OnChange: func(ctx context.Context, d string) {
			if err := g.Resolver.Invalidate(ctx, d); err != nil {
				log.Warn("DID cache invalidation failed", "did", d, "err", err)
			}
		},
	})
	return nil
}

// openCredentials opens the status list registry (lists served at
// <credentials.public_url>/status/<enterprise>/<list>, signed by the
// enterprise's managed DID) and the credential service.
func (g *Gateway) openCredentials(cfg *config.Config, keys *Keys, log *slog.Logger) error {
	cc := cfg.Credentials
	var err error
	g.StatusLists, err = statuslist.New(statuslist.Options{
		KV: g.Store.KV(), BaseURL: cfg.CredentialsPublicURL() + "/status", Entries: cc.StatusListEntries, TTL: cc.StatusTTL,
		IssuerID: func(ctx context.Context, enterprise string) (string, error) {
			e, err := g.Store.Enterprises().Get(ctx, enterprise)
			if err != nil {
				return "", err
			}
			if e.ManagedDID == "" {
				return "", fmt.Errorf("enterprise %s has no DID", enterprise)
			}
			return e.ManagedDID, nil
		},
		Signer: func(ctx context.Context, doc map[string]any) ([]byte, error) {
			iss, _ := doc["issuer"].(string)
			vm, key, err := g.DIDs.SigningKey(ctx, iss)
			if err != nil {
				return nil, err
			}
			return dataintegrity.Sign(ctx, doc, key, dataintegrity.ProofOptions{VerificationMethod: vm, Created: time.Now()})
		},
	})
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	guard := &netguard.Policy{AllowPrivate: cc.FetchAllowPrivate, MaxBodyBytes: cc.FetchMaxBytes, Timeout: cc.FetchTimeout}
	client := guard.Client()
	fetch := func(ctx context.Context, u string) ([]byte, error) {
		status, _, body, err := guard.Get(ctx, client, u, http.Header{"Accept": {"application/vc+ld+json, application/vc, application/json;q=0.9, */*;q=0.1"}})
		if err != nil {
			return nil, err
		}
		if status != http.StatusOK {
			return nil, fmt.Errorf("%s answered HTTP %d", u, status)
		}
		return body, nil
	}
	schemas := schema.New(schema.Options{
		Fetch: fetch, MaxSchemaBytes: int(min(cc.FetchMaxBytes, 1<<20)),
		// A JsonSchemaCredential is trusted only once its own proof verifies.
		VerifyCredential: func(ctx context.Context, raw []byte) error {
			v, err := g.Credentials.Verify(ctx, raw, credentials.VerifyOptions{})
			if err != nil {
				return err
			}
			if !v.Verified {
				return fmt.Errorf("schema credential does not verify: %s", strings.Join(v.Errors, "; "))
			}
			return nil
		},
	})
	g.Credentials, err = credentials.New(credentials.Options{
		KV: g.Store.KV(), Sealer: keys.Sealer, Keys: &issuerKeys{Service: g.DIDs, resolver: g.Resolver}, Status: g.StatusLists, Schemas: schemaValidator{schemas},
		Anchor:  &credentials.LedgerAnchor{Ledger: g.Treasury.Ledger(), KV: g.Store.KV()},
		Resolve: newDocResolver(g.Resolver).resolve, Fetch: fetch,
		StatusTTL: cc.StatusTTL, MaxCredentialBytes: cc.MaxCredentialBytes, Logger: log,
	})
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	return nil
}

// schemaValidator adapts host/vc/schema to the credential service.
type schemaValidator struct{ v *schema.Validator }

func (s schemaValidator) Validate(ctx context.Context, cred []byte) ([]credentials.SchemaResult, error) {
	rs, err := s.v.Validate(ctx, cred)
	if err != nil {
		return nil, err
	}
	out := make([]credentials.SchemaResult, len(rs))
	for i, r := range rs {
		out[i] = credentials.SchemaResult{ID: r.ID, Type: r.Type, Valid: r.Valid, Errors: r.Errors}
	}
	return out, nil
}

// docResolver resolves DIDs for verification through the edge cache and
// keeps the decoded document of each cached answer, so a cache hit costs
// no JSON decoding.
type docResolver struct {
	r  *resolve.Resolver
	mu sync.Mutex
	m  map[string]decodedDoc
}

type decodedDoc struct {
	raw *byte // identity of the cached answer's document bytes
	doc *did.Document
}

func newDocResolver(r *resolve.Resolver) *docResolver {
	return &docResolver{r: r, m: map[string]decodedDoc{}}
}

func (d *docResolver) resolve(ctx context.Context, id string) (*did.Document, error) {
	res, err := d.r.Resolve(ctx, id, resolve.ResolveOptions{Accept: "application/did+ld+json"})
	if err != nil {
		return nil, err
	}
	if err := res.Err(); err != nil {
		return nil, err
	}
	if res.DocumentMetadata.Deactivated || len(res.Document) == 0 {
		return nil, fmt.Errorf("%s is deactivated", id)
	}
	d.mu.Lock()
	e, ok := d.m[id]
	d.mu.Unlock()
	if ok && e.raw == &res.Document[0] {
		return e.doc, nil
	}
	var doc did.Document
	if err := json.Unmarshal(res.Document, &doc); err != nil {
		return nil, fmt.Errorf("DID document of %s: %w", id, err)
	}
	d.mu.Lock()
	if len(d.m) > 100_000 {
		clear(d.m)
	}
	d.m[id] = decodedDoc{raw: &res.Document[0], doc: &doc}
	d.mu.Unlock()
	return &doc, nil
}

// openLedger opens the configured ledger backend.
func openLedger(cfg *config.Config, keys *Keys, log *slog.Logger) (ledger.Ledger, error) {
	if cfg.Ledger.Backend != "hedera" {
		t := cfg.Treasury
		rate := ledger.ExchangeRate{HbarEquiv: t.ExchangeRate.HbarEquivalent, CentEquiv: t.ExchangeRate.CentEquivalent}
		fee := func(name string) (int64, error) {
			mc, err := treasury.ParseUSD(t.LocalFees[name])
			if err != nil {
				return 0, fmt.Errorf("treasury.local_fees.%s: %w", name, err)
			}
			return treasury.ToTinybars(mc, rate)
		}
		var fees local.Fees
		for name, dst := range map[string]*int64{"create_topic": &fees.CreateTopic, "submit_message": &fees.Submit,
			"token_create": &fees.TokenCreate, "token_mint": &fees.Mint} {
			var err error
			if *dst, err = fee(name); err != nil {
				return nil, err
			}
		}
		return local.Open(local.Options{Dir: cfg.LedgerDir(), Sealer: keys.Sealer, Logger: log, Fees: fees,
			InitialBalance: t.LocalBalanceHbar * 100_000_000, Rate: rate})
	}
	h := cfg.Ledger.Hedera
	key := os.Getenv(config.HederaKeyEnv)
	if key == "" {
		b, err := os.ReadFile(h.OperatorKeyFile)
		if err != nil {
			return nil, fmt.Errorf("ledger.hedera.operator_key_file: %w", err)
		}
		key = strings.TrimSpace(string(b))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return hedera.Open(ctx, hedera.Options{Network: h.Network, Nodes: h.Nodes, MirrorURL: h.MirrorURL,
		OperatorID: h.OperatorID, OperatorKey: key, Logger: log})
}

// maintain rotates the signing key when it is due.
// openTreasury opens the treasury over the raw ledger.
func openTreasury(cfg *config.Config, keys *Keys, kv store.KV, l ledger.Ledger, pol *policy.Engine, m *metrics.Metrics, reg prometheus.Registerer, log *slog.Logger) (*treasury.Service, error) {
	t := cfg.Treasury
	est := make(map[string]int64, len(t.Operations))
	for op, v := range t.Operations {
		mc, err := treasury.ParseUSD(v)
		if err != nil {
			return nil, fmt.Errorf("treasury.operations.%s: %w", op, err)
		}
		est[op] = mc
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return treasury.New(ctx, treasury.Options{
		KV: kv, Ledger: l, Policy: pol, MemoKey: keys.MemoKey, Estimates: est,
		RateRefresh: t.RateRefresh, RateMaxAge: t.RateMaxAge, MinCentsPerHbar: t.MinCentsPerHbar, MaxCentsPerHbar: t.MaxCentsPerHbar,
		LowBalance: t.LowBalanceHbar * 100_000_000, BalanceInterval: t.BalanceInterval,
		Registerer: reg, Transactions: txCounter(m), Logger: log,
	})
}

// txCounter is hedera_transactions_total, or nil without shared metrics.
func txCounter(m *metrics.Metrics) *prometheus.CounterVec {
	if m == nil {
		return nil
	}
	return m.HederaTransactions
}

func (g *Gateway) maintain() {
	defer close(g.done)
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if rotated, err := g.Keyring.MaybeRotate(); err != nil {
			g.Logger.Error("signing key rotation failed", "err", err)
		} else if rotated {
			g.Logger.Info("signing key rotated", "kid", g.Keyring.Active().ID)
		}
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
	}
}

// bootstrapAdmin creates admin@localhost on a store with no users, writing
// its random password once to <data-dir>/admin.initial-password (0600).
func (g *Gateway) bootstrapAdmin(ctx context.Context) error {
	n, err := g.Store.Users().Count(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	pw := rand.Text() // 26 base32 characters, 130 bits
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return err
	}
	now := time.Now()
	u := &store.User{ID: uuid.NewString(), Email: AdminEmail, PasswordHash: hash,
		Roles: []string{store.RoleAdmin, store.RoleUser}, Tier: "individual", Status: "active", CreatedAt: now, UpdatedAt: now}
	// The file is written before the account so that a password is never
	// lost; a file left by a start that died in between guards no account
	// (the store has none), so it is replaced.
	if err := os.Remove(g.Config.AdminPasswordFile()); err == nil {
		g.Logger.Warn("replaced a stale admin password file: no account existed for it", "passwordFile", g.Config.AdminPasswordFile())
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("bootstrap admin: %w", err)
	}
	f, err := os.OpenFile(g.Config.AdminPasswordFile(), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("bootstrap admin: %w", err)
	}
	if _, err := f.WriteString(pw + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("bootstrap admin: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(g.Config.AdminIDFile(), []byte(u.ID+"\n"), 0o600); err != nil {
		return fmt.Errorf("bootstrap admin: %w", err)
	}
	if err := g.Store.Users().Create(ctx, u); err != nil {
		return fmt.Errorf("bootstrap admin: %w", err)
	}
	g.Logger.Warn("created the first admin account; its password is in the file named here (read it, then delete the file)",
		"email", AdminEmail, "passwordFile", g.Config.AdminPasswordFile())
	return nil
}

// Ready reports an error if the gateway cannot serve.
func (g *Gateway) Ready(ctx context.Context) error {
	if err := g.Store.Ping(ctx); err != nil {
		return err
	}
	if !g.Policy.Ready() {
		return errors.New("policy not loaded")
	}
	return nil
}

// Run listens and serves until ctx is done, then shuts down gracefully.
func (g *Gateway) Run(ctx context.Context) error {
	l, err := g.Server.Listen()
	if err != nil {
		return err
	}
	return g.Server.Serve(ctx, l)
}

// Close stops background work and closes the store cleanly.
func (g *Gateway) Close() error {
	close(g.stop)
	<-g.done
	return g.closeParts()
}

func (g *Gateway) closeParts() error {
	var errs []error
	if g.Directory != nil {
		g.Directory.Stop()
	}
	if g.Plugins != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		errs = append(errs, g.Plugins.Close(ctx))
		cancel()
	}
	if g.lmsCancel != nil {
		g.lmsCancel()
	}
	if g.Policy != nil {
		errs = append(errs, g.Policy.Close())
	}
	if g.Tokens != nil {
		g.Tokens.Close()
	}
	if g.Limiter != nil {
		g.Limiter.Close()
	}
	if g.Resolver != nil {
		g.Resolver.Close()
	}
	if g.Treasury != nil {
		errs = append(errs, g.Treasury.Close())
	}
	if g.Ledger != nil {
		errs = append(errs, g.Ledger.Close())
	}
	if g.Store != nil {
		errs = append(errs, g.Store.Close())
	}
	return errors.Join(errs...)
}

// MintAdminToken issues a short-lived admin access token without opening
// the store (which a running server holds locked): it reads the sealed
// signing keys and the bootstrap admin's ID from the data dir.
func MintAdminToken(cfg *config.Config, log *slog.Logger, ttl time.Duration) (string, time.Time, error) {
	keys, err := DeriveKeys(cfg, log)
	if err != nil {
		return "", time.Time{}, err
	}
	kr, err := auth.OpenKeyring(cfg.KeysDir(), keys.Sealer, auth.KeyringOptions{RotateEvery: cfg.Auth.KeyRotation, Retain: cfg.Auth.AccessTokenTTL + time.Hour})
	if err != nil {
		return "", time.Time{}, err
	}
	b, err := os.ReadFile(cfg.AdminIDFile())
	if err != nil {
		return "", time.Time{}, fmt.Errorf("admin token: %w (has `gatewayd serve` run once on this data dir?)", err)
	}
	id := string(b)
	for len(id) > 0 && (id[len(id)-1] == '\n' || id[len(id)-1] == '\r') {
		id = id[:len(id)-1]
	}
	tokens, err := auth.NewTokens(kr, auth.TokenOptions{Issuer: cfg.Auth.Issuer, Audience: cfg.Auth.Audience, TTL: ttl, CacheSize: -1})
	if err != nil {
		return "", time.Time{}, err
	}
	defer tokens.Close()
	return tokens.Issue(auth.Claims{Subject: id, Roles: []string{store.RoleAdmin, store.RoleUser}})
}
