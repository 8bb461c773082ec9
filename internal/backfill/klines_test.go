package backfill_test

import (
	"context"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/backfill"
	"github.com/tradeplane/tradeplane/internal/store"
)

// TestBackfillKeepsKlines: the 1 h candles a backfill downloads are stored,
// exact, under the account's venue, so a replay can stream them; a rerun
// stores each candle once.
func TestBackfillKeepsKlines(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupAttribution(t)
	for range 2 {
		if _, err := backfill.Run(ctx, backfill.Config{DB: b.db, Venue: b.v, Account: b.acct, Symbols: []string{"BTCUSDT"},
			From: b.from, To: b.to}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.db.Klines(ctx, store.KlineKey{Venue: "mem", Symbol: "BTCUSDT", Interval: time.Hour}, time.Time{}, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := b.v.klines["BTCUSDT"]
	if len(got) != len(want) {
		t.Fatalf("stored %d klines, want the %d downloaded", len(got), len(want))
	}
	for i, k := range got {
		w := want[i]
		if !k.OpenTime.Equal(w.OpenTime) || !k.Open.Equal(w.Open) || !k.High.Equal(w.High) || !k.Low.Equal(w.Low) ||
			!k.Close.Equal(w.Close) || !k.Volume.Equal(w.Volume) {
			t.Fatalf("kline %d: stored %+v, downloaded %+v", i, k, w)
		}
	}
}
