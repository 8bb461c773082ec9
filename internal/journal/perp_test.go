package journal_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/alert"
	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/pnl"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/tradecsv"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// shortETHPerp is a paper account "perp" with 1,000 USDT in futures that
// sells 1 ETHUSDT perpetual at 2,000 (20× leverage) at t0, 07:00; then the
// mark is 2,000 at 09:00 and 2,090 at 10:00.
func shortETHPerp(t *testing.T) (*store.DB, *store.Account, *paper.Account, time.Time) {
	t.Helper()
	db := storetest.MustOpenSQLite(t)
	a := &store.Account{Name: "perp", Venue: "paper"}
	if err := db.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	ex := paper.MustNew(paper.Config{})
	t0 := time.Date(2026, 1, 1, 7, 0, 0, 0, time.UTC)
	if err := ex.SetPrice("ETHUSDT", dec("2000"), t0); err != nil {
		t.Fatal(err)
	}
	if err := ex.Fund("perp", venue.WalletFutures, "USDT", dec("1000")); err != nil {
		t.Fatal(err)
	}
	acct := ex.Account("perp")
	if _, err := acct.TradePerp(ctx, "ETHUSDT", venue.Sell, dec("1"), dec("20")); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		px string
		h  int
	}{{"2000", 2}, {"2090", 3}} {
		if err := ex.SetPrice("ETHUSDT", dec(step.px), t0.Add(time.Duration(step.h)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	return db, a, acct, t0
}

// TestPerpFundingAndLiquidation: a short on the paper perpetual receives
// one funding and is liquidated; both are journaled once (a second record is
// a no-op), and the PnL of the stored fills and funding equals the change of
// the futures wallet exactly. By hand:
//
//	short 1 ETHUSDT at 2000, leverage 20: margin 100, fee 2 (0.1%)
//	08:00 funding at 2000, rate 0.0001: the short receives +0.2
//	10:00 tick 2090 crosses the liquidation price (100 + 2000) / 1.005 =
//	      2089.5522…, closed at 2089.55 (the tick, rounded for the short):
//	      realized −89.55, liquidation fee 100 − 89.55 = 10.45
//	PnL: realized −89.55, fees 12.45, funding +0.2, net −101.8
//	wallet: 1000 − 2 + 0.2 − 100 = 898.2 = 1000 − 101.8
func TestPerpFundingAndLiquidation(t *testing.T) {
	t.Parallel()
	db, a, acct, t0 := shortETHPerp(t)
	j := journal.Open(db, journal.Options{Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { j.Close() })
	rec := &alert.Recorder{}
	x := journal.NewExecutor(j, acct, a.ID, journal.ExecutorOptions{Alerter: rec, Logger: slog.New(slog.DiscardHandler)})

	// The opening fill as the venue reported it (TradePerp's taker fill).
	open := venue.Trade{ID: "open-1", Symbol: "ETHUSDT", Side: venue.Sell, Price: dec("2000"), Quantity: dec("1"),
		QuoteQty: dec("2000"), Fee: dec("2"), FeeAsset: "USDT", Time: t0}
	if _, err := x.RecordTrade(ctx, open, ""); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{1, 0} {
		n, err := x.SyncFunding(ctx, acct, t0, t0.Add(24*time.Hour))
		if err != nil || n != want {
			t.Fatalf("sync funding #%d: %d new, %v; want %d", i+1, n, err, want)
		}
	}
	liqs := acct.Liquidations()
	if len(liqs) != 1 {
		t.Fatalf("liquidations %+v, want 1", liqs)
	}
	for i := range 2 {
		isNew, err := x.RecordLiquidation(ctx, liqs[0].Trade(), "")
		if err != nil || isNew != (i == 0) {
			t.Fatalf("record liquidation #%d: new %v, %v", i+1, isNew, err)
		}
	}

	evs, err := db.JournalEvents(ctx, store.EventQuery{AccountID: a.ID, Ascending: true, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
		switch journal.Kind(e.Kind) {
		case journal.KindFunding:
			if !e.Fee.Equal(dec("0.2")) || e.FeeAsset != "USDT" || !e.Quantity.Equal(dec("-1")) {
				t.Errorf("funding event %+v, want +0.2 USDT received on a position of -1", e)
			}
		case journal.KindLiquidation:
			if e.Side != "BUY" && e.Side != string(venue.Buy) || !e.Price.Equal(dec("2089.55")) || !e.Fee.Equal(dec("10.45")) {
				t.Errorf("liquidation event %+v, want a buy at 2089.55 with fee 10.45", e)
			}
		}
	}
	if want := []string{"fill", "funding", "liquidation"}; len(kinds) != 3 || kinds[0] != want[0] || kinds[1] != want[1] || kinds[2] != want[2] {
		t.Fatalf("journal kinds %v, want %v (each once)", kinds, want)
	}
	if len(rec.Alerts()) != 1 {
		t.Errorf("alerts %+v, want one for the liquidation", rec.Alerts())
	}

	// PnL from the store: fills and funding.
	e, err := pnl.NewEngine(pnl.AvgCost, nil)
	if err != nil {
		t.Fatal(err)
	}
	fills, err := db.Fills(ctx, store.FillQuery{AccountID: a.ID})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fills {
		if err := e.Add(&tradecsv.Trade{Time: f.At, Symbol: f.Symbol, Side: venue.Side(f.Side), Price: f.Price,
			Quantity: f.Quantity, Fee: f.Fee, FeeAsset: f.FeeAsset, ID: f.TradeID}); err != nil {
			t.Fatal(err)
		}
	}
	fps, err := db.FundingPayments(ctx, a.ID, "", time.Time{})
	if err != nil || len(fps) != 1 {
		t.Fatalf("funding rows %+v, %v; want 1", fps, err)
	}
	for _, f := range fps {
		if err := e.AddFunding(pnl.Funding{Symbol: f.Symbol, Asset: f.Asset, Amount: f.Amount, Time: f.At, ID: f.PaymentID}); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := e.Report(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Symbols[0]
	if !s.RealizedPnL.Equal(dec("-89.55")) || !s.FeesQuote.Equal(dec("12.45")) || !s.Funding.Equal(dec("0.2")) ||
		!s.NetPnL.Equal(dec("-101.8")) || !s.Position.IsZero() {
		t.Errorf("pnl %+v, want realized -89.55, fees 12.45, funding 0.2, net -101.8, flat", s)
	}
	bs, err := acct.Balances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if b.Wallet == venue.WalletFutures && b.Asset == "USDT" && !b.Free.Add(b.Locked).Equal(dec("1000").Add(s.NetPnL)) {
			t.Errorf("futures wallet %s + %s, want 1000 + net %s", b.Free, b.Locked, s.NetPnL)
		}
	}
}
