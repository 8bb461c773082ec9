package bybit_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/bybit"
	"github.com/tradeplane/tradeplane/internal/venue/bybittest"
	"github.com/tradeplane/tradeplane/internal/venue/venuetest"
)

// newLinear returns the linear side of an account on fake.
func newLinear(t testing.TB, fake *bybittest.Server) *bybit.Linear {
	t.Helper()
	l, err := bybit.NewLinear(bybit.Config{APIKey: bybittest.APIKey, APISecret: bybittest.APISecret, BaseURL: fake.BaseURL(),
		PublicWSURL: fake.PublicWSURL(), PrivateWSURL: fake.PrivateWSURL(), LinearWSURL: fake.LinearWSURL(),
		HTTPTimeout: 5 * time.Second, ReconnectMin: 10 * time.Millisecond, ReconnectMax: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("new linear client: %v", err)
	}
	return l
}

func linearHarness(t *testing.T) (*bybittest.Server, *bybit.Linear, venuetest.Harness) {
	fake := bybittest.New(t, bybittest.Config{})
	l := newLinear(t, fake)
	return fake, l, harness(t, fake, l, venue.KindLinearPerpetual)
}

func TestLinearConformance(t *testing.T) {
	t.Parallel()
	venuetest.Run(t, func(t *testing.T) *venuetest.Harness {
		_, _, h := linearHarness(t)
		return &h
	})
}

func TestLinearPositionsConformance(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	venuetest.RunPositions(t, func(t *testing.T) *venuetest.PositionHarness {
		_, l, h := linearHarness(t)
		return &venuetest.PositionHarness{Harness: h,
			Trade: func(ctx context.Context, symbol string, side venue.Side, qty venue.Decimal) error {
				_, err := l.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: fmt.Sprintf("vt-pos-%d", n.Add(1)),
					Symbol: symbol, Side: side, Type: venue.Market, Quantity: qty})
				return err
			}}
	})
}

