package replay

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/pnl"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/tradecsv"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// Result is what a replay produced, in the existing contracts.
type Result struct {
	Summary Summary `json:"summary"`
	// PnL is the desk's PnL report (as `pnl compute`), marked at the last
	// closes; Sessions holds one report per session.
	PnL      pnl.Report      `json:"pnl"`
	Sessions []SessionResult `json:"sessions"`
	// Equity is the desk's value in the quote currency at each snapshot;
	// Hourly and Daily its interval averages (UTC-aligned).
	Equity []EquityPoint        `json:"equity"`
	Hourly []pnl.IntervalMean   `json:"hourly"`
	Daily  []pnl.IntervalMean   `json:"daily"`
	Trades []tradecsv.Trade     `json:"-"` // WriteTrades writes them as the canonical trade CSV
	fills  []pnl.Fill           // labelled trades
	events []store.JournalEvent // with Config.KeepJournal only
	kept   bool
	placed int64                // intents journaled
	final  []store.EventOutcome // orders by their final event
	marks  map[string]Decimal
}

// ErrJournalNotKept is Result.Journal's answer for a replay run without
// Config.KeepJournal.
var ErrJournalNotKept = errors.New("the replay did not keep its journal (Config.KeepJournal)")

// Summary is the replay's headline numbers.
type Summary struct {
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	Bars       int64     `json:"bars"`
	Steps      int64     `json:"steps"`
	Quote      string    `json:"quote"`
	StartValue Decimal   `json:"start_value"`
	EndValue   Decimal   `json:"end_value"`
	NetPnL     Decimal   `json:"net_pnl"`
	Fees       Decimal   `json:"fees"`
	// MaxDrawdown is the largest fall of the equity curve from a peak, in
	// quote; MaxDrawdownPct as a fraction of that peak.
	MaxDrawdown    Decimal `json:"max_drawdown"`
	MaxDrawdownPct Decimal `json:"max_drawdown_pct"`
	// Exposure is the share of the desk's value held in assets other than
	// the quote: the mean over the snapshots and the largest.
	ExposureAvg Decimal `json:"exposure_avg"`
	ExposureMax Decimal `json:"exposure_max"`
	// Orders counts orders by final journal state (intent = placed).
	Orders map[string]int64 `json:"orders"`
	// Failures counts the orders that ended rejected or failed, by error
	// class (insufficient_funds, rejected, allocation, rate_limited, ...).
	Failures map[string]int64 `json:"failures"`
	// StepFailures counts failed steps by kind (error, panic, aborted,
	// ...); a step whose order was refused fails with it.
	StepFailures map[string]int64 `json:"step_failures"`
	Trades       int              `json:"trades"`
}

// SessionResult is one session's outcome.
type SessionResult struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Strategy string     `json:"strategy"`
	Account  string     `json:"account"`
	Steps    int64      `json:"steps"`
	Failed   int64      `json:"failed_steps"`
	Skipped  int64      `json:"skipped_steps"`
	State    string     `json:"state"`
	PnL      pnl.Report `json:"pnl"`
}

// EquityPoint is one snapshot of the desk's value.
type EquityPoint struct {
	Time     time.Time `json:"time"`
	Value    Decimal   `json:"value"`
	Exposure Decimal   `json:"exposure"`
	// Accounts is each account's part of Value, by account name: its
	// holdings (starting balances plus fills) at the same prices.
	Accounts map[string]Decimal `json:"accounts,omitempty"`
}

// tracker follows every journaled fill: each session's spent quote (its
// exposure for the allocation check, as the server's tracker) and each
// account's holdings (starting balances plus fills) for the equity curve,
// without a venue request that would draw on the fault injector.
type tracker struct {
	mu    sync.Mutex
	spent map[string]Decimal           // session → quote paid for buys minus received for sells
	hold  map[int64]map[string]Decimal // account → asset → amount
	fees  map[string]Decimal           // asset → fees paid
}

func newTracker() *tracker {
	return &tracker{spent: map[string]Decimal{}, hold: map[int64]map[string]Decimal{}, fees: map[string]Decimal{}}
}

func (t *tracker) fund(account int64, asset string, amount Decimal) {
	t.mu.Lock()
	defer t.mu.Unlock()
	h := t.hold[account]
	if h == nil {
		h = map[string]Decimal{}
		t.hold[account] = h
	}
	h[asset] = h[asset].Add(amount)
}

