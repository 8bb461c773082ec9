package strategy

import "github.com/tradeplane/tradeplane/internal/venue"

// Correction is a late truth about one of the session's orders: the
// journal had closed it (failed, rejected, canceled, expired), the strategy
// saw it so, and the venue has since reported that it executed (more). The
// session applies each correction to the strategy's state once, durably,
// with the state it produces; a strategy need not guard against repeats.
type Correction struct {
	ClientOrderID string
	Symbol        string
	Side          venue.Side
	Type          venue.OrderType
	Price         Decimal // the order's limit price; zero for a market order
	Quantity      Decimal // the order's quantity
	// Was is the status the journal had closed the order with: "failed",
	// "rejected", "canceled" or "expired".
	Was string
	// Status is the order's true status now (filled, canceled with a
	// partial execution, or still open on the venue).
	Status venue.OrderStatus
	// SeenQty is the executed quantity the strategy had already seen of
	// the order (zero for an order it saw fail).
	SeenQty Decimal
	// Executed and QuoteQty are what is new: the executed base quantity
	// and its quote amount the strategy has not seen yet.
	Executed Decimal
	QuoteQty Decimal
}

// WasFailed reports whether the strategy saw the order fail or be rejected
// (its Place returned an error), so that it counted nothing of it.
func (c Correction) WasFailed() bool { return c.Was == "failed" || c.Was == "rejected" }

// StateStore is the part of an Env a correction touches: the strategy's
// persisted state.
type StateStore interface {
	State(v any) error
	SetState(v any) error
}

// Corrector is implemented by strategies whose state counts what their
// orders executed (buys made, quantity bought, fills). Correct updates the
// state through st for one correction; it must not talk to the venue (it
// runs outside a step, and may run before the strategy's next step). An
// error leaves the correction pending; it is retried before the next step.
// Strategies that keep no such count need not implement it.
type Corrector interface {
	Correct(st StateStore, c Correction) error
}
