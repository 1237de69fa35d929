package gateway_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ubeu/gateway/host/ledger"
)

const webhookSecret = "whsec_test_0123456789abcdef"

// signWebhook signs body as the payment provider does:
// t=<unix>,v1=hex(HMAC-SHA256(secret, "<t>.<body>")).
func signWebhook(secret string, at time.Time, body []byte) string {
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

func (tg *testGateway) webhook(body []byte, sig string) resp {
	tg.t.Helper()
	h := []string{}
	if sig != "" {
		h = append(h, "X-Gatewayd-Signature", sig)
	}
	return tg.do("POST", "/api/v1/billing/webhook", body, h...)
}

// paidTransactions is every paid transaction the ledger itself lists.
func paidTransactions(t *testing.T, tg *testGateway) []ledger.Transaction {
	t.Helper()
	tr, ok := tg.g.Ledger.(ledger.Treasury)
	if !ok {
		t.Fatal("the local ledger is not a ledger.Treasury")
	}
	var all []ledger.Transaction
	after := time.Time{}
	for {
		page, err := tr.Transactions(context.Background(), after, 500)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < 500 {
			return all
		}
		after = page[len(page)-1].ConsensusTime
	}
}

type treasuryStats struct {
	TotalSponsored  int64 `json:"totalSponsored"`
	OperationsToday int64 `json:"operationsToday"`
	USDCost         int64 `json:"usdCost"`
	USDMicro        int64 `json:"usdCostMicrocents"`
	Operations      int64 `json:"operations"`
	ByType          map[string]struct {
		Count    int64 `json:"count"`
		Units    int64 `json:"units"`
		Tinybars int64 `json:"tinybars"`
		Micro    int64 `json:"usdCostMicrocents"`
	} `json:"byType"`
	Balance    *int64 `json:"balanceTinybars"`
	LowBalance bool   `json:"lowBalance"`
}

func (tg *testGateway) stats(t *testing.T) treasuryStats {
	t.Helper()
	r := tg.do("GET", "/api/v1/treasury/stats", nil, bearer(tg.adminToken())...)
	if r.status != 200 {
		t.Fatalf("stats: %d %s", r.status, r.body)
	}
	var s treasuryStats
	if err := json.Unmarshal(r.body, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func treasuryConfig(t *testing.T) (*txtZone, *testGateway) {
	z, addr := startDNS(t)
	cfg := testConfig(t)
	cfg.Enterprise.DNSServer = addr
	cfg.Enterprise.DNSTimeout = 2 * time.Second
	secret := filepath.Join(t.TempDir(), "webhook.secret")
	if err := os.WriteFile(secret, []byte("old_secret_still_accepted\n"+webhookSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Treasury.WebhookSecretFile = secret
	return z, startGateway(t, cfg)
}

// TestTreasuryEndToEnd drives the treasury through the API: every ledger
// write is sponsored and recorded with the fee the ledger charged, the
// books reconcile, enterprises see usage and invoices, the operator sees
// margins, and subscriptions arrive through the signed webhook.
func TestTreasuryEndToEnd(t *testing.T) {
	z, tg := treasuryConfig(t)
	admin := tg.adminToken()
	before := tg.stats(t)

	// A registration creates a DID, paid by the treasury.
	alice := tg.register("alice@example.com")
	s := tg.stats(t)
	dc := s.ByType["did_create"]
	if dc.Count != before.ByType["did_create"].Count+1 || dc.Tinybars <= before.ByType["did_create"].Tinybars {
		t.Fatalf("did_create after registration: before %+v after %+v", before.ByType["did_create"], dc)
	}
	if s.OperationsToday != before.OperationsToday+1 || s.Balance == nil || *s.Balance <= 0 {
		t.Fatalf("stats %+v", s)
	}

	// Every fee the stats count is one the ledger charged, and no more.
	var fees int64
	for _, tx := range paidTransactions(t, tg) {
		fees += tx.FeeTinybars
	}
	if s.TotalSponsored != fees {
		t.Fatalf("totalSponsored %d, the ledger charged %d", s.TotalSponsored, fees)
	}
	// 1 HBAR = 12 cents on the local ledger: 1e8 tinybars = 12e6 microcents.
	if want := s.TotalSponsored * 12 / 100; s.USDMicro < want-int64(s.Operations) || s.USDMicro > want+int64(s.Operations) {
		t.Fatalf("usdCostMicrocents %d for %d tinybars, want about %d", s.USDMicro, s.TotalSponsored, want)
	}

	// An enterprise issues: the credential's fee is reported to it.
	iss := verifiedIssuer(t, tg, z, "registrar@example.com", acme())
	holderDID := primaryDID(t, tg, alice)
	r, _ := tg.issue(t, iss.key, map[string]any{"subjectDid": holderDID, "credentialType": "educational_degree",
		"claims": map[string]any{"degree": "BSc"}})
	if r.status != 201 {
		t.Fatalf("issue: %d %s", r.status, r.body)
	}
	if c, _ := r.json(t)["costSponsored"].(float64); c < 1 {
		t.Fatalf("costSponsored %v: %s", r.json(t)["costSponsored"], r.body)
	}
	ent := iss.reg.EnterpriseID
	r = tg.do("GET", "/api/v1/enterprises/"+ent+"/usage", nil, iss.key...)
	if r.status != 200 {
		t.Fatalf("usage: %d %s", r.status, r.body)
	}
	var usage struct {
		CredentialsIssued int64 `json:"credentialsIssued"`
		Sponsored         struct {
			ByOperation map[string]struct{ Count int64 } `json:"byOperation"`
		} `json:"sponsored"`
		Subscription struct{ Plan, Status string } `json:"subscription"`
	}
	json.Unmarshal(r.body, &usage)
	if usage.CredentialsIssued != 1 || usage.Sponsored.ByOperation["credential_issuance"].Count != 1 ||
		usage.Sponsored.ByOperation["did_create"].Count != 1 || usage.Subscription.Plan != "pro" || usage.Subscription.Status != "active" {
		t.Fatalf("enterprise usage %s", r.body)
	}

	// Its first month's invoice: setup and monthly fees, one credential
	// inside the included ones; the total is the sum of the lines.
	r = tg.do("GET", "/api/v1/enterprises/"+ent+"/invoices", nil, iss.key...)
	if r.status != 200 {
		t.Fatalf("invoice: %d %s", r.status, r.body)
	}
	var inv struct {
		Plan        string
		Credentials int64
		Total       int64
		Currency    string
		Lines       []struct {
			Description string
			Quantity    int64
			Amount      int64
		}
		NetworkCostMicrocents int64
	}
	json.Unmarshal(r.body, &inv)
	var sum int64
	for _, l := range inv.Lines {
		sum += l.Amount
	}
	p := tg.cfg.Treasury.Pricing.Pro
	if inv.Plan != "pro" || inv.Credentials != 1 || inv.Currency != "USD" || inv.Total != sum ||
		inv.Total != p.SetupCents+p.MonthlyCents || inv.NetworkCostMicrocents <= 0 {
		t.Fatalf("invoice %s (pricing %+v)", r.body, p)
	}
	r = tg.do("GET", "/api/v1/enterprises/"+ent+"/invoices?format=csv", nil, iss.key...)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(string(r.body), fmt.Sprintf("%d.%02d", inv.Total/100, inv.Total%100)) {
		t.Fatalf("csv invoice: %d %q %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	for _, q := range []string{"?month=2026-13", "?month=tomorrow", "?format=pdf"} {
		wantError(t, tg.do("GET", "/api/v1/enterprises/"+ent+"/invoices"+q, nil, iss.key...), 400, "VALIDATION_ERROR")
	}
	// Another enterprise's owner, a plain user and nobody may not read it.
	wantError(t, tg.do("GET", "/api/v1/enterprises/"+ent+"/invoices", nil, bearer(alice.AccessToken)...), 403, "FORBIDDEN")
	wantError(t, tg.do("GET", "/api/v1/enterprises/"+ent+"/usage", nil), 401, "UNAUTHORIZED")
	wantError(t, tg.do("GET", "/api/v1/enterprises/nope/invoices", nil, bearer(admin)...), 404, "NOT_FOUND")

	// The operator's margins: revenue against the fees paid.
	r = tg.do("GET", "/api/v1/admin/billing/margins", nil, bearer(admin)...)
	var mg struct {
		Enterprises []struct {
			EnterpriseID          string `json:"enterpriseId"`
			Revenue, NetworkCost  int64
			NetworkCostMicrocents int64 `json:"networkCostMicrocents"`
			Margin                int64
		}
	}
	json.Unmarshal(r.body, &mg)
	if r.status != 200 || len(mg.Enterprises) != 1 || mg.Enterprises[0].EnterpriseID != ent ||
		mg.Enterprises[0].Revenue != inv.Total || mg.Enterprises[0].NetworkCostMicrocents != inv.NetworkCostMicrocents ||
		mg.Enterprises[0].Margin != mg.Enterprises[0].Revenue-mg.Enterprises[0].NetworkCost {
		t.Fatalf("margins: %d %s", r.status, r.body)
	}
	wantError(t, tg.do("GET", "/api/v1/admin/billing/margins", nil, bearer(alice.AccessToken)...), 403, "FORBIDDEN")

	// A user's analytics: the user and an admin may read them, nobody else.
	bob := tg.register("bob@example.com")
	r = tg.do("GET", "/api/v1/analytics/usage/"+alice.UserID, nil, bearer(alice.AccessToken)...)
	if r.status != 200 || !strings.Contains(string(r.body), `"did_create"`) {
		t.Fatalf("analytics: %d %s", r.status, r.body)
	}
	if r = tg.do("GET", "/api/v1/analytics/usage/"+alice.UserID, nil, bearer(admin)...); r.status != 200 {
		t.Fatalf("analytics as admin: %d %s", r.status, r.body)
	}
	wantError(t, tg.do("GET", "/api/v1/analytics/usage/"+alice.UserID, nil, bearer(bob.AccessToken)...), 403, "FORBIDDEN")
	wantError(t, tg.do("GET", "/api/v1/analytics/usage/"+alice.UserID, nil), 401, "UNAUTHORIZED")

	// Manual sponsorship, decided by the same policy.
	r = tg.do("POST", "/api/v1/treasury/sponsor", map[string]any{"entityId": alice.UserID, "operationType": "did_update", "estimatedCost": 2}, bearer(admin)...)
	if r.status != 201 || r.json(t)["sponsored"] != true || r.json(t)["transactionId"] == "" {
		t.Fatalf("manual sponsor: %d %s", r.status, r.body)
	}
	if got := tg.stats(t).ByType["did_update"].Count; got != s.ByType["did_update"].Count+1 {
		t.Fatalf("manual sponsorship not counted: %d", got)
	}
	for _, bad := range []any{
		map[string]any{"entityId": alice.UserID, "operationType": "bribe", "estimatedCost": 2},
		map[string]any{"entityId": alice.UserID, "operationType": "did_update", "estimatedCost": 0},
		map[string]any{"entityId": alice.UserID, "operationType": "did_update", "estimatedCost": 10_000_000},
		map[string]any{"operationType": "did_update", "estimatedCost": 2},
		`{"entityId": 7}`, `{"entityId":`, `[]`,
	} {
		wantError(t, tg.do("POST", "/api/v1/treasury/sponsor", bad, bearer(admin)...), 400, "VALIDATION_ERROR")
	}
	wantError(t, tg.do("POST", "/api/v1/treasury/sponsor", map[string]any{"entityId": "nobody", "operationType": "manual", "estimatedCost": 1}, bearer(admin)...), 404, "NOT_FOUND")
	wantError(t, tg.do("POST", "/api/v1/treasury/sponsor", map[string]any{"entityId": "nobody", "operationType": "manual", "estimatedCost": 1, "isEnterprise": true}, bearer(admin)...), 404, "NOT_FOUND")
	wantError(t, tg.do("POST", "/api/v1/treasury/sponsor", map[string]any{"entityId": alice.UserID, "operationType": "manual", "estimatedCost": 1}, bearer(alice.AccessToken)...), 403, "FORBIDDEN")
	wantError(t, tg.do("POST", "/api/v1/treasury/sponsor", map[string]any{"entityId": alice.UserID, "operationType": "manual", "estimatedCost": 1}), 401, "UNAUTHORIZED")
	wantError(t, tg.oversized("POST", "/api/v1/treasury/sponsor", bearer(admin)...), 413, "PAYLOAD_TOO_LARGE")
	wantError(t, tg.do("GET", "/api/v1/treasury/stats?days=0", nil, bearer(admin)...), 400, "VALIDATION_ERROR")
	wantError(t, tg.do("GET", "/api/v1/treasury/stats", nil, bearer(alice.AccessToken)...), 403, "FORBIDDEN")

	// The subscription webhook: signed, fresh, applied once.
	now := time.Now()
	ev := func(id, typ, plan string, years int, end time.Time) []byte {
		b, _ := json.Marshal(map[string]any{"id": id, "type": typ, "created": now.Unix(), "data": map[string]any{
			"accountType": "user", "accountId": alice.UserID, "plan": plan, "years": years, "periodEnd": end}})
		return b
	}
	act := ev("evt_1", "subscription.activated", "individual", 3, now.AddDate(3, 0, 0))
	wantError(t, tg.webhook(act, ""), 401, "UNAUTHORIZED")
	wantError(t, tg.webhook(act, signWebhook("wrong secret", now, act)), 401, "UNAUTHORIZED")
	wantError(t, tg.webhook(act, signWebhook(webhookSecret, now.Add(-10*time.Minute), act)), 401, "UNAUTHORIZED")
	wantError(t, tg.webhook(act, signWebhook(webhookSecret, now, append([]byte(" "), act...))), 401, "UNAUTHORIZED")
	wantError(t, tg.webhook(act, "t=abc,v1=zz"), 401, "UNAUTHORIZED")
	if r = tg.webhook(act, signWebhook(webhookSecret, now, act)); r.status != 200 || r.json(t)["received"] != true {
		t.Fatalf("webhook: %d %s", r.status, r.body)
	}
	wantError(t, tg.webhook(act, signWebhook(webhookSecret, now, act)), 409, "CONFLICT")
	// The rotated-out secret still verifies during rotation.
	ren := ev("evt_2", "subscription.renewed", "individual", 0, now.AddDate(4, 0, 0))
	if r = tg.webhook(ren, signWebhook("old_secret_still_accepted", now, ren)); r.status != 200 {
		t.Fatalf("webhook with the old secret: %d %s", r.status, r.body)
	}
	for _, bad := range [][]byte{[]byte(`{"id":`), []byte(`{"id":"e3","type":"subscription.activated","data":{"accountType":"user","accountId":"x","plan":"gold"}}`),
		[]byte(`{"id":"e4","type":"bogus","data":{"accountType":"user","accountId":"x"}}`)} {
		wantError(t, tg.webhook(bad, signWebhook(webhookSecret, now, bad)), 400, "VALIDATION_ERROR")
	}
	ghost := []byte(`{"id":"e5","type":"subscription.activated","data":{"accountType":"user","accountId":"no-such-user","plan":"individual","periodEnd":"2099-01-01T00:00:00Z"}}`)
	wantError(t, tg.webhook(ghost, signWebhook(webhookSecret, now, ghost)), 404, "NOT_FOUND")
	big := []byte(`{"id":"` + strings.Repeat("x", 70<<10) + `"}`)
	if r = tg.webhook(big, signWebhook(webhookSecret, now, big)); r.status != 413 {
		t.Fatalf("big webhook: %d", r.status)
	}

	// Expiry downgrades the user's limits and keeps everything else.
	exp := ev("evt_6", "subscription.expired", "individual", 0, now)
	if r = tg.webhook(exp, signWebhook(webhookSecret, now, exp)); r.status != 200 {
		t.Fatalf("expiry: %d %s", r.status, r.body)
	}
	r = tg.do("GET", "/api/v1/analytics/usage/"+alice.UserID, nil, bearer(admin)...)
	var au struct {
		Tier         string
		Subscription struct{ Status string }
	}
	json.Unmarshal(r.body, &au)
	if au.Tier != "free" || au.Subscription.Status != "expired" {
		t.Fatalf("after expiry: %s", r.body)
	}
	if d := primaryDID(t, tg, alice); d != holderDID {
		t.Fatalf("DID changed on expiry: %s", d)
	}

	// The books agree with the ledger, both ways.
	r = tg.do("POST", "/api/v1/admin/treasury/reconcile", nil, bearer(admin)...)
	var rep struct {
		Records, Transactions, Matched, Differences int
	}
	json.Unmarshal(r.body, &rep)
	if r.status != 200 || rep.Differences != 0 || rep.Records == 0 || rep.Matched != rep.Records || rep.Transactions != len(paidTransactions(t, tg)) {
		t.Fatalf("reconcile: %d %s", r.status, r.body)
	}
	wantError(t, tg.do("POST", "/api/v1/admin/treasury/reconcile", nil, bearer(alice.AccessToken)...), 403, "FORBIDDEN")

	// Still serving.
	if r = tg.do("GET", "/readyz", nil); r.status != 200 || r.json(t)["status"] != "ready" {
		t.Fatalf("readyz: %d %s", r.status, r.body)
	}
}

// TestTreasuryLowBalance: with the treasury under its threshold, /readyz
// warns, accounts without a subscription are refused with 402 and nothing
// is created, paying accounts go on being sponsored.
func TestTreasuryLowBalance(t *testing.T) {
	z, addr := startDNS(t)
	cfg := testConfig(t)
	cfg.Enterprise.DNSServer = addr
	cfg.Enterprise.DNSTimeout = 2 * time.Second
	cfg.Treasury.LocalBalanceHbar = 50 // under the 100 HBAR threshold
	tg := startGateway(t, cfg)

	r := tg.do("GET", "/readyz", nil)
	m := r.json(t)
	checks, _ := m["checks"].(map[string]any)
	if r.status != 200 || m["status"] != "warning" || !strings.Contains(fmt.Sprint(checks["treasury"]), "low balance") {
		t.Fatalf("readyz: %d %s", r.status, r.body)
	}
	if s := tg.stats(t); !s.LowBalance {
		t.Fatalf("stats do not show the low balance: %+v", s)
	}

	users := tg.userCount()
	txs := len(paidTransactions(t, tg))
	r = tg.do("POST", "/api/v1/users/register", map[string]string{"email": "carol@example.com", "password": goodPassword})
	wantError(t, r, http.StatusPaymentRequired, "NOT_SPONSORED")
	if tg.userCount() != users || len(paidTransactions(t, tg)) != txs {
		t.Fatal("a refused registration created something")
	}

	// An enterprise registered by the admin has its first month paid: it
	// is sponsored.
	admin := tg.adminToken()
	reg := tg.registerEnterprise(admin, acme())
	z.set(reg.DNSChallenge.RecordName, reg.DNSChallenge.RecordValue)
	r = tg.do("POST", "/api/v1/enterprises/"+reg.EnterpriseID+"/dns-verification/verify", nil, bearer(admin)...)
	if r.status != 200 {
		t.Fatalf("verify: %d %s", r.status, r.body)
	}
	if len(paidTransactions(t, tg)) <= txs {
		t.Fatal("the enterprise's DID was not paid for")
	}
	if r = tg.do("GET", "/healthz", nil); r.status != 200 {
		t.Fatalf("healthz %d", r.status)
	}
}
