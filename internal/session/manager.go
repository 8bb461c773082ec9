package session

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tradeplane/tradeplane/internal/apperr"
	"github.com/tradeplane/tradeplane/internal/backoff"
	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/strategy"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// Options configure a Manager. Store and Accounts are required; the rest
// have working defaults.
type Options struct {
	Store    *store.DB
	Accounts Accounts
	// Clock drives schedules, deadlines and backoff; nil is the wall clock.
	Clock clock.Clock
	// Seed seeds backoff jitter and session ids; 0 draws a random seed.
	Seed uint64
	// ClientOrderID derives order ids; nil is journal.ClientOrderID.
	ClientOrderID ClientOrderIDFunc
	// OwnsOrder tells whether a client order id belongs to a session; nil
	// derives it from ClientOrderID (ids sharing the per-session prefix).
	// Pass it when the id format does not start with a per-session prefix.
	OwnsOrder func(sessionID, clientOrderID string) bool
	// Fence returns the session's current fencing token (package cluster);
	// nil means 0. Guard supersedes it when set.
	Fence func(sessionID string) int64
	// Owns reports whether this node may run a session (cluster leases);
	// nil means every session (one node). With Owns set, Boot resumes only
	// owned sessions, Start, Resume and Restart of an unowned session only
	// record what was asked (see Start), TradeNow of one fails with
	// ErrNotOwner, and a sync loop (SyncInterval) adopts owned sessions
	// that should run and lets go of ones another node paused or stopped.
	Owns func(sessionID string) bool
	// Guard is the cluster's lease guard: when set it is called right
	// before each order (and cancel) a step sends and its token is the
	// intent's fence; an error refuses the order and aborts the step as a
	// FailNotOwner failure.
	Guard func(sessionID string) (int64, error)
	// SyncInterval is how often, with Owns set, the Manager compares the
	// stored desired states with what it supervises; 0 means 5 seconds.
	SyncInterval time.Duration
	// Reconcile runs once per account in Boot before that account's
	// sessions resume; nil skips it.
	Reconcile ReconcileFunc
	// Alerter receives failure and quarantine alerts; nil drops them (they
	// are still logged).
	Alerter Alerter
	// OnFailure records each failure (the journal); nil skips it.
	OnFailure func(ctx context.Context, f Failure)
	// OnStep observes every finished step (events, benchmarks); it must
	// not block.
	OnStep func(StepReport)
	// Allocations is the allocation rule every creation must keep (see
	// AllocationRule); nil admits every allocation.
	Allocations AllocationRule
	// Collateral values an account for share allocations.
	Collateral func(ctx context.Context, accountID int64) (venue.Decimal, error)
	// Registerer receives the Prometheus collectors; nil registers none.
	Registerer prometheus.Registerer
	// RestartPolicy fills the zero fields of every session's policy; zero
	// fields here take DefaultRestartPolicy.
	RestartPolicy RestartPolicy
	// StepDeadline is how long a step may run before it counts as stuck,
	// is canceled and the session restarted; 0 means 2 minutes.
	StepDeadline time.Duration
	// AbandonGrace is how long a canceled stuck step gets to return before
	// the supervisor moves on without it; 0 means 5 seconds.
	AbandonGrace time.Duration
	Logger       *slog.Logger

	// ManualSchedule: the supervisor schedules no step of its own; steps
	// run only through TradeNow and TradeNowWith. Replay sets it so that
	// its simulated clock, not a ticker racing it, decides when each step
	// runs; everything else (restarts, deadlines, state) is unchanged.
	ManualSchedule bool
}

// Manager creates, controls and supervises sessions. Its methods are safe
// for concurrent use; actions on one session are serialized.
type Manager struct {
	opts     Options
	db       *store.DB
	clk      clock.Clock
	cid      ClientOrderIDFunc
	policy   RestartPolicy
	deadline time.Duration
	grace    time.Duration
	log      *slog.Logger
	metrics  *metrics
	base     context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	rndMu sync.Mutex
	rnd   *mrand.Rand

	mu      sync.Mutex
	closed  bool
	runners map[string]*runner
	locks   map[string]*idLock // only while someone holds or waits
	counts  map[string]*RestartCounts
	steps   int64
	fails   map[FailureKind]int64

	symMu sync.Mutex
	syms  map[int64]map[string]venue.Symbol

	// extMu guards ext: which session an order id that is not derived
	// from ClientOrderID (Trade All's ids) belongs to; "" for none.
	extMu sync.Mutex
	ext   map[string]string

	reconMu sync.Mutex
	reconAt map[int64]time.Time // last successful Reconcile per account
}

// RestartCounts are a session's persisted restart counters.
type RestartCounts struct {
	Auto   int64 `json:"auto"`
	Manual int64 `json:"manual"`
}

// Stats summarize the supervisor for the API.
type Stats struct {
	Running        int                      `json:"running"`
	RestartsAuto   int64                    `json:"restarts_auto"`
	RestartsManual int64                    `json:"restarts_manual"`
	Steps          int64                    `json:"steps"`
	Failures       map[FailureKind]int64    `json:"failures"`
	Sessions       map[string]RestartCounts `json:"sessions"`
}

