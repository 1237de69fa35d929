package limits

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ubeu/gateway/host/store"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newService(t testing.TB, cfg Config) (*Service, *memCounters) {
	t.Helper()
	c := newMemCounters()
	return New(c, cfg), c
}

func mustConsume(t *testing.T, s *Service, user, tier string, op Operation, now time.Time) CheckResult {
	t.Helper()
	res, err := s.Consume(context.Background(), user, tier, op, now)
	if err != nil {
		t.Fatalf("Consume(%s) at %s: %v", op, now, err)
	}
	if !res.Allowed {
		t.Fatalf("Consume(%s) returned %+v without error", op, res)
	}
	return res
}

func usage(t *testing.T, s *Service, user, tier string, now time.Time) Usage {
	t.Helper()
	u, err := s.Usage(context.Background(), user, tier, now)
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	return u
}

func exceeded(t *testing.T, err error) *ExceededError {
	t.Helper()
	var ee *ExceededError
	if !errors.As(err, &ee) {
		t.Fatalf("error = %v, want *ExceededError", err)
	}
	return ee
}

func TestOperationsConsumeTheirCounters(t *testing.T) {
	type counts struct{ ext, iam, did, social, extUpd, didCre, socialWin int }
	cases := []struct {
		op   Operation
		want counts
	}{
		{OpCreateDID, counts{did: 1, didCre: 1}},
		{OpAddExternalDomain, counts{ext: 1, extUpd: 1}},
		{OpUpdateExternalDomain, counts{extUpd: 1}},
		{OpAddIAMDomain, counts{iam: 1}},
		{OpSocialVerification, counts{social: 1, socialWin: 1}},
	}
	for _, c := range cases {
		t.Run(string(c.op), func(t *testing.T) {
			s, _ := newService(t, DefaultConfig())
			mustConsume(t, s, "u1", "individual", c.op, t0)
			u := usage(t, s, "u1", "individual", t0)
			got := counts{
				u.Usage.CurrentExternalWeb3Domains, u.Usage.CurrentIAMPersonalDomains,
				u.Usage.CurrentDIDProfiles, u.Usage.CurrentSocialVerifications,
				u.RateLimits.ExternalDomainUpdates.Count, u.RateLimits.DIDCreations.Count,
				u.RateLimits.SocialVerifications.Count,
			}
			if got != c.want {
				t.Fatalf("counters = %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestStaticLimitRefusesSecondExternalDomain(t *testing.T) {
	s, _ := newService(t, DefaultConfig())
	ctx := context.Background()
	res := mustConsume(t, s, "u1", "individual", OpAddExternalDomain, t0)
	if res.RemainingAttempts != 0 || res.NextReset == nil || !res.NextReset.Equal(t0.Add(Year)) {
		t.Fatalf("first: %+v", res)
	}
	res, err := s.Consume(ctx, "u1", "individual", OpAddExternalDomain, t0.Add(time.Hour))
	ee := exceeded(t, err)
	if ee.Limit != "static.external_web3_domains" || ee.Used != 1 || ee.Max != 1 || ee.NextReset != nil {
		t.Fatalf("ExceededError = %+v", ee)
	}
	if res.Allowed || res.Limit != "static.external_web3_domains" || res.RemainingAttempts != 0 {
		t.Fatalf("refused result = %+v", res)
	}
	if !strings.Contains(err.Error(), "static.external_web3_domains exceeded: 1 of 1 used") {
		t.Fatalf("Error() = %q", err)
	}
	if b, _ := json.Marshal(ee); string(b) != `{"limit":"static.external_web3_domains","used":1,"max":1,"nextReset":null}` {
		t.Fatalf("ExceededError JSON = %s", b)
	}
	// The refusal moved nothing, including the windowed counter.
	u := usage(t, s, "u1", "individual", t0.Add(time.Hour))
	if u.Usage.CurrentExternalWeb3Domains != 1 || u.RateLimits.ExternalDomainUpdates.Count != 1 {
		t.Fatalf("usage after refusal = %+v", u)
	}
	// Updating the domain is still allowed: it counts only the window.
	mustConsume(t, s, "u1", "individual", OpUpdateExternalDomain, t0.Add(time.Hour))
}

func TestWindowedDIDCreations(t *testing.T) {
	s, _ := newService(t, DefaultConfig())
	ctx := context.Background()
	now := t0
	for i := range 10 {
		res := mustConsume(t, s, "u1", "", OpCreateDID, now)
		if want := t0.Add(Week); res.NextReset == nil || !res.NextReset.Equal(want) {
			t.Fatalf("creation %d: NextReset = %v, want %s", i+1, res.NextReset, want)
		}
		if want := min(9-i, 1); res.RemainingAttempts != want {
			t.Fatalf("creation %d: RemainingAttempts = %d, want %d", i+1, res.RemainingAttempts, want)
		}
		// Keep the static did_profiles limit (2) out of the way.
		if err := s.Release(ctx, "u1", "", OpCreateDID); err != nil {
			t.Fatal(err)
		}
		now = now.Add(12 * time.Hour)
	}
	_, err := s.Consume(ctx, "u1", "", OpCreateDID, now)
	ee := exceeded(t, err)
	if ee.Limit != "windowed.did_creations" || ee.Used != 10 || ee.Max != 10 ||
		ee.NextReset == nil || !ee.NextReset.Equal(t0.Add(Week)) {
		t.Fatalf("ExceededError = %+v", ee)
	}
	if _, err := s.Consume(ctx, "u1", "", OpCreateDID, t0.Add(Week-time.Nanosecond)); err == nil {
		t.Fatal("allowed a nanosecond before the window closed")
	}
	// The next window opens at the first creation after the previous one
	// closed.
	later := t0.Add(Week + 3*time.Hour)
	res := mustConsume(t, s, "u1", "", OpCreateDID, later)
	if res.NextReset == nil || !res.NextReset.Equal(later.Add(Week)) || res.RemainingAttempts != 1 {
		t.Fatalf("after the period: %+v", res)
	}
	u := usage(t, s, "u1", "", later)
	if dc := u.RateLimits.DIDCreations; dc.Count != 1 || dc.NextReset == nil || !dc.NextReset.Equal(later.Add(Week)) {
		t.Fatalf("didCreations = %+v", dc)
	}
}

func TestRelease(t *testing.T) {
	s, c := newService(t, DefaultConfig())
	ctx := context.Background()
	mustConsume(t, s, "u1", "individual", OpCreateDID, t0)
	mustConsume(t, s, "u1", "individual", OpCreateDID, t0)
	if _, err := s.Consume(ctx, "u1", "individual", OpCreateDID, t0); exceeded(t, err).Limit != "static.did_profiles" {
		t.Fatalf("third DID: %v", err)
	}
	if err := s.Release(ctx, "u1", "individual", OpCreateDID); err != nil {
		t.Fatal(err)
	}
	u := usage(t, s, "u1", "individual", t0)
	if u.Usage.CurrentDIDProfiles != 1 || u.RateLimits.DIDCreations.Count != 2 {
		t.Fatalf("after Release: profiles %d creations %d, want 1 and 2 (windowed use is kept)",
			u.Usage.CurrentDIDProfiles, u.RateLimits.DIDCreations.Count)
	}
	mustConsume(t, s, "u1", "individual", OpCreateDID, t0)

	for range 5 {
		if err := s.Release(ctx, "u1", "individual", OpCreateDID); err != nil {
			t.Fatal(err)
		}
	}
	if n := usage(t, s, "u1", "individual", t0).Usage.CurrentDIDProfiles; n != 0 {
		t.Fatalf("profiles after over-release = %d, want 0", n)
	}
	// Nothing to release: nothing is written.
	writes := c.writes
	if err := s.Release(ctx, "nobody", "individual", OpAddIAMDomain); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, "u1", "individual", OpUpdateExternalDomain); err != nil {
		t.Fatal(err)
	}
	if c.writes != writes {
		t.Fatalf("no-op releases wrote %d times", c.writes-writes)
	}
	if err := s.Release(ctx, "u1", "individual", "bogus"); !errors.Is(err, ErrUnknownOperation) {
		t.Fatalf("Release(bogus) = %v", err)
	}
}

func TestTierOverrides(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Tiers["pro"] = TierLimits{
		Static:   map[string]int{StaticDIDProfiles: 20, StaticIAMDomains: Unlimited},
		Windowed: map[string]Window{WindowedDIDCreations: {Limit: 3, Period: Day}},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s, _ := newService(t, cfg)
	ctx := context.Background()
	for range 3 {
		mustConsume(t, s, "p", "pro", OpCreateDID, t0)
	}
	_, err := s.Consume(ctx, "p", "pro", OpCreateDID, t0)
	if ee := exceeded(t, err); ee.Limit != "windowed.did_creations" || ee.Max != 3 || !ee.NextReset.Equal(t0.Add(Day)) {
		t.Fatalf("pro 4th DID: %+v", ee)
	}
	for range 50 {
		res := mustConsume(t, s, "p", "pro", OpAddIAMDomain, t0)
		if res.RemainingAttempts != Unlimited || res.NextReset != nil {
			t.Fatalf("unlimited IAM domains: %+v", res)
		}
	}
	u := usage(t, s, "p", "pro", t0)
	want := StaticLimits{MaxExternalWeb3Domains: 1, MaxIAMPersonalDomains: Unlimited, MaxDIDProfiles: 20, MaxSocialVerifications: 5}
	if u.Tier != "pro" || u.Limits != want {
		t.Fatalf("pro usage: tier %q limits %+v, want %+v (inherited from individual)", u.Tier, u.Limits, want)
	}
	if dc := u.RateLimits.DIDCreations; dc.Window != "day" || dc.Limit != 3 || dc.Count != 3 {
		t.Fatalf("pro didCreations = %+v", dc)
	}
	if eu := u.RateLimits.ExternalDomainUpdates; eu.Limit != 12 || eu.Window != "year" {
		t.Fatalf("pro externalDomainUpdates = %+v", eu)
	}
	// An unknown tier gets the default tier's limits.
	if u := usage(t, s, "x", "platinum", t0); u.Tier != "individual" || u.Limits.MaxDIDProfiles != 2 {
		t.Fatalf("unknown tier: %+v", u)
	}
	// Changing the default tier changes what unknown tiers get.
	cfg.DefaultTier = "pro"
	s2, _ := newService(t, cfg)
	if u := usage(t, s2, "x", "platinum", t0); u.Tier != "pro" {
		t.Fatalf("unknown tier with default pro: %q", u.Tier)
	}
}

func TestCheckNeverConsumes(t *testing.T) {
	s, c := newService(t, DefaultConfig())
	ctx := context.Background()
	for range 20 {
		res, err := s.Check(ctx, "u1", "individual", OpCreateDID, t0)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Allowed || res.RemainingAttempts != 2 || res.NextReset != nil || res.Limit != "" {
			t.Fatalf("Check on a fresh user = %+v", res)
		}
	}
	if c.writes != 0 {
		t.Fatalf("Check wrote %d times", c.writes)
	}
	mustConsume(t, s, "u1", "individual", OpAddIAMDomain, t0)
	for range 3 {
		res, err := s.Check(ctx, "u1", "individual", OpAddIAMDomain, t0)
		if err != nil {
			t.Fatal(err)
		}
		if res.Allowed || res.RemainingAttempts != 0 || res.Limit != "static.iam_domains" {
			t.Fatalf("Check when exhausted = %+v", res)
		}
	}
	mustConsume(t, s, "u1", "individual", OpCreateDID, t0)
	res, err := s.Check(ctx, "u1", "individual", OpCreateDID, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Allowed || res.RemainingAttempts != 1 || res.NextReset == nil || !res.NextReset.Equal(t0.Add(Week)) {
		t.Fatalf("Check with an open window = %+v", res)
	}
	if u := usage(t, s, "u1", "individual", t0); u.Usage.CurrentDIDProfiles != 1 || u.Usage.CurrentIAMPersonalDomains != 1 {
		t.Fatalf("usage = %+v", u.Usage)
	}
	if _, err := s.Check(ctx, "u1", "individual", "bogus", t0); !errors.Is(err, ErrUnknownOperation) {
		t.Fatalf("Check(bogus) = %v", err)
	}
}

// raceConsume has 50 goroutines race to consume an operation limited to 10
// and reports how many succeeded and how many were refused.
func raceConsume(t *testing.T, c store.Counters) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Tiers["t"] = TierLimits{
		Static:   map[string]int{StaticDIDProfiles: 10},
		Windowed: map[string]Window{WindowedDIDCreations: {Limit: 1000, Period: Week}},
	}
	s := New(c, cfg)
	ctx := context.Background()
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 50 {
		wg.Go(func() {
			<-start
			_, err := s.Consume(ctx, "racer", "t", OpCreateDID, t0.Add(time.Duration(i)*time.Millisecond))
			var ee *ExceededError
			switch {
			case err == nil:
				ok.Add(1)
			case errors.As(err, &ee):
				refused.Add(1)
			default:
				t.Errorf("Consume: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if ok.Load() != 10 || refused.Load() != 40 {
		t.Fatalf("%d succeeded and %d were refused, want 10 and 40", ok.Load(), refused.Load())
	}
	u := usage(t, s, "racer", "t", t0.Add(time.Second))
	if u.Usage.CurrentDIDProfiles != 10 || u.RateLimits.DIDCreations.Count != 10 {
		t.Fatalf("after the race: profiles %d, creations %d, want 10 and 10",
			u.Usage.CurrentDIDProfiles, u.RateLimits.DIDCreations.Count)
	}
}

func TestConcurrentConsumeMutex(t *testing.T) {
	raceConsume(t, newMemCounters())
}

func TestConcurrentConsumeOptimistic(t *testing.T) {
	c := newOptimisticCounters()
	raceConsume(t, c)
	t.Logf("%d write conflicts retried", c.conflicts.Load())
}

func TestValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"zero period", func(c *Config) {
			c.Tiers["pro"] = TierLimits{Windowed: map[string]Window{WindowedDIDCreations: {Limit: 5}}}
		}, "limits.tiers.pro.windowed.did_creations.period: must be > 0"},
		{"negative window limit", func(c *Config) {
			c.Tiers["pro"] = TierLimits{Windowed: map[string]Window{WindowedSocialVerifications: {Limit: -2, Period: Day}}}
		}, "limits.tiers.pro.windowed.social_verifications.limit: must be >= 0"},
		{"negative static", func(c *Config) {
			c.Tiers[DefaultTierName].Static[StaticIAMDomains] = -5
		}, "limits.tiers.individual.static.iam_domains: must be >= 0"},
		{"unknown static", func(c *Config) {
			c.Tiers[DefaultTierName].Static["did_profile"] = 3
		}, "limits.tiers.individual.static.did_profile: unknown limit"},
		{"unknown windowed", func(c *Config) {
			c.Tiers[DefaultTierName].Windowed["did_profiles"] = Window{Limit: 1, Period: Day}
		}, "limits.tiers.individual.windowed.did_profiles: unknown limit"},
		{"missing default tier", func(c *Config) { c.DefaultTier = "gold" }, `limits.default_tier: tier "gold" is not configured`},
		{"empty default tier", func(c *Config) { c.DefaultTier = "" }, "limits.default_tier: must be set"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			c.mutate(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate = %v, want it to contain %q", err, c.want)
			}
		})
	}
	// An unlimited window needs no period.
	cfg := DefaultConfig()
	cfg.Tiers["ent"] = TierLimits{Windowed: map[string]Window{WindowedDIDCreations: {Limit: Unlimited}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("New accepted an invalid config")
		}
	}()
	New(newMemCounters(), Config{})
}

func TestConfigYAML(t *testing.T) {
	const doc = `
default_tier: individual
tiers:
  individual:
    static: {external_web3_domains: 1, iam_domains: 1, did_profiles: 2, social_verifications: 5}
    windowed:
      external_domain_updates: {limit: 12, period: 8760h}
      did_creations: {limit: 10, period: 168h}
      social_verifications: {limit: 15, period: 8760h}
`
	var cfg Config
	if err := yaml.Unmarshal([]byte(doc), &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(cfg)
	b, _ := json.Marshal(DefaultConfig())
	if string(a) != string(b) {
		t.Fatalf("YAML config = %s\nwant %s", a, b)
	}
}

func TestParseOperation(t *testing.T) {
	for _, s := range []string{"create_did", "add_external_domain", "update_external_domain", "add_iam_domain", "social_verification"} {
		op, err := ParseOperation(s)
		if err != nil || string(op) != s {
			t.Errorf("ParseOperation(%q) = %q, %v", s, op, err)
		}
	}
	for _, s := range []string{"", "CREATE_DID", "delete_did", "create_did "} {
		if _, err := ParseOperation(s); !errors.Is(err, ErrUnknownOperation) {
			t.Errorf("ParseOperation(%q) = %v, want ErrUnknownOperation", s, err)
		}
	}
}

func TestUsageJSON(t *testing.T) {
	s, _ := newService(t, DefaultConfig())
	mustConsume(t, s, "u1", "individual", OpCreateDID, t0)
	b, err := json.Marshal(usage(t, s, "u1", "individual", t0.Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"tier":"individual",` +
		`"limits":{"maxExternalWeb3Domains":1,"maxIamPersonalDomains":1,"maxDidProfiles":2,"maxSocialVerifications":5},` +
		`"usage":{"currentExternalWeb3Domains":0,"currentIamPersonalDomains":0,"currentDidProfiles":1,"currentSocialVerifications":0},` +
		`"rateLimits":{` +
		`"externalDomainUpdates":{"count":0,"limit":12,"window":"year","period":"8760h0m0s","nextReset":null},` +
		`"didCreations":{"count":1,"limit":10,"window":"week","period":"168h0m0s","nextReset":"2025-03-08T12:00:00Z"},` +
		`"socialVerifications":{"count":0,"limit":15,"window":"year","period":"8760h0m0s","nextReset":null}}}`
	if string(b) != want {
		t.Fatalf("Usage JSON =\n%s\nwant\n%s", b, want)
	}
	if got := windowLabel(90 * time.Minute); got != "1h30m0s" {
		t.Fatalf("windowLabel(90m) = %q", got)
	}
}

func TestCheckResultJSON(t *testing.T) {
	b, _ := json.Marshal(CheckResult{Allowed: true, RemainingAttempts: 2})
	if string(b) != `{"allowed":true,"remainingAttempts":2,"nextReset":null}` {
		t.Fatalf("CheckResult JSON = %s", b)
	}
}

func TestStoreErrors(t *testing.T) {
	c := newMemCounters()
	s := New(c, DefaultConfig())
	c.m[key("bad")] = []byte("{not json")
	ctx := context.Background()
	if _, err := s.Consume(ctx, "bad", "", OpCreateDID, t0); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("Consume on a corrupt record = %v", err)
	}
	if _, err := s.Usage(ctx, "bad", "", t0); err == nil {
		t.Fatal("Usage on a corrupt record succeeded")
	}
	if _, err := s.Consume(ctx, "", "", OpCreateDID, t0); !errors.Is(err, ErrNoUser) {
		t.Fatalf("Consume with no user = %v", err)
	}
	if _, err := s.Usage(ctx, "", "", t0); !errors.Is(err, ErrNoUser) {
		t.Fatalf("Usage with no user = %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Consume(cctx, "u", "", OpCreateDID, t0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Consume with a cancelled context = %v", err)
	}
	if _, err := s.Check(cctx, "u", "", OpCreateDID, t0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Check with a cancelled context = %v", err)
	}
}

func BenchmarkConsume(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Tiers["bench"] = TierLimits{
		Static:   map[string]int{StaticDIDProfiles: Unlimited},
		Windowed: map[string]Window{WindowedDIDCreations: {Limit: 1 << 40, Period: Week}},
	}
	s := New(newMemCounters(), cfg)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := s.Consume(ctx, "u"+strconv.Itoa(i%64), "bench", OpCreateDID, t0); err != nil {
			b.Fatal(err)
		}
	}
}
