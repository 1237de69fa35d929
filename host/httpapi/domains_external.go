package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ubeu/gateway/host/did/hederadid"
	"github.com/ubeu/gateway/host/identity"
	"github.com/ubeu/gateway/host/limits"
	"github.com/ubeu/gateway/host/resolve"
	"github.com/ubeu/gateway/host/treasury"
	"github.com/ubeu/gateway/host/web3"
)

// externalDomainRoutes are the ownership proof of external Web3 names
// (.eth, the UNS TLDs): a Sign-In with Ethereum challenge, its signed
// answer, and the user's verified names.
func (s *Server) externalDomainRoutes() {
	r := s.router
	r.add("POST", "/api/v1/domains/external/challenge", "domains.external.challenge", s.externalChallenge)
	r.add("POST", "/api/v1/domains/external/verify", "domains.external.verify", s.externalVerify)
	r.add("GET", "/api/v1/domains/external", "domains.external.list", s.externalList)
	r.add("DELETE", "/api/v1/domains/external/{name}", "domains.external.delete", s.externalDelete)
}

// Bounds of the request fields (the body itself is bounded by the server).
const (
	maxExternalName      = web3.MaxNameBytes
	maxSignatureHexChars = 2 + 2*web3.SignatureLen
)

type externalChallengeRequest struct {
	Domain  string `json:"domain"`
	Address string `json:"address,omitempty"`
}

type externalVerifyRequest struct {
	Domain    string `json:"domain"`
	Address   string `json:"address"`
	Signature string `json:"signature"`
	// Message is the signed message; without it the user's latest
	// challenge for the domain is the one answered.
	Message string `json:"message,omitempty"`
	// DID is which of the user's DIDs gets the name; default the primary.
	DID string `json:"did,omitempty"`
}

// web3Error maps the proof flow's errors to API errors.
func web3Error(err error) error {
	field := func(status int, code, f string) *Error {
		return &Error{Status: status, Code: code, Message: strings.TrimPrefix(err.Error(), "web3: "), Details: map[string]any{"field": f}}
	}
	switch {
	case errors.Is(err, web3.ErrInvalidName), errors.Is(err, web3.ErrUnsupportedTLD):
		return field(http.StatusBadRequest, CodeValidation, "domain")
	case errors.Is(err, web3.ErrAddress):
		return field(http.StatusBadRequest, CodeValidation, "address")
	case errors.Is(err, web3.ErrSignature):
		return field(http.StatusBadRequest, CodeValidation, "signature")
	case errors.Is(err, web3.ErrMessage):
		return field(http.StatusBadRequest, CodeValidation, "message")
	case errors.Is(err, web3.ErrNameNotFound):
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: strings.TrimPrefix(err.Error(), "web3: ")}
	case errors.Is(err, web3.ErrNoChallenge):
		return &Error{Status: http.StatusNotFound, Code: "CHALLENGE_NOT_FOUND", Message: "no challenge of yours matches; request one first"}
	case errors.Is(err, web3.ErrNonceUsed):
		return &Error{Status: http.StatusConflict, Code: "NONCE_USED", Message: "the challenge was already answered; request a new one"}
	case errors.Is(err, web3.ErrNonceExpired):
		return &Error{Status: http.StatusGone, Code: "CHALLENGE_EXPIRED", Message: "the challenge has expired; request a new one"}
	case errors.Is(err, web3.ErrMismatch):
		return field(http.StatusUnprocessableEntity, CodeUnprocessable, "message")
	case errors.Is(err, web3.ErrWrongSigner):
		return &Error{Status: http.StatusUnauthorized, Code: "SIGNATURE_INVALID", Message: "the signature was not made by the claimed address",
			Details: map[string]any{"field": "signature"}}
	case errors.Is(err, web3.ErrNotOwner):
		return &Error{Status: http.StatusForbidden, Code: "NOT_DOMAIN_OWNER", Message: strings.TrimPrefix(err.Error(), "web3: ")}
	case errors.Is(err, web3.ErrNotYours):
		return errNotFound("external domain")
	case errors.Is(err, web3.ErrNoPlugin):
		return &Error{Status: http.StatusNotImplemented, Code: "RESOLVER_NOT_INSTALLED", Message: strings.TrimPrefix(err.Error(), "web3: ")}
	case errors.Is(err, web3.ErrResolver):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: strings.TrimPrefix(err.Error(), "web3: "), RetryAfter: 5}
	}
	return err
}

