package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/livefeed"
	"github.com/tradeplane/tradeplane/internal/portfolio"
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

// attemptIDs names the orders of attempt k of a step
// (journal.TradeAllOrderID).
func attemptIDs(key tradeall.StepKey, k int) func(n int) string {
	ref := key.Ref()
	return func(n int) string { return journal.TradeAllOrderID(ref, k, n) }
}

// trade runs the session's step with the order ids cid. The step is named
// by its first order id (StepOptions.StepID), which the session saves as
// ClosedStep with the strategy state once every order has an outcome.
func (s stepper) trade(ctx context.Context, key tradeall.StepKey, cid func(int) string, pace func(context.Context) error) (session.StepReport, error) {
	// A rejected order (allocation check or venue) ends the step as an
	// abort of its caller, not a failure of the session: tradeAllPlacer
	// cancels sctx when the journal rejects one of the step's orders.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ref := key.Ref()
	tradeAllSteps.Store(ref, cancel)
	defer tradeAllSteps.Delete(ref)
	return s.a.sessions.TradeNowWith(sctx, key.SessionID, "trade-all:"+key.RunID, session.StepOptions{
		ClientOrderID: cid,
		StepID:        cid(0),
		BeforePlace:   pace,
		Trigger:       "trade-all",
	})
}

// nextAttempt is the attempt number after every attempt of the step whose
// orders are stored.
func (s stepper) nextAttempt(ctx context.Context, key tradeall.StepKey) (int, error) {
	orders, err := s.a.db.OrdersByClientPrefix(ctx, journal.TradeAllPrefix(key.Ref()))
	if err != nil {
		return 0, err
	}
	next := 0
	for _, o := range orders {
		k, _ := journal.TradeAllAttempt(key.Ref(), o.ClientOrderID) // 0 for an id of another form
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
		return tradeall.Plan{Skip: skip, Message: "session is " + string(se.State), Allocation: tradeall.Allocation{OK: true}}, nil
	}
	rep, err := s.a.sessions.Preview(ctx, sessionID)
	if err != nil {
		return tradeall.Plan{}, err
	}
	plan := tradeall.Plan{}
	for _, req := range rep.Planned {
		plan.Orders = append(plan.Orders, tradeall.Order{Symbol: req.Symbol, Side: req.Side, Type: req.Type,
			Quantity: req.Quantity, QuoteQuantity: req.QuoteQuantity, Price: req.Price})
	}
	if plan.Allocation, err = s.a.planAllocation(ctx, se, rep.Planned); err != nil {
		plan.Allocation = tradeall.Allocation{OK: false, Message: "allocation not checked: " + err.Error()}
	}
	switch {
	case rep.Skip != "":
		plan.Skip, plan.Message = tradeall.SkipOf(rep.SkipCode), rep.Skip
	case len(rep.Planned) == 0:
		plan.Skip, plan.Message = tradeall.SkipNothingToDo, rep.Note
	case !plan.Allocation.OK:
		plan.Skip, plan.Message = tradeall.SkipAllocationExceeded, plan.Allocation.Message
	}
	return plan, nil
}

// planAllocation is the allocation check of a step's planned orders taken
// together: the value of their buys (sells add no exposure) on top of the
// session's exposure, against its allocation, as the journal's check will
// judge them one by one.
func (a *App) planAllocation(ctx context.Context, se session.Session, reqs []venue.OrderRequest) (tradeall.Allocation, error) {
	total := udecimal.Zero
	for _, r := range reqs {
		value, err := portfolio.BuyValue(ctx, r, a.price)
		if err != nil {
			return tradeall.Allocation{}, err
		}
		total = total.Add(value)
	}
	if se.Allocation.Amount.IsZero() {
		return tradeall.Allocation{OK: true, Required: total, Unlimited: true}, nil
	}
	al := portfolio.SessionAllocation(se.ID, livefeed.AccountKey(store.Account{ID: se.AccountID}), string(se.Allocation.Kind), se.Allocation.Amount)
	exposure := a.tracker.exposure(se.ID)
	d, err := a.pf.CheckOrder(portfolio.OrderCheck{Allocation: al, Exposure: exposure, Order: total})
	if err != nil {
		return tradeall.Allocation{}, err
	}
	return tradeall.Allocation{OK: d.OK, Required: total, Available: d.Limit.Sub(exposure), Message: d.Reason}, nil
}

