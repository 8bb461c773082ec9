package journal_test

import (
	"context"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// TestAuditFindsExactlyTheInjectedFill: after trading through the journal
// (fills, a rejection, an order that never reached the venue), the audit
// finds no difference; a fill made at the venue that the journal never saw
// is exactly one difference, of kind missing.
func TestAuditFindsExactlyTheInjectedFill(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	from := time.Now().Add(-time.Minute)
	for _, id := range []string{"a-1", "a-2", "a-3"} {
		if _, err := b.x.Place(ctx, b.intent(id)); err != nil {
			t.Fatal(err)
		}
	}
	b.acct.Faults().Next(paper.OpPlace, paper.FaultInsufficientFunds)
	b.x.Place(ctx, b.intent("a-4"))
	b.acct.Faults().Next(paper.OpPlace, paper.FaultAuth)
	b.x.Place(ctx, b.intent("a-5"))
	to := time.Now().Add(time.Minute)
	rep, err := journal.Audit(ctx, b.db, b.spy, b.account, from, to, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Differences) != 0 || rep.Orders != 3 || rep.Trades != 3 {
		t.Fatalf("after trading: %+v, want 3 orders, 3 trades, no difference", rep)
	}
	// A fill the journal never saw: an order placed at the venue directly.
	if _, err := b.acct.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: "manual-1", Symbol: "BTCUSDT", Side: venue.Sell,
		Type: venue.Market, Quantity: dec("0.001")}); err != nil {
		t.Fatal(err)
	}
	rep, err = journal.Audit(ctx, b.db, b.spy, b.account, from, time.Now().Add(time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Differences) != 1 {
		t.Fatalf("differences %+v, want exactly the injected fill", rep.Differences)
	}
	d := rep.Differences[0]
	if d.ClientOrderID != "manual-1" || len(d.Kinds) != 1 || d.Kinds[0] != journal.DiffMissing {
		t.Fatalf("difference %+v, want manual-1 missing", d)
	}
}

// OrderHistory passes the paper venue's order history through.
func (s *spyVenue) OrderHistory(ctx context.Context, symbol string, from, to time.Time) ([]venue.Order, error) {
	return s.Venue.(journal.OrderHistory).OrderHistory(ctx, symbol, from, to)
}
