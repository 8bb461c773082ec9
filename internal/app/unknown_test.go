package app

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/polltest"
	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// TestUnknownOrderHoldsItsSymbol: an order whose request timed out before
// the venue executed it, while the venue cannot be asked, is unknown, not
// failed, until the venue answers and its recvWindow has passed (the paper
// venue has no lag). Meanwhile the session's view shows it
// with its age, the session is not restarted, and its steps send nothing:
// the replayed step's decision is answered "unknown" from the journal. Once
// proven absent it is failed, the view is clear and the session trades
// again. Another session on the same account trades meanwhile, unslowed.
func TestUnknownOrderHoldsItsSymbol(t *testing.T) {
	t.Parallel()
	a, ctx := startPaperNode(t, paper.Config{})
	acct := &store.Account{Name: "held", Venue: "paper"}
	if err := a.db.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	a.paper.Fund("held", venue.WalletSpot, "USDT", udecimal.MustParse("100000"))
	if err := a.addAccount(ctx, *acct); err != nil {
		t.Fatal(err)
	}
	pv := a.paper.Account("held")
	mk := func(name string) session.Session {
		raw, _ := json.Marshal(map[string]any{"symbol": "BTCUSDT", "quote_amount": "50", "interval": "1h"})
		s, err := a.sessions.Create(ctx, session.Spec{Name: name, Strategy: "dca", AccountID: acct.ID,
			Symbols: []string{"BTCUSDT"}, Params: raw}, "test")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	held, other := mk("held-1"), mk("other-1")
	trade := func(id string) error {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, err := a.sessions.TradeNow(ctx, id, "test")
			var se *session.StateError
			if err == nil || !errors.As(err, &se) || time.Now().After(deadline) {
				return err
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	venueOrders := func() int { // orders that executed (one trade each here)
		page, err := pv.Trades(ctx, venue.TradeQuery{Symbol: "BTCUSDT", Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, tr := range page.Trades {
			ids[tr.VenueOrderID] = true
		}
		return len(ids)
	}
	pv.Faults().Next(paper.OpPlace, paper.FaultTimeoutBeforeExecution)
	// The venue cannot be asked for a while either, so the order stays
	// unknown (not even "not found" to wait on).
	for range 200 {
		pv.Faults().Next(paper.OpQuery, paper.FaultServerError)
	}
	if _, err := a.sessions.Start(ctx, held.ID, "test"); err != nil {
		t.Fatal(err)
	}
	// The first step (at start, or this one) ends with the outcome unknown.
	if err := trade(held.ID); err != nil && !errors.Is(err, venue.ErrUnknownOutcome) {
		t.Fatalf("first step: %v", err)
	}
	var view []string
	polltest.Until(t, 10*time.Second, "an unknown order shown for session "+held.ID, func() bool {
		v := a.sessionView(ctx, mustGet(t, a, held.ID))
		if len(v.UnknownOrders) == 1 {
			view = append(view, v.UnknownOrders[0].ClientOrderID)
		}
		return len(view) == 1
	})
	if err := trade(held.ID); err == nil || !errors.Is(err, venue.ErrUnknownOutcome) {
		t.Fatalf("a step while the order is unknown: %v, want an unknown outcome", err)
	}
	if n := venueOrders(); n != 0 {
		t.Fatalf("the venue has %d orders while one is unknown, want 0", n)
	}
	if s := mustGet(t, a, held.ID); s.State != session.Running || s.RestartsAuto != 0 {
		t.Fatalf("held session %s with %d restarts, want running without restarts", s.State, s.RestartsAuto)
	}
	// Another session trades meanwhile.
	if _, err := a.sessions.Start(ctx, other.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if err := trade(other.ID); err != nil {
		t.Fatalf("other session: %v", err)
	}
	// The venue answers again: proven absent once recvWindow (5 s) has
	// passed, failed, and the session trades again.
	pv.Faults().Clear()
	polltest.Until(t, 20*time.Second, "order "+view[0]+" failed once its recvWindow passed", func() bool {
		o, _ := a.db.OrderByClientID(ctx, view[0])
		return o.Status == store.OrderFailed
	})
	if v := a.sessionView(ctx, mustGet(t, a, held.ID)); len(v.UnknownOrders) != 0 {
		t.Fatalf("unknown orders still shown: %+v", v.UnknownOrders)
	}
	before := venueOrders()
	// The open step is replayed once more: its decision is answered with
	// the journal's verdict (failed), which closes the step; then the
	// session trades anew.
	if err := trade(held.ID); err == nil || !errors.Is(err, venue.ErrOrderNotFound) && !containsStr(err.Error(), "failed earlier") {
		t.Fatalf("replayed step after the order was failed: %v, want the failure", err)
	}
	if n := venueOrders(); n != before {
		t.Fatalf("the replayed step sent an order")
	}
	if err := trade(held.ID); err != nil {
		t.Fatalf("step after the order was settled: %v", err)
	}
	if n := venueOrders(); n != before+1 {
		t.Fatalf("venue orders %d, want %d: the session trades again once settled", n, before+1)
	}
}

func containsStr(s, sub string) bool { return strings.Contains(s, sub) }

func mustGet(t *testing.T, a *App, id string) session.Session {
	t.Helper()
	s, err := a.sessions.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
