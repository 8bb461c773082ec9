package app

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// TestUnknownOutcomeIsNotTradedTwice: a trade step whose order executed at
// the venue but whose answer was lost (a timeout after execution), and whose
// settling queries failed too, leaves the order with an unknown outcome and
// the strategy without a record of it. The step that follows must not decide
// that order again under a new client order id: it replays the step's
// number, so the strategy's decision is answered from the journal (settled
// with the venue) and the venue holds one order, not two. The step after
// that trades anew.
func TestUnknownOutcomeIsNotTradedTwice(t *testing.T) {
	t.Parallel()
	a, ctx := startPaperNode(t, paper.Config{})
	strategies := map[string]any{
		"dca":  map[string]any{"symbol": "BTCUSDT", "quote_amount": "50", "interval": "1h"},
		"twap": map[string]any{"symbol": "BTCUSDT", "side": "buy", "quantity": "0.01", "duration": "10h", "slices": 10},
	}
	for strat, params := range strategies {
		t.Run(strat, func(t *testing.T) {
			name := "replay-" + strat
			acct := &store.Account{Name: name, Venue: "paper"}
			if err := a.db.CreateAccount(ctx, acct); err != nil {
				t.Fatal(err)
			}
			a.paper.Fund(name, venue.WalletSpot, "USDT", udecimal.MustParse("100000"))
			if err := a.addAccount(ctx, *acct); err != nil {
				t.Fatal(err)
			}
			pv := a.paper.Account(name)
			raw, _ := json.Marshal(params)
			s, err := a.sessions.Create(ctx, session.Spec{Name: name, Strategy: strat, AccountID: acct.ID,
				Symbols: []string{"BTCUSDT"}, Params: raw}, "test")
			if err != nil {
				t.Fatal(err)
			}
			// The order executes but its answer is lost, and every query
			// that would settle it fails while the step runs.
			pv.Faults().Next(paper.OpPlace, paper.FaultTimeoutAfterExecution)
			for range 50 {
				pv.Faults().Next(paper.OpQuery, paper.FaultServerError)
			}
			if _, err := a.sessions.Start(ctx, s.ID, "test"); err != nil {
				t.Fatal(err)
			}
			tradeWhenRunning := func() (session.StepReport, error) {
				t.Helper()
				deadline := time.Now().Add(20 * time.Second)
				for {
					rep, err := a.sessions.TradeNow(ctx, s.ID, "test")
					var se *session.StateError
					if err == nil || !errors.As(err, &se) || time.Now().After(deadline) {
						return rep, err
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			venueTrades := func() int {
				page, err := pv.Trades(ctx, venue.TradeQuery{Symbol: "BTCUSDT", Limit: 1000})
				if err != nil {
					t.Fatal(err)
				}
				return len(page.Trades)
			}
			// The first step (scheduled at start, or this one) ends with the
			// outcome unknown.
			deadline := time.Now().Add(20 * time.Second)
			for venueTrades() == 0 && time.Now().Before(deadline) {
				if _, err := tradeWhenRunning(); err != nil {
					t.Logf("first step: %v", err)
				}
			}
			if n := venueTrades(); n != 1 {
				t.Fatalf("after the lost answer the venue has %d trades, want 1", n)
			}
			pv.Faults().Clear()
			// The retry: one order at the venue still, and the strategy's
			// state records it.
			if _, err := tradeWhenRunning(); err != nil {
				t.Fatalf("retried step: %v", err)
			}
			if n := venueTrades(); n != 1 {
				t.Fatalf("the retried step traded again: the venue has %d trades, want 1", n)
			}
			// Then the session trades on as usual: DCA's next buy, TWAP's
			// next slice.
			if _, err := tradeWhenRunning(); err != nil {
				t.Fatalf("next step: %v", err)
			}
			if n := venueTrades(); n != 2 {
				t.Fatalf("after the next step the venue has %d trades, want 2", n)
			}
			orders, err := a.db.NonTerminalOrders(ctx, acct.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range orders {
				t.Errorf("order %s left %s", o.ClientOrderID, o.Status)
			}
		})
	}
}
