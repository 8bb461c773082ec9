package pnl

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tradeplane/tradeplane/internal/tradecsv"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// Decimal is the exact decimal used for every amount (venue.Decimal).
type Decimal = venue.Decimal

// Scale is the number of decimal places that reported quotients (avg_entry,
// interval means, relative differences) are truncated to. The average-cost
// share removed on a partial reduction keeps udecimal's 19 (see the package
// doc); it never affects net PnL.
const Scale = 18

// maxPrec is udecimal's limit on fraction digits: a product whose operands'
// fraction digits add up to more would be truncated.
const maxPrec = 19

// Method is a cost-basis method.
type Method string

// Methods. Both give the same net PnL; they differ in how it splits between
// realized and unrealized.
const (
	AvgCost Method = "avg"  // average cost, the default
	FIFO    Method = "fifo" // first in, first out, by lots
)

// ParseMethod returns the Method named s ("avg", "fifo"; "" means AvgCost).
func ParseMethod(s string) (Method, error) {
	switch Method(s) {
	case "", AvgCost:
		return AvgCost, nil
	case FIFO:
		return FIFO, nil
	}
	return "", fmt.Errorf("parse method %q: want avg or fifo: %w", s, ErrInput)
}

// Errors callers branch on with errors.Is.
var (
	// ErrInput marks bad input (unknown method, a fill the engine cannot take
	// exactly, fills out of order): the CLI exits 2 on it.
	ErrInput = errors.New("bad input")
	// ErrPrecision is a fill, fee or mark whose product would need more than
	// 19 fraction digits, so could not be exact. It wraps ErrInput.
	ErrPrecision = fmt.Errorf("%w: more than 19 decimals needed", ErrInput)
	// ErrOutOfOrder is a fill older than the previous fill of its symbol (by
	// time, then trade id) given to Engine.Add. It wraps ErrInput.
	ErrOutOfOrder = fmt.Errorf("%w: fill out of order", ErrInput)
)

// FeePricer prices fees paid in a third asset (neither base nor quote, e.g.
// BNB). Implementations: a price book, klines (KlinePrices), or given prices
// (FixedPrices).
type FeePricer interface {
	// FeePrice returns the price of one unit of asset in quote at time at,
	// and false when no price is known. It must not block for long: the
	// engine calls it once per such fill.
	FeePrice(asset, quote string, at time.Time) (Decimal, bool)
}

// AssetAmount is an amount of one asset.
type AssetAmount struct {
	Asset  string  `json:"asset"`
	Amount Decimal `json:"amount"`
}

// lot is an open FIFO lot: qty > 0, on the side of the position.
type lot struct {
	qty, price Decimal
}

// position is the state of one symbol under one method. Its hot path (move)
// allocates nothing except when FIFO grows its lot slice.
type position struct {
	symbol, base, quote string
	fifo                bool

	q, c, r, f   Decimal // signed position, cost basis, realized, fees in quote
	funding      Decimal // Σ funding payments in quote: received positive, paid negative
	fundings     int
	buys, sells  Decimal // Σ notional of real fills, for the identity
	feesNotBase  Decimal // the part of f not paid in base
	lots         []lot   // FIFO: open lots, oldest first, from head
	head         int
	unconverted  []AssetAmount
	trades       int
	lastPrice    Decimal
	lastTime     time.Time
	lastID       string
	qPrec, pPrec int // largest fraction digits seen in quantities and prices
}

// checkPrec records the precision of a quantity and a price and reports
// whether every quantity × price the position may compute stays exact.
func (p *position) checkPrec(qty, price Decimal) bool {
	p.qPrec = max(p.qPrec, fracDigits(qty))
	p.pPrec = max(p.pPrec, fracDigits(price))
	return p.qPrec+p.pPrec <= maxPrec
}

