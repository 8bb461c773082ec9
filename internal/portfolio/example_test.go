package portfolio_test

import (
	"fmt"
	"time"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// Example shows the wiring: markets, an account, a balance snapshot, ticks,
// the totals and an allocation check.
func Example() {
	p, _ := portfolio.New(portfolio.Config{Clock: clock.NewFake(t0), StaleAfter: time.Minute})
	_ = p.RegisterMarkets("binance", []venue.Symbol{
		{Name: "BTCUSDT", Base: "BTC", Quote: "USDT"},
		{Name: "XRPBTC", Base: "XRP", Quote: "BTC"},
	})
	_ = p.UpsertAccount(portfolio.Account{ID: "main", Name: "Main", Venue: "binance", Tags: []string{"core"}})
	_, _ = p.ResyncAccount("main", []venue.Balance{
		{Wallet: venue.WalletSpot, Asset: "BTC", Free: d("0.5")},
		{Wallet: venue.WalletSpot, Asset: "XRP", Free: d("1000")},
		{Wallet: venue.WalletFunding, Asset: "USDT", Free: d("2000")},
	})
	_ = p.Tick(venue.PriceTick{Symbol: "BTCUSDT", Price: d("60000"), Time: t0})
	_ = p.Tick(venue.PriceTick{Symbol: "XRPBTC", Price: d("0.00001"), Time: t0})

	tot := p.Total()
	fmt.Println("value", tot.Value, "collateral", tot.CollateralValue, "partial", tot.Partial)
	q := p.Quote("XRP")
	fmt.Println("XRP", q.Price, q.Route)

	dec, _ := p.CheckOrder(portfolio.OrderCheck{
		Allocation: portfolio.Allocation{Session: "s-1", Account: "main", Share: d("0.25")},
		Exposure:   d("7000"),
		Order:      d("800"),
	})
	fmt.Println(dec.OK, dec.Reason)
	// Output:
	// value 32600 collateral 30800 partial false
	// XRP 0.6 [XRP/BTC BTC/USDT]
	// false order 800.00 USDT would raise session s-1 exposure to 7,800.00 USDT over its allocation 7,700.00 USDT (25% of collateral 30,800.00 USDT)
}