// New returns a Manager. It starts no session: call Boot.
func New(opts Options) (*Manager, error) {
	if opts.Store == nil || opts.Accounts == nil {
		return nil, errors.New("session manager: Store and Accounts are required")
	}
	m := &Manager{
		opts: opts, db: opts.Store, clk: opts.Clock, cid: opts.ClientOrderID, deadline: opts.StepDeadline,
		grace: opts.AbandonGrace, log: opts.Logger,
		runners: map[string]*runner{}, locks: map[string]*idLock{}, counts: map[string]*RestartCounts{},
		fails: map[FailureKind]int64{}, syms: map[int64]map[string]venue.Symbol{},
		ext: map[string]string{}, reconAt: map[int64]time.Time{},
	}
	if m.clk == nil {
		m.clk = clock.Real{}
	}
	if m.cid == nil {
		m.cid = journal.ClientOrderID
	}
	if m.deadline <= 0 {
		m.deadline = 2 * time.Minute
	}
	if m.grace <= 0 {
		m.grace = 5 * time.Second
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.policy = opts.RestartPolicy.withDefaults(DefaultRestartPolicy)
	seed := opts.Seed
	if seed == 0 {
		var b [8]byte
		rand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:])
	}
	m.rnd = mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var err error
	m.metrics, err = newMetrics(opts.Registerer, func() float64 { return float64(m.Stats().Running) })
	if err != nil {
		return nil, fmt.Errorf("session manager metrics: %w", err)
	}
	m.base, m.cancel = context.WithCancel(context.Background())
	if opts.Owns != nil {
		every := opts.SyncInterval
		if every <= 0 {
			every = 5 * time.Second
		}
		t := m.clk.NewTicker(every)
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			defer t.Stop()
			for {
				select {
				case <-m.base.Done():
					return
				case <-t.C():
					m.sync(m.base)
				}
			}
		}()
	}
	return m, nil
}

