package binance

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	gobinance "github.com/adshao/go-binance/v2"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// rulesTTL is how long exchangeInfo's rules of a symbol are trusted before
// an order asks for them again (a symbol's status can change any time:
// HALT, BREAK, CANCEL_ONLY).
const rulesTTL = 5 * time.Minute

// symbolRules is what Binance checks on a new order of one symbol, from
// exchangeInfo: the symbol's status and order types, and its filters.
type symbolRules struct {
	status                     string
	orderTypes                 []string
	quoteOrderQtyMarketAllowed bool
	quotePrecision             int // decimals of a quote quantity (quoteAssetPrecision)

	tick, minPrice, maxPrice           venue.Decimal // PRICE_FILTER
	step, minQty, maxQty               venue.Decimal // LOT_SIZE
	marketStep, marketMin, marketMax   venue.Decimal // MARKET_LOT_SIZE
	hasMarketLot                       bool
	minNotional, maxNotional           venue.Decimal // NOTIONAL (or the older MIN_NOTIONAL)
	applyMinToMarket, applyMaxToMarket bool
}

func filterBool(f map[string]any, k string) bool {
	b, _ := f[k].(bool)
	return b
}

func rulesOf(s gobinance.Symbol) symbolRules {
	r := symbolRules{status: s.Status, orderTypes: s.OrderTypes, quoteOrderQtyMarketAllowed: s.QuoteOrderQtyMarketAllowed,
		quotePrecision: s.QuoteAssetPrecision}
	if r.quotePrecision == 0 {
		r.quotePrecision = s.QuotePrecision
	}
	for _, f := range s.Filters {
		switch f["filterType"] {
		case "PRICE_FILTER":
			r.tick, r.minPrice, r.maxPrice = filterDec(f, "tickSize"), filterDec(f, "minPrice"), filterDec(f, "maxPrice")
		case "LOT_SIZE":
			r.step, r.minQty, r.maxQty = filterDec(f, "stepSize"), filterDec(f, "minQty"), filterDec(f, "maxQty")
		case "MARKET_LOT_SIZE":
			r.hasMarketLot = true
			r.marketStep, r.marketMin, r.marketMax = filterDec(f, "stepSize"), filterDec(f, "minQty"), filterDec(f, "maxQty")
		case "NOTIONAL":
			r.minNotional, r.maxNotional = filterDec(f, "minNotional"), filterDec(f, "maxNotional")
			r.applyMinToMarket, r.applyMaxToMarket = filterBool(f, "applyMinToMarket"), filterBool(f, "applyMaxToMarket")
		case "MIN_NOTIONAL":
			r.minNotional, r.applyMinToMarket = filterDec(f, "minNotional"), filterBool(f, "applyToMarket")
		}
	}
	return r
}

// rulesCache holds every symbol's rules from the last exchangeInfo.
type rulesCache struct {
	mu    sync.Mutex
	at    time.Time
	rules map[string]symbolRules
}

func (c *rulesCache) set(now time.Time, syms []gobinance.Symbol) {
	m := make(map[string]symbolRules, len(syms))
	for _, s := range syms {
		m[s.Symbol] = rulesOf(s)
	}
	c.mu.Lock()
	c.at, c.rules = now, m
	c.mu.Unlock()
}

// rulesFor returns symbol's rules, reading exchangeInfo (weight 20) when
// the cached ones are older than rulesTTL or do not have the symbol.
func (c *Client) rulesFor(ctx context.Context, op, symbol string) (symbolRules, error) {
	c.rules.mu.Lock()
	r, ok := c.rules.rules[symbol]
	fresh := c.rules.rules != nil && c.cfg.Clock.Now().Sub(c.rules.at) < rulesTTL
	c.rules.mu.Unlock()
	if !fresh || !ok { // stale, or a symbol listed since
		if _, err := c.Symbols(ctx); err != nil {
			return symbolRules{}, err
		}
		c.rules.mu.Lock()
		r, ok = c.rules.rules[symbol]
		c.rules.mu.Unlock()
	}
	if !ok {
		return symbolRules{}, &venue.Error{Class: venue.ClassRejected, Op: op,
			Message: fmt.Sprintf("symbol %q is not listed in exchangeInfo; not sent", symbol)}
	}
	return r, nil
}

// refused is an order the adapter does not send because Binance would
// refuse it, with the code Binance would answer (-1013 for a filter
// failure, -2010 for an order the symbol does not take now) and the filter
// or rule named first.
func refused(op, filter, format string, args ...any) error {
	code := -1013
	switch filter {
	case "symbol status", "orderTypes", "quoteOrderQtyMarketAllowed":
		code = -2010
	case "quote precision":
		code = -1111
	}
	return &venue.Error{Class: venue.ClassRejected, Code: code, Op: op,
		Message: fmt.Sprintf("filter %s: %s; not sent", filter, fmt.Sprintf(format, args...))}
}

// floorTo rounds a positive v down to a multiple of step (unchanged when
// step is zero).
func floorTo(v, step venue.Decimal) venue.Decimal {
	if step.IsZero() {
		return v
	}
	r, err := v.Mod(step)
	if err != nil {
		return v
	}
	return v.Sub(r)
}

// ceilTo rounds a positive v up to a multiple of step.
func ceilTo(v, step venue.Decimal) venue.Decimal {
	f := floorTo(v, step)
	if f.Equal(v) || step.IsZero() {
		return v
	}
	return f.Add(step)
}

