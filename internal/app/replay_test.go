package app

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/strategy"
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

// ladder places a limit buy at each of its prices not yet placed, recording
// each one in its state as soon as it is accepted (as grid does).
type ladder struct{}

func (ladder) Interval() time.Duration { return time.Hour }
func (ladder) Step(ctx context.Context, env strategy.Env) (strategy.StepResult, error) {
	var st struct{ Placed []string }
	env.State(&st)
	for _, p := range []string{"29000", "28900"} {
		if slices.Contains(st.Placed, p) {
			continue
		}
		if _, err := env.Place(ctx, venue.OrderRequest{Symbol: "BTCUSDT", Side: venue.Buy, Type: venue.Limit,
			Price: udecimal.MustParse(p), Quantity: udecimal.MustParse("0.001"), TimeInForce: venue.GTC}); err != nil {
			return strategy.StepResult{}, err
		}
		st.Placed = append(st.Placed, p)
		if err := env.SetState(st); err != nil {
			return strategy.StepResult{}, err
		}
	}
	return strategy.StepResult{}, nil
}

func init() {
	strategy.Register(strategy.Info{Name: "test-ladder", Factory: func(json.RawMessage) (strategy.Strategy, error) { return ladder{}, nil }})
}

// TestReplayAnswersReorderedDecisions: a replayed step whose strategy decides
// its orders in another order than the first attempt (its first level was
// placed and saved, so it re-places only the second) is answered from the
// journal under the id the second level had, not refused as another order
// under the first level's id, and the venue holds each level once.
func TestReplayAnswersReorderedDecisions(t *testing.T) {
	t.Parallel()
	a, ctx := startPaperNode(t, paper.Config{})
	acct := &store.Account{Name: "ladder", Venue: "paper"}
	if err := a.db.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	a.paper.Fund("ladder", venue.WalletSpot, "USDT", udecimal.MustParse("100000"))
	if err := a.addAccount(ctx, *acct); err != nil {
		t.Fatal(err)
	}
	pv := a.paper.Account("ladder")
	s, err := a.sessions.Create(ctx, session.Spec{Name: "ladder", Strategy: "test-ladder", AccountID: acct.ID,
		Symbols: []string{"BTCUSDT"}, Params: json.RawMessage(`{}`)}, "test")
	if err != nil {
		t.Fatal(err)
	}
	// The first level is accepted; the second executes but its answer is
	// lost, and the queries that would settle it fail during the step.
	pv.Faults().Next(paper.OpPlace, paper.Fault(""), paper.FaultTimeoutAfterExecution)
	for range 50 {
		pv.Faults().Next(paper.OpQuery, paper.FaultServerError)
	}
	if _, err := a.sessions.Start(ctx, s.ID, "test"); err != nil {
		t.Fatal(err)
	}
	open := func() int {
		os, err := pv.OpenOrders(ctx, "BTCUSDT")
		if err != nil {
			t.Fatal(err)
		}
		return len(os)
	}
	deadline := time.Now().Add(20 * time.Second)
	for open() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the first attempt left %d orders at the venue, want 2", open())
		}
		a.sessions.TradeNow(ctx, s.ID, "test")
		time.Sleep(50 * time.Millisecond)
	}
	pv.Faults().Clear()
	deadline = time.Now().Add(20 * time.Second)
	for {
		se, _ := a.sessions.Get(ctx, s.ID)
		var st struct{ Placed []string }
		json.Unmarshal(se.StrategyState, &st)
		if len(st.Placed) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replay did not record the second level: state %s, last error %q", se.StrategyState, se.LastError)
		}
		a.sessions.TradeNow(ctx, s.ID, "test")
		time.Sleep(50 * time.Millisecond)
	}
	if n := open(); n != 2 {
		t.Fatalf("%d orders at the venue, want the 2 levels once each", n)
	}
	se, _ := a.sessions.Get(ctx, s.ID)
	if se.RestartsAuto > 1 {
		t.Errorf("%d automatic restarts: the replay was refused at least once (%s)", se.RestartsAuto, se.LastError)
	}
}

// TestStepWithFillsPendingCloses: an order the venue filled whose fills
// could not be fetched yet is left non-terminal in the journal for
// Reconcile, but the strategy has its answer and records it, so the step
// closes with the saved state: it is not replayed later, which would count
// the buy in the strategy's state a second time.
func TestStepWithFillsPendingCloses(t *testing.T) {
	t.Parallel()
	a, ctx := startPaperNode(t, paper.Config{})
	acct := &store.Account{Name: "fills-pending", Venue: "paper"}
	if err := a.db.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	a.paper.Fund("fills-pending", venue.WalletSpot, "USDT", udecimal.MustParse("100000"))
	if err := a.addAccount(ctx, *acct); err != nil {
		t.Fatal(err)
	}
	pv := a.paper.Account("fills-pending")
	for range 50 {
		pv.Faults().Next(paper.OpOrderTrades, paper.FaultServerError)
	}
	s, err := a.sessions.Create(ctx, session.Spec{Name: "fills-pending", Strategy: "dca", AccountID: acct.ID, Symbols: []string{"BTCUSDT"},
		Params: json.RawMessage(`{"symbol":"BTCUSDT","quote_amount":"50","interval":"1h"}`)}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.sessions.Start(ctx, s.ID, "test"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		se, err := a.db.Session(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		var st struct{ Buys int }
		json.Unmarshal(se.StrategyState, &st)
		if st.Buys == 1 {
			if se.StepOpen != 0 {
				t.Fatalf("the step that recorded the buy is still open (%d): a replay would count it again", se.StepOpen)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no buy recorded: state %s, last error %q", se.StrategyState, se.LastError)
		}
		a.sessions.TradeNow(ctx, s.ID, "test")
		time.Sleep(50 * time.Millisecond)
	}
}
