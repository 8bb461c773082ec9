package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// startPaperNode starts a node on a fresh SQLite file whose paper exchange
// quotes BTCUSDT at 30,000 and ETHUSDT at 2,000, with scheduled
// reconciliation out of the way (hourly); it stops when t ends.
func startPaperNode(t *testing.T, pc paper.Config) (*App, context.Context) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pc.Prices = map[string]venue.Decimal{"BTCUSDT": udecimal.MustParse("30000"), "ETHUSDT": udecimal.MustParse("2000")}
	a, err := New(ctx, Config{DBURL: "sqlite:" + filepath.Join(t.TempDir(), "node.db"), Addr: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ReconcileEvery: time.Hour, Paper: pc})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	a.cancel = cancel
	t.Cleanup(func() { a.closeAll(); cancel() })
	if err := a.start(ctx); err != nil {
		t.Fatal(err)
	}
	return a, ctx
}

// TestEveryFaultThroughEveryStrategy injects each fault the paper venue can
// inject into the first order of a session of each built-in strategy on a
// real node, and asserts that every one is journaled with its class and
// counted in the failure metric, and that every one that fails an order is
// alerted. Faults the executor absorbs (a retried rate limit or timestamp, a
// timeout after execution settled by query) are journaled and counted, not
// alerted: the order did not fail.
func TestEveryFaultThroughEveryStrategy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node with 36 sessions; skipped with -short")
	}
	t.Parallel()
	a, ctx := startPaperNode(t, paper.Config{RetryAfter: 5 * time.Millisecond})
	strategies := map[string]any{
		"dca":       map[string]any{"symbol": "BTCUSDT", "quote_amount": "50", "interval": "1h"},
		"grid":      map[string]any{"symbol": "BTCUSDT", "lower": "29000", "upper": "31000", "levels": 4, "quantity": "0.001", "interval": "1h"},
		"rebalance": map[string]any{"quote": "USDT", "weights": map[string]string{"BTC": "0.5", "USDT": "0.5"}, "threshold": "0.05", "interval": "1h"},
		"twap":      map[string]any{"symbol": "BTCUSDT", "side": "buy", "quantity": "0.01", "duration": "10h", "slices": 10},
	}
	faults := []struct {
		f       paper.Fault
		class   string
		alerted bool
	}{
		{paper.FaultRateLimited, "rate_limited", false},
		{paper.FaultBanned, "banned", true},
		{paper.FaultInsufficientFunds, "insufficient_funds", true},
		{paper.FaultFilterReject, "rejected", true},
		{paper.FaultTimeoutBeforeExecution, "unknown_outcome", true},
		{paper.FaultTimeoutAfterExecution, "unknown_outcome", false},
		{paper.FaultServerError, "unknown_outcome", true},
		{paper.FaultTimestamp, "timestamp", false},
		{paper.FaultAuth, "auth", true},
	}
	type combo struct {
		strategy, session string
		class             string
		alerted           bool
	}
	var combos []combo
	for strat, params := range strategies {
		for i, f := range faults {
			name := fmt.Sprintf("%s-%d", strat, i)
			acct := &store.Account{Name: name, Venue: "paper"}
			if err := a.db.CreateAccount(ctx, acct); err != nil {
				t.Fatal(err)
			}
			a.paper.Fund(name, venue.WalletSpot, "USDT", udecimal.MustParse("100000"))
			if err := a.addAccount(ctx, *acct); err != nil {
				t.Fatal(err)
			}
			a.paper.Account(name).Faults().Next(paper.OpPlace, f.f)
			raw, _ := json.Marshal(params)
			s, err := a.sessions.Create(ctx, session.Spec{Name: name, Strategy: strat, AccountID: acct.ID,
				Symbols: []string{"BTCUSDT"}, Params: raw}, "test")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.sessions.Start(ctx, s.ID, "test"); err != nil {
				t.Fatal(err)
			}
			combos = append(combos, combo{strat, s.ID, f.class, f.alerted})
			// Sessions step on their schedule (here hourly); run the first
			// step now, as the dashboard's "trade" button does.
			if _, err := a.sessions.TradeNow(ctx, s.ID, "test"); err != nil {
				t.Logf("%s trade now: %v", name, err)
			}
		}
	}
	// Every combination must show its class in the journal within 30 s.
	pending := map[string]combo{}
	for _, c := range combos {
		pending[c.session] = c
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(pending) > 0 && time.Now().Before(deadline) {
		for id, c := range pending {
			evs, err := a.db.JournalEvents(ctx, store.EventQuery{SessionID: id, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range evs {
				if e.ErrorClass == c.class {
					delete(pending, id)
					break
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	for id, c := range pending {
		evs, _ := a.db.JournalEvents(ctx, store.EventQuery{SessionID: id, Limit: 100})
		var kinds []string
		for _, e := range evs {
			kinds = append(kinds, e.Kind+"/"+e.ErrorClass)
		}
		s, _ := a.sessions.Get(ctx, id)
		t.Errorf("%s session %s (state %s, %s): no journal event of class %s; events %v", c.strategy, id, s.State, s.LastError, c.class, kinds)
	}
	overall, _ := a.jmetrics.Stats()
	for _, f := range faults {
		if overall.Failures[f.class] == 0 {
			t.Errorf("class %s never counted in tradeplane_execution_failures_total", f.class)
		}
	}
	// Alerts are stored by the alert Service's writer, and an order whose
	// outcome was unknown is failed (and alerted) only once it is proven
	// absent: recvWindow (5 s) after its send, at the next SettleUnknown.
	alertedSessions := map[string]bool{}
	deadline = time.Now().Add(30 * time.Second)
	for {
		alerts, err := a.db.Alerts(ctx, 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		for _, al := range alerts {
			alertedSessions[al.SessionID] = true
		}
		missing := 0
		for _, c := range combos {
			if c.alerted && !alertedSessions[c.session] {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, c := range combos {
		if c.alerted && !alertedSessions[c.session] {
			t.Errorf("%s session %s: fault of class %s raised no alert", c.strategy, c.session, c.class)
		}
	}
}
