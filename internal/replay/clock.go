package replay

import (
	"container/heap"
	"sync"
	"time"

	"github.com/tradeplane/tradeplane/internal/clock"
)

// simClock is the simulated clock that drives a replay. Only the engine
// moves it (Set), bar by bar; the session supervisor's timers (restart
// backoff, step deadlines) run on it, so they fire in market time. Set is
// O(1) when no timer falls due, which is nearly every bar.
type simClock struct {
	mu  sync.Mutex
	now time.Time
	h   waiters
	seq int64 // sequence of the last After registered
	ord int64 // registration order of every waiter (heap tie-break)
}

type simWaiter struct {
	at     time.Time
	every  time.Duration // >0 for tickers
	ch     chan time.Time
	fn     func() // AfterFunc: called instead of sending on ch
	active bool
	seq    int64 // After: registration order; 0 for tickers and timers
	order  int64 // heap tie-break: registration order
}

type waiters []*simWaiter

func (w waiters) Len() int { return len(w) }
func (w waiters) Less(i, j int) bool {
	if c := w[i].at.Compare(w[j].at); c != 0 {
		return c < 0
	}
	return w[i].order < w[j].order
}
func (w waiters) Swap(i, j int) { w[i], w[j] = w[j], w[i] }
func (w *waiters) Push(x any)   { *w = append(*w, x.(*simWaiter)) }
func (w *waiters) Pop() any {
	old := *w
	x := old[len(old)-1]
	old[len(old)-1] = nil
	*w = old[:len(old)-1]
	return x
}

var _ clock.Clock = (*simClock)(nil)

func newSimClock(start time.Time) *simClock { return &simClock{now: start.UTC()} }

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *simClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	c.ord++
	w := &simWaiter{at: c.now.Add(d), ch: make(chan time.Time, 1), active: true, seq: c.seq, order: c.ord}
	if d <= 0 {
		w.ch <- c.now
		return w.ch
	}
	heap.Push(&c.h, w)
	return w.ch
}

func (c *simClock) NewTicker(d time.Duration) clock.Ticker {
	if d <= 0 {
		panic("replay: non-positive ticker interval")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ord++
	w := &simWaiter{at: c.now.Add(d), every: d, ch: make(chan time.Time, 1), active: true, order: c.ord}
	heap.Push(&c.h, w)
	return &simTicker{c: c, w: w}
}

// NewTimer and AfterFunc fire in simulated time, like After, but are not
// counted among the After sequence numbers that Set reports.
func (c *simClock) NewTimer(d time.Duration) clock.Timer {
	t := &simTimer{c: c, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

func (c *simClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	t := &simTimer{c: c, fn: f}
	t.Reset(d)
	return t
}

type simTimer struct {
	c  *simClock
	ch chan time.Time
	fn func()
	w  *simWaiter // the pending registration, if any
}

func (t *simTimer) C() <-chan time.Time { return t.ch }

func (t *simTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.stop()
}

// stop deactivates the pending registration; c.mu is held.
func (t *simTimer) stop() bool {
	if t.w == nil || !t.w.active {
		return false
	}
	t.w.active = false
	return true
}

func (t *simTimer) Reset(d time.Duration) bool {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	was := t.stop()
	c.ord++
	t.w = &simWaiter{at: c.now.Add(d), ch: t.ch, fn: t.fn, active: true, order: c.ord}
	if d <= 0 {
		t.w.active = false
		fireSim(t.w, c.now)
		return was
	}
	heap.Push(&c.h, t.w)
	return was
}

// fireSim delivers a waiter's time: by its func, or on its channel unless
// the reader has not taken the last one.
func fireSim(w *simWaiter, at time.Time) {
	if w.fn != nil {
		go w.fn()
		return
	}
	select {
	case w.ch <- at:
	default:
	}
}

type simTicker struct {
	c *simClock
	w *simWaiter
}

func (t *simTicker) C() <-chan time.Time { return t.w.ch }
func (t *simTicker) Stop() {
	t.c.mu.Lock()
	t.w.active = false
	t.c.mu.Unlock()
}

// lastSeq is the sequence number of the last After registered.
func (c *simClock) lastSeq() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq
}

// Set moves the clock to t (never backwards), firing due timers in time
// order, and returns the sequence numbers of the After timers it fired.
func (c *simClock) Set(t time.Time) []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !t.After(c.now) {
		return nil
	}
	var fired []int64
	for len(c.h) > 0 && !c.h[0].at.After(t) {
		w := heap.Pop(&c.h).(*simWaiter)
		if !w.active {
			continue
		}
		c.now = w.at
		fireSim(w, w.at)
		switch {
		case w.every > 0:
			w.at = w.at.Add(w.every)
			heap.Push(&c.h, w)
		case w.seq != 0:
			fired = append(fired, w.seq)
		default:
			w.active = false // a timer: fired, so no longer pending
		}
	}
	c.now = t.UTC()
	return fired
}

// instant is the clock of the venue, executor and journal in a replay: it
// tells the simulated time, and its waits (request latency, retry backoff)
// end at once, since nothing in a replay happens between two bars but what
// the engine does. Orders are stamped at the step's time.
type instant struct{ c *simClock }

var _ clock.Clock = instant{}

func (i instant) Now() time.Time { return i.c.Now() }
func (i instant) After(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	ch <- i.c.Now()
	return ch
}
func (i instant) NewTicker(d time.Duration) clock.Ticker { return i.c.NewTicker(d) }

// NewTimer fires at once, as After does.
func (i instant) NewTimer(time.Duration) clock.Timer {
	t := &simTimer{c: i.c, ch: make(chan time.Time, 1)}
	t.ch <- i.c.Now()
	return t
}

// AfterFunc calls f at once (in its own goroutine), as After fires.
func (i instant) AfterFunc(_ time.Duration, f func()) clock.Timer {
	go f()
	return &simTimer{c: i.c}
}