// skipFor is why a session in state st is skipped, "" when it can step.
func skipFor(st session.State) tradeall.SkipReason {
	if code := session.SkipCode(st); code != "" {
		return tradeall.SkipOf(code)
	}
	return ""
}

// transientWait bounds how long a step waits for a session that is starting
// or restarting (just adopted after a failover, resumed at boot, or in a
// short restart backoff) before it is skipped as not running.
const transientWait = 10 * time.Second

// whileTransient calls f until it reports the session settled, for at most
// transientWait, 50 ms apart; ctx's end stops the wait early.
func (s stepper) whileTransient(ctx context.Context, f func() (transient bool)) {
	deadline := time.Now().Add(transientWait)
	for f() && !time.Now().After(deadline) {
		if clock.Sleep(ctx, s.a.clk, 50*time.Millisecond) != nil {
			return
		}
	}
}

// settledSession reads a session, waiting up to transientWait while it is
// starting or restarting: a run must not skip a session only because it
// reached it in the instant between its adoption and its first step.
func (s stepper) settledSession(ctx context.Context, id string) (se session.Session, err error) {
	s.whileTransient(ctx, func() bool {
		se, err = s.a.sessions.Get(ctx, id)
		return err == nil && (se.State == session.Starting || se.State == session.Restarting)
	})
	return se, err
}

// tradeHere is trade, waiting up to transientWait while this node refuses
// the step only because the session does not run here yet. After a
// failover the surviving node holds the lease before the session runs on
// it: adopting reconciles the account, then moves the session from its
// stored state (running, as the dead node left it) through restarting and
// starting. A step that reaches it in between is refused as "running" or
// "restarting" although the session is about to step here; so is one that
// reaches a session in a short restart backoff. Such a refusal comes
// before the strategy runs, so nothing of the step was sent and trying
// again under the same ids sends nothing twice.
func (s stepper) tradeHere(ctx context.Context, key tradeall.StepKey, cid func(int) string, pace func(context.Context) error) (rep session.StepReport, err error) {
	s.whileTransient(ctx, func() bool {
		rep, err = s.trade(ctx, key, cid, pace)
		return notRunningYet(rep, err)
	})
	return rep, err
}

// notRunningYet reports whether a step was refused, with nothing done,
// because the session is on its way to running on this node: the refusal
// names a state in which the session should run (stored running or
// starting, with no runner here yet, or restarting).
func notRunningYet(rep session.StepReport, err error) bool {
	var se *session.StateError
	if len(rep.Placed) > 0 || len(rep.Canceled) > 0 || !errors.As(err, &se) {
		return false
	}
	switch se.State {
	case session.Running, session.Starting, session.Restarting:
		return true
	}
	return false
}

func (s stepper) Step(ctx context.Context, req tradeall.StepRequest) (tradeall.StepResult, error) {
	se, err := s.settledSession(ctx, req.Key.SessionID)
	if err != nil {
		return tradeall.StepResult{}, err
	}
	if skip := skipFor(se.State); skip != "" {
		return tradeall.StepResult{Skip: skip, Message: "session is " + string(se.State)}, nil
	}
	cid := attemptIDs(req.Key, 0)
	if req.Resumed {
		k, err := s.nextAttempt(ctx, req.Key)
		if err != nil {
			return tradeall.StepResult{}, err
		}
		cid = attemptIDs(req.Key, k)
	}
	rep, err := s.tradeHere(ctx, req.Key, cid, req.Pace)
	if err != nil && len(rep.Placed) == 0 && s.notHere(ctx, req.Key, err) {
		// Another node owns the session now (or this one has not started
		// running it yet) and nothing of the step was sent: its owner
		// steps it.
		return tradeall.StepResult{}, fmt.Errorf("%w: %w", tradeall.ErrNotHere, err)
	}
	return s.result(ctx, req.Key, rep, err)
}

