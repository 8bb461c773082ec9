package bybittest

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/quagmt/udecimal"
	"github.com/tidwall/gjson"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// The linear (category=linear) side of the fake: every listed symbol is
// also a USDT perpetual of the same name, filled against the same price
// path as spot (SetPrice moves both), margined from the unified wallet
// (the paper account's spot wallet: Fund it under venue.WalletSpot or
// venue.WalletFutures). One-way mode only (positionIdx 0; 1 and 2 answer
// 10001), cross margin, leverage LinearLeverage. A new order that does not
// reduce holds its initial margin (notional / leverage) as totalOrderIM,
// refused with 110007 when the wallet less what spot orders lock and the
// margin already held is short of it; a fill moves the position (its
// initial margin is totalPositionIM), realizes PnL on the part that
// reduces it and charges Bybit's non-VIP fee (taker 0.055%, maker 0.02%) in
// the settle coin. Reduce-only orders that would not reduce answer 110017
// and are trimmed to the position. Filters: the quantity rules answer
// 10001, the minimum notional value (not for reduce-only orders) 110094.
// The fake simulates neither liquidation nor funding settlement: a test
// books funding with AddFunding.

// LinearLeverage is the leverage of every linear position and order.
const LinearLeverage = 10

// Bybit's non-VIP derivatives fee rates.
var (
	linearTaker = udecimal.MustParse("0.00055")
	linearMaker = udecimal.MustParse("0.0002")
)

type linOrder struct {
	id, link, symbol string
	side             venue.Side
	typ              venue.OrderType
	tif              string
	price, qty       venue.Decimal
	executed, cum    venue.Decimal
	fee              venue.Decimal
	status           venue.OrderStatus
	reduceOnly       bool
	im               venue.Decimal // initial margin held while open
	created, updated time.Time
}

type linPosition struct {
	size, entry venue.Decimal
	updated     time.Time
}

// linearBook is the fake's linear account; guarded by Server.mu.
type linearBook struct {
	orders    []*linOrder
	byLink    map[string]*linOrder
	positions map[string]*linPosition
	fills     []venue.Trade
	seq       int64
	subs      map[chan []byte]bool     // private stream connections
	syms      map[string]venue.Symbol  // the exchange's symbols, by name
	orderIM   map[string]venue.Decimal // initial margin of open orders, by settle coin
	open      map[*linOrder]bool       // the orders not yet terminal
}

func (s *Server) lin() *linearBook {
	if s.linear == nil {
		s.linear = &linearBook{byLink: map[string]*linOrder{}, positions: map[string]*linPosition{}, subs: map[chan []byte]bool{},
			syms: map[string]venue.Symbol{}, orderIM: map[string]venue.Decimal{}, open: map[*linOrder]bool{}}
		for _, x := range s.Exchange.Symbols() {
			s.linear.syms[x.Name] = x
		}
	}
	return s.linear
}

// closeLocked ends o with status st at t, releasing its initial margin.
func (s *Server) closeLocked(o *linOrder, st venue.OrderStatus, t time.Time) {
	b := s.lin()
	coin := b.syms[o.symbol].Quote
	b.orderIM[coin] = b.orderIM[coin].Sub(o.im)
	delete(b.open, o)
	o.im, o.status, o.updated = venue.Decimal{}, st, t
}

func (b *linearBook) next(prefix string) string {
	b.seq++
	return fmt.Sprintf("%s%08d-7d1e-4f6a-9c1b-%012d", prefix, b.seq, b.seq)
}

func lev() venue.Decimal { return udecimal.MustFromInt64(LinearLeverage, 0) }

// symbol is the exchange's symbol name; s.mu is held.
func (s *Server) symbol(name string) (venue.Symbol, bool) {
	x, ok := s.lin().syms[name]
	return x, ok
}

// heldIM is the initial margin the book holds in settle coin: of open
// orders and of positions.
func (s *Server) heldIM(coin string) (orderIM, positionIM venue.Decimal) {
	b := s.lin()
	orderIM = b.orderIM[coin]
	for name, p := range b.positions {
		if sym, _ := s.symbol(name); sym.Quote == coin && !p.size.IsZero() {
			m, _ := p.size.Abs().Mul(p.entry).Div(lev())
			positionIM = positionIM.Add(m)
		}
	}
	return orderIM, positionIM
}

