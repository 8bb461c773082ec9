package binancetest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// The USDⓈ-M futures side of the fake: every listed symbol is also a
// linear perpetual of the same name, margined in its quote asset from the
// venue.WalletFutures wallet (Fund it), filled against the same price path
// as spot (SetPrice moves both). One-way mode only; positions use the
// symbol's leverage (DefaultFuturesLeverage until POST /fapi/v1/leverage)
// and margin type. An order locks its initial margin (notional / leverage
// plus the fee) from the wallet's free balance, refused with -2019 when it
// is short; a fill moves the position, realizes PnL on the part that
// reduces it, charges the fee in the quote asset and keeps the position's
// initial margin locked. It simulates no liquidation, and funding only when
// a test settles it (SettleFuturesFunding on the position, AddFuturesFunding
// for any amount).

// DefaultFuturesLeverage is a symbol's leverage until a test or the adapter
// changes it (Binance's default for a new symbol is 20).
const DefaultFuturesLeverage = 20

type futOrder struct {
	id                          int64
	clientID, symbol, side, typ string
	tif                         string
	price, qty, executed, cum   venue.Decimal
	avg                         venue.Decimal
	status                      string
	reduceOnly                  bool
	created, updated            time.Time
	margin                      venue.Decimal // initial margin locked while open
}

type futPosition struct {
	size, entry, margin venue.Decimal
}

type futIncome struct {
	symbol, typ, asset string
	amount             venue.Decimal
	time               time.Time
	tranID             int64
}

// futuresBook is the fake's USDⓈ-M futures account; guarded by Server.mu.
type futuresBook struct {
	orders     []*futOrder
	byClientID map[string]*futOrder
	positions  map[string]*futPosition
	leverage   map[string]int
	isolated   map[string]bool
	income     []futIncome
	listenKeys map[string]bool
	nextTranID int64
}

func (s *Server) fx() *futuresBook {
	if s.futures == nil {
		s.futures = &futuresBook{byClientID: map[string]*futOrder{}, positions: map[string]*futPosition{},
			leverage: map[string]int{}, isolated: map[string]bool{}, listenKeys: map[string]bool{}, nextTranID: 9689322392}
	}
	return s.futures
}

func (b *futuresBook) lev(symbol string) int {
	if l := b.leverage[symbol]; l > 0 {
		return l
	}
	return DefaultFuturesLeverage
}

// futuresRoutes adds the USDⓈ-M endpoints, each with its documented weight
// on the futures budget.
func (s *Server) futuresRoutes(add func(string, route)) {
	add("GET /fapi/v1/exchangeInfo", route{weight: fixed(1), futures: true, handle: s.handleFuturesExchangeInfo})
	add("POST /fapi/v1/order", route{weight: fixed(0), futures: true, signed: true, op: OpPlace, handle: s.handleFuturesNewOrder})
	add("GET /fapi/v1/order", route{weight: fixed(1), futures: true, signed: true, op: OpQuery, handle: s.handleFuturesGetOrder})
	add("DELETE /fapi/v1/order", route{weight: fixed(1), futures: true, signed: true, op: OpCancel, handle: s.handleFuturesCancel})
	add("GET /fapi/v1/openOrders", route{weight: func(q url.Values) int {
		if q.Get("symbol") == "" {
			return 40
		}
		return 1
	}, futures: true, signed: true, op: OpOpenOrders, handle: s.handleFuturesOpenOrders})
	add("GET /fapi/v1/allOrders", route{weight: fixed(5), futures: true, signed: true, op: OpOrderHistory, handle: s.handleFuturesAllOrders})
	add("GET /fapi/v1/klines", route{weight: fixed(5), futures: true, handle: s.handleKlines})
	add("GET /fapi/v2/positionRisk", route{weight: fixed(5), futures: true, signed: true, op: OpPositions, handle: s.handleFuturesPositionRisk})
	add("GET /fapi/v1/income", route{weight: fixed(30), futures: true, signed: true, op: OpFunding, handle: s.handleFuturesIncome})
	add("POST /fapi/v1/leverage", route{weight: fixed(1), futures: true, signed: true, handle: s.handleFuturesLeverage})
	add("POST /fapi/v1/marginType", route{weight: fixed(1), futures: true, signed: true, handle: s.handleFuturesMarginType})
	add("POST /fapi/v1/listenKey", route{weight: fixed(1), futures: true, apiKey: true, handle: s.handleFuturesListenKey})
	add("PUT /fapi/v1/listenKey", route{weight: fixed(1), futures: true, apiKey: true, handle: s.handleFuturesListenKey})
}

// Ops of the futures endpoints FailNext accepts besides the shared ones
// (place, cancel, query, open_orders, balances, futures_trades).
const (
	OpPositions = "positions"
	OpFunding   = "funding"
)

