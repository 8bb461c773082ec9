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

// TestPositionsUnchangedNoVersion: the same positions again (as every
// resync of a venue without positions sends) make no new version.
func TestPositionsUnchangedNoVersion(t *testing.T) {
	t.Parallel()
	d := udecimal.MustParse
	p, err := portfolio.New(portfolio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.UpsertAccount(portfolio.Account{ID: "1", Name: "a", Venue: "paper"}); err != nil {
		t.Fatal(err)
	}
	v0 := p.Snapshot().Version
	if err := p.SetPositions("1", nil, nil); err != nil {
		t.Fatal(err)
	}
	if v := p.Snapshot().Version; v != v0 {
		t.Errorf("no positions, again: version %d, want %d", v, v0)
	}
	ps := []venue.Position{{Symbol: "BTCUSDT", Size: d("1"), EntryPrice: d("10"), LiquidationPrice: d("5")}}
	_ = p.SetPositions("1", ps, nil)
	v1 := p.Snapshot().Version
	if v1 == v0 {
		t.Fatal("a new position made no new version")
	}
	_ = p.SetPositions("1", ps, nil)
	if v := p.Snapshot().Version; v != v1 {
		t.Errorf("the same position again: version %d, want %d", v, v1)
	}
}
