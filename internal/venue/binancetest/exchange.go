package binancetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/venue"
)

type order struct {
	id                                   int64
	clientID, symbol, side, typ, tif     string
	price, qty, origQuote, executed, cum venue.Decimal
	status                               string
	created, updated                     time.Time
	lockAsset                            string
	locked                               venue.Decimal
	archived                             bool // GET /api/v3/order answers -2026
}

type trade struct {
	id, orderID            int64
	symbol                 string
	price, qty, quote, fee venue.Decimal
	feeAsset               string
	buyer, maker           bool
	time                   time.Time
	// futures fills only
	realizedPnl  venue.Decimal
	positionSide string
}

var clientIDRule = regexp.MustCompile(`^[a-zA-Z0-9-_]{1,36}$`)

func e400(code int, msg string) (int, any) { return http.StatusBadRequest, apiError{code, msg} }

func (s *Server) handleTime(http.ResponseWriter, url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return 200, json.RawMessage(mustEdit(Doc("time.json"), "serverTime", i64(ms(s.now()))))
}

// handleExchangeInfo edits the documented exchangeInfo example: its one
// symbol becomes each listed symbol, its filters carry the symbol's values,
// its rateLimits the fake's limits.
func (s *Server) handleExchangeInfo(_ http.ResponseWriter, q url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[string]bool{}
	if v := q.Get("symbol"); v != "" {
		want[v] = true
	}
	doc := Doc("exchange_info.json")
	symDoc := element(field(doc, "symbols"), 0)
	filters := map[string][]byte{}
	var filterOrder []string
	var docFilters []json.RawMessage
	_ = json.Unmarshal(field(symDoc, "filters"), &docFilters)
	for _, f := range docFilters {
		var ft struct {
			FilterType string `json:"filterType"`
		}
		_ = json.Unmarshal(f, &ft)
		filters[ft.FilterType] = f
		filterOrder = append(filterOrder, ft.FilterType)
	}
	f8 := func(d venue.Decimal) string { return jstr(d.StringFixed(8)) }
	var syms [][]byte
	for _, name := range s.symbolOrder {
		if len(want) > 0 && !want[name] {
			continue
		}
		sp := s.symbols[name]
		var fs [][]byte
		for _, ft := range filterOrder {
			f := filters[ft]
			switch ft {
			case "PRICE_FILTER":
				f = mustEdit(f, "minPrice", f8(sp.TickSize), "maxPrice", f8(dec("1000000")), "tickSize", f8(sp.TickSize))
			case "LOT_SIZE":
				f = mustEdit(f, "minQty", f8(sp.MinQty), "maxQty", f8(sp.MaxQty), "stepSize", f8(sp.StepSize))
			case "MARKET_LOT_SIZE":
				f = mustEdit(f, "minQty", f8(sp.MarketMinQty), "maxQty", f8(sp.MarketMaxQty), "stepSize", f8(sp.MarketStepSize))
			case "NOTIONAL":
				f = mustEdit(f, "minNotional", f8(sp.MinNotional), "applyMinToMarket", strconv.FormatBool(!sp.MinNotionalNotForMarket),
					"maxNotional", f8(sp.MaxNotional), "applyMaxToMarket", strconv.FormatBool(sp.ApplyMaxToMarket))
			case "PERCENT_PRICE":
				continue // the fake does not enforce it, so it does not list it
			}
			fs = append(fs, f)
		}
		syms = append(syms, mustEdit(symDoc, "symbol", jstr(sp.Name), "status", jstr(sp.Status), "baseAsset", jstr(sp.Base),
			"quoteAsset", jstr(sp.Quote), "quotePrecision", strconv.Itoa(sp.QuotePrecision), "quoteAssetPrecision", strconv.Itoa(sp.QuotePrecision),
			"orderTypes", `["LIMIT","MARKET"]`, "quoteOrderQtyMarketAllowed", strconv.FormatBool(!sp.NoQuoteOrderQty),
			"filters", string(join(fs)), "allowedSelfTradePreventionModes", `["NONE","EXPIRE_TAKER","EXPIRE_MAKER","EXPIRE_BOTH"]`,
			"defaultSelfTradePreventionMode", jstr("EXPIRE_MAKER")))
	}
	var limits []json.RawMessage
	_ = json.Unmarshal(field(doc, "rateLimits"), &limits)
	var rl [][]byte
	for _, l := range limits {
		var k struct {
			Type     string `json:"rateLimitType"`
			Interval string `json:"interval"`
		}
		_ = json.Unmarshal(l, &k)
		switch {
		case k.Type == "REQUEST_WEIGHT":
			l = mustEdit(l, "limit", strconv.Itoa(s.cfg.WeightLimit))
		case k.Type == "ORDERS" && k.Interval == "SECOND":
			l = mustEdit(l, "limit", strconv.Itoa(s.cfg.OrderLimit10s))
		case k.Type == "ORDERS" && k.Interval == "DAY":
			l = mustEdit(l, "limit", strconv.Itoa(s.cfg.OrderLimitDay))
		}
		rl = append(rl, l)
	}
	return 200, json.RawMessage(mustEdit(doc, "serverTime", strconv.FormatInt(ms(s.now()), 10), "rateLimits", string(join(rl)),
		"symbols", string(join(syms))))
}

func (s *Server) walletRows(w venue.Wallet) []string {
	var assets []string
	for a := range s.wallets[w] {
		assets = append(assets, a)
	}
	sort.Strings(assets)
	return assets
}

