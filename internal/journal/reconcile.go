package journal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tradeplane/tradeplane/internal/alert"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// ReconcileResult is what Reconcile did with one order.
type ReconcileResult struct {
	ClientOrderID string
	Before        string // stored status before
	After         string // stored status after
	Err           error
}

// ReconcileReport summarizes one Reconcile run.
type ReconcileReport struct {
	Checked   int // non-terminal orders looked at
	Settled   int // now terminal
	Open      int // still open at the venue (new, partially filled)
	Unsettled int // could not be settled this time (errors, or not yet proven absent)
	Results   []ReconcileResult
}

// Reconcile settles every non-terminal order of the executor's account by
// QueryOrder, journaling the venue's answer (reconciled plus the status
// events) and recording fills. The rules:
//
//   - found: the stored order takes the venue's status; terminal ones are
//     settled, open ones stay open;
//   - not found: judged by the certainty rule (certainty.go). Until it is
//     proven absent (recvWindow and the venue's consistency lag passed since
//     the last possible send, and the order history lacks it too) it is left
//     as it is; found in the order history, that answer is recorded;
//   - proven absent, never acknowledged (intent or unknown): the venue never
//     saw it, so it becomes failed (terminal) with class not_found;
//   - not found, but acknowledged before (new, partially filled): the venue
//     has dropped it, as venues do with old canceled orders without fills, so
//     it becomes canceled (terminal) with its stored executed quantity, and a
//     warning is raised;
//   - any other error: left as it is, journaled, counted and alerted.
//
// Run it at start-up before trading and on a schedule (RunReconciler).
func (x *Executor) Reconcile(ctx context.Context) (ReconcileReport, error) {
	var rep ReconcileReport
	orders, err := x.j.db.NonTerminalOrders(ctx, x.account)
	if err != nil {
		x.m.failure(ClassStore)
		x.alerter.Raise(context.WithoutCancel(ctx), alert.Alert{Severity: alert.Critical, Source: "executor", AccountID: x.account,
			Message: fmt.Sprintf("reconcile account %d: %v", x.account, err)})
		return rep, fmt.Errorf("reconcile account %d: %w", x.account, err)
	}
	for _, o := range orders {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		rep.Checked++
		res := x.reconcileOne(ctx, o)
		rep.Results = append(rep.Results, res)
		switch {
		case store.TerminalOrderStatus(res.After):
			rep.Settled++
		case res.After == string(venue.StatusNew) || res.After == string(venue.StatusPartiallyFilled):
			rep.Open++
		default:
			rep.Unsettled++
			if unsettled(res.After) {
				x.alertUnknown(ctx, o)
			}
		}
	}
	return rep, nil
}

func (x *Executor) reconcileOne(ctx context.Context, o store.Order) ReconcileResult {
	res := ReconcileResult{ClientOrderID: o.ClientOrderID, Before: o.Status, After: o.Status}
	in := Intent{SessionID: o.SessionID, AccountID: o.AccountID, Fence: o.Fence, Request: venue.OrderRequest{
		ClientOrderID: o.ClientOrderID, Symbol: o.Symbol, Side: venue.Side(o.Side), Type: venue.OrderType(o.Type),
		Quantity: o.Quantity, Price: o.Price}}
	from := Outcome("")
	if o.Status == store.OrderUnknown {
		from = OutcomeUnsettled
	}
	start := time.Now()
	vo, err := x.v.QueryOrder(ctx, o.Symbol, o.ClientOrderID)
	x.m.observe("query", time.Since(start))
	switch cls := venue.ClassOf(err); {
	case err == nil:
		if string(vo.Status) != o.Status || !vo.ExecutedQty.Equal(o.ExecutedQty) {
			x.m.settled(string(vo.Status))
			if o.Status == store.OrderIntent || o.Status == store.OrderUnknown {
				x.m.outcome(o.SessionID, outcomeOf(vo.Status), from)
			}
			if _, err := x.answered(ctx, in, vo, "reconciled", nil); err != nil {
				res.Err = err
				return res
			}
		} else if !vo.ExecutedQty.IsZero() && vo.VenueOrderID != "" {
			x.fetchFills(ctx, in, vo)
		}
		res.After = string(vo.Status)
	case cls == venue.ClassNotFound:
		ab, err := x.judgeAbsent(ctx, o)
		switch {
		case err != nil:
			res.Err = err
			return res
		case ab.found != nil:
			// The lookup lags; the order history has it.
			x.m.settled(string(ab.found.Status))
			if o.Status == store.OrderIntent || o.Status == store.OrderUnknown {
				x.m.outcome(o.SessionID, outcomeOf(ab.found.Status), from)
			}
			if _, err := x.answered(ctx, in, *ab.found, "reconciled from the order history", nil); err != nil {
				res.Err = err
				return res
			}
			res.After = string(ab.found.Status)
			return res
		case !ab.proven:
			return res
		}
		if o.Status == store.OrderIntent || o.Status == store.OrderUnknown {
			if err := x.neverExecuted(ctx, in, o, from, ab, nil); err != nil {
				var je *Error
				if !errors.As(err, &je) || je.Kind != KindFailed {
					res.Err = err
					return res
				}
			}
			res.After = store.OrderFailed
			if now, err := x.j.db.OrderByClientID(ctx, o.ClientOrderID); err == nil {
				res.After = now.Status // corrected, when a fill was recorded meanwhile
			}
			return res
		}
		rec := x.base(KindReconciled, in)
		rec.ErrorClass = string(venue.ClassNotFound)
		res.After = string(venue.StatusCanceled)
		rec.Message = "venue no longer knows an acknowledged order; assumed canceled (" + ab.reason + ")"
		final := x.base(KindCanceled, in)
		final.VenueOrderID, final.FilledQty, final.Message = o.VenueOrderID, o.ExecutedQty, rec.Message
		x.m.failure(string(venue.ClassNotFound))
		x.m.settled(res.After)
		if _, err := x.durable(ctx, in, write{update: &store.OrderUpdate{ClientOrderID: o.ClientOrderID, Status: res.After,
			ExecutedQty: o.ExecutedQty, QuoteQty: o.QuoteQty, Fence: o.Fence, At: x.clock.Now()}, events: []*Event{rec, final}}); err != nil {
			res.After, res.Err = o.Status, err
			return res
		}
		x.raise(ctx, alert.Warning, in, "reconcile order %q: %s: now %s", o.ClientOrderID, rec.Message, res.After)
		x.recheckVerdict(ctx, in, o.ClientOrderID)
		if now, err := x.j.db.OrderByClientID(ctx, o.ClientOrderID); err == nil {
			res.After = now.Status
		}
	default:
		x.m.failure(string(cls))
		ev := x.base(KindError, in)
		withErr(ev, err)
		ev.Message = "reconcile: " + ev.Message
		x.durable(ctx, in, write{events: []*Event{ev}})
		x.raise(ctx, alert.Warning, in, "reconcile order %q: %v", o.ClientOrderID, err)
		res.Err = fmt.Errorf("reconcile order %q: %w", o.ClientOrderID, err)
	}
	return res
}

