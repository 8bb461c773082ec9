package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// TestPerpFundingAndLiquidationJournaled: a running node records the paper
// perpetual's funding payment and liquidation of an account on its own
// schedule, each once: the funding row (+0.2 received by the short, see
// journal's TestPerpFundingAndLiquidation for the numbers), a funding event,
// the liquidation's closing fill at 2089.55 with its fee 10.45 and a
// liquidation event.
func TestPerpFundingAndLiquidationJournaled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := udecimal.MustParse
	dbURL := storetest.SQLiteURL(t)
	db, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	acct := &store.Account{Name: "perp", Venue: "paper"}
	if err := db.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, app.Config{DBURL: dbURL, ReconcileEvery: 20 * time.Millisecond})
	ex := n.app.PaperExchange()
	// The settlement is the last 8-hour boundary, within the node's first
	// read (the last 24 hours); the ticks are market time.
	boundary := time.Now().UTC().Truncate(8 * time.Hour)
	if err := ex.SetPrice("ETHUSDT", d("2000"), boundary.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := ex.Fund("perp", venue.WalletFutures, "USDT", d("1000")); err != nil {
		t.Fatal(err)
	}
	if _, err := ex.Account("perp").TradePerp(ctx, "ETHUSDT", venue.Sell, d("1"), d("20")); err != nil {
		t.Fatal(err)
	}
	for i, px := range []string{"2000", "2090"} {
		if err := ex.SetPrice("ETHUSDT", d(px), boundary.Add(time.Duration(i+1)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	var evs []store.JournalEvent
	eventually(t, 20*time.Second, "funding and liquidation journaled", func() bool {
		evs, err = db.JournalEvents(ctx, store.EventQuery{AccountID: acct.ID, Ascending: true, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]int{}
		for _, e := range evs {
			kinds[e.Kind]++
		}
		return kinds[string(journal.KindFunding)] == 1 && kinds[string(journal.KindLiquidation)] == 1
	})
	time.Sleep(100 * time.Millisecond) // a few more rounds of the loop: still once each
	evs, _ = db.JournalEvents(ctx, store.EventQuery{AccountID: acct.ID, Ascending: true, Limit: 100})
	if len(evs) != 2 {
		t.Errorf("events %+v, want one funding and one liquidation", evs)
	}
	fps, err := db.FundingPayments(ctx, acct.ID, "", time.Time{})
	if err != nil || len(fps) != 1 || !fps[0].Amount.Equal(d("0.2")) {
		t.Errorf("funding rows %+v, %v; want +0.2", fps, err)
	}
	fills, err := db.Fills(ctx, store.FillQuery{AccountID: acct.ID})
	if err != nil || len(fills) != 1 || fills[0].Source != journal.SourceLiquidation || !fills[0].Price.Equal(d("2089.55")) ||
		!fills[0].Fee.Equal(d("10.45")) || fills[0].Side != string(venue.Buy) {
		t.Errorf("fills %+v, %v; want the liquidation's buy of 1 at 2089.55, fee 10.45", fills, err)
	}
}
