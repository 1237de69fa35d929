package limits

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Names of the static limits: how many of a resource a user may hold.
const (
	StaticExternalWeb3Domains = "external_web3_domains"
	StaticIAMDomains          = "iam_domains"
	StaticDIDProfiles         = "did_profiles"
	StaticSocialVerifications = "social_verifications"
)

// Names of the windowed limits: how many times an action may be taken per
// period.
const (
	WindowedExternalDomainUpdates = "external_domain_updates"
	WindowedDIDCreations          = "did_creations"
	WindowedSocialVerifications   = "social_verifications"
)

// DefaultTierName is the tier of DefaultConfig.
const DefaultTierName = "individual"

// Unlimited, as a static limit or a Window's Limit, lifts the limit. As
// CheckResult.RemainingAttempts it means no limit applies.
const Unlimited = -1

// Period lengths with a name in Usage.
const (
	Day  = 24 * time.Hour
	Week = 7 * Day
	Year = 365 * Day
)

var (
	staticNames   = []string{StaticExternalWeb3Domains, StaticIAMDomains, StaticDIDProfiles, StaticSocialVerifications}
	windowedNames = []string{WindowedExternalDomainUpdates, WindowedDIDCreations, WindowedSocialVerifications}
)

// Window allows Limit actions per Period. The window is fixed: it opens at
// the first action after the previous one closed and closes Period later.
type Window struct {
	Limit  int           `yaml:"limit"`
	Period time.Duration `yaml:"period"`
}

// TierLimits are the limits of one subscription tier, by name. A name that
// a tier other than the default leaves out takes the default tier's value;
// a name absent from both is unlimited.
type TierLimits struct {
	Static   map[string]int    `yaml:"static"`
	Windowed map[string]Window `yaml:"windowed"`
}

// Config holds the limits of every tier. Users of a tier that is not
// configured get DefaultTier's limits.
type Config struct {
	Tiers       map[string]TierLimits `yaml:"tiers"`
	DefaultTier string                `yaml:"default_tier"`
}

// DefaultConfig returns the design's limits for the individual tier, which
// is also the default tier.
func DefaultConfig() Config {
	return Config{
		DefaultTier: DefaultTierName,
		Tiers: map[string]TierLimits{
			DefaultTierName: {
				Static: map[string]int{
					StaticExternalWeb3Domains: 1,
					StaticIAMDomains:          1,
					StaticDIDProfiles:         2,
					StaticSocialVerifications: 5,
				},
				Windowed: map[string]Window{
					WindowedExternalDomainUpdates: {Limit: 12, Period: Year},
					WindowedDIDCreations:          {Limit: 10, Period: Week},
					WindowedSocialVerifications:   {Limit: 15, Period: Year},
				},
			},
		},
	}
}

// Validate reports every invalid setting, each naming its key, for example
// "limits.tiers.pro.windowed.did_creations.period: must be > 0".
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("limits.%s: "+format, append([]any{key}, args...)...))
	}
	switch _, ok := c.Tiers[c.DefaultTier]; {
	case c.DefaultTier == "":
		bad("default_tier", "must be set")
	case !ok:
		bad("default_tier", "tier %q is not configured", c.DefaultTier)
	}
	for _, tier := range slices.Sorted(maps.Keys(c.Tiers)) {
		tl := c.Tiers[tier]
		if tier == "" {
			bad("tiers", "tier name must not be empty")
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(tl.Static)) {
			key := "tiers." + tier + ".static." + name
			if !slices.Contains(staticNames, name) {
				bad(key, "unknown limit (known: %v)", staticNames)
			} else if n := tl.Static[name]; n < Unlimited {
				bad(key, "must be >= 0, or -1 for unlimited, got %d", n)
			}
		}
		for _, name := range slices.Sorted(maps.Keys(tl.Windowed)) {
			key := "tiers." + tier + ".windowed." + name
			w := tl.Windowed[name]
			if !slices.Contains(windowedNames, name) {
				bad(key, "unknown limit (known: %v)", windowedNames)
				continue
			}
			if w.Limit < Unlimited {
				bad(key+".limit", "must be >= 0, or -1 for unlimited, got %d", w.Limit)
			}
			if w.Period <= 0 && w.Limit != Unlimited {
				bad(key+".period", "must be > 0")
			}
		}
	}
	return errors.Join(errs...)
}

// tierLimits are one tier's limits with the default tier's filled in. A
// name absent from a map is unlimited.
type tierLimits struct {
	name     string
	static   map[string]int
	windowed map[string]Window
}

// resolve fills in every tier from the default tier.
func resolve(c Config) (def *tierLimits, tiers map[string]*tierLimits) {
	base := c.Tiers[c.DefaultTier]
	tiers = make(map[string]*tierLimits, len(c.Tiers))
	for name, tl := range c.Tiers {
		r := &tierLimits{name: name, static: map[string]int{}, windowed: map[string]Window{}}
		for _, n := range staticNames {
			if v, ok := tl.Static[n]; ok {
				r.static[n] = v
			} else if v, ok := base.Static[n]; ok {
				r.static[n] = v
			}
		}
		for _, n := range windowedNames {
			if v, ok := tl.Windowed[n]; ok {
				r.windowed[n] = v
			} else if v, ok := base.Windowed[n]; ok {
				r.windowed[n] = v
			}
		}
		tiers[name] = r
	}
	return tiers[c.DefaultTier], tiers
}
