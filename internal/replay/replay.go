// Package replay runs trading sessions over historical klines through the
// live code path: the registered strategies, the session supervisor's step
// (session.Manager.TradeNowWith), the journal's Executor with its allocation
// check against the portfolio (collateral ratios included), a store (a
// scratch SQLite database by default), and the paper exchange's matching,
// fees, partial fills and fault injection. Only the clock is simulated: the
// engine moves it bar by bar, as fast as the machine allows.
//
// The fill model, readable by a trader:
//   - A session steps at the open of a bar (its first step one strategy
//     interval after the start, as live). The strategy sees the last close
//     as the price; nothing of the new bar is known yet.
//   - A market order fills at that bar's open, buys at open × (1 + slippage),
//     sells at open × (1 − slippage), at the taker fee.
//   - A limit order that crosses the open fills at once as a taker (at the
//     open ± slippage); otherwise it rests, and it fills at its limit price
//     (maker fee) when a later bar trades through it: a buy when the bar's
//     low is below the price, a sell when its high is above it. Within a bar
//     the path is open, then the extreme nearer the open, the other
//     extreme, the close; such fills are stamped at the bar's close time.
//   - Request latency adds no market time (orders are stamped at the step's
//     bar); the venue's seeded faults, fees and partial fills apply as live.
//
// It owns the replay loop and its outputs (summary, equity curve, PnL
// report, trades, journal); not the strategies, the session model or the
// venue simulation, which are the live ones.
//
// The demo (issue 16) gives itself history this way:
//
//	res, err := replay.Run(ctx, replay.Config{
//		Accounts: []replay.Account{{Name: "alpha", Balances: []replay.Balance{{Asset: "USDT", Amount: d("10000")}}}},
//		Sessions: []replay.Session{{Name: "btc-dca", Strategy: "dca", Account: "alpha", Symbols: []string{"BTCUSDT"},
//			Params: json.RawMessage(`{"symbol":"BTCUSDT","quote_amount":"25","interval":"1h"}`)}},
//		Sources: []replay.Source{{Symbol: "BTCUSDT", Interval: time.Minute, Stream: &replay.SliceStream{Klines: ks}}},
//		From: start, To: start.Add(30 * 24 * time.Hour),
//	})
package replay

import (
	"cmp"
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/pnl"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/strategy"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// Decimal is the exact decimal of every amount.
type Decimal = venue.Decimal

// Account is a paper account of the replay with its starting spot
// balances.
type Account struct {
	Name     string    `json:"name"`
	Balances []Balance `json:"balances"`
	// Collateral overrides the desk's collateral ratios for this account
	// (asset → ratio in [0,1]).
	Collateral map[string]string `json:"collateral,omitempty"`
}

// Balance is a starting balance.
type Balance struct {
	Asset  string  `json:"asset"`
	Amount Decimal `json:"amount"`
}

// Session is one session to replay: the fields of `sessions create`.
type Session struct {
	Name       string             `json:"name"`
	Strategy   string             `json:"strategy"`
	Account    string             `json:"account"`
	Symbols    []string           `json:"symbols"`
	Params     json.RawMessage    `json:"params"`
	Allocation session.Allocation `json:"allocation"`
}

// Fill is the fill model's settings.
type Fill struct {
	// Slippage is the fraction a market order pays over the open (buys) or
	// gives up under it (sells); e.g. 0.0005 for 5 basis points.
	Slippage Decimal
	// MakerFee and TakerFee are fee rates; zero means the paper default
	// (0.1%). NoFee makes every fill fee-free.
	MakerFee, TakerFee Decimal
	NoFee              bool
	// FillShare is the largest share of a resting order one crossing fills
	// (paper.Config.FillShare); zero fills it whole.
	FillShare Decimal
	// Faults are the paper venue's seeded random fault rates.
	Faults paper.FaultRates
}

// Progress is reported every ProgressEvery bars and at the end.
type Progress struct {
	Bars  int64     `json:"bars"`
	Steps int64     `json:"steps"`
	At    time.Time `json:"at"` // market time reached
	From  time.Time `json:"from"`
	To    time.Time `json:"to"` // zero when the end is not known
}

// Config is one replay.
type Config struct {
	Accounts []Account
	Sessions []Session
	// Sources are the klines, one per symbol (any mix of intervals).
	Sources []Source
	// From and To bound the replay to bars opening in [From, To); zero
	// means from the first bar, to the last.
	From, To time.Time
	Fill     Fill
	// Seed seeds session ids, restart jitter and the venue's faults.
	Seed uint64
	// Collateral is the desk's collateral ratios (asset → ratio).
	Collateral map[string]string
	// TradeAll lists times at which every session runs one extra step
	// ("Trade All"), at the first bar at or after each.
	TradeAll []time.Time
	// EquityEvery is the spacing of equity snapshots; zero means 1 hour.
	EquityEvery time.Duration
	// Method is the PnL method; empty means average cost.
	Method pnl.Method
	// Symbols are the markets; empty means paper.DefaultSymbols().
	Symbols []venue.Symbol
	// DB is the store URL to replay into; empty means a private in-memory
	// SQLite database, gone when Run returns.
	DB string
	// KeepJournal keeps the journal in the Result (Journal, WriteJournal).
	// Without it the events are not held (they were most of a finished
	// desk's memory, and a job that reports the summary and PnL has no use
	// for them); the summary's order counts come from the store either way.
	KeepJournal bool
	// Progress, when set, is called every ProgressEvery bars (default
	// 100000) and once at the end, on the replay's goroutine.
	Progress      func(Progress)
	ProgressEvery int64
	Logger        *slog.Logger
}

// Run replays cfg. Bad input (see InputError) fails before any step when
// it can be known up front (sessions, symbols, parameters) and when it is
// met otherwise (a kline gap, unsorted rows); ctx ends a long run.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	e, err := newEngine(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer e.close()
	if err := e.run(ctx); err != nil {
		return nil, err
	}
	return e.result(ctx)
}