func (t *tracker) onEvent(ev journal.Event) {
	if ev.Kind != journal.KindFill {
		return
	}
	base, quote, err := tradecsv.SplitSymbol(ev.Symbol)
	if err != nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	notional := ev.Price.Mul(ev.Quantity)
	h := t.hold[ev.AccountID]
	if h == nil {
		h = map[string]Decimal{}
		t.hold[ev.AccountID] = h
	}
	if ev.Side == venue.Buy {
		h[base] = h[base].Add(ev.Quantity)
		h[quote] = h[quote].Sub(notional)
		if ev.SessionID != "" {
			t.spent[ev.SessionID] = t.spent[ev.SessionID].Add(notional)
		}
	} else {
		h[base] = h[base].Sub(ev.Quantity)
		h[quote] = h[quote].Add(notional)
		if ev.SessionID != "" {
			t.spent[ev.SessionID] = t.spent[ev.SessionID].Sub(notional)
		}
	}
	if ev.FeeAsset != "" && !ev.Fee.IsZero() {
		h[ev.FeeAsset] = h[ev.FeeAsset].Sub(ev.Fee)
		t.fees[ev.FeeAsset] = t.fees[ev.FeeAsset].Add(ev.Fee)
	}
}

func (t *tracker) exposure(sessionID string) Decimal {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.spent[sessionID]; s.IsPos() {
		return s
	}
	return udecimal.Zero
}

// quote is the replay's valuation currency: the quote of the first market.
func (e *engine) quote() string {
	if len(e.srcs) > 0 {
		if s, ok := e.syms[e.srcs[0].Symbol]; ok {
			return s.Quote
		}
	}
	return "USDT"
}

// value is the desk's value in the quote at the last closes, the part
// held in other assets, and each account's value by name. An asset without
// a close is left out.
func (e *engine) value() (total, other Decimal, accounts map[string]Decimal) {
	q := e.quote()
	e.track.mu.Lock()
	defer e.track.mu.Unlock()
	accounts = make(map[string]Decimal, len(e.track.hold))
	for id, h := range e.track.hold {
		var acct Decimal
		for asset, amt := range h {
			if asset == q {
				acct = acct.Add(amt)
				continue
			}
			if p, err := e.price(context.Background(), asset+q); err == nil {
				v := amt.Mul(p)
				acct, other = acct.Add(v), other.Add(v)
			}
		}
		total = total.Add(acct)
		if a, ok := e.byID[id]; ok {
			accounts[a.spec.Name] = acct
		}
	}
	return total, other, accounts
}

// snapshot records the equity at t.
func (e *engine) snapshot(_ context.Context, t time.Time, final bool) error {
	if final && len(e.equity) > 0 && e.equity[len(e.equity)-1].Time.Equal(t) {
		e.equity = e.equity[:len(e.equity)-1]
	}
	total, other, accounts := e.value()
	exp := udecimal.Zero
	if total.IsPos() {
		exp, _ = other.Div(total)
	}
	e.equity = append(e.equity, EquityPoint{Time: t, Value: total, Exposure: exp, Accounts: accounts})
	return nil
}

