package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// requestLatency is tradeplane_http_request_duration_seconds{kind,route}:
// how long every API and page request took, by route pattern (never the
// raw path, so ids do not explode the label set). It lives in the
// server's own registry, served with the node's metrics on /metrics and
// read by the reliability report.
func newRequestLatency() (*prometheus.Registry, *prometheus.HistogramVec) {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tradeplane_http_request_duration_seconds",
		Help:    "HTTP request latency of the API (kind=api) and the dashboard (kind=page), by route pattern.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"kind", "route"})
	reg.MustRegister(h)
	return reg, h
}

// observe records one request of route that started at start.
func (s *Server) observe(kind RouteKind, method, pattern string, start time.Time) {
	k := "api"
	if kind == KindPage {
		k = "page"
	}
	s.latency.WithLabelValues(k, method+" "+pattern).Observe(time.Since(start).Seconds())
}

// gatherer is the node's metrics and the server's own.
func (s *Server) gatherer() prometheus.Gatherer {
	if s.deps.Gatherer == nil {
		return s.metrics
	}
	return prometheus.Gatherers{s.deps.Gatherer, s.metrics}
}
