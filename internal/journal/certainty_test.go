package journal_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/alert"
	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// jumpClock is the wall clock plus an offset a test moves forward: waits
// (backoff) take real, short time while the journal's notion of "now" jumps
// past recvWindow and the venue's lag.
type jumpClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *jumpClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().UTC().Add(c.off)
}
func (c *jumpClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
func (c *jumpClock) NewTicker(d time.Duration) clock.Ticker { return clock.Real{}.NewTicker(d) }
func (c *jumpClock) NewTimer(d time.Duration) clock.Timer   { return clock.Real{}.NewTimer(d) }
func (c *jumpClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	return clock.Real{}.AfterFunc(d, f)
}
func (c *jumpClock) Jump(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// laggyVenue is an eventually consistent venue: an order it accepted stays
// invisible to QueryOrder until lookupLag has passed on the clock, and to
// OrderHistory until historyLag has (negative: never), as Binance's order
// lookup has been seen to report orders as not existing about a minute
// after creating them.
type laggyVenue struct {
	*spyVenue
	acct       *paper.Account
	clk        *jumpClock
	lookupLag  time.Duration
	historyLag time.Duration

	mu      sync.Mutex
	created map[string]time.Time
}

func (l *laggyVenue) PlaceOrder(ctx context.Context, req venue.OrderRequest) (venue.Order, error) {
	o, err := l.spyVenue.PlaceOrder(ctx, req)
	if _, qerr := l.acct.QueryOrder(ctx, req.Symbol, req.ClientOrderID); qerr == nil {
		l.mu.Lock()
		l.created[req.ClientOrderID] = l.clk.Now()
		l.mu.Unlock()
	}
	return o, err
}

func (l *laggyVenue) visible(id string, lag time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	at, ok := l.created[id]
	return ok && lag >= 0 && !l.clk.Now().Before(at.Add(lag))
}

func (l *laggyVenue) QueryOrder(ctx context.Context, symbol, id string) (venue.Order, error) {
	if !l.visible(id, l.lookupLag) {
		return venue.Order{}, &venue.Error{Class: venue.ClassNotFound, Code: -2013, Message: "Order does not exist."}
	}
	return l.spyVenue.QueryOrder(ctx, symbol, id)
}

func (l *laggyVenue) OrderHistory(ctx context.Context, symbol string, from, to time.Time) ([]venue.Order, error) {
	all, err := l.acct.OrderHistory(ctx, symbol, time.Time{}, time.Time{})
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(o venue.Order) bool { return !l.visible(o.ClientOrderID, l.historyLag) }), nil
}

type certaintyBundle struct {
	*bundle
	clk *jumpClock
	lv  *laggyVenue
	x   *journal.Executor
}

func setupLaggy(t *testing.T, lookupLag, historyLag time.Duration) *certaintyBundle {
	t.Helper()
	b := setup(t, nil)
	clk := &jumpClock{}
	lv := &laggyVenue{spyVenue: b.spy, acct: b.acct, clk: clk, lookupLag: lookupLag, historyLag: historyLag, created: map[string]time.Time{}}
	x := journal.NewExecutor(b.j, lv, b.account, journal.ExecutorOptions{Alerter: b.alerts, Metrics: b.metrics, Clock: clk,
		Backoff: time.Millisecond, SettleTries: 3, RecvWindow: 5 * time.Second, ConsistencyLag: 90 * time.Second, SettleWait: -1})
	return &certaintyBundle{bundle: b, clk: clk, lv: lv, x: x}
}

func (c *certaintyBundle) status(t *testing.T, id string) string {
	t.Helper()
	o, err := c.db.OrderByClientID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return o.Status
}

// TestUnknownUntilCertain: after an unknown outcome, "not found" becomes
// proof only once recvWindow and the venue's consistency lag have passed
// since the send and the order history lacks the id too. The old rule (10 s
// of not found, NotFoundGrace) failed an order the venue had executed but
// not yet shown; here it is filled with its fill once the venue shows it.
func TestUnknownUntilCertain(t *testing.T) {
	t.Parallel()
	t.Run("executed but invisible for 62 s", func(t *testing.T) {
		t.Parallel()
		c := setupLaggy(t, 62*time.Second, 62*time.Second)
		c.acct.Faults().Next(paper.OpPlace, paper.FaultTimeoutAfterExecution)
		_, err := c.x.Place(ctx, c.intent("late-1"))
		if !errors.Is(err, venue.ErrUnknownOutcome) {
			t.Fatalf("Place: %v, want an unknown outcome", err)
		}
		for _, step := range []time.Duration{11 * time.Second, 20 * time.Second, 30 * time.Second} {
			c.clk.Jump(step)
			if _, err := c.x.SettleUnknown(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := c.x.Reconcile(ctx); err != nil {
				t.Fatal(err)
			}
			if got := c.status(t, "late-1"); got != store.OrderUnknown {
				t.Fatalf("after %v: status %s, want unknown (the venue has executed it)", step, got)
			}
		}
		// 61 s old: the warning was raised, not yet the critical one.
		if al := c.alerts.Alerts(); len(al) != 1 || al[0].Severity != alert.Warning {
			t.Fatalf("alerts at 61 s: %+v, want one warning", al)
		}
		c.clk.Jump(2 * time.Second)
		rep, err := c.x.SettleUnknown(ctx)
		if err != nil || rep.Settled != 1 {
			t.Fatalf("settle at 63 s: %+v %v", rep, err)
		}
		if got := c.status(t, "late-1"); got != string(venue.StatusFilled) {
			t.Fatalf("status %s, want filled", got)
		}
		fills, _ := c.db.Fills(ctx, store.FillQuery{AccountID: c.account})
		if len(fills) != 1 || fills[0].ClientOrderID != "late-1" {
			t.Fatalf("fills %+v", fills)
		}
		if c.spy.sent("late-1") != 1 {
			t.Fatalf("sent %d times", c.spy.sent("late-1"))
		}
	})
	t.Run("never executed", func(t *testing.T) {
		t.Parallel()
		c := setupLaggy(t, 0, 0)
		c.acct.Faults().Next(paper.OpPlace, paper.FaultTimeoutBeforeExecution)
		if _, err := c.x.Place(ctx, c.intent("lost-1")); !errors.Is(err, venue.ErrUnknownOutcome) {
			t.Fatalf("Place: %v, want an unknown outcome", err)
		}
		c.clk.Jump(94 * time.Second) // recvWindow 5 s + lag 90 s not yet passed
		c.x.SettleUnknown(ctx)
		if got := c.status(t, "lost-1"); got != store.OrderUnknown {
			t.Fatalf("at 94 s: status %s, want unknown", got)
		}
		if al := c.alerts.Alerts(); len(al) != 1 || al[0].Severity != alert.Critical {
			t.Fatalf("alerts at 94 s: %+v, want one critical (past the lag)", al)
		}
		// A replayed step asks again: answered unknown, nothing sent.
		if _, err := c.x.Place(ctx, c.intent("lost-1")); !errors.Is(err, venue.ErrUnknownOutcome) {
			t.Fatalf("replayed Place: %v", err)
		}
		c.clk.Jump(2 * time.Second)
		rep, err := c.x.SettleUnknown(ctx)
		if err != nil || rep.Settled != 1 {
			t.Fatalf("settle at 96 s: %+v %v", rep, err)
		}
		if got := c.status(t, "lost-1"); got != store.OrderFailed {
			t.Fatalf("status %s, want failed", got)
		}
		if got := c.kinds(t, "lost-1"); !slices.Contains(got, "failed(not_found)") {
			t.Fatalf("kinds %q", got)
		}
		if c.spy.sent("lost-1") != 1 {
			t.Fatalf("sent %d times", c.spy.sent("lost-1"))
		}
	})
	t.Run("lookup never shows it, the history does", func(t *testing.T) {
		t.Parallel()
		c := setupLaggy(t, -1, 0)
		c.acct.Faults().Next(paper.OpPlace, paper.FaultTimeoutAfterExecution)
		c.x.Place(ctx, c.intent("hist-1"))
		c.clk.Jump(96 * time.Second)
		if _, err := c.x.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		if got := c.status(t, "hist-1"); got != string(venue.StatusFilled) {
			t.Fatalf("status %s, want filled from the order history", got)
		}
	})
}

// TestPlaceWaitsForACertaintyDueSoon: on a venue without lag the rule
// decides recvWindow after the send; the Place that met the unknown outcome
// waits for that and settles the order in one go (a step of a node that
// took the session over does not need another round).
func TestPlaceWaitsForACertaintyDueSoon(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *journal.ExecutorOptions) { o.SettleWait, o.RecvWindow = 0, 300*time.Millisecond })
	b.acct.Faults().Next(paper.OpPlace, paper.FaultTimeoutBeforeExecution)
	start := time.Now()
	_, err := b.x.Place(ctx, b.intent("soon-1"))
	var je *journal.Error
	if !errors.As(err, &je) || je.Kind != journal.KindFailed || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("Place: %v after %s, want failed once recvWindow (300 ms) passed", err, time.Since(start))
	}
	if o, _ := b.db.OrderByClientID(ctx, "soon-1"); o.Status != store.OrderFailed {
		t.Fatalf("status %s", o.Status)
	}
}