// engine is one replay in progress.
type engine struct {
	cfg      Config
	log      *slog.Logger
	sim      *simClock
	db       *store.DB
	j        *journal.Journal
	ex       *paper.Exchange
	pf       *portfolio.Portfolio
	mgr      *session.Manager
	accts    map[string]*acct // by name
	byID     map[int64]*acct
	sessByID map[string]*sess
	sess     []*sess
	srcs     []*src
	h        srcHeap
	track    *tracker
	bySym    map[string]*src
	syms     map[string]venue.Symbol
	equity   []EquityPoint
	nextEq   time.Time
	tradeAt  []time.Time
	bars     int64
	steps    int64
	first    time.Time
	last     time.Time
	restart  map[int64]*sess  // pending restart backoff (sim After seq) → session
	fails    map[string]int64 // failures by class
	stepErr  map[string]int64 // failed steps by kind
}

type acct struct {
	spec Account
	id   int64
	pa   *paper.Account
	x    *journal.Executor
	subs <-chan venue.UserEvent
	stop context.CancelFunc
}

type sess struct {
	spec     Session
	id       string
	interval time.Duration
	next     time.Time
	acct     *acct
	state    session.State
	steps    int64
	failed   int64
	skipped  int64
}

// src is one source's cursor: the bar it holds.
type src struct {
	Source
	// open is the open of the current bar, pending until the venue needs
	// it; close and first are the last close and the very first open.
	open, close, first Decimal
	pending, hasClose  bool
	cur                venue.Kline
	ok                 bool
	prev               time.Time
	n                  int64
	phase              int // 0: the bar opens at cur.OpenTime; 1: it closes at its end
}

func (s *src) at() time.Time {
	if s.phase == 0 {
		return s.cur.OpenTime
	}
	return s.cur.OpenTime.Add(s.Interval)
}

type srcHeap []*src