// fracDigits returns the number of fraction digits of d without trailing
// zeros ("1.50" has 1), which is what decides whether a product is exact.
// Values with at most 8 digits of scale, all of a trade file's, take the
// fast path; others are trimmed through their string form.
func fracDigits(d Decimal) int {
	p := d.Prec()
	if p <= 8 {
		return p
	}
	s := d.String() // trims trailing zeros
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return len(s) - i - 1
	}
	return 0
}

// move applies a signed base quantity delta at price: buy (+), sell (−),
// or a fee disposal. notional is |delta| × price, computed once by the
// caller. Crossing zero opens the remainder at price.
//
// This is the hot path: one comparison decides the case, and the fill's
// notional is reused rather than recomputed.
func (p *position) move(delta, price, notional Decimal) error {
	if p.q.IsZero() || p.q.IsNeg() == delta.IsNeg() {
		p.open(delta, price, notional)
		return nil
	}
	long := p.q.IsPos()
	absQ, absD := p.q.Abs(), delta.Abs()
	switch absD.Cmp(absQ) {
	case -1: // partial reduction
		return p.reduce(absD, absQ, price, notional, long, false)
	case 0: // closes the position exactly
		return p.reduce(absD, absQ, price, notional, long, true)
	}
	// Crosses zero: close |Q| at price, open the rest.
	if err := p.reduce(absQ, absQ, price, absQ.Mul(price), long, true); err != nil {
		return err
	}
	rest := absD.Sub(absQ)
	if delta.IsNeg() {
		rest = rest.Neg()
	}
	p.open(rest, price, rest.Abs().Mul(price))
	return nil
}

// open grows the position by delta (same sign as Q, or from flat) at price;
// notional is |delta| × price.
func (p *position) open(delta, price, notional Decimal) {
	p.q = p.q.Add(delta)
	if delta.IsNeg() {
		p.c = p.c.Sub(notional)
	} else {
		p.c = p.c.Add(notional)
	}
	if p.fifo {
		if p.head == len(p.lots) {
			p.lots, p.head = p.lots[:0], 0
		}
		p.lots = append(p.lots, lot{qty: delta.Abs(), price: price})
	}
}

// reduce closes `closed` (0 < closed ≤ absQ = |Q|) at price, moving the cost
// removed from C to R; notional is closed × price, long tells Q's sign and
// all that closed == absQ.
func (p *position) reduce(closed, absQ, price, notional Decimal, long, all bool) error {
	var removed Decimal // signed like C
	switch {
	case p.fifo:
		removed = p.takeLots(closed)
		if !long {
			removed = removed.Neg()
		}
	case all:
		removed = p.c
	default:
		share, err := p.c.Mul(closed).Div(absQ)
		if err != nil {
			return fmt.Errorf("reduce %s: %w", p.symbol, err)
		}
		removed = share // truncated toward zero at 19 fraction digits by udecimal
	}
	if long {
		p.q = p.q.Sub(closed)
		p.r = p.r.Add(notional.Sub(removed))
	} else {
		p.q = p.q.Add(closed)
		p.r = p.r.Sub(notional.Add(removed))
	}
	p.c = p.c.Sub(removed)
	return nil
}

// takeLots removes qty from the oldest lots and returns their cost (> 0).
func (p *position) takeLots(qty Decimal) Decimal {
	var cost Decimal
	for !qty.IsZero() {
		l := &p.lots[p.head]
		take := qty
		if l.qty.LessThan(qty) {
			take = l.qty
		}
		cost = cost.Add(take.Mul(l.price))
		l.qty = l.qty.Sub(take)
		qty = qty.Sub(take)
		if l.qty.IsZero() {
			p.head++
		}
	}
	// Drop closed lots once they are most of the slice, so a long-lived
	// position's slice does not grow without bound.
	if p.head == len(p.lots) {
		p.lots, p.head = p.lots[:0], 0
	} else if p.head >= 32 && p.head*2 >= len(p.lots) {
		n := copy(p.lots, p.lots[p.head:])
		p.lots, p.head = p.lots[:n], 0
	}
	return cost
}

