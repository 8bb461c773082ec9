package binance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/adshao/go-binance/v2/futures"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// USDⓈ-M futures order-count limits per account ("ORDERS" of
// /fapi/v1/exchangeInfo): 300 per 10 seconds and 1,200 per minute.
const (
	futuresOrderLimit10s    = 300
	futuresOrderLimitMinute = 1200
)

// defaultFuturesWSBaseURL is the USDⓈ-M futures stream host (market streams
// and the listenKey user data stream).
const defaultFuturesWSBaseURL = "wss://fstream.binance.com"

// codeNoNeedToChangeMarginType is -4046, "No need to change margin type.":
// the symbol already has the margin type asked for.
const codeNoNeedToChangeMarginType = -4046

// FuturesOptions configures a Client's USDⓈ-M futures account.
type FuturesOptions struct {
	// WSBaseURL is the futures stream host (default wss://fstream.binance.com).
	WSBaseURL string
	// Leverage is the initial leverage to set per symbol (1 to 125), and
	// MarginType the margin type (cross or isolated); each is set once per
	// symbol by Prepare, and before the first order of a symbol that was
	// not prepared. A symbol without an entry keeps what the account has.
	Leverage   map[string]int
	MarginType map[string]venue.MarginMode
	// ListenKeyKeepalive is how often the user stream's listenKey is
	// extended (default 30 minutes; Binance lets it lapse after 60).
	ListenKeyKeepalive time.Duration
}

// Futures is the USDⓈ-M futures account of a Client as a venue: linear
// perpetuals ordered by client order id through go-binance's futures
// client, on the Client's futures weight budget and its own order counts,
// with positions, funding payments, per-symbol leverage and margin type,
// and the futures user data stream. It is safe for concurrent use.
//
// Balances are the futures wallet only; the spot, funding, margin and earn
// wallets are the spot Client's.
type Futures struct {
	c     *Client
	opt   FuturesOptions
	ids   *idCache
	fills *fillBook
	rules rulesCache

	mu       sync.Mutex
	symbols  map[string]venue.Symbol // from the last exchangeInfo, with the margin asset as Quote
	prepared map[string]bool
}

var (
	_ venue.Venue          = (*Futures)(nil)
	_ venue.PositionReader = (*Futures)(nil)
)

// Futures returns the client's USDⓈ-M futures account; it shares the
// Client's keys, transport, clock offset and futures budget.
func (c *Client) Futures(opt FuturesOptions) (*Futures, error) {
	if opt.WSBaseURL == "" {
		opt.WSBaseURL = defaultFuturesWSBaseURL
	}
	opt.WSBaseURL = strings.TrimRight(opt.WSBaseURL, "/")
	if _, err := url.Parse(opt.WSBaseURL); err != nil {
		return nil, fmt.Errorf("binance futures: url %q: %w", opt.WSBaseURL, err)
	}
	for sym, l := range opt.Leverage {
		if l < 1 || l > 125 {
			return nil, fmt.Errorf("binance futures: leverage %d for %s: Binance takes 1 to 125", l, sym)
		}
	}
	for sym, m := range opt.MarginType {
		if m != venue.MarginCross && m != venue.MarginIsolated {
			return nil, fmt.Errorf("binance futures: margin type %q for %s: cross or isolated", m, sym)
		}
	}
	if opt.ListenKeyKeepalive <= 0 {
		opt.ListenKeyKeepalive = 30 * time.Minute
	}
	return &Futures{c: c, opt: opt, ids: newIDCache(100000), fills: newFillBook(100000), prepared: map[string]bool{}}, nil
}

// Name is "binance-futures".
func (f *Futures) Name() string { return "binance-futures" }

// RecvWindow is the recvWindow of every futures order placement and
// cancellation (the Client's).
func (f *Futures) RecvWindow() time.Duration { return f.c.RecvWindow() }

// WindowClosed is the Client's WindowClosed: one exchange, one clock.
func (f *Futures) WindowClosed(returned time.Time) time.Time { return f.c.WindowClosed(returned) }

