package binance_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// downloadResult is one sustained trade-history download.
type downloadResult struct {
	windows     int
	budget      int
	weight      int // weight the fake accepted over the measured windows
	trades      int
	rateLimited int
	banned      int
}

func (r downloadResult) utilization() float64 {
	return float64(r.weight) / float64(r.budget*r.windows)
}

// measureDownload pages myTrades of two symbols at once, 100 trades a page
// (weight 20 each), against a fake with budget weight per window, and counts
// the weight the fake accepted over `windows` whole windows.
func measureDownload(tb testing.TB, budget int, window time.Duration, windows int) downloadResult {
	tb.Helper()
	fcfg := binancetest.Config{WeightLimit: budget, WeightWindow: window}
	b := setup(tb, fcfg, func(c *binance.Config) { c.WeightLimit, c.WeightWindow = budget, window })
	start := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, s := range []string{"BTCUSDT", "ETHUSDT"} {
		b.fake.SeedTrades(s, start, 2*time.Second, 40000)
	}
	ctx, cancel := context.WithCancel(b.ctx)
	var wg sync.WaitGroup
	var mu sync.Mutex
	trades := 0
	for _, s := range []string{"BTCUSDT", "ETHUSDT"} {
		wg.Go(func() {
			q := venue.TradeQuery{Symbol: s, From: start, To: start.Add(24 * time.Hour), Limit: 100}
			for ctx.Err() == nil {
				p, err := b.client.Trades(ctx, q)
				if err != nil {
					if ctx.Err() == nil {
						tb.Errorf("trades %s: %v", s, err)
					}
					return
				}
				mu.Lock()
				trades += len(p.Trades)
				mu.Unlock()
				q.Cursor = p.Next
			}
		})
	}
	// Measure over whole windows, sampling late in a window (when its budget
	// is spent and the downloaders wait for the next) so that each measured
	// span holds exactly one window's burst.
	now := time.Now()
	t0 := now.Truncate(window).Add(2 * window).Add(-window / 4)
	time.Sleep(time.Until(t0))
	w0 := b.fake.Stats().Weight
	mu.Lock()
	n0 := trades
	mu.Unlock()
	time.Sleep(time.Until(t0.Add(time.Duration(windows) * window)))
	st := b.fake.Stats()
	mu.Lock()
	n1 := trades
	mu.Unlock()
	cancel()
	wg.Wait()
	return downloadResult{windows: windows, budget: budget, weight: st.Weight - w0, trades: n1 - n0,
		rateLimited: st.RateLimited, banned: st.Banned}
}

// TestTradeHistoryStaysWithinBudget: a sustained download, as fast as
// the limiter lets it go, never draws a 429 or a 418 from a fake with the
// same budget. How much of the budget it uses depends on the machine's
// speed (a loaded machine sends less, never more): that is
// BenchmarkTradeHistoryDownload's %budget, not this test's.
func TestTradeHistoryStaysWithinBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 2 s")
	}
	t.Parallel()
	r := measureDownload(t, 600, 500*time.Millisecond, 2)
	t.Logf("budget %d/window, %d windows: weight %d (%.1f%%), %d trades, %d 429s, %d 418s",
		r.budget, r.windows, r.weight, 100*r.utilization(), r.trades, r.rateLimited, r.banned)
	if r.rateLimited != 0 || r.banned != 0 {
		t.Errorf("got %d 429s and %d 418s, want none", r.rateLimited, r.banned)
	}
	if r.trades == 0 {
		t.Error("downloaded no trades")
	}
}

// BenchmarkTradeHistoryDownload runs the same download for b.N windows of
// 500 ms at 600 weight per window and reports utilization (goal: at least
// 90% on an idle machine) and 429s (must be none: it fails on any).
func BenchmarkTradeHistoryDownload(b *testing.B) {
	windows := max(b.N, 4)
	r := measureDownload(b, 600, 500*time.Millisecond, windows)
	if r.rateLimited != 0 || r.banned != 0 {
		b.Errorf("got %d 429s and %d 418s, want none", r.rateLimited, r.banned)
	}
	b.ReportMetric(100*r.utilization(), "%budget")
	b.ReportMetric(float64(r.rateLimited), "429s")
	b.ReportMetric(float64(r.trades)/float64(windows), "trades/window")
}