func (h srcHeap) Len() int { return len(h) }
func (h srcHeap) Less(i, j int) bool {
	// Closes before opens at one time, then by symbol: a bar's end is
	// known before the next bar opens and the steps of that instant run.
	a, b := h[i], h[j]
	if c := a.at().Compare(b.at()); c != 0 {
		return c < 0
	}
	if a.phase != b.phase {
		return a.phase > b.phase
	}
	return a.Symbol < b.Symbol
}
func (h srcHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *srcHeap) Push(x any)   { *h = append(*h, x.(*src)) }
func (h *srcHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func newEngine(ctx context.Context, cfg Config) (_ *engine, err error) {
	if cfg.EquityEvery <= 0 {
		cfg.EquityEvery = time.Hour
	}
	if cfg.Method == "" {
		cfg.Method = pnl.AvgCost
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 100000
	}
	if len(cfg.Symbols) == 0 {
		cfg.Symbols = paper.DefaultSymbols()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	e := &engine{cfg: cfg, log: cfg.Logger, accts: map[string]*acct{}, byID: map[int64]*acct{}, sessByID: map[string]*sess{},
		bySym: map[string]*src{}, syms: map[string]venue.Symbol{},
		restart: map[int64]*sess{}, fails: map[string]int64{}, stepErr: map[string]int64{}}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if err := e.validate(); err != nil {
		return nil, err
	}
	if err := e.prime(); err != nil {
		return nil, err
	}
	if err := e.build(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// validate checks what can be checked before any data is read.
func (e *engine) validate() error {
	cfg := e.cfg
	for _, s := range cfg.Symbols {
		e.syms[s.Name] = s
	}
	if len(cfg.Sessions) == 0 {
		return &InputError{Place: "sessions", Err: errors.New("no session to replay: give a strategy, a session or a desk file")}
	}
	names := map[string]bool{}
	for _, a := range cfg.Accounts {
		if a.Name == "" {
			return &InputError{Place: "accounts", Err: errors.New("an account has no name")}
		}
		if names[a.Name] {
			return &InputError{Place: "account " + a.Name, Err: errors.New("named twice")}
		}
		names[a.Name] = true
		for _, b := range a.Balances {
			if b.Amount.IsNeg() || b.Asset == "" {
				return &InputError{Place: "account " + a.Name, Err: fmt.Errorf("balance %s %q: want an asset and an amount >= 0", b.Amount, b.Asset)}
			}
		}
	}
	have := map[string]bool{}
	for _, s := range cfg.Sources {
		if _, ok := e.syms[s.Symbol]; !ok {
			return &InputError{Place: "klines " + s.Name, Err: fmt.Errorf("symbol %q is not a market of the replay (markets: %s)", s.Symbol, e.marketNames())}
		}
		if s.Interval <= 0 {
			return &InputError{Place: "klines " + s.Name, Err: fmt.Errorf("interval %s is not positive", s.Interval)}
		}
		if have[s.Symbol] {
			return &InputError{Place: "klines " + s.Name, Err: fmt.Errorf("a second source for %s: give one per symbol", s.Symbol)}
		}
		have[s.Symbol] = true
	}
	snames := map[string]bool{}
	for i, s := range cfg.Sessions {
		place := fmt.Sprintf("session %d", i+1)
		if s.Name != "" {
			place = "session " + s.Name
		}
		if snames[s.Name] && s.Name != "" {
			return &InputError{Place: place, Err: errors.New("named twice")}
		}
		snames[s.Name] = true
		if !names[s.Account] {
			return &InputError{Place: place, Err: fmt.Errorf("account %q is not in the desk (accounts: %v)", s.Account, slices.Sorted(mapsKeys(names)))}
		}
		if len(s.Symbols) == 0 {
			return &InputError{Place: place, Err: errors.New("no symbol: name at least one")}
		}
		for _, sym := range s.Symbols {
			if !have[sym] {
				return &InputError{Place: place, Err: fmt.Errorf("symbol %s has no klines: give a kline source for it", sym)}
			}
		}
		st, err := strategy.New(s.Strategy, s.Params)
		if err != nil {
			return &InputError{Place: place, Err: err}
		}
		if st.Interval() <= 0 {
			return &InputError{Place: place, Err: fmt.Errorf("strategy %s has a non-positive interval", s.Strategy)}
		}
	}
	if !cfg.To.IsZero() && !cfg.From.IsZero() && !cfg.To.After(cfg.From) {
		return &InputError{Place: "--to", Err: fmt.Errorf("%s is not after --from %s", cfg.To.Format(time.RFC3339), cfg.From.Format(time.RFC3339))}
	}
	return nil
}

func mapsKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func (e *engine) marketNames() string {
	var n []string
	for _, s := range e.cfg.Symbols {
		n = append(n, s.Name)
	}
	return fmt.Sprint(n)
}

// prime reads each source up to its first bar in range.
func (e *engine) prime() error {
	for _, s := range e.cfg.Sources {
		c := &src{Source: s}
		for {
			ok, err := e.advance(c)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			if e.cfg.From.IsZero() || !c.cur.OpenTime.Before(e.cfg.From) {
				break
			}
		}
		if !c.ok {
			place := "klines " + s.Name
			if e.cfg.From.IsZero() {
				return &InputError{Place: place, Err: fmt.Errorf("no klines for %s", s.Symbol)}
			}
			return &InputError{Place: place, Err: fmt.Errorf("no klines for %s at or after %s", s.Symbol, e.cfg.From.Format(time.RFC3339))}
		}
		e.srcs = append(e.srcs, c)
		e.bySym[c.Symbol] = c
	}
	for _, c := range e.srcs {
		if e.first.IsZero() || c.cur.OpenTime.Before(e.first) {
			e.first = c.cur.OpenTime
		}
		heap.Push(&e.h, c)
	}
	return nil
}

// advance reads c's next bar, checking order and gaps; false at the end
// (of the stream or of the range).
func (e *engine) advance(c *src) (bool, error) {
	k, err := c.Stream.Next()
	if errors.Is(err, io.EOF) {
		c.ok = false
		return false, nil
	}
	if err != nil {
		var re *ReadError
		switch {
		case IsInput(err):
			return false, err
		case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
			return false, fmt.Errorf("replay canceled at %s, reading %s: %w", c.prev.Format(time.RFC3339), c.Name, err)
		case errors.As(err, &re):
			return false, err // not the data's fault: not bad input
		}
		return false, &InputError{Place: "klines " + c.Name, Err: err}
	}
	where := func() string {
		if p, ok := c.Stream.(Positioner); ok {
			pos := p.Position()
			if strings.Contains(pos, c.Name) {
				return pos
			}
			return "klines " + c.Name + ", " + pos
		}
		return "klines " + c.Name
	}
	if c.n > 0 {
		switch {
		case !k.OpenTime.After(c.prev):
			return false, &InputError{Place: where(), Err: fmt.Errorf("%s kline at %s is not after the previous one (%s): rows must be sorted oldest first, without repeats",
				c.Symbol, k.OpenTime.Format(time.RFC3339), c.prev.Format(time.RFC3339))}
		case k.OpenTime.Sub(c.prev) != c.Interval:
			missing := k.OpenTime.Sub(c.prev)/c.Interval - 1
			return false, &InputError{Place: where(), Err: fmt.Errorf("%s klines have a gap: after %s the next opens at %s (%d bars of %s missing); fill the gap (pnl backfill, or a complete file), sort the rows oldest first if a row is out of place, or replay a range without it",
				c.Symbol, c.prev.Format(time.RFC3339), k.OpenTime.Format(time.RFC3339), missing, c.Interval)}
		}
	} else if k.OpenTime.Truncate(c.Interval) != k.OpenTime && c.Interval <= 24*time.Hour {
		return false, &InputError{Place: where(), Err: fmt.Errorf("%s kline opens at %s, not on a %s boundary: is the interval right?", c.Symbol, k.OpenTime.Format(time.RFC3339), c.Interval)}
	}
	if !k.Open.IsPos() || !k.Close.IsPos() || !k.High.IsPos() || !k.Low.IsPos() {
		return false, &InputError{Place: where(), Err: fmt.Errorf("%s kline at %s has a price that is not positive", c.Symbol, k.OpenTime.Format(time.RFC3339))}
	}
	c.prev = k.OpenTime
	c.n++
	if !e.cfg.To.IsZero() && !k.OpenTime.Before(e.cfg.To) {
		c.ok = false
		return false, nil
	}
	c.cur, c.ok, c.phase = k, true, 0
	return true, nil
}

// build wires the live stack on the simulated clock.
func (e *engine) build(ctx context.Context) error {
	cfg := e.cfg
	e.sim = newSimClock(e.first)
	clk := instant{e.sim}
	url := cfg.DB
	if url == "" {
		// In memory: nothing of a replay needs to outlive it, and an
		// fsync per journal write would be most of its time.
		url = "sqlite::memory:"
	}
	db, err := store.Open(ctx, url, store.Options{})
	if err != nil {
		return fmt.Errorf("replay database: %w", err)
	}
	e.db = db
	pcfg := paper.Config{Symbols: cfg.Symbols, MakerFee: cfg.Fill.MakerFee, TakerFee: cfg.Fill.TakerFee, NoFee: cfg.Fill.NoFee,
		FillShare: cfg.Fill.FillShare, Clock: clk, Seed: cfg.Seed, FaultRates: cfg.Fill.Faults, StrictCross: true}
	if e.ex, err = paper.New(pcfg); err != nil {
		return fmt.Errorf("replay venue: %w", err)
	}
	if e.pf, err = portfolio.New(portfolio.Config{Clock: e.sim, StaleAfter: 365 * 24 * time.Hour}); err != nil {
		return err
	}
	if err := e.pf.RegisterMarkets("paper", cfg.Symbols); err != nil {
		return err
	}
	e.track = newTracker()
	e.j = journal.Open(db, journal.Options{Clock: clk, Node: "replay", Logger: e.log, OnEvent: e.track.onEvent,
		Inline: true})
	for _, a := range cfg.Accounts {
		sa := &store.Account{Name: a.Name, Venue: "paper", CreatedAt: e.first}
		if err := db.CreateAccount(ctx, sa); err != nil {
			return fmt.Errorf("replay account %s: %w", a.Name, err)
		}
		ra := &acct{spec: a, id: sa.ID, pa: e.ex.Account(a.Name)}
		for _, b := range a.Balances {
			if err := e.ex.Fund(a.Name, venue.WalletSpot, b.Asset, b.Amount); err != nil {
				return &InputError{Place: "account " + a.Name, Err: err}
			}
			e.track.fund(sa.ID, b.Asset, b.Amount)
		}
		ra.x = journal.NewExecutor(e.j, ra.pa, sa.ID, journal.ExecutorOptions{Checker: checker{e}, Clock: clk, Logger: e.log})
		sctx, stop := context.WithCancel(context.Background())
		if ra.subs, err = ra.pa.SubscribeUser(sctx); err != nil {
			stop()
			return fmt.Errorf("replay account %s: %w", a.Name, err)
		}
		ra.stop = stop
		if err := e.pf.UpsertAccount(portfolio.Account{ID: strconv.FormatInt(sa.ID, 10), Name: a.Name, Venue: "paper"}); err != nil {
			return err
		}
		if len(a.Collateral) > 0 {
			if _, err := e.pf.SetRatios("replay", strconv.FormatInt(sa.ID, 10), ratioInputs(a.Collateral)); err != nil {
				return &InputError{Place: "account " + a.Name + " collateral", Err: err}
			}
		}
		e.accts[a.Name], e.byID[sa.ID] = ra, ra
	}
	if len(cfg.Collateral) > 0 {
		if _, err := e.pf.SetRatios("replay", "", ratioInputs(cfg.Collateral)); err != nil {
			return &InputError{Place: "collateral", Err: err}
		}
	}
	e.mgr, err = session.New(session.Options{
		Store: db, Clock: e.sim, Seed: cmp.Or(cfg.Seed, 1), ClientOrderID: journal.ClientOrderID, ManualSchedule: true,
		Accounts:   session.AccountsFunc(e.account),
		OnFailure:  e.onFailure,
		Collateral: e.collateral,
		Logger:     e.log,
	})
	if err != nil {
		return err
	}
	for _, s := range cfg.Sessions {
		a := e.accts[s.Account]
		st, _ := strategy.New(s.Strategy, s.Params)
		spec := session.Spec{Name: s.Name, Strategy: s.Strategy, AccountID: a.id, Symbols: s.Symbols, Params: s.Params, Allocation: s.Allocation}
		got, err := e.mgr.Create(ctx, spec, "replay")
		if err != nil {
			var ie *session.InvalidError
			if errors.As(err, &ie) {
				return &InputError{Place: "session " + s.Name, Err: err}
			}
			return fmt.Errorf("replay session %s: %w", s.Name, err)
		}
		rs := &sess{spec: s, id: got.ID, interval: st.Interval(), next: e.first.Add(st.Interval()), acct: a}
		e.sess = append(e.sess, rs)
		e.sessByID[got.ID] = rs
	}
	for _, s := range e.sess {
		if _, err := e.mgr.Start(ctx, s.id, "replay"); err != nil {
			return fmt.Errorf("replay session %s: start: %w", s.spec.Name, err)
		}
	}
	e.tradeAt = slices.SortedFunc(slices.Values(cfg.TradeAll), time.Time.Compare)
	e.nextEq = e.first
	return nil
}

func ratioInputs(m map[string]string) []portfolio.RatioInput {
	var out []portfolio.RatioInput
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}) {
		out = append(out, portfolio.RatioInput{Asset: k, Ratio: m[k]})
	}
	return out
}

func (e *engine) close() {
	if e.mgr != nil {
		e.mgr.Close()
	}
	for _, a := range e.accts {
		if a.stop != nil {
			a.stop()
		}
	}
	if e.j != nil {
		e.j.Close()
	}
	if e.db != nil {
		e.db.Close()
	}
}

// account gives a session its account: the paper venue, the executor and
// the last closes as prices.
func (e *engine) account(_ context.Context, id int64) (session.Account, error) {
	a, ok := e.byID[id]
	if !ok {
		return session.Account{}, fmt.Errorf("replay account %d: %w", id, store.ErrNotFound)
	}
	return session.Account{Venue: a.pa, Orders: placer{a.x}, Prices: session.PriceFunc(e.price)}, nil
}

// price is the last close of symbol: what is known when a step decides.
func (e *engine) price(_ context.Context, symbol string) (Decimal, error) {
	if c, ok := e.bySym[symbol]; ok {
		if c.hasClose {
			return c.close, nil
		}
		if c.first.IsPos() {
			return c.open, nil
		}
	}
	return Decimal{}, fmt.Errorf("price of %s: no kline yet", symbol)
}

func (e *engine) collateral(_ context.Context, accountID int64) (Decimal, error) {
	t, err := e.pf.AccountTotal(strconv.FormatInt(accountID, 10))
	if err != nil {
		return Decimal{}, err
	}
	return t.CollateralValue, nil
}

// placer is the session's OrderPlacer: the journal's Executor.
type placer struct{ x *journal.Executor }

func (p placer) Place(ctx context.Context, in session.Intent) (venue.Order, error) {
	return p.x.Place(ctx, journal.Intent(in))
}

func (p placer) Cancel(ctx context.Context, in session.Intent) (venue.Order, error) {
	return p.x.Cancel(ctx, journal.Intent(in))
}

// checker is the live allocation check: a buy may not take a session past
// its allocation (fixed, or a share of its account's collateral value at
// the portfolio's ratios).
type checker struct{ e *engine }

func (c checker) CheckOrder(ctx context.Context, in journal.Intent) error {
	if in.SessionID == "" || in.Request.Side != venue.Buy {
		return nil
	}
	// The replay's sessions keep the allocation they were created with
	// (nothing edits them mid-run), so it is read from the config rather
	// than the store.
	s, ok := c.e.sessByID[in.SessionID]
	if !ok {
		return fmt.Errorf("order %s: session %s is not one of the replay's", in.Request.ClientOrderID, in.SessionID)
	}
	var err error
	value := in.Request.QuoteQuantity
	if value.IsZero() {
		price := in.Request.Price
		if price.IsZero() {
			if price, err = c.e.price(ctx, in.Request.Symbol); err != nil {
				return fmt.Errorf("value order %s: %w", in.Request.ClientOrderID, err)
			}
		}
		value = in.Request.Quantity.Mul(price)
	}
	al := portfolio.Allocation{Session: in.SessionID, Account: strconv.FormatInt(in.AccountID, 10)}
	if s.spec.Allocation.Kind == session.AllocShare {
		al.Share = s.spec.Allocation.Amount
	} else {
		al.Fixed = s.spec.Allocation.Amount
	}
	if al.Fixed.IsZero() && al.Share.IsZero() {
		return nil
	}
	d, err := c.e.pf.CheckOrder(portfolio.OrderCheck{Allocation: al, Exposure: c.e.track.exposure(in.SessionID), Order: value})
	if err != nil {
		return err
	}
	if !d.OK {
		return errors.New(d.Reason)
	}
	return nil
}

// onFailure journals a failed step, as the server does.
func (e *engine) onFailure(ctx context.Context, f session.Failure) {
	class := string(f.Kind)
	if f.Err != nil {
		if c := venue.ClassOf(f.Err); f.Kind == session.FailError && c != venue.ClassUnknown {
			class = string(c)
		}
	}
	msg := ""
	if f.Err != nil {
		msg = f.Err.Error()
	}
	if err := e.j.Append(ctx, &journal.Event{Kind: journal.KindError, SessionID: f.SessionID, AccountID: f.AccountID,
		ErrorClass: class, Message: fmt.Sprintf("step %d %s: %s", f.Step, f.Kind, msg)}); err != nil {
		e.log.Error("journal step failure", "session", f.SessionID, "err", err)
	}
}

// run is the replay loop.
func (e *engine) run(ctx context.Context) error {
	var lastT time.Time
	for e.h.Len() > 0 {
		c := e.h[0]
		t := c.at()
		if t != lastT {
			if !lastT.IsZero() {
				if err := e.runInstant(ctx, lastT); err != nil {
					return err
				}
			}
			if err := e.setClock(ctx, t); err != nil {
				return err
			}
			lastT = t
		}
		if c.phase == 0 {
			if err := e.open(c); err != nil {
				return err
			}
			c.phase = 1
			heap.Fix(&e.h, 0)
			continue
		}
		if err := e.end(ctx, c); err != nil {
			return err
		}
		e.bars++
		if e.bars%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("replay canceled at %s: %w", t.Format(time.RFC3339), err)
			}
		}
		if e.cfg.Progress != nil && e.bars%e.cfg.ProgressEvery == 0 {
			e.cfg.Progress(Progress{Bars: e.bars, Steps: e.steps, At: t, From: e.first, To: e.cfg.To})
		}
		ok, err := e.advance(c)
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(&e.h, 0)
		} else {
			heap.Pop(&e.h)
		}
	}
	if !lastT.IsZero() {
		e.last = lastT
		if err := e.snapshot(ctx, lastT, true); err != nil {
			return err
		}
	}
	if e.cfg.Progress != nil {
		e.cfg.Progress(Progress{Bars: e.bars, Steps: e.steps, At: lastT, From: e.first, To: e.cfg.To})
	}
	return nil
}