func (s *Server) web3Ready() error {
	if s.Web3 == nil {
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "external domains are not configured"}
	}
	return nil
}

func checkExternalName(name string) *Error {
	if name == "" {
		return errField("domain", "is required")
	}
	if len(name) > maxExternalName {
		return errField("domain", "is too long")
	}
	return nil
}

func (s *Server) externalChallenge(c *Ctx) error {
	if err := s.web3Ready(); err != nil {
		return err
	}
	var req externalChallengeRequest
	if err := c.Decode(&req); err != nil {
		return err
	}
	if e := checkExternalName(req.Domain); e != nil {
		return e
	}
	u, err := s.userByID(c, c.Principal.ID)
	if err != nil {
		return err
	}
	// Refuse early what verify would refuse on limits.
	if res, err := s.Limits.Check(c, u.ID, u.Tier, limits.OpAddExternalDomain, s.Now()); err != nil {
		return err
	} else if !res.Allowed {
		return s.limitRefusal(c, u.ID, u.Tier)
	}
	ch, err := s.Web3.Challenge(c, u.ID, req.Domain, req.Address)
	if err != nil {
		return web3Error(err)
	}
	return c.JSON(http.StatusOK, ch)
}

// limitRefusal is the *limits.ExceededError of a refused
// add_external_domain (Consume reports it with its figures).
func (s *Server) limitRefusal(c *Ctx, userID, tier string) error {
	_, err := s.Limits.Consume(c, userID, tier, limits.OpAddExternalDomain, s.Now())
	if err == nil { // allowed after all (a race): give it back
		_ = s.Limits.Release(c, userID, tier, limits.OpAddExternalDomain)
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: "retry"}
	}
	return err
}

// externalAlias is the alsoKnownAs entry of a verified name: did:ens for
// ENS names (the did:ens method), did:uns for Unstoppable Domains names.
func externalAlias(d *web3.Domain) string {
	return "did:" + strings.ToLower(d.Registry) + ":" + url.PathEscape(d.Name)
}

func (s *Server) externalVerify(c *Ctx) error {
	if err := s.web3Ready(); err != nil {
		return err
	}
	var req externalVerifyRequest
	if err := c.Decode(&req); err != nil {
		return err
	}
	if e := checkExternalName(req.Domain); e != nil {
		return e
	}
	switch {
	case req.Address == "":
		return errField("address", "is required")
	case req.Signature == "":
		return errField("signature", "is required")
	case len(req.Signature) > maxSignatureHexChars:
		return errField("signature", "must be 65 bytes (r, s, v) in hex")
	case len(req.Message) > web3.MaxMessageBytes:
		return errField("message", "is too long")
	}
	u, err := s.userByID(c, c.Principal.ID)
	if err != nil {
		return err
	}
	id, err := s.Identity.Get(c, u.ID)
	if err != nil {
		return identityError(err)
	}
	didStr := req.DID
	if didStr == "" {
		didStr = id.Profiles[0].DID
	}
	i := slices.IndexFunc(id.Profiles, func(p identity.Profile) bool { return p.DID == didStr })
	if i < 0 {
		return errForbidden("the DID does not belong to you")
	}
	if id.Profiles[i].Status != "active" {
		return &Error{Status: http.StatusGone, Code: "DEACTIVATED", Message: "the DID is deactivated"}
	}
	if name, _, err := web3.NormaliseName(req.Domain); err == nil {
		if d, _, err := s.Web3.Get(c, name); err == nil && d.UserID == u.ID {
			return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: "you have already verified this domain", Details: map[string]any{"field": "domain"}}
		}
	}
	if res, err := s.Limits.Check(c, u.ID, u.Tier, limits.OpAddExternalDomain, s.Now()); err != nil {
		return err
	} else if !res.Allowed {
		return s.limitRefusal(c, u.ID, u.Tier)
	}
	proof, err := s.Web3.Verify(c, u.ID, web3.VerifyInput{Name: req.Domain, Address: req.Address, Signature: req.Signature, Message: req.Message})
	if err != nil {
		return web3Error(err)
	}
	if _, err := s.Limits.Consume(c, u.ID, u.Tier, limits.OpAddExternalDomain, s.Now()); err != nil {
		return err
	}
	// The DID update that adds the name is a ledger write: sponsored.
	if err := c.sponsor(userPayer(u), treasury.OpDomainRegistration, 1); err != nil {
		_ = s.Limits.Release(c, u.ID, u.Tier, limits.OpAddExternalDomain)
		return err
	}
	d, prev, err := s.Web3.Store(c, u.ID, didStr, proof)
	if err != nil {
		_ = s.Limits.Release(c, u.ID, u.Tier, limits.OpAddExternalDomain)
		return err
	}
	alias := externalAlias(d)
	doc, err := s.Identity.AddAlias(c, u.ID, didStr, alias)
	if err != nil {
		// The proof stands; the document can be updated again later.
		s.Logger.Error("external domain verified but not added to the DID document", "requestId", c.RequestID, "domain", d.Name, "did", didStr, "err", err)
	}
	if prev != nil && prev.UserID != u.ID {
		// The name changed hands: its previous prover loses it.
		if pu, err := s.Store.Users().Get(c, prev.UserID); err == nil {
			_ = s.Limits.Release(c, pu.ID, pu.Tier, limits.OpAddExternalDomain)
		}
		if err := s.removeAlias(c, prev.UserID, prev.DID, alias); err != nil {
			s.Logger.Warn("previous holder's alias not removed", "requestId", c.RequestID, "domain", d.Name, "err", err)
		}
	}
	if err := s.Resolver.InvalidateName(c, d.Name); err != nil {
		s.Logger.Warn("name cache invalidation failed", "domain", d.Name, "err", err)
	}
	return c.JSON(http.StatusCreated, map[string]any{"domain": d, "alsoKnownAs": alias, "didDocument": doc, "costSponsored": c.costCents()})
}

