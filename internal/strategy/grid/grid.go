// Package grid is a grid strategy: a ladder of limit orders at evenly
// spaced levels between a lower and an upper price — buys below the price
// at the first step, sells above — where each filled order is replaced by
// one on the opposite side one level away (a filled buy at level i becomes
// a sell at level i+1, a filled sell at i a buy at i-1). Prices are rounded
// to the tick (buys down, sells up), quantities down to the step.
package grid

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tradeplane/tradeplane/internal/strategy"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// Name is the registered name.
const Name = "grid"

func init() {
	strategy.Register(strategy.Info{Name: Name, Description: "ladder of limit orders re-placed on the opposite side when filled", Factory: New})
}

// Params of grid.
type Params struct {
	Symbol   string            `json:"symbol"`
	Lower    venue.Decimal     `json:"lower"`
	Upper    venue.Decimal     `json:"upper"`
	Levels   int               `json:"levels"`   // number of price levels, ≥ 2
	Quantity venue.Decimal     `json:"quantity"` // base quantity per order
	Interval strategy.Duration `json:"interval"`
}

// Slot is one live order of the ladder.
type Slot struct {
	Level         int        `json:"level"`
	Side          venue.Side `json:"side"`
	ClientOrderID string     `json:"client_order_id"`
}

// State is the ladder's live orders and counters.
type State struct {
	Placed bool   `json:"placed"`
	Slots  []Slot `json:"slots"`
	Fills  int    `json:"fills"`
	// Late are orders found filled after the journal had closed them
	// (Correct): the next step places their opposite orders, as for any
	// filled slot.
	Late []Late `json:"late,omitempty"`
}

// Late is a filled order the ladder learned of late.
type Late struct {
	Side          venue.Side    `json:"side"`
	Price         venue.Decimal `json:"price"`
	ClientOrderID string        `json:"client_order_id"`
	// Open: the order still rests on the venue; the step adopts it as the
	// slot of its level instead of placing an opposite order.
	Open bool `json:"open,omitempty"`
}

// Grid is the strategy.
type Grid struct{ p Params }

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
	case !p.Lower.IsPos() || !p.Upper.GreaterThan(p.Lower):
		return nil, bad("upper", "need 0 < lower < upper")
	case p.Levels < 2 || p.Levels > 200:
		return nil, bad("levels", "must be 2..200")
	case !p.Quantity.IsPos():
		return nil, bad("quantity", "must be positive")
	case p.Interval <= 0:
		return nil, bad("interval", "must be positive")
	}
	return &Grid{p: p}, nil
}

// TradedSymbols is the one symbol of the parameters (strategy.SymbolTrader).
func (g *Grid) TradedSymbols() []string { return []string{g.p.Symbol} }

// Interval is the check interval.
func (g *Grid) Interval() time.Duration { return time.Duration(g.p.Interval) }

// Level is the price of level i (0 = lower), rounded for side.
func (g *Grid) Level(sym venue.Symbol, i int, side venue.Side) venue.Decimal {
	span := g.p.Upper.Sub(g.p.Lower)
	step, _ := span.Div(mustDec(strconv.Itoa(g.p.Levels - 1)))
	return strategy.RoundPrice(sym, side, g.p.Lower.Add(step.Mul(mustDec(strconv.Itoa(i)))))
}

