package marketdata_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/marketdata"
	"github.com/tradeplane/tradeplane/internal/polltest"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

var errEnough = errors.New("enough")

// collect runs f until n ticks have been emitted.
func collect(t *testing.T, f *marketdata.Feed, n int) []venue.PriceTick {
	t.Helper()
	var out []venue.PriceTick
	err := f.Run(t.Context(), func(tk venue.PriceTick) error {
		out = append(out, tk)
		if len(out) == n {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatalf("run: %v", err)
	}
	return out
}

func mustSource(t *testing.T, path string) marketdata.Source {
	t.Helper()
	s, err := marketdata.LoadSource(path)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	return s
}

func mustFeed(t *testing.T, cfg marketdata.FeedConfig) *marketdata.Feed {
	t.Helper()
	f, err := marketdata.NewFeed(cfg)
	if err != nil {
		t.Fatalf("new feed: %v", err)
	}
	return f
}

func TestFeedReplaysCandlesAndLoops(t *testing.T) {
	t.Parallel()
	src := mustSource(t, "testdata/BTCUSDT-1m.csv")
	f := mustFeed(t, marketdata.FeedConfig{Sources: []marketdata.Source{src}, HistoricalTime: true})
	ticks := collect(t, f, 25)
	t0 := time.UnixMilli(1677628800000).UTC()
	want := []struct {
		px string
		at time.Duration
	}{
		{"23140.48", 0}, {"23128.52", 15 * time.Second}, {"23150.77", 30 * time.Second}, {"23142.31", 45 * time.Second}, // rising: low first
		{"23143.89", time.Minute}, {"23148.8", time.Minute + 15*time.Second}, {"23137.61", time.Minute + 30*time.Second}, {"23137.77", time.Minute + 45*time.Second}, // falling: high first
	}
	for i, w := range want {
		if tk := ticks[i]; tk.Symbol != "BTCUSDT" || tk.Price.String() != w.px || !tk.Time.Equal(t0.Add(w.at)) {
			t.Errorf("tick %d: got %s %s %s, want %s at +%s", i, tk.Symbol, tk.Price, tk.Time, w.px, w.at)
		}
	}
	// Tick 20 starts the second replay, five minutes later.
	if tk := ticks[20]; tk.Price.String() != "23140.48" || !tk.Time.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("loop: got %s at %s, want 23140.48 at %s", tk.Price, tk.Time, t0.Add(5*time.Minute))
	}
	for i := 1; i < len(ticks); i++ {
		if !ticks[i].Time.After(ticks[i-1].Time) {
			t.Fatalf("tick %d at %s does not follow %s", i, ticks[i].Time, ticks[i-1].Time)
		}
	}
}

func TestFeedMergesSourcesByMarketTime(t *testing.T) {
	t.Parallel()
	f := mustFeed(t, marketdata.FeedConfig{Sources: []marketdata.Source{
		mustSource(t, "testdata/BTCUSDT-1m.csv"), mustSource(t, "testdata/ETHUSDT-1h.csv"),
	}})
	n := map[string]int{}
	err := f.Run(t.Context(), func(tk venue.PriceTick) error {
		n[tk.Symbol]++
		if n["ETHUSDT"] == 5 { // the tick at one hour
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatal(err)
	}
	// One hour of 1m candles is 60 candles × 4 ticks, plus the tick at 1h.
	if got := n["BTCUSDT"]; got < 240 || got > 241 {
		t.Errorf("BTCUSDT ticks in the first hour: got %d, want 240 or 241", got)
	}
}

func TestFeedSpeedOnFakeClock(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	f := mustFeed(t, marketdata.FeedConfig{Sources: []marketdata.Source{mustSource(t, "testdata/BTCUSDT-1m.csv")},
		Speed: 60, Clock: clk})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch := f.Ticks(ctx)
	first := <-ch
	if !first.Time.Equal(clk.Now()) {
		t.Errorf("live tick time: got %s, want the clock's %s", first.Time, clk.Now())
	}
	select {
	case tk := <-ch:
		t.Fatalf("second tick %v before the clock moved", tk)
	case <-time.After(20 * time.Millisecond):
	}
	// A 1m candle plays in 1s at speed 60: the next tick is 250ms later.
	clk.Advance(250 * time.Millisecond)
	select {
	case tk := <-ch:
		if tk.Price.String() != "23128.52" {
			t.Errorf("second tick: got %s, want the low 23128.52", tk.Price)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no tick after the clock moved 250ms")
	}
	cancel()
	for range ch {
	}
}

func TestRandomWalkIsSeeded(t *testing.T) {
	t.Parallel()
	walk := func(seed uint64) []string {
		f := mustFeed(t, marketdata.FeedConfig{Seed: seed})
		var out []string
		for _, tk := range collect(t, f, 300) {
			out = append(out, tk.Symbol+" "+tk.Price.String())
		}
		return out
	}
	a, b, c := walk(1), walk(1), walk(2)
	if strings.Join(a, ",") != strings.Join(b, ",") {
		t.Fatal("same seed: different walks")
	}
	if strings.Join(a, ",") == strings.Join(c, ",") {
		t.Fatal("different seeds: same walk")
	}
	f := mustFeed(t, marketdata.FeedConfig{Seed: 3, Walks: []marketdata.Walk{{Symbol: "BTCUSDT", Start: udecimal.MustParse("20000"), MaxStepBps: 5}}})
	ticks := collect(t, f, 1000)
	limit := udecimal.MustParse("0.00051") // 5 bps plus rounding
	for i, tk := range ticks {
		if r, _ := tk.Price.Mod(udecimal.MustParse("0.01")); !r.IsZero() || !tk.Price.IsPos() {
			t.Fatalf("tick %d: price %s not a positive multiple of 0.01", i, tk.Price)
		}
		if i > 0 {
			move, _ := tk.Price.Sub(ticks[i-1].Price).Abs().Div(ticks[i-1].Price)
			if move.GreaterThan(limit) {
				t.Fatalf("tick %d: moved %s, more than 5 bps", i, move)
			}
		}
	}
}

func TestFeedStopAndNoLeaks(t *testing.T) {
	t.Parallel()
	before := runtime.NumGoroutine()
	for i := range 20 {
		f := mustFeed(t, marketdata.FeedConfig{Seed: uint64(i), Speed: 1, WalkInterval: time.Hour})
		r := f.Start(t.Context(), func(venue.PriceTick) error { return nil })
		if err := r.Stop(); err != nil {
			t.Fatalf("stop: %v", err)
		}
		select {
		case <-r.Done():
		default:
			t.Fatal("Done not closed after Stop")
		}
		ctx, cancel := context.WithCancel(t.Context())
		ch := f.Ticks(ctx)
		cancel()
		for range ch {
		}
	}
	// The feeds' goroutines end once their channels are drained; other
	// tests run in parallel, hence the slack.
	polltest.Until(t, 10*time.Second, fmt.Sprintf("goroutines back to %d + 5 after 20 stopped feeds", before),
		func() bool { return runtime.NumGoroutine() <= before+5 })
}

func TestFeedEmitErrorStops(t *testing.T) {
	t.Parallel()
	f := mustFeed(t, marketdata.FeedConfig{})
	r := f.Start(t.Context(), func(venue.PriceTick) error { return fmt.Errorf("sink full") })
	<-r.Done()
	if err := r.Stop(); err == nil || !strings.Contains(err.Error(), "sink full") {
		t.Fatalf("got %v, want the emit error", err)
	}
}

// TestReplayIntoPaper drives the paper exchange from a file: with market
// time on the ticks, its 1m candles reproduce the file's prices.
func TestReplayIntoPaper(t *testing.T) {
	t.Parallel()
	src := mustSource(t, "testdata/BTCUSDT-1m.csv")
	ex := paper.MustNew(paper.Config{})
	f := mustFeed(t, marketdata.FeedConfig{Sources: []marketdata.Source{src}, HistoricalTime: true})
	n := 0
	err := f.Run(t.Context(), func(tk venue.PriceTick) error {
		if n++; n > 20 {
			return errEnough
		}
		return ex.ApplyTick(tk)
	})
	if !errors.Is(err, errEnough) {
		t.Fatal(err)
	}
	ks, err := ex.Account("x").Klines(t.Context(), "BTCUSDT", "1m", src.Klines[0].OpenTime, src.Klines[4].OpenTime.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) != 5 {
		t.Fatalf("got %d candles, want 5", len(ks))
	}
	for i, k := range ks {
		w := src.Klines[i]
		if !k.OpenTime.Equal(w.OpenTime) || !k.Open.Equal(w.Open) || !k.High.Equal(w.High) || !k.Low.Equal(w.Low) || !k.Close.Equal(w.Close) {
			t.Errorf("candle %d: got %+v, want %+v", i, k, w)
		}
	}
}

func TestNewFeedRejectsBadConfig(t *testing.T) {
	t.Parallel()
	tests := []marketdata.FeedConfig{
		{Sources: []marketdata.Source{{Symbol: "X", Interval: time.Minute}}},
		{Sources: []marketdata.Source{{Symbol: "X", Klines: []venue.Kline{{}}}}},
		{Walks: []marketdata.Walk{{Symbol: "X"}}},
	}
	for i, cfg := range tests {
		if _, err := marketdata.NewFeed(cfg); err == nil {
			t.Errorf("config %d: got nil error", i)
		}
	}
}
