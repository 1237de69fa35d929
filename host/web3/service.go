package web3

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/did"
	"github.com/ubeu/gateway/host/store"
)

// Errors of the proof flow; test with errors.Is.
var (
	// ErrNoPlugin: the resolver plugin for the name's registry is not
	// installed or not loaded.
	ErrNoPlugin = errors.New("web3: no resolver plugin for this name")
	// ErrNameNotFound: the registry has no such name (or no owner for it).
	ErrNameNotFound = errors.New("web3: name not found")
	// ErrResolver: the plugin failed (RPC down, garbage, wrong chain…).
	ErrResolver = errors.New("web3: the name resolver failed")
	// ErrNoChallenge: no live challenge of this user matches.
	ErrNoChallenge = errors.New("web3: no such challenge")
	// ErrNonceUsed: the challenge's nonce was already used (a replay).
	ErrNonceUsed = errors.New("web3: the nonce was already used")
	// ErrNonceExpired: the challenge expired before it was answered.
	ErrNonceExpired = errors.New("web3: the challenge has expired")
	// ErrMismatch: the message or its fields differ from the challenge.
	ErrMismatch = errors.New("web3: the message does not match the challenge")
	// ErrWrongSigner: the signature was made by another address than the
	// one claimed.
	ErrWrongSigner = errors.New("web3: the signature is not from the claimed address")
	// ErrNotOwner: the address does not own the name now.
	ErrNotOwner = errors.New("web3: the address does not own the name")
	// ErrNotYours: the user holds no such verified domain.
	ErrNotYours = errors.New("web3: no such domain of this user")
)

// Plugins gives the transport of a loaded plugin by name
// (*manager.Manager implements it).
type Plugins interface {
	Get(name string) (abiv1.Transport, bool)
}

// Options configures a Service.
type Options struct {
	// KV holds challenges, domains and the audit trail (namespace "web3").
	KV store.KV
	// Plugins are the loaded plugins; may be set later with SetPlugins.
	Plugins Plugins
	// PublicURL is the gateway's public base URL: its authority is the
	// SIWE domain, its scheme the SIWE scheme, and it is the SIWE URI.
	PublicURL string
	// TLDs maps TLDs to registries; nil means DefaultTLDs().
	TLDs map[string]Registry
	// ChallengeTTL is how long a challenge may be answered (default 10m).
	ChallengeTTL time.Duration
	// CallTimeout bounds one plugin call (default 30s: the manifest's
	// call_timeout bounds the plugin's own work; this also covers waiting
	// for an instance to start).
	CallTimeout time.Duration
	Logger      *slog.Logger
	Now         func() time.Time
}

// Service runs the ownership proof of external names and resolves them.
type Service struct {
	o       Options
	plugins Plugins
	scheme  string
	domain  string
	uri     string
	// sweeps counts challenges; every 64th sweeps spent ones.
	sweeps atomic.Int64
	// seq orders audit events of the same instant.
	seq atomic.Uint64
}

