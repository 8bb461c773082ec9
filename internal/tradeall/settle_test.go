package tradeall

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// settleStepper is a behaving fake: session "hang" places its order and
// then hangs until its context ends (the process dies after the venue
// accepted but before the runner recorded anything); the rest place one
// order each. Its record of placed orders stands in for the journal.
type settleStepper struct {
	mu     sync.Mutex
	placed map[string]int // by session
	steps  map[string]int
	hung   chan struct{}
}

func (f *settleStepper) Sessions(context.Context) ([]SessionInfo, error) {
	return []SessionInfo{{ID: "hang", Account: "a", Venue: "v", Running: true}, {ID: "ok", Account: "b", Venue: "v", Running: true}}, nil
}

func (f *settleStepper) Plan(context.Context, string) (Plan, error) { return Plan{}, nil }

func (f *settleStepper) Step(ctx context.Context, req StepRequest) (StepResult, error) {
	f.mu.Lock()
	f.steps[req.Key.SessionID]++
	f.placed[req.Key.SessionID]++
	f.mu.Unlock()
	if req.Key.SessionID == "hang" {
		close(f.hung)
		<-ctx.Done()
		return StepResult{}, ctx.Err()
	}
	return StepResult{Orders: []Order{{ClientOrderID: req.Key.Ref() + "-1", Fills: 1}}}, nil
}

func (f *settleStepper) Settle(_ context.Context, key StepKey) (Settlement, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.placed[key.SessionID] == 0 {
		return Settlement{}, nil
	}
	return Settlement{Started: true, Result: StepResult{Orders: []Order{{ClientOrderID: key.Ref() + "-1", Fills: 1}}, Message: "settled"}}, nil
}

// TestSettleInFlight: a step that placed its order but was never recorded
// is settled on Resume, not run again.
func TestSettleInFlight(t *testing.T) {
	t.Parallel()
	db := storetest.MustOpenSQLite(t)
	f := &settleStepper{placed: map[string]int{}, steps: map[string]int{}, hung: make(chan struct{})}
	r1, err := New(db, f, f, Config{Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	run, err := r1.Start(ctx, StartRequest{Key: "x", Selection: Selection{All: true}})
	if err != nil {
		t.Fatal(err)
	}
	<-f.hung
	waitProgress(t, r1, run.ID, func(p Progress) bool { return p.Counts.Done == 1 })
	r1.Close()
	mid, _ := r1.Get(ctx, run.ID)
	if mid.Counts.Running != 1 || mid.Counts.Done != 1 {
		t.Fatalf("after kill: %+v", mid.Counts)
	}
	r2, err := New(db, f, f, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if _, err := r2.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	done, err := r2.Wait(wctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if done.State != RunDone || done.Counts.Done != 2 || done.Counts.Orders != 2 {
		t.Fatalf("after resume: %s %+v", done.State, done.Counts)
	}
	if f.steps["hang"] != 1 || f.placed["hang"] != 1 {
		t.Fatalf("hung session stepped %d times, placed %d, want 1 and 1", f.steps["hang"], f.placed["hang"])
	}
	for _, it := range done.Items {
		if it.SessionID == "hang" && it.Message != "settled" {
			t.Fatalf("hang item: %+v", it)
		}
	}
}
