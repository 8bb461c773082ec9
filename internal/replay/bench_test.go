package replay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/replay"
)

// BenchmarkYearDCA: one DCA session stepping hourly over a year of 1 m
// BTCUSDT bars (525,600), synthesized by mirroring the 30,240 real bars of
// the shared data. One op is the whole year.
func BenchmarkYearDCA(b *testing.B) {
	ks := btc(b, 0)
	start := ks[0].OpenTime
	for b.Loop() {
		cfg := dcaConfig(nil)
		cfg.Accounts[0].Balances[0].Amount = d("1000000")
		cfg.Sources[0].Stream = replay.Mirror(ks, 525600, start, time.Minute)
		res, err := replay.Run(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		if res.Summary.Bars != 525600 {
			b.Fatalf("bars %d", res.Summary.Bars)
		}
	}
	b.ReportMetric(float64(525600*b.N)/b.Elapsed().Seconds(), "bars/s")
}

// BenchmarkDesk100: 100 DCA sessions stepping hourly over 30 days of 1 m
// bars.
func BenchmarkDesk100(b *testing.B) {
	ks := btc(b, 0)
	start := ks[0].OpenTime
	const bars = 30 * 24 * 60
	for b.Loop() {
		cfg := dcaConfig(nil)
		cfg.Accounts[0].Balances[0].Amount = d("100000000")
		cfg.Sessions = nil
		for i := range 100 {
			cfg.Sessions = append(cfg.Sessions, replay.Session{Name: fmt.Sprintf("dca-%03d", i), Strategy: "dca", Account: "alpha",
				Symbols: []string{"BTCUSDT"}, Params: json.RawMessage(`{"symbol":"BTCUSDT","quote_amount":"25","interval":"1h"}`)})
		}
		cfg.Sources[0].Stream = replay.Mirror(ks, bars, start, time.Minute)
		if _, err := replay.Run(context.Background(), cfg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(bars*b.N)/b.Elapsed().Seconds(), "bars/s")
}

// BenchmarkBars: the bar loop alone, a year of 1 m bars with one session
// that never comes due (its interval is longer than the year): the cost of
// moving the simulated clock, the venue's open tick and the close per bar.
func BenchmarkBars(b *testing.B) {
	ks := btc(b, 0)
	start := ks[0].OpenTime
	for b.Loop() {
		cfg := dcaConfig(nil)
		cfg.Sessions[0].Params = json.RawMessage(`{"symbol":"BTCUSDT","quote_amount":"25","interval":"9000h"}`)
		cfg.Sources[0].Stream = replay.Mirror(ks, 525600, start, time.Minute)
		if _, err := replay.Run(context.Background(), cfg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(525600*b.N)/b.Elapsed().Seconds(), "bars/s")
}
