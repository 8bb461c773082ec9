// Package watchdog lets the outside world hear whether a node is healthy. A
// process cannot report its own death, so it reports its health instead, on
// a schedule, and whatever watches it (systemd's watchdog, a push monitor
// such as Healthchecks) raises the alarm when the reports stop or say
// "fail".
//
// A Watchdog runs its checks (the store answers, the supervisor is alive)
// every interval. While every check passes it tells systemd READY=1 (once)
// and WATCHDOG=1 (each time) through sd_notify, and pings the heartbeat URL;
// once a check fails it stops the systemd pings (so systemd restarts the
// service after WatchdogSec), reports STATUS= with the reason, and posts the
// reason to the heartbeat URL's /fail endpoint.
//
// It owns no notion of what healthy means: checks are functions given by the
// caller. It reads no flags or environment variables except the ones
// sd_notify itself defines (NOTIFY_SOCKET, WATCHDOG_USEC), read by the
// library.
package watchdog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tradeplane/tradeplane/internal/clock"
)

// Check is one health condition. Fn returns nil while the condition holds.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Notifier sends one sd_notify state ("READY=1", "WATCHDOG=1", ...). It
// reports false, nil when no service manager listens (NOTIFY_SOCKET unset).
type Notifier func(state string) (bool, error)

// SystemdNotifier is the real sd_notify, through go-systemd.
func SystemdNotifier(state string) (bool, error) { return daemon.SdNotify(false, state) }

// Config wires a Watchdog.
type Config struct {
	// Checks must all pass for the node to count as healthy.
	Checks []Check
	// Interval between checks (default 10 s). When systemd's watchdog is
	// on (WATCHDOG_USEC), checks run at least twice per WatchdogSec.
	Interval time.Duration
	// CheckTimeout bounds one round of checks (default Interval/2).
	CheckTimeout time.Duration
	// Notify sends sd_notify states; nil uses SystemdNotifier.
	Notify Notifier
	// WatchdogInterval is systemd's WatchdogSec; 0 asks the library
	// (WATCHDOG_USEC), which says 0 when the watchdog is off; negative
	// means off.
	WatchdogInterval time.Duration
	// HeartbeatURL, when set, is pinged (POST) while healthy and
	// HeartbeatURL+"/fail" is posted the reason while not: the
	// Healthchecks.io convention, understood by most push monitors.
	HeartbeatURL string
	// HeartbeatEvery is how often the heartbeat URL is pinged while the
	// state does not change (default 60 s); a change is sent at once.
	HeartbeatEvery time.Duration
	// Client sends heartbeats (default: a client with a 10 s timeout).
	Client *http.Client
	// Registerer, when set, receives tradeplane_health_ok and
	// tradeplane_heartbeat_failures_total.
	Registerer prometheus.Registerer
	Log        *slog.Logger
	// Clock times the rounds and heartbeats; nil is the wall clock. (A
	// round's CheckTimeout and the heartbeat requests are wall time.)
	Clock clock.Clock
}

// Status is the outcome of the last round of checks.
type Status struct {
	// Checked is false until the first round ran.
	Checked bool
	At      time.Time
	// Failures names each failing check and why; empty when healthy.
	Failures []string
}

// Healthy reports a completed round with no failure.
func (s Status) Healthy() bool { return s.Checked && len(s.Failures) == 0 }

// Err is the failures as one error (nil when healthy).
func (s Status) Err() error {
	switch {
	case !s.Checked:
		return errors.New("not checked yet")
	case len(s.Failures) > 0:
		return errors.New(strings.Join(s.Failures, "; "))
	}
	return nil
}

// Watchdog runs the checks and reports them. Create it with New, run it
// with Run.
type Watchdog struct {
	cfg Config
	log *slog.Logger

	healthOK      prometheus.Gauge
	heartbeatErrs prometheus.Counter

	mu      sync.Mutex
	status  Status
	running time.Time // when the round in progress began; zero between rounds
}

// New checks cfg and registers the metrics.
func New(cfg Config) (*Watchdog, error) {
	if len(cfg.Checks) == 0 {
		return nil, errors.New("watchdog: no checks")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.WatchdogInterval == 0 {
		d, err := daemon.SdWatchdogEnabled(false)
		if err != nil {
			return nil, fmt.Errorf("watchdog: read WATCHDOG_USEC: %w", err)
		}
		cfg.WatchdogInterval = d
	}
	if cfg.WatchdogInterval > 0 && cfg.Interval > cfg.WatchdogInterval/2 {
		cfg.Interval = cfg.WatchdogInterval / 2
	}
	if cfg.CheckTimeout <= 0 {
		cfg.CheckTimeout = cfg.Interval / 2
	}
	if cfg.Notify == nil {
		cfg.Notify = SystemdNotifier
	}
	if cfg.HeartbeatEvery <= 0 {
		cfg.HeartbeatEvery = time.Minute
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	cfg.HeartbeatURL = strings.TrimRight(cfg.HeartbeatURL, "/")
	w := &Watchdog{cfg: cfg, log: cfg.Log}
	if w.log == nil {
		w.log = slog.Default()
	}
	w.healthOK = prometheus.NewGauge(prometheus.GaugeOpts{Name: "tradeplane_health_ok",
		Help: "1 while every health check (store, supervisor) passes, 0 otherwise; sd_notify watchdog pings and heartbeats stop at 0."})
	w.heartbeatErrs = prometheus.NewCounter(prometheus.CounterOpts{Name: "tradeplane_heartbeat_failures_total",
		Help: "Heartbeat pings to --heartbeat-url that failed to arrive."})
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{w.healthOK, w.heartbeatErrs} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("watchdog: register metrics: %w", err)
			}
		}
	}
	return w, nil
}

