package journal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tradeplane/tradeplane/internal/alert"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// A late truth is recorded, never dropped. The journal may have closed an
// order that in fact executed: a previous owner of the session, frozen
// between its lease check and the send, sent it after the new owner had
// proven it absent; or a venue reported a fill after a cancel. When a fill
// of such an order arrives, CorrectLate writes a corrected event and moves
// the order row to the venue's view of it (the one way a row moves back
// from a terminal status); the fills are stored like any other, so
// positions and PnL, which are built from fills, see them; and the same
// commit opens a strategy correction for the order's session
// (store.CorrectionMark), which package session applies to the strategy's
// state once.

// CorrectLate checks the stored order clientOrderID against its stored
// fills. When the row is closed but its fills say otherwise (failed or
// rejected with any fill; canceled or expired with more executed than the
// row holds) it asks the venue for the order and, in one commit, writes a
// corrected event, the venue's status events and fills, and moves the row
// to the venue's status; when the venue cannot be asked, the row moves to
// unknown so SettleUnknown settles it (it is never proven absent again, as
// it has fills). A critical alert says what was wrong and for how long.
// Nothing is done when the row agrees with its fills. source names who
// reported the fill, for the message.
func (x *Executor) CorrectLate(ctx context.Context, clientOrderID, source string) error {
	o, err := x.j.db.OrderByClientID(ctx, clientOrderID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // a fill of an order placed outside tradeplane
	}
	if err != nil {
		return fmt.Errorf("correct order %q: %w", clientOrderID, err)
	}
	if o.AccountID != x.account {
		return nil
	}
	fills, err := x.j.db.FillsOfOrder(ctx, x.account, clientOrderID)
	if err != nil {
		return fmt.Errorf("correct order %q: %w", clientOrderID, err)
	}
	var qty, quote venue.Decimal
	for _, f := range fills {
		qty, quote = qty.Add(f.Quantity), quote.Add(f.QuoteQty)
	}
	wrong := false
	switch o.Status {
	case store.OrderFailed, string(venue.StatusRejected):
		wrong = qty.IsPos()
	case string(venue.StatusCanceled), string(venue.StatusExpired):
		wrong = qty.GreaterThan(o.ExecutedQty)
	}
	if !wrong {
		return nil
	}
	in := Intent{SessionID: o.SessionID, AccountID: o.AccountID, Fence: o.Fence, Request: venue.OrderRequest{
		ClientOrderID: o.ClientOrderID, Symbol: o.Symbol, Side: venue.Side(o.Side), Type: venue.OrderType(o.Type),
		Quantity: o.Quantity, Price: o.Price}}
	wrongFor := x.clock.Now().Sub(o.UpdatedAt).Round(time.Millisecond)
	cor := x.base(KindCorrected, in)
	cor.VenueOrderID, cor.FilledQty = o.VenueOrderID, qty
	// The session's strategy saw the order closed with what the row held
	// (nothing for a failed or rejected order): that is the baseline its
	// correction is measured from, committed with the corrected event so a
	// crash cannot separate them.
	var mark *store.CorrectionMark
	if o.SessionID != "" {
		mark = &store.CorrectionMark{SessionID: o.SessionID, ClientOrderID: o.ClientOrderID, WasStatus: o.Status, At: x.clock.Now()}
		if o.Status != store.OrderFailed && o.Status != string(venue.StatusRejected) {
			mark.SeenQty, mark.SeenQuote = o.ExecutedQty, o.QuoteQty
		}
	}
	ws := []write{}
	var after string
	vo, qerr := x.v.QueryOrder(ctx, o.Symbol, o.ClientOrderID)
	if qerr == nil {
		after = string(vo.Status)
		cor.VenueOrderID, cor.FilledQty = vo.VenueOrderID, vo.ExecutedQty
		cor.Message = fmt.Sprintf("the journal said %s for %s, but %s reported a fill and the venue says %s with %s executed",
			o.Status, wrongFor, source, vo.Status, vo.ExecutedQty)
		fws, err := x.fillWrites(ctx, in, vo)
		if err == nil {
			ws = append(ws, fws...)
		}
		ws = append([]write{{update: &store.OrderUpdate{ClientOrderID: o.ClientOrderID, Status: after, VenueOrderID: vo.VenueOrderID,
			ExecutedQty: vo.ExecutedQty, QuoteQty: vo.QuoteQty, Fence: o.Fence, At: x.clock.Now(), Reopen: true},
			events: append([]*Event{cor}, x.statusEvents(in, vo)...), correction: mark}}, ws...)
	} else {
		after = store.OrderUnknown
		cor.Message = fmt.Sprintf("the journal said %s for %s, but %s reported fills of %s; the venue could not be asked (%v), so the order is unknown until it is",
			o.Status, wrongFor, source, qty, qerr)
		ws = append(ws, write{update: &store.OrderUpdate{ClientOrderID: o.ClientOrderID, Status: after, ExecutedQty: qty,
			QuoteQty: quote, Fence: o.Fence, At: x.clock.Now(), Reopen: true}, events: []*Event{cor}, correction: mark})
	}
	if _, err := x.durable(ctx, in, ws...); err != nil {
		return fmt.Errorf("correct order %q: %w", clientOrderID, err)
	}
	x.m.failure(string(KindCorrected))
	x.raise(ctx, alert.Critical, in, "order %q of session %s was journaled %s for %s, but it executed (%s filled): corrected to %s",
		o.ClientOrderID, o.SessionID, o.Status, wrongFor, cor.FilledQty, after)
	return nil
}

