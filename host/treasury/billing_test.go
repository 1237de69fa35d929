package treasury

import (
	"bytes"
	"encoding/csv"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseUSD(t *testing.T) {
	for in, want := range map[string]int64{"0.0008": 80_000, "0.02": 2_000_000, "1": 100_000_000, "$0.01": 1_000_000, ".5": 50_000_000, "0.00000001": 1} {
		if got, err := ParseUSD(in); err != nil || got != want {
			t.Errorf("ParseUSD(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1e3", "0.000000001", "1001", "abc", "1.2.3", "+1", "."} {
		if _, err := ParseUSD(in); !errors.Is(err, ErrAmount) {
			t.Errorf("ParseUSD(%q) accepted", in)
		}
	}
	if s := FormatUSD(80_000); s != "0.0008" {
		t.Errorf("FormatUSD: %s", s)
	}
	if s := FormatUSD(7_200_000); s != "0.072" {
		t.Errorf("FormatUSD: %s", s)
	}
	if s := FormatUSD(100_000_000); s != "1.00" {
		t.Errorf("FormatUSD: %s", s)
	}
}

func TestConversions(t *testing.T) {
	// Hedera's fee schedule: $0.0008 a message at $0.12 an HBAR is
	// 666,667 tinybars (0.00666… HBAR), and back.
	r := ledgerRate(1, 12)
	tb, err := ToTinybars(80_000, r)
	if err != nil || tb != 666_667 {
		t.Fatalf("ToTinybars: %d %v", tb, err)
	}
	mc, _ := ToMicrocents(666_667, r)
	if mc != 80_000 {
		t.Fatalf("ToMicrocents: %d", mc)
	}
	if _, err := ToTinybars(1<<62, ledgerRate(1, 1)); err == nil {
		t.Fatal("overflow not reported")
	}
	if _, err := ToTinybars(1, ledgerRate(0, 12)); err == nil {
		t.Fatal("zero rate accepted")
	}
}

func sumLines(inv *Invoice) int64 {
	var n int64
	for _, l := range inv.Lines {
		n += l.Amount
	}
	return n
}

func TestInvoices(t *testing.T) {
	p := DefaultPricing()
	cases := []struct {
		plan  string
		creds int64
		first bool
		want  int64 // cents
	}{
		{"pro", 0, true, 19900 + 49900},
		{"pro", 2000, false, 19900},                       // all included
		{"pro", 2001, false, 19900 + 10},                  // one beyond
		{"pro", 12000, false, 19900 + 10000*10},           // 10,000 beyond at $0.10
		{"enterprise", 1, true, 200000 + 249900 + 8},      // setup month
		{"enterprise", 50000, false, 200000 + 50000*8},    // no discount up to 50,000
		{"enterprise", 50001, false, 200000 + 400000 + 7}, // 7.2 cents rounds to 7
		// 50,000 × 8 + 50,000 × 7.2 + 20,000 × 6.4 = 400,000 + 360,000 + 128,000
		{"enterprise", 120000, false, 200000 + 400000 + 360000 + 128000},
		{"enterprise", 100005, false, 200000 + 400000 + 360000 + 32}, // 5 × 6.4 = 32
	}
	for _, c := range cases {
		inv, err := p.BuildInvoice("e1", "2026-11", c.plan, c.creds, c.first, 0)
		if err != nil {
			t.Fatal(err)
		}
		if inv.Total != c.want || sumLines(inv) != inv.Total {
			t.Errorf("%s × %d (first %v): total %d (lines %d), want %d: %+v", c.plan, c.creds, c.first, inv.Total, sumLines(inv), c.want, inv.Lines)
		}
		var q int64
		for _, l := range inv.Lines {
			if strings.HasPrefix(l.Description, "Credentials") {
				q += l.Quantity
			}
		}
		if q != c.creds {
			t.Errorf("%s × %d: lines count %d credentials", c.plan, c.creds, q)
		}
		// The CSV says the same.
		rows, err := csv.NewReader(bytes.NewReader(inv.CSV())).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		last := rows[len(rows)-1]
		if last[2] != "Total" || last[5] != centsString(c.want) {
			t.Errorf("CSV total row %v", last)
		}
		var csvSum int64
		for _, r := range rows[1 : len(rows)-1] {
			d, c, _ := strings.Cut(r[5], ".")
			a, _ := strconv.ParseInt(d+c, 10, 64)
			csvSum += a
		}
		if csvSum != c.want {
			t.Errorf("CSV lines sum to %d", csvSum)
		}
	}
	p.Pro.IncludedCredentials = 10_000 // the design's other figure
	inv, _ := p.BuildInvoice("e1", "2026-11", "pro", 12000, false, 0)
	if inv.Total != 19900+2000*10 {
		t.Errorf("10,000 included: %d", inv.Total)
	}
	if _, err := p.BuildInvoice("e1", "2026-11", "gold", 1, false, 0); err == nil {
		t.Error("unknown plan invoiced")
	}
	if _, err := p.BuildInvoice("e1", "2026-11", "pro", -1, false, 0); err == nil {
		t.Error("negative credentials invoiced")
	}
}

func TestPrepay(t *testing.T) {
	p := DefaultPricing()
	for _, c := range []struct {
		plan  string
		years int
		want  int64
	}{{"individual", 1, 4900}, {"individual", 3, 13230}, {"individual", 5, 20825}, {"individual", 10, 39200},
		{"pro", 3, 19900 * 36 * 90 / 100}, {"enterprise", 10, 200000 * 120 * 80 / 100}} {
		if got, err := p.PrepayPrice(c.plan, c.years); err != nil || got != c.want {
			t.Errorf("%s %d years: %d %v, want %d", c.plan, c.years, got, err, c.want)
		}
	}
	if _, err := p.PrepayPrice("individual", 2); err == nil {
		t.Error("2-year term accepted")
	}
	bad := DefaultPricing()
	bad.Enterprise.Volume = []VolumeDiscount{{Above: 100, Percent: 10}, {Above: 50, Percent: 20}}
	if bad.Validate() == nil {
		t.Error("decreasing volume thresholds accepted")
	}
	bad = DefaultPricing()
	bad.Pro.PerCredentialCents = -1
	if bad.Validate() == nil {
		t.Error("negative price accepted")
	}
}

func TestWebhookSignature(t *testing.T) {
	secret := []byte("whsec_test")
	body := []byte(`{"id":"evt_1"}`)
	now := time.Now()
	h := SignWebhook(secret, now, body)
	if err := VerifyWebhook([][]byte{secret}, h, body, now); err != nil {
		t.Fatal(err)
	}
	if err := VerifyWebhook([][]byte{[]byte("old"), secret}, h, body, now); err != nil {
		t.Fatalf("rotated secrets: %v", err)
	}
	if err := VerifyWebhook([][]byte{secret}, h, []byte(`{"id":"evt_2"}`), now); !errors.Is(err, ErrSignature) {
		t.Fatalf("altered body: %v", err)
	}
	if err := VerifyWebhook([][]byte{[]byte("other")}, h, body, now); !errors.Is(err, ErrSignature) {
		t.Fatalf("wrong secret: %v", err)
	}
	if err := VerifyWebhook([][]byte{secret}, h, body, now.Add(10*time.Minute)); !errors.Is(err, ErrSignature) {
		t.Fatalf("old signature: %v", err)
	}
	for _, bad := range []string{"", "t=abc,v1=00", "v1=" + strings.Repeat("0", 64), "t=1"} {
		if err := VerifyWebhook([][]byte{secret}, bad, body, now); !errors.Is(err, ErrSignature) {
			t.Errorf("header %q: %v", bad, err)
		}
	}
}

func FuzzVerifyWebhook(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	f.Add(SignWebhook([]byte("k"), now, []byte("{}")), []byte("{}"))
	f.Add("t=1,v1=zz", []byte("x"))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		err := VerifyWebhook([][]byte{[]byte("k")}, header, body, now)
		if err != nil {
			return
		}
		// Accepted: the header must hold the right MAC for its own timestamp.
		ts := ""
		for _, part := range strings.Split(header, ",") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(part), "t="); ok {
				ts = v
			}
		}
		sec, _ := strconv.ParseInt(ts, 10, 64)
		_, mac, _ := strings.Cut(SignWebhook([]byte("k"), time.Unix(sec, 0), body), ",v1=")
		if !strings.Contains(strings.ToLower(header), mac) {
			t.Fatalf("accepted %q without the MAC", header)
		}
		ParseWebhookEvent(body)
	})
}

