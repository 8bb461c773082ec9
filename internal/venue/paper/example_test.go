package paper_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// An exchange, one funded account, a resting order filled by the price
// path, and a scripted fault.
func Example() {
	ex := paper.MustNew(paper.Config{}) // default symbols, 0.1% fees
	_ = ex.SetPrice("BTCUSDT", dec("20000"), time.Time{})
	_ = ex.Fund("alice", venue.WalletSpot, "USDT", dec("1000"))
	acct := ex.Account("alice")
	ctx := context.Background()

	o, _ := acct.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: "s1-step1", Symbol: "BTCUSDT",
		Side: venue.Buy, Type: venue.Limit, Quantity: dec("0.01"), Price: dec("19000")})
	fmt.Println(o.Status)

	_ = ex.SetPrice("BTCUSDT", dec("18990"), time.Time{}) // crosses the buy
	o, _ = acct.QueryOrder(ctx, "BTCUSDT", "s1-step1")
	fmt.Println(o.Status, o.ExecutedQty, o.QuoteQty)

	acct.Faults().Next(paper.OpPlace, paper.FaultRateLimited)
	_, err := acct.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: "s1-step2", Symbol: "BTCUSDT",
		Side: venue.Buy, Type: venue.Market, QuoteQuantity: dec("100")})
	fmt.Println(errors.Is(err, venue.ErrRateLimited))
	// Output:
	// new
	// filled 0.01 190
	// true
}
