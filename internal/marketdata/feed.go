package marketdata

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// Walk is one symbol of a seeded random walk.
type Walk struct {
	Symbol string
	Start  venue.Decimal // first price; must be positive
	Tick   venue.Decimal // prices are rounded to this; zero means 0.01
	// MaxStepBps is the largest move per step in basis points; zero
	// means 10 (0.1%).
	MaxStepBps int
}

// DefaultWalks is BTCUSDT from 20000, ETHUSDT from 1000 and BNBUSDT from
// 300, in 0.01 ticks.
func DefaultWalks() []Walk {
	d := udecimal.MustParse
	return []Walk{
		{Symbol: "BTCUSDT", Start: d("20000")},
		{Symbol: "ETHUSDT", Start: d("1000")},
		{Symbol: "BNBUSDT", Start: d("300")},
	}
}

// FeedConfig configures a Feed.
type FeedConfig struct {
	// Sources are replayed together, each candle as four ticks: open, then
	// the extreme nearer the open (low for a rising candle, high for a
	// falling one), the other extreme, and close. A source loops to its
	// first candle when exhausted.
	Sources []Source
	// Walks are random walks, used when Sources is empty; empty means
	// DefaultWalks().
	Walks []Walk
	// WalkInterval is the market time between two random-walk steps; zero
	// means 1s.
	WalkInterval time.Duration
	// Speed compresses time: a candle of interval d is replayed in d/Speed
	// of clock time (Speed 60 plays a 1m candle in 1s). Zero or negative
	// means as fast as the receiver takes ticks, without waiting.
	Speed float64
	// Clock times the waits and, unless HistoricalTime, stamps the ticks;
	// nil means clock.Real{}.
	Clock clock.Clock
	// HistoricalTime stamps ticks with their market time (candle open time
	// plus the tick's offset within the candle, shifted forward by whole
	// replays when looping) instead of the clock's now.
	HistoricalTime bool
	// Seed seeds the random walk.
	Seed uint64
}

// Feed is a stream of price ticks from klines or a random walk. A Feed is
// one schedule: Run it once at a time.
type Feed struct {
	cfg    FeedConfig
	clk    clock.Clock
	tracks []*track
}

// track is one symbol's schedule.
type track struct {
	symbol string
	// replay
	src   Source
	span  time.Duration // whole replay length, for looping
	i, j  int           // candle index, tick index within the candle
	loops int
	// walk
	walk  *Walk
	price venue.Decimal
	rng   *rand.Rand
	// next tick's offset from the feed's start, in market time
	at time.Duration
}

// NewFeed checks cfg and returns a Feed.
func NewFeed(cfg FeedConfig) (*Feed, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.WalkInterval <= 0 {
		cfg.WalkInterval = time.Second
	}
	f := &Feed{cfg: cfg, clk: cfg.Clock}
	for _, s := range cfg.Sources {
		if len(s.Klines) == 0 {
			return nil, fmt.Errorf("new feed: source %s has no candles", s.Symbol)
		}
		if s.Interval <= 0 {
			return nil, fmt.Errorf("new feed: source %s: interval %s is not positive", s.Symbol, s.Interval)
		}
		first, last := s.Klines[0].OpenTime, s.Klines[len(s.Klines)-1].OpenTime
		f.tracks = append(f.tracks, &track{symbol: s.Symbol, src: s, span: last.Sub(first) + s.Interval})
	}
	if len(cfg.Sources) == 0 {
		walks := cfg.Walks
		if len(walks) == 0 {
			walks = DefaultWalks()
		}
		for i, w := range walks {
			if !w.Start.IsPos() {
				return nil, fmt.Errorf("new feed: walk %s: start %s is not positive", w.Symbol, w.Start)
			}
			if w.Tick.IsZero() {
				w.Tick = udecimal.MustParse("0.01")
			}
			if w.MaxStepBps <= 0 {
				w.MaxStepBps = 10
			}
			f.tracks = append(f.tracks, &track{symbol: w.Symbol, walk: &w, price: w.Start,
				rng: rand.New(rand.NewPCG(cfg.Seed, uint64(i)))})
		}
	}
	return f, nil
}

var tenK = udecimal.MustFromInt64(10000, 0)

