package tradeall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// SessionStepper is the Stepper of real sessions: it runs Trade All's
// steps through the session manager, with client order ids derived from
// the run key (journal.TradeAllOrderID) so that after a crash the journal
// tells exactly what a step sent: the intent row is committed before any
// request leaves, so no row under a step's prefix means nothing of it can
// be at the venue. internal/app wires it to the session manager, the store
// and the accounts' journals.
type SessionStepper struct {
	cfg  SessionStepperConfig
	wait time.Duration // transientWait; tests shorten it

	// inflight holds the cancel function of every step in flight in this
	// process, by its client order id ref (unique per run and session).
	inflight sync.Map
}

// StepSessions is what SessionStepper needs of the session manager
// (*session.Manager).
type StepSessions interface {
	Get(ctx context.Context, id string) (session.Session, error)
	Preview(ctx context.Context, id string) (session.StepReport, error)
	TradeNowWith(ctx context.Context, id, actor string, opts session.StepOptions) (session.StepReport, error)
}

// StepJournal is what SessionStepper reads of the journal's records
// (*store.DB).
type StepJournal interface {
	OrdersByClientPrefix(ctx context.Context, prefix string) ([]store.Order, error)
	JournalEvents(ctx context.Context, q store.EventQuery) ([]store.JournalEvent, error)
}

// SessionStepperConfig wires a SessionStepper.
type SessionStepperConfig struct {
	Sessions StepSessions
	Journal  StepJournal
	// Allocation checks a step's planned orders taken together against
	// the session's allocation (Plan).
	Allocation func(ctx context.Context, se session.Session, planned []venue.OrderRequest) (Allocation, error)
	// Place places a stored order again through its account's journal,
	// which sends nothing for a stored id: it reconciles (Settle).
	Place func(ctx context.Context, in journal.Intent) (venue.Order, error)
	// Clustered: several nodes share the sessions, so a step refused
	// here may belong to another node (ErrNotHere).
	Clustered bool
	Clock     clock.Clock // nil: the wall clock
	Logger    *slog.Logger
}

