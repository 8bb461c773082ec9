package binance_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// TestOrderWeightFreeOnSuccess: since 2026-04-02 a new order and a cancel
// cost no request weight when they succeed (1 when refused). The adapter
// budgets 1 before sending and gives it back on success; its count and the
// fake's agree.
func TestOrderWeightFreeOnSuccess(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{}, nil)
	b.fake.Fund(venue.WalletSpot, "USDT", dec("100"))
	if _, err := b.client.Symbols(b.ctx); err != nil {
		t.Fatal(err)
	}
	w0, f0 := b.client.Stats().Weight, b.fake.Stats().Weight
	for i, id := range []string{"w-1", "w-2", "w-3"} {
		if _, err := b.client.PlaceOrder(b.ctx, venue.OrderRequest{ClientOrderID: id, Symbol: "BTCUSDT", Side: venue.Buy,
			Type: venue.Limit, Quantity: dec("0.001"), Price: dec("10000")}); err != nil {
			t.Fatalf("order %d: %v", i, err)
		}
	}
	if _, err := b.client.CancelOrder(b.ctx, "BTCUSDT", "w-1"); err != nil {
		t.Fatal(err)
	}
	if w, f := b.client.Stats().Weight-w0, b.fake.Stats().Weight-f0; w != 0 || f != 0 {
		t.Errorf("3 orders and a cancel that succeeded cost %d weight (fake counted %d), want 0", w, f)
	}
	// A refused order (insufficient balance) costs 1.
	_, err := b.client.PlaceOrder(b.ctx, venue.OrderRequest{ClientOrderID: "w-4", Symbol: "BTCUSDT", Side: venue.Buy,
		Type: venue.Limit, Quantity: dec("0.1"), Price: dec("10000")})
	if !errors.Is(err, venue.ErrInsufficientFunds) {
		t.Fatalf("order beyond the balance: %v", err)
	}
	if w, f := b.client.Stats().Weight-w0, b.fake.Stats().Weight-f0; w != 1 || f != 1 {
		t.Errorf("a refused order cost %d weight (fake counted %d), want 1", w, f)
	}
}

// TestUserStreamSubscriptionWeight: the user data subscription
// (userDataStream.subscribe.signature, weight 2) counts on the
// REQUEST_WEIGHT the WebSocket API shares with REST, after the time sync
// (weight 1) that precedes it. The adapter budgets both; the fake charges
// both; their counts agree.
func TestUserStreamSubscriptionWeight(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{}, nil)
	if _, err := b.client.Symbols(b.ctx); err != nil {
		t.Fatal(err)
	}
	w0, f0 := b.client.Stats().Weight, b.fake.Stats().Weight
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	if _, err := b.client.SubscribeUser(ctx); err != nil {
		t.Fatal(err)
	}
	if w, f := b.client.Stats().Weight-w0, b.fake.Stats().Weight-f0; w != 3 || f != 3 {
		t.Errorf("subscribing cost %d weight by the adapter's count, %d by the fake's; want 3 (time 1, subscription 2)", w, f)
	}
}
