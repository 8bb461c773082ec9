package dca_test

import (
	"testing"

	"github.com/quagmt/udecimal"
	_ "github.com/tradeplane/tradeplane/internal/strategy/dca"
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