// RunReconciler runs Reconcile every interval until ctx ends; its owner
// stops it by canceling ctx and waits for it to return.
func (x *Executor) RunReconciler(ctx context.Context, every time.Duration) error {
	t := x.clock.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C():
			if rep, err := x.Reconcile(ctx); err != nil && ctx.Err() == nil {
				x.log.Error("scheduled reconciliation failed", "err", err)
			} else if rep.Unsettled > 0 {
				x.log.Warn("orders left unsettled", "count", rep.Unsettled)
			}
		}
	}
}

// unsettled reports whether a stored status is an outcome not yet known.
func unsettled(status string) bool {
	return status == store.OrderIntent || status == store.OrderUnknown
}

// SettleUnknown is Reconcile for the orders whose outcome is unknown
// (intent or unknown, not in flight here), run often (every few seconds) so
// an unknown order is settled as soon as the venue's answer is certain. It
// also raises the alerts of orders that stay unknown: a warning once one is
// UnknownAlertAfter old, a critical alert at max(ConsistencyLag,
// 2×UnknownAlertAfter).
func (x *Executor) SettleUnknown(ctx context.Context) (ReconcileReport, error) {
	var rep ReconcileReport
	orders, err := x.j.db.NonTerminalOrders(ctx, x.account)
	if err != nil {
		return rep, fmt.Errorf("settle unknown orders of account %d: %w", x.account, err)
	}
	still := map[string]bool{}
	for _, o := range orders {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		if !unsettled(o.Status) || x.inFlight(o.ClientOrderID) {
			continue
		}
		rep.Checked++
		res := x.reconcileOne(ctx, o)
		rep.Results = append(rep.Results, res)
		if store.TerminalOrderStatus(res.After) {
			rep.Settled++
		} else if unsettled(res.After) {
			rep.Unsettled++
			still[o.ClientOrderID] = true
			x.alertUnknown(ctx, o)
		} else {
			rep.Open++
		}
	}
	x.fmu.Lock()
	for id := range x.alerted {
		if !still[id] {
			delete(x.alerted, id)
		}
	}
	x.fmu.Unlock()
	return rep, nil
}

// alertUnknown raises the age alerts of an order still unknown, each
// severity once per order.
func (x *Executor) alertUnknown(ctx context.Context, o store.Order) {
	age := x.clock.Now().Sub(o.CreatedAt)
	sev := alert.Severity("")
	switch {
	case age >= max(x.opts.ConsistencyLag, 2*x.opts.UnknownAlertAfter):
		sev = alert.Critical
	case age >= x.opts.UnknownAlertAfter:
		sev = alert.Warning
	default:
		return
	}
	x.fmu.Lock()
	prev := x.alerted[o.ClientOrderID]
	if prev == sev || prev == alert.Critical {
		x.fmu.Unlock()
		return
	}
	x.alerted[o.ClientOrderID] = sev
	x.fmu.Unlock()
	in := Intent{SessionID: o.SessionID, AccountID: o.AccountID, Fence: o.Fence}
	x.raise(ctx, sev, in, "order %q (%s %s %s) of session %s: outcome unknown for %s; the session makes no new decision on %s until the venue's answer is certain",
		o.ClientOrderID, o.Side, o.Quantity, o.Symbol, o.SessionID, age.Round(time.Second), o.Symbol)
}

// forgetUnknown drops an order settled from the alert bookkeeping.
func (x *Executor) forgetUnknown(id string) {
	x.fmu.Lock()
	delete(x.alerted, id)
	x.fmu.Unlock()
}

// RunUnknownSettler runs SettleUnknown every interval until ctx ends; its
// owner stops it by canceling ctx and waits for it to return.
func (x *Executor) RunUnknownSettler(ctx context.Context, every time.Duration) error {
	t := x.clock.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C():
			if _, err := x.SettleUnknown(ctx); err != nil && ctx.Err() == nil {
				x.log.Error("settling unknown orders failed", "err", err)
			}
		}
	}
}
