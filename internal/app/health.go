package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/watchdog"
)

// health is what the node's health checks read: whether the supervisor is
// running and how the journal's last writes went.
type health struct {
	serving atomic.Bool // between a successful start and the stop

	mu          sync.Mutex
	journalOK   time.Time // last committed journal event
	journalErr  time.Time // last failed journal batch
	journalFail error
}

func (h *health) journalWritten() {
	h.mu.Lock()
	h.journalOK = time.Now()
	h.mu.Unlock()
}

func (h *health) journalFailed(err error) {
	h.mu.Lock()
	h.journalErr, h.journalFail = time.Now(), err
	h.mu.Unlock()
}

// HealthChecks are the conditions under which this node counts as healthy:
// the store answers a query, the supervisor runs (the node has started and
// is not stopping), and the journal's last write did not fail. The watchdog
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
		{Name: "journal", Fn: func(ctx context.Context) error {
			a.health.mu.Lock()
			defer a.health.mu.Unlock()
			if !a.health.journalErr.IsZero() && a.health.journalErr.After(a.health.journalOK) {
				return fmt.Errorf("last write failed and none committed since: %v", a.health.journalFail)
			}
			return nil
		}},
	}
}

var _ server.Health = (*watchdog.Watchdog)(nil)

// Registerer is the node's metrics registry (for the watchdog's metrics).
func (a *App) Registerer() prometheus.Registerer { return a.registry }

// SetHealth makes /healthz and /readyz answer from h (the watchdog).
func (a *App) SetHealth(h server.Health) { a.srv.SetHealth(h) }
