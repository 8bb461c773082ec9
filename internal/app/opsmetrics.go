package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
)

// opsMetrics are the gauges the alerting rules in deploy/prometheus need
// and no service keeps by itself: they are read from the node's state at
// scrape time (a few small queries), so they cannot drift from it.
//
//	tradeplane_sessions_quarantined            sessions in state quarantined (the whole deployment)
//	tradeplane_orders_unknown                  orders on this node's accounts whose outcome is unknown
//	tradeplane_orders_unknown_oldest_seconds   age of the oldest of them (0 when none)
//	tradeplane_prices_stale                    priced assets whose price is older than the stale limit
//	tradeplane_price_age_max_seconds           age of the oldest price in use
//	tradeplane_backfill_jobs_running           backfill jobs running (the whole deployment)
//	tradeplane_backfill_progress_age_seconds   time since the least recently progressing running job moved
//	tradeplane_cluster_lease_changes_total     session leases acquired or lost by this node
type opsMetrics struct {
	a            *App
	leaseChanges *prometheus.CounterVec

	quarantined, unknown, unknownAge, stale, priceAge, jobs, jobAge *prometheus.Desc
}

func (a *App) registerOpsMetrics() error {
	m := &opsMetrics{
		a: a,
		leaseChanges: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tradeplane_cluster_lease_changes_total",
			Help: "Session leases this node acquired or lost (PostgreSQL clusters); a high rate is lease churn."}, []string{"change"}),
		quarantined: prometheus.NewDesc("tradeplane_sessions_quarantined", "Sessions in state quarantined (after too many automatic restarts).", nil, nil),
		unknown:     prometheus.NewDesc("tradeplane_orders_unknown", "Orders on this node's accounts whose outcome is unknown, waiting for reconciliation.", nil, nil),
		unknownAge:  prometheus.NewDesc("tradeplane_orders_unknown_oldest_seconds", "Age of the oldest order with an unknown outcome (0 when none).", nil, nil),
		stale:       prometheus.NewDesc("tradeplane_prices_stale", "Priced assets whose price is older than the portfolio's stale limit.", nil, nil),
		priceAge:    prometheus.NewDesc("tradeplane_price_age_max_seconds", "Age of the oldest price the portfolio values with.", nil, nil),
		jobs:        prometheus.NewDesc("tradeplane_backfill_jobs_running", "PnL backfill jobs in state running.", nil, nil),
		jobAge:      prometheus.NewDesc("tradeplane_backfill_progress_age_seconds", "Seconds since the running backfill job that moved least recently last made progress (0 when none runs).", nil, nil),
	}
	m.leaseChanges.WithLabelValues("acquired")
	m.leaseChanges.WithLabelValues("lost")
	a.leaseChanges = m.leaseChanges
	if err := a.registry.Register(m.leaseChanges); err != nil {
		return err
	}
	return a.registry.Register(m)
}

func (m *opsMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.quarantined, m.unknown, m.unknownAge, m.stale, m.priceAge, m.jobs, m.jobAge} {
		ch <- d
	}
}

// Collect reads the state; a part whose query fails is left out of the
// scrape (the rules alert on absence where it matters) rather than
// reported as zero.
func (m *opsMetrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	a := m.a
	now := time.Now()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }

	if a.sessions != nil {
		if q, err := a.sessions.List(ctx, session.Filter{State: session.Quarantined}); err == nil {
			gauge(m.quarantined, float64(len(q)))
		}
	}

	a.mu.Lock()
	ids := make([]int64, 0, len(a.accounts))
	for id := range a.accounts {
		ids = append(ids, id)
	}
	a.mu.Unlock()
	unknown, oldest, ok := 0, 0.0, true
	for _, id := range ids {
		orders, err := a.db.NonTerminalOrders(ctx, id)
		if err != nil {
			ok = false
			break
		}
		for _, o := range orders {
			if o.Status != store.OrderUnknown {
				continue
			}
			unknown++
			if age := now.Sub(o.CreatedAt).Seconds(); age > oldest {
				oldest = age
			}
		}
	}
	if ok {
		gauge(m.unknown, float64(unknown))
		gauge(m.unknownAge, oldest)
	}

	if a.pf != nil {
		snap := a.pf.Snapshot()
		stale, maxAge := 0, 0.0
		for _, q := range snap.Prices {
			if q.Price == nil {
				continue
			}
			if q.Stale {
				stale++
			}
			if age := float64(q.AgeMS) / 1000; age > maxAge {
				maxAge = age
			}
		}
		gauge(m.stale, float64(stale))
		gauge(m.priceAge, maxAge)
	}

	if running, err := a.db.JobsInState(ctx, "running"); err == nil {
		age := 0.0
		for _, j := range running {
			if d := now.Sub(j.UpdatedAt).Seconds(); d > age {
				age = d
			}
		}
		gauge(m.jobs, float64(len(running)))
		gauge(m.jobAge, age)
	}
}
