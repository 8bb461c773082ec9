package binance_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// slowTransport holds every request back before it leaves, so that requests
// sent together are all budgeted before any answer (and its weight header)
// comes back: what many accounts busy at once on one node look like.
type slowTransport struct{ d time.Duration }

func (s slowTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	time.Sleep(s.d)
	return http.DefaultTransport.RoundTrip(r)
}

// accounts opens n clients ("accounts") against one fake, all on budget
// when it is not nil, each synced.
func accounts(t *testing.T, fake *binancetest.Server, budget *binance.Budget, n int, mod func(*binance.Config)) []*binance.Client {
	t.Helper()
	var cs []*binance.Client
	for range n {
		cfg := binance.Config{APIKey: fake.APIKey(), APISecret: fake.APISecret(), BaseURL: fake.URL, FuturesBaseURL: fake.URL,
			Budget: budget, Transport: slowTransport{100 * time.Millisecond}}
		if mod != nil {
			mod(&cfg)
		}
		c, err := binance.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SyncTime(context.Background()); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	return cs
}

// TestSharedBudgetAcrossAccounts: Binance counts request weight per IP, so
// two accounts of one node sharing a Budget never send more weight than the
// host allows, and get no 429, while each alone fits its full budget. (With
// a limiter per account, the same burst drew two 429s from the fake.)
func TestSharedBudgetAcrossAccounts(t *testing.T) {
	t.Parallel()
	const limit = 100
	fcfg := binancetest.Config{WeightLimit: limit, WeightWindow: time.Hour}
	bcfg := binance.BudgetConfig{WeightLimit: limit, WeightWindow: time.Hour}
	// burst sends four exchangeInfo (weight 20 each) from every client at
	// once and counts those that went out.
	burst := func(cs []*binance.Client) (ok, held int) {
		ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
		defer cancel()
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, c := range cs {
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := c.Symbols(ctx)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						ok++
					case errors.Is(err, venue.ErrUnavailable):
						held++
					default:
						t.Errorf("symbols: %v", err)
					}
				}()
			}
		}
		wg.Wait()
		return ok, held
	}

	t.Run("alone", func(t *testing.T) {
		t.Parallel()
		fake := binancetest.Start(t, fcfg)
		cs := accounts(t, fake, binance.NewBudget(bcfg), 1, nil)
		// 1 (sync) + 4×20 = 81 fits 100.
		if ok, held := burst(cs); ok != 4 || held != 0 {
			t.Fatalf("one account: %d sent, %d held back; want 4 and 0", ok, held)
		}
		if st := fake.Stats(); st.RateLimited != 0 {
			t.Fatalf("one account drew %d 429s, want 0", st.RateLimited)
		}
	})
	t.Run("two accounts, one budget", func(t *testing.T) {
		t.Parallel()
		fake := binancetest.Start(t, fcfg)
		budget := binance.NewBudget(bcfg)
		cs := accounts(t, fake, budget, 2, nil)
		// 2 (syncs) + 4×20 = 82; a fifth exchangeInfo would make 102.
		ok, held := burst(cs)
		st := fake.Stats()
		if st.RateLimited != 0 || st.Banned != 0 {
			t.Fatalf("two accounts drew %d 429s and %d 418s, want none", st.RateLimited, st.Banned)
		}
		if st.Weight > limit {
			t.Fatalf("fake accepted weight %d, over its limit %d", st.Weight, limit)
		}
		if ok != 4 || held != 4 {
			t.Fatalf("%d sent, %d held back; want 4 and 4", ok, held)
		}
		if a, b := cs[0].Stats(), cs[1].Stats(); a.Weight+b.Weight != st.Weight || a.WeightLimit != limit || b.WeightLimit != limit {
			t.Errorf("per-account weight %d + %d, fake %d; limits %d, %d", a.Weight, b.Weight, st.Weight, a.WeightLimit, b.WeightLimit)
		}
	})
}

