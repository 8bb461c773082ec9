package backfill_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/backfill"
	"github.com/tradeplane/tradeplane/internal/pnl"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// TestOpeningHoldings: an account that held 1 BTC before its first fill and
// sells half of it. With the holding stated, the account's net PnL moves
// with the BTC it holds (1 BTC, then 0.5) and the sale realizes against the
// first mark; without it the same sale is a short.
func TestOpeningHoldings(t *testing.T) {
	ctx := context.Background()
	from := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	// run backfills the account's 4 hours, with Run or, asJob, as a
	// server's job from its stored arguments; with prior, the account has a
	// stored fill from before the range (a buy of 0.1 BTC at 96, half an
	// hour into the candle that opens at 95, 90 minutes before the range).
	run := func(t *testing.T, holdings []pnl.AssetAmount, asJob, prior bool) map[time.Time]string {
		t.Helper()
		db := storetest.Open(t, storetest.SQLiteURL(t))
		acct := mustAccount(t, db, "acc", "paper")
		v := newMemVenue()
		if prior {
			v.setHourly("BTCUSDT", from.Add(-3*time.Hour),
				[]venue.Decimal{dec("90"), dec("95"), dec("98"), dec("100"), dec("110"), dec("120"), dec("90")})
			if _, err := db.InsertFill(ctx, store.Fill{AccountID: acct.ID, Symbol: "BTCUSDT", TradeID: "old-1", Side: "buy",
				Price: dec("96"), Quantity: dec("0.1"), QuoteQty: dec("9.6"), FeeAsset: "USDT", Source: "import",
				At: from.Add(-90 * time.Minute)}); err != nil {
				t.Fatal(err)
			}
		} else {
			v.setHourly("BTCUSDT", from, []venue.Decimal{dec("100"), dec("110"), dec("120"), dec("90")})
		}
		v.addTrade(venue.Trade{Symbol: "BTCUSDT", Side: venue.Sell, Price: dec("115"), Quantity: dec("0.5"),
			Fee: dec("0.1"), FeeAsset: "USDT", Time: from.Add(90 * time.Minute)})
		if asJob {
			j := backfill.NewJobs(backfill.JobsConfig{DB: db,
				Venue: func(context.Context, store.Account) (venue.Venue, error) { return v, nil }})
			defer j.Close()
			job, err := j.Start(ctx, backfill.JobArgs{Account: "acc", Symbols: []string{"BTCUSDT"}, From: from,
				To: from.Add(4 * time.Hour), Interval: "1h", OpeningEquity: dec("1100"), OpeningHoldings: holdings,
				Valuation: "USDT"})
			if err != nil {
				t.Fatal(err)
			}
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if job, err = j.Wait(wctx, job.ID); err != nil || job.State != backfill.JobDone {
				t.Fatalf("job %+v: %v", job, err)
			}
		} else if _, err := backfill.Run(ctx, backfill.Config{DB: db, Venue: v, Account: acct, Symbols: []string{"BTCUSDT"},
			From: from, To: from.Add(4 * time.Hour), OpeningEquity: dec("1100"), OpeningHoldings: holdings,
			Valuation: "USDT"}); err != nil {
			t.Fatal(err)
		}
		pts, err := db.PnLPoints(ctx, store.PnLPointQuery{Scope: "account:acc", Source: backfill.SourceBackfill, From: from,
			To: from.Add(4 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		net := map[time.Time]string{}
		for _, p := range pts {
			if p.Symbol == "" {
				net[p.At] = p.Net.String()
				if want := dec("1100").Add(p.Net); !p.Equity.Equal(want) {
					t.Errorf("equity at %s: %s, want opening + net = %s", p.At.Format(time.RFC3339), p.Equity, want)
				}
			}
		}
		return net
	}
	h := func(n int) time.Time { return from.Add(time.Duration(n) * time.Hour) }
	check := func(t *testing.T, got map[time.Time]string, want map[time.Time]string) {
		t.Helper()
		for at, w := range want {
			if got[at] != w {
				t.Errorf("net PnL at %s: %s, want %s (all: %v)", at.Format(time.RFC3339), got[at], w, got)
			}
		}
	}
	t.Run("held", func(t *testing.T) {
		// 1 BTC bought at the first mark (100): +10 at 110; the sale
		// realizes 0.5 × 15 − 0.1 fee, 0.5 BTC left: 7.4 + 0.5 × 20 at
		// 120, 7.4 − 0.5 × 10 at 90.
		check(t, run(t, []pnl.AssetAmount{{Asset: "BTC", Amount: dec("1")}}, false, false),
			map[time.Time]string{h(0): "0", h(1): "10", h(2): "17.4", h(3): "2.4"})
	})
	t.Run("held, as a job", func(t *testing.T) {
		// The job's stored arguments carry the holdings and the valuation.
		check(t, run(t, []pnl.AssetAmount{{Asset: "BTC", Amount: dec("1")}}, true, false),
			map[time.Time]string{h(0): "0", h(1): "10", h(2): "17.4", h(3): "2.4"})
	})
	t.Run("held, with a fill stored before the range", func(t *testing.T) {
		// The holding opens before the first fill, at the open of its
		// candle (95), fetched outside the range: 1.1 BTC cost 104.6.
		// Net = sells − buys − fees + BTC × mark: 110 − 104.6 at 100,
		// 121 − 104.6 at 110; after the sale (57.5, fee 0.1) 0.6 BTC:
		// 57.5 − 104.6 − 0.1 + 72 at 120, + 54 at 90. It failed with "no
		// 1h candle of BTCUSDT" at the first fill's time.
		check(t, run(t, []pnl.AssetAmount{{Asset: "BTC", Amount: dec("1")}}, false, true),
			map[time.Time]string{h(0): "5.4", h(1): "16.4", h(2): "24.8", h(3): "6.8"})
	})
	t.Run("not stated", func(t *testing.T) {
		// The sale opens a short of 0.5 at 115.
		check(t, run(t, nil, false, false), map[time.Time]string{h(0): "0", h(1): "0", h(2): "-2.6", h(3): "12.4"})
	})
	t.Run("bad input", func(t *testing.T) {
		db := storetest.Open(t, storetest.SQLiteURL(t))
		acct := mustAccount(t, db, "acc", "paper")
		for _, c := range []struct {
			name      string
			valuation string
			h         pnl.AssetAmount
		}{
			{"no valuation", "", pnl.AssetAmount{Asset: "BTC", Amount: dec("1")}},
			{"the valuation asset", "USDT", pnl.AssetAmount{Asset: "usdt", Amount: dec("1")}},
			{"not positive", "USDT", pnl.AssetAmount{Asset: "BTC", Amount: dec("-1")}},
			{"not an asset name", "USDT", pnl.AssetAmount{Asset: "BTC/ETH", Amount: dec("1")}},
			{"a valuation that is not an asset name", "US DT", pnl.AssetAmount{Asset: "BTC", Amount: dec("1")}},
		} {
			_, err := backfill.Run(ctx, backfill.Config{DB: db, Venue: newMemVenue(), Account: acct, Symbols: []string{"BTCUSDT"},
				From: from, To: from.Add(time.Hour), OpeningHoldings: []pnl.AssetAmount{c.h}, Valuation: c.valuation})
			if !errors.Is(err, backfill.ErrInput) {
				t.Errorf("%s: %v, want ErrInput", c.name, err)
			}
			// A job is refused before it is stored.
			j := backfill.NewJobs(backfill.JobsConfig{DB: db})
			_, err = j.Start(ctx, backfill.JobArgs{Account: "acc", Symbols: []string{"BTCUSDT"}, From: from, To: from.Add(time.Hour),
				Interval: "1h", OpeningHoldings: []pnl.AssetAmount{c.h}, Valuation: c.valuation})
			j.Close()
			if !errors.Is(err, backfill.ErrInput) {
				t.Errorf("%s, as a job: %v, want ErrInput", c.name, err)
			}
		}
		if q, _ := db.JobsInState(ctx, backfill.JobQueued); len(q) != 0 {
			t.Errorf("refused jobs were stored: %v", q)
		}
	})
}