// NewSessionStepper returns the Stepper of cfg's sessions.
func NewSessionStepper(cfg SessionStepperConfig) (*SessionStepper, error) {
	if cfg.Sessions == nil || cfg.Journal == nil || cfg.Allocation == nil || cfg.Place == nil {
		return nil, errors.New("tradeall: session stepper needs Sessions, Journal, Allocation and Place")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &SessionStepper{cfg: cfg, wait: transientWait}, nil
}

var _ Stepper = (*SessionStepper)(nil)

// attemptIDs names the orders of attempt k of a step
// (journal.TradeAllOrderID).
func attemptIDs(key StepKey, k int) func(n int) string {
	ref := key.Ref()
	return func(n int) string { return journal.TradeAllOrderID(ref, k, n) }
}

// trade runs the session's step with the order ids cid. The step is named
// by its first order id (StepOptions.StepID), which the session saves as
// ClosedStep with the strategy state once every order has an outcome.
func (s *SessionStepper) trade(ctx context.Context, key StepKey, cid func(int) string, pace func(context.Context) error) (session.StepReport, error) {
	// A rejected order (allocation check or venue) ends the step as an
	// abort of its caller, not a failure of the session: Placer
	// cancels sctx when the journal rejects one of the step's orders.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ref := key.Ref()
	s.inflight.Store(ref, cancel)
	defer s.inflight.Delete(ref)
	return s.cfg.Sessions.TradeNowWith(sctx, key.SessionID, "trade-all:"+key.RunID, session.StepOptions{
		ClientOrderID: cid,
		StepID:        cid(0),
		BeforePlace:   pace,
		Trigger:       "trade-all",
	})
}

// nextAttempt is the attempt number after every attempt of the step whose
// orders are stored.
func (s *SessionStepper) nextAttempt(ctx context.Context, key StepKey) (int, error) {
	orders, err := s.cfg.Journal.OrdersByClientPrefix(ctx, journal.TradeAllPrefix(key.Ref()))
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

// Plan is the step a run would take for the session, sent nowhere. It
// waits, as Step does, up to transientWait for a session that is starting
// or restarting, so a preview can take that long when one is.
func (s *SessionStepper) Plan(ctx context.Context, sessionID string) (Plan, error) {
	se, err := s.settledSession(ctx, sessionID)
	if err != nil {
		return Plan{}, err
	}
	if skip := skipFor(se.State); skip != "" {
		return Plan{Skip: skip, Message: "session is " + string(se.State), Allocation: Allocation{OK: true}}, nil
	}
	rep, err := s.cfg.Sessions.Preview(ctx, sessionID)
	if err != nil {
		return Plan{}, err
	}
	plan := Plan{}
	for _, req := range rep.Planned {
		plan.Orders = append(plan.Orders, Order{Symbol: req.Symbol, Side: req.Side, Type: req.Type,
			Quantity: req.Quantity, QuoteQuantity: req.QuoteQuantity, Price: req.Price})
	}
	if plan.Allocation, err = s.cfg.Allocation(ctx, se, rep.Planned); err != nil {
		plan.Allocation = Allocation{OK: false, Message: "allocation not checked: " + err.Error()}
	}
	switch {
	case rep.Skip != "":
		plan.Skip, plan.Message = SkipOf(rep.SkipCode), rep.Skip
	case len(rep.Planned) == 0:
		plan.Skip, plan.Message = SkipNothingToDo, rep.Note
	case !plan.Allocation.OK:
		plan.Skip, plan.Message = SkipAllocationExceeded, plan.Allocation.Message
	}
	return plan, nil
}

// skipFor is why a session in state st is skipped, "" when it can step.
func skipFor(st session.State) SkipReason {
	if code := session.SkipCode(st); code != "" {
		return SkipOf(code)
	}
	return ""
}

// transientWait bounds how long a step waits for a session that is starting
// or restarting (just adopted after a failover, resumed at boot, or in a
// short restart backoff) before it is skipped as not running.
const transientWait = 10 * time.Second

// whileTransient calls f until it reports the session settled, for at most
// transientWait, 50 ms apart; ctx's end stops the wait early.
func (s *SessionStepper) whileTransient(ctx context.Context, f func() (transient bool)) {
	deadline := time.Now().Add(s.wait)
	for f() && !time.Now().After(deadline) {
		if clock.Sleep(ctx, s.cfg.Clock, 50*time.Millisecond) != nil {
			return
		}
	}
}

// settledSession reads a session, waiting up to transientWait while it is
// starting or restarting: a run must not skip a session only because it
// reached it in the instant between its adoption and its first step.
func (s *SessionStepper) settledSession(ctx context.Context, id string) (se session.Session, err error) {
	s.whileTransient(ctx, func() bool {
		se, err = s.cfg.Sessions.Get(ctx, id)
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
func (s *SessionStepper) tradeHere(ctx context.Context, key StepKey, cid func(int) string, pace func(context.Context) error) (rep session.StepReport, err error) {
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

func (s *SessionStepper) Step(ctx context.Context, req StepRequest) (StepResult, error) {
	se, err := s.settledSession(ctx, req.Key.SessionID)
	if err != nil {
		return StepResult{}, err
	}
	if skip := skipFor(se.State); skip != "" {
		return StepResult{Skip: skip, Message: "session is " + string(se.State)}, nil
	}
	cid := attemptIDs(req.Key, 0)
	if req.Resumed {
		k, err := s.nextAttempt(ctx, req.Key)
		if err != nil {
			return StepResult{}, err
		}
		cid = attemptIDs(req.Key, k)
	}
	rep, err := s.tradeHere(ctx, req.Key, cid, req.Pace)
	if err != nil && len(rep.Placed) == 0 && s.notHere(ctx, req.Key, err) {
		// Another node owns the session now (or this one has not started
		// running it yet) and nothing of the step was sent: its owner
		// steps it.
		return StepResult{}, fmt.Errorf("%w: %w", ErrNotHere, err)
	}
	return s.result(ctx, req.Key, rep, err)
}

// result reads a step's report and error as Trade All's result: done when
// it placed or canceled orders; skipped when the session could not step
// (paused, quarantined, not running), the allocation check refused its
// order, or the strategy had nothing to do; failed with the journal's error
// class otherwise.
func (s *SessionStepper) result(ctx context.Context, key StepKey, rep session.StepReport, err error) (StepResult, error) {
	res := StepResult{Message: rep.Note}
	for _, o := range rep.Placed {
		res.Orders = append(res.Orders, orderOf(o))
	}
	acted := len(rep.Placed) > 0 || len(rep.Canceled) > 0
	if err == nil && rep.Error == "" && len(rep.OrderErrors) == 0 {
		switch {
		case acted:
		case rep.Skip != "":
			res.Skip, res.Message = SkipOf(rep.SkipCode), rep.Skip
		default:
			res.Skip = SkipNothingToDo
		}
		return res, nil
	}
	if errors.Is(err, session.ErrIllegalState) && rep.Skip != "" && !acted {
		// The session left running between the check above and the step.
		res.Skip, res.Message = SkipOf(rep.SkipCode), rep.Note
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
		res.Skip, res.Message = SkipAllocationExceeded, refused
		return res, nil
	case class == journal.ClassAllocation:
		// Orders placed before the refusal: the step did something.
		res.Message = "stopped at the allocation check: " + refused
		return res, nil
	case class != "":
		if refused != "" {
			msg = refused // the journal's words, without the session's wrapping
		}
		return res, &ClassError{Class: class, Code: code, Err: errors.New(msg)}
	case rep.ErrorKind == session.FailPanic:
		return res, &ClassError{Class: ClassPanic, Err: errors.New(msg)}
	case rep.ErrorKind == session.FailStuck:
		return res, &ClassError{Class: ClassTimeout, Err: errors.New(msg)}
	case err != nil:
		return res, err
	}
	return res, errors.New(msg)
}

// stepFailure finds the journal's class of a failed step: from the
// *journal.Error the strategy returned, or, when the strategy swallowed it,
// from the journal's failure records of the step's orders. refused is the
// reason of the journal's refusal.
func (s *SessionStepper) stepFailure(ctx context.Context, key StepKey, err error) (class string, code int, refused string) {
	var je *journal.Error
	if errors.As(err, &je) {
		class, code = s.failureClass(ctx, je.ClientOrderID, je)
		refused = je.Error()
		if je.Err != nil {
			refused = je.Err.Error()
		}
		return class, code, refused
	}
	orders, oerr := s.cfg.Journal.OrdersByClientPrefix(ctx, journal.TradeAllPrefix(key.Ref()))
	if oerr != nil {
		return "", 0, ""
	}
	for _, o := range orders {
		evs, qerr := s.cfg.Journal.JournalEvents(ctx, store.EventQuery{ClientOrderID: o.ClientOrderID, FailuresOnly: true, Limit: 1})
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
func (s *SessionStepper) notHere(ctx context.Context, key StepKey, err error) bool {
	if !s.cfg.Clustered {
		return false
	}
	switch {
	case errors.Is(err, session.ErrNotOwner):
	case errors.Is(err, session.ErrIllegalState):
		// Refused as not running here although stored running: it still
		// runs on the node that lost it, or is being adopted here.
		se, gerr := s.cfg.Sessions.Get(ctx, key.SessionID)
		if gerr != nil || (se.State != session.Running && se.State != session.Starting) {
			return false // a real state: the step is skipped
		}
	default:
		return false
	}
	orders, oerr := s.cfg.Journal.OrdersByClientPrefix(ctx, journal.TradeAllPrefix(key.Ref()))
	return oerr == nil && len(orders) == 0
}

// Settle tells Trade All what a step that may have started before a crash
// did: no stored order under its prefix means nothing was sent; otherwise
// each order is settled with the venue by client order id (Place on a
// stored id sends nothing: it reconciles). When every stored order ends
// certainly unexecuted (the venue never saw it, or the lease check kept it
// from leaving), nothing of the step happened: it is not started, and the
// step runs again under new ids (StepRequest.Resumed).
func (s *SessionStepper) Settle(ctx context.Context, key StepKey) (Settlement, error) {
	orders, err := s.cfg.Journal.OrdersByClientPrefix(ctx, journal.TradeAllPrefix(key.Ref()))
	if err != nil {
		return Settlement{}, err
	}
	if len(orders) == 0 {
		return Settlement{Started: false}, nil
	}
	set := Settlement{Started: true}
	unexecuted := 0
	for _, o := range orders {
		in := journal.Intent{SessionID: o.SessionID, AccountID: o.AccountID, Fence: o.Fence, Request: venue.OrderRequest{
			ClientOrderID: o.ClientOrderID, Symbol: o.Symbol, Side: venue.Side(o.Side), Type: venue.OrderType(o.Type),
			Quantity: o.Quantity, QuoteQuantity: o.QuoteQuantity, Price: o.Price}}
		vo, err := s.cfg.Place(ctx, in)
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
		return Settlement{Started: false}, nil
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
func (s *SessionStepper) replayUnsaved(ctx context.Context, key StepKey, set Settlement) Settlement {
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
		s.cfg.Logger.Warn("trade-all: a settled step cannot be replayed; the session's strategy state lacks it",
			"session", key.SessionID, "run", key.RunID, "state", se.State)
		return set
	}
	rep, err := s.tradeHere(ctx, key, cid, nil)
	if err != nil && len(rep.Placed) == 0 && s.notHere(ctx, key, err) {
		s.cfg.Logger.Warn("trade-all: a settled step cannot be replayed here; the session's strategy state lacks it",
			"session", key.SessionID, "run", key.RunID, "err", err)
		return set
	}
	res, rerr := s.result(ctx, key, rep, err)
	return Settlement{Started: true, Result: res, Err: rerr}
}

// failureClass is the class of a failed placement: the journal error's, or
// for an order that failed earlier ("stored") the class its journal
// recorded then.
func (s *SessionStepper) failureClass(ctx context.Context, clientOrderID string, err error) (string, int) {
	var je *journal.Error
	if !errors.As(err, &je) {
		return "", 0
	}
	if je.Class != "stored" {
		return je.Class, int(je.Code)
	}
	evs, qerr := s.cfg.Journal.JournalEvents(ctx, store.EventQuery{ClientOrderID: clientOrderID, FailuresOnly: true, Limit: 1})
	if qerr != nil || len(evs) == 0 {
		return je.Class, int(je.Code)
	}
	return evs[0].ErrorClass, int(evs[0].ErrorCode)
}

// neverExecuted reports whether a settled order certainly did not execute:
// the venue never saw it, or it was kept from leaving.
func (s *SessionStepper) neverExecuted(ctx context.Context, clientOrderID string, err error) bool {
	class, _ := s.failureClass(ctx, clientOrderID, err)
	return class == string(venue.ClassNotFound) || class == journal.ClassStaleFence
}

// classed wraps a placement error with its journal class for Trade All.
func (s *SessionStepper) classed(ctx context.Context, clientOrderID string, err error) error {
	if class, code := s.failureClass(ctx, clientOrderID, err); class != "" {
		return &ClassError{Class: class, Code: code, Err: err}
	}
	return err
}

func orderOf(o venue.Order) Order {
	return Order{ClientOrderID: o.ClientOrderID, Symbol: o.Symbol, Side: o.Side, Type: o.Type, Quantity: o.Quantity,
		Price: o.Price, Status: string(o.Status), ExecutedQty: o.ExecutedQty}
}

// Placer wraps the order placer Trade All's steps trade through: when
// the journal rejects one of a Trade All step's orders (the allocation
// check refused it, or the venue rejected it), it cancels the step, so that
// the rejection ends the step as its caller's abort rather than counting
// as a failure of the session (restart policy, quarantine). The rejection
// itself is journaled, counted and alerted by the journal as always.
func (s *SessionStepper) Placer(p session.OrderPlacer) session.OrderPlacer {
	return rejectAborts{OrderPlacer: p, s: s}
}

type rejectAborts struct {
	session.OrderPlacer
	s *SessionStepper
}

func (p rejectAborts) Place(ctx context.Context, in session.Intent) (venue.Order, error) {
	o, err := p.OrderPlacer.Place(ctx, in)
	var je *journal.Error
	if err != nil && errors.As(err, &je) && je.Kind == journal.KindRejected {
		if ref, ok := journal.TradeAllRef(in.Request.ClientOrderID); ok {
			if cancel, ok := p.s.inflight.Load(ref); ok {
				cancel.(context.CancelFunc)()
			}
		}
	}
	return o, err
}
