package binance_test

import (
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
)

// TestFuturesFundingPagesPastOneMillisecond: a settlement books the
// payments of several symbols at one millisecond, and a full page of 1000
// income rows can end inside such a group. The next page starts at that
// millisecond again (not the one after), so the rest of the group is read,
// and each payment is listed once.
func TestFuturesFundingPagesPastOneMillisecond(t *testing.T) {
	t.Parallel()
	fake, f, ctx := futuresSetup(t, binance.FuturesOptions{})
	t0 := time.Now().Add(-48 * time.Hour).Truncate(time.Millisecond).UTC()
	// 999 payments a second apart, then two (BTC and ETH) at one later
	// millisecond: the 1000th row is the first of those two.
	for i := range 999 {
		fake.AddFuturesFunding("BTCUSDT", dec("-0.01"), t0.Add(time.Duration(i)*time.Second))
	}
	settle := t0.Add(time.Hour)
	fake.AddFuturesFunding("BTCUSDT", dec("-0.5"), settle)
	fake.AddFuturesFunding("ETHUSDT", dec("0.25"), settle)
	fs, err := f.FundingPayments(ctx, "", t0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1001 {
		t.Fatalf("payments read: %d, want 1001", len(fs))
	}
	ids := map[string]bool{}
	sum := venue.Decimal{}
	for _, p := range fs {
		if ids[p.ID] {
			t.Errorf("payment %s listed twice", p.ID)
		}
		ids[p.ID] = true
		sum = sum.Add(p.Amount)
	}
	// 999 × −0.01 − 0.5 + 0.25
	if !sum.Equal(dec("-10.24")) {
		t.Errorf("sum of the payments %s, want -10.24", sum)
	}
	if last := fs[len(fs)-1]; !last.Time.Equal(settle) {
		t.Errorf("last payment at %s, want %s", last.Time, settle)
	}
}

// TestFuturesFundingSignFollowsThePosition: at a positive funding rate the
// long pays and the short receives (notional × rate, Binance's rule, as the
// fake settles it), and FundingPayments reports each with that sign.
func TestFuturesFundingSignFollowsThePosition(t *testing.T) {
	t.Parallel()
	fake, f, ctx := futuresSetup(t, binance.FuturesOptions{})
	fake.SetPrice("BTCUSDT", dec("20000"))
	fake.SetPrice("ETHUSDT", dec("1000"))
	fake.Fund(venue.WalletFutures, "USDT", dec("10000"))
	for _, o := range []venue.OrderRequest{
		{ClientOrderID: "fs-long", Symbol: "BTCUSDT", Side: venue.Buy, Type: venue.Market, Quantity: dec("0.01")},
		{ClientOrderID: "fs-short", Symbol: "ETHUSDT", Side: venue.Sell, Type: venue.Market, Quantity: dec("0.5")},
	} {
		if _, err := f.PlaceOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Now().Add(-time.Minute).Truncate(time.Millisecond).UTC()
	long := fake.SettleFuturesFunding("BTCUSDT", dec("0.0001"), at)
	short := fake.SettleFuturesFunding("ETHUSDT", dec("0.0001"), at)
	if flat := fake.SettleFuturesFunding("BNBUSDT", dec("0.0001"), at); !flat.IsZero() {
		t.Errorf("a flat symbol paid %s", flat)
	}
	if !long.Equal(dec("-0.02")) || !short.Equal(dec("0.05")) {
		t.Fatalf("settled long %s, short %s; want -0.02 (0.01 × 20000 × 0.0001 paid) and +0.05", long, short)
	}
	fs, err := f.FundingPayments(ctx, "", at.Add(-time.Second), time.Now())
	if err != nil || len(fs) != 2 {
		t.Fatalf("funding: %+v, %v; want two payments", fs, err)
	}
	got := map[string]venue.Decimal{}
	for _, p := range fs {
		got[p.Symbol] = p.Amount
	}
	if !got["BTCUSDT"].Equal(long) || !got["ETHUSDT"].Equal(short) {
		t.Errorf("funding read %v, want BTCUSDT %s and ETHUSDT %s", got, long, short)
	}
}
