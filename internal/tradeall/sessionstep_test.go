package tradeall

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/apperr"
	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// fakeManager stands in for the session manager of one session: it
// refuses a step, the way session.Manager.TradeNowWith does, while the
// session is not running here, then steps it with one order.
type fakeManager struct {
	mu     sync.Mutex
	state  session.State // what Get reads
	closed string        // Session.ClosedStep
	// refuse lists the states of the next refusals, in order; while it
	// is not empty a step is refused in its head state, which Get then
	// reads too (an adoption moves the session running -> restarting ->
	// starting -> running).
	refuse []session.State
	trades int
	ids    []string // first order id of each step that ran
	// during runs inside a step that was not refused, with its context
	// and first order id; an error it returns is the step's, as the
	// strategy's error.
	during func(ctx context.Context, id string) error
	// reads lists the states the next Get calls read, in order (a session
	// being adopted, seen by a preview); then Get reads state.
	reads []session.State
}

func (f *fakeManager) Get(_ context.Context, id string) (session.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.state
	if len(f.reads) > 0 {
		st, f.reads = f.reads[0], f.reads[1:]
	}
	return session.Session{ID: id, State: st, Desired: session.WantRunning, ClosedStep: f.closed}, nil
}

// Preview plans one market buy, in any state (as session.Manager does).
func (f *fakeManager) Preview(_ context.Context, id string) (session.StepReport, error) {
	return session.StepReport{SessionID: id, Planned: []venue.OrderRequest{{Symbol: "BTCUSDT", Side: venue.Buy, Type: venue.Market,
		Quantity: udecimal.MustParse("0.001")}}}, nil
}

func (f *fakeManager) TradeNowWith(ctx context.Context, id, _ string, opts session.StepOptions) (session.StepReport, error) {
	f.mu.Lock()
	f.trades++
	if len(f.refuse) > 0 {
		st := f.refuse[0]
		f.refuse = f.refuse[1:]
		f.state = st
		if len(f.refuse) == 0 {
			f.state = session.Running // its runner is up now
		}
		f.mu.Unlock()
		return session.StepReport{SessionID: id, Skip: string(apperr.NotRunning), SkipCode: apperr.NotRunning, Note: "session is " + string(st)},
			&session.StateError{SessionID: id, Action: "trade", State: st}
	}
	f.ids = append(f.ids, opts.StepID)
	during := f.during
	f.mu.Unlock()
	if during != nil {
		if err := during(ctx, opts.ClientOrderID(0)); err != nil {
			return session.StepReport{SessionID: id, Error: err.Error()}, err
		}
	}
	return session.StepReport{SessionID: id, Placed: []venue.Order{{ClientOrderID: opts.ClientOrderID(0), Symbol: "BTCUSDT",
		Side: venue.Buy, Type: venue.Market, Quantity: udecimal.MustParse("0.001"), Status: venue.StatusFilled}}}, nil
}

// fakeJournal holds the journal's order rows and failure events.
type fakeJournal struct {
	orders []store.Order
	events map[string]store.JournalEvent // failure event by client order id
}

func (j *fakeJournal) OrdersByClientPrefix(_ context.Context, prefix string) ([]store.Order, error) {
	var out []store.Order
	for _, o := range j.orders {
		if strings.HasPrefix(o.ClientOrderID, prefix) {
			out = append(out, o)
		}
	}
	return out, nil
}

func (j *fakeJournal) JournalEvents(_ context.Context, q store.EventQuery) ([]store.JournalEvent, error) {
	if e, ok := j.events[q.ClientOrderID]; ok {
		return []store.JournalEvent{e}, nil
	}
	return nil, nil
}