// handleAccount is GET /api/v3/account, the documented example with the
// spot wallet's balances.
func (s *Server) handleAccount(http.ResponseWriter, url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	doc := Doc("account.json")
	row := element(field(doc, "balances"), 0)
	var bals [][]byte
	for _, a := range s.walletRows(venue.WalletSpot) {
		h := s.wallets[venue.WalletSpot][a]
		bals = append(bals, mustEdit(row, "asset", jstr(a), "free", jstr(h.free.StringFixed(8)), "locked", jstr(h.locked.StringFixed(8))))
	}
	return 200, json.RawMessage(mustEdit(doc, "updateTime", i64(ms(s.now())), "balances", string(join(bals))))
}

func (s *Server) handleFunding(_ http.ResponseWriter, q url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	row := element(Doc("funding_asset.json"), 0)
	var rows [][]byte
	for _, a := range s.walletRows(venue.WalletFunding) {
		if v := q.Get("asset"); v != "" && v != a {
			continue
		}
		h := s.wallets[venue.WalletFunding][a]
		rows = append(rows, mustEdit(row, "asset", jstr(a), "free", jstr(h.free.String()), "locked", jstr(h.locked.String()),
			"freeze", jstr("0"), "withdrawing", jstr("0"), "btcValuation", jstr("0")))
	}
	return 200, json.RawMessage(join(rows))
}

// handleFuturesBalance is GET /fapi/v2|v3/balance, edited from the
// documented example. "balance" is each asset's wallet balance (free plus
// locked). In Single-Asset mode availableBalance is the asset's own free
// amount plus its unrealized PnL; in Multi-Assets mode, as on Binance, it is account-wide and the
// same on every row (the fake values every margin asset 1:1, where Binance
// applies index prices and haircuts), and every margin asset is listed,
// empty ones too.
func (s *Server) handleFuturesBalance(http.ResponseWriter, url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	row := element(Doc("futures_balance.json"), 0)
	assets := s.walletRows(venue.WalletFutures)
	var pooled venue.Decimal
	if s.multiAssets {
		for _, a := range assets {
			pooled = pooled.Add(s.wallets[venue.WalletFutures][a].free)
		}
	}
	var rows [][]byte
	for _, a := range assets {
		h := s.wallets[venue.WalletFutures][a]
		total := h.free.Add(h.locked)
		avail := h.free.Add(h.unrealized)
		if s.multiAssets {
			avail = pooled
		}
		rows = append(rows, mustEdit(row, "asset", jstr(a), "balance", jstr(total.StringFixed(8)),
			"crossWalletBalance", jstr(total.StringFixed(8)), "crossUnPnl", jstr(h.unrealized.StringFixed(8)),
			"availableBalance", jstr(avail.StringFixed(8)), "maxWithdrawAmount", jstr(h.free.StringFixed(8)),
			"updateTime", strconv.FormatInt(ms(s.now()), 10)))
	}
	return 200, json.RawMessage(join(rows))
}

// handleMultiAssetsMargin is GET /fapi/v1/multiAssetsMargin.
func (s *Server) handleMultiAssetsMargin(http.ResponseWriter, url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return 200, json.RawMessage(mustEdit(Doc("futures_multi_assets_margin.json"), "multiAssetsMargin", strconv.FormatBool(s.multiAssets)))
}

// SetFuturesMultiAssets switches the USDⓈ-M futures account between
// Multi-Assets mode (true) and Single-Asset mode (false, the default).
func (s *Server) SetFuturesMultiAssets(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.multiAssets = on
}

// SetFuturesPosition sets the futures wallet's locked (margin in use)
// amount and the unrealized PnL of asset's positions: what the fake reports
// as balance − availableBalance and crossUnPnl.
func (s *Server) SetFuturesPosition(asset string, margin, unrealized venue.Decimal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.holding(venue.WalletFutures, asset)
	h.free = h.free.Add(h.locked).Sub(margin)
	h.locked, h.unrealized = margin, unrealized
}

func (s *Server) handleMargin(http.ResponseWriter, url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.marginOpen {
		return e400(-3003, "Margin account does not exist.")
	}
	doc := Doc("margin_account.json")
	row := element(field(doc, "userAssets"), 0)
	var rows [][]byte
	for _, a := range s.walletRows(venue.WalletMargin) {
		h := s.wallets[venue.WalletMargin][a]
		net := h.free.Add(h.locked).Sub(h.borrowed)
		rows = append(rows, mustEdit(row, "asset", jstr(a), "borrowed", jstr(h.borrowed.StringFixed(8)), "free", jstr(h.free.StringFixed(8)),
			"interest", jstr("0.00000000"), "locked", jstr(h.locked.StringFixed(8)), "netAsset", jstr(net.StringFixed(8))))
	}
	return 200, json.RawMessage(mustEdit(doc, "marginLevel", jstr("999.00000000"), "userAssets", string(join(rows))))
}

func (s *Server) handleEarn(_ http.ResponseWriter, q url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	doc := Doc("earn_flexible_position.json")
	row := element(field(doc, "rows"), 0)
	var rows [][]byte
	for _, a := range s.walletRows(venue.WalletEarn) {
		h := s.wallets[venue.WalletEarn][a]
		rows = append(rows, mustEdit(row, "totalAmount", jstr(h.free.StringFixed(8)), "asset", jstr(a),
			"collateralAmount", jstr("0"), "productId", jstr(a+"001")))
	}
	return 200, json.RawMessage(mustEdit(doc, "rows", string(join(rows)), "total", strconv.Itoa(len(rows))))
}

