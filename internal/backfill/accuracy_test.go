package backfill_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/backfill"
	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/livefeed"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// liveRun is a simulated live run on the paper exchange: the paper account
// trades by market orders, and the real live feed (livefeed + portfolio,
// the path `serve` uses) records its equity snapshots. Nothing on the live
// side uses package pnl: live equity is the paper account's balances valued
// by the portfolio at the last tick.
type liveRun struct {
	db       *store.DB
	ex       *paper.Exchange
	acct     store.Account
	from     time.Time
	hours    int
	btcAtGap venue.Decimal // BTC held at the boundary with the price gap
}

const (
	liveHours      = 24
	depositHour    = 5  // 500 USDT deposited during this hour
	gapBoundary    = 10 // the last BTC tick before this boundary is 1 above the next candle's open
	liveSnapOffset = time.Second
)

var liveSymbols = []string{"BTCUSDT", "ETHUSDT"}

func livePrice(sym string, h int) venue.Decimal {
	if sym == "BTCUSDT" {
		return udecimal.MustFromInt64(int64(6000000+(h*7919)%300000), 2) // 60000.00 ..
	}
	return udecimal.MustFromInt64(int64(300000+(h*104729)%20000), 2) // 3000.00 ..
}

func simulateLive(t *testing.T, url string) *liveRun {
	t.Helper()
	ctx := context.Background()
	r := &liveRun{db: storetest.Open(t, url), from: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), hours: liveHours}
	clk := clock.NewFake(r.from.Add(-time.Minute))
	r.ex = paper.MustNew(paper.Config{Clock: clk})
	r.acct = mustAccount(t, r.db, "acc", "paper")
	if err := r.ex.Fund("acc", venue.WalletSpot, "USDT", dec("10000")); err != nil {
		t.Fatal(err)
	}
	pf, err := portfolio.New(portfolio.Config{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	feed := livefeed.New(livefeed.Config{Portfolio: pf, Store: r.db, Clock: clk})
	va := r.ex.Account("acc")
	tick := func(sym string, p venue.Decimal) {
		t.Helper()
		if err := r.ex.SetPrice(sym, p, time.Time{}); err != nil {
			t.Fatal(err)
		}
		tk, _ := r.ex.Price(sym)
		if err := pf.Tick(tk); err != nil {
			t.Fatal(err)
		}
	}
	if err := feed.AddAccount(ctx, r.acct, va); err != nil {
		t.Fatal(err)
	}
	for _, s := range liveSymbols {
		tick(s, livePrice(s, 0))
	}
	snapshot := func() {
		t.Helper()
		feed.Resync(ctx, r.acct.ID)
		if err := feed.SnapshotEquity(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(7, 11))
	seq := 0
	for h := 0; h <= r.hours; h++ {
		b := r.from.Add(time.Duration(h) * time.Hour)
		// Just before the boundary: the last ticks of the hour, then the
		// live snapshot that stands for the boundary.
		clk.Set(b.Add(-liveSnapOffset))
		for _, s := range liveSymbols {
			p := livePrice(s, h)
			if s == "BTCUSDT" && h == gapBoundary {
				p = p.Add(dec("1"))
			}
			tick(s, p)
		}
		snapshot()
		if h == gapBoundary {
			bals, _ := va.Balances(ctx)
			for _, bl := range bals {
				if bl.Asset == "BTC" && bl.Wallet == venue.WalletSpot {
					r.btcAtGap = bl.Free.Add(bl.Locked)
				}
			}
		}
		if h == r.hours {
			break
		}
		// The boundary: the first tick of the hour is the candle's open.
		clk.Set(b)
		for _, s := range liveSymbols {
			tick(s, livePrice(s, h))
		}
		// Trades inside the hour, at prices that move around the open.
		for m := 5; m < 60; m += 10 + rng.IntN(10) {
			clk.Set(b.Add(time.Duration(m)*time.Minute + time.Duration(rng.IntN(59000))*time.Millisecond))
			sym := liveSymbols[rng.IntN(2)]
			p := livePrice(sym, h).Add(udecimal.MustFromInt64(int64(rng.IntN(4001)-2000), 2))
			tick(sym, p)
			side, qty := venue.Buy, udecimal.MustFromInt64(int64(1+rng.IntN(20)), 3) // 0.001 .. 0.020
			if sym == "ETHUSDT" {
				qty = udecimal.MustFromInt64(int64(1+rng.IntN(50)), 2)
			}
			if rng.IntN(3) == 0 {
				side = venue.Sell
				qty, _ = qty.Div64(2)
			}
			seq++
			_, err := va.PlaceOrder(ctx, venue.OrderRequest{Symbol: sym, Side: side, Type: venue.Market, Quantity: qty,
				ClientOrderID: "live-" + udecimal.MustFromInt64(int64(seq), 0).String()})
			if err != nil && venue.ClassOf(err) != venue.ClassInsufficientFunds {
				t.Fatal(err)
			}
			if h == depositHour && m >= 30 && m < 40 {
				if err := r.ex.Fund("acc", venue.WalletSpot, "USDT", dec("500")); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return r
}

// TestAccuracyAgainstLive compares a backfill from the paper venue's trade
// history and candles with the equity the live feed recorded while the
// account traded. The two come from different paths (venue trade history +
// pnl engine vs balances valued by the portfolio), so agreement is a
// result, not a construction; and the two differences put in on purpose (a
// deposit, a live price off the candle open at one boundary) show where and
// by exactly how much they should.
func TestAccuracyAgainstLive(t *testing.T) {
	t.Parallel()
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			r := simulateLive(t, eng.URL(t))
			to := r.from.Add(time.Duration(r.hours) * time.Hour)
			// Opening equity left at zero on purpose: levels differ by the
			// 10000 USDT the account started with; changes must not.
			res, err := backfill.Run(ctx, backfill.Config{DB: r.db, Venue: r.ex.Account("acc"), Account: r.acct,
				Symbols: liveSymbols, From: r.from, To: to.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if res.Fills < 40 || res.Merged != 0 {
				t.Fatalf("backfill: %+v, want the live run's fills", res)
			}
			if r.btcAtGap.IsZero() {
				t.Fatal("no BTC held at the gap boundary: the test would not test the mark difference")
			}

			acc, err := backfill.CompareLive(ctx, r.db, "account:acc", time.Hour, r.from, to, backfill.AccuracyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(acc.Intervals) != r.hours || len(acc.OnlyBackfilled)+len(acc.OnlyLive) != 0 {
				t.Fatalf("%d intervals compared (only backfilled %v, only live %v), want %d", len(acc.Intervals),
					acc.OnlyBackfilled, acc.OnlyLive, r.hours)
			}
			if !acc.OpeningOffset.Equal(dec("10000")) {
				t.Errorf("opening offset %s, want 10000 (live holds the funded USDT, the backfill starts at 0)", acc.OpeningOffset)
			}
			// Expected per interval: exact agreement, except the deposit's
			// hour (live +500) and the two intervals around the gap
			// boundary (live values BTC 1 above the open, then back).
			gap := r.btcAtGap
			for _, d := range acc.Intervals {
				h := int(d.Start.Sub(r.from) / time.Hour)
				want := udecimal.Zero
				switch h {
				case depositHour:
					want = dec("500")
				case gapBoundary - 1, gapBoundary:
					want = gap
				}
				if !d.AbsDiff.Equal(want) {
					t.Errorf("interval %s: backfilled change %s, live change %s, diff %s; want diff %s", d.Start.Format("15:04"),
						d.Backfilled, d.Live, d.AbsDiff, want)
				}
				if d.Within != want.IsZero() || !d.LiveTo.Equal(d.End.Add(-liveSnapOffset)) {
					t.Errorf("interval %s: within %v, live snapshot at %s", d.Start.Format("15:04"), d.Within, d.LiveTo)
				}
			}
			if !acc.Drift.Equal(dec("-500")) {
				t.Errorf("drift %s, want -500 (the deposit; the gap reverses)", acc.Drift)
			}
			if acc.WithinTolerance != r.hours-3 || acc.FirstDisagreement == nil || !acc.FirstDisagreement.Equal(r.from.Add(depositHour*time.Hour)) {
				t.Errorf("within %d, first disagreement %v", acc.WithinTolerance, acc.FirstDisagreement)
			}
			if !acc.MaxAbsDiff.Equal(dec("500")) || !acc.Worst[0].Start.Equal(r.from.Add(depositHour*time.Hour)) {
				t.Errorf("max %s, worst %+v", acc.MaxAbsDiff, acc.Worst[0])
			}
			wantShare, _ := udecimal.MustFromInt64(int64(r.hours-3), 0).Div64(uint64(r.hours))
			if !acc.ShareWithinTolerance.Equal(wantShare.Trunc(18)) {
				t.Errorf("share within %s, want %s", acc.ShareWithinTolerance, wantShare)
			}

			// The report carries the same accuracy, in JSON and as a table
			// that says what is compared and what differences remain.
			h, err := backfill.Report(ctx, r.db, "account:acc", time.Hour, r.from, to)
			if err != nil {
				t.Fatal(err)
			}
			if h.Accuracy == nil || len(h.Accuracy.Intervals) != r.hours || !h.Accuracy.Drift.Equal(acc.Drift) {
				t.Fatalf("report accuracy %+v", h.Accuracy)
			}
			js, err := json.Marshal(h)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{`"start":"2025-06-01T00:00:00Z"`, `"opening_offset":"10000"`, `"share_within_tolerance":"0.875"`,
				`"compared":"change over each interval`} {
				if !bytes.Contains(js, []byte(want)) {
					t.Errorf("report JSON lacks %s: %.400s", want, js)
				}
			}
			var tbl bytes.Buffer
			if err := h.WriteTable(&tbl); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"first disagreement: 2025-06-01T05:00:00Z", "opening offset", "note: marks:", "note: fees in a third asset (BNB)"} {
				if !strings.Contains(tbl.String(), want) {
					t.Errorf("table lacks %q:\n%s", want, tbl.String())
				}
			}
		})
	}
}

// TestReportNamesItsIntervalAndAnEmptyRange: the report's interval is "1h"
// or "1d", as documented (it said "1h0m0s"), and a range with no series
// says how to build one instead of a bare "0 intervals".
func TestReportNamesItsIntervalAndAnEmptyRange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.Open(t, storetest.SQLiteURL(t))
	from := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for iv, want := range map[time.Duration]string{time.Hour: "1h", 24 * time.Hour: "1d"} {
		h, err := backfill.Report(ctx, db, "account:hist", iv, from, from.Add(4*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if h.Interval != want {
			t.Errorf("interval %s: named %q, want %q", iv, h.Interval, want)
		}
		var b strings.Builder
		if err := h.WriteTable(&b); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), "0 intervals of "+want) || !strings.Contains(b.String(), "pnl backfill") {
			t.Errorf("empty report:\n%s\nwant '0 intervals of %s' and how to build a series", b.String(), want)
		}
	}
}
