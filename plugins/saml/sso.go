package main

import (
	"context"
	"encoding/xml"
	"log/slog"

	"github.com/crewjam/saml"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	sdk "github.com/ubeu/gateway/sdk-plugin"
)

func attr(k, v string) slog.Attr { return slog.String(k, v) }

// maxRelayState is the longest RelayState sent (SAML Bindings 3.4.3 and
// 3.5.3: at most 80 bytes).
const maxRelayState = 80

// BeginLogin builds the AuthnRequest for the HTTP-Redirect binding (SAML
// Bindings 3.4): DEFLATE, base64 and, if the connector says so, an
// RSA-SHA256 query signature. The request's ID is returned for the host to
// pass back as expected_request_id.
func (p *provider) BeginLogin(ctx context.Context, req *abiv1.BeginLoginRequest) (*abiv1.BeginLoginResponse, error) {
	if len(req.RelayState) > maxRelayState {
		return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "relay_state is longer than %d bytes", maxRelayState)
	}
	for _, c := range req.RelayState {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~') {
			return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "relay_state must be URL-safe (RFC 3986 unreserved characters)")
		}
	}
	s, err := p.load(ctx, req.EnterpriseID, req.ACSURL)
	if err != nil {
		return nil, err
	}
	if !s.conn.Enabled {
		return nil, abiv1.Errorf(abiv1.ErrorCodePermissionDenied, "the SAML connector of this enterprise is disabled")
	}
	dest := s.sp.GetSSOBindingLocation(saml.HTTPRedirectBinding)
	if dest == "" {
		return nil, abiv1.Errorf(abiv1.ErrorCodeUnavailable, "the IdP metadata has no HTTP-Redirect SingleSignOnService")
	}
	ar, err := s.sp.MakeAuthenticationRequest(dest, saml.HTTPRedirectBinding, saml.HTTPPostBinding)
	if err != nil {
		return nil, abiv1.Errorf(abiv1.ErrorCodeInternal, "AuthnRequest: %v", err)
	}
	if req.ForceAuthn {
		t := true
		ar.ForceAuthn = &t
	}
	u, err := ar.Redirect(req.RelayState, s.sp)
	if err != nil {
		return nil, abiv1.Errorf(abiv1.ErrorCodeInternal, "AuthnRequest: %v", err)
	}
	sdk.CounterAdd("saml_authn_requests_total", 1)
	return &abiv1.BeginLoginResponse{RedirectURL: u.String(), RequestID: ar.ID}, nil
}

// Metadata returns the SP's metadata (SAML Metadata 2.4.4): the entity ID,
// the ACS with the HTTP-POST binding, WantAssertionsSigned and, with an
// sp_key, the encryption (and, if requests are signed, signing) key.
func (p *provider) Metadata(ctx context.Context, req *abiv1.MetadataRequest) (*abiv1.MetadataResponse, error) {
	s, err := p.load(ctx, req.EnterpriseID, "")
	if err != nil {
		return nil, err
	}
	md := s.sp.Metadata()
	for i := range md.SPSSODescriptors {
		d := &md.SPSSODescriptors[i]
		var acs []saml.IndexedEndpoint
		for _, e := range d.AssertionConsumerServices {
			if e.Binding == saml.HTTPPostBinding {
				acs = append(acs, e)
			}
		}
		d.AssertionConsumerServices = acs
		if s.conn.NameIDFormat == "" {
			d.NameIDFormats = nil
		}
	}
	b, err := xml.MarshalIndent(md, "", "  ")
	if err != nil {
		return nil, abiv1.Errorf(abiv1.ErrorCodeInternal, "metadata: %v", err)
	}
	return &abiv1.MetadataResponse{XML: append([]byte(xml.Header), b...)}, nil
}

// Content types of ConsumeResponseRequest: the HTTP-POST binding's form,
// and the HTTP-Redirect binding, whose query parameters the host passes as
// the form.
const (
	contentTypeForm     = "application/x-www-form-urlencoded"
	contentTypeRedirect = "application/x-saml-redirect"
)

