package binancetest

import (
	"sort"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// OrderRecord is one order the fake accepted, as a test inspects it.
type OrderRecord struct {
	ID            int64
	ClientOrderID string
	Symbol        string
	Side          string
	Status        string
	Executed      venue.Decimal
	Created       time.Time
}

// TradeRecord is one fill the fake executed.
type TradeRecord struct {
	ID       int64
	OrderID  int64
	Symbol   string
	Price    venue.Decimal
	Quantity venue.Decimal
	Time     time.Time
}

// Orders lists every order the fake accepted, oldest first: what a test
// checks for duplicates ("no order twice") after the fact.
func (s *Server) Orders() []OrderRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]OrderRecord, 0, len(s.orders))
	for _, o := range s.orders {
		out = append(out, OrderRecord{ID: o.id, ClientOrderID: o.clientID, Symbol: o.symbol, Side: o.side,
			Status: o.status, Executed: o.executed, Created: o.created})
	}
	return out
}

// Trades lists every fill of every symbol, by symbol then id.
func (s *Server) Trades() []TradeRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []TradeRecord
	syms := make([]string, 0, len(s.trades))
	for sym := range s.trades {
		syms = append(syms, sym)
	}
	sort.Strings(syms)
	for _, sym := range syms {
		for _, t := range s.trades[sym] {
			out = append(out, TradeRecord{ID: t.id, OrderID: t.orderID, Symbol: t.symbol, Price: t.price, Quantity: t.qty, Time: t.time})
		}
	}
	return out
}
