package venue

import (
	"context"
	"time"
)

// MarginMode is how a derivatives position is margined.
type MarginMode string

// Margin modes.
const (
	MarginCross    MarginMode = "cross"
	MarginIsolated MarginMode = "isolated"
)

// Position is one open derivatives position (a linear perpetual: quantity
// in the base asset, settled in SettleAsset).
type Position struct {
	Symbol      string
	SettleAsset string  // USDT for a USDT perpetual
	Size        Decimal // base quantity: positive long, negative short
	EntryPrice  Decimal
	MarkPrice   Decimal
	// UnrealizedPnL is in SettleAsset at MarkPrice.
	UnrealizedPnL    Decimal
	Leverage         Decimal
	LiquidationPrice Decimal // zero when the venue reports none
	MarginMode       MarginMode
	Updated          time.Time
}

// FundingPayment is one funding settlement of a perpetual position.
type FundingPayment struct {
	ID     string // unique per venue account
	Symbol string
	Asset  string  // the settle asset the payment moved
	Amount Decimal // positive received, negative paid
	// PositionSize is the signed position the payment was for, when the
	// venue reports it.
	PositionSize Decimal
	Time         time.Time
}

// PositionReader is what a venue with derivatives adds to Venue: its open
// positions and the funding payments of a window. It is optional: callers
// ask with a type assertion, and spot-only venues do not implement it.
type PositionReader interface {
	// Positions lists every open (non-zero) position.
	Positions(ctx context.Context) ([]Position, error)
	// FundingPayments lists the funding payments in [from, to), oldest
	// first; an empty symbol means all symbols.
	FundingPayments(ctx context.Context, symbol string, from, to time.Time) ([]FundingPayment, error)
}
