package binance_test

import (
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// TestOrderHistory: allOrders lists every order of a symbol in a range,
// filled, canceled and open, oldest first, and none outside it.
func TestOrderHistory(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{}, nil)
	b.fake.Fund(venue.WalletSpot, "USDT", dec("100000"))
	b.fake.SetPrice("BTCUSDT", dec("20000"))
	from := time.Now().Add(-time.Minute)
	ids := []string{"h-1", "h-2", "h-3"}
	for i, id := range ids {
		req := venue.OrderRequest{ClientOrderID: id, Symbol: "BTCUSDT", Side: venue.Buy, Type: venue.Market, Quantity: dec("0.001")}
		if i == 2 {
			req.Type, req.Price, req.Quantity = venue.Limit, dec("10000"), dec("0.01") // rests, then is canceled
		}
		if _, err := b.client.PlaceOrder(b.ctx, req); err != nil {
			t.Fatalf("place %s: %v", id, err)
		}
	}
	if _, err := b.client.CancelOrder(b.ctx, "BTCUSDT", "h-3"); err != nil {
		t.Fatal(err)
	}
	got, err := b.client.OrderHistory(b.ctx, "BTCUSDT", from, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("history %+v, want 3 orders", got)
	}
	for i, o := range got {
		if o.ClientOrderID != ids[i] {
			t.Fatalf("order %d is %q, want %q (oldest first)", i, o.ClientOrderID, ids[i])
		}
	}
	if got[0].Status != venue.StatusFilled || got[2].Status != venue.StatusCanceled {
		t.Fatalf("statuses %s, %s", got[0].Status, got[2].Status)
	}
	if none, err := b.client.OrderHistory(b.ctx, "BTCUSDT", from.Add(-48*time.Hour), from); err != nil || len(none) != 0 {
		t.Fatalf("before the orders: %+v %v", none, err)
	}
}

// TestOrderHistoryUntilNowFollowsTheServerClock: with no end time, the
// history runs to the server's now, not the local one. Binance's clock 30 s
// ahead of ours used to hide an order made a moment ago (created after the
// local "now"), which the journal's proof of absence must never do.
func TestOrderHistoryUntilNowFollowsTheServerClock(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{}, nil)
	b.fake.SetSkew(30 * time.Second)
	b.fake.Fund(venue.WalletSpot, "USDT", dec("100000"))
	b.fake.SetPrice("BTCUSDT", dec("20000"))
	if err := b.client.SyncTime(b.ctx); err != nil {
		t.Fatal(err)
	}
	req := venue.OrderRequest{ClientOrderID: "ahead-1", Symbol: "BTCUSDT", Side: venue.Buy, Type: venue.Market, Quantity: dec("0.001")}
	if _, err := b.client.PlaceOrder(b.ctx, req); err != nil {
		t.Fatal(err)
	}
	got, err := b.client.OrderHistory(b.ctx, "BTCUSDT", time.Now().Add(-time.Minute), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ClientOrderID != "ahead-1" {
		t.Fatalf("history until now %+v, want the order just made", got)
	}
}
