package binance_test

import (
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// TestBudgetWaitOutlastsHTTPTimeout: once the weight budget is spent, a
// request waits for the next window even when that is longer than
// HTTPTimeout, and then succeeds without a 429. (A long trade-history
// download runs into this with the real 6,000/min budget and 10 s timeout.)
func TestBudgetWaitOutlastsHTTPTimeout(t *testing.T) {
	t.Parallel()
	const window, timeout = 2 * time.Second, 200 * time.Millisecond
	b := setup(t, binancetest.Config{WeightLimit: 50, WeightWindow: window}, func(c *binance.Config) {
		c.WeightLimit, c.WeightWindow, c.HTTPTimeout = 50, window, timeout
	})
	// Start just after a window opens so that what follows spends one window.
	time.Sleep(time.Until(time.Now().Truncate(window).Add(window + 50*time.Millisecond)))
	// Time sync 1 and two exchangeInfo 20 each: 41; a third does not fit in 50.
	for range 2 {
		if _, err := b.client.Symbols(b.ctx); err != nil {
			t.Fatalf("symbols within budget: %v", err)
		}
	}
	start := time.Now()
	if _, err := b.client.Symbols(b.ctx); err != nil {
		t.Fatalf("symbols past the budget: got %v, want it to wait for the next window and succeed", err)
	}
	if waited := time.Since(start); waited < 2*timeout {
		t.Errorf("third call took %s, want it held back past the HTTP timeout %s", waited, timeout)
	}
	if st := b.client.Stats(); st.Waited <= timeout {
		t.Errorf("limiter waited %s, want more than the HTTP timeout %s", st.Waited, timeout)
	}
	if st := b.fake.Stats(); st.RateLimited != 0 || st.Banned != 0 {
		t.Errorf("fake answered %d 429s and %d 418s, want none", st.RateLimited, st.Banned)
	}
}

// TestRetryAfterOutlastsHTTPTimeout: a 429 whose Retry-After is longer than
// HTTPTimeout pauses the next request rather than failing it, and nothing is
// sent during the pause.
func TestRetryAfterOutlastsHTTPTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{FaultRetryAfter: time.Second}, func(c *binance.Config) {
		c.HTTPTimeout = 200 * time.Millisecond
	})
	b.fake.FailNext(binancetest.OpOpenOrders, binancetest.FaultRateLimited)
	if _, err := b.client.OpenOrders(b.ctx, "BTCUSDT"); !errors.Is(err, venue.ErrRateLimited) {
		t.Fatalf("first call: got %v, want rate limited", err)
	}
	start := time.Now()
	if _, err := b.client.OpenOrders(b.ctx, "BTCUSDT"); err != nil {
		t.Fatalf("call after the 429: got %v, want it to wait out Retry-After and succeed", err)
	}
	if waited := time.Since(start); waited < 900*time.Millisecond {
		t.Errorf("second call went out after %s, want it to wait out Retry-After (1 s)", waited)
	}
	if st := b.fake.Stats(); st.RateLimited != 1 || st.Banned != 0 {
		t.Errorf("fake answered %d 429s and %d 418s, want 1 and 0", st.RateLimited, st.Banned)
	}
}

// stallTransport never answers while stall is set, until the request's
// context ends.
type stallTransport struct {
	base  http.RoundTripper
	stall atomic.Bool
}

func (s *stallTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if s.stall.Load() {
		<-req.Context().Done()
		return nil, req.Context().Err()
	}
	return s.base.RoundTrip(req)
}

// TestHTTPTimeoutBoundsTheWire: HTTPTimeout still bounds a request that has
// left, and an order that timed out on the wire is an unknown outcome.
func TestHTTPTimeoutBoundsTheWire(t *testing.T) {
	t.Parallel()
	st := &stallTransport{base: http.DefaultTransport}
	b := setup(t, binancetest.Config{}, func(c *binance.Config) {
		c.HTTPTimeout, c.Transport = 200*time.Millisecond, st
	})
	if _, err := b.client.Symbols(b.ctx); err != nil { // the order's filters, read before it is sent
		t.Fatalf("first call: %v", err)
	}
	st.stall.Store(true)
	start := time.Now()
	_, err := b.client.PlaceOrder(b.ctx, venue.OrderRequest{ClientOrderID: "stall-1", Symbol: "BTCUSDT", Side: venue.Buy,
		Type: venue.Limit, Quantity: dec("0.001"), Price: dec("10000")})
	if !errors.Is(err, venue.ErrUnknownOutcome) {
		t.Fatalf("stalled order: got %v, want unknown outcome", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("stalled order failed after %s, want about the HTTP timeout (200 ms)", took)
	}
}

// TestOrderPacingHoldsOrdersBack: with the 10-second order count spent, the
// next order waits for the server's next window instead of going out into a
// 429, also when the orders were sent just after a window opened (where our
// guard still counted them in the previous window).
func TestOrderPacingHoldsOrdersBack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		start time.Time
	}{
		{"mid-window", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"just past a window boundary", time.Date(2026, 1, 2, 3, 4, 10, int(100*time.Millisecond), time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := clock.NewFake(tc.start)
			b := setup(t, binancetest.Config{Clock: clk, OrderLimit10s: 3}, func(c *binance.Config) { c.OrderLimit10s = 3 })
			b.fake.Fund(venue.WalletSpot, "USDT", dec("1000"))
			b.fake.SetPrice("BTCUSDT", dec("20000"))
			place := func(i int) error {
				_, err := b.client.PlaceOrder(b.ctx, venue.OrderRequest{ClientOrderID: fmt.Sprintf("pace-%d", i), Symbol: "BTCUSDT",
					Side: venue.Buy, Type: venue.Limit, Quantity: dec("0.001"), Price: dec("10000")})
				return err
			}
			for i := range 3 {
				if err := place(i); err != nil {
					t.Fatalf("order %d within the limit: %v", i, err)
				}
			}
			done := make(chan error, 1)
			go func() { done <- place(3) }()
			windowEnd := tc.start.Truncate(10 * time.Second).Add(10 * time.Second)
			for sent := false; !sent; {
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("fourth order: got %v, want it held back, then accepted", err)
					}
					if now := clk.Now(); now.Before(windowEnd) {
						t.Errorf("fourth order accepted at %s, before the server's next window at %s", now.Format(time.StampMilli), windowEnd.Format(time.StampMilli))
					}
					sent = true
				case <-time.After(5 * time.Millisecond):
					now := clk.Now()
					if now.After(windowEnd.Add(12 * time.Second)) {
						t.Fatalf("fourth order still held at %s", now.Format(time.StampMilli))
					}
					if n := b.fake.Stats().Orders; now.Before(windowEnd) && n != 3 {
						t.Fatalf("%d orders reached the fake before its next window, want 3", n)
					}
					clk.Advance(100 * time.Millisecond)
				}
			}
			if st := b.fake.Stats(); st.RateLimited != 0 || st.Orders != 4 {
				t.Errorf("fake answered %d 429s and took %d orders, want 0 and 4", st.RateLimited, st.Orders)
			}
		})
	}
}
