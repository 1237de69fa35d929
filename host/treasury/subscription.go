package treasury

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ubeu/gateway/host/store"
)

// Subscription is an account's paid plan, as the payment provider's
// webhook last reported it.
type Subscription struct {
	Kind        string    `json:"kind"` // KindUser or KindEnterprise
	ID          string    `json:"id"`
	Plan        string    `json:"plan"`   // individual, pro or enterprise
	Status      string    `json:"status"` // active, expired or canceled
	Years       int       `json:"years,omitempty"`
	PeriodStart time.Time `json:"periodStart"`
	PeriodEnd   time.Time `json:"periodEnd"`
	// Activated is when the plan was first activated: the month its setup
	// fee is billed.
	Activated time.Time `json:"activated"`
	LastEvent string    `json:"lastEvent,omitempty"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Subscription states, as the sponsorship policy sees them.
const (
	SubActive   = "active"
	SubExpired  = "expired"
	SubCanceled = "canceled"
	SubNone     = "none"
)

// Effective is the state at now: an active or canceled subscription past
// its period is expired.
func (sub *Subscription) Effective(now time.Time) string {
	if sub == nil {
		return SubNone
	}
	if sub.Status == SubExpired || !now.Before(sub.PeriodEnd) {
		return SubExpired
	}
	return SubActive
}

func (s *Service) subscriptionStatus(p Payer, now time.Time) string {
	if p.Kind == KindPlatform {
		return SubActive
	}
	s.mu.Lock()
	sub := s.subs[p.key()]
	s.mu.Unlock()
	return sub.Effective(now)
}

// Subscription returns an account's subscription, or nil.
func (s *Service) Subscription(kind, id string) *Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sub := s.subs[kind+":"+id]; sub != nil {
		c := *sub
		return &c
	}
	return nil
}

// PutSubscription stores a subscription (the webhook, and enterprise
// registration for its first period).
func (s *Service) PutSubscription(ctx context.Context, sub *Subscription) error {
	if sub.Kind != KindUser && sub.Kind != KindEnterprise || sub.ID == "" {
		return fmt.Errorf("treasury: subscription of %q %q", sub.Kind, sub.ID)
	}
	sub.UpdatedAt = s.now().UTC()
	b, err := json.Marshal(sub)
	if err != nil {
		return err
	}
	k := sub.Kind + ":" + sub.ID
	if _, err := s.kv.Put(ctx, ns, "sub/"+k, b, store.KVCond{}); err != nil {
		return fmt.Errorf("treasury: store subscription: %w", err)
	}
	c := *sub
	s.mu.Lock()
	s.subs[k] = &c
	s.mu.Unlock()
	return nil
}

// Webhook errors; test with errors.Is.
var (
	ErrSignature = errors.New("treasury: bad webhook signature")
	ErrReplay    = errors.New("treasury: webhook event replayed")
	ErrEvent     = errors.New("treasury: bad webhook event")
)

// SignatureHeader is the header of the webhook's signature:
//
//	t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." ‖ body)>
//
// the scheme of Stripe's Stripe-Signature header; several v1 values may be
// given while a secret is rotated.
const SignatureHeader = "X-Gatewayd-Signature"

// SignWebhook returns the signature header value for body at t, for
// payment providers' adapters and tests.
func SignWebhook(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// WebhookEvent is a payment provider's event.
type WebhookEvent struct {
	ID      string `json:"id"`
	Type    string `json:"type"` // subscription.activated, .renewed, .expired, .canceled
	Created int64  `json:"created"`
	Data    struct {
		AccountType string    `json:"accountType"` // user or enterprise
		AccountID   string    `json:"accountId"`
		Plan        string    `json:"plan"`
		Years       int       `json:"years"`
		PeriodEnd   time.Time `json:"periodEnd"`
	} `json:"data"`
}

// WebhookTolerance is how far a signature's timestamp may be from now.
const WebhookTolerance = 5 * time.Minute

// VerifyWebhook checks the signature header of body against the secrets
// (any may match), in constant time, and the timestamp's age.
func VerifyWebhook(secrets [][]byte, header string, body []byte, now time.Time) error {
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil && len(b) == sha256.Size {
				sigs = append(sigs, b)
			}
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 || len(sigs) > 8 {
		return fmt.Errorf("%w: malformed %s header", ErrSignature, SignatureHeader)
	}
	if d := now.Sub(time.Unix(t, 0)); d > WebhookTolerance || d < -WebhookTolerance {
		return fmt.Errorf("%w: timestamp outside the %s tolerance", ErrSignature, WebhookTolerance)
	}
	ok := false
	for _, secret := range secrets {
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(ts + "."))
		mac.Write(body)
		want := mac.Sum(nil)
		for _, sig := range sigs {
			if hmac.Equal(sig, want) {
				ok = true
			}
		}
	}
	if !ok {
		return ErrSignature
	}
	return nil
}

var plans = map[string]bool{"individual": true, "pro": true, "enterprise": true}

// ParseWebhookEvent decodes and validates an event body.
func ParseWebhookEvent(body []byte) (*WebhookEvent, error) {
	var ev WebhookEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEvent, err)
	}
	switch {
	case ev.ID == "" || len(ev.ID) > 128:
		return nil, fmt.Errorf("%w: id is required (at most 128 characters)", ErrEvent)
	case ev.Data.AccountType != KindUser && ev.Data.AccountType != KindEnterprise:
		return nil, fmt.Errorf("%w: data.accountType must be user or enterprise", ErrEvent)
	case ev.Data.AccountID == "" || len(ev.Data.AccountID) > 64:
		return nil, fmt.Errorf("%w: data.accountId is required", ErrEvent)
	}
	switch ev.Type {
	case "subscription.activated", "subscription.renewed":
		if !plans[ev.Data.Plan] {
			return nil, fmt.Errorf("%w: data.plan must be individual, pro or enterprise", ErrEvent)
		}
		if (ev.Data.Plan == "individual") != (ev.Data.AccountType == KindUser) {
			return nil, fmt.Errorf("%w: plan %s is not for a %s", ErrEvent, ev.Data.Plan, ev.Data.AccountType)
		}
		if _, ok := DefaultPricing().Prepay[ev.Data.Years]; !ok && ev.Data.Years != 0 {
			return nil, fmt.Errorf("%w: data.years must be 1, 3, 5 or 10", ErrEvent)
		}
	case "subscription.expired", "subscription.canceled":
	default:
		return nil, fmt.Errorf("%w: unknown type %q", ErrEvent, ev.Type)
	}
	return &ev, nil
}

// ApplyWebhook verifies, deduplicates and applies one webhook delivery, and
// returns the subscription it changed. An event ID seen before is
// ErrReplay, whatever its signature.
func (s *Service) ApplyWebhook(ctx context.Context, secrets [][]byte, header string, body []byte) (*Subscription, *WebhookEvent, error) {
	now := s.now()
	if err := VerifyWebhook(secrets, header, body, now); err != nil {
		return nil, nil, err
	}
	ev, err := ParseWebhookEvent(body)
	if err != nil {
		return nil, nil, err
	}
	if _, err := s.kv.Put(ctx, ns, "evt/"+ev.ID, []byte(now.UTC().Format(time.RFC3339)), store.KVCond{Absent: true}); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, ev, fmt.Errorf("%w: event %s", ErrReplay, ev.ID)
		}
		return nil, ev, err
	}
	sub := s.Subscription(ev.Data.AccountType, ev.Data.AccountID)
	if sub == nil {
		sub = &Subscription{Kind: ev.Data.AccountType, ID: ev.Data.AccountID}
	}
	switch ev.Type {
	case "subscription.activated", "subscription.renewed":
		years := max(ev.Data.Years, 1)
		start := now.UTC()
		if sub.Status == SubActive && sub.PeriodEnd.After(start) && ev.Type == "subscription.renewed" {
			start = sub.PeriodEnd
		}
		end := ev.Data.PeriodEnd
		if end.IsZero() {
			if ev.Data.Plan == "individual" || ev.Data.Years > 0 {
				end = start.AddDate(years, 0, 0)
			} else {
				end = start.AddDate(0, 1, 0)
			}
		}
		if !end.After(now) {
			return nil, ev, fmt.Errorf("%w: data.periodEnd is in the past", ErrEvent)
		}
		if sub.Activated.IsZero() {
			sub.Activated = now.UTC()
		}
		sub.Plan, sub.Status, sub.Years, sub.PeriodStart, sub.PeriodEnd = ev.Data.Plan, SubActive, ev.Data.Years, start, end
	case "subscription.expired":
		sub.Status = SubExpired
		if sub.PeriodEnd.IsZero() || sub.PeriodEnd.After(now) {
			sub.PeriodEnd = now.UTC()
		}
	case "subscription.canceled":
		// Paid time is kept: the plan runs to the end of its period.
		sub.Status = SubCanceled
	}
	sub.LastEvent = ev.ID
	if err := s.PutSubscription(ctx, sub); err != nil {
		return nil, ev, err
	}
	return sub, ev, nil
}

var storeAbsent = store.KVCond{Absent: true}
