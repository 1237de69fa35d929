package directory

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	events       *prometheus.CounterVec
	eventSeconds *prometheus.HistogramVec
	steps        *prometheus.HistogramVec
	scim         *prometheus.CounterVec
	scimSeconds  prometheus.Histogram
	pulls        *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewayd_directory_events_total",
			Help: "Directory lifecycle events applied by the host, by object kind, action and result (applied, failed).",
		}, []string{"kind", "action", "result"}),
		eventSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatewayd_directory_event_seconds", Help: "Time to apply one directory event (all its provisioning steps).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"kind"}),
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatewayd_directory_provisioning_step_seconds", Help: "Provisioning steps (did, credential, member, sessions, credential_status) by result.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"step", "result"}),
		scim: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewayd_scim_requests_total", Help: "SCIM requests answered by directory plugins, by method and status.",
		}, []string{"method", "status"}),
		scimSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gatewayd_scim_request_seconds", Help: "SCIM requests including the lifecycle work they cause.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		pulls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewayd_directory_pulls_total", Help: "Pulls of remote SCIM endpoints, by result.",
		}, []string{"result"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.events, m.eventSeconds, m.steps, m.scim, m.scimSeconds, m.pulls} {
			_ = reg.Register(c)
		}
	}
	return m
}