// result reads the replay's record back from the store, the way the
// server's reports do.
func (e *engine) result(ctx context.Context) (*Result, error) {
	// Every session stops (its runner goroutine ends) before the record is
	// read, so nothing is written behind the report.
	states := map[string]string{}
	for _, s := range e.sess {
		got, err := e.mgr.Get(ctx, s.id)
		if err == nil {
			states[s.id] = string(got.State)
		}
	}
	e.mgr.Close()
	e.mgr = nil
	res := &Result{marks: map[string]Decimal{}}
	for _, c := range e.srcs {
		if c.hasClose {
			res.marks[c.Symbol] = c.close
		}
	}
	names := map[int64]string{}
	for _, a := range e.accts {
		names[a.id] = a.spec.Name
	}
	q := store.FillQuery{Limit: 100000}
	for {
		fs, err := e.db.Fills(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("read replay fills: %w", err)
		}
		// Grown once per page, not by doubling: a year's fills are
		// large rows, and the copies showed in the profile.
		res.Trades = slices.Grow(res.Trades, len(fs))
		res.fills = slices.Grow(res.fills, len(fs))
		for _, f := range fs {
			base, quote, err := tradecsv.SplitSymbol(f.Symbol)
			if err != nil {
				return nil, err
			}
			tr := tradecsv.Trade{Time: f.At, Symbol: f.Symbol, Base: base, Quote: quote, Side: venue.Side(f.Side),
				Price: f.Price, Quantity: f.Quantity, Fee: f.Fee, FeeAsset: f.FeeAsset, ID: f.TradeID}
			res.Trades = append(res.Trades, tr)
			res.fills = append(res.fills, pnl.Fill{Trade: tr, Account: names[f.AccountID], Session: f.SessionID})
		}
		if len(fs) < q.Limit {
			break
		}
		last := fs[len(fs)-1]
		q.AfterAt, q.AfterID = last.At, last.ID
	}
	// Time order, ties by trade id (numeric): the order `pnl compute` uses.
	order := func(a, b tradecsv.Trade) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		ai, _ := strconv.ParseInt(a.ID, 10, 64)
		bi, _ := strconv.ParseInt(b.ID, 10, 64)
		return cmp.Compare(ai, bi)
	}
	slices.SortStableFunc(res.Trades, order)
	slices.SortStableFunc(res.fills, func(a, b pnl.Fill) int { return order(a.Trade, b.Trade) })
	var err error
	if res.PnL, err = pnl.Compute(res.Trades, e.cfg.Method, res.marks, nil); err != nil {
		return nil, fmt.Errorf("replay pnl: %w", err)
	}
	groups, err := pnl.ComputeGroups(res.fills, pnl.BySession, e.cfg.Method, res.marks, nil)
	if err != nil {
		return nil, fmt.Errorf("replay pnl by session: %w", err)
	}
	byID := map[string]pnl.Report{}
	for _, g := range groups {
		byID[g.Key] = g.Report
	}
	for _, s := range e.sess {
		rep, ok := byID[s.id]
		if !ok {
			rep, _ = pnl.Compute(nil, e.cfg.Method, nil, nil)
		}
		res.Sessions = append(res.Sessions, SessionResult{ID: s.id, Name: s.spec.Name, Strategy: s.spec.Strategy, Account: s.spec.Account,
			Steps: s.steps, Failed: s.failed, Skipped: s.skipped, State: states[s.id], PnL: rep})
	}
	// Orders by final state, counted by the store: one count per order,
	// its last terminal event, and for a rejected or failed one its error
	// class.
	if res.placed, err = e.db.CountEvents(ctx, string(journal.KindIntent)); err != nil {
		return nil, fmt.Errorf("read replay journal: %w", err)
	}
	if res.final, err = e.db.LastEventOutcomes(ctx, []string{string(journal.KindFilled), string(journal.KindCanceled),
		string(journal.KindRejected), string(journal.KindFailed)}); err != nil {
		return nil, fmt.Errorf("read replay journal: %w", err)
	}
	// The journal, oldest first, when asked for (most of a large desk's
	// memory otherwise). The pages are joined once at the end: appending
	// each page to the whole copied a year's tens of thousands of events
	// over and over.
	if res.kept = e.cfg.KeepJournal; res.kept {
		eq := store.EventQuery{Ascending: true, Limit: 10000}
		var pages [][]store.JournalEvent
		for {
			evs, err := e.db.JournalEvents(ctx, eq)
			if err != nil {
				return nil, fmt.Errorf("read replay journal: %w", err)
			}
			pages = append(pages, evs)
			if len(evs) < eq.Limit {
				break
			}
			eq.AfterSeq = evs[len(evs)-1].Seq
		}
		res.events = slices.Concat(pages...)
	}
	res.Equity = e.equity
	points := make([]pnl.Point, len(e.equity))
	for i, p := range e.equity {
		points[i] = pnl.Point{Time: p.Time, Value: p.Value}
	}
	end := e.last
	if len(points) > 0 && end.After(points[0].Time) {
		if res.Hourly, err = pnl.IntervalMeans(points, time.Hour, points[0].Time, end); err != nil {
			return nil, err
		}
		if res.Daily, err = pnl.IntervalMeans(points, 24*time.Hour, points[0].Time, end); err != nil {
			return nil, err
		}
	}
	res.Summary = e.summary(res)
	return res, nil
}

