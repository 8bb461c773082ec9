package app

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/polltest"
	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/strategy/dca"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// startPaperNodeAt is startPaperNode on the SQLite file path, so a test can
// stop a node and start another on its database (a restart).
func startPaperNodeAt(t *testing.T, path string) (*App, context.Context) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pc := paper.Config{Prices: map[string]venue.Decimal{"BTCUSDT": udecimal.MustParse("30000")}}
	a, err := New(ctx, Config{DBURL: "sqlite:" + path, Addr: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ReconcileEvery: time.Hour, Paper: pc, AuditConfirm: 50 * time.Millisecond})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	a.cancel = cancel
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			a.closeAll()
			cancel()
		}
	}
	t.Cleanup(stop)
	if err := a.start(ctx); err != nil {
		t.Fatal(err)
	}
	return a, ctx
}

// dcaState reads a session's saved DCA state from the store.
func dcaState(t *testing.T, a *App, id string) dca.State {
	t.Helper()
	s, err := a.db.Session(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	var st dca.State
	if len(s.StrategyState) > 0 {
		if err := json.Unmarshal(s.StrategyState, &st); err != nil {
			t.Fatalf("state %s: %v", s.StrategyState, err)
		}
	}
	return st
}

// failThenClose makes the session's next order fail: its request is lost
// before execution, and the executor proves it absent once its recvWindow
// has passed (the paper venue has no consistency lag), which closes the
// step; the session fails and restarts. It returns the failed order.
func failThenClose(t *testing.T, a *App, ctx context.Context, pv *paper.Account, accountID int64, id string, seen map[string]bool) store.Order {
	t.Helper()
	pv.Faults().Next(paper.OpPlace, paper.FaultTimeoutBeforeExecution)
	if _, err := a.sessions.TradeNow(ctx, id, "test"); err == nil {
		t.Fatalf("step with a lost request: no error, want its failure")
	}
	var failed store.Order
	polltest.Until(t, 30*time.Second, "the lost order to be proven absent", func() bool {
		os, err := a.db.AccountOrders(ctx, accountID, "BTCUSDT")
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range os {
			if o.SessionID == id && o.Status == store.OrderFailed && !seen[o.ClientOrderID] {
				failed = o
				seen[o.ClientOrderID] = true
				return true
			}
		}
		return false
	})
	polltest.Until(t, 30*time.Second, "the session to run again", func() bool { return mustGet(t, a, id).State == session.Running })
	return failed
}

// lateSend executes order o at the venue, as a frozen previous owner would
// after the journal had failed it; the user stream reports its fill.
func lateSend(t *testing.T, ctx context.Context, pv *paper.Account, o store.Order) venue.Order {
	t.Helper()
	vo, err := pv.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: o.ClientOrderID, Symbol: o.Symbol, Side: venue.Side(o.Side),
		Type: venue.OrderType(o.Type), Quantity: o.Quantity})
	if err != nil || vo.Status != venue.StatusFilled {
		t.Fatalf("late send: %+v %v", vo, err)
	}
	return vo
}