// handleFuturesExchangeInfo edits the documented example: its one symbol
// becomes each listed symbol as a PERPETUAL margined in its quote asset,
// with the symbol's filters.
func (s *Server) handleFuturesExchangeInfo(_ http.ResponseWriter, _ url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	doc := Doc("futures_exchange_info.json")
	symDoc := element(field(doc, "symbols"), 0)
	var docFilters []json.RawMessage
	_ = json.Unmarshal(field(symDoc, "filters"), &docFilters)
	f8 := func(d venue.Decimal) string { return jstr(d.StringFixed(8)) }
	var syms [][]byte
	for _, name := range s.symbolOrder {
		sp := s.symbols[name]
		var fs [][]byte
		for _, f := range docFilters {
			var ft struct {
				FilterType string `json:"filterType"`
			}
			_ = json.Unmarshal(f, &ft)
			switch ft.FilterType {
			case "PRICE_FILTER":
				f = mustEdit(f, "maxPrice", f8(dec("1000000")), "minPrice", f8(sp.TickSize), "tickSize", f8(sp.TickSize))
			case "LOT_SIZE":
				f = mustEdit(f, "maxQty", f8(sp.MaxQty), "minQty", f8(sp.MinQty), "stepSize", f8(sp.StepSize))
			case "MARKET_LOT_SIZE":
				f = mustEdit(f, "maxQty", f8(sp.MarketMaxQty), "minQty", f8(sp.MarketMinQty), "stepSize", f8(sp.MarketStepSize))
			case "MIN_NOTIONAL":
				f = mustEdit(f, "notional", jstr(sp.MinNotional.String()))
			case "PERCENT_PRICE":
				continue // not enforced, so not listed
			}
			fs = append(fs, f)
		}
		syms = append(syms, mustEdit(symDoc, "symbol", jstr(sp.Name), "pair", jstr(sp.Name), "status", jstr(sp.Status),
			"baseAsset", jstr(sp.Base), "quoteAsset", jstr(sp.Quote), "marginAsset", jstr(sp.Quote), "filters", string(join(fs)),
			"OrderType", `["LIMIT","MARKET"]`))
	}
	return 200, json.RawMessage(mustEdit(doc, "serverTime", i64(ms(s.now())), "symbols", string(join(syms))))
}

// futOrderJSON renders o over a documented order answer (new, query,
// cancel), editing the keys that answer has: the three differ (cumQty,
// time, avgPrice).
func futOrderJSON(doc []byte, o *futOrder) json.RawMessage {
	kv := []string{"clientOrderId", jstr(o.clientID), "cumQuote", jstr(o.cum.StringFixed(8)), "executedQty", jstr(o.executed.String()),
		"orderId", i64(o.id), "avgPrice", jstr(o.avg.StringFixed(5)), "origQty", jstr(o.qty.String()), "price", jstr(o.price.String()),
		"reduceOnly", strconv.FormatBool(o.reduceOnly), "side", jstr(o.side), "positionSide", jstr("BOTH"), "status", jstr(o.status),
		"stopPrice", jstr("0"), "symbol", jstr(o.symbol), "timeInForce", jstr(orDefault(o.tif, "GTC")), "type", jstr(o.typ),
		"origType", jstr(o.typ), "updateTime", i64(ms(o.updated)), "goodTillDate", "0", "cumQty", jstr(o.executed.String()),
		"time", i64(ms(o.created)), "activatePrice", jstr(""), "priceRate", jstr("")}
	var have []string
	for i := 0; i < len(kv); i += 2 {
		if _, err := Edit(doc, kv[i], kv[i+1]); err == nil {
			have = append(have, kv[i], kv[i+1])
		}
	}
	return mustEdit(doc, have...)
}

// handleFuturesNewOrder is POST /fapi/v1/order (LIMIT and MARKET, one-way
// mode): the documented filter codes (-4014 tick, -1111 step, -4004 and
// -4005 quantity, -4164 notional), -4116 for a client order id of an open
// order, -2022 for a reduce-only order that would not reduce, -2019 for
// margin the wallet does not have.
func (s *Server) handleFuturesNewOrder(w http.ResponseWriter, q url.Values) (int, any) {
	s.mu.Lock()
	now := s.now()
	s.stats.Orders++
	status, v, events := s.futuresNewOrderLocked(q, now)
	s.mu.Unlock()
	w.Header().Set("X-MBX-ORDER-COUNT-10S", "1")
	w.Header().Set("X-MBX-ORDER-COUNT-1M", "1")
	s.streams.pushFuturesUser(events...)
	return status, v
}