// Step places the ladder once, then replaces filled orders on the
// opposite side and re-places orders that vanished without a fill.
func (g *Grid) Step(ctx context.Context, env strategy.Env) (strategy.StepResult, error) {
	var st State
	if err := env.State(&st); err != nil {
		return strategy.StepResult{}, err
	}
	sym, err := env.Symbol(ctx, g.p.Symbol)
	if err != nil {
		return strategy.StepResult{}, err
	}
	qty := strategy.FloorQty(sym, g.p.Quantity)
	place := func(level int, side venue.Side) error {
		px := g.Level(sym, level, side)
		if ok, why := strategy.Tradable(sym, px, qty); !ok {
			return fmt.Errorf("grid level %d: %s", level, why)
		}
		o, err := env.Place(ctx, venue.OrderRequest{Symbol: g.p.Symbol, Side: side, Type: venue.Limit, Price: px, Quantity: qty, TimeInForce: venue.GTC})
		if err != nil {
			return err
		}
		st.Slots = append(st.Slots, Slot{Level: level, Side: side, ClientOrderID: o.ClientOrderID})
		// Save after each order so a failure later in the step keeps it.
		return env.SetState(st)
	}
	if !st.Placed {
		px, err := env.Price(ctx, g.p.Symbol)
		if err != nil {
			return strategy.StepResult{}, err
		}
		st.Placed = true
		for i := 0; i < g.p.Levels; i++ {
			switch lv := g.Level(sym, i, venue.Buy); {
			case lv.LessThan(px):
				err = place(i, venue.Buy)
			case g.Level(sym, i, venue.Sell).GreaterThan(px):
				err = place(i, venue.Sell)
			}
			if err != nil {
				return strategy.StepResult{}, err
			}
		}
		return strategy.StepResult{Note: fmt.Sprintf("placed %d grid orders around %s", len(st.Slots), px)}, nil
	}
	replaced, late := 0, len(st.Late)
	// Orders filled late (Correct) get their opposite order like any
	// filled slot: the level is the one whose price the order had.
	for len(st.Late) > 0 {
		l := st.Late[0]
		st.Late = st.Late[1:]
		level := -1
		for i := 0; i < g.p.Levels; i++ {
			if g.Level(sym, i, l.Side).Equal(l.Price) {
				level = i
				break
			}
		}
		if level >= 0 && l.Open {
			st.Slots = append(st.Slots, Slot{Level: level, Side: l.Side, ClientOrderID: l.ClientOrderID})
			continue
		}
		next, side := level+1, venue.Sell
		if l.Side == venue.Sell {
			next, side = level-1, venue.Buy
		}
		if level < 0 || l.Open || next < 0 || next >= g.p.Levels {
			continue // not a level of this ladder, or its edge: nothing to place
		}
		if err := place(next, side); err != nil {
			st.Late = append([]Late{l}, st.Late...)
			env.SetState(st)
			return strategy.StepResult{}, err
		}
		replaced++
	}
	old := st.Slots
	st.Slots = nil
	for i, sl := range old {
		o, err := env.Order(ctx, g.p.Symbol, sl.ClientOrderID)
		if errors.Is(err, venue.ErrOrderNotFound) {
			// The venue does not know it (purged, or a venue that lost its
			// state): the slot is empty, like a canceled order.
			o, err = venue.Order{Status: venue.StatusCanceled}, nil
		}
		if err != nil {
			st.Slots = append(st.Slots, old[i:]...)
			env.SetState(st)
			return strategy.StepResult{}, err
		}
		switch {
		case o.Status == venue.StatusFilled:
			st.Fills++
			next, side := sl.Level+1, venue.Sell
			if sl.Side == venue.Sell {
				next, side = sl.Level-1, venue.Buy
			}
			err = place(next, side)
			replaced++
		case o.Status.Terminal(): // canceled, rejected, expired: put it back
			err = place(sl.Level, sl.Side)
			replaced++
		default:
			st.Slots = append(st.Slots, sl)
		}
		if err != nil {
			st.Slots = append(st.Slots, old[i+1:]...)
			env.SetState(st)
			return strategy.StepResult{}, err
		}
	}
	if replaced == 0 && late == 0 {
		return strategy.StepResult{Skip: "no grid order filled"}, nil
	}
	if err := env.SetState(st); err != nil {
		return strategy.StepResult{}, err
	}
	return strategy.StepResult{Note: fmt.Sprintf("replaced %d grid orders", replaced)}, nil
}

func mustDec(s string) venue.Decimal { return strategy.MustDecimal(s) }

var _ strategy.Corrector = (*Grid)(nil)

// Correct takes a grid order that the venue filled after the journal had
// closed it (its placement failed, or it was canceled and put back): it is
// a fill of the ladder, and the next step places its opposite order. An
// order still open on the venue is adopted as a slot, so the step follows
// it like any other; partial executions change nothing until filled.
func (g *Grid) Correct(st strategy.StateStore, c strategy.Correction) error {
	if c.Symbol != g.p.Symbol || c.Type != venue.Limit {
		return nil
	}
	var s State
	if err := st.State(&s); err != nil {
		return err
	}
	for _, sl := range s.Slots {
		if sl.ClientOrderID == c.ClientOrderID {
			return nil // a live slot: the step follows it
		}
	}
	for _, l := range s.Late {
		if l.ClientOrderID == c.ClientOrderID {
			return nil
		}
	}
	switch {
	case c.Status == venue.StatusFilled:
		s.Fills++
		s.Late = append(s.Late, Late{Side: c.Side, Price: c.Price, ClientOrderID: c.ClientOrderID})
	case !c.Status.Terminal():
		s.Late = append(s.Late, Late{Side: c.Side, Price: c.Price, ClientOrderID: c.ClientOrderID, Open: true})
	default:
		return nil
	}
	return st.SetState(s)
}