// Interval is the effective time between checks.
func (w *Watchdog) Interval() time.Duration { return w.cfg.Interval }

// Status returns the last round's outcome.
func (w *Watchdog) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.status
	st.Failures = append([]string(nil), st.Failures...)
	return st
}

// Run checks and reports every interval until ctx ends, then tells systemd
// STOPPING=1. It returns nil when ctx ends.
func (w *Watchdog) Run(ctx context.Context) error {
	clk := w.cfg.Clock
	// A timer re-armed after each round, due Interval after the round
	// began: the cadence of a ticker, and a test on a fake clock can wait
	// for the loop to be waiting (BlockUntil) before it advances.
	var t clock.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	ready := false
	var lastBeat time.Time
	lastHealthy := false
	for {
		began := clk.Now()
		st := w.round(ctx)
		if ctx.Err() != nil {
			break
		}
		healthy := st.Healthy()
		if healthy {
			w.healthOK.Set(1)
			if !ready {
				w.notify("READY=1")
				ready = true
			}
			w.notify("WATCHDOG=1")
			w.notify("STATUS=healthy")
		} else {
			w.healthOK.Set(0)
			w.notify("STATUS=unhealthy: " + st.Err().Error())
			if lastHealthy || lastBeat.IsZero() {
				w.log.Error("health check failed; watchdog pings stop", "failures", st.Failures)
			}
		}
		if w.cfg.HeartbeatURL != "" && (healthy != lastHealthy || lastBeat.IsZero() || clk.Now().Sub(lastBeat) >= w.cfg.HeartbeatEvery) {
			w.heartbeat(ctx, st)
			lastBeat = clk.Now()
		}
		lastHealthy = healthy
		next := max(began.Add(w.cfg.Interval).Sub(clk.Now()), 0)
		if t == nil {
			t = clk.NewTimer(next)
		} else {
			t.Reset(next)
		}
		select {
		case <-ctx.Done():
		case <-t.C():
			continue
		}
		break
	}
	w.notify("STOPPING=1")
	return nil
}

// round runs every check once.
func (w *Watchdog) round(ctx context.Context) Status {
	cctx, cancel := context.WithTimeout(ctx, w.cfg.CheckTimeout)
	defer cancel()
	st := Status{Checked: true, At: w.cfg.Clock.Now()}
	w.mu.Lock()
	w.running = st.At
	w.mu.Unlock()
	for _, c := range w.cfg.Checks {
		if err := c.Fn(cctx); err != nil {
			st.Failures = append(st.Failures, c.Name+": "+err.Error())
		}
	}
	w.mu.Lock()
	w.status, w.running = st, time.Time{}
	w.mu.Unlock()
	return st
}

// Ready is nil after a round in which every check passed (server.Health).
func (w *Watchdog) Ready() error { return w.Status().Err() }

// Live fails when a round of checks has been running for far longer than
// its timeout: the process is wedged (server.Health). Failing checks do
// not make it fail; they make the node unready.
func (w *Watchdog) Live() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.running.IsZero() {
		if d := w.cfg.Clock.Now().Sub(w.running); d > 3*w.cfg.CheckTimeout+w.cfg.Interval {
			return fmt.Errorf("health checks stuck for %s", d.Round(time.Second))
		}
	}
	return nil
}

func (w *Watchdog) notify(state string) {
	if _, err := w.cfg.Notify(state); err != nil {
		w.log.Warn("sd_notify failed", "state", state, "err", err)
	}
}

// heartbeat pings the push monitor: the URL itself while healthy, URL/fail
// with the reason while not.
func (w *Watchdog) heartbeat(ctx context.Context, st Status) {
	target, body := w.cfg.HeartbeatURL, "healthy"
	if !st.Healthy() {
		target, body = w.cfg.HeartbeatURL+"/fail", st.Err().Error()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		w.heartbeatErrs.Inc()
		w.log.Warn("heartbeat: bad URL", "err", redact(err, w.cfg.HeartbeatURL))
		return
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	req.Header.Set("User-Agent", "tradeplane-watchdog")
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		w.heartbeatErrs.Inc()
		w.log.Warn("heartbeat not delivered", "err", redact(err, w.cfg.HeartbeatURL))
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		w.heartbeatErrs.Inc()
		w.log.Warn("heartbeat refused", "status", resp.StatusCode)
	}
}

// redact keeps a heartbeat URL (whose path is its secret, as with
// Healthchecks' UUIDs) out of the log.
func redact(err error, url string) string {
	return strings.ReplaceAll(err.Error(), url, "<heartbeat-url>")
}
