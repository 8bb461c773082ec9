package livefeed_test

import (
	"context"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/livefeed"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// TestDeskTotalsAcrossVenues values a desk of a Binance account (spot,
// futures and funding wallets, read through the real adapter from the
// loopback fake) and a paper account, and checks every total against
// values computed by hand, including a stale price flag.
func TestDeskTotalsAcrossVenues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := binancetest.Start(t, binancetest.Config{})
	fake.SetPrice("BTCUSDT", dec("50000"))
	fake.SetPrice("ETHUSDT", dec("2500"))
	fake.Fund(venue.WalletSpot, "BTC", dec("0.4"))
	fake.Fund(venue.WalletSpot, "USDT", dec("1234.5"))
	fake.Fund(venue.WalletFutures, "USDT", dec("10000"))
	fake.Fund(venue.WalletFunding, "ETH", dec("3"))
	bn, err := binance.New(binance.Config{APIKey: fake.APIKey(), APISecret: fake.APISecret(), BaseURL: fake.URL,
		FuturesBaseURL: fake.URL, WSBaseURL: fake.StreamURL, WSAPIURL: fake.WSAPIURL})
	if err != nil {
		t.Fatal(err)
	}
	ex := paper.MustNew(paper.Config{})
	must(t, ex.Fund("p", venue.WalletSpot, "ETH", dec("1.25")))
	must(t, ex.Fund("p", venue.WalletFunding, "USDC", dec("700")))

	db := storetest.MustOpenSQLite(t)
	pf, err := portfolio.New(portfolio.Config{StaleAfter: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	feed := livefeed.New(livefeed.Config{Portfolio: pf, Store: db})
	bacct := &store.Account{Name: "bn", Venue: "binance", Tags: []string{"desk"}}
	pacct := &store.Account{Name: "p", Venue: "paper", Tags: []string{"desk"}}
	must(t, db.CreateAccount(ctx, bacct))
	must(t, db.CreateAccount(ctx, pacct))
	must(t, feed.AddAccount(ctx, *bacct, bn))
	must(t, feed.AddAccount(ctx, *pacct, ex.Account("p")))

	now := time.Now()
	must(t, pf.Tick(venue.PriceTick{Symbol: "BTCUSDT", Price: dec("50000"), Time: now}))
	// ETH's last price is five minutes old: used, but flagged stale.
	must(t, pf.Tick(venue.PriceTick{Symbol: "ETHUSDT", Price: dec("2500"), Time: now.Add(-5 * time.Minute)}))

	// Binance: 0.4 BTC × 50000 + 1234.5 + 10000 + 3 ETH × 2500 = 38734.5
	// Paper:   1.25 ETH × 2500 + 700 USDC (pegged) = 3825
	tot := pf.Total()
	if !tot.Value.Equal(dec("42559.5")) || !tot.IncludesStale || tot.Partial {
		t.Fatalf("desk total %+v, want 42559.5, stale, not partial", tot)
	}
	// Collateral: BTC and ETH 0.95, stablecoins 1:
	// 19000 + 1234.5 + 10000 + 7125 + 2968.75 + 700 = 41028.25
	if !tot.CollateralValue.Equal(dec("41028.25")) {
		t.Fatalf("collateral %s, want 41028.25", tot.CollateralValue)
	}
	bt, err := pf.AccountTotal(livefeed.AccountKey(*bacct))
	if err != nil || !bt.Value.Equal(dec("38734.5")) {
		t.Fatalf("binance account total %+v %v", bt, err)
	}
	snap := pf.Snapshot()
	byWallet := map[string]string{}
	for _, g := range snap.ByWallet {
		byWallet[g.Key] = g.Value.String()
	}
	want := map[string]string{"spot": "24359.5", "futures-usdm": "10000", "funding": "8200"}
	for w, v := range want {
		if byWallet[w] != v {
			t.Errorf("wallet %s total %s, want %s (all: %v)", w, byWallet[w], v, byWallet)
		}
	}
	// Persisted per wallet, exactly.
	bals, err := db.Balances(ctx, bacct.ID)
	if err != nil || len(bals) != 4 {
		t.Fatalf("stored balances %+v %v", bals, err)
	}
}
