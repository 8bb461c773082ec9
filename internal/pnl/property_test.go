package pnl

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/quagmt/udecimal"
	"github.com/tradeplane/tradeplane/internal/tradecsv"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// realFile is one account's real BTCUSDT fills (3,432, fees in BTC, USDT and BNB).
const realFile = "/work/shared/data/binance-btcusdt-trades-2019-2020.csv"

// randDec returns a random positive decimal below 10^intDigits with up to
// maxPrec fraction digits.
func randDec(rng *rand.Rand, intDigits, maxPrec int) Decimal {
	prec := rng.IntN(maxPrec + 1)
	n := rng.Int64N(max(pow10(intDigits+prec)-1, 1)) + 1
	d, err := decFromInt(n, prec)
	if err != nil {
		panic(err)
	}
	return d
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

// decFromInt returns n × 10^-prec, parsed from text like a file's value.
func decFromInt(n int64, prec int) (Decimal, error) {
	s := fmt.Sprintf("%0*d", prec+1, n)
	if prec > 0 {
		s = s[:len(s)-prec] + "." + s[len(s)-prec:]
	}
	return udecimal.Parse(s)
}

// evenSecondPricer knows BNB's price only at even seconds, so random
// sequences mix converted and unconverted third-asset fees.
type evenSecondPricer struct{}

func (evenSecondPricer) FeePrice(asset, quote string, at time.Time) (Decimal, bool) {
	if asset != "BNB" || at.Unix()%2 != 0 {
		return Decimal{}, false
	}
	return dec("21.1234"), true
}

// randomTrades returns n random fills over two symbols, with fees in quote,
// base and BNB, in time order with occasional equal times.
func randomTrades(rng *rand.Rand, n int) []tradecsv.Trade {
	symbols := []struct{ base, quote string }{{"BTC", "USDT"}, {"ETH", "BTC"}}
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	trades := make([]tradecsv.Trade, n)
	for i := range trades {
		s := symbols[rng.IntN(len(symbols))]
		tr := tradecsv.Trade{
			Time: t0.Add(time.Duration(i/2) * time.Second), Symbol: s.base + s.quote, Base: s.base, Quote: s.quote,
			Side: venue.Buy, Price: randDec(rng, 5, 8), Quantity: randDec(rng, 2, 8), ID: fmt.Sprint(i),
		}
		if rng.IntN(2) == 0 {
			tr.Side = venue.Sell
		}
		switch rng.IntN(5) {
		case 0: // no fee
		case 1:
			tr.Fee, tr.FeeAsset = randDec(rng, 1, 8), s.quote
		case 2:
			tr.Fee, tr.FeeAsset = tr.Quantity.Mul(dec("0.001")).Trunc(8), s.base
		case 3, 4:
			tr.Fee, tr.FeeAsset = randDec(rng, 0, 8), "BNB"
		}
		trades[i] = tr
	}
	return trades
}

// flows computes, independently of the engine, Σ sell − Σ buy − (fees not in
// base, converted with pricer) + Q × mark per symbol, and Q.
func flows(trades []tradecsv.Trade, pricer FeePricer, marks map[string]Decimal) (map[string]Decimal, map[string]Decimal) {
	q, sum, last, slash := map[string]Decimal{}, map[string]Decimal{}, map[string]Decimal{}, map[string]string{}
	for _, t := range trades {
		slash[t.Symbol] = t.Base + "/" + t.Quote
		notional := t.Price.Mul(t.Quantity)
		if t.Side == venue.Buy {
			q[t.Symbol] = q[t.Symbol].Add(t.Quantity)
			sum[t.Symbol] = sum[t.Symbol].Sub(notional)
		} else {
			q[t.Symbol] = q[t.Symbol].Sub(t.Quantity)
			sum[t.Symbol] = sum[t.Symbol].Add(notional)
		}
		switch t.FeeAsset {
		case "":
		case t.Base:
			q[t.Symbol] = q[t.Symbol].Sub(t.Fee)
		case t.Quote:
			sum[t.Symbol] = sum[t.Symbol].Sub(t.Fee)
		default:
			if pricer != nil {
				if p, ok := pricer.FeePrice(t.FeeAsset, t.Quote, t.Time); ok {
					sum[t.Symbol] = sum[t.Symbol].Sub(t.Fee.Mul(p))
				}
			}
		}
		last[t.Symbol] = t.Price
	}
	for s := range sum {
		mark, ok := marks[s]
		if !ok {
			mark, ok = marks[slash[s]]
		}
		if !ok {
			mark = last[s]
		}
		sum[s] = sum[s].Add(q[s].Mul(mark))
	}
	return sum, q
}

// assertIdentity requires both methods to give net_pnl equal to the
// independently computed flows, to the last decimal, and to agree on
// everything that does not depend on the method.
func assertIdentity(tb testing.TB, trades []tradecsv.Trade, pricer FeePricer, marks map[string]Decimal) (avg, fifo Report) {
	tb.Helper()
	want, wantQ := flows(trades, pricer, marks)
	reps := map[Method]Report{}
	for _, m := range []Method{AvgCost, FIFO} {
		rep, err := Compute(trades, m, marks, pricer)
		if err != nil {
			tb.Fatalf("%s: %v", m, err)
		}
		reps[m] = rep
		if len(rep.Symbols) != len(want) {
			tb.Fatalf("%s: %d symbols, want %d", m, len(rep.Symbols), len(want))
		}
		for _, s := range rep.Symbols {
			if !s.NetPnL.Equal(want[s.Symbol]) {
				tb.Fatalf("%s %s: net_pnl %s, flows %s", m, s.Symbol, s.NetPnL, want[s.Symbol])
			}
			if !s.Position.Equal(wantQ[s.Symbol]) {
				tb.Fatalf("%s %s: position %s, want %s", m, s.Symbol, s.Position, wantQ[s.Symbol])
			}
		}
	}
	avg, fifo = reps[AvgCost], reps[FIFO]
	for i := range avg.Symbols {
		a, f := avg.Symbols[i], fifo.Symbols[i]
		if !a.FeesQuote.Equal(f.FeesQuote) || fmt.Sprint(a.FeesUnconverted) != fmt.Sprint(f.FeesUnconverted) {
			tb.Fatalf("%s: fees differ: avg %s %v, fifo %s %v", a.Symbol, a.FeesQuote, a.FeesUnconverted, f.FeesQuote, f.FeesUnconverted)
		}
	}
	if !avg.Total.NetPnL.Equal(fifo.Total.NetPnL) {
		tb.Fatalf("total net: avg %s, fifo %s", avg.Total.NetPnL, fifo.Total.NetPnL)
	}
	return avg, fifo
}

// TestIdentityRandom runs seeded random fill sequences through both methods.
func TestIdentityRandom(t *testing.T) {
	t.Parallel()
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 42))
		trades := randomTrades(rng, 1+rng.IntN(200))
		var marks map[string]Decimal
		if rng.IntN(2) == 0 {
			marks = map[string]Decimal{"BTCUSDT": randDec(rng, 5, 8), "ETH/BTC": randDec(rng, 1, 8)}
		}
		var pricer FeePricer
		if rng.IntN(3) > 0 {
			pricer = evenSecondPricer{}
		}
		t.Run(fmt.Sprint(seed), func(t *testing.T) { assertIdentity(t, trades, pricer, marks) })
	}
}