func (s *Server) handleSubAccounts(_ http.ResponseWriter, q url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	page, _ := strconv.Atoi(q.Get("page"))
	limit, _ := strconv.Atoi(q.Get("limit"))
	if page < 1 {
		page = 1
	}
	if limit < 1 {
		limit = 1
	}
	if limit > 200 {
		limit = 200
	}
	// Each listed sub-account is the documented first row with its own
	// values; the rest of the row (managed, asset management) as documented.
	doc := Doc("sub_account_list.json")
	row := element(field(doc, "subAccounts"), 0)
	rows := [][]byte{}
	// isFreeze, when sent, keeps only the sub-accounts in that state.
	listed := s.subAccounts
	if f := q.Get("isFreeze"); f != "" {
		listed = nil
		for _, sa := range s.subAccounts {
			if strconv.FormatBool(sa.Frozen) == f {
				listed = append(listed, sa)
			}
		}
	}
	for i := (page - 1) * limit; i < len(listed) && i < page*limit; i++ {
		sa := listed[i]
		rows = append(rows, mustEdit(row, "subUserId", strconv.Itoa(i+1), "email", jstr(sa.Email), "remark", `""`,
			"isFreeze", strconv.FormatBool(sa.Frozen), "createTime", i64(ms(sa.Created))))
	}
	return 200, json.RawMessage(mustEdit(doc, "subAccounts", string(join(rows))))
}

func parsePositive(q url.Values, key string) (venue.Decimal, bool, error) {
	v := q.Get(key)
	if v == "" {
		return venue.Decimal{}, false, nil
	}
	d, err := udecimal.Parse(v)
	if err != nil || !d.IsPos() {
		return venue.Decimal{}, true, fmt.Errorf("illegal %s", key)
	}
	return d, true, nil
}

func multipleOf(v, step venue.Decimal) bool {
	if step.IsZero() {
		return true
	}
	r, err := v.Mod(step)
	return err == nil && r.IsZero()
}

func (s *Server) handleNewOrder(w http.ResponseWriter, q url.Values) (int, any) {
	s.mu.Lock()
	now := s.now()
	start10 := now.Truncate(10 * time.Second)
	if !start10.Equal(s.order10Start) {
		s.order10Start, s.order10 = start10, 0
	}
	day := now.Truncate(24 * time.Hour)
	if !day.Equal(s.orderDay) {
		s.orderDay, s.orderDayN = day, 0
	}
	if s.order10 >= s.cfg.OrderLimit10s || s.orderDayN >= s.cfg.OrderLimitDay {
		s.stats.RateLimited++
		s.mu.Unlock()
		w.Header().Set("Retry-After", retryAfter(start10.Add(10*time.Second).Sub(now)))
		return http.StatusTooManyRequests, apiError{-1015, fmt.Sprintf("Too many new orders; current limit is %d orders per 10 SECOND.", s.cfg.OrderLimit10s)}
	}
	s.order10++
	s.orderDayN++
	s.stats.Orders++
	w.Header().Set("X-MBX-ORDER-COUNT-10S", strconv.Itoa(s.order10))
	w.Header().Set("X-MBX-ORDER-COUNT-1D", strconv.Itoa(s.orderDayN))
	status, v, events := s.newOrderLocked(q, now)
	events = s.silenceLocked(q.Get("newClientOrderId"), events)
	s.mu.Unlock()
	s.streams.pushUser(events...)
	return status, v
}

