package httpapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/ubeu/gateway/host/auth"
	"github.com/ubeu/gateway/host/enterprise/dnsverify"
	"github.com/ubeu/gateway/host/store"
	"github.com/ubeu/gateway/host/treasury"
)

// Enterprise statuses.
const (
	EnterprisePending = "pending_verification"
	EnterpriseActive  = "active"
)

// API-key permissions an enterprise key may hold.
var apiKeyPermissions = []string{"issue_credentials", "revoke_credentials", "query_recipients"}

// maxAPIKeys bounds the keys (revoked ones included) of one enterprise.
const maxAPIKeys = 100

func (s *Server) enterpriseRoutes() {
	r := s.router
	r.add("POST", "/api/v1/enterprises/register", "enterprises.register", s.enterpriseRegister)
	r.add("GET", "/api/v1/enterprises/{enterpriseId}", "enterprises.get", s.enterpriseGet)
	r.add("POST", "/api/v1/enterprises/{enterpriseId}/dns-verification/initiate", "enterprises.dns.initiate", s.enterpriseDNSInitiate)
	r.add("POST", "/api/v1/enterprises/{enterpriseId}/dns-verification/verify", "enterprises.dns.verify", s.enterpriseDNSVerify)
	r.add("GET", "/api/v1/enterprises/{enterpriseId}/api-keys", "enterprises.apikeys.list", s.apiKeysList)
	r.add("POST", "/api/v1/enterprises/{enterpriseId}/api-keys", "enterprises.apikeys.create", s.apiKeysCreate)
	r.add("DELETE", "/api/v1/enterprises/{enterpriseId}/api-keys/{keyId}", "enterprises.apikeys.revoke", s.apiKeysRevoke)
}

type enterpriseRegisterRequest struct {
	OrganizationName string `json:"organizationName"`
	ParentDomain     string `json:"parentDomain"`
	ContactEmail     string `json:"contactEmail"`
	EnterpriseTier   string `json:"enterpriseTier"`
}

// checkName validates a short human-readable name: 1 to max characters of
// valid UTF-8, no control characters, not blank.
func checkName(field, v string, max int) *Error {
	if strings.TrimSpace(v) == "" {
		return errField(field, "is required")
	}
	if !utf8.ValidString(v) {
		return errField(field, "is not valid UTF-8")
	}
	if utf8.RuneCountInString(v) > max {
		return errField(field, "is longer than "+strconv.Itoa(max)+" characters")
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return errField(field, "contains control characters")
		}
	}
	return nil
}

type challengeView struct {
	RecordName  string    `json:"recordName"`
	RecordValue string    `json:"recordValue"`
	ExpiresAt   time.Time `json:"expiresAt"`
}

type enterpriseRegistered struct {
	EnterpriseID string        `json:"enterpriseId"`
	ManagedDID   string        `json:"managedDid"`
	DNSChallenge challengeView `json:"dnsChallenge"`
	APIKey       string        `json:"apiKey"` // the secret: shown in this answer only
	APIKeyID     string        `json:"apiKeyId"`
	APIKeyPrefix string        `json:"apiKeyPrefix"`
	Status       string        `json:"status"`
}

