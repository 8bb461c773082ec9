package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/strategy"
	_ "github.com/tradeplane/tradeplane/internal/strategy/builtin"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// Test strategies.
type panicky struct{}

func (panicky) Interval() time.Duration { return 10 * time.Second }
func (panicky) Step(context.Context, strategy.Env) (strategy.StepResult, error) {
	panic("strategy bug")
}

// stuck blocks (until canceled) on its first step ever, then behaves; it
// records calls in its persisted state.
type stuck struct{}

func (stuck) Interval() time.Duration { return 10 * time.Second }
func (stuck) Step(ctx context.Context, env strategy.Env) (strategy.StepResult, error) {
	var st struct{ Calls int }
	env.State(&st)
	st.Calls++
	env.SetState(st)
	if st.Calls == 1 {
		<-ctx.Done()
		return strategy.StepResult{}, ctx.Err()
	}
	return strategy.StepResult{Note: "fine"}, nil
}

// deaf's first step ignores its context and blocks until deafRelease is
// closed: a step the runner must abandon. Its later steps are fine.
type deaf struct{}

var (
	deafCalls   atomic.Int64
	deafRelease = make(chan struct{})
)

func (deaf) Interval() time.Duration { return 10 * time.Second }
func (deaf) Step(ctx context.Context, env strategy.Env) (strategy.StepResult, error) {
	if deafCalls.Add(1) == 1 {
		<-deafRelease
	}
	return strategy.StepResult{Note: "fine"}, nil
}

func init() {
	strategy.Register(strategy.Info{Name: "test-deaf", Factory: func(json.RawMessage) (strategy.Strategy, error) { return deaf{}, nil }})
	strategy.Register(strategy.Info{Name: "test-panic", Factory: func(json.RawMessage) (strategy.Strategy, error) { return panicky{}, nil }})
	strategy.Register(strategy.Info{Name: "test-stuck", Factory: func(json.RawMessage) (strategy.Strategy, error) { return stuck{}, nil }})
}

// placer is a behaving OrderPlacer: it refuses a client order id it has
// seen (as the journal would) and sends to the venue.
type placer struct {
	v    venue.Venue
	mu   sync.Mutex
	seen map[string]bool
	dups int
}

func (p *placer) Place(ctx context.Context, in session.Intent) (venue.Order, error) {
	p.mu.Lock()
	if p.seen[in.Request.ClientOrderID] {
		p.dups++
		p.mu.Unlock()
		return venue.Order{}, fmt.Errorf("client order id %q reused: %w", in.Request.ClientOrderID, venue.ErrDuplicateOrder)
	}
	p.seen[in.Request.ClientOrderID] = true
	p.mu.Unlock()
	return p.v.PlaceOrder(ctx, in.Request)
}

func (p *placer) Cancel(ctx context.Context, in session.Intent) (venue.Order, error) {
	return p.v.CancelOrder(ctx, in.Request.Symbol, in.Request.ClientOrderID)
}

type alerter struct {
	mu     sync.Mutex
	alerts []session.Alert
}

func (a *alerter) Raise(_ context.Context, al session.Alert) error {
	a.mu.Lock()
	a.alerts = append(a.alerts, al)
	a.mu.Unlock()
	return nil
}

func (a *alerter) find(sev session.Severity, sub string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, al := range a.alerts {
		if al.Severity == sev && strings.Contains(al.Message, sub) {
			return true
		}
	}
	return false
}

type bundle struct {
	db      *store.DB
	clk     *clock.Fake
	ex      *paper.Exchange
	placer  *placer
	alerts  *alerter
	account int64
	steps   sync.Map // session id → *int (under stepMu)
	stepMu  sync.Mutex
	fails   []session.Failure
	reg     *prometheus.Registry
}

func setup(t *testing.T) *bundle {
	t.Helper()
	return setupAt(t, storetest.SQLiteURL(t))
}

