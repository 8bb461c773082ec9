package bybit_test

import (
	"fmt"
	"testing"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/bybittest"
)

// BenchmarkPlaceOrder places resting limit orders through the adapter on
// the loopback fake: create, then the read back by orderLinkId, two signed
// round trips per order, the fake's answers edited from the documented
// examples.
func BenchmarkPlaceOrder(b *testing.B) {
	fake := bybittest.New(b, bybittest.Config{EndpointLimit: 1 << 30})
	if err := fake.SetPrice("BTCUSDT", dec("20000")); err != nil {
		b.Fatal(err)
	}
	if err := fake.Fund(venue.WalletSpot, "USDT", dec("1000000000")); err != nil {
		b.Fatal(err)
	}
	c := newClientB(b, fake)
	ctx := b.Context()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := c.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: fmt.Sprintf("bench-%d", i), Symbol: "BTCUSDT",
			Side: venue.Buy, Type: venue.Limit, Quantity: dec("0.001"), Price: dec("15000")}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlaceLinearOrder places resting linear perpetual limit orders
// through a Linear on the loopback fake: the filters from the cached
// instruments, the adapter's own signed create (reduceOnly and positionIdx
// in the body) and the read back by orderLinkId.
func BenchmarkPlaceLinearOrder(b *testing.B) {
	fake := bybittest.New(b, bybittest.Config{EndpointLimit: 1 << 30})
	if err := fake.SetPrice("BTCUSDT", dec("20000")); err != nil {
		b.Fatal(err)
	}
	if err := fake.Fund(venue.WalletFutures, "USDT", dec("1000000000")); err != nil {
		b.Fatal(err)
	}
	l := newLinear(b, fake)
	ctx := b.Context()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := l.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: fmt.Sprintf("bench-%d", i), Symbol: "BTCUSDT",
			Side: venue.Buy, Type: venue.Limit, Quantity: dec("0.001"), Price: dec("15000")}); err != nil {
			b.Fatal(err)
		}
	}
}
