package binance_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
	"github.com/tradeplane/tradeplane/internal/venue/venuetest"
)

func dec(s string) venue.Decimal { return udecimal.MustParse(s) }

// testBundle is a fake Binance and a client talking to it.
type testBundle struct {
	fake   *binancetest.Server
	client *binance.Client
	ctx    context.Context
}

func setup(t testing.TB, fcfg binancetest.Config, mod func(*binance.Config)) *testBundle {
	t.Helper()
	fake := binancetest.Start(t, fcfg)
	cfg := binance.Config{
		APIKey: fake.APIKey(), APISecret: fake.APISecret(), BaseURL: fake.URL, FuturesBaseURL: fake.URL,
		WSBaseURL: fake.StreamURL, WSAPIURL: fake.WSAPIURL, Clock: fcfg.Clock,
		ReconnectMin: 10 * time.Millisecond, ReconnectMax: 100 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := binance.New(cfg)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return &testBundle{fake: fake, client: c, ctx: ctx}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	venuetest.Run(t, func(t *testing.T) *venuetest.Harness {
		b := setup(t, binancetest.Config{}, nil)
		return &venuetest.Harness{
			Venue:    b.client,
			SetPrice: b.fake.SetPrice,
			FailNext: func(op string, f venuetest.Fault) { b.fake.FailNext(op, binancetest.Fault(f)) },
			Fund:     b.fake.Fund,
		}
	})
}

func TestRateLimitedThenBackOffThenSucceed(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{}, nil)
	b.fake.Fund(venue.WalletSpot, "USDT", dec("10"))
	b.fake.FailNext(binancetest.OpOpenOrders, binancetest.FaultRateLimited)
	_, err := b.client.OpenOrders(b.ctx, "BTCUSDT")
	var ve *venue.Error
	if !errors.As(err, &ve) || ve.Class != venue.ClassRateLimited || ve.RetryAfter != time.Second {
		t.Fatalf("first call: got %v, want rate limited with retry after 1s", err)
	}
	start := time.Now()
	if _, err := b.client.OpenOrders(b.ctx, "BTCUSDT"); err != nil {
		t.Fatalf("call after back-off: %v", err)
	}
	if waited := time.Since(start); waited < 900*time.Millisecond {
		t.Errorf("second call went out after %s, want it to wait out Retry-After", waited)
	}
	if st := b.fake.Stats(); st.Banned != 0 || st.RateLimited != 1 {
		t.Errorf("fake saw %d bans and %d 429s, want 0 and 1", st.Banned, st.RateLimited)
	}
}

func TestBannedUntilBanEnds(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	var bans atomic.Int32
	var bannedUntil, pause atomic.Value
	b := setup(t, binancetest.Config{Clock: clk, BanDuration: 2 * time.Minute, FaultRetryAfter: 120 * time.Second}, func(c *binance.Config) {
		c.OnBan = func(p binance.Pause) { bans.Add(1); bannedUntil.Store(p.Until); pause.Store(p) }
	})
	b.fake.FailNext(binancetest.OpBalances, binancetest.FaultBanned)
	_, err := b.client.Balances(b.ctx)
	var ve *venue.Error
	if !errors.As(err, &ve) || ve.Class != venue.ClassBanned {
		t.Fatalf("balances: got %v, want banned", err)
	}
	want := clk.Now().Add(2 * time.Minute)
	if !ve.Until.Equal(want) || bans.Load() != 1 || !bannedUntil.Load().(time.Time).Equal(want) {
		t.Fatalf("ban until %s, OnBan calls %d, want %s and 1", ve.Until, bans.Load(), want)
	}
	if p := pause.Load().(binance.Pause); p.Cause != binance.PauseBanned || p.Status != 418 || p.Host == "" ||
		!strings.Contains(p.Message, "banned until") {
		t.Errorf("OnBan told %+v; want cause banned, HTTP 418, the host and Binance's message", p)
	}
	before := b.fake.Stats().Requests
	for range 5 {
		if _, err := b.client.OpenOrders(b.ctx, "BTCUSDT"); !errors.Is(err, venue.ErrBanned) {
			t.Fatalf("call during ban: got %v, want banned", err)
		}
	}
	if got := b.fake.Stats().Requests; got != before {
		t.Errorf("%d requests reached the venue during the ban, want 0", got-before)
	}
	clk.Advance(2*time.Minute + time.Second)
	if _, err := b.client.OpenOrders(b.ctx, "BTCUSDT"); err != nil {
		t.Fatalf("call after the ban: %v", err)
	}
	if bans.Load() != 1 {
		t.Errorf("OnBan called %d times, want 1", bans.Load())
	}
}

