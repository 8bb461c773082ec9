package paper_test

import (
	"context"
	"testing"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
	"github.com/tradeplane/tradeplane/internal/venue/venuetest"
)

// TestPositionsConformance runs the positions part of the venue suite on
// the paper perpetual, the part the Binance futures adapter runs too.
func TestPositionsConformance(t *testing.T) {
	t.Parallel()
	venuetest.RunPositions(t, func(t *testing.T) *venuetest.PositionHarness {
		ex := paper.MustNew(paper.Config{})
		acct := ex.Account("suite")
		return &venuetest.PositionHarness{
			Harness: venuetest.Harness{
				Venue: acct,
				SetPrice: func(symbol string, price venue.Decimal) {
					if err := ex.SetPrice(symbol, price, timeZero); err != nil {
						t.Fatalf("set price: %v", err)
					}
				},
				FailNext: func(op string, f venuetest.Fault) { acct.Faults().Next(op, paper.Fault(f)) },
				Fund: func(w venue.Wallet, asset string, amount venue.Decimal) {
					if err := ex.Fund("suite", w, asset, amount); err != nil {
						t.Fatalf("fund: %v", err)
					}
				},
				Kind: venue.KindLinearPerpetual,
			},
			Trade: func(ctx context.Context, symbol string, side venue.Side, qty venue.Decimal) error {
				_, err := acct.TradePerp(ctx, symbol, side, qty, dec("10"))
				return err
			},
		}
	})
}