// setClock moves the simulated clock to t and waits for every session
// whose restart backoff it ended to be back (or quarantined), so the next
// step finds the same state on every run.
func (e *engine) setClock(ctx context.Context, t time.Time) error {
	for _, seq := range e.sim.Set(t) {
		s, ok := e.restart[seq]
		if !ok {
			continue
		}
		delete(e.restart, seq)
		if err := e.settle(ctx, s, seq); err != nil {
			return err
		}
	}
	return nil
}

// open records a bar's open: the price market orders of this instant fill
// at, with the slippage as the spread. The venue gets it when it needs it:
// at once when orders rest on the symbol, else before the instant's steps.
func (e *engine) open(c *src) error {
	c.open, c.pending = c.cur.Open, true
	if !c.first.IsPos() {
		c.first = c.cur.Open
	}
	if e.ex.Resting(c.Symbol) {
		return e.applyOpen(c)
	}
	return nil
}

func (e *engine) applyOpen(c *src) error {
	k := c.cur
	c.pending = false
	tk := venue.PriceTick{Symbol: c.Symbol, Price: k.Open, Time: k.OpenTime}
	if s := e.cfg.Fill.Slippage; s.IsPos() {
		tk.Ask = k.Open.Add(k.Open.Mul(s))
		tk.Bid = k.Open.Sub(k.Open.Mul(s))
	}
	if err := e.ex.ApplyTick(tk); err != nil {
		return err
	}
	return e.drain(context.Background())
}