// Boot loads the counters and resumes every session whose desired state is
// running (except quarantined ones) and that this node owns (Options.Owns):
// per account, the Reconcile hook runs first, and when it fails that
// account's sessions stay down with an alert. Sessions caught mid-stop by
// the last shutdown are finished stopping (whoever owns them: no node runs
// a session in state stopping).
func (m *Manager) Boot(ctx context.Context) error {
	all, err := m.db.Sessions(ctx, store.SessionFilter{})
	if err != nil {
		return fmt.Errorf("boot sessions: %w", err)
	}
	byAcct := map[int64][]store.Session{}
	var accts []int64
	m.mu.Lock()
	for _, s := range all {
		m.counts[s.ID] = &RestartCounts{Auto: s.RestartsAuto, Manual: s.RestartsManual}
	}
	m.mu.Unlock()
	for _, s := range all {
		switch {
		case State(s.State) == Stopping:
			m.withLock(s.ID, func() error {
				return m.move(ctx, s.ID, Stopping, Stopped, "stop finished after server start", "system", WantStopped, nil)
			})
		case Desired(s.Desired) == WantRunning && State(s.State) != Quarantined && m.ownsHere(s.ID):
			if len(byAcct[s.AccountID]) == 0 {
				accts = append(accts, s.AccountID)
			}
			byAcct[s.AccountID] = append(byAcct[s.AccountID], s)
		}
	}
	var errs []error
	for _, a := range accts {
		if err := m.reconcile(ctx, a, len(byAcct[a]), false); err != nil {
			errs = append(errs, err)
			continue
		}
		for _, s := range byAcct[a] {
			err := m.withLock(s.ID, func() error {
				cur, err := m.Get(ctx, s.ID)
				if err != nil {
					return err
				}
				return m.startFrom(ctx, cur.State, s.ID, "resume after server start", "system")
			})
			if err != nil {
				errs = append(errs, fmt.Errorf("resume session %s: %w", s.ID, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Close stops every supervisor goroutine and waits for them. Sessions keep
// their stored and desired states, so the next Boot resumes them.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	rs := make([]*runner, 0, len(m.runners))
	for _, r := range m.runners {
		rs = append(rs, r)
	}
	m.mu.Unlock()
	for _, r := range rs {
		r.halt()
	}
	m.cancel()
	m.wg.Wait()
}

// idLock is one session's action lock; refs counts its holder and
// waiters (under Manager.mu).
type idLock struct {
	mu   sync.Mutex
	refs int
}

// withLock serializes actions on one session. A lock exists only while
// someone holds or waits for it, so ids that do not exist, or no longer
// do, leave nothing behind.
func (m *Manager) withLock(id string, fn func() error) error {
	m.mu.Lock()
	l := m.locks[id]
	if l == nil {
		l = &idLock{}
		m.locks[id] = l
	}
	l.refs++
	m.mu.Unlock()
	l.mu.Lock()
	defer func() {
		l.mu.Unlock()
		m.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(m.locks, id)
		}
		m.mu.Unlock()
	}()
	return fn()
}

func mapStoreErr(id string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("session %s: %w", id, ErrNotFound)
	case errors.Is(err, store.ErrStale):
		return fmt.Errorf("session %s: %w", id, ErrStale)
	}
	return err
}

// move applies one transition after checking it against the table.
func (m *Manager) move(ctx context.Context, id string, from, to State, reason, actor string, desired Desired, lastErr *string) error {
	if err := check(id, string(to), from, to); err != nil {
		return err
	}
	err := m.db.TransitionSession(ctx, id, store.StateChange{From: string(from), To: string(to), Reason: reason, Actor: actor,
		At: m.clk.Now(), Desired: string(desired), LastError: lastErr})
	if err != nil {
		return mapStoreErr(id, err)
	}
	m.log.Info("session transition", "session", id, "from", from, "to", to, "reason", reason, "actor", actor)
	return nil
}

// Create validates spec (the strategy must exist and accept the params),
// stores a new session in state created and returns it.
func (m *Manager) Create(ctx context.Context, spec Spec, actor string) (Session, error) {
	s, _, err := m.CreateChecked(ctx, spec, actor)
	return s, err
}

// NamedAllocation is one session's allocation, labelled for messages.
type NamedAllocation struct {
	Label      string
	Allocation Allocation
}

// AllocationRule judges an account's allocations (the portfolio's rule,
// portfolio.CheckAllocations, wired by the app): an error refuses the new
// session, a warning is shown with it.
type AllocationRule func(accountID int64, allocs []NamedAllocation) (warning string, err error)

// CreateChecked is Create that also returns the allocation rule's warning.
// The rule sees every session of the account, stopped ones too (they keep
// their allocation and may start again), plus the new one, labelled "new
// session NAME"; it runs in the insert's transaction with the account
// locked against other creations on any node (store.CreateSessionAdmitted),
// so two creations at once cannot both take the account's last share. Its
// error is returned as it is.
func (m *Manager) CreateChecked(ctx context.Context, spec Spec, actor string) (Session, string, error) {
	if err := spec.validate(); err != nil {
		return Session{}, "", err
	}
	st, err := strategy.New(spec.Strategy, spec.Params)
	if err != nil {
		return Session{}, "", fmt.Errorf("create session %q: %w", spec.Name, err)
	}
	if err := tradesOwnSymbols(st, spec.Symbols); err != nil {
		return Session{}, "", err
	}
	if spec.Allocation.Kind == "" {
		spec.Allocation.Kind = AllocFixed
	}
	policy, _ := json.Marshal(spec.RestartPolicy)
	var warning string
	var refused error
	var admit func([]store.Session) error
	if m.opts.Allocations != nil {
		admit = func(existing []store.Session) error {
			allocs := make([]NamedAllocation, 0, len(existing)+1)
			for _, se := range existing {
				allocs = append(allocs, NamedAllocation{Label: se.Name + " (" + se.ID + ")",
					Allocation: Allocation{Kind: AllocationKind(se.AllocationKind), Amount: se.Allocation}})
			}
			allocs = append(allocs, NamedAllocation{Label: "new session " + spec.Name, Allocation: spec.Allocation})
			warning, refused = m.opts.Allocations(spec.AccountID, allocs)
			return refused
		}
	}
	for attempt := 0; ; attempt++ {
		s := &store.Session{ID: m.newID(), Name: spec.Name, Strategy: spec.Strategy, AccountID: spec.AccountID,
			Symbols: spec.Symbols, Params: spec.Params, AllocationKind: string(spec.Allocation.Kind),
			Allocation: spec.Allocation.Amount, Tags: spec.Tags, State: string(Created), StateReason: "created",
			Desired: string(WantStopped), RestartPolicy: policy, CreatedAt: m.clk.Now()}
		warning, refused = "", nil
		err := m.db.CreateSessionAdmitted(ctx, s, actor, admit)
		if refused != nil {
			return Session{}, "", refused
		}
		if errors.Is(err, store.ErrConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return Session{}, "", err
		}
		m.mu.Lock()
		m.counts[s.ID] = &RestartCounts{}
		m.mu.Unlock()
		got, err := m.Get(ctx, s.ID)
		return got, warning, err
	}
}

const idAlphabet = "abcdefghijkmnpqrstuvwxyz23456789"

func (m *Manager) newID() string {
	m.rndMu.Lock()
	defer m.rndMu.Unlock()
	b := []byte("s-00000000")
	for i := 2; i < len(b); i++ {
		b[i] = idAlphabet[m.rnd.IntN(len(idAlphabet))]
	}
	return string(b)
}

// Get returns a session; ErrNotFound when there is none.
func (m *Manager) Get(ctx context.Context, id string) (Session, error) {
	s, err := m.db.Session(ctx, id)
	if err != nil {
		return Session{}, mapStoreErr(id, err)
	}
	out, err := fromStore(s)
	if err != nil {
		return out, err
	}
	m.overlay(&out)
	return out, nil
}

// overlay adds what only the supervisor knows (the last step's time, which
// is not written on steps that change nothing).
func (m *Manager) overlay(s *Session) {
	m.mu.Lock()
	r := m.runners[s.ID]
	m.mu.Unlock()
	if r == nil {
		return
	}
	r.mu.Lock()
	if r.lastStepAt.After(s.LastStepAt) {
		s.LastStepAt = r.lastStepAt
	}
	r.mu.Unlock()
}

// List returns the sessions matching f, oldest first.
func (m *Manager) List(ctx context.Context, f Filter) ([]Session, error) {
	rows, err := m.db.Sessions(ctx, store.SessionFilter{AccountID: f.AccountID, Tag: f.Tag, State: string(f.State), IDs: f.IDs})
	if err != nil {
		return nil, err
	}
	out := make([]Session, 0, len(rows))
	for _, r := range rows {
		s, err := fromStore(r)
		if err != nil {
			return nil, err
		}
		m.overlay(&s)
		out = append(out, s)
	}
	return out, nil
}

// Transitions lists a session's recorded transitions, oldest first.
func (m *Manager) Transitions(ctx context.Context, id string) ([]Transition, error) {
	rows, err := m.db.SessionTransitions(ctx, id)
	if err != nil {
		return nil, mapStoreErr(id, err)
	}
	out := make([]Transition, len(rows))
	for i, t := range rows {
		out[i] = Transition{From: State(t.From), To: State(t.To), Reason: t.Reason, Actor: t.Actor, At: t.At}
	}
	return out, nil
}

// Start starts a created, stopped, failed or paused session; its desired
// state becomes running. On a node that does not own the session
// (Options.Owns) the state checks are the same but Start only records the
// desired state running: the owning node starts it (Adopt, or its sync
// loop).
func (m *Manager) Start(ctx context.Context, id, actor string) (Session, error) {
	return m.act(ctx, id, "start", Starting, func(s Session) error {
		if !m.ownsHere(id) {
			return m.wantRunning(ctx, id, "start", actor)
		}
		m.halt(id)
		return m.startFrom(ctx, s.State, id, "start", actor)
	})
}

// Resume continues a paused session. On a node that does not own it,
// Resume only records the desired state running, as Start does.
func (m *Manager) Resume(ctx context.Context, id, actor string) (Session, error) {
	return m.act(ctx, id, "resume", Starting, func(s Session) error {
		if s.State != Paused {
			return &StateError{SessionID: id, Action: "resume", State: s.State}
		}
		if !m.ownsHere(id) {
			return m.wantRunning(ctx, id, "resume", actor)
		}
		return m.startFrom(ctx, s.State, id, "resume", actor)
	})
}

// wantRunning records the desired state running without touching the
// state: the command of a node that does not own the session.
func (m *Manager) wantRunning(ctx context.Context, id, action, actor string) error {
	if err := m.db.SetSessionDesired(ctx, id, string(WantRunning), m.clk.Now()); err != nil {
		return mapStoreErr(id, err)
	}
	m.log.Info("session desired running recorded for its owner node", "session", id, "action", action, "actor", actor)
	return nil
}

// Pause stops stepping a session without canceling its orders; it may be
// resumed. A failing (failed, restarting) session may be paused to stop
// the retries.
func (m *Manager) Pause(ctx context.Context, id, actor string) (Session, error) {
	return m.act(ctx, id, "pause", Paused, func(s Session) error {
		m.halt(id)
		cur, err := m.Get(ctx, id)
		if err != nil {
			return err
		}
		if err := check(id, "pause", cur.State, Paused); err != nil {
			return err
		}
		return m.move(ctx, id, cur.State, Paused, "pause", actor, WantPaused, nil)
	})
}

// Stop stops a session: its goroutine ends, its open orders are canceled
// (best effort; failures are recorded in the reason) and it rests in
// stopped with desired state stopped.
func (m *Manager) Stop(ctx context.Context, id, actor string) (Session, error) {
	return m.act(ctx, id, "stop", Stopping, func(s Session) error { return m.stopLocked(ctx, id, actor) })
}

func (m *Manager) stopLocked(ctx context.Context, id, actor string) error {
	m.halt(id)
	cur, err := m.Get(ctx, id)
	if err != nil {
		return err
	}
	if err := check(id, "stop", cur.State, Stopping); err != nil {
		return err
	}
	if err := m.move(ctx, id, cur.State, Stopping, "stop", actor, WantStopped, nil); err != nil {
		return err
	}
	reason := "stopped"
	if n, err := m.cancelOpen(ctx, cur); err != nil {
		reason = fmt.Sprintf("stopped; canceling open orders failed after %d: %v", n, err)
		m.alert(ctx, Alert{Severity: SevWarning, SessionID: id, AccountID: cur.AccountID, Message: reason})
	}
	return m.move(ctx, id, Stopping, Stopped, reason, actor, "", nil)
}

// Restart restarts a session by hand: it clears quarantine and the
// automatic restart history, counts as a manual restart, and leaves the
// session starting with desired state running.
//
// On a node that does not own the session: a session that runs nowhere
// (quarantined, stopped, paused) is moved to restarting with desired state
// running and the manual restart counted, and the owning node starts it;
// one that may be running on its owner (running, starting, failed) is
// refused with an error wrapping ErrNotOwner (send the command to the
// owner).
func (m *Manager) Restart(ctx context.Context, id, actor string) (Session, error) {
	return m.act(ctx, id, "restart", Restarting, func(s Session) error {
		if !m.ownsHere(id) {
			switch s.State {
			case Quarantined, Stopped, Paused:
			default:
				return fmt.Errorf("session is %s on its owner node: %w", s.State, ErrNotOwner)
			}
			if err := m.move(ctx, id, s.State, Restarting, "manual restart (awaiting owner node)", actor, WantRunning, nil); err != nil {
				return err
			}
			return m.countRestart(ctx, id, true)
		}
		m.halt(id)
		cur, err := m.Get(ctx, id)
		if err != nil {
			return err
		}
		if err := m.move(ctx, id, cur.State, Restarting, "manual restart", actor, WantRunning, nil); err != nil {
			return err
		}
		if err := m.countRestart(ctx, id, true); err != nil {
			return err
		}
		if err := m.move(ctx, id, Restarting, Starting, "manual restart", actor, WantRunning, nil); err != nil {
			return err
		}
		return m.spawn(id)
	})
}

// act runs fn under the session's lock after checking that the action's
// first transition is legal from the stored state, and returns the
// session afterwards.
func (m *Manager) act(ctx context.Context, id, action string, to State, fn func(Session) error) (Session, error) {
	err := m.withLock(id, func() error {
		s, err := m.Get(ctx, id)
		if err != nil {
			return err
		}
		if err := check(id, action, s.State, to); err != nil {
			se := err.(*StateError)
			se.To = ""
			return se
		}
		return fn(s)
	})
	if err != nil {
		return Session{}, fmt.Errorf("%s session %s: %w", action, id, err)
	}
	return m.Get(ctx, id)
}

// startFrom moves a session to starting (through restarting where the
// table requires it) with desired state running, and spawns its goroutine.
func (m *Manager) startFrom(ctx context.Context, from State, id, reason, actor string) error {
	if !m.ownsHere(id) {
		return fmt.Errorf("session %s: %w", id, ErrNotOwner)
	}
	if !CanTransition(from, Starting) {
		if err := m.move(ctx, id, from, Restarting, reason, actor, WantRunning, nil); err != nil {
			return err
		}
		from = Restarting
	}
	if err := m.move(ctx, id, from, Starting, reason, actor, WantRunning, nil); err != nil {
		return err
	}
	return m.spawn(id)
}

// spawn starts the session's supervisor goroutine; the session is in
// state starting.
func (m *Manager) spawn(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if old := m.runners[id]; old != nil {
		select {
		case <-old.done:
		default:
			return fmt.Errorf("session %s: supervisor already running", id)
		}
	}
	r := newRunner(m, id)
	m.runners[id] = r
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		r.loop()
	}()
	return nil
}

// halt stops the session's goroutine, if any, and waits for it.
func (m *Manager) halt(id string) {
	m.mu.Lock()
	r := m.runners[id]
	delete(m.runners, id)
	m.mu.Unlock()
	if r != nil {
		r.halt()
	}
}

func (m *Manager) countRestart(ctx context.Context, id string, manual bool) error {
	a, man, err := m.db.IncrementSessionRestarts(ctx, id, manual)
	if err != nil {
		return mapStoreErr(id, err)
	}
	kind := "auto"
	if manual {
		kind = "manual"
	}
	m.metrics.restarts.WithLabelValues(id, kind).Inc()
	m.mu.Lock()
	m.counts[id] = &RestartCounts{Auto: a, Manual: man}
	m.mu.Unlock()
	return nil
}

// tradesOwnSymbols refuses a strategy whose parameters trade a symbol that
// is not one of the session's (strategy.SymbolTrader): the session looks for
// its orders on its own symbols only.
func tradesOwnSymbols(st strategy.Strategy, symbols []string) error {
	t, ok := st.(strategy.SymbolTrader)
	if !ok {
		return nil
	}
	for _, sym := range t.TradedSymbols() {
		if !slices.ContainsFunc(symbols, func(s string) bool { return strings.EqualFold(s, sym) }) {
			return &InvalidError{Field: "params", Reason: fmt.Sprintf("the strategy trades %s, which is not one of the session's symbols (%s): add it to the symbols or change the parameters",
				sym, strings.Join(symbols, ", "))}
		}
	}
	return nil
}

// UpdateParams validates and stores new parameters (and tags when
// non-nil). When ifUpdated is not zero it must equal the session's
// UpdatedAt, else ErrStale. A running session uses them from its next step.
func (m *Manager) UpdateParams(ctx context.Context, id string, params json.RawMessage, tags []string, ifUpdated time.Time, actor string) (Session, error) {
	err := m.withLock(id, func() error {
		s, err := m.Get(ctx, id)
		if err != nil {
			return err
		}
		st, err := strategy.New(s.Strategy, params)
		if err != nil {
			return err
		}
		if err := tradesOwnSymbols(st, s.Symbols); err != nil {
			return err
		}
		if ifUpdated.IsZero() {
			ifUpdated = s.UpdatedAt
		}
		if _, err := m.db.UpdateSessionParams(ctx, id, params, tags, ifUpdated); err != nil {
			return mapStoreErr(id, err)
		}
		m.mu.Lock()
		r := m.runners[id]
		m.mu.Unlock()
		if r != nil {
			r.setParams(params)
		}
		m.log.Info("session params updated", "session", id, "actor", actor)
		return nil
	})
	if err != nil {
		return Session{}, fmt.Errorf("update session %s params: %w", id, err)
	}
	return m.Get(ctx, id)
}

// Delete removes a stopped (or never started) session that is flat: no
// open orders and no position above the symbol's minimum quantity. With
// force it stops the session first, cancels what it can and deletes it
// regardless.
func (m *Manager) Delete(ctx context.Context, id string, force bool, actor string) error {
	err := m.withLock(id, func() error {
		s, err := m.Get(ctx, id)
		if err != nil {
			return err
		}
		if s.State != Stopped && s.State != Created {
			if !force {
				return &StateError{SessionID: id, Action: "delete", State: s.State}
			}
			if CanTransition(s.State, Stopping) {
				if err := m.stopLocked(ctx, id, actor); err != nil {
					return err
				}
			} else {
				m.halt(id)
			}
		}
		if !force {
			if err := m.checkFlat(ctx, s); err != nil {
				return err
			}
		} else {
			m.cancelOpen(ctx, s)
		}
		m.halt(id)
		if err := m.db.DeleteSession(ctx, id); err != nil {
			return mapStoreErr(id, err)
		}
		m.mu.Lock()
		delete(m.counts, id)
		m.mu.Unlock()
		m.log.Info("session deleted", "session", id, "actor", actor, "force", force)
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete session %s: %w", id, err)
	}
	return nil
}

func (m *Manager) checkFlat(ctx context.Context, s Session) error {
	acct, err := m.opts.Accounts.Account(ctx, s.AccountID)
	if err != nil {
		return fmt.Errorf("account %d: %w", s.AccountID, err)
	}
	open, err := m.openOrders(ctx, acct.Venue, s.ID, s.Symbols, "")
	if err != nil {
		return err
	}
	fills, err := m.db.SessionFills(ctx, s.ID)
	if err != nil {
		return err
	}
	pos := map[string]venue.Decimal{}
	for _, f := range fills {
		q := f.Quantity
		if f.Side == string(venue.Sell) {
			q = q.Neg()
		}
		if sym, err := m.symbol(ctx, s.AccountID, acct.Venue, f.Symbol); err == nil && f.FeeAsset == sym.Base {
			q = q.Sub(f.Fee) // a fee paid in base leaves the position
		}
		pos[f.Symbol] = pos[f.Symbol].Add(q)
	}
	left := map[string]venue.Decimal{}
	for symName, q := range pos {
		if q.IsZero() {
			continue
		}
		if sym, err := m.symbol(ctx, s.AccountID, acct.Venue, symName); err == nil && sym.MinQty.IsPos() && q.Abs().LessThan(sym.MinQty) {
			continue // dust that cannot be traded away
		}
		left[symName] = q
	}
	if len(open) > 0 || len(left) > 0 {
		return &NotFlatError{SessionID: s.ID, OpenOrders: len(open), Positions: left}
	}
	return nil
}

// cancelOpen cancels a session's open orders; it returns how many it
// canceled and the first error.
func (m *Manager) cancelOpen(ctx context.Context, s Session) (int, error) {
	acct, err := m.opts.Accounts.Account(ctx, s.AccountID)
	if err != nil {
		return 0, fmt.Errorf("account %d: %w", s.AccountID, err)
	}
	open, err := m.openOrders(ctx, acct.Venue, s.ID, s.Symbols, "")
	if err != nil {
		return 0, err
	}
	n := 0
	var first error
	for _, o := range open {
		_, err := acct.Orders.Cancel(ctx, Intent{SessionID: s.ID, AccountID: s.AccountID, Fence: m.fenceBestEffort(s.ID),
			Request: venue.OrderRequest{ClientOrderID: o.ClientOrderID, Symbol: o.Symbol}})
		if err != nil && first == nil {
			first = fmt.Errorf("cancel %q: %w", o.ClientOrderID, err)
		}
		if err == nil {
			n++
		}
	}
	return n, first
}

// StepOptions customise one TradeNowWith step. The zero value is a plain
// manual step (TradeNow).
type StepOptions struct {
	// ClientOrderID, when set, names the step's n-th order (n from 0)
	// instead of the session's step counter; Trade All passes ids derived
	// from its run key so a resumed run can find what a step sent. Every id
	// must satisfy venue.ClientOrderIDPattern and never repeat across steps;
	// the session then recognises these orders as its own (open orders,
	// cancel on stop) through the journal.
	ClientOrderID func(n int) string
	// StepID names a caller-named step (with ClientOrderID). Once every
	// order of the step has a known outcome, it is saved as the session's
	// ClosedStep in the same write as the strategy state, so after a crash
	// the caller can tell whether the step's outcome reached the strategy
	// (ClosedStep is StepID) or must be replayed under the same ids.
	StepID string
	// BeforePlace, when set, is called before each order is sent (Trade
	// All's pacing); an error aborts the step before that order with the
	// error returned. An abort is not a failure of the session.
	BeforePlace func(ctx context.Context) error
	// Trigger names the step in its report, e.g. "trade-all"; default
	// "manual".
	Trigger string
}

// TradeNow runs one trade step of a running session now; it is
// TradeNowWith with zero StepOptions.
func (m *Manager) TradeNow(ctx context.Context, id, actor string) (StepReport, error) {
	return m.TradeNowWith(ctx, id, actor, StepOptions{})
}

// TradeNowWith runs one trade step of a running session now, in the
// session's supervisor goroutine: serialized with its scheduled steps (never
// two steps of one session at once), under the same deadline, with panics
// recovered into a recorded failure and the strategy state persisted. A
// step that fails returns its report and a *StepError; a strategy failure
// then goes through the restart policy as for a scheduled step, while an
// abort (BeforePlace error, ctx ended: FailAborted) leaves the session
// running.
//
// A session that cannot step now returns a report whose Skip names why,
// together with a *StateError (errors.Is ErrIllegalState), as TradeNow has
// always done: Skip is "paused" or "quarantined" for those states and
// "not_running" for every other (created, stopped, failed, restarting,
// stopping); Note names the state. A session this node does not own
// (Options.Owns) fails with an error wrapping ErrNotOwner, a missing one
// with ErrNotFound.
//
// When ctx ends the step is canceled and TradeNowWith waits up to
// AbandonGrace for it, returning its report and an error wrapping
// ctx.Err().
func (m *Manager) TradeNowWith(ctx context.Context, id, actor string, opts StepOptions) (StepReport, error) {
	st, err := m.db.SessionState(ctx, id)
	if err != nil {
		return StepReport{SessionID: id}, fmt.Errorf("trade session %s: %w", id, mapStoreErr(id, err))
	}
	if !m.ownsHere(id) {
		return StepReport{SessionID: id}, fmt.Errorf("trade session %s: %w", id, ErrNotOwner)
	}
	m.mu.Lock()
	r := m.runners[id]
	m.mu.Unlock()
	notRunning := func() (StepReport, error) {
		s, err := m.Get(ctx, id)
		if err != nil {
			return StepReport{SessionID: id}, fmt.Errorf("trade session %s: %w", id, err)
		}
		return notTradable(id, s.State)
	}
	if r == nil {
		return notRunning()
	}
	if State(st) != Running && State(st) != Starting {
		return notTradable(id, State(st))
	}
	m.log.Info("trade now", "session", id, "actor", actor, "trigger", opts.Trigger)
	req := tradeReq{ctx: ctx, opts: opts, reply: make(chan tradeReply, 1), actor: actor}
	select {
	case r.trade <- req:
	case <-r.done:
		return notRunning()
	case <-ctx.Done():
		return StepReport{SessionID: id}, fmt.Errorf("trade session %s: %w", id, ctx.Err())
	}
	select {
	case rep := <-req.reply:
		return rep.report, rep.err
	case <-ctx.Done():
	}
	// The step is being canceled (it watches ctx); give it the grace
	// period to say what it sent.
	select {
	case rep := <-req.reply:
		return rep.report, fmt.Errorf("trade session %s: %w (step: %w)", id, ctx.Err(), errOr(rep.err))
	case <-m.clk.After(m.grace):
		return StepReport{SessionID: id}, fmt.Errorf("trade session %s: %w", id, ctx.Err())
	}
}

func errOr(err error) error {
	if err == nil {
		return errors.New("finished")
	}
	return err
}

// notTradable is TradeNowWith's answer for a session that cannot step in
// state st.
func notTradable(id string, st State) (StepReport, error) {
	code := SkipCode(st)
	if code == "" {
		code = apperr.NotRunning // stored running, but no runner here
	}
	return StepReport{SessionID: id, Skip: string(code), SkipCode: code, Note: fmt.Sprintf("session is %s", st)},
		&StateError{SessionID: id, Action: "trade", State: st}
}

// SkipCode is why a session in state st cannot step: "" when running,
// apperr.Paused or Quarantined for those states, apperr.NotRunning for
// every other.
func SkipCode(st State) apperr.Code {
	switch st {
	case Running:
		return ""
	case Paused:
		return apperr.Paused
	case Quarantined:
		return apperr.Quarantined
	}
	return apperr.NotRunning
}

// Preview runs the session's strategy once in dry run: nothing is sent and
// no state is saved; the report's Planned lists the orders it would place.
// It works in any state.
func (m *Manager) Preview(ctx context.Context, id string) (StepReport, error) {
	s, err := m.Get(ctx, id)
	if err != nil {
		return StepReport{SessionID: id}, err
	}
	strat, err := strategy.New(s.Strategy, s.Params)
	if err != nil {
		return StepReport{SessionID: id}, fmt.Errorf("preview session %s: %w", id, err)
	}
	acct, err := m.opts.Accounts.Account(ctx, s.AccountID)
	if err != nil {
		return StepReport{SessionID: id}, fmt.Errorf("preview session %s: account %d: %w", id, s.AccountID, err)
	}
	e := m.newEnv(ctx, s, acct, true, s.StrategyState)
	rep := StepReport{SessionID: id, Trigger: "preview", Started: m.clk.Now()}
	res, err := runGuarded(ctx, strat, e)
	e.seal()
	rep.fill(e, res, m.clk.Now())
	if err != nil {
		rep.Error = err.Error()
		return rep, fmt.Errorf("preview session %s: %w", id, err)
	}
	return rep, nil
}

func runGuarded(ctx context.Context, s strategy.Strategy, e strategy.Env) (res strategy.StepResult, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v}
		}
	}()
	return s.Step(ctx, e)
}

