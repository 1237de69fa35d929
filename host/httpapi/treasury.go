package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ubeu/gateway/host/config"
	"github.com/ubeu/gateway/host/store"
	"github.com/ubeu/gateway/host/treasury"
)

func (s *Server) treasuryRoutes() {
	r := s.router
	r.add("GET", "/api/v1/treasury/stats", "treasury.stats", s.treasuryStats)
	r.add("POST", "/api/v1/treasury/sponsor", "treasury.sponsor", s.treasurySponsor)
	r.add("GET", "/api/v1/analytics/usage/{userId}", "analytics.usage", s.analyticsUsage)
	r.add("GET", "/api/v1/enterprises/{enterpriseId}/usage", "enterprises.usage", s.enterpriseUsage)
	r.add("GET", "/api/v1/enterprises/{enterpriseId}/invoices", "enterprises.invoices", s.enterpriseInvoice)
	r.add("GET", "/api/v1/admin/billing/margins", "admin.billing.margins", s.billingMargins)
	r.add("POST", "/api/v1/admin/treasury/reconcile", "admin.treasury.reconcile", s.treasuryReconcile)
	r.add("POST", "/api/v1/billing/webhook", "billing.webhook", s.billingWebhook)
}

// sponsor runs the treasury's sponsorship step for the request: the ledger
// writes its handler makes with c are paid and recorded under it, and it
// ends when the request does. Without a treasury it does nothing.
func (c *Ctx) sponsor(p treasury.Payer, op string, units int64) error {
	if c.s.Treasury == nil {
		return nil
	}
	if c.sp != nil {
		return nil // one sponsorship per request
	}
	ctx, sp, err := c.s.Treasury.Sponsor(baseCtx, p, op, units)
	if err != nil {
		return treasuryError(err)
	}
	c.sp, c.vctx = sp, ctx
	return nil
}

// costCents is what the request's sponsorship has paid so far, in cents
// rounded up to the next cent (the design's costSponsored).
func (c *Ctx) costCents() int64 {
	if c.sp == nil {
		return 0
	}
	_, mc := c.sp.Cost()
	return treasury.CeilCents(mc)
}

func userPayer(u *store.User) treasury.Payer {
	return treasury.Payer{Kind: treasury.KindUser, ID: u.ID, Tier: u.Tier}
}

func enterprisePayer(e *store.Enterprise) treasury.Payer {
	return treasury.Payer{Kind: treasury.KindEnterprise, ID: e.ID, Tier: e.Tier}
}

// treasuryError maps a refusal of the treasury to its API error.
func treasuryError(err error) error {
	switch {
	case errors.Is(err, treasury.ErrNotSponsored):
		return &Error{Status: http.StatusPaymentRequired, Code: CodeNotSponsored, Message: err.Error()}
	case errors.Is(err, treasury.ErrStaleRate), errors.Is(err, treasury.ErrInsufficientBalance):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: err.Error(), RetryAfter: 60}
	case errors.Is(err, treasury.ErrUnknownOperation):
		return errField("operationType", err.Error())
	case errors.Is(err, treasury.ErrAmount):
		return errField("estimatedCost", err.Error())
	}
	return err
}

func (s *Server) needTreasury() error {
	if s.Treasury == nil {
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "the treasury is not configured"}
	}
	return nil
}

func (s *Server) treasuryStats(c *Ctx) error {
	if err := s.needTreasury(); err != nil {
		return err
	}
	days := 30
	if v := string(c.QueryArgs().Peek("days")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 366 {
			return errField("days", "must be an integer from 1 to 366")
		}
		days = n
	}
	return c.JSON(http.StatusOK, s.Treasury.Stats(days))
}

type sponsorRequest struct {
	EntityID      string `json:"entityId"`
	OperationType string `json:"operationType"`
	EstimatedCost int64  `json:"estimatedCost"` // cents
	IsEnterprise  bool   `json:"isEnterprise"`
}

