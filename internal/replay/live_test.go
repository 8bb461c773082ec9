package replay_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/pnl"
	"github.com/tradeplane/tradeplane/internal/replay"
	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
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
		Accounts: []replay.Account{{Name: "alpha", Balances: balances}},
		Sessions: specs,
		Sources:  []replay.Source{{Symbol: "BTCUSDT", Interval: time.Minute, Stream: &replay.SliceStream{Klines: ks}, Name: "btc"}},
		Fill:     replay.Fill{Slippage: slip},
		Seed:     9,
	})
	if err != nil {
		t.Fatal(err)
	}
	live := runLive(t, ks, specs, balances, slip, 9)

	// Same orders: client order id, side, type, price, quantity.
	if got, want := live.orders, replayOrders(res); !slices.Equal(got, want) {
		t.Errorf("live orders (%d) differ from the replay's (%d):\nlive   %v\nreplay %v", len(got), len(want), got, want)
	}
	t.Logf("%d orders agree; replay trades %d", len(live.orders), len(res.Trades))
	if len(live.orders) < 20 {
		t.Fatalf("only %d orders: the sessions did too little to compare", len(live.orders))
	}
	// Same PnL per session, marked at the last close.
	marks := map[string]venue.Decimal{"BTCUSDT": ks[len(ks)-1].Close}
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
func replayOrders(res *replay.Result) []string {
	var out []string
	for _, ev := range res.Journal() {
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

// runLive is the live stack on a fake clock, driven bar by bar.
func runLive(t *testing.T, ks []venue.Kline, specs []replay.Session, balances []replay.Balance, slip venue.Decimal, seed uint64) liveRun {
	t.Helper()
	ctx := context.Background()
	start := ks[0].OpenTime
	clk := clock.NewFake(start)
	db, err := store.Open(ctx, "sqlite::memory:", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ex := paper.MustNew(paper.Config{Clock: clk, StrictCross: true})
	for _, b := range balances {
		if err := ex.Fund("alpha", venue.WalletSpot, b.Asset, b.Amount); err != nil {
			t.Fatal(err)
		}
	}
	acct := &store.Account{Name: "alpha", Venue: "paper", CreatedAt: start}
	if err := db.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	j := journal.Open(db, journal.Options{Clock: clk, Node: "live"})
	t.Cleanup(func() { j.Close() })
	pa := ex.Account("alpha")
	x := journal.NewExecutor(j, pa, acct.ID, journal.ExecutorOptions{Clock: clk})
	sub, err := pa.SubscribeUser(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	closeNow := ks[0].Open
	prices := session.PriceFunc(func(context.Context, string) (venue.Decimal, error) {
		mu.Lock()
		defer mu.Unlock()
		return closeNow, nil
	})
	steps := make(chan session.StepReport, 16)
	m, err := session.New(session.Options{Store: db, Clock: clk, Seed: seed, ClientOrderID: journal.ClientOrderID,
		Accounts: session.AccountsFunc(func(context.Context, int64) (session.Account, error) {
			return session.Account{Venue: pa, Orders: livePlacer{x}, Prices: prices}, nil
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
	for _, s := range specs {
		got, err := m.Create(ctx, session.Spec{Name: s.Name, Strategy: s.Strategy, AccountID: acct.ID, Symbols: s.Symbols, Params: s.Params}, "test")
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			Interval string `json:"interval"`
		}
		json.Unmarshal(s.Params, &p)
		iv, _ := time.ParseDuration(p.Interval)
		sessions = append(sessions, due{got.ID, iv})
	}
	for _, s := range sessions {
		if _, err := m.Start(ctx, s.id, "test"); err != nil {
			t.Fatal(err)
		}
		waitState(t, m, s.id, session.Running)
	}
	record := func() {
		for {
			select {
			case ev := <-sub:
				if ev.Kind == venue.EventTrade && ev.Trade != nil && ev.Trade.Maker {
					sid := ""
					if o, err := db.OrderByClientID(ctx, ev.Trade.ClientOrderID); err == nil {
						sid = o.SessionID
					}
					if _, err := x.RecordTrade(ctx, *ev.Trade, sid); err != nil {
						t.Fatal(err)
					}
				}
			default:
				return
			}
		}
	}
	for _, k := range ks {
		// The bar opens: the venue's price is the open, the slippage its
		// spread; the price book still shows the last close.
		ex.ApplyTick(venue.PriceTick{Symbol: "BTCUSDT", Price: k.Open, Ask: k.Open.Add(k.Open.Mul(slip)), Bid: k.Open.Sub(k.Open.Mul(slip)), Time: k.OpenTime})
		record()
		clk.Set(k.OpenTime)
		n := 0
		for _, s := range sessions {
			if el := k.OpenTime.Sub(start); el > 0 && el%s.interval == 0 {
				n++
			}
		}
		for range n {
			select {
			case <-steps:
			case <-time.After(30 * time.Second):
				t.Fatalf("%s: a due step did not run", k.OpenTime)
			}
		}
		record()
		// The rest of the bar.
		path := []venue.Decimal{k.Low, k.High, k.Close}
		if k.High.Sub(k.Open).LessThan(k.Open.Sub(k.Low)) {
			path = []venue.Decimal{k.High, k.Low, k.Close}
		}
		for _, p := range path {
			ex.ApplyTick(venue.PriceTick{Symbol: "BTCUSDT", Price: p, Time: k.OpenTime.Add(time.Minute - time.Millisecond)})
		}
		record()
		mu.Lock()
		closeNow = k.Close
		mu.Unlock()
	}
	out := liveRun{trades: map[string][]tradecsv.Trade{}}
	evs, err := db.JournalEvents(ctx, store.EventQuery{Kind: string(journal.KindIntent), Ascending: true, Limit: 10000})
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