// ConsumeResponse is the assertion consumer service: it validates the
// SAMLResponse of the form (see acs.go) and returns the identity it
// asserts. Every refusal is an *abiv1.Error: INVALID_ARGUMENT for input
// that is not a SAML response at all, UNAUTHENTICATED for one that fails
// validation, PERMISSION_DENIED for a disabled connector or an
// unsolicited response when IdP-initiated login is off.
func (p *provider) ConsumeResponse(ctx context.Context, req *abiv1.ConsumeResponseRequest) (resp *abiv1.ConsumeResponseResponse, err error) {
	start := sdk.Now()
	defer func() {
		if r := recover(); r != nil {
			resp, err = nil, abiv1.Errorf(abiv1.ErrorCodeUnauthenticated, "SAML response refused: malformed assertion")
		}
		outcome := "ok"
		if err != nil {
			outcome = "refused"
		}
		sdk.CounterAdd("saml_responses_"+outcome+"_total", 1)
		sdk.HistogramObserve("saml_acs_seconds", sdk.Now().Sub(start).Seconds())
	}()
	redirect := req.ContentType == contentTypeRedirect
	if !redirect && req.ContentType != "" && req.ContentType != contentTypeForm {
		return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "content_type %q is not supported", req.ContentType)
	}
	doc, derr := decodeResponse(req.Form["SAMLResponse"], redirect)
	if derr != nil {
		return nil, abiv1.Errorf(abiv1.ErrorCodeInvalidArgument, "%v", derr)
	}
	s, err := p.load(ctx, req.EnterpriseID, req.ACSURL)
	if err != nil {
		return nil, err
	}
	if !s.conn.Enabled {
		return nil, abiv1.Errorf(abiv1.ErrorCodePermissionDenied, "the SAML connector of this enterprise is disabled")
	}
	if req.ExpectedRequestID == "" && !s.conn.AllowIdPInitiated {
		return nil, abiv1.Errorf(abiv1.ErrorCodePermissionDenied, "IdP-initiated login is disabled for this enterprise: start at the gateway's login URL")
	}
	now := sdk.Now().UTC()
	a, verr := validate(s, doc, req.ExpectedRequestID, now)
	if verr != nil {
		sdk.Log(slog.LevelInfo, "SAML response refused", attr("enterprise", req.EnterpriseID), attr("reason", verr.Error()))
		return nil, abiv1.Errorf(abiv1.ErrorCodeUnauthenticated, "SAML response refused: %s", truncate(verr.Error(), 300))
	}
	if err := remember(ctx, req.EnterpriseID, a.ID, a.expiry, now); err != nil {
		return nil, err
	}
	return &abiv1.ConsumeResponseResponse{Identity: identity(s.conn, a), RelayState: req.Form["RelayState"]}, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// identity maps a validated assertion to the ABI's Identity.
func identity(c *Connector, a *validated) *abiv1.Identity {
	id := &abiv1.Identity{Subject: a.nameID, Issuer: a.issuer, SessionIndex: a.sessionIndex}
	if !a.sessionNotOnOrAfter.IsZero() {
		id.SessionNotOnOrAfterUnix = a.sessionNotOnOrAfter.Unix()
	}
	mapping := map[string]string{}
	for k, v := range c.AttributeMapping {
		mapping[k] = v
	}
	for _, field := range []string{"email", "displayName", "givenName", "familyName", "groups", "employeeId"} {
		name, ok := mapping[field]
		var vals []string
		if ok {
			vals = a.attrs[name]
		} else {
			for _, n := range defaultNames[field] {
				if v := a.attrs[n]; len(v) > 0 {
					vals = v
					break
				}
			}
		}
		if len(vals) > 0 {
			id.Attributes = append(id.Attributes, &abiv1.Attribute{Name: field, Values: vals})
		}
		if field == "email" && len(vals) > 0 {
			id.Email = vals[0]
		}
	}
	if id.Email == "" && a.nameIDFormat == string(saml.EmailAddressNameIDFormat) {
		id.Email = a.nameID
	}
	return id
}

// defaultNames are the attribute names tried for an unmapped field: the
// short names SimpleSAMLphp and LDAP use, the eduPerson/X.500 OIDs
// (urn:oid) and the claim URIs of AD FS and Entra ID.
var defaultNames = map[string][]string{
	"email":       {"email", "mail", "urn:oid:0.9.2342.19200300.100.1.3", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"},
	"displayName": {"displayName", "urn:oid:2.16.840.1.113730.3.1.241", "http://schemas.microsoft.com/identity/claims/displayname"},
	"givenName":   {"givenName", "urn:oid:2.5.4.42", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"},
	"familyName":  {"sn", "surname", "urn:oid:2.5.4.4", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"},
	"groups":      {"groups", "memberOf", "eduPersonAffiliation", "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"},
	"employeeId":  {"employeeNumber", "employeeId", "urn:oid:2.16.840.1.113730.3.1.3"},
}