// treasurySponsor is the design's manual sponsorship request (6.5): an
// admin has the treasury sponsor one operation for a user or enterprise,
// decided by the same policy, paid as a message on the treasury's audit
// topic and recorded like any other spend.
func (s *Server) treasurySponsor(c *Ctx) error {
	if err := s.needTreasury(); err != nil {
		return err
	}
	var req sponsorRequest
	if err := c.Decode(&req); err != nil {
		return err
	}
	if req.EntityID == "" {
		return errField("entityId", "is required")
	}
	if !treasury.ValidOperation(req.OperationType) {
		return errField("operationType", "must be one of "+strings.Join(treasury.Operations, ", "))
	}
	if req.EstimatedCost < 1 || req.EstimatedCost > 100_000 {
		return errField("estimatedCost", "must be a whole number of cents from 1 to 100000")
	}
	var p treasury.Payer
	if req.IsEnterprise {
		e, err := s.Store.Enterprises().Get(c, req.EntityID)
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound("enterprise")
		}
		if err != nil {
			return err
		}
		p = enterprisePayer(e)
	} else {
		u, err := s.Store.Users().Get(c, req.EntityID)
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound("user")
		}
		if err != nil {
			return err
		}
		p = userPayer(u)
	}
	rec, err := s.Treasury.Manual(c, c.Principal.ID, p, req.OperationType, req.EstimatedCost)
	if err != nil {
		return treasuryError(err)
	}
	tx := ""
	if len(rec.Transactions) > 0 {
		tx = rec.Transactions[0].ID
	}
	return c.JSON(http.StatusCreated, map[string]any{
		"sponsored": true, "spendId": rec.ID, "transactionId": tx, "operationType": rec.Operation,
		"estimatedCost": req.EstimatedCost, "actualTinybars": rec.ActualTinybars,
		"actualCost":           treasury.CeilCents(rec.ActualMicrocents),
		"actualCostMicrocents": rec.ActualMicrocents, "reason": rec.Reason,
	})
}

func monthParam(c *Ctx, now time.Time) (string, error) {
	m := string(c.QueryArgs().Peek("month"))
	if m == "" {
		return now.UTC().Format("2006-01"), nil
	}
	if t, err := time.Parse("2006-01", m); err != nil || t.Year() < 2000 || t.Year() > 9999 {
		return "", errField("month", "must be YYYY-MM")
	}
	return m, nil
}

// analyticsUsage is a user's usage analytics: the sponsored operations of
// the month and the usage limits with their state.
func (s *Server) analyticsUsage(c *Ctx) error {
	if err := s.needTreasury(); err != nil {
		return err
	}
	u, err := s.userByID(c, c.Param("userId"))
	if err != nil {
		return err
	}
	mon, err := monthParam(c, s.Now())
	if err != nil {
		return err
	}
	usage, err := s.Treasury.PayerUsage(treasury.KindUser, u.ID, mon)
	if err != nil {
		return err
	}
	lim, err := s.Limits.Usage(c, u.ID, u.Tier, s.Now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"userId": u.ID, "tier": u.Tier, "month": mon,
		"sponsored": usage, "limits": lim, "subscription": s.Treasury.Subscription(treasury.KindUser, u.ID)})
}

// enterpriseMonth is the readable enterprise and the month of a treasury
// request about it.
func (s *Server) enterpriseMonth(c *Ctx) (*store.Enterprise, string, error) {
	if err := s.needTreasury(); err != nil {
		return nil, "", err
	}
	ent, err := s.readableEnterprise(c)
	if err != nil {
		return nil, "", err
	}
	mon, err := monthParam(c, s.Now())
	if err != nil {
		return nil, "", err
	}
	return ent, mon, nil
}

func (s *Server) enterpriseUsage(c *Ctx) error {
	ent, mon, err := s.enterpriseMonth(c)
	if err != nil {
		return err
	}
	usage, err := s.Treasury.PayerUsage(treasury.KindEnterprise, ent.ID, mon)
	if err != nil {
		return err
	}
	tier, _ := s.Config.Enterprise.Tiers.Get(ent.Tier)
	return c.JSON(http.StatusOK, map[string]any{"enterpriseId": ent.ID, "tier": ent.Tier, "month": mon,
		"credentialsIssued": usage.Credentials, "monthlyLimit": tier.MonthlyCredentials, "sponsored": usage,
		"subscription": s.Treasury.Subscription(treasury.KindEnterprise, ent.ID)})
}

