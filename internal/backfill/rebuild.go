package backfill

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/pnl"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/tradecsv"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// rebuild downloads candles, replays every stored fill of the account's
// symbols through one engine per scope and writes the points.
func (r *runner) rebuild(ctx context.Context) error {
	fills, err := r.loadFills(ctx)
	if err != nil {
		return err
	}
	fills, r.res.Merged = MergeSources(fills)
	r.res.Fills = len(fills)

	r.prog.Phase = "klines"
	r.report()
	quotes, err := r.quotes(ctx)
	if err != nil {
		return err
	}
	valuation := strings.ToUpper(r.cfg.Valuation)
	if valuation == "" {
		valuation = DefaultValuation(quotes)
	}
	r.res.Valuation, r.res.Quotes = valuation, quotes
	mk, pricer, err := r.klines(ctx, fills, quotes, valuation)
	if err != nil {
		return err
	}

	r.prog.Phase = "rebuild"
	r.report()
	b := &Builder{Method: r.cfg.Method, Pricer: pricer, Marks: mk.at, OpeningEquity: r.cfg.OpeningEquity,
		AccountScope: "account:" + r.cfg.Account.Name, Valuation: valuation}
	var batch []store.PnLPoint
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := r.cfg.DB.UpsertPnLPoints(ctx, batch); err != nil {
			return fmt.Errorf("backfill %q: %w", r.cfg.Account.Name, err)
		}
		r.res.Points += len(batch)
		batch = batch[:0]
		r.report()
		return nil
	}
	funding, err := r.loadFunding(ctx)
	if err != nil {
		return err
	}
	if err := r.addOpening(ctx, b, fills, mk, valuation); err != nil {
		return err
	}
	scopes := map[string]bool{}
	i, k := 0, 0
	for _, t := range steps(r.cfg.From, r.cfg.To, r.cfg.Interval) {
		for ; i < len(fills) && !fills[i].Time.After(t); i++ {
			if err := b.Add(&fills[i]); err != nil {
				return fmt.Errorf("backfill %q: %w", r.cfg.Account.Name, err)
			}
		}
		for ; k < len(funding) && !funding[k].Time.After(t); k++ {
			if err := b.AddFunding(funding[k]); err != nil {
				return fmt.Errorf("backfill %q: %w", r.cfg.Account.Name, err)
			}
		}
		ps, err := b.Points(t)
		if err != nil {
			return fmt.Errorf("backfill %q: %w", r.cfg.Account.Name, err)
		}
		for _, p := range ps {
			scopes[p.Scope] = true
		}
		batch = append(batch, ps...)
		if len(batch) >= pointBatch {
			if err := flush(); err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("backfill %q: %w", r.cfg.Account.Name, err)
		}
	}
	if err := flush(); err != nil {
		return err
	}
	for s := range scopes {
		r.res.Scopes = append(r.res.Scopes, s)
	}
	slices.Sort(r.res.Scopes)
	if rep, err := b.account.engine.Report(nil); err == nil {
		for _, s := range rep.Symbols {
			r.res.Unconverted = append(r.res.Unconverted, s.FeesUnconverted...)
		}
	}
	return nil
}

// addOpening gives the account scope its opening holdings (Config.
// OpeningHoldings): each a fee-less buy at the mark of ASSET+VALUATION at
// the first step or first fill, whichever is earlier, timed a nanosecond
// before it so that it precedes every fill. A first fill before From (the
// stored history the rebuild starts from) is outside the candles of the
// range: the candle holding it is fetched on its own.
func (r *runner) addOpening(ctx context.Context, b *Builder, fills []Fill, mk marks, valuation string) error {
	if len(r.cfg.OpeningHoldings) == 0 {
		return nil
	}
	at := r.cfg.From
	if len(fills) > 0 && fills[0].Time.Before(at) {
		at = fills[0].Time
	}
	for _, h := range r.cfg.OpeningHoldings {
		asset := strings.ToUpper(h.Asset)
		sym := asset + valuation
		px, ok := mk.at(sym, at)
		if !ok && at.Before(r.cfg.From) {
			start := at.Truncate(MarkInterval)
			ks, err := r.cfg.Venue.Klines(ctx, sym, "1h", start, start.Add(MarkInterval))
			if err != nil {
				return fmt.Errorf("backfill %q: opening holding of %s: the candle of %s at the first fill (%s): %w",
					r.cfg.Account.Name, asset, sym, at.Format(time.RFC3339), err)
			}
			if len(ks) > 0 {
				px, ok = marks{sym: ks[:1]}.at(sym, at)
			}
		}
		if !ok {
			return fmt.Errorf("backfill %q: opening holding of %s: no 1h candle of %s at %s: %w", r.cfg.Account.Name, asset, sym,
				at.Format(time.RFC3339), ErrInput)
		}
		f := Fill{Trade: tradecsv.Trade{Time: at.Add(-time.Nanosecond), Symbol: sym, Base: asset, Quote: valuation,
			Side: venue.Buy, Price: px, Quantity: h.Amount, ID: "opening-" + asset}}
		if err := b.Add(&f); err != nil {
			return fmt.Errorf("backfill %q: %w", r.cfg.Account.Name, err)
		}
	}
	return nil
}