// applyOpens gives the venue every pending open before steps run.
func (e *engine) applyOpens() error {
	for _, c := range e.srcs {
		if c.pending {
			if err := e.applyOpen(c); err != nil {
				return err
			}
		}
	}
	return nil
}

// end applies the rest of a bar: its path through low and high (only when
// orders rest on the symbol) and its close, stamped at the bar's close
// time.
func (e *engine) end(ctx context.Context, c *src) error {
	k := c.cur
	at := k.OpenTime.Add(c.Interval - time.Millisecond)
	if e.ex.Resting(c.Symbol) {
		if c.pending {
			if err := e.applyOpen(c); err != nil {
				return err
			}
		}
		path := [3]Decimal{k.Low, k.High, k.Close}
		if k.High.Sub(k.Open).LessThan(k.Open.Sub(k.Low)) {
			path = [3]Decimal{k.High, k.Low, k.Close}
		}
		for _, p := range path {
			if err := e.ex.ApplyTick(venue.PriceTick{Symbol: c.Symbol, Price: p, Time: at}); err != nil {
				return err
			}
		}
		if err := e.drain(ctx); err != nil {
			return err
		}
	}
	c.close, c.hasClose = k.Close, true
	return nil
}

// drain journals the fills of resting orders that ticks caused, as the
// live user stream does.
func (e *engine) drain(ctx context.Context) error {
	for _, name := range e.acctNames() {
		a := e.accts[name]
		for {
			select {
			case ev := <-a.subs:
				if ev.Kind != venue.EventTrade || ev.Trade == nil || !ev.Trade.Maker {
					continue
				}
				t := *ev.Trade
				sid := ""
				if o, err := e.db.OrderByClientID(ctx, t.ClientOrderID); err == nil {
					sid = o.SessionID
				}
				if _, err := a.x.RecordTrade(ctx, t, sid); err != nil {
					return fmt.Errorf("record fill %s of %s: %w", t.ID, t.ClientOrderID, err)
				}
				continue
			default:
			}
			break
		}
	}
	return nil
}

