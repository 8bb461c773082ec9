package bybit_test

import (
	"context"
	"errors"
	"testing"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/bybittest"
)

// TestSendGuardRunsAfterStamping: the journal's lease check (a
// venue.SendGuard) runs after the request is stamped; a refused guard sends
// nothing, a passing one sends once.
func TestSendGuardRunsAfterStamping(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := bybittest.New(t, bybittest.Config{})
	c := newClient(t, fake)
	if err := fake.Fund(venue.WalletSpot, "USDT", udecimal.MustParse("1000")); err != nil {
		t.Fatal(err)
	}
	if err := fake.SetPrice("BTCUSDT", udecimal.MustParse("20000")); err != nil {
		t.Fatal(err)
	}
	req := func(id string) venue.OrderRequest {
		return venue.OrderRequest{ClientOrderID: id, Symbol: "BTCUSDT", Side: venue.Buy, Type: venue.Limit,
			Quantity: udecimal.MustParse("0.001"), Price: udecimal.MustParse("19000")}
	}
	lost := errors.New("lease lost")
	_, err := c.PlaceOrder(venue.WithSendGuard(ctx, func(context.Context) error { return lost }), req("guard-refused"))
	if venue.ClassOf(err) != venue.ClassUnavailable {
		t.Fatalf("place: got %v, want class unavailable (certainly not executed)", err)
	}
	if n := len(fake.Orders()); n != 0 {
		t.Fatalf("the fake holds %d orders after a refused guard, want none", n)
	}
	calls := 0
	if _, err := c.PlaceOrder(venue.WithSendGuard(ctx, func(context.Context) error { calls++; return nil }), req("guard-passed")); err != nil {
		t.Fatalf("place: %v", err)
	}
	if n := len(fake.Orders()); n != 1 || calls < 1 {
		t.Fatalf("the fake holds %d orders and the guard ran %d times; want 1 order, guard run", n, calls)
	}
}
