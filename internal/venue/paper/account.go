package paper

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// Account is one account of an Exchange, seen as a venue.Venue. Only the
// spot wallet trades; funding and futures-usdm hold balances that Fund
// credits. Client order ids are unique per account for its whole life: a
// second order with a used id is refused with venue.ErrDuplicateOrder.
type Account struct {
	ex     *Exchange
	name   string
	faults *Faults

	// Guarded by ex.mu.
	balances map[balKey]*balance
	orders   map[string]*order // by client order id
	open     map[string]*order // the orders not in a terminal status
	byVID    map[string]*order
	trades   map[string][]venue.Trade // by symbol, in trade-id order
	userSubs map[*userSub]struct{}
}

var _ venue.Venue = (*Account)(nil)

type balKey struct {
	wallet venue.Wallet
	asset  string
}

type balance struct {
	free, locked venue.Decimal
}

// order is an order and what it holds.
type order struct {
	acct   *Account
	o      venue.Order
	tif    venue.TimeInForce
	seq    int64
	locked venue.Decimal // still locked for it, in lockAsset
	lockAs string
	fills  []venue.Trade
}

func (o *order) remaining() venue.Decimal { return o.o.Quantity.Sub(o.o.ExecutedQty) }

// Name is "paper".
func (a *Account) Name() string { return "paper" }

// AccountName is the name the account was created with.
func (a *Account) AccountName() string { return a.name }

// Faults is the account's fault injector.
func (a *Account) Faults() *Faults { return a.faults }

func (a *Account) bal(w venue.Wallet, asset string) *balance {
	k := balKey{w, asset}
	b, ok := a.balances[k]
	if !ok {
		b = &balance{}
		a.balances[k] = b
	}
	return b
}

