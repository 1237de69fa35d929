package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/ubeu/gateway/host/credentials"
	"github.com/ubeu/gateway/host/treasury"
)

// The W3C CCG VC-API (VCALM) endpoints, so that the W3C interoperability
// test suites can be pointed at gatewayd: issue and verify in the VC-API's
// request and response shapes, on top of the same service as
// /api/v1/credentials. Issuing and status changes take an enterprise API
// key (Authorization: Bearer gwk_… where the VC-API has an OAuth2 token).
func (s *Server) vcapiRoutes() {
	r := s.router
	r.add("POST", "/credentials/issue", "vcapi.credentials.issue", s.vcapiIssue)
	r.add("POST", "/credentials/verify", "vcapi.credentials.verify", s.vcapiVerify)
	r.add("POST", "/presentations/verify", "vcapi.presentations.verify", s.vcapiVerifyPresentation)
	r.add("GET", "/credentials/{credentialId}", "vcapi.credentials.get", s.vcapiGet)
	r.add("POST", "/credentials/status", "vcapi.credentials.status", s.vcapiStatus)
}

type vcapiIssueRequest struct {
	Credential map[string]any `json:"credential"`
	Options    *issueOptions  `json:"options,omitempty"`
}

// vcapiIssue: IssueCredentialRequest → 201 {"verifiableCredential": …}.
func (s *Server) vcapiIssue(c *Ctx) error {
	var req vcapiIssueRequest
	if err := c.Decode(&req); err != nil {
		return err
	}
	if req.Credential == nil {
		return errField("credential", "is required")
	}
	ent, err := s.issuingEnterprise(c, "")
	if err != nil {
		return err
	}
	if err := s.consumeMonthly(c, 1); err != nil {
		return err
	}
	if err := c.sponsor(enterprisePayer(ent), treasury.OpCredentialIssuance, 1); err != nil {
		s.consumeMonthly(c, -1)
		return err
	}
	o := req.Options.options()
	o.IdempotencyKey = string(c.Request.Header.Peek("Idempotency-Key"))
	o.RequestHash = requestHash(c)
	out, err := s.Credentials.Issue(c, credentials.Issuer{EnterpriseID: ent.ID, DID: ent.ManagedDID, Name: ent.OrganizationName}, req.Credential, o)
	if err != nil || out.Replayed {
		_ = s.consumeMonthly(c, -1)
	}
	if err != nil {
		return credentialError(err, "")
	}
	status := http.StatusCreated
	if out.Replayed {
		status = http.StatusOK
	}
	return c.JSON(status, map[string]any{"verifiableCredential": credentialJSON(out.Record, out.Secured)})
}

// vcapiResult is the VC-API verification response: the checks that
// passed, warnings and errors; 200 when verified, 400 otherwise.
func vcapiResult(c *Ctx, verified bool, checks []credentials.Check, warnings, errs []string, extra map[string]any) error {
	passed := []string{}
	for _, ch := range checks {
		if ch.Status == credentials.Passed {
			passed = append(passed, ch.Check)
		}
	}
	body := map[string]any{"verified": verified, "checks": passed, "warnings": warnings, "errors": errs, "results": checks}
	for k, v := range extra {
		body[k] = v
	}
	status := http.StatusOK
	if !verified {
		status = http.StatusBadRequest
	}
	return c.JSON(status, body)
}

func (s *Server) vcapiVerify(c *Ctx) error {
	v, err := s.verifyBody(c)
	if err != nil {
		return err
	}
	return vcapiResult(c, v.Verified, v.Checks, v.Warnings, v.Errors, nil)
}

type vcapiVerifyPresentationRequest struct {
	VerifiablePresentation json.RawMessage `json:"verifiablePresentation"`
	Options                *struct {
		Challenge string `json:"challenge,omitempty"`
		Domain    string `json:"domain,omitempty"`
	} `json:"options,omitempty"`
}

