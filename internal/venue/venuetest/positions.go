package venuetest

import (
	"context"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// PositionHarness is what a venue with linear perpetuals gives the
// positions part of the suite: a Harness whose Venue is a
// venue.PositionReader, and a lever that trades the perpetual.
type PositionHarness struct {
	Harness
	// Trade fills a market order of qty on symbol's perpetual at the
	// current price (through the venue's own order path where it has one).
	Trade func(ctx context.Context, symbol string, side venue.Side, qty venue.Decimal) error
}

// RunPositions runs the positions part of the suite: open, mark, short,
// close and funding history of a linear perpetual, read through
// venue.PositionReader. newHarness is called once per subtest.
func RunPositions(t *testing.T, newHarness func(t *testing.T) *PositionHarness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b *posBundle)
	}{
		{"OpenLong", testOpenLong},
		{"MarkMovesUnrealized", testMarkMovesUnrealized},
		{"Short", testShort},
		{"CloseRemovesPosition", testClose},
		{"FundingPaymentsWindow", testFundingWindow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			if h == nil || h.Venue == nil || h.SetPrice == nil || h.Fund == nil || h.Trade == nil {
				t.Fatal("position harness: Venue, SetPrice, Fund and Trade are required")
			}
			pr, ok := h.Venue.(venue.PositionReader)
			if !ok {
				t.Fatalf("%T is not a venue.PositionReader", h.Venue)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			t.Cleanup(cancel)
			h.SetPrice(btc, dec("20000"))
			h.SetPrice(eth, dec("1000"))
			h.Fund(venue.WalletFutures, "USDT", dec("100000"))
			tc.fn(t, &posBundle{h: h, pr: pr, ctx: ctx})
		})
	}
}

type posBundle struct {
	h   *PositionHarness
	pr  venue.PositionReader
	ctx context.Context
}

func (b *posBundle) trade(t *testing.T, side venue.Side, qty string) {
	t.Helper()
	if err := b.h.Trade(b.ctx, btc, side, dec(qty)); err != nil {
		t.Fatalf("trade %s %s %s: %v", side, qty, btc, err)
	}
}

// position returns the BTCUSDT position, and whether there is one.
func (b *posBundle) position(t *testing.T) (venue.Position, bool) {
	t.Helper()
	ps, err := b.pr.Positions(b.ctx)
	if err != nil {
		t.Fatalf("positions: %v", err)
	}
	var out venue.Position
	n := 0
	for _, p := range ps {
		if p.Size.IsZero() {
			t.Errorf("positions: %s listed with size 0", p.Symbol)
		}
		if p.Symbol == btc {
			out = p
			n++
		}
	}
	if n > 1 {
		t.Fatalf("positions: %d rows for %s in one-way mode", n, btc)
	}
	return out, n == 1
}

func testOpenLong(t *testing.T, b *posBundle) {
	b.trade(t, venue.Buy, "0.01")
	p, ok := b.position(t)
	if !ok {
		t.Fatal("no BTCUSDT position after buying 0.01")
	}
	if !p.Size.Equal(dec("0.01")) || !p.EntryPrice.Equal(dec("20000")) || !p.MarkPrice.Equal(dec("20000")) {
		t.Errorf("long: size %s entry %s mark %s, want 0.01, 20000, 20000", p.Size, p.EntryPrice, p.MarkPrice)
	}
	if p.SettleAsset != "USDT" {
		t.Errorf("long: settle asset %q, want USDT", p.SettleAsset)
	}
	if !p.Leverage.IsPos() {
		t.Errorf("long: leverage %s, want > 0", p.Leverage)
	}
	if p.MarginMode != venue.MarginCross && p.MarginMode != venue.MarginIsolated {
		t.Errorf("long: margin mode %q", p.MarginMode)
	}
	if !p.UnrealizedPnL.IsZero() {
		t.Errorf("long at its entry price: unrealized %s, want 0", p.UnrealizedPnL)
	}
	if !p.LiquidationPrice.IsZero() && !p.LiquidationPrice.LessThan(p.EntryPrice) {
		t.Errorf("long: liquidation price %s not below entry %s", p.LiquidationPrice, p.EntryPrice)
	}
}

