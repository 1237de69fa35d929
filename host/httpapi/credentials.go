package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/ubeu/gateway/host/credentials"
	"github.com/ubeu/gateway/host/store"
	"github.com/ubeu/gateway/host/treasury"
	"github.com/ubeu/gateway/host/vc/contexts"
	"github.com/ubeu/gateway/host/vc/statuslist"
)

func (s *Server) credentialRoutes() {
	r := s.router
	r.add("POST", "/api/v1/credentials/issue", "credentials.issue", s.credentialsIssue)
	r.add("POST", "/api/v1/credentials/bulk-issue", "credentials.bulk", s.credentialsBulk)
	r.add("POST", "/api/v1/credentials/verify", "credentials.verify", s.credentialsVerify)
	r.add("GET", "/api/v1/credentials", "credentials.list", s.credentialsList)
	r.add("GET", "/api/v1/credentials/{credentialId}", "credentials.get", s.credentialsGet)
	r.add("POST", "/api/v1/credentials/{credentialId}/revoke", "credentials.revoke", s.credentialsStatus(credentials.ActionRevoke))
	r.add("POST", "/api/v1/credentials/{credentialId}/suspend", "credentials.suspend", s.credentialsStatus(credentials.ActionSuspend))
	r.add("POST", "/api/v1/credentials/{credentialId}/unsuspend", "credentials.unsuspend", s.credentialsStatus(credentials.ActionUnsuspend))
	r.add("GET", "/api/v1/wallet/credentials", "wallet.list", s.walletList)
	r.add("GET", "/api/v1/wallet/credentials/{credentialId}", "wallet.get", s.walletGet)
	r.add("DELETE", "/api/v1/wallet/credentials/{credentialId}", "wallet.delete", s.walletDelete)
	r.add("GET", "/status/{issuer}/{listId}", "statuslists.get", s.statusListGet)
}

func errUnavailable(msg string) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: msg}
}

// issueOptions is the "options" member of an issue request.
type issueOptions struct {
	Format      string `json:"format,omitempty"`      // ldp_vc (default) | vc+jwt
	Cryptosuite string `json:"cryptosuite,omitempty"` // eddsa-rdfc-2022 (default) | eddsa-jcs-2022
	Alg         string `json:"alg,omitempty"`         // vc+jwt: EdDSA or ES256
}

// issueItem is one credential to issue: a complete unsigned credential
// (VC-API style) or the design's short form (subjectDid, credentialType,
// claims), from which the credential is built.
type issueItem struct {
	Credential     map[string]any `json:"credential,omitempty"`
	SubjectDID     string         `json:"subjectDid,omitempty"`
	CredentialType string         `json:"credentialType,omitempty"`
	Claims         map[string]any `json:"claims,omitempty"`
	ValidUntil     string         `json:"validUntil,omitempty"`
	DeliveryMethod string         `json:"deliveryMethod,omitempty"` // push | email | wallet
	Options        *issueOptions  `json:"options,omitempty"`
}

type issueRequest struct {
	IssuerID string `json:"issuerId,omitempty"`
	issueItem
}

type bulkRequest struct {
	IssuerID    string        `json:"issuerId,omitempty"`
	Options     *issueOptions `json:"options,omitempty"`
	Credentials []issueItem   `json:"credentials"`
}

var credentialTypeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// pascal turns "educational_degree" into "EducationalDegree".
func pascal(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		if r == '_' || r == '-' {
			up = true
			continue
		}
		if up {
			r = unicode.ToUpper(r)
			up = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// build returns the unsigned credential of an item.
func (it *issueItem) build(field string) (map[string]any, *Error) {
	if it.Credential != nil {
		if it.SubjectDID != "" || it.CredentialType != "" || it.Claims != nil || it.ValidUntil != "" {
			return nil, errField(field, "give either credential or subjectDid/credentialType/claims, not both")
		}
		return it.Credential, nil
	}
	if it.SubjectDID == "" {
		return nil, errField(field+"subjectDid", "is required (or give a whole credential)")
	}
	if !strings.HasPrefix(it.SubjectDID, "did:") || len(it.SubjectDID) > 512 {
		return nil, errField(field+"subjectDid", "must be a DID")
	}
	if !credentialTypeRE.MatchString(it.CredentialType) {
		return nil, errField(field+"credentialType", "is required: a letter then up to 63 letters, digits, _ or -")
	}
	switch it.DeliveryMethod {
	case "", "push", "email", "wallet":
	default:
		return nil, errField(field+"deliveryMethod", `must be "push", "email" or "wallet"`)
	}
	sub := map[string]any{}
	for k, v := range it.Claims {
		if k == "id" || strings.HasPrefix(k, "@") {
			return nil, errField(field+"claims."+k, "is reserved")
		}
		sub[k] = v
	}
	sub["id"] = it.SubjectDID
	t := pascal(it.CredentialType)
	if !strings.HasSuffix(t, "Credential") {
		t += "Credential"
	}
	c := map[string]any{
		"@context":          []any{credentials.ContextV2, contexts.UndefinedTermsV2},
		"type":              []any{"VerifiableCredential", t},
		"credentialSubject": sub,
	}
	if it.ValidUntil != "" {
		c["validUntil"] = it.ValidUntil
	}
	return c, nil
}

func (o *issueOptions) options() credentials.IssueOptions {
	if o == nil {
		return credentials.IssueOptions{}
	}
	return credentials.IssueOptions{Format: o.Format, Cryptosuite: o.Cryptosuite, Alg: o.Alg}
}

// issuingEnterprise returns the enterprise of the calling API key and
// checks that it may issue now: the request names it (if at all), and its
// domain is verified.
func (s *Server) issuingEnterprise(c *Ctx, issuerID string) (*store.Enterprise, error) {
	if s.Credentials == nil {
		return nil, errUnavailable("credential issuance is not configured")
	}
	if c.apiKey == nil {
		return nil, errForbidden("credentials are issued with an enterprise API key")
	}
	if issuerID != "" && issuerID != c.apiKey.EnterpriseID {
		return nil, errForbidden("issuerId is not the enterprise of this API key")
	}
	ent, err := s.Store.Enterprises().Get(c, c.apiKey.EnterpriseID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errForbidden("the enterprise of this API key no longer exists")
	}
	if err != nil {
		return nil, err
	}
	if ent.Status != EnterpriseActive || ent.ManagedDID == "" {
		return nil, &Error{Status: http.StatusForbidden, Code: CodeForbidden,
			Message: "the enterprise has not verified its domain yet and cannot issue",
			Details: map[string]any{"status": ent.Status, "enterpriseId": ent.ID}}
	}
	return ent, nil
}

// monthly is the API key's monthly issuance counter.
type monthly struct {
	Used int `json:"used"`
}

// consumeMonthly takes n issuances from the API key's monthly limit (n < 0
// gives back). It is atomic; over the limit nothing is taken and the
// answer is 429 LIMIT_EXCEEDED.
func (s *Server) consumeMonthly(c *Ctx, n int) error {
	k := c.apiKey
	if k.MonthlyLimit <= 0 || n == 0 {
		return nil
	}
	now := s.Now().UTC()
	key := "apikey-month/" + k.ID + "/" + now.Format("2006-01")
	next := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	var used int
	err := s.Store.Counters().Update(c, key, func(old []byte) ([]byte, error) {
		var m monthly
		if old != nil {
			if err := json.Unmarshal(old, &m); err != nil {
				return nil, err
			}
		}
		used = m.Used
		if n > 0 && m.Used+n > k.MonthlyLimit {
			return nil, errMonthly
		}
		m.Used = max(0, m.Used+n)
		return json.Marshal(m)
	})
	if errors.Is(err, errMonthly) {
		e := &Error{Status: http.StatusTooManyRequests, Code: CodeLimitExceeded,
			Message: "usage limit reached: monthly_credentials",
			Details: map[string]any{"limit": "monthly_credentials", "used": used, "max": k.MonthlyLimit, "requested": n,
				"nextReset": next.Format(time.RFC3339)}}
		e.RetryAfter = int(next.Sub(now).Seconds()) + 1
		return e
	}
	return err
}

var errMonthly = errors.New("monthly limit")

// credentialError maps a credentials error to the API's.
func credentialError(err error, field string) error {
	var fe *credentials.FieldError
	switch {
	case errors.As(err, &fe):
		f := fe.Field
		if field != "" {
			f = strings.TrimSuffix(field+"credential."+f, ".")
		}
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeValidation, Message: fe.Error(),
			Details: map[string]any{"field": f, "problem": fe.Reason}}
	case errors.Is(err, credentials.ErrUnsupported):
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeUnprocessable, Message: err.Error()}
	case errors.Is(err, credentials.ErrIdempotencyMismatch):
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeUnprocessable, Message: err.Error(),
			Details: map[string]any{"header": "Idempotency-Key"}}
	case errors.Is(err, credentials.ErrInProgress):
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: err.Error(), RetryAfter: 1}
	case errors.Is(err, credentials.ErrNotFound):
		return errNotFound("credential")
	case errors.Is(err, credentials.ErrForbidden):
		return errForbidden("only the credential's issuer may change its status")
	case errors.Is(err, credentials.ErrState):
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: err.Error()}
	}
	return err
}

