package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

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

// retryOrderID is the n-th order id of attempt k > 0 of a step: a step run
// again after Settle found that none of its earlier attempts' stored orders
// executed (the node died before sending) takes ids of its own, so the ids
// of those attempts are never reused (<ref>-r<k>-<n>).
func retryOrderID(key tradeall.StepKey, k, n int) string {
	return fmt.Sprintf("%s-r%d-%d", key.Ref(), k, n)
}

// nextAttempt is the attempt number after every attempt of the step whose
// orders are stored.
func (s stepper) nextAttempt(ctx context.Context, key tradeall.StepKey) (int, error) {
	orders, err := s.a.db.OrdersByClientPrefix(ctx, key.Ref()+"-")
	if err != nil {
		return 0, err
	}
	next := 0
	for _, o := range orders {
		k := 0
		if rest, ok := strings.CutPrefix(o.ClientOrderID, key.Ref()+"-r"); ok {
			fmt.Sscanf(rest, "%d-", &k)
		}
		next = max(next, k+1)
	}
	return next, nil
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
	cid := func(n int) string { return stepOrderID(req.Key, n) }
	if req.Resumed {
		k, err := s.nextAttempt(ctx, req.Key)
		if err != nil {
			return tradeall.StepResult{}, err
		}
		if k > 0 {
			cid = func(n int) string { return retryOrderID(req.Key, k, n) }
		}
	}
	rep, err := s.a.sessions.TradeNowWith(ctx, req.Key.SessionID, "trade-all:"+req.Key.RunID, session.StepOptions{
		ClientOrderID: cid,
		BeforePlace:   req.Pace,
		Trigger:       "trade-all",
	})
	if err != nil && len(rep.Placed) == 0 && s.notHere(ctx, req.Key, err) {
		// Another node owns the session now (or this one has not started
		// running it yet) and nothing of the step was sent: its owner
		// steps it.
		return tradeall.StepResult{}, fmt.Errorf("%w: %w", tradeall.ErrNotHere, err)
	}
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

// notHere reports whether a step refused with err belongs to another node:
// on several nodes, the session is not owned here (the lease moved) or is
// owned but not yet running here (adopted on the next heartbeat), and no
// order of the step is stored, so nothing of it can be at the venue.
func (s stepper) notHere(ctx context.Context, key tradeall.StepKey, err error) bool {
	if s.a.cluster == nil {
		return false
	}
	switch {
	case errors.Is(err, session.ErrNotOwner):
	case errors.Is(err, session.ErrIllegalState):
		// Refused as not running here although stored running: it still
		// runs on the node that lost it, or is being adopted here.
		se, gerr := s.a.sessions.Get(ctx, key.SessionID)
		if gerr != nil || (se.State != session.Running && se.State != session.Starting) {
			return false // a real state: the step is skipped
		}
	default:
		return false
	}
	orders, oerr := s.a.db.OrdersByClientPrefix(ctx, key.Ref()+"-")
	return oerr == nil && len(orders) == 0
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
// stored id sends nothing: it reconciles). When every stored order ends
// certainly unexecuted (the venue never saw it, or the lease check kept it
// from leaving), nothing of the step happened: it is not started, and the
// step runs again under new ids (StepRequest.Resumed).
func (s stepper) Settle(ctx context.Context, key tradeall.StepKey) (tradeall.Settlement, error) {
	orders, err := s.a.db.OrdersByClientPrefix(ctx, key.Ref()+"-")
	if err != nil {
		return tradeall.Settlement{}, err
	}
	if len(orders) == 0 {
		return tradeall.Settlement{Started: false}, nil
	}
	set := tradeall.Settlement{Started: true}
	unexecuted := 0
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
			if s.neverExecuted(ctx, o.ClientOrderID, err) {
				unexecuted++
				continue
			}
			set.Err = s.classed(ctx, o.ClientOrderID, err)
			continue
		}
		set.Result.Orders = append(set.Result.Orders, orderOf(vo))
	}
	if unexecuted == len(orders) {
		return tradeall.Settlement{Started: false}, nil
	}
	return set, nil
}

// failureClass is the class of a failed placement: the journal error's, or
// for an order that failed earlier ("stored") the class its journal
// recorded then.
func (s stepper) failureClass(ctx context.Context, clientOrderID string, err error) (string, int) {
	var je *journal.Error
	if !errors.As(err, &je) {
		return "", 0
	}
	if je.Class != "stored" {
		return je.Class, int(je.Code)
	}
	evs, qerr := s.a.db.JournalEvents(ctx, store.EventQuery{ClientOrderID: clientOrderID, FailuresOnly: true, Limit: 1})
	if qerr != nil || len(evs) == 0 {
		return je.Class, int(je.Code)
	}
	return evs[0].ErrorClass, int(evs[0].ErrorCode)
}

