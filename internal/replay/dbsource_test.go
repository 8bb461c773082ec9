package replay_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/replay"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// storeKlines writes ks to a fresh store as one series.
func storeKlines(t *testing.T, key store.KlineKey, ks []venue.Kline) *store.DB {
	t.Helper()
	db := storetest.MustOpenSQLite(t)
	out := make([]store.Kline, len(ks))
	for i, k := range ks {
		out[i] = store.Kline{OpenTime: k.OpenTime, Open: k.Open, High: k.High, Low: k.Low, Close: k.Close, Volume: k.Volume}
	}
	if err := db.PutKlines(context.Background(), key, out); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestDBSourceDeterministic: the desk replayed over the klines stored by
// backfill (paged from the store, more than one page) twice gives
// byte-identical outputs, and the same outputs as over the klines the
// store was given.
func TestDBSourceDeterministic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key := store.KlineKey{Venue: "binance", Symbol: "BTCUSDT", Interval: time.Minute}
	db := storeKlines(t, key, btc(t, 3*24*60))
	run := func(fromDB bool) (doc, trades, jrnl []byte) {
		cfg := deskConfig(t)
		if fromDB {
			src := replay.DBSource(ctx, db, key, time.Time{}, time.Time{})
			src.Stream.(*replay.DBStream).Page = 1000 // five pages
			cfg.Sources = []replay.Source{src}
		}
		res, err := replay.Run(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if res.Summary.Bars != 3*24*60 {
			t.Fatalf("replayed %d bars, want %d", res.Summary.Bars, 3*24*60)
		}
		return outputs(t, res)
	}
	d1, t1, j1 := run(true)
	d2, t2, j2 := run(true)
	d0, t0, j0 := run(false)
	for _, c := range []struct {
		what    string
		a, b, c []byte
	}{{"reports", d1, d2, d0}, {"trade CSVs", t1, t2, t0}, {"journals", j1, j2, j0}} {
		if !bytes.Equal(c.a, c.b) {
			t.Errorf("%s of two replays over the stored klines differ", c.what)
		}
		if !bytes.Equal(c.a, c.c) {
			t.Errorf("%s over the stored klines differ from those over the klines given", c.what)
		}
	}
}

// TestDBSourceGapNamesThePlace: a gap in the stored klines is bad input
// naming the stored series and the kline.
func TestDBSourceGapNamesThePlace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key := store.KlineKey{Venue: "binance", Symbol: "BTCUSDT", Interval: time.Minute}
	ks := btc(t, 600)
	ks = append(ks[:300:300], ks[301:]...)
	db := storeKlines(t, key, ks)
	cfg := dcaConfig(nil)
	cfg.Sources = []replay.Source{replay.DBSource(ctx, db, key, time.Time{}, time.Time{})}
	_, err := replay.Run(ctx, cfg)
	var ie *replay.InputError
	if !errors.As(err, &ie) {
		t.Fatalf("got %v, want an InputError", err)
	}
	if !strings.Contains(ie.Place, "stored BTCUSDT 1m klines of binance, kline 301 (2023-03-01T05:01:00Z)") || !strings.Contains(err.Error(), "gap") {
		t.Fatalf("error %q does not name the stored series, the kline and the gap", err)
	}
}

// TestDBSourceCanceledIsNotBadInput: a read of stored klines that the
// context ends is a cancellation, not bad input (which the CLI exits 2 on).
func TestDBSourceCanceledIsNotBadInput(t *testing.T) {
	t.Parallel()
	key := store.KlineKey{Venue: "binance", Symbol: "BTCUSDT", Interval: time.Minute}
	db := storeKlines(t, key, btc(t, 600))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg := dcaConfig(nil)
	cfg.Sources = []replay.Source{replay.DBSource(ctx, db, key, time.Time{}, time.Time{})}
	_, err := replay.Run(context.Background(), cfg)
	if err == nil || replay.IsInput(err) || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "replay canceled") {
		t.Fatalf("got %v (bad input: %v), want a cancellation that is not bad input", err, replay.IsInput(err))
	}
}
