// Package paper is the built-in simulated exchange: one Exchange holds the
// market (symbols with Binance-like filters, the live price path, the klines
// it has seen) and many accounts, each a venue.Venue.
//
// It matches limit (GTC, IOC, FOK) and market orders against the price path
// set by SetPrice or ApplyTick, locks funds for open orders, charges fees,
// simulates latency and partial fills, and injects scripted or seeded random
// faults (request errors of every venue class, dropped, duplicated and
// reordered stream events). With a fake clock and a seed it replays exactly.
//
// Fee rule (Binance's): the fee is charged in the asset received — a buyer
// pays it in base, a seller in quote — at the maker rate for a resting order
// that the price path crosses and the taker rate for an order that executes
// on arrival. Fill prices: a resting limit order fills at its limit price; an
// order that executes on arrival fills at the tick's ask (buy) or bid (sell),
// or the last price when the tick has none. Liquidity at the current price is
// unbounded; partial fills come only from Config.FillShare.
//
// Accounts never trade with each other: each trades against the price path,
// so one account's orders do not move the market for another.
//
// It does not own price data (internal/marketdata replays files into it) nor
// any wire format: it speaks venue types only.
package paper

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// Config configures an Exchange. The zero value is usable: DefaultSymbols,
// 0.1% fees, no latency, whole fills, the real clock, seed 0, no faults.
type Config struct {
	// Symbols are the markets; empty means DefaultSymbols().
	Symbols []venue.Symbol
	// Prices are optional starting prices by symbol.
	Prices map[string]venue.Decimal
	// MakerFee and TakerFee are fee rates (0.001 = 0.1%); zero means 0.001.
	// Use NoFee for a fee-free exchange.
	MakerFee, TakerFee venue.Decimal
	// NoFee makes every fill fee-free (fee 0 in the received asset).
	NoFee bool
	// Latency is added to every request, plus a seeded jitter in
	// [0, Jitter]; the wait runs on Clock and ends early with ctx.
	Latency, Jitter time.Duration
	// FillShare is the largest share (0 < s < 1) of a resting order's
	// remaining quantity one crossing tick fills, rounded down to the step
	// (at least the minimum quantity; a remainder below it fills whole).
	// Zero, or 1 and above, fills the whole remainder on the first crossing.
	FillShare venue.Decimal
	// Clock gives every timestamp and the latency timers; nil means
	// clock.Real{}.
	Clock clock.Clock
	// StrictCross fills a resting order only when the price goes past its
	// limit (a buy when the price is below it, a sell when above), not when
	// it merely touches it: replay's "the bar traded through the price".
	StrictCross bool
	// Seed seeds the fault injector and jitter of every account.
	Seed uint64
	// FaultRates are the random fault rates new accounts start with.
	FaultRates FaultRates
	// RetryAfter is what a rate-limit fault asks for; zero means 1s.
	RetryAfter time.Duration
	// BanDuration is how far in the future a ban fault's Until is; zero
	// means 2m.
	BanDuration time.Duration
	// StreamBuffer is the channel capacity of each subscription; zero
	// means 1024. A user stream whose reader falls this far behind loses
	// events and then receives venue.EventReconnected; a price stream drops
	// ticks.
	StreamBuffer int
}

// DefaultSymbols are BTCUSDT, ETHUSDT and BNBUSDT with Binance-like filters.
func DefaultSymbols() []venue.Symbol {
	d := udecimal.MustParse
	return []venue.Symbol{
		{Name: "BTCUSDT", Base: "BTC", Quote: "USDT", TickSize: d("0.01"), StepSize: d("0.00001"), MinQty: d("0.00001"), MaxQty: d("9000"), MinNotional: d("5")},
		{Name: "ETHUSDT", Base: "ETH", Quote: "USDT", TickSize: d("0.01"), StepSize: d("0.0001"), MinQty: d("0.0001"), MaxQty: d("9000"), MinNotional: d("5")},
		{Name: "BNBUSDT", Base: "BNB", Quote: "USDT", TickSize: d("0.01"), StepSize: d("0.001"), MinQty: d("0.001"), MaxQty: d("9000"), MinNotional: d("5")},
	}
}

