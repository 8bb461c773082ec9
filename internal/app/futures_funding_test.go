package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// TestBinanceFuturesFundingAndLiquidationReachSessionPnL: a DCA session on a
// binance-futures account builds a long at the fake; after it stops, the
// fake settles funding at a positive rate on that position (the long pays
// size × mark × rate, a FUNDING_FEE income row). The running node reads it
// from /fapi/v1/income on its own schedule and records it once, negative,
// attributed to the session that holds the whole position: the funding
// row, a funding journal event of that session, and the session's net PnL
// lower by exactly the payment. Then Binance liquidates the long (an
// "autoclose-" order on the user stream): the fill is journaled as the
// session's liquidation, and the flat session's PnL is exactly
// Σ sells − Σ buys − Σ fees + funding over its fills.
func TestBinanceFuturesFundingAndLiquidationReachSessionPnL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake, db, dbURL, key, acct, s := futuresSessionDesk(t)
	n := startNode(t, app.Config{DBURL: dbURL, MasterKey: key, ResyncEvery: time.Second, ReconcileEvery: 100 * time.Millisecond})
	var fills []store.Fill
	eventually(t, 30*time.Second, "two session fills journaled", func() bool {
		var err error
		fills, err = db.Fills(ctx, store.FillQuery{AccountID: acct.ID, SessionID: s.ID})
		if err != nil {
			t.Fatal(err)
		}
		return len(fills) >= 2
	})
	var view struct {
		State string
		PnL   udecimal.Decimal `json:"pnl"`
	}
	if code := n.do(t, "POST", "/api/v1/sessions/"+s.ID+"/stop", nil, nil, &view); code != 200 {
		t.Fatalf("stop session: status %d", code)
	}
	eventually(t, 30*time.Second, "session stopped", func() bool {
		n.do(t, "GET", "/api/v1/sessions/"+s.ID, nil, nil, &view)
		return view.State == "stopped"
	})
	// Every fill of the session is journaled (none in flight): the PnL
	// before the funding, at the fake's unchanged price.
	var all []store.Fill
	prev := -1
	eventually(t, 30*time.Second, "the session's fills settle", func() bool {
		var err error
		if all, err = db.Fills(ctx, store.FillQuery{AccountID: acct.ID, SessionID: s.ID}); err != nil {
			t.Fatal(err)
		}
		unsettled, err := db.UnsettledOrders(ctx, s.ID)
		settled := err == nil && len(unsettled) == 0 && len(all) == prev
		prev = len(all)
		return settled
	})
	n.do(t, "GET", "/api/v1/sessions/"+s.ID, nil, nil, &view)
	before := view.PnL

	size := udecimal.Zero
	for _, f := range all {
		size = size.Add(f.Quantity)
	}
	at := time.Now().Truncate(time.Millisecond).UTC()
	amount := fake.SettleFuturesFunding("BTCUSDT", udecimal.MustParse("0.0001"), at)
	want := size.Mul(udecimal.MustParse("30000")).Mul(udecimal.MustParse("0.0001")).Neg().RoundHAZ(8)
	if !amount.IsNeg() || !amount.Equal(want) {
		t.Fatalf("settled %s on a long of %s, want %s (paid)", amount, size, want)
	}

	var fps []store.FundingPayment
	eventually(t, 30*time.Second, "the funding payment recorded", func() bool {
		var err error
		fps, err = db.FundingPayments(ctx, acct.ID, "", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return len(fps) > 0
	})
	if len(fps) != 1 || !fps[0].Amount.Equal(amount) || fps[0].SessionID != s.ID || fps[0].Symbol != "BTCUSDT" || fps[0].Asset != "USDT" ||
		!fps[0].At.Equal(at) {
		t.Fatalf("funding rows %+v; want one of %s USDT at %s for session %s", fps, amount, at, s.ID)
	}
	eventually(t, 30*time.Second, "the session's PnL counts the payment", func() bool {
		n.do(t, "GET", "/api/v1/sessions/"+s.ID, nil, nil, &view)
		return view.PnL.Equal(before.Add(amount))
	})
	evs, err := db.JournalEvents(ctx, store.EventQuery{AccountID: acct.ID, Kind: string(journal.KindFunding), Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].SessionID != s.ID || !evs[0].Fee.Equal(amount) {
		t.Errorf("funding events %+v; want one of %s for the session", evs, amount)
	}
	n.do(t, "GET", "/api/v1/sessions/"+s.ID, nil, nil, &view)
	if !view.PnL.Equal(before.Add(amount)) {
		t.Errorf("session PnL %s, want %s + %s", view.PnL, before, amount)
	}

	cid := fake.LiquidateFutures("BTCUSDT", udecimal.MustParse("29000"))
	if cid == "" {
		t.Fatal("nothing to liquidate at the fake")
	}
	var liq store.Fill
	eventually(t, 30*time.Second, "the liquidation journaled", func() bool {
		fs, err := db.Fills(ctx, store.FillQuery{AccountID: acct.ID})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if f.ClientOrderID == cid {
				liq = f
				return true
			}
		}
		return false
	})
	if liq.Source != journal.SourceLiquidation || liq.SessionID != s.ID || liq.Side != string(venue.Sell) ||
		!liq.Quantity.Equal(size) || !liq.Price.Equal(udecimal.MustParse("29000")) {
		t.Errorf("liquidation fill %+v; want the session's sell of %s at 29000, source liquidation", liq, size)
	}
	if evs, err := db.JournalEvents(ctx, store.EventQuery{AccountID: acct.ID, Kind: string(journal.KindLiquidation), Limit: 10}); err != nil ||
		len(evs) != 1 || evs[0].SessionID != s.ID {
		t.Errorf("liquidation events %+v, %v; want one of the session", evs, err)
	}
	final, err := db.Fills(ctx, store.FillQuery{AccountID: acct.ID, SessionID: s.ID})
	if err != nil {
		t.Fatal(err)
	}
	want = amount
	for _, f := range final {
		notional := f.Price.Mul(f.Quantity)
		if f.Side == liq.Side {
			want = want.Add(notional)
		} else {
			want = want.Sub(notional)
		}
		want = want.Sub(f.Fee)
	}
	eventually(t, 30*time.Second, "the flat session's PnL", func() bool {
		n.do(t, "GET", "/api/v1/sessions/"+s.ID, nil, nil, &view)
		return view.PnL.Equal(want)
	})
}
