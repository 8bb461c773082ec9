package binance_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// TestDocumentedSubAccountBalances feeds the adapter Binance's documented
// sub-account assets (v3: free and locked as JSON numbers) and sub-account
// USDⓈ-M futures account examples verbatim: every non-zero spot asset with
// its exact digits, and the futures USDT wallet (0.88308, all withdrawable).
func TestDocumentedSubAccountBalances(t *testing.T) {
	t.Parallel()
	d := newDocsServer(t)
	d.answer("GET /sapi/v3/sub-account/assets", 200, "sub_account_assets.json", nil)
	d.answer("GET /sapi/v2/sub-account/futures/account", 200, "sub_account_futures_account.json", nil)
	c := docsClient(t, d)
	got, err := c.SubAccountBalances(t.Context(), "abc@test.com")
	if err != nil {
		t.Fatal(err)
	}
	want := []venue.Balance{
		{Wallet: venue.WalletSpot, Asset: "ADA", Free: dec("10000")},
		{Wallet: venue.WalletSpot, Asset: "BNB", Free: dec("10003")},
		{Wallet: venue.WalletSpot, Asset: "BTC", Free: dec("11467.6399")},
		{Wallet: venue.WalletSpot, Asset: "ETH", Free: dec("10004.995")},
		{Wallet: venue.WalletSpot, Asset: "USDT", Free: dec("11652.14213")},
		{Wallet: venue.WalletFutures, Asset: "USDT", Free: dec("0.88308")},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if !same(got[i], want[i]) {
			t.Errorf("balance %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	// A sub-account without futures: Binance refuses the futures read; the
	// spot balances stand.
	d.answer("GET /sapi/v2/sub-account/futures/account", 401, "error_api_key.json", nil)
	if got, err := c.SubAccountBalances(t.Context(), "abc@test.com"); err != nil || len(got) != 5 {
		t.Errorf("without futures: %+v, %v; want the 5 spot balances", got, err)
	}
}

// TestSubAccountView: a sub-account without its own key reads its balances
// through the master (the fake's sub-account endpoints, signed with the
// master's key), and every trading operation is refused before a request
// leaves, with a message that says what to do.
func TestSubAccountView(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{}, nil)
	b.fake.FundSubAccount("desk1@example.com", venue.WalletSpot, "BTC", dec("0.5"))
	b.fake.FundSubAccount("desk1@example.com", venue.WalletFutures, "USDT", dec("250.25"))
	b.fake.Fund(venue.WalletSpot, "BTC", dec("9")) // the master's own: not the sub-account's
	v := binance.NewSubAccountView(b.client, "desk1@example.com")
	bals, err := v.Balances(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []venue.Balance{
		{Wallet: venue.WalletSpot, Asset: "BTC", Free: dec("0.5")},
		{Wallet: venue.WalletFutures, Asset: "USDT", Free: dec("250.25")},
	}
	if len(bals) != 2 || !same(bals[0], want[0]) || !same(bals[1], want[1]) {
		t.Fatalf("sub-account balances %+v, want %+v", bals, want)
	}
	before := b.fake.Stats()
	_, err = v.PlaceOrder(b.ctx, venue.OrderRequest{ClientOrderID: "x1", Symbol: "BTCUSDT", Side: venue.Buy, Type: venue.Market,
		Quantity: dec("0.001")})
	var nk *binance.NoKeyError
	if !errors.As(err, &nk) || nk.Email != "desk1@example.com" || venue.ClassOf(err) != venue.ClassAuth {
		t.Fatalf("place order on a keyless sub-account: %v, want a *NoKeyError of class auth", err)
	}
	// The user stream has no events (balances are polled) and ends with
	// its context.
	uctx, cancel := context.WithCancel(b.ctx)
	ch, err := v.SubscribeUser(uctx)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, open := <-ch; open {
		t.Error("user stream of a keyless sub-account sent an event")
	}
	if _, err := v.Trades(b.ctx, venue.TradeQuery{Symbol: "BTCUSDT"}); !errors.As(err, &nk) {
		t.Errorf("trades: %v, want a *NoKeyError", err)
	}
	if after := b.fake.Stats(); after.Orders != before.Orders {
		t.Errorf("an order reached the venue: %+v then %+v", before, after)
	}
	// An email that is not a sub-account of this master is an error, not
	// an empty account.
	if _, err := binance.NewSubAccountView(b.client, "nobody@example.com").Balances(b.ctx); err == nil {
		t.Error("balances of an unknown sub-account: nil error")
	}
}
