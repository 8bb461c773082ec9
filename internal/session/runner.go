package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/tradeplane/tradeplane/internal/backoff"
	"github.com/tradeplane/tradeplane/internal/clock"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tradeplane/tradeplane/internal/apperr"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/strategy"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// StepReport is what one trade step did.
type StepReport struct {
	SessionID string `json:"session_id"`
	// Step is the step number reserved for the step's orders; 0 when it
	// placed none.
	Step      int64                `json:"step"`
	Trigger   string               `json:"trigger"` // schedule, manual, preview, or StepOptions.Trigger
	Scheduled time.Time            `json:"scheduled,omitzero"`
	Started   time.Time            `json:"started"`
	Duration  time.Duration        `json:"duration"`
	Placed    []venue.Order        `json:"placed,omitempty"`
	Canceled  []venue.Order        `json:"canceled,omitempty"`
	Fills     []Fill               `json:"fills,omitempty"`
	Planned   []venue.OrderRequest `json:"planned,omitempty"`
	Skip      string               `json:"skip,omitempty"`
	// SkipCode classes Skip (apperr.Paused, Quarantined, NotRunning for a
	// session that cannot step, the strategy's StepResult.SkipCode
	// otherwise); Trade All reads it, never Skip's text.
	SkipCode apperr.Code `json:"skip_code,omitempty"`
	Note     string      `json:"note,omitempty"`
	// OrderErrors lists orders the venue or journal refused.
	OrderErrors []string    `json:"order_errors,omitempty"`
	Error       string      `json:"error,omitempty"`
	ErrorKind   FailureKind `json:"error_kind,omitempty"`
}

func (r *StepReport) fill(e *env, res strategy.StepResult, end time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r.Step = e.step
	r.Placed, r.Canceled, r.Planned = e.placed, e.canceled, e.planned
	r.Fills = fillsOf(e.placed)
	r.OrderErrors = e.errs
	r.Skip, r.SkipCode, r.Note = res.Skip, res.SkipCode, res.Note
	r.Duration = end.Sub(r.Started)
}

