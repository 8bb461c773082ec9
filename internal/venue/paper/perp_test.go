package paper_test

import (
	"context"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

func futures(t *testing.T, a *paper.Account) (free, locked venue.Decimal) {
	t.Helper()
	bs, err := a.Balances(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if b.Wallet == venue.WalletFutures && b.Asset == "USDT" {
			return b.Free, b.Locked
		}
	}
	return venue.Decimal{}, venue.Decimal{}
}

// TestPerpLifecycle: open a long with margin and fee, mark it, pay funding
// on the 8-hour boundaries a tick passes (a long pays a positive rate, a
// short receives it), close it and book the realized PnL, all exactly.
func TestPerpLifecycle(t *testing.T) {
	t.Parallel()
	d := udecimal.MustParse
	ctx := context.Background()
	ex := paper.MustNew(paper.Config{})
	if err := ex.ConfigurePerps(paper.PerpConfig{FundingRate: func(string, time.Time) venue.Decimal { return d("0.0001") }}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 7, 0, 0, 0, time.UTC)
	if err := ex.SetPrice("BTCUSDT", d("20000"), t0); err != nil {
		t.Fatal(err)
	}
	long, short := ex.Account("long"), ex.Account("short")
	for _, n := range []string{"long", "short"} {
		if err := ex.Fund(n, venue.WalletFutures, "USDT", d("10000")); err != nil {
			t.Fatal(err)
		}
	}
	p, err := long.TradePerp(ctx, "BTCUSDT", venue.Buy, d("0.1"), d("10"))
	if err != nil {
		t.Fatal(err)
	}
	// Margin 0.1 × 20000 / 10 = 200; fee 0.1% of 2000 = 2.
	if free, locked := futures(t, long); !free.Equal(d("9798")) || !locked.Equal(d("200")) {
		t.Errorf("after opening: free %s locked %s, want 9798 and 200", free, locked)
	}
	// Liquidated when 200 + 0.1(m − 20000) = 0.1 m × 0.005: m = 1800 / 0.0995.
	wantLiq, _ := d("1800").Div(d("0.0995"))
	if !p.Size.Equal(d("0.1")) || !p.EntryPrice.Equal(d("20000")) || !p.LiquidationPrice.Equal(wantLiq) || p.MarginMode != venue.MarginIsolated {
		t.Errorf("opened position %+v, want 0.1 at 20000, liquidation %s", p, wantLiq)
	}
	if _, err := short.TradePerp(ctx, "BTCUSDT", venue.Sell, d("0.1"), d("5")); err != nil {
		t.Fatal(err)
	}
	// 09:00 passes the 08:00 boundary: one funding at 21000.
	if err := ex.SetPrice("BTCUSDT", d("21000"), t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	ps, err := long.Positions(ctx)
	if err != nil || len(ps) != 1 || !ps[0].UnrealizedPnL.Equal(d("100")) || !ps[0].MarkPrice.Equal(d("21000")) {
		t.Fatalf("long at 21000: %+v %v, want unrealized PnL 100", ps, err)
	}
	from, to := t0, t0.Add(24*time.Hour)
	lf, _ := long.FundingPayments(ctx, "BTCUSDT", from, to)
	sf, _ := short.FundingPayments(ctx, "", from, to)
	if len(lf) != 1 || !lf[0].Amount.Equal(d("-0.21")) || !lf[0].Time.Equal(t0.Add(time.Hour)) || !lf[0].PositionSize.Equal(d("0.1")) {
		t.Errorf("long funding %+v, want one payment of -0.21 at 08:00", lf)
	}
	if len(sf) != 1 || !sf[0].Amount.Equal(d("0.21")) {
		t.Errorf("short funding %+v, want one receipt of 0.21", sf)
	}
	// Two more boundaries (16:00, 00:00) in one tick: two payments.
	if err := ex.SetPrice("BTCUSDT", d("21000"), t0.Add(18*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if lf, _ = long.FundingPayments(ctx, "BTCUSDT", from, to); len(lf) != 3 {
		t.Errorf("long funding payments after 01:00 the next day: %d, want 3", len(lf))
	}
	if _, err := long.TradePerp(ctx, "BTCUSDT", venue.Sell, d("0.1"), d("10")); err != nil {
		t.Fatal(err)
	}
	// 10000 − 2 (fee) − 3 × 0.21 (funding) + 100 (realized) − 2.1 (fee).
	if free, locked := futures(t, long); !free.Equal(d("10095.27")) || !locked.IsZero() {
		t.Errorf("after closing: free %s locked %s, want 10095.27 and 0", free, locked)
	}
	if ps, _ := long.Positions(ctx); len(ps) != 0 {
		t.Errorf("positions after closing: %+v", ps)
	}
}

// TestPerpLiquidation: a tick through the liquidation price closes the
// position and the account loses its margin, nothing more.
func TestPerpLiquidation(t *testing.T) {
	t.Parallel()
	d := udecimal.MustParse
	ctx := context.Background()
	ex := paper.MustNew(paper.Config{})
	if err := ex.SetPrice("ETHUSDT", d("2000"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	a := ex.Account("lev")
	if err := ex.Fund("lev", venue.WalletFutures, "USDT", d("1000")); err != nil {
		t.Fatal(err)
	}
	p, err := a.TradePerp(ctx, "ETHUSDT", venue.Sell, d("1"), d("20"))
	if err != nil {
		t.Fatal(err)
	}
	// Short 1 at 2000, margin 100: liquidated at (100 + 2000) / 1.005.
	if err := ex.SetPrice("ETHUSDT", d("2080"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if ps, _ := a.Positions(ctx); len(ps) != 1 || len(a.Liquidations()) != 0 {
		t.Fatalf("at 2080 (liquidation %s): positions %+v, liquidations %+v", p.LiquidationPrice, ps, a.Liquidations())
	}
	if err := ex.SetPrice("ETHUSDT", d("2090"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	liq := a.Liquidations()
	// Closed at the liquidation price 2100/1.005 = 2089.5522..., a short's
	// rounded down to the 0.01 tick: 2089.55. Realized −1 × 89.55; the fee
	// is the margin left there, 100 − 89.55 = 10.45; the loss the margin.
	if len(liq) != 1 || !liq[0].Size.Equal(d("-1")) || !liq[0].Loss.Equal(d("100")) || !liq[0].Price.Equal(d("2089.55")) ||
		!liq[0].RealizedPnL.Equal(d("-89.55")) || !liq[0].Fee.Equal(d("10.45")) || liq[0].Settle != "USDT" || liq[0].ID == "" {
		t.Fatalf("liquidations %+v, want the short of 1 closed at 2089.55, realized -89.55, fee 10.45, losing its margin 100", liq)
	}
	tr := liq[0].Trade()
	if tr.Side != venue.Buy || !tr.Quantity.Equal(d("1")) || !tr.Price.Equal(d("2089.55")) || !tr.Fee.Equal(d("10.45")) ||
		tr.FeeAsset != "USDT" || tr.ID != liq[0].ID {
		t.Errorf("liquidation trade %+v, want a buy of 1 at 2089.55 with fee 10.45 USDT", tr)
	}
	if ps, _ := a.Positions(ctx); len(ps) != 0 {
		t.Errorf("positions after liquidation: %+v", ps)
	}
	// 1000 − 2 (fee on 2000) − 100 (margin lost).
	if free, locked := futures(t, a); !free.Equal(d("898")) || !locked.IsZero() {
		t.Errorf("after liquidation: free %s locked %s, want 898 and 0", free, locked)
	}
	if _, err := a.TradePerp(ctx, "ETHUSDT", venue.Buy, d("10"), d("2")); err == nil {
		t.Error("a position needing 10460 of margin on 898: nil error")
	}
}
