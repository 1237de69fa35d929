package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/ubeu/gateway/host/did"
	"github.com/ubeu/gateway/host/did/hederadid"
	"github.com/ubeu/gateway/host/identity"
	"github.com/ubeu/gateway/host/ledger"
	"github.com/ubeu/gateway/host/limits"
	"github.com/ubeu/gateway/host/names"
	"github.com/ubeu/gateway/host/resolve"
	"github.com/ubeu/gateway/host/treasury"
)

func (s *Server) identityRoutes() {
	r := s.router
	r.add("GET", "/1.0/identifiers/{did}", "did.resolve", s.didResolve)
	r.add("GET", "/api/v1/identity/did/{did}", "identity.did.get", s.didGet)
	r.add("GET", "/api/v1/identity/dids", "identity.dids.list", s.didsList)
	r.add("POST", "/api/v1/identity/dids", "identity.dids.create", s.didsCreate)
	r.add("PATCH", "/api/v1/identity/dids/{did}", "identity.dids.update", s.didsUpdate)
	r.add("DELETE", "/api/v1/identity/dids/{did}", "identity.dids.delete", s.didsDelete)
	r.add("POST", "/api/v1/domains/iam", "domains.iam.register", s.iamRegister)
	r.add("GET", "/api/v1/domains/iam/{name}", "domains.iam.get", s.iamGet)
	r.add("POST", "/api/v1/domains/iam/{name}/renew", "domains.iam.renew", s.iamRenew)
}

// rawParam returns a path parameter as the client sent it (fasthttp
// decodes the path, but a DID may itself contain percent-encoding, e.g. a
// did:web port). A DID sent URL-encoded as a whole ("did%3A…") is decoded
// once, and so is a name.
func (c *Ctx) rawParam(prefix string) string {
	raw := string(c.Request.URI().PathOriginal())
	rest, ok := strings.CutPrefix(raw, prefix)
	if !ok {
		return ""
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	if len(rest) >= 6 && strings.EqualFold(rest[:6], "did%3a") {
		if u, err := url.PathUnescape(rest); err == nil {
			return u
		}
	}
	// A name ("café.eth") is not a DID: its percent-encoding is only the
	// transport's (a name never holds '%'), so it is decoded.
	if !strings.HasPrefix(rest, "did:") && strings.IndexByte(rest, '%') >= 0 {
		if u, err := url.PathUnescape(rest); err == nil {
			return u
		}
	}
	return rest
}

// didResolve answers like the DIF Universal Resolver and the W3C DID
// Resolution HTTP(S) binding: the representation negotiated from Accept,
// the resolution errors in the result's metadata with their statuses.
func (s *Server) didResolve(c *Ctx) error {
	input := c.rawParam("/1.0/identifiers/")
	args := c.QueryArgs()
	res, _ := s.Resolver.Resolve(c, input, resolve.ResolveOptions{
		Accept:      string(c.Request.Header.Peek("Accept")),
		VersionTime: string(args.Peek("versionTime")),
		VersionID:   string(args.Peek("versionId")),
	})
	c.SetStatusCode(res.HTTPStatus())
	c.SetContentType(res.MediaType)
	if res.Cache != "" {
		c.Response.Header.SetCanonical(hdrXCache, s2b(res.Cache))
	}
	c.Response.Header.SetCanonical(hdrCacheControl, valPublic60)
	c.SetBody(res.Body)
	return nil
}

// didGet answers the DID document alone (the design's
// /api/v1/identity/did/{did}), errors in the API's JSON error shape.
func (s *Server) didGet(c *Ctx) error {
	res, err := s.Resolver.Resolve(c, c.rawParam("/api/v1/identity/did/"), resolve.ResolveOptions{Accept: resolve.MediaTypeDIDJSON})
	if err != nil {
		return resolutionError(err, res.HTTPStatus())
	}
	c.SetStatusCode(res.HTTPStatus())
	c.SetContentType("application/json")
	c.SetBody(res.Body)
	return nil
}

func resolutionError(err error, status int) *Error {
	code := did.Code(err)
	msg := err.Error()
	switch status {
	case http.StatusBadRequest:
		return &Error{Status: status, Code: CodeValidation, Message: msg, Details: map[string]any{"didError": code}}
	case http.StatusNotFound:
		return &Error{Status: status, Code: CodeNotFound, Message: msg, Details: map[string]any{"didError": code}}
	case http.StatusNotImplemented:
		return &Error{Status: status, Code: "METHOD_NOT_SUPPORTED", Message: msg, Details: map[string]any{"didError": code}}
	case http.StatusNotAcceptable:
		return &Error{Status: status, Code: "NOT_ACCEPTABLE", Message: msg, Details: map[string]any{"didError": code}}
	}
	return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "DID resolution failed: " + msg, Details: map[string]any{"didError": code}}
}

