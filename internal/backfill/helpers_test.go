package backfill_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/venue"
)

func dec(s string) udecimal.Decimal { return udecimal.MustParse(s) }

// memVenue is a hand-written in-memory venue with trade history and 1h
// candles: Trades enforces the 24 h window and pages by index cursor, as
// Binance's myTrades does with fromId. Other methods are not used by a
// backfill and panic through the nil embedded interface.
type memVenue struct {
	venue.Venue
	mu      sync.Mutex
	trades  map[string][]venue.Trade // by symbol, in time order
	klines  map[string][]venue.Kline
	calls   int
	pageMax int
}

func newMemVenue() *memVenue {
	return &memVenue{trades: map[string][]venue.Trade{}, klines: map[string][]venue.Kline{}, pageMax: 50}
}

func (m *memVenue) Name() string { return "mem" }

func (m *memVenue) addTrade(t venue.Trade) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t.ID == "" {
		t.ID = strconv.Itoa(len(m.trades[t.Symbol]) + 1)
	}
	if t.QuoteQty.IsZero() {
		t.QuoteQty = t.Price.Mul(t.Quantity)
	}
	m.trades[t.Symbol] = append(m.trades[t.Symbol], t)
}

// setHourly sets 1h candles of symbol from start, one open price per hour.
func (m *memVenue) setHourly(symbol string, start time.Time, opens []venue.Decimal) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ks []venue.Kline
	for i, o := range opens {
		cl := o
		if i+1 < len(opens) {
			cl = opens[i+1]
		}
		ks = append(ks, venue.Kline{OpenTime: start.Add(time.Duration(i) * time.Hour), Open: o, High: o, Low: o, Close: cl})
	}
	m.klines[symbol] = ks
}

func (m *memVenue) Trades(ctx context.Context, q venue.TradeQuery) (venue.TradePage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if q.To.Sub(q.From) > 24*time.Hour {
		return venue.TradePage{}, &venue.Error{Class: venue.ClassInvalid, Op: "trades", Message: "window over 24h"}
	}
	start := 0
	if q.Cursor != "" {
		start, _ = strconv.Atoi(q.Cursor)
	}
	limit := m.pageMax
	if q.Limit > 0 && q.Limit < limit {
		limit = q.Limit
	}
	var page venue.TradePage
	ts := m.trades[q.Symbol]
	i := start
	for ; i < len(ts) && len(page.Trades) < limit; i++ {
		if !ts[i].Time.Before(q.From) && ts[i].Time.Before(q.To) {
			page.Trades = append(page.Trades, ts[i])
		}
	}
	if len(page.Trades) == limit && i < len(ts) {
		page.Next = strconv.Itoa(i)
	}
	return page, ctx.Err()
}

func (m *memVenue) Klines(ctx context.Context, symbol, interval string, from, to time.Time) ([]venue.Kline, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ks, ok := m.klines[symbol]
	if !ok {
		return nil, &venue.Error{Class: venue.ClassInvalid, Op: "klines", Message: fmt.Sprintf("invalid symbol %s", symbol)}
	}
	var out []venue.Kline
	for _, k := range ks {
		if !k.OpenTime.Before(from) && k.OpenTime.Before(to) {
			out = append(out, k)
		}
	}
	return slices.Clone(out), nil
}

func slicesSortTrades(ts []venue.Trade) {
	slices.SortStableFunc(ts, func(a, b venue.Trade) int { return a.Time.Compare(b.Time) })
}