// neverExecuted reports whether a settled order certainly did not execute:
// the venue never saw it, or it was kept from leaving.
func (s stepper) neverExecuted(ctx context.Context, clientOrderID string, err error) bool {
	class, _ := s.failureClass(ctx, clientOrderID, err)
	return class == string(venue.ClassNotFound) || class == journal.ClassStaleFence
}

// classed wraps a placement error with its journal class for Trade All.
func (s stepper) classed(ctx context.Context, clientOrderID string, err error) error {
	if class, code := s.failureClass(ctx, clientOrderID, err); class != "" {
		return &tradeall.ClassError{Class: class, Code: code, Err: err}
	}
	return err
}

func orderOf(o venue.Order) tradeall.Order {
	return tradeall.Order{ClientOrderID: o.ClientOrderID, Symbol: o.Symbol, Side: o.Side, Type: o.Type, Quantity: o.Quantity,
		Price: o.Price, Status: string(o.Status), ExecutedQty: o.ExecutedQty}
}

// tradeAllChannel carries run ids between nodes: a node that creates a run,
// or has done its part of one, tells the others to look at it now.
const tradeAllChannel = "tradeplane_tradeall"

// shareTradeAll configures the Trade All runner for several nodes: each
// node steps the items of the sessions it owns, settles the items a dead
// node left in flight, and looks for such work every poll interval or when
// another node announces a run. On SQLite it leaves cfg alone.
func (a *App) shareTradeAll(cfg *tradeall.Config) {
	cfg.OnExecute = a.followRun
	if a.cluster == nil {
		return
	}
	ttl := a.leaseTTL()
	cfg.Node = a.nodeID
	cfg.Here = a.tradeAllHere
	cfg.Alive = func(ctx context.Context) (map[string]bool, error) {
		now := a.clk.Now()
		nodes, err := a.db.Nodes(ctx, now)
		if err != nil {
			return nil, err
		}
		alive := make(map[string]bool, len(nodes))
		for _, n := range nodes {
			alive[n.ID] = n.StoppedAt.IsZero() && now.Sub(n.HeartbeatAt) < ttl
		}
		return alive, nil
	}
	cfg.Poll = min(max(ttl/15, 100*time.Millisecond), time.Second)
	cfg.Announce = func(runID string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.db.Notify(ctx, tradeAllChannel, runID); err != nil {
			a.log.Debug("announce trade-all run", "run", runID, "err", err)
		}
	}
}

func (a *App) leaseTTL() time.Duration {
	if a.cfg.LeaseTTL > 0 {
		return a.cfg.LeaseTTL
	}
	return 15 * time.Second // the cluster's default
}

// listenTradeAll kicks the runner when another node announces a run.
func (a *App) listenTradeAll(ctx context.Context) error {
	if a.cluster == nil {
		return nil
	}
	ch, err := a.db.Listen(ctx, tradeAllChannel)
	if err != nil {
		return fmt.Errorf("listen for other nodes' trade-all runs: %w", err)
	}
	a.goLoop(func() {
		for id := range ch {
			a.tradeall.Kick(id)
		}
	})
	return nil
}

// tradeAllHere says which sessions this node steps: those whose lease it
// holds, and those no node will hold because they should not run (stopped,
// never started, deleted), which the stepper reports as skipped. A session
// that should run but whose lease another node holds, or nobody holds yet
// (its node died and the lease has not been taken over), is not here.
func (a *App) tradeAllHere(ctx context.Context, ids []string) ([]bool, error) {
	out := make([]bool, len(ids))
	rest := false
	for i, id := range ids {
		if _, err := a.cluster.Guard(id); err == nil {
			out[i] = true
		} else {
			rest = true
		}
	}
	if !rest {
		return out, nil
	}
	var missing []string
	for i, id := range ids {
		if !out[i] {
			missing = append(missing, id)
		}
	}
	list, err := a.sessions.List(ctx, session.Filter{IDs: missing})
	if err != nil {
		return nil, err
	}
	desired := make(map[string]session.Desired, len(list))
	for _, se := range list {
		desired[se.ID] = se.Desired
	}
	for i, id := range ids {
		if out[i] {
			continue
		}
		d, ok := desired[id]
		out[i] = !ok || (d != session.WantRunning && d != session.WantPaused)
	}
	return out, nil
}
