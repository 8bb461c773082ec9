// Package alert raises alerts: things a person must see (a failed order, an
// unsettled unknown outcome, a ban, a journal write that failed). A Service
// stores each alert, logs it, hands it to a live callback (the server fans it
// out over SSE) and posts it to optional webhooks (generic JSON and
// Telegram) in the background with bounded retries. Bursts of the same
// alert are deduplicated within a window.
//
// It owns delivery, not policy: callers decide what is worth an alert and
// how severe it is. Secrets (webhook URLs, bot tokens) never reach the logs.
package alert

import (
	"context"
	"sync"
	"time"

	"github.com/tradeplane/tradeplane/internal/clock"
)

// Severity of an alert.
type Severity string

// Severities.
const (
	Info     Severity = "info"
	Warning  Severity = "warning"
	Critical Severity = "critical"
)

// Alert is one thing a person must see.
type Alert struct {
	ID        int64 // set when stored
	At        time.Time
	Severity  Severity
	Source    string // journal, executor, supervisor, venue, ...
	SessionID string
	AccountID int64
	Message   string
	// Repeats is how many identical alerts were suppressed by
	// deduplication before this one (0 for a first occurrence).
	Repeats int
	// Key, when set, names the event the alert is about (a node that went
	// down) so the same alert raised by several nodes is stored and
	// delivered once (durable mode).
	Key string
}

// Alerter raises alerts. Raise never fails the caller: delivery problems are
// logged and counted by the implementation. Implementations are safe for
// concurrent use.
type Alerter interface {
	Raise(ctx context.Context, a Alert)
}

// Func adapts a function to Alerter.
type Func func(ctx context.Context, a Alert)

// Raise calls f.
func (f Func) Raise(ctx context.Context, a Alert) { f(ctx, a) }

// Nop drops every alert; for callers that have nowhere to send them.
type Nop struct{}

// Raise does nothing.
func (Nop) Raise(context.Context, Alert) {}

// Recorder keeps every raised alert in memory; tests use it to assert that
// a failure was alerted.
type Recorder struct {
	mu     sync.Mutex
	alerts []Alert
}

var (
	_ Alerter = (*Recorder)(nil)
	_ Alerter = Nop{}
	_ Alerter = Func(nil)
	_ Alerter = (*Service)(nil)
)

// Raise records a.
func (r *Recorder) Raise(_ context.Context, a Alert) {
	r.mu.Lock()
	r.alerts = append(r.alerts, a)
	r.mu.Unlock()
}

// Alerts returns a copy of the recorded alerts in order.
func (r *Recorder) Alerts() []Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Alert(nil), r.alerts...)
}

// dedup suppresses repeats of (source, message) within a window.
type dedup struct {
	mu     sync.Mutex
	window time.Duration
	seen   map[string]*dedupEntry
}

type dedupEntry struct {
	first      time.Time
	suppressed int
}

// admit reports whether a passes, and how many repeats were suppressed
// before it when it does.
func (d *dedup) admit(a Alert) (bool, int) {
	if d.window <= 0 {
		return true, 0
	}
	key := a.Source + "\x00" + a.Message
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.seen[key]
	if ok && a.At.Sub(e.first) < d.window {
		e.suppressed++
		return false, 0
	}
	repeats := 0
	if ok {
		repeats = e.suppressed
	}
	d.seen[key] = &dedupEntry{first: a.At}
	if len(d.seen) > 4096 {
		for k, v := range d.seen {
			if a.At.Sub(v.first) >= d.window {
				delete(d.seen, k)
			}
		}
	}
	return true, repeats
}

// now returns c's time, or the wall clock when c is nil.
func now(c clock.Clock) time.Time {
	if c == nil {
		return time.Now().UTC()
	}
	return c.Now()
}