func (e *engine) acctNames() []string {
	out := make([]string, 0, len(e.cfg.Accounts))
	for _, a := range e.cfg.Accounts {
		out = append(out, a.Name)
	}
	return out
}

// runInstant runs what happens at t once every bar of t has opened or closed:
// the equity snapshot, the steps due and Trade All.
func (e *engine) runInstant(ctx context.Context, t time.Time) error {
	if !t.Before(e.nextEq) {
		if err := e.snapshot(ctx, t, false); err != nil {
			return err
		}
		e.nextEq = t.Truncate(e.cfg.EquityEvery).Add(e.cfg.EquityEvery)
	}
	synced := false
	for _, s := range e.sess {
		// A session due more than once since the last instant (a TWAP's
		// 30 s slices over 1 m bars) steps once per due time, here: it
		// keeps its own pace, where stepping once ran it at the bars'
		// pace, and its orders fill at this bar's open, as every order
		// decided between two bars does.
		for !t.Before(s.next) {
			s.next = s.next.Add(s.interval)
			if !synced {
				if err := e.applyOpens(); err != nil {
					return err
				}
				if err := e.sync(ctx); err != nil {
					return err
				}
				synced = true
			}
			if err := e.step(ctx, s, "schedule"); err != nil {
				return err
			}
		}
	}
	for len(e.tradeAt) > 0 && !t.Before(e.tradeAt[0]) {
		e.tradeAt = e.tradeAt[1:]
		if err := e.applyOpens(); err != nil {
			return err
		}
		if err := e.sync(ctx); err != nil {
			return err
		}
		for _, s := range e.sess {
			if err := e.step(ctx, s, "trade-all"); err != nil {
				return err
			}
		}
	}
	return nil
}

