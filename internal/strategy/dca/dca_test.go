package dca_test

import (
	"encoding/json"
	"testing"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/strategy"
	"github.com/tradeplane/tradeplane/internal/strategy/dca"
	"github.com/tradeplane/tradeplane/internal/strategy/strategytest"
	"github.com/tradeplane/tradeplane/internal/venue"
)

func TestDCABuysQuoteAmountRoundedDownUntilAllocationSpent(t *testing.T) {
	t.Parallel()
	b := strategytest.NewPaper(t, map[string]string{"BTCUSDT": "50000"}, map[string]string{"USDT": "1000"},
		`{"symbol":"BTCUSDT","quote_amount":"100","interval":"1h"}`)
	b.Env.Alloc = udecimal.MustParse("350")
	for i, tc := range []struct{ price, qty, skip string }{
		{"50000", "0.002", ""},
		{"40000", "0.0025", ""},
		{"33333.33", "0.003", ""}, // 0.0030000003 rounds down to the step
		{"60000", "0.00083", ""},  // only 50.00001 of the allocation left
		{"60000", "", "quantity rounds to zero"},
	} {
		b.SetPrice(t, "BTCUSDT", tc.price)
		res, placed := b.Step(t, "dca")
		if tc.skip != "" {
			if res.Skip != tc.skip || len(placed) != 0 {
				t.Fatalf("step %d: got skip %q and %d orders, want skip %q", i, res.Skip, len(placed), tc.skip)
			}
			continue
		}
		if len(placed) != 1 {
			t.Fatalf("step %d: placed %d orders (skip %q)", i, len(placed), res.Skip)
		}
		o := placed[0]
		if o.Side != venue.Buy || o.Type != venue.Market || o.Quantity.String() != tc.qty || o.Status != venue.StatusFilled {
			t.Fatalf("step %d: got %s %s %s %s, want market buy %s filled", i, o.Side, o.Type, o.Quantity, o.Status, tc.qty)
		}
	}
	if got := b.Balance(t, "BTC").String(); got != "0.00833" {
		t.Fatalf("BTC bought: got %s, want 0.00833", got)
	}
	if got := string(b.Env.RawState()); got != `{"buys":4,"spent":"349.79999","bought":"0.00833"}` {
		t.Fatalf("state: got %s", got)
	}
}

func TestDCASkipsAboveMaxPrice(t *testing.T) {
	t.Parallel()
	b := strategytest.NewPaper(t, map[string]string{"BTCUSDT": "70000"}, map[string]string{"USDT": "1000"},
		`{"symbol":"BTCUSDT","quote_amount":"100","interval":"1h","max_price":"65000"}`)
	res, placed := b.Step(t, "dca")
	if len(placed) != 0 || res.Skip != "price 70000 above max 65000" {
		t.Fatalf("got %q with %d orders", res.Skip, len(placed))
	}
}

// TestDCACorrectCountsALateBuy: a buy whose placement failed but which the
// venue executed is a buy made (counted once: a second correction of the
// same order adds only what it executed more); an order placed and seen
// canceled adds only its new execution; another symbol changes nothing.
func TestDCACorrectCountsALateBuy(t *testing.T) {
	t.Parallel()
	b := strategytest.NewPaper(t, map[string]string{"BTCUSDT": "50000"}, map[string]string{"USDT": "1000"},
		`{"symbol":"BTCUSDT","quote_amount":"100","interval":"1h"}`)
	s, err := dca.New(json.RawMessage(`{"symbol":"BTCUSDT","quote_amount":"100","interval":"1h"}`))
	if err != nil {
		t.Fatal(err)
	}
	d := udecimal.MustParse
	for i, tc := range []struct {
		c    strategy.Correction
		want dca.State
	}{
		{strategy.Correction{Symbol: "BTCUSDT", Side: venue.Buy, Was: "failed", Executed: d("0.002"), QuoteQty: d("100")},
			dca.State{Buys: 1, Spent: d("100"), Bought: d("0.002")}},
		{strategy.Correction{Symbol: "BTCUSDT", Side: venue.Buy, Was: "failed", SeenQty: d("0.002"), Executed: d("0.001"), QuoteQty: d("50")},
			dca.State{Buys: 1, Spent: d("150"), Bought: d("0.003")}},
		{strategy.Correction{Symbol: "BTCUSDT", Side: venue.Buy, Was: "canceled", SeenQty: d("0.001"), Executed: d("0.001"), QuoteQty: d("50")},
			dca.State{Buys: 1, Spent: d("150"), Bought: d("0.004")}},
		{strategy.Correction{Symbol: "ETHUSDT", Side: venue.Buy, Was: "failed", Executed: d("1"), QuoteQty: d("2000")},
			dca.State{Buys: 1, Spent: d("150"), Bought: d("0.004")}},
	} {
		if err := s.(strategy.Corrector).Correct(b.Env, tc.c); err != nil {
			t.Fatal(err)
		}
		var got dca.State
		if err := b.Env.State(&got); err != nil {
			t.Fatal(err)
		}
		if got.Buys != tc.want.Buys || !got.Spent.Equal(tc.want.Spent) || !got.Bought.Equal(tc.want.Bought) {
			t.Fatalf("correction %d: state %+v, want %+v", i, got, tc.want)
		}
	}
}
