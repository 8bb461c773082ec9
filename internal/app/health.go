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

// journalFailureHold is how long a failed journal write keeps the node
// unhealthy when no write commits after it.
const journalFailureHold = time.Minute

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

// journalCheck fails while the journal's last write failed and none has
// committed since. A failure counts for journalFailureHold at most: an idle
// node whose database came back must not stay unhealthy (and be restarted
// by the watchdog) for want of a write to prove it.
func (h *health) journalCheck(now time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.journalErr.IsZero() && h.journalErr.After(h.journalOK) && now.Sub(h.journalErr) < journalFailureHold {
		return fmt.Errorf("last write failed %s ago and none committed since: %v", now.Sub(h.journalErr).Round(time.Second), h.journalFail)
	}
	return nil
}

func (h *health) journalFailed(err error) {
	h.mu.Lock()
	h.journalErr, h.journalFail = time.Now(), err
	h.mu.Unlock()
}

// HealthChecks are the conditions under which this node counts as healthy:
// the store answers a query, the supervisor runs (the node has started and
// is not stopping), and the journal's last write did not fail (within the
// last minute, with none committed since). The watchdog
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
		{Name: "journal", Fn: func(ctx context.Context) error { return a.health.journalCheck(time.Now()) }},
	}
}

var _ server.Health = (*watchdog.Watchdog)(nil)

// Registerer is the node's metrics registry (for the watchdog's metrics).
func (a *App) Registerer() prometheus.Registerer { return a.registry }

// SetHealth makes /healthz and /readyz answer from h (the watchdog).
func (a *App) SetHealth(h server.Health) { a.srv.SetHealth(h) }
