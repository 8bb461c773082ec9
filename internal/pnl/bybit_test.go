package pnl

import (
	"os"
	"testing"

	"github.com/tradeplane/tradeplane/internal/tradecsv"
)

// TestComputeBybitExport: Bybit's spot export through the reader and the
// engine, by hand. Buy 10 ICP at 8.0203 paying 0.01 ICP (the base: an
// implicit disposal, 0.080203 USDT), sell 5.36 at 9.3234 paying
// 0.049973424 USDT: position 10 − 0.01 − 5.36 = 4.63, realized
// (9.3234 − 8.0203) × 5.36 = 6.984616, fees 0.130176424.
func TestComputeBybitExport(t *testing.T) {
	t.Parallel()
	f, err := os.Open("../tradecsv/testdata/bybit-export.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	trades, err := tradecsv.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Compute(trades, AvgCost, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Symbols[0]
	if s.Symbol != "ICPUSDT" || !s.Position.Equal(dec("4.63")) || !s.RealizedPnL.Equal(dec("6.984616")) ||
		!s.FeesQuote.Equal(dec("0.130176424")) || len(s.FeesUnconverted) != 0 {
		t.Errorf("ICPUSDT: %+v, want position 4.63, realized 6.984616, fees 0.130176424", s)
	}
}
