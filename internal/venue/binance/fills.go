package binance

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// fillBook remembers, per order this Client has seen, the executed quantity
// Binance reported and the fills it has seen outside myTrades (the fills of
// a FULL order response, the stream's trades). myTrades reads from a
// database that can lag right after a fill; OrderTrades adds these fills
// to its answer and, when the fills still fall short of the executed
// quantity, says so instead of answering a partial list as if it were all.
// It is bounded: the oldest orders go first.
type fillBook struct {
	mu     sync.Mutex
	max    int
	orders map[string]*orderFills
	order  []string
}

type orderFills struct {
	executed venue.Decimal
	fills    map[string]venue.Trade // by trade id
}

func newFillBook(max int) *fillBook { return &fillBook{max: max, orders: map[string]*orderFills{}} }

func (b *fillBook) entry(symbol, venueOrderID string) *orderFills {
	k := symbol + "/" + venueOrderID
	e := b.orders[k]
	if e == nil {
		e = &orderFills{fills: map[string]venue.Trade{}}
		b.orders[k] = e
		b.order = append(b.order, k)
		if len(b.order) > b.max {
			delete(b.orders, b.order[0])
			b.order = b.order[1:]
		}
	}
	return e
}

// executed records an order's executed quantity as Binance reported it;
// it only grows.
func (b *fillBook) executed(symbol, venueOrderID string, qty venue.Decimal) {
	if venueOrderID == "" || !qty.IsPos() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if e := b.entry(symbol, venueOrderID); qty.GreaterThan(e.executed) {
		e.executed = qty
	}
}

// add records fills of one order.
func (b *fillBook) add(symbol, venueOrderID string, ts ...venue.Trade) {
	if venueOrderID == "" || len(ts) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entry(symbol, venueOrderID)
	for _, t := range ts {
		e.fills[t.ID] = t
	}
}

// merge adds the known fills myTrades did not return, and reports how much
// executed quantity is still without a fill (zero when none, or when the
// order's executed quantity is not known).
func (b *fillBook) merge(symbol, venueOrderID string, ts []venue.Trade) ([]venue.Trade, venue.Decimal) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.orders[symbol+"/"+venueOrderID]
	if e == nil {
		return ts, venue.Decimal{}
	}
	have := map[string]bool{}
	for _, t := range ts {
		have[t.ID] = true
	}
	for id, t := range e.fills {
		if !have[id] {
			ts = append(ts, t)
		}
	}
	slices.SortFunc(ts, func(a, b venue.Trade) int {
		x, _ := strconv.ParseInt(a.ID, 10, 64)
		y, _ := strconv.ParseInt(b.ID, 10, 64)
		return cmp.Compare(x, y)
	})
	var sum venue.Decimal
	for _, t := range ts {
		sum = sum.Add(t.Quantity)
	}
	missing := e.executed.Sub(sum)
	if missing.IsNeg() {
		missing = venue.Decimal{}
	}
	return ts, missing
}

// fillsMissing is the error of an OrderTrades that found fewer fills than
// the order's executed quantity: try again later.
func fillsMissing(op string, missing venue.Decimal) *venue.Error {
	return &venue.Error{Class: venue.ClassUnavailable, Op: op,
		Message: fmt.Sprintf("the order's fills fall %s short of its executed quantity (trade history lags right after a fill); read them again later", missing)}
}
