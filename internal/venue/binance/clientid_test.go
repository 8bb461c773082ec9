package binance_test

import (
	"errors"
	"testing"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// TestClientOrderIDReuse: like Binance, the fake refuses a client order id
// only while its order is open; once that order filled, the same id places
// a second order, and queries find the newest.
func TestClientOrderIDReuse(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{}, nil)
	b.fake.Fund(venue.WalletSpot, "USDT", dec("100000"))
	b.fake.SetPrice("BTCUSDT", dec("20000"))
	open := venue.OrderRequest{ClientOrderID: "reuse-1", Symbol: "BTCUSDT", Side: venue.Buy, Type: venue.Limit,
		Quantity: dec("0.001"), Price: dec("19000")}
	if _, err := b.client.PlaceOrder(b.ctx, open); err != nil {
		t.Fatal(err)
	}
	if _, err := b.client.PlaceOrder(b.ctx, open); !errors.Is(err, venue.ErrDuplicateOrder) {
		t.Fatalf("same id while the order is open: %v, want duplicate", err)
	}
	b.fake.SetPrice("BTCUSDT", dec("18000")) // fills it
	mkt := venue.OrderRequest{ClientOrderID: "reuse-1", Symbol: "BTCUSDT", Side: venue.Buy, Type: venue.Market, Quantity: dec("0.002")}
	second, err := b.client.PlaceOrder(b.ctx, mkt)
	if err != nil {
		t.Fatalf("same id after the first order filled: %v; Binance accepts it", err)
	}
	n := 0
	for _, o := range b.fake.Orders() {
		if o.ClientOrderID == "reuse-1" {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d orders with the id, want 2", n)
	}
	q, err := b.client.QueryOrder(b.ctx, "BTCUSDT", "reuse-1")
	if err != nil || q.VenueOrderID != second.VenueOrderID || !q.Quantity.Equal(dec("0.002")) {
		t.Errorf("query by the reused id: %+v, %v; want the second order %s", q, err, second.VenueOrderID)
	}
}
