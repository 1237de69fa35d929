package limits

import (
	"context"
	"time"
)

// Usage is a user's limits and use, in the design's JSON shape. A limit of
// -1 is unlimited.
type Usage struct {
	Tier       string       `json:"tier"`
	Limits     StaticLimits `json:"limits"`
	Usage      StaticUsage  `json:"usage"`
	RateLimits RateLimits   `json:"rateLimits"`
}

// StaticLimits are the maxima of the static limits.
type StaticLimits struct {
	MaxExternalWeb3Domains int `json:"maxExternalWeb3Domains"`
	MaxIAMPersonalDomains  int `json:"maxIamPersonalDomains"`
	MaxDIDProfiles         int `json:"maxDidProfiles"`
	MaxSocialVerifications int `json:"maxSocialVerifications"`
}

// StaticUsage is the current use of the static limits.
type StaticUsage struct {
	CurrentExternalWeb3Domains int `json:"currentExternalWeb3Domains"`
	CurrentIAMPersonalDomains  int `json:"currentIamPersonalDomains"`
	CurrentDIDProfiles         int `json:"currentDidProfiles"`
	CurrentSocialVerifications int `json:"currentSocialVerifications"`
}

// RateLimits is the use of the windowed limits.
type RateLimits struct {
	ExternalDomainUpdates WindowUsage `json:"externalDomainUpdates"`
	DIDCreations          WindowUsage `json:"didCreations"`
	SocialVerifications   WindowUsage `json:"socialVerifications"`
}

// WindowUsage is the state of one windowed limit.
type WindowUsage struct {
	// Count is the number of actions in the open window (0 if none).
	Count int `json:"count"`
	// Limit is the number allowed per window.
	Limit int `json:"limit"`
	// Window names the period: "year", "week", "day", "hour", or the
	// duration itself.
	Window string `json:"window"`
	// Period is the window's length as a Go duration string.
	Period string `json:"period"`
	// NextReset is when the open window closes; null if none is open.
	NextReset *time.Time `json:"nextReset"`
}

// Usage returns userID's limits and current use under tier at now.
func (s *Service) Usage(ctx context.Context, userID, tier string, now time.Time) (Usage, error) {
	if userID == "" {
		return Usage{}, ErrNoUser
	}
	r, err := s.load(ctx, userID)
	if err != nil {
		return Usage{}, err
	}
	t := s.tier(tier)
	static := func(name string) int {
		if m, ok := t.static[name]; ok {
			return m
		}
		return Unlimited
	}
	windowed := func(name string) WindowUsage {
		w, ok := t.windowed[name]
		if !ok {
			w = Window{Limit: Unlimited}
		}
		count, next := r.window(name, w, now)
		return WindowUsage{
			Count:     count,
			Limit:     w.Limit,
			Window:    windowLabel(w.Period),
			Period:    w.Period.String(),
			NextReset: next,
		}
	}
	return Usage{
		Tier: t.name,
		Limits: StaticLimits{
			MaxExternalWeb3Domains: static(StaticExternalWeb3Domains),
			MaxIAMPersonalDomains:  static(StaticIAMDomains),
			MaxDIDProfiles:         static(StaticDIDProfiles),
			MaxSocialVerifications: static(StaticSocialVerifications),
		},
		Usage: StaticUsage{
			CurrentExternalWeb3Domains: r.Static[StaticExternalWeb3Domains],
			CurrentIAMPersonalDomains:  r.Static[StaticIAMDomains],
			CurrentDIDProfiles:         r.Static[StaticDIDProfiles],
			CurrentSocialVerifications: r.Static[StaticSocialVerifications],
		},
		RateLimits: RateLimits{
			ExternalDomainUpdates: windowed(WindowedExternalDomainUpdates),
			DIDCreations:          windowed(WindowedDIDCreations),
			SocialVerifications:   windowed(WindowedSocialVerifications),
		},
	}, nil
}

// windowLabel names common periods.
func windowLabel(d time.Duration) string {
	switch d {
	case Year:
		return "year"
	case Week:
		return "week"
	case Day:
		return "day"
	case time.Hour:
		return "hour"
	}
	return d.String()
}