// replayLinear sends the linear examples through a Linear: the Linear tab
// of instruments-info, the linear/inverse tickers, the unified wallet as
// the futures wallet, and the execution push (a linear example) unedited.
func replayLinear(t *testing.T, ctx context.Context, used map[string]bool) {
	t.Helper()
	edit := func(path, v string) func([]byte) []byte {
		return func(b []byte) []byte {
			out, _ := sjson.SetBytes(b, path, v)
			return out
		}
	}
	wallet := func(b []byte) []byte {
		for k, v := range map[string]string{"walletBalance": "100", "locked": "1", "totalOrderIM": "2.5", "totalPositionIM": "10"} {
			b = edit("result.list.0.coin.0."+k, v)(b)
		}
		return b
	}
	r := newReplay(t, map[string]func([]byte) []byte{"account-wallet-balance.json": wallet}, map[string]string{
		"/v5/market/instruments-info": "market-instruments-info-linear.json",
		"/v5/market/tickers":          "market-tickers-linear.json",
	})
	ws := "ws" + strings.TrimPrefix(r.srv.URL, "http")
	l, err := bybit.NewLinear(bybit.Config{APIKey: "k", APISecret: "s", BaseURL: r.srv.URL,
		PrivateWSURL: ws + "/v5/private", LinearWSURL: ws + "/v5/public/linear"})
	if err != nil {
		t.Fatal(err)
	}
	syms, err := l.Symbols(ctx)
	if err != nil || len(syms) != 1 {
		t.Fatalf("linear symbols: %v %+v", err, syms)
	}
	s := syms[0]
	check(t, "linear instrument", field{"name", s.Name, "BTCUSDT"}, field{"kind", s.Kind, venue.KindLinearPerpetual},
		field{"base", s.Base, "BTC"}, field{"quote", s.Quote, "USDT"}, field{"tick", s.TickSize, dec("0.10")},
		field{"step", s.StepSize, dec("0.001")}, field{"minQty", s.MinQty, dec("0.001")}, field{"maxQty", s.MaxQty, dec("100.000")},
		field{"minNotional", s.MinNotional, dec("5")})
	used["market-instruments-info-linear.json"] = true

	ticks, err := l.Tickers(ctx, "BTCUSD")
	if err != nil || len(ticks) != 1 {
		t.Fatalf("linear tickers: %v %+v", err, ticks)
	}
	check(t, "linear ticker", field{"symbol", ticks[0].Symbol, "BTCUSD"}, field{"last", ticks[0].Price, dec("16597.00")},
		field{"bid", ticks[0].Bid, dec("16596.00")}, field{"ask", ticks[0].Ask, dec("16597.50")},
		field{"time", ticks[0].Time, time.UnixMilli(1672376496682)})
	used["market-tickers-linear.json"] = true

	bs, err := l.Balances(ctx)
	if err != nil || len(bs) != 1 {
		t.Fatalf("linear balances: %v %+v", err, bs)
	}
	// Locked: 1 (spot orders) + 2.5 (order IM) + 10 (position IM).
	check(t, "linear balance", field{"wallet", bs[0].Wallet, venue.WalletFutures}, field{"asset", bs[0].Asset, "BTC"},
		field{"free", bs[0].Free, dec("86.5")}, field{"locked", bs[0].Locked, dec("13.5")})

	// The execution example is category linear: a Linear takes it as it
	// is published; the order example (category option) it leaves out.
	uctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := l.SubscribeUser(uctx)
	if err != nil {
		t.Fatalf("linear subscribe user: %v", err)
	}
	select {
	case ev := <-events:
		if ev.Kind != venue.EventTrade || ev.Trade.ID != "7e2ae69c-4edf-5800-a352-893d52b446aa" || ev.Trade.Symbol != "XRPUSDT" {
			t.Errorf("linear user stream: first event %+v, want the execution example", ev)
		}
	case <-ctx.Done():
		t.Fatal("linear user stream: no event")
	}
	// The wallet example's BTC as the futures wallet (its IM fields are
	// empty: nothing held).
	select {
	case ev := <-events:
		if ev.Kind != venue.EventBalance || ev.Balance.Wallet != venue.WalletFutures || ev.Balance.Asset != "BTC" ||
			!ev.Balance.Free.Equal(dec("0.00102964")) || !ev.Balance.Locked.IsZero() {
			t.Errorf("linear user stream: second event %+v (%+v), want the wallet example's BTC", ev, ev.Balance)
		}
	case <-ctx.Done():
		t.Fatal("linear user stream: no wallet event")
	}
}

// TestLinearReduceOnlyAndPositionIdx: reduceOnly reaches Bybit as
// "reduceOnly" (the library's "reduce_only" would be ignored and open a
// short): with no position it is refused (110017), with one it closes no
// more than the position; a hedge-mode side is sent as its positionIdx,
// which the one-way fake refuses; a spot client refuses both fields.
func TestLinearReduceOnlyAndPositionIdx(t *testing.T) {
	t.Parallel()
	fake, l, h := linearHarness(t)
	ctx := t.Context()
	h.SetPrice("BTCUSDT", dec("20000"))
	h.Fund(venue.WalletFutures, "USDT", dec("10000"))
	mkt := func(id string, side venue.Side, qty string, reduce bool, ps venue.PositionSide) (venue.Order, error) {
		return l.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: id, Symbol: "BTCUSDT", Side: side, Type: venue.Market,
			Quantity: dec(qty), ReduceOnly: reduce, PositionSide: ps})
	}
	_, err := mkt("ro-none", venue.Sell, "0.01", true, "")
	if ve := wantErr(t, err, venue.ErrRejected); ve.Code != 110017 {
		t.Errorf("reduce-only without a position: code %d, want 110017", ve.Code)
	}
	if _, err := mkt("ro-open", venue.Buy, "0.01", false, ""); err != nil {
		t.Fatal(err)
	}
	o, err := mkt("ro-close", venue.Sell, "0.05", true, venue.PositionBoth)
	if err != nil {
		t.Fatal(err)
	}
	if !o.ExecutedQty.Equal(dec("0.01")) {
		t.Errorf("reduce-only sell of 0.05 against a 0.01 long executed %s, want 0.01", o.ExecutedQty)
	}
	ps, err := l.Positions(ctx)
	if err != nil || len(ps) != 0 {
		t.Errorf("positions after the reduce-only close: %+v %v, want none", ps, err)
	}
	_, err = mkt("hedge-long", venue.Buy, "0.01", false, venue.PositionLong)
	if ve := wantErr(t, err, venue.ErrInvalid); ve.Code != 10001 || !strings.Contains(ve.Message, "position idx") {
		t.Errorf("hedge-mode long on a one-way account: %v, want 10001 naming the position idx", err)
	}
	if len(fake.LinearOrders()) != 2 {
		t.Errorf("linear orders at the fake: %d, want the two accepted", len(fake.LinearOrders()))
	}
	spot := newClient(t, fake)
	_, err = spot.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: "spot-ro", Symbol: "BTCUSDT", Side: venue.Sell,
		Type: venue.Market, Quantity: dec("0.01"), ReduceOnly: true})
	wantErr(t, err, venue.ErrInvalid)
	_, err = l.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: "quote-qty", Symbol: "BTCUSDT", Side: venue.Buy,
		Type: venue.Market, QuoteQuantity: dec("100")})
	wantErr(t, err, venue.ErrInvalid)
}