func (s *Server) newOrderLocked(q url.Values, now time.Time) (int, any, [][]byte) {
	sp, ok := s.symbols[q.Get("symbol")]
	if !ok {
		st, v := e400(-1121, "Invalid symbol.")
		return st, v, nil
	}
	side, typ := q.Get("side"), q.Get("type")
	if side != "BUY" && side != "SELL" {
		st, v := e400(-1100, "Illegal characters found in parameter 'side'.")
		return st, v, nil
	}
	if typ != "LIMIT" && typ != "MARKET" {
		st, v := e400(-1116, "Invalid orderType.")
		return st, v, nil
	}
	cid := q.Get("newClientOrderId")
	if cid == "" {
		cid = fmt.Sprintf("x-fake%d", s.nextOrderID+1)
	}
	if !clientIDRule.MatchString(cid) {
		st, v := e400(-1100, "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[a-zA-Z0-9-_]{1,36}$'.")
		return st, v, nil
	}
	// Binance: newClientOrderId is "a unique id among open orders". An id
	// whose order is filled, canceled or expired is accepted again, and
	// queries by it then find the new order.
	if prev, dup := s.byClientID[cid]; dup && (prev.status == "NEW" || prev.status == "PARTIALLY_FILLED") {
		st, v := e400(-2010, "Duplicate order sent.")
		return st, v, nil
	}
	qty, hasQty, err1 := parsePositive(q, "quantity")
	quote, hasQuote, err2 := parsePositive(q, "quoteOrderQty")
	price, hasPrice, err3 := parsePositive(q, "price")
	if err1 != nil || err2 != nil || err3 != nil {
		st, v := e400(-1100, "Illegal characters found in a parameter.")
		return st, v, nil
	}
	if sp.Status != "TRADING" {
		st, v := e400(-2010, "This order type is not possible in this trading phase.")
		return st, v, nil
	}
	if hasQuote && (typ != "MARKET" || sp.NoQuoteOrderQty) {
		st, v := e400(-2010, "Quote order qty market orders are not support for this symbol.")
		return st, v, nil
	}
	if hasQuote && quote.Prec() > sp.QuotePrecision || hasQty && qty.Prec() > 8 || hasPrice && price.Prec() > 8 {
		st, v := e400(-1111, "Precision is over the maximum defined for this asset.")
		return st, v, nil
	}
	tif := q.Get("timeInForce")
	market, hasMarket := s.prices[sp.Name]
	if typ == "LIMIT" {
		if !hasPrice || !hasQty || tif == "" {
			st, v := e400(-1102, "Mandatory parameter was not sent, was empty/null, or malformed.")
			return st, v, nil
		}
		if !multipleOf(price, sp.TickSize) {
			st, v := e400(-1013, "Filter failure: PRICE_FILTER")
			return st, v, nil
		}
	} else {
		tif = ""
		if hasQty == hasQuote {
			st, v := e400(-1102, "Mandatory parameter 'quantity' or 'quoteOrderQty' was not sent, was empty/null, or malformed.")
			return st, v, nil
		}
		if !hasMarket {
			st, v := e400(-1013, "Market is closed.")
			return st, v, nil
		}
		price = market
		if hasQuote {
			q, err := quote.Div(market)
			if err != nil {
				st, v := e400(-1013, "Filter failure: NOTIONAL")
				return st, v, nil
			}
			steps, _, _ := q.QuoRem(sp.StepSize)
			qty = steps.Trunc(0).Mul(sp.StepSize)
		}
	}
	if !multipleOf(qty, sp.StepSize) || qty.LessThan(sp.MinQty) || (!sp.MaxQty.IsZero() && qty.GreaterThan(sp.MaxQty)) {
		st, v := e400(-1013, "Filter failure: LOT_SIZE")
		return st, v, nil
	}
	if typ == "MARKET" && (!multipleOf(qty, sp.MarketStepSize) || qty.LessThan(sp.MarketMinQty) ||
		(!sp.MarketMaxQty.IsZero() && qty.GreaterThan(sp.MarketMaxQty))) {
		st, v := e400(-1013, "Filter failure: MARKET_LOT_SIZE")
		return st, v, nil
	}
	// NOTIONAL: the fake's market price stands in for Binance's average
	// price over avgPriceMins.
	notional := price.Mul(qty)
	if hasQuote {
		notional = quote
	}
	if (typ == "LIMIT" || !sp.MinNotionalNotForMarket) && notional.LessThan(sp.MinNotional) ||
		(typ == "LIMIT" || sp.ApplyMaxToMarket) && notional.GreaterThan(sp.MaxNotional) {
		st, v := e400(-1013, "Filter failure: NOTIONAL")
		return st, v, nil
	}
	o := &order{clientID: cid, symbol: sp.Name, side: side, typ: typ, tif: tif, price: price, qty: qty,
		origQuote: quote, status: "NEW", created: now, updated: now}
	if typ == "MARKET" {
		o.price = venue.Decimal{}
	}
	if side == "BUY" {
		o.lockAsset, o.locked = sp.Quote, price.Mul(qty)
		if typ == "MARKET" && hasQuote {
			o.locked = quote
		}
	} else {
		o.lockAsset, o.locked = sp.Base, qty
	}
	h := s.holding(venue.WalletSpot, o.lockAsset)
	if h.free.LessThan(o.locked) {
		st, v := e400(-2010, "Account has insufficient balance for requested action.")
		return st, v, nil
	}
	h.free = h.free.Sub(o.locked)
	h.locked = h.locked.Add(o.locked)
	s.nextOrderID++
	o.id = s.nextOrderID
	s.orders = append(s.orders, o)
	s.byClientID[cid] = o
	s.acceptedLocked(o)
	events := [][]byte{s.executionReportLocked(o, "NEW", nil)}

	var fills []*trade
	marketable := typ == "MARKET" || (hasMarket && ((side == "BUY" && market.LessThanOrEqual(price)) || (side == "SELL" && market.GreaterThanOrEqual(price))))
	switch {
	case marketable:
		t, ev := s.fillLocked(o, market, false, now)
		fills = append(fills, t)
		events = append(events, ev...)
	case tif == "IOC" || tif == "FOK":
		s.releaseLocked(o)
		o.status = "EXPIRED"
		events = append(events, s.executionReportLocked(o, "EXPIRED", nil))
	}
	var resp json.RawMessage
	switch q.Get("newOrderRespType") {
	case "ACK":
		resp = mustEdit(Doc("order_ack.json"), "symbol", jstr(o.symbol), "orderId", i64(o.id),
			"clientOrderId", jstr(o.clientID), "transactTime", i64(ms(now)))
	case "RESULT":
		resp = orderResult(Doc("order_result.json"), o, now)
	default: // FULL, the default of MARKET and LIMIT orders
		doc := Doc("order_full.json")
		row := element(field(doc, "fills"), 0)
		var fj [][]byte
		for _, t := range fills {
			fj = append(fj, mustEdit(row, "price", jstr(t.price.StringFixed(8)), "qty", jstr(t.qty.StringFixed(8)),
				"commission", jstr(t.fee.StringFixed(8)), "commissionAsset", jstr(t.feeAsset), "tradeId", i64(t.id)))
		}
		resp = mustEdit(orderResult(doc, o, now), "fills", string(join(fj)))
	}
	return 200, resp, events
}