// Exchange is the simulated market and its accounts. It is safe for
// concurrent use; every state change happens under one mutex held for
// microseconds, never while waiting for latency.
type Exchange struct {
	cfg      Config
	clk      clock.Clock
	makerFee venue.Decimal
	takerFee venue.Decimal

	mu          sync.Mutex
	markets     map[string]*market
	symbols     []venue.Symbol
	accounts    map[string]*Account
	nextOrderID int64
	nextTradeID int64
	priceSubs   map[*priceSub]struct{}
	perp        *perpState // nil until perpetuals are configured or traded
}

// market is one symbol's state.
type market struct {
	sym      venue.Symbol
	tick     venue.PriceTick
	hasPrice bool
	bids     book // resting buys, best (highest) first
	asks     book // resting sells, best (lowest) first
	candles  []venue.Kline
	loaded   map[time.Duration][]venue.Kline
}

// New returns an exchange for cfg.
func New(cfg Config) (*Exchange, error) {
	if len(cfg.Symbols) == 0 {
		cfg.Symbols = DefaultSymbols()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = time.Second
	}
	if cfg.BanDuration <= 0 {
		cfg.BanDuration = 2 * time.Minute
	}
	if cfg.StreamBuffer <= 0 {
		cfg.StreamBuffer = 1024
	}
	if cfg.Latency < 0 || cfg.Jitter < 0 {
		return nil, fmt.Errorf("paper: negative latency %s or jitter %s", cfg.Latency, cfg.Jitter)
	}
	e := &Exchange{
		cfg:       cfg,
		clk:       cfg.Clock,
		makerFee:  cfg.MakerFee,
		takerFee:  cfg.TakerFee,
		markets:   map[string]*market{},
		accounts:  map[string]*Account{},
		priceSubs: map[*priceSub]struct{}{},
	}
	def := udecimal.MustParse("0.001")
	if e.makerFee.IsZero() {
		e.makerFee = def
	}
	if e.takerFee.IsZero() {
		e.takerFee = def
	}
	if cfg.NoFee {
		e.makerFee, e.takerFee = udecimal.Zero, udecimal.Zero
	}
	if e.makerFee.IsNeg() || e.takerFee.IsNeg() {
		return nil, fmt.Errorf("paper: negative fee rate")
	}
	for _, s := range cfg.Symbols {
		if s.Name == "" || s.Base == "" || s.Quote == "" {
			return nil, fmt.Errorf("paper: symbol %q: name, base and quote are required", s.Name)
		}
		if _, dup := e.markets[s.Name]; dup {
			return nil, fmt.Errorf("paper: symbol %q listed twice", s.Name)
		}
		e.markets[s.Name] = &market{sym: s, bids: book{buy: true}, loaded: map[time.Duration][]venue.Kline{}}
		e.symbols = append(e.symbols, s)
	}
	for sym, p := range cfg.Prices {
		if err := e.SetPrice(sym, p, time.Time{}); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// MustNew is New that panics on a bad config; for tests and the demo.
func MustNew(cfg Config) *Exchange {
	e, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return e
}

// Symbols lists the markets.
func (e *Exchange) Symbols() []venue.Symbol { return slices.Clone(e.symbols) }

// Account returns the account called name, creating it empty on first use.
// The same name always returns the same *Account.
func (e *Exchange) Account(name string) *Account {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.account(name)
}

func (e *Exchange) account(name string) *Account {
	if a, ok := e.accounts[name]; ok {
		return a
	}
	a := &Account{
		ex:       e,
		name:     name,
		faults:   newFaults(e.cfg.Seed, name, e.cfg.FaultRates),
		balances: map[balKey]*balance{},
		orders:   map[string]*order{},
		open:     map[string]*order{},
		byVID:    map[string]*order{},
		trades:   map[string][]venue.Trade{},
		userSubs: map[*userSub]struct{}{},
	}
	e.accounts[name] = a
	return a
}

// Fund credits (or, with a negative amount, debits) the free balance of
// asset in one wallet of the account, creating the account if needed. A
// debit beyond the free balance is refused.
func (e *Exchange) Fund(account string, wallet venue.Wallet, asset string, amount venue.Decimal) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	a := e.account(account)
	b := a.bal(wallet, asset)
	nb := b.free.Add(amount)
	if nb.IsNeg() {
		return fmt.Errorf("fund %s %s %s: free balance %s is short of %s", account, wallet, asset, b.free, amount.Neg())
	}
	b.free = nb
	a.emitBalance(wallet, asset, b)
	return nil
}

// Resting reports whether symbol has resting orders (of any account) that a
// tick could fill; replay skips the ticks inside a bar when it has none.
func (e *Exchange) Resting(symbol string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ok := e.markets[symbol]
	return ok && (len(m.bids.orders) > 0 || len(m.asks.orders) > 0)
}

// Price returns the latest tick of symbol and whether there is one.
func (e *Exchange) Price(symbol string) (venue.PriceTick, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ok := e.markets[symbol]
	if !ok {
		return venue.PriceTick{}, false
	}
	return m.tick, m.hasPrice
}

// SetPrice moves symbol's price to price at t (zero t means the clock's
// now); it is ApplyTick with bid and ask equal to the price.
func (e *Exchange) SetPrice(symbol string, price venue.Decimal, t time.Time) error {
	return e.ApplyTick(venue.PriceTick{Symbol: symbol, Price: price, Time: t})
}

// ApplyTick moves the market: it records the tick in the klines, fills
// resting orders the price crosses (a buy at or above the price, a sell at or
// below it, at their limit prices, each by at most Config.FillShare of its
// remainder) and sends the tick to price subscribers. A zero Time means the
// clock's now; a zero Bid or Ask means the price.
func (e *Exchange) ApplyTick(tk venue.PriceTick) error {
	if !tk.Price.IsPos() {
		return fmt.Errorf("apply tick %s: price %s is not positive", tk.Symbol, tk.Price)
	}
	if tk.Time.IsZero() {
		tk.Time = e.clk.Now()
	}
	tk.Time = tk.Time.UTC()
	if tk.Bid.IsZero() {
		tk.Bid = tk.Price
	}
	if tk.Ask.IsZero() {
		tk.Ask = tk.Price
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ok := e.markets[tk.Symbol]
	if !ok {
		return fmt.Errorf("apply tick %s: unknown symbol", tk.Symbol)
	}
	m.tick, m.hasPrice = tk, true
	m.observe(tk.Time, tk.Price, udecimal.Zero)
	// Fills a tick causes happen at the tick's time, so a replay with
	// market timestamps books its fills in market time.
	if e.cfg.StrictCross {
		e.cross(m, &m.bids, func(o *order) bool { return o.o.Price.GreaterThan(tk.Price) }, tk.Time)
		e.cross(m, &m.asks, func(o *order) bool { return o.o.Price.LessThan(tk.Price) }, tk.Time)
	} else {
		e.cross(m, &m.bids, func(o *order) bool { return o.o.Price.GreaterThanOrEqual(tk.Price) }, tk.Time)
		e.cross(m, &m.asks, func(o *order) bool { return o.o.Price.LessThanOrEqual(tk.Price) }, tk.Time)
	}
	e.markPerps(m, tk.Price, tk.Time)
	for s := range e.priceSubs {
		if s.wants(tk.Symbol) {
			select {
			case s.ch <- tk:
			default: // a slow reader misses ticks, as with a real ticker
			}
		}
	}
	return nil
}

// cross fills the crossed prefix of one side of the book.
func (e *Exchange) cross(m *market, b *book, crossed func(*order) bool, now time.Time) {
	n := 0
	for n < len(b.orders) && crossed(b.orders[n]) {
		n++
	}
	if n == 0 {
		return
	}
	hit := slices.Clone(b.orders[:n])
	for _, o := range hit {
		q := e.fillQty(m.sym, o.remaining())
		e.fill(o, o.o.Price, q, true, now)
		if o.o.Status.Terminal() {
			b.remove(o)
		}
	}
}

// fillQty is how much of remaining one crossing tick fills.
func (e *Exchange) fillQty(s venue.Symbol, remaining venue.Decimal) venue.Decimal {
	share := e.cfg.FillShare
	if !share.IsPos() || share.GreaterThanOrEqual(udecimal.One) {
		return remaining
	}
	q := floorStep(remaining.Mul(share), s.StepSize)
	least := s.MinQty
	if least.IsZero() {
		least = s.StepSize
	}
	if q.LessThan(least) {
		q = least
	}
	if q.IsZero() || q.GreaterThanOrEqual(remaining) || remaining.Sub(q).LessThan(least) {
		return remaining
	}
	return q
}

// LoadKlines adds a kline set of one interval for symbol; Klines serves it
// (aggregated when a longer interval is asked for) together with the
// candles recorded from ticks.
func (e *Exchange) LoadKlines(symbol string, interval time.Duration, ks []venue.Kline) error {
	if interval <= 0 {
		return fmt.Errorf("load klines %s: interval %s is not positive", symbol, interval)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ok := e.markets[symbol]
	if !ok {
		return fmt.Errorf("load klines %s: unknown symbol", symbol)
	}
	all := append(slices.Clone(m.loaded[interval]), ks...)
	slices.SortStableFunc(all, func(a, b venue.Kline) int { return a.OpenTime.Compare(b.OpenTime) })
	m.loaded[interval] = slices.CompactFunc(all, func(a, b venue.Kline) bool { return a.OpenTime.Equal(b.OpenTime) })
	return nil
}

// observe records a price (and traded volume) at t in the 1m candles.
func (m *market) observe(t time.Time, price, vol venue.Decimal) {
	open := t.Truncate(time.Minute)
	i, found := slices.BinarySearchFunc(m.candles, open, func(k venue.Kline, t time.Time) int { return k.OpenTime.Compare(t) })
	if !found {
		m.candles = slices.Insert(m.candles, i, venue.Kline{OpenTime: open, Open: price, High: price, Low: price, Close: price})
	}
	k := &m.candles[i]
	if price.GreaterThan(k.High) {
		k.High = price
	}
	if price.LessThan(k.Low) {
		k.Low = price
	}
	k.Close = price
	k.Volume = k.Volume.Add(vol)
}

// floorStep rounds q down to a multiple of step (unchanged when step is 0).
func floorStep(q, step venue.Decimal) venue.Decimal {
	if !step.IsPos() {
		return q
	}
	r, err := q.Mod(step)
	if err != nil {
		return q
	}
	return q.Sub(r)
}

func isMultiple(q, step venue.Decimal) bool {
	if !step.IsPos() {
		return true
	}
	r, err := q.Mod(step)
	return err == nil && r.IsZero()
}

// book is one side of a market's resting orders, best price first, then
// time priority.
type book struct {
	buy    bool
	orders []*order
}

func (b *book) cmp(x, y *order) int {
	c := x.o.Price.Cmp(y.o.Price)
	if b.buy {
		c = -c
	}
	if c != 0 {
		return c
	}
	return cmp.Compare(x.seq, y.seq)
}

func (b *book) insert(o *order) {
	i, _ := slices.BinarySearchFunc(b.orders, o, b.cmp)
	b.orders = slices.Insert(b.orders, i, o)
}

func (b *book) remove(o *order) {
	i, found := slices.BinarySearchFunc(b.orders, o, b.cmp)
	if found && b.orders[i] == o {
		b.orders = slices.Delete(b.orders, i, i+1)
	}
}

// priceSub is one SubscribePrices channel.
type priceSub struct {
	ch      chan venue.PriceTick
	symbols map[string]bool // empty: all
}

func (s *priceSub) wants(sym string) bool { return len(s.symbols) == 0 || s.symbols[sym] }

// subscribePrices registers a price subscriber that closes when ctx ends.
func (e *Exchange) subscribePrices(ctx context.Context, symbols []string) (<-chan venue.PriceTick, error) {
	s := &priceSub{ch: make(chan venue.PriceTick, e.cfg.StreamBuffer), symbols: map[string]bool{}}
	e.mu.Lock()
	for _, sym := range symbols {
		if _, ok := e.markets[sym]; !ok {
			e.mu.Unlock()
			return nil, &venue.Error{Class: venue.ClassInvalid, Code: CodeInvalidSymbol, Op: "subscribe prices", Message: fmt.Sprintf("Invalid symbol %q.", sym)}
		}
		s.symbols[sym] = true
	}
	e.priceSubs[s] = struct{}{}
	e.mu.Unlock()
	context.AfterFunc(ctx, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		delete(e.priceSubs, s)
		close(s.ch)
	})
	return s.ch, nil
}
