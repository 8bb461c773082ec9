package grid_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/strategy"
	"github.com/tradeplane/tradeplane/internal/strategy/grid"
	"github.com/tradeplane/tradeplane/internal/strategy/strategytest"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// book renders the session's open orders as "buy@90.00" sorted.
func book(t *testing.T, b *strategytest.Bundle) string {
	t.Helper()
	open, err := b.Env.OpenOrders(t.Context(), "ETHUSDT")
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, o := range open {
		s = append(s, fmt.Sprintf("%s@%s x%s", o.Side, o.Price, o.Quantity))
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}

func TestGridLaddersAndReplacesFilledOrdersOnTheOppositeSide(t *testing.T) {
	t.Parallel()
	b := strategytest.NewPaper(t, map[string]string{"ETHUSDT": "100"}, map[string]string{"USDT": "1000", "ETH": "1"},
		`{"symbol":"ETHUSDT","lower":"90","upper":"110","levels":5,"quantity":"0.10009","interval":"1m"}`)
	steps := []struct {
		price, book string
		placed      int
	}{
		// Levels 90 95 100 105 110; the level at the price gets nothing.
		// Quantity 0.10009 rounds down to the 0.0001 step.
		{"100", "buy@90 x0.1 buy@95 x0.1 sell@105 x0.1 sell@110 x0.1", 4},
		{"94", "buy@90 x0.1 sell@100 x0.1 sell@105 x0.1 sell@110 x0.1", 1}, // buy@95 filled → sell one level up
		{"101", "buy@90 x0.1 buy@95 x0.1 sell@105 x0.1 sell@110 x0.1", 1},  // sell@100 filled → buy one level down
		{"102", "buy@90 x0.1 buy@95 x0.1 sell@105 x0.1 sell@110 x0.1", 0},  // nothing crossed
		{"111", "buy@100 x0.1 buy@105 x0.1 buy@90 x0.1 buy@95 x0.1", 2},    // both sells filled (sorted as text)
	}
	for i, s := range steps {
		b.SetPrice(t, "ETHUSDT", s.price)
		_, placed := b.Step(t, "grid")
		if len(placed) != s.placed {
			t.Fatalf("step %d at %s: placed %d orders, want %d", i, s.price, len(placed), s.placed)
		}
		for _, o := range placed {
			if o.Type != venue.Limit || !venue.ClientOrderIDPattern.MatchString(o.ClientOrderID) {
				t.Fatalf("step %d: bad order %+v", i, o)
			}
		}
		if got := book(t, b); got != s.book {
			t.Fatalf("step %d at %s: book\n got %s\nwant %s", i, s.price, got, s.book)
		}
	}
	if !strings.Contains(string(b.Env.RawState()), `"fills":4`) {
		t.Fatalf("state %s: want 4 fills", b.Env.RawState())
	}
}

func TestGridReplacesAnOrderCanceledOutsideIt(t *testing.T) {
	t.Parallel()
	b := strategytest.NewPaper(t, map[string]string{"ETHUSDT": "100"}, map[string]string{"USDT": "1000", "ETH": "1"},
		`{"symbol":"ETHUSDT","lower":"90","upper":"110","levels":3,"quantity":"0.1","interval":"1m"}`)
	_, placed := b.Step(t, "grid")
	if len(placed) != 2 {
		t.Fatalf("placed %d", len(placed))
	}
	if _, err := b.Env.Cancel(t.Context(), "ETHUSDT", placed[0].ClientOrderID); err != nil {
		t.Fatal(err)
	}
	_, again := b.Step(t, "grid")
	if len(again) != 1 || again[0].Side != placed[0].Side || !again[0].Price.Equal(placed[0].Price) {
		t.Fatalf("re-placed %+v, want the canceled %s@%s back", again, placed[0].Side, placed[0].Price)
	}
}

// TestGridReplacesAnOrderTheVenueForgot: an order the venue does not know
// (the paper exchange restarted, the order was purged) is a slot to fill
// again, not a failure to repeat on every step.
func TestGridReplacesAnOrderTheVenueForgot(t *testing.T) {
	t.Parallel()
	b := strategytest.NewPaper(t, map[string]string{"ETHUSDT": "100"}, map[string]string{"USDT": "1000", "ETH": "1"},
		`{"symbol":"ETHUSDT","lower":"90","upper":"110","levels":3,"quantity":"0.1","interval":"1m"}`)
	_, placed := b.Step(t, "grid")
	if len(placed) != 2 {
		t.Fatalf("placed %d", len(placed))
	}
	var st map[string]any
	if err := json.Unmarshal(b.Env.RawState(), &st); err != nil {
		t.Fatal(err)
	}
	slots := st["slots"].([]any)
	slots[0].(map[string]any)["client_order_id"] = "never-seen-by-the-venue"
	if err := b.Env.SetState(st); err != nil {
		t.Fatal(err)
	}
	res, again := b.Step(t, "grid")
	if len(again) != 1 {
		t.Fatalf("step %+v re-placed %d orders, want the forgotten slot back", res, len(again))
	}
}

// TestGridTakesALateFill: a grid order the venue filled after the journal
// had failed it is a fill of the ladder; the next step places its opposite
// order one level up, as for any filled slot. A corrected order still
// resting on the venue is adopted as its level's slot and followed.
func TestGridTakesALateFill(t *testing.T) {
	t.Parallel()
	b := strategytest.NewPaper(t, map[string]string{"ETHUSDT": "100"}, map[string]string{"USDT": "1000", "ETH": "1"},
		`{"symbol":"ETHUSDT","lower":"90","upper":"110","levels":5,"quantity":"0.1","interval":"1m"}`)
	g, err := grid.New(json.RawMessage(`{"symbol":"ETHUSDT","lower":"90","upper":"110","levels":5,"quantity":"0.1","interval":"1m"}`))
	if err != nil {
		t.Fatal(err)
	}
	b.Step(t, "grid")
	d := udecimal.MustParse
	c := strategy.Correction{ClientOrderID: "late-1", Symbol: "ETHUSDT", Side: venue.Buy, Type: venue.Limit, Price: d("95"),
		Quantity: d("0.1"), Was: "failed", Status: venue.StatusFilled, Executed: d("0.1"), QuoteQty: d("9.5")}
	if err := g.(strategy.Corrector).Correct(b.Env, c); err != nil {
		t.Fatal(err)
	}
	// The same order again (a retried apply would not, but a strategy must
	// not count an order it holds twice).
	if err := g.(strategy.Corrector).Correct(b.Env, c); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b.Env.RawState()), `"fills":1`) {
		t.Fatalf("state %s: want 1 fill", b.Env.RawState())
	}
	b.SetPrice(t, "ETHUSDT", "98") // the new sell rests
	_, placed := b.Step(t, "grid")
	if len(placed) != 1 || placed[0].Side != venue.Sell || !placed[0].Price.Equal(d("100")) {
		t.Fatalf("placed %+v, want the late buy's sell one level up, at 100", placed)
	}
	if got, want := book(t, b), "buy@90 x0.1 buy@95 x0.1 sell@100 x0.1 sell@105 x0.1 sell@110 x0.1"; got != want {
		t.Fatalf("book\n got %s\nwant %s", got, want)
	}
	// An order that rests on the venue after all: adopted, then followed.
	rest, err := b.Env.Venue.PlaceOrder(t.Context(), venue.OrderRequest{ClientOrderID: "late-2", Symbol: "ETHUSDT", Side: venue.Buy,
		Type: venue.Limit, Price: d("90"), Quantity: d("0.1"), TimeInForce: venue.GTC})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.(strategy.Corrector).Correct(b.Env, strategy.Correction{ClientOrderID: rest.ClientOrderID, Symbol: "ETHUSDT", Side: venue.Buy,
		Type: venue.Limit, Price: d("90"), Quantity: d("0.1"), Was: "failed", Status: venue.StatusPartiallyFilled}); err != nil {
		t.Fatal(err)
	}
	if _, placed := b.Step(t, "grid"); len(placed) != 0 {
		t.Fatalf("adopting a resting order placed %+v", placed)
	}
	if !strings.Contains(string(b.Env.RawState()), `"late-2"`) || strings.Contains(string(b.Env.RawState()), `"late"`) {
		t.Fatalf("state %s: want late-2 as a slot and nothing late left", b.Env.RawState())
	}
}
