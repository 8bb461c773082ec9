package backfill

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/pnl"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/tradecsv"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// Decimal is the exact decimal of every amount (venue.Decimal).
type Decimal = venue.Decimal

// SourceBackfill is the source of fills, points and equity snapshots a
// backfill stores.
const SourceBackfill = "backfill"

// Window is the longest trade-history query Run sends (Binance's cap).
const Window = 24 * time.Hour

// MarkInterval is the candle interval Run downloads for marks and fee
// prices.
const MarkInterval = time.Hour

// pointBatch is how many points Run writes per transaction.
const pointBatch = 5000

// ParseInterval parses "1h" or "1d" (also "24h"), the intervals of stored
// series and reports; "" means 1h. Anything else wraps ErrInput.
func ParseInterval(s string) (time.Duration, error) {
	switch s {
	case "", "1h":
		return time.Hour, nil
	case "1d", "24h":
		return 24 * time.Hour, nil
	}
	return 0, fmt.Errorf("parse interval %q: want 1h or 1d: %w", s, ErrInput)
}

// IntervalName is the inverse of ParseInterval for its two intervals.
func IntervalName(d time.Duration) string {
	switch d {
	case time.Hour:
		return "1h"
	case 24 * time.Hour:
		return "1d"
	}
	return d.String()
}

// Config is one backfill of one account.
type Config struct {
	DB      *store.DB
	Venue   venue.Venue // the account's venue; its adapter paces requests by the venue's weights
	Account store.Account
	// Symbols are venue symbols (BTCUSDT). Empty means every symbol of the
	// account's stored fills and of its sessions.
	Symbols []string
	// From and To bound the download and the stored series: [From, To).
	From, To time.Time
	// Interval is the step of the stored series: time.Hour (default) or
	// 24 hours. Points sit at multiples of it (UTC).
	Interval time.Duration
	// OpeningEquity is the account's equity before its first fill, in the
	// Valuation asset; account equity = OpeningEquity + net PnL. Sessions
	// start at zero (their equity is their net PnL).
	OpeningEquity Decimal
	// OpeningHoldings are assets the account held before the first fill
	// the series counts (deposits, history older than the stored fills),
	// other than the Valuation asset, which needs Valuation set. Each is
	// taken into the account scope as a position bought at the mark of
	// ASSET+VALUATION at the first step (or first fill, when earlier), with
	// no fee, so its value moves with the market in net PnL as the live
	// equity of the holdings does; OpeningEquity should then include their
	// value at that mark. Without them a sale of an asset held from before
	// shows as a short position. ASSET+VALUATION joins Symbols.
	OpeningHoldings []pnl.AssetAmount
	// Valuation is the asset the sum rows (and so equity) are in; "" means
	// DefaultValuation of the symbols' quote assets (their quote when they
	// share one). Amounts quoted in another asset are converted into it at
	// the mark of QUOTE+VALUATION (e.g. BTCUSDT) at each step; see the
	// package doc.
	Valuation string
	// Method is the cost-basis method; "" is average cost. Net PnL is the
	// same under both.
	Method pnl.Method
	// Refetch downloads ranges a checkpoint marks as done again (to pick up
	// trades the venue reported late); it never duplicates a fill.
	Refetch bool
	// PageLimit is the trades per page asked of the venue (0: its maximum).
	PageLimit int
	// Progress, when set, is called after every window and phase change on
	// Run's goroutine; it must not block for long.
	Progress func(Progress)
	Clock    clock.Clock // default the wall clock
}

// Progress is how far a Run has got.
type Progress struct {
	Phase        string        `json:"phase"` // "trades", "funding", "klines", "rebuild", "done"
	Symbol       string        `json:"symbol,omitempty"`
	WindowsDone  int           `json:"windows_done"`  // trade windows done, skipped ones included
	WindowsTotal int           `json:"windows_total"` // every window of every symbol in [From, To)
	Trades       int64         `json:"trades"`        // trades downloaded by this run
	NewFills     int64         `json:"new_fills"`     // of which were not stored before
	Points       int           `json:"points"`        // series points written
	Elapsed      time.Duration `json:"elapsed_ns"`
	ETA          time.Duration `json:"eta_ns"` // estimated time left in the download; 0 when unknown or done
}