func (s *Server) futuresNewOrderLocked(q url.Values, now time.Time) (int, any, [][]byte) {
	fail := func(code int, msg string) (int, any, [][]byte) {
		st, v := e400(code, msg)
		return st, v, nil
	}
	b := s.fx()
	sp, ok := s.symbols[q.Get("symbol")]
	if !ok {
		return fail(-1121, "Invalid symbol.")
	}
	side, typ := q.Get("side"), q.Get("type")
	if side != "BUY" && side != "SELL" {
		return fail(-1100, "Illegal characters found in parameter 'side'.")
	}
	if typ != "LIMIT" && typ != "MARKET" {
		return fail(-1116, "Invalid orderType.")
	}
	if ps := q.Get("positionSide"); ps != "" && ps != "BOTH" {
		return fail(-4061, "Order's position side does not match user's setting.")
	}
	cid := q.Get("newClientOrderId")
	if cid == "" {
		cid = fmt.Sprintf("x-fake%d", s.nextOrderID+1)
	}
	if !clientIDRule.MatchString(cid) {
		return fail(-1100, "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.")
	}
	if prev, dup := b.byClientID[cid]; dup && (prev.status == "NEW" || prev.status == "PARTIALLY_FILLED") {
		return fail(-4116, "ClientOrderId is duplicated.")
	}
	qty, hasQty, err1 := parsePositive(q, "quantity")
	price, hasPrice, err2 := parsePositive(q, "price")
	if err1 != nil || err2 != nil || !hasQty {
		return fail(-1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.")
	}
	if q.Get("quoteOrderQty") != "" {
		return fail(-1104, "Not all sent parameters were read; read '10' parameter(s) but was sent '11'.")
	}
	reduceOnly := q.Get("reduceOnly") == "true"
	market, hasMarket := s.prices[sp.Name]
	tif := q.Get("timeInForce")
	if typ == "LIMIT" {
		if !hasPrice || tif == "" {
			return fail(-1102, "Mandatory parameter was not sent, was empty/null, or malformed.")
		}
		if !multipleOf(price, sp.TickSize) {
			return fail(-4014, "Price not increased by tick size.")
		}
	} else {
		tif = ""
		if !hasMarket {
			return fail(-1013, "Market is closed.")
		}
		price = market
	}
	if !multipleOf(qty, sp.StepSize) {
		return fail(-1111, "Precision is over the maximum defined for this asset.")
	}
	if qty.LessThan(sp.MinQty) {
		return fail(-4004, "Quantity less than min quantity.")
	}
	if !sp.MaxQty.IsZero() && qty.GreaterThan(sp.MaxQty) {
		return fail(-4005, "Quantity greater than max quantity.")
	}
	if !reduceOnly && price.Mul(qty).LessThan(sp.MinNotional) {
		return fail(-4164, fmt.Sprintf("Order's notional must be no smaller than %s (unless you choose reduce only).", sp.MinNotional))
	}
	pos := b.positions[sp.Name]
	if reduceOnly {
		// Reduce-only: the order must face the position, and is trimmed to it.
		if pos == nil || pos.size.IsZero() || (side == "BUY") == pos.size.IsPos() {
			return fail(-2022, "ReduceOnly Order is rejected.")
		}
		if qty.GreaterThan(pos.size.Abs()) {
			qty = pos.size.Abs()
		}
	}
	o := &futOrder{clientID: cid, symbol: sp.Name, side: side, typ: typ, tif: tif, price: price, qty: qty, status: "NEW",
		reduceOnly: reduceOnly, created: now, updated: now}
	if typ == "MARKET" {
		o.price = venue.Decimal{}
	}
	h := s.holding(venue.WalletFutures, sp.Quote)
	if !reduceOnly {
		notional := price.Mul(qty)
		m, _ := notional.Div(udecimal.MustFromInt64(int64(b.lev(sp.Name)), 0))
		m = m.Add(notional.Mul(s.cfg.FeeRate))
		if h.free.LessThan(m) {
			return fail(-2019, "Margin is insufficient.")
		}
		h.free, h.locked, o.margin = h.free.Sub(m), h.locked.Add(m), m
	}
	s.nextOrderID++
	o.id = s.nextOrderID
	b.orders = append(b.orders, o)
	b.byClientID[cid] = o
	events := [][]byte{s.futuresOrderUpdateLocked(o, "NEW", nil, venue.Decimal{})}
	marketable := typ == "MARKET" || (hasMarket && ((side == "BUY" && market.LessThanOrEqual(price)) || (side == "SELL" && market.GreaterThanOrEqual(price))))
	switch {
	case marketable:
		events = append(events, s.futuresFillLocked(o, market, false, now)...)
	case tif == "IOC" || tif == "FOK":
		s.futuresReleaseLocked(o)
		o.status = "EXPIRED"
		events = append(events, s.futuresOrderUpdateLocked(o, "EXPIRED", nil, venue.Decimal{}))
	}
	return 200, futOrderJSON(Doc("futures_new_order.json"), o), events
}

// futuresReleaseLocked returns an order's locked margin to free.
func (s *Server) futuresReleaseLocked(o *futOrder) {
	h := s.holding(venue.WalletFutures, s.symbols[o.symbol].Quote)
	h.locked, h.free = h.locked.Sub(o.margin), h.free.Add(o.margin)
	o.margin = venue.Decimal{}
}

// futuresFillLocked fills the rest of o at price: the position moves, the
// part that reduces it realizes PnL, the fee is charged in the quote asset,
// and the position's initial margin stays locked.
func (s *Server) futuresFillLocked(o *futOrder, price venue.Decimal, maker bool, now time.Time) [][]byte {
	b := s.fx()
	sp := s.symbols[o.symbol]
	h := s.holding(venue.WalletFutures, sp.Quote)
	s.futuresReleaseLocked(o)
	qty := o.qty.Sub(o.executed)
	signed := qty
	if o.side == "SELL" {
		signed = qty.Neg()
	}
	pos := b.positions[o.symbol]
	if pos == nil {
		pos = &futPosition{}
		b.positions[o.symbol] = pos
	}
	var realized venue.Decimal
	switch {
	case pos.size.IsZero() || pos.size.IsPos() == signed.IsPos(): // open or grow
		total := pos.size.Add(signed)
		cost := pos.entry.Mul(pos.size.Abs()).Add(price.Mul(qty))
		pos.entry, _ = cost.Div(total.Abs())
		pos.size = total
	default: // reduce, maybe through zero
		closed := qty
		if closed.GreaterThan(pos.size.Abs()) {
			closed = pos.size.Abs()
		}
		dir := dec("1")
		if pos.size.IsNeg() {
			dir = dec("-1")
		}
		realized = price.Sub(pos.entry).Mul(closed).Mul(dir)
		pos.size = pos.size.Add(signed)
		if !pos.size.IsZero() && pos.size.IsPos() != dir.IsPos() { // crossed zero: the rest opens at price
			pos.entry = price
		}
		if pos.size.IsZero() {
			pos.entry = venue.Decimal{}
		}
	}
	// The position's initial margin is re-locked at its new size.
	h.locked, h.free = h.locked.Sub(pos.margin), h.free.Add(pos.margin)
	pos.margin, _ = pos.size.Abs().Mul(pos.entry).Div(udecimal.MustFromInt64(int64(b.lev(o.symbol)), 0))
	quote := price.Mul(qty)
	fee := quote.Mul(s.cfg.FeeRate)
	h.free = h.free.Add(realized).Sub(fee)
	h.locked, h.free = h.locked.Add(pos.margin), h.free.Sub(pos.margin)
	s.futuresMarkLocked(o.symbol, price)
	s.nextTradeID["fut/"+o.symbol]++
	t := &trade{id: s.nextTradeID["fut/"+o.symbol], orderID: o.id, symbol: o.symbol, price: price, qty: qty, quote: quote,
		fee: fee, feeAsset: sp.Quote, buyer: o.side == "BUY", maker: maker, time: now, realizedPnl: realized, positionSide: "BOTH"}
	s.futTrades[o.symbol] = append(s.futTrades[o.symbol], t)
	o.executed = o.qty
	o.cum = o.cum.Add(quote)
	o.avg, _ = o.cum.Div(o.executed)
	o.status, o.updated = "FILLED", now
	return [][]byte{s.futuresOrderUpdateLocked(o, "TRADE", t, realized), s.futuresAccountUpdateLocked(sp.Quote, o.symbol)}
}

// futuresMarkLocked sets the unrealized PnL of the quote asset's positions
// at the market prices.
func (s *Server) futuresMarkLocked(symbol string, _ venue.Decimal) {
	quote := s.symbols[symbol].Quote
	var up venue.Decimal
	for sym, p := range s.fx().positions {
		if s.symbols[sym].Quote != quote || p.size.IsZero() {
			continue
		}
		up = up.Add(s.prices[sym].Sub(p.entry).Mul(p.size))
	}
	s.holding(venue.WalletFutures, quote).unrealized = up
}

// futuresOnPriceLocked fills resting futures limit orders the price
// reaches and marks the positions; it returns the user stream events.
func (s *Server) futuresOnPriceLocked(symbol string, price venue.Decimal, now time.Time) [][]byte {
	if s.futures == nil {
		return nil
	}
	var events [][]byte
	for _, o := range s.futures.orders {
		if o.symbol != symbol || o.status != "NEW" || o.typ != "LIMIT" {
			continue
		}
		if (o.side == "BUY" && price.LessThanOrEqual(o.price)) || (o.side == "SELL" && price.GreaterThanOrEqual(o.price)) {
			events = append(events, s.futuresFillLocked(o, o.price, true, now)...)
		}
	}
	s.futuresMarkLocked(symbol, price)
	return events
}

func (s *Server) futuresOrderOf(q url.Values) *futOrder {
	b := s.fx()
	if cid := q.Get("origClientOrderId"); cid != "" {
		if o := b.byClientID[cid]; o != nil && o.symbol == q.Get("symbol") {
			return o
		}
		return nil
	}
	if id, err := strconv.ParseInt(q.Get("orderId"), 10, 64); err == nil {
		for _, o := range b.orders {
			if o.id == id && o.symbol == q.Get("symbol") {
				return o
			}
		}
	}
	return nil
}

func (s *Server) handleFuturesGetOrder(_ http.ResponseWriter, q url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.futuresOrderOf(q)
	if o == nil {
		return e400(-2013, "Order does not exist.")
	}
	return 200, futOrderJSON(Doc("futures_query_order.json"), o)
}

func (s *Server) handleFuturesCancel(_ http.ResponseWriter, q url.Values) (int, any) {
	s.mu.Lock()
	o := s.futuresOrderOf(q)
	if o == nil || (o.status != "NEW" && o.status != "PARTIALLY_FILLED") {
		s.mu.Unlock()
		return e400(-2011, "Unknown order sent.")
	}
	s.futuresReleaseLocked(o)
	o.status, o.updated = "CANCELED", s.now()
	ev := s.futuresOrderUpdateLocked(o, "CANCELED", nil, venue.Decimal{})
	resp := futOrderJSON(Doc("futures_cancel_order.json"), o)
	s.mu.Unlock()
	s.streams.pushFuturesUser(ev)
	return 200, resp
}

func (s *Server) handleFuturesOpenOrders(_ http.ResponseWriter, q url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sym := q.Get("symbol")
	if _, ok := s.symbols[sym]; sym != "" && !ok {
		return e400(-1121, "Invalid symbol.")
	}
	var rows [][]byte
	for _, o := range s.fx().orders {
		if (sym == "" || o.symbol == sym) && (o.status == "NEW" || o.status == "PARTIALLY_FILLED") {
			rows = append(rows, futOrderJSON(Doc("futures_query_order.json"), o))
		}
	}
	return 200, json.RawMessage(join(rows))
}

// handleFuturesPositionRisk is GET /fapi/v2/positionRisk: one row per
// listed symbol (one-way mode, BOTH), empty positions included as Binance
// lists them.
func (s *Server) handleFuturesPositionRisk(_ http.ResponseWriter, q url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.fx()
	row := element(Doc("futures_position_risk_v2.json"), 0)
	var rows [][]byte
	for _, name := range s.symbolOrder {
		if v := q.Get("symbol"); v != "" && v != name {
			continue
		}
		p := b.positions[name]
		if p == nil {
			p = &futPosition{}
		}
		lev := b.lev(name)
		mark := s.prices[name]
		mt := "cross"
		if b.isolated[name] {
			mt = "isolated"
		}
		liq := venue.Decimal{}
		if !p.size.IsZero() {
			// Isolated-style estimate: the price at which the loss eats the
			// initial margin less a 0.5% maintenance margin.
			inv, _ := dec("1").Div(udecimal.MustFromInt64(int64(lev), 0))
			if p.size.IsPos() {
				liq = p.entry.Mul(dec("1").Sub(inv).Add(dec("0.005")))
			} else {
				liq = p.entry.Mul(dec("1").Add(inv).Sub(dec("0.005")))
			}
		}
		rows = append(rows, mustEdit(row, "entryPrice", jstr(p.entry.StringFixed(5)), "breakEvenPrice", jstr(p.entry.String()),
			"marginType", jstr(mt), "isolatedMargin", jstr(p.margin.StringFixed(8)), "leverage", jstr(strconv.Itoa(lev)),
			"liquidationPrice", jstr(liq.StringFixed(8)), "markPrice", jstr(mark.StringFixed(8)), "positionAmt", jstr(p.size.String()),
			"notional", jstr(p.size.Mul(mark).String()), "symbol", jstr(name),
			"unRealizedProfit", jstr(mark.Sub(p.entry).Mul(p.size).StringFixed(8)), "updateTime", i64(ms(s.now()))))
	}
	return 200, json.RawMessage(join(rows))
}

// LiquidateFutures closes symbol's whole position at price as Binance's
// liquidation engine does: an order of type LIQUIDATION whose client order
// id starts with "autoclose-" (the documented mark of a liquidation order
// on ORDER_TRADE_UPDATE), filled at once at price with the taker fee, on
// the user stream like any fill. It returns that client order id, "" when
// the symbol is flat.
func (s *Server) LiquidateFutures(symbol string, price venue.Decimal) string {
	s.mu.Lock()
	b := s.fx()
	pos := b.positions[symbol]
	if pos == nil || pos.size.IsZero() {
		s.mu.Unlock()
		return ""
	}
	now := s.now()
	side := "SELL"
	if pos.size.IsNeg() {
		side = "BUY"
	}
	cid := "autoclose-" + strconv.FormatInt(now.UnixMilli(), 10)
	o := &futOrder{clientID: cid, symbol: symbol, side: side, typ: "LIQUIDATION", tif: "IOC", price: price,
		qty: pos.size.Abs(), status: "NEW", reduceOnly: true, created: now, updated: now}
	s.nextOrderID++
	o.id = s.nextOrderID
	b.orders = append(b.orders, o)
	b.byClientID[cid] = o
	events := [][]byte{s.futuresOrderUpdateLocked(o, "NEW", nil, venue.Decimal{})}
	events = append(events, s.futuresFillLocked(o, price, false, now)...)
	s.mu.Unlock()
	s.streams.pushFuturesUser(events...)
	return cid
}

// AddFuturesFunding books a funding payment (positive received, negative
// paid) on the futures wallet and in the income history.
func (s *Server) AddFuturesFunding(symbol string, amount venue.Decimal, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addFundingLocked(symbol, amount, at)
}

// SettleFuturesFunding settles one funding of symbol at rate on the
// position the fake holds, as Binance does at each funding time: the fee
// is the position's notional at the mark (the fake's price) times the
// rate, paid by longs and received by shorts when the rate is positive
// (amount = −size × mark × rate, rounded to the income's 8 decimals). A
// flat symbol pays nothing and books no entry. It returns the amount.
func (s *Server) SettleFuturesFunding(symbol string, rate venue.Decimal, at time.Time) venue.Decimal {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.fx().positions[symbol]
	if p == nil || p.size.IsZero() {
		return venue.Decimal{}
	}
	amount := p.size.Mul(s.prices[symbol]).Mul(rate).Neg().RoundHAZ(8)
	s.addFundingLocked(symbol, amount, at)
	return amount
}

func (s *Server) addFundingLocked(symbol string, amount venue.Decimal, at time.Time) {
	b := s.fx()
	quote := s.symbols[symbol].Quote
	h := s.holding(venue.WalletFutures, quote)
	h.free = h.free.Add(amount)
	b.nextTranID++
	b.income = append(b.income, futIncome{symbol: symbol, typ: "FUNDING_FEE", asset: quote, amount: amount, time: at, tranID: b.nextTranID})
}

// handleFuturesIncome is GET /fapi/v1/income: oldest first within
// [startTime, endTime] (the last 7 days without them), limit 100 by default
// and at most 1000.
func (s *Server) handleFuturesIncome(_ http.ResponseWriter, q url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return e400(-1130, "Data sent for parameter 'limit' is not valid.")
		}
		limit = n
	}
	end := ms(s.now())
	start := end - (7 * 24 * time.Hour).Milliseconds()
	if v := q.Get("startTime"); v != "" {
		start, _ = strconv.ParseInt(v, 10, 64)
	}
	if v := q.Get("endTime"); v != "" {
		end, _ = strconv.ParseInt(v, 10, 64)
	}
	rows := append([]futIncome(nil), s.fx().income...)
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].time.Before(rows[j].time) })
	row := element(Doc("futures_income.json"), 1)
	var out [][]byte
	for _, r := range rows {
		t := ms(r.time)
		if t < start || t > end || (q.Get("symbol") != "" && r.symbol != q.Get("symbol")) ||
			(q.Get("incomeType") != "" && r.typ != q.Get("incomeType")) {
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, mustEdit(row, "symbol", jstr(r.symbol), "incomeType", jstr(r.typ), "income", jstr(r.amount.StringFixed(8)),
			"asset", jstr(r.asset), "info", jstr(r.typ), "time", i64(t), "tranId", i64(r.tranID), "tradeId", jstr("")))
	}
	return 200, json.RawMessage(join(out))
}

