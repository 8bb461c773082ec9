package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// TestFundingPayments: payments keep their sign exactly and are stored once
// per (account, symbol, payment id), on both engines.
func TestFundingPayments(t *testing.T) {
	t.Parallel()
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := storetest.Open(t, eng.URL(t))
			a := &store.Account{Name: "perp", Venue: "paper"}
			if err := db.CreateAccount(ctx, a); err != nil {
				t.Fatal(err)
			}
			t0 := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
			rows := []store.FundingPayment{
				{AccountID: a.ID, Symbol: "BTCUSDT", PaymentID: "7", Asset: "USDT", Amount: udecimal.MustParse("-0.21"),
					PositionSize: udecimal.MustParse("0.1"), Source: "backfill", At: t0},
				{AccountID: a.ID, Symbol: "ETHUSDT", PaymentID: "7", Asset: "USDT", Amount: udecimal.MustParse("0.000000012345"),
					PositionSize: udecimal.MustParse("-3"), Source: "backfill", At: t0.Add(8 * time.Hour)},
			}
			for i, want := range []int{2, 0} {
				n, err := db.InsertFundingPayments(ctx, rows)
				if err != nil || n != want {
					t.Fatalf("insert #%d: %d new, %v; want %d", i+1, n, err, want)
				}
			}
			got, err := db.FundingPayments(ctx, a.ID, "", time.Time{})
			if err != nil || len(got) != 2 {
				t.Fatalf("list: %+v, %v", got, err)
			}
			if !got[0].Amount.Equal(rows[0].Amount) || !got[1].Amount.Equal(rows[1].Amount) || !got[1].PositionSize.Equal(rows[1].PositionSize) ||
				!got[0].At.Equal(t0) || got[1].Symbol != "ETHUSDT" {
				t.Errorf("list = %+v, want the rows as stored", got)
			}
			if got, _ := db.FundingPayments(ctx, a.ID, "ETHUSDT", t0.Add(8*time.Hour)); len(got) != 0 {
				t.Errorf("ETHUSDT before 16:00: %+v, want none", got)
			}
		})
	}
}
