package journal

import (
	"context"
	"fmt"
	"time"

	"github.com/tradeplane/tradeplane/internal/alert"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// SourceLiquidation is the fill source of a liquidation's closing fill.
const SourceLiquidation = "liquidation"

// RecordFunding stores one funding payment of a perpetual position and its
// funding event (Fee = the signed amount: received positive, paid negative;
// FeeAsset its asset) in one commit, and reports whether it was new: a
// payment stored already (same account, symbol and payment id) changes
// nothing. source says where it was read ("stream", "backfill", "poll").
func (x *Executor) RecordFunding(ctx context.Context, p venue.FundingPayment, sessionID, source string) (bool, error) {
	if p.ID == "" || p.Symbol == "" || p.Asset == "" {
		return false, fmt.Errorf("record funding %+v: id, symbol and asset are required", p)
	}
	row := &store.FundingPayment{AccountID: x.account, Symbol: p.Symbol, PaymentID: p.ID, Asset: p.Asset, Amount: p.Amount,
		PositionSize: p.PositionSize, SessionID: sessionID, Source: source, At: p.Time.UTC()}
	verb := "received"
	if p.Amount.IsNeg() {
		verb = "paid"
	}
	ev := &Event{At: x.clock.Now(), Kind: KindFunding, SessionID: sessionID, AccountID: x.account, Symbol: p.Symbol,
		Quantity: p.PositionSize, Fee: p.Amount, FeeAsset: p.Asset,
		Message: fmt.Sprintf("funding %s %s %s %s at %s (payment %s)", verb, p.Amount.Abs(), p.Asset, p.Symbol,
			p.Time.UTC().Format(time.RFC3339), p.ID)}
	in := Intent{SessionID: sessionID, AccountID: x.account, Request: venue.OrderRequest{Symbol: p.Symbol}}
	ws, err := x.durable(ctx, in, write{funding: row, events: []*Event{ev}})
	if err != nil {
		return false, fmt.Errorf("record funding %s/%s: %w", p.Symbol, p.ID, err)
	}
	return ws[0].FundingInserted, nil
}

// RecordLiquidation stores the closing fill of a liquidated position (t:
// the side that closes it, at the liquidation price, with the liquidation
// fee, see paper.Liquidation.Trade) with source "liquidation" and a
// liquidation event, in one commit, and raises a warning alert the first
// time. PnL books it like any fill: the realized loss and the fee. It
// reports whether it was new.
func (x *Executor) RecordLiquidation(ctx context.Context, t venue.Trade, sessionID string) (bool, error) {
	w := x.tradeWrite(t, sessionID, SourceLiquidation, 0)
	ev := w.events[0]
	ev.Kind = KindLiquidation
	ev.Message = fmt.Sprintf("liquidation: %s %s %s at %s, fee %s %s (trade %s)", t.Side, t.Quantity, t.Symbol, t.Price,
		t.Fee, t.FeeAsset, t.ID)
	in := Intent{SessionID: sessionID, AccountID: x.account, Request: venue.OrderRequest{Symbol: t.Symbol}}
	ws, err := x.durable(ctx, in, w)
	if err != nil {
		return false, fmt.Errorf("record liquidation %s/%s: %w", t.Symbol, t.ID, err)
	}
	if ws[0].FillInserted {
		x.raise(ctx, alert.Warning, in, "position %s liquidated: %s %s at %s, fee %s %s", t.Symbol, t.Side, t.Quantity,
			t.Price, t.Fee, t.FeeAsset)
	}
	return ws[0].FillInserted, nil
}

// SyncFunding reads the funding payments of [from, to) from a venue with
// positions and records each not stored yet (RecordFunding, source "poll")
// with the session that holds the position (PositionOwners); it returns how
// many were new. Rerunning it over the same window records nothing twice.
func (x *Executor) SyncFunding(ctx context.Context, pr venue.PositionReader, from, to time.Time) (int, error) {
	ps, err := pr.FundingPayments(ctx, "", from, to)
	if err != nil {
		return 0, fmt.Errorf("sync funding: %w", err)
	}
	known, err := x.j.db.FundingKeys(ctx, x.account, from, to)
	if err != nil {
		return 0, fmt.Errorf("sync funding: %w", err)
	}
	owners := NewPositionOwners(x.j.db, x.account)
	n := 0
	for _, p := range ps {
		if known[store.FundingKey{Symbol: p.Symbol, PaymentID: p.ID}] {
			continue
		}
		sid, err := owners.Owner(ctx, p.Symbol, p.Time, p.PositionSize)
		if err != nil {
			return n, fmt.Errorf("sync funding: %w", err)
		}
		ok, err := x.RecordFunding(ctx, p, sid, "poll")
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// SyncLiquidations records the closing fills of liquidated positions (see
// RecordLiquidation) not stored yet, each with the session that held the
// whole position it closed (PositionOwners; a sell of q closed a long of q);
// it returns how many were new.
func (x *Executor) SyncLiquidations(ctx context.Context, ts []venue.Trade) (int, error) {
	if len(ts) == 0 {
		return 0, nil
	}
	keys := make([]store.FillKey, len(ts))
	for i, t := range ts {
		keys[i] = store.FillKey{Symbol: t.Symbol, TradeID: t.ID}
	}
	stored, err := x.j.db.FillsByKey(ctx, x.account, keys)
	if err != nil {
		return 0, fmt.Errorf("sync liquidations: %w", err)
	}
	owners := NewPositionOwners(x.j.db, x.account)
	n := 0
	for _, t := range ts {
		if _, ok := stored[store.FillKey{Symbol: t.Symbol, TradeID: t.ID}]; ok {
			continue
		}
		closed := t.Quantity
		if t.Side == venue.Buy {
			closed = closed.Neg()
		}
		sid, err := owners.Owner(ctx, t.Symbol, t.Time, closed)
		if err != nil {
			return n, fmt.Errorf("sync liquidations: %w", err)
		}
		ok, err := x.RecordLiquidation(ctx, t, sid)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}