func (s *Server) handleFuturesLeverage(_ http.ResponseWriter, q url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.symbols[q.Get("symbol")]; !ok {
		return e400(-1121, "Invalid symbol.")
	}
	n, err := strconv.Atoi(q.Get("leverage"))
	if err != nil || n < 1 || n > 125 {
		return e400(-4028, "Leverage "+q.Get("leverage")+" is not valid")
	}
	s.fx().leverage[q.Get("symbol")] = n
	return 200, json.RawMessage(mustEdit(Doc("futures_leverage.json"), "leverage", strconv.Itoa(n), "symbol", jstr(q.Get("symbol"))))
}

// handleFuturesMarginType is POST /fapi/v1/marginType; asking for the type
// the symbol has answers -4046, as Binance does.
func (s *Server) handleFuturesMarginType(_ http.ResponseWriter, q url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sym := q.Get("symbol")
	if _, ok := s.symbols[sym]; !ok {
		return e400(-1121, "Invalid symbol.")
	}
	want := q.Get("marginType")
	if want != "ISOLATED" && want != "CROSSED" {
		return e400(-1116, "Invalid marginType.")
	}
	b := s.fx()
	if b.isolated[sym] == (want == "ISOLATED") {
		return e400(-4046, "No need to change margin type.")
	}
	b.isolated[sym] = want == "ISOLATED"
	return 200, json.RawMessage(Doc("futures_margin_type.json"))
}

