package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ubeu/gateway/host/credentials"
	"github.com/ubeu/gateway/host/treasury"
	"github.com/ubeu/gateway/host/vc/openbadges"
)

// Open Badges 3.0 (design 6.6): badges are OpenBadgeCredentials issued
// through the credential service with eddsa-rdfc-2022 (what OB 3.0
// certification requires), valid against the official OB 3.0 schema,
// shared at a public page, exported as JSON, JWT and baked PNG/SVG.
func (s *Server) badgeRoutes() {
	r := s.router
	r.add("POST", "/api/v1/badges/issue", "badges.issue", s.badgesIssue)
	r.add("GET", "/api/v1/badges/templates/educational", "badges.templates", s.badgesTemplates)
	r.add("GET", "/api/v1/badges/{badgeId}/verify", "badges.verify", s.badgesVerify)
	r.add("POST", "/api/v1/backpack/export", "backpack.export", s.backpackExport)
	r.add("GET", "/badges/{badgeId}", "badges.share", s.badgeShare)
	r.add("GET", "/badges/{badgeId}/badge.png", "badges.png", s.badgeImage("png"))
	r.add("GET", "/badges/{badgeId}/badge.svg", "badges.svg", s.badgeImage("svg"))
}

// badgeIssueRequest is the design's request, optionally with a template
// that fills the achievement.
type badgeIssueRequest struct {
	openbadges.IssueRequest
	TemplateID     string                     `json:"templateId,omitempty"`
	TemplateFields *openbadges.TemplateFields `json:"templateFields,omitempty"`
}

func badgeFieldError(err error) error {
	fes := openbadges.FieldErrors(err)
	if len(fes) == 0 {
		return err
	}
	list := make([]map[string]string, 0, len(fes))
	for _, fe := range fes {
		list = append(list, map[string]string{"field": fe.Field, "problem": fe.Reason})
	}
	return &Error{Status: http.StatusUnprocessableEntity, Code: CodeValidation,
		Message: "invalid badge: " + fes[0].Field + ": " + fes[0].Reason,
		Details: map[string]any{"field": fes[0].Field, "problem": fes[0].Reason, "fields": list}}
}

// badgeID returns the badge path parameter as a credential ID.
func badgeID(c *Ctx) string {
	p := c.Param("badgeId")
	if _, err := uuid.Parse(p); err == nil {
		return "urn:uuid:" + p
	}
	return p
}

func (s *Server) shareURL(id string) string {
	return s.Config.CredentialsPublicURL() + "/badges/" + strings.TrimPrefix(id, "urn:uuid:")
}

func (s *Server) badgesIssue(c *Ctx) error {
	var req badgeIssueRequest
	if err := c.Decode(&req); err != nil {
		return err
	}
	ent, err := s.issuingEnterprise(c, "")
	if err != nil {
		return err
	}
	if req.IssuerDID != "" && req.IssuerDID != ent.ManagedDID {
		return errForbidden("issuerDid is not the DID of this API key's enterprise")
	}
	req.IssuerDID = ent.ManagedDID
	if req.TemplateID != "" {
		t, ok := openbadges.TemplateByID(req.TemplateID)
		if !ok {
			return errField("templateId", "unknown template")
		}
		if req.TemplateFields == nil {
			return errField("templateFields", "is required with templateId")
		}
		a, err := t.Apply(*req.TemplateFields)
		if err != nil {
			return badgeFieldError(err)
		}
		req.Achievement = a
	}
	id := "urn:uuid:" + uuid.NewString()
	cred, err := openbadges.Build(req.IssueRequest, openbadges.Profile{ID: ent.ManagedDID, Name: ent.OrganizationName,
		URL: "https://" + ent.ParentDomain}, openbadges.BuildOptions{ID: id, ValidFrom: s.Now()})
	if err != nil {
		return badgeFieldError(err)
	}
	if err := s.consumeMonthly(c, 1); err != nil {
		return err
	}
	// The OB 3.0 schema admits a single credentialStatus object (badges
	// carry a revocation entry, no suspension) and wants proof as an array.
	if err := c.sponsor(enterprisePayer(ent), treasury.OpBadgeIssuance, 1); err != nil {
		_ = s.consumeMonthly(c, -1)
		return err
	}
	o := credentials.IssueOptions{IdempotencyKey: string(c.Request.Header.Peek("Idempotency-Key")), RequestHash: requestHash(c), OpenBadges: true}
	out, err := s.Credentials.Issue(c, credentials.Issuer{EnterpriseID: ent.ID, DID: ent.ManagedDID, Name: ent.OrganizationName}, cred, o)
	if err != nil || out.Replayed {
		_ = s.consumeMonthly(c, -1)
	}
	if err != nil {
		return credentialError(err, "")
	}
	if err := openbadges.Validate(out.Secured); err != nil {
		// Build's output is tested against the schema; this is a bug.
		s.Logger.Error("issued badge fails the OB 3.0 schema", "badge", out.Record.ID, "err", err)
	}
	view := viewIssued(out)
	view.CostSponsored = c.costCents()
	status := http.StatusCreated
	if out.Replayed {
		status = http.StatusOK
	}
	return c.JSON(status, map[string]any{"badgeId": out.Record.ID, "credentialId": out.Record.ID, "status": view.Status,
		"transactionId": view.TransactionID, "costSponsored": view.CostSponsored, "credential": view.Credential,
		"shareUrl": s.shareURL(out.Record.ID), "verifyUrl": s.Config.CredentialsPublicURL() + "/api/v1/badges/" +
			strings.TrimPrefix(out.Record.ID, "urn:uuid:") + "/verify"})
}

