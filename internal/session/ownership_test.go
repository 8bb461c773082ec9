package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/strategy"
)

// overlap detects two steps of one session running at once.
type overlap struct {
	inflight, steps atomic.Int32
	overlapped      atomic.Bool
}

func (o *overlap) Interval() time.Duration { return time.Second }
func (o *overlap) Step(ctx context.Context, env strategy.Env) (strategy.StepResult, error) {
	if o.inflight.Add(1) > 1 {
		o.overlapped.Store(true)
	}
	time.Sleep(200 * time.Microsecond) // real time: give a concurrent step the chance to overlap
	o.steps.Add(1)
	o.inflight.Add(-1)
	return strategy.StepResult{Note: "ok"}, nil
}

var overlapProbe = &overlap{}

func init() {
	strategy.Register(strategy.Info{Name: "test-overlap", Factory: func(json.RawMessage) (strategy.Strategy, error) { return overlapProbe, nil }})
}

const gridParams = `{"symbol":"BTCUSDT","lower":"45000","upper":"55000","levels":3,"quantity":"0.001","interval":"1h"}`

func TestTradeNowWithUsesCallerIDsAndPacing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := b.manager(t, nil)
	ctx := t.Context()
	s := b.create(t, m, "grid", "grid", gridParams)
	if _, err := m.Start(ctx, s.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	b.drive(t, "running", func() bool { return b.state(t, m, s.ID) == session.Running })
	var paced int
	rep, err := m.TradeNowWith(ctx, s.ID, "trade-all", session.StepOptions{
		ClientOrderID: func(n int) string { return fmt.Sprintf("tabc123-%d", n) },
		BeforePlace:   func(context.Context) error { paced++; return nil },
		Trigger:       "trade-all",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Placed) != 2 || rep.Placed[0].ClientOrderID != "tabc123-0" || rep.Placed[1].ClientOrderID != "tabc123-1" {
		t.Fatalf("placed %+v", rep.Placed)
	}
	if paced != 2 {
		t.Fatalf("BeforePlace called %d times, want 2 (once per order)", paced)
	}
	if rep.Trigger != "trade-all" || rep.Step != 0 {
		t.Fatalf("report trigger %q step %d, want trade-all and no step number reserved", rep.Trigger, rep.Step)
	}
	for _, id := range []string{"tabc123-0", "tabc123-1"} {
		if _, err := b.ex.Account("main").QueryOrder(ctx, "BTCUSDT", id); err != nil {
			t.Fatalf("order %s at the venue: %v", id, err)
		}
	}
	if got, _ := m.Get(ctx, s.ID); got.StepSeq != 0 || len(got.StrategyState) == 0 {
		t.Fatalf("session after a caller-named step: step_seq %d state %s", got.StepSeq, got.StrategyState)
	}
	// The session owns the orders it placed under the caller's ids: Stop
	// cancels them.
	if _, err := m.Stop(ctx, s.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	if open, _ := b.ex.Account("main").OpenOrders(ctx, ""); len(open) != 0 {
		t.Fatalf("%d caller-named orders left open after stop", len(open))
	}
}

func TestTradeNowWithBeforePlaceErrorAbortsWithoutFailing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := b.manager(t, nil)
	ctx := t.Context()
	s := b.create(t, m, "grid", "grid", gridParams)
	if _, err := m.Start(ctx, s.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	b.drive(t, "running", func() bool { return b.state(t, m, s.ID) == session.Running })
	errPace := errors.New("run canceled")
	calls := 0
	rep, err := m.TradeNowWith(ctx, s.ID, "trade-all", session.StepOptions{
		ClientOrderID: func(n int) string { return fmt.Sprintf("tdef456-%d", n) },
		BeforePlace: func(context.Context) error {
			calls++
			if calls == 2 {
				return errPace
			}
			return nil
		},
	})
	var se *session.StepError
	if !errors.Is(err, errPace) || !errors.As(err, &se) || se.Kind != session.FailAborted {
		t.Fatalf("got %v, want a *StepError (aborted) wrapping the BeforePlace error", err)
	}
	if len(rep.Placed) != 1 || rep.Placed[0].ClientOrderID != "tdef456-0" || rep.ErrorKind != session.FailAborted || calls != 2 {
		t.Fatalf("report %+v, BeforePlace calls %d: want the first order only", rep, calls)
	}
	if _, err := b.ex.Account("main").QueryOrder(ctx, "BTCUSDT", "tdef456-1"); err == nil {
		t.Fatal("the order BeforePlace refused reached the venue")
	}
	// Not a failure of the session: it keeps running, nothing recorded.
	got, _ := m.Get(ctx, s.ID)
	b.stepMu.Lock()
	nf := len(b.fails)
	b.stepMu.Unlock()
	if got.State != session.Running || got.LastError != "" || nf != 0 || m.Stats().Running != 1 {
		t.Fatalf("after an abort: state %s last_error %q failures %d", got.State, got.LastError, nf)
	}
	// Skip reasons for sessions that cannot step.
	if _, err := m.Pause(ctx, s.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	rep, err = m.TradeNowWith(ctx, s.ID, "trade-all", session.StepOptions{})
	if !errors.Is(err, session.ErrIllegalState) || rep.Skip != "paused" {
		t.Fatalf("paused: skip %q err %v", rep.Skip, err)
	}
	c := b.create(t, m, "idle", "dca", dcaParams)
	if rep, err = m.TradeNow(ctx, c.ID, "alice"); !errors.Is(err, session.ErrIllegalState) || rep.Skip != "not_running" {
		t.Fatalf("created: skip %q err %v", rep.Skip, err)
	}
}

func TestTradeNowWithIsSerializedWithScheduledSteps(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := b.manager(t, nil)
	ctx := t.Context()
	s := b.create(t, m, "probe", "test-overlap", `{}`)
	if _, err := m.Start(ctx, s.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	b.drive(t, "running", func() bool { return b.state(t, m, s.ID) == session.Running })
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // scheduled steps every fake second
		for {
			select {
			case <-stop:
				return
			default:
				b.clk.Advance(time.Second)
				time.Sleep(100 * time.Microsecond)
			}
		}
	})
	var manual sync.WaitGroup
	for range 4 {
		manual.Go(func() {
			for range 5 {
				if _, err := m.TradeNowWith(ctx, s.ID, "x", session.StepOptions{Trigger: "trade-all"}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	manual.Wait()
	close(stop)
	wg.Wait()
	if overlapProbe.overlapped.Load() {
		t.Fatal("two steps of one session ran at once")
	}
	if n := overlapProbe.steps.Load(); n <= 20 {
		t.Fatalf("%d steps: want the 20 manual ones and scheduled ones", n)
	}
}

// owner is a behaving stand-in for the cluster's leases.
type owner struct {
	mu     sync.Mutex
	owned  map[string]bool
	refuse bool // the lease guard refuses (lease not renewed in time)
}

func (o *owner) owns(id string) bool { o.mu.Lock(); defer o.mu.Unlock(); return o.owned[id] }
func (o *owner) set(id string, v bool) {
	o.mu.Lock()
	o.owned[id] = v
	o.mu.Unlock()
}
func (o *owner) guard(id string) (int64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.owned[id] || o.refuse {
		return 0, fmt.Errorf("session %s: lease not held", id)
	}
	return 7, nil
}

func TestClusterOwnership(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	m1 := b.manager(t, nil)
	a := b.create(t, m1, "a", "dca", dcaParams)
	c := b.create(t, m1, "c", "dca", dcaParams)
	for _, id := range []string{a.ID, c.ID} {
		if _, err := m1.Start(ctx, id, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	b.drive(t, "both running", func() bool {
		return b.state(t, m1, a.ID) == session.Running && b.state(t, m1, c.ID) == session.Running
	})
	m1.Close()

	o := &owner{owned: map[string]bool{a.ID: true}}
	var reconciled atomic.Int32
	m := b.manager(t, func(opts *session.Options) {
		opts.Owns, opts.Guard = o.owns, o.guard
		opts.Reconcile = func(context.Context, int64) error { reconciled.Add(1); return nil }
	})
	if err := m.Boot(ctx); err != nil {
		t.Fatal(err)
	}
	if st := m.Stats(); st.Running != 1 {
		t.Fatalf("boot supervises %d sessions, want 1 (the owned one)", st.Running)
	}
	desired, err := m.Desired(ctx)
	if err != nil || len(desired) != 2 {
		t.Fatalf("desired %v %v", desired, err)
	}
	if _, err := m.TradeNow(ctx, c.ID, "alice"); !errors.Is(err, session.ErrNotOwner) {
		t.Fatalf("trade an unowned session: got %v, want ErrNotOwner", err)
	}
	if err := m.Adopt(ctx, c.ID); !errors.Is(err, session.ErrNotOwner) {
		t.Fatalf("adopt an unowned session: got %v, want ErrNotOwner", err)
	}

	// Adopt: the lease is acquired.
	o.set(c.ID, true)
	if err := m.Adopt(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if err := m.Adopt(ctx, c.ID); err != nil { // idempotent
		t.Fatal(err)
	}
	b.drive(t, "adopted session running", func() bool { return b.state(t, m, c.ID) == session.Running })
	if m.Stats().Running != 2 {
		t.Fatalf("supervised %d, want 2", m.Stats().Running)
	}
	if n := reconciled.Load(); n != 1 {
		t.Fatalf("reconciled %d times, want 1 (boot; the adoption shares it)", n)
	}
	rep, err := m.TradeNow(ctx, c.ID, "alice")
	if err != nil || len(rep.Placed) != 1 {
		t.Fatalf("trade the adopted session: %+v %v", rep, err)
	}

	// Release: the lease is lost. Nothing stored changes.
	before, _ := m.Get(ctx, c.ID)
	trBefore, _ := m.Transitions(ctx, c.ID)
	o.set(c.ID, false)
	m.Release(c.ID)
	m.Release(c.ID) // idempotent
	if m.Stats().Running != 1 {
		t.Fatalf("supervised %d after release, want 1", m.Stats().Running)
	}
	steps := b.stepsOf(c.ID)
	aSteps := b.stepsOf(a.ID)
	b.drive(t, "30s of others trading", func() bool {
		return b.stepsOf(a.ID) >= aSteps+3 && b.clk.Now().After(before.UpdatedAt.Add(30*time.Second))
	})
	after, _ := m.Get(ctx, c.ID)
	trAfter, _ := m.Transitions(ctx, c.ID)
	if after.State != session.Running || after.Desired != session.WantRunning || !after.UpdatedAt.Equal(before.UpdatedAt) ||
		len(trAfter) != len(trBefore) || b.stepsOf(c.ID) != steps {
		t.Fatalf("released session changed: %s/%s updated %s→%s, %d→%d transitions, %d→%d steps",
			before.State, before.Desired, before.UpdatedAt, after.UpdatedAt, len(trBefore), len(trAfter), steps, b.stepsOf(c.ID))
	}

	// Start on a node that does not own the session records desired only.
	d := b.create(t, m, "d", "dca", dcaParams)
	got, err := m.Start(ctx, d.ID, "alice")
	if err != nil || got.State != session.Created || got.Desired != session.WantRunning || m.Stats().Running != 1 {
		t.Fatalf("start unowned: %s/%s %v (supervised %d)", got.State, got.Desired, err, m.Stats().Running)
	}
	// Its owner picks it up (the sync loop, as after a lease acquired).
	o.set(d.ID, true)
	b.drive(t, "owner starts it", func() bool { return b.state(t, m, d.ID) == session.Running })

	// The lease guard refuses: the order does not leave, a failure is
	// recorded, the stored state is left alone.
	o.mu.Lock()
	o.refuse = true
	o.mu.Unlock()
	sent := len(b.placer.seen)
	rep, err = m.TradeNow(ctx, a.ID, "alice")
	var se *session.StepError
	if !errors.Is(err, session.ErrNotOwner) || !errors.As(err, &se) || se.Kind != session.FailNotOwner || len(rep.Placed) != 0 {
		t.Fatalf("guard refusal: %+v %v", rep, err)
	}
	if len(b.placer.seen) != sent {
		t.Fatal("an order left although the lease guard refused it")
	}
	b.stepMu.Lock()
	var found bool
	for _, f := range b.fails {
		found = found || (f.SessionID == a.ID && f.Kind == session.FailNotOwner && errors.Is(f.Err, session.ErrNotOwner))
	}
	b.stepMu.Unlock()
	if !found || m.Stats().Failures[session.FailNotOwner] == 0 {
		t.Fatalf("guard refusal not recorded as a failure: %+v", b.fails)
	}
	if st := b.state(t, m, a.ID); st != session.Running {
		t.Fatalf("state after a guard refusal: %s", st)
	}
	o.mu.Lock()
	o.refuse = false
	o.mu.Unlock()
	if rep, err := m.TradeNow(ctx, a.ID, "alice"); err != nil || len(rep.Placed) != 1 {
		t.Fatalf("after the guard allows again: %+v %v", rep, err)
	}
}