// releaseLocked returns whatever an order still has locked to free.
func (s *Server) releaseLocked(o *order) {
	h := s.holding(venue.WalletSpot, o.lockAsset)
	h.locked = h.locked.Sub(o.locked)
	h.free = h.free.Add(o.locked)
	o.locked = venue.Decimal{}
}

// fillLocked fills the rest of o at price in one trade.
func (s *Server) fillLocked(o *order, price venue.Decimal, maker bool, now time.Time) (*trade, [][]byte) {
	sp := s.symbols[o.symbol]
	qty := o.qty.Sub(o.executed)
	quote := price.Mul(qty)
	base := s.holding(venue.WalletSpot, sp.Base)
	quoteH := s.holding(venue.WalletSpot, sp.Quote)
	t := &trade{orderID: o.id, symbol: o.symbol, price: price, qty: qty, quote: quote, buyer: o.side == "BUY", maker: maker, time: now}
	if o.side == "BUY" {
		spend := quote
		if spend.GreaterThan(o.locked) {
			spend = o.locked
		}
		quoteH.locked = quoteH.locked.Sub(spend)
		o.locked = o.locked.Sub(spend)
		t.fee, t.feeAsset = qty.Mul(s.cfg.FeeRate), sp.Base
		base.free = base.free.Add(qty.Sub(t.fee))
	} else {
		base.locked = base.locked.Sub(qty)
		o.locked = o.locked.Sub(qty)
		t.fee, t.feeAsset = quote.Mul(s.cfg.FeeRate), sp.Quote
		quoteH.free = quoteH.free.Add(quote.Sub(t.fee))
	}
	if !o.locked.IsZero() {
		s.releaseLocked(o)
	}
	s.nextTradeID[o.symbol]++
	t.id = s.nextTradeID[o.symbol]
	s.trades[o.symbol] = append(s.trades[o.symbol], t)
	o.executed = o.qty
	o.cum = o.cum.Add(quote)
	o.status = "FILLED"
	o.updated = now
	return t, [][]byte{s.executionReportLocked(o, "TRADE", t), s.accountPositionLocked(sp.Base, sp.Quote)}
}

// SetPrice moves the market of symbol to price: resting limit orders that the
// price reaches fill at their limit price, and market streams tick.
func (s *Server) SetPrice(symbol string, price venue.Decimal) {
	s.mu.Lock()
	now := s.now()
	s.prices[symbol] = price
	s.pricePath[symbol] = append(s.pricePath[symbol], pricePoint{now, price})
	var events [][]byte
	for _, o := range s.orders {
		if o.symbol != symbol || (o.status != "NEW" && o.status != "PARTIALLY_FILLED") || o.typ != "LIMIT" {
			continue
		}
		if (o.side == "BUY" && price.LessThanOrEqual(o.price)) || (o.side == "SELL" && price.GreaterThanOrEqual(o.price)) {
			_, ev := s.fillLocked(o, o.price, true, now)
			events = append(events, ev...)
		}
	}
	futEvents := s.futuresOnPriceLocked(symbol, price, now)
	s.mu.Unlock()
	s.streams.pushUser(events...)
	s.streams.pushFuturesUser(futEvents...)
	s.streams.pushPrice(symbol, price, now)
}

// SeedTrades appends n historical fills of symbol, one every step from start,
// for trade-history downloads.
func (s *Server) SeedTrades(symbol string, start time.Time, step time.Duration, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.symbols[symbol]
	for i := 0; i < n; i++ {
		s.nextOrderID++
		s.nextTradeID[symbol]++
		price := dec("100").Add(udecimal.MustFromInt64(int64(i%100), 2))
		qty := dec("0.01")
		s.trades[symbol] = append(s.trades[symbol], &trade{id: s.nextTradeID[symbol], orderID: s.nextOrderID, symbol: symbol,
			price: price, qty: qty, quote: price.Mul(qty), fee: dec("0.00001"), feeAsset: sp.Base, buyer: i%2 == 0,
			time: start.Add(time.Duration(i) * step)})
	}
}

func statusOf(q url.Values, s *Server) *order {
	if cid := q.Get("origClientOrderId"); cid != "" {
		o := s.byClientID[cid]
		if o != nil && o.symbol == q.Get("symbol") && !s.hiddenLocked(o.id) {
			return o
		}
		return nil
	}
	if id, err := strconv.ParseInt(q.Get("orderId"), 10, 64); err == nil {
		for _, o := range s.orders {
			if o.id == id && o.symbol == q.Get("symbol") && !s.hiddenLocked(o.id) {
				return o
			}
		}
	}
	return nil
}

func (s *Server) handleGetOrder(_ http.ResponseWriter, q url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := statusOf(q, s)
	if o == nil {
		return e400(-2013, "Order does not exist.")
	}
	if o.archived {
		return http.StatusBadRequest, json.RawMessage(Doc("error_order_archived.json"))
	}
	return 200, orderJSON(o)
}