// followFills moves an open order's row (new, partially filled) to what
// its stored fills say once they exceed its executed quantity: fills are
// facts, and the order is filled when they add up to its quantity. Fills
// reported by the user stream so reach the order row at once, not at the
// next Reconcile.
func (x *Executor) followFills(ctx context.Context, clientOrderID string) error {
	o, err := x.j.db.OrderByClientID(ctx, clientOrderID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("follow fills of order %q: %w", clientOrderID, err)
	}
	if o.AccountID != x.account || (o.Status != string(venue.StatusNew) && o.Status != string(venue.StatusPartiallyFilled)) {
		return nil
	}
	fills, err := x.j.db.FillsOfOrder(ctx, x.account, clientOrderID)
	if err != nil {
		return fmt.Errorf("follow fills of order %q: %w", clientOrderID, err)
	}
	var qty, quote venue.Decimal
	for _, f := range fills {
		qty, quote = qty.Add(f.Quantity), quote.Add(f.QuoteQty)
	}
	if !qty.GreaterThan(o.ExecutedQty) {
		return nil
	}
	status, kind := venue.StatusPartiallyFilled, KindPartiallyFilled
	if o.Quantity.IsPos() && !qty.LessThan(o.Quantity) {
		status, kind = venue.StatusFilled, KindFilled
	}
	in := Intent{SessionID: o.SessionID, AccountID: o.AccountID, Fence: o.Fence, Request: venue.OrderRequest{
		ClientOrderID: o.ClientOrderID, Symbol: o.Symbol, Side: venue.Side(o.Side), Type: venue.OrderType(o.Type),
		Quantity: o.Quantity, Price: o.Price}}
	ev := x.base(kind, in)
	ev.VenueOrderID, ev.FilledQty, ev.Message = o.VenueOrderID, qty, "from the fills reported by the user stream"
	_, err = x.durable(ctx, in, write{update: &store.OrderUpdate{ClientOrderID: o.ClientOrderID, Status: string(status),
		ExecutedQty: qty, QuoteQty: quote, Fence: o.Fence, At: x.clock.Now()}, events: []*Event{ev}})
	if err == nil && status == venue.StatusFilled {
		x.m.settled(string(status))
	}
	return err
}

// RecoverFills records the venue's fills of a journaled order that the
// journal lacks: the user stream was down when they happened, and Reconcile
// settles only orders that are still open, so a late fill of an order the
// journal had closed would otherwise only ever show as an audit
// difference. Each new fill is recorded as the stream's would be, so a
// closed order is corrected (CorrectLate) and an open one follows its
// fills. It returns how many fills were new. An order whose outcome is
// still unknown is left to SettleUnknown. The journal audit runs it for
// every journaled order on which it finds the venue disagreeing.
func (x *Executor) RecoverFills(ctx context.Context, clientOrderID string) (int, error) {
	o, err := x.j.db.OrderByClientID(ctx, clientOrderID)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("recover fills of order %q: %w", clientOrderID, err)
	}
	if o.AccountID != x.account || o.Status == store.OrderIntent || o.Status == store.OrderUnknown {
		return 0, nil
	}
	vid := o.VenueOrderID
	if vid == "" {
		vo, err := x.v.QueryOrder(ctx, o.Symbol, clientOrderID)
		if errors.Is(err, venue.ErrOrderNotFound) {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("recover fills of order %q: %w", clientOrderID, err)
		}
		vid = vo.VenueOrderID
	}
	trades, err := x.v.OrderTrades(ctx, o.Symbol, vid)
	if err != nil {
		return 0, fmt.Errorf("recover fills of order %q: %w", clientOrderID, err)
	}
	n := 0
	for _, t := range trades {
		if t.ClientOrderID == "" {
			t.ClientOrderID = clientOrderID
		}
		inserted, err := x.recordTrade(ctx, t, o.SessionID, "order_trades", o.Fence)
		if err != nil {
			return n, fmt.Errorf("recover fills of order %q: %w", clientOrderID, err)
		}
		if inserted {
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	if err := x.CorrectLate(ctx, clientOrderID, "the journal audit"); err != nil {
		return n, err
	}
	return n, x.followFills(ctx, clientOrderID)
}