func (s *Server) badgesTemplates(c *Ctx) error {
	return c.JSON(http.StatusOK, map[string]any{"templates": openbadges.EducationalTemplates()})
}

// badge loads an issued OpenBadgeCredential (404 for anything else).
func (s *Server) badge(c *Ctx) (*credentials.Record, []byte, map[string]any, error) {
	if s.Credentials == nil {
		return nil, nil, nil, errUnavailable("credentials are not configured")
	}
	r, b, err := s.Credentials.Get(c, badgeID(c))
	if err != nil {
		return nil, nil, nil, credentialError(err, "")
	}
	if !slices.Contains(r.Types, "OpenBadgeCredential") || r.Format != credentials.FormatDataIntegrity {
		return nil, nil, nil, errNotFound("badge")
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, nil, nil, err
	}
	return r, b, m, nil
}

type badgeVerification struct {
	Verified    bool                `json:"verified"`
	Issuer      string              `json:"issuer"`
	IssuerDID   string              `json:"issuerDid"`
	IssuedOn    time.Time           `json:"issuedOn"`
	BadgeID     string              `json:"badgeId"`
	Achievement string              `json:"achievement"`
	Recipient   string              `json:"recipient"`
	Checks      []credentials.Check `json:"checks"`
	Errors      []string            `json:"errors"`
}

func (s *Server) verifyBadge(c *Ctx, r *credentials.Record, b []byte, m map[string]any) (*badgeVerification, error) {
	v, err := s.Credentials.Verify(c, b, credentials.VerifyOptions{})
	if err != nil {
		return nil, err
	}
	out := &badgeVerification{Verified: v.Verified, IssuerDID: r.IssuerDID, IssuedOn: r.IssuedAt, BadgeID: r.ID,
		Recipient: r.SubjectDID, Checks: v.Checks, Errors: v.Errors}
	if iss, ok := m["issuer"].(map[string]any); ok {
		out.Issuer, _ = iss["name"].(string)
	}
	if sub, ok := m["credentialSubject"].(map[string]any); ok {
		if a, ok := sub["achievement"].(map[string]any); ok {
			out.Achievement, _ = a["name"].(string)
		}
	}
	return out, nil
}

