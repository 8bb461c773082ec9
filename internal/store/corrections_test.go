package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// TestStrategyCorrectionsConformance: a correction is opened in the
// journal write that corrects the order; it is listed for the session only
// while the session has no open step; applying it saves the state and
// closes it in one commit; a correction marked again after it was read is
// not closed by the earlier read (its generation moved), and keeps the
// first baseline. The same on both engines.
func TestStrategyCorrectionsConformance(t *testing.T) {
	t.Parallel()
	runAccountSuite(t, map[string]func(t *testing.T, db *store.DB, account int64){"corrections": correctionsSuite})
}

// TestStrategyCorrectionsInAPrivateStore: the same on a private in-memory
// store, which reads no correction until one is marked.
func TestStrategyCorrectionsInAPrivateStore(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, "sqlite::memory:")
	a := &store.Account{Name: "main", Venue: "paper"}
	if err := db.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	correctionsSuite(t, db, a.ID)
}

func correctionsSuite(t *testing.T, db *store.DB, account int64) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	mustCreateSession(t, db, "s-c", account)
	if err := db.InsertOrder(ctx, store.Order{ClientOrderID: "s-c-1-0", SessionID: "s-c", AccountID: account, Symbol: "BTCUSDT",
		Side: "buy", Type: "market", Quantity: dec("0.002"), Status: store.OrderFailed, Fence: 1, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	correct := func(executed, quote string) {
		t.Helper()
		w := &store.JournalWrite{
			Update: &store.OrderUpdate{ClientOrderID: "s-c-1-0", Status: "filled", ExecutedQty: dec(executed), QuoteQty: dec(quote), Fence: 1, At: now},
			Events: []store.JournalEvent{{At: now, Kind: "corrected", SessionID: "s-c", AccountID: account, ClientOrderID: "s-c-1-0"}},
			Correction: &store.CorrectionMark{SessionID: "s-c", ClientOrderID: "s-c-1-0", WasStatus: "failed",
				SeenQty: dec("0"), SeenQuote: dec("0"), At: now}}
		if err := db.WriteJournal(ctx, []*store.JournalWrite{w}); err != nil {
			t.Fatal(err)
		}
	}
	correct("0.002", "60")
	// An open step holds it back.
	if _, _, err := db.OpenSessionStep(ctx, "s-c"); err != nil {
		t.Fatal(err)
	}
	if ps, err := db.PendingCorrections(ctx, "s-c"); err != nil || len(ps) != 0 {
		t.Fatalf("pending with the step open: %+v %v, want none", ps, err)
	}
	if err := db.SaveSessionStep(ctx, "s-c", store.StepOutcome{At: now, Close: 1}); err != nil {
		t.Fatal(err)
	}
	ps, err := db.PendingCorrections(ctx, "s-c")
	if err != nil || len(ps) != 1 {
		t.Fatalf("pending: %+v %v, want one", ps, err)
	}
	p := ps[0]
	if p.WasStatus != "failed" || !p.SeenQty.IsZero() || !p.Order.ExecutedQty.Equal(dec("0.002")) || p.Order.Status != "filled" {
		t.Fatalf("pending %+v", p)
	}
	// Corrected again before the first is applied: the earlier read
	// does not close it.
	correct("0.003", "90")
	seen := []store.CorrectionSeen{{ClientOrderID: "s-c-1-0", SeenQty: p.Order.ExecutedQty, SeenQuote: p.Order.QuoteQty, Gen: p.Gen, Done: true}}
	if err := db.ApplyCorrections(ctx, "s-c", json.RawMessage(`{"buys":1}`), seen); err != nil {
		t.Fatal(err)
	}
	ps, err = db.PendingCorrections(ctx, "s-c")
	if err != nil || len(ps) != 1 || !ps[0].SeenQty.Equal(dec("0.002")) || !ps[0].Order.ExecutedQty.Equal(dec("0.003")) || ps[0].Gen == p.Gen {
		t.Fatalf("pending after a second correction: %+v %v, want it open, seen 0.002 of 0.003", ps, err)
	}
	if s, _ := db.Session(ctx, "s-c"); string(s.StrategyState) != `{"buys":1}` {
		t.Fatalf("state %s", s.StrategyState)
	}
	p = ps[0]
	seen = []store.CorrectionSeen{{ClientOrderID: "s-c-1-0", SeenQty: p.Order.ExecutedQty, SeenQuote: p.Order.QuoteQty, Gen: p.Gen, Done: true}}
	if err := db.ApplyCorrections(ctx, "s-c", nil, seen); err != nil {
		t.Fatal(err)
	}
	if ps, err := db.PendingCorrections(ctx, "s-c"); err != nil || len(ps) != 0 {
		t.Fatalf("pending after applying: %+v %v, want none", ps, err)
	}
	if s, _ := db.Session(ctx, "s-c"); string(s.StrategyState) != `{"buys":1}` {
		t.Fatalf("state %s, want it kept", s.StrategyState)
	}
	// A deleted session's corrections go with it: a new session
	// under the same id inherits none.
	correct("0.004", "120")
	if err := db.DeleteSession(ctx, "s-c"); err != nil {
		t.Fatal(err)
	}
	mustCreateSession(t, db, "s-c", account)
	if ps, err := db.PendingCorrections(ctx, "s-c"); err != nil || len(ps) != 0 {
		t.Fatalf("pending for a new session under a deleted one's id: %+v %v", ps, err)
	}
}
