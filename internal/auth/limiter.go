package auth

import (
	"sync"
	"time"

	"github.com/tradeplane/tradeplane/internal/clock"
)

// Limiter limits login attempts per key (the remote address): a token
// bucket of Burst attempts refilled at one per Every. Only failures spend a
// token: a desk that logs in correctly is never slowed. Safe for concurrent
// use; idle keys are forgotten once their bucket is full again.
type Limiter struct {
	clk   clock.Clock
	burst float64
	every time.Duration

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewLimiter returns a limiter of burst attempts refilled one per every;
// zero values mean 5 attempts and one per 12 s (5 a minute).
func NewLimiter(clk clock.Clock, burst int, every time.Duration) *Limiter {
	if clk == nil {
		clk = clock.Real{}
	}
	if burst <= 0 {
		burst = 5
	}
	if every <= 0 {
		every = 12 * time.Second
	}
	return &Limiter{clk: clk, burst: float64(burst), every: every, buckets: map[string]*bucket{}}
}

func (l *Limiter) refill(key string, now time.Time) *bucket {
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
		return b
	}
	b.tokens = min(l.burst, b.tokens+float64(now.Sub(b.at))/float64(l.every))
	b.at = now
	return b
}

// Allow reports whether key may attempt a login now, and if not, how long
// until it may.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	now := l.clk.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key, now)
	if b.tokens >= 1 {
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) * float64(l.every))
}

// Fail spends one attempt of key.
func (l *Limiter) Fail(key string) {
	now := l.clk.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key, now)
	b.tokens = max(0, b.tokens-1)
	if len(l.buckets) > 4096 {
		for k, b := range l.buckets {
			if b.tokens+float64(now.Sub(b.at))/float64(l.every) >= l.burst {
				delete(l.buckets, k)
			}
		}
	}
}