// issuedView is the design's answer to an issue (section 6.3), with the
// secured credential.
type issuedView struct {
	CredentialID  string              `json:"credentialId"`
	Status        string              `json:"status"`
	TransactionID string              `json:"transactionId,omitempty"`
	CostSponsored int64               `json:"costSponsored"`
	Format        string              `json:"format"`
	Credential    json.RawMessage     `json:"credential"`
	IssuedAt      time.Time           `json:"issuedAt"`
	Anchor        *credentials.Anchor `json:"anchor,omitempty"`
}

func viewIssued(is *credentials.Issued) issuedView {
	r := is.Record
	v := issuedView{CredentialID: r.ID, Status: "issued", Format: r.Format, IssuedAt: r.IssuedAt, Anchor: r.Anchor,
		Credential: credentialJSON(r, is.Secured)}
	if r.Anchor != nil {
		v.TransactionID = r.Anchor.TransactionID
	}
	return v
}

// credentialJSON is the secured credential as a JSON value: the object,
// or the JWT as a string.
func credentialJSON(r *credentials.Record, secured []byte) json.RawMessage {
	if r.Format == credentials.FormatJWT {
		b, _ := json.Marshal(string(secured))
		return b
	}
	return secured
}

func requestHash(c *Ctx) string {
	h := sha256.Sum256(c.PostBody())
	return hex.EncodeToString(h[:])
}

// credentialsIssue issues one credential (design 6.3). An Idempotency-Key
// header makes a retry answer the first credential (200 with
// Idempotent-Replayed: true) instead of issuing again.
func (s *Server) credentialsIssue(c *Ctx) error {
	var req issueRequest
	if err := c.Decode(&req); err != nil {
		return err
	}
	ent, err := s.issuingEnterprise(c, req.IssuerID)
	if err != nil {
		return err
	}
	cred, e := req.build("")
	if e != nil {
		return e
	}
	o := req.Options.options()
	o.IdempotencyKey = string(c.Request.Header.Peek("Idempotency-Key"))
	o.RequestHash = requestHash(c)
	if err := s.consumeMonthly(c, 1); err != nil {
		return err
	}
	if err := c.sponsor(enterprisePayer(ent), treasury.OpCredentialIssuance, 1); err != nil {
		s.consumeMonthly(c, -1)
		return err
	}
	out, err := s.Credentials.Issue(c, credentials.Issuer{EnterpriseID: ent.ID, DID: ent.ManagedDID, Name: ent.OrganizationName}, cred, o)
	if err != nil || out.Replayed {
		if rerr := s.consumeMonthly(c, -1); rerr != nil {
			s.Logger.Warn("give back a monthly issuance", "err", rerr)
		}
	}
	if err != nil {
		return credentialError(err, "")
	}
	status := http.StatusCreated
	if out.Replayed {
		status = http.StatusOK
		c.Response.Header.Set("Idempotent-Replayed", "true")
	}
	c.Response.Header.Set("Location", "/api/v1/credentials/"+url.PathEscape(out.Record.ID))
	v := viewIssued(out)
	v.CostSponsored = c.costCents()
	return c.JSON(status, v)
}

