package backoff_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/backoff"
	"github.com/tradeplane/tradeplane/internal/clock"
)

func TestDelayDoublesUpToTheCap(t *testing.T) {
	t.Parallel()
	p := backoff.Policy{Initial: 100 * time.Millisecond, Max: time.Second}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for n, w := range want {
		if got := p.Delay(n); got != w*time.Millisecond {
			t.Errorf("Delay(%d): got %v, want %v", n, got, w*time.Millisecond)
		}
	}
	if got := p.Delay(1 << 20); got != time.Second {
		t.Errorf("Delay(huge): got %v, want the cap", got)
	}
}

func TestDelayWithoutCapNeverOverflows(t *testing.T) {
	t.Parallel()
	p := backoff.Policy{Initial: time.Second}
	for _, n := range []int{40, 63, 64, 1000} {
		if got := p.Delay(n); got <= 0 {
			t.Errorf("Delay(%d): got %v, want positive", n, got)
		}
	}
}

func TestJitterStaysInBandAndRepeatsWithTheSeed(t *testing.T) {
	t.Parallel()
	draw := func(seed uint64) []time.Duration {
		r := rand.New(rand.NewPCG(seed, 0))
		p := backoff.Policy{Initial: time.Second, Max: time.Minute, Jitter: 0.2, Rand: r.Float64}
		var out []time.Duration
		for range 50 {
			d := p.Delay(3)
			if d < 6400*time.Millisecond || d > 9600*time.Millisecond {
				t.Fatalf("jittered 8s: got %v, outside ±20%%", d)
			}
			out = append(out, d)
		}
		return out
	}
	a, b := draw(7), draw(7)
	same := true
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("draw %d: %v then %v with one seed", i, a[i], b[i])
		}
		same = same && a[i] == a[0]
	}
	if same {
		t.Fatal("jitter drew one value 50 times")
	}
}

func TestWaitSleepsOnTheClockAndResets(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := clock.NewFake(t0)
	b := backoff.New(backoff.Policy{Initial: time.Second, Max: 4 * time.Second}, f)
	ctx := context.Background()
	for _, want := range []time.Duration{1, 2, 4, 4} {
		done := make(chan error)
		start := f.Now()
		go func() { done <- b.Wait(ctx) }()
		f.BlockUntil(1)
		f.Advance(want*time.Second - time.Nanosecond)
		select {
		case <-done:
			t.Fatalf("woke before %v", want*time.Second)
		default:
		}
		f.Advance(time.Nanosecond)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := f.Now().Sub(start); got != want*time.Second {
			t.Fatalf("slept %v, want %v", got, want*time.Second)
		}
	}
	if b.Retries() != 4 {
		t.Fatalf("retries: got %d, want 4", b.Retries())
	}
	b.Reset()
	if got := b.Next(); got != time.Second {
		t.Fatalf("after Reset: got %v, want 1s", got)
	}
}

func TestWaitEndsWithTheContext(t *testing.T) {
	t.Parallel()
	f := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	b := backoff.New(backoff.Policy{Initial: time.Hour}, f)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.Wait(ctx) }()
	f.BlockUntil(1)
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if n := f.Waiters(); n != 0 {
		t.Fatalf("a canceled wait left %d timers pending", n)
	}
}