func (s *Server) handleCancelOrder(_ http.ResponseWriter, q url.Values) (int, any) {
	s.mu.Lock()
	o := statusOf(q, s)
	if o == nil || (o.status != "NEW" && o.status != "PARTIALLY_FILLED") {
		s.mu.Unlock()
		return e400(-2011, "Unknown order sent.")
	}
	now := s.now()
	s.releaseLocked(o)
	o.status, o.updated = "CANCELED", now
	events := [][]byte{s.executionReportLocked(o, "CANCELED", nil), s.accountPositionLocked(s.symbols[o.symbol].Base, s.symbols[o.symbol].Quote)}
	resp := json.RawMessage(mustEdit(Doc("cancel_order.json"), "symbol", jstr(o.symbol), "origClientOrderId", jstr(o.clientID),
		"orderId", i64(o.id), "clientOrderId", jstr(fmt.Sprintf("cancel%d", o.id)), "transactTime", i64(ms(now)),
		"price", jstr(o.price.StringFixed(8)), "origQty", jstr(o.qty.StringFixed(8)), "executedQty", jstr(o.executed.StringFixed(8)),
		"origQuoteOrderQty", jstr(o.origQuote.StringFixed(8)), "cummulativeQuoteQty", jstr(o.cum.StringFixed(8)),
		"status", jstr(o.status), "timeInForce", jstr(orDefault(o.tif, "GTC")), "type", jstr(o.typ), "side", jstr(o.side),
		"selfTradePreventionMode", jstr("EXPIRE_MAKER")))
	s.mu.Unlock()
	s.streams.pushUser(events...)
	return 200, resp
}

func (s *Server) handleOpenOrders(_ http.ResponseWriter, q url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sym := q.Get("symbol")
	if _, ok := s.symbols[sym]; sym != "" && !ok {
		return e400(-1121, "Invalid symbol.")
	}
	var rows [][]byte
	for _, o := range s.orders {
		if (sym == "" || o.symbol == sym) && (o.status == "NEW" || o.status == "PARTIALLY_FILLED") && !s.hiddenLocked(o.id) {
			rows = append(rows, orderJSON(o))
		}
	}
	return 200, json.RawMessage(join(rows))
}

// orderJSON renders o as the documented "Query order" answer
// (docs/query_order.json), the shape of GET /api/v3/order and of each row of
// GET /api/v3/openOrders.
func orderJSON(o *order) json.RawMessage {
	return mustEdit(Doc("query_order.json"), "symbol", jstr(o.symbol), "orderId", i64(o.id), "clientOrderId", jstr(o.clientID),
		"price", jstr(o.price.StringFixed(8)), "origQty", jstr(o.qty.StringFixed(8)), "executedQty", jstr(o.executed.StringFixed(8)),
		"cummulativeQuoteQty", jstr(o.cum.StringFixed(8)), "status", jstr(o.status), "timeInForce", jstr(orDefault(o.tif, "GTC")),
		"type", jstr(o.typ), "side", jstr(o.side), "stopPrice", jstr("0.00000000"), "icebergQty", jstr("0.00000000"),
		"time", i64(ms(o.created)), "updateTime", i64(ms(o.updated)), "isWorking", strconv.FormatBool(o.status == "NEW" || o.status == "PARTIALLY_FILLED"),
		"workingTime", i64(ms(o.created)), "origQuoteOrderQty", jstr(o.origQuote.StringFixed(8)), "selfTradePreventionMode", jstr("EXPIRE_MAKER"))
}

// orderResult edits the order fields of a new-order answer (RESULT, or
// FULL before its fills).
func orderResult(doc []byte, o *order, now time.Time) []byte {
	return mustEdit(doc, "symbol", jstr(o.symbol), "orderId", i64(o.id), "clientOrderId", jstr(o.clientID), "transactTime", i64(ms(now)),
		"price", jstr(o.price.StringFixed(8)), "origQty", jstr(o.qty.StringFixed(8)), "executedQty", jstr(o.executed.StringFixed(8)),
		"origQuoteOrderQty", jstr(o.origQuote.StringFixed(8)), "cummulativeQuoteQty", jstr(o.cum.StringFixed(8)), "status", jstr(o.status),
		"timeInForce", jstr(orDefault(o.tif, "GTC")), "type", jstr(o.typ), "side", jstr(o.side), "workingTime", i64(ms(o.created)),
		"selfTradePreventionMode", jstr("EXPIRE_MAKER"))
}

