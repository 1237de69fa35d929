package treasury

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strconv"
	"time"
)

// Plan is one enterprise plan's prices, in integer US cents.
type Plan struct {
	MonthlyCents       int64 `yaml:"monthly_cents"`
	PerCredentialCents int64 `yaml:"per_credential_cents"`
	SetupCents         int64 `yaml:"setup_cents"`
	// IncludedCredentials are covered by the monthly fee.
	IncludedCredentials int64 `yaml:"included_credentials"`
	// Volume discounts apply to the credentials of a month beyond Above.
	Volume []VolumeDiscount `yaml:"volume"`
}

// VolumeDiscount takes Percent off the per-credential price of each
// credential of a month beyond the first Above.
type VolumeDiscount struct {
	Above   int64 `yaml:"above"`
	Percent int64 `yaml:"percent"`
}

// Pricing is the design's hybrid pricing.
type Pricing struct {
	IndividualYearCents int64 `yaml:"individual_year_cents"`
	Pro                 Plan  `yaml:"pro"`
	Enterprise          Plan  `yaml:"enterprise"`
	// Prepay is the discount, percent, of paying several years ahead.
	Prepay map[int]int64 `yaml:"prepay_discounts"`
}

// DefaultPricing is the design's: Individual $49/year; Pro $199/month +
// $0.10 per credential beyond 2,000 (the design says 2,000 in one place
// and 10,000 in another: configurable) + $499 setup; Enterprise
// $2,000/month + $0.08 per credential + $2,499 setup, 10 % off beyond
// 50,000 and 20 % off beyond 100,000 credentials a month; 3, 5 and 10
// years paid ahead 10, 15 and 20 % off.
func DefaultPricing() Pricing {
	return Pricing{
		IndividualYearCents: 4900,
		Pro:                 Plan{MonthlyCents: 19900, PerCredentialCents: 10, SetupCents: 49900, IncludedCredentials: 2000},
		Enterprise: Plan{MonthlyCents: 200000, PerCredentialCents: 8, SetupCents: 249900,
			Volume: []VolumeDiscount{{Above: 50000, Percent: 10}, {Above: 100000, Percent: 20}}},
		Prepay: map[int]int64{1: 0, 3: 10, 5: 15, 10: 20},
	}
}

// Validate reports a price that is negative or a discount outside 0–100 %
// or out of order.
func (p Pricing) Validate() error {
	if p.IndividualYearCents < 0 {
		return fmt.Errorf("%w: individual_year_cents", ErrAmount)
	}
	for name, pl := range map[string]Plan{"pro": p.Pro, "enterprise": p.Enterprise} {
		if pl.MonthlyCents < 0 || pl.PerCredentialCents < 0 || pl.SetupCents < 0 || pl.IncludedCredentials < 0 {
			return fmt.Errorf("%w: %s: prices must not be negative", ErrAmount, name)
		}
		last := int64(-1)
		for _, v := range pl.Volume {
			if v.Above <= last || v.Percent < 0 || v.Percent > 100 {
				return fmt.Errorf("%w: %s.volume: thresholds must increase and percents be 0 to 100", ErrAmount, name)
			}
			last = v.Above
		}
	}
	for y, d := range p.Prepay {
		if y < 1 || d < 0 || d > 100 {
			return fmt.Errorf("%w: prepay_discounts[%d]", ErrAmount, y)
		}
	}
	return nil
}

// Plan returns the enterprise plan named name.
func (p Pricing) Plan(name string) (Plan, bool) {
	switch name {
	case "pro":
		return p.Pro, true
	case "enterprise":
		return p.Enterprise, true
	}
	return Plan{}, false
}

// pct returns amount × (100 − percent) / 100, rounded half up.
func pct(amount, percent int64) int64 {
	return (amount*(100-percent) + 50) / 100
}

// PrepayPrice returns the price of paying years ahead for plan: the yearly
// price (the monthly fee × 12 for enterprise plans) × years, less the
// discount for that many years. Setup fees are not included.
func (p Pricing) PrepayPrice(plan string, years int) (int64, error) {
	d, ok := p.Prepay[years]
	if !ok {
		return 0, fmt.Errorf("%w: %d years is not a prepayment term", ErrAmount, years)
	}
	var yearly int64
	if plan == "individual" {
		yearly = p.IndividualYearCents
	} else if pl, ok := p.Plan(plan); ok {
		yearly = pl.MonthlyCents * 12
	} else {
		return 0, fmt.Errorf("%w: unknown plan %q", ErrAmount, plan)
	}
	return pct(yearly*int64(years), d), nil
}

// LineItem is one line of an invoice.
type LineItem struct {
	Description string `json:"description"`
	Quantity    int64  `json:"quantity"`
	// UnitPrice is in dollars, exact ("0.072").
	UnitPrice string `json:"unitPrice"`
	// Amount is the line's total in cents.
	Amount int64 `json:"amount"`
}

// Invoice is an enterprise's bill for one month.
type Invoice struct {
	EnterpriseID string     `json:"enterpriseId"`
	Month        string     `json:"month"`
	Plan         string     `json:"plan"`
	Credentials  int64      `json:"credentials"`
	Lines        []LineItem `json:"lines"`
	// Total is the sum of the lines' amounts, in cents.
	Total    int64  `json:"total"`
	Currency string `json:"currency"`
	// NetworkCostMicrocents is what the treasury paid in network fees for
	// the enterprise that month (not billed: sponsored).
	NetworkCostMicrocents int64 `json:"networkCostMicrocents"`
}

