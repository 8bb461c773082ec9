package tradeall

import (
	"context"
	"sync"
	"time"

	"github.com/tradeplane/tradeplane/internal/clock"
)

// Rate is a token-bucket budget: PerSecond orders a second on average and
// bursts of up to Burst (at least 1). A zero PerSecond is unlimited.
type Rate struct {
	PerSecond float64
	Burst     int
}

// VenuePacing is the order budget of one venue: Venue for every account
// together (Binance's IP-wide limit), Account for each account on it.
type VenuePacing struct {
	Venue   Rate
	Account Rate
}

// Pacing configures the pacer: a budget per venue kind, and Default for
// venues not listed.
type Pacing struct {
	Venues  map[string]VenuePacing
	Default VenuePacing
}

// DefaultPacing stays inside Binance's spot limits (100 orders per 10 s per
// account, request weight 6000 a minute per IP) and Bybit's with headroom,
// and leaves the paper venue unlimited.
func DefaultPacing() Pacing {
	return Pacing{Venues: map[string]VenuePacing{
		"binance": {Venue: Rate{PerSecond: 50, Burst: 10}, Account: Rate{PerSecond: 8, Burst: 5}},
		// USDⓈ-M futures: 300 orders per 10 s and 1,200 a minute per
		// account, no IP weight per order.
		"binance-futures": {Venue: Rate{PerSecond: 50, Burst: 10}, Account: Rate{PerSecond: 8, Burst: 5}},
		// Bybit: under its per-UID order-create limits (10 to 20 a second
		// by account type) and its 600 requests per 5 s per IP.
		"bybit": {Venue: Rate{PerSecond: 40, Burst: 10}, Account: Rate{PerSecond: 8, Burst: 5}},
		// Bybit linear perpetuals: the same per-UID order limits; with
		// the spot bucket, 80 a second stays under the IP's 120.
		"bybit-linear": {Venue: Rate{PerSecond: 40, Burst: 10}, Account: Rate{PerSecond: 8, Burst: 5}},
	}}
}

// pacer hands out order slots from one bucket per venue and one per
// (venue, account). It reserves slots in arrival order (GCRA), so waiters
// are served first come, first served, and never holds its lock while
// waiting.
//
// Not golang.org/x/time/rate (which the login limiter uses): a venue's
// Retry-After or ban must mean "no slot before T" for every waiter already
// queued and every later one, with the rate spacing them after T. Here
// that is one move of the bucket's theoretical arrival time (hold);
// rate.Limiter can only express it by setting its limit to zero and
// restoring it from a timer, or by reserving its burst over and over.
type pacer struct {
	clk     clock.Clock
	cfg     Pacing
	mu      sync.Mutex
	buckets map[string]*bucket
}

// bucket is a GCRA token bucket: tat is the theoretical arrival time of the
// next slot.
type bucket struct {
	interval  time.Duration
	tolerance time.Duration
	tat       time.Time
}

func newPacer(clk clock.Clock, cfg Pacing) *pacer {
	return &pacer{clk: clk, cfg: cfg, buckets: map[string]*bucket{}}
}

// pacing returns the venue's pacing; p.mu is held.
func (p *pacer) pacing(venueName string) VenuePacing {
	if vp, ok := p.cfg.Venues[venueName]; ok {
		return vp
	}
	return p.cfg.Default
}

// bucketFor returns the bucket for key with rate, or nil when unlimited;
// p.mu is held.
func (p *pacer) bucketFor(key string, rate Rate) *bucket {
	if rate.PerSecond <= 0 {
		return nil
	}
	b, ok := p.buckets[key]
	if !ok {
		iv := time.Duration(float64(time.Second) / rate.PerSecond)
		burst := max(rate.Burst, 1)
		b = &bucket{interval: iv, tolerance: time.Duration(burst-1) * iv}
		p.buckets[key] = b
	}
	return b
}

// reserve takes the next slot of b at now and returns how long to wait
// for it.
func (b *bucket) reserve(now time.Time) time.Duration {
	tat := b.tat
	if tat.Before(now) {
		tat = now
	}
	allowed := tat.Add(-b.tolerance)
	b.tat = tat.Add(b.interval)
	if allowed.After(now) {
		return allowed.Sub(now)
	}
	return 0
}

// hold makes b give no slot before until.
func (b *bucket) hold(until time.Time) {
	if t := until.Add(b.tolerance); t.After(b.tat) {
		b.tat = t
	}
}

// wait takes one slot of the account's bucket, then one of the venue's,
// waiting for each. It returns the time spent waiting, or ctx's error.
func (p *pacer) wait(ctx context.Context, venueName, account string) (time.Duration, error) {
	p.mu.Lock()
	vp := p.pacing(venueName) // hold may replace cfg.Venues
	p.mu.Unlock()
	var total time.Duration
	for _, k := range []struct {
		key  string
		rate Rate
	}{{"a\x00" + venueName + "\x00" + account, vp.Account}, {"v\x00" + venueName, vp.Venue}} {
		p.mu.Lock()
		b := p.bucketFor(k.key, k.rate)
		var d time.Duration
		if b != nil {
			d = b.reserve(p.clk.Now())
		}
		p.mu.Unlock()
		if d <= 0 {
			continue
		}
		if err := clock.Sleep(ctx, p.clk, d); err != nil {
			return total, err
		}
		total += d
	}
	return total, ctx.Err()
}

// hold stops the venue's slots until until (a 429's Retry-After, a 418's
// ban): rate limits are budgets, and the venue has told us ours is spent.
func (p *pacer) hold(venueName string, until time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	vp := p.pacing(venueName)
	rate := vp.Venue
	if rate.PerSecond <= 0 {
		// Unlimited venues still honour a hold: a 1-slot-per-ns bucket.
		rate = Rate{PerSecond: 1e9, Burst: 1}
		if _, ok := p.buckets["v\x00"+venueName]; !ok {
			p.cfg.Venues = cloneVenues(p.cfg.Venues)
			p.cfg.Venues[venueName] = VenuePacing{Venue: rate, Account: vp.Account}
		}
	}
	p.bucketFor("v\x00"+venueName, rate).hold(until)
}

func cloneVenues(m map[string]VenuePacing) map[string]VenuePacing {
	out := make(map[string]VenuePacing, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}
