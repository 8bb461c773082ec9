package binance_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// TestFuturesTradesPagesAndWindows: three weeks of USDⓈ-M futures fills come
// back whole, in order and once each, through 7-day windows (the fake, like
// Binance, refuses a longer one with -1127) and fromId pages within them;
// the futures fields are parsed, and spot history does not see them.
func TestFuturesTradesPagesAndWindows(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{}, nil)
	start := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	const n = 21 * 48 // every 30 minutes for three weeks; 336 per 7-day window
	b.fake.SeedFuturesTrades("BTCUSDT", start, 30*time.Minute, n)
	// A day before the first fill, and the query ends before the last one.
	q0 := venue.TradeQuery{Symbol: "BTCUSDT", From: start.Add(-24 * time.Hour), To: start.Add(21*24*time.Hour - 30*time.Minute)}
	totalPages := 0
	download := func(limit int) (got []binance.FuturesTrade, windows int) {
		t.Helper()
		q := q0
		q.Limit = limit
		for pages := 0; ; pages++ {
			p, err := b.client.FuturesTrades(b.ctx, q)
			if err != nil {
				t.Fatalf("limit %d: futures trades page %d (cursor %q): %v", limit, pages, q.Cursor, err)
			}
			totalPages++
			got = append(got, p.Trades...)
			if len(p.Next) > 0 && p.Next[0] == 't' {
				windows++
			}
			if p.Next == "" {
				break
			}
			if pages > 100 {
				t.Fatal("paging does not end")
			}
			q.Cursor = p.Next
		}
		if len(got) != n-1 {
			t.Fatalf("limit %d: got %d futures trades, want %d (all but the last, at To)", limit, len(got), n-1)
		}
		for i, tr := range got {
			if i > 0 {
				prev, _ := strconv.ParseInt(got[i-1].ID, 10, 64)
				cur, _ := strconv.ParseInt(tr.ID, 10, 64)
				if cur != prev+1 {
					t.Fatalf("limit %d: trade %d: id %d after %d, want each id once, in order", limit, i, cur, prev)
				}
			}
			if want := start.Add(time.Duration(i) * 30 * time.Minute); !tr.Time.Equal(want) {
				t.Fatalf("limit %d: trade %d at %s, want %s", limit, i, tr.Time, want)
			}
		}
		return got, windows
	}
	// Pages of 1000 hold a whole 7-day window (336 fills): 22 days from
	// From take windows from 7, 14 and 21 days on.
	got, windows := download(1000)
	if windows != 3 {
		t.Errorf("limit 1000: %d window moves, want 3", windows)
	}
	// Pages of 100 do not: the first window continues by fromId to the end.
	if _, windows := download(100); windows != 0 {
		t.Errorf("limit 100: %d window moves, want 0 (fromId pages)", windows)
	}
	pages := totalPages
	first, second := got[0], got[1]
	if first.Side != venue.Buy || second.Side != venue.Sell || !first.Price.Equal(dec("30000")) || !first.Quantity.Equal(dec("0.002")) ||
		!first.QuoteQty.Equal(dec("60")) || !first.Fee.Equal(dec("0.024")) || first.FeeAsset != "USDT" || first.PositionSide != "BOTH" ||
		!first.RealizedPnl.IsZero() || !second.RealizedPnl.Equal(dec("0.1")) || first.ClientOrderID != "" {
		t.Errorf("parsed futures trades: %+v, %+v", first, second)
	}
	if st := b.client.FuturesStats(); st.Weight != 5*pages || st.WeightLimit != 2400 {
		t.Errorf("futures budget: weight %d (want %d, 5 per page), limit %d (want 2400)", st.Weight, 5*pages, st.WeightLimit)
	}
	if st := b.client.Stats(); st.Weight != 1 {
		t.Errorf("spot budget spent %d, want 1 (the time sync): futures weight is counted apart", st.Weight)
	}
	spot, err := b.client.Trades(b.ctx, venue.TradeQuery{Symbol: "BTCUSDT", From: start, To: start.Add(24 * time.Hour)})
	if err != nil || len(spot.Trades) != 0 {
		t.Errorf("spot trades: %d, %v; want none", len(spot.Trades), err)
	}
}