// shaped is an order request with every number rounded as Binance takes it.
type shaped struct {
	price, qty, quote venue.Decimal
}

// needsAvgPrice reports whether shape must know the symbol's average price
// to check req: a market order by base quantity has no value of its own,
// and Binance checks NOTIONAL's bounds that apply to market orders against
// the quantity times the average price (GET /api/v3/avgPrice).
func needsAvgPrice(r symbolRules, req venue.OrderRequest) bool {
	return req.Type == venue.Market && !req.QuoteQuantity.IsPos() &&
		(r.applyMinToMarket && r.minNotional.IsPos() || r.applyMaxToMarket && r.maxNotional.IsPos())
}

// checkNotional refuses an order whose value (what names how it was
// computed) is outside NOTIONAL's bounds that apply to it.
func checkNotional(op string, r symbolRules, what string, value venue.Decimal, applyMin, applyMax bool) error {
	if applyMin && value.LessThan(r.minNotional) {
		return refused(op, "NOTIONAL", "%s %s is below minNotional %s", what, value, r.minNotional)
	}
	if applyMax && r.maxNotional.IsPos() && value.GreaterThan(r.maxNotional) {
		return refused(op, "NOTIONAL", "%s %s is above maxNotional %s", what, value, r.maxNotional)
	}
	return nil
}

// shape rounds the request's numbers to the symbol's tick, step and quote
// precision, and checks what Binance would refuse: the symbol's status and
// order types, PRICE_FILTER, LOT_SIZE or MARKET_LOT_SIZE, NOTIONAL and
// quoteOrderQtyMarketAllowed. A market order by base quantity is checked
// against NOTIONAL at avg, the symbol's average price, as Binance checks
// it (zero avg: not known, not checked; see needsAvgPrice). Quantities are
// rounded down (never more than asked), a buy's limit price down and a
// sell's up (never a worse price).
func shape(op string, r symbolRules, req venue.OrderRequest, avg venue.Decimal) (shaped, error) {
	if r.status != "TRADING" {
		return shaped{}, refused(op, "symbol status", "%s is %s, which takes no new orders", req.Symbol, r.status)
	}
	typ := "LIMIT"
	if req.Type == venue.Market {
		typ = "MARKET"
	}
	if len(r.orderTypes) > 0 && !slices.Contains(r.orderTypes, typ) {
		return shaped{}, refused(op, "orderTypes", "%s does not take %s orders", req.Symbol, typ)
	}
	var out shaped
	if req.Type == venue.Limit {
		out.price = floorTo(req.Price, r.tick)
		if req.Side == venue.Sell {
			out.price = ceilTo(req.Price, r.tick)
		}
		if !out.price.IsPos() || out.price.LessThan(r.minPrice) || (r.maxPrice.IsPos() && out.price.GreaterThan(r.maxPrice)) {
			return shaped{}, refused(op, "PRICE_FILTER", "price %s (rounded to tick %s: %s) is outside [%s, %s]",
				req.Price, r.tick, out.price, r.minPrice, r.maxPrice)
		}
	}
	if req.QuoteQuantity.IsPos() {
		if !r.quoteOrderQtyMarketAllowed {
			return shaped{}, refused(op, "quoteOrderQtyMarketAllowed", "%s takes no market order by quote quantity", req.Symbol)
		}
		out.quote = req.QuoteQuantity.Trunc(uint8(min(max(r.quotePrecision, 0), 19)))
		if !out.quote.IsPos() {
			return shaped{}, refused(op, "quote precision", "quote quantity %s is 0 at %d decimals", req.QuoteQuantity, r.quotePrecision)
		}
		if err := checkNotional(op, r, "quote quantity", out.quote, r.applyMinToMarket, r.applyMaxToMarket); err != nil {
			return shaped{}, err
		}
		return out, nil
	}
	lot, step, lo, hi := "LOT_SIZE", r.step, r.minQty, r.maxQty
	if req.Type == venue.Market && r.hasMarketLot {
		// A market order must pass both LOT_SIZE and MARKET_LOT_SIZE.
		if r.marketStep.IsPos() && (step.IsZero() || r.marketStep.GreaterThan(step)) {
			step = r.marketStep
		}
		out.qty = floorTo(req.Quantity, step)
		if out.qty.LessThan(r.marketMin) || (r.marketMax.IsPos() && out.qty.GreaterThan(r.marketMax)) || !out.qty.IsPos() {
			return shaped{}, refused(op, "MARKET_LOT_SIZE", "quantity %s (rounded to step %s: %s) is outside [%s, %s]",
				req.Quantity, step, out.qty, r.marketMin, r.marketMax)
		}
	} else {
		out.qty = floorTo(req.Quantity, step)
	}
	if !out.qty.IsPos() || out.qty.LessThan(lo) || (hi.IsPos() && out.qty.GreaterThan(hi)) {
		return shaped{}, refused(op, lot, "quantity %s (rounded to step %s: %s) is outside [%s, %s]", req.Quantity, step, out.qty, lo, hi)
	}
	var err error
	switch {
	case req.Type == venue.Limit:
		err = checkNotional(op, r, "price × quantity", out.price.Mul(out.qty), true, true)
	case avg.IsPos():
		err = checkNotional(op, r, fmt.Sprintf("quantity × average price %s", avg), out.qty.Mul(avg), r.applyMinToMarket, r.applyMaxToMarket)
	}
	if err != nil {
		return shaped{}, err
	}
	return out, nil
}
