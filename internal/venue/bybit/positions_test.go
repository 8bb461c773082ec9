package bybit_test

import (
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/bybittest"
)

// TestPositions reads a long and a short linear position back from the
// fake, and leaves a closed one out.
func TestPositions(t *testing.T) {
	t.Parallel()
	fake := bybittest.New(t, bybittest.Config{})
	c := newClient(t, fake)
	now := time.UnixMilli(time.Now().UnixMilli()).UTC()
	long := venue.Position{Symbol: "BTCUSDT", SettleAsset: "USDT", Size: dec("0.25"), EntryPrice: dec("60000"), MarkPrice: dec("61000"),
		UnrealizedPnL: dec("250"), Leverage: dec("5"), LiquidationPrice: dec("48500.5"), MarginMode: venue.MarginIsolated, Updated: now}
	short := venue.Position{Symbol: "ETHUSDC", SettleAsset: "USDC", Size: dec("-3"), EntryPrice: dec("3000"), MarkPrice: dec("2990"),
		UnrealizedPnL: dec("30"), Leverage: dec("10"), MarginMode: venue.MarginCross, Updated: now}
	fake.SetPosition(long)
	fake.SetPosition(short)
	fake.SetPosition(venue.Position{Symbol: "SOLUSDT", SettleAsset: "USDT", Size: dec("0")})
	ps, err := c.Positions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 {
		t.Fatalf("positions: got %+v, want the long and the short", ps)
	}
	for i, want := range []venue.Position{long, short} {
		g := ps[i]
		check(t, want.Symbol, field{"symbol", g.Symbol, want.Symbol}, field{"settle", g.SettleAsset, want.SettleAsset},
			field{"size", g.Size, want.Size}, field{"entry", g.EntryPrice, want.EntryPrice}, field{"mark", g.MarkPrice, want.MarkPrice},
			field{"upnl", g.UnrealizedPnL, want.UnrealizedPnL}, field{"leverage", g.Leverage, want.Leverage},
			field{"liquidation", g.LiquidationPrice, want.LiquidationPrice}, field{"mode", g.MarginMode, want.MarginMode},
			field{"updated", g.Updated, want.Updated})
	}
}

// TestFundingPaymentsWindows: a 20-day span is asked 7 days at a time (the
// fake refuses longer), and every payment in it comes back once, oldest
// first, with its sign.
func TestFundingPaymentsWindows(t *testing.T) {
	t.Parallel()
	fake := bybittest.New(t, bybittest.Config{})
	c := newClient(t, fake)
	from := time.Now().Add(-20 * 24 * time.Hour).Truncate(time.Hour).UTC()
	var want []venue.FundingPayment
	for i := range 60 { // every 8 hours for 20 days
		amt := dec("-1.25")
		if i%3 == 0 {
			amt = dec("0.5")
		}
		f := venue.FundingPayment{ID: "f" + time.Duration(i).String(), Symbol: "BTCUSDT", Asset: "USDT", Amount: amt,
			PositionSize: dec("0.1"), Time: from.Add(time.Duration(i) * 8 * time.Hour)}
		fake.AddFunding(f)
		want = append(want, f)
	}
	fake.AddFunding(venue.FundingPayment{ID: "other", Symbol: "ETHUSDT", Asset: "USDT", Amount: dec("1"), Time: from.Add(time.Hour)})
	got, err := c.FundingPayments(t.Context(), "BTCUSDT", from, from.Add(20*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("payments: got %d, want %d", len(got), len(want))
	}
	sum := venue.Decimal{}
	for i, g := range got {
		check(t, want[i].ID, field{"id", g.ID, want[i].ID}, field{"amount", g.Amount, want[i].Amount},
			field{"time", g.Time, want[i].Time}, field{"size", g.PositionSize, want[i].PositionSize})
		sum = sum.Add(g.Amount)
	}
	// 20 payments of +0.5, 40 of -1.25.
	if !sum.Equal(dec("-40")) {
		t.Errorf("sum of payments %s, want -40", sum)
	}
	if n := fake.Calls("/v5/account/transaction-log"); n < 3 {
		t.Errorf("transaction-log requests: %d, want at least 3 windows of 7 days for 20 days", n)
	}
}

// TestOrderHistory lists a symbol's open and closed orders of a window,
// oldest first, and none of another symbol or from before the window.
func TestOrderHistory(t *testing.T) {
	t.Parallel()
	fake := bybittest.New(t, bybittest.Config{})
	c := newClient(t, fake)
	ctx := t.Context()
	for sym, px := range map[string]string{"BTCUSDT": "20000", "ETHUSDT": "1000"} {
		if err := fake.SetPrice(sym, dec(px)); err != nil {
			t.Fatal(err)
		}
	}
	if err := fake.Fund(venue.WalletSpot, "USDT", dec("100000")); err != nil {
		t.Fatal(err)
	}
	place := func(id, sym string, typ venue.OrderType) {
		req := venue.OrderRequest{ClientOrderID: id, Symbol: sym, Side: venue.Buy, Type: typ, Quantity: dec("0.01"), Price: dec("15000")}
		if typ == venue.Market {
			req.Price = venue.Decimal{}
		}
		if _, err := c.PlaceOrder(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	place("h-old", "BTCUSDT", venue.Market)
	time.Sleep(5 * time.Millisecond)
	from := time.Now()
	place("h-filled", "BTCUSDT", venue.Market)
	// Bybit's times are whole milliseconds: two orders created in one
	// millisecond have no order between them to report.
	time.Sleep(2 * time.Millisecond)
	place("h-open", "BTCUSDT", venue.Limit)
	place("h-eth", "ETHUSDT", venue.Market)
	got, err := c.OrderHistory(ctx, "BTCUSDT", from, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, o := range got {
		ids = append(ids, o.ClientOrderID+"/"+string(o.Status))
	}
	if len(ids) != 2 || ids[0] != "h-filled/filled" || ids[1] != "h-open/new" {
		t.Errorf("order history: got %v, want h-filled (filled) then h-open (new)", ids)
	}
	if c.RecvWindow() != 5*time.Second {
		t.Errorf("recv window %s, want the default 5s", c.RecvWindow())
	}
}