// TestSharedBudgetPauseAndBan: a 429 or a 418 one account draws stops every
// account on the host, as Binance applies both per IP; the ban is refused
// locally, without a request.
func TestSharedBudgetPauseAndBan(t *testing.T) {
	t.Parallel()
	fake := binancetest.Start(t, binancetest.Config{FaultRetryAfter: time.Second})
	budget := binance.NewBudget(binance.BudgetConfig{})
	var bans []string
	var mu sync.Mutex
	cs := accounts(t, fake, budget, 2, nil)
	for i, name := range []string{"a", "b"} {
		c, err := binance.New(binance.Config{APIKey: fake.APIKey(), APISecret: fake.APISecret(), BaseURL: fake.URL, Budget: budget,
			OnBan: func(binance.Pause) { mu.Lock(); bans = append(bans, name); mu.Unlock() }})
		if err != nil {
			t.Fatal(err)
		}
		cs[i] = c
	}
	ctx := context.Background()
	for _, c := range cs {
		if _, err := c.OpenOrders(ctx, "BTCUSDT"); err != nil {
			t.Fatal(err)
		}
	}
	fake.FailNext(binancetest.OpOpenOrders, binancetest.FaultRateLimited)
	if _, err := cs[0].OpenOrders(ctx, "BTCUSDT"); !errors.Is(err, venue.ErrRateLimited) {
		t.Fatalf("a: got %v, want rate limited", err)
	}
	start := time.Now()
	if _, err := cs[1].OpenOrders(ctx, "BTCUSDT"); err != nil {
		t.Fatalf("b after a's 429: %v", err)
	}
	if waited := time.Since(start); waited < 900*time.Millisecond {
		t.Errorf("b went out %s after a's 429, want it to wait out Retry-After (1 s)", waited)
	}

	fake.FailNext(binancetest.OpOpenOrders, binancetest.FaultBanned)
	if _, err := cs[0].OpenOrders(ctx, "BTCUSDT"); !errors.Is(err, venue.ErrBanned) {
		t.Fatalf("a: got %v, want banned", err)
	}
	before := fake.Stats().Requests
	if _, err := cs[1].OpenOrders(ctx, "BTCUSDT"); !errors.Is(err, venue.ErrBanned) {
		t.Fatalf("b during a's ban: got %v, want banned", err)
	}
	if n := fake.Stats().Requests - before; n != 0 {
		t.Errorf("b sent %d requests during the ban, want 0", n)
	}
	if cs[1].BannedUntil().IsZero() {
		t.Error("b does not report the ban")
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(bans) != "[a]" {
		t.Errorf("OnBan calls %v, want [a] (the account that drew the 418)", bans)
	}
}

// TestSharedBudgetKeepsOrderCountsPerAccount: Binance counts ORDERS per
// account, so one account's spent order count holds back its own orders,
// not another account's on the same budget. The fake is one account, so
// each account here has a fake of its own; the budget is shared anyway.
func TestSharedBudgetKeepsOrderCountsPerAccount(t *testing.T) {
	t.Parallel()
	budget := binance.NewBudget(binance.BudgetConfig{})
	var cs []*binance.Client
	for range 2 {
		fake := binancetest.Start(t, binancetest.Config{OrderLimit10s: 2})
		fake.Fund(venue.WalletSpot, "USDT", dec("1000"))
		cs = append(cs, accounts(t, fake, budget, 1, func(c *binance.Config) { c.Transport = nil })...)
	}
	ctx := context.Background()
	for _, c := range cs {
		if _, err := c.Symbols(ctx); err != nil { // adopts ORDERS 2 per 10 s
			t.Fatal(err)
		}
	}
	for i, c := range cs {
		for j := range 2 {
			if _, err := c.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: fmt.Sprintf("acct%d-%d", i, j), Symbol: "BTCUSDT",
				Side: venue.Buy, Type: venue.Limit, Quantity: dec("0.001"), Price: dec("10000")}); err != nil {
				t.Fatalf("account %d order %d: %v", i, j, err)
			}
		}
	}
	for i, c := range cs {
		if st := c.Stats(); st.Waited != 0 || st.OrderLimit10s != 2 {
			t.Errorf("account %d waited %s for its first two orders (limit %d/10s), want 0", i, st.Waited, st.OrderLimit10s)
		}
	}
	// A third order of account 0 is held back by its own count (unless a
	// 10-second window just began).
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err := cs[0].PlaceOrder(short, venue.OrderRequest{ClientOrderID: "acct0-2", Symbol: "BTCUSDT", Side: venue.Buy,
		Type: venue.Limit, Quantity: dec("0.001"), Price: dec("10000")})
	if err != nil && !errors.Is(err, venue.ErrUnavailable) {
		t.Fatalf("third order: %v", err)
	}
	if err == nil && cs[0].Stats().Waited == 0 {
		t.Errorf("third order of account 0 went out without waiting for its order count")
	}
}

// TestBudgetsPerHost: Budgets gives every account on one host the same
// budget and another host its own; a Client refuses a budget of another host
// or weight limits of its own beside a shared budget.
func TestBudgetsPerHost(t *testing.T) {
	t.Parallel()
	bs := binance.NewBudgets(binance.BudgetConfig{})
	get := func(u string) *binance.Budget {
		t.Helper()
		b, err := bs.For(u)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if get("https://api.binance.com") != get("https://API.binance.com:443/") || get("") != get("https://api.binance.com") {
		t.Error("one host got two budgets")
	}
	if get("https://api.binance.com") == get("https://testnet.binance.vision") || get("http://127.0.0.1:1") == get("http://127.0.0.1:2") {
		t.Error("two hosts share a budget")
	}
	if _, err := binance.New(binance.Config{APIKey: "k", APISecret: "s", BaseURL: "https://testnet.binance.vision",
		Budget: get("https://api.binance.com")}); err == nil {
		t.Error("a budget of another host was accepted")
	}
	if _, err := binance.New(binance.Config{APIKey: "k", APISecret: "s", Budget: get(""), WeightLimit: 10}); err == nil {
		t.Error("a weight limit beside a shared budget was accepted")
	}
	c, err := binance.New(binance.Config{APIKey: "k", APISecret: "s", Budget: get("")})
	if err != nil || c.Budget() != get("https://api.binance.com") {
		t.Fatalf("client on a shared budget: %v", err)
	}
}