// addUnconverted lists a fee the engine could not price.
func (p *position) addUnconverted(asset string, fee Decimal) {
	for i := range p.unconverted {
		if p.unconverted[i].Asset == asset {
			p.unconverted[i].Amount = p.unconverted[i].Amount.Add(fee)
			return
		}
	}
	p.unconverted = append(p.unconverted, AssetAmount{Asset: asset, Amount: fee})
}

// Engine computes PnL incrementally from fills given in time order per
// symbol. It is the building block of Compute and fits live use: Add each
// fill as it arrives, Report whenever. Not safe for concurrent use.
type Engine struct {
	method    Method
	pricer    FeePricer
	positions []*position // in order of first fill
	bySymbol  map[string]*position
	last      *position // the previous fill's position: most fills repeat a symbol
}

// NewEngine returns an empty Engine. pricer may be nil: then every fee in a
// third asset is reported unconverted.
func NewEngine(method Method, pricer FeePricer) (*Engine, error) {
	m, err := ParseMethod(string(method))
	if err != nil {
		return nil, fmt.Errorf("new engine: %w", err)
	}
	return &Engine{method: m, pricer: pricer, bySymbol: make(map[string]*position)}, nil
}

// Method returns the engine's method.
func (e *Engine) Method() Method { return e.method }

// Add applies one fill. Fills of one symbol must come in order of time, ties
// by trade id (numeric ids compare as numbers); otherwise Add returns an error
// wrapping ErrOutOfOrder. A fill whose products could not be exact returns an
// error wrapping ErrPrecision. After an error the fill has not been applied
// to the position except possibly its fee's precision check; callers stop.
//
// t.Symbol is the key: one spelling per market (tradecsv gives BASEQUOTE).
// t.Base and t.Quote are taken from the first fill of a symbol; when empty
// they are split from Symbol.
func (e *Engine) Add(t *tradecsv.Trade) error {
	p := e.last
	if p == nil || p.symbol != t.Symbol {
		var err error
		if p, err = e.position(t); err != nil {
			return err
		}
		e.last = p
	}
	if p.trades > 0 {
		if c := t.Time.Compare(p.lastTime); c < 0 || c == 0 && !idLess(p.lastID, t.ID) {
			return fmt.Errorf("add fill %q of %s at %s after %q at %s: %w", t.ID, t.Symbol,
				t.Time.Format(time.RFC3339Nano), p.lastID, p.lastTime.Format(time.RFC3339Nano), ErrOutOfOrder)
		}
	}
	if !t.Price.IsPos() || !t.Quantity.IsPos() || t.Side != venue.Buy && t.Side != venue.Sell {
		return fmt.Errorf("add fill %q: price %s, quantity %s, side %q: %w", t.ID, t.Price, t.Quantity, t.Side, ErrInput)
	}
	if !p.checkPrec(t.Quantity, t.Price) {
		return fmt.Errorf("add fill %q: price %s × quantity %s: %w", t.ID, t.Price, t.Quantity, ErrPrecision)
	}

	// Fee classification before any state change, so an error leaves the
	// position as it was.
	const (
		feeNone = iota
		feeQuote
		feeBase
		feeConverted
		feeUnconverted
	)
	kind := feeNone
	var feeValue Decimal
	switch {
	case t.Fee.IsZero():
	case t.FeeAsset == p.quote:
		kind, feeValue = feeQuote, t.Fee
	case t.FeeAsset == p.base:
		if !p.checkPrec(t.Fee, t.Price) {
			return fmt.Errorf("add fill %q: fee %s × price %s: %w", t.ID, t.Fee, t.Price, ErrPrecision)
		}
		kind, feeValue = feeBase, t.Fee.Mul(t.Price)
	default:
		kind = feeUnconverted
		if e.pricer != nil {
			if price, ok := e.pricer.FeePrice(t.FeeAsset, p.quote, t.Time); ok {
				if fracDigits(t.Fee)+fracDigits(price) > maxPrec {
					return fmt.Errorf("add fill %q: fee %s %s × price %s: %w", t.ID, t.Fee, t.FeeAsset, price, ErrPrecision)
				}
				kind, feeValue = feeConverted, t.Fee.Mul(price)
			}
		}
	}

	notional := t.Quantity.Mul(t.Price)
	delta := t.Quantity
	if t.Side == venue.Sell {
		delta = delta.Neg()
		p.sells = p.sells.Add(notional)
	} else {
		p.buys = p.buys.Add(notional)
	}
	if err := p.move(delta, t.Price, notional); err != nil {
		return fmt.Errorf("add fill %q: %w", t.ID, err)
	}
	switch kind {
	case feeQuote, feeConverted:
		p.f = p.f.Add(feeValue)
		p.feesNotBase = p.feesNotBase.Add(feeValue)
	case feeBase:
		if err := p.move(t.Fee.Neg(), t.Price, feeValue.Abs()); err != nil {
			return fmt.Errorf("add fill %q: base fee: %w", t.ID, err)
		}
		p.f = p.f.Add(feeValue)
	case feeUnconverted:
		p.addUnconverted(t.FeeAsset, t.Fee)
	}
	p.trades++
	p.lastPrice, p.lastTime, p.lastID = t.Price, t.Time, t.ID
	return nil
}

