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
	"github.com/tradeplane/tradeplane/internal/pnl"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/tradecsv"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// accBundle is a three-day history on an in-memory venue: two symbols with
// hourly candles, BNB fees priced by BNBUSDT candles, and a backfill of it.
type accBundle struct {
	db       *store.DB
	v        *memVenue
	acct     store.Account
	from, to time.Time
	hours    int
	opening  udecimal.Decimal
}

func setupAccuracy(t *testing.T, url string) *accBundle {
	t.Helper()
	b := &accBundle{db: storetest.Open(t, url), v: newMemVenue(), from: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), hours: 72,
		opening: dec("1000")}
	b.to = b.from.Add(time.Duration(b.hours) * time.Hour)
	b.acct = mustAccount(t, b.db, "acc", "mem")
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range []struct {
		sym  string
		base int64
	}{{"BTCUSDT", 6000000}, {"ETHUSDT", 300000}, {"BNBUSDT", 30000}} {
		opens := make([]venue.Decimal, b.hours)
		for h := range opens {
			opens[h] = udecimal.MustFromInt64(s.base+rng.Int64N(s.base/20), 2)
		}
		b.v.setHourly(s.sym, b.from, opens)
	}
	for i := range 400 {
		sym := []string{"BTCUSDT", "ETHUSDT"}[rng.IntN(2)]
		at := b.from.Add(time.Duration(rng.Int64N(int64(b.to.Sub(b.from)))))
		at = at.Truncate(time.Millisecond)
		side := venue.Buy
		if rng.IntN(5) < 2 {
			side = venue.Sell
		}
		p, _ := b.v.klines[sym][int(at.Sub(b.from)/time.Hour)].Open.Add(udecimal.MustFromInt64(rng.Int64N(200)-100, 2)), 0
		tr := venue.Trade{Symbol: sym, Side: side, Price: p, Quantity: udecimal.MustFromInt64(1+rng.Int64N(999), 4), Time: at}
		switch i % 3 {
		case 0:
			tr.Fee, tr.FeeAsset = udecimal.MustFromInt64(1+rng.Int64N(99), 6), "BNB"
		case 1:
			tr.Fee, tr.FeeAsset = udecimal.MustFromInt64(1+rng.Int64N(99), 4), "USDT"
		}
		b.v.addTrade(tr)
	}
	// Trades come in time order per symbol, ids in that order.
	for sym, ts := range b.v.trades {
		slicesSortTrades(ts)
		for i := range ts {
			ts[i].ID = udecimal.MustFromInt64(int64(i+1), 0).String()
		}
		b.v.trades[sym] = ts
	}
	res, err := backfill.Run(context.Background(), backfill.Config{DB: b.db, Venue: b.v, Account: b.acct,
		Symbols: []string{"BTCUSDT", "ETHUSDT"}, From: b.from, To: b.to, OpeningEquity: b.opening})
	if err != nil {
		t.Fatal(err)
	}
	if res.Fills != 400 || len(res.Unconverted) != 0 {
		t.Fatalf("backfill: got %+v, want 400 fills, every fee converted", res)
	}
	return b
}

func slicesSortTrades(ts []venue.Trade) {
	for i := 1; i < len(ts); i++ {
		for j := i; j > 0 && ts[j].Time.Before(ts[j-1].Time); j-- {
			ts[j], ts[j-1] = ts[j-1], ts[j]
		}
	}
}

