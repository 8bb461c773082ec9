package binance_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// TestOrderTradesWhileTradeHistoryLags: right after a fill myTrades may not
// have it. OrderTrades answers a market order's fills from its FULL
// response; for a fill it has not seen (a resting order filled later) it
// says the fills are short of the executed quantity instead of answering
// an empty list as if nothing had filled, and answers in full once
// myTrades has caught up.
func TestOrderTradesWhileTradeHistoryLags(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{}, nil)
	b.fake.Fund(venue.WalletSpot, "USDT", dec("100000"))
	b.fake.SetPrice("BTCUSDT", dec("20000"))
	b.fake.SetTradesLag(time.Hour)

	o, err := b.client.PlaceOrder(b.ctx, venue.OrderRequest{ClientOrderID: "lag-mkt", Symbol: "BTCUSDT", Side: venue.Buy,
		Type: venue.Market, Quantity: dec("0.01")})
	if err != nil || o.Status != venue.StatusFilled {
		t.Fatalf("market order: %+v, %v", o, err)
	}
	ts, err := b.client.OrderTrades(b.ctx, "BTCUSDT", o.VenueOrderID)
	if err != nil || len(ts) != 1 || !ts[0].Quantity.Equal(dec("0.01")) || !ts[0].Price.Equal(dec("20000")) ||
		ts[0].ClientOrderID != "lag-mkt" || ts[0].FeeAsset != "BTC" || !ts[0].Fee.Equal(dec("0.00001")) {
		t.Fatalf("fills of the market order while myTrades lags: %+v, %v; want the FULL response's fill", ts, err)
	}

	lim, err := b.client.PlaceOrder(b.ctx, venue.OrderRequest{ClientOrderID: "lag-lim", Symbol: "BTCUSDT", Side: venue.Buy,
		Type: venue.Limit, Quantity: dec("0.01"), Price: dec("19000")})
	if err != nil || lim.Status != venue.StatusNew {
		t.Fatalf("limit order: %+v, %v", lim, err)
	}
	b.fake.SetPrice("BTCUSDT", dec("18999"))
	q, err := b.client.QueryOrder(b.ctx, "BTCUSDT", "lag-lim")
	if err != nil || q.Status != venue.StatusFilled {
		t.Fatalf("query: %+v, %v", q, err)
	}
	if ts, err := b.client.OrderTrades(b.ctx, "BTCUSDT", lim.VenueOrderID); !errors.Is(err, venue.ErrUnavailable) {
		t.Fatalf("fills of a filled order myTrades does not show yet: %+v, %v; want unavailable (read again later)", ts, err)
	}
	b.fake.SetTradesLag(0)
	ts, err = b.client.OrderTrades(b.ctx, "BTCUSDT", lim.VenueOrderID)
	if err != nil || len(ts) != 1 || !ts[0].Quantity.Equal(dec("0.01")) || !ts[0].Maker {
		t.Fatalf("fills once myTrades caught up: %+v, %v", ts, err)
	}
	// The market order's fill, now in myTrades too, is listed once.
	if ts, err := b.client.OrderTrades(b.ctx, "BTCUSDT", o.VenueOrderID); err != nil || len(ts) != 1 {
		t.Fatalf("market order's fills after catching up: %+v, %v; want one", ts, err)
	}
}