// setupAt is setup on the database at url.
func setupAt(t *testing.T, url string) *bundle {
	t.Helper()
	b := &bundle{db: storetest.Open(t, url), clk: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
	b.ex = paper.MustNew(paper.Config{Clock: b.clk, NoFee: true, Prices: map[string]venue.Decimal{
		"BTCUSDT": udecimal.MustParse("50000"), "ETHUSDT": udecimal.MustParse("2000")}})
	if err := b.ex.Fund("main", venue.WalletSpot, "USDT", udecimal.MustParse("1000000")); err != nil {
		t.Fatal(err)
	}
	if err := b.ex.Fund("main", venue.WalletSpot, "BTC", udecimal.MustParse("10")); err != nil {
		t.Fatal(err)
	}
	a := &store.Account{Name: "main", Venue: "paper"}
	if err := b.db.CreateAccount(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	b.account = a.ID
	b.placer = &placer{v: b.ex.Account("main"), seen: map[string]bool{}}
	b.alerts = &alerter{}
	return b
}

func (b *bundle) manager(t *testing.T, tweak func(*session.Options)) *session.Manager {
	t.Helper()
	b.reg = prometheus.NewRegistry()
	opts := session.Options{
		Store: b.db, Clock: b.clk, Seed: 1, Alerter: b.alerts, Registerer: b.reg,
		StepDeadline: 30 * time.Second, AbandonGrace: time.Second,
		RestartPolicy: session.RestartPolicy{MaxRestarts: 3, Window: strategy.Duration(time.Hour),
			BackoffInitial: strategy.Duration(time.Second), BackoffMax: strategy.Duration(4 * time.Second), Jitter: -1},
		Accounts: session.AccountsFunc(func(ctx context.Context, id int64) (session.Account, error) {
			return session.Account{Venue: b.ex.Account("main"), Orders: b.placer,
				Prices: session.PriceFunc(func(ctx context.Context, s string) (venue.Decimal, error) {
					tk, ok := b.ex.Price(s)
					if !ok {
						return venue.Decimal{}, errors.New("no price")
					}
					return tk.Price, nil
				})}, nil
		}),
		OnStep: func(r session.StepReport) {
			b.stepMu.Lock()
			v, _ := b.steps.LoadOrStore(r.SessionID, new(int))
			*v.(*int)++
			b.stepMu.Unlock()
		},
		OnFailure: func(_ context.Context, f session.Failure) {
			b.stepMu.Lock()
			b.fails = append(b.fails, f)
			b.stepMu.Unlock()
		},
	}
	if tweak != nil {
		tweak(&opts)
	}
	m, err := session.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func (b *bundle) stepsOf(id string) int {
	b.stepMu.Lock()
	defer b.stepMu.Unlock()
	v, ok := b.steps.Load(id)
	if !ok {
		return 0
	}
	return *v.(*int)
}

// drive advances the fake clock a second at a time, yielding to the
// supervisor goroutines, until cond holds (or fails t after 15s of real
// time).
func (b *bundle) drive(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (fake time %s)", what, b.clk.Now().Format(time.TimeOnly))
		}
		b.clk.Advance(time.Second)
		time.Sleep(time.Millisecond)
	}
}

func (b *bundle) state(t *testing.T, m *session.Manager, id string) session.State {
	t.Helper()
	s, err := m.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return s.State
}

func (b *bundle) create(t *testing.T, m *session.Manager, name, strat, params string, tags ...string) session.Session {
	t.Helper()
	s, err := m.Create(t.Context(), session.Spec{Name: name, Strategy: strat, AccountID: b.account, Symbols: []string{"BTCUSDT"},
		Params: json.RawMessage(params), Allocation: session.Allocation{Kind: session.AllocFixed, Amount: udecimal.MustParse("1000")}, Tags: tags}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const dcaParams = `{"symbol":"BTCUSDT","quote_amount":"10","interval":"10s"}`

func TestPanickingSessionIsQuarantinedWhileOthersKeepTrading(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := b.manager(t, nil)
	ctx := t.Context()
	bad := b.create(t, m, "bad", "test-panic", `{}`)
	good := b.create(t, m, "good", "dca", dcaParams)
	for _, id := range []string{bad.ID, good.ID} {
		if _, err := m.Start(ctx, id, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	// The alert follows the transition: wait for both.
	b.drive(t, "quarantine and its alert", func() bool {
		return b.state(t, m, bad.ID) == session.Quarantined && b.alerts.find(session.SevCritical, "quarantined after 3 automatic restarts")
	})
	s, _ := m.Get(ctx, bad.ID)
	if s.RestartsAuto != 3 || !strings.Contains(s.LastError, "strategy bug") || s.Desired != session.WantRunning {
		t.Fatalf("quarantined session: %+v", s)
	}
	if !b.alerts.find(session.SevCritical, "quarantined after 3 automatic restarts") {
		t.Fatalf("no quarantine alert in %+v", b.alerts.alerts)
	}
	b.stepMu.Lock()
	nf := len(b.fails)
	b.stepMu.Unlock()
	if nf != 4 {
		t.Fatalf("recorded failures: %d, want 4 (3 restarts + the one that quarantined)", nf)
	}
	tr, _ := m.Transitions(ctx, bad.ID)
	var path []string
	for _, x := range tr {
		path = append(path, string(x.To))
	}
	want := "created starting running failed restarting starting running failed restarting starting running failed restarting starting running failed quarantined"
	if got := strings.Join(path, " "); got != want {
		t.Fatalf("transitions\n got %s\nwant %s", got, want)
	}
	// The healthy session kept trading and keeps trading.
	before := b.stepsOf(good.ID)
	if before < 3 {
		t.Fatalf("good session ran %d steps while the bad one failed", before)
	}
	b.drive(t, "more good steps", func() bool { return b.stepsOf(good.ID) >= before+3 })
	if st := b.state(t, m, good.ID); st != session.Running {
		t.Fatalf("good session is %s", st)
	}
	// A manual restart clears quarantine and counts as manual.
	if _, err := m.Start(ctx, bad.ID, "bob"); !errors.Is(err, session.ErrIllegalState) {
		t.Fatalf("start of a quarantined session: got %v, want ErrIllegalState", err)
	}
	s, err := m.Restart(ctx, bad.ID, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if s.RestartsManual != 1 {
		t.Fatalf("manual restarts %d", s.RestartsManual)
	}
	b.drive(t, "running again", func() bool { return b.state(t, m, bad.ID) == session.Running })
	st := m.Stats()
	if st.RestartsAuto != 3 || st.RestartsManual != 1 || st.Sessions[bad.ID].Manual != 1 || st.Failures[session.FailPanic] < 4 {
		t.Fatalf("stats %+v", st)
	}
	if got := counterSum(t, b.reg, "tradeplane_session_restarts_total"); got != 4 {
		t.Fatalf("prometheus restarts: got %v, want 4", got)
	}
	if b.placer.dups != 0 {
		t.Fatalf("%d client order ids reused", b.placer.dups)
	}
}

func counterSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func TestStuckStepIsCanceledAndRestarted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := b.manager(t, nil)
	ctx := t.Context()
	s := b.create(t, m, "stuck", "test-stuck", `{}`)
	if _, err := m.Start(ctx, s.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	b.drive(t, "a good step after the restart", func() bool {
		got, _ := m.Get(ctx, s.ID)
		return got.RestartsAuto == 1 && got.State == session.Running && b.stepsOf(s.ID) >= 2
	})
	got, _ := m.Get(ctx, s.ID)
	if got.LastError != "" {
		t.Fatalf("last_error not cleared by a good step: %q", got.LastError)
	}
	if string(got.StrategyState) != `{"Calls":2}` {
		t.Fatalf("state %s: the stuck step's SetState must survive the restart", got.StrategyState)
	}
	tr, _ := m.Transitions(ctx, s.ID)
	found := false
	for _, x := range tr {
		if x.To == session.Failed && strings.Contains(x.Reason, "stuck: step exceeded its 30s deadline") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no stuck failure in %+v", tr)
	}
	if m.Stats().Failures[session.FailStuck] != 1 {
		t.Fatalf("stats %+v", m.Stats())
	}
}

// A step that ignores its deadline is abandoned with the goroutine it
// runs on; the session's next steps, after the restart, run on a new one.
func TestAbandonedStepLeavesItsWorker(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := b.manager(t, nil)
	ctx := t.Context()
	s := b.create(t, m, "deaf", "test-deaf", `{}`)
	if _, err := m.Start(ctx, s.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	b.drive(t, "good steps after the abandoned one", func() bool {
		got, _ := m.Get(ctx, s.ID)
		return got.RestartsAuto == 1 && got.State == session.Running && deafCalls.Load() >= 3
	})
	tr, _ := m.Transitions(ctx, s.ID)
	if !slices.ContainsFunc(tr, func(x session.Transition) bool {
		return x.To == session.Failed && strings.Contains(x.Reason, "ignored cancellation")
	}) {
		t.Fatalf("no abandoned step in %+v", tr)
	}
	close(deafRelease) // the abandoned step returns; its worker ends
}

func TestBootResumesAfterReconcileAndStateSurvives(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	m1 := b.manager(t, nil)
	s := b.create(t, m1, "dca", "dca", dcaParams)
	stopped := b.create(t, m1, "idle", "dca", dcaParams)
	if _, err := m1.Start(ctx, s.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	// Two buys in the saved state: an order placed is not yet a buy saved
	// (a step closed by Close before its save stays open and is replayed).
	var st1 struct{ Buys int }
	b.drive(t, "two buys saved", func() bool {
		cur, _ := m1.Get(ctx, s.ID)
		json.Unmarshal(cur.StrategyState, &st1)
		return st1.Buys >= 2
	})
	m1.Close()
	got, _ := m1.Get(ctx, s.ID)
	json.Unmarshal(got.StrategyState, &st1)
	if st1.Buys < 2 || got.State != session.Running {
		t.Fatalf("before restart: %+v", got)
	}

	var reconciled []int64
	m2 := b.manager(t, func(o *session.Options) {
		o.Reconcile = func(ctx context.Context, acct int64) error {
			cur, _ := o.Store.Session(ctx, s.ID)
			if cur.State != string(session.Running) { // still as the dead process left it
				return fmt.Errorf("session resumed before reconcile: %s", cur.State)
			}
			reconciled = append(reconciled, acct)
			return nil
		}
	})
	if err := m2.Boot(ctx); err != nil {
		t.Fatal(err)
	}
	if len(reconciled) != 1 || reconciled[0] != b.account {
		t.Fatalf("reconciled %v", reconciled)
	}
	steps := b.stepsOf(s.ID)
	b.drive(t, "steps after resume", func() bool { return b.stepsOf(s.ID) >= steps+2 })
	got, _ = m2.Get(ctx, s.ID)
	var st2 struct{ Buys int }
	json.Unmarshal(got.StrategyState, &st2)
	if st2.Buys < st1.Buys+2 {
		t.Fatalf("strategy state lost across restart: %d buys before, %d after", st1.Buys, st2.Buys)
	}
	if got.RestartsAuto != 0 || got.RestartsManual != 0 {
		t.Fatalf("a resume is not a restart: %+v", got)
	}
	tr, _ := m2.Transitions(ctx, s.ID)
	if last := tr[len(tr)-2]; last.Reason != "resume after server start" || last.Actor != "system" {
		t.Fatalf("transitions %+v", tr)
	}
	if st := b.state(t, m2, stopped.ID); st != session.Created {
		t.Fatalf("a never-started session was resumed: %s", st)
	}
	if b.placer.dups != 0 {
		t.Fatalf("%d client order ids reused across the restart", b.placer.dups)
	}
}

func TestBootLeavesAccountDownWhenReconcileFails(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	m1 := b.manager(t, nil)
	s := b.create(t, m1, "dca", "dca", dcaParams)
	m1.Start(ctx, s.ID, "alice")
	m1.Close()
	m2 := b.manager(t, func(o *session.Options) {
		o.Reconcile = func(context.Context, int64) error { return errors.New("venue down") }
	})
	if err := m2.Boot(ctx); err == nil || !strings.Contains(err.Error(), "venue down") {
		t.Fatalf("boot: %v", err)
	}
	if m2.Stats().Running != 0 || !b.alerts.find(session.SevCritical, "venue down") {
		t.Fatalf("stats %+v alerts %+v", m2.Stats(), b.alerts.alerts)
	}
}

func TestManagerLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := b.manager(t, nil)
	ctx := t.Context()
	if _, err := m.Create(ctx, session.Spec{Name: "x", Strategy: "nope", AccountID: b.account, Symbols: []string{"BTCUSDT"}}, "a"); !errors.Is(err, strategy.ErrUnknown) {
		t.Fatalf("unknown strategy: %v", err)
	}
	var pe *strategy.ParamsError
	if _, err := m.Create(ctx, session.Spec{Name: "x", Strategy: "dca", AccountID: b.account, Symbols: []string{"BTCUSDT"}, Params: json.RawMessage(`{"symbol":"BTCUSDT"}`)}, "a"); !errors.As(err, &pe) {
		t.Fatalf("bad params: %v", err)
	}
	s := b.create(t, m, "grid", "grid", `{"symbol":"BTCUSDT","lower":"45000","upper":"55000","levels":3,"quantity":"0.001","interval":"1h"}`, "desk")
	if len(s.ID) != 10 || !strings.HasPrefix(s.ID, "s-") || s.State != session.Created {
		t.Fatalf("created %+v", s)
	}
	_, err := m.Pause(ctx, s.ID, "bob")
	if err == nil || !strings.Contains(err.Error(), "cannot pause session "+s.ID+" in state created") {
		t.Fatalf("pause created: %v", err)
	}
	if _, err := m.TradeNow(ctx, s.ID, "bob"); !errors.Is(err, session.ErrIllegalState) {
		t.Fatalf("trade a created session: %v", err)
	}
	pv, err := m.Preview(ctx, s.ID)
	if err != nil || len(pv.Planned) != 2 || len(b.placer.seen) != 0 {
		t.Fatalf("preview %+v %v (sent %d)", pv, err, len(b.placer.seen))
	}
	if _, err := m.Start(ctx, s.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	b.drive(t, "running", func() bool { return b.state(t, m, s.ID) == session.Running })
	rep, err := m.TradeNow(ctx, s.ID, "bob")
	if err != nil || len(rep.Placed) != 2 || rep.Step != 1 || rep.Trigger != "manual" {
		t.Fatalf("trade now: %+v %v", rep, err)
	}
	if rep.Placed[0].ClientOrderID != s.ID+"-1-0" || rep.Placed[1].ClientOrderID != s.ID+"-1-1" {
		t.Fatalf("client order ids %s %s", rep.Placed[0].ClientOrderID, rep.Placed[1].ClientOrderID)
	}
	rep, _ = m.TradeNow(ctx, s.ID, "bob")
	if rep.Skip != "no grid order filled" || rep.Step != 0 {
		t.Fatalf("second trade: %+v", rep)
	}
	if _, err := m.Pause(ctx, s.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.TradeNow(ctx, s.ID, "bob"); err == nil || !strings.Contains(err.Error(), "in state paused") {
		t.Fatalf("trade paused: %v", err)
	}
	if err := m.Delete(ctx, s.ID, false, "bob"); !errors.Is(err, session.ErrIllegalState) {
		t.Fatalf("delete paused: %v", err)
	}
	if _, err := m.Resume(ctx, s.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	b.drive(t, "running", func() bool { return b.state(t, m, s.ID) == session.Running })
	// Params: an optimistic update with a stale token is refused.
	cur, _ := m.Get(ctx, s.ID)
	newParams := json.RawMessage(`{"symbol":"BTCUSDT","lower":"45000","upper":"55000","levels":3,"quantity":"0.002","interval":"1h"}`)
	if _, err := m.UpdateParams(ctx, s.ID, newParams, nil, cur.UpdatedAt.Add(-time.Second), "bob"); !errors.Is(err, session.ErrStale) {
		t.Fatalf("stale update: %v", err)
	}
	if _, err := m.UpdateParams(ctx, s.ID, json.RawMessage(`{"levels":1}`), nil, time.Time{}, "bob"); !errors.As(err, &pe) {
		t.Fatalf("invalid update: %v", err)
	}
	if u, err := m.UpdateParams(ctx, s.ID, newParams, []string{"desk", "b"}, cur.UpdatedAt, "bob"); err != nil || len(u.Tags) != 2 {
		t.Fatalf("update: %+v %v", u, err)
	}
	list, _ := m.List(ctx, session.Filter{Tag: "b"})
	if len(list) != 1 {
		t.Fatalf("list by tag: %d", len(list))
	}
	// Stop cancels the grid's open orders.
	if s, err = m.Stop(ctx, s.ID, "bob"); err != nil || s.State != session.Stopped || s.Desired != session.WantStopped {
		t.Fatalf("stop: %+v %v", s, err)
	}
	open, _ := b.ex.Account("main").OpenOrders(ctx, "")
	if len(open) != 0 {
		t.Fatalf("%d orders left open after stop", len(open))
	}
	if _, err := m.Stop(ctx, s.ID, "bob"); err == nil || !strings.Contains(err.Error(), "cannot stop session "+s.ID+" in state stopped") {
		t.Fatalf("second stop: %v", err)
	}
	// An order of the session that is still open blocks a plain delete.
	if _, err := b.ex.Account("main").PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: s.ID + "-99-0", Symbol: "BTCUSDT", Side: venue.Buy,
		Type: venue.Limit, Price: udecimal.MustParse("40000"), Quantity: udecimal.MustParse("0.001")}); err != nil {
		t.Fatal(err)
	}
	var nf *session.NotFlatError
	if err := m.Delete(ctx, s.ID, false, "bob"); !errors.As(err, &nf) || nf.OpenOrders != 1 {
		t.Fatalf("delete with an open order: %v", err)
	}
	if err := m.Delete(ctx, s.ID, true, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Get(ctx, s.ID); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if open, _ := b.ex.Account("main").OpenOrders(ctx, ""); len(open) != 0 {
		t.Fatalf("force delete left %d orders", len(open))
	}
}

// TestResumedSessionStepsWhenDue: a session resumed by a new manager (a
// restart, or adoption after a failover) whose step is overdue steps at
// once, without waiting a whole new interval.
func TestResumedSessionStepsWhenDue(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m1 := b.manager(t, nil)
	s := b.create(t, m1, "dca", "dca", `{"symbol":"BTCUSDT","quote_amount":"100","interval":"1h"}`)
	if _, err := m1.Start(t.Context(), s.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	b.drive(t, "first scheduled step", func() bool { return b.stepsOf(s.ID) >= 1 })
	m1.Close() // the node dies; its session stays desired running
	b.clk.Advance(2 * time.Hour)
	m2 := b.manager(t, nil)
	if err := m2.Boot(t.Context()); err != nil {
		t.Fatal(err)
	}
	// No clock movement: the overdue step must happen on its own.
	deadline := time.Now().Add(5 * time.Second)
	for b.stepsOf(s.ID) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("resumed overdue session did not step (steps %d, fake time %s)", b.stepsOf(s.ID), b.clk.Now().Format(time.TimeOnly))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRestartBudgetSurvivesServerRestart: a crash-looping session's
// automatic restarts are counted across a restart of the server, so a server
// that restarts cannot hand a crash loop a fresh budget each time.
func TestRestartBudgetSurvivesServerRestart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m1 := b.manager(t, nil)
	ctx := t.Context()
	bad := b.create(t, m1, "bad", "test-panic", `{}`)
	if _, err := m1.Start(ctx, bad.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	b.drive(t, "two automatic restarts", func() bool {
		s, _ := m1.Get(ctx, bad.ID)
		return s.RestartsAuto >= 2
	})
	m1.Close()
	m2 := b.manager(t, nil)
	if err := m2.Boot(ctx); err != nil {
		t.Fatal(err)
	}
	b.drive(t, "quarantine", func() bool { return b.state(t, m2, bad.ID) == session.Quarantined })
	s, _ := m2.Get(ctx, bad.ID)
	if s.RestartsAuto != 3 {
		t.Fatalf("quarantined after %d automatic restarts in all, want 3 (the policy's maximum, across the server restart)", s.RestartsAuto)
	}
}

// TestParamsTradeTheSessionsSymbols: parameters that trade a symbol outside
// the session's symbols are refused at create and at edit, naming both (a
// grid of BTCUSDT in a session of ETHUSDT was created, and then looked for
// its open orders on ETHUSDT only).
func TestParamsTradeTheSessionsSymbols(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := b.manager(t, nil)
	ctx := t.Context()
	grid := func(sym string) json.RawMessage {
		return json.RawMessage(`{"symbol":"` + sym + `","lower":"45000","upper":"55000","levels":3,"quantity":"0.002","interval":"1h"}`)
	}
	var ie *session.InvalidError
	_, err := m.Create(ctx, session.Spec{Name: "g", Strategy: "grid", AccountID: b.account, Symbols: []string{"ETHUSDT"}, Params: grid("BTCUSDT")}, "bob")
	if !errors.As(err, &ie) || ie.Field != "params" || !strings.Contains(err.Error(), "BTCUSDT") || !strings.Contains(err.Error(), "ETHUSDT") {
		t.Fatalf("create a BTCUSDT grid in an ETHUSDT session: %v; want an invalid params error naming both", err)
	}
	s, err := m.Create(ctx, session.Spec{Name: "g", Strategy: "grid", AccountID: b.account, Symbols: []string{"btcusdt", "ETHUSDT"}, Params: grid("BTCUSDT")}, "bob")
	if err != nil {
		t.Fatalf("a symbol of the session (any case): %v", err)
	}
	if _, err := m.UpdateParams(ctx, s.ID, grid("SOLUSDT"), nil, time.Time{}, "bob"); !errors.As(err, &ie) || ie.Field != "params" {
		t.Fatalf("edit to a SOLUSDT grid: %v; want an invalid params error", err)
	}
	rb := json.RawMessage(`{"quote":"USDT","weights":{"BTC":"0.5","ETH":"0.3","USDT":"0.2"},"threshold":"0.05","interval":"1h"}`)
	if _, err := m.Create(ctx, session.Spec{Name: "r", Strategy: "rebalance", AccountID: b.account, Symbols: []string{"BTCUSDT"}, Params: rb}, "bob"); !errors.As(err, &ie) || !strings.Contains(err.Error(), "ETHUSDT") {
		t.Fatalf("a rebalance of BTC and ETH in a BTCUSDT session: %v; want ETHUSDT named", err)
	}
	if _, err := m.Create(ctx, session.Spec{Name: "r", Strategy: "rebalance", AccountID: b.account, Symbols: []string{"BTCUSDT", "ETHUSDT"}, Params: rb}, "bob"); err != nil {
		t.Fatalf("a rebalance of its symbols: %v", err)
	}
}
