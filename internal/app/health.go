package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/watchdog"
)

// health is what the node's health checks read besides the store and the
// journal (journal.Journal.Check): whether the supervisor is running, and
// whether every one of its loops still does.
type health struct {
	serving atomic.Bool // between a successful start and the stop

	mu    sync.Mutex
	ended []string // supervising loops that returned before the node stopped
}

// goService runs one of the loops that supervise the node's work (the
// market data feed, reconciliation, the cluster heartbeat, ...): each runs
// until ctx ends. One that returns earlier (a bug: a panic ends the whole
// process anyway) leaves part of the work unsupervised while the process
// looks alive, so it fails the supervisor check for good: watchdog pings
// and heartbeats stop, systemd restarts the node, /readyz says which loop.
func (a *App) goService(ctx context.Context, name string, fn func()) {
	a.goLoop(func() {
		fn()
		if ctx.Err() != nil {
			return
		}
		a.log.Error("a supervising loop ended while the node serves; the node reports itself unhealthy", "loop", name)
		a.health.mu.Lock()
		a.health.ended = append(a.health.ended, name)
		a.health.mu.Unlock()
	})
}

// supervisor is the supervisor check: the node serves and none of its
// supervising loops has ended.
func (h *health) supervisor() error {
	if !h.serving.Load() {
		return errors.New("not running (starting or stopping)")
	}
	return h.loopsEnded()
}

// loopsEnded fails once a supervising loop has ended while the node served.
func (h *health) loopsEnded() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.ended) > 0 {
		return fmt.Errorf("%s ended while the node serves: restart it", strings.Join(h.ended, ", "))
	}
	return nil
}

// nodeHealth is what /healthz and /readyz answer from: the watchdog, whose
// Live fails only when the checks hang, and a loop that ended, which fails
// liveness too: like a wedged process, only a restart cures it, and
// Kubernetes restarts on liveness (readiness only takes the pod out of the
// Service, while its sessions go on unsupervised).
type nodeHealth struct {
	server.Health
	h *health
}

func (n nodeHealth) Live() error {
	if err := n.Health.Live(); err != nil {
		return err
	}
	return n.h.loopsEnded()
}

// HealthChecks are the conditions under which this node counts as healthy:
// the store answers a query, the supervisor runs (the node has started, is
// not stopping, and none of its supervising loops has ended: goService), and the journal's last write did not fail (within the
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
		{Name: "supervisor", Fn: func(ctx context.Context) error { return a.health.supervisor() }},
		{Name: "journal", Fn: func(ctx context.Context) error { return a.journal.Check() }},
	}
}

var _ server.Health = (*watchdog.Watchdog)(nil)

// Registerer is the node's metrics registry (for the watchdog's metrics).
func (a *App) Registerer() prometheus.Registerer { return a.registry }

// SetHealth makes /healthz and /readyz answer from h (the watchdog), and
// /healthz fail too once a supervising loop has ended (nodeHealth).
func (a *App) SetHealth(h server.Health) { a.srv.SetHealth(nodeHealth{h, &a.health}) }
