package clock_test

import (
	"context"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/clock"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestFakeTimerFiresOnlyWhenDue(t *testing.T) {
	t.Parallel()
	f := clock.NewFake(t0)
	tm := f.NewTimer(time.Second)
	f.Advance(999 * time.Millisecond)
	select {
	case <-tm.C():
		t.Fatal("fired early")
	default:
	}
	f.Advance(time.Millisecond)
	if got := <-tm.C(); !got.Equal(t0.Add(time.Second)) {
		t.Fatalf("got %v, want %v", got, t0.Add(time.Second))
	}
	if tm.Stop() {
		t.Fatal("Stop after firing reported pending")
	}
}

func TestFakeTimerStopAndReset(t *testing.T) {
	t.Parallel()
	f := clock.NewFake(t0)
	tm := f.NewTimer(time.Second)
	if !tm.Stop() {
		t.Fatal("Stop of a pending timer reported not pending")
	}
	if n := f.Waiters(); n != 0 {
		t.Fatalf("waiters after Stop: got %d, want 0", n)
	}
	f.Advance(time.Hour)
	select {
	case <-tm.C():
		t.Fatal("a stopped timer fired")
	default:
	}
	if tm.Reset(time.Minute) {
		t.Fatal("Reset of a stopped timer reported pending")
	}
	f.Advance(time.Minute)
	if got := <-tm.C(); !got.Equal(t0.Add(time.Hour + time.Minute)) {
		t.Fatalf("got %v", got)
	}
}

func TestFakeAfterFunc(t *testing.T) {
	t.Parallel()
	f := clock.NewFake(t0)
	done := make(chan struct{})
	f.AfterFunc(time.Second, func() { close(done) })
	stopped := f.AfterFunc(time.Second, func() { t.Error("a stopped AfterFunc ran") })
	if !stopped.Stop() {
		t.Fatal("Stop of a pending AfterFunc reported not pending")
	}
	f.Advance(time.Second)
	<-done
	if stopped.C() != nil {
		t.Fatal("AfterFunc's timer has a channel")
	}
}

func TestFakeTickerKeepsFiringUntilStopped(t *testing.T) {
	t.Parallel()
	f := clock.NewFake(t0)
	tk := f.NewTicker(time.Second)
	for i := 1; i <= 3; i++ {
		f.Advance(time.Second)
		if got := <-tk.C(); !got.Equal(t0.Add(time.Duration(i) * time.Second)) {
			t.Fatalf("tick %d: got %v", i, got)
		}
	}
	tk.Stop()
	f.Advance(time.Second)
	select {
	case <-tk.C():
		t.Fatal("a stopped ticker ticked")
	default:
	}
}

// TestFakeBlockUntil is the pattern tests use instead of a fixed sleep: wait
// for the goroutine to be waiting, then advance.
func TestFakeBlockUntil(t *testing.T) {
	t.Parallel()
	f := clock.NewFake(t0)
	woke := make(chan time.Time)
	go func() {
		_ = clock.Sleep(context.Background(), f, time.Minute)
		woke <- f.Now()
	}()
	go func() {
		<-f.After(time.Minute)
	}()
	f.BlockUntil(2)
	f.Advance(time.Minute)
	if got := <-woke; !got.Equal(t0.Add(time.Minute)) {
		t.Fatalf("woke at %v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.BlockUntilContext(ctx, 5); err != context.Canceled {
		t.Fatalf("BlockUntilContext on a done context: got %v", err)
	}
}

func TestSleepStopsItsTimerWhenCanceled(t *testing.T) {
	t.Parallel()
	f := clock.NewFake(t0)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() { errc <- clock.Sleep(ctx, f, time.Hour) }()
	f.BlockUntil(1)
	cancel()
	if err := <-errc; err != context.Canceled {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if n := f.Waiters(); n != 0 {
		t.Fatalf("waiters after a canceled Sleep: got %d, want 0", n)
	}
}

func TestFakeFiresEachTimerAtItsOwnTime(t *testing.T) {
	t.Parallel()
	f := clock.NewFake(t0)
	a, b := f.NewTimer(2*time.Second), f.NewTimer(time.Second)
	f.Advance(3 * time.Second)
	if got := <-a.C(); !got.Equal(t0.Add(2 * time.Second)) {
		t.Fatalf("a: got %v", got)
	}
	if got := <-b.C(); !got.Equal(t0.Add(time.Second)) {
		t.Fatalf("b: got %v", got)
	}
	if got := f.Now(); !got.Equal(t0.Add(3 * time.Second)) {
		t.Fatalf("now: got %v", got)
	}
}
