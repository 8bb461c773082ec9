package backfill_test

import (
	"context"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/backfill"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// perpVenue is memVenue with positions: funding payments of a window.
type perpVenue struct {
	*memVenue
	funding []venue.FundingPayment
}

var _ venue.PositionReader = (*perpVenue)(nil)

func (p *perpVenue) Positions(context.Context) ([]venue.Position, error) { return nil, nil }

func (p *perpVenue) FundingPayments(_ context.Context, symbol string, from, to time.Time) ([]venue.FundingPayment, error) {
	var out []venue.FundingPayment
	for _, f := range p.funding {
		if (symbol == "" || f.Symbol == symbol) && !f.Time.Before(from) && f.Time.Before(to) {
			out = append(out, f)
		}
	}
	return out, nil
}

// TestBackfillFundingAndLiquidation: a backfill of a venue with positions
// reads its funding history, stores it once, and the series carry it with
// its sign; a liquidation in the trade history is a realized loss with its
// fee. The paper perpetual's numbers (see journal's
// TestPerpFundingAndLiquidation), by hand, with marks from 1h candles:
//
//	07:00 sell 1 ETHUSDT at 2000, fee 2
//	08:00 funding +0.2 (received by the short)
//	09:00 point: realized 0, fees 2, funding 0.2, unrealized 0 (mark 2000): net −1.8
//	10:00 liquidation: buy 1 at 2089.55, fee 10.45
//	11:00 point: realized −89.55, fees 12.45, funding 0.2, flat: net −101.8
func TestBackfillFundingAndLiquidation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.MustOpenSQLite(t)
	acct := mustAccount(t, db, "perp", "paper")
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v := &perpVenue{memVenue: newMemVenue()}
	v.addTrade(venue.Trade{ID: "1", Symbol: "ETHUSDT", Side: venue.Sell, Price: dec("2000"), Quantity: dec("1"),
		Fee: dec("2"), FeeAsset: "USDT", Time: day.Add(7 * time.Hour)})
	v.addTrade(venue.Trade{ID: "liq-2", Symbol: "ETHUSDT", Side: venue.Buy, Price: dec("2089.55"), Quantity: dec("1"),
		Fee: dec("10.45"), FeeAsset: "USDT", Time: day.Add(10 * time.Hour)})
	v.funding = []venue.FundingPayment{{ID: "f1", Symbol: "ETHUSDT", Asset: "USDT", Amount: dec("0.2"),
		PositionSize: dec("-1"), Time: day.Add(8 * time.Hour)}}
	opens := make([]venue.Decimal, 24)
	for i := range opens {
		opens[i] = dec("2000")
		if i >= 10 {
			opens[i] = dec("2090")
		}
	}
	v.setHourly("ETHUSDT", day, opens)
	cfg := backfill.Config{DB: db, Venue: v, Account: acct, Symbols: []string{"ETHUSDT"}, From: day, To: day.Add(24 * time.Hour),
		OpeningEquity: dec("1000")}
	for run, want := range []int64{1, 0} {
		res, err := backfill.Run(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if res.Funding != 1 || res.NewFunding != want {
			t.Fatalf("run %d: funding %d read, %d new; want 1 and %d", run+1, res.Funding, res.NewFunding, want)
		}
	}
	points, err := db.PnLPoints(ctx, store.PnLPointQuery{Scope: "account:perp", Symbol: "", Source: backfill.SourceBackfill,
		From: day, To: day.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	at := func(h int) store.PnLPoint {
		for _, p := range points {
			if p.At.Equal(day.Add(time.Duration(h) * time.Hour)) {
				return p
			}
		}
		t.Fatalf("no point at %02d:00", h)
		return store.PnLPoint{}
	}
	if p := at(9); !p.Funding.Equal(dec("0.2")) || !p.Fees.Equal(dec("2")) || !p.Net.Equal(dec("-1.8")) || !p.Equity.Equal(dec("998.2")) {
		t.Errorf("09:00: %+v, want funding 0.2, fees 2, net -1.8, equity 998.2", p)
	}
	if p := at(7); !p.Funding.IsZero() {
		t.Errorf("07:00 (before the funding): funding %s, want 0", p.Funding)
	}
	if p := at(11); !p.Realized.Equal(dec("-89.55")) || !p.Fees.Equal(dec("12.45")) || !p.Funding.Equal(dec("0.2")) ||
		!p.Net.Equal(dec("-101.8")) || !p.Equity.Equal(dec("898.2")) {
		t.Errorf("11:00: %+v, want realized -89.55, fees 12.45, funding 0.2, net -101.8, equity 898.2", p)
	}
	// `pnl report` shows the funding in force at each interval's end.
	h, err := backfill.Report(ctx, db, "account:perp", time.Hour, day, day.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range h.Rows {
		want := "0"
		if !r.Start.Before(day.Add(8 * time.Hour)) {
			want = "0.2"
		}
		if !r.Funding.Equal(dec(want)) {
			t.Errorf("report row %s: funding %s, want %s", r.Start.Format(time.RFC3339), r.Funding, want)
		}
	}
}

// TestBackfillFundingGoesToTheSession: the same history, with the opening
// sell journaled by session s1 before the backfill: the funding payment
// the backfill finds is stored as s1's (it held the account's whole
// position at 08:00), and the session's series carries it as well as the
// account's; run again, nothing changes.
func TestBackfillFundingGoesToTheSession(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.MustOpenSQLite(t)
	acct := mustAccount(t, db, "perp", "paper")
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	open := venue.Trade{ID: "1", Symbol: "ETHUSDT", Side: venue.Sell, Price: dec("2000"), Quantity: dec("1"), QuoteQty: dec("2000"),
		Fee: dec("2"), FeeAsset: "USDT", Time: day.Add(7 * time.Hour)}
	if _, err := db.InsertFill(ctx, store.Fill{AccountID: acct.ID, Symbol: open.Symbol, TradeID: open.ID, SessionID: "s1",
		Side: string(open.Side), Price: open.Price, Quantity: open.Quantity, QuoteQty: open.QuoteQty, Fee: open.Fee,
		FeeAsset: open.FeeAsset, Source: "live", At: open.Time}); err != nil {
		t.Fatal(err)
	}
	v := &perpVenue{memVenue: newMemVenue()}
	v.addTrade(open)
	v.funding = []venue.FundingPayment{{ID: "f1", Symbol: "ETHUSDT", Asset: "USDT", Amount: dec("0.2"),
		PositionSize: dec("-1"), Time: day.Add(8 * time.Hour)}}
	opens := make([]venue.Decimal, 24)
	for i := range opens {
		opens[i] = dec("2000")
	}
	v.setHourly("ETHUSDT", day, opens)
	cfg := backfill.Config{DB: db, Venue: v, Account: acct, Symbols: []string{"ETHUSDT"}, From: day, To: day.Add(24 * time.Hour)}
	for range 2 {
		if _, err := backfill.Run(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	fps, err := db.FundingPayments(ctx, acct.ID, "", time.Time{})
	if err != nil || len(fps) != 1 || fps[0].SessionID != "s1" {
		t.Fatalf("funding rows %+v, %v; want one of session s1", fps, err)
	}
	for _, scope := range []string{"account:perp", "session:s1"} {
		points, err := db.PnLPoints(ctx, store.PnLPointQuery{Scope: scope, Source: backfill.SourceBackfill, From: day.Add(9 * time.Hour),
			To: day.Add(9*time.Hour + time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if len(points) != 1 || !points[0].Funding.Equal(dec("0.2")) || !points[0].Net.Equal(dec("-1.8")) {
			t.Errorf("%s at 09:00: %+v; want funding 0.2, net -1.8", scope, points)
		}
	}
}
