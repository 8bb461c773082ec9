package binance_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// TestWAFBlockPausesTheHost: an HTTP 403 (the WAF blocked the IP; HTML
// body) pauses every request to the host and raises the alert, and no
// request goes out during the pause.
func TestWAFBlockPausesTheHost(t *testing.T) {
	t.Parallel()
	var alerts atomic.Int32
	var pause atomic.Value
	b := setup(t, binancetest.Config{}, func(c *binance.Config) {
		c.OnBan = func(p binance.Pause) { alerts.Add(1); pause.Store(p) }
	})
	if _, err := b.client.OpenOrders(b.ctx, "BTCUSDT"); err != nil {
		t.Fatal(err)
	}
	b.fake.FailNextForbidden(binancetest.OpOpenOrders)
	before := time.Now()
	_, err := b.client.OpenOrders(b.ctx, "BTCUSDT")
	var ve *venue.Error
	if !errors.As(err, &ve) || ve.Class != venue.ClassBanned || !strings.Contains(ve.Message, "WAF") ||
		ve.Until.Before(before.Add(5*time.Minute-time.Second)) {
		t.Fatalf("after a 403: %v; want banned (paused) about 5 minutes, naming the WAF", err)
	}
	if alerts.Load() != 1 {
		t.Fatalf("%d alerts, want 1", alerts.Load())
	}
	// The alert names the WAF, not a 418 ban: the cause and what to do differ.
	if p := pause.Load().(binance.Pause); p.Cause != binance.PauseWAF || p.Status != 403 || !p.Until.Equal(ve.Until) || p.Host == "" {
		t.Errorf("OnBan told %+v; want cause waf, HTTP 403, until %s, the host", p, ve.Until)
	}
	n := b.fake.Stats().Requests
	_, err = b.client.PlaceOrder(b.ctx, venue.OrderRequest{ClientOrderID: "waf-1", Symbol: "BTCUSDT", Side: venue.Buy,
		Type: venue.Limit, Quantity: dec("0.001"), Price: dec("10000")})
	if !errors.Is(err, venue.ErrBanned) || b.fake.Stats().Requests != n {
		t.Errorf("order during the pause: %v, %d requests sent; want banned, none sent", err, b.fake.Stats().Requests-n)
	}
}

// TestArchivedOrderSettles: Binance answers -2026 for an order canceled or
// expired with nothing executed over 90 days ago; it settles as canceled
// with nothing executed instead of staying unknown.
func TestArchivedOrderSettles(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{}, nil)
	b.fake.Fund(venue.WalletSpot, "USDT", dec("1000"))
	if _, err := b.client.PlaceOrder(b.ctx, venue.OrderRequest{ClientOrderID: "arch-1", Symbol: "BTCUSDT", Side: venue.Buy,
		Type: venue.Limit, Quantity: dec("0.001"), Price: dec("10000")}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.client.CancelOrder(b.ctx, "BTCUSDT", "arch-1"); err != nil {
		t.Fatal(err)
	}
	if !b.fake.Archive("arch-1") {
		t.Fatal("fake did not archive")
	}
	o, err := b.client.QueryOrder(b.ctx, "BTCUSDT", "arch-1")
	if err != nil || o.Status != venue.StatusCanceled || !o.ExecutedQty.IsZero() || o.ClientOrderID != "arch-1" {
		t.Fatalf("archived order: %+v, %v; want canceled, nothing executed", o, err)
	}
	// An order that never existed is still not found.
	if _, err := b.client.QueryOrder(b.ctx, "BTCUSDT", "never"); !errors.Is(err, venue.ErrOrderNotFound) {
		t.Errorf("unknown order: %v, want not found", err)
	}
}
