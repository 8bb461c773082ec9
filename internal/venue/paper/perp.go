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

// PerpConfig configures the exchange's simulated linear perpetuals. Every
// spot market is also a USDⓈ-margined-style perpetual of the same name: its
// mark price is the market's price path, its margin and PnL are in the
// market's quote asset in the account's venue.WalletFutures wallet.
// Positions use isolated margin.
type PerpConfig struct {
	// FundingRate is a symbol's funding rate at a settlement time (from
	// recorded data, say); nil means 0.0001 (0.01%) every time. A positive
	// rate makes longs pay shorts.
	FundingRate func(symbol string, at time.Time) venue.Decimal
	// FundingEvery is the settlement interval, on UTC boundaries (default
	// 8 h: 00:00, 08:00, 16:00).
	FundingEvery time.Duration
	// MaintenanceMargin is the maintenance margin rate of the position's
	// value at mark (default 0.005).
	MaintenanceMargin venue.Decimal
}

// Liquidation is a position the exchange closed because its margin plus
// unrealized PnL fell to the maintenance margin. It is closed at its
// liquidation price (where margin + unrealized PnL equals the maintenance
// margin), not at the tick that crossed it: the realized PnL is
// Size × (Price − entry), and what margin is left after it, the maintenance
// margin, is taken as the liquidation (clearance) fee, so the account loses
// its whole margin and nothing more: Loss = Fee − RealizedPnL.
type Liquidation struct {
	ID     string // "liq-SYMBOL-UNIXMS", unique per account; the trade id of Trade()
	Symbol string
	Settle string        // the settle (quote) asset of the amounts
	Size   venue.Decimal // the position closed, signed
	Price  venue.Decimal // the liquidation price it was closed at
	// RealizedPnL is Size × (Price − entry), in Settle: negative.
	RealizedPnL venue.Decimal
	// Fee is the liquidation fee, in Settle: the margin left at Price.
	Fee venue.Decimal
	// Loss is the margin the account lost (the position's isolated margin).
	Loss venue.Decimal
	Time time.Time
}

// Trade is the liquidation as the closing fill it is: the side that closes
// Size, its quantity, at Price, with Fee in the settle asset, so that a PnL
// of fills books RealizedPnL and Fee like any other fill.
func (l Liquidation) Trade() venue.Trade {
	side := venue.Sell
	if l.Size.IsNeg() {
		side = venue.Buy
	}
	qty := l.Size.Abs()
	return venue.Trade{ID: l.ID, Symbol: l.Symbol, Side: side, Price: l.Price, Quantity: qty,
		QuoteQty: qty.Mul(l.Price), Fee: l.Fee, FeeAsset: l.Settle, Time: l.Time}
}

// perpState is the exchange's perpetuals; guarded by Exchange.mu.
type perpState struct {
	cfg          PerpConfig
	positions    map[*Account]map[string]*perpPosition
	funding      map[*Account][]venue.FundingPayment
	liquidations map[*Account][]Liquidation
	lastFunding  map[string]time.Time // per symbol: the last settlement boundary passed
}

type perpPosition struct {
	size, entry, margin, leverage venue.Decimal
	updated                       time.Time
}

func (e *Exchange) perps() *perpState {
	if e.perp == nil {
		e.perp = &perpState{positions: map[*Account]map[string]*perpPosition{}, funding: map[*Account][]venue.FundingPayment{},
			liquidations: map[*Account][]Liquidation{}, lastFunding: map[string]time.Time{}}
		e.perp.configure(PerpConfig{})
	}
	return e.perp
}

func (s *perpState) configure(c PerpConfig) {
	if c.FundingEvery <= 0 {
		c.FundingEvery = 8 * time.Hour
	}
	if c.MaintenanceMargin.IsZero() {
		c.MaintenanceMargin = udecimal.MustParse("0.005")
	}
	if c.FundingRate == nil {
		rate := udecimal.MustParse("0.0001")
		c.FundingRate = func(string, time.Time) venue.Decimal { return rate }
	}
	s.cfg = c
}