// Stats returns the futures limiter's counters.
func (f *Futures) Stats() LimiterStats {
	st := f.c.FuturesStats()
	f.c.futLim.b.mu.Lock()
	st.OrderLimit10s, st.OrderLimitDay = f.c.futLim.orders10s.limit, f.c.futLim.ordersDay.limit
	f.c.futLim.b.mu.Unlock()
	return st
}

// futuresRules reads a USDⓈ-M symbol's filters: PRICE_FILTER, LOT_SIZE,
// MARKET_LOT_SIZE and MIN_NOTIONAL, whose key is "notional" on futures
// (spot's is "minNotional") and which applies to market orders too.
func futuresRules(s futures.Symbol) symbolRules {
	r := symbolRules{status: s.Status}
	for _, t := range s.OrderType {
		r.orderTypes = append(r.orderTypes, string(t))
	}
	for _, fl := range s.Filters {
		switch fl["filterType"] {
		case "PRICE_FILTER":
			r.tick, r.minPrice, r.maxPrice = filterDec(fl, "tickSize"), filterDec(fl, "minPrice"), filterDec(fl, "maxPrice")
		case "LOT_SIZE":
			r.step, r.minQty, r.maxQty = filterDec(fl, "stepSize"), filterDec(fl, "minQty"), filterDec(fl, "maxQty")
		case "MARKET_LOT_SIZE":
			r.hasMarketLot = true
			r.marketStep, r.marketMin, r.marketMax = filterDec(fl, "stepSize"), filterDec(fl, "minQty"), filterDec(fl, "maxQty")
		case "MIN_NOTIONAL":
			r.minNotional, r.applyMinToMarket = filterDec(fl, "notional"), true
		}
	}
	return r
}

// Symbols lists the USDⓈ-M perpetuals (/fapi/v1/exchangeInfo, weight 1)
// with their filters; other contract types (quarterly deliveries) are left
// out. Quote is the quote asset (USDT), which is also what the contract
// settles in.
func (f *Futures) Symbols(ctx context.Context) ([]venue.Symbol, error) {
	var info *futures.ExchangeInfo
	if err := f.c.call(ctx, "list futures symbols", false, func(ctx context.Context) (err error) {
		info, err = f.c.futures.NewExchangeInfoService().Do(ctx)
		return err
	}); err != nil {
		return nil, err
	}
	rules := map[string]symbolRules{}
	syms := map[string]venue.Symbol{}
	out := make([]venue.Symbol, 0, len(info.Symbols))
	for _, s := range info.Symbols {
		if s.ContractType != futures.ContractTypePerpetual {
			continue
		}
		r := futuresRules(s)
		rules[s.Symbol] = r
		sym := venue.Symbol{Name: s.Symbol, Kind: venue.KindLinearPerpetual, Base: s.BaseAsset, Quote: s.QuoteAsset,
			TickSize: r.tick, StepSize: r.step, MinQty: r.minQty, MaxQty: r.maxQty, MinNotional: r.minNotional}
		syms[s.Symbol] = venue.Symbol{Name: s.Symbol, Base: s.BaseAsset, Quote: s.MarginAsset}
		out = append(out, sym)
	}
	f.rules.mu.Lock()
	f.rules.at, f.rules.rules = f.c.cfg.Clock.Now(), rules
	f.rules.mu.Unlock()
	f.mu.Lock()
	f.symbols = syms
	f.mu.Unlock()
	return out, nil
}

func (f *Futures) rulesFor(ctx context.Context, op, symbol string) (symbolRules, error) {
	f.rules.mu.Lock()
	r, ok := f.rules.rules[symbol]
	fresh := f.rules.rules != nil && f.c.cfg.Clock.Now().Sub(f.rules.at) < rulesTTL
	f.rules.mu.Unlock()
	if !fresh || !ok {
		if _, err := f.Symbols(ctx); err != nil {
			return symbolRules{}, err
		}
		f.rules.mu.Lock()
		r, ok = f.rules.rules[symbol]
		f.rules.mu.Unlock()
	}
	if !ok {
		return symbolRules{}, &venue.Error{Class: venue.ClassRejected, Op: op,
			Message: fmt.Sprintf("symbol %q is not a USDⓈ-M perpetual in exchangeInfo; not sent", symbol)}
	}
	return r, nil
}

