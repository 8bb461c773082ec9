package binance_test

import (
	"context"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// TestSapiAndWSBudgetsAreSharedPerHost: Binance counts /sapi weight and
// WebSocket connection attempts per IP, so two accounts given one host's
// budgets (Budgets.ForSapi, ForWS, ForWSAPI) spend them together: once one
// has spent a budget the other waits and sends nothing.
func TestSapiAndWSBudgetsAreSharedPerHost(t *testing.T) {
	t.Parallel()
	fake := binancetest.Start(t, binancetest.Config{})
	fake.SetPrice("BTCUSDT", dec("20000"))
	bs := binance.NewBudgets(binance.BudgetConfig{})
	must := func(b *binance.Budget, err error) *binance.Budget {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	wsAPIURL := fake.WSAPIURL
	if a, b := must(bs.ForSapi(fake.URL)), must(bs.ForSapi(fake.URL+"/")); a != b || a == must(bs.For(fake.URL)) {
		t.Fatal("ForSapi: one host got two /sapi budgets, or the spot one")
	}
	if must(bs.ForWS(fake.StreamURL)) != must(bs.ForWSAPI(wsAPIURL)) {
		t.Fatal("the fake serves streams and the WebSocket API from one host: one connection budget")
	}
	if must(bs.ForWS("")) == must(bs.ForWSAPI("")) {
		t.Fatal("Binance's stream and WebSocket API hosts got one connection budget")
	}

	// Budgets small enough to spend in a test, over an hour so no window
	// ends during it; shared the way ForSapi and ForWS share them.
	sapi := binance.NewBudget(binance.BudgetConfig{WeightLimit: 2, WeightWindow: time.Hour})
	ws := binance.NewBudget(binance.BudgetConfig{WeightLimit: 1, WeightWindow: time.Hour})
	var cs [2]*binance.Client
	for i := range cs {
		c, err := binance.New(binance.Config{APIKey: fake.APIKey(), APISecret: fake.APISecret(), BaseURL: fake.URL, FuturesBaseURL: fake.URL,
			WSBaseURL: fake.StreamURL, WSAPIURL: wsAPIURL, SapiBudget: sapi, WSBudget: ws, WSAPIBudget: ws})
		if err != nil {
			t.Fatal(err)
		}
		cs[i] = c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 2 {
		if _, err := cs[0].SubAccounts(ctx); err != nil {
			t.Fatalf("sub-accounts within the /sapi budget: %v", err)
		}
	}
	if err := cs[1].SyncTime(ctx); err != nil { // its first request would sync first
		t.Fatal(err)
	}
	n := fake.Stats().Requests
	short, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	defer stop()
	if _, err := cs[1].SubAccounts(short); err == nil || fake.Stats().Requests != n {
		t.Errorf("second account's /sapi call after the first spent the budget: %v, %d requests sent; want held back, none sent",
			err, fake.Stats().Requests-n)
	}

	sub, cancelSub := context.WithCancel(ctx)
	defer cancelSub()
	if _, err := cs[0].SubscribePrices(sub, []string{"BTCUSDT"}); err != nil {
		t.Fatalf("first connection within the budget: %v", err)
	}
	short2, stop2 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer stop2()
	if _, err := cs[1].SubscribePrices(short2, []string{"BTCUSDT"}); err == nil {
		t.Error("second account connected after the first spent the shared connection budget; want held back")
	}
}
