package journal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// This file is the one rule by which the journal concludes that an order
// whose outcome is unknown never executed. "Not found" from a venue is not
// proof: Binance's order lookup is eventually consistent (orders have been
// reported as not existing about a minute after they were created). The
// executor concludes "never executed" only when
//
//  1. every request that could carry the order has expired: the venue
//     refuses a signed request that arrives after its timestamp plus
//     recvWindow, so no request stamped before the order's last possible
//     send can still land once RecvWindow has passed since then;
//  2. the venue's consistency lag has passed since then too (ConsistencyLag:
//     Binance 90 s by default, the paper venue 0), so the venue's views have
//     caught up with whatever it accepted; and
//  3. both the order lookup (QueryOrder) and, where the venue offers it, the
//     order history of the symbol around the order's time (OrderHistory)
//     lack the client order id.
//
// Until then the order stays unknown: its session's step stays open, and
// Reconcile and SettleUnknown ask again.

// OrderHistory is what a venue offers besides QueryOrder to find an order:
// its orders of one symbol created in [from, to) (Binance's allOrders).
// Venues without it are judged by QueryOrder alone.
type OrderHistory interface {
	OrderHistory(ctx context.Context, symbol string, from, to time.Time) ([]venue.Order, error)
}

// Defaults of the certainty rule.
const (
	DefaultRecvWindow        = 5 * time.Second
	DefaultBinanceLag        = 90 * time.Second
	DefaultUnknownAlertAfter = 30 * time.Second
)

// DefaultConsistencyLag is the lag assumed for a venue kind: 0 for the paper
// venue (its views are one map), DefaultBinanceLag for every other venue.
func DefaultConsistencyLag(venueName string) time.Duration {
	if venueName == "paper" {
		return 0
	}
	return DefaultBinanceLag
}

// historySlack widens the history window around an order's own time, for
// clocks that differ between us and the venue.
const historySlack = time.Minute

// absence is the verdict on an order the venue's lookup did not find.
type absence struct {
	proven   bool
	deadline time.Time // the earliest moment "not found" can be proof
	reason   string
	found    *venue.Order // the order history has it after all
}

// lastSend bounds the moment the last request that could carry o was
// stamped:
//   - the order's creation and its newest send event (this process writes
//     a sent, retry or unknown_outcome event after every answer, so its own
//     completed sends are covered; its sends in flight are never judged,
//     see inFlight). Later events (errors, queries) are not sends and do
//     not move the bound;
//   - an order sent by an earlier process (it was not sent here) may have
//     been sent up to MaxRetryAfter after its last event (a retry's wait),
//     but not after this process started;
//   - an order written under an older fencing token than the session's
//     lease now holds may have been sent by the previous owner, frozen
//     between its lease check and the send, until its lease ran out, which
//     is no later than when the current owner acquired it.
func (x *Executor) lastSend(ctx context.Context, o store.Order) (time.Time, error) {
	last := o.CreatedAt
	evs, err := x.j.db.JournalEvents(ctx, store.EventQuery{ClientOrderID: o.ClientOrderID, Limit: 200})
	if err != nil {
		return time.Time{}, fmt.Errorf("last send of order %q: %w", o.ClientOrderID, err)
	}
	for _, e := range evs { // newest first
		if sendKind(Kind(e.Kind)) {
			if e.At.After(last) {
				last = e.At
			}
			break
		}
	}
	if x.started.After(last) {
		// Sent (if at all) by an earlier process.
		last = minTime(x.started, last.Add(x.opts.MaxRetryAfter))
	}
	if o.SessionID != "" {
		l, err := x.j.db.Lease(ctx, o.SessionID)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return time.Time{}, fmt.Errorf("last send of order %q: %w", o.ClientOrderID, err)
		case l.Token > o.Fence && l.AcquiredAt.After(last):
			last = l.AcquiredAt
		}
	}
	return last, nil
}

// judgeAbsent applies the rule to an order QueryOrder just did not find.
func (x *Executor) judgeAbsent(ctx context.Context, o store.Order) (absence, error) {
	return x.judge(ctx, o, true)
}

