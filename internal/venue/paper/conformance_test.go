package paper_test

import (
	"testing"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
	"github.com/tradeplane/tradeplane/internal/venue/venuetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	venuetest.Run(t, func(t *testing.T) *venuetest.Harness {
		ex := paper.MustNew(paper.Config{})
		acct := ex.Account("suite")
		return &venuetest.Harness{
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
		}
	})
}

// TestConformancePartialFills runs the suite with partial fills on, so the
// suite's fill loops see several partial fills per order.
func TestConformancePartialFills(t *testing.T) {
	t.Parallel()
	venuetest.Run(t, func(t *testing.T) *venuetest.Harness {
		ex := paper.MustNew(paper.Config{FillShare: dec("0.3"), Seed: 7})
		acct := ex.Account("suite")
		return &venuetest.Harness{
			Venue:    acct,
			SetPrice: func(symbol string, price venue.Decimal) { _ = ex.SetPrice(symbol, price, timeZero) },
			FailNext: func(op string, f venuetest.Fault) { acct.Faults().Next(op, paper.Fault(f)) },
			Fund: func(w venue.Wallet, asset string, amount venue.Decimal) {
				_ = ex.Fund("suite", w, asset, amount)
			},
		}
	})
}