// enterpriseRegister registers an enterprise issuer owned by the caller:
// the record (pending verification), its managed DID, its first API key
// and a DNS challenge for its parent domain.
func (s *Server) enterpriseRegister(c *Ctx) error {
	var req enterpriseRegisterRequest
	if err := c.Decode(&req); err != nil {
		return err
	}
	if e := checkName("organizationName", req.OrganizationName, 200); e != nil {
		return e
	}
	if req.ParentDomain == "" {
		return errField("parentDomain", "is required")
	}
	domain, err := dnsverify.NormalizeDomain(req.ParentDomain)
	if err != nil {
		return errField("parentDomain", strings.TrimPrefix(err.Error(), "dnsverify: "))
	}
	if req.ContactEmail == "" {
		return errField("contactEmail", "is required")
	}
	email, e := normaliseEmail(req.ContactEmail)
	if e != nil {
		return errField("contactEmail", "is not a valid e-mail address")
	}
	tier, ok := s.Config.Enterprise.Tiers.Get(req.EnterpriseTier)
	if !ok {
		return errField("enterpriseTier", `must be "pro" or "enterprise"`)
	}
	owner, err := s.userByID(c, c.Principal.ID)
	if err != nil {
		return err
	}
	now := s.Now().UTC()
	ent := &store.Enterprise{
		ID: uuid.NewString(), OrganizationName: strings.TrimSpace(req.OrganizationName), ParentDomain: domain,
		ContactEmail: email, Tier: req.EnterpriseTier, Status: EnterprisePending, OwnerUserID: owner.ID,
		CreatedAt: now, UpdatedAt: now,
	}
	// Creating the record first claims the domain atomically, before any
	// ledger cost is spent.
	if err := s.Store.Enterprises().Create(c, ent); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: "an enterprise with this parent domain is already registered",
				Details: map[string]any{"field": "parentDomain"}}
		}
		return err
	}
	// From here on a failure undoes the registration (frees the domain and
	// revokes the key), so that the caller can simply retry. A DID already
	// written to the ledger stays there, unused.
	var keyID string
	undo := func(step string, cause error) {
		ctx := context.WithoutCancel(c)
		s.Logger.Error("enterprise registration failed; undone", "enterprise", ent.ID, "step", step, "err", cause)
		if keyID != "" {
			if err := s.Store.APIKeys().Revoke(ctx, ent.ID, keyID, s.Now().UTC()); err != nil {
				s.Logger.Error("undo: revoke API key", "enterprise", ent.ID, "err", err)
			}
		}
		if err := s.Store.Enterprises().Delete(ctx, ent.ID); err != nil {
			s.Logger.Error("undo: delete enterprise", "enterprise", ent.ID, "err", err)
		}
	}
	// Registering at a tier buys its first month (and its setup fee);
	// the payment provider's webhook renews it.
	if s.Treasury != nil {
		now := s.Now().UTC()
		if err := s.Treasury.PutSubscription(c, &treasury.Subscription{Kind: treasury.KindEnterprise, ID: ent.ID, Plan: ent.Tier,
			Status: treasury.SubActive, PeriodStart: now, PeriodEnd: now.AddDate(0, 1, 0), Activated: now}); err != nil {
			undo("subscription", err)
			return err
		}
	}
	if err := c.sponsor(enterprisePayer(ent), treasury.OpDIDCreate, 1); err != nil {
		undo("sponsorship", err)
		return err
	}
	d, _, err := s.Identity.CreateManaged(c, ent.ID)
	if err != nil {
		undo("managed DID", err)
		return identityError(err)
	}
	ent.ManagedDID = d
	if err := s.Store.Enterprises().Update(c, ent); err != nil {
		undo("record DID", err)
		return err
	}
	key, k, err := s.newAPIKey(c, ent.ID, "default", apiKeyPermissions, tier.MonthlyCredentials, time.Time{})
	if err != nil {
		undo("API key", err)
		return err
	}
	keyID = k.ID
	ch, err := s.DNS.Initiate(c, ent.ID, domain)
	if err != nil {
		undo("DNS challenge", err)
		return err
	}
	c.Response.Header.Set("Location", "/api/v1/enterprises/"+ent.ID)
	return c.JSON(http.StatusCreated, enterpriseRegistered{
		EnterpriseID: ent.ID, ManagedDID: d,
		DNSChallenge: challengeView{RecordName: ch.RecordName, RecordValue: ch.RecordValue, ExpiresAt: ch.ExpiresAt},
		APIKey:       key, APIKeyID: k.ID, APIKeyPrefix: k.Prefix, Status: ent.Status,
	})
}

func (s *Server) newAPIKey(c *Ctx, enterpriseID, name string, perms []string, monthly int, expires time.Time) (string, *store.APIKey, error) {
	for range 3 {
		key, prefix, hash, err := auth.NewAPIKey()
		if err != nil {
			return "", nil, err
		}
		k := &store.APIKey{ID: uuid.NewString(), Prefix: prefix, EnterpriseID: enterpriseID, Name: name, SecretHash: hash,
			Permissions: slices.Clone(perms), MonthlyLimit: monthly, CreatedAt: s.Now().UTC(), ExpiresAt: expires}
		err = s.Store.APIKeys().Create(c, k)
		if errors.Is(err, store.ErrConflict) { // prefix collision: draw again
			continue
		}
		if err != nil {
			return "", nil, err
		}
		return key, k, nil
	}
	return "", nil, errors.New("could not draw a free API key prefix")
}

func isAdmin(p []string) bool { return slices.Contains(p, store.RoleAdmin) }

// readableEnterprise is the enterprise params.enterpriseId for a route of
// access enterprise_read: an API key of the enterprise itself, or a session
// of its owner or an admin.
func (s *Server) readableEnterprise(c *Ctx) (*store.Enterprise, error) {
	id := c.Param("enterpriseId")
	if c.Principal.AuthMethod == "api_key" && !isAdmin(c.Principal.Roles) {
		if c.Principal.Tenant != id { // the policy already refuses this
			return nil, errForbidden("not your enterprise")
		}
		e, err := s.Store.Enterprises().Get(c, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errNotFound("enterprise")
		}
		return e, err
	}
	return s.managedEnterprise(c)
}