// badgesVerify answers the design's {verified, issuer, issuedOn} with the
// checks made.
func (s *Server) badgesVerify(c *Ctx) error {
	r, b, m, err := s.badge(c)
	if err != nil {
		return err
	}
	v, err := s.verifyBadge(c, r, b, m)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

var sharePage = template.Must(template.New("badge").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{.Achievement}} — {{.Issuer}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#222}
.ok{color:#0a6b2d}.bad{color:#a40000}img{width:12rem;height:12rem}table{border-collapse:collapse}td{padding:.2rem .6rem}</style>
</head><body>
<img src="{{.Image}}" alt="badge">
<h1>{{.Achievement}}</h1>
<p>{{.Description}}</p>
<p>Awarded to <code>{{.Recipient}}</code> by <strong>{{.Issuer}}</strong> (<code>{{.IssuerDID}}</code>) on {{.IssuedOn}}.</p>
{{if .Verified}}<p class="ok">✔ Verified: the signature, the issuer's key, the validity period and the status all check out.</p>
{{else}}<p class="bad">✘ Not verified.</p>{{end}}
<table>{{range .Checks}}<tr><td>{{.Check}}</td><td>{{.Status}}</td><td>{{.Message}}</td></tr>{{end}}</table>
<p><a href="{{.JSON}}">The credential (JSON)</a> · <a href="{{.PNG}}">Baked PNG</a> · <a href="{{.SVG}}">Baked SVG</a></p>
</body></html>
`))

// badgeShare is the public share page of a badge: HTML with the badge and
// its verification, or the credential itself for Accept: application/json
// (or application/ld+json, application/vc+ld+json).
func (s *Server) badgeShare(c *Ctx) error {
	r, b, m, err := s.badge(c)
	if err != nil {
		return err
	}
	accept := string(c.Request.Header.Peek("Accept"))
	if strings.Contains(accept, "json") && !strings.Contains(accept, "text/html") {
		c.SetStatusCode(http.StatusOK)
		c.SetContentType("application/vc+ld+json")
		c.SetBody(b)
		return nil
	}
	v, err := s.verifyBadge(c, r, b, m)
	if err != nil {
		return err
	}
	desc := ""
	if sub, ok := m["credentialSubject"].(map[string]any); ok {
		if a, ok := sub["achievement"].(map[string]any); ok {
			desc, _ = a["description"].(string)
		}
	}
	base := "/badges/" + strings.TrimPrefix(r.ID, "urn:uuid:")
	var buf bytes.Buffer
	if err := sharePage.Execute(&buf, map[string]any{"Achievement": v.Achievement, "Issuer": v.Issuer, "IssuerDID": v.IssuerDID,
		"Recipient": v.Recipient, "IssuedOn": v.IssuedOn.UTC().Format("2 January 2006"), "Description": desc,
		"Verified": v.Verified, "Checks": v.Checks, "Image": template.URL(base + "/badge.svg"),
		"JSON": base + "?format=json", "PNG": base + "/badge.png", "SVG": base + "/badge.svg"}); err != nil {
		return err
	}
	if string(c.QueryArgs().Peek("format")) == "json" {
		c.SetStatusCode(http.StatusOK)
		c.SetContentType("application/vc+ld+json")
		c.SetBody(b)
		return nil
	}
	c.Response.Header.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'")
	c.Response.Header.Set("Cache-Control", "no-cache")
	c.SetStatusCode(http.StatusOK)
	c.SetContentType("text/html; charset=utf-8")
	c.SetBody(buf.Bytes())
	return nil
}

// bake returns the badge's image with the credential baked in (OB 3.0 §
// 5.3): the default badge image, labelled with the achievement's name.
func bake(kind string, b []byte, m map[string]any) ([]byte, error) {
	label := ""
	if sub, ok := m["credentialSubject"].(map[string]any); ok {
		if a, ok := sub["achievement"].(map[string]any); ok {
			label, _ = a["name"].(string)
		}
	}
	if kind == "png" {
		return openbadges.BakePNG(openbadges.DefaultPNG(), b)
	}
	return openbadges.BakeSVG(openbadges.DefaultSVG(label), b)
}

func (s *Server) badgeImage(kind string) HandlerFunc {
	return func(c *Ctx) error {
		_, b, m, err := s.badge(c)
		if err != nil {
			return err
		}
		img, err := bake(kind, b, m)
		if err != nil {
			return err
		}
		c.SetStatusCode(http.StatusOK)
		if kind == "png" {
			c.SetContentType("image/png")
		} else {
			c.SetContentType("image/svg+xml")
			c.Response.Header.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		}
		c.Response.Header.Set("Cache-Control", "public, max-age=300")
		c.SetBody(img)
		return nil
	}
}

type backpackExportRequest struct {
	BadgeID        string `json:"badgeId"`
	BackpackConfig *struct {
		Provider string `json:"provider,omitempty"`
		BaseURL  string `json:"baseUrl,omitempty"`
	} `json:"backpackConfig,omitempty"`
	RecipientEmail string `json:"recipientEmail,omitempty"`
}

// backpackExport gives a badge to its recipient (a session owning the
// subject DID) or its issuer (an API key of the enterprise) in every form
// a backpack takes: the JSON credential, the same credential as a vc+jwt,
// and baked PNG and SVG images (base64 and text). Nothing is sent to a
// third-party backpack: the caller imports what it receives.
func (s *Server) backpackExport(c *Ctx) error {
	var req backpackExportRequest
	if err := c.Decode(&req); err != nil {
		return err
	}
	if req.BadgeID == "" {
		return errField("badgeId", "is required")
	}
	if req.BackpackConfig != nil && req.BackpackConfig.Provider != "" && req.BackpackConfig.Provider != "open_badges" {
		return errField("backpackConfig.provider", `must be "open_badges"`)
	}
	id := req.BadgeID
	if _, err := uuid.Parse(id); err == nil {
		id = "urn:uuid:" + id
	}
	if s.Credentials == nil {
		return errUnavailable("credentials are not configured")
	}
	r, b, err := s.Credentials.Get(c, id)
	if err != nil {
		return credentialError(err, "")
	}
	allowed := c.apiKey != nil && c.apiKey.EnterpriseID == r.EnterpriseID
	if !allowed && c.Principal.AuthMethod == "jwt" {
		dids, err := s.walletDIDs(c)
		if err != nil {
			return err
		}
		allowed = slices.Contains(dids, r.SubjectDID) && !r.HolderDeleted
	}
	if !allowed || !slices.Contains(r.Types, "OpenBadgeCredential") {
		return errNotFound("badge")
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	png, err := bake("png", b, m)
	if err != nil {
		return err
	}
	svg, err := bake("svg", b, m)
	if err != nil {
		return err
	}
	jwt, err := s.Credentials.ExportJWT(c, r.ID)
	if err != nil {
		if errors.Is(err, credentials.ErrNotFound) {
			return errNotFound("badge")
		}
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"badgeId": r.ID, "json": json.RawMessage(b), "jwt": jwt,
		"png": png, "svg": string(svg), "shareUrl": s.shareURL(r.ID)})
}