// result reads a step's report and error as Trade All's result: done when
// it placed or canceled orders; skipped when the session could not step
// (paused, quarantined, not running), the allocation check refused its
// order, or the strategy had nothing to do; failed with the journal's error
// class otherwise.
func (s stepper) result(ctx context.Context, key tradeall.StepKey, rep session.StepReport, err error) (tradeall.StepResult, error) {
	res := tradeall.StepResult{Message: rep.Note}
	for _, o := range rep.Placed {
		res.Orders = append(res.Orders, orderOf(o))
	}
	acted := len(rep.Placed) > 0 || len(rep.Canceled) > 0
	if err == nil && rep.Error == "" && len(rep.OrderErrors) == 0 {
		switch {
		case acted:
		case rep.Skip != "":
			res.Skip, res.Message = tradeall.SkipOf(rep.SkipCode), rep.Skip
		default:
			res.Skip = tradeall.SkipNothingToDo
		}
		return res, nil
	}
	if errors.Is(err, session.ErrIllegalState) && rep.Skip != "" && !acted {
		// The session left running between the check above and the step.
		res.Skip, res.Message = tradeall.SkipOf(rep.SkipCode), rep.Note
		return res, nil
	}
	class, code, refused := s.stepFailure(ctx, key, err)
	msg := rep.Error
	if msg == "" {
		msg = strings.Join(rep.OrderErrors, "; ")
	}
	if msg == "" && err != nil {
		msg = err.Error()
	}
	switch {
	case class == journal.ClassAllocation && !acted:
		res.Skip, res.Message = tradeall.SkipAllocationExceeded, refused
		return res, nil
	case class == journal.ClassAllocation:
		// Orders placed before the refusal: the step did something.
		res.Message = "stopped at the allocation check: " + refused
		return res, nil
	case class != "":
		if refused != "" {
			msg = refused // the journal's words, without the session's wrapping
		}
		return res, &tradeall.ClassError{Class: class, Code: code, Err: errors.New(msg)}
	case rep.ErrorKind == session.FailPanic:
		return res, &tradeall.ClassError{Class: tradeall.ClassPanic, Err: errors.New(msg)}
	case rep.ErrorKind == session.FailStuck:
		return res, &tradeall.ClassError{Class: tradeall.ClassTimeout, Err: errors.New(msg)}
	case err != nil:
		return res, err
	}
	return res, errors.New(msg)
}

// stepFailure finds the journal's class of a failed step: from the
// *journal.Error the strategy returned, or, when the strategy swallowed it,
// from the journal's failure records of the step's orders. refused is the
// reason of the journal's refusal.
func (s stepper) stepFailure(ctx context.Context, key tradeall.StepKey, err error) (class string, code int, refused string) {
	var je *journal.Error
	if errors.As(err, &je) {
		class, code = s.failureClass(ctx, je.ClientOrderID, je)
		refused = je.Error()
		if je.Err != nil {
			refused = je.Err.Error()
		}
		return class, code, refused
	}
	orders, oerr := s.a.db.OrdersByClientPrefix(ctx, journal.TradeAllPrefix(key.Ref()))
	if oerr != nil {
		return "", 0, ""
	}
	for _, o := range orders {
		evs, qerr := s.a.db.JournalEvents(ctx, store.EventQuery{ClientOrderID: o.ClientOrderID, FailuresOnly: true, Limit: 1})
		if qerr == nil && len(evs) > 0 && evs[0].ErrorClass != "" {
			return evs[0].ErrorClass, int(evs[0].ErrorCode), evs[0].Message
		}
	}
	return "", 0, ""
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
	orders, oerr := s.a.db.OrdersByClientPrefix(ctx, journal.TradeAllPrefix(key.Ref()))
	return oerr == nil && len(orders) == 0
}