// recordLive simulates the live system: at every hour boundary it records
// the account's equity (opening + net PnL of the fills seen so far, marked at
// the current candle, BNB fees priced at the fill's candle) as a "live"
// equity snapshot. It drives pnl.Engine directly, not the backfill's code.
// skip drops one fill by trade id; shift moves one mark.
func (b *accBundle) recordLive(t *testing.T, skip string, shiftAt time.Time, shift udecimal.Decimal) {
	t.Helper()
	ctx := context.Background()
	fills, err := b.db.Fills(ctx, store.FillQuery{AccountID: b.acct.ID, Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	prices := pnl.NewKlinePrices(time.Hour)
	prices.Add("BNB", "USDT", b.v.klines["BNBUSDT"])
	eng, err := pnl.NewEngine(pnl.AvgCost, prices)
	if err != nil {
		t.Fatal(err)
	}
	var ss []store.EquitySnapshot
	i := 0
	for h := range b.hours {
		at := b.from.Add(time.Duration(h) * time.Hour)
		for ; i < len(fills) && !fills[i].At.After(at); i++ {
			f := fills[i]
			if f.Symbol+"/"+f.TradeID == skip {
				continue
			}
			tr := tradecsv.Trade{Time: f.At, Symbol: f.Symbol, Side: venue.Side(f.Side), Price: f.Price, Quantity: f.Quantity,
				Fee: f.Fee, FeeAsset: f.FeeAsset, ID: f.TradeID}
			if err := eng.Add(&tr); err != nil {
				t.Fatal(err)
			}
		}
		marks := map[string]pnl.Decimal{}
		for _, sym := range []string{"BTCUSDT", "ETHUSDT"} {
			marks[sym] = b.v.klines[sym][h].Open
			if sym == "BTCUSDT" && at.Equal(shiftAt) {
				marks[sym] = marks[sym].Add(shift)
			}
		}
		rep, err := eng.Report(marks)
		if err != nil {
			t.Fatal(err)
		}
		ss = append(ss, store.EquitySnapshot{Scope: "account:acc", Source: backfill.SourceLive, At: at,
			Equity: b.opening.Add(rep.Total.NetPnL), Realized: rep.Total.RealizedPnL.Sub(rep.Total.FeesQuote),
			Unrealized: rep.Total.NetPnL.Sub(rep.Total.RealizedPnL.Sub(rep.Total.FeesQuote))})
	}
	if err := b.db.UpsertEquitySnapshots(ctx, ss); err != nil {
		t.Fatal(err)
	}
}

func TestAccuracyAgainstLive(t *testing.T) {
	t.Parallel()
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := setupAccuracy(t, eng.URL(t))

			// Same fills, same marks: exact agreement, hourly and daily.
			b.recordLive(t, "", time.Time{}, udecimal.Zero)
			for _, iv := range []time.Duration{time.Hour, 24 * time.Hour} {
				acc, err := backfill.CompareLive(ctx, b.db, "account:acc", iv, b.from, b.to)
				if err != nil {
					t.Fatal(err)
				}
				want := int(b.to.Sub(b.from) / iv)
				if len(acc.Intervals) != want || !acc.MaxAbsDiff.IsZero() || !acc.MaxRelDiff.IsZero() || acc.FirstDisagreement != nil ||
					len(acc.OnlyBackfilled)+len(acc.OnlyLive) != 0 {
					t.Fatalf("%s: got %d intervals, max abs %s, first %v; want %d in exact agreement", iv, len(acc.Intervals),
						acc.MaxAbsDiff, acc.FirstDisagreement, want)
				}
			}
			h, err := backfill.Report(ctx, b.db, "account:acc", time.Hour, b.from, b.to)
			if err != nil {
				t.Fatal(err)
			}
			if len(h.Rows) != b.hours || h.Accuracy == nil || h.Accuracy.FirstDisagreement != nil {
				t.Fatalf("report: %d rows, accuracy %+v", len(h.Rows), h.Accuracy)
			}
			for _, r := range h.Rows {
				if r.Source != backfill.SourceBackfill || r.LiveAvgEquity == nil || !r.LiveAvgEquity.Equal(r.AvgEquity) ||
					r.CoveredSeconds != 3600 || !r.Net.Equal(r.Realized.Sub(r.Fees).Add(r.Unrealized)) {
					t.Fatalf("row %+v", r)
				}
			}
			js, err := json.Marshal(h)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(js, []byte(`"start":"2025-06-01T00:00:00Z"`)) || !bytes.Contains(js, []byte(`"equity":"1000"`)) {
				t.Fatalf("JSON wants RFC 3339 UTC times and decimal strings: %.300s", js)
			}
			var tbl bytes.Buffer
			if err := h.WriteTable(&tbl); err != nil || !strings.Contains(tbl.String(), "every interval agrees exactly") {
				t.Fatalf("table: %v\n%s", err, tbl.String())
			}

			// Drop one live fill: the report pinpoints the interval it
			// first shows in (the first point after the fill).
			fills, _ := b.db.Fills(ctx, store.FillQuery{AccountID: b.acct.ID, Symbol: "BTCUSDT", Limit: 1000})
			dropped := fills[len(fills)/2]
			b.recordLive(t, dropped.Symbol+"/"+dropped.TradeID, time.Time{}, udecimal.Zero)
			acc, err := backfill.CompareLive(ctx, b.db, "account:acc", time.Hour, b.from, b.to)
			if err != nil {
				t.Fatal(err)
			}
			want := dropped.At.Truncate(time.Hour).Add(time.Hour)
			if acc.FirstDisagreement == nil || !acc.FirstDisagreement.Equal(want) || acc.MaxAbsDiff.IsZero() {
				t.Fatalf("dropped fill at %s: first disagreement %v, want %s", dropped.At, acc.FirstDisagreement, want)
			}
			for _, d := range acc.Intervals {
				if d.Start.Before(want) && !d.AbsDiff.IsZero() {
					t.Fatalf("interval %s before the dropped fill differs by %s", d.Start, d.AbsDiff)
				}
			}

			// Shift one mark by 1: exactly that interval differs, by |position|.
			b.recordLive(t, "", time.Time{}, udecimal.Zero)
			shiftAt := b.from.Add(40 * time.Hour)
			b.recordLive(t, "", shiftAt, dec("1"))
			acc, err = backfill.CompareLive(ctx, b.db, "account:acc", time.Hour, b.from, b.to)
			if err != nil {
				t.Fatal(err)
			}
			pts, _ := b.db.PnLPoints(ctx, store.PnLPointQuery{Scope: "account:acc", Symbol: "BTCUSDT", Source: backfill.SourceBackfill,
				From: shiftAt, To: shiftAt.Add(time.Second)})
			if len(pts) != 1 || pts[0].Position.IsZero() {
				t.Fatalf("BTC position at %s: %+v, want non-zero", shiftAt, pts)
			}
			nonZero := 0
			for _, d := range acc.Intervals {
				if !d.AbsDiff.IsZero() {
					nonZero++
				}
			}
			if nonZero != 1 || !acc.Worst[0].Start.Equal(shiftAt) || !acc.Worst[0].AbsDiff.Equal(pts[0].Position.Abs()) {
				t.Fatalf("shifted mark at %s: %d intervals differ, worst %+v; want only it, by %s", shiftAt, nonZero, acc.Worst[0],
					pts[0].Position.Abs())
			}
			var out bytes.Buffer
			if err := acc.WriteTable(&out); err != nil || !strings.Contains(out.String(), shiftAt.Format(time.RFC3339)) {
				t.Fatalf("table: %v\n%s", err, out.String())
			}
		})
	}
}
