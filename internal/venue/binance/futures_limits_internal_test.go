package binance

import (
	"net/http"
	"testing"
	"time"
)

// TestFuturesOrderBudget: a USDⓈ-M order spends the futures limiter's
// order counts (300 per 10 s, 1,200 per minute, apart from spot's 50 per
// 10 s and 160,000 per day) and no IP weight, as documented for New Order;
// the minute count follows X-MBX-ORDER-COUNT-1M.
func TestFuturesOrderBudget(t *testing.T) {
	t.Parallel()
	c, err := New(Config{APIKey: "k", APISecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if got := costOf(http.MethodPost, "/fapi/v1/order", nil); !got.order || got.weight != 0 {
		t.Errorf("futures new order: cost %+v, want an order of weight 0", got)
	}
	if got := costOf(http.MethodGet, "/fapi/v1/income", nil); got.weight != 30 || got.order {
		t.Errorf("income: cost %+v, want weight 30", got)
	}
	if got := costOf(http.MethodGet, "/fapi/v1/openOrders", nil); got.weight != 40 {
		t.Errorf("all open futures orders: weight %d, want 40", got.weight)
	}
	fl, sl := c.futLim, c.lim
	if fl.orders10s.limit != 300 || fl.orders10s.window != 10*time.Second || fl.ordersDay.limit != 1200 || fl.ordersDay.window != time.Minute {
		t.Errorf("futures order buckets: %d/%s and %d/%s, want 300/10s and 1200/1m", fl.orders10s.limit, fl.orders10s.window,
			fl.ordersDay.limit, fl.ordersDay.window)
	}
	if sl.orders10s.limit != 50 || sl.ordersDay.window != 24*time.Hour {
		t.Errorf("spot order buckets changed: %d per 10 s, day window %s", sl.orders10s.limit, sl.ordersDay.window)
	}
	// The minute count is adopted from the futures header.
	tk, err := fl.acquire(t.Context(), cost{order: true})
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("X-Mbx-Order-Count-1m", "700")
	fl.observe(tk, h)
	if fl.ordersDay.used != 700 {
		t.Errorf("futures minute order count after the header: %d, want 700", fl.ordersDay.used)
	}
}