// unrealized is the unrealized PnL of the positions settled in coin.
func (s *Server) unrealized(coin string) venue.Decimal {
	var up venue.Decimal
	for name, p := range s.lin().positions {
		sym, _ := s.symbol(name)
		tk, ok := s.Exchange.Price(name)
		if sym.Quote != coin || !ok || p.size.IsZero() {
			continue
		}
		up = up.Add(tk.Price.Sub(p.entry).Mul(p.size))
	}
	return up
}

// unified returns the unified wallet's balance of coin: total and what
// spot orders lock.
func (s *Server) unified(coin string) (total, locked venue.Decimal) {
	bs, _ := s.acct.Balances(context.Background())
	for _, x := range bs {
		if x.Wallet == venue.WalletSpot && x.Asset == coin {
			total, locked = total.Add(x.Free).Add(x.Locked), locked.Add(x.Locked)
		}
	}
	return total, locked
}

// linearCreate is /v5/order/create with category linear; s.mu is not held.
func (s *Server) linearCreate(w http.ResponseWriter, p gjson.Result, op string) {
	req := venue.OrderRequest{ClientOrderID: p.Get("orderLinkId").String(), Symbol: p.Get("symbol").String(),
		ReduceOnly: p.Get("reduceOnly").Bool()}
	switch p.Get("side").String() {
	case "Buy":
		req.Side = venue.Buy
	case "Sell":
		req.Side = venue.Sell
	default:
		writeError(w, 10001, "side invalid")
		return
	}
	if idx := p.Get("positionIdx").Int(); idx != 0 {
		writeError(w, 10001, "position idx not match position mode")
		return
	}
	qty, ok := dec(p.Get("qty").String())
	if !ok || !qty.IsPos() {
		writeError(w, 10001, "Qty invalid")
		return
	}
	req.Quantity = qty
	tif := p.Get("timeInForce").String()
	switch p.Get("orderType").String() {
	case "Limit":
		req.Type = venue.Limit
		if req.Price, ok = dec(p.Get("price").String()); !ok || !req.Price.IsPos() {
			writeError(w, 10001, "price invalid")
			return
		}
		if tif == "" {
			tif = "GTC"
		}
	case "Market":
		req.Type, tif = venue.Market, "IOC"
	default:
		writeError(w, 10001, "orderType invalid")
		return
	}
	if req.ClientOrderID != "" && !venue.ClientOrderIDPattern.MatchString(req.ClientOrderID) {
		writeError(w, 10001, "orderLinkId invalid")
		return
	}
	stop, after := s.fault(w, op)
	if stop {
		return
	}
	s.mu.Lock()
	o, code, msg := s.linearPlaceLocked(req, tif)
	s.mu.Unlock()
	if after {
		http.Error(w, "gateway timeout", http.StatusGatewayTimeout)
		return
	}
	if code != 0 {
		writeError(w, code, msg)
		return
	}
	b := Fixture("order-create.json")
	b = set(b, "result.orderId", o.id)
	b = set(b, "result.orderLinkId", o.link)
	write(w, b)
}