// TestRealFile runs the real 3,432-fill account through both methods, with
// BNB fees unconverted (no 2019-2020 BNB prices in shared data) and with a
// given BNB price.
func TestRealFile(t *testing.T) {
	t.Parallel()
	f, err := os.Open(realFile)
	if err != nil {
		t.Skipf("real trade file absent (%v)", err)
	}
	defer f.Close()
	trades, err := tradecsv.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(trades) != 3432 {
		t.Fatalf("%d trades, want 3432", len(trades))
	}
	var bnb Decimal
	for _, tr := range trades {
		if tr.FeeAsset == "BNB" {
			bnb = bnb.Add(tr.Fee)
		}
	}
	marks := map[string]Decimal{"BTCUSDT": dec("11271.8")}
	avg, fifo := assertIdentity(t, trades, nil, marks)
	for _, rep := range []Report{avg, fifo} {
		s := rep.Symbols[0]
		if s.Trades != 3432 || len(s.FeesUnconverted) != 1 || s.FeesUnconverted[0].Asset != "BNB" || !s.FeesUnconverted[0].Amount.Equal(bnb) {
			t.Errorf("%s: trades %d, unconverted %v, want 3432 and %s BNB", rep.Method, s.Trades, s.FeesUnconverted, bnb)
		}
		t.Logf("%s: position %s avg_entry %s realized %s unrealized %s fees %s net %s (+ %s BNB unconverted)",
			rep.Method, s.Position, s.AvgEntry, s.RealizedPnL, s.UnrealizedPnL, s.FeesQuote, s.NetPnL, bnb)
	}
	assertIdentity(t, trades, FixedPrices{{"BNB", "USDT"}: dec("15.5")}, marks)
	assertIdentity(t, trades, FixedPrices{{"BNB", "USDT"}: dec("15.5")}, nil)
}
