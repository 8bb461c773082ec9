// Package strategytest runs strategies in tests: Env is a strategy.Env over
// a real venue.Venue (the paper exchange) with in-memory state, so a
// strategy's test scripts a price path and checks the orders it leaves on
// the venue. It owns no assertions.
package strategytest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tradeplane/tradeplane/internal/strategy"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// Env is a strategy.Env for tests. Set the exported fields before use.
type Env struct {
	Venue      venue.Venue
	ID         string
	Syms       []string
	ParamsJSON json.RawMessage
	// PriceOf returns a symbol's current price.
	PriceOf func(symbol string) (venue.Decimal, error)
	Clock   func() time.Time
	Alloc   venue.Decimal
	Dry     bool

	mu     sync.Mutex
	state  json.RawMessage
	step   int
	n      int
	Placed []venue.Order
}

var _ strategy.Env = (*Env)(nil)

// NextStep starts a new step: client order ids restart their index.
func (e *Env) NextStep() { e.mu.Lock(); e.step++; e.n = 0; e.mu.Unlock() }

// RawState is the persisted state.
func (e *Env) RawState() json.RawMessage { e.mu.Lock(); defer e.mu.Unlock(); return e.state }

// Now implements strategy.Env.
func (e *Env) Now() time.Time { return e.Clock() }

// SessionID implements strategy.Env.
func (e *Env) SessionID() string { return e.ID }

// Symbols implements strategy.Env.
func (e *Env) Symbols() []string { return e.Syms }

// DryRun implements strategy.Env.
func (e *Env) DryRun() bool { return e.Dry }

// Params implements strategy.Env.
func (e *Env) Params(v any) error {
	return json.Unmarshal(e.ParamsJSON, v)
}

// Symbol implements strategy.Env.
func (e *Env) Symbol(ctx context.Context, name string) (venue.Symbol, error) {
	all, err := e.Venue.Symbols(ctx)
	if err != nil {
		return venue.Symbol{}, err
	}
	for _, s := range all {
		if s.Name == name {
			return s, nil
		}
	}
	return venue.Symbol{}, fmt.Errorf("symbol %s: %w", name, venue.ErrInvalid)
}

// Price implements strategy.Env.
func (e *Env) Price(ctx context.Context, symbol string) (venue.Decimal, error) {
	return e.PriceOf(symbol)
}

// Balances implements strategy.Env.
func (e *Env) Balances(ctx context.Context) ([]venue.Balance, error) { return e.Venue.Balances(ctx) }

// OpenOrders implements strategy.Env.
func (e *Env) OpenOrders(ctx context.Context, symbol string) ([]venue.Order, error) {
	all, err := e.Venue.OpenOrders(ctx, symbol)
	var out []venue.Order
	for _, o := range all {
		if strings.HasPrefix(o.ClientOrderID, e.ID+"-") {
			out = append(out, o)
		}
	}
	return out, err
}

// Order implements strategy.Env.
func (e *Env) Order(ctx context.Context, symbol, id string) (venue.Order, error) {
	return e.Venue.QueryOrder(ctx, symbol, id)
}

// Place implements strategy.Env.
func (e *Env) Place(ctx context.Context, req venue.OrderRequest) (venue.Order, error) {
	e.mu.Lock()
	req.ClientOrderID = fmt.Sprintf("%s-%d-%d", e.ID, e.step, e.n)
	e.n++
	e.mu.Unlock()
	if e.Dry {
		return venue.Order{ClientOrderID: req.ClientOrderID, Symbol: req.Symbol, Side: req.Side, Type: req.Type, Price: req.Price, Quantity: req.Quantity, Status: venue.StatusNew}, nil
	}
	o, err := e.Venue.PlaceOrder(ctx, req)
	if err == nil {
		e.mu.Lock()
		e.Placed = append(e.Placed, o)
		e.mu.Unlock()
	}
	return o, err
}

// Cancel implements strategy.Env.
func (e *Env) Cancel(ctx context.Context, symbol, id string) (venue.Order, error) {
	return e.Venue.CancelOrder(ctx, symbol, id)
}

// State implements strategy.Env.
func (e *Env) State(v any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.state) == 0 {
		return nil
	}
	return json.Unmarshal(e.state, v)
}

// SetState implements strategy.Env.
func (e *Env) SetState(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.state = b
	e.mu.Unlock()
	return nil
}

// Allocation implements strategy.Env.
func (e *Env) Allocation(ctx context.Context) (venue.Decimal, error) { return e.Alloc, nil }
