// Package dca is dollar-cost averaging: every interval, buy a fixed quote
// amount of one symbol at market, rounded down to the symbol's step, until
// the session's allocation (if any) is spent. It owns only that decision.
package dca

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tradeplane/tradeplane/internal/apperr"
	"github.com/tradeplane/tradeplane/internal/strategy"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// Name is the registered name.
const Name = "dca"

func init() {
	strategy.Register(strategy.Info{Name: Name, Description: "buy a quote amount every interval", Factory: New})
}

// Params of dca.
type Params struct {
	Symbol      string            `json:"symbol"`       // e.g. BTCUSDT
	QuoteAmount venue.Decimal     `json:"quote_amount"` // quote to spend per buy
	Interval    strategy.Duration `json:"interval"`     // time between buys
	// MaxPrice, when positive, skips buys above it.
	MaxPrice venue.Decimal `json:"max_price"`
}

// State is what dca remembers.
type State struct {
	Buys   int           `json:"buys"`
	Spent  venue.Decimal `json:"spent"`  // quote committed (price × quantity at decision)
	Bought venue.Decimal `json:"bought"` // base executed as reported on placement
}

// DCA is the strategy.
type DCA struct{ p Params }

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
	case !p.QuoteAmount.IsPos():
		return nil, bad("quote_amount", "must be positive")
	case p.Interval <= 0:
		return nil, bad("interval", "must be positive")
	}
	return &DCA{p: p}, nil
}

// TradedSymbols is the one symbol of the parameters (strategy.SymbolTrader).
func (d *DCA) TradedSymbols() []string { return []string{d.p.Symbol} }

// Interval is the buy interval.
func (d *DCA) Interval() time.Duration { return time.Duration(d.p.Interval) }

// Step buys QuoteAmount's worth at market.
func (d *DCA) Step(ctx context.Context, env strategy.Env) (strategy.StepResult, error) {
	var st State
	if err := env.State(&st); err != nil {
		return strategy.StepResult{}, err
	}
	amount := d.p.QuoteAmount
	alloc, err := env.Allocation(ctx)
	if err != nil {
		return strategy.StepResult{}, err
	}
	if alloc.IsPos() {
		left := alloc.Sub(st.Spent)
		if !left.IsPos() {
			return strategy.StepResult{Skip: fmt.Sprintf("allocation %s spent", alloc), SkipCode: apperr.AllocationExceeded}, nil
		}
		if left.LessThan(amount) {
			amount = left
		}
	}
	sym, err := env.Symbol(ctx, d.p.Symbol)
	if err != nil {
		return strategy.StepResult{}, err
	}
	px, err := env.Price(ctx, d.p.Symbol)
	if err != nil {
		return strategy.StepResult{}, err
	}
	if d.p.MaxPrice.IsPos() && px.GreaterThan(d.p.MaxPrice) {
		return strategy.StepResult{Skip: fmt.Sprintf("price %s above max %s", px, d.p.MaxPrice)}, nil
	}
	qty := strategy.QtyForQuote(sym, amount, px)
	if ok, why := strategy.Tradable(sym, px, qty); !ok {
		return strategy.StepResult{Skip: why}, nil
	}
	o, err := env.Place(ctx, venue.OrderRequest{Symbol: d.p.Symbol, Side: venue.Buy, Type: venue.Market, Quantity: qty})
	if err != nil {
		return strategy.StepResult{}, err
	}
	st.Buys++
	st.Spent = st.Spent.Add(px.Mul(qty))
	st.Bought = st.Bought.Add(o.ExecutedQty)
	if err := env.SetState(st); err != nil {
		return strategy.StepResult{}, err
	}
	return strategy.StepResult{Note: fmt.Sprintf("buy %s %s at ~%s", qty, d.p.Symbol, px)}, nil
}

var _ strategy.Corrector = (*DCA)(nil)

// Correct counts a buy the venue executed after the journal had closed it:
// a buy whose placement failed becomes a buy made (Buys, Spent by what it
// cost), and any execution not yet seen adds to Bought. Spent of an order
// that was placed already counts its whole amount at decision.
func (d *DCA) Correct(st strategy.StateStore, c strategy.Correction) error {
	if c.Symbol != d.p.Symbol || c.Side != venue.Buy {
		return nil
	}
	var s State
	if err := st.State(&s); err != nil {
		return err
	}
	if c.WasFailed() {
		if c.SeenQty.IsZero() {
			s.Buys++
		}
		s.Spent = s.Spent.Add(c.QuoteQty)
	}
	s.Bought = s.Bought.Add(c.Executed)
	return st.SetState(s)
}
