package strategytest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// Bundle is a fee-free paper exchange on a fake clock with one funded
// account and an Env over it.
type Bundle struct {
	Clock *clock.Fake
	Ex    *paper.Exchange
	Env   *Env
}

// NewPaper builds a Bundle: prices maps symbol → starting price, funds
// asset → spot balance, params are the strategy's parameters.
func NewPaper(tb testing.TB, prices map[string]string, funds map[string]string, params string) *Bundle {
	tb.Helper()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ex := paper.MustNew(paper.Config{Clock: clk, NoFee: true})
	for s, p := range prices {
		if err := ex.SetPrice(s, udecimal.MustParse(p), time.Time{}); err != nil {
			tb.Fatal(err)
		}
	}
	for a, q := range funds {
		if err := ex.Fund("t", venue.WalletSpot, a, udecimal.MustParse(q)); err != nil {
			tb.Fatal(err)
		}
	}
	env := &Env{Venue: ex.Account("t"), ID: "s-test", ParamsJSON: json.RawMessage(params), Clock: clk.Now,
		PriceOf: func(symbol string) (venue.Decimal, error) {
			tk, ok := ex.Price(symbol)
			if !ok {
				return venue.Decimal{}, fmt.Errorf("no price for %s", symbol)
			}
			return tk.Price, nil
		}}
	return &Bundle{Clock: clk, Ex: ex, Env: env}
}

// SetPrice moves a symbol's price, failing tb on error.
func (b *Bundle) SetPrice(tb testing.TB, symbol, price string) {
	tb.Helper()
	if err := b.Ex.SetPrice(symbol, udecimal.MustParse(price), time.Time{}); err != nil {
		tb.Fatal(err)
	}
}

// Balance is the spot free+locked balance of asset.
func (b *Bundle) Balance(tb testing.TB, asset string) venue.Decimal {
	tb.Helper()
	bals, err := b.Env.Venue.Balances(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	for _, x := range bals {
		if x.Wallet == venue.WalletSpot && x.Asset == asset {
			return x.Free.Add(x.Locked)
		}
	}
	return venue.Decimal{}
}
