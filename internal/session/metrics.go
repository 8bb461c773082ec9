package session

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the supervisor's Prometheus collectors.
type metrics struct {
	restarts *prometheus.CounterVec // session, kind=auto|manual
	failures *prometheus.CounterVec // kind
	steps    prometheus.Counter
	lag      prometheus.Histogram
	duration prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, running func() float64) (*metrics, error) {
	m := &metrics{
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tradeplane_session_restarts_total",
			Help: "Session restarts by session and kind (auto: by the supervisor after a failure; manual: by an operator).",
		}, []string{"session", "kind"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tradeplane_session_failures_total",
			Help: "Failed trade steps and starts by kind (error, panic, stuck, start).",
		}, []string{"kind"}),
		steps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tradeplane_session_steps_total",
			Help: "Trade steps run (scheduled and manual).",
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tradeplane_session_step_lag_seconds",
			Help:    "Delay between a scheduled step's tick and the step's start.",
			Buckets: []float64{.0001, .0005, .001, .005, .01, .05, .1, .5, 1},
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tradeplane_session_step_duration_seconds",
			Help:    "Duration of trade steps.",
			Buckets: prometheus.DefBuckets,
		}),
	}
	if reg == nil {
		return m, nil
	}
	gauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tradeplane_sessions_running",
		Help: "Sessions with a live supervisor goroutine.",
	}, running)
	for _, c := range []prometheus.Collector{m.restarts, m.failures, m.steps, m.lag, m.duration, gauge} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				continue
			}
			return nil, err
		}
	}
	return m, nil
}
