package binancetest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

func placeFaultClient(t *testing.T) (*binancetest.Server, *binance.Client) {
	t.Helper()
	return placeFaultClientOn(t, clock.Real{})
}

// placeFaultClientOn is placeFaultClient with the fake and the client on
// clk.
func placeFaultClientOn(t *testing.T, clk clock.Clock) (*binancetest.Server, *binance.Client) {
	t.Helper()
	fake := binancetest.Start(t, binancetest.Config{Clock: clk})
	fake.SetPrice("BTCUSDT", udecimal.MustParse("30000"))
	fake.Fund(venue.WalletSpot, "USDT", udecimal.MustParse("100000"))
	c, err := binance.New(binance.Config{APIKey: fake.APIKey(), APISecret: fake.APISecret(), BaseURL: fake.URL,
		WSBaseURL: fake.StreamURL, WSAPIURL: fake.WSAPIURL, RecvWindow: 300 * time.Millisecond, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return fake, c
}

func marketBuy(cid string) venue.OrderRequest {
	return venue.OrderRequest{ClientOrderID: cid, Symbol: "BTCUSDT", Side: venue.Buy, Type: venue.Market, QuoteQuantity: udecimal.MustParse("20")}
}

// An order placed under a visibility delay executes and is answered, but
// the lookup, the order history and the trade history lack it until the
// delay has passed (on a fake clock both the fake and the client read).
func TestPlacePlanVisibility(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Now())
	fake, c := placeFaultClientOn(t, clk)
	fake.SetPlacePlan(func(string) binancetest.PlaceFault { return binancetest.PlaceFault{Visibility: 400 * time.Millisecond} })
	o, err := c.PlaceOrder(ctx, marketBuy("hidden-1"))
	if err != nil || o.Status != venue.StatusFilled {
		t.Fatalf("place: %+v, %v", o, err)
	}
	if _, err := c.QueryOrder(ctx, "BTCUSDT", "hidden-1"); !errors.Is(err, venue.ErrOrderNotFound) {
		t.Fatalf("query while hidden: %v, want not found", err)
	}
	hist, err := c.OrderHistory(ctx, "BTCUSDT", time.Now().Add(-time.Minute), time.Now().Add(time.Minute))
	if err != nil || len(hist) != 0 {
		t.Fatalf("history while hidden: %d orders, %v", len(hist), err)
	}
	clk.Advance(399 * time.Millisecond)
	if _, err := c.QueryOrder(ctx, "BTCUSDT", "hidden-1"); !errors.Is(err, venue.ErrOrderNotFound) {
		t.Fatalf("query 399 ms after: %v, want not found", err)
	}
	clk.Advance(time.Millisecond)
	if got, err := c.QueryOrder(ctx, "BTCUSDT", "hidden-1"); err != nil || !got.ExecutedQty.Equal(o.ExecutedQty) {
		t.Fatalf("query once visible: %+v, %v", got, err)
	}
	if hist, err := c.OrderHistory(ctx, "BTCUSDT", time.Now().Add(-time.Minute), time.Now().Add(time.Minute)); err != nil || len(hist) != 1 {
		t.Fatalf("history once visible: %d orders, %v", len(hist), err)
	}
}

// An answer dropped or a 503 after execution: the order executed, the
// client cannot tell, and the arrival log shows one arrival of each id.
func TestPlacePlanAfterExecution(t *testing.T) {
	ctx := context.Background()
	fake, c := placeFaultClient(t)
	fake.SetPlacePlan(func(cid string) binancetest.PlaceFault {
		if cid == "drop-1" {
			return binancetest.PlaceFault{After: binancetest.FaultDropAfterExecution}
		}
		return binancetest.PlaceFault{After: binancetest.FaultTimeoutAfterExecution}
	})
	for _, cid := range []string{"drop-1", "503-1"} {
		_, err := c.PlaceOrder(ctx, marketBuy(cid))
		var ve *venue.Error
		if !errors.As(err, &ve) || ve.Class != venue.ClassUnknown {
			t.Fatalf("%s: %v, want an unknown outcome", cid, err)
		}
		if got, err := c.QueryOrder(ctx, "BTCUSDT", cid); err != nil || got.Status != venue.StatusFilled {
			t.Fatalf("%s executed anyway: %+v, %v", cid, got, err)
		}
	}
	as := fake.Arrivals()
	if len(as) != 2 || as[0].ClientOrderID != "drop-1" || as[0].Status != 0 || !as[0].Accepted ||
		as[1].ClientOrderID != "503-1" || as[1].Status != 503 || !as[1].Accepted {
		t.Fatalf("arrivals %+v", as)
	}
}

// A request held past its recvWindow is refused -1021 and logged as a
// refused arrival; one held within it executes.
func TestPlacePlanHold(t *testing.T) {
	ctx := context.Background()
	fake, c := placeFaultClient(t)
	fake.SetPlacePlan(func(cid string) binancetest.PlaceFault {
		hold := 50 * time.Millisecond
		if cid == "late-1" {
			hold = 500 * time.Millisecond
		}
		ch := make(chan struct{})
		time.AfterFunc(hold, func() { close(ch) })
		return binancetest.PlaceFault{Wait: ch}
	})
	if _, err := c.PlaceOrder(ctx, marketBuy("late-1")); err == nil {
		t.Fatal("a request held past its recvWindow executed")
	}
	if _, err := c.PlaceOrder(ctx, marketBuy("soon-1")); err != nil {
		t.Fatal(err)
	}
	as := fake.Arrivals()
	if len(as) < 2 || as[0].ClientOrderID != "late-1" || as[0].Code != -1021 || as[0].Accepted {
		t.Fatalf("arrivals %+v, want late-1 refused -1021 first", as)
	}
	if last := as[len(as)-1]; last.ClientOrderID != "soon-1" || !last.Accepted {
		t.Fatalf("arrivals %+v, want soon-1 accepted last", as)
	}
	if n := len(fake.Orders()); n != 1 {
		t.Fatalf("%d orders at the venue, want 1", n)
	}
}

// A silent order's placement events never reach the user stream; the next
// order's do.
func TestPlacePlanSilent(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fake, c := placeFaultClient(t)
	fake.SetPlacePlan(func(cid string) binancetest.PlaceFault { return binancetest.PlaceFault{Silent: cid == "quiet-1"} })
	events, err := c.SubscribeUser(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// SubscribeUser returns once the fake answered the subscription, which
	// it registers before answering: the stream is listening.
	for _, cid := range []string{"quiet-1", "loud-1"} {
		if _, err := c.PlaceOrder(ctx, marketBuy(cid)); err != nil {
			t.Fatal(err)
		}
	}
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Order != nil && ev.Order.ClientOrderID == "quiet-1" || ev.Trade != nil && ev.Trade.ClientOrderID == "quiet-1" {
				t.Fatalf("the stream reported the silent order: %+v", ev)
			}
			if ev.Trade != nil && ev.Trade.ClientOrderID == "loud-1" {
				return // quiet-1's events would have come first
			}
		case <-timeout:
			t.Fatal("no trade event of loud-1 within 5 s")
		}
	}
}