func (x *Executor) judge(ctx context.Context, o store.Order, checkFlight bool) (absence, error) {
	if checkFlight && x.inFlight(o.ClientOrderID) {
		return absence{deadline: x.clock.Now().Add(x.opts.RecvWindow + x.opts.ConsistencyLag), reason: "a request for it is in flight here"}, nil
	}
	if fills, err := x.j.db.FillsOfOrder(ctx, x.account, o.ClientOrderID); err != nil {
		return absence{}, err
	} else if len(fills) > 0 {
		return absence{deadline: x.clock.Now().Add(x.opts.RecvWindow + x.opts.ConsistencyLag),
			reason: fmt.Sprintf("not found, but %d fills of it are recorded: it executed", len(fills))}, nil
	}
	last, err := x.lastSend(ctx, o)
	if err != nil {
		return absence{}, err
	}
	a := absence{deadline: last.Add(x.opts.RecvWindow + x.opts.ConsistencyLag)}
	now := x.clock.Now()
	if now.Before(a.deadline) {
		a.reason = fmt.Sprintf("not found, but a request sent at %s may still land or not be visible yet (recvWindow %s, consistency lag %s): unknown until %s",
			last.UTC().Format(time.RFC3339), x.opts.RecvWindow, x.opts.ConsistencyLag, a.deadline.UTC().Format(time.RFC3339))
		return a, nil
	}
	h, ok := x.v.(OrderHistory)
	if !ok {
		a.proven, a.reason = true, fmt.Sprintf("not found by lookup %s after the last possible send (the venue keeps no order history to ask)",
			now.Sub(last).Round(time.Millisecond))
		return a, nil
	}
	hist, err := x.history(ctx, h, o, a.deadline)
	if err != nil {
		a.reason = fmt.Sprintf("not found by lookup; order history not read: %v", err)
		return a, nil
	}
	for _, vo := range hist {
		if vo.ClientOrderID == o.ClientOrderID {
			vo := vo
			a.found, a.reason = &vo, "found in the order history"
			return a, nil
		}
	}
	a.proven, a.reason = true, fmt.Sprintf("neither the order lookup nor the order history has it, %s after the last possible send",
		now.Sub(last).Round(time.Millisecond))
	return a, nil
}

// sendKind reports whether an event of kind k is written around a send:
// the intent before the first, sent, retry and unknown_outcome after each.
func sendKind(k Kind) bool {
	return k == KindIntent || k == KindSent || k == KindRetry || k == KindUnknownOutcome
}

// historyEntry is one symbol's order history as read at a moment.
type historyEntry struct {
	at, from time.Time
	orders   []venue.Order
}

// historyFresh is how long one read of a symbol's order history answers
// for every order judged meanwhile (allOrders costs weight 20 on Binance; a
// takeover judges many orders at once).
const historyFresh = 3 * time.Second

// history returns the order history of o's symbol read after deadline
// (only a view taken after it counts) and covering o's creation, from a
// read shared by the orders judged within historyFresh.
func (x *Executor) history(ctx context.Context, h OrderHistory, o store.Order, deadline time.Time) ([]venue.Order, error) {
	now := x.clock.Now()
	from := o.CreatedAt.Add(-historySlack)
	x.fmu.Lock()
	e, ok := x.hist[o.Symbol]
	x.fmu.Unlock()
	if ok && !e.at.Before(deadline) && !e.from.After(from) && now.Sub(e.at) < historyFresh {
		return e.orders, nil
	}
	if day := now.Add(-23 * time.Hour); day.Before(from) {
		from = day // one read serves every order of the last day
	}
	orders, err := h.OrderHistory(ctx, o.Symbol, from, now.Add(historySlack))
	if err != nil {
		return nil, err
	}
	x.fmu.Lock()
	x.hist[o.Symbol] = historyEntry{at: now, from: from, orders: orders}
	x.fmu.Unlock()
	return orders, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// sending marks id as in flight on this executor until done is called.
func (x *Executor) sending(id string) (done func()) {
	x.fmu.Lock()
	x.flight[id]++
	x.fmu.Unlock()
	return func() {
		x.fmu.Lock()
		if x.flight[id]--; x.flight[id] <= 0 {
			delete(x.flight, id)
		}
		x.fmu.Unlock()
	}
}

func (x *Executor) inFlight(id string) bool {
	x.fmu.Lock()
	defer x.fmu.Unlock()
	return x.flight[id] > 0
}
