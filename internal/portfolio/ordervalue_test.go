package portfolio_test

import (
	"context"
	"errors"
	"testing"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/venue"
)

func TestBuyValue(t *testing.T) {
	t.Parallel()
	d := udecimal.MustParse
	last := func(_ context.Context, symbol string) (portfolio.Decimal, error) {
		if symbol != "BTCUSDT" {
			return portfolio.Decimal{}, errors.New("no price")
		}
		return d("30000"), nil
	}
	for _, tc := range []struct {
		name string
		req  venue.OrderRequest
		want string
		err  bool
	}{
		{"sell adds nothing", venue.OrderRequest{Symbol: "BTCUSDT", Side: venue.Sell, Quantity: d("1")}, "0", false},
		{"quote quantity", venue.OrderRequest{Symbol: "BTCUSDT", Side: venue.Buy, QuoteQuantity: d("250.5")}, "250.5", false},
		{"limit at its price", venue.OrderRequest{Symbol: "BTCUSDT", Side: venue.Buy, Quantity: d("0.5"), Price: d("20000")}, "10000", false},
		{"market at the last price", venue.OrderRequest{Symbol: "BTCUSDT", Side: venue.Buy, Quantity: d("0.001")}, "30", false},
		{"market without a price", venue.OrderRequest{Symbol: "ETHUSDT", Side: venue.Buy, Quantity: d("1")}, "", true},
	} {
		got, err := portfolio.BuyValue(context.Background(), tc.req, last)
		if (err != nil) != tc.err || (!tc.err && got.String() != tc.want) {
			t.Errorf("%s: got %s, %v; want %s (error %t)", tc.name, got, err, tc.want, tc.err)
		}
	}
}

func TestSessionAllocation(t *testing.T) {
	t.Parallel()
	amt := udecimal.MustParse("0.25")
	if al := portfolio.SessionAllocation("s1", "7", "share", amt); !al.Share.Equal(amt) || !al.Fixed.IsZero() || al.Session != "s1" || al.Account != "7" {
		t.Errorf("share: got %+v", al)
	}
	if al := portfolio.SessionAllocation("s1", "7", "fixed", amt); !al.Fixed.Equal(amt) || !al.Share.IsZero() {
		t.Errorf("fixed: got %+v", al)
	}
}
