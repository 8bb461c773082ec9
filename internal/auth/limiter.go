package auth

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/tradeplane/tradeplane/internal/clock"
)

// Limiter limits login attempts per key (the remote address): a token
// bucket (golang.org/x/time/rate, read at the clock's time) of Burst
// attempts refilled at one per Every. Only failures spend a token: a desk
// that logs in correctly is never slowed. Safe for concurrent use; idle
// keys are forgotten once their bucket is full again.
type Limiter struct {
	clk   clock.Clock
	burst int
	every time.Duration

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
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
	return &Limiter{clk: clk, burst: burst, every: every, buckets: map[string]*rate.Limiter{}}
}

// bucket returns key's bucket, full when new; l.mu is held.
func (l *Limiter) bucket(key string) *rate.Limiter {
	b := l.buckets[key]
	if b == nil {
		b = rate.NewLimiter(rate.Every(l.every), l.burst)
		l.buckets[key] = b
	}
	return b
}

// Allow reports whether key may attempt a login now, and if not, how long
// until it may.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	now := l.clk.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	tokens := l.bucket(key).TokensAt(now)
	if tokens >= 1 {
		return true, 0
	}
	return false, time.Duration((1 - tokens) * float64(l.every))
}

// Fail spends one attempt of key. A bucket with less than one attempt
// left (failures that raced Allow) is left as it is: no debt builds up.
func (l *Limiter) Fail(key string) {
	now := l.clk.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bucket(key).AllowN(now, 1) // takes a token only when there is one
	if len(l.buckets) > 4096 {
		for k, b := range l.buckets {
			if b.TokensAt(now) >= float64(l.burst) {
				delete(l.buckets, k)
			}
		}
	}
}