func newTestStepper(t *testing.T, m *fakeManager, j *fakeJournal, place func(context.Context, journal.Intent) (venue.Order, error)) *SessionStepper {
	t.Helper()
	if place == nil {
		place = func(context.Context, journal.Intent) (venue.Order, error) {
			return venue.Order{}, errors.New("no venue")
		}
	}
	s, err := NewSessionStepper(SessionStepperConfig{Sessions: m, Journal: j, Clustered: true, Place: place,
		Allocation: func(context.Context, session.Session, []venue.OrderRequest) (Allocation, error) {
			return Allocation{OK: true}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	s.wait = time.Second // a refusal that lasts is not transient; keep the test short
	return s
}

// TestSessionStepWaitsForAdoption: a session this node just adopted after
// a failover is stored running before its runner is up here, then passes
// through restarting and starting. A step that reaches it then is refused
// in those states; it must wait and step the session, not skip it as not
// running (the flake of TestTradeAllSurvivesStartingNodeKill) nor give it
// away as not here.
func TestSessionStepWaitsForAdoption(t *testing.T) {
	t.Parallel()
	for _, resumed := range []bool{false, true} {
		t.Run(fmt.Sprint("resumed=", resumed), func(t *testing.T) {
			t.Parallel()
			key := StepKey{RunID: "run-1", SessionID: "s1"}
			j := &fakeJournal{}
			if resumed {
				// The dead node's attempt, settled as never executed.
				j.orders = []store.Order{{ClientOrderID: journal.TradeAllOrderID(key.Ref(), 0, 0), SessionID: "s1"}}
			}
			m := &fakeManager{state: session.Running, refuse: []session.State{session.Restarting, session.Running, session.Starting}}
			res, err := newTestStepper(t, m, j, nil).Step(context.Background(), StepRequest{Key: key, Resumed: resumed})
			if err != nil || res.Skip != "" || len(res.Orders) != 1 {
				t.Fatalf("step = %+v, %v; want one order, no skip", res, err)
			}
			attempt := 0
			if resumed {
				attempt = 1
			}
			want := journal.TradeAllOrderID(key.Ref(), attempt, 0)
			if m.trades != 4 || len(m.ids) != 1 || m.ids[0] != want {
				t.Fatalf("%d trade calls, steps run %v; want 4 calls and one step %s", m.trades, m.ids, want)
			}
		})
	}
}

// TestSessionPlanWaitsForAdoption: a preview that reaches a session in
// the instant of its adoption (stored restarting, then starting) plans its
// step as the run would take it, not as skipped "not running"; a session
// that stays starting past the wait is skipped.
func TestSessionPlanWaitsForAdoption(t *testing.T) {
	t.Parallel()
	m := &fakeManager{state: session.Running, reads: []session.State{session.Restarting, session.Starting}}
	plan, err := newTestStepper(t, m, &fakeJournal{}, nil).Plan(context.Background(), "s1")
	if err != nil || plan.Skip != "" || len(plan.Orders) != 1 {
		t.Fatalf("plan = %+v, %v; want one order, no skip", plan, err)
	}
	if len(m.reads) != 0 {
		t.Fatalf("%d adoption states left unread: the plan did not wait", len(m.reads))
	}

	m = &fakeManager{state: session.Starting}
	plan, err = newTestStepper(t, m, &fakeJournal{}, nil).Plan(context.Background(), "s1")
	if err != nil || plan.Skip != SkipNotRunning {
		t.Fatalf("plan = %+v, %v; want skipped %s", plan, err, SkipNotRunning)
	}
}

// TestSessionStepNotRunningHere: a session that stays refused past the
// wait is given back to its owner (ErrNotHere) when nothing of the step
// is stored, and skipped as not running when an earlier attempt's orders
// are (the item must not go back to pending under attempt 0's ids).
func TestSessionStepNotRunningHere(t *testing.T) {
	t.Parallel()
	forever := func() []session.State {
		out := make([]session.State, 1000)
		for i := range out {
			out[i] = session.Running
		}
		return out
	}
	key := StepKey{RunID: "run-2", SessionID: "s2"}

	m := &fakeManager{state: session.Running, refuse: forever()}
	res, err := newTestStepper(t, m, &fakeJournal{}, nil).Step(context.Background(), StepRequest{Key: key})
	if !errors.Is(err, ErrNotHere) || len(res.Orders) != 0 {
		t.Fatalf("nothing stored: step = %+v, %v; want ErrNotHere", res, err)
	}
	if m.trades < 2 {
		t.Fatalf("%d trade calls: the step did not wait for the session", m.trades)
	}

	j := &fakeJournal{orders: []store.Order{{ClientOrderID: journal.TradeAllOrderID(key.Ref(), 0, 0), SessionID: "s2"}}}
	m = &fakeManager{state: session.Running, refuse: forever()}
	res, err = newTestStepper(t, m, j, nil).Step(context.Background(), StepRequest{Key: key, Resumed: true})
	if err != nil || res.Skip != SkipNotRunning {
		t.Fatalf("orders stored: step = %+v, %v; want skipped %s", res, err, SkipNotRunning)
	}
}

// TestSessionStepPausedSkips: a real state is skipped at once, without a
// step.
func TestSessionStepPausedSkips(t *testing.T) {
	t.Parallel()
	m := &fakeManager{state: session.Paused}
	res, err := newTestStepper(t, m, &fakeJournal{}, nil).Step(context.Background(), StepRequest{Key: StepKey{RunID: "r", SessionID: "p"}})
	if err != nil || res.Skip != SkipPaused || m.trades != 0 {
		t.Fatalf("step = %+v, %v after %d trade calls; want skipped paused without a call", res, err, m.trades)
	}
}

// TestSessionStepSettle: Settle reads the journal: no order under the
// step's prefix, or only orders the venue never saw, means the step did
// not start; a stored order the venue knows is the step's result.
func TestSessionStepSettle(t *testing.T) {
	t.Parallel()
	key := StepKey{RunID: "run-3", SessionID: "s3"}
	id := journal.TradeAllOrderID(key.Ref(), 0, 0)
	stored := []store.Order{{ClientOrderID: id, SessionID: "s3", AccountID: 7, Symbol: "BTCUSDT", Side: "BUY", Type: "MARKET",
		Quantity: udecimal.MustParse("0.001")}}
	tests := []struct {
		name    string
		orders  []store.Order
		place   func(context.Context, journal.Intent) (venue.Order, error)
		started bool
		class   string
	}{
		{name: "nothing stored", started: false},
		{name: "venue never saw it", orders: stored, started: false,
			place: func(context.Context, journal.Intent) (venue.Order, error) {
				return venue.Order{}, &journal.Error{ClientOrderID: id, Kind: journal.KindRejected, Class: string(venue.ClassNotFound)}
			}},
		{name: "kept from leaving", orders: stored, started: false,
			place: func(context.Context, journal.Intent) (venue.Order, error) {
				return venue.Order{}, &journal.Error{ClientOrderID: id, Kind: journal.KindRejected, Class: journal.ClassStaleFence}
			}},
		{name: "executed", orders: stored, started: true,
			place: func(_ context.Context, in journal.Intent) (venue.Order, error) {
				if in.AccountID != 7 || in.Request.ClientOrderID != id {
					return venue.Order{}, fmt.Errorf("placed %d %s, want the stored order", in.AccountID, in.Request.ClientOrderID)
				}
				return venue.Order{ClientOrderID: id, Status: venue.StatusFilled}, nil
			}},
		{name: "venue rejected it", orders: stored, started: true, class: "rejected",
			place: func(context.Context, journal.Intent) (venue.Order, error) {
				return venue.Order{}, &journal.Error{ClientOrderID: id, Kind: journal.KindRejected, Class: "rejected"}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// ClosedStep names the step: its outcome reached the
			// strategy, so nothing is replayed.
			m := &fakeManager{state: session.Running, closed: id}
			st, err := newTestStepper(t, m, &fakeJournal{orders: tt.orders}, tt.place).Settle(context.Background(), key)
			if err != nil || st.Started != tt.started {
				t.Fatalf("settle = %+v, %v; want started %v", st, err, tt.started)
			}
			var ce *ClassError
			if tt.class != "" && (!errors.As(st.Err, &ce) || ce.Class != tt.class) {
				t.Fatalf("settle error %v, want class %s", st.Err, tt.class)
			}
			if tt.class == "" && st.Err != nil {
				t.Fatalf("settle error %v", st.Err)
			}
			if m.trades != 0 {
				t.Fatalf("settle stepped the session %d times", m.trades)
			}
		})
	}
}

// TestSessionStepRejectionAborts: the Placer cancels the step whose order
// the journal rejected, and the step reads as skipped by the allocation
// check, not as a failure of the session.
func TestSessionStepRejectionAborts(t *testing.T) {
	t.Parallel()
	key := StepKey{RunID: "run-4", SessionID: "s4"}
	var s *SessionStepper
	refused := &journal.Error{Op: "place order", Kind: journal.KindRejected, Class: journal.ClassAllocation,
		Err: errors.New("exceeds the allocation")}
	placer := rejecting{err: refused}
	m := &fakeManager{state: session.Running, during: func(ctx context.Context, id string) error {
		refused.ClientOrderID = id
		_, err := s.Placer(placer).Place(ctx, session.Intent{Request: venue.OrderRequest{ClientOrderID: id}})
		if err == nil {
			t.Error("the placer hid the rejection")
		}
		if ctx.Err() == nil {
			t.Error("a rejected order did not cancel its step")
		}
		return fmt.Errorf("strategy: %w", err)
	}}
	s = newTestStepper(t, m, &fakeJournal{}, nil)
	res, err := s.Step(context.Background(), StepRequest{Key: key})
	if err != nil || res.Skip != SkipAllocationExceeded {
		t.Fatalf("step = %+v, %v; want skipped %s", res, err, SkipAllocationExceeded)
	}
}

// rejecting is an order placer whose every order is rejected with err.
type rejecting struct{ err error }

func (r rejecting) Place(context.Context, session.Intent) (venue.Order, error) {
	return venue.Order{}, r.err
}
func (r rejecting) Cancel(context.Context, session.Intent) (venue.Order, error) {
	return venue.Order{}, r.err
}
