package binance_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// TestSendGuardRunsAfterStamping: the journal checks the session's lease in
// a venue.SendGuard that the adapter runs after it stamps the request, so a
// refused guard sends nothing, and a request frozen after a passing guard
// arrives with its old timestamp and is refused by the venue once recvWindow
// has passed: no request stamped before a lease ran out can execute later
// than the stamp plus recvWindow.
func TestSendGuardRunsAfterStamping(t *testing.T) {
	t.Parallel()
	const window = 300 * time.Millisecond
	b := setup(t, binancetest.Config{}, func(c *binance.Config) { c.RecvWindow = window })
	b.fake.Fund(venue.WalletSpot, "USDT", dec("1000"))
	b.fake.SetPrice("BTCUSDT", dec("20000"))
	req := func(id string) venue.OrderRequest {
		return venue.OrderRequest{ClientOrderID: id, Symbol: "BTCUSDT", Side: venue.Buy, Type: venue.Limit,
			Quantity: dec("0.001"), Price: dec("19000")}
	}

	t.Run("refused guard sends nothing", func(t *testing.T) {
		lost := errors.New("lease lost")
		_, err := b.client.PlaceOrder(venue.WithSendGuard(b.ctx, func(context.Context) error { return lost }), req("guard-refused"))
		if venue.ClassOf(err) != venue.ClassUnavailable {
			t.Fatalf("place: got %v, want class unavailable (certainly not executed)", err)
		}
		if _, err := b.client.QueryOrder(b.ctx, "BTCUSDT", "guard-refused"); venue.ClassOf(err) != venue.ClassNotFound {
			t.Fatalf("query: got %v, want not found: the venue must never have seen it", err)
		}
	})

	t.Run("passing guard sends once", func(t *testing.T) {
		calls := 0
		o, err := b.client.PlaceOrder(venue.WithSendGuard(b.ctx, func(context.Context) error { calls++; return nil }), req("guard-passed"))
		if err != nil || o.ClientOrderID != "guard-passed" {
			t.Fatalf("place: %+v, %v", o, err)
		}
		if calls != 1 {
			t.Fatalf("guard ran %d times, want 1", calls)
		}
	})

	t.Run("frozen after the guard: the venue refuses the late request", func(t *testing.T) {
		// The guard passes, then the sender freezes for longer than
		// recvWindow: the request still carries the timestamp taken
		// before the guard, so Binance refuses it (-1021).
		_, err := b.client.PlaceOrder(venue.WithSendGuard(b.ctx, func(context.Context) error {
			time.Sleep(window + 700*time.Millisecond) // the fake allows 1 s of clock skew ahead, none behind
			return nil
		}), req("guard-frozen"))
		if err == nil {
			t.Fatal("place: accepted a request that arrived after its recvWindow")
		}
		if _, qerr := b.client.QueryOrder(b.ctx, "BTCUSDT", "guard-frozen"); venue.ClassOf(qerr) != venue.ClassNotFound {
			t.Fatalf("query: got %v, want not found (place said %v)", qerr, err)
		}
	})
}
