package twap_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/strategy"
	"github.com/tradeplane/tradeplane/internal/strategy/strategytest"
	"github.com/tradeplane/tradeplane/internal/strategy/twap"
	"github.com/tradeplane/tradeplane/internal/venue"
)

func TestTWAPWorksTheParentInSlices(t *testing.T) {
	t.Parallel()
	params := `{"symbol":"ETHUSDT","side":"buy","quantity":"1","duration":"3m","slices":3}`
	b := strategytest.NewPaper(t, map[string]string{"ETHUSDT": "2000"}, map[string]string{"USDT": "10000"}, params)
	s, err := strategy.New("twap", []byte(params))
	if err != nil {
		t.Fatal(err)
	}
	if s.Interval() != time.Minute {
		t.Fatalf("interval %s, want 1m", s.Interval())
	}
	for i, want := range []string{"0.3333", "0.3333", "0.3334"} {
		b.SetPrice(t, "ETHUSDT", []string{"2000", "2100", "1900"}[i])
		_, placed := b.Step(t, "twap")
		if len(placed) != 1 || placed[0].Quantity.String() != want || placed[0].Side != venue.Buy || placed[0].Type != venue.Market {
			t.Fatalf("slice %d: got %+v, want market buy %s", i, placed, want)
		}
	}
	res, placed := b.Step(t, "twap")
	if len(placed) != 0 || res.Skip == "" {
		t.Fatalf("after the last slice: %d orders, skip %q", len(placed), res.Skip)
	}
	if got := b.Balance(t, "ETH").String(); got != "1" {
		t.Fatalf("ETH bought %s, want 1", got)
	}
}

func TestTWAPCarriesSlicesBelowMinNotional(t *testing.T) {
	t.Parallel()
	// 0.004 ETH at 2000 is 8 USDT: two slices of 0.002 (4 USDT) are below the
	// 5 USDT minimum, so the first is carried and the second sends it all.
	params := `{"symbol":"ETHUSDT","side":"buy","quantity":"0.004","duration":"2m","slices":2}`
	b := strategytest.NewPaper(t, map[string]string{"ETHUSDT": "2000"}, map[string]string{"USDT": "100"}, params)
	res, placed := b.Step(t, "twap")
	if len(placed) != 0 || res.Skip == "" {
		t.Fatalf("first slice: %d orders, skip %q", len(placed), res.Skip)
	}
	_, placed = b.Step(t, "twap")
	if len(placed) != 1 || placed[0].Quantity.String() != "0.004" {
		t.Fatalf("second slice: %+v", placed)
	}
}

// TestTWAPCorrectCountsALateSlice: a slice whose placement failed but which
// the venue executed is a slice sent: one more slice, its quantity sent, so
// the remaining slices shrink by it; a slice placed and seen already counted
// what it sent.
func TestTWAPCorrectCountsALateSlice(t *testing.T) {
	t.Parallel()
	b := strategytest.NewPaper(t, map[string]string{"BTCUSDT": "50000"}, map[string]string{"USDT": "100000"},
		`{"symbol":"BTCUSDT","side":"buy","quantity":"0.01","duration":"10h","slices":10}`)
	s, err := twap.New(json.RawMessage(`{"symbol":"BTCUSDT","side":"buy","quantity":"0.01","duration":"10h","slices":10}`))
	if err != nil {
		t.Fatal(err)
	}
	d := udecimal.MustParse
	for _, c := range []strategy.Correction{
		{Symbol: "BTCUSDT", Side: venue.Buy, Was: "failed", Executed: d("0.004")},
		{Symbol: "BTCUSDT", Side: venue.Buy, Was: "canceled", SeenQty: d("0.0005"), Executed: d("0.0005")},
		{Symbol: "BTCUSDT", Side: venue.Sell, Was: "failed", Executed: d("0.001")},
	} {
		if err := s.(strategy.Corrector).Correct(b.Env, c); err != nil {
			t.Fatal(err)
		}
	}
	var st twap.State
	if err := b.Env.State(&st); err != nil {
		t.Fatal(err)
	}
	if st.Slices != 1 || !st.Sent.Equal(d("0.004")) {
		t.Fatalf("state %+v, want 1 slice of 0.004 sent", st)
	}
	_, placed := b.Step(t, "twap")
	if len(placed) != 1 || !placed[0].Quantity.Equal(d("0.00066")) {
		t.Fatalf("next slice %+v, want the 0.006 left over 9 slices: 0.00066", placed)
	}
}