// StepError is a failed trade step.
type StepError struct {
	SessionID string
	Kind      FailureKind
	Err       error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("session %s step failed (%s): %v", e.SessionID, e.Kind, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// ErrorCode is the cause's code when it has one (e.g. apperr.NotOwner),
// else apperr.Conflict: the step ran and failed against the world (a venue
// rejection, a refused allocation, an unknown outcome), which is not a
// fault of the server; the journal and the alert carry the rest.
func (e *StepError) ErrorCode() apperr.Code {
	if c := apperr.CodeOf(e.Err); c != apperr.Internal && c != "" {
		return c
	}
	return apperr.Conflict
}

type tradeReq struct {
	ctx   context.Context // the caller's: when it ends the step is canceled
	opts  StepOptions
	actor string
	reply chan tradeReply
}

type tradeReply struct {
	report StepReport
	err    error
}

// runner is one session's supervisor goroutine and what it remembers.
type runner struct {
	m        *Manager
	id       string
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	trade    chan tradeReq
	corr     chan struct{} // Corrected: apply the strategy's corrections
	// released: another node takes the session over (Release, Close), so
	// the goroutine writes nothing more to the store.
	released atomic.Bool

	mu         sync.Mutex
	params     json.RawMessage // non-nil: rebuild the strategy before the next step
	lastStepAt time.Time

	// Owned by the goroutine.
	failStep int64 // step number of the last failed step
	state    State
	sstate   json.RawMessage // the strategy's state
	lastErr  string
	restarts []time.Time // automatic restarts within the policy window
	// corrChecked is when the open strategy corrections were last read;
	// zero makes the next step read them (see applyCorrections).
	corrChecked time.Time
	// worker runs the strategy's steps; nil until the first step and
	// after one was abandoned.
	worker *stepWorker
}

// stepWorker runs a session's strategy steps one after another on one
// goroutine that outlives them. A goroutine per step began each step on a
// small stack and grew it again (the store's SQLite calls run deep): 4 % of
// a replay's CPU went to copying stacks. The runner waits for each step on
// its own, with its deadline; a step it abandons keeps its worker, and the
// next step gets a new one.
type stepWorker struct {
	jobs chan func()
}

func newStepWorker() *stepWorker {
	w := &stepWorker{jobs: make(chan func())}
	go func() {
		for job := range w.jobs {
			job()
		}
	}()
	return w
}

// retire lets the worker end once its current step, if any, returns.
func (w *stepWorker) retire() { close(w.jobs) }

var errStopped = errors.New("stopped")

func newRunner(m *Manager, id string) *runner {
	return &runner{m: m, id: id, stop: make(chan struct{}), done: make(chan struct{}), trade: make(chan tradeReq), corr: make(chan struct{}, 1), state: Starting}
}

// halt asks the goroutine to stop and waits for it.
func (r *runner) halt() {
	r.stopOnce.Do(func() { close(r.stop) })
	<-r.done
}

func (r *runner) stopping() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

func (r *runner) setParams(p json.RawMessage) {
	r.mu.Lock()
	r.params = p
	r.mu.Unlock()
}

// loop runs the session from starting until it is stopped or quarantined,
// restarting it after failures as its policy allows.
func (r *runner) loop() {
	defer close(r.done)
	defer func() {
		if r.worker != nil {
			r.worker.retire()
		}
	}()
	m := r.m
	ctx := m.base
	r.restarts = m.restartHistory(ctx, r.id)
	for {
		kind, err := r.run(ctx)
		if err == nil || r.stopping() {
			return
		}
		var s Session
		if !r.record(ctx, 0, "its failure", func() (gerr error) { s, gerr = m.Get(ctx, r.id); return gerr }) {
			return
		}
		pol := s.RestartPolicy.withDefaults(m.policy)
		if !r.record(ctx, s.AccountID, "its failure", func() error { return r.fail(ctx, s, kind, err) }) {
			return
		}
		now := m.clk.Now()
		kept := r.restarts[:0]
		for _, t := range r.restarts {
			if now.Sub(t) < time.Duration(pol.Window) {
				kept = append(kept, t)
			}
		}
		r.restarts = kept
		if len(r.restarts) >= pol.MaxRestarts {
			msg := fmt.Sprintf("quarantined after %d automatic restarts within %s; last error: %v", len(r.restarts), time.Duration(pol.Window), err)
			if !r.record(ctx, s.AccountID, "its quarantine", func() error {
				return m.move(ctx, r.id, Failed, Quarantined, msg, "supervisor", "", nil)
			}) {
				return
			}
			m.alert(ctx, Alert{Severity: SevCritical, SessionID: r.id, AccountID: s.AccountID,
				Message: fmt.Sprintf("session %s %s", r.id, msg)})
			return
		}
		backoff := m.backoff(pol, len(r.restarts))
		wait := m.clk.After(backoff) // registered before the state is visible
		reason := fmt.Sprintf("automatic restart %d/%d in %s", len(r.restarts)+1, pol.MaxRestarts, backoff.Round(time.Millisecond))
		if !r.record(ctx, s.AccountID, "its restart", func() error {
			return m.move(ctx, r.id, Failed, Restarting, reason, "supervisor", "", nil)
		}) {
			return
		}
	backoff:
		for {
			select {
			case <-r.stop:
				return
			case q := <-r.trade: // a manual step waits for no backoff
				q.reply <- tradeReply{report: StepReport{SessionID: r.id}, err: &StateError{SessionID: r.id, Action: "trade", State: Restarting}}
			case <-wait:
				break backoff
			}
		}
		r.restarts = append(r.restarts, m.clk.Now())
		if err := m.countRestart(ctx, r.id, false); err != nil {
			m.log.Error("count restart", "session", r.id, "err", err)
		}
		if !r.record(ctx, s.AccountID, "its restart", func() error {
			return m.move(ctx, r.id, Restarting, Starting, reason, "supervisor", "", nil)
		}) {
			return
		}
		r.state = Starting
	}
}

// record runs a supervisor write that must not be lost (reading the failed
// session, recording its failure, quarantine or restart) until it succeeds,
// retrying with backoff while the store fails, so a store outage never
// leaves a session dead in the store's "running" with no goroutine and no
// word. The first failure raises a critical alert. It gives up, reporting
// false, when the runner is stopped or the session moved on without the
// supervisor (deleted, or a transition refused because someone else
// changed its state).
func (r *runner) record(ctx context.Context, accountID int64, what string, f func() error) bool {
	m := r.m
	wait := backoff.New(backoff.Policy{Initial: time.Second, Max: 30 * time.Second}, m.clk)
	alerted := false
	for {
		err := f()
		if err == nil {
			return true
		}
		var se *StateError
		if errors.As(err, &se) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrStale) {
			m.log.Warn("supervisor stops: the session moved on", "session", r.id, "recording", what, "err", err)
			return false
		}
		next := wait.Next()
		m.log.Error("supervisor cannot record; retrying", "session", r.id, "recording", what, "err", err, "retry_in", next)
		if !alerted {
			alerted = true
			m.alert(ctx, Alert{Severity: SevCritical, SessionID: r.id, AccountID: accountID,
				Message: fmt.Sprintf("session %s: the supervisor cannot record %s: %v; retrying until the store answers", r.id, what, err)})
		}
		t := m.clk.NewTimer(next)
		select {
		case <-r.stop:
			t.Stop()
			return false
		case <-t.C():
		}
	}
}

// fail records a failure: last_error and state failed, the journal hook,
// metrics and a warning alert.
func (r *runner) fail(ctx context.Context, s Session, kind FailureKind, err error) error {
	m := r.m
	msg := fmt.Sprintf("%s: %v", kind, err)
	r.lastErr = msg
	if err := m.move(ctx, r.id, r.state, Failed, msg, "supervisor", "", &msg); err != nil {
		return err
	}
	r.state = Failed
	m.metrics.failures.WithLabelValues(string(kind)).Inc()
	m.mu.Lock()
	m.fails[kind]++
	m.mu.Unlock()
	step := r.failStep
	r.failStep = 0
	if m.opts.OnFailure != nil {
		m.opts.OnFailure(ctx, Failure{At: m.clk.Now(), SessionID: r.id, AccountID: s.AccountID, Kind: kind, Step: step, Err: err})
	}
	m.alert(ctx, Alert{Severity: SevWarning, SessionID: r.id, AccountID: s.AccountID, Message: fmt.Sprintf("session %s failed: %s", r.id, msg)})
	return nil
}

// notOwner records a step the lease guard stopped: OnFailure, metric and
// alert, but no state change, since another node may own the session now
// (the cluster releases it here, or the guard allows again).
func (r *runner) notOwner(ctx context.Context, s Session, step int64, err error) {
	m := r.m
	r.failStep = 0
	m.metrics.failures.WithLabelValues(string(FailNotOwner)).Inc()
	m.mu.Lock()
	m.fails[FailNotOwner]++
	m.mu.Unlock()
	if m.opts.OnFailure != nil {
		m.opts.OnFailure(ctx, Failure{At: m.clk.Now(), SessionID: r.id, AccountID: s.AccountID, Kind: FailNotOwner, Step: step, Err: err})
	}
	m.alert(ctx, Alert{Severity: SevWarning, SessionID: r.id, AccountID: s.AccountID,
		Message: fmt.Sprintf("session %s: order refused by the lease guard: %v", r.id, err)})
}

// run builds the strategy, moves to running and steps on schedule until
// stopped (nil) or a failure (its kind and error).
func (r *runner) run(ctx context.Context) (FailureKind, error) {
	m := r.m
	s, err := m.Get(ctx, r.id)
	if err != nil {
		return FailStart, err
	}
	r.sstate, r.lastErr = s.StrategyState, s.LastError
	r.mu.Lock()
	r.params = nil
	r.mu.Unlock()
	strat, err := strategy.New(s.Strategy, s.Params)
	if err != nil {
		return FailStart, err
	}
	acct, err := m.opts.Accounts.Account(ctx, s.AccountID)
	if err != nil {
		return FailStart, fmt.Errorf("account %d: %w", s.AccountID, err)
	}
	interval := strat.Interval()
	if interval <= 0 {
		return FailStart, fmt.Errorf("strategy %s: non-positive interval %s", s.Strategy, interval)
	}
	// The first step is due one interval after the last one, so a session
	// resumed after a restart or adopted from a failed node steps as soon
	// as it is due instead of waiting a whole new interval (an overdue one
	// steps at once). A session that never stepped waits one interval, as
	// its schedule says; "trade now" steps it at once. The ticker starts
	// with that first step.
	var ticker clock.Ticker
	defer func() {
		if ticker != nil {
			ticker.Stop()
		}
	}()
	firstDelay := interval
	if !s.LastStepAt.IsZero() {
		firstDelay = min(interval, s.LastStepAt.Add(interval).Sub(m.clk.Now()))
	}
	var first <-chan time.Time
	if !m.opts.ManualSchedule {
		first = m.clk.After(max(firstDelay, 0))
	}
	if err := m.move(ctx, r.id, Starting, Running, "started", "supervisor", "", nil); err != nil {
		return FailStart, err
	}
	r.state = Running
	r.applyCorrections(ctx, strat) // those left open by a crash or made while stopped
	for {
		var req *tradeReq
		scheduled := time.Time{}
		var tick <-chan time.Time
		if ticker != nil {
			tick = ticker.C()
		}
		select {
		case <-r.stop:
			return "", nil
		case t := <-first:
			scheduled, first = t, nil
			ticker = m.clk.NewTicker(interval)
		case t := <-tick:
			scheduled = t
		case q := <-r.trade:
			req = &q
		case <-r.corr:
			r.applyCorrections(ctx, strat)
			continue
		}
		r.mu.Lock()
		newParams := r.params
		r.params = nil
		r.mu.Unlock()
		if newParams != nil {
			ns, err := strategy.New(s.Strategy, newParams)
			if err != nil {
				if req != nil {
					req.reply <- tradeReply{report: StepReport{SessionID: r.id}, err: err}
				}
				return FailStart, err
			}
			strat, s.Params = ns, newParams
			if iv := ns.Interval(); iv != interval && iv > 0 {
				interval = iv
				if ticker != nil {
					ticker.Stop()
					ticker = m.clk.NewTicker(iv)
				}
			}
		}
		if m.clk.Now().Sub(r.corrChecked) >= correctionPoll {
			r.applyCorrections(ctx, strat) // a notice lost between nodes, or one an open step held back
		}
		rep, kind, err := r.step(ctx, s, strat, acct, scheduled, req)
		if req != nil {
			var rerr error
			if err != nil && !errors.Is(err, errStopped) {
				rerr = &StepError{SessionID: r.id, Kind: kind, Err: err}
			}
			req.reply <- tradeReply{report: rep, err: rerr}
		}
		if errors.Is(err, errStopped) {
			return "", nil
		}
		switch {
		case err == nil, kind == FailAborted:
			// An abort is the caller's, not the session's: keep stepping.
		case kind == FailNotOwner:
			r.notOwner(ctx, s, rep.Step, err)
		default:
			return kind, err
		}
	}
}

// step runs one trade step with a deadline on the Manager's clock,
// recovering panics, and persists the strategy state it set.
func (r *runner) step(ctx context.Context, s Session, strat strategy.Strategy, acct Account, scheduled time.Time, req *tradeReq) (StepReport, FailureKind, error) {
	m := r.m
	started := m.clk.Now()
	rep := StepReport{SessionID: r.id, Trigger: "schedule", Scheduled: scheduled, Started: started}
	if req != nil {
		rep.Trigger = "manual"
		if req.opts.Trigger != "" {
			rep.Trigger = req.opts.Trigger
		}
	} else {
		m.metrics.lag.Observe(time.Since(scheduledWall(scheduled, started)).Seconds())
	}
	e := m.newEnv(ctx, s, acct, false, r.sstate)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if req != nil {
		e.cidFn, e.before, e.stepID = req.opts.ClientOrderID, req.opts.BeforePlace, req.opts.StepID
		if req.ctx != nil {
			defer context.AfterFunc(req.ctx, cancel)() // the caller gave up: cancel the step
		}
	}
	// A ticker rather than After: it is stopped when the step ends, so
	// thousands of quick steps leave no pending deadline timers behind.
	watchdog := m.clk.NewTicker(m.deadline) // registered before the step can block
	defer watchdog.Stop()
	type outcome struct {
		res strategy.StepResult
		err error
	}
	out := make(chan outcome, 1)
	if r.worker == nil {
		r.worker = newStepWorker()
	}
	r.worker.jobs <- func() {
		defer func() {
			if v := recover(); v != nil {
				out <- outcome{err: &PanicError{Value: v, Stack: debug.Stack()}}
			}
		}()
		res, err := strat.Step(sctx, e)
		out <- outcome{res, err}
	}
	var o outcome
	var kind FailureKind
	waitOut := func() bool {
		select {
		case o = <-out:
			return true
		case <-m.clk.After(m.grace):
			// Abandoned: the worker is the step's until it returns.
			r.worker.retire()
			r.worker = nil
			return false
		}
	}
	select {
	case o = <-out:
		if o.err != nil {
			kind = FailError
			var pe *PanicError
			if errors.As(o.err, &pe) {
				kind = FailPanic
			}
		}
	case <-watchdog.C():
		cancel()
		abandoned := !waitOut()
		o = outcome{err: &StuckError{Deadline: m.deadline, Abandoned: abandoned}}
		kind = FailStuck
	case <-r.stop:
		cancel()
		waitOut()
		o = outcome{err: errStopped}
	}
	e.seal()
	if akind, aerr := e.aborted(); aerr != nil && kind != FailPanic && !errors.Is(o.err, errStopped) {
		// The step was refused an order (BeforePlace, the lease guard):
		// that is its outcome, whatever the strategy made of the refusal.
		o.err, kind = aerr, akind
	} else if o.err != nil && kind == FailError && req != nil && req.ctx != nil && req.ctx.Err() != nil {
		o.err, kind = fmt.Errorf("step canceled by its caller: %w", o.err), FailAborted
	}
	end := m.clk.Now()
	rep.fill(e, o.res, end)
	if o.err != nil && !errors.Is(o.err, errStopped) {
		rep.Error = o.err.Error()
		rep.ErrorKind = kind
		r.failStep = rep.Step
	}
	m.metrics.steps.Inc()
	m.metrics.duration.Observe(end.Sub(started).Seconds())
	m.mu.Lock()
	m.steps++
	m.mu.Unlock()
	r.mu.Lock()
	r.lastStepAt = end
	r.mu.Unlock()

	// Persist only what changed: a quiet step costs no write.
	e.mu.Lock()
	dirty, state := e.dirty, e.state
	e.mu.Unlock()
	lastErr := r.lastErr
	if o.err == nil {
		lastErr = ""
	}
	owned := kind != FailNotOwner && !r.released.Load()
	// A step that opened a step number is closed once every order it placed
	// has a known outcome, in the same write as its state: a step left open
	// (an unknown outcome, a store error, a crash before the write) is
	// replayed under the same number.
	var closing int64
	var closedStep string
	switch {
	case !owned:
	case e.step != 0 && e.stepSettled(ctx):
		closing = e.step
	case e.cidFn != nil && e.stepID != "" && e.placedAny() && e.stepSettled(ctx):
		closedStep = e.stepID
	}
	if !owned {
		// Another node may own the session now: its stored state is not
		// ours to write (nor its open step to close). The strategy state is
		// kept in memory for the next step here, should the guard allow
		// again.
		if dirty {
			r.sstate = state
		}
	} else if dirty || closing != 0 || closedStep != "" || lastErr != r.lastErr || len(rep.Placed) > 0 || len(rep.Canceled) > 0 {
		var st json.RawMessage
		if dirty {
			st = state
			r.sstate = state
		}
		e.mu.Lock()
		seen := e.seen
		e.mu.Unlock()
		if err := m.db.SaveSessionStep(ctx, r.id, store.StepOutcome{State: st, At: end, LastError: lastErr, Close: closing,
			ClosedStep: closedStep, Seen: seen}); err != nil {
			m.log.Error("save step", "session", r.id, "err", err)
			if o.err == nil {
				o.err, kind = fmt.Errorf("save step: %w", err), FailError
			}
		} else if closing != 0 && e.replay {
			r.corrChecked = time.Time{} // corrections this open step held back are due
		}
		r.lastErr = lastErr
	}
	if m.opts.OnStep != nil {
		m.opts.OnStep(rep)
	}
	return rep, kind, o.err
}

// scheduledWall maps a tick time to wall time for the lag metric: with the
// wall clock they are the same; with a fake clock the lag is not
// meaningful, so the step start stands in.
func scheduledWall(scheduled, started time.Time) time.Time {
	if scheduled.IsZero() {
		return time.Now()
	}
	if d := time.Since(scheduled); d < 0 || d > time.Hour {
		return time.Now().Add(-started.Sub(scheduled))
	}
	return scheduled
}

// restartHistory reads a session's automatic restarts since its last manual
// start or restart from its recorded transitions, so the crash-loop budget
// survives a restart of the server (or a move to another node) instead of
// starting afresh each time.
func (m *Manager) restartHistory(ctx context.Context, id string) []time.Time {
	ts, err := m.opts.Store.SessionTransitions(ctx, id)
	if err != nil {
		m.log.Warn("read restart history; the restart budget starts empty", "session", id, "err", err)
		return nil
	}
	var out []time.Time
	for _, t := range ts {
		switch {
		case t.From == string(Restarting) && t.To == string(Starting) && t.Actor == "supervisor":
			out = append(out, t.At)
		case t.Actor != "supervisor" && t.Actor != "system" && (t.To == string(Starting) || t.To == string(Restarting)):
			out = nil // a person started or restarted it: a fresh budget
		}
	}
	return out
}
