// Package clock puts time behind a small interface so that the simulator,
// the supervisor and their tests can run on a fake clock they advance by hand.
// It owns no scheduling policy: callers decide what to do with the time.
//
// Tests that advance a Fake wait first for the code under test to be
// waiting: BlockUntil(n) returns once n timers, tickers or After channels are
// pending, so no test needs a fixed sleep to let a goroutine reach its wait.
package clock

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Clock tells the time and makes timers. Real wraps package time; Fake is
// advanced explicitly by tests.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives the time once d has elapsed.
	// A wait that may end early (a context) should use NewTimer and stop
	// it, so that a Fake does not count it as pending afterwards.
	After(d time.Duration) <-chan time.Time
	// NewTicker returns a ticker firing every d.
	NewTicker(d time.Duration) Ticker
	// NewTimer returns a timer that sends the time on its channel once d
	// has elapsed, as time.NewTimer.
	NewTimer(d time.Duration) Timer
	// AfterFunc calls f in its own goroutine once d has elapsed, as
	// time.AfterFunc; the Timer's channel is nil.
	AfterFunc(d time.Duration, f func()) Timer
}

// Ticker is the part of *time.Ticker that callers use.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// Timer is the part of *time.Timer that callers use. Stop and Reset report
// whether the timer was pending, as time.Timer's do.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
	Reset(d time.Duration) bool
}

// Sleep waits d on c, or until ctx is done (its error is returned then).
func Sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Real is the wall clock.
type Real struct{}

var _ Clock = Real{}

// Now returns time.Now in UTC.
func (Real) Now() time.Time { return time.Now().UTC() }

// After is time.After.
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }

// NewTicker wraps time.NewTicker.
func (Real) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

// NewTimer wraps time.NewTimer.
func (Real) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

// AfterFunc wraps time.AfterFunc.
func (Real) AfterFunc(d time.Duration, f func()) Timer { return realTimer{time.AfterFunc(d, f)} }

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time { return r.t.C }
func (r realTicker) Stop()               { r.t.Stop() }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Stop() bool                 { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }

// Fake is a clock that moves only when Advance or Set is called. It is safe
// for concurrent use.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*waiter  // pending timers, tickers and After channels
	blocked []*blocker // BlockUntil calls waiting for waiters
}

type waiter struct {
	at    time.Time
	every time.Duration // >0 for tickers
	ch    chan time.Time
	fn    func() // AfterFunc: called instead of sending on ch
}

type blocker struct {
	n  int
	ch chan struct{}
}

var _ Clock = (*Fake)(nil)

// NewFake returns a fake clock set to start.
func NewFake(start time.Time) *Fake { return &Fake{now: start.UTC()} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// After fires when the fake time reaches now+d.
func (f *Fake) After(d time.Duration) <-chan time.Time { return f.NewTimer(d).C() }

// NewTicker fires every d of fake time. A slow reader misses ticks, as with
// time.Ticker.
func (f *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive ticker interval")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	w := &waiter{at: f.now.Add(d), every: d, ch: make(chan time.Time, 1)}
	f.add(w)
	return &fakeTicker{f: f, w: w}
}

// NewTimer fires once when the fake time reaches now+d; d <= 0 fires at once.
func (f *Fake) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{f: f, w: &waiter{ch: make(chan time.Time, 1)}}
	t.Reset(d)
	return t
}

// AfterFunc calls fn in its own goroutine when the fake time reaches now+d;
// d <= 0 calls it at once.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	t := &fakeTimer{f: f, w: &waiter{fn: fn}}
	t.Reset(d)
	return t
}

// Waiters is the number of timers, tickers and After channels pending.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// BlockUntil returns once at least n timers, tickers or After channels are
// pending: the code under test has reached its waits, and an Advance now
// fires them.
func (f *Fake) BlockUntil(n int) { _ = f.BlockUntilContext(context.Background(), n) }

// BlockUntilContext is BlockUntil that gives up when ctx is done.
func (f *Fake) BlockUntilContext(ctx context.Context, n int) error {
	f.mu.Lock()
	if len(f.waiters) >= n {
		f.mu.Unlock()
		return nil
	}
	b := &blocker{n: n, ch: make(chan struct{})}
	f.blocked = append(f.blocked, b)
	f.mu.Unlock()
	select {
	case <-b.ch:
		return nil
	case <-ctx.Done():
		f.mu.Lock()
		for i, o := range f.blocked {
			if o == b {
				f.blocked = append(f.blocked[:i], f.blocked[i+1:]...)
				break
			}
		}
		f.mu.Unlock()
		return ctx.Err()
	}
}

// add registers w and wakes the BlockUntil calls it satisfies. f.mu is held.
func (f *Fake) add(w *waiter) {
	f.waiters = append(f.waiters, w)
	kept := f.blocked[:0]
	for _, b := range f.blocked {
		if len(f.waiters) >= b.n {
			close(b.ch)
		} else {
			kept = append(kept, b)
		}
	}
	f.blocked = kept
}

// remove unregisters w and reports whether it was pending. f.mu is held.
func (f *Fake) remove(w *waiter) bool {
	for i, o := range f.waiters {
		if o == w {
			f.waiters = append(f.waiters[:i], f.waiters[i+1:]...)
			return true
		}
	}
	return false
}

type fakeTicker struct {
	f *Fake
	w *waiter
}

func (t *fakeTicker) C() <-chan time.Time { return t.w.ch }
func (t *fakeTicker) Stop() {
	t.f.mu.Lock()
	t.f.remove(t.w)
	t.f.mu.Unlock()
}

type fakeTimer struct {
	f *Fake
	w *waiter
}

func (t *fakeTimer) C() <-chan time.Time { return t.w.ch }

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	return t.f.remove(t.w)
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	f := t.f
	f.mu.Lock()
	defer f.mu.Unlock()
	was := f.remove(t.w)
	t.w.at = f.now.Add(d)
	if d <= 0 {
		f.fire(t.w, f.now)
		return was
	}
	f.add(t.w)
	return was
}

// fire delivers w's time: on its channel (dropped if the reader has not
// taken the last one, as time.Ticker does) or by calling its func. f.mu is
// held.
func (f *Fake) fire(w *waiter, at time.Time) {
	if w.fn != nil {
		go w.fn()
		return
	}
	select {
	case w.ch <- at:
	default:
	}
}

// Advance moves the clock forward by d, firing every timer that falls due in
// time order.
func (f *Fake) Advance(d time.Duration) { f.Set(f.Now().Add(d)) }

// Set moves the clock to t (never backwards) and fires due timers.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.Before(f.now) {
		return
	}
	for {
		sort.SliceStable(f.waiters, func(i, j int) bool { return f.waiters[i].at.Before(f.waiters[j].at) })
		if len(f.waiters) == 0 || f.waiters[0].at.After(t) {
			break
		}
		w := f.waiters[0]
		f.waiters = f.waiters[1:]
		f.now = w.at
		f.fire(w, w.at)
		if w.every > 0 {
			w.at = w.at.Add(w.every)
			f.waiters = append(f.waiters, w)
		}
	}
	f.now = t.UTC()
}
