package app

import (
	"context"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// liquidationReader is a venue that reports the positions it liquidated
// (the paper exchange's perpetuals).
type liquidationReader interface {
	Liquidations() []paper.Liquidation
}

var _ liquidationReader = (*paper.Account)(nil)

// fundingLookback is the window every funding read covers, ending now:
// one request on the venues (a day fits Bybit's 7-day and Binance's income
// windows), and a payment the venue reports late, or one the exchange
// settled before this node opened the account, is still picked up. The
// store keeps each payment once, whichever read or node records it.
const fundingLookback = 24 * time.Hour

// perpLoop records, for every open account whose venue has positions
// (venue.PositionReader), its funding payments of the last fundingLookback
// into the journal and the funding table, and for the paper exchange its
// liquidations as closing fills, on the reconcile schedule, each with the
// session that holds the position (journal.PositionOwners) or at the
// account; PnL, the session's and the account's, then counts both with
// their sign.
func (a *App) perpLoop(ctx context.Context) {
	a.every(ctx, a.cfg.ReconcileEvery, 30*time.Second, func() {
		now := a.clk.Now()
		for _, rt := range a.openAccounts() {
			if pr, ok := rt.v.(venue.PositionReader); ok {
				if _, err := rt.x.SyncFunding(ctx, pr, now.Add(-fundingLookback), now); err != nil && ctx.Err() == nil {
					a.log.Warn("funding payments not recorded", "account", rt.acct.Name, "err", err)
				}
			}
			if lr, ok := rt.v.(liquidationReader); ok {
				ls := lr.Liquidations()
				ts := make([]venue.Trade, len(ls))
				for i, l := range ls {
					ts[i] = l.Trade()
				}
				if _, err := rt.x.SyncLiquidations(ctx, ts); err != nil && ctx.Err() == nil {
					a.log.Warn("liquidations not recorded", "account", rt.acct.Name, "err", err)
				}
			}
		}
	})
}

// PaperExchange returns the node's paper exchange, so a test can drive its
// perpetuals (prices, positions) and watch funding and liquidations reach
// the journal. It is a test hook, like PaperFaults: nothing in the node
// calls it.
func (a *App) PaperExchange() *paper.Exchange { return a.paper }