// Fill is a stored fill as the engine takes it, with its session.
type Fill struct {
	tradecsv.Trade
	SessionID string
}

// loadFills reads every stored fill of the account's symbols before To, in
// engine order (time, then trade id).
func (r *runner) loadFills(ctx context.Context) ([]Fill, error) {
	var out []Fill
	for _, sym := range r.cfg.Symbols {
		base, quote, err := r.split(ctx, sym)
		if err != nil {
			return nil, err
		}
		q := store.FillQuery{AccountID: r.cfg.Account.ID, Symbol: sym, To: r.cfg.To, Limit: 100000}
		for {
			page, err := r.cfg.DB.Fills(ctx, q)
			if err != nil {
				return nil, fmt.Errorf("backfill %q: %w", r.cfg.Account.Name, err)
			}
			for _, f := range page {
				out = append(out, Fill{Trade: tradecsv.Trade{Time: f.At, Symbol: f.Symbol, Base: base, Quote: quote,
					Side: venue.Side(f.Side), Price: f.Price, Quantity: f.Quantity, Fee: f.Fee, FeeAsset: f.FeeAsset, ID: f.TradeID},
					SessionID: f.SessionID})
			}
			if len(page) < q.Limit {
				break
			}
			last := page[len(page)-1]
			q.AfterAt, q.AfterID = last.At, last.ID
		}
	}
	SortFills(out)
	return out, nil
}

// FundingRow is a stored funding payment as the engine takes it, with its
// session ("" for the account alone).
type FundingRow struct {
	pnl.Funding
	SessionID string
}

// loadFunding reads the stored funding payments of the account's symbols
// before To, oldest first.
func (r *runner) loadFunding(ctx context.Context) ([]FundingRow, error) {
	var out []FundingRow
	for _, sym := range r.cfg.Symbols {
		base, quote, err := r.split(ctx, sym)
		if err != nil {
			return nil, err
		}
		rows, err := r.cfg.DB.FundingPayments(ctx, r.cfg.Account.ID, sym, r.cfg.To)
		if err != nil {
			return nil, fmt.Errorf("backfill %q: %w", r.cfg.Account.Name, err)
		}
		for _, f := range rows {
			out = append(out, FundingRow{Funding: pnl.Funding{Symbol: f.Symbol, Base: base, Quote: quote, Asset: f.Asset,
				Amount: f.Amount, Time: f.At, ID: f.PaymentID}, SessionID: f.SessionID})
		}
	}
	slices.SortStableFunc(out, func(a, b FundingRow) int { return a.Time.Compare(b.Time) })
	return out, nil
}

// SortFills orders fills as the engine wants them: by time, ties by trade
// id (all-digit ids as numbers, before any other id), then by symbol.
func SortFills(fs []Fill) {
	slices.SortStableFunc(fs, func(a, b Fill) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		if c := compareIDs(a.ID, b.ID); c != 0 {
			return c
		}
		return cmp.Compare(a.Symbol, b.Symbol)
	})
}

