package app

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/watchdog"
)

// health is what the node's health checks read besides the store and the
// journal (journal.Journal.Check): whether the supervisor is running.
type health struct {
	serving atomic.Bool // between a successful start and the stop
}

// HealthChecks are the conditions under which this node counts as healthy:
// the store answers a query, the supervisor runs (the node has started and
// is not stopping), and the journal's last write did not fail (within the
// last minute, with none committed since: journal.FailureHold). The watchdog
// runs them; sd_notify pings and heartbeats go out only while all pass.
func (a *App) HealthChecks() []watchdog.Check {
	return []watchdog.Check{
		{Name: "store", Fn: func(ctx context.Context) error {
			if err := a.db.Ping(ctx); err != nil {
				return fmt.Errorf("database does not answer: %w", err)
			}
			return nil
		}},
		{Name: "supervisor", Fn: func(ctx context.Context) error {
			if !a.health.serving.Load() {
				return errors.New("not running (starting or stopping)")
			}
			return nil
		}},
		{Name: "journal", Fn: func(ctx context.Context) error { return a.journal.Check() }},
	}
}

var _ server.Health = (*watchdog.Watchdog)(nil)

// Registerer is the node's metrics registry (for the watchdog's metrics).
func (a *App) Registerer() prometheus.Registerer { return a.registry }

// SetHealth makes /healthz and /readyz answer from h (the watchdog).
func (a *App) SetHealth(h server.Health) { a.srv.SetHealth(h) }
