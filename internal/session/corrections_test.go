package session_test

import (
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/strategy/dca"
)

// TestCorrectionWithoutNotice: another node corrected one of the session's
// orders and its notice never arrived here. The runner reads the session's
// open corrections at most a minute apart before a step, so the strategy
// state counts the late buy before the first step a minute after the last
// read, once. On the old code the state never counted it.
func TestCorrectionWithoutNotice(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := b.manager(t, func(o *session.Options) { o.ManualSchedule = true })
	ctx := t.Context()
	s := b.create(t, m, "late", "dca", `{"symbol":"BTCUSDT","quote_amount":"10","interval":"1h"}`)
	if _, err := m.Start(ctx, s.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	b.drive(t, "running", func() bool { return b.state(t, m, s.ID) == session.Running })
	buys := func() dca.State {
		t.Helper()
		st, _ := b.savedDCA(t, s.ID)
		return st
	}
	// What another node's journal wrote: the order failed, then corrected.
	id := s.ID + "-late-0"
	if err := b.db.InsertOrder(ctx, store.Order{ClientOrderID: id, SessionID: s.ID, AccountID: b.account, Symbol: "BTCUSDT",
		Side: "buy", Type: "market", Quantity: udecimal.MustParse("0.0002"), Status: store.OrderFailed, CreatedAt: b.clk.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := b.db.WriteJournal(ctx, []*store.JournalWrite{{
		Update: &store.OrderUpdate{ClientOrderID: id, Status: "filled", ExecutedQty: udecimal.MustParse("0.0002"),
			QuoteQty: udecimal.MustParse("10"), At: b.clk.Now()},
		Events:     []store.JournalEvent{{At: b.clk.Now(), Kind: "corrected", SessionID: s.ID, AccountID: b.account, ClientOrderID: id}},
		Correction: &store.CorrectionMark{SessionID: s.ID, ClientOrderID: id, WasStatus: store.OrderFailed, At: b.clk.Now()},
	}}); err != nil {
		t.Fatal(err)
	}
	b.clk.Advance(61 * time.Second)
	if _, err := m.TradeNow(ctx, s.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	if st := buys(); st.Buys != 2 || !st.Bought.GreaterThan(udecimal.MustParse("0.0002")) {
		t.Fatalf("state %+v, want the late buy and the step's", st)
	}
	b.clk.Advance(61 * time.Second)
	if _, err := m.TradeNow(ctx, s.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	if st := buys(); st.Buys != 3 {
		t.Fatalf("state %+v after another step, want 3 buys: the late one once", st)
	}
}
