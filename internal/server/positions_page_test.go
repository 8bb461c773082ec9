package server_test

import (
	"strings"
	"testing"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/server/servertest"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// TestAccountsPageShowsPositions: the accounts page lists an account's
// open positions next to its wallets, and says when they could not be read.
func TestAccountsPageShowsPositions(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{})
	accts := b.env.Portfolio.Snapshot().Accounts
	if len(accts) < 2 {
		t.Fatalf("the test env has %d accounts, want 2", len(accts))
	}
	d := udecimal.MustParse
	if err := b.env.Portfolio.SetPositions(accts[0].ID, []venue.Position{{Symbol: "BTCUSDT", SettleAsset: "USDT", Size: d("-0.2"),
		EntryPrice: d("31000"), MarkPrice: d("30000"), UnrealizedPnL: d("200"), Leverage: d("3"), LiquidationPrice: d("40100"),
		MarginMode: venue.MarginCross}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.env.Portfolio.SetPositions(accts[1].ID, nil, errTest("read positions: unavailable")); err != nil {
		t.Fatal(err)
	}
	r := b.do(t, "GET", "/accounts", b.viewer, nil)
	if r.status != 200 {
		t.Fatalf("accounts page: %d", r.status)
	}
	page := string(r.body)
	for _, want := range []string{`<table class="positions">`, "<td>BTCUSDT</td>", "-0.2", "40,100", "<td>cross</td>", "unknown: read positions: unavailable"} {
		if !strings.Contains(page, want) {
			t.Errorf("accounts page lacks %q", want)
		}
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }
