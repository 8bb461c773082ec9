package pnl

import (
	"errors"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/tradecsv"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// TestFundingSign: funding paid lowers net PnL, funding received raises it,
// neither moves the position or realized PnL, and the contract's identity
// holds with funding as one more flow. Numbers by hand:
// long 0.1 BTC at 20000 (fee 2), three fundings of −0.21, closed at 21000
// (fee 2.1): realized 100, fees 4.1, funding −0.63, net 95.27; the short
// side of the same fundings receives +0.63 and, open at 20000 with fee 2 and
// marked at 21000, has unrealized −100 and net −101.37.
func TestFundingSign(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 7, 0, 0, 0, time.UTC)
	fill := func(id, sym string, side venue.Side, price, qty, fee string, at time.Time) *tradecsv.Trade {
		return &tradecsv.Trade{ID: id, Time: at, Symbol: sym, Side: side, Price: dec(price), Quantity: dec(qty), Fee: dec(fee), FeeAsset: "USDT"}
	}
	e, err := NewEngine(AvgCost, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Add(fill("1", "BTCUSDT", venue.Buy, "20000", "0.1", "2", t0)); err != nil {
		t.Fatal(err)
	}
	if err := e.Add(fill("2", "ETHUSDT", venue.Sell, "20000", "0.1", "2", t0)); err != nil {
		t.Fatal(err)
	}
	for i, h := range []int{1, 9, 17} {
		at := t0.Add(time.Duration(h) * time.Hour)
		if err := e.AddFunding(Funding{Symbol: "BTCUSDT", Asset: "USDT", Amount: dec("-0.21"), Time: at, ID: "f" + string(rune('a'+i))}); err != nil {
			t.Fatal(err)
		}
		if err := e.AddFunding(Funding{Symbol: "ETHUSDT", Asset: "USDT", Amount: dec("0.21"), Time: at, ID: "g" + string(rune('a'+i))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Add(fill("3", "BTCUSDT", venue.Sell, "21000", "0.1", "2.1", t0.Add(18*time.Hour))); err != nil {
		t.Fatal(err)
	}
	rep, err := e.Report(map[string]Decimal{"ETHUSDT": dec("21000")})
	if err != nil {
		t.Fatal(err)
	}
	btc, eth := rep.Symbols[0], rep.Symbols[1]
	if !btc.RealizedPnL.Equal(dec("100")) || !btc.FeesQuote.Equal(dec("4.1")) || !btc.Funding.Equal(dec("-0.63")) ||
		!btc.NetPnL.Equal(dec("95.27")) || btc.Fundings != 3 || !btc.Position.IsZero() {
		t.Errorf("long: %+v, want realized 100, fees 4.1, funding -0.63 (3), net 95.27", btc)
	}
	if !eth.Funding.Equal(dec("0.63")) || !eth.UnrealizedPnL.Equal(dec("-100")) || !eth.NetPnL.Equal(dec("-101.37")) {
		t.Errorf("short: %+v, want funding 0.63, unrealized -100, net -101.37", eth)
	}
	for _, s := range rep.Symbols {
		if net, flows := s.Identity(); !net.Equal(flows) {
			t.Errorf("%s: identity %s != %s", s.Symbol, net, flows)
		}
	}
	if !rep.Total.Funding.Equal(dec("0")) || !rep.Total.NetPnL.Equal(dec("-6.1")) {
		t.Errorf("total %+v, want funding 0 and net -6.1", rep.Total)
	}
	if err := e.AddFunding(Funding{Symbol: "BTCUSDT", Asset: "BTC", Amount: dec("1"), ID: "x"}); !errors.Is(err, ErrInput) {
		t.Errorf("funding in BTC on a USDT symbol: %v, want ErrInput", err)
	}
}
