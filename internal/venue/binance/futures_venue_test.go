package binance_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
	"github.com/tradeplane/tradeplane/internal/venue/venuetest"
)

// futuresSetup is a fake Binance and the USDⓈ-M futures account of a client
// talking to it.
func futuresSetup(t testing.TB, opt binance.FuturesOptions) (*binancetest.Server, *binance.Futures, context.Context) {
	t.Helper()
	b := setup(t, binancetest.Config{}, nil)
	if opt.WSBaseURL == "" {
		opt.WSBaseURL = b.fake.StreamURL
	}
	f, err := b.client.Futures(opt)
	if err != nil {
		t.Fatalf("futures: %v", err)
	}
	return b.fake, f, b.ctx
}

func TestFuturesConformance(t *testing.T) {
	t.Parallel()
	venuetest.Run(t, func(t *testing.T) *venuetest.Harness {
		fake, f, _ := futuresSetup(t, binance.FuturesOptions{})
		return &venuetest.Harness{
			Venue:    f,
			SetPrice: fake.SetPrice,
			FailNext: func(op string, fl venuetest.Fault) {
				if op == venuetest.OpTrades { // futures history is /fapi/v1/userTrades
					op = binancetest.OpFuturesTrades
				}
				fake.FailNext(op, binancetest.Fault(fl))
			},
			Fund: fake.Fund,
			Kind: venue.KindLinearPerpetual,
		}
	})
}

func TestFuturesPositionsConformance(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	venuetest.RunPositions(t, func(t *testing.T) *venuetest.PositionHarness {
		fake, f, _ := futuresSetup(t, binance.FuturesOptions{})
		return &venuetest.PositionHarness{
			Harness: venuetest.Harness{Venue: f, SetPrice: fake.SetPrice, Fund: fake.Fund, Kind: venue.KindLinearPerpetual,
				FailNext: func(op string, fl venuetest.Fault) { fake.FailNext(op, binancetest.Fault(fl)) }},
			Trade: func(ctx context.Context, symbol string, side venue.Side, qty venue.Decimal) error {
				_, err := f.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: fmt.Sprintf("vt-pos-%d", n.Add(1)),
					Symbol: symbol, Side: side, Type: venue.Market, Quantity: qty})
				return err
			},
		}
	})
}