// identityError maps identity, ledger and limit errors to API errors.
func identityError(err error) error {
	var le *limits.ExceededError
	switch {
	case errors.As(err, &le):
		return err
	case errors.Is(err, identity.ErrNotOwner):
		return errForbidden("the DID does not belong to you")
	case errors.Is(err, identity.ErrNoIdentity):
		return errNotFound("identity")
	case errors.Is(err, identity.ErrPrimary):
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: "the primary DID cannot be deactivated"}
	case errors.Is(err, identity.ErrDeactivated):
		return &Error{Status: http.StatusGone, Code: "DEACTIVATED", Message: "the DID is deactivated"}
	case errors.Is(err, did.ErrNotFound):
		return errNotFound("DID")
	case errors.Is(err, did.ErrInvalidDID):
		return errField("did", "is not a valid DID")
	case errors.Is(err, ledger.ErrUnavailable), errors.Is(err, ledger.ErrRejected):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "the ledger is unavailable; retry later", RetryAfter: 5}
	}
	return err
}

func (s *Server) didsList(c *Ctx) error {
	id, err := s.Identity.Get(c, c.Principal.ID)
	if err != nil {
		return identityError(err)
	}
	return c.JSON(http.StatusOK, id)
}

type didCreateRequest struct {
	Profile  string        `json:"profile"`
	Services []did.Service `json:"services,omitempty"`
}

func (s *Server) didsCreate(c *Ctx) error {
	var req didCreateRequest
	if err := c.Decode(&req); err != nil {
		return err
	}
	if req.Profile == "" {
		req.Profile = "professional"
	}
	if len(req.Profile) > 64 {
		return errField("profile", "is longer than 64 characters")
	}
	if e := checkServices(req.Services); e != nil {
		return e
	}
	u, err := s.userByID(c, c.Principal.ID)
	if err != nil {
		return err
	}
	if err := c.sponsor(userPayer(u), treasury.OpDIDCreate, 1); err != nil {
		return err
	}
	p, doc, err := s.Identity.CreateProfile(c, u.ID, u.Tier, req.Profile, req.Services)
	if err != nil {
		return identityError(err)
	}
	c.Response.Header.Set("Location", "/api/v1/identity/did/"+p.DID)
	return c.JSON(http.StatusCreated, map[string]any{"did": p.DID, "profile": p.Profile, "didDocument": doc})
}

func checkServices(svcs []did.Service) *Error {
	if len(svcs) > 20 {
		return errField("services", "at most 20")
	}
	for _, sv := range svcs {
		if sv.ID == "" || sv.Type == "" || sv.ServiceEndpoint == nil {
			return errField("services", "each service needs id, type and serviceEndpoint")
		}
	}
	return nil
}

type didUpdateRequest struct {
	AddServices      []did.Service `json:"addServices,omitempty"`
	RemoveServiceIDs []string      `json:"removeServiceIds,omitempty"`
	AlsoKnownAs      []string      `json:"alsoKnownAs,omitempty"`
	RotateKey        bool          `json:"rotateKey,omitempty"`
}

func (s *Server) didsUpdate(c *Ctx) error {
	var req didUpdateRequest
	if err := c.Decode(&req); err != nil {
		return err
	}
	if e := checkServices(req.AddServices); e != nil {
		return e
	}
	if len(req.AlsoKnownAs) > 20 {
		return errField("alsoKnownAs", "at most 20 entries")
	}
	for _, a := range req.AlsoKnownAs {
		// DID Core §5.1.3: a set of URIs (RFC 3986: with a scheme).
		if u, err := url.Parse(a); err != nil || u.Scheme == "" || len(a) > 2048 {
			return errField("alsoKnownAs", "entries must be absolute URIs of at most 2048 bytes")
		}
	}
	if len(req.AddServices) == 0 && len(req.RemoveServiceIDs) == 0 && req.AlsoKnownAs == nil && !req.RotateKey {
		return errValidation("nothing to update", nil)
	}
	u, err := s.userByID(c, c.Principal.ID)
	if err != nil {
		return err
	}
	if err := c.sponsor(userPayer(u), treasury.OpDIDUpdate, 1); err != nil {
		return err
	}
	doc, err := s.Identity.Update(c, c.Principal.ID, c.rawParam("/api/v1/identity/dids/"), hederadid.Update{
		AddServices: req.AddServices, RemoveServiceIDs: req.RemoveServiceIDs, AlsoKnownAs: req.AlsoKnownAs, RotateKey: req.RotateKey,
	})
	if err != nil {
		return identityError(err)
	}
	return c.JSON(http.StatusOK, map[string]any{"didDocument": doc})
}