// sync gives the portfolio the venue's balances and the last closes, as
// the live balance feed and price stream do, before steps are checked
// against it.
func (e *engine) sync(ctx context.Context) error {
	for _, c := range e.srcs {
		if !c.hasClose {
			continue
		}
		if err := e.pf.Tick(venue.PriceTick{Symbol: c.Symbol, Price: c.close, Time: e.sim.Now()}); err != nil {
			return err
		}
	}
	for _, name := range e.acctNames() {
		a := e.accts[name]
		bs, err := a.pa.Balances(ctx)
		if err != nil {
			// A fault injected on the balance query: keep the last view, as
			// the live feed would until its next resync.
			continue
		}
		if _, err := e.pf.ResyncAccount(strconv.FormatInt(a.id, 10), bs); err != nil {
			return err
		}
	}
	return nil
}

// step runs one step of s through the supervisor.
func (e *engine) step(ctx context.Context, s *sess, trigger string) error {
	if s.state == session.Quarantined {
		s.skipped++
		return nil
	}
	rep, err := e.mgr.TradeNowWith(ctx, s.id, "replay", session.StepOptions{Trigger: trigger})
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("replay canceled at %s: %w", e.sim.Now().Format(time.RFC3339), err)
	}
	e.steps++
	s.steps++
	if derr := e.drain(ctx); derr != nil {
		return derr
	}
	if err == nil {
		return nil
	}
	var se *session.StepError
	var st *session.StateError
	switch {
	case errors.As(err, &se):
		s.failed++
		e.stepErr[string(se.Kind)]++
		if se.Kind == session.FailAborted || se.Kind == session.FailNotOwner {
			return nil
		}
		return e.failed(ctx, s)
	case errors.As(err, &st):
		s.skipped++
		return nil
	default:
		return fmt.Errorf("replay session %s step at %s: %w (report: %s)", s.spec.Name, e.sim.Now().Format(time.RFC3339), err, rep.Error)
	}
}

