package bybit_test

import (
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/bybit"
	"github.com/tradeplane/tradeplane/internal/venue/bybittest"
	"github.com/tradeplane/tradeplane/internal/venue/venuetest"
)

// newClient returns an adapter talking to fake.
func newClient(t *testing.T, fake *bybittest.Server) *bybit.Client { return newClientB(t, fake) }

func newClientB(t testing.TB, fake *bybittest.Server) *bybit.Client {
	t.Helper()
	c, err := bybit.New(bybit.Config{APIKey: bybittest.APIKey, APISecret: bybittest.APISecret, BaseURL: fake.BaseURL(),
		PublicWSURL: fake.PublicWSURL(), PrivateWSURL: fake.PrivateWSURL(), HTTPTimeout: 5 * time.Second,
		ReconnectMin: 10 * time.Millisecond, ReconnectMax: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	return c
}

// harness is the suite's harness of v, an account on fake whose markets
// are kind.
func harness(t *testing.T, fake *bybittest.Server, v venue.Venue, kind venue.InstrumentKind) venuetest.Harness {
	return venuetest.Harness{
		Venue: v,
		SetPrice: func(symbol string, price venue.Decimal) {
			if err := fake.SetPrice(symbol, price); err != nil {
				t.Errorf("set price: %v", err)
			}
		},
		FailNext: func(op string, f venuetest.Fault) { fake.FailNext(op, bybittest.Fault(f)) },
		Fund: func(w venue.Wallet, asset string, amount venue.Decimal) {
			if err := fake.Fund(w, asset, amount); err != nil {
				t.Errorf("fund: %v", err)
			}
		},
		Kind: kind,
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	venuetest.Run(t, func(t *testing.T) *venuetest.Harness {
		fake := bybittest.New(t, bybittest.Config{})
		h := harness(t, fake, newClient(t, fake), "")
		return &h
	})
}
