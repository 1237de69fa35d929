package auth

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Result label values of gatewayd_token_verifications_total, indexed like
// resultErrors (0 is success).
var (
	resultNames  = []string{"ok", "malformed", "signature", "expired", "unknown_key", "revoked", "claims"}
	resultErrors = []error{nil, ErrMalformed, ErrSignature, ErrExpired, ErrUnknownKey, ErrRevoked, ErrClaims}
)

// tokenMetrics holds the counters, resolved once so that the hot path does
// no label lookup: [result][cached].
type tokenMetrics struct {
	verifications [][2]prometheus.Counter
}

func newTokenMetrics(r prometheus.Registerer) (tokenMetrics, error) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatewayd_token_verifications_total",
		Help: "Access-token verifications by result and whether the verified-token cache answered.",
	}, []string{"result", "cached"})
	if r != nil {
		if err := r.Register(vec); err != nil {
			are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err)
			if !ok {
				return tokenMetrics{}, fmt.Errorf("auth: metrics: %w", err)
			}
			if vec, ok = are.ExistingCollector.(*prometheus.CounterVec); !ok {
				return tokenMetrics{}, fmt.Errorf("auth: metrics: %w", err)
			}
		}
	}
	m := tokenMetrics{verifications: make([][2]prometheus.Counter, len(resultNames))}
	for i, name := range resultNames {
		m.verifications[i][0] = vec.WithLabelValues(name, "false")
		m.verifications[i][1] = vec.WithLabelValues(name, "true")
	}
	return m, nil
}

func (m tokenMetrics) observe(err error, cached bool) {
	i := 0
	if err != nil {
		i = len(resultErrors) - 1 // unexpected errors count as claims
		for j, e := range resultErrors[1:] {
			if errors.Is(err, e) {
				i = j + 1
				break
			}
		}
	}
	c := 0
	if cached {
		c = 1
	}
	m.verifications[i][c].Inc()
}
