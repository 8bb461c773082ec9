package bybit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	bybitapi "github.com/hirokisan/bybit/v2"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// Linear is the linear contracts side (category=linear: USDT and USDC
// perpetuals) of a Bybit unified trading account as a venue: perpetual
// orders by orderLinkId with reduceOnly and positionIdx, the instruments'
// lot size and price filters, linear executions and order history, the
// positions and funding payments of the account, the linear public ticker
// stream, the private order and execution topics of category linear and
// the wallet topic as balance events.
//
// Balances are the unified trading account's coins, reported as the
// venue.WalletFutures wallet: in a unified account one wallet margins
// spot and derivatives, so the margin linear orders and positions hold
// (totalOrderIM, totalPositionIM) is Locked. A "bybit" account of the same
// key reports that wallet again, as its spot wallet.
//
// It shares everything else with Client (limits, signing, time sync, the
// error taxonomy and the unknown-outcome rule: an order whose answer is
// lost is settled with QueryOrder, never placed again).
type Linear struct {
	*Client
}

var (
	_ venue.Venue          = (*Linear)(nil)
	_ venue.PositionReader = (*Linear)(nil)
)

// NewLinear returns the linear side of the account of cfg, without
// contacting Bybit.
func NewLinear(cfg Config) (*Linear, error) {
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	c.cat = bybitapi.CategoryV5Linear
	c.lin = &linearRules{}
	return &Linear{Client: c}, nil
}

// Name is "bybit-linear".
func (l *Linear) Name() string { return LinearName }

// linearRulesTTL is how long the instruments' filters are used before
// they are read again.
const linearRulesTTL = 10 * time.Minute

// linearRule is one perpetual's filters (lotSizeFilter, priceFilter).
type linearRule struct {
	tick, step, minQty, maxQty, maxMktQty, minNotional venue.Decimal
}

// linearRules caches the filters of the last instruments answer.
type linearRules struct {
	mu    sync.Mutex
	at    time.Time
	rules map[string]linearRule
}

// linearSymbols lists the trading linear perpetuals (instruments-info
// category=linear, following nextPageCursor; dated futures left out): tick
// from priceFilter, step qtyStep, minOrderQty and maxOrderQty, and
// minNotionalValue as the minimum notional. Quote is the quote coin, which
// is what a USDT or USDC perpetual settles in.
func (c *Client) linearSymbols(ctx context.Context) ([]venue.Symbol, error) {
	var out []venue.Symbol
	rules := map[string]linearRule{}
	cursor := ""
	for {
		p := bybitapi.V5GetInstrumentsInfoParam{Category: bybitapi.CategoryV5Linear}
		limit := 1000
		p.Limit = &limit
		if cursor != "" {
			cur := cursor
			p.Cursor = &cur
		}
		var r *bybitapi.V5GetInstrumentsInfoResponse
		if err := c.call(ctx, "list linear symbols", false, func(api bybitapi.V5ServiceI) (err error) {
			r, err = api.Market().GetInstrumentsInfo(p)
			return err
		}); err != nil {
			return nil, err
		}
		if r.Result.LinearInverse == nil {
			return nil, &venue.Error{Class: venue.ClassUnavailable, Op: "list linear symbols", Message: "answer has no linear list"}
		}
		for _, s := range r.Result.LinearInverse.List {
			if s.ContractType != "LinearPerpetual" || s.Status != "Trading" {
				continue
			}
			lf := s.LotSizeFilter
			rule := linearRule{tick: parseDec(s.PriceFilter.TickSize), step: parseDec(lf.QtyStep), minQty: parseDec(lf.MinOrderQty),
				maxQty: parseDec(lf.MaxOrderQty), maxMktQty: parseDec(lf.MaxMktOrderQty), minNotional: parseDec(lf.MinNotionalValue)}
			rules[string(s.Symbol)] = rule
			out = append(out, venue.Symbol{Name: string(s.Symbol), Kind: venue.KindLinearPerpetual, Base: string(s.BaseCoin),
				Quote: string(s.QuoteCoin), TickSize: rule.tick, StepSize: rule.step, MinQty: rule.minQty, MaxQty: rule.maxQty,
				MinNotional: rule.minNotional})
		}
		next := r.Result.LinearInverse.NextPageCursor
		if next == "" || len(r.Result.LinearInverse.List) == 0 || next == cursor {
			break
		}
		cursor = next
	}
	c.lin.mu.Lock()
	c.lin.at, c.lin.rules = c.cfg.Clock.Now(), rules
	c.lin.mu.Unlock()
	return out, nil
}

// linearRule returns symbol's filters, reading the instruments again when
// they are older than linearRulesTTL or do not list it.
func (c *Client) linearRule(ctx context.Context, op, symbol string) (linearRule, error) {
	c.lin.mu.Lock()
	r, ok := c.lin.rules[symbol]
	fresh := c.lin.rules != nil && c.cfg.Clock.Now().Sub(c.lin.at) < linearRulesTTL
	c.lin.mu.Unlock()
	if !ok || !fresh {
		if _, err := c.linearSymbols(ctx); err != nil {
			return linearRule{}, err
		}
		c.lin.mu.Lock()
		r, ok = c.lin.rules[symbol]
		c.lin.mu.Unlock()
	}
	if !ok {
		return linearRule{}, &venue.Error{Class: venue.ClassRejected, Code: codeParams, Op: op,
			Message: fmt.Sprintf("symbol %q is not a trading linear perpetual in instruments-info; not sent", symbol)}
	}
	return r, nil
}