// failed waits for the supervisor to act on a failed step: either the
// session is quarantined or it waits out a restart backoff on the
// simulated clock, which setClock then sees fire.
func (e *engine) failed(ctx context.Context, s *sess) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := e.mgr.Get(ctx, s.id)
		if err != nil {
			return err
		}
		switch got.State {
		case session.Restarting:
			e.restart[e.sim.lastSeq()] = s
			s.state = session.Restarting
			return nil
		case session.Quarantined:
			s.state = session.Quarantined
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("replay session %s: the supervisor did not act on a failed step (state %s)", s.spec.Name, got.State)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// settle waits for a session whose backoff fired to be running again (or
// quarantined). A restart that fails at once (the strategy cannot be
// built: replay checks that up front) would leave it waiting; after 30 s
// of wall time that is an error rather than a hang.
func (e *engine) settle(ctx context.Context, s *sess, seq int64) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := e.mgr.Get(ctx, s.id)
		if err != nil {
			return err
		}
		switch got.State {
		case session.Running:
			s.state = session.Running
			return nil
		case session.Quarantined:
			s.state = session.Quarantined
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("replay session %s: not back from its restart (state %s, timer %d)", s.spec.Name, got.State, seq)
		}
		time.Sleep(50 * time.Microsecond)
	}
}