// TestLateFillReachesTheStrategyStateOnce: a DCA session's buy is journaled
// failed, and then the venue executes it after all (a late send). The
// journal corrects the order; the session's saved strategy state must count
// that buy too, exactly once: at once while the session runs, and after a
// restart when the node was down between the corrected event and the state
// save. On the old code the saved state never counted it (Buys stayed 0).
func TestLateFillReachesTheStrategyStateOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "node.db")
	a, ctx := startPaperNodeAt(t, path)
	acct := &store.Account{Name: "late", Venue: "paper"}
	if err := a.db.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	a.paper.Fund("late", venue.WalletSpot, "USDT", udecimal.MustParse("100000"))
	if err := a.addAccount(ctx, *acct); err != nil {
		t.Fatal(err)
	}
	pv := a.paper.Account("late")
	raw, _ := json.Marshal(map[string]any{"symbol": "BTCUSDT", "quote_amount": "60", "interval": "1h"})
	s, err := a.sessions.Create(ctx, session.Spec{Name: "late-dca", Strategy: "dca", AccountID: acct.ID,
		Symbols: []string{"BTCUSDT"}, Params: raw}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.sessions.Start(ctx, s.ID, "test"); err != nil {
		t.Fatal(err)
	}
	polltest.Until(t, 10*time.Second, "the session to run", func() bool { return mustGet(t, a, s.ID).State == session.Running })

	seen := map[string]bool{}
	// 1. While the session runs: the corrected order reaches its state at once.
	first := failThenClose(t, a, ctx, pv, acct.ID, s.ID, seen)
	if st := dcaState(t, a, s.ID); st.Buys != 0 {
		t.Fatalf("state %+v after the failed buy, want no buy", st)
	}
	vo := lateSend(t, ctx, pv, first)
	polltest.Until(t, 10*time.Second, "the late buy in the saved state", func() bool { return dcaState(t, a, s.ID).Buys == 1 })
	if st := dcaState(t, a, s.ID); !st.Bought.Equal(vo.ExecutedQty) || !st.Spent.Equal(vo.QuoteQty) {
		t.Fatalf("state %+v, want bought %s for %s", st, vo.ExecutedQty, vo.QuoteQty)
	}
	if row, _ := a.db.OrderByClientID(ctx, first.ClientOrderID); row.Status != string(venue.StatusFilled) {
		t.Fatalf("order row %s, want filled", row.Status)
	}

	// 2. The late fill arrives while the failed order's step is still open:
	// the step's replay is answered from the journal (filled) and counts
	// the buy itself; the correction must not count it again.
	pv.Faults().Next(paper.OpPlace, paper.FaultTimeoutBeforeExecution)
	for range 400 {
		pv.Faults().Next(paper.OpQuery, paper.FaultServerError) // the venue cannot be asked: unknown, step open
	}
	if _, err := a.sessions.TradeNow(ctx, s.ID, "test"); err == nil || !errors.Is(err, venue.ErrUnknownOutcome) {
		t.Fatalf("step with a lost request: %v, want an unknown outcome", err)
	}
	var open store.Order
	polltest.Until(t, 10*time.Second, "the unknown order", func() bool {
		us, _ := a.db.UnsettledOrders(ctx, s.ID)
		if len(us) == 1 {
			open = us[0]
		}
		return len(us) == 1
	})
	pv.Faults().Clear()
	polltest.Until(t, 30*time.Second, "the unknown order to be proven absent", func() bool {
		row, _ := a.db.OrderByClientID(ctx, open.ClientOrderID)
		return row.Status == store.OrderFailed
	})
	seen[open.ClientOrderID] = true
	vo3 := lateSend(t, ctx, pv, open)
	polltest.Until(t, 10*time.Second, "the open step's order to be corrected", func() bool {
		row, _ := a.db.OrderByClientID(ctx, open.ClientOrderID)
		return row.Status == string(venue.StatusFilled)
	})
	time.Sleep(100 * time.Millisecond) // the runner had its chance to apply it (it must not while the step is open)
	if st := dcaState(t, a, s.ID); st.Buys != 1 {
		t.Fatalf("state %+v with the corrected order's step open, want it left to the replay", st)
	}
	rep, err := a.sessions.TradeNow(ctx, s.ID, "test")
	if err != nil || len(rep.Placed) != 1 || rep.Placed[0].ClientOrderID != open.ClientOrderID {
		t.Fatalf("replayed step: %+v %v, want the corrected order answered from the journal", rep, err)
	}
	if st := dcaState(t, a, s.ID); st.Buys != 2 || !st.Bought.Equal(vo.ExecutedQty.Add(vo3.ExecutedQty)) {
		t.Fatalf("state %+v after the replay, want 2 buys", st)
	}
	if _, err := a.sessions.TradeNow(ctx, s.ID, "test"); err != nil { // applies what is open first
		t.Fatal(err)
	}
	if st := dcaState(t, a, s.ID); st.Buys != 3 {
		t.Fatalf("state %+v after one more step, want 3 buys: the correction counted the replayed buy again", st)
	}
	bought := dcaState(t, a, s.ID).Bought

	// 3. The node is down between the corrected event and the state save:
	// the session is not running here when the late fill is corrected.
	second := failThenClose(t, a, ctx, pv, acct.ID, s.ID, seen)
	if _, err := a.sessions.Stop(ctx, s.ID, "test"); err != nil {
		t.Fatal(err)
	}
	vo2 := lateSend(t, ctx, pv, second)
	polltest.Until(t, 10*time.Second, "the second order to be corrected", func() bool {
		row, _ := a.db.OrderByClientID(ctx, second.ClientOrderID)
		return row.Status == string(venue.StatusFilled)
	})
	if st := dcaState(t, a, s.ID); st.Buys != 3 {
		t.Fatalf("state %+v while the session is stopped, want 3 buys", st)
	}
	a.closeAll() // the node stops with the correction made and the state not saved
	a, ctx = startPaperNodeAt(t, path)
	if _, err := a.sessions.Start(ctx, s.ID, "test"); err != nil {
		t.Fatal(err)
	}
	polltest.Until(t, 10*time.Second, "the late buy in the saved state after the restart", func() bool { return dcaState(t, a, s.ID).Buys == 4 })
	want := bought.Add(vo2.ExecutedQty)
	if st := dcaState(t, a, s.ID); !st.Bought.Equal(want) {
		t.Fatalf("state %+v after the restart, want bought %s", st, want)
	}
	// Another restart and a step apply nothing twice: the step adds its own
	// buy only.
	a.closeAll()
	a, ctx = startPaperNodeAt(t, path)
	a.paper.Fund("late", venue.WalletSpot, "USDT", udecimal.MustParse("100000")) // the paper venue lives in the process
	polltest.Until(t, 10*time.Second, "the session to resume again", func() bool { return mustGet(t, a, s.ID).State == session.Running })
	if _, err := a.sessions.TradeNow(ctx, s.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if st := dcaState(t, a, s.ID); st.Buys != 5 {
		t.Fatalf("state %+v after a second restart and a step, want 5 buys", st)
	}
	if ps, err := a.db.PendingCorrections(ctx, s.ID); err != nil || len(ps) != 0 {
		t.Fatalf("pending corrections %+v %v, want none", ps, err)
	}
}

// TestAuditRecordsALateFillTheStreamMissed: a DCA buy is journaled failed,
// then executed late while the user stream drops its events, so the
// journal never hears of the fill (Reconcile settles open orders only). The
// scheduled audit records the venue's fills of the journaled order, which
// corrects it, counts the buy in the strategy state and leaves no
// difference. On the old code the audit alerted on the difference every
// hour and nothing moved the order.
func TestAuditRecordsALateFillTheStreamMissed(t *testing.T) {
	t.Parallel()
	a, ctx := startPaperNodeAt(t, filepath.Join(t.TempDir(), "node.db"))
	acct := &store.Account{Name: "deaf", Venue: "paper"}
	if err := a.db.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	a.paper.Fund("deaf", venue.WalletSpot, "USDT", udecimal.MustParse("100000"))
	if err := a.addAccount(ctx, *acct); err != nil {
		t.Fatal(err)
	}
	pv := a.paper.Account("deaf")
	raw, _ := json.Marshal(map[string]any{"symbol": "BTCUSDT", "quote_amount": "60", "interval": "1h"})
	s, err := a.sessions.Create(ctx, session.Spec{Name: "deaf-dca", Strategy: "dca", AccountID: acct.ID,
		Symbols: []string{"BTCUSDT"}, Params: raw}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.sessions.Start(ctx, s.ID, "test"); err != nil {
		t.Fatal(err)
	}
	polltest.Until(t, 10*time.Second, "the session to run", func() bool { return mustGet(t, a, s.ID).State == session.Running })
	failed := failThenClose(t, a, ctx, pv, acct.ID, s.ID, map[string]bool{})
	from := time.Now().Add(-time.Hour)
	drops := make([]paper.Fault, 50)
	for i := range drops {
		drops[i] = paper.FaultStreamDrop
	}
	pv.Faults().Next(paper.OpStream, drops...)
	vo := lateSend(t, ctx, pv, failed)
	time.Sleep(500 * time.Millisecond) // what the stream would have delivered by now
	if row, _ := a.db.OrderByClientID(ctx, failed.ClientOrderID); row.Status != store.OrderFailed {
		t.Fatalf("order %s reached the journal through the stream (%s): the test needs the stream to miss it", failed.ClientOrderID, row.Status)
	}
	pv.Faults().Clear()
	a.auditAll(ctx, 24*time.Hour)
	row, _ := a.db.OrderByClientID(ctx, failed.ClientOrderID)
	if row.Status != string(venue.StatusFilled) || !row.ExecutedQty.Equal(vo.ExecutedQty) {
		t.Fatalf("order after the audit: %s %s, want filled %s", row.Status, row.ExecutedQty, vo.ExecutedQty)
	}
	polltest.Until(t, 10*time.Second, "the late buy in the saved state", func() bool { return dcaState(t, a, s.ID).Buys == 1 })
	rep, err := auditAdapter{a}.AuditJournal(ctx, "deaf", from, time.Now().Add(time.Minute))
	if err != nil || len(rep.Differences) != 0 {
		t.Fatalf("audit after the recovery: %+v %v, want no difference", rep.Differences, err)
	}
	polltest.Until(t, 10*time.Second, "the audit's alert", func() bool {
		als, _ := a.db.Alerts(ctx, 0, 1000)
		for _, al := range als {
			if al.Source == "audit" && strings.Contains(al.Message, "recorded 1 fills") {
				return true
			}
		}
		return false
	})
}

// TestScheduledAuditIgnoresAnOrderInFlight: the scheduled audit compares
// the journal with the venue while both move. An order the venue has filled
// while the journal still holds its intent (the answer on its way) differs
// for a moment; the audit confirms a difference with a second audit and
// alerts only on what persists. On the old code it raised a critical alert
// for every order in flight (seen in a demo run).
func TestScheduledAuditIgnoresAnOrderInFlight(t *testing.T) {
	t.Parallel()
	a, ctx := startPaperNodeAt(t, filepath.Join(t.TempDir(), "node.db"))
	a.cfg.AuditConfirm = time.Second
	acct := &store.Account{Name: "busy", Venue: "paper"}
	if err := a.db.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	a.paper.Fund("busy", venue.WalletSpot, "USDT", udecimal.MustParse("100000"))
	if err := a.addAccount(ctx, *acct); err != nil {
		t.Fatal(err)
	}
	// The executor's state between its intent and the venue's answer.
	req := venue.OrderRequest{ClientOrderID: "in-flight-1", Symbol: "BTCUSDT", Side: venue.Buy, Type: venue.Market,
		Quantity: udecimal.MustParse("0.001")}
	if err := a.db.InsertOrder(ctx, store.Order{ClientOrderID: req.ClientOrderID, AccountID: acct.ID, Symbol: req.Symbol,
		Side: string(req.Side), Type: string(req.Type), Quantity: req.Quantity, Status: store.OrderIntent, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	vo, err := a.paper.Account("busy").PlaceOrder(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	raised := a.alerts.Stats().Raised
	done := make(chan struct{})
	go func() { a.auditAll(ctx, 24*time.Hour); close(done) }()
	time.Sleep(300 * time.Millisecond) // the first audit has seen the difference
	// The answer arrives: the journal records it, as the executor would.
	if err := a.db.UpdateOrder(ctx, store.OrderUpdate{ClientOrderID: req.ClientOrderID, Status: string(vo.Status),
		VenueOrderID: vo.VenueOrderID, ExecutedQty: vo.ExecutedQty, QuoteQty: vo.QuoteQty, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	trades, err := a.paper.Account("busy").OrderTrades(ctx, req.Symbol, vo.VenueOrderID)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := a.account(acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range trades {
		if _, err := rt.x.RecordTrade(ctx, tr, ""); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	// Raise counts an alert before it returns (the alert writer stores it
	// later): an alert of the audit would be counted once auditAll ended.
	if n := a.alerts.Stats().Raised - raised; n != 0 {
		t.Fatalf("%d alerts raised during the scheduled audit of an order in flight", n)
	}
	als, _ := a.db.Alerts(ctx, 0, 1000)
	for _, al := range als {
		if al.Source == "audit" {
			t.Fatalf("the scheduled audit alerted on an order in flight: %s", al.Message)
		}
	}
}