func (s *Server) vcapiVerifyPresentation(c *Ctx) error {
	if s.Credentials == nil {
		return errUnavailable("presentation verification is not configured")
	}
	var req vcapiVerifyPresentationRequest
	if err := c.Decode(&req); err != nil {
		return err
	}
	if len(req.VerifiablePresentation) == 0 || string(req.VerifiablePresentation) == "null" {
		return errField("verifiablePresentation", "is required")
	}
	var o credentials.PresentationOptions
	if req.Options != nil {
		if len(req.Options.Challenge) > 512 || len(req.Options.Domain) > 512 {
			return errField("options", "challenge and domain must be at most 512 characters")
		}
		o.Challenge, o.Domain = req.Options.Challenge, req.Options.Domain
	}
	pv, err := s.Credentials.VerifyPresentation(c, req.VerifiablePresentation, o)
	if err != nil {
		return err
	}
	return vcapiResult(c, pv.Verified, pv.Checks, pv.Warnings, pv.Errors, map[string]any{"credentialResults": pv.Credentials, "holder": pv.Holder})
}

// vcapiGet answers the credential itself, to its issuer's API keys.
func (s *Server) vcapiGet(c *Ctx) error {
	if s.Credentials == nil {
		return errUnavailable("credentials are not configured")
	}
	r, b, err := s.Credentials.Get(c, credentialParam(c))
	if err != nil {
		return credentialError(err, "")
	}
	if !isAdmin(c.Principal.Roles) && (c.apiKey == nil || c.apiKey.EnterpriseID != r.EnterpriseID) {
		return errNotFound("credential")
	}
	c.SetStatusCode(http.StatusOK)
	if r.Format == credentials.FormatJWT {
		c.SetContentType("application/vc+jwt")
	} else {
		c.SetContentType("application/vc+ld+json")
	}
	c.SetBody(b)
	return nil
}

type vcapiStatusRequest struct {
	CredentialID     string `json:"credentialId"`
	CredentialStatus []struct {
		Type          string `json:"type"`
		StatusPurpose string `json:"statusPurpose"`
		Status        any    `json:"status"`
	} `json:"credentialStatus"`
}

// vcapiStatus: UpdateCredentialStatus — set (true, "1") or clear (false,
// "0") the revocation or suspension bit of a credential of the caller's
// enterprise.
func (s *Server) vcapiStatus(c *Ctx) error {
	if s.Credentials == nil {
		return errUnavailable("credentials are not configured")
	}
	if c.apiKey == nil {
		return errForbidden("credential status is changed with an enterprise API key")
	}
	var req vcapiStatusRequest
	if err := c.Decode(&req); err != nil {
		return err
	}
	if req.CredentialID == "" {
		return errField("credentialId", "is required")
	}
	if len(req.CredentialStatus) == 0 || len(req.CredentialStatus) > 2 {
		return errField("credentialStatus", "must hold one or two entries")
	}
	var r *credentials.Record
	for _, st := range req.CredentialStatus {
		if st.Type != "" && st.Type != "BitstringStatusListEntry" && st.Type != "BitstringStatusListCredential" {
			return errField("credentialStatus", "type must be BitstringStatusListEntry")
		}
		var set bool
		switch v := st.Status.(type) {
		case bool:
			set = v
		case string:
			switch v {
			case "1", "true", "revoked", "suspended":
				set = true
			case "0", "false":
			default:
				return errField("credentialStatus", `status must be true/false or "1"/"0"`)
			}
		default:
			return errField("credentialStatus", "status is required (true or false)")
		}
		action := ""
		switch {
		case st.StatusPurpose == "revocation" && set:
			action = credentials.ActionRevoke
		case st.StatusPurpose == "revocation":
			return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: "a revocation cannot be undone"}
		case st.StatusPurpose == "suspension" && set:
			action = credentials.ActionSuspend
		case st.StatusPurpose == "suspension":
			action = credentials.ActionUnsuspend
		default:
			return errField("credentialStatus", `statusPurpose must be "revocation" or "suspension"`)
		}
		var err error
		r, err = s.Credentials.SetStatus(c, c.apiKey.EnterpriseID, req.CredentialID, action)
		if err != nil {
			if errors.Is(err, credentials.ErrForbidden) {
				return errNotFound("credential")
			}
			return credentialError(err, "")
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"credentialId": r.ID, "state": r.State, "updatedAt": r.UpdatedAt})
}
