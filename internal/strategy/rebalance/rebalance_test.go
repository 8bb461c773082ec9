package rebalance_test

import (
	"testing"

	_ "github.com/tradeplane/tradeplane/internal/strategy/rebalance"
	"github.com/tradeplane/tradeplane/internal/strategy/strategytest"
	"github.com/tradeplane/tradeplane/internal/venue"
)

func TestRebalanceTradesOnlyBeyondThreshold(t *testing.T) {
	t.Parallel()
	b := strategytest.NewPaper(t, map[string]string{"BTCUSDT": "50000", "ETHUSDT": "2000"}, map[string]string{"USDT": "10000"},
		`{"quote":"USDT","weights":{"BTC":"0.5","ETH":"0.25","USDT":"0.25"},"threshold":"0.05","interval":"1h"}`)
	for i, s := range []struct {
		btc, eth string
		orders   []string // "side symbol qty"
		skip     string
	}{
		{"50000", "2000", []string{"buy ETHUSDT 1.25", "buy BTCUSDT 0.1"}, ""},
		{"50000", "2000", nil, "max drift 0 within threshold 0.05"},
		// BTC 6000 of 11000: weight 0.5454, drift 0.0454.
		{"60000", "2000", nil, "max drift 0.0454 within threshold 0.05"},
		// BTC 8000, ETH 2500, cash 2500: total 13000, BTC weight 0.6154.
		// Targets: BTC 6500 (sell 1500 → 0.01875), ETH 3250 (buy 750 → 0.375).
		{"80000", "2000", []string{"sell BTCUSDT 0.01875", "buy ETHUSDT 0.375"}, ""},
	} {
		b.SetPrice(t, "BTCUSDT", s.btc)
		b.SetPrice(t, "ETHUSDT", s.eth)
		res, placed := b.Step(t, "rebalance")
		if res.Skip != s.skip || len(placed) != len(s.orders) {
			t.Fatalf("step %d: got skip %q and %d orders, want %q and %v", i, res.Skip, len(placed), s.skip, s.orders)
		}
		for j, o := range placed {
			if got := string(o.Side) + " " + o.Symbol + " " + o.Quantity.String(); got != s.orders[j] || o.Status != venue.StatusFilled {
				t.Fatalf("step %d order %d: got %s (%s), want %s", i, j, got, o.Status, s.orders[j])
			}
		}
	}
}

func TestRebalanceRejectsWeightsNotSummingToOne(t *testing.T) {
	t.Parallel()
	b := strategytest.NewPaper(t, nil, nil, `{"quote":"USDT","weights":{"BTC":"0.5","USDT":"0.4"},"threshold":"0.05","interval":"1h"}`)
	if _, err := strategytestNew(b); err == nil {
		t.Fatal("want a params error")
	}
}