// begin runs the request prelude: draw the fault, wait the latency.
func (a *Account) begin(ctx context.Context, op string) (Fault, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	f, jit := a.faults.draw(op, a.ex.cfg.Jitter)
	if d := a.ex.cfg.Latency + jit; d > 0 {
		select {
		case <-a.ex.clk.After(d):
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return f, nil
}

// prelude is begin for ops whose faults all fail the request outright.
func (a *Account) prelude(ctx context.Context, op, what string) error {
	f, err := a.begin(ctx, op)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if f != "" {
		return a.ex.faultError(op, what, f, a.ex.clk.Now())
	}
	return nil
}

// Symbols lists the markets.
func (a *Account) Symbols(ctx context.Context) ([]venue.Symbol, error) {
	if err := a.prelude(ctx, OpSymbols, "symbols"); err != nil {
		return nil, err
	}
	return a.ex.Symbols(), nil
}

// Balances lists every non-zero balance, ordered by wallet then asset.
func (a *Account) Balances(ctx context.Context) ([]venue.Balance, error) {
	if err := a.prelude(ctx, OpBalances, "balances"); err != nil {
		return nil, err
	}
	a.ex.mu.Lock()
	out := make([]venue.Balance, 0, len(a.balances))
	for k, b := range a.balances {
		if b.free.IsZero() && b.locked.IsZero() {
			continue
		}
		out = append(out, venue.Balance{Wallet: k.wallet, Asset: k.asset, Free: b.free, Locked: b.locked})
	}
	a.ex.mu.Unlock()
	slices.SortFunc(out, func(x, y venue.Balance) int {
		return cmp.Or(cmp.Compare(x.Wallet, y.Wallet), cmp.Compare(x.Asset, y.Asset))
	})
	return out, nil
}

// PlaceOrder validates, books and (when marketable) executes an order. A
// limit order that crosses the current price executes on arrival at the
// current ask or bid (taker); otherwise GTC rests with its funds locked and
// IOC/FOK expire. A market order executes whole at the current ask or bid.
func (a *Account) PlaceOrder(ctx context.Context, req venue.OrderRequest) (venue.Order, error) {
	what := fmt.Sprintf("place order %q", req.ClientOrderID)
	f, err := a.begin(ctx, OpPlace)
	if err != nil {
		return venue.Order{}, fmt.Errorf("%s: %w", what, err)
	}
	switch f {
	case "":
	case FaultTimeoutAfterExecution:
		a.ex.mu.Lock()
		_, _ = a.ex.place(a, req, what) // the caller never learns the answer
		a.ex.mu.Unlock()
		return venue.Order{}, a.ex.faultError(OpPlace, what, f, a.ex.clk.Now())
	default:
		return venue.Order{}, a.ex.faultError(OpPlace, what, f, a.ex.clk.Now())
	}
	a.ex.mu.Lock()
	defer a.ex.mu.Unlock()
	o, verr := a.ex.place(a, req, what)
	if verr != nil {
		return venue.Order{}, verr
	}
	return o, nil
}

func reject(class venue.Class, code int, what, msg string) *venue.Error {
	return &venue.Error{Class: class, Code: code, Op: what, Message: msg}
}

// place books req for a; e.mu is held.
func (e *Exchange) place(a *Account, req venue.OrderRequest, what string) (venue.Order, *venue.Error) {
	if !venue.ClientOrderIDPattern.MatchString(req.ClientOrderID) {
		return venue.Order{}, reject(venue.ClassInvalid, CodeIllegalParam, what, "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[a-zA-Z0-9_-]{1,36}$'.")
	}
	m, ok := e.markets[req.Symbol]
	if !ok {
		return venue.Order{}, reject(venue.ClassInvalid, CodeInvalidSymbol, what, "Invalid symbol.")
	}
	if !req.Side.Valid() {
		return venue.Order{}, reject(venue.ClassInvalid, CodeIllegalParam, what, fmt.Sprintf("Invalid side %q.", req.Side))
	}
	if _, dup := a.orders[req.ClientOrderID]; dup {
		return venue.Order{}, reject(venue.ClassDuplicate, CodeNewOrderRejected, what, "Duplicate order sent.")
	}
	s := m.sym
	base, quote := s.Base, s.Quote
	var (
		qty, price venue.Decimal
		taker      bool
		fillPx     venue.Decimal
	)
	if req.Side == venue.Buy {
		fillPx = m.tick.Ask
	} else {
		fillPx = m.tick.Bid
	}
	switch req.Type {
	case venue.Limit:
		if !req.QuoteQuantity.IsZero() {
			return venue.Order{}, reject(venue.ClassInvalid, CodeIllegalParam, what, "Parameter 'quoteOrderQty' sent when not required.")
		}
		switch req.TimeInForce {
		case "", venue.GTC, venue.IOC, venue.FOK:
		default:
			return venue.Order{}, reject(venue.ClassInvalid, CodeIllegalParam, what, fmt.Sprintf("Invalid timeInForce %q.", req.TimeInForce))
		}
		if !req.Price.IsPos() || !req.Quantity.IsPos() {
			return venue.Order{}, reject(venue.ClassInvalid, CodeMandatoryParam, what, "Mandatory parameter 'price' or 'quantity' was not sent, was empty/null, or malformed.")
		}
		qty, price = req.Quantity, req.Price
		if !isMultiple(price, s.TickSize) {
			return venue.Order{}, reject(venue.ClassRejected, CodeFilterFailure, what, "Filter failure: PRICE_FILTER")
		}
		if m.hasPrice {
			taker = (req.Side == venue.Buy && price.GreaterThanOrEqual(fillPx)) ||
				(req.Side == venue.Sell && price.LessThanOrEqual(fillPx))
		}
	case venue.Market:
		if !m.hasPrice {
			return venue.Order{}, reject(venue.ClassRejected, CodeFilterFailure, what, "Market is closed: no price yet.")
		}
		switch {
		case req.Quantity.IsPos() && req.QuoteQuantity.IsZero():
			qty = req.Quantity
		case req.QuoteQuantity.IsPos() && req.Quantity.IsZero():
			q, err := req.QuoteQuantity.Div(fillPx)
			if err != nil {
				return venue.Order{}, reject(venue.ClassRejected, CodeFilterFailure, what, "Market is closed: no price.")
			}
			qty = floorStep(q, s.StepSize)
			if !qty.IsPos() {
				return venue.Order{}, reject(venue.ClassRejected, CodeFilterFailure, what, "Filter failure: LOT_SIZE")
			}
		default:
			return venue.Order{}, reject(venue.ClassInvalid, CodeMandatoryParam, what, "Exactly one of 'quantity' and 'quoteOrderQty' must be sent for a market order.")
		}
		taker = true
	default:
		return venue.Order{}, reject(venue.ClassInvalid, CodeIllegalParam, what, fmt.Sprintf("Invalid order type %q.", req.Type))
	}
	if qty.LessThan(s.MinQty) || (s.MaxQty.IsPos() && qty.GreaterThan(s.MaxQty)) || !isMultiple(qty, s.StepSize) {
		return venue.Order{}, reject(venue.ClassRejected, CodeFilterFailure, what, "Filter failure: LOT_SIZE")
	}
	notionalPx := price
	if req.Type == venue.Market {
		notionalPx = fillPx
	}
	if qty.Mul(notionalPx).LessThan(s.MinNotional) {
		return venue.Order{}, reject(venue.ClassRejected, CodeFilterFailure, what, "Filter failure: NOTIONAL")
	}

	// Funds: a buy needs quote (at the fill price when it executes now, at
	// its limit when it rests), a sell needs base.
	need, needAsset := qty, base
	if req.Side == venue.Buy {
		needAsset = quote
		if taker {
			need = qty.Mul(fillPx)
		} else {
			need = qty.Mul(price)
		}
	}
	spot := a.bal(venue.WalletSpot, needAsset)
	restsOrFills := req.Type == venue.Market || taker || req.TimeInForce == "" || req.TimeInForce == venue.GTC
	if restsOrFills && spot.free.LessThan(need) {
		return venue.Order{}, reject(venue.ClassInsufficientFunds, CodeNewOrderRejected, what, "Account has insufficient balance for requested action.")
	}

	now := e.clk.Now()
	e.nextOrderID++
	tif := req.TimeInForce
	if req.Type == venue.Limit && tif == "" {
		tif = venue.GTC
	}
	o := &order{
		acct: a,
		tif:  tif,
		seq:  e.nextOrderID,
		o: venue.Order{
			ClientOrderID: req.ClientOrderID,
			VenueOrderID:  strconv.FormatInt(e.nextOrderID, 10),
			Symbol:        req.Symbol,
			Side:          req.Side,
			Type:          req.Type,
			Price:         price,
			Quantity:      qty,
			Status:        venue.StatusNew,
			Created:       now,
			Updated:       now,
		},
	}
	a.orders[req.ClientOrderID] = o
	a.byVID[o.o.VenueOrderID] = o

	switch {
	case taker:
		a.emitOrder(o)
		e.fill(o, fillPx, qty, false, now)
	case tif == venue.IOC || tif == venue.FOK:
		o.o.Status = venue.StatusExpired
		a.emitOrder(o)
	default:
		o.locked, o.lockAs = need, needAsset
		a.open[o.o.ClientOrderID] = o
		spot.free = spot.free.Sub(need)
		spot.locked = spot.locked.Add(need)
		if req.Side == venue.Buy {
			m.bids.insert(o)
		} else {
			m.asks.insert(o)
		}
		a.emitOrder(o)
		a.emitBalance(venue.WalletSpot, needAsset, spot)
	}
	return o.o, nil
}

// fill executes q of o at px; e.mu is held. A maker fill spends the order's
// locked funds; a taker fill spends free funds.
func (e *Exchange) fill(o *order, px, q venue.Decimal, maker bool, now time.Time) {
	a := o.acct
	m := e.markets[o.o.Symbol]
	s := m.sym
	rate := e.takerFee
	if maker {
		rate = e.makerFee
	}
	notional := px.Mul(q)
	baseB := a.bal(venue.WalletSpot, s.Base)
	quoteB := a.bal(venue.WalletSpot, s.Quote)
	var fee venue.Decimal
	var feeAsset string
	if o.o.Side == venue.Buy {
		fee, feeAsset = q.Mul(rate), s.Base
		if maker {
			quoteB.locked = quoteB.locked.Sub(notional)
			o.locked = o.locked.Sub(notional)
		} else {
			quoteB.free = quoteB.free.Sub(notional)
		}
		baseB.free = baseB.free.Add(q.Sub(fee))
	} else {
		fee, feeAsset = notional.Mul(rate), s.Quote
		if maker {
			baseB.locked = baseB.locked.Sub(q)
			o.locked = o.locked.Sub(q)
		} else {
			baseB.free = baseB.free.Sub(q)
		}
		quoteB.free = quoteB.free.Add(notional.Sub(fee))
	}
	o.o.ExecutedQty = o.o.ExecutedQty.Add(q)
	o.o.QuoteQty = o.o.QuoteQty.Add(notional)
	o.o.Updated = now
	if o.o.ExecutedQty.GreaterThanOrEqual(o.o.Quantity) {
		o.o.Status = venue.StatusFilled
		delete(a.open, o.o.ClientOrderID)
		e.release(o)
	} else {
		o.o.Status = venue.StatusPartiallyFilled
	}
	e.nextTradeID++
	tr := venue.Trade{
		ID:            strconv.FormatInt(e.nextTradeID, 10),
		VenueOrderID:  o.o.VenueOrderID,
		ClientOrderID: o.o.ClientOrderID,
		Symbol:        o.o.Symbol,
		Side:          o.o.Side,
		Price:         px,
		Quantity:      q,
		QuoteQty:      notional,
		Fee:           fee,
		FeeAsset:      feeAsset,
		Maker:         maker,
		Time:          now,
	}
	o.fills = append(o.fills, tr)
	a.trades[o.o.Symbol] = append(a.trades[o.o.Symbol], tr)
	m.observe(now, px, q)
	if len(a.userSubs) > 0 {
		a.emit(venue.UserEvent{Kind: venue.EventTrade, Trade: &tr, Time: now})
		a.emitOrder(o)
		a.emitBalance(venue.WalletSpot, s.Base, baseB)
		a.emitBalance(venue.WalletSpot, s.Quote, quoteB)
	}
}

// release returns what o still locks to free; e.mu is held.
func (e *Exchange) release(o *order) {
	if o.lockAs == "" || o.locked.IsZero() {
		return
	}
	b := o.acct.bal(venue.WalletSpot, o.lockAs)
	b.locked = b.locked.Sub(o.locked)
	b.free = b.free.Add(o.locked)
	o.locked = udecimal.Zero
	o.acct.emitBalance(venue.WalletSpot, o.lockAs, b)
}

// CancelOrder cancels an open order by client order id; an unknown or
// already terminal order is venue.ErrOrderNotFound (Binance -2011).
func (a *Account) CancelOrder(ctx context.Context, symbol, clientOrderID string) (venue.Order, error) {
	what := fmt.Sprintf("cancel order %q", clientOrderID)
	f, err := a.begin(ctx, OpCancel)
	if err != nil {
		return venue.Order{}, fmt.Errorf("%s: %w", what, err)
	}
	switch f {
	case "":
	case FaultTimeoutAfterExecution:
		a.ex.mu.Lock()
		_, _ = a.ex.cancel(a, symbol, clientOrderID, what)
		a.ex.mu.Unlock()
		return venue.Order{}, a.ex.faultError(OpCancel, what, f, a.ex.clk.Now())
	default:
		return venue.Order{}, a.ex.faultError(OpCancel, what, f, a.ex.clk.Now())
	}
	a.ex.mu.Lock()
	defer a.ex.mu.Unlock()
	o, verr := a.ex.cancel(a, symbol, clientOrderID, what)
	if verr != nil {
		return venue.Order{}, verr
	}
	return o, nil
}

func (e *Exchange) cancel(a *Account, symbol, id, what string) (venue.Order, *venue.Error) {
	o, ok := a.orders[id]
	if !ok || o.o.Symbol != symbol || o.o.Status.Terminal() {
		return venue.Order{}, reject(venue.ClassNotFound, CodeCancelRejected, what, "Unknown order sent.")
	}
	m := e.markets[symbol]
	if o.o.Side == venue.Buy {
		m.bids.remove(o)
	} else {
		m.asks.remove(o)
	}
	o.o.Status = venue.StatusCanceled
	o.o.Updated = e.clk.Now()
	delete(a.open, id)
	e.release(o)
	a.emitOrder(o)
	return o.o, nil
}

// QueryOrder returns an order by client order id; venue.ErrOrderNotFound
// (Binance -2013) when the account never accepted it.
func (a *Account) QueryOrder(ctx context.Context, symbol, clientOrderID string) (venue.Order, error) {
	what := fmt.Sprintf("query order %q", clientOrderID)
	if err := a.prelude(ctx, OpQuery, what); err != nil {
		return venue.Order{}, err
	}
	a.ex.mu.Lock()
	defer a.ex.mu.Unlock()
	o, ok := a.orders[clientOrderID]
	if !ok || o.o.Symbol != symbol {
		return venue.Order{}, reject(venue.ClassNotFound, CodeNoSuchOrder, what, "Order does not exist.")
	}
	return o.o, nil
}

// OrderTrades lists the fills of one order, oldest first.
func (a *Account) OrderTrades(ctx context.Context, symbol, venueOrderID string) ([]venue.Trade, error) {
	what := fmt.Sprintf("order trades %q", venueOrderID)
	if err := a.prelude(ctx, OpOrderTrades, what); err != nil {
		return nil, err
	}
	a.ex.mu.Lock()
	defer a.ex.mu.Unlock()
	o, ok := a.byVID[venueOrderID]
	if !ok || o.o.Symbol != symbol {
		return nil, reject(venue.ClassNotFound, CodeNoSuchOrder, what, "Order does not exist.")
	}
	return slices.Clone(o.fills), nil
}

// OpenOrders lists open orders (all symbols when symbol is empty), oldest
// first.
func (a *Account) OpenOrders(ctx context.Context, symbol string) ([]venue.Order, error) {
	what := fmt.Sprintf("open orders %q", symbol)
	if err := a.prelude(ctx, OpOpenOrders, what); err != nil {
		return nil, err
	}
	a.ex.mu.Lock()
	var open []*order
	for _, o := range a.open {
		if symbol == "" || o.o.Symbol == symbol {
			open = append(open, o)
		}
	}
	slices.SortFunc(open, func(x, y *order) int { return cmp.Compare(x.seq, y.seq) })
	out := make([]venue.Order, len(open))
	for i, o := range open {
		out[i] = o.o
	}
	a.ex.mu.Unlock()
	return out, nil
}

// Trades pages through the account's fills of one symbol in [From, To),
// oldest first. Limit defaults to 500 and is capped at 1000; Next is the
// last returned trade id when more remain.
func (a *Account) Trades(ctx context.Context, q venue.TradeQuery) (venue.TradePage, error) {
	what := fmt.Sprintf("trades %q", q.Symbol)
	if err := a.prelude(ctx, OpTrades, what); err != nil {
		return venue.TradePage{}, err
	}
	if _, ok := a.ex.markets[q.Symbol]; !ok {
		return venue.TradePage{}, reject(venue.ClassInvalid, CodeInvalidSymbol, what, "Invalid symbol.")
	}
	var after int64
	if q.Cursor != "" {
		n, err := strconv.ParseInt(q.Cursor, 10, 64)
		if err != nil {
			return venue.TradePage{}, reject(venue.ClassInvalid, CodeIllegalParam, what, fmt.Sprintf("Bad cursor %q.", q.Cursor))
		}
		after = n
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 500
	}
	limit = min(limit, 1000)
	to := q.To
	if to.IsZero() {
		to = a.ex.clk.Now().Add(time.Nanosecond)
	}
	a.ex.mu.Lock()
	defer a.ex.mu.Unlock()
	all := a.trades[q.Symbol]
	i, _ := slices.BinarySearchFunc(all, after, func(t venue.Trade, id int64) int {
		n, _ := strconv.ParseInt(t.ID, 10, 64)
		return cmp.Compare(n, id+1)
	})
	var page venue.TradePage
	for ; i < len(all); i++ {
		t := all[i]
		if t.Time.Before(q.From) || !t.Time.Before(to) {
			continue
		}
		if len(page.Trades) == limit {
			page.Next = page.Trades[len(page.Trades)-1].ID
			break
		}
		page.Trades = append(page.Trades, t)
	}
	return page, nil
}

// Klines returns candles of interval opening in [from, to), built from the
// ticks and fills the exchange has seen merged with loaded kline sets whose
// interval divides the one asked for. Intervals: 1m 3m 5m 15m 30m 1h 2h 4h
// 6h 8h 12h 1d. There is no row cap.
func (a *Account) Klines(ctx context.Context, symbol, interval string, from, to time.Time) ([]venue.Kline, error) {
	what := fmt.Sprintf("klines %q %s", symbol, interval)
	if err := a.prelude(ctx, OpKlines, what); err != nil {
		return nil, err
	}
	d, ok := intervals[interval]
	if !ok {
		return nil, reject(venue.ClassInvalid, CodeIllegalParam, what, "Invalid interval.")
	}
	a.ex.mu.Lock()
	defer a.ex.mu.Unlock()
	m, ok := a.ex.markets[symbol]
	if !ok {
		return nil, reject(venue.ClassInvalid, CodeInvalidSymbol, what, "Invalid symbol.")
	}
	var src []venue.Kline
	add := func(ks []venue.Kline, step time.Duration) {
		if d%step != 0 {
			return
		}
		i, _ := slices.BinarySearchFunc(ks, from.Truncate(d), func(k venue.Kline, t time.Time) int { return k.OpenTime.Compare(t) })
		for ; i < len(ks) && ks[i].OpenTime.Before(to); i++ {
			src = append(src, ks[i])
		}
	}
	for step, ks := range m.loaded {
		add(ks, step)
	}
	add(m.candles, time.Minute)
	slices.SortStableFunc(src, func(x, y venue.Kline) int { return x.OpenTime.Compare(y.OpenTime) })
	var out []venue.Kline
	for _, k := range src {
		open := k.OpenTime.Truncate(d)
		if open.Before(from) || !open.Before(to) {
			continue
		}
		if n := len(out); n > 0 && out[n-1].OpenTime.Equal(open) {
			c := &out[n-1]
			c.High = udecimal.Max(c.High, k.High)
			c.Low = udecimal.Min(c.Low, k.Low)
			c.Close = k.Close
			c.Volume = c.Volume.Add(k.Volume)
			continue
		}
		k.OpenTime = open
		out = append(out, k)
	}
	return out, nil
}

var intervals = map[string]time.Duration{
	"1m": time.Minute, "3m": 3 * time.Minute, "5m": 5 * time.Minute, "15m": 15 * time.Minute, "30m": 30 * time.Minute,
	"1h": time.Hour, "2h": 2 * time.Hour, "4h": 4 * time.Hour, "6h": 6 * time.Hour, "8h": 8 * time.Hour,
	"12h": 12 * time.Hour, "1d": 24 * time.Hour,
}

// SubscribePrices streams ticks of symbols (all when empty) until ctx ends;
// the channel is closed then. A reader that falls StreamBuffer ticks behind
// misses ticks.
func (a *Account) SubscribePrices(ctx context.Context, symbols []string) (<-chan venue.PriceTick, error) {
	return a.ex.subscribePrices(ctx, symbols)
}

// userSub is one SubscribeUser channel.
type userSub struct {
	ch     chan venue.UserEvent
	lost   bool             // events were lost; EventReconnected is owed
	held   *venue.UserEvent // reordered event waiting for the next one
	closed bool
}

// SubscribeUser streams the account's order updates, fills and balance
// changes until ctx ends; the channel is closed then (or earlier by a
// FaultStreamClose). Events are never blocked on: a reader that falls
// StreamBuffer events behind loses events and then receives
// venue.EventReconnected.
func (a *Account) SubscribeUser(ctx context.Context) (<-chan venue.UserEvent, error) {
	s := &userSub{ch: make(chan venue.UserEvent, a.ex.cfg.StreamBuffer)}
	a.ex.mu.Lock()
	a.userSubs[s] = struct{}{}
	a.ex.mu.Unlock()
	context.AfterFunc(ctx, func() {
		a.ex.mu.Lock()
		defer a.ex.mu.Unlock()
		a.closeSub(s)
	})
	return s.ch, nil
}

func (a *Account) closeSub(s *userSub) {
	if s.closed {
		return
	}
	s.closed = true
	delete(a.userSubs, s)
	close(s.ch)
}

func (a *Account) emitOrder(o *order) {
	if len(a.userSubs) == 0 {
		return
	}
	c := o.o
	a.emit(venue.UserEvent{Kind: venue.EventOrder, Order: &c, Time: o.o.Updated})
}

func (a *Account) emitBalance(w venue.Wallet, asset string, b *balance) {
	if len(a.userSubs) == 0 {
		return
	}
	a.emit(venue.UserEvent{Kind: venue.EventBalance, Balance: &venue.Balance{Wallet: w, Asset: asset, Free: b.free, Locked: b.locked}, Time: a.ex.clk.Now()})
}

// emit delivers ev to every user subscriber, applying stream faults; e.mu
// is held.
func (a *Account) emit(ev venue.UserEvent) {
	for s := range a.userSubs {
		switch a.faults.drawStream() {
		case FaultStreamDrop:
			s.lost = true
			s.flushReconnect(ev.Time)
			continue
		case FaultStreamClose:
			a.closeSub(s)
			continue
		case FaultStreamDuplicate:
			s.send(ev)
			s.send(ev)
		case FaultStreamReorder:
			if s.held == nil {
				c := ev
				s.held = &c
				continue
			}
			s.send(ev)
		default:
			s.send(ev)
		}
		if s.held != nil {
			h := *s.held
			s.held = nil
			s.send(h)
		}
	}
}

func (s *userSub) flushReconnect(t time.Time) bool {
	if !s.lost {
		return true
	}
	select {
	case s.ch <- venue.UserEvent{Kind: venue.EventReconnected, Time: t}:
		s.lost = false
		return true
	default:
		return false
	}
}

func (s *userSub) send(ev venue.UserEvent) {
	if !s.flushReconnect(ev.Time) {
		return
	}
	select {
	case s.ch <- ev:
	default:
		s.lost = true
	}
}
