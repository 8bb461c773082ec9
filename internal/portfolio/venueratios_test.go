package portfolio_test

import (
	"testing"

	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// TestRatiosWithVenues: Binance's Multi-Assets haircuts sit next to our
// ratios, each difference flagged with its sign (ours minus the venue's):
// BTC 0.95 both (no flag); USDT ours 1, Binance 1 − 0.0001 = 0.9999 (+0.0001);
// ETH overridden to 0.9 globally, Binance 0.95 (−0.05); ADA, which the
// portfolio did not list, gets a row with our default for an unknown asset
// (0) against Binance's 0.9 (−0.9).
func TestRatiosWithVenues(t *testing.T) {
	t.Parallel()
	tb := setup(t, portfolio.Config{})
	if err := tb.p.RegisterMarkets("binance", []venue.Symbol{sym("BTCUSDT", "BTC", "USDT"), sym("ETHUSDT", "ETH", "USDT")}); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.p.SetRatios("alice", "", []portfolio.RatioInput{{Asset: "ETH", Ratio: "0.9"}}); err != nil {
		t.Fatal(err)
	}
	hs := []portfolio.VenueHaircut{
		{Venue: "binance", Asset: "BTC", Haircut: d("0.05")},
		{Venue: "binance", Asset: "USDT", Haircut: d("0.0001")},
		{Venue: "binance", Asset: "ETH", Haircut: d("0.05")},
		{Venue: "binance", Asset: "ADA", Haircut: d("0.1")},
	}
	views, err := tb.p.RatiosWithVenues("", hs)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		ours, venue, diff string
		differs           bool
	}{
		"BTC": {"0.95", "0.95", "0", false}, "USDT": {"1", "0.9999", "0.0001", true},
		"ETH": {"0.9", "0.95", "-0.05", true}, "ADA": {"0", "0.9", "-0.9", true},
	}
	seen := 0
	for _, v := range views {
		w, ok := want[v.Asset]
		if !ok {
			if len(v.Venues) != 0 {
				t.Errorf("%s has venue ratios %+v, want none", v.Asset, v.Venues)
			}
			continue
		}
		seen++
		if len(v.Venues) != 1 {
			t.Fatalf("%s: venues %+v, want binance's", v.Asset, v.Venues)
		}
		vr := v.Venues[0]
		if !v.Ratio.Equal(d(w.ours)) || !vr.Ratio.Equal(d(w.venue)) || !vr.Diff.Equal(d(w.diff)) || vr.Differs != w.differs || vr.Venue != "binance" {
			t.Errorf("%s: ours %s, venue %+v; want ours %s, venue %s, diff %s, differs %v", v.Asset, v.Ratio, vr, w.ours, w.venue, w.diff, w.differs)
		}
	}
	if seen != len(want) {
		t.Errorf("rows %+v, want every asset of %v", views, want)
	}
	for i := 1; i < len(views); i++ {
		if views[i-1].Asset >= views[i].Asset {
			t.Errorf("rows not sorted: %s before %s", views[i-1].Asset, views[i].Asset)
		}
	}
	if _, err := tb.p.RatiosWithVenues("", []portfolio.VenueHaircut{{Venue: "binance", Asset: "BTC", Haircut: d("1.5")}}); err == nil {
		t.Error("a haircut of 1.5: nil error")
	}
}