// compareIDs orders trade ids the way pnl.Engine does.
func compareIDs(a, b string) int {
	da, db := isDigits(a), isDigits(b)
	switch {
	case da && db:
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if len(a) != len(b) {
			return cmp.Compare(len(a), len(b))
		}
	case da:
		return -1
	case db:
		return 1
	}
	return cmp.Compare(a, b)
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

// quotes returns the distinct quote assets of the run's symbols, sorted.
func (r *runner) quotes(ctx context.Context) ([]string, error) {
	var qs []string
	for _, sym := range r.cfg.Symbols {
		_, q, err := r.split(ctx, sym)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(qs, q) {
			qs = append(qs, q)
		}
	}
	slices.Sort(qs)
	return qs, nil
}

// QuoteRowPrefix starts the Symbol of a per-quote sum row (QuoteRow).
const QuoteRowPrefix = "quote:"

// QuoteRow is the Symbol of the row that sums a scope's symbols quoted in
// quote, in quote ("quote:BTC").
func QuoteRow(quote string) string { return QuoteRowPrefix + quote }

// DefaultValuation picks the valuation asset of sum rows for symbols quoted
// in quotes: the only quote when there is one, else the first of
// tradecsv.QuoteAssets among them (USDT before USDC ... before BTC), else the
// first in sort order.
func DefaultValuation(quotes []string) string {
	if len(quotes) == 1 {
		return quotes[0]
	}
	for _, q := range tradecsv.QuoteAssets {
		if slices.Contains(quotes, q) {
			return q
		}
	}
	if len(quotes) > 0 {
		return slices.Min(quotes)
	}
	return ""
}

// klines downloads 1h candles of every symbol over the series range (marks),
// of every quote asset in the valuation asset (BTC → BTCUSDT, to convert sum
// rows; a pair the venue does not list leaves that quote's amounts out of the
// sum rows, which are then partial), and of every third fee asset against its
// quote over the fills that paid it (fee prices). A fee pair the venue does
// not list leaves those fees unconverted (reported, never dropped) rather
// than failing the run.
func (r *runner) klines(ctx context.Context, fills []Fill, quotes []string, valuation string) (marks, *pnl.KlinePrices, error) {
	mk := marks{}
	from := r.cfg.From.Truncate(MarkInterval)
	for _, sym := range r.cfg.Symbols {
		r.prog.Symbol = sym
		r.report()
		ks, err := r.cfg.Venue.Klines(ctx, sym, "1h", from, r.cfg.To)
		if err != nil && ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("backfill %q: klines of %s: %w", r.cfg.Account.Name, sym, err)
		}
		slices.SortFunc(ks, func(a, b venue.Kline) int { return a.OpenTime.Compare(b.OpenTime) })
		if err := r.keepKlines(ctx, sym, ks); err != nil {
			return nil, nil, err
		}
		mk[sym] = ks
	}
	for _, q := range quotes {
		sym := q + valuation
		if q == valuation || mk[sym] != nil {
			continue
		}
		ks, err := r.cfg.Venue.Klines(ctx, sym, "1h", from, r.cfg.To)
		if err != nil {
			if ctx.Err() != nil || venue.ClassOf(err) != venue.ClassRejected && venue.ClassOf(err) != venue.ClassInvalid &&
				venue.ClassOf(err) != venue.ClassNotFound {
				return nil, nil, fmt.Errorf("backfill %q: klines of %s to value %s in %s: %w", r.cfg.Account.Name, sym, q, valuation, err)
			}
			continue // no such market: the sum rows leave q out and are partial
		}
		slices.SortFunc(ks, func(a, b venue.Kline) int { return a.OpenTime.Compare(b.OpenTime) })
		if err := r.keepKlines(ctx, sym, ks); err != nil {
			return nil, nil, err
		}
		mk[sym] = ks
	}
	pricer := pnl.NewKlinePrices(MarkInterval)
	type span struct{ from, to time.Time }
	need := map[pnl.Pair]*span{}
	var order []pnl.Pair
	for i := range fills {
		f := &fills[i]
		if f.Fee.IsZero() || f.FeeAsset == "" || f.FeeAsset == f.Base || f.FeeAsset == f.Quote {
			continue
		}
		p := pnl.Pair{Asset: f.FeeAsset, Quote: f.Quote}
		s := need[p]
		if s == nil {
			s = &span{f.Time, f.Time}
			need[p] = s
			order = append(order, p)
		}
		s.from, s.to = minTime(s.from, f.Time), maxTime(s.to, f.Time)
	}
	for _, p := range order {
		s := need[p]
		sym := p.Asset + p.Quote
		if ks, ok := mk[sym]; ok && !s.from.Before(from) {
			pricer.Add(p.Asset, p.Quote, slices.Clone(ks))
			continue
		}
		ks, err := r.cfg.Venue.Klines(ctx, sym, "1h", s.from.Truncate(MarkInterval), s.to.Add(MarkInterval).Truncate(MarkInterval))
		if err != nil {
			if ctx.Err() != nil || venue.ClassOf(err) != venue.ClassRejected && venue.ClassOf(err) != venue.ClassInvalid &&
				venue.ClassOf(err) != venue.ClassNotFound {
				return nil, nil, fmt.Errorf("backfill %q: klines of %s for fees: %w", r.cfg.Account.Name, sym, err)
			}
			continue // no such market: those fees stay unconverted
		}
		pricer.Add(p.Asset, p.Quote, ks)
	}
	return mk, pricer, nil
}