// unitPrice renders cents × (100 − percent) / 100 as exact dollars.
func unitPrice(cents, percent int64) string {
	return FormatUSD(cents * (100 - percent) * MicrocentsPerCent / 100)
}

// BuildInvoice prices a month of an enterprise on plan: the setup fee in
// its first month, the monthly fee, the included credentials, then each
// volume band of the credentials beyond at its price. Every amount is
// integer cents; each band is rounded once; Total is the sum of the lines.
func (p Pricing) BuildInvoice(enterpriseID, mon, plan string, credentials int64, firstMonth bool, networkMicrocents int64) (*Invoice, error) {
	pl, ok := p.Plan(plan)
	if !ok {
		return nil, fmt.Errorf("%w: unknown plan %q", ErrAmount, plan)
	}
	if credentials < 0 {
		return nil, fmt.Errorf("%w: %d credentials", ErrAmount, credentials)
	}
	inv := &Invoice{EnterpriseID: enterpriseID, Month: mon, Plan: plan, Credentials: credentials, Currency: "USD",
		NetworkCostMicrocents: networkMicrocents}
	add := func(desc string, qty int64, unit string, amount int64) {
		inv.Lines = append(inv.Lines, LineItem{Description: desc, Quantity: qty, UnitPrice: unit, Amount: amount})
		inv.Total += amount
	}
	if firstMonth && pl.SetupCents > 0 {
		add("Setup fee ("+plan+")", 1, FormatUSD(pl.SetupCents*MicrocentsPerCent), pl.SetupCents)
	}
	add("Monthly fee ("+plan+")", 1, FormatUSD(pl.MonthlyCents*MicrocentsPerCent), pl.MonthlyCents)
	included := min(credentials, pl.IncludedCredentials)
	if pl.IncludedCredentials > 0 {
		add(fmt.Sprintf("Credentials included (up to %d)", pl.IncludedCredentials), included, "0.00", 0)
	}
	// Bands: (included, v1.Above] at full price, (v1.Above, v2.Above] at
	// v1's discount, and so on.
	from, percent := pl.IncludedCredentials, int64(0)
	bands := append(append([]VolumeDiscount(nil), pl.Volume...), VolumeDiscount{Above: -1})
	for _, b := range bands {
		to := b.Above
		if to < 0 || to > credentials {
			to = credentials
		}
		if qty := to - max(from, 0); qty > 0 {
			desc := "Credentials"
			if percent > 0 {
				desc = fmt.Sprintf("Credentials beyond %d (%d %% off)", from, percent)
			} else if from > 0 {
				desc = fmt.Sprintf("Credentials beyond %d", from)
			}
			add(desc, qty, unitPrice(pl.PerCredentialCents, percent), pct(qty*pl.PerCredentialCents, percent))
		}
		if b.Above < 0 {
			break
		}
		from, percent = max(from, b.Above), b.Percent
	}
	return inv, nil
}

// CSV renders the invoice as CSV: a header, one row per line, the total.
func (inv *Invoice) CSV() []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"enterprise", "month", "description", "quantity", "unit_price_usd", "amount_usd"})
	for _, l := range inv.Lines {
		w.Write([]string{inv.EnterpriseID, inv.Month, l.Description, strconv.FormatInt(l.Quantity, 10), l.UnitPrice, centsString(l.Amount)})
	}
	w.Write([]string{inv.EnterpriseID, inv.Month, "Total", "", "", centsString(inv.Total)})
	w.Flush()
	return buf.Bytes()
}

func centsString(c int64) string { return fmt.Sprintf("%d.%02d", c/100, c%100) }

// Invoice builds an enterprise's invoice for month from its usage: the plan
// is its subscription's (or tier's), the setup fee falls in the month the
// subscription was activated (or the enterprise created).
func (s *Service) Invoice(p Pricing, enterpriseID, tier string, created time.Time, mon string) (*Invoice, error) {
	u, err := s.PayerUsage(KindEnterprise, enterpriseID, mon)
	if err != nil {
		return nil, err
	}
	plan, first := tier, month(created) == u.Month
	if sub := s.Subscription(KindEnterprise, enterpriseID); sub != nil {
		if sub.Plan != "" {
			plan = sub.Plan
		}
		if !sub.Activated.IsZero() {
			first = month(sub.Activated) == u.Month
		}
	}
	return p.BuildInvoice(enterpriseID, u.Month, plan, u.Credentials, first, u.Total.USDCostMicrocents)
}

// Margin is one enterprise's revenue against its network cost in a month.
type Margin struct {
	EnterpriseID      string `json:"enterpriseId"`
	Plan              string `json:"plan"`
	Credentials       int64  `json:"credentials"`
	RevenueCents      int64  `json:"revenue"`
	NetworkMicrocents int64  `json:"networkCostMicrocents"`
	NetworkCents      int64  `json:"networkCost"`
	MarginCents       int64  `json:"margin"`
}