func (s *Server) didsDelete(c *Ctx) error {
	u, err := s.userByID(c, c.Principal.ID)
	if err != nil {
		return err
	}
	if err := c.sponsor(userPayer(u), treasury.OpDIDUpdate, 1); err != nil {
		return err
	}
	if err := s.Identity.Deactivate(c, u.ID, u.Tier, c.rawParam("/api/v1/identity/dids/")); err != nil {
		return identityError(err)
	}
	c.SetStatusCode(http.StatusNoContent)
	return nil
}

type iamRequest struct {
	DomainName string `json:"domainName"`
	DID        string `json:"did,omitempty"` // which of the user's DIDs; default the primary
}

func namesError(err error) error {
	switch {
	case errors.Is(err, names.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Code: CodeValidation, Message: err.Error(), Details: map[string]any{"field": "domainName"}}
	case errors.Is(err, names.ErrTaken):
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: "the name is already registered", Details: map[string]any{"field": "domainName"}}
	case errors.Is(err, names.ErrNotFound):
		return errNotFound("name")
	case errors.Is(err, names.ErrNotOwner):
		return errForbidden("the name is not yours")
	case errors.Is(err, names.ErrTooEarly):
		return &Error{Status: http.StatusConflict, Code: "RENEWAL_NOT_OPEN", Message: err.Error()}
	}
	return identityError(err)
}

func (s *Server) iamRegister(c *Ctx) error {
	var req iamRequest
	if err := c.Decode(&req); err != nil {
		return err
	}
	if req.DomainName == "" {
		return errField("domainName", "is required")
	}
	u, err := s.userByID(c, c.Principal.ID)
	if err != nil {
		return err
	}
	n, err := s.registerName(c, u.ID, u.Tier, req.DomainName, req.DID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, n)
}

// registerName registers a .iam name for one of the user's DIDs (the
// primary by default), within the add_iam_domain limit, and adds it to the
// DID document's alsoKnownAs.
func (s *Server) registerName(c *Ctx, userID, tier, name, didStr string) (*names.Name, error) {
	name, err := names.Normalise(name)
	if err != nil {
		return nil, namesError(err)
	}
	id, err := s.Identity.Get(c, userID)
	if err != nil {
		return nil, identityError(err)
	}
	if didStr == "" {
		didStr = id.Profiles[0].DID
	}
	if _, err := s.Limits.Consume(c, userID, tier, limits.OpAddIAMDomain, s.Now()); err != nil {
		return nil, err
	}
	if err := c.sponsor(treasury.Payer{Kind: treasury.KindUser, ID: userID, Tier: tier}, treasury.OpNameRegistration, 1); err != nil {
		return nil, err
	}
	n, err := s.Names.Register(c, name, userID, didStr)
	if err != nil {
		_ = s.Limits.Release(c, userID, tier, limits.OpAddIAMDomain)
		return nil, namesError(err)
	}
	if _, err := s.Identity.AddAlias(c, userID, didStr, "did:iam:"+n.Name); err != nil {
		s.Logger.Error("name registered but not added to the DID document", "name", n.Name, "did", didStr, "err", err)
	}
	if err := s.Resolver.InvalidateName(c, n.Name); err != nil {
		s.Logger.Warn("name cache invalidation failed", "name", n.Name, "err", err)
	}
	return n, nil
}

func (s *Server) iamGet(c *Ctx) error {
	n, err := s.Names.Get(c, c.Param("name"))
	if err != nil {
		return namesError(err)
	}
	return c.JSON(http.StatusOK, n)
}

func (s *Server) iamRenew(c *Ctx) error {
	u, err := s.userByID(c, c.Principal.ID)
	if err != nil {
		return err
	}
	if err := c.sponsor(userPayer(u), treasury.OpNameRegistration, 1); err != nil {
		return err
	}
	n, err := s.Names.Renew(c, c.Param("name"), c.Principal.ID)
	if err != nil {
		return namesError(err)
	}
	return c.JSON(http.StatusOK, n)
}