// linearPlaceLocked applies the rules and books the order; s.mu is held.
func (s *Server) linearPlaceLocked(req venue.OrderRequest, tif string) (*linOrder, int, string) {
	b := s.lin()
	sym, ok := s.symbol(req.Symbol)
	if !ok {
		return nil, 10001, "symbol invalid"
	}
	tk, hasPrice := s.Exchange.Price(req.Symbol)
	if req.Type == venue.Market && !hasPrice {
		return nil, 10001, "no market price"
	}
	if req.ClientOrderID != "" && b.byLink[req.ClientOrderID] != nil {
		return nil, 110072, "OrderLinkedID is duplicate"
	}
	px := req.Price
	if req.Type == venue.Market {
		px = tk.Price
	}
	switch {
	case req.Type == venue.Limit && !multiple(req.Price, sym.TickSize):
		return nil, 10001, "Price invalid"
	case !multiple(req.Quantity, sym.StepSize) || req.Quantity.LessThan(sym.MinQty) || (sym.MaxQty.IsPos() && req.Quantity.GreaterThan(sym.MaxQty)):
		return nil, 10001, "Qty invalid"
	case !req.ReduceOnly && px.Mul(req.Quantity).LessThan(sym.MinNotional):
		return nil, 110094, "Order does not meet minimum order value " + sym.MinNotional.String() + "USDT"
	}
	qty := req.Quantity
	pos := b.positions[req.Symbol]
	if req.ReduceOnly {
		if pos == nil || pos.size.IsZero() || (req.Side == venue.Buy) == pos.size.IsPos() {
			return nil, 110017, "current position is zero, cannot fix reduce-only order qty"
		}
		qty = udecimal.Min(qty, pos.size.Abs())
	}
	now := time.Now().UTC().Truncate(time.Millisecond) // Bybit's times are milliseconds
	o := &linOrder{id: b.next(""), link: req.ClientOrderID, symbol: req.Symbol, side: req.Side, typ: req.Type, tif: tif,
		price: req.Price, qty: qty, status: venue.StatusNew, reduceOnly: req.ReduceOnly, created: now, updated: now}
	if !req.ReduceOnly {
		im, _ := px.Mul(qty).Div(lev())
		total, spotLocked := s.unified(sym.Quote)
		orderIM, positionIM := s.heldIM(sym.Quote)
		if total.Sub(spotLocked).Sub(orderIM).Sub(positionIM).LessThan(im.Add(px.Mul(qty).Mul(linearTaker))) {
			return nil, 110007, "ab not enough for new order"
		}
		o.im = im
		b.orderIM[sym.Quote] = b.orderIM[sym.Quote].Add(im)
	}
	b.open[o] = true
	if o.link == "" {
		o.link = "fake-" + o.id[:8]
	}
	b.orders = append(b.orders, o)
	b.byLink[o.link] = o
	s.linearOrderEventLocked(o)
	s.linearWalletEventLocked(sym.Quote, now)
	marketable := req.Type == venue.Market || (hasPrice && ((req.Side == venue.Buy && tk.Price.LessThanOrEqual(req.Price)) ||
		(req.Side == venue.Sell && tk.Price.GreaterThanOrEqual(req.Price))))
	switch {
	case marketable:
		s.linearFillLocked(o, tk.Price, false, now)
	case tif == "IOC" || tif == "FOK":
		s.closeLocked(o, venue.StatusCanceled, now)
		s.linearOrderEventLocked(o)
	}
	return o, 0, ""
}

// linearFillLocked fills the rest of o at price; s.mu is held.
func (s *Server) linearFillLocked(o *linOrder, price venue.Decimal, maker bool, now time.Time) {
	b := s.lin()
	sym, _ := s.symbol(o.symbol)
	qty := o.qty.Sub(o.executed)
	pos := b.positions[o.symbol]
	if pos == nil {
		pos = &linPosition{}
		b.positions[o.symbol] = pos
	}
	if o.reduceOnly { // trimmed to what is left of the position
		qty = udecimal.Min(qty, pos.size.Abs())
	}
	signed := qty
	if o.side == venue.Sell {
		signed = qty.Neg()
	}
	var realized venue.Decimal
	if pos.size.IsZero() || pos.size.IsPos() == signed.IsPos() {
		total := pos.size.Add(signed)
		pos.entry, _ = pos.entry.Mul(pos.size.Abs()).Add(price.Mul(qty)).Div(total.Abs())
		pos.size = total
	} else {
		closed := udecimal.Min(qty, pos.size.Abs())
		realized = price.Sub(pos.entry).Mul(closed)
		if pos.size.IsNeg() {
			realized = realized.Neg()
		}
		was := pos.size
		pos.size = pos.size.Add(signed)
		switch {
		case pos.size.IsZero():
			pos.entry = venue.Decimal{}
		case pos.size.IsPos() != was.IsPos(): // crossed zero: the rest opens at price
			pos.entry = price
		}
	}
	pos.updated = now
	rate := linearTaker
	if maker {
		rate = linearMaker
	}
	quote := price.Mul(qty)
	fee := quote.Mul(rate)
	// The wallet moves by the realized PnL less the fee; a fake account
	// short of a loss is a test's mistake, reported by Fund.
	if err := s.Exchange.Fund(account, venue.WalletSpot, sym.Quote, realized.Sub(fee)); err != nil {
		panic("bybittest: linear fill: " + err.Error())
	}
	t := venue.Trade{ID: b.next("e"), VenueOrderID: o.id, ClientOrderID: o.link, Symbol: o.symbol, Side: o.side, Price: price,
		Quantity: qty, QuoteQty: quote, Fee: fee, FeeAsset: sym.Quote, Maker: maker, Time: now}
	b.fills = append(b.fills, t)
	o.executed, o.cum, o.fee = o.executed.Add(qty), o.cum.Add(quote), o.fee.Add(fee)
	st := venue.StatusFilled
	if o.executed.LessThan(o.qty) { // a reduce-only order trimmed by a smaller position
		st = venue.StatusCanceled
	}
	s.closeLocked(o, st, now)
	s.linearExecEventLocked(t)
	s.linearOrderEventLocked(o)
	s.linearWalletEventLocked(sym.Quote, now)
}