// ConfigurePerps sets how perpetuals fund and liquidate; call it before
// trading them.
func (e *Exchange) ConfigurePerps(c PerpConfig) error {
	if c.MaintenanceMargin.IsNeg() || c.MaintenanceMargin.GreaterThanOrEqual(udecimal.One) {
		return fmt.Errorf("configure perpetuals: maintenance margin %s: want in [0, 1)", c.MaintenanceMargin)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.perps().configure(c)
	return nil
}

var _ venue.PositionReader = (*Account)(nil)

// TradePerp changes the account's perpetual position in symbol by a taker
// fill of qty at the market's price: a buy adds qty, a sell subtracts it,
// reducing, closing or flipping a position. Opening or adding locks
// notional/leverage of margin in the futures wallet; reducing releases
// margin pro rata and books realized PnL there; the taker fee comes from
// the wallet too. A position keeps the leverage it was opened with.
func (a *Account) TradePerp(ctx context.Context, symbol string, side venue.Side, qty, leverage venue.Decimal) (venue.Position, error) {
	what := fmt.Sprintf("trade perpetual %q", symbol)
	if err := ctx.Err(); err != nil {
		return venue.Position{}, fmt.Errorf("%s: %w", what, err)
	}
	if !side.Valid() || !qty.IsPos() || !leverage.IsPos() {
		return venue.Position{}, reject(venue.ClassInvalid, CodeIllegalParam, what, "side buy|sell, a positive quantity and a positive leverage are required")
	}
	e := a.ex
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ok := e.markets[symbol]
	if !ok || !m.hasPrice {
		return venue.Position{}, reject(venue.ClassInvalid, CodeInvalidSymbol, what, "unknown symbol or no price yet")
	}
	if !isMultiple(qty, m.sym.StepSize) || qty.LessThan(m.sym.MinQty) {
		return venue.Position{}, reject(venue.ClassRejected, CodeFilterFailure, what, "Filter failure: LOT_SIZE")
	}
	s := e.perps()
	px, now := m.tick.Price, e.clk.Now()
	if _, seen := s.lastFunding[symbol]; !seen {
		// Perpetuals began after the market's last tick: funding counts
		// from that tick's interval, so the next boundary settles.
		s.lastFunding[symbol] = m.tick.Time.Truncate(s.cfg.FundingEvery)
	}
	ps := s.positions[a]
	if ps == nil {
		ps = map[string]*perpPosition{}
		s.positions[a] = ps
	}
	p := ps[symbol]
	if p == nil {
		p = &perpPosition{leverage: leverage}
	}
	if !p.size.IsZero() && !p.leverage.Equal(leverage) {
		return venue.Position{}, reject(venue.ClassRejected, CodeNewOrderRejected, what,
			fmt.Sprintf("the open position has leverage %s; trade it at that leverage", p.leverage))
	}
	delta := qty
	if side == venue.Sell {
		delta = qty.Neg()
	}
	notional := qty.Mul(px)
	fee := notional.Mul(e.takerFee)
	if e.cfg.NoFee {
		fee = udecimal.Zero
	}
	b := a.bal(venue.WalletFutures, m.sym.Quote)
	// The part that reduces the position, and the part that opens.
	closing := udecimal.Zero
	if !p.size.IsZero() && p.size.Sign() != delta.Sign() {
		closing = udecimal.Min(qty, p.size.Abs())
	}
	opening := qty.Sub(closing)
	addMargin, err := opening.Mul(px).Div(leverage)
	if err != nil {
		return venue.Position{}, reject(venue.ClassInvalid, CodeIllegalParam, what, err.Error())
	}
	var realized, release venue.Decimal
	if closing.IsPos() {
		realized = closing.Mul(px.Sub(p.entry))
		if p.size.IsNeg() {
			realized = realized.Neg()
		}
		release, _ = p.margin.Mul(closing).Div(p.size.Abs())
		if closing.Equal(p.size.Abs()) {
			release = p.margin
		}
	}
	// A reduction is never refused; what opens must be paid for.
	if addMargin.IsPos() && b.free.Add(release).Add(realized).Sub(fee).LessThan(addMargin) {
		return venue.Position{}, reject(venue.ClassInsufficientFunds, CodeNewOrderRejected, what, "Account has insufficient balance for requested action.")
	}
	// Book it.
	b.locked = b.locked.Sub(release)
	b.free = b.free.Add(release).Add(realized).Sub(fee)
	p.margin = p.margin.Sub(release)
	if closing.IsPos() {
		if p.size.IsPos() {
			p.size = p.size.Sub(closing)
		} else {
			p.size = p.size.Add(closing)
		}
	}
	if opening.IsPos() {
		add := opening
		if side == venue.Sell {
			add = opening.Neg()
		}
		if p.size.IsZero() {
			p.entry, p.leverage = px, leverage
		} else {
			p.entry, _ = p.size.Abs().Mul(p.entry).Add(opening.Mul(px)).Div(p.size.Abs().Add(opening))
		}
		p.size = p.size.Add(add)
		p.margin = p.margin.Add(addMargin)
		b.free = b.free.Sub(addMargin)
		b.locked = b.locked.Add(addMargin)
	}
	p.updated = now
	a.emitBalance(venue.WalletFutures, m.sym.Quote, b)
	if p.size.IsZero() {
		delete(ps, symbol)
		return venue.Position{Symbol: symbol, SettleAsset: m.sym.Quote, MarkPrice: px, MarginMode: venue.MarginIsolated, Updated: now}, nil
	}
	ps[symbol] = p
	return s.view(symbol, m.sym.Quote, p, px), nil
}

// view is p at mark px; s's exchange mutex is held.
func (s *perpState) view(symbol, settle string, p *perpPosition, px venue.Decimal) venue.Position {
	mmr := s.cfg.MaintenanceMargin
	q := p.size.Abs()
	var liq venue.Decimal
	// Isolated: liquidated when margin + size×(mark−entry) = |size|×mark×mmr.
	if p.size.IsPos() {
		liq, _ = q.Mul(p.entry).Sub(p.margin).Div(q.Mul(udecimal.One.Sub(mmr)))
	} else {
		liq, _ = p.margin.Add(q.Mul(p.entry)).Div(q.Mul(udecimal.One.Add(mmr)))
	}
	if liq.IsNeg() {
		liq = udecimal.Zero
	}
	return venue.Position{Symbol: symbol, SettleAsset: settle, Size: p.size, EntryPrice: p.entry, MarkPrice: px,
		UnrealizedPnL: p.size.Mul(px.Sub(p.entry)), Leverage: p.leverage, LiquidationPrice: liq,
		MarginMode: venue.MarginIsolated, Updated: p.updated}
}

// markPerps settles the funding boundaries a tick of symbol passes and
// liquidates the positions its price breaks; e.mu is held.
func (e *Exchange) markPerps(m *market, px venue.Decimal, at time.Time) {
	s := e.perp
	if s == nil {
		return
	}
	symbol := m.sym.Name
	last, seen := s.lastFunding[symbol]
	boundary := at.Truncate(s.cfg.FundingEvery)
	if !seen {
		s.lastFunding[symbol] = boundary
	} else {
		for t := last.Add(s.cfg.FundingEvery); !t.After(at); t = t.Add(s.cfg.FundingEvery) {
			s.settle(e, m, px, t)
			s.lastFunding[symbol] = t
		}
	}
	for a, ps := range s.positions {
		p := ps[symbol]
		if p == nil {
			continue
		}
		equity := p.margin.Add(p.size.Mul(px.Sub(p.entry)))
		if equity.GreaterThan(p.size.Abs().Mul(px).Mul(s.cfg.MaintenanceMargin)) {
			continue
		}
		b := a.bal(venue.WalletFutures, m.sym.Quote)
		b.locked = b.locked.Sub(p.margin)
		// Closed at its liquidation price; the fee is the margin left
		// there, so realized − fee is exactly −margin whatever the
		// rounding of the price.
		liq := tickToward(s.view(symbol, m.sym.Quote, p, px).LiquidationPrice, m.sym.TickSize, p.size.IsPos())
		realized := p.size.Mul(liq.Sub(p.entry))
		// The id is the symbol and the tick's time: one position per
		// symbol, so it is unique per account, and a replay gives the same.
		s.liquidations[a] = append(s.liquidations[a], Liquidation{ID: "liq-" + symbol + "-" + strconv.FormatInt(at.UnixMilli(), 10), Symbol: symbol,
			Settle: m.sym.Quote, Size: p.size, Price: liq, RealizedPnL: realized, Fee: p.margin.Add(realized), Loss: p.margin, Time: at})
		delete(ps, symbol)
		a.emitBalance(venue.WalletFutures, m.sym.Quote, b)
	}
}

// tickToward rounds a liquidation price to a multiple of tick (a venue
// trades at ticks only; no tick: 8 decimals), up for a long and down for a
// short, so the close is never worse than the exact price and the fee (the
// margin left) stays positive.
func tickToward(px, tick venue.Decimal, up bool) venue.Decimal {
	if !tick.IsPos() {
		tick = udecimal.MustParse("0.00000001")
	}
	n, err := px.Div(tick)
	if err != nil {
		return px
	}
	k := n.Trunc(0)
	if up && !k.Equal(n) {
		k = k.Add(udecimal.One)
	}
	return k.Mul(tick)
}

// settle pays one funding of symbol at t: a position pays size × mark ×
// rate (a long pays a positive rate, a short receives it), from the free
// balance and, beyond it, from the position's margin.
func (s *perpState) settle(e *Exchange, m *market, px venue.Decimal, t time.Time) {
	rate := s.cfg.FundingRate(m.sym.Name, t)
	for a, ps := range s.positions {
		p := ps[m.sym.Name]
		if p == nil {
			continue
		}
		amount := p.size.Mul(px).Mul(rate).Neg()
		b := a.bal(venue.WalletFutures, m.sym.Quote)
		b.free = b.free.Add(amount)
		if b.free.IsNeg() {
			// The shortfall comes out of the position's margin.
			p.margin = p.margin.Add(b.free)
			b.locked = b.locked.Add(b.free)
			b.free = udecimal.Zero
		}
		// Unique per account (one settlement per symbol and boundary) and
		// the same in a replay, so a store keyed by it keeps each once.
		s.funding[a] = append(s.funding[a], venue.FundingPayment{ID: "funding-" + m.sym.Name + "-" + strconv.FormatInt(t.UnixMilli(), 10),
			Symbol: m.sym.Name, Asset: m.sym.Quote, Amount: amount, PositionSize: p.size, Time: t})
		a.emitBalance(venue.WalletFutures, m.sym.Quote, b)
	}
}

// Positions lists the account's open perpetual positions at the current
// mark, by symbol.
func (a *Account) Positions(ctx context.Context) ([]venue.Position, error) {
	// No fault is drawn here: the injector's faults are scripted per
	// port operation, and a position read is none of them.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("positions: %w", err)
	}
	a.ex.mu.Lock()
	defer a.ex.mu.Unlock()
	s := a.ex.perp
	if s == nil {
		return nil, nil
	}
	var out []venue.Position
	for symbol, p := range s.positions[a] {
		m := a.ex.markets[symbol]
		out = append(out, s.view(symbol, m.sym.Quote, p, m.tick.Price))
	}
	slices.SortFunc(out, func(x, y venue.Position) int { return cmp.Compare(x.Symbol, y.Symbol) })
	return out, nil
}

// FundingPayments lists the account's funding payments in [from, to),
// oldest first; an empty symbol means all.
func (a *Account) FundingPayments(ctx context.Context, symbol string, from, to time.Time) ([]venue.FundingPayment, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("funding payments: %w", err)
	}
	a.ex.mu.Lock()
	defer a.ex.mu.Unlock()
	if a.ex.perp == nil {
		return nil, nil
	}
	var out []venue.FundingPayment
	for _, f := range a.ex.perp.funding[a] {
		if (symbol == "" || f.Symbol == symbol) && !f.Time.Before(from) && f.Time.Before(to) {
			out = append(out, f)
		}
	}
	return out, nil
}

// Liquidations lists the account's liquidated positions, oldest first.
func (a *Account) Liquidations() []Liquidation {
	a.ex.mu.Lock()
	defer a.ex.mu.Unlock()
	if a.ex.perp == nil {
		return nil
	}
	return slices.Clone(a.ex.perp.liquidations[a])
}