// FuturesLeverage and FuturesIsolated report a symbol's leverage and
// margin type as the fake holds them.
func (s *Server) FuturesLeverage(symbol string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fx().lev(symbol)
}

// FuturesIsolated reports whether symbol uses isolated margin.
func (s *Server) FuturesIsolated(symbol string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fx().isolated[symbol]
}

// handleFuturesListenKey is POST (start, or the active key) and PUT
// (keepalive) /fapi/v1/listenKey. The key is derived from the API key, so
// an account has one active key, as on Binance.
func (s *Server) handleFuturesListenKey(_ http.ResponseWriter, _ url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sum := sha256.Sum256([]byte("futures/" + s.cfg.APIKey))
	key := hex.EncodeToString(sum[:])
	s.fx().listenKeys[key] = true
	return 200, json.RawMessage(mustEdit(Doc("futures_listen_key.json"), "listenKey", jstr(key)))
}

// isFuturesListenKey reports whether name is an issued listenKey.
func (s *Server) isFuturesListenKey(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.futures != nil && s.futures.listenKeys[name]
}

// futuresOrderUpdateLocked renders ORDER_TRADE_UPDATE over the documented
// example.
func (s *Server) futuresOrderUpdateLocked(o *futOrder, execType string, t *trade, realized venue.Decimal) []byte {
	doc := Doc("ws_futures_order_trade_update.json")
	now := ms(s.now())
	last, lastQty, fee, tid, tt := "0", "0", "0", int64(0), now
	maker := false
	if t != nil {
		last, lastQty, fee, tid, tt, maker = t.price.String(), t.qty.String(), t.fee.String(), t.id, ms(t.time), t.maker
	}
	inner := mustEdit(field(doc, "o"), "s", jstr(o.symbol), "c", jstr(o.clientID), "S", jstr(o.side), "o", jstr(o.typ),
		"f", jstr(orDefault(o.tif, "GTC")), "q", jstr(o.qty.String()), "p", jstr(o.price.String()), "ap", jstr(o.avg.String()),
		"sp", jstr("0"), "x", jstr(execType), "X", jstr(o.status), "i", i64(o.id), "l", jstr(lastQty), "z", jstr(o.executed.String()),
		"L", jstr(last), "N", jstr(s.symbols[o.symbol].Quote), "n", jstr(fee), "T", i64(tt), "t", i64(tid),
		"m", strconv.FormatBool(maker), "R", strconv.FormatBool(o.reduceOnly), "ot", jstr(o.typ), "ps", jstr("BOTH"),
		"AP", jstr("0"), "cr", jstr("0"), "rp", jstr(realized.String()))
	return compact(mustEdit(doc, "E", i64(now), "T", i64(tt), "o", string(inner)))
}

