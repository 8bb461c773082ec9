package session_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/strategy/dca"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// settledBehind is an OrderPlacer whose first answer for an order is lost
// after the order executed (an unknown outcome), while the journal row is
// settled behind the step's back: the user stream's fill or a reconcile
// moved it to filled before the step ended. A later Place of the same id
// is answered from that row, as the journal's executor answers a replayed
// step.
type settledBehind struct {
	b    *bundle
	mu   sync.Mutex
	rows map[string]venue.Order
	sent int
}

func (p *settledBehind) Place(ctx context.Context, in session.Intent) (venue.Order, error) {
	id := in.Request.ClientOrderID
	p.mu.Lock()
	defer p.mu.Unlock()
	if o, ok := p.rows[id]; ok {
		return o, nil // answered from the journal
	}
	p.sent++
	o, err := p.b.placer.Place(ctx, in)
	if err != nil {
		return o, err
	}
	if err := p.b.db.InsertOrder(ctx, store.Order{ClientOrderID: id, SessionID: in.SessionID, AccountID: in.AccountID,
		Symbol: o.Symbol, Side: string(o.Side), Type: string(o.Type), Quantity: o.Quantity, Status: string(o.Status),
		VenueOrderID: o.VenueOrderID, ExecutedQty: o.ExecutedQty, QuoteQty: o.QuoteQty, CreatedAt: p.b.clk.Now()}); err != nil {
		return venue.Order{}, err
	}
	p.rows[id] = o
	return venue.Order{}, fmt.Errorf("place order %q: the answer was lost: %w", id, venue.ErrUnknownOutcome)
}

func (p *settledBehind) Cancel(ctx context.Context, in session.Intent) (venue.Order, error) {
	return p.b.placer.Cancel(ctx, in)
}

// TestUnknownAnswerKeepsStepOpen: a step's order executed, its answer was
// lost, and its journal row was settled (filled) before the step ended.
// The strategy never saw the fill, so the step must stay open and be
// replayed, when the journal answers the order and the strategy records
// it, once. The old code closed the step because the row was settled, and
// the strategy state stayed one buy short of the venue for good (seen as
// TestBybitSessionsUnderFaults failing when a terminal row kept its status
// against the executor's late "unknown").
func TestUnknownAnswerKeepsStepOpen(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := &settledBehind{b: b, rows: map[string]venue.Order{}}
	m := b.manager(t, func(o *session.Options) {
		o.ManualSchedule = true
		base := o.Accounts
		o.Accounts = session.AccountsFunc(func(ctx context.Context, id int64) (session.Account, error) {
			a, err := base.Account(ctx, id)
			a.Orders = p
			return a, err
		})
	})
	ctx := t.Context()
	s := b.create(t, m, "lost-answer", "dca", `{"symbol":"BTCUSDT","quote_amount":"10","interval":"1h"}`)
	if _, err := m.Start(ctx, s.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	b.drive(t, "running", func() bool { return b.state(t, m, s.ID) == session.Running })
	m.TradeNow(ctx, s.ID, "bob") // the answer is lost: the step ends aborted
	st, open := b.savedDCA(t, s.ID)
	if open == 0 {
		t.Fatalf("the step closed with an order whose answer the strategy never saw (state %+v): its buy is lost", st)
	}
	if st.Buys != 0 {
		t.Fatalf("state %+v before the replay, want no buy recorded", st)
	}
	b.clk.Advance(time.Minute)
	if _, err := m.TradeNow(ctx, s.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	st, open = b.savedDCA(t, s.ID)
	if st.Buys != 1 || !st.Bought.IsPos() || open != 0 {
		t.Fatalf("after the replay: state %+v, open step %d; want the one buy recorded and the step closed", st, open)
	}
	p.mu.Lock()
	sent := p.sent
	p.mu.Unlock()
	if sent != 1 {
		t.Fatalf("%d orders sent, want 1: the replay must be answered from the journal", sent)
	}
}

// savedDCA is a DCA session's saved strategy state and open step.
func (b *bundle) savedDCA(t *testing.T, id string) (dca.State, int64) {
	t.Helper()
	got, err := b.db.Session(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	var st dca.State
	if len(got.StrategyState) > 0 {
		if err := json.Unmarshal(got.StrategyState, &st); err != nil {
			t.Fatal(err)
		}
	}
	return st, got.StepOpen
}