// linearWalletEventLocked sends the unified wallet's coin on the wallet
// topic (its margin or balance moved); s.mu is held.
func (s *Server) linearWalletEventLocked(coin string, at time.Time) {
	if len(s.lin().subs) == 0 {
		return
	}
	bs, _ := s.acct.Balances(context.Background())
	x := venue.Balance{Wallet: venue.WalletSpot, Asset: coin}
	for _, b := range bs {
		if b.Wallet == venue.WalletSpot && b.Asset == coin {
			x = b
		}
	}
	s.linearPushLocked(s.walletMsgLocked(x, at))
}

// linearOnPriceLocked fills the resting linear limit orders of symbol that
// price reaches, at their limit price (maker); s.mu is held.
func (s *Server) linearOnPriceLocked(symbol string, price venue.Decimal) {
	if s.linear == nil {
		return
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	var reached []*linOrder
	for o := range s.linear.open {
		if o.symbol == symbol && o.typ == venue.Limit {
			reached = append(reached, o)
		}
	}
	// Oldest first, as a book fills orders at one price.
	sort.Slice(reached, func(i, j int) bool { return reached[i].id < reached[j].id })
	for _, o := range reached {
		if (o.side == venue.Buy && price.LessThanOrEqual(o.price)) || (o.side == venue.Sell && price.GreaterThanOrEqual(o.price)) {
			s.linearFillLocked(o, o.price, true, now)
		}
	}
}

func (o *linOrder) port() venue.Order {
	return venue.Order{ClientOrderID: o.link, VenueOrderID: o.id, Symbol: o.symbol, Side: o.side, Type: o.typ, Price: o.price,
		Quantity: o.qty, ExecutedQty: o.executed, QuoteQty: o.cum, Status: o.status, Created: o.created, Updated: o.updated}
}

// linearElem renders o on an order list's template element.
func (s *Server) linearElem(tmpl []byte, o *linOrder) []byte {
	sym, _ := s.symbol(o.symbol)
	e := orderElem(tmpl, o.port(), o.fee, sym.Quote)
	e = set(e, "reduceOnly", o.reduceOnly)
	e = set(e, "timeInForce", o.tif)
	e = set(e, "isLeverage", "")
	return e
}

func (s *Server) linearCancel(w http.ResponseWriter, p gjson.Result) {
	s.mu.Lock()
	o := s.lin().byLink[p.Get("orderLinkId").String()]
	if o == nil || o.symbol != p.Get("symbol").String() || o.status.Terminal() {
		s.mu.Unlock()
		writeError(w, 110001, "order not exists or too late to cancel")
		return
	}
	s.closeLocked(o, venue.StatusCanceled, time.Now().UTC().Truncate(time.Millisecond))
	s.linearOrderEventLocked(o)
	s.linearWalletEventLocked(s.lin().syms[o.symbol].Quote, o.updated)
	id, link := o.id, o.link
	s.mu.Unlock()
	b := Fixture("order-cancel.json")
	b = set(b, "result.orderId", id)
	b = set(b, "result.orderLinkId", link)
	write(w, b)
}

// linearLookup answers /v5/order/realtime (open) and /v5/order/history
// (closed) for category linear: by orderLinkId, of a symbol or settle
// coin, and for history within [startTime, endTime] (at most 7 days).
func (s *Server) linearLookup(w http.ResponseWriter, p gjson.Result, closed bool) {
	sym, link, settle := p.Get("symbol").String(), p.Get("orderLinkId").String(), p.Get("settleCoin").String()
	if sym == "" && settle == "" && link == "" && !closed {
		writeError(w, 10001, "symbol or settleCoin is required")
		return
	}
	start, end := p.Get("startTime").Int(), p.Get("endTime").Int()
	if end == 0 {
		end = nowMS()
	}
	if start == 0 {
		start = end - 7*24*3600*1000
	}
	if closed && end-start > 7*24*3600*1000 {
		writeError(w, 10001, "endTime - startTime must be at most 7 days")
		return
	}
	s.mu.Lock()
	var os []*linOrder
	candidates := s.lin().orders
	if link != "" {
		candidates = nil
		if o := s.lin().byLink[link]; o != nil {
			candidates = []*linOrder{o}
		}
	} else if !closed {
		candidates = nil
		for o := range s.lin().open {
			candidates = append(candidates, o)
		}
	}
	for _, o := range candidates {
		q, _ := s.symbol(o.symbol)
		switch {
		case o.status.Terminal() != closed, sym != "" && o.symbol != sym, settle != "" && q.Quote != settle,
			link != "" && o.link != link:
			continue
		case closed && link == "" && (o.created.UnixMilli() < start || o.created.UnixMilli() > end):
			continue
		}
		os = append(os, o)
	}
	sort.SliceStable(os, func(i, j int) bool { return os[i].created.After(os[j].created) })
	b := Fixture("order-realtime.json")
	tmpl := element(b, "result.list")
	items := make([][]byte, 0, len(os))
	for _, o := range os {
		items = append(items, s.linearElem(tmpl, o))
	}
	s.mu.Unlock()
	b = setRaw(b, "result.list", array(items))
	b = set(b, "result.nextPageCursor", "")
	b = set(b, "result.category", "linear")
	write(w, b)
}

// linearTrades are the linear fills of order id, or of symbol in
// [start, end].
func (s *Server) linearTrades(symbol, orderID string, start, end time.Time) []venue.Trade {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []venue.Trade
	for _, t := range s.lin().fills {
		if t.Symbol != symbol && symbol != "" {
			continue
		}
		if orderID != "" {
			if t.VenueOrderID == orderID {
				out = append(out, t)
			}
			continue
		}
		if !t.Time.Before(start) && !t.Time.After(end) {
			out = append(out, t)
		}
	}
	return out
}

// linearPositions are the book's open positions as /v5/position/list
// reports them: cross margin, LinearLeverage, no liquidation price (a cross
// position's depends on the whole account).
func (s *Server) linearPositions() []venue.Position {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []venue.Position
	for name, p := range s.lin().positions {
		if p.size.IsZero() {
			continue
		}
		sym, _ := s.symbol(name)
		tk, _ := s.Exchange.Price(name)
		out = append(out, venue.Position{Symbol: name, SettleAsset: sym.Quote, Size: p.size, EntryPrice: p.entry,
			MarkPrice: tk.Price, UnrealizedPnL: tk.Price.Sub(p.entry).Mul(p.size), Leverage: lev(),
			MarginMode: venue.MarginCross, Updated: p.updated})
	}
	return out
}

// LinearOrders returns every linear order the fake accepted, as it is now,
// oldest first (for tests that check a journal against the venue).
func (s *Server) LinearOrders() []venue.Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]venue.Order, 0, len(s.lin().orders))
	for _, o := range s.lin().orders {
		out = append(out, o.port())
	}
	return out
}

