package pnl

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/tradecsv"
	"github.com/tradeplane/tradeplane/internal/venue"
)

const benchFills = 1_000_000

// benchTrades are 1,000,000 seeded BTCUSDT fills shaped like the real
// account: prices with 2 decimals, quantities with 6, a random walk of buys
// and sells (so about half the fills reduce or cross), fees a third each in
// USDT, BTC and BNB.
var benchTrades = sync.OnceValue(func() []tradecsv.Trade {
	rng := rand.New(rand.NewPCG(3, 4))
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	trades := make([]tradecsv.Trade, benchFills)
	price := int64(900_000) // cents
	for i := range trades {
		price += rng.Int64N(2001) - 1000
		price = max(price, 100)
		p, _ := decFromInt(price, 2)
		q, _ := decFromInt(1+rng.Int64N(99_999), 6)
		tr := tradecsv.Trade{
			Time: t0.Add(time.Duration(i) * time.Millisecond), Symbol: "BTCUSDT", Base: "BTC", Quote: "USDT",
			Side: venue.Buy, Price: p, Quantity: q, ID: fmt.Sprint(i),
		}
		if rng.IntN(2) == 0 {
			tr.Side = venue.Sell
		}
		switch i % 3 {
		case 0:
			tr.Fee, tr.FeeAsset = q.Mul(p).Mul(dec("0.001")).Trunc(8), "USDT"
		case 1:
			tr.Fee, tr.FeeAsset = q.Mul(dec("0.001")).Trunc(8), "BTC"
		case 2:
			tr.Fee, tr.FeeAsset = q.Mul(dec("0.0003")).Trunc(8), "BNB"
		}
		trades[i] = tr
	}
	return trades
})

func benchEngine(b *testing.B, m Method) {
	trades := benchTrades()
	pricer := FixedPrices{{"BNB", "USDT"}: dec("15.5")}
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		e, err := NewEngine(m, pricer)
		if err != nil {
			b.Fatal(err)
		}
		for i := range trades {
			if err := e.Add(&trades[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
	perFill(b, processCPU()-cpu0)
}

// perFill reports ns/fill and fills/s (wall time), and cpu-ns/fill (process
// CPU time, which on a shared machine is the better measure of the work), the
// figures in docs/BENCHMARKS.md.
func perFill(b *testing.B, cpu time.Duration) {
	fills := float64(b.N) * benchFills
	ns := float64(b.Elapsed().Nanoseconds()) / fills
	b.ReportMetric(ns, "ns/fill")
	b.ReportMetric(1e9/ns, "fills/s")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/fills, "cpu-ns/fill")
	}
}

// BenchmarkEngineAvg is fills per second through the average-cost engine
// (Engine.Add, one symbol, 1,000,000 fills per op).
func BenchmarkEngineAvg(b *testing.B) { benchEngine(b, AvgCost) }

// BenchmarkEngineFIFO is the same through FIFO lots.
func BenchmarkEngineFIFO(b *testing.B) { benchEngine(b, FIFO) }

// BenchmarkCompute is the CLI path: order check, engine and report.
func BenchmarkCompute(b *testing.B) {
	trades := benchTrades()
	pricer := FixedPrices{{"BNB", "USDT"}: dec("15.5")}
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		if _, err := Compute(trades, AvgCost, nil, pricer); err != nil {
			b.Fatal(err)
		}
	}
	perFill(b, processCPU()-cpu0)
}
