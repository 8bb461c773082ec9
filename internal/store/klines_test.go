package store_test

import (
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/store"
)

func TestKlines(t *testing.T) {
	t.Parallel()
	runAccountSuite(t, map[string]func(t *testing.T, db *store.DB, account int64){
		"put, replace and page": func(t *testing.T, db *store.DB, _ int64) {
			key := store.KlineKey{Venue: "binance", Symbol: "BTCUSDT", Interval: time.Hour}
			t0 := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
			dec := udecimal.MustParse
			var ks []store.Kline
			for i := range 5 {
				p := dec("60000.5").Add(udecimal.MustFromInt64(int64(i), 0))
				ks = append(ks, store.Kline{OpenTime: t0.Add(time.Duration(i) * time.Hour), Open: p, High: p.Add(dec("10")), Low: p.Sub(dec("10")), Close: p, Volume: dec("1.25")})
			}
			if err := db.PutKlines(ctx, key, ks); err != nil {
				t.Fatal(err)
			}
			// A rerun of the backfill brings the last candle complete: it replaces the stored one.
			ks[4].Close = dec("61000.01")
			if err := db.PutKlines(ctx, key, ks[3:]); err != nil {
				t.Fatal(err)
			}
			// Another interval and another venue are other series.
			if err := db.PutKlines(ctx, store.KlineKey{Venue: "binance", Symbol: "BTCUSDT", Interval: time.Minute}, ks[:1]); err != nil {
				t.Fatal(err)
			}
			if err := db.PutKlines(ctx, store.KlineKey{Venue: "paper", Symbol: "BTCUSDT", Interval: time.Hour}, ks[:2]); err != nil {
				t.Fatal(err)
			}
			page, err := db.Klines(ctx, key, t0.Add(time.Hour), time.Time{}, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) != 2 || !page[0].OpenTime.Equal(t0.Add(time.Hour)) || !page[1].OpenTime.Equal(t0.Add(2*time.Hour)) {
				t.Fatalf("page %+v, want the candles of 01:00 and 02:00", page)
			}
			all, err := db.Klines(ctx, key, time.Time{}, t0.Add(5*time.Hour), 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != 5 {
				t.Fatalf("got %d klines, want 5", len(all))
			}
			for i, k := range all {
				w := ks[i]
				if !k.OpenTime.Equal(w.OpenTime) || k.Open.String() != w.Open.String() || k.High.String() != w.High.String() ||
					k.Low.String() != w.Low.String() || k.Close.String() != w.Close.String() || k.Volume.String() != w.Volume.String() {
					t.Fatalf("kline %d: got %+v, want %+v", i, k, w)
				}
			}
			if n, err := db.CountKlines(ctx, key, t0.Add(time.Hour), t0.Add(4*time.Hour)); err != nil || n != 3 {
				t.Fatalf("count of [01:00, 04:00): %d %v, want 3", n, err)
			}
			series, err := db.KlineSeries(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(series) != 3 || series[0].Interval != time.Minute || series[1].Count != 5 || !series[1].Last.Equal(t0.Add(4*time.Hour)) {
				t.Fatalf("series %+v", series)
			}
		},
		"bad key": func(t *testing.T, db *store.DB, _ int64) {
			if err := db.PutKlines(ctx, store.KlineKey{Venue: "binance", Symbol: "BTCUSDT"}, []store.Kline{{}}); err == nil {
				t.Fatal("a series without an interval was stored")
			}
		},
	})
}