// TestLinearExecTypes: of a linear execution list, trades (and bust and
// ADL trades) are fills; funding settlements are not.
func TestLinearExecTypes(t *testing.T) {
	t.Parallel()
	for typ, want := range map[string]int{"Trade": 1, "BustTrade": 1, "AdlTrade": 1, "Funding": 0, "Settle": 0} {
		r := newReplay(t, map[string]func([]byte) []byte{"execution-list.json": func(b []byte) []byte {
			if !gjson.GetBytes(b, "result.list.0").Exists() { // a page by cursor: empty
				return b
			}
			out, _ := sjson.SetBytes(b, "result.list.0.execType", typ)
			return out
		}})
		l, err := bybit.NewLinear(bybit.Config{APIKey: "k", APISecret: "s", BaseURL: r.srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		ts, err := l.OrderTrades(t.Context(), "ETHPERP", "8c065341-7b52-4ca9-ac2c-37e31ac55c94")
		if err != nil || len(ts) != want {
			t.Errorf("execType %s: %d fills (%v), want %d", typ, len(ts), err, want)
		}
	}
}

func wantErr(t *testing.T, err error, target *venue.Error) *venue.Error {
	t.Helper()
	var ve *venue.Error
	if !errors.Is(err, target) || !errors.As(err, &ve) {
		t.Fatalf("got %v, want class %s", err, target.Class)
	}
	return ve
}

// TestLinearRegistry opens a bybit-linear account through the registry at
// the fake's base URL: REST and both streams there.
func TestLinearRegistry(t *testing.T) {
	t.Parallel()
	fake := bybittest.New(t, bybittest.Config{})
	if err := fake.SetPrice("BTCUSDT", dec("20000")); err != nil {
		t.Fatal(err)
	}
	k, err := venue.Lookup(bybit.LinearName)
	if err != nil || !k.Positions || !k.Trades || !k.Credentials {
		t.Fatalf("lookup %s: %+v %v", bybit.LinearName, k, err)
	}
	v, err := k.Open(venue.Env{}, venue.Account{Name: "perps", BaseURL: fake.BaseURL(), APIKey: bybittest.APIKey, Secret: []byte(bybittest.APISecret)})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := v.(venue.PositionReader); !ok || v.Name() != bybit.LinearName {
		t.Fatalf("opened %T named %q, want a PositionReader named %s", v, v.Name(), bybit.LinearName)
	}
	syms, err := v.Symbols(t.Context())
	if err != nil || len(syms) == 0 || syms[0].Kind != venue.KindLinearPerpetual {
		t.Fatalf("symbols: %+v %v", syms, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	ticks, err := v.SubscribePrices(ctx, []string{"BTCUSDT"})
	if err != nil {
		t.Fatal(err)
	}
	for {
		if err := fake.SetPrice("BTCUSDT", dec("20001")); err != nil {
			t.Fatal(err)
		}
		select {
		case tk := <-ticks:
			if tk.Symbol == "BTCUSDT" && tk.Price.Equal(dec("20001")) {
				return
			}
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("no tick from the linear public stream")
		}
	}
}

// TestUnifiedCountedOnce: with the process saying a bybit-linear account
// of the key exists, the bybit account leaves the unified wallet and the
// positions to it (the funding wallet stays); without, it reports them.
func TestUnifiedCountedOnce(t *testing.T) {
	t.Parallel()
	fake := bybittest.New(t, bybittest.Config{})
	for _, f := range []struct {
		w   venue.Wallet
		amt string
	}{{venue.WalletSpot, "1000"}, {venue.WalletFunding, "50"}} {
		if err := fake.Fund(f.w, "USDT", dec(f.amt)); err != nil {
			t.Fatal(err)
		}
	}
	fake.SetPosition(venue.Position{Symbol: "BTCUSDT", SettleAsset: "USDT", Size: dec("0.1"), EntryPrice: dec("20000"),
		MarkPrice: dec("20000"), Leverage: dec("10"), MarginMode: venue.MarginCross})
	acct := venue.Account{Name: "uta", BaseURL: fake.BaseURL(), APIKey: bybittest.APIKey, Secret: []byte(bybittest.APISecret)}
	for _, linear := range []bool{false, true} {
		env := venue.Env{Shared: func(kind string) any {
			if kind != bybit.SharedLinearKeys {
				return nil
			}
			return func(key string) bool { return linear && key == bybittest.APIKey }
		}}
		k, _ := venue.Lookup(bybit.Name)
		v, err := k.Open(env, acct)
		if err != nil {
			t.Fatal(err)
		}
		bs, err := v.Balances(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		wallets := map[venue.Wallet]string{}
		for _, b := range bs {
			wallets[b.Wallet] = b.Free.Add(b.Locked).String()
		}
		ps, err := v.(venue.PositionReader).Positions(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		wantSpot, wantPos := "1000", 1
		if linear {
			wantSpot, wantPos = "", 0
		}
		if wallets[venue.WalletSpot] != wantSpot || wallets[venue.WalletFunding] != "50" || len(ps) != wantPos {
			t.Errorf("linear account of the key %v: wallets %v, %d positions; want spot %q, funding 50, %d positions",
				linear, wallets, len(ps), wantSpot, wantPos)
		}
	}
}

// TestLinearWalletStream: a resting linear order holds its initial margin,
// and the wallet topic says so at once: the futures wallet's USDT with
// notional / leverage locked; canceling it releases the margin.
func TestLinearWalletStream(t *testing.T) {
	t.Parallel()
	_, l, h := linearHarness(t)
	h.SetPrice("BTCUSDT", dec("20000"))
	h.Fund(venue.WalletFutures, "USDT", dec("1000"))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	events, err := l.SubscribeUser(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := func(free, locked string) {
		t.Helper()
		for {
			select {
			case ev := <-events:
				if ev.Kind == venue.EventBalance && ev.Balance.Asset == "USDT" && ev.Balance.Wallet == venue.WalletFutures &&
					ev.Balance.Free.Equal(dec(free)) && ev.Balance.Locked.Equal(dec(locked)) {
					return
				}
			case <-ctx.Done():
				t.Fatalf("no USDT balance event with free %s and locked %s", free, locked)
			}
		}
	}
	if _, err := l.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: "ws-margin", Symbol: "BTCUSDT", Side: venue.Buy,
		Type: venue.Limit, Quantity: dec("0.01"), Price: dec("19000")}); err != nil {
		t.Fatal(err)
	}
	// 0.01 × 19000 / 10 = 19 held.
	want("981", "19")
	if _, err := l.CancelOrder(ctx, "BTCUSDT", "ws-margin"); err != nil {
		t.Fatal(err)
	}
	want("1000", "0")
}