func i64(n int64) string { return strconv.FormatInt(n, 10) }

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func (s *Server) handleMyTrades(_ http.ResponseWriter, q url.Values) (int, any) {
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
	num := func(k string) (int64, bool) {
		v, err := strconv.ParseInt(q.Get(k), 10, 64)
		return v, err == nil
	}
	fromID, hasFrom := num("fromId")
	orderID, hasOrder := num("orderId")
	st, hasStart := num("startTime")
	et, hasEnd := num("endTime")
	if hasFrom && (hasStart || hasEnd) {
		return e400(-1128, "Combination of optional parameters invalid.")
	}
	switch {
	case hasStart && hasEnd:
		if et-st > int64(24*time.Hour/time.Millisecond) {
			return e400(-1127, "More than 24 hours between startTime and endTime.")
		}
		if et < st {
			return e400(-1128, "Combination of optional parameters invalid.")
		}
	case hasStart:
		et, hasEnd = st+int64(24*time.Hour/time.Millisecond), true
	case hasEnd:
		st, hasStart = et-int64(24*time.Hour/time.Millisecond), true
	}
	var sel []*trade
	visible := s.now().Add(-s.tradesLag)
	for _, t := range s.trades[sym] {
		if t.time.After(visible) || s.hiddenLocked(t.orderID) {
			continue // not in the trade database yet
		}
		if hasOrder && t.orderID != orderID {
			continue
		}
		if hasFrom && t.id < fromID {
			continue
		}
		if hasStart && (ms(t.time) < st || ms(t.time) > et) {
			continue
		}
		sel = append(sel, t)
	}
	if hasFrom || hasStart {
		if len(sel) > limit {
			sel = sel[:limit]
		}
	} else if len(sel) > limit {
		sel = sel[len(sel)-limit:]
	}
	row := element(Doc("my_trades.json"), 0)
	rows := make([][]byte, 0, len(sel))
	for _, t := range sel {
		rows = append(rows, mustEdit(row, "symbol", jstr(t.symbol), "id", i64(t.id), "orderId", i64(t.orderID),
			"price", jstr(t.price.StringFixed(8)), "qty", jstr(t.qty.StringFixed(8)), "quoteQty", jstr(t.quote.StringFixed(8)),
			"commission", jstr(t.fee.StringFixed(8)), "commissionAsset", jstr(t.feeAsset), "time", i64(ms(t.time)),
			"isBuyer", strconv.FormatBool(t.buyer), "isMaker", strconv.FormatBool(t.maker)))
	}
	return 200, json.RawMessage(join(rows))
}

var intervals = map[string]time.Duration{"1m": time.Minute, "3m": 3 * time.Minute, "5m": 5 * time.Minute, "15m": 15 * time.Minute,
	"30m": 30 * time.Minute, "1h": time.Hour, "2h": 2 * time.Hour, "4h": 4 * time.Hour, "6h": 6 * time.Hour, "8h": 8 * time.Hour,
	"12h": 12 * time.Hour, "1d": 24 * time.Hour}

func (s *Server) handleKlines(_ http.ResponseWriter, q url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sym := q.Get("symbol")
	if _, ok := s.symbols[sym]; !ok {
		return e400(-1121, "Invalid symbol.")
	}
	iv, ok := intervals[q.Get("interval")]
	if !ok {
		return e400(-1120, "Invalid interval.")
	}
	limit := 500
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return e400(-1130, "Data sent for parameter 'limit' is not valid.")
		}
		limit = n
	}
	st, errS := strconv.ParseInt(q.Get("startTime"), 10, 64)
	et, errE := strconv.ParseInt(q.Get("endTime"), 10, 64)
	type candle struct {
		open       time.Time
		o, h, l, c venue.Decimal
	}
	var out []*candle
	for _, p := range s.pricePath[sym] {
		open := p.t.Truncate(iv)
		if errS == nil && ms(open) < st {
			continue
		}
		if errE == nil && ms(open) > et {
			continue
		}
		if n := len(out); n > 0 && out[n-1].open.Equal(open) {
			c := out[n-1]
			if p.p.GreaterThan(c.h) {
				c.h = p.p
			}
			if p.p.LessThan(c.l) {
				c.l = p.p
			}
			c.c = p.p
			continue
		}
		out = append(out, &candle{open, p.p, p.p, p.p, p.p})
	}
	if len(out) > limit {
		if errS != nil && errE == nil || errS != nil && errE != nil {
			out = out[len(out)-limit:]
		} else {
			out = out[:limit]
		}
	}
	// Each candle is the documented row with its own times and prices; the
	// fake trades nothing, so volumes and counts are zero.
	row := element(Doc("klines.json"), 0)
	rows := make([][]byte, 0, len(out))
	f8 := func(d venue.Decimal) string { return jstr(d.StringFixed(8)) }
	zero := jstr("0.00000000")
	for _, c := range out {
		rows = append(rows, mustEditElems(row, 0, i64(ms(c.open)), 1, f8(c.o), 2, f8(c.h), 3, f8(c.l), 4, f8(c.c), 5, zero,
			6, i64(ms(c.open.Add(iv))-1), 7, zero, 8, "0", 9, zero, 10, zero))
	}
	return 200, json.RawMessage(join(rows))
}

func (s *Server) handleTickerPrice(_ http.ResponseWriter, q url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	one := Doc("ticker_price.json")
	if sym := q.Get("symbol"); sym != "" {
		p, ok := s.prices[sym]
		if !ok {
			return e400(-1121, "Invalid symbol.")
		}
		return 200, json.RawMessage(mustEdit(one, "symbol", jstr(sym), "price", jstr(p.StringFixed(8))))
	}
	// Every symbol: the documented array's rows, each edited.
	row := element(Doc("ticker_price_list.json"), 0)
	rows := [][]byte{}
	for _, name := range s.symbolOrder {
		if p, ok := s.prices[name]; ok {
			rows = append(rows, mustEdit(row, "symbol", jstr(name), "price", jstr(p.StringFixed(8))))
		}
	}
	return 200, json.RawMessage(join(rows))
}

// handleAvgPrice answers the documented average price example with the
// symbol's market price, the price the fake checks a market order's
// NOTIONAL against (Binance: the average over avgPriceMins), and the
// server's time as closeTime.
func (s *Server) handleAvgPrice(_ http.ResponseWriter, q url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp, ok := s.symbols[q.Get("symbol")]
	if !ok {
		return e400(-1121, "Invalid symbol.")
	}
	p := s.prices[sp.Name] // zero before the first trade
	return 200, json.RawMessage(mustEdit(Doc("avg_price.json"), "price", jstr(p.StringFixed(8)), "closeTime", i64(ms(s.now()))))
}