// settleAsset is the margin asset of symbol, from the last exchangeInfo.
func (f *Futures) settleAsset(symbol string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.symbols[symbol].Quote
}

// Prepare sets the configured margin type and leverage of each symbol
// (POST /fapi/v1/marginType, POST /fapi/v1/leverage), once per symbol per
// Futures: a session calls it as it starts. A symbol without configuration
// is left as the account has it.
func (f *Futures) Prepare(ctx context.Context, symbols ...string) error {
	for _, sym := range symbols {
		f.mu.Lock()
		done := f.prepared[sym]
		f.mu.Unlock()
		if done {
			continue
		}
		if m, ok := f.opt.MarginType[sym]; ok {
			mt := futures.MarginTypeCrossed
			if m == venue.MarginIsolated {
				mt = futures.MarginTypeIsolated
			}
			err := f.c.call(ctx, fmt.Sprintf("set margin type %q %s", sym, m), false, func(ctx context.Context) error {
				return f.c.futures.NewChangeMarginTypeService().Symbol(sym).MarginType(mt).Do(ctx)
			})
			var ve *venue.Error
			if err != nil && !(errors.As(err, &ve) && ve.Code == codeNoNeedToChangeMarginType) {
				return err
			}
		}
		if l, ok := f.opt.Leverage[sym]; ok {
			if err := f.c.call(ctx, fmt.Sprintf("set leverage %q %d", sym, l), false, func(ctx context.Context) error {
				_, err := f.c.futures.NewChangeLeverageService().Symbol(sym).Leverage(l).Do(ctx)
				return err
			}); err != nil {
				return err
			}
		}
		f.mu.Lock()
		f.prepared[sym] = true
		f.mu.Unlock()
	}
	return nil
}

func positionSide(p venue.PositionSide) futures.PositionSideType {
	switch p {
	case venue.PositionLong:
		return futures.PositionSideTypeLong
	case venue.PositionShort:
		return futures.PositionSideTypeShort
	}
	return futures.PositionSideTypeBoth
}