// Stats returns the restart counters (persisted, per session and total),
// the number of live supervisor goroutines and step counts since start.
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := Stats{Sessions: make(map[string]RestartCounts, len(m.counts)), Failures: map[FailureKind]int64{}, Steps: m.steps}
	for id, c := range m.counts {
		st.Sessions[id] = *c
		st.RestartsAuto += c.Auto
		st.RestartsManual += c.Manual
	}
	for k, v := range m.fails {
		st.Failures[k] = v
	}
	for _, r := range m.runners {
		select {
		case <-r.done:
		default:
			st.Running++
		}
	}
	return st
}

func (m *Manager) newEnv(ctx context.Context, s Session, acct Account, dry bool, state json.RawMessage) *env {
	return &env{m: m, ctx: ctx, id: s.ID, account: s.AccountID, symbols: s.Symbols, params: s.Params, alloc: s.Allocation,
		acct: acct, now: m.clk.Now(), dry: dry, state: state}
}

func (m *Manager) fence(id string) int64 {
	if m.opts.Fence == nil {
		return 0
	}
	return m.opts.Fence(id)
}

// guard returns the fencing token an order of session id must carry: the
// lease guard's when Options.Guard is set (an error: the order must not
// leave), else Fence's.
func (m *Manager) guard(id string) (int64, error) {
	if m.opts.Guard == nil {
		return m.fence(id), nil
	}
	tok, err := m.opts.Guard(id)
	if err != nil {
		return 0, fmt.Errorf("session %s lease guard: %w: %w", id, ErrNotOwner, err)
	}
	return tok, nil
}

