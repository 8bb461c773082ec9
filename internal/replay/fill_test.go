package replay_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/replay"
	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// The fill model as the package documents it: a market order fills at the
// open of the bar its step runs at, plus the slippage; a resting limit buy
// fills at its price when a bar's low goes below it, not when it only
// touches it, stamped at that bar's close time, with the maker fee.
func TestFillModel(t *testing.T) {
	t.Parallel()
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	bar := func(i int, o, h, l, c string) venue.Kline {
		return venue.Kline{OpenTime: start.Add(time.Duration(i) * time.Minute), Open: d(o), High: d(h), Low: d(l), Close: d(c), Volume: d("1")}
	}
	var ks []venue.Kline
	for i := range 15 {
		ks = append(ks, bar(i, "105", "105", "105", "105"))
	}
	ks = append(ks,
		bar(15, "105", "105", "100", "104"),   // touches the 100 buy: no fill
		bar(16, "104", "104", "99.99", "101"), // trades through it: fills at 100
		bar(17, "101", "102", "101", "102"),
	)
	cfg := replay.Config{
		Accounts: []replay.Account{
			{Name: "grid", Balances: []replay.Balance{{Asset: "USDT", Amount: d("1000")}, {Asset: "BTC", Amount: d("1")}}},
			{Name: "dca", Balances: []replay.Balance{{Asset: "USDT", Amount: d("1000")}}},
		},
		Sessions: []replay.Session{
			{Name: "grid", Strategy: "grid", Account: "grid", Symbols: []string{"BTCUSDT"},
				Params: json.RawMessage(`{"symbol":"BTCUSDT","lower":"90","upper":"110","levels":3,"quantity":"0.1","interval":"15m"}`)},
			{Name: "dca", Strategy: "dca", Account: "dca", Symbols: []string{"BTCUSDT"},
				Params: json.RawMessage(`{"symbol":"BTCUSDT","quote_amount":"50","interval":"15m"}`)},
		},
		Sources: []replay.Source{{Symbol: "BTCUSDT", Interval: time.Minute, Stream: &replay.SliceStream{Klines: ks}, Name: "synthetic"}},
		Fill:    replay.Fill{Slippage: d("0.001"), MakerFee: d("0.0002"), TakerFee: d("0.001")},
		Seed:    1,
	}
	res, err := replay.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Trades) != 2 {
		t.Fatalf("trades %+v, want the DCA's market buy and one grid buy", res.Trades)
	}
	mkt, lim := res.Trades[0], res.Trades[1]
	if !mkt.Time.Equal(start.Add(15*time.Minute)) || !mkt.Price.Equal(d("105.105")) || mkt.Side != venue.Buy {
		t.Errorf("market buy %+v: want at 00:15 at 105 × 1.001 = 105.105", mkt)
	}
	if want := mkt.Quantity.Mul(d("0.001")); !mkt.Fee.Equal(want) || mkt.FeeAsset != "BTC" {
		t.Errorf("market buy fee %s %s, want the taker fee %s BTC", mkt.Fee, mkt.FeeAsset, want)
	}
	if !lim.Time.Equal(start.Add(17*time.Minute-time.Millisecond)) || !lim.Price.Equal(d("100")) || !lim.Quantity.Equal(d("0.1")) {
		t.Errorf("limit buy %+v: want 0.1 at 100 at the close of the 00:16 bar (the 00:15 bar only touched it)", lim)
	}
	if !lim.Fee.Equal(d("0.00002")) {
		t.Errorf("limit buy fee %s, want the maker fee 0.1 × 0.0002", lim.Fee)
	}
}

// The executor's allocation check (the portfolio's, as live) refuses a buy
// that would take a session past its allocation: a grid with 500 USDT whose
// filled buys (exposure counts fills, as the server's tracker does, not
// resting orders) plus a new 225 USDT order exceed it.
func TestAllocationChecked(t *testing.T) {
	t.Parallel()
	cfg := dcaConfig(btc(t, 3*24*60))
	cfg.Accounts[0].Balances = append(cfg.Accounts[0].Balances, replay.Balance{Asset: "BTC", Amount: d("1")})
	cfg.Sessions = []replay.Session{{Name: "grid", Strategy: "grid", Account: "alpha", Symbols: []string{"BTCUSDT"},
		Params:     json.RawMessage(`{"symbol":"BTCUSDT","lower":"22000","upper":"24000","levels":11,"quantity":"0.01","interval":"15m"}`),
		Allocation: session.Allocation{Kind: session.AllocFixed, Amount: d("500")}}}
	cfg.KeepJournal = true
	res, err := replay.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.Failures["allocation"] == 0 {
		t.Fatalf("no order refused for its allocation: %+v", res.Summary)
	}
	var spent udecimal.Decimal
	evs, err := res.Journal()
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Kind == "intent" && ev.Side == "buy" {
			spent = spent.Add(ev.Price.Mul(ev.Quantity))
		}
	}
	t.Logf("buy intents worth %s; refusals %v", spent, res.Summary.Failures)
}
