package tradeall

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

var dec = udecimal.MustParse

// bundle is a real small stack: a store, a paper exchange, a stepper that
// stands in for sessions and journal, and a runner.
type bundle struct {
	db      *store.DB
	ex      *paper.Exchange
	stepper *paperStepper
	reg     *prometheus.Registry
	runner  *Runner
	cfg     Config
}

type setupOpts struct {
	sessions int
	latency  time.Duration
	cfg      Config
	url      string
}

func setup(t *testing.T, o setupOpts) *bundle {
	t.Helper()
	if o.url == "" {
		o.url = storetest.SQLiteURL(t)
	}
	ex := paper.MustNew(paper.Config{Prices: map[string]venue.Decimal{"BTCUSDT": dec("50000")}, Latency: o.latency,
		RetryAfter: 5 * time.Millisecond, Seed: 1})
	st := newPaperStepper(ex)
	for i := range o.sessions {
		acct := fmt.Sprintf("acct%03d", i)
		if err := ex.Fund(acct, venue.WalletSpot, "USDT", dec("1000")); err != nil {
			t.Fatal(err)
		}
		tags := []string{"desk"}
		if i%2 == 0 {
			tags = append(tags, "even")
		}
		st.add(&paperSession{info: SessionInfo{ID: fmt.Sprintf("s%03d", i), Account: acct, Venue: "paper", Tags: tags, State: "running", Running: true},
			account: acct, symbol: "BTCUSDT", quote: dec("10"), allocation: dec("100")})
	}
	b := &bundle{db: storetest.Open(t, o.url), ex: ex, stepper: st, reg: prometheus.NewRegistry(), cfg: o.cfg}
	b.cfg.Registerer = b.reg
	b.runner = b.newRunner(t)
	return b
}