// Funding is one funding payment of a perpetual position, in the symbol's
// quote (settle) asset: positive received, negative paid.
type Funding struct {
	Symbol string // the perpetual's symbol, as its fills spell it
	Base   string // optional: split from Symbol when empty
	Quote  string // optional, and must be the asset of Amount
	Asset  string // the asset the payment moved; must be the quote asset
	Amount Decimal
	Time   time.Time
	ID     string
}

// AddFunding books one funding payment of a perpetual: it moves neither the
// position nor the cost basis, only Funding (and so net PnL), with its sign:
// received positive, paid negative. A payment in an asset other than the
// symbol's quote returns an error wrapping ErrInput (it cannot be added to
// quote amounts without a price). Payments may come in any order relative to
// fills: they add.
func (e *Engine) AddFunding(f Funding) error {
	t := &tradecsv.Trade{Symbol: f.Symbol, Base: f.Base, Quote: f.Quote, ID: f.ID}
	p, err := e.position(t)
	if err != nil {
		return fmt.Errorf("add funding %q: %w", f.ID, err)
	}
	if f.Asset != "" && f.Asset != p.quote {
		return fmt.Errorf("add funding %q of %s: paid in %s, not the quote asset %s: %w", f.ID, f.Symbol, f.Asset, p.quote, ErrInput)
	}
	if fracDigits(f.Amount) > maxPrec {
		return fmt.Errorf("add funding %q: amount %s: %w", f.ID, f.Amount, ErrPrecision)
	}
	p.funding = p.funding.Add(f.Amount)
	p.fundings++
	return nil
}

// position finds or creates the position of t's symbol.
func (e *Engine) position(t *tradecsv.Trade) (*position, error) {
	if p, ok := e.bySymbol[t.Symbol]; ok {
		return p, nil
	}
	base, quote := t.Base, t.Quote
	if base == "" || quote == "" {
		var err error
		if base, quote, err = tradecsv.SplitSymbol(t.Symbol); err != nil {
			return nil, fmt.Errorf("add fill %q: %w: %w", t.ID, ErrInput, err)
		}
	}
	p := &position{symbol: t.Symbol, base: base, quote: quote, fifo: e.method == FIFO}
	e.bySymbol[t.Symbol] = p
	e.positions = append(e.positions, p)
	return p, nil
}

// idLess orders trade ids: all-digit ids as numbers, others as strings, and
// an all-digit id before any other.
func idLess(a, b string) bool {
	da, db := isDigits(a), isDigits(b)
	switch {
	case da && db:
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if len(a) != len(b) {
			return len(a) < len(b)
		}
		return a < b
	case da != db:
		return da
	}
	return a < b
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
