package demodata_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/demodata"
	"github.com/tradeplane/tradeplane/internal/marketdata"
)

func TestSets(t *testing.T) {
	t.Parallel()
	want := []struct {
		symbol, name string
		rows         int
		first, last  int64 // open_time, Unix ms, from the shared data README
	}{
		{"BNBUSDT", "1h", 23987, 1617570000000, 1703962800000},
		{"BTCUSDT", "1m", 30240, 1677628800000, 1679443140000},
		{"ETHUSDT", "1h", 17519, 1715616000000, 1778680800000},
	}
	sets := demodata.Sets()
	if len(sets) != len(want) {
		t.Fatalf("got %d sets, want %d: %+v", len(sets), len(want), sets)
	}
	for i, w := range want {
		if sets[i].Symbol != w.symbol || sets[i].Name != w.name {
			t.Errorf("set %d: got %s %s, want %s %s", i, sets[i].Symbol, sets[i].Name, w.symbol, w.name)
		}
		src, err := demodata.Source(w.symbol)
		if err != nil {
			t.Fatalf("Source(%s): %v", w.symbol, err)
		}
		if len(src.Klines) != w.rows {
			t.Errorf("%s: got %d candles, want %d", w.symbol, len(src.Klines), w.rows)
		}
		if got := src.Klines[0].OpenTime.UnixMilli(); got != w.first {
			t.Errorf("%s: first open_time %d, want %d", w.symbol, got, w.first)
		}
		if got := src.Klines[len(src.Klines)-1].OpenTime.UnixMilli(); got != w.last {
			t.Errorf("%s: last open_time %d, want %d", w.symbol, got, w.last)
		}
	}
}

func TestEmbeddedEqualsSharedData(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "..", "..", "shared", "data")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared data folder not here (%v); the embedded files are checked by TestSets", err)
	}
	for _, s := range demodata.Sets() {
		want, err := os.ReadFile(filepath.Join(dir, s.Symbol+"-"+s.Name+".csv"))
		if err != nil {
			t.Fatal(err)
		}
		r, err := demodata.Open(s.Symbol)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: embedded CSV (%d bytes) differs from the shared file (%d bytes)", s.File, len(got), len(want))
		}
	}
}

func TestKlinesWindow(t *testing.T) {
	t.Parallel()
	from := time.Date(2023, 3, 10, 0, 0, 0, 0, time.UTC)
	to := from.Add(time.Hour)
	n := 0
	for k, err := range demodata.Klines("BTCUSDT", from, to) {
		if err != nil {
			t.Fatal(err)
		}
		if k.OpenTime.Before(from) || !k.OpenTime.Before(to) {
			t.Fatalf("candle at %s outside [%s, %s)", k.OpenTime, from, to)
		}
		n++
	}
	if n != 60 {
		t.Errorf("got %d one-minute candles in an hour, want 60", n)
	}

	last, err := demodata.Last("ETHUSDT", 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(last.Klines) != 720 {
		t.Errorf("Last(ETHUSDT, 30d): got %d hourly candles, want 720", len(last.Klines))
	}
	if got := last.Klines[len(last.Klines)-1].OpenTime.UnixMilli(); got != 1778680800000 {
		t.Errorf("Last(ETHUSDT, 30d) ends at %d, want the last candle 1778680800000", got)
	}
}

func TestUnknownSymbol(t *testing.T) {
	t.Parallel()
	_, err := demodata.Source("DOGEUSDT")
	if !errors.Is(err, demodata.ErrUnknownSymbol) {
		t.Fatalf("got %v, want ErrUnknownSymbol", err)
	}
	for _, err := range demodata.Klines("DOGEUSDT", time.Time{}, time.Time{}) {
		if !errors.Is(err, demodata.ErrUnknownSymbol) {
			t.Fatalf("stream: got %v, want ErrUnknownSymbol", err)
		}
	}
}

func BenchmarkDecodeBTCUSDT(b *testing.B) {
	for b.Loop() {
		r, err := demodata.Open("BTCUSDT")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}

func BenchmarkParseBTCUSDT(b *testing.B) {
	for b.Loop() {
		r, err := demodata.Open("BTCUSDT")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := marketdata.ReadKlines(r); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}
