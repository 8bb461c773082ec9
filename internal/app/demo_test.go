package app_test

import (
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/demodata"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// TestDemoReplaysEmbeddedKlines starts the demo with no data folder (as
// from a fresh clone anywhere) and checks that every market moves through
// prices of the real embedded candles, not a random walk.
func TestDemoReplaysEmbeddedKlines(t *testing.T) {
	t.Parallel()
	n := startNode(t, app.Config{DBURL: storetest.SQLiteURL(t), Demo: true, DataDir: ""})
	px := app.PaperOf(n.app)
	for _, sym := range []string{"BTCUSDT", "ETHUSDT", "BNBUSDT"} {
		src, err := demodata.Source(sym)
		if err != nil {
			t.Fatal(err)
		}
		real := map[string]bool{}
		for _, k := range src.Klines {
			for _, p := range []string{k.Open.String(), k.High.String(), k.Low.String(), k.Close.String()} {
				real[p] = true
			}
		}
		seen := map[string]bool{}
		eventually(t, 20*time.Second, sym+" takes three different prices", func() bool {
			tk, ok := px.Price(sym)
			if ok {
				if !real[tk.Price.String()] {
					t.Fatalf("%s trades at %s, which is no open, high, low or close of the embedded klines", sym, tk.Price)
				}
				seen[tk.Price.String()] = true
			}
			return len(seen) >= 3
		})
	}
}