// enterpriseInvoice is an enterprise's invoice for a month, as JSON or,
// with Accept: text/csv or format=csv, as CSV.
func (s *Server) enterpriseInvoice(c *Ctx) error {
	ent, mon, err := s.enterpriseMonth(c)
	if err != nil {
		return err
	}
	format := string(c.QueryArgs().Peek("format"))
	switch format {
	case "", "json", "csv":
	default:
		return errField("format", "must be json or csv")
	}
	inv, err := s.Treasury.Invoice(s.Config.Treasury.Pricing, ent.ID, ent.Tier, ent.CreatedAt, mon)
	if err != nil {
		return err
	}
	if format == "csv" || format == "" && strings.Contains(string(c.Request.Header.Peek("Accept")), "text/csv") {
		c.SetContentType("text/csv; charset=utf-8")
		c.Response.Header.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="invoice-%s-%s.csv"`, ent.ID, mon))
		c.SetStatusCode(http.StatusOK)
		c.SetBody(inv.CSV())
		return nil
	}
	return c.JSON(http.StatusOK, inv)
}

// billingMargins is, for the operator, each enterprise's revenue of the
// month against the network fees the treasury paid for it.
func (s *Server) billingMargins(c *Ctx) error {
	if err := s.needTreasury(); err != nil {
		return err
	}
	mon, err := monthParam(c, s.Now())
	if err != nil {
		return err
	}
	var out []treasury.Margin
	var tot treasury.Margin
	err = s.Store.Enterprises().Each(c, func(e *store.Enterprise) error {
		inv, err := s.Treasury.Invoice(s.Config.Treasury.Pricing, e.ID, e.Tier, e.CreatedAt, mon)
		if err != nil {
			return err
		}
		m := treasury.Margin{EnterpriseID: e.ID, Plan: inv.Plan, Credentials: inv.Credentials, RevenueCents: inv.Total,
			NetworkMicrocents: inv.NetworkCostMicrocents,
			NetworkCents:      treasury.CeilCents(inv.NetworkCostMicrocents)}
		m.MarginCents = m.RevenueCents - m.NetworkCents
		out = append(out, m)
		tot.Credentials += m.Credentials
		tot.RevenueCents += m.RevenueCents
		tot.NetworkMicrocents += m.NetworkMicrocents
		tot.NetworkCents += m.NetworkCents
		tot.MarginCents += m.MarginCents
		return nil
	})
	if err != nil {
		return err
	}
	if out == nil {
		out = []treasury.Margin{}
	}
	return c.JSON(http.StatusOK, map[string]any{"month": mon, "enterprises": out, "total": map[string]int64{
		"credentials": tot.Credentials, "revenue": tot.RevenueCents, "networkCost": tot.NetworkCents,
		"networkCostMicrocents": tot.NetworkMicrocents, "margin": tot.MarginCents}})
}

func (s *Server) treasuryReconcile(c *Ctx) error {
	if err := s.needTreasury(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c, 10*time.Minute)
	defer cancel()
	rep, err := s.Treasury.Reconcile(ctx)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rep)
}

// webhookSecrets are the payment provider's signing secrets, from the
// environment or the configured file; none means the webhook is off.
func (s *Server) webhookSecrets() [][]byte {
	var raw string
	if v := os.Getenv(config.WebhookSecretEnv); v != "" {
		raw = strings.ReplaceAll(v, ",", "\n")
	} else if f := s.Config.Treasury.WebhookSecretFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			s.Logger.Error("billing webhook secret unreadable", "file", f, "err", err)
			return nil
		}
		raw = string(b)
	}
	var out [][]byte
	for _, l := range strings.Split(raw, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, []byte(l))
		}
	}
	return out
}

// billingWebhook applies a payment provider's signed subscription event:
// activation and renewal set the account's tier and period; expiry
// downgrades its limits (users to the free tier) without deleting anything.
func (s *Server) billingWebhook(c *Ctx) error {
	if err := s.needTreasury(); err != nil {
		return err
	}
	secrets := s.webhookSecrets()
	if len(secrets) == 0 {
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "no webhook secret is configured"}
	}
	body := c.PostBody()
	if len(body) > 64<<10 {
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Message: "webhook body larger than 64 KiB"}
	}
	sub, ev, err := s.Treasury.ApplyWebhook(c, secrets, string(c.Request.Header.Peek(treasury.SignatureHeader)), body)
	switch {
	case errors.Is(err, treasury.ErrSignature):
		return &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "bad webhook signature"}
	case errors.Is(err, treasury.ErrReplay):
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: err.Error()}
	case errors.Is(err, treasury.ErrEvent):
		return errValidation(err.Error(), nil)
	case err != nil:
		return err
	}
	if err := s.applySubscription(c, sub); err != nil {
		return err
	}
	s.Logger.Info("subscription event applied", "event", ev.ID, "type", ev.Type, "account", sub.Kind+":"+sub.ID, "status", sub.Status)
	return c.JSON(http.StatusOK, map[string]any{"received": true, "event": ev.ID, "subscription": sub})
}

// FreeTier is the limits tier of a user whose subscription expired.
const FreeTier = "free"

// applySubscription sets the account's tier from its subscription: the
// plan while it is in force, the free tier once it has expired. Nothing
// else changes: DIDs, credentials and names stay.
func (s *Server) applySubscription(ctx context.Context, sub *treasury.Subscription) error {
	active := sub.Effective(s.Now()) == treasury.SubActive
	switch sub.Kind {
	case treasury.KindUser:
		u, err := s.Store.Users().Get(ctx, sub.ID)
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound("user")
		}
		if err != nil {
			return err
		}
		want := FreeTier
		if active {
			want = sub.Plan
		}
		if u.Tier != want {
			u.Tier = want
			u.UpdatedAt = s.Now().UTC()
			return s.Store.Users().Update(ctx, u)
		}
	case treasury.KindEnterprise:
		e, err := s.Store.Enterprises().Get(ctx, sub.ID)
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound("enterprise")
		}
		if err != nil {
			return err
		}
		if active && e.Tier != sub.Plan {
			e.Tier = sub.Plan
			e.UpdatedAt = s.Now().UTC()
			return s.Store.Enterprises().Update(ctx, e)
		}
	}
	return nil
}