type bulkResultView struct {
	Index        int             `json:"index"`
	Status       string          `json:"status"` // issued | failed
	CredentialID string          `json:"credentialId,omitempty"`
	Credential   json.RawMessage `json:"credential,omitempty"`
	Error        *bulkError      `json:"error,omitempty"`
}

type bulkError struct {
	Error   string         `json:"error"`
	Message string         `json:"message"`
	Details map[string]any `json:"details"`
}

// bulkAnswer is a bulk request's answer; kept without the credentials
// under its Idempotency-Key, it is what a retry answers (the credentials
// read back from their records).
type bulkAnswer struct {
	Issued        int              `json:"issued"`
	Failed        int              `json:"failed"`
	TransactionID string           `json:"transactionId"`
	MerkleRoot    string           `json:"merkleRoot"`
	CostSponsored int64            `json:"costSponsored"`
	Results       []bulkResultView `json:"results"`
}

// credentialsBulk issues up to credentials.bulk_max credentials in one
// request: every item answered on its own, one ledger anchor for the
// batch. With an Idempotency-Key a retry of the same body answers the
// first request's results (200, Idempotent-Replayed: true) and issues
// nothing; the key reused for another body is 422.
func (s *Server) credentialsBulk(c *Ctx) error {
	var req bulkRequest
	if err := c.Decode(&req); err != nil {
		return err
	}
	ent, err := s.issuingEnterprise(c, req.IssuerID)
	if err != nil {
		return err
	}
	if len(req.Credentials) == 0 {
		return errField("credentials", "must hold at least one item")
	}
	if max := s.Config.Credentials.BulkMax; len(req.Credentials) > max {
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeValidation,
			Message: fmt.Sprintf("invalid request: credentials: at most %d items per request", max),
			Details: map[string]any{"field": "credentials", "problem": "too many items", "max": max, "got": len(req.Credentials)}}
	}
	idem := string(c.Request.Header.Peek("Idempotency-Key"))
	if idem == "" {
		ans, err := s.bulkIssue(c, ent, &req)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, ans)
	}
	var fresh *bulkAnswer
	kept, replayed, err := s.Credentials.Once(c, ent.ID, idem, requestHash(c), func() (string, error) {
		var err error
		if fresh, err = s.bulkIssue(c, ent, &req); err != nil {
			return "", err
		}
		short := *fresh
		short.Results = make([]bulkResultView, len(fresh.Results))
		for i, r := range fresh.Results {
			r.Credential = nil
			short.Results[i] = r
		}
		b, err := json.Marshal(short)
		return string(b), err
	})
	if err != nil {
		var ae *Error
		if errors.As(err, &ae) {
			return ae
		}
		return credentialError(err, "")
	}
	if !replayed {
		return c.JSON(http.StatusOK, fresh)
	}
	var ans bulkAnswer
	if err := json.Unmarshal([]byte(kept), &ans); err != nil {
		return fmt.Errorf("bulk idempotency record: %w", err)
	}
	for i, r := range ans.Results {
		if r.CredentialID == "" {
			continue
		}
		rec, b, err := s.Credentials.Get(c, r.CredentialID)
		if err != nil {
			return fmt.Errorf("bulk replay: credential %s: %w", r.CredentialID, err)
		}
		ans.Results[i].Credential = credentialJSON(rec, b)
	}
	c.Response.Header.Set("Idempotent-Replayed", "true")
	return c.JSON(http.StatusOK, &ans)
}

