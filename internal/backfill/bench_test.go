package backfill_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/backfill"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// BenchmarkBackfill30d5Symbols backfills 30 days × 5 symbols with a trade
// every 2 minutes per symbol (108,000 trades, 1000 a page, hourly points)
// from an in-memory venue into a fresh SQLite store: the throughput of
// download handling, storing, attribution and the rebuild, without the
// venue's rate limit (which bounds a real download; see
// TestBackfillBinanceFake's log for the fake Binance).
func BenchmarkBackfill30d5Symbols(b *testing.B) {
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(30 * 24 * time.Hour)
	v := newMemVenue()
	v.pageMax = 1000
	n := 0
	for si, sym := range fakeSymbols {
		opens := make([]venue.Decimal, 30*24)
		for h := range opens {
			opens[h] = hourPrice(si, h)
		}
		v.setHourly(sym, from, opens)
		for i := 0; from.Add(time.Duration(i)*2*time.Minute + 7*time.Second).Before(to); i++ {
			side := venue.Buy
			if i%3 == 2 {
				side = venue.Sell
			}
			v.addTrade(venue.Trade{ID: strconv.Itoa(i + 1), Symbol: sym, Side: side, VenueOrderID: strconv.Itoa(i + 1),
				Price: udecimal.MustFromInt64(int64(10000+i%500), 2), Quantity: dec("0.01"), Fee: dec("0.00001"),
				FeeAsset: sym[:len(sym)-4], Time: from.Add(time.Duration(i)*2*time.Minute + 7*time.Second)})
			n++
		}
	}
	for b.Loop() {
		b.StopTimer()
		db := storetest.MustOpenSQLite(b)
		acct := mustAccount(b, db, "bench", "mem")
		b.StartTimer()
		res, err := backfill.Run(context.Background(), backfill.Config{DB: db, Venue: v, Account: acct, Symbols: fakeSymbols,
			From: from, To: to})
		if err != nil || res.NewFills != int64(n) {
			b.Fatalf("got %+v, %v", res, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "trades/s")
}