// LinearFills returns every linear fill, oldest first.
func (s *Server) LinearFills() []venue.Trade {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]venue.Trade(nil), s.lin().fills...)
}

// linearOrderEventLocked sends o on the order topic of every private
// stream; s.mu is held.
func (s *Server) linearOrderEventLocked(o *linOrder) {
	if len(s.lin().subs) == 0 {
		return
	}
	tmpl := Fixture("ws-private-order.json")
	e := set(s.linearElem(element(tmpl, "data"), o), "category", "linear")
	b := setRaw(tmpl, "data", array([][]byte{e}))
	s.linearPushLocked(set(b, "creationTime", o.updated.UnixMilli()))
}

// linearExecEventLocked sends a fill on the execution topic; s.mu is held.
func (s *Server) linearExecEventLocked(t venue.Trade) {
	if len(s.lin().subs) == 0 {
		return
	}
	tmpl := Fixture("ws-private-execution.json")
	e := set(execElem(element(tmpl, "data"), t), "category", "linear")
	b := setRaw(tmpl, "data", array([][]byte{e}))
	s.linearPushLocked(set(b, "creationTime", t.Time.UnixMilli()))
}

// linearPushLocked queues a message for every private stream; a stream
// whose queue is full loses it, as a slow Bybit client would.
func (s *Server) linearPushLocked(b []byte) {
	for ch := range s.lin().subs {
		select {
		case ch <- b:
		default:
		}
	}
}

// linearSubscribe registers a private stream for linear messages until
// the returned func is called.
func (s *Server) linearSubscribe() (chan []byte, func()) {
	ch := make(chan []byte, 1024)
	s.mu.Lock()
	s.lin().subs[ch] = true
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		delete(s.lin().subs, ch)
		s.mu.Unlock()
	}
}