// PlaceOrder submits a USDⓈ-M order by newClientOrderId with newOrderRespType
// RESULT, after Prepare of its symbol. Quantities are base units; a market
// order by quote quantity is refused (class invalid): futures take none.
// An unknown outcome must be settled with QueryOrder.
func (f *Futures) PlaceOrder(ctx context.Context, req venue.OrderRequest) (venue.Order, error) {
	op := fmt.Sprintf("place futures order %q", req.ClientOrderID)
	if err := checkClientID(op, req.ClientOrderID); err != nil {
		return venue.Order{}, err
	}
	if req.Symbol == "" || !req.Side.Valid() {
		return venue.Order{}, invalid(op, "symbol and side buy|sell are required")
	}
	if !req.PositionSide.Valid() {
		return venue.Order{}, invalid(op, fmt.Sprintf("position side %q", req.PositionSide))
	}
	if req.ReduceOnly && !req.PositionSide.OneWay() {
		// Binance: "reduceOnly cannot be sent in Hedge Mode"; closing a
		// hedge-mode position is the opposite side on the same positionSide.
		return venue.Order{}, invalid(op, "reduce-only is one-way mode only; in hedge mode the position side says what closes")
	}
	if problem := req.PerpetualShapeProblem("USDⓈ-M futures"); problem != "" {
		return venue.Order{}, invalid(op, problem)
	}
	rules, err := f.rulesFor(ctx, op, req.Symbol)
	if err != nil {
		return venue.Order{}, err
	}
	if req.ReduceOnly {
		// MIN_NOTIONAL does not apply to reduce-only orders.
		rules.minNotional = venue.Decimal{}
	}
	// A market order's notional is not checked here (no price passed):
	// USDⓈ-M values it at the mark price, which the spot average price
	// is not.
	sh, err := shape(op, rules, req, venue.Decimal{})
	if err != nil {
		return venue.Order{}, err
	}
	if err := f.Prepare(ctx, req.Symbol); err != nil {
		return venue.Order{}, err
	}
	s := f.c.futures.NewCreateOrderService().Symbol(req.Symbol).NewClientOrderID(req.ClientOrderID).
		NewOrderResponseType(futures.NewOrderRespTypeRESULT).PositionSide(positionSide(req.PositionSide)).
		Quantity(sh.qty.String())
	if req.ReduceOnly {
		s.ReduceOnly(true)
	}
	if req.Side == venue.Buy {
		s.Side(futures.SideTypeBuy)
	} else {
		s.Side(futures.SideTypeSell)
	}
	if req.Type == venue.Limit {
		tif := req.TimeInForce
		if tif == "" {
			tif = venue.GTC
		}
		s.Type(futures.OrderTypeLimit).Price(sh.price.String()).TimeInForce(futures.TimeInForceType(tif))
	} else {
		s.Type(futures.OrderTypeMarket)
	}
	var r *futures.CreateOrderResponse
	if err := f.c.call(ctx, op, true, func(ctx context.Context) (err error) {
		r, err = s.Do(ctx, futures.WithRecvWindow(f.c.cfg.RecvWindow.Milliseconds()))
		return err
	}); err != nil {
		return venue.Order{}, err
	}
	t := time.UnixMilli(r.UpdateTime).UTC()
	o := venue.Order{ClientOrderID: r.ClientOrderID, VenueOrderID: strconv.FormatInt(r.OrderID, 10), Symbol: r.Symbol,
		Side: side(string(r.Side)), Type: orderType(string(r.Type)), Price: parseDec(r.Price), Quantity: parseDec(r.OrigQuantity),
		ExecutedQty: parseDec(r.ExecutedQuantity), QuoteQty: parseDec(r.CumQuote), Status: status(string(r.Status)),
		Created: t, Updated: t}
	f.ids.put(o.Symbol, o.VenueOrderID, o.ClientOrderID)
	f.fills.executed(o.Symbol, o.VenueOrderID, o.ExecutedQty)
	return o, nil
}

func fromFuturesOrder(o *futures.Order) venue.Order {
	return venue.Order{ClientOrderID: o.ClientOrderID, VenueOrderID: strconv.FormatInt(o.OrderID, 10), Symbol: o.Symbol,
		Side: side(string(o.Side)), Type: orderType(string(o.Type)), Price: parseDec(o.Price), Quantity: parseDec(o.OrigQuantity),
		ExecutedQty: parseDec(o.ExecutedQuantity), QuoteQty: parseDec(o.CumQuote), Status: status(string(o.Status)),
		Created: time.UnixMilli(o.Time).UTC(), Updated: time.UnixMilli(o.UpdateTime).UTC()}
}

// CancelOrder cancels by origClientOrderId (DELETE /fapi/v1/order).
func (f *Futures) CancelOrder(ctx context.Context, symbol, clientOrderID string) (venue.Order, error) {
	op := fmt.Sprintf("cancel futures order %q", clientOrderID)
	if err := checkClientID(op, clientOrderID); err != nil {
		return venue.Order{}, err
	}
	var r *futures.CancelOrderResponse
	if err := f.c.call(ctx, op, true, func(ctx context.Context) (err error) {
		r, err = f.c.futures.NewCancelOrderService().Symbol(symbol).OrigClientOrderID(clientOrderID).
			Do(ctx, futures.WithRecvWindow(f.c.cfg.RecvWindow.Milliseconds()))
		return err
	}); err != nil {
		return venue.Order{}, err
	}
	vid := strconv.FormatInt(r.OrderID, 10)
	f.ids.put(r.Symbol, vid, r.ClientOrderID)
	f.fills.executed(r.Symbol, vid, parseDec(r.ExecutedQuantity))
	return venue.Order{ClientOrderID: r.ClientOrderID, VenueOrderID: vid, Symbol: r.Symbol, Side: side(string(r.Side)),
		Type: orderType(string(r.Type)), Price: parseDec(r.Price), Quantity: parseDec(r.OrigQuantity),
		ExecutedQty: parseDec(r.ExecutedQuantity), QuoteQty: parseDec(r.CumQuote), Status: status(string(r.Status)),
		Updated: time.UnixMilli(r.UpdateTime).UTC()}, nil
}

