package session

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/strategy"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// A late truth reaches the strategy too. When the journal corrects an order
// it had closed (failed, canceled) because the venue executed it after all,
// it opens a correction for the order's session in the same commit
// (store.CorrectionMark). The session's runner applies each open correction
// to the strategy's state through the strategy's Correct (strategy.Corrector)
// and saves the state with what the strategy has now seen of the order in
// one commit, so a crash between the corrected event and the state save
// leaves the correction open and it is applied after the restart, once.
// Corrections are applied when the runner starts, when Corrected says one
// was made (the journal's event on this node, or another node's through
// the cluster's fan-out), after a replayed step closes, and before a step
// when they were last read correctionPoll ago (a notice between nodes is
// best effort), so a quiet step costs no read. While the session has an open step
// they wait: the step's replay answers its orders from the journal, so the
// strategy sees a corrected order there (and the step's save records it as
// seen), not twice.

// Corrected tells the session's runner that the journal corrected one of
// its orders, so its strategy state sees it now instead of at the next
// step. It never blocks; a session not running here applies it when it
// starts.
func (m *Manager) Corrected(sessionID string) {
	m.mu.Lock()
	r := m.runners[sessionID]
	m.mu.Unlock()
	if r == nil {
		return
	}
	select {
	case r.corr <- struct{}{}:
	default: // one is pending already
	}
}

// correctionPoll bounds how long a correction whose notice was lost waits.
const correctionPoll = time.Minute

// stateBox is a strategy.StateStore over a session's raw state.
type stateBox struct {
	state json.RawMessage
	dirty bool
}

func (b *stateBox) State(v any) error {
	if len(b.state) == 0 || string(b.state) == "{}" || string(b.state) == "null" {
		return nil
	}
	return json.Unmarshal(b.state, v)
}

func (b *stateBox) SetState(v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode strategy state: %w", err)
	}
	b.state, b.dirty = raw, true
	return nil
}

// applyCorrections applies the session's open corrections to its strategy
// state (see the comment above). Nothing is written when this node may not
// own the session. A failure is logged and leaves the corrections open, to
// be applied at the next try.
func (r *runner) applyCorrections(ctx context.Context, strat strategy.Strategy) {
	m := r.m
	r.corrChecked = m.clk.Now()
	if r.released.Load() {
		return
	}
	if _, err := m.guard(r.id); err != nil {
		return
	}
	ps, err := m.db.PendingCorrections(ctx, r.id)
	if err != nil {
		m.log.Error("read strategy corrections", "session", r.id, "err", err)
		return
	}
	if len(ps) == 0 {
		return
	}
	corr, _ := strat.(strategy.Corrector)
	box := &stateBox{state: r.sstate}
	var seen []store.CorrectionSeen
	for _, p := range ps {
		o := p.Order
		if o.Status == store.OrderIntent || o.Status == store.OrderUnknown {
			continue // not settled yet: applied once the venue's answer is certain
		}
		dq, dquote := o.ExecutedQty.Sub(p.SeenQty), o.QuoteQty.Sub(p.SeenQuote)
		if corr != nil && dq.IsPos() {
			c := strategy.Correction{ClientOrderID: o.ClientOrderID, Symbol: o.Symbol, Side: venue.Side(o.Side),
				Type: venue.OrderType(o.Type), Price: o.Price, Quantity: o.Quantity, Was: p.WasStatus,
				Status: venue.OrderStatus(o.Status), SeenQty: p.SeenQty, Executed: dq, QuoteQty: dquote}
			if err := corr.Correct(box, c); err != nil {
				m.log.Error("strategy correction", "session", r.id, "order", o.ClientOrderID, "err", err)
				continue
			}
		}
		seen = append(seen, store.CorrectionSeen{ClientOrderID: o.ClientOrderID, SeenQty: o.ExecutedQty,
			SeenQuote: o.QuoteQty, Gen: p.Gen, Done: venue.OrderStatus(o.Status).Terminal() || o.Status == store.OrderFailed})
	}
	if len(seen) == 0 {
		return
	}
	var st json.RawMessage
	if box.dirty {
		st = box.state
	}
	if err := m.db.ApplyCorrections(ctx, r.id, st, seen); err != nil {
		m.log.Error("save strategy corrections", "session", r.id, "err", err)
		return
	}
	if box.dirty {
		r.sstate = box.state
	}
	m.log.Info("strategy state corrected by late executions", "session", r.id, "orders", len(seen))
}
