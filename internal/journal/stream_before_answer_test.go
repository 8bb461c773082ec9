package journal_test

import (
	"context"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// earlyFillVenue accepts an order (NEW, nothing executed yet in its answer)
// and, before the answer reaches the executor, lets the user stream's fill
// of it be recorded: the order row still says intent then.
type earlyFillVenue struct {
	venue.Venue
	onPlaced func(venue.Order)
}

func (v *earlyFillVenue) PlaceOrder(ctx context.Context, req venue.OrderRequest) (venue.Order, error) {
	o, err := v.Venue.PlaceOrder(ctx, req)
	if err == nil && v.onPlaced != nil {
		v.onPlaced(o)
	}
	return o, err
}

// TestStreamFillBeforeTheAnswerMovesTheRow: a fill the user stream
// delivered while the order's row still said intent (its placement not
// answered yet) is stored, but the row is moved by fills only when it is
// open; the answer, NEW, then wrote the row as open with nothing executed,
// and it stayed so until the next reconcile. The answer now takes the
// stored fills into account.
func TestStreamFillBeforeTheAnswerMovesTheRow(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	v := &earlyFillVenue{Venue: b.acct}
	x := journal.NewExecutor(b.j, v, b.account, journal.ExecutorOptions{Alerter: b.alerts, SettleWait: -1})
	const id = "s1-7-0"
	in := b.intent(id)
	in.Request.Type, in.Request.Price = venue.Limit, dec("41000") // rests below the market
	v.onPlaced = func(o venue.Order) {
		if row, err := b.db.OrderByClientID(ctx, id); err != nil || row.Status != store.OrderIntent {
			t.Errorf("row before the answer: %+v, %v; want intent", row, err)
		}
		tr := venue.Trade{ID: "t-early", VenueOrderID: o.VenueOrderID, ClientOrderID: id, Symbol: "BTCUSDT", Side: venue.Buy,
			Price: dec("41000"), Quantity: dec("0.001"), QuoteQty: dec("41"), Fee: dec("0.000001"), FeeAsset: "BTC", Time: time.Now()}
		if ins, err := x.RecordTrade(ctx, tr, ""); err != nil || !ins {
			t.Errorf("stream fill: inserted %v, %v", ins, err)
		}
	}
	o, err := x.Place(ctx, in)
	if err != nil || o.Status != venue.StatusNew {
		t.Fatalf("place: %+v, %v; want the venue's NEW", o, err)
	}
	row, err := b.db.OrderByClientID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if row.Status != string(venue.StatusFilled) || !row.ExecutedQty.Equal(dec("0.001")) || !row.QuoteQty.Equal(dec("41")) {
		t.Fatalf("row after the answer: %s, executed %s, quote %s; want filled with the stream's fill (0.001, 41)",
			row.Status, row.ExecutedQty, row.QuoteQty)
	}
}