// QueryOrder looks an order up by origClientOrderId (GET /fapi/v1/order,
// weight 1). Binance answers -2013 (not found) for an order canceled or
// expired without a fill more than 3 days ago as for one it never took.
func (f *Futures) QueryOrder(ctx context.Context, symbol, clientOrderID string) (venue.Order, error) {
	op := fmt.Sprintf("query futures order %q", clientOrderID)
	if err := checkClientID(op, clientOrderID); err != nil {
		return venue.Order{}, err
	}
	var o *futures.Order
	if err := f.c.call(ctx, op, false, func(ctx context.Context) (err error) {
		o, err = f.c.futures.NewGetOrderService().Symbol(symbol).OrigClientOrderID(clientOrderID).Do(ctx)
		return err
	}); err != nil {
		return venue.Order{}, err
	}
	out := fromFuturesOrder(o)
	f.ids.put(out.Symbol, out.VenueOrderID, out.ClientOrderID)
	f.fills.executed(out.Symbol, out.VenueOrderID, out.ExecutedQty)
	return out, nil
}

// OpenOrders lists open futures orders (weight 1 for one symbol, 40 for all).
func (f *Futures) OpenOrders(ctx context.Context, symbol string) ([]venue.Order, error) {
	var os []*futures.Order
	if err := f.c.call(ctx, fmt.Sprintf("list open futures orders %q", symbol), false, func(ctx context.Context) (err error) {
		s := f.c.futures.NewListOpenOrdersService()
		if symbol != "" {
			s.Symbol(symbol)
		}
		os, err = s.Do(ctx)
		return err
	}); err != nil {
		return nil, err
	}
	out := make([]venue.Order, 0, len(os))
	for _, o := range os {
		vo := fromFuturesOrder(o)
		f.ids.put(vo.Symbol, vo.VenueOrderID, vo.ClientOrderID)
		f.fills.executed(vo.Symbol, vo.VenueOrderID, vo.ExecutedQty)
		out = append(out, vo)
	}
	return out, nil
}

// OrderTrades lists the fills of one order (/fapi/v1/userTrades by orderId,
// weight 5) with those the user stream brought that the endpoint does not
// have yet; short of the order's executed quantity it fails with class
// unavailable, like the spot adapter.
func (f *Futures) OrderTrades(ctx context.Context, symbol, venueOrderID string) ([]venue.Trade, error) {
	op := fmt.Sprintf("list trades of futures order %q", venueOrderID)
	id, err := strconv.ParseInt(venueOrderID, 10, 64)
	if err != nil {
		return nil, invalid(op, "venue order id is not a number")
	}
	var out []venue.Trade
	var from int64
	for {
		params := url.Values{}
		params.Set("symbol", symbol)
		params.Set("orderId", venueOrderID)
		params.Set("limit", "1000")
		if from > 0 {
			params.Set("fromId", strconv.FormatInt(from, 10))
		}
		var ts []futuresTrade
		if err := f.c.call(ctx, op, false, func(ctx context.Context) error {
			return f.c.signedAt(ctx, f.c.cfg.FuturesBaseURL, http.MethodGet, "/fapi/v1/userTrades", params, &ts)
		}); err != nil {
			return nil, err
		}
		for _, t := range ts {
			if t.OrderID == id {
				out = append(out, t.port().Trade)
			}
		}
		if len(ts) < 1000 {
			break
		}
		from = ts[len(ts)-1].ID + 1
	}
	merged, missing := f.fills.merge(symbol, venueOrderID, out)
	if missing.IsPos() {
		return nil, fillsMissing(op, missing)
	}
	if len(merged) == 0 {
		return merged, nil
	}
	cid := f.ids.get(symbol, venueOrderID)
	if cid == "" {
		var o *futures.Order
		if err := f.c.call(ctx, fmt.Sprintf("query futures order %s", venueOrderID), false, func(ctx context.Context) (err error) {
			o, err = f.c.futures.NewGetOrderService().Symbol(symbol).OrderID(id).Do(ctx)
			return err
		}); err != nil {
			return nil, err
		}
		cid = o.ClientOrderID
		f.ids.put(symbol, venueOrderID, cid)
	}
	for i := range merged {
		merged[i].ClientOrderID = cid
	}
	return merged, nil
}