// SeedFuturesTrades appends n USDⓈ-M futures fills of symbol, one every step
// from start, alternately buying and selling (selling realizes a profit of
// 0.1 USDT), with commission in USDT.
func (s *Server) SeedFuturesTrades(symbol string, start time.Time, step time.Duration, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.futTrades[symbol]
	id := int64(700000)
	if len(ts) > 0 {
		id = ts[len(ts)-1].id
	}
	for i := 0; i < n; i++ {
		id++
		s.nextOrderID++
		price := dec("30000").Add(udecimal.MustFromInt64(int64(i%100), 1))
		qty := dec("0.002")
		quote := price.Mul(qty)
		t := &trade{id: id, orderID: s.nextOrderID, symbol: symbol, price: price, qty: qty, quote: quote,
			fee: quote.Mul(dec("0.0004")), feeAsset: "USDT", buyer: i%2 == 0, maker: i%3 == 0,
			time: start.Add(time.Duration(i) * step), positionSide: "BOTH"}
		if !t.buyer {
			t.realizedPnl = dec("0.1")
		}
		ts = append(ts, t)
	}
	s.futTrades[symbol] = ts
}

// maxFuturesTradeWindow is the longest startTime–endTime span
// /fapi/v1/userTrades accepts, and what it returns without either.
const maxFuturesTradeWindow = 7 * 24 * time.Hour

// handleFuturesTrades is GET /fapi/v1/userTrades: the account's fills of one
// symbol, oldest first, from fromId or within a window of at most 7 days
// (the last 7 days by default); fromId cannot be sent with a time.
func (s *Server) handleFuturesTrades(_ http.ResponseWriter, q url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sym := q.Get("symbol")
	if sym == "" {
		return e400(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
	}
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
	num := func(k string) (int64, bool, error) {
		v := q.Get(k)
		if v == "" {
			return 0, false, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		return n, true, err
	}
	fromID, hasFrom, err1 := num("fromId")
	orderID, hasOrder, err2 := num("orderId")
	st, hasStart, err3 := num("startTime")
	et, hasEnd, err4 := num("endTime")
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return e400(-1100, "Illegal characters found in a parameter.")
	}
	if hasFrom && (hasStart || hasEnd) {
		return e400(-1128, "Combination of optional parameters invalid.")
	}
	week := maxFuturesTradeWindow.Milliseconds()
	switch {
	case hasStart && hasEnd:
		if et < st {
			return e400(-1128, "Combination of optional parameters invalid.")
		}
		if et-st > week {
			return e400(-1127, "Lookup interval is too big. More than 7 days between startTime and endTime.")
		}
	case hasStart:
		et = st + week
	case hasEnd:
		st = et - week
	case !hasFrom && !hasOrder:
		et = ms(s.now())
		st = et - week
	}
	timed := hasStart || hasEnd || (!hasFrom && !hasOrder)
	var sel []*trade
	for _, t := range s.futTrades[sym] {
		if hasOrder && t.orderID != orderID || hasFrom && t.id < fromID {
			continue
		}
		if timed && (ms(t.time) < st || ms(t.time) > et) {
			continue
		}
		sel = append(sel, t)
	}
	if hasFrom || hasStart {
		if len(sel) > limit {
			sel = sel[:limit]
		}
	} else if len(sel) > limit {
		sel = sel[len(sel)-limit:]
	}
	row := element(Doc("futures_user_trades.json"), 0)
	rows := make([][]byte, 0, len(sel))
	for _, t := range sel {
		side := "SELL"
		if t.buyer {
			side = "BUY"
		}
		rows = append(rows, mustEdit(row, "buyer", strconv.FormatBool(t.buyer), "commission", jstr(t.fee.StringFixed(8)),
			"commissionAsset", jstr(t.feeAsset), "id", i64(t.id), "maker", strconv.FormatBool(t.maker), "orderId", i64(t.orderID),
			"price", jstr(t.price.StringFixed(2)), "qty", jstr(t.qty.StringFixed(3)), "quoteQty", jstr(t.quote.StringFixed(5)),
			"realizedPnl", jstr(t.realizedPnl.StringFixed(8)), "side", jstr(side), "positionSide", jstr(t.positionSide),
			"symbol", jstr(t.symbol), "time", i64(ms(t.time))))
	}
	return 200, json.RawMessage(join(rows))
}

// SetTradesLag makes myTrades leave out fills younger than d, as Binance's
// myTrades, which reads from a database, can lag right after a fill. The
// order responses and the user stream report fills at once.
func (s *Server) SetTradesLag(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tradesLag = d
}

// Archive makes the order with clientOrderID archived, as Binance archives
// orders canceled or expired with nothing executed after 90 days: querying
// it answers -2026. It reports false for an order that cannot be archived
// (unknown, open, or with fills).
func (s *Server) Archive(clientOrderID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.byClientID[clientOrderID]
	if o == nil || (o.status != "CANCELED" && o.status != "EXPIRED") || !o.executed.IsZero() {
		return false
	}
	o.archived = true
	return true
}

// FailNextForbidden makes the next request of op answer HTTP 403 (a WAF
// block) with an HTML body, as Binance's edge answers it.
func (s *Server) FailNextForbidden(op string) { s.FailNext(op, FaultForbidden) }