// removeAlias drops alias from a DID document's alsoKnownAs.
func (s *Server) removeAlias(c *Ctx, userID, didStr, alias string) error {
	res, err := s.Resolver.Resolve(c, didStr, resolve.ResolveOptions{Accept: resolve.MediaTypeDIDJSON, NoCache: true})
	if err != nil {
		return err
	}
	var doc struct {
		AlsoKnownAs []string `json:"alsoKnownAs"`
	}
	if err := json.Unmarshal(res.Body, &doc); err != nil {
		return err
	}
	if !slices.Contains(doc.AlsoKnownAs, alias) {
		return nil
	}
	aka := slices.DeleteFunc(slices.Clone(doc.AlsoKnownAs), func(a string) bool { return a == alias })
	if aka == nil {
		aka = []string{}
	}
	_, err = s.Identity.Update(c, userID, didStr, hederadid.Update{AlsoKnownAs: aka})
	return err
}

func (s *Server) externalList(c *Ctx) error {
	if err := s.web3Ready(); err != nil {
		return err
	}
	l, err := s.Web3.List(c, c.Principal.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"domains": l})
}

func (s *Server) externalDelete(c *Ctx) error {
	if err := s.web3Ready(); err != nil {
		return err
	}
	name := c.Param("name")
	if e := checkExternalName(name); e != nil {
		return e
	}
	u, err := s.userByID(c, c.Principal.ID)
	if err != nil {
		return err
	}
	if err := c.sponsor(userPayer(u), treasury.OpDIDUpdate, 1); err != nil {
		return err
	}
	d, err := s.Web3.Remove(c, u.ID, name)
	if err != nil {
		return web3Error(err)
	}
	if err := s.Limits.Release(c, u.ID, u.Tier, limits.OpAddExternalDomain); err != nil {
		return err
	}
	if err := s.removeAlias(c, u.ID, d.DID, externalAlias(d)); err != nil {
		s.Logger.Warn("external domain removed but its alias not", "requestId", c.RequestID, "domain", d.Name, "err", err)
	}
	if err := s.Resolver.InvalidateName(c, d.Name); err != nil {
		s.Logger.Warn("name cache invalidation failed", "domain", d.Name, "err", err)
	}
	c.SetStatusCode(http.StatusNoContent)
	return nil
}