func (e *engine) summary(res *Result) Summary {
	s := Summary{From: e.first, To: e.last, Bars: e.bars, Steps: e.steps, Quote: e.quote(),
		Orders: map[string]int64{}, Failures: map[string]int64{}, StepFailures: map[string]int64{}, Trades: len(res.Trades)}
	for k, v := range e.stepErr {
		s.StepFailures[k] = v
	}
	for _, a := range e.cfg.Accounts {
		for _, b := range a.Balances {
			if b.Asset == s.Quote {
				s.StartValue = s.StartValue.Add(b.Amount)
			} else if p, ok := e.firstOpen(b.Asset + s.Quote); ok {
				s.StartValue = s.StartValue.Add(b.Amount.Mul(p))
			}
		}
	}
	if n := len(res.Equity); n > 0 {
		s.EndValue = res.Equity[n-1].Value
		peak := res.Equity[0].Value
		sum := udecimal.Zero
		for _, p := range res.Equity {
			if p.Value.GreaterThan(peak) {
				peak = p.Value
			}
			if dd := peak.Sub(p.Value); dd.GreaterThan(s.MaxDrawdown) {
				s.MaxDrawdown = dd
				if peak.IsPos() {
					s.MaxDrawdownPct, _ = dd.Div(peak)
				}
			}
			if p.Exposure.GreaterThan(s.ExposureMax) {
				s.ExposureMax = p.Exposure
			}
			sum = sum.Add(p.Exposure)
		}
		s.ExposureAvg, _ = sum.Div64(uint64(n))
	}
	for _, q := range res.PnL.TotalsByQuote {
		if q.Quote == s.Quote {
			s.NetPnL, s.Fees = q.NetPnL, q.FeesQuote
		}
	}
	if res.placed > 0 {
		s.Orders["placed"] = res.placed
	}
	for _, f := range res.final {
		s.Orders[f.Kind] += f.Orders
		if f.ErrorClass != "" {
			s.Failures[f.ErrorClass] += f.Orders
		}
	}
	return s
}

func (e *engine) firstOpen(symbol string) (Decimal, bool) {
	c, ok := e.bySym[symbol]
	if !ok || !c.first.IsPos() {
		return Decimal{}, false
	}
	return c.first, true
}

// WriteTrades writes the replay's fills as the canonical trade CSV, in the
// order `pnl compute` reads them.
func (r *Result) WriteTrades(w io.Writer) error {
	tw := tradecsv.NewWriter(w)
	for _, t := range r.Trades {
		if err := tw.Write(t); err != nil {
			return err
		}
	}
	return tw.Flush()
}

// JournalEntry is one journal event as a replay writes it: the stored
// event without the measured request latency (wall time, which differs run
// to run) and the node.
type JournalEntry struct {
	Seq           int64     `json:"seq"`
	At            time.Time `json:"at"`
	Kind          string    `json:"kind"`
	SessionID     string    `json:"session_id,omitempty"`
	AccountID     int64     `json:"account_id,omitempty"`
	Symbol        string    `json:"symbol,omitempty"`
	ClientOrderID string    `json:"client_order_id,omitempty"`
	VenueOrderID  string    `json:"venue_order_id,omitempty"`
	Side          string    `json:"side,omitempty"`
	OrderType     string    `json:"order_type,omitempty"`
	Quantity      Decimal   `json:"quantity"`
	Price         Decimal   `json:"price"`
	FilledQty     Decimal   `json:"filled_qty"`
	Fee           Decimal   `json:"fee"`
	FeeAsset      string    `json:"fee_asset,omitempty"`
	ErrorClass    string    `json:"error_class,omitempty"`
	ErrorCode     int64     `json:"error_code,omitempty"`
	Message       string    `json:"message,omitempty"`
}

// Journal returns the replay's journal, oldest first; ErrJournalNotKept
// unless the replay ran with Config.KeepJournal.
func (r *Result) Journal() ([]JournalEntry, error) {
	if !r.kept {
		return nil, ErrJournalNotKept
	}
	out := make([]JournalEntry, len(r.events))
	for i, ev := range r.events {
		out[i] = JournalEntry{Seq: ev.Seq, At: ev.At, Kind: ev.Kind, SessionID: ev.SessionID, AccountID: ev.AccountID,
			Symbol: ev.Symbol, ClientOrderID: ev.ClientOrderID, VenueOrderID: ev.VenueOrderID, Side: ev.Side,
			OrderType: ev.OrderType, Quantity: ev.Quantity, Price: ev.Price, FilledQty: ev.FilledQty, Fee: ev.Fee,
			FeeAsset: ev.FeeAsset, ErrorClass: ev.ErrorClass, ErrorCode: ev.ErrorCode, Message: ev.Message}
	}
	return out, nil
}

// WriteJournal writes the journal as JSON lines.
func (r *Result) WriteJournal(w io.Writer) error {
	evs, err := r.Journal()
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	for _, ev := range evs {
		if err := enc.Encode(ev); err != nil {
			return fmt.Errorf("write journal: %w", err)
		}
	}
	return nil
}
