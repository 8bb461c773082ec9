package portfolio_test

import (
	"errors"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// TestPositionsShownNotValued: positions appear on their account, sorted,
// leave every total unchanged, and a failed read is said, not shown as no
// positions.
func TestPositionsShownNotValued(t *testing.T) {
	t.Parallel()
	d := udecimal.MustParse
	p, err := portfolio.New(portfolio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.UpsertAccount(portfolio.Account{ID: "1", Name: "uta", Venue: "bybit"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.ResyncAccount("1", []venue.Balance{{Wallet: venue.WalletSpot, Asset: "USDT", Free: d("100")}}); err != nil {
		t.Fatal(err)
	}
	before := p.Snapshot().Total.Value
	err = p.SetPositions("1", []venue.Position{
		{Symbol: "ETHUSDT", Size: d("2"), EntryPrice: d("3000"), UnrealizedPnL: d("-10"), MarginMode: venue.MarginIsolated, Updated: time.Unix(1, 0)},
		{Symbol: "BTCUSDT", Size: d("-0.1"), EntryPrice: d("60000"), UnrealizedPnL: d("50"), MarginMode: venue.MarginCross},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := p.Snapshot()
	if !s.Total.Value.Equal(before) {
		t.Errorf("total %s after positions, want %s (positions are not valued)", s.Total.Value, before)
	}
	ps := s.Accounts[0].Positions
	if len(ps) != 2 || ps[0].Symbol != "BTCUSDT" || !ps[0].Size.Equal(d("-0.1")) || ps[0].LiquidationPrice != nil ||
		ps[1].Symbol != "ETHUSDT" || ps[1].MarginMode != "isolated" || ps[1].UpdatedAt == nil {
		t.Errorf("positions: got %+v", ps)
	}
	if err := p.SetPositions("1", nil, errors.New("read positions: unavailable")); err != nil {
		t.Fatal(err)
	}
	a := p.Snapshot().Accounts[0]
	if len(a.Positions) != 0 || a.PositionsError != "read positions: unavailable" {
		t.Errorf("after a failed read: positions %+v error %q", a.Positions, a.PositionsError)
	}
	if err := p.SetPositions("nope", nil, nil); err == nil {
		t.Error("positions of an unknown account: nil error")
	}
}