// futuresAccountUpdateLocked renders ACCOUNT_UPDATE (reason ORDER) over
// the documented example: the asset's wallet balance and the symbol's
// position.
func (s *Server) futuresAccountUpdateLocked(asset, symbol string) []byte {
	doc := Doc("ws_futures_account_update.json")
	a := field(doc, "a")
	h := s.holding(venue.WalletFutures, asset)
	wb := h.free.Add(h.locked)
	bal := mustEdit(element(field(a, "B"), 0), "a", jstr(asset), "wb", jstr(wb.StringFixed(8)), "cw", jstr(wb.StringFixed(8)), "bc", jstr("0"))
	p := s.fx().positions[symbol]
	mt := "cross"
	if s.fx().isolated[symbol] {
		mt = "isolated"
	}
	pos := mustEdit(element(field(a, "P"), 0), "s", jstr(symbol), "pa", jstr(p.size.String()), "ep", jstr(p.entry.String()),
		"bep", jstr(p.entry.String()), "cr", jstr("0"), "up", jstr(s.prices[symbol].Sub(p.entry).Mul(p.size).String()), "mt", jstr(mt),
		"iw", jstr(p.margin.StringFixed(8)), "ps", jstr("BOTH"))
	a = mustEdit(a, "m", jstr("ORDER"), "B", string(join([][]byte{bal})), "P", string(join([][]byte{pos})))
	now := i64(ms(s.now()))
	return compact(mustEdit(doc, "E", now, "T", now, "a", string(a)))
}