// fenceBestEffort is the token for cleanup outside a step (cancel on
// stop): the guard's when it allows, else Fence's, and the journal refuses
// it if it is stale.
func (m *Manager) fenceBestEffort(id string) int64 {
	if tok, err := m.guard(id); err == nil {
		return tok
	}
	return m.fence(id)
}

// ownsHere reports whether this node may run session id (Options.Owns).
func (m *Manager) ownsHere(id string) bool {
	return m.opts.Owns == nil || m.opts.Owns(id)
}

// rememberOrder notes that clientOrderID, not derived from ClientOrderID,
// is session id's (before it is sent).
func (m *Manager) rememberOrder(clientOrderID, id string) {
	m.extMu.Lock()
	defer m.extMu.Unlock()
	if len(m.ext) >= 100_000 {
		clear(m.ext) // a cache: the journal still knows
	}
	m.ext[clientOrderID] = id
}

// extOwner says which session placed clientOrderID when its id is not
// derived from ClientOrderID: from memory, else from the journal's order
// row (cached: an order's session never changes, and an order seen at the
// venue was journaled before it was sent).
func (m *Manager) extOwner(clientOrderID string) string {
	m.extMu.Lock()
	sid, ok := m.ext[clientOrderID]
	m.extMu.Unlock()
	if ok {
		return sid
	}
	o, err := m.db.OrderByClientID(m.base, clientOrderID)
	switch {
	case err == nil:
		sid = o.SessionID
	case errors.Is(err, store.ErrNotFound):
		sid = ""
	default:
		return "" // unknown now; ask again next time
	}
	m.rememberOrder(clientOrderID, sid)
	return sid
}