func TestTimestampResync(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{}, nil)
	if _, err := b.client.OpenOrders(b.ctx, "BTCUSDT"); err != nil {
		t.Fatalf("first call (syncs time): %v", err)
	}
	b.fake.SetSkew(30 * time.Second)
	_, err := b.client.OpenOrders(b.ctx, "BTCUSDT")
	if !errors.Is(err, venue.ErrTimestamp) {
		t.Fatalf("with a skewed server: got %v, want timestamp", err)
	}
	if _, err := b.client.OpenOrders(b.ctx, "BTCUSDT"); err != nil {
		t.Fatalf("retry after resync: %v", err)
	}
}

func TestUnknownOutcomeSettledByQuery(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{}, nil)
	b.fake.Fund(venue.WalletSpot, "USDT", dec("1000"))
	b.fake.SetPrice("BTCUSDT", dec("20000"))
	b.fake.FailNext(binancetest.OpPlace, binancetest.FaultTimeoutAfterExecution)
	req := venue.OrderRequest{ClientOrderID: "sess1-step7", Symbol: "BTCUSDT", Side: venue.Buy, Type: venue.Limit,
		Quantity: dec("0.001"), Price: dec("19000")}
	_, err := b.client.PlaceOrder(b.ctx, req)
	if !errors.Is(err, venue.ErrUnknownOutcome) {
		t.Fatalf("place: got %v, want unknown outcome", err)
	}
	o, err := b.client.QueryOrder(b.ctx, "BTCUSDT", "sess1-step7")
	if err != nil || o.Status != venue.StatusNew || o.ClientOrderID != "sess1-step7" {
		t.Fatalf("query: got %+v, %v; want the new order", o, err)
	}
}

func TestInvalidClientOrderIDNotSent(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{}, nil)
	_, err := b.client.PlaceOrder(b.ctx, venue.OrderRequest{ClientOrderID: "bad id!", Symbol: "BTCUSDT", Side: venue.Buy,
		Type: venue.Limit, Quantity: dec("1"), Price: dec("1")})
	if !errors.Is(err, venue.ErrInvalid) {
		t.Fatalf("got %v, want invalid", err)
	}
	if n := b.fake.Stats().Requests; n != 0 {
		t.Errorf("%d requests sent, want 0", n)
	}
}

func TestWeightHeaderHonoured(t *testing.T) {
	t.Parallel()
	// The window is long enough not to roll during the test; another
	// process "spends" weight that only the header reveals.
	b := setup(t, binancetest.Config{WeightLimit: 100, WeightWindow: time.Hour}, func(c *binance.Config) {
		c.WeightLimit, c.WeightWindow = 100, time.Hour
	})
	// Weight spent behind our back: exchangeInfo through a second client.
	other, err := binance.New(binance.Config{APIKey: "k", APISecret: "s", BaseURL: b.fake.URL})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := other.Symbols(b.ctx); err != nil {
			t.Fatal(err)
		}
	}
	// used is 61 (3×20 and a time sync); our sync and one call make 82, which
	// the header reveals; the next call (20) would pass 100 and must wait.
	if _, err := b.client.Symbols(b.ctx); err != nil {
		t.Fatalf("symbols: %v", err)
	}
	if got := b.client.Stats().UsedWeight; got != 82 {
		t.Fatalf("used weight from header: got %d, want 82", got)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 200*time.Millisecond)
	defer cancel()
	_, err = b.client.Symbols(ctx)
	if !errors.Is(err, venue.ErrUnavailable) {
		t.Fatalf("call over budget: got %v, want it held back until ctx ended", err)
	}
	if st := b.fake.Stats(); st.RateLimited != 0 {
		t.Errorf("fake answered %d 429s, want 0", st.RateLimited)
	}
}