func (b *bundle) newRunner(t *testing.T) *Runner {
	t.Helper()
	r, err := New(b.db, b.stepper, b.stepper, b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// venueTrades counts the trades session i's account has at the venue.
func (b *bundle) venueTrades(t *testing.T, i int) int {
	t.Helper()
	page, err := b.ex.Account(fmt.Sprintf("acct%03d", i)).Trades(context.Background(), venue.TradeQuery{Symbol: "BTCUSDT"})
	if err != nil {
		t.Fatal(err)
	}
	return len(page.Trades)
}

func (b *bundle) checkNoResend(t *testing.T) {
	t.Helper()
	if most, _ := b.stepper.maxSends(); most > 1 {
		t.Fatalf("a client order id was sent %d times, want at most once", most)
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// waitCounts blocks until cond holds for a progress update of the run.
func waitProgress(t *testing.T, r *Runner, id string, cond func(Progress) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ch, err := r.Subscribe(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for p := range ch {
		if cond(p) {
			return
		}
	}
	t.Fatalf("run %s ended or timed out before the condition held", id)
}

func TestSelection(t *testing.T) {
	t.Parallel()
	s := func(id, acct, ven string, running bool, tags ...string) SessionInfo {
		return SessionInfo{ID: id, Account: acct, Venue: ven, Running: running, Tags: tags}
	}
	for _, tc := range []struct {
		name string
		sel  Selection
		si   SessionInfo
		want bool
	}{
		{"all running", Selection{All: true}, s("a", "x", "paper", true), true},
		{"all skips stopped", Selection{All: true}, s("a", "x", "paper", false), false},
		{"ids include stopped", Selection{IDs: []string{"a"}}, s("a", "x", "paper", false), true},
		{"ids exclude others", Selection{IDs: []string{"b"}}, s("a", "x", "paper", true), false},
		{"every tag", Selection{Tags: []string{"t1", "t2"}}, s("a", "x", "paper", true, "t1"), false},
		{"tags match", Selection{Tags: []string{"t1"}}, s("a", "x", "paper", true, "t1", "t2"), true},
		{"account", Selection{Account: "x"}, s("a", "x", "paper", true), true},
		{"other account", Selection{Account: "y"}, s("a", "x", "paper", true), false},
		{"venue", Selection{Venue: "binance"}, s("a", "x", "paper", true), false},
	} {
		if got := tc.sel.match(tc.si); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
	a := Selection{IDs: []string{"b", "a", "b"}, Tags: []string{"z", "y"}}
	b := Selection{IDs: []string{"a", "b"}, Tags: []string{"y", "z"}}
	if a.key() != b.key() {
		t.Errorf("normalized keys differ: %q vs %q", a.key(), b.key())
	}
}

func TestPacerFakeClock(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Unix(0, 0))
	p := newPacer(clk, Pacing{Default: VenuePacing{Venue: Rate{PerSecond: 10, Burst: 2}, Account: Rate{PerSecond: 1}}})
	p.mu.Lock()
	v := p.bucketFor("v", Rate{PerSecond: 10, Burst: 2})
	var got []time.Duration
	for range 5 {
		got = append(got, v.reserve(clk.Now()))
	}
	p.mu.Unlock()
	want := []time.Duration{0, 0, 100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("reservation %d: got %s, want %s (all %v)", i, got[i], want[i], got)
		}
	}
	// A hold pushes the next slot to its end.
	b := &bucket{interval: 100 * time.Millisecond}
	b.hold(clk.Now().Add(time.Second))
	if d := b.reserve(clk.Now()); d != time.Second {
		t.Fatalf("after hold: got %s, want 1s", d)
	}
	// wait: the account bucket (1/s) gates the second order of one account.
	done := make(chan time.Duration)
	go func() {
		p.wait(context.Background(), "paper", "a")
		d, _ := p.wait(context.Background(), "paper", "a")
		done <- d
	}()
	for {
		select {
		case d := <-done:
			if d != time.Second {
				t.Fatalf("second order of one account waited %s, want 1s", d)
			}
			return
		default:
			clk.Advance(10 * time.Millisecond)
			time.Sleep(time.Millisecond)
		}
	}
}

// TestPaper500 runs 500 sessions on the paper venue, 5% failing in
// different ways and some skipped, then repeats the key.
func TestPaper500(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{sessions: 500, cfg: Config{Concurrency: 16}})
	ctx := context.Background()
	fault := func(i int, f paper.Fault) { b.ex.Account(fmt.Sprintf("acct%03d", i)).Faults().Next(paper.OpPlace, f) }
	type want struct {
		state ItemState
		class string
		skip  SkipReason
	}
	wants := map[int]want{}
	for i := 0; i < 500; i += 20 { // 25 failures spread over the run
		switch k := i / 20 % 5; k {
		case 0:
			fault(i, paper.FaultRateLimited)
			wants[i] = want{ItemFailed, string(venue.ClassRateLimited), ""}
		case 1:
			if i%40 == 0 {
				fault(i, paper.FaultInsufficientFunds)
			} else { // really short of funds
				b.ex.Fund(fmt.Sprintf("acct%03d", i), venue.WalletSpot, "USDT", dec("-995"))
			}
			wants[i] = want{ItemFailed, string(venue.ClassInsufficientFunds), ""}
		case 2:
			fault(i, paper.FaultFilterReject)
			wants[i] = want{ItemFailed, string(venue.ClassRejected), ""}
		case 3:
			if i%40 == 0 {
				fault(i, paper.FaultTimeoutBeforeExecution)
			} else {
				fault(i, paper.FaultServerError)
			}
			wants[i] = want{ItemFailed, string(venue.ClassUnknown), ""}
		case 4:
			b.stepper.sessions[fmt.Sprintf("s%03d", i)].panics = true
			wants[i] = want{ItemFailed, ClassPanic, ""}
		}
	}
	for i := 1; i < 500; i += 50 { // timed out after executing: reconciled, done
		fault(i, paper.FaultTimeoutAfterExecution)
	}
	skips := map[int]SkipReason{3: SkipPaused, 103: SkipPaused, 203: SkipQuarantined, 303: SkipNothingToDo}
	for i, r := range skips {
		b.stepper.sessions[fmt.Sprintf("s%03d", i)].skip = r
		wants[i] = want{ItemSkipped, "", r}
	}
	b.stepper.sessions["s404"].allocation = dec("5")
	wants[404] = want{ItemSkipped, "", SkipAllocationExceeded}

	sel := Selection{Tags: []string{"desk"}}
	pv, err := b.runner.Preview(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	if len(pv.Items) != 500 || pv.Skipped != 5 || pv.Orders != 495 || pv.Items[0].Plan.Allocation.Required.String() != "10" {
		t.Fatalf("preview: %d items, %d skipped, %d orders", len(pv.Items), pv.Skipped, pv.Orders)
	}
	if _, sent := b.stepper.maxSends(); sent != 0 {
		t.Fatalf("preview sent %d orders", sent)
	}

	// A double click: two Starts with one key at once make one run.
	var wg sync.WaitGroup
	runs := make([]Run, 2)
	errs := make([]error, 2)
	for i := range runs {
		wg.Go(func() {
			runs[i], errs[i] = b.runner.Start(ctx, StartRequest{Key: "click-1", Selection: sel, Actor: "alice", Remote: "10.1.1.1"})
		})
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil || runs[0].ID != runs[1].ID || runs[0].Existing == runs[1].Existing {
		t.Fatalf("double click: %v %v, ids %s %s existing %v %v", errs[0], errs[1], runs[0].ID, runs[1].ID, runs[0].Existing, runs[1].Existing)
	}
	id := runs[0].ID
	sub, err := b.runner.Subscribe(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var last Progress
	seen := map[string]bool{}
	for p := range sub {
		last = p
		for _, it := range p.Changed {
			seen[it.SessionID] = true
		}
	}
	run, err := b.runner.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if last.State != RunPartial || last.Counts != run.Counts {
		t.Fatalf("last progress %+v, run counts %+v", last, run.Counts)
	}
	c := run.Counts
	if run.State != RunPartial || c.Total != 500 || c.Failed != 25 || c.Skipped != 5 || c.Done != 470 || c.Orders != 470 || c.Fills != 470 {
		t.Fatalf("run %s: state %s counts %+v", id, run.State, c)
	}
	if run.Actor != "alice" || run.Remote != "10.1.1.1" || run.Key != "click-1" || len(run.Selection.Tags) != 1 {
		t.Fatalf("audit fields: %+v", run)
	}
	for _, it := range run.Items {
		var i int
		fmt.Sscanf(it.SessionID, "s%03d", &i)
		w, ok := wants[i]
		if !ok {
			w = want{state: ItemDone}
		}
		if it.State != w.state || it.ErrorClass != w.class || it.Skip != w.skip {
			t.Errorf("%s: got %s/%s/%s (%s), want %s/%s/%s", it.SessionID, it.State, it.ErrorClass, it.Skip, it.Message, w.state, w.class, w.skip)
		}
		trades := b.venueTrades(t, i)
		if (it.State == ItemDone) != (trades == 1) || trades > 1 {
			t.Errorf("%s: state %s but %d trades at the venue", it.SessionID, it.State, trades)
		}
		if it.State == ItemDone && (len(it.Orders) != 1 || it.Orders[0].ClientOrderID == "" || it.Orders[0].Status != "filled") {
			t.Errorf("%s: orders %+v", it.SessionID, it.Orders)
		}
	}
	b.checkNoResend(t)
	_, sentBefore := b.stepper.maxSends()

	// The same key again (a retry after a network error): the same run,
	// no second trade.
	again, err := b.runner.Start(ctx, StartRequest{Key: "click-1", Selection: Selection{Tags: []string{"desk", "desk"}}})
	if err != nil || again.ID != id || !again.Existing || again.State != RunPartial {
		t.Fatalf("repeat: %v %s %v", err, again.ID, again.Existing)
	}
	if _, sent := b.stepper.maxSends(); sent != sentBefore {
		t.Fatalf("repeat sent %d more orders", sent-sentBefore)
	}
	// The same key with another selection: refused.
	_, err = b.runner.Start(ctx, StartRequest{Key: "click-1", Selection: Selection{All: true}})
	var ce *ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, ErrKeyConflict) || ce.RunID != id {
		t.Fatalf("other selection: got %v, want *ConflictError for %s", err, id)
	}
	if _, err := b.runner.Cancel(ctx, id, "bob"); !errors.Is(err, ErrRunFinished) {
		t.Fatalf("cancel finished run: got %v", err)
	}
	if got := counterValue(t, b.reg, "tradeplane_tradeall_steps_total", "result", "done"); got != 470 {
		t.Errorf("steps done metric: got %v, want 470", got)
	}
	if got := counterValue(t, b.reg, "tradeplane_tradeall_runs_total", "outcome", "partial"); got != 1 {
		t.Errorf("runs partial metric: got %v, want 1", got)
	}
	if got := counterValue(t, b.reg, "tradeplane_tradeall_step_failures_total", "class", "panic"); got != 5 {
		t.Errorf("panic failures metric: got %v, want 5", got)
	}
}

func TestSelectionErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{sessions: 3})
	ctx := context.Background()
	for _, tc := range []struct {
		sel     Selection
		missing []string
	}{
		{Selection{}, nil},
		{Selection{IDs: []string{"s001", "nope"}}, []string{"nope"}},
		{Selection{Tags: []string{"none"}}, nil},
	} {
		_, err := b.runner.Start(ctx, StartRequest{Selection: tc.sel})
		var se *SelectionError
		if !errors.As(err, &se) || !errors.Is(err, ErrBadSelection) || fmt.Sprint(se.Missing) != fmt.Sprint(tc.missing) {
			t.Errorf("%+v: got %v, want *SelectionError missing %v", tc.sel, err, tc.missing)
		}
	}
	if _, err := b.runner.Get(ctx, "ta-nope"); !errors.Is(err, ErrRunNotFound) {
		t.Errorf("get unknown: got %v", err)
	}
	// Sessions named by id run even when the tag filter would not pick them.
	run, err := b.runner.Start(ctx, StartRequest{Selection: Selection{IDs: []string{"s001"}}})
	if err != nil {
		t.Fatal(err)
	}
	if run, err = b.runner.Wait(ctx, run.ID); err != nil || run.State != RunDone || run.Counts.Done != 1 || run.Key != "auto-"+run.ID {
		t.Fatalf("one session: %v %+v", err, run)
	}
}

func TestCancelMidRun(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{sessions: 200, latency: 5 * time.Millisecond, cfg: Config{Concurrency: 4}})
	ctx := context.Background()
	run, err := b.runner.Start(ctx, StartRequest{Key: "k", Selection: Selection{All: true}, Actor: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	waitProgress(t, b.runner, run.ID, func(p Progress) bool { return p.Counts.Done >= 20 })
	if _, err := b.runner.Cancel(ctx, run.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	run, err = b.runner.Wait(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	c := run.Counts
	if run.State != RunCanceled || !run.CancelRequested || c.Done < 20 || c.Canceled == 0 || c.Done+c.Canceled != 200 {
		t.Fatalf("state %s counts %+v", run.State, c)
	}
	trades := 0
	for i := range 200 {
		trades += b.venueTrades(t, i)
	}
	if trades != c.Done {
		t.Fatalf("%d trades at the venue, %d items done", trades, c.Done)
	}
	b.checkNoResend(t)
	// Retrying the start after the cancel returns the canceled run.
	again, err := b.runner.Start(ctx, StartRequest{Key: "k", Selection: Selection{All: true}})
	if err != nil || again.ID != run.ID || again.State != RunCanceled {
		t.Fatalf("retry after cancel: %v %+v", err, again.State)
	}
}

// TestKillAndResume stops a runner abruptly mid-run, then resumes on a new
// runner over the same store: every session trades exactly once.
func TestKillAndResume(t *testing.T) {
	t.Parallel()
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			t.Parallel()
			const n = 300
			b := setup(t, setupOpts{sessions: n, latency: 5 * time.Millisecond, cfg: Config{Concurrency: 8}, url: eng.URL(t)})
			ctx := context.Background()
			run, err := b.runner.Start(ctx, StartRequest{Key: "kill", Selection: Selection{All: true}})
			if err != nil {
				t.Fatal(err)
			}
			waitProgress(t, b.runner, run.ID, func(p Progress) bool { return p.Counts.Done >= 100 })
			b.runner.Close() // the process dies
			mid, err := b.runner.Get(ctx, run.ID)
			if err != nil {
				t.Fatal(err)
			}
			if mid.State != RunRunning || mid.Counts.Pending == 0 {
				t.Fatalf("after kill: state %s counts %+v", mid.State, mid.Counts)
			}
			t.Logf("killed with %+v", mid.Counts)

			r2 := b.newRunner(t)
			ids, err := r2.Resume(ctx)
			if err != nil || len(ids) != 1 || ids[0] != run.ID {
				t.Fatalf("resume: %v %v", ids, err)
			}
			// Start with the same key on the new runner: the same run.
			if again, err := r2.Start(ctx, StartRequest{Key: "kill", Selection: Selection{All: true}}); err != nil || again.ID != run.ID {
				t.Fatalf("restart with key: %v %s", err, again.ID)
			}
			done, err := r2.Wait(ctx, run.ID)
			if err != nil {
				t.Fatal(err)
			}
			if done.State != RunDone || done.Counts.Done != n || done.Counts.Orders != n {
				t.Fatalf("after resume: state %s counts %+v", done.State, done.Counts)
			}
			for i := range n {
				if got := b.venueTrades(t, i); got != 1 {
					t.Errorf("session %d: %d trades at the venue, want 1", i, got)
				}
			}
			b.checkNoResend(t)
		})
	}
}
