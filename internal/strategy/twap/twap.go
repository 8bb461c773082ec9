// Package twap works a parent order in equal slices over a duration: every
// Duration/Slices it sends a market order for the remaining quantity
// divided by the remaining slices (rounded down to the step; the last
// slice takes the whole remainder). A slice below the symbol's minimum is
// carried into the next one. When done it only skips.
package twap

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/tradeplane/tradeplane/internal/strategy"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// Name is the registered name.
const Name = "twap"

func init() {
	strategy.Register(strategy.Info{Name: Name, Description: "work a parent order in N slices over a duration", Factory: New})
}

// Params of twap.
type Params struct {
	Symbol   string            `json:"symbol"`
	Side     venue.Side        `json:"side"`
	Quantity venue.Decimal     `json:"quantity"` // parent base quantity
	Duration strategy.Duration `json:"duration"`
	Slices   int               `json:"slices"`
}

// State is the parent order's progress.
type State struct {
	Slices int           `json:"slices"` // slices sent or carried
	Sent   venue.Decimal `json:"sent"`   // base quantity sent
}

// TWAP is the strategy.
type TWAP struct{ p Params }

// New validates params.
func New(raw json.RawMessage) (strategy.Strategy, error) {
	var p Params
	if err := strategy.DecodeParams(Name, raw, &p); err != nil {
		return nil, err
	}
	bad := func(f, r string) error { return &strategy.ParamsError{Strategy: Name, Field: f, Reason: r} }
	switch {
	case p.Symbol == "":
		return nil, bad("symbol", "required")
	case !p.Side.Valid():
		return nil, bad("side", "buy or sell")
	case !p.Quantity.IsPos():
		return nil, bad("quantity", "must be positive")
	case p.Slices < 1 || p.Slices > 10000:
		return nil, bad("slices", "must be 1..10000")
	case time.Duration(p.Duration) < time.Duration(p.Slices)*time.Millisecond:
		return nil, bad("duration", "too short for the slices")
	}
	return &TWAP{p: p}, nil
}

// TradedSymbols is the one symbol of the parameters (strategy.SymbolTrader).
func (t *TWAP) TradedSymbols() []string { return []string{t.p.Symbol} }

// Interval is Duration/Slices.
func (t *TWAP) Interval() time.Duration {
	return time.Duration(t.p.Duration) / time.Duration(t.p.Slices)
}

// Step sends the next slice.
func (t *TWAP) Step(ctx context.Context, env strategy.Env) (strategy.StepResult, error) {
	var st State
	if err := env.State(&st); err != nil {
		return strategy.StepResult{}, err
	}
	if st.Slices >= t.p.Slices {
		return strategy.StepResult{Skip: fmt.Sprintf("parent order complete: %s of %s sent", st.Sent, t.p.Quantity)}, nil
	}
	sym, err := env.Symbol(ctx, t.p.Symbol)
	if err != nil {
		return strategy.StepResult{}, err
	}
	px, err := env.Price(ctx, t.p.Symbol)
	if err != nil {
		return strategy.StepResult{}, err
	}
	remaining := t.p.Quantity.Sub(st.Sent)
	left := t.p.Slices - st.Slices
	q, err := remaining.Div(strategy.MustDecimal(strconv.Itoa(left)))
	if err != nil {
		return strategy.StepResult{}, err
	}
	if left == 1 {
		q = remaining
	}
	q = strategy.FloorQty(sym, q)
	st.Slices++
	if ok, why := strategy.Tradable(sym, px, q); !ok {
		if err := env.SetState(st); err != nil {
			return strategy.StepResult{}, err
		}
		return strategy.StepResult{Skip: "slice carried over: " + why}, nil
	}
	if _, err := env.Place(ctx, venue.OrderRequest{Symbol: t.p.Symbol, Side: t.p.Side, Type: venue.Market, Quantity: q}); err != nil {
		return strategy.StepResult{}, err
	}
	st.Sent = st.Sent.Add(q)
	if err := env.SetState(st); err != nil {
		return strategy.StepResult{}, err
	}
	return strategy.StepResult{Note: fmt.Sprintf("slice %d/%d: %s %s %s", st.Slices, t.p.Slices, t.p.Side, q, t.p.Symbol)}, nil
}

var _ strategy.Corrector = (*TWAP)(nil)

// Correct counts a slice the venue executed after its placement had
// failed: it was sent after all, so it is one slice more and its executed
// quantity counts as sent (the remaining slices shrink by it). A slice
// whose placement succeeded already counted what it sent.
func (t *TWAP) Correct(st strategy.StateStore, c strategy.Correction) error {
	if c.Symbol != t.p.Symbol || c.Side != t.p.Side || !c.WasFailed() {
		return nil
	}
	var s State
	if err := st.State(&s); err != nil {
		return err
	}
	if c.SeenQty.IsZero() {
		s.Slices++
	}
	s.Sent = s.Sent.Add(c.Executed)
	return st.SetState(s)
}