// TestPublishedLimitsAdopted: a client left at the default limits budgets by
// the rateLimits that exchangeInfo publishes, so it neither waits for a
// budget smaller than the server's nor runs into a 429 on a smaller one; a
// limit set in Config is kept as given.
func TestPublishedLimitsAdopted(t *testing.T) {
	t.Parallel()
	fcfg := binancetest.Config{WeightLimit: 90, WeightWindow: time.Hour, OrderLimit10s: 7, OrderLimitDay: 1234}
	b := setup(t, fcfg, func(c *binance.Config) { c.WeightWindow = time.Hour })
	if st := b.client.Stats(); st.WeightLimit != 6000 || st.OrderLimit10s != 50 || st.OrderLimitDay != 160000 {
		t.Fatalf("limits before exchangeInfo: %+v, want the documented defaults", st)
	}
	if _, err := b.client.Symbols(b.ctx); err != nil {
		t.Fatal(err)
	}
	// The fake publishes its weight limit per MINUTE; this client's window is
	// an hour, so that one must not be taken; the order limits match.
	if st := b.client.Stats(); st.WeightLimit != 6000 || st.OrderLimit10s != 7 || st.OrderLimitDay != 1234 {
		t.Fatalf("limits after exchangeInfo: weight %d, orders %d/10s %d/day; want 6000, 7, 1234", st.WeightLimit, st.OrderLimit10s, st.OrderLimitDay)
	}

	// Same window: the published weight limit is taken and enforced before
	// the server would answer 429.
	m := setup(t, binancetest.Config{WeightLimit: 70}, nil)
	if _, err := m.client.Symbols(m.ctx); err != nil {
		t.Fatal(err)
	}
	if st := m.client.Stats(); st.WeightLimit != 70 {
		t.Fatalf("published weight limit not adopted: %d, want 70", st.WeightLimit)
	}
	// used: sync 1 + exchangeInfo 20 = 21; two more make 61; a third would be 81.
	for range 2 {
		if _, err := m.client.Symbols(m.ctx); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(m.ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := m.client.Symbols(ctx); !errors.Is(err, venue.ErrUnavailable) {
		t.Fatalf("call past the published limit: got %v, want it held back", err)
	}
	if st := m.fake.Stats(); st.RateLimited != 0 {
		t.Errorf("fake answered %d 429s, want 0", st.RateLimited)
	}

	// A limit set in Config is the desk's choice and stays.
	e := setup(t, binancetest.Config{WeightLimit: 70}, func(c *binance.Config) { c.WeightLimit = 40 })
	if _, err := e.client.Symbols(e.ctx); err != nil {
		t.Fatal(err)
	}
	if st := e.client.Stats(); st.WeightLimit != 40 {
		t.Fatalf("configured weight limit replaced: %d, want 40", st.WeightLimit)
	}
}

func TestBalancesAcrossWallets(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{}, nil)
	b.fake.Fund(venue.WalletSpot, "USDT", dec("100"))
	b.fake.Fund(venue.WalletFunding, "USDT", dec("5"))
	b.fake.Fund(venue.WalletFutures, "USDT", dec("7"))
	b.fake.Borrow("BTC", dec("0.5"))
	b.fake.Fund(venue.WalletEarn, "USDT", dec("9"))
	bals, err := b.client.Balances(b.ctx)
	if err != nil {
		t.Fatalf("balances: %v", err)
	}
	got := map[venue.Wallet]venue.Balance{}
	for _, bal := range bals {
		got[bal.Wallet] = bal
	}
	for w, want := range map[venue.Wallet]string{venue.WalletSpot: "100", venue.WalletFunding: "5", venue.WalletFutures: "7",
		venue.WalletMargin: "0.5", venue.WalletEarn: "9"} {
		if !got[w].Free.Equal(dec(want)) {
			t.Errorf("wallet %s: free %s, want %s", w, got[w].Free, want)
		}
	}
	if !got[venue.WalletMargin].Borrowed.Equal(dec("0.5")) {
		t.Errorf("margin borrowed %s, want 0.5", got[venue.WalletMargin].Borrowed)
	}
}

func TestSubAccounts(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{}, nil)
	b.fake.AddSubAccount(binancetest.SubAccount{Email: "a@desk.example", Created: time.UnixMilli(1700000000000)})
	b.fake.AddSubAccount(binancetest.SubAccount{Email: "b@desk.example", Created: time.UnixMilli(1700000000000)})
	subs, err := b.client.SubAccounts(b.ctx)
	if err != nil {
		t.Fatalf("sub-accounts: %v", err)
	}
	if len(subs) != 2 || subs[0].Email != "a@desk.example" {
		t.Fatalf("sub-accounts: got %+v", subs)
	}
}

func TestTradesAcrossWindows(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{}, nil)
	start := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	b.fake.SeedTrades("BTCUSDT", start, 10*time.Minute, 3*144) // three days
	q := venue.TradeQuery{Symbol: "BTCUSDT", From: start, To: start.Add(72 * time.Hour), Limit: 100}
	n := 0
	for {
		p, err := b.client.Trades(b.ctx, q)
		if err != nil {
			t.Fatalf("trades: %v", err)
		}
		n += len(p.Trades)
		if p.Next == "" {
			break
		}
		q.Cursor = p.Next
	}
	if n != 3*144 {
		t.Errorf("trades over 72h: got %d, want %d", n, 3*144)
	}
}

func TestUserStreamReconnects(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{}, nil)
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	events, err := b.client.SubscribeUser(ctx)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	b.fake.DropStreams()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Kind == venue.EventReconnected {
				b.fake.Fund(venue.WalletSpot, "BTC", dec("1"))
				for {
					select {
					case ev := <-events:
						if ev.Kind == venue.EventBalance && ev.Balance.Asset == "BTC" {
							return
						}
					case <-deadline:
						t.Fatal("no balance event after reconnect")
					}
				}
			}
		case <-deadline:
			t.Fatal("no reconnected event")
		}
	}
}
