// Package rebalance keeps a set of assets at target weights of their
// combined value in a quote asset: when any asset's weight drifts from its
// target by more than the threshold, it sells the overweight assets and
// then buys the underweight ones at market, quantities rounded down to the
// step, orders below the minimum notional left out. It values the spot
// wallet's free plus locked balances; a positive allocation caps the value
// it manages.
package rebalance

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/strategy"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// Name is the registered name.
const Name = "rebalance"

func init() {
	strategy.Register(strategy.Info{Name: Name, Description: "hold target weights, trading when drift exceeds a threshold", Factory: New})
}

// Params of rebalance. Weights are by asset and must sum to 1; the quote
// asset may have a weight (cash); symbols are ASSET+Quote.
type Params struct {
	Quote     string                   `json:"quote"`
	Weights   map[string]venue.Decimal `json:"weights"`
	Threshold venue.Decimal            `json:"threshold"` // e.g. 0.05 = 5 points of weight
	Interval  strategy.Duration        `json:"interval"`
}

// State counts rebalances.
type State struct {
	Rebalances int `json:"rebalances"`
}

// Rebalance is the strategy.
type Rebalance struct {
	p      Params
	assets []string
}

// New validates params.
func New(raw json.RawMessage) (strategy.Strategy, error) {
	var p Params
	if err := strategy.DecodeParams(Name, raw, &p); err != nil {
		return nil, err
	}
	bad := func(f, r string) error { return &strategy.ParamsError{Strategy: Name, Field: f, Reason: r} }
	if p.Quote == "" {
		return nil, bad("quote", "required")
	}
	if len(p.Weights) < 2 {
		return nil, bad("weights", "need at least two assets")
	}
	sum := udecimal.Zero
	var assets []string
	for a, w := range p.Weights {
		if w.IsNeg() {
			return nil, bad("weights", "negative weight for "+a)
		}
		sum = sum.Add(w)
		assets = append(assets, a)
	}
	if !sum.Equal(udecimal.One) {
		return nil, bad("weights", fmt.Sprintf("sum to %s, not 1", sum))
	}
	if !p.Threshold.IsPos() || !p.Threshold.LessThan(udecimal.One) {
		return nil, bad("threshold", "must be in (0, 1)")
	}
	if p.Interval <= 0 {
		return nil, bad("interval", "must be positive")
	}
	slices.Sort(assets)
	return &Rebalance{p: p, assets: assets}, nil
}

// TradedSymbols are ASSET+Quote for every weighted asset but the quote, sorted
// (strategy.SymbolTrader).
func (r *Rebalance) TradedSymbols() []string {
	var out []string
	for _, a := range r.assets {
		if a != r.p.Quote {
			out = append(out, a+r.p.Quote)
		}
	}
	return out
}

// Interval is the check interval.
func (r *Rebalance) Interval() time.Duration { return time.Duration(r.p.Interval) }

type leg struct {
	asset string
	sym   venue.Symbol
	px    venue.Decimal
	delta venue.Decimal // quote value to buy (+) or sell (-)
}

// Step checks drift and trades back to target.
func (r *Rebalance) Step(ctx context.Context, env strategy.Env) (strategy.StepResult, error) {
	bals, err := env.Balances(ctx)
	if err != nil {
		return strategy.StepResult{}, err
	}
	held := map[string]venue.Decimal{}
	for _, b := range bals {
		if b.Wallet == venue.WalletSpot {
			held[b.Asset] = held[b.Asset].Add(b.Free).Add(b.Locked)
		}
	}
	values := map[string]venue.Decimal{}
	total := udecimal.Zero
	var legs []leg
	for _, a := range r.assets {
		if a == r.p.Quote {
			values[a] = held[a]
		} else {
			sym, err := env.Symbol(ctx, a+r.p.Quote)
			if err != nil {
				return strategy.StepResult{}, err
			}
			px, err := env.Price(ctx, sym.Name)
			if err != nil {
				return strategy.StepResult{}, err
			}
			values[a] = held[a].Mul(px)
			legs = append(legs, leg{asset: a, sym: sym, px: px})
		}
		total = total.Add(values[a])
	}
	if !total.IsPos() {
		return strategy.StepResult{Skip: "nothing to rebalance: zero value"}, nil
	}
	managed := total
	if alloc, err := env.Allocation(ctx); err != nil {
		return strategy.StepResult{}, err
	} else if alloc.IsPos() && alloc.LessThan(total) {
		managed = alloc
	}
	maxDrift := udecimal.Zero
	for _, a := range r.assets {
		w, _ := values[a].Div(total)
		if d := w.Sub(r.p.Weights[a]).Abs(); d.GreaterThan(maxDrift) {
			maxDrift = d
		}
	}
	if maxDrift.LessThanOrEqual(r.p.Threshold) {
		return strategy.StepResult{Skip: fmt.Sprintf("max drift %s within threshold %s", maxDrift.Trunc(4), r.p.Threshold)}, nil
	}
	for i := range legs {
		target := managed.Mul(r.p.Weights[legs[i].asset])
		legs[i].delta = target.Sub(values[legs[i].asset])
	}
	// Sells first, so buys have the quote they need.
	slices.SortFunc(legs, func(a, b leg) int { return a.delta.Cmp(b.delta) })
	n := 0
	for _, l := range legs {
		side := venue.Buy
		if l.delta.IsNeg() {
			side = venue.Sell
		}
		qty := strategy.QtyForQuote(l.sym, l.delta.Abs(), l.px)
		if ok, _ := strategy.Tradable(l.sym, l.px, qty); !ok {
			continue
		}
		if _, err := env.Place(ctx, venue.OrderRequest{Symbol: l.sym.Name, Side: side, Type: venue.Market, Quantity: qty}); err != nil {
			return strategy.StepResult{}, err
		}
		n++
	}
	if n == 0 {
		return strategy.StepResult{Skip: "drift above threshold but every trade below the minimum"}, nil
	}
	var st State
	if err := env.State(&st); err != nil {
		return strategy.StepResult{}, err
	}
	st.Rebalances++
	if err := env.SetState(st); err != nil {
		return strategy.StepResult{}, err
	}
	return strategy.StepResult{Note: fmt.Sprintf("rebalanced with %d orders (max drift %s)", n, maxDrift.Trunc(4))}, nil
}