// floorTo rounds v down to a multiple of step (v unchanged when step is 0).
func floorTo(v, step venue.Decimal) venue.Decimal {
	if !step.IsPos() {
		return v
	}
	n, err := v.Div(step)
	if err != nil {
		return v
	}
	return n.Floor().Mul(step)
}

// ceilTo rounds v up to a multiple of step.
func ceilTo(v, step venue.Decimal) venue.Decimal {
	if !step.IsPos() {
		return v
	}
	n, err := v.Div(step)
	if err != nil {
		return v
	}
	return n.Ceil().Mul(step)
}

// filterRefused is an order the instruments' filters refuse before it is
// sent, with the retCode Bybit answers such an order with (10001 for the
// quantity rules, 110094 for the minimum notional value).
func filterRefused(op string, code int, format string, args ...any) error {
	return &venue.Error{Class: venue.ClassRejected, Code: code, Op: op, Message: fmt.Sprintf(format, args...) + "; not sent"}
}

// positionIdx is Bybit's positionIdx of a position side: 0 one-way mode,
// 1 the buy (long) and 2 the sell (short) side of hedge mode.
func positionIdx(p venue.PositionSide) int {
	switch p {
	case venue.PositionLong:
		return 1
	case venue.PositionShort:
		return 2
	}
	return 0
}

// linearOrder is the body of a linear /v5/order/create. The library's
// V5CreateOrderParam sends reduceOnly as "reduce_only", a key v5 does not
// read, so the request is made here.
type linearOrder struct {
	Category    string `json:"category"`
	Symbol      string `json:"symbol"`
	Side        string `json:"side"`
	OrderType   string `json:"orderType"`
	Qty         string `json:"qty"`
	Price       string `json:"price,omitempty"`
	TimeInForce string `json:"timeInForce,omitempty"`
	OrderLinkID string `json:"orderLinkId"`
	PositionIdx int    `json:"positionIdx"`
	ReduceOnly  bool   `json:"reduceOnly,omitempty"`
}

// placeLinear places a linear perpetual order: quantities in the base
// coin, no quote quantity; a limit price rounded to the tick (down for a
// buy, up for a sell: never worse), the quantity down to qtyStep, and an
// order outside minOrderQty and maxOrderQty (maxMktOrderQty for a market
// order), or a limit order below minNotionalValue that does not reduce,
// refused before it is sent. The answer is read back by orderLinkId.
func (c *Client) placeLinear(ctx context.Context, op string, req venue.OrderRequest) (venue.Order, error) {
	if !req.PositionSide.Valid() {
		return venue.Order{}, invalid(op, fmt.Sprintf("position side %q", req.PositionSide))
	}
	if problem := req.PerpetualShapeProblem("linear perpetuals"); problem != "" {
		return venue.Order{}, invalid(op, problem)
	}
	rule, err := c.linearRule(ctx, op, req.Symbol)
	if err != nil {
		return venue.Order{}, err
	}
	body := linearOrder{Category: string(bybitapi.CategoryV5Linear), Symbol: req.Symbol, Side: "Buy", OrderType: "Market",
		OrderLinkID: req.ClientOrderID, PositionIdx: positionIdx(req.PositionSide), ReduceOnly: req.ReduceOnly}
	if req.Side == venue.Sell {
		body.Side = "Sell"
	}
	qty := floorTo(req.Quantity, rule.step)
	maxQty := rule.maxQty
	if req.Type == venue.Market && rule.maxMktQty.IsPos() {
		maxQty = rule.maxMktQty
	}
	if !qty.IsPos() || qty.LessThan(rule.minQty) || (maxQty.IsPos() && qty.GreaterThan(maxQty)) {
		return venue.Order{}, filterRefused(op, codeParams, "quantity %s (down to qtyStep %s: %s) is outside [%s, %s]",
			req.Quantity, rule.step, qty, rule.minQty, maxQty)
	}
	body.Qty = qty.String()
	if req.Type == venue.Limit {
		price := floorTo(req.Price, rule.tick)
		if req.Side == venue.Sell {
			price = ceilTo(req.Price, rule.tick)
		}
		if !price.IsPos() {
			return venue.Order{}, filterRefused(op, codeParams, "price %s is below the tick %s", req.Price, rule.tick)
		}
		if notional := price.Mul(qty); !req.ReduceOnly && notional.LessThan(rule.minNotional) {
			return venue.Order{}, filterRefused(op, codeNotionalDeriv, "price × quantity %s is below minNotionalValue %s", notional, rule.minNotional)
		}
		tif := req.TimeInForce
		if tif == "" {
			tif = venue.GTC
		}
		body.OrderType, body.Price, body.TimeInForce = "Limit", price.String(), string(tif)
	}
	var r struct {
		Result struct {
			OrderID     string `json:"orderId"`
			OrderLinkID string `json:"orderLinkId"`
		} `json:"result"`
	}
	if err := c.call(ctx, op, true, func(bybitapi.V5ServiceI) error {
		return c.post(ctx, "/v5/order/create", body, &r)
	}); err != nil {
		return venue.Order{}, err
	}
	c.ids.put(req.Symbol, r.Result.OrderID, req.ClientOrderID)
	return c.readBack(ctx, op, req, r.Result.OrderID)
}

// post sends a signed JSON POST through the client's transport (its
// limits and signing) and decodes the answer into out.
func (c *Client) post(ctx context.Context, path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, path, bytes.NewReader(b), true, out)
}
