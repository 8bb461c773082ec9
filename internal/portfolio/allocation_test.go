package portfolio_test

import (
	"strings"
	"testing"

	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/venue"
)

func TestCheckAllocations(t *testing.T) {
	t.Parallel()
	tb := setup(t, portfolio.Config{})
	tb.account(t, portfolio.Account{ID: "7", Name: "alpha", Venue: "paper"})
	tb.resync(t, "7", venue.WalletSpot, bal("USDT", "10000", "", ""))
	shares := []portfolio.Allocation{{Session: "s-1", Share: d("0.7")}, {Session: "s-2", Share: d("0.35")}}
	_, err := tb.p.CheckAllocations("7", shares)
	want := "share allocations of account alpha would total 105% of its collateral value, over 100%: s-1 70%, s-2 35%"
	if !portfolio.IsValidation(err) || !strings.Contains(err.Error(), want) {
		t.Errorf("shares of 105%%: got %v, want a validation error %q", err, want)
	}
	// An account the portfolio does not hold: the share rule still applies.
	if _, err := tb.p.CheckAllocations("8", shares); !portfolio.IsValidation(err) {
		t.Errorf("unknown account, shares of 105%%: got %v, want a validation error", err)
	}
	if w, err := tb.p.CheckAllocations("8", []portfolio.Allocation{{Session: "s-3", Fixed: d("1")}}); err != nil || w != "" {
		t.Errorf("unknown account, fixed: got %q, %v; want nothing", w, err)
	}
	// Fixed amounts over the collateral value pass with a warning.
	w, err := tb.p.CheckAllocations("7", []portfolio.Allocation{{Session: "s-1", Share: d("1")}, {Session: "s-2", Fixed: d("500")}})
	if err != nil || !strings.Contains(w, "allocations of account alpha total 10,500.00 USDT, 105% of its collateral 10,000.00 USDT") {
		t.Errorf("fixed over collateral: got %q, %v", w, err)
	}
	if w, err := tb.p.CheckAllocations("7", []portfolio.Allocation{{Session: "s-1", Share: d("0.5")}, {Session: "s-2", Fixed: d("5000")}}); err != nil || w != "" {
		t.Errorf("exactly 100%%: got %q, %v", w, err)
	}
}