// futuresKeyOf returns the listenKey of a /ws/<key> path, or "".
func futuresKeyOf(names string) string {
	if strings.Contains(names, "/") || strings.Contains(names, "@") {
		return ""
	}
	return names
}

// FuturesOrders lists every USDⓈ-M order the fake accepted, oldest first,
// as the venue sees them (for tests that check a journal against it).
func (s *Server) FuturesOrders() []venue.Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.futures == nil {
		return nil
	}
	out := make([]venue.Order, 0, len(s.futures.orders))
	for _, o := range s.futures.orders {
		st := venue.StatusNew
		switch o.status {
		case "FILLED":
			st = venue.StatusFilled
		case "CANCELED":
			st = venue.StatusCanceled
		case "EXPIRED":
			st = venue.StatusExpired
		}
		typ, side := venue.Limit, venue.Buy
		if o.typ == "MARKET" {
			typ = venue.Market
		}
		if o.side == "SELL" {
			side = venue.Sell
		}
		out = append(out, venue.Order{ClientOrderID: o.clientID, VenueOrderID: strconv.FormatInt(o.id, 10), Symbol: o.symbol,
			Side: side, Type: typ, Price: o.price, Quantity: o.qty, ExecutedQty: o.executed, QuoteQty: o.cum, Status: st,
			Created: o.created, Updated: o.updated})
	}
	return out
}