// Result is what a Run did.
type Result struct {
	Symbols        []string `json:"symbols"`
	Windows        int      `json:"windows"`         // trade windows downloaded
	WindowsSkipped int      `json:"windows_skipped"` // covered by a checkpoint
	Trades         int64    `json:"trades"`          // trades downloaded
	NewFills       int64    `json:"new_fills"`       // fills stored by this run
	Fills          int      `json:"fills"`           // fills the series were built from
	// Merged is how many stored fills were recognised as another source's
	// copy of a fill already counted (an imported row without a trade id
	// matching a fill with the venue's trade id) and left out; see MergeSources.
	Merged      int               `json:"merged_fills"`
	Funding     int64             `json:"funding_payments"`     // funding payments read (venues with positions)
	NewFunding  int64             `json:"new_funding_payments"` // of which were not stored before
	Points      int               `json:"points"`               // points written
	Scopes      []string          `json:"scopes"`               // scopes with points, sorted
	Unconverted []pnl.AssetAmount `json:"fees_unconverted"`     // account fees no price was known for
	Valuation   string            `json:"valuation"`            // the asset of sum rows and equity
	Quotes      []string          `json:"quotes"`               // the quote assets of the symbols, sorted
	Elapsed     time.Duration     `json:"elapsed_ns"`
}

// Run backfills one account: for each symbol it downloads the trade history
// of [From, To) in windows of at most 24 hours, paging with the venue's
// cursor, and stores new fills (source "backfill", attributed to sessions as
// the package doc says), checkpointing each symbol after every window; it
// downloads 1h candles of every symbol for marks and of every third fee
// asset (BNB → BNBUSDT) for fee conversion at the fill's time; then it
// rebuilds the PnL of the account and of each session from all stored fills
// and upserts one point per Interval step per scope and symbol.
//
// A canceled Run keeps every finished window; the next Run over the range
// continues after the checkpoint. A rerun over a finished range downloads no
// trades and rewrites the same points, so it changes nothing. Errors wrap
// ErrInput for a bad Config, the venue's error classes for venue failures,
// and ctx.Err() when canceled.
func Run(ctx context.Context, cfg Config) (Result, error) {
	r, err := newRun(ctx, cfg)
	if err != nil {
		return Result{}, err
	}
	return r.run(ctx)
}

// assetName is what an asset's name may be: it is joined with the valuation
// asset into a venue symbol (BTC and USDT make BTCUSDT).
var assetName = regexp.MustCompile(`^[A-Za-z0-9]{1,20}$`)

// MaxOpeningHoldings bounds Config.OpeningHoldings: each adds a symbol whose
// klines the backfill downloads.
const MaxOpeningHoldings = 100

// CheckOpening checks Config.Valuation and Config.OpeningHoldings together:
// a valuation asset, when given, is a plain asset name; holdings need one,
// and each is a positive amount of a plainly named asset other than it; at
// most MaxOpeningHoldings. Errors wrap ErrInput and name the holding; the
// server and the CLI call it before a job is stored, Run before it starts.
func CheckOpening(valuation string, holdings []pnl.AssetAmount) error {
	if valuation != "" && !assetName.MatchString(valuation) {
		return fmt.Errorf("valuation %q: want an asset name such as USDT: %w", valuation, ErrInput)
	}
	if len(holdings) > MaxOpeningHoldings {
		return fmt.Errorf("%d opening holdings: at most %d: %w", len(holdings), MaxOpeningHoldings, ErrInput)
	}
	for _, h := range holdings {
		switch {
		case valuation == "":
			return fmt.Errorf("opening holding %s %s: opening holdings need a valuation asset (such as USDT) to be valued in: %w",
				h.Amount, h.Asset, ErrInput)
		case !assetName.MatchString(h.Asset) || strings.EqualFold(h.Asset, valuation) || !h.Amount.IsPos():
			return fmt.Errorf("opening holding %s %s: want a positive amount of an asset other than %s: %w",
				h.Amount, h.Asset, valuation, ErrInput)
		}
	}
	return nil
}

