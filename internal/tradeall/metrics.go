package tradeall

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the runner's Prometheus series.
type metrics struct {
	runs     *prometheus.CounterVec // by outcome
	steps    *prometheus.CounterVec // by result
	failures *prometheus.CounterVec // by error class
	stepDur  prometheus.Histogram
	paceWait prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tradeplane_tradeall_runs_total",
			Help: "Trade All runs finished, by outcome (done, partial, failed, canceled).",
		}, []string{"outcome"}),
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tradeplane_tradeall_steps_total",
			Help: "Trade All session steps finished, by result (done, skipped, failed, canceled).",
		}, []string{"result"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tradeplane_tradeall_step_failures_total",
			Help: "Trade All session steps that failed, by error class.",
		}, []string{"class"}),
		stepDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tradeplane_tradeall_step_seconds",
			Help:    "Duration of one Trade All session step.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}),
		paceWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tradeplane_tradeall_pace_wait_seconds",
			Help:    "Time an order waited for its venue's and account's budget.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}),
	}
	if reg == nil {
		return m, nil
	}
	// A second runner on one registry (a restart in tests, a re-wire)
	// shares the first one's series.
	var err error
	m.runs, err = register(reg, m.runs)
	if err == nil {
		m.steps, err = register(reg, m.steps)
	}
	if err == nil {
		m.failures, err = register(reg, m.failures)
	}
	if err == nil {
		m.stepDur, err = register(reg, m.stepDur)
	}
	if err == nil {
		m.paceWait, err = register(reg, m.paceWait)
	}
	return m, err
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}