func FuzzMemo(f *testing.F) {
	c, _ := newMemoCodec(make([]byte, 32))
	m, _, _ := c.encode(alice, OpDIDCreate, 1, 2_000_000)
	f.Add(m)
	m, _, _ = c.encode(Platform, OpTokenMint, 1<<30, 1<<50)
	f.Add(m)
	f.Add("gwd1:AAAA")
	f.Fuzz(func(t *testing.T, memo string) {
		meta, err := c.decode(memo)
		if err != nil {
			return
		}
		if !ValidOperation(meta.Operation) || meta.Units < 0 || meta.Estimate < 0 {
			t.Fatalf("decoded nonsense %+v", meta)
		}
	})
}

func TestMemo(t *testing.T) {
	c, _ := newMemoCodec(make([]byte, 32))
	for _, p := range []Payer{alice, acme, Platform, {Kind: KindUser, ID: strings.Repeat("x", 24), Tier: "gold"}} {
		m, id, err := c.encode(p, OpBulkIssuance, 1000, 3_000_000_000)
		if err != nil {
			t.Fatal(err)
		}
		if len(m) > 100 {
			t.Fatalf("memo of %d bytes", len(m))
		}
		got, err := c.decode(m)
		want := p
		if want.Tier == "gold" {
			want.Tier = ""
		}
		if err != nil || got.SpendID != id || got.Payer != want || got.Units != 1000 || got.Estimate != 3_000_000_000 || got.Operation != OpBulkIssuance {
			t.Fatalf("round trip of %+v: %+v %v", p, got, err)
		}
		other, _ := newMemoCodec(bytes.Repeat([]byte{1}, 32))
		if _, err := other.decode(m); !errors.Is(err, ErrMemo) {
			t.Fatal("another gateway's key opened the memo")
		}
	}
	if _, _, err := c.encode(Payer{Kind: KindUser, ID: strings.Repeat("x", 25)}, OpDIDCreate, 1, 1); err == nil {
		t.Fatal("over-long payer ID encoded")
	}
}