// owns reports whether clientOrderID is one of session id's orders: by the
// id format, else (ids a caller chose, as Trade All's) by the journal.
func (m *Manager) owns(id, clientOrderID string) bool {
	return m.ownsByFormat(id, clientOrderID) || m.extOwner(clientOrderID) == id
}

func (m *Manager) ownsByFormat(id, clientOrderID string) bool {
	if m.opts.OwnsOrder != nil {
		return m.opts.OwnsOrder(id, clientOrderID)
	}
	a, b := m.cid(id, 1, 0), m.cid(id, 2, 1)
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	if n >= len(id) {
		return strings.HasPrefix(clientOrderID, a[:n])
	}
	return strings.Contains(clientOrderID, id)
}

func (m *Manager) openOrders(ctx context.Context, v venue.Venue, id string, symbols []string, symbol string) ([]venue.Order, error) {
	all, err := v.OpenOrders(ctx, symbol)
	if err != nil {
		return nil, fmt.Errorf("session %s open orders: %w", id, err)
	}
	out := all[:0:0]
	for _, o := range all {
		if (symbol != "" || slices.Contains(symbols, o.Symbol)) && m.owns(id, o.ClientOrderID) {
			out = append(out, o)
		}
	}
	return out, nil
}

// symbol returns a market's filters, cached per account.
func (m *Manager) symbol(ctx context.Context, account int64, v venue.Venue, name string) (venue.Symbol, error) {
	m.symMu.Lock()
	s, ok := m.syms[account][name]
	m.symMu.Unlock()
	if ok {
		return s, nil
	}
	list, err := v.Symbols(ctx)
	if err != nil {
		return venue.Symbol{}, fmt.Errorf("symbols of account %d: %w", account, err)
	}
	byName := make(map[string]venue.Symbol, len(list))
	for _, s := range list {
		byName[s.Name] = s
	}
	m.symMu.Lock()
	m.syms[account] = byName
	m.symMu.Unlock()
	s, ok = byName[name]
	if !ok {
		return s, fmt.Errorf("symbol %s on account %d: %w", name, account, venue.ErrInvalid)
	}
	return s, nil
}

func (m *Manager) alert(ctx context.Context, a Alert) {
	if a.At.IsZero() {
		a.At = m.clk.Now()
	}
	if a.Source == "" {
		a.Source = "session"
	}
	m.log.Warn("session alert", "session", a.SessionID, "severity", a.Severity, "message", a.Message)
	if m.opts.Alerter != nil {
		if err := m.opts.Alerter.Raise(ctx, a); err != nil {
			m.log.Error("raise alert", "session", a.SessionID, "err", err)
		}
	}
}

// backoff is the wait before the (n+1)-th restart in the window.
func (m *Manager) backoff(p RestartPolicy, n int) time.Duration {
	return backoff.Policy{Initial: time.Duration(p.BackoffInitial), Max: time.Duration(p.BackoffMax),
		Jitter: p.Jitter, Rand: m.draw}.Delay(n)
}

// draw is the seeded source's next value in [0, 1).
func (m *Manager) draw() float64 {
	m.rndMu.Lock()
	defer m.rndMu.Unlock()
	return m.rnd.Float64()
}