// keepKlines stores the downloaded candles of sym, so a replay can stream
// them (tradeplane replay --source db) without downloading them again.
func (r *runner) keepKlines(ctx context.Context, sym string, ks []venue.Kline) error {
	out := make([]store.Kline, len(ks))
	for i, k := range ks {
		out[i] = store.Kline{OpenTime: k.OpenTime, Open: k.Open, High: k.High, Low: k.Low, Close: k.Close, Volume: k.Volume}
	}
	key := store.KlineKey{Venue: r.cfg.Account.Venue, Symbol: sym, Interval: MarkInterval}
	if err := r.cfg.DB.PutKlines(ctx, key, out); err != nil {
		return fmt.Errorf("backfill %q: %w", r.cfg.Account.Name, err)
	}
	return nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Builder replays fills in time order and produces the points of an account
// scope and of each session scope at given times. It is what Run uses and
// what a live recorder can use to produce comparable points. Not safe for
// concurrent use.
type Builder struct {
	Method pnl.Method
	Pricer pnl.FeePricer // fees in a third asset; nil leaves them unconverted
	// Marks returns the mark of a symbol at a time, false when unknown (the
	// engine then marks at the symbol's last fill price and the point is
	// partial).
	Marks         func(symbol string, at time.Time) (Decimal, bool)
	OpeningEquity Decimal // of the account scope, in Valuation; sessions start at zero
	AccountScope  string  // "account:NAME"
	// Valuation is the asset of the sum rows. Amounts of symbols quoted in
	// another asset Q are converted at Marks(Q+Valuation, at); "" means each
	// scope's sum row is in its symbols' quote when they share one, and
	// DefaultValuation of them when they do not.
	Valuation string

	account  *scopeState
	sessions map[string]*scopeState
	order    []string // session ids in order of first fill
}

type scopeState struct {
	scope   string
	engine  *pnl.Engine
	opening Decimal
	symbols []string // symbols with fills, in order of first fill
}

func (s *scopeState) add(f *Fill) error {
	if err := s.engine.Add(&f.Trade); err != nil {
		return err
	}
	if !slices.Contains(s.symbols, f.Symbol) {
		s.symbols = append(s.symbols, f.Symbol)
	}
	return nil
}

func (b *Builder) scope(name string, opening Decimal) (*scopeState, error) {
	e, err := pnl.NewEngine(b.Method, b.Pricer)
	if err != nil {
		return nil, err
	}
	return &scopeState{scope: name, engine: e, opening: opening}, nil
}

// Add applies one fill to the account scope and, when it has one, to its
// session's scope. Fills must come in engine order (see SortFills).
func (b *Builder) Add(f *Fill) error {
	if err := b.init(); err != nil {
		return err
	}
	if err := b.account.add(f); err != nil {
		return fmt.Errorf("replay fill %s/%s: %w", f.Symbol, f.ID, err)
	}
	if f.SessionID == "" {
		return nil
	}
	s := b.sessions[f.SessionID]
	if s == nil {
		var err error
		if s, err = b.scope("session:"+f.SessionID, Decimal{}); err != nil {
			return err
		}
		b.sessions[f.SessionID] = s
		b.order = append(b.order, f.SessionID)
	}
	if err := s.add(f); err != nil {
		return fmt.Errorf("replay fill %s/%s of session %s: %w", f.Symbol, f.ID, f.SessionID, err)
	}
	return nil
}

// AddFunding applies one funding payment to the account scope and, when
// it has one, to its session's scope (which must have fills already; a
// payment of a session without any is booked to the account alone).
func (b *Builder) AddFunding(f FundingRow) error {
	if err := b.init(); err != nil {
		return err
	}
	if err := b.account.addFunding(f.Funding); err != nil {
		return fmt.Errorf("replay funding %s/%s: %w", f.Symbol, f.ID, err)
	}
	if s := b.sessions[f.SessionID]; f.SessionID != "" && s != nil {
		if err := s.addFunding(f.Funding); err != nil {
			return fmt.Errorf("replay funding %s/%s of session %s: %w", f.Symbol, f.ID, f.SessionID, err)
		}
	}
	return nil
}

func (s *scopeState) addFunding(f pnl.Funding) error {
	if err := s.engine.AddFunding(f); err != nil {
		return err
	}
	if !slices.Contains(s.symbols, f.Symbol) {
		s.symbols = append(s.symbols, f.Symbol)
	}
	return nil
}

func (b *Builder) init() error {
	if b.account != nil {
		return nil
	}
	s, err := b.scope(b.AccountScope, b.OpeningEquity)
	if err != nil {
		return err
	}
	b.account, b.sessions = s, map[string]*scopeState{}
	return nil
}

// Points returns the points as of at: for the account scope always (before
// its first fill, a sum row of zeros with the opening equity) and for every
// session scope that has fills; one row per symbol with fills and one sum
// row (Symbol "") per scope, source "backfill".
func (b *Builder) Points(at time.Time) ([]store.PnLPoint, error) {
	if err := b.init(); err != nil {
		return nil, err
	}
	out, err := b.points(b.account, at, nil)
	if err != nil {
		return nil, err
	}
	for _, id := range b.order {
		if out, err = b.points(b.sessions[id], at, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (b *Builder) points(s *scopeState, at time.Time, out []store.PnLPoint) ([]store.PnLPoint, error) {
	marks := make(map[string]Decimal, len(s.symbols))
	missing := map[string]bool{}
	for _, sym := range s.symbols {
		if m, ok := b.Marks(sym, at); ok {
			marks[sym] = m
		} else {
			missing[sym] = true
		}
	}
	rep, err := s.engine.Report(marks)
	if err != nil {
		return nil, fmt.Errorf("points of %s at %s: %w", s.scope, at.Format(time.RFC3339), err)
	}
	// Per quote asset, exact sums in that asset.
	var byQuote []store.PnLPoint
	var quotes []string
	for _, sr := range rep.Symbols {
		p := store.PnLPoint{Scope: s.scope, Symbol: sr.Symbol, Source: SourceBackfill, At: at, Position: sr.Position,
			Mark: sr.Mark, Realized: sr.RealizedPnL, Fees: sr.FeesQuote, Unrealized: sr.UnrealizedPnL, Funding: sr.Funding, Net: sr.NetPnL,
			Equity: sr.NetPnL, Trades: int64(sr.Trades), Partial: missing[sr.Symbol] || len(sr.FeesUnconverted) > 0}
		out = append(out, p)
		i := slices.Index(quotes, sr.Quote)
		if i < 0 {
			quotes = append(quotes, sr.Quote)
			byQuote = append(byQuote, store.PnLPoint{Scope: s.scope, Symbol: QuoteRow(sr.Quote), Source: SourceBackfill, At: at})
			i = len(quotes) - 1
		}
		q := &byQuote[i]
		q.Realized = q.Realized.Add(p.Realized)
		q.Fees = q.Fees.Add(p.Fees)
		q.Unrealized = q.Unrealized.Add(p.Unrealized)
		q.Funding = q.Funding.Add(p.Funding)
		q.Net = q.Net.Add(p.Net)
		q.Equity = q.Net
		q.Trades += p.Trades
		q.Partial = q.Partial || p.Partial
	}
	val := b.Valuation
	if val == "" {
		val = DefaultValuation(slices.Sorted(slices.Values(quotes)))
	}
	// The sum row is in val: a quote's sums as they are when it is val,
	// else converted at the QUOTE+val mark of the step.
	sum := store.PnLPoint{Scope: s.scope, Source: SourceBackfill, At: at}
	converted := false
	for i, q := range byQuote {
		rate, ok := udecimal.One, true
		if quotes[i] != val {
			converted = true
			rate, ok = b.Marks(quotes[i]+val, at)
		}
		sum.Trades += q.Trades
		sum.Partial = sum.Partial || q.Partial
		if !ok {
			sum.Partial = true // this quote's amounts are left out, never added unconverted
			continue
		}
		sum.Realized = sum.Realized.Add(q.Realized.Mul(rate))
		sum.Fees = sum.Fees.Add(q.Fees.Mul(rate))
		sum.Unrealized = sum.Unrealized.Add(q.Unrealized.Mul(rate))
		sum.Funding = sum.Funding.Add(q.Funding.Mul(rate))
	}
	sum.Net = sum.Realized.Sub(sum.Fees).Add(sum.Funding).Add(sum.Unrealized)
	sum.Equity = s.opening.Add(sum.Net)
	if converted {
		slices.SortFunc(byQuote, func(a, b store.PnLPoint) int { return cmp.Compare(a.Symbol, b.Symbol) })
		out = append(out, byQuote...)
	}
	return append(out, sum), nil
}