// New returns a Service.
func New(o Options) (*Service, error) {
	if o.KV == nil {
		return nil, errors.New("web3: KV is required")
	}
	u, err := url.Parse(o.PublicURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("web3: public URL %q is not an absolute http(s) URL", o.PublicURL)
	}
	if o.TLDs == nil {
		o.TLDs = DefaultTLDs()
	}
	if o.ChallengeTTL <= 0 {
		o.ChallengeTTL = 10 * time.Minute
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Service{o: o, plugins: o.Plugins, scheme: u.Scheme, domain: u.Host, uri: strings.TrimRight(u.String(), "/") + "/"}
	if !validAuthority(s.domain) || !validURI(s.uri) {
		return nil, fmt.Errorf("web3: public URL %q cannot be a SIWE domain and URI", o.PublicURL)
	}
	return s, nil
}

// SetTLDs replaces the TLD → registry map (before serving: a local test
// chain, e.g. anvil's eip155:1337, or a deployment that serves more TLDs).
func (s *Service) SetTLDs(m map[string]Registry) { s.o.TLDs = m }

// SetClock replaces the clock (tests: expiry of challenges).
func (s *Service) SetClock(now func() time.Time) { s.o.Now = now }

// SetPlugins sets the plugin source (the manager is built after the
// resolver that holds this Service).
func (s *Service) SetPlugins(p Plugins) { s.plugins = p }

const ns = "web3"

// Registry returns the registry of a normalised name's TLD.
func (s *Service) Registry(tld string) (Registry, error) {
	r, ok := s.o.TLDs[tld]
	if !ok {
		return Registry{}, fmt.Errorf("%w: .%s", ErrUnsupportedTLD, tld)
	}
	return r, nil
}

// client returns the resolver client of reg's plugin.
func (s *Service) client(reg Registry) (*abiv1.ResolverClient, error) {
	if s.plugins == nil {
		return nil, fmt.Errorf("%w: %s names need the %q plugin", ErrNoPlugin, reg.Name, reg.Plugin)
	}
	t, ok := s.plugins.Get(reg.Plugin)
	if !ok {
		return nil, fmt.Errorf("%w: %s names need the %q plugin", ErrNoPlugin, reg.Name, reg.Plugin)
	}
	return abiv1.NewResolverClient(t), nil
}

// pluginError maps a plugin's error to the Service's.
func pluginError(err error, name string) error {
	var pe *abiv1.Error
	if errors.As(err, &pe) {
		switch pe.Code {
		case abiv1.ErrorCodeNotFound:
			return fmt.Errorf("%w: %s", ErrNameNotFound, name)
		case abiv1.ErrorCodeInvalidArgument:
			return fmt.Errorf("%w: the resolver refused it: %s", ErrInvalidName, pe.Message)
		}
		return fmt.Errorf("%w: %s", ErrResolver, pe.Code)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: timed out", ErrResolver)
	}
	return fmt.Errorf("%w: %v", ErrResolver, err)
}

// Owner is a current owner of a name, as its plugin reports it.
type Owner struct {
	Chain   string
	Address [20]byte
}

// owners asks the plugin for the name's owners on the registry's chains,
// keeping well-formed eip155 answers only.
func (s *Service) owners(ctx context.Context, reg Registry, name string) ([]Owner, *abiv1.ResolveResponse, error) {
	c, err := s.client(reg)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.CallTimeout)
	defer cancel()
	res, err := c.Resolve(ctx, &abiv1.ResolveRequest{Name: name, Networks: reg.Chains})
	if err != nil {
		return nil, nil, pluginError(err, name)
	}
	var out []Owner
	for _, o := range res.Owners {
		if o == nil {
			continue
		}
		if _, ok := ParseCAIP2(o.Chain); !ok {
			continue
		}
		a, _, err := ParseAddress(o.Address)
		if err != nil || a == ([20]byte{}) {
			continue
		}
		out = append(out, Owner{Chain: o.Chain, Address: a})
	}
	if len(out) == 0 {
		return nil, res, fmt.Errorf("%w: %s has no owner", ErrNameNotFound, name)
	}
	return out, res, nil
}

// checkOwnership asks the plugin whether addr on chain owns name now.
func (s *Service) checkOwnership(ctx context.Context, reg Registry, name, chain string, addr [20]byte) (bool, map[string]string, error) {
	c, err := s.client(reg)
	if err != nil {
		return false, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.CallTimeout)
	defer cancel()
	res, err := c.CheckOwnership(ctx, &abiv1.CheckOwnershipRequest{Name: name, Address: &abiv1.Address{Chain: chain, Address: ChecksumAddress(addr)}})
	if err != nil {
		return false, nil, pluginError(err, name)
	}
	return res.Owns, res.Evidence, nil
}

