package treasury

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	balance    prometheus.Gauge
	rate       prometheus.Gauge
	spend      *prometheus.CounterVec
	operations *prometheus.CounterVec
	decisions  *prometheus.CounterVec
	recovered  prometheus.Counter
}

func newMetrics(r prometheus.Registerer, s *Service) *metrics {
	m := &metrics{
		balance: prometheus.NewGauge(prometheus.GaugeOpts{Name: "gatewayd_treasury_balance_tinybars",
			Help: "Treasury balance, as last read less the fees paid since."}),
		rate: prometheus.NewGauge(prometheus.GaugeOpts{Name: "gatewayd_treasury_exchange_rate_cents_per_hbar",
			Help: "Exchange rate in use, US cents per HBAR."}),
		spend: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatewayd_treasury_spend_tinybars_total",
			Help: "Network fees paid by the treasury, by operation type and tier."}, []string{"operation", "tier"}),
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatewayd_treasury_operations_total",
			Help: "Sponsored operations recorded, by operation type and tier."}, []string{"operation", "tier"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatewayd_treasury_decisions_total",
			Help: "Sponsorship decisions by operation type and result."}, []string{"operation", "result"}),
		recovered: prometheus.NewCounter(prometheus.CounterOpts{Name: "gatewayd_treasury_records_recovered_total",
			Help: "Spend records rebuilt from the ledger after a crash."}),
	}
	low := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatewayd_treasury_low_balance",
		Help: "1 when the treasury balance is under the low-balance threshold."}, func() float64 {
		if s.LowBalance() {
			return 1
		}
		return 0
	})
	if r != nil {
		r.MustRegister(m.balance, m.rate, m.spend, m.operations, m.decisions, m.recovered, low)
	}
	return m
}