// managedEnterprise returns the enterprise of the path if the caller may
// manage it: its owner (session) or an admin. 404 if unknown, 403 if not
// the caller's.
func (s *Server) managedEnterprise(c *Ctx) (*store.Enterprise, error) {
	ent, err := s.Store.Enterprises().Get(c, c.Param("enterpriseId"))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNotFound("enterprise")
	}
	if err != nil {
		return nil, err
	}
	if isAdmin(c.Principal.Roles) {
		return ent, nil
	}
	if c.Principal.AuthMethod == "jwt" && c.Principal.ID != "" && c.Principal.ID == ent.OwnerUserID {
		return ent, nil
	}
	return nil, errForbidden("only the enterprise's owner or an admin may do this")
}

type enterpriseView struct {
	EnterpriseID     string    `json:"enterpriseId"`
	OrganizationName string    `json:"organizationName"`
	ParentDomain     string    `json:"parentDomain"`
	ContactEmail     string    `json:"contactEmail"`
	EnterpriseTier   string    `json:"enterpriseTier"`
	MonthlyLimit     int       `json:"monthlyLimit"`
	Status           string    `json:"status"`
	CanIssue         bool      `json:"canIssue"`
	ManagedDID       string    `json:"managedDid"`
	OwnerUserID      string    `json:"ownerUserId"`
	CreatedAt        time.Time `json:"createdAt"`
	UpdatedAt        time.Time `json:"updatedAt"`
	VerifiedAt       time.Time `json:"verifiedAt,omitzero"`
}

func (s *Server) enterpriseGet(c *Ctx) error {
	ent, err := s.readableEnterprise(c)
	if err != nil {
		return err
	}
	tier, _ := s.Config.Enterprise.Tiers.Get(ent.Tier)
	return c.JSON(http.StatusOK, enterpriseView{
		EnterpriseID: ent.ID, OrganizationName: ent.OrganizationName, ParentDomain: ent.ParentDomain,
		ContactEmail: ent.ContactEmail, EnterpriseTier: ent.Tier, MonthlyLimit: tier.MonthlyCredentials,
		Status: ent.Status, CanIssue: ent.Status == EnterpriseActive, ManagedDID: ent.ManagedDID,
		OwnerUserID: ent.OwnerUserID, CreatedAt: ent.CreatedAt, UpdatedAt: ent.UpdatedAt, VerifiedAt: ent.VerifiedAt,
	})
}

func alreadyVerified() *Error {
	return &Error{Status: http.StatusConflict, Code: "ALREADY_VERIFIED", Message: "the enterprise's domain is already verified"}
}

// enterpriseDNSInitiate issues a fresh TXT challenge, replacing any earlier
// one. An active enterprise has nothing to verify (409 ALREADY_VERIFIED).
func (s *Server) enterpriseDNSInitiate(c *Ctx) error {
	ent, err := s.managedEnterprise(c)
	if err != nil {
		return err
	}
	if ent.Status == EnterpriseActive {
		return alreadyVerified()
	}
	ch, err := s.DNS.Initiate(c, ent.ID, ent.ParentDomain)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{
		"enterpriseId": ent.ID, "status": ent.Status,
		"dnsChallenge": challengeView{RecordName: ch.RecordName, RecordValue: ch.RecordValue, ExpiresAt: ch.ExpiresAt},
	})
}

// enterpriseDNSVerify looks the challenge record up through the configured
// DNS server. A record that is absent or holds other values is not an
// error: the answer is 200 {verified: false, found: [...]}. On success the
// enterprise becomes active: 200 {verified: true, status: "active"}.
func (s *Server) enterpriseDNSVerify(c *Ctx) error {
	ent, err := s.managedEnterprise(c)
	if err != nil {
		return err
	}
	if ent.Status == EnterpriseActive {
		return c.JSON(http.StatusOK, map[string]any{"verified": true, "status": ent.Status})
	}
	res, err := s.DNS.Verify(c, ent.ID)
	switch {
	case errors.Is(err, dnsverify.ErrNoChallenge):
		return &Error{Status: http.StatusConflict, Code: "NO_CHALLENGE", Message: "no DNS challenge: initiate one first"}
	case errors.Is(err, dnsverify.ErrExpired):
		return &Error{Status: http.StatusConflict, Code: "CHALLENGE_EXPIRED", Message: "the DNS challenge expired: initiate a new one"}
	case errors.Is(err, dnsverify.ErrSuperseded):
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: "the DNS challenge was replaced meanwhile; verify again"}
	case errors.Is(err, dnsverify.ErrLookup):
		return &Error{Status: http.StatusServiceUnavailable, Code: "DNS_LOOKUP_FAILED", Message: "the DNS lookup failed; retry later",
			Details: map[string]any{"problem": err.Error()}, RetryAfter: 5}
	case errors.Is(err, dnsverify.ErrAlreadyVerified):
		// Verified by a request whose activation did not complete: finish it.
	case err != nil:
		return err
	case !res.Verified:
		found := res.Found
		if found == nil {
			found = []string{}
		}
		rec, _ := s.DNS.Get(c, ent.ID)
		return c.JSON(http.StatusOK, map[string]any{"verified": false, "status": ent.Status, "found": found,
			"recordName": rec.RecordName, "recordValue": rec.RecordValue})
	}
	now := s.Now().UTC()
	ent.Status, ent.VerifiedAt, ent.UpdatedAt = EnterpriseActive, now, now
	if err := s.Store.Enterprises().Update(c, ent); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"verified": true, "status": ent.Status})
}