// Challenge is what a user signs to prove a name.
type Challenge struct {
	Name      string    `json:"domain"`
	Address   string    `json:"address"`
	Chain     string    `json:"chain"`
	ChainID   uint64    `json:"chainId"`
	Nonce     string    `json:"nonce"`
	Message   string    `json:"message"`
	IssuedAt  time.Time `json:"issuedAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// challengeRecord is a challenge as stored, under "nonce/<nonce>".
type challengeRecord struct {
	UserID    string    `json:"userId"`
	Name      string    `json:"name"`
	Address   string    `json:"address"`
	Chain     string    `json:"chain"`
	Message   string    `json:"message"`
	ExpiresAt time.Time `json:"expiresAt"`
	UsedAt    time.Time `json:"usedAt,omitzero"`
}

// newNonce returns 128 random bits as 22 base-62 characters (the SIWE
// nonce rule: at least 8 letters and digits).
func newNonce() string {
	var b [16]byte
	rand.Read(b[:])
	s := new(big.Int).SetBytes(b[:]).Text(62)
	for len(s) < 22 {
		s = "0" + s
	}
	return s
}

// Challenge issues a SIWE challenge for userID to prove name. The address
// to sign with is the claimed one or, if empty, the name's current owner
// as the plugin reports it; the chain ID is the one the owner is on.
func (s *Service) Challenge(ctx context.Context, userID, name, address string) (*Challenge, error) {
	name, tld, err := NormaliseName(name)
	if err != nil {
		return nil, err
	}
	reg, err := s.Registry(tld)
	if err != nil {
		return nil, err
	}
	var claimed [20]byte
	if address != "" {
		if claimed, _, err = ParseAddress(address); err != nil {
			return nil, err
		}
	}
	owners, _, err := s.owners(ctx, reg, name)
	if err != nil {
		return nil, err
	}
	pick := owners[0]
	if address != "" {
		pick = Owner{Chain: owners[0].Chain, Address: claimed}
		for _, o := range owners {
			if o.Address == claimed {
				pick = o
				break
			}
		}
	}
	chainID, _ := ParseCAIP2(pick.Chain)
	now := s.o.Now().UTC().Truncate(time.Second)
	m := &Message{
		Scheme: s.scheme, Domain: s.domain, Address: ChecksumAddress(pick.Address),
		URI: s.uri, Version: "1", ChainID: chainID, Nonce: newNonce(),
		IssuedAt: now, ExpirationTime: now.Add(s.o.ChallengeTTL),
		Resources: []string{s.uri + "1.0/identifiers/" + url.PathEscape(name)},
	}
	if validStatement(name) {
		m.Statement = "Link " + name + " to my gatewayd identity."
	} else {
		m.Statement = "Link the name in the resources below to my gatewayd identity."
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("web3: built an invalid message: %w", err)
	}
	rec := challengeRecord{UserID: userID, Name: name, Address: m.Address, Chain: pick.Chain, Message: m.String(), ExpiresAt: m.ExpirationTime}
	b, _ := json.Marshal(rec)
	if _, err := s.o.KV.Put(ctx, ns, "nonce/"+m.Nonce, b, store.KVCond{Absent: true}); err != nil {
		return nil, fmt.Errorf("web3: store challenge: %w", err)
	}
	// The user's latest challenge for the name, for a verify that does not
	// send the message back.
	if _, err := s.o.KV.Put(ctx, ns, "latest/"+userID+"/"+name, []byte(m.Nonce), store.KVCond{}); err != nil {
		return nil, fmt.Errorf("web3: store challenge: %w", err)
	}
	if s.sweeps.Add(1)%64 == 0 {
		go s.Sweep(context.WithoutCancel(ctx))
	}
	s.audit(ctx, userID, "challenge", name, map[string]string{"address": m.Address, "chain": pick.Chain})
	return &Challenge{Name: name, Address: m.Address, Chain: pick.Chain, ChainID: chainID, Nonce: m.Nonce, Message: rec.Message,
		IssuedAt: m.IssuedAt, ExpiresAt: m.ExpirationTime}, nil
}

// Sweep deletes challenges spent or expired for more than an hour.
func (s *Service) Sweep(ctx context.Context) {
	cutoff := s.o.Now().Add(-time.Hour)
	after := ""
	for {
		items, err := s.o.KV.List(ctx, ns, "nonce/", after, 500)
		if err != nil || len(items) == 0 {
			return
		}
		for _, it := range items {
			var r challengeRecord
			if json.Unmarshal(it.Value, &r) == nil && r.ExpiresAt.Before(cutoff) {
				_ = s.o.KV.Delete(ctx, ns, it.Key, store.KVCond{Version: it.Version})
			}
		}
		after = items[len(items)-1].Key
	}
}

// VerifyInput is a user's answer to a challenge.
type VerifyInput struct {
	Name      string
	Address   string
	Signature string
	// Message is the signed message; empty means the user's latest
	// challenge for Name.
	Message string
}

// Proof is a verified ownership of a name.
type Proof struct {
	Name             string            `json:"domain"`
	Registry         string            `json:"registry"`
	Network          string            `json:"network"`
	Chain            string            `json:"chain"`
	Address          string            `json:"address"`
	RegistryContract string            `json:"registryContract,omitempty"`
	ExpiresUnix      int64             `json:"-"`
	Message          string            `json:"message"`
	Signature        string            `json:"signature"`
	Evidence         map[string]string `json:"evidence,omitempty"`
}

// Verify checks a user's answer: the message is the challenge issued to
// this user (strictly parsed, every field as issued), its nonce is spent
// now (atomically: a second answer with it is refused, as is one after
// expiry), the signature recovers to the claimed address, and the plugin
// says that address owns the name now.
func (s *Service) Verify(ctx context.Context, userID string, in VerifyInput) (*Proof, error) {
	name, tld, err := NormaliseName(in.Name)
	if err != nil {
		return nil, err
	}
	reg, err := s.Registry(tld)
	if err != nil {
		return nil, err
	}
	claimed, claimedSum, err := ParseAddress(in.Address)
	if err != nil {
		return nil, err
	}
	if _, err := DecodeSignature(in.Signature); err != nil {
		return nil, err
	}
	var nonce string
	if in.Message != "" {
		m, err := ParseMessage(in.Message)
		if err != nil {
			return nil, err
		}
		nonce = m.Nonce
	} else {
		v, _, err := s.o.KV.Get(ctx, ns, "latest/"+userID+"/"+name)
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrNoChallenge
		}
		if err != nil {
			return nil, err
		}
		nonce = string(v)
	}
	rec, err := s.consume(ctx, userID, nonce)
	if err != nil {
		return nil, err
	}
	if in.Message != "" && in.Message != rec.Message {
		return nil, fmt.Errorf("%w: the message differs from the one issued", ErrMismatch)
	}
	if rec.Name != name {
		return nil, fmt.Errorf("%w: the challenge is for another name", ErrMismatch)
	}
	if !strings.EqualFold(rec.Address, claimedSum) {
		return nil, fmt.Errorf("%w: the challenge was issued for %s", ErrMismatch, rec.Address)
	}
	signer, err := RecoverPersonal([]byte(rec.Message), in.Signature)
	if err != nil {
		return nil, err
	}
	if signer != claimedSum {
		s.audit(ctx, userID, "verify.failed", name, map[string]string{"reason": "wrong signer", "address": claimedSum})
		return nil, ErrWrongSigner
	}
	owns, evidence, err := s.checkOwnership(ctx, reg, name, rec.Chain, claimed)
	if err != nil {
		return nil, err
	}
	if !owns {
		s.audit(ctx, userID, "verify.failed", name, map[string]string{"reason": "not owner", "address": claimedSum})
		return nil, fmt.Errorf("%w: %s on %s", ErrNotOwner, claimedSum, rec.Chain)
	}
	p := &Proof{Name: name, Registry: reg.Name, Network: NetworkOf(rec.Chain), Chain: rec.Chain, Address: claimedSum,
		Message: rec.Message, Signature: in.Signature, Evidence: evidence}
	// The registry contract and expiry, for the record; not a condition.
	if _, res, err := s.owners(ctx, reg, name); err == nil && res != nil {
		if res.ResolverContract != nil {
			p.RegistryContract = res.ResolverContract.Address
		}
		p.ExpiresUnix = res.ExpiresUnix
	}
	if c := evidence["registry"]; c != "" {
		p.RegistryContract = c
	}
	return p, nil
}

// consume spends a nonce of userID: compare-and-swap of its record to
// used, so that of two concurrent answers exactly one proceeds.
func (s *Service) consume(ctx context.Context, userID, nonce string) (*challengeRecord, error) {
	if !validNonce(nonce) {
		return nil, ErrNoChallenge
	}
	v, ver, err := s.o.KV.Get(ctx, ns, "nonce/"+nonce)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoChallenge
	}
	if err != nil {
		return nil, err
	}
	var rec challengeRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, fmt.Errorf("web3: damaged challenge: %w", err)
	}
	if rec.UserID != userID {
		return nil, ErrNoChallenge // another user's nonce: as if it did not exist
	}
	if !rec.UsedAt.IsZero() {
		s.audit(ctx, userID, "verify.replay", rec.Name, nil)
		return nil, ErrNonceUsed
	}
	now := s.o.Now()
	rec.UsedAt = now
	b, _ := json.Marshal(rec)
	if _, err := s.o.KV.Put(ctx, ns, "nonce/"+nonce, b, store.KVCond{Version: ver}); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, ErrNonceUsed
		}
		return nil, err
	}
	if !now.Before(rec.ExpiresAt) {
		return nil, ErrNonceExpired
	}
	return &rec, nil
}

// Domain is a user's verified external name (the design's domains row with
// domain_type external).
type Domain struct {
	Name             string      `json:"domainName"`
	DomainType       string      `json:"domainType"`
	UserID           string      `json:"userId"`
	DID              string      `json:"did"`
	Registry         string      `json:"registry"`
	Network          string      `json:"blockchainNetwork"`
	Chain            string      `json:"chain"`
	Address          string      `json:"ownerAddress"`
	RegistryContract string      `json:"registryContract,omitempty"`
	Method           string      `json:"verificationMethod"`
	Proof            DomainProof `json:"verificationProof"`
	Status           string      `json:"status"`
	VerifiedAt       time.Time   `json:"verifiedAt"`
	ExpiresAt        time.Time   `json:"expiresAt,omitzero"`
}

// DomainProof is the stored proof: the signed message and its signature.
type DomainProof struct {
	Message   string            `json:"message"`
	Signature string            `json:"signature"`
	Evidence  map[string]string `json:"evidence,omitempty"`
}

// Status values of a Domain.
const StatusVerified = "verified"

// Get returns the verified record of a name, if any.
func (s *Service) Get(ctx context.Context, name string) (*Domain, uint64, error) {
	v, ver, err := s.o.KV.Get(ctx, ns, "domain/"+name)
	if err != nil {
		return nil, 0, err
	}
	var d Domain
	if err := json.Unmarshal(v, &d); err != nil {
		return nil, 0, fmt.Errorf("web3: damaged domain %s: %w", name, err)
	}
	return &d, ver, nil
}

// Store records a proof as userID's verified domain linked to didStr. If
// another user held the name (it changed hands), that record is replaced
// and returned as previous.
func (s *Service) Store(ctx context.Context, userID, didStr string, p *Proof) (d *Domain, previous *Domain, err error) {
	d = &Domain{Name: p.Name, DomainType: "external", UserID: userID, DID: didStr, Registry: p.Registry, Network: p.Network,
		Chain: p.Chain, Address: p.Address, RegistryContract: p.RegistryContract, Method: "eip4361_signature",
		Proof: DomainProof{Message: p.Message, Signature: p.Signature, Evidence: p.Evidence}, Status: StatusVerified,
		VerifiedAt: s.o.Now().UTC()}
	if p.ExpiresUnix > 0 {
		d.ExpiresAt = time.Unix(p.ExpiresUnix, 0).UTC()
	}
	b, _ := json.Marshal(d)
	for {
		old, ver, err := s.Get(ctx, p.Name)
		cond := store.KVCond{Absent: true}
		switch {
		case err == nil:
			previous, cond = old, store.KVCond{Version: ver}
		case errors.Is(err, store.ErrNotFound):
			previous = nil
		default:
			return nil, nil, err
		}
		_, err = s.o.KV.Put(ctx, ns, "domain/"+p.Name, b, cond)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		break
	}
	if previous != nil && previous.UserID != userID {
		_ = s.o.KV.Delete(ctx, ns, "user/"+previous.UserID+"/"+p.Name, store.KVCond{})
		s.audit(ctx, previous.UserID, "domain.lost", p.Name, map[string]string{"to": userID})
	}
	if _, err := s.o.KV.Put(ctx, ns, "user/"+userID+"/"+p.Name, nil, store.KVCond{}); err != nil {
		return nil, nil, err
	}
	s.audit(ctx, userID, "domain.verified", p.Name, map[string]string{"address": p.Address, "chain": p.Chain, "did": didStr})
	return d, previous, nil
}

// List returns userID's verified domains.
func (s *Service) List(ctx context.Context, userID string) ([]Domain, error) {
	items, err := s.o.KV.List(ctx, ns, "user/"+userID+"/", "", 100)
	if err != nil {
		return nil, err
	}
	out := []Domain{}
	for _, it := range items {
		name := strings.TrimPrefix(it.Key, "user/"+userID+"/")
		d, _, err := s.Get(ctx, name)
		if err != nil || d.UserID != userID {
			continue
		}
		out = append(out, *d)
	}
	return out, nil
}

// Remove deletes userID's verified domain name and returns its record.
func (s *Service) Remove(ctx context.Context, userID, name string) (*Domain, error) {
	name, _, err := NormaliseName(name)
	if err != nil {
		return nil, err
	}
	d, ver, err := s.Get(ctx, name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && d.UserID != userID) {
		return nil, ErrNotYours
	}
	if err != nil {
		return nil, err
	}
	if err := s.o.KV.Delete(ctx, ns, "domain/"+name, store.KVCond{Version: ver}); err != nil {
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			return nil, ErrNotYours
		}
		return nil, err
	}
	_ = s.o.KV.Delete(ctx, ns, "user/"+userID+"/"+name, store.KVCond{})
	s.audit(ctx, userID, "domain.removed", name, nil)
	return d, nil
}

// AuditEvent is one entry of a user's external-domain audit trail.
type AuditEvent struct {
	Time   time.Time         `json:"time"`
	Event  string            `json:"event"`
	Domain string            `json:"domain"`
	Fields map[string]string `json:"fields,omitempty"`
}

// audit appends an event to the user's trail (KV "audit/<user>/<time>")
// and logs it. Signatures and messages are never logged.
func (s *Service) audit(ctx context.Context, userID, event, name string, fields map[string]string) {
	now := s.o.Now().UTC()
	e := AuditEvent{Time: now, Event: event, Domain: name, Fields: fields}
	b, _ := json.Marshal(e)
	var r [4]byte
	rand.Read(r[:])
	key := fmt.Sprintf("audit/%s/%020d-%010d-%x", userID, now.UnixNano(), s.seq.Add(1), r)
	if _, err := s.o.KV.Put(context.WithoutCancel(ctx), ns, key, b, store.KVCond{Absent: true}); err != nil {
		s.o.Logger.Warn("web3 audit not stored", "event", event, "err", err)
	}
	attrs := []any{"audit", "web3", "event", event, "userId", userID, "domain", name}
	for k, v := range fields {
		attrs = append(attrs, k, v)
	}
	s.o.Logger.Info("external domain "+event, attrs...)
}

// Audit returns the user's most recent audit events, oldest first.
func (s *Service) Audit(ctx context.Context, userID string, limit int) ([]AuditEvent, error) {
	items, err := s.o.KV.List(ctx, ns, "audit/"+userID+"/", "", limit)
	if err != nil {
		return nil, err
	}
	out := make([]AuditEvent, 0, len(items))
	for _, it := range items {
		var e AuditEvent
		if json.Unmarshal(it.Value, &e) == nil {
			out = append(out, e)
		}
	}
	return out, nil
}

// ResolveName maps an external name to a DID (resolve.NameResolver): the
// DID of the user who proved it, if the proven address still owns it
// (asked of the plugin: the edge cache in front keeps this off the hot
// path), else the did:pkh of its current owner. Errors are
// *did.ResolutionError: notFound for an unknown name, methodNotSupported
// when the plugin is not installed, invalidDid for a refused name.
func (s *Service) ResolveName(ctx context.Context, name string) (string, error) {
	name, tld, err := NormaliseName(name)
	if err != nil {
		return "", did.Errorf(did.CodeInvalidDID, "%s", strings.TrimPrefix(err.Error(), "web3: "))
	}
	reg, err := s.Registry(tld)
	if err != nil {
		return "", did.Errorf(did.CodeMethodNotSupported, "names ending in .%s are not supported", tld)
	}
	if d, _, err := s.Get(ctx, name); err == nil && d.Status == StatusVerified {
		a, _, perr := ParseAddress(d.Address)
		if perr == nil {
			owns, _, err := s.checkOwnership(ctx, reg, name, d.Chain, a)
			switch {
			case err != nil:
				return "", resolutionError(err)
			case owns:
				return d.DID, nil
			}
			s.o.Logger.Info("external domain changed hands since it was verified", "domain", name, "verifiedBy", d.UserID)
		}
	}
	owners, _, err := s.owners(ctx, reg, name)
	if err != nil {
		return "", resolutionError(err)
	}
	return PKH(owners[0].Chain, owners[0].Address), nil
}

func resolutionError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "web3: ")
	switch {
	case errors.Is(err, ErrNameNotFound):
		return did.Errorf(did.CodeNotFound, "%s", msg)
	case errors.Is(err, ErrInvalidName):
		return did.Errorf(did.CodeInvalidDID, "%s", msg)
	case errors.Is(err, ErrNoPlugin):
		return did.Errorf(did.CodeMethodNotSupported, "%s", msg)
	}
	return did.Errorf(did.CodeUnavailable, "%s", msg)
}
