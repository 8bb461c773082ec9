package journal_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/alert"
	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// TestLateFillCorrectsAFailedOrder: an order the journal proved absent and
// failed is executed after all (a previous owner frozen between its lease
// check and the send sends it late). Its fill, reported by the stream, is
// stored, the order row moves to filled with a corrected event, and a
// critical alert says so. On the old code the fill was stored but the row
// stayed failed.
func TestLateFillCorrectsAFailedOrder(t *testing.T) {
	t.Parallel()
	c := setupLaggy(t, 0, 0)
	c.acct.Faults().Next(paper.OpPlace, paper.FaultTimeoutBeforeExecution)
	c.x.Place(ctx, c.intent("late-2"))
	c.clk.Jump(96 * time.Second)
	if _, err := c.x.SettleUnknown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.status(t, "late-2"); got != store.OrderFailed {
		t.Fatalf("status %s, want failed before the late send", got)
	}
	// The late send, straight to the venue, as a frozen node would.
	vo, err := c.acct.PlaceOrder(ctx, c.intent("late-2").Request)
	if err != nil || vo.Status != venue.StatusFilled {
		t.Fatalf("late send: %+v %v", vo, err)
	}
	c.lv.mu.Lock()
	c.lv.created["late-2"] = c.clk.Now()
	c.lv.mu.Unlock()
	trades, err := c.acct.OrderTrades(ctx, "BTCUSDT", vo.VenueOrderID)
	if err != nil || len(trades) == 0 {
		t.Fatalf("trades %v %v", trades, err)
	}
	for _, tr := range trades {
		if _, err := c.x.RecordTrade(ctx, tr, ""); err != nil {
			t.Fatal(err)
		}
	}
	row, _ := c.db.OrderByClientID(ctx, "late-2")
	if row.Status != string(venue.StatusFilled) || !row.ExecutedQty.Equal(vo.ExecutedQty) {
		t.Fatalf("row %s %s, want filled %s", row.Status, row.ExecutedQty, vo.ExecutedQty)
	}
	kinds := c.kinds(t, "late-2")
	if !slices.Contains(kinds, "corrected") || !slices.Contains(kinds, "fill") {
		t.Fatalf("kinds %q, want a corrected event and the fill", kinds)
	}
	fills, _ := c.db.Fills(ctx, store.FillQuery{AccountID: c.account})
	if len(fills) != len(trades) || fills[0].SessionID != "s1" {
		t.Fatalf("fills %+v", fills)
	}
	al := c.alerts.Alerts()
	if last := al[len(al)-1]; last.Severity != alert.Critical || last.SessionID != "s1" {
		t.Fatalf("last alert %+v, want a critical one about session s1", last)
	}
	// The same fill again changes nothing.
	c.x.RecordTrade(ctx, trades[0], "")
	if n := len(slices.DeleteFunc(c.kinds(t, "late-2"), func(k string) bool { return k != "corrected" })); n != 1 {
		t.Fatalf("%d corrected events, want 1", n)
	}
}

// TestStreamFillsMoveAnOpenOrder: fills of a resting order reported by the
// user stream move its row (executed quantity, then filled) at once; the
// audit found grid orders journaled new with all their fills recorded.
func TestStreamFillsMoveAnOpenOrder(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	if err := b.db.InsertOrder(ctx, store.Order{ClientOrderID: "rest-1", SessionID: "s1", AccountID: b.account, Symbol: "BTCUSDT",
		Side: "buy", Type: "limit", Price: dec("40000"), Quantity: dec("0.002"), Status: "new", VenueOrderID: "v1", Fence: 1,
		CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"partially_filled", "filled"} {
		tr := venue.Trade{ID: fmt.Sprint("t", i), VenueOrderID: "v1", ClientOrderID: "rest-1", Symbol: "BTCUSDT", Side: venue.Buy,
			Price: dec("40000"), Quantity: dec("0.001"), QuoteQty: dec("40"), Fee: dec("0.000001"), FeeAsset: "BTC", Time: time.Now()}
		if _, err := b.x.RecordTrade(ctx, tr, ""); err != nil {
			t.Fatal(err)
		}
		row, _ := b.db.OrderByClientID(ctx, "rest-1")
		if row.Status != want || !row.ExecutedQty.Equal(dec("0.001").Mul(dec(fmt.Sprint(i+1)))) {
			t.Fatalf("after fill %d: %s %s, want %s", i+1, row.Status, row.ExecutedQty, want)
		}
	}
}

// TestAuditRecoversALateFillTheStreamMissed: an order the journal failed is
// executed late while the user stream is down, so no fill reaches the
// journal and Reconcile, which settles open orders only, never looks at it:
// the audit finds the difference, and RecoverFills records the venue's
// fills, which corrects the order. The audit then agrees with the venue.
// On the old code the difference stayed, reported hourly, never corrected.
func TestAuditRecoversALateFillTheStreamMissed(t *testing.T) {
	t.Parallel()
	c := setupLaggy(t, 0, 0)
	from := c.clk.Now().Add(-time.Minute)
	c.acct.Faults().Next(paper.OpPlace, paper.FaultTimeoutBeforeExecution)
	c.x.Place(ctx, c.intent("missed-1"))
	c.clk.Jump(96 * time.Second)
	if _, err := c.x.SettleUnknown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.status(t, "missed-1"); got != store.OrderFailed {
		t.Fatalf("status %s, want failed before the late send", got)
	}
	vo, err := c.acct.PlaceOrder(ctx, c.intent("missed-1").Request) // the late send; its fill is never streamed
	if err != nil || vo.Status != venue.StatusFilled {
		t.Fatalf("late send: %+v %v", vo, err)
	}
	c.lv.mu.Lock()
	c.lv.created["missed-1"] = c.clk.Now()
	c.lv.mu.Unlock()
	if _, err := c.x.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.status(t, "missed-1"); got != store.OrderFailed {
		t.Fatalf("status %s after Reconcile; the test assumes Reconcile leaves closed orders alone", got)
	}
	to := time.Now().Add(time.Hour)
	rep, err := journal.Audit(ctx, c.db, c.acct, c.account, from, to, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Differences) != 1 || rep.Differences[0].ClientOrderID != "missed-1" {
		t.Fatalf("differences %+v, want missed-1", rep.Differences)
	}
	n, err := c.x.RecoverFills(ctx, "missed-1")
	if err != nil || n == 0 {
		t.Fatalf("recovered %d fills: %v", n, err)
	}
	row, _ := c.db.OrderByClientID(ctx, "missed-1")
	if row.Status != string(venue.StatusFilled) || !row.ExecutedQty.Equal(vo.ExecutedQty) {
		t.Fatalf("row %s %s, want filled %s", row.Status, row.ExecutedQty, vo.ExecutedQty)
	}
	if kinds := c.kinds(t, "missed-1"); !slices.Contains(kinds, "corrected") {
		t.Fatalf("kinds %q, want a corrected event", kinds)
	}
	if rep, err = journal.Audit(ctx, c.db, c.acct, c.account, from, to, nil); err != nil || len(rep.Differences) != 0 {
		t.Fatalf("audit after recovery: %+v %v, want no difference", rep.Differences, err)
	}
	if n, err := c.x.RecoverFills(ctx, "missed-1"); err != nil || n != 0 {
		t.Fatalf("second recovery: %d %v, want nothing new", n, err)
	}
}