// handleFuturesAllOrders is GET /fapi/v1/allOrders: symbol required;
// orderId returns orders with an id >= it, else startTime/endTime
// (inclusive, under 7 days apart; the last 7 days by default); limit 500 by
// default, at most 1000; oldest first, each row shaped as Query Order.
func (s *Server) handleFuturesAllOrders(_ http.ResponseWriter, q url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sym := q.Get("symbol")
	if _, ok := s.symbols[sym]; !ok {
		return e400(-1121, "Invalid symbol.")
	}
	limit := 500
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return e400(-1130, "Data sent for parameter 'limit' is not valid.")
		}
		limit = n
	}
	fromID, _ := strconv.ParseInt(q.Get("orderId"), 10, 64)
	end := ms(s.now())
	start := end - (7 * 24 * time.Hour).Milliseconds()
	if v := q.Get("startTime"); v != "" {
		start, _ = strconv.ParseInt(v, 10, 64)
		if q.Get("endTime") == "" {
			end = start + (7 * 24 * time.Hour).Milliseconds()
		}
	}
	if v := q.Get("endTime"); v != "" {
		end, _ = strconv.ParseInt(v, 10, 64)
	}
	if end-start >= (7 * 24 * time.Hour).Milliseconds() {
		return e400(-4166, "Search window is restricted to recent 7 days only.")
	}
	var rows [][]byte
	for _, o := range s.fx().orders {
		if o.symbol != sym || (fromID > 0 && o.id < fromID) || (fromID == 0 && (ms(o.created) < start || ms(o.created) > end)) {
			continue
		}
		if len(rows) == limit {
			break
		}
		rows = append(rows, futOrderJSON(Doc("futures_query_order.json"), o))
	}
	return 200, json.RawMessage(join(rows))
}

// FuturesUserStreams counts the open listenKey connections.
func (s *Server) FuturesUserStreams() int { return s.streams.futuresUserConns() }

// ExpireFuturesListenKey ends the futures user data streams as Binance
// does when a listenKey lapses: a listenKeyExpired event (the documented
// example, its key and time edited) on every listenKey connection, which
// is then closed.
func (s *Server) ExpireFuturesListenKey() {
	s.mu.Lock()
	var key string
	if s.futures != nil {
		for k := range s.futures.listenKeys {
			key = k
			delete(s.futures.listenKeys, k)
		}
	}
	ev := compact(mustEdit(Doc("ws_futures_listen_key_expired.json"), "E", jstr(i64(ms(s.now()))), "listenKey", jstr(key)))
	s.mu.Unlock()
	s.streams.pushFuturesUser(ev)
	s.streams.closeFuturesUser()
}
