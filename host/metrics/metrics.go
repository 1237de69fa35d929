// Package metrics holds the Prometheus collectors with the design's names
// (section 10.1) that several packages share. Package-specific collectors
// (policy, store, tokens) are registered by their own packages.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the shared collectors.
type Metrics struct {
	// HTTPDuration is http_request_duration_seconds{method,route,status_code}.
	HTTPDuration *prometheus.HistogramVec
	// HTTPInFlight is the number of requests being served.
	HTTPInFlight prometheus.Gauge
	// DIDOperations is did_operations_total{operation_type,status}.
	DIDOperations *prometheus.CounterVec
	// HederaTransactions is hedera_transactions_total{transaction_type,status}.
	HederaTransactions *prometheus.CounterVec
	// RateLimited counts requests refused by an API rate limit, by class.
	RateLimited *prometheus.CounterVec
	// Logins counts login attempts by result.
	Logins *prometheus.CounterVec
}

// NewRegistry returns a registry with the Go runtime and process
// collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// New creates the shared collectors and registers them with reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Duration of HTTP requests in seconds.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method", "route", "status_code"}),
		HTTPInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
		DIDOperations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "did_operations_total",
			Help: "Total number of DID operations.",
		}, []string{"operation_type", "status"}),
		HederaTransactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hedera_transactions_total",
			Help: "Total number of Hedera transactions.",
		}, []string{"transaction_type", "status"}),
		RateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewayd_rate_limited_total",
			Help: "Requests refused by an API rate limit, by class.",
		}, []string{"class"}),
		Logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewayd_logins_total",
			Help: "Login attempts by result (success, bad_credentials, locked).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.HTTPDuration, m.HTTPInFlight, m.DIDOperations, m.HederaTransactions, m.RateLimited, m.Logins)
	return m
}