// Settle tells Trade All what a step that may have started before a crash
// did: no stored order under its prefix means nothing was sent; otherwise
// each order is settled with the venue by client order id (Place on a
// stored id sends nothing: it reconciles). When every stored order ends
// certainly unexecuted (the venue never saw it, or the lease check kept it
// from leaving), nothing of the step happened: it is not started, and the
// step runs again under new ids (StepRequest.Resumed).
func (s stepper) Settle(ctx context.Context, key tradeall.StepKey) (tradeall.Settlement, error) {
	orders, err := s.a.db.OrdersByClientPrefix(ctx, journal.TradeAllPrefix(key.Ref()))
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
	return s.replayUnsaved(ctx, key, set), nil
}

// replayUnsaved replays a settled step whose outcome never reached the
// strategy's saved state (the node died between the venue's answer and the
// session's save: its ClosedStep does not name the step): the strategy
// decides again under the same order ids, and the journal answers them, so
// what it records matches what the venue did, and nothing is sent twice. A
// session that cannot step now (paused, owned elsewhere) keeps the
// settlement as it is, with a warning: its state then lacks the step.
func (s stepper) replayUnsaved(ctx context.Context, key tradeall.StepKey, set tradeall.Settlement) tradeall.Settlement {
	k, err := s.nextAttempt(ctx, key)
	if err != nil || k == 0 {
		return set
	}
	cid := attemptIDs(key, k-1) // the attempt whose orders are stored
	se, err := s.settledSession(ctx, key.SessionID)
	if err != nil || se.ClosedStep == cid(0) {
		return set
	}
	if skip := skipFor(se.State); skip != "" {
		s.a.log.Warn("trade-all: a settled step cannot be replayed; the session's strategy state lacks it",
			"session", key.SessionID, "run", key.RunID, "state", se.State)
		return set
	}
	rep, err := s.tradeHere(ctx, key, cid, nil)
	if err != nil && len(rep.Placed) == 0 && s.notHere(ctx, key, err) {
		s.a.log.Warn("trade-all: a settled step cannot be replayed here; the session's strategy state lacks it",
			"session", key.SessionID, "run", key.RunID, "err", err)
		return set
	}
	res, rerr := s.result(ctx, key, rep, err)
	return tradeall.Settlement{Started: true, Result: res, Err: rerr}
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

// tradeAllSteps holds the cancel function of every Trade All step in flight
// in this process, by its client order id ref (unique per run and session).
var tradeAllSteps sync.Map

// tradeAllPlacer is the order placer Trade All's steps trade through: when
// the journal rejects one of a Trade All step's orders (the allocation check
// refused it, or the venue rejected it), it cancels the step, so that the
// rejection ends the step as its caller's abort rather than counting as a
// failure of the session (restart policy, quarantine). The rejection itself
// is journaled, counted and alerted by the journal as always.
type tradeAllPlacer struct{ session.OrderPlacer }

func (p tradeAllPlacer) Place(ctx context.Context, in session.Intent) (venue.Order, error) {
	o, err := p.OrderPlacer.Place(ctx, in)
	var je *journal.Error
	if err != nil && errors.As(err, &je) && je.Kind == journal.KindRejected {
		// Ids are <ref>-<n> or <ref>-r<k>-<n>, ref 13 characters.
		if id := in.Request.ClientOrderID; len(id) > 14 && id[13] == '-' {
			if cancel, ok := tradeAllSteps.Load(id[:13]); ok {
				cancel.(context.CancelFunc)()
			}
		}
	}
	return o, err
}

// tradeAllAccount is sessionAccount with orders placed through
// tradeAllPlacer.
func (a *App) tradeAllAccount(ctx context.Context, accountID int64) (session.Account, error) {
	acct, err := a.sessionAccount(ctx, accountID)
	if err == nil && acct.Orders != nil {
		acct.Orders = tradeAllPlacer{acct.Orders}
	}
	return acct, err
}
