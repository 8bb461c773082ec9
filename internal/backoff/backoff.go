// Package backoff is the one retry schedule of the tree: waits that double
// from an initial value up to a cap, with optional ± jitter from a caller's
// seeded source, slept on a clock.Clock so tests advance them on a fake.
//
// It owns the schedule only: what to retry, how often and what counts as
// success stay with the caller.
package backoff

import (
	"context"
	"time"

	"github.com/tradeplane/tradeplane/internal/clock"
)

// Policy is a doubling schedule: the wait before retry n (n from 0) is
// Initial×2ⁿ, at most Max, then moved by up to ±Jitter of itself.
type Policy struct {
	Initial time.Duration
	Max     time.Duration // 0: no cap
	// Jitter is the ± share of the wait drawn from Rand (0: none; at most 1).
	Jitter float64
	// Rand draws from [0, 1) for the jitter: a seeded source, so that a
	// replay or test repeats exactly. Nil with a Jitter set: no jitter.
	Rand func() float64
}

// Delay is the wait before retry n (n from 0). It never overflows: past
// the cap (or past 2⁶² ns) it stays there.
func (p Policy) Delay(n int) time.Duration {
	d := p.Initial
	for i := 0; i < n && (p.Max <= 0 || d < p.Max) && d < 1<<62; i++ {
		d *= 2
	}
	if p.Max > 0 && d > p.Max {
		d = p.Max
	}
	if p.Jitter > 0 && p.Rand != nil {
		d = time.Duration(float64(d) * (1 + p.Jitter*(2*p.Rand()-1)))
	}
	return d
}

// Backoff walks a Policy: each Next is the following wait. It is not safe
// for concurrent use; each retry loop has its own.
type Backoff struct {
	p   Policy
	clk clock.Clock
	n   int
}

// New starts a schedule at retry 0 on clk (nil: the wall clock).
func New(p Policy, clk clock.Clock) *Backoff {
	if clk == nil {
		clk = clock.Real{}
	}
	return &Backoff{p: p, clk: clk}
}

// Next returns the wait before the next retry and moves on.
func (b *Backoff) Next() time.Duration {
	d := b.p.Delay(b.n)
	b.n++
	return d
}

// Retries is how many waits Next has handed out since the last Reset.
func (b *Backoff) Retries() int { return b.n }

// Reset starts the schedule over (after a success).
func (b *Backoff) Reset() { b.n = 0 }

// Wait sleeps the next wait on the clock; it returns ctx's error if ctx
// ends first.
func (b *Backoff) Wait(ctx context.Context) error {
	return clock.Sleep(ctx, b.clk, b.Next())
}
