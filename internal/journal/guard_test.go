package journal_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// stampingVenue behaves like an adapter that signs each request with a
// timestamp (Binance): it stamps, then runs the venue.SendGuard the
// executor passed, and sends only if the guard passes. freeze runs first: the
// node is paused after the executor's own lease check and before stamping.
type stampingVenue struct {
	*spyVenue
	freeze func()
}

func (v *stampingVenue) PlaceOrder(ctx context.Context, req venue.OrderRequest) (venue.Order, error) {
	v.freeze()
	if err := venue.CheckSend(ctx); err != nil {
		return venue.Order{}, &venue.Error{Class: venue.ClassUnavailable, Message: "not sent: " + err.Error(), Op: "place order"}
	}
	return v.spyVenue.PlaceOrder(ctx, req)
}

// TestFrozenBeforeStampingSendsNothing closes the fencing gap: a node frozen
// after its lease check and before its request is stamped, past its lease,
// sends nothing when it resumes, because the executor's send guard checks
// the lease again after the stamp; the order is failed as never sent
// (stale_fence), which is certain, since the venue never saw it.
func TestFrozenBeforeStampingSendsNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	now := time.Now()
	const ttl = 10 * time.Second
	if err := b.db.EnsureLeases(ctx, []string{"s1"}); err != nil {
		t.Fatal(err)
	}
	if got, err := b.db.ClaimLeases(ctx, "node-a", 1, now.Add(-time.Second), ttl); err != nil || len(got) != 1 || got[0].Token != 1 {
		t.Fatalf("claim: %+v %v", got, err)
	}
	v := &stampingVenue{spyVenue: b.spy, freeze: func() {
		// node-a is paused here past its TTL; node-b claims the session.
		if _, err := b.db.ClaimLeases(ctx, "node-b", 1, now.Add(ttl+time.Second), ttl); err != nil {
			t.Errorf("takeover: %v", err)
		}
	}}
	x := journal.NewExecutor(b.j, v, b.account, journal.ExecutorOptions{Alerter: b.alerts, Metrics: b.metrics,
		Backoff: time.Millisecond, SettleTries: 3, Logger: slog.New(slog.DiscardHandler)})

	_, err := x.Place(ctx, b.intent("s1-1-0"))
	if !errors.Is(err, store.ErrStaleFence) {
		t.Fatalf("place by a node frozen before stamping: got %v, want a stale_fence failure", err)
	}
	if n := b.spy.sent("s1-1-0"); n != 0 {
		t.Fatalf("order reached the venue %d times, want never", n)
	}
	if o, _ := b.db.OrderByClientID(ctx, "s1-1-0"); o.Status != store.OrderFailed {
		t.Fatalf("order status %s, want failed", o.Status)
	}
}
