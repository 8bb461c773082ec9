package binance_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// TestRecvWindowRefusesALateOrder: every order placement and cancellation
// carries recvWindow, and a request that reaches the fake later than that
// after its timestamp is refused with Binance's -1021 and its exact text,
// and executes nothing. The lateness is the fake's clock moving ahead after
// the client synced: to the fake, the request arrives 3 s after it was
// stamped.
func TestRecvWindowRefusesALateOrder(t *testing.T) {
	t.Parallel()
	order := venue.OrderRequest{ClientOrderID: "rw-1", Symbol: "BTCUSDT", Side: venue.Buy, Type: venue.Limit,
		Quantity: dec("0.001"), Price: dec("10000")}
	for _, tc := range []struct {
		window time.Duration
		late   bool
	}{{time.Second, true}, {5 * time.Second, false}} {
		b := setup(t, binancetest.Config{}, func(c *binance.Config) { c.RecvWindow = tc.window })
		if got := b.client.RecvWindow(); got != tc.window {
			t.Fatalf("RecvWindow() = %s, want %s", got, tc.window)
		}
		b.fake.Fund(venue.WalletSpot, "USDT", dec("1000"))
		if err := b.client.SyncTime(b.ctx); err != nil {
			t.Fatal(err)
		}
		b.fake.SetSkew(3 * time.Second)
		_, err := b.client.PlaceOrder(b.ctx, order)
		if !tc.late {
			if err != nil {
				t.Fatalf("recvWindow %s, 3 s late: %v; want accepted", tc.window, err)
			}
			b.fake.SetSkew(6 * time.Second) // the resync is the client's next -1021
			if _, err := b.client.CancelOrder(b.ctx, "BTCUSDT", "rw-1"); !errors.Is(err, venue.ErrTimestamp) {
				t.Fatalf("cancel 6 s late with recvWindow %s: %v; want refused, -1021", tc.window, err)
			}
			continue
		}
		var ve *venue.Error
		if !errors.As(err, &ve) || ve.Class != venue.ClassTimestamp || ve.Code != -1021 ||
			ve.Message != "Timestamp for this request is outside of the recvWindow." {
			t.Fatalf("recvWindow %s, 3 s late: %v; want -1021 with Binance's text", tc.window, err)
		}
		if os := b.fake.Orders(); len(os) != 0 {
			t.Fatalf("the late order executed: %+v", os)
		}
	}
}

// TestRecvWindowBounds: Binance takes recvWindow up to 60 s.
func TestRecvWindowBounds(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{-time.Second, 61 * time.Second} {
		if _, err := binance.New(binance.Config{APIKey: "k", APISecret: "s", RecvWindow: d}); err == nil {
			t.Errorf("RecvWindow %s accepted", d)
		}
	}
	c, err := binance.New(binance.Config{APIKey: "k", APISecret: "s"})
	if err != nil || c.RecvWindow() != 5*time.Second {
		t.Errorf("default RecvWindow: %v, %v; want 5s", c, err)
	}
}

// TestWindowClosed: the moment a sent order can no longer execute is the
// call's return plus RecvWindow plus the clock's uncertainty (half the
// sync's round trip and 1 ms), never earlier than RecvWindow after it.
func TestWindowClosed(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{}, func(c *binance.Config) { c.RecvWindow = 2 * time.Second })
	if err := b.client.SyncTime(b.ctx); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	got := b.client.WindowClosed(at)
	if got.Before(at.Add(2*time.Second+time.Millisecond)) || got.After(at.Add(3*time.Second)) {
		t.Errorf("WindowClosed = %s after the return, want 2 s plus the sync uncertainty (about 1 ms on loopback)", got.Sub(at))
	}
}