func testMarkMovesUnrealized(t *testing.T, b *posBundle) {
	b.trade(t, venue.Buy, "0.01")
	b.h.SetPrice(btc, dec("21000"))
	p, ok := b.position(t)
	if !ok {
		t.Fatal("no BTCUSDT position")
	}
	if !p.MarkPrice.Equal(dec("21000")) {
		t.Errorf("mark after the price moved to 21000: %s", p.MarkPrice)
	}
	// unrealized = size × (mark − entry) = 0.01 × 1000.
	if !p.UnrealizedPnL.Equal(dec("10")) {
		t.Errorf("unrealized at 21000 of 0.01 long from 20000: got %s, want 10", p.UnrealizedPnL)
	}
}

func testShort(t *testing.T, b *posBundle) {
	b.trade(t, venue.Sell, "0.02")
	b.h.SetPrice(btc, dec("19000"))
	p, ok := b.position(t)
	if !ok {
		t.Fatal("no BTCUSDT position after selling 0.02")
	}
	if !p.Size.Equal(dec("-0.02")) || !p.EntryPrice.Equal(dec("20000")) {
		t.Errorf("short: size %s entry %s, want -0.02 and 20000", p.Size, p.EntryPrice)
	}
	// A short gains as the price falls: −0.02 × (19000 − 20000) = +20.
	if !p.UnrealizedPnL.Equal(dec("20")) {
		t.Errorf("short unrealized at 19000: got %s, want 20", p.UnrealizedPnL)
	}
	if !p.LiquidationPrice.IsZero() && !p.LiquidationPrice.GreaterThan(p.EntryPrice) {
		t.Errorf("short: liquidation price %s not above entry %s", p.LiquidationPrice, p.EntryPrice)
	}
}

func testClose(t *testing.T, b *posBundle) {
	before := b.futuresUSDT(t)
	b.trade(t, venue.Buy, "0.01")
	b.h.SetPrice(btc, dec("20500"))
	b.trade(t, venue.Sell, "0.01")
	if p, ok := b.position(t); ok {
		t.Errorf("after closing: still a position %+v", p)
	}
	// Realized: 0.01 × (20500 − 20000) = +5, less the fees of 405 USDT
	// traded (at most 0.2%); no margin is left locked.
	got := b.futuresUSDT(t).Sub(before)
	if got.GreaterThan(dec("5")) || got.LessThan(dec("4.19")) {
		t.Errorf("futures USDT after a long from 20000 closed at 20500: %s, want 5 less fees (4.19 to 5)", got)
	}
}

// futuresUSDT is the futures wallet's USDT, free plus locked.
func (b *posBundle) futuresUSDT(t *testing.T) venue.Decimal {
	t.Helper()
	bs, err := b.h.Venue.Balances(b.ctx)
	if err != nil {
		t.Fatalf("balances: %v", err)
	}
	var sum venue.Decimal
	for _, x := range bs {
		if x.Wallet == venue.WalletFutures && x.Asset == "USDT" {
			sum = sum.Add(x.Free).Add(x.Locked)
		}
	}
	return sum
}

func testFundingWindow(t *testing.T, b *posBundle) {
	b.trade(t, venue.Buy, "0.01")
	to := time.Now().Add(time.Hour)
	from := to.Add(-30 * 24 * time.Hour)
	fs, err := b.pr.FundingPayments(b.ctx, btc, from, to)
	if err != nil {
		t.Fatalf("funding payments: %v", err)
	}
	seen := map[string]bool{}
	for i, f := range fs {
		if f.Symbol != btc || f.Asset == "" || f.ID == "" || seen[f.ID] {
			t.Errorf("funding %d: %+v (symbol, asset and a unique id are required)", i, f)
		}
		seen[f.ID] = true
		if f.Time.Before(from) || !f.Time.Before(to) {
			t.Errorf("funding %d at %s, outside [%s, %s)", i, f.Time, from, to)
		}
		if i > 0 && f.Time.Before(fs[i-1].Time) {
			t.Errorf("funding %d at %s before %s: not oldest first", i, f.Time, fs[i-1].Time)
		}
	}
	if _, err := b.pr.FundingPayments(b.ctx, btc, to, from); err != nil {
		t.Errorf("funding payments of an empty window: %v", err)
	}
}