// Trades pages through the account's futures fills of q.Symbol (see
// Client.FuturesTrades: 7-day windows, 6 months kept), with the client
// order ids this Futures has seen.
func (f *Futures) Trades(ctx context.Context, q venue.TradeQuery) (venue.TradePage, error) {
	p, err := f.c.FuturesTrades(ctx, q)
	if err != nil {
		return venue.TradePage{}, err
	}
	page := venue.TradePage{Next: p.Next}
	for _, t := range p.Trades {
		tr := t.Trade
		tr.ClientOrderID = f.ids.get(tr.Symbol, tr.VenueOrderID)
		page.Trades = append(page.Trades, tr)
	}
	return page, nil
}

// Klines returns futures candles (/fapi/v1/klines) opening in [from, to).
func (f *Futures) Klines(ctx context.Context, symbol, interval string, from, to time.Time) ([]venue.Kline, error) {
	op := fmt.Sprintf("list futures klines %q %s", symbol, interval)
	return pageKlines(from, to, func(start time.Time) (ks []rawKline, err error) {
		err = f.c.call(ctx, op, false, func(ctx context.Context) error {
			page, err := f.c.futures.NewKlinesService().Symbol(symbol).Interval(interval).StartTime(start.UnixMilli()).
				EndTime(to.UnixMilli() - 1).Limit(klinePage).Do(ctx)
			ks = ks[:0]
			for _, k := range page {
				ks = append(ks, rawKline{k.OpenTime, k.Open, k.High, k.Low, k.Close, k.Volume})
			}
			return err
		})
		return ks, err
	})
}

// Balances lists the futures wallet (venue.WalletFutures), as the spot
// Client's Balances reports it: in Single-Asset mode the margin in use is
// Locked.
func (f *Futures) Balances(ctx context.Context) ([]venue.Balance, error) {
	fut, err := f.c.FuturesBalances(ctx)
	if err != nil {
		return nil, err
	}
	var out []venue.Balance
	for _, b := range fut {
		free, locked := futuresFreeLocked(b)
		if free.IsZero() && locked.IsZero() {
			continue
		}
		out = append(out, venue.Balance{Wallet: venue.WalletFutures, Asset: b.Asset, Free: free, Locked: locked})
	}
	return out, nil
}

// futuresFreeLocked splits a futures wallet balance: in Single-Asset mode
// the margin in use (wallet plus unrealized PnL less available) is locked,
// bounded to the wallet; in Multi-Assets mode availableBalance is
// account-wide, so the whole wallet is reported free.
func futuresFreeLocked(b FuturesBalance) (free, locked venue.Decimal) {
	if b.MultiAssets {
		return b.Wallet, venue.Decimal{}
	}
	locked = b.Wallet.Add(b.UnrealizedPnl).Sub(b.Available)
	if locked.IsNeg() {
		locked = venue.Decimal{}
	}
	if locked.GreaterThan(b.Wallet) {
		locked = b.Wallet
	}
	return b.Wallet.Sub(locked), locked
}