// bulkIssue issues the items of a validated bulk request.
func (s *Server) bulkIssue(c *Ctx, ent *store.Enterprise, req *bulkRequest) (*bulkAnswer, error) {
	items := make([]credentials.BatchItem, len(req.Credentials))
	pre := make([]*Error, len(req.Credentials))
	var valid []int
	for i := range req.Credentials {
		it := &req.Credentials[i]
		cred, e := it.build("credentials[" + strconv.Itoa(i) + "].")
		if e != nil {
			pre[i] = e
			continue
		}
		o := it.Options
		if o == nil {
			o = req.Options
		}
		items[i] = credentials.BatchItem{Credential: cred, Options: o.options()}
		valid = append(valid, i)
	}
	if err := s.consumeMonthly(c, len(valid)); err != nil {
		return nil, err
	}
	batch := make([]credentials.BatchItem, len(valid))
	for j, i := range valid {
		batch[j] = items[i]
	}
	if len(batch) > 0 {
		if err := c.sponsor(enterprisePayer(ent), treasury.OpBulkIssuance, int64(len(batch))); err != nil {
			s.consumeMonthly(c, -len(valid))
			return nil, err
		}
	}
	res, err := s.Credentials.IssueBatch(c, credentials.Issuer{EnterpriseID: ent.ID, DID: ent.ManagedDID, Name: ent.OrganizationName}, batch)
	if err != nil {
		s.consumeMonthly(c, -len(valid))
		return nil, err
	}
	out := make([]bulkResultView, len(req.Credentials))
	issued, failed, tx, root := 0, 0, "", ""
	for i, e := range pre {
		if e != nil {
			out[i] = bulkResultView{Index: i, Status: "failed", Error: &bulkError{Error: e.Code, Message: e.Message, Details: e.Details}}
			failed++
		}
	}
	for j, i := range valid {
		r := res[j]
		if r.Err != nil {
			be := &bulkError{Error: CodeInternal, Message: "an unexpected error occurred", Details: map[string]any{}}
			var ae *Error
			if errors.As(credentialError(r.Err, "credentials["+strconv.Itoa(i)+"]."), &ae) {
				be = &bulkError{Error: ae.Code, Message: ae.Message, Details: ae.Details}
			}
			out[i] = bulkResultView{Index: i, Status: "failed", Error: be}
			failed++
			continue
		}
		rec := r.Issued.Record
		out[i] = bulkResultView{Index: i, Status: "issued", CredentialID: rec.ID, Credential: credentialJSON(rec, r.Issued.Secured)}
		if rec.Anchor != nil {
			tx, root = rec.Anchor.TransactionID, rec.Anchor.Root
		}
		issued++
	}
	if failed > 0 {
		if err := s.consumeMonthly(c, -(failed - (len(req.Credentials) - len(valid)))); err != nil {
			s.Logger.Warn("give back monthly issuances", "err", err)
		}
	}
	return &bulkAnswer{Issued: issued, Failed: failed, TransactionID: tx, MerkleRoot: root, CostSponsored: c.costCents(), Results: out}, nil
}

type verifyRequest struct {
	VerifiableCredential json.RawMessage `json:"verifiableCredential"`
	Options              map[string]any  `json:"options,omitempty"`
}

// verifyBody decodes a {verifiableCredential, options} body and verifies
// the credential (Data Integrity, vc+jwt or EnvelopedVerifiableCredential);
// both verify routes answer from it in their own shapes.
func (s *Server) verifyBody(c *Ctx) (*credentials.Verification, error) {
	if s.Credentials == nil {
		return nil, errUnavailable("credential verification is not configured")
	}
	var req verifyRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	if len(req.VerifiableCredential) == 0 || string(req.VerifiableCredential) == "null" {
		return nil, errField("verifiableCredential", "is required")
	}
	return s.Credentials.Verify(c, req.VerifiableCredential, credentials.VerifyOptions{})
}