// TestFuturesTradesFromCursor: a query continued from an id cursor stops at
// To; a bad cursor or a missing symbol is refused before anything is sent.
func TestFuturesTradesFromCursor(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{}, nil)
	start := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	b.fake.SeedFuturesTrades("ETHUSDT", start, time.Minute, 50)
	p, err := b.client.FuturesTrades(b.ctx, venue.TradeQuery{Symbol: "ETHUSDT", From: start, To: start.Add(50 * time.Minute), Limit: 20})
	if err != nil || len(p.Trades) != 20 || p.Next != "i700021" {
		t.Fatalf("first page: %d trades, next %q, %v; want 20 and i700021", len(p.Trades), p.Next, err)
	}
	p, err = b.client.FuturesTrades(b.ctx, venue.TradeQuery{Symbol: "ETHUSDT", From: start, To: start.Add(30 * time.Minute), Cursor: p.Next, Limit: 20})
	if err != nil || len(p.Trades) != 10 || p.Next != "" || p.Trades[0].ID != "700021" {
		t.Fatalf("from the cursor: %d trades, next %q, %v; want 10 up to To and no more", len(p.Trades), p.Next, err)
	}
	before := b.fake.Stats().Requests
	for _, q := range []venue.TradeQuery{{Symbol: "ETHUSDT", Cursor: "x1"}, {From: start}} {
		if _, err := b.client.FuturesTrades(b.ctx, q); !errors.Is(err, venue.ErrInvalid) {
			t.Errorf("query %+v: got %v, want invalid", q, err)
		}
	}
	if n := b.fake.Stats().Requests - before; n != 0 {
		t.Errorf("%d requests for invalid queries, want 0", n)
	}
}

// TestFuturesBudgetApartFromSpot: /fapi weight is budgeted on the futures
// budget, held back there without a 429, and a futures 429 pauses futures
// requests only, never spot trading.
func TestFuturesBudgetApartFromSpot(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	short := func(ctx context.Context) (context.Context, context.CancelFunc) {
		return context.WithTimeout(ctx, 200*time.Millisecond)
	}
	q := venue.TradeQuery{Symbol: "BTCUSDT", From: start, To: start.Add(time.Hour)}

	t.Run("held back", func(t *testing.T) {
		t.Parallel()
		b := setup(t, binancetest.Config{WeightWindow: time.Hour, FuturesWeightLimit: 20}, func(c *binance.Config) {
			c.FuturesBudget = binance.NewBudget(binance.BudgetConfig{WeightLimit: 20, WeightWindow: time.Hour})
		})
		for i := range 4 {
			if _, err := b.client.FuturesTrades(b.ctx, q); err != nil {
				t.Fatalf("futures call %d within budget: %v", i, err)
			}
		}
		ctx, cancel := short(b.ctx)
		defer cancel()
		if _, err := b.client.FuturesTrades(ctx, q); !errors.Is(err, venue.ErrUnavailable) {
			t.Fatalf("fifth futures call: got %v, want it held back", err)
		}
		if _, err := b.client.OpenOrders(b.ctx, "BTCUSDT"); err != nil {
			t.Fatalf("spot call with the futures budget spent: %v", err)
		}
		if st := b.fake.Stats(); st.FuturesRateLimited != 0 || st.FuturesWeight != 20 {
			t.Errorf("fake: %d futures 429s, futures weight %d; want 0 and 20", st.FuturesRateLimited, st.FuturesWeight)
		}
	})
	t.Run("429 pauses futures only", func(t *testing.T) {
		t.Parallel()
		// The fake allows less than the client budgets: the third call draws a 429.
		b := setup(t, binancetest.Config{WeightWindow: time.Hour, FuturesWeightLimit: 10}, nil)
		for range 2 {
			if _, err := b.client.FuturesTrades(b.ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := b.client.FuturesTrades(b.ctx, q); !errors.Is(err, venue.ErrRateLimited) {
			t.Fatalf("third futures call: got %v, want rate limited", err)
		}
		began := time.Now()
		if _, err := b.client.OpenOrders(b.ctx, "BTCUSDT"); err != nil {
			t.Fatalf("spot call after a futures 429: %v", err)
		}
		if took := time.Since(began); took > 500*time.Millisecond {
			t.Errorf("spot call took %s after a futures 429, want no pause", took)
		}
		ctx, cancel := short(b.ctx)
		defer cancel()
		if _, err := b.client.FuturesTrades(ctx, q); !errors.Is(err, venue.ErrUnavailable) {
			t.Fatalf("futures call during its pause: got %v, want it held back", err)
		}
		if st := b.fake.Stats(); st.FuturesRateLimited != 1 || st.FuturesBanned != 0 {
			t.Errorf("fake: %d futures 429s and %d 418s, want 1 and 0", st.FuturesRateLimited, st.FuturesBanned)
		}
	})
}
