package app

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/tradeall"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// stepper runs Trade All's steps through the session manager, with client
// order ids derived from the run key (<ref>-<n>) so that after a crash the
// journal tells exactly what a step sent: the intent row is committed before
// any request leaves, so no row under a step's prefix means nothing of it can
// be at the venue.
type stepper struct{ a *App }

var _ tradeall.Stepper = stepper{}

func stepOrderID(key tradeall.StepKey, n int) string {
	return fmt.Sprintf("%s-%d", key.Ref(), n)
}

func (s stepper) Plan(ctx context.Context, sessionID string) (tradeall.Plan, error) {
	se, err := s.a.sessions.Get(ctx, sessionID)
	if err != nil {
		return tradeall.Plan{}, err
	}
	if skip := skipFor(se.State); skip != "" {
		return tradeall.Plan{Skip: skip, Message: "session is " + string(se.State)}, nil
	}
	rep, err := s.a.sessions.Preview(ctx, sessionID)
	if err != nil {
		return tradeall.Plan{}, err
	}
	plan := tradeall.Plan{Allocation: tradeall.Allocation{OK: true}}
	if rep.Skip != "" {
		plan.Skip, plan.Message = tradeall.SkipNothingToDo, rep.Skip
	}
	for i, req := range rep.Planned {
		plan.Orders = append(plan.Orders, tradeall.Order{Symbol: req.Symbol, Side: req.Side, Type: req.Type,
			Quantity: req.Quantity, QuoteQuantity: req.QuoteQuantity, Price: req.Price})
		in := journal.Intent{SessionID: sessionID, AccountID: se.AccountID, Request: req}
		in.Request.ClientOrderID = fmt.Sprintf("preview-%d", i)
		if err := (allocationChecker{s.a}).CheckOrder(ctx, in); err != nil && plan.Allocation.OK {
			plan.Allocation = tradeall.Allocation{OK: false, Message: err.Error()}
		}
	}
	if len(rep.Planned) == 0 && plan.Skip == "" {
		plan.Skip = tradeall.SkipNothingToDo
	}
	if !plan.Allocation.OK && plan.Skip == "" {
		plan.Skip = tradeall.SkipAllocationExceeded
	}
	return plan, nil
}

func skipFor(st session.State) tradeall.SkipReason {
	switch st {
	case session.Running:
		return ""
	case session.Paused:
		return tradeall.SkipPaused
	case session.Quarantined:
		return tradeall.SkipQuarantined
	default:
		return tradeall.SkipNotRunning
	}
}

func (s stepper) Step(ctx context.Context, req tradeall.StepRequest) (tradeall.StepResult, error) {
	se, err := s.a.sessions.Get(ctx, req.Key.SessionID)
	if err != nil {
		return tradeall.StepResult{}, err
	}
	if skip := skipFor(se.State); skip != "" {
		return tradeall.StepResult{Skip: skip, Message: "session is " + string(se.State)}, nil
	}
	rep, err := s.a.sessions.TradeNowWith(ctx, req.Key.SessionID, "trade-all:"+req.Key.RunID, session.StepOptions{
		ClientOrderID: func(n int) string { return stepOrderID(req.Key, n) },
		BeforePlace:   req.Pace,
		Trigger:       "trade-all",
	})
	if err != nil {
		return tradeall.StepResult{}, err
	}
	res := tradeall.StepResult{}
	for _, o := range rep.Placed {
		res.Orders = append(res.Orders, orderOf(o))
	}
	switch {
	case rep.Error != "":
		// A refused or failed order keeps its venue class through the
		// journal's record of it.
		return res, s.stepError(ctx, req.Key, rep)
	case len(rep.OrderErrors) > 0 && len(rep.Placed) == 0:
		return res, s.stepError(ctx, req.Key, rep)
	case rep.Skip != "" && len(rep.Placed) == 0:
		res.Skip, res.Message = classifySkip(rep.Skip), rep.Skip
	}
	return res, nil
}

// stepError recovers the class of a failed step from the journal's record
// of its orders, so Trade All reports "insufficient_funds", not "internal".
func (s stepper) stepError(ctx context.Context, key tradeall.StepKey, rep session.StepReport) error {
	msg := rep.Error
	if msg == "" {
		msg = strings.Join(rep.OrderErrors, "; ")
	}
	orders, err := s.a.db.OrdersByClientPrefix(ctx, key.Ref()+"-")
	if err == nil {
		for _, o := range orders {
			evs, err := s.a.db.JournalEvents(ctx, store.EventQuery{ClientOrderID: o.ClientOrderID, FailuresOnly: true, Limit: 1})
			if err == nil && len(evs) > 0 && evs[0].ErrorClass != "" {
				return &venue.Error{Class: venue.Class(evs[0].ErrorClass), Code: int(evs[0].ErrorCode), Message: msg}
			}
		}
	}
	if strings.Contains(msg, "panic") || rep.ErrorKind == session.FailPanic {
		return fmt.Errorf("panic: %s", msg)
	}
	return errors.New(msg)
}

// classifySkip maps the strategy's free-text skip to Trade All's reasons.
func classifySkip(s string) tradeall.SkipReason {
	switch {
	case strings.Contains(s, "allocation"):
		return tradeall.SkipAllocationExceeded
	case strings.Contains(s, "paused"):
		return tradeall.SkipPaused
	case strings.Contains(s, "quarantine"):
		return tradeall.SkipQuarantined
	}
	return tradeall.SkipNothingToDo
}

// Settle tells Trade All what a step that may have started before a crash
// did: no stored order under its prefix means nothing was sent; otherwise
// each order is settled with the venue by client order id (Place on a
// stored id sends nothing: it reconciles).
func (s stepper) Settle(ctx context.Context, key tradeall.StepKey) (tradeall.Settlement, error) {
	orders, err := s.a.db.OrdersByClientPrefix(ctx, key.Ref()+"-")
	if err != nil {
		return tradeall.Settlement{}, err
	}
	if len(orders) == 0 {
		return tradeall.Settlement{Started: false}, nil
	}
	set := tradeall.Settlement{Started: true}
	for _, o := range orders {
		rt, err := s.a.account(o.AccountID)
		if err != nil {
			return set, err
		}
		in := journal.Intent{SessionID: o.SessionID, AccountID: o.AccountID, Fence: o.Fence, Request: venue.OrderRequest{
			ClientOrderID: o.ClientOrderID, Symbol: o.Symbol, Side: venue.Side(o.Side), Type: venue.OrderType(o.Type),
			Quantity: o.Quantity, QuoteQuantity: o.QuoteQuantity, Price: o.Price}}
		vo, err := rt.x.Place(ctx, in)
		if err != nil {
			set.Err = err
			continue
		}
		set.Result.Orders = append(set.Result.Orders, orderOf(vo))
	}
	return set, nil
}

func orderOf(o venue.Order) tradeall.Order {
	return tradeall.Order{ClientOrderID: o.ClientOrderID, Symbol: o.Symbol, Side: o.Side, Type: o.Type, Quantity: o.Quantity,
		Price: o.Price, Status: string(o.Status), ExecutedQty: o.ExecutedQty}
}