// next returns the track's next tick and advances it.
func (t *track) next(interval time.Duration, historical time.Time) venue.PriceTick {
	if t.walk != nil {
		tk := venue.PriceTick{Symbol: t.symbol, Price: t.price, Time: historical.Add(t.at)}
		step := t.rng.IntN(2*t.walk.MaxStepBps+1) - t.walk.MaxStepBps
		p := t.price.Mul(udecimal.MustFromInt64(int64(10000+step), 0))
		p, _ = p.Div(tenK)
		p = roundTo(p, t.walk.Tick)
		if !p.IsPos() {
			p = t.walk.Tick
		}
		t.price = p
		t.at += interval
		return tk
	}
	k := t.src.Klines[t.i]
	var px venue.Decimal
	rising := k.Close.GreaterThanOrEqual(k.Open)
	switch t.j {
	case 0:
		px = k.Open
	case 1:
		px = k.High
		if rising {
			px = k.Low
		}
	case 2:
		px = k.Low
		if rising {
			px = k.High
		}
	default:
		px = k.Close
	}
	off := time.Duration(t.j) * t.src.Interval / 4
	tk := venue.PriceTick{Symbol: t.symbol, Price: px,
		Time: k.OpenTime.Add(time.Duration(t.loops)*t.span + off)}
	// Market-time offset of the following tick.
	t.j++
	if t.j == 4 {
		t.j = 0
		t.i++
		if t.i == len(t.src.Klines) {
			t.i = 0
			t.loops++
		}
	}
	nk := t.src.Klines[t.i]
	t.at = time.Duration(t.loops)*t.span + nk.OpenTime.Sub(t.src.Klines[0].OpenTime) + time.Duration(t.j)*t.src.Interval/4
	return tk
}

// roundTo rounds p to the nearest multiple of tick (half away from zero).
func roundTo(p, tick venue.Decimal) venue.Decimal {
	if !tick.IsPos() {
		return p
	}
	q, err := p.Div(tick)
	if err != nil {
		return p
	}
	return q.RoundHAZ(0).Mul(tick)
}

// Run emits ticks in market-time order across symbols until ctx ends
// (returning nil) or emit fails (returning its error). With a positive
// Speed it waits on the clock between ticks; otherwise it emits as fast as
// emit returns.
func (f *Feed) Run(ctx context.Context, emit func(venue.PriceTick) error) error {
	if len(f.tracks) == 0 {
		return errors.New("run feed: nothing to replay")
	}
	start := f.clk.Now()
	for {
		if ctx.Err() != nil {
			return nil
		}
		t := f.tracks[0]
		for _, u := range f.tracks[1:] {
			if u.at < t.at {
				t = u
			}
		}
		if f.cfg.Speed > 0 {
			due := start.Add(time.Duration(float64(t.at) / f.cfg.Speed))
			if d := due.Sub(f.clk.Now()); d > 0 {
				select {
				case <-ctx.Done():
					return nil
				case <-f.clk.After(d):
				}
			}
		}
		var base time.Time
		if t.walk != nil {
			base = start
		}
		tk := t.next(f.cfg.WalkInterval, base)
		if !f.cfg.HistoricalTime {
			tk.Time = f.clk.Now()
		}
		if err := emit(tk); err != nil {
			return fmt.Errorf("run feed: emit %s: %w", tk.Symbol, err)
		}
	}
}

// Running is a Feed started in its own goroutine.
type Running struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
	once   sync.Once
}

// Start runs f in a goroutine until ctx ends, Stop is called or emit
// fails. The caller owns the returned Running and must Stop it.
func (f *Feed) Start(ctx context.Context, emit func(venue.PriceTick) error) *Running {
	ctx, cancel := context.WithCancel(ctx)
	r := &Running{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = f.Run(ctx, emit)
	}()
	return r
}

// Done is closed when the feed has stopped.
func (r *Running) Done() <-chan struct{} { return r.done }

// Stop stops the feed, waits for its goroutine to exit and returns the
// error that ended it (nil when it was stopped or its ctx ended).
func (r *Running) Stop() error {
	r.once.Do(r.cancel)
	<-r.done
	return r.err
}

// Ticks runs f until ctx ends and delivers its ticks on a channel that is
// closed then. The feed waits for the reader: a slow reader slows the feed,
// it never loses ticks.
func (f *Feed) Ticks(ctx context.Context) <-chan venue.PriceTick {
	ch := make(chan venue.PriceTick)
	go func() {
		defer close(ch)
		_ = f.Run(ctx, func(tk venue.PriceTick) error {
			select {
			case ch <- tk:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	return ch
}