type apiKeyCreateRequest struct {
	Name        string   `json:"name"`
	Permissions []string `json:"permissions"`
	ExpiresAt   string   `json:"expiresAt,omitempty"` // RFC 3339, in the future
}

type apiKeyView struct {
	ID           string     `json:"id"`
	Prefix       string     `json:"prefix"`
	Name         string     `json:"name"`
	Permissions  []string   `json:"permissions"`
	MonthlyLimit int        `json:"monthlyLimit"`
	CreatedAt    time.Time  `json:"createdAt"`
	ExpiresAt    *time.Time `json:"expiresAt"`
	LastUsedAt   *time.Time `json:"lastUsedAt"`
	RevokedAt    *time.Time `json:"revokedAt"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func viewAPIKey(k *store.APIKey) apiKeyView {
	perms := k.Permissions
	if perms == nil {
		perms = []string{}
	}
	return apiKeyView{ID: k.ID, Prefix: k.Prefix, Name: k.Name, Permissions: perms, MonthlyLimit: k.MonthlyLimit,
		CreatedAt: k.CreatedAt.UTC(), ExpiresAt: timePtr(k.ExpiresAt), LastUsedAt: timePtr(k.LastUsedAt), RevokedAt: timePtr(k.RevokedAt)}
}

func (s *Server) apiKeysCreate(c *Ctx) error {
	var req apiKeyCreateRequest
	if err := c.Decode(&req); err != nil {
		return err
	}
	if e := checkName("name", req.Name, 100); e != nil {
		return e
	}
	if len(req.Permissions) == 0 {
		return errField("permissions", "at least one of issue_credentials, revoke_credentials, query_recipients")
	}
	seen := map[string]bool{}
	for _, p := range req.Permissions {
		if !slices.Contains(apiKeyPermissions, p) && p != scimPermission {
			return errField("permissions", "unknown permission "+quote(p)+" (issue_credentials, revoke_credentials, query_recipients, scim)")
		}
		if seen[p] {
			return errField("permissions", "repeats "+p)
		}
		seen[p] = true
	}
	var expires time.Time
	if req.ExpiresAt != "" {
		t, err := time.Parse(time.RFC3339, req.ExpiresAt)
		if err != nil {
			return errField("expiresAt", "must be an RFC 3339 date-time")
		}
		if !t.After(s.Now()) {
			return errField("expiresAt", "must be in the future")
		}
		expires = t.UTC()
	}
	ent, err := s.managedEnterprise(c)
	if err != nil {
		return err
	}
	keys, err := s.Store.APIKeys().ListByEnterprise(c, ent.ID)
	if err != nil {
		return err
	}
	if len(keys) >= maxAPIKeys {
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: "the enterprise has too many API keys",
			Details: map[string]any{"max": maxAPIKeys}}
	}
	tier, _ := s.Config.Enterprise.Tiers.Get(ent.Tier)
	secret, k, err := s.newAPIKey(c, ent.ID, req.Name, req.Permissions, tier.MonthlyCredentials, expires)
	if err != nil {
		return err
	}
	out := struct {
		apiKeyView
		APIKey string `json:"apiKey"` // the secret: shown in this answer only
	}{viewAPIKey(k), secret}
	return c.JSON(http.StatusCreated, out)
}

func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return `"` + strings.ToValidUTF8(s, "?") + `"`
}

func (s *Server) apiKeysList(c *Ctx) error {
	ent, err := s.managedEnterprise(c)
	if err != nil {
		return err
	}
	keys, err := s.Store.APIKeys().ListByEnterprise(c, ent.ID)
	if err != nil {
		return err
	}
	out := make([]apiKeyView, 0, len(keys))
	for _, k := range keys {
		out = append(out, viewAPIKey(k))
	}
	return c.JSON(http.StatusOK, map[string]any{"apiKeys": out})
}

func (s *Server) apiKeysRevoke(c *Ctx) error {
	ent, err := s.managedEnterprise(c)
	if err != nil {
		return err
	}
	err = s.Store.APIKeys().Revoke(c, ent.ID, c.Param("keyId"), s.Now().UTC())
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound("API key")
	}
	if err != nil {
		return err
	}
	c.SetStatusCode(http.StatusNoContent)
	return nil
}
