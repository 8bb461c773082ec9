package replay_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/pnl"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/replay"
	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/strategy"
	"github.com/tradeplane/tradeplane/internal/tradecsv"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// TestReplayAgreesWithLive runs the same sessions twice over the same bars:
// once with replay.Run, once live: the supervisor stepping each session on
// its own schedule (its ticker on a fake clock that the market below
// advances, sessions stepping concurrently), the journal's Executor, the
// paper venue fed the bars as ticks (the open with the slippage as spread,
// then the bar's path), fills of resting orders recorded from the venue's
// user stream as the live feed does. Both must place the same orders under
// the same client order ids and reach the same PnL per session, exactly.
func TestReplayAgreesWithLive(t *testing.T) {
	t.Parallel()
	ks := btc(t, 24*60)
	specs := []replay.Session{
		{Name: "dca", Strategy: "dca", Account: "alpha", Symbols: []string{"BTCUSDT"},
			Params: json.RawMessage(`{"symbol":"BTCUSDT","quote_amount":"40","interval":"1h"}`)},
		{Name: "grid", Strategy: "grid", Account: "alpha", Symbols: []string{"BTCUSDT"},
			Params: json.RawMessage(`{"symbol":"BTCUSDT","lower":"22800","upper":"23800","levels":11,"quantity":"0.002","interval":"15m"}`)},
	}
	slip := d("0.0005")
	balances := []replay.Balance{{Asset: "USDT", Amount: d("5000")}, {Asset: "BTC", Amount: d("0.1")}}
	res, err := replay.Run(context.Background(), replay.Config{
		Accounts:    []replay.Account{{Name: "alpha", Balances: balances}},
		Sessions:    specs,
		Sources:     []replay.Source{{Symbol: "BTCUSDT", Interval: time.Minute, Stream: &replay.SliceStream{Klines: ks}, Name: "btc"}},
		Fill:        replay.Fill{Slippage: slip},
		Seed:        9,
		KeepJournal: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	live := runLive(t, liveDesk{
		accounts: []replay.Account{{Name: "alpha", Balances: balances}},
		sessions: specs,
		sources:  []liveSource{{symbol: "BTCUSDT", interval: time.Minute, klines: ks}},
		slip:     slip, seed: 9,
	})

	// Same orders: client order id, side, type, price, quantity.
	if got, want := live.orders, replayOrders(t, res); !slices.Equal(got, want) {
		t.Errorf("live orders (%d) differ from the replay's (%d):\nlive   %v\nreplay %v", len(got), len(want), got, want)
	}
	t.Logf("%d orders agree; replay trades %d", len(live.orders), len(res.Trades))
	if len(live.orders) < 20 {
		t.Fatalf("only %d orders: the sessions did too little to compare", len(live.orders))
	}
	comparePnL(t, res, live, map[string]venue.Decimal{"BTCUSDT": ks[len(ks)-1].Close})
}

// comparePnL checks that each session's PnL from the live fills, marked
// at marks (each symbol's last close), is exactly the replay's.
func comparePnL(t *testing.T, res *replay.Result, live liveRun, marks map[string]venue.Decimal) {
	t.Helper()
	for _, sr := range res.Sessions {
		rep, err := pnl.Compute(live.trades[sr.ID], pnl.AvgCost, marks, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(rep)
		want, _ := json.Marshal(sr.PnL)
		if string(got) != string(want) {
			t.Errorf("session %s: live PnL\n%s\nreplay PnL\n%s", sr.Name, got, want)
		}
	}
}

// replayOrders lists a replay's orders from its journal intents.
func replayOrders(t *testing.T, res *replay.Result) []string {
	t.Helper()
	evs, err := res.Journal()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		if ev.Kind == string(journal.KindIntent) {
			out = append(out, ev.ClientOrderID+" "+ev.Side+" "+ev.OrderType+" "+ev.Price.String()+" "+ev.Quantity.String())
		}
	}
	slices.Sort(out)
	return out
}

type liveRun struct {
	orders []string
	trades map[string][]tradecsv.Trade // by session id
}

// liveDesk is what runLive runs: accounts funded in spot, sessions, the
// bars of each symbol, the slippage as the open's spread, the seed. With
// allocations set, orders are checked against them as the server does.
type liveDesk struct {
	accounts []replay.Account
	sessions []replay.Session
	sources  []liveSource
	slip     venue.Decimal
	seed     uint64
}

// liveSource is one symbol's bars, oldest first, without gaps.
type liveSource struct {
	symbol   string
	interval time.Duration
	klines   []venue.Kline
}

// runLive is the live stack on a fake clock, driven instant by instant
// (every bar's open or close time): at each instant the bars ending there
// trade through their path, the bars opening there set the venue's price
// (their open, the slippage as spread), then the clock moves and the
// sessions due step on their own tickers.
func runLive(t *testing.T, desk liveDesk) liveRun {
	t.Helper()
	ctx := context.Background()
	var start time.Time
	for _, src := range desk.sources {
		if start.IsZero() || src.klines[0].OpenTime.Before(start) {
			start = src.klines[0].OpenTime
		}
	}
	clk := clock.NewFake(start)
	db, err := store.Open(ctx, "sqlite::memory:", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ex := paper.MustNew(paper.Config{Clock: clk, StrictCross: true})
	pf, err := portfolio.New(portfolio.Config{Clock: clk, StaleAfter: 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := pf.RegisterMarkets("paper", paper.DefaultSymbols()); err != nil {
		t.Fatal(err)
	}
	exp := &liveExposure{spent: map[string]venue.Decimal{}}
	j := journal.Open(db, journal.Options{Clock: clk, Node: "live", OnEvent: exp.onEvent})
	t.Cleanup(func() { j.Close() })

	var mu sync.Mutex
	closeNow := map[string]venue.Decimal{}
	for _, src := range desk.sources {
		closeNow[src.symbol] = src.klines[0].Open
	}
	prices := session.PriceFunc(func(_ context.Context, sym string) (venue.Decimal, error) {
		mu.Lock()
		defer mu.Unlock()
		p, ok := closeNow[sym]
		if !ok {
			return p, fmt.Errorf("price of %s: no bars", sym)
		}
		return p, nil
	})
	allocations := map[string]session.Allocation{} // session id → allocation
	type liveAcct struct {
		id  int64
		pa  *paper.Account
		x   *journal.Executor
		sub <-chan venue.UserEvent
	}
	accts := map[string]*liveAcct{}
	byID := map[int64]*liveAcct{}
	for _, a := range desk.accounts {
		for _, b := range a.Balances {
			if err := ex.Fund(a.Name, venue.WalletSpot, b.Asset, b.Amount); err != nil {
				t.Fatal(err)
			}
		}
		sa := &store.Account{Name: a.Name, Venue: "paper", CreatedAt: start}
		if err := db.CreateAccount(ctx, sa); err != nil {
			t.Fatal(err)
		}
		if err := pf.UpsertAccount(portfolio.Account{ID: strconv.FormatInt(sa.ID, 10), Name: a.Name, Venue: "paper"}); err != nil {
			t.Fatal(err)
		}
		la := &liveAcct{id: sa.ID, pa: ex.Account(a.Name)}
		la.x = journal.NewExecutor(j, la.pa, sa.ID, journal.ExecutorOptions{Clock: clk,
			Checker: liveChecker{pf: pf, exposure: exp, allocations: allocations, mu: &mu, price: prices}})
		if la.sub, err = la.pa.SubscribeUser(t.Context()); err != nil {
			t.Fatal(err)
		}
		accts[a.Name], byID[sa.ID] = la, la
	}
	steps := make(chan session.StepReport, 16)
	m, err := session.New(session.Options{Store: db, Clock: clk, Seed: desk.seed, ClientOrderID: journal.ClientOrderID,
		Accounts: session.AccountsFunc(func(_ context.Context, id int64) (session.Account, error) {
			la, ok := byID[id]
			if !ok {
				return session.Account{}, fmt.Errorf("account %d: %w", id, store.ErrNotFound)
			}
			return session.Account{Venue: la.pa, Orders: livePlacer{la.x}, Prices: prices}, nil
		}),
		OnStep: func(r session.StepReport) { steps <- r },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	type due struct {
		id       string
		interval time.Duration
	}
	var sessions []due
	for _, s := range desk.sessions {
		got, err := m.Create(ctx, session.Spec{Name: s.Name, Strategy: s.Strategy, AccountID: accts[s.Account].id, Symbols: s.Symbols,
			Params: s.Params, Allocation: s.Allocation}, "test")
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		allocations[got.ID] = s.Allocation
		mu.Unlock()
		st, err := strategy.New(s.Strategy, s.Params)
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, due{got.ID, st.Interval()})
	}
	for _, s := range sessions {
		if _, err := m.Start(ctx, s.id, "test"); err != nil {
			t.Fatal(err)
		}
		waitState(t, m, s.id, session.Running)
	}
	record := func() {
		for _, a := range desk.accounts {
			la := accts[a.Name]
		drain:
			for {
				select {
				case ev := <-la.sub:
					if ev.Kind == venue.EventTrade && ev.Trade != nil && ev.Trade.Maker {
						sid := ""
						if o, err := db.OrderByClientID(ctx, ev.Trade.ClientOrderID); err == nil {
							sid = o.SessionID
						}
						if _, err := la.x.RecordTrade(ctx, *ev.Trade, sid); err != nil {
							t.Fatal(err)
						}
					}
				default:
					break drain
				}
			}
		}
	}
	// The instants: every bar's open, in time order.
	var instants []time.Time
	for _, src := range desk.sources {
		for _, k := range src.klines {
			instants = append(instants, k.OpenTime)
		}
	}
	slices.SortFunc(instants, time.Time.Compare)
	instants = slices.Compact(instants)
	next := make([]int, len(desk.sources))  // each source's next bar to open
	ended := make([]int, len(desk.sources)) // each source's bars ended
	closing := func(i int, at time.Time) bool {
		if ended[i] == next[i] {
			return false
		}
		return !desk.sources[i].klines[next[i]-1].OpenTime.Add(desk.sources[i].interval).After(at)
	}
	end := func(i int) {
		ended[i] = next[i]
		// The rest of the bar: its path, stamped at its close time.
		k := desk.sources[i].klines[next[i]-1]
		path := []venue.Decimal{k.Low, k.High, k.Close}
		if k.High.Sub(k.Open).LessThan(k.Open.Sub(k.Low)) {
			path = []venue.Decimal{k.High, k.Low, k.Close}
		}
		for _, p := range path {
			if err := ex.ApplyTick(venue.PriceTick{Symbol: desk.sources[i].symbol, Price: p, Time: k.OpenTime.Add(desk.sources[i].interval - time.Millisecond)}); err != nil {
				t.Fatal(err)
			}
		}
		record()
		mu.Lock()
		closeNow[desk.sources[i].symbol] = k.Close
		mu.Unlock()
	}
	for _, at := range instants {
		for i := range desk.sources {
			if closing(i, at) {
				end(i)
			}
		}
		for i, src := range desk.sources {
			if next[i] >= len(src.klines) || !src.klines[next[i]].OpenTime.Equal(at) {
				continue
			}
			// The bar opens: the venue's price is the open, the slippage its
			// spread; the price book still shows the last close.
			k := src.klines[next[i]]
			next[i]++
			if err := ex.ApplyTick(venue.PriceTick{Symbol: src.symbol, Price: k.Open, Ask: k.Open.Add(k.Open.Mul(desk.slip)),
				Bid: k.Open.Sub(k.Open.Mul(desk.slip)), Time: k.OpenTime}); err != nil {
				t.Fatal(err)
			}
		}
		record()
		clk.Set(at)
		n := 0
		for _, s := range sessions {
			if el := at.Sub(start); el > 0 && el%s.interval == 0 {
				n++
			}
		}
		for range n {
			select {
			case <-steps:
			case <-time.After(30 * time.Second):
				t.Fatalf("%s: a due step did not run", at)
			}
		}
		record()
	}
	for i := range desk.sources {
		if ended[i] != next[i] {
			end(i)
		}
	}
	out := liveRun{trades: map[string][]tradecsv.Trade{}}
	evs, err := db.JournalEvents(ctx, store.EventQuery{Kind: string(journal.KindIntent), Ascending: true, Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		out.orders = append(out.orders, ev.ClientOrderID+" "+ev.Side+" "+ev.OrderType+" "+ev.Price.String()+" "+ev.Quantity.String())
	}
	slices.Sort(out.orders)
	fills, err := db.Fills(ctx, store.FillQuery{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fills {
		base, quote, _ := tradecsv.SplitSymbol(f.Symbol)
		out.trades[f.SessionID] = append(out.trades[f.SessionID], tradecsv.Trade{Time: f.At, Symbol: f.Symbol, Base: base, Quote: quote,
			Side: venue.Side(f.Side), Price: f.Price, Quantity: f.Quantity, Fee: f.Fee, FeeAsset: f.FeeAsset, ID: f.TradeID})
	}
	for _, ts := range out.trades {
		slices.SortStableFunc(ts, func(a, b tradecsv.Trade) int {
			if c := a.Time.Compare(b.Time); c != 0 {
				return c
			}
			ai, _ := strconv.Atoi(a.ID)
			bi, _ := strconv.Atoi(b.ID)
			return ai - bi
		})
	}
	return out
}

// liveExposure is each session's spent quote (buys paid minus sells
// received) from the journal's fills, as the server's tracker keeps it.
type liveExposure struct {
	mu    sync.Mutex
	spent map[string]venue.Decimal
}

func (e *liveExposure) onEvent(ev journal.Event) {
	if ev.Kind != journal.KindFill || ev.SessionID == "" {
		return
	}
	n := ev.Price.Mul(ev.Quantity)
	if ev.Side != venue.Buy {
		n = n.Neg()
	}
	e.mu.Lock()
	e.spent[ev.SessionID] = e.spent[ev.SessionID].Add(n)
	e.mu.Unlock()
}

// liveChecker is the server's allocation check (app's allocationChecker):
// a buy may not take a session's exposure past its allocation.
type liveChecker struct {
	pf          *portfolio.Portfolio
	exposure    *liveExposure
	allocations map[string]session.Allocation
	mu          *sync.Mutex
	price       session.PriceFunc
}

func (c liveChecker) CheckOrder(ctx context.Context, in journal.Intent) error {
	if in.SessionID == "" || in.Request.Side != venue.Buy {
		return nil
	}
	c.mu.Lock()
	al, ok := c.allocations[in.SessionID]
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("order %s: unknown session %s", in.Request.ClientOrderID, in.SessionID)
	}
	value, err := portfolio.BuyValue(ctx, in.Request, c.price)
	if err != nil || al.Amount.IsZero() {
		return err
	}
	c.exposure.mu.Lock()
	spent := c.exposure.spent[in.SessionID]
	c.exposure.mu.Unlock()
	if !spent.IsPos() {
		spent = venue.Decimal{}
	}
	d, err := c.pf.CheckOrder(portfolio.OrderCheck{Order: value, Exposure: spent,
		Allocation: portfolio.SessionAllocation(in.SessionID, strconv.FormatInt(in.AccountID, 10), string(al.Kind), al.Amount)})
	if err != nil {
		return err
	}
	if !d.OK {
		return errors.New(d.Reason)
	}
	return nil
}

type livePlacer struct{ x *journal.Executor }

func (p livePlacer) Place(ctx context.Context, in session.Intent) (venue.Order, error) {
	return p.x.Place(ctx, journal.Intent(in))
}

func (p livePlacer) Cancel(ctx context.Context, in session.Intent) (venue.Order, error) {
	return p.x.Cancel(ctx, journal.Intent(in))
}

func waitState(t *testing.T, m *session.Manager, id string, want session.State) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if s, err := m.Get(context.Background(), id); err == nil && s.State == want {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("session %s never reached %s", id, want)
}
