package journal_test

import (
	"context"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// raceVenue does not find order hide by lookup or history, and records the
// user stream's fill of it (onHistory) while the order history is being
// asked: the fill lands after the certainty rule checked the stored fills
// and before its verdict is written.
type raceVenue struct {
	venue.Venue
	hide      string
	onHistory func()
}

func (r *raceVenue) QueryOrder(ctx context.Context, symbol, id string) (venue.Order, error) {
	if id == r.hide {
		return venue.Order{}, venue.ErrOrderNotFound
	}
	return r.Venue.QueryOrder(ctx, symbol, id)
}

func (r *raceVenue) OrderHistory(context.Context, string, time.Time, time.Time) ([]venue.Order, error) {
	if f := r.onHistory; f != nil {
		r.onHistory = nil
		f()
	}
	return nil, nil
}

// TestVerdictDoesNotBuryAFillRecordedMeanwhile: Reconcile reads an order
// row, finds the order absent and writes its verdict (an acknowledged order
// assumed canceled, an unknown one failed) from the row it read; a fill the
// user stream recorded meanwhile was left under a closed row that said
// nothing executed, and no corrected event followed, since the fill was
// already stored. The process fault harness found it (a grid order left
// canceled, executed 0, with its fill stored, with the consistency lag set
// below the venue's). The verdict is now checked against the stored fills
// once written, and corrected.
func TestVerdictDoesNotBuryAFillRecordedMeanwhile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, status string }{{"acknowledged order assumed canceled", "new"}, {"unknown order failed", store.OrderUnknown}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, nil)
			id := "race-" + tc.status
			if err := b.db.InsertOrder(ctx, store.Order{ClientOrderID: id, SessionID: "s1", AccountID: b.account, Symbol: "BTCUSDT",
				Side: "buy", Type: "limit", Price: dec("40000"), Quantity: dec("0.001"), Status: tc.status, VenueOrderID: "v1", Fence: 1,
				CreatedAt: time.Now().Add(-time.Hour)}); err != nil {
				t.Fatal(err)
			}
			rv := &raceVenue{Venue: b.acct, hide: id}
			x := journal.NewExecutor(b.j, rv, b.account, journal.ExecutorOptions{Alerter: b.alerts, RecvWindow: time.Millisecond,
				ConsistencyLag: -1, SettleWait: -1})
			rv.onHistory = func() {
				tr := venue.Trade{ID: "t1", VenueOrderID: "v1", ClientOrderID: id, Symbol: "BTCUSDT", Side: venue.Buy,
					Price: dec("40000"), Quantity: dec("0.001"), QuoteQty: dec("40"), Fee: dec("0.000001"), FeeAsset: "BTC", Time: time.Now()}
				if _, err := x.RecordTrade(ctx, tr, ""); err != nil {
					t.Error(err)
				}
			}
			if _, err := x.Reconcile(ctx); err != nil {
				t.Fatal(err)
			}
			if rv.onHistory != nil {
				t.Fatal("the order history was not asked")
			}
			row, err := b.db.OrderByClientID(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if store.TerminalOrderStatus(row.Status) && !row.ExecutedQty.Equal(dec("0.001")) {
				t.Fatalf("row %s with %s executed, but its fill of 0.001 is stored", row.Status, row.ExecutedQty)
			}
			if row.Status != store.OrderUnknown || !row.ExecutedQty.Equal(dec("0.001")) {
				t.Fatalf("row %s with %s executed; want unknown with its fill's 0.001 until the venue shows the order", row.Status, row.ExecutedQty)
			}
			evs, err := b.db.JournalEvents(ctx, store.EventQuery{ClientOrderID: id, Kind: "corrected", Limit: 10})
			if err != nil || len(evs) != 1 {
				t.Fatalf("%d corrected events (%v), want 1", len(evs), err)
			}
		})
	}
}