// Positions lists the open positions (/fapi/v2/positionRisk, weight 5):
// size signed in one-way mode (positionAmt), entry and mark price,
// unrealized PnL, leverage, liquidation price and margin type. v2 rather
// than v3: v3 no longer reports leverage and margin type.
func (f *Futures) Positions(ctx context.Context) ([]venue.Position, error) {
	var rs []*futures.PositionRisk
	if err := f.c.call(ctx, "list futures positions", false, func(ctx context.Context) (err error) {
		rs, err = f.c.futures.NewGetPositionRiskService().Do(ctx)
		return err
	}); err != nil {
		return nil, err
	}
	f.mu.Lock()
	known := f.symbols != nil
	f.mu.Unlock()
	if !known && len(rs) > 0 { // the settle assets come from exchangeInfo
		if _, err := f.Symbols(ctx); err != nil {
			return nil, err
		}
	}
	now := f.c.lim.serverNow()
	var out []venue.Position
	for _, r := range rs {
		size := parseDec(r.PositionAmt)
		if size.IsZero() {
			continue
		}
		mode := venue.MarginCross
		if strings.EqualFold(r.MarginType, "isolated") {
			mode = venue.MarginIsolated
		}
		settle := f.settleAsset(r.Symbol)
		if settle == "" {
			settle = "USDT"
		}
		out = append(out, venue.Position{Symbol: r.Symbol, SettleAsset: settle, Size: size, EntryPrice: parseDec(r.EntryPrice),
			MarkPrice: parseDec(r.MarkPrice), UnrealizedPnL: parseDec(r.UnRealizedProfit), Leverage: parseDec(r.Leverage),
			LiquidationPrice: parseDec(r.LiquidationPrice), MarginMode: mode, Updated: now})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Symbol < out[j].Symbol })
	return out, nil
}

// maxIncomeWindow is the span one /fapi/v1/income request asks for, and
// incomePage the most rows one answers ("limit", at most 1000).
const (
	maxIncomeWindow = 7 * 24 * time.Hour
	incomePage      = 1000
)

// FundingPayments lists the FUNDING_FEE entries of the income history
// (/fapi/v1/income, weight 30) in [from, to), oldest first, walking 7-day
// windows and, within one, 1000 entries at a time. Binance keeps 3 months.
// A payment's ID is its tranId ("unique in the same incomeType for a
// user", the documentation says) with its symbol: the journal and the
// funding table keep each once, whichever read finds it.
func (f *Futures) FundingPayments(ctx context.Context, symbol string, from, to time.Time) ([]venue.FundingPayment, error) {
	op := fmt.Sprintf("list futures funding %q", symbol)
	if !from.Before(to) {
		return nil, nil
	}
	var out []venue.FundingPayment
	seen := map[string]bool{}
	for start := from; start.Before(to); {
		end := start.Add(maxIncomeWindow)
		if end.After(to) {
			end = to
		}
		var rows []*futures.IncomeHistory
		if err := f.c.call(ctx, op, false, func(ctx context.Context) (err error) {
			s := f.c.futures.NewGetIncomeHistoryService().IncomeType("FUNDING_FEE").StartTime(start.UnixMilli()).
				EndTime(end.UnixMilli() - 1).Limit(incomePage)
			if symbol != "" {
				s.Symbol(symbol)
			}
			rows, err = s.Do(ctx)
			return err
		}); err != nil {
			return nil, err
		}
		for _, r := range rows {
			t := time.UnixMilli(r.Time).UTC()
			id := strconv.FormatInt(r.TranID, 10) + "/" + r.Symbol
			if r.IncomeType != "FUNDING_FEE" || t.Before(from) || !t.Before(to) || seen[id] {
				continue
			}
			seen[id] = true
			out = append(out, venue.FundingPayment{ID: id, Symbol: r.Symbol, Asset: r.Asset, Amount: parseDec(r.Income), Time: t})
		}
		if len(rows) == incomePage {
			// A full page: go on from the last row's millisecond itself,
			// not the one after, since several symbols' payments of one
			// settlement share their time and the rest of them may be on
			// the next page (the rows seen already are skipped by id).
			last := time.UnixMilli(rows[len(rows)-1].Time)
			if !last.After(start) {
				return nil, fmt.Errorf("%s: more than %d income rows at %s: Binance's startTime paging cannot step past them",
					op, incomePage, start.UTC().Format(time.RFC3339Nano))
			}
			start = last
			continue
		}
		start = end
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}