// credentialsVerify answers every check of a verification, 200 either way.
func (s *Server) credentialsVerify(c *Ctx) error {
	v, err := s.verifyBody(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// credentialParam returns the credential ID of the path: a bare UUID
// stands for urn:uuid:<UUID>; anything else is taken URL-decoded.
func credentialParam(c *Ctx) string {
	p := c.Param("credentialId")
	if u, err := url.PathUnescape(p); err == nil {
		p = u
	}
	if _, err := uuid.Parse(p); err == nil && !strings.HasPrefix(p, "urn:") {
		return "urn:uuid:" + p
	}
	return p
}

type recordView struct {
	CredentialID string               `json:"credentialId"`
	State        string               `json:"state"`
	Format       string               `json:"format"`
	Cryptosuite  string               `json:"cryptosuite,omitempty"`
	Issuer       string               `json:"issuer"`
	EnterpriseID string               `json:"enterpriseId"`
	Subject      string               `json:"subject,omitempty"`
	Types        []string             `json:"types"`
	IssuedAt     time.Time            `json:"issuedAt"`
	ValidFrom    time.Time            `json:"validFrom,omitzero"`
	ValidUntil   time.Time            `json:"validUntil,omitzero"`
	UpdatedAt    time.Time            `json:"updatedAt,omitzero"`
	Status       []credentials.Status `json:"credentialStatus"`
	Anchor       *credentials.Anchor  `json:"anchor,omitempty"`
	Hash         string               `json:"hash"`
	Credential   json.RawMessage      `json:"credential,omitempty"`
}

func viewRecord(r *credentials.Record, secured []byte) recordView {
	v := recordView{CredentialID: r.ID, State: r.State, Format: r.Format, Cryptosuite: r.Cryptosuite, Issuer: r.IssuerDID,
		EnterpriseID: r.EnterpriseID, Subject: r.SubjectDID, Types: r.Types, IssuedAt: r.IssuedAt, ValidFrom: r.ValidFrom,
		ValidUntil: r.ValidUntil, UpdatedAt: r.UpdatedAt, Status: r.Status, Anchor: r.Anchor, Hash: r.Hash}
	if secured != nil {
		v.Credential = credentialJSON(r, secured)
	}
	return v
}

// credentialsGet answers a credential to its issuer (an API key of the
// enterprise) or an admin.
func (s *Server) credentialsGet(c *Ctx) error {
	if s.Credentials == nil {
		return errUnavailable("credentials are not configured")
	}
	r, b, err := s.Credentials.Get(c, credentialParam(c))
	if err != nil {
		return credentialError(err, "")
	}
	if !isAdmin(c.Principal.Roles) && (c.apiKey == nil || c.apiKey.EnterpriseID != r.EnterpriseID) {
		return errNotFound("credential") // do not reveal other issuers' credentials
	}
	return c.JSON(http.StatusOK, viewRecord(r, b))
}

// credentialsList lists the calling enterprise's credentials, paginated
// by ?after=<credentialId>&limit=N.
func (s *Server) credentialsList(c *Ctx) error {
	if s.Credentials == nil {
		return errUnavailable("credentials are not configured")
	}
	if c.apiKey == nil {
		return errForbidden("listing credentials needs an enterprise API key")
	}
	return s.listRecords(c, false, c.apiKey.EnterpriseID)
}

func (s *Server) listRecords(c *Ctx, subject bool, owner string) error {
	limit := 50
	if l := c.QueryArgs().Peek("limit"); len(l) > 0 {
		n, err := strconv.Atoi(string(l))
		if err != nil || n < 1 || n > 200 {
			return errField("limit", "must be between 1 and 200")
		}
		limit = n
	}
	after := string(c.QueryArgs().Peek("after"))
	rs, err := s.Credentials.List(c, subject, owner, after, limit)
	if err != nil {
		return err
	}
	out := make([]recordView, 0, len(rs))
	for _, r := range rs {
		out = append(out, viewRecord(r, nil))
	}
	next := ""
	if len(rs) == limit {
		next = rs[len(rs)-1].ID
	}
	return c.JSON(http.StatusOK, map[string]any{"credentials": out, "next": next})
}

// credentialsStatus revokes, suspends or unsuspends a credential, for its
// issuer only (an API key of the enterprise with revoke_credentials; the
// policy checks the permission, the handler the issuer).
func (s *Server) credentialsStatus(action string) HandlerFunc {
	return func(c *Ctx) error {
		if s.Credentials == nil {
			return errUnavailable("credentials are not configured")
		}
		if c.apiKey == nil {
			return errForbidden("credential status is changed with an enterprise API key")
		}
		if len(c.PostBody()) > 0 {
			var body struct {
				Reason string `json:"reason,omitempty"`
			}
			if err := c.Decode(&body); err != nil {
				return err
			}
			if len(body.Reason) > 500 {
				return errField("reason", "must be at most 500 characters")
			}
		}
		r, err := s.Credentials.SetStatus(c, c.apiKey.EnterpriseID, credentialParam(c), action)
		if errors.Is(err, credentials.ErrForbidden) {
			return errNotFound("credential")
		}
		if err != nil {
			return credentialError(err, "")
		}
		return c.JSON(http.StatusOK, map[string]any{"credentialId": r.ID, "state": r.State, "updatedAt": r.UpdatedAt})
	}
}

// walletDIDs returns the DIDs of the calling user.
func (s *Server) walletDIDs(c *Ctx) ([]string, error) {
	if s.Credentials == nil {
		return nil, errUnavailable("credentials are not configured")
	}
	id, err := s.Identity.Get(c, c.Principal.ID)
	if err != nil {
		return nil, identityError(err)
	}
	var out []string
	for _, p := range id.Profiles {
		out = append(out, p.DID)
	}
	return out, nil
}

// walletList lists the credentials issued to the caller's DIDs (the
// design's credential wallet).
func (s *Server) walletList(c *Ctx) error {
	dids, err := s.walletDIDs(c)
	if err != nil {
		return err
	}
	var out []recordView
	for _, d := range dids {
		rs, err := s.Credentials.List(c, true, d, "", 200)
		if err != nil {
			return err
		}
		for _, r := range rs {
			out = append(out, viewRecord(r, nil))
		}
	}
	if out == nil {
		out = []recordView{}
	}
	return c.JSON(http.StatusOK, map[string]any{"credentials": out})
}

// walletCredential returns a credential whose subject is one of the
// caller's DIDs (404 otherwise).
func (s *Server) walletCredential(c *Ctx) (*credentials.Record, []byte, error) {
	dids, err := s.walletDIDs(c)
	if err != nil {
		return nil, nil, err
	}
	r, b, err := s.Credentials.Get(c, credentialParam(c))
	if err != nil {
		return nil, nil, credentialError(err, "")
	}
	for _, d := range dids {
		if r.SubjectDID == d && !r.HolderDeleted {
			return r, b, nil
		}
	}
	return nil, nil, errNotFound("credential")
}

func (s *Server) walletGet(c *Ctx) error {
	r, b, err := s.walletCredential(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewRecord(r, b))
}

func (s *Server) walletDelete(c *Ctx) error {
	r, _, err := s.walletCredential(c)
	if err != nil {
		return err
	}
	if err := s.Credentials.HolderDelete(c, r.SubjectDID, r.ID); err != nil {
		return credentialError(err, "")
	}
	c.SetStatusCode(http.StatusNoContent)
	return nil
}

// statusListGet serves a status list credential with caching headers: a
// strong ETag (304 on If-None-Match), Cache-Control max-age up to the
// list's ttl.
func (s *Server) statusListGet(c *Ctx) error {
	if s.StatusLists == nil {
		return errUnavailable("status lists are not configured")
	}
	body, etag, maxAge, err := s.StatusLists.ServeBytes(c, c.Param("listId"))
	if errors.Is(err, statuslist.ErrListNotFound) {
		return errNotFound("status list")
	}
	if err != nil {
		return err
	}
	h := &c.Response.Header
	h.Set("ETag", etag)
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(maxAge.Seconds())))
	h.Set("Access-Control-Allow-Origin", "*")
	if inm := string(c.Request.Header.Peek("If-None-Match")); inm != "" && (inm == etag || inm == "*") {
		c.SetStatusCode(http.StatusNotModified)
		return nil
	}
	c.SetStatusCode(http.StatusOK)
	c.SetContentType("application/vc+ld+json")
	c.SetBody(body)
	return nil
}