type runner struct {
	cfg      Config
	clk      clock.Clock
	start    time.Time
	res      Result
	prog     Progress
	orders   map[string]orderRef  // by symbol+"|"+venue order id, or "c|"+client id
	loaded   map[string]time.Time // symbols whose orders are in orders, and when they were read
	symParts map[string][2]string
	venueSym map[string]venue.Symbol
}

type orderRef struct{ clientID, sessionID string }

func newRun(ctx context.Context, cfg Config) (*runner, error) {
	if cfg.DB == nil || cfg.Venue == nil {
		return nil, fmt.Errorf("backfill: database and venue are required: %w", ErrInput)
	}
	if cfg.Account.ID == 0 {
		return nil, fmt.Errorf("backfill: account %q has no id: %w", cfg.Account.Name, ErrInput)
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Hour
	}
	if cfg.Interval != time.Hour && cfg.Interval != 24*time.Hour {
		return nil, fmt.Errorf("backfill %q: interval %s: want 1h or 1d: %w", cfg.Account.Name, cfg.Interval, ErrInput)
	}
	cfg.From, cfg.To = cfg.From.UTC(), cfg.To.UTC()
	if err := CheckSpan(cfg.From, cfg.To); err != nil {
		return nil, fmt.Errorf("backfill %q: %w", cfg.Account.Name, err)
	}
	if _, err := pnl.ParseMethod(string(cfg.Method)); err != nil {
		return nil, fmt.Errorf("backfill %q: %w: %w", cfg.Account.Name, ErrInput, err)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	r := &runner{cfg: cfg, clk: cfg.Clock, orders: map[string]orderRef{}, loaded: map[string]time.Time{},
		symParts: map[string][2]string{}}
	if len(cfg.Symbols) == 0 {
		syms, err := r.accountSymbols(ctx)
		if err != nil {
			return nil, err
		}
		if len(syms) == 0 {
			return nil, fmt.Errorf("backfill %q: no symbols: the account has no fills or sessions, name the symbols: %w",
				cfg.Account.Name, ErrInput)
		}
		r.cfg.Symbols = syms
	}
	r.cfg.Symbols = slices.Clone(r.cfg.Symbols)
	if err := CheckOpening(cfg.Valuation, cfg.OpeningHoldings); err != nil {
		return nil, fmt.Errorf("backfill %q: %w", cfg.Account.Name, err)
	}
	for _, h := range cfg.OpeningHoldings {
		r.cfg.Symbols = append(r.cfg.Symbols, strings.ToUpper(h.Asset+cfg.Valuation))
	}
	slices.Sort(r.cfg.Symbols)
	r.cfg.Symbols = slices.Compact(r.cfg.Symbols)
	return r, nil
}

// accountSymbols is the union of the symbols of the account's fills and
// sessions.
func (r *runner) accountSymbols(ctx context.Context) ([]string, error) {
	syms, err := r.cfg.DB.FillSymbols(ctx, r.cfg.Account.ID)
	if err != nil {
		return nil, fmt.Errorf("backfill %q: %w", r.cfg.Account.Name, err)
	}
	ss, err := r.cfg.DB.Sessions(ctx, store.SessionFilter{AccountID: r.cfg.Account.ID})
	if err != nil {
		return nil, fmt.Errorf("backfill %q: %w", r.cfg.Account.Name, err)
	}
	for _, s := range ss {
		for _, sym := range s.Symbols {
			syms = append(syms, strings.ToUpper(strings.ReplaceAll(sym, "/", "")))
		}
	}
	return syms, nil
}

// plan is the windows left to download for one symbol.
type plan struct {
	symbol  string
	cp      store.BackfillCheckpoint
	windows [][2]time.Time
	skipped int
}

func (r *runner) run(ctx context.Context) (Result, error) {
	r.start = r.clk.Now()
	r.res.Symbols = r.cfg.Symbols
	plans := make([]plan, 0, len(r.cfg.Symbols))
	for _, sym := range r.cfg.Symbols {
		p, err := r.plan(ctx, sym)
		if err != nil {
			return r.res, err
		}
		r.prog.WindowsTotal += len(p.windows) + p.skipped
		r.prog.WindowsDone += p.skipped
		r.res.WindowsSkipped += p.skipped
		plans = append(plans, p)
	}
	r.prog.Phase = "trades"
	r.report()
	for i := range plans {
		if err := r.download(ctx, &plans[i]); err != nil {
			return r.res, err
		}
	}
	if err := r.downloadFunding(ctx); err != nil {
		return r.res, err
	}
	if err := r.rebuild(ctx); err != nil {
		return r.res, err
	}
	r.prog.Phase, r.prog.ETA = "done", 0
	r.res.Elapsed = r.clk.Now().Sub(r.start)
	r.report()
	return r.res, nil
}

// plan reads the symbol's checkpoint and lists the windows left.
func (r *runner) plan(ctx context.Context, sym string) (plan, error) {
	p := plan{symbol: sym}
	from := r.cfg.From
	cp, err := r.cfg.DB.BackfillCheckpoint(ctx, r.cfg.Account.ID, sym)
	switch {
	case err == nil && !r.cfg.Refetch && !cp.From.After(from) && cp.Until.After(from):
		p.cp = cp
		for t := from; t.Before(r.cfg.To) && !t.Add(Window).After(cp.Until); t = t.Add(Window) {
			p.skipped++
		}
		from = from.Add(time.Duration(p.skipped) * Window)
		if cp.Until.After(from) && cp.Until.Before(r.cfg.To) {
			// A window stopped short by the "now" clamp: continue from there.
			from = cp.Until
		}
	case err == nil || errors.Is(err, store.ErrNotFound):
		p.cp = store.BackfillCheckpoint{AccountID: r.cfg.Account.ID, Symbol: sym, From: from, Until: from}
	default:
		return p, fmt.Errorf("backfill %q: %w", r.cfg.Account.Name, err)
	}
	for t := from; t.Before(r.cfg.To); t = t.Add(Window) {
		p.windows = append(p.windows, [2]time.Time{t, minTime(t.Add(Window), r.cfg.To)})
	}
	return p, nil
}

// download fetches the planned windows of one symbol, storing fills and
// the checkpoint after each.
func (r *runner) download(ctx context.Context, p *plan) error {
	r.prog.Symbol = p.symbol
	for _, w := range p.windows {
		var fills []store.Fill
		q := venue.TradeQuery{Symbol: p.symbol, From: w[0], To: w[1], Limit: r.cfg.PageLimit}
		for {
			page, err := r.cfg.Venue.Trades(ctx, q)
			if err != nil && ctx.Err() != nil {
				err = fmt.Errorf("%w (%w)", ctx.Err(), err) // adapters may not wrap the cancel
			}
			if err != nil {
				return fmt.Errorf("backfill %q: trades of %s in [%s, %s): %w", r.cfg.Account.Name, p.symbol,
					w[0].Format(time.RFC3339), w[1].Format(time.RFC3339), err)
			}
			for _, t := range page.Trades {
				f, err := r.fill(ctx, t)
				if err != nil {
					return err
				}
				fills = append(fills, f)
			}
			if page.Next == "" || page.Next == q.Cursor {
				break
			}
			q.Cursor = page.Next
		}
		n, err := r.cfg.DB.InsertFills(ctx, fills)
		if err != nil {
			return fmt.Errorf("backfill %q: store fills of %s: %w", r.cfg.Account.Name, p.symbol, err)
		}
		now := r.clk.Now()
		p.cp.Until = minTime(w[1], now.Add(-time.Minute))
		p.cp.Trades += int64(len(fills))
		p.cp.UpdatedAt = now
		if p.cp.Until.After(p.cp.From) {
			if err := r.cfg.DB.SetBackfillCheckpoint(ctx, p.cp); err != nil {
				return fmt.Errorf("backfill %q: %w", r.cfg.Account.Name, err)
			}
		}
		r.res.Windows++
		r.res.Trades += int64(len(fills))
		r.res.NewFills += int64(n)
		r.prog.WindowsDone++
		r.prog.Trades, r.prog.NewFills = r.res.Trades, r.res.NewFills
		if r.res.Windows > 0 {
			left := r.prog.WindowsTotal - r.prog.WindowsDone
			r.prog.ETA = now.Sub(r.start) / time.Duration(r.res.Windows) * time.Duration(left)
		}
		r.report()
	}
	return nil
}

// downloadFunding stores the funding payments of [From, To) of a venue with
// positions (venue.PositionReader): perpetual funding is part of PnL and is
// in no trade history. A venue without positions has none.
func (r *runner) downloadFunding(ctx context.Context) error {
	pr, ok := r.cfg.Venue.(venue.PositionReader)
	if !ok {
		return nil
	}
	r.prog.Phase, r.prog.Symbol = "funding", ""
	r.report()
	ps, err := pr.FundingPayments(ctx, "", r.cfg.From, r.cfg.To)
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	if err != nil {
		return fmt.Errorf("backfill %q: funding payments in [%s, %s): %w", r.cfg.Account.Name,
			r.cfg.From.Format(time.RFC3339), r.cfg.To.Format(time.RFC3339), err)
	}
	// Each goes to the session that held the position (the fills are all
	// stored by now), by the live path's rule; one stored already keeps
	// what it has.
	owners := journal.NewPositionOwners(r.cfg.DB, r.cfg.Account.ID)
	rows := make([]store.FundingPayment, 0, len(ps))
	for _, p := range ps {
		sid, err := owners.Owner(ctx, p.Symbol, p.Time, p.PositionSize)
		if err != nil {
			return fmt.Errorf("backfill %q: funding %s/%s: %w", r.cfg.Account.Name, p.Symbol, p.ID, err)
		}
		rows = append(rows, store.FundingPayment{AccountID: r.cfg.Account.ID, Symbol: p.Symbol, PaymentID: p.ID, Asset: p.Asset,
			Amount: p.Amount, PositionSize: p.PositionSize, SessionID: sid, Source: SourceBackfill, At: p.Time.UTC()})
	}
	n, err := r.cfg.DB.InsertFundingPayments(ctx, rows)
	if err != nil {
		return fmt.Errorf("backfill %q: %w", r.cfg.Account.Name, err)
	}
	r.res.Funding += int64(len(rows))
	r.res.NewFunding += int64(n)
	return nil
}

// fill turns a venue trade into a fill row, attributed to its session when
// its order is one of a session's.
func (r *runner) fill(ctx context.Context, t venue.Trade) (store.Fill, error) {
	ref, err := r.attribute(ctx, t)
	if err != nil {
		return store.Fill{}, err
	}
	quote := t.QuoteQty
	if quote.IsZero() {
		quote = t.Price.Mul(t.Quantity)
	}
	return store.Fill{
		AccountID: r.cfg.Account.ID, Symbol: t.Symbol, TradeID: t.ID, ClientOrderID: ref.clientID,
		VenueOrderID: t.VenueOrderID, SessionID: ref.sessionID, Side: string(t.Side), Price: t.Price,
		Quantity: t.Quantity, QuoteQty: quote, Fee: t.Fee, FeeAsset: t.FeeAsset, Maker: t.Maker,
		Source: SourceBackfill, At: t.Time.UTC(),
	}, nil
}

// attribute finds the order of a trade: by client order id when the venue
// reports it, else by venue order id. An order that is not ours (or of
// another account) leaves the fill to the account alone.
func (r *runner) attribute(ctx context.Context, t venue.Trade) (orderRef, error) {
	key := "c|" + t.ClientOrderID
	if t.ClientOrderID == "" {
		if t.VenueOrderID == "" {
			return orderRef{}, nil
		}
		key = t.Symbol + "|" + t.VenueOrderID
	}
	if ref, ok := r.orders[key]; ok {
		return ref, nil
	}
	if err := r.loadOrders(ctx, t.Symbol); err != nil {
		return orderRef{}, err
	}
	if ref, ok := r.orders[key]; ok {
		return ref, nil
	}
	// Not among the orders read at the start: unless the order may have been
	// written since (a live session trading now), it is not ours.
	if t.Time.Before(r.loaded[t.Symbol].Add(-time.Hour)) {
		return orderRef{clientID: t.ClientOrderID}, nil
	}
	var o store.Order
	var err error
	if t.ClientOrderID != "" {
		o, err = r.cfg.DB.OrderByClientID(ctx, t.ClientOrderID)
	} else {
		o, err = r.cfg.DB.OrderByVenueID(ctx, r.cfg.Account.ID, t.Symbol, t.VenueOrderID)
	}
	ref := orderRef{clientID: t.ClientOrderID}
	switch {
	case err == nil && o.AccountID == r.cfg.Account.ID:
		ref = orderRef{clientID: o.ClientOrderID, sessionID: o.SessionID}
	case err == nil, errors.Is(err, store.ErrNotFound):
	default:
		return ref, fmt.Errorf("backfill %q: attribute trade %s/%s: %w", r.cfg.Account.Name, t.Symbol, t.ID, err)
	}
	r.orders[key] = ref
	return ref, nil
}

// loadOrders reads the account's orders in symbol once, so that a window's
// fills are attributed without a query each.
func (r *runner) loadOrders(ctx context.Context, symbol string) error {
	if _, ok := r.loaded[symbol]; ok {
		return nil
	}
	now := r.clk.Now()
	os, err := r.cfg.DB.AccountOrders(ctx, r.cfg.Account.ID, symbol)
	if err != nil {
		return fmt.Errorf("backfill %q: %w", r.cfg.Account.Name, err)
	}
	for _, o := range os {
		ref := orderRef{clientID: o.ClientOrderID, sessionID: o.SessionID}
		r.orders["c|"+o.ClientOrderID] = ref
		if o.VenueOrderID != "" {
			r.orders[symbol+"|"+o.VenueOrderID] = ref
		}
	}
	r.loaded[symbol] = now
	return nil
}

func (r *runner) report() {
	if r.cfg.Progress == nil {
		return
	}
	r.prog.Elapsed = r.clk.Now().Sub(r.start)
	r.prog.Points = r.res.Points
	r.cfg.Progress(r.prog)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// split returns the base and quote of a venue symbol, asking the venue when
// the name alone does not tell.
func (r *runner) split(ctx context.Context, sym string) (string, string, error) {
	if p, ok := r.symParts[sym]; ok {
		return p[0], p[1], nil
	}
	base, quote, err := tradecsv.SplitSymbol(sym)
	if err != nil {
		if r.venueSym == nil {
			r.venueSym = map[string]venue.Symbol{}
			if syms, verr := r.cfg.Venue.Symbols(ctx); verr == nil {
				for _, s := range syms {
					r.venueSym[s.Name] = s
				}
			}
		}
		s, ok := r.venueSym[sym]
		if !ok {
			return "", "", fmt.Errorf("backfill %q: symbol %s: %w: %w", r.cfg.Account.Name, sym, ErrInput, err)
		}
		base, quote = s.Base, s.Quote
	}
	r.symParts[sym] = [2]string{base, quote}
	return base, quote, nil
}

// steps returns the series times in [from, to): multiples of interval.
func steps(from, to time.Time, interval time.Duration) []time.Time {
	t := from.Truncate(interval)
	if t.Before(from) {
		t = t.Add(interval)
	}
	var out []time.Time
	for ; t.Before(to); t = t.Add(interval) {
		out = append(out, t)
	}
	return out
}

// marks holds 1h candles per symbol, sorted by open time.
type marks map[string][]venue.Kline

// at returns the mark of sym at t: the open of the candle holding t, else
// the close of the last candle before t; false when no candle precedes t.
func (m marks) at(sym string, t time.Time) (Decimal, bool) {
	ks := m[sym]
	i := sort.Search(len(ks), func(i int) bool { return ks[i].OpenTime.After(t) }) - 1
	if i < 0 {
		return Decimal{}, false
	}
	if t.Before(ks[i].OpenTime.Add(MarkInterval)) {
		return ks[i].Open, true
	}
	return ks[i].Close, true
}
