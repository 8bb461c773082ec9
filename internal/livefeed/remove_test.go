package livefeed_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/livefeed"
	"github.com/tradeplane/tradeplane/internal/polltest"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// watched is a venue that counts its balance reads and its live
// subscriptions (a subscription is live until its context ends).
type watched struct {
	venue.Venue
	mu            sync.Mutex
	reads         int
	users, prices int
	stopped       sync.WaitGroup
}

func (w *watched) Balances(ctx context.Context) ([]venue.Balance, error) {
	w.mu.Lock()
	w.reads++
	w.mu.Unlock()
	return w.Venue.Balances(ctx)
}

func (w *watched) track(ctx context.Context, n *int) {
	w.mu.Lock()
	*n++
	w.mu.Unlock()
	w.stopped.Add(1)
	go func() {
		defer w.stopped.Done()
		<-ctx.Done()
		w.mu.Lock()
		*n--
		w.mu.Unlock()
	}()
}

func (w *watched) SubscribeUser(ctx context.Context) (<-chan venue.UserEvent, error) {
	ch, err := w.Venue.SubscribeUser(ctx)
	if err == nil {
		w.track(ctx, &w.users)
	}
	return ch, err
}

func (w *watched) SubscribePrices(ctx context.Context, symbols []string) (<-chan venue.PriceTick, error) {
	ch, err := w.Venue.SubscribePrices(ctx, symbols)
	if err == nil {
		w.track(ctx, &w.prices)
	}
	return ch, err
}

func (w *watched) counts() (reads, users, prices int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reads, w.users, w.prices
}

// TestRemoveAccountStopsItsLoops: after RemoveAccount the account's user
// stream and price stream are closed, its scheduled resync no longer reads
// or reports anything, and the other account of the venue takes over the
// price stream and keeps resyncing.
func TestRemoveAccountStopsItsLoops(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	clk := clock.NewFake(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	var errsMu sync.Mutex
	var errs []string
	feed := livefeed.New(livefeed.Config{
		Portfolio: bd.pf, Store: bd.db, Clock: clk, ResyncEvery: time.Minute,
		SnapshotEvery: time.Hour, PriceSnapshotEvery: time.Hour,
		OnError: func(_ context.Context, a store.Account, what string, err error) {
			errsMu.Lock()
			errs = append(errs, a.Name+": "+what+": "+err.Error())
			errsMu.Unlock()
		},
	})
	wa := &watched{Venue: bd.ex.Account("a")}
	wb := &watched{Venue: bd.ex.Account("b")}
	ctx, cancel := context.WithCancel(context.Background())
	must(t, feed.AddAccount(ctx, bd.a, wa))
	must(t, feed.AddAccount(ctx, bd.b, wb))
	done := make(chan struct{})
	go func() { feed.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		wa.stopped.Wait()
		wb.stopped.Wait()
	})

	poll(t, "both user streams and one price stream", func() bool {
		_, ua, pa := wa.counts()
		_, ub, pb := wb.counts()
		return ua == 1 && ub == 1 && pa+pb == 1
	})
	feed.RemoveAccount(bd.a.ID)
	bd.pf.RemoveAccount(livefeed.AccountKey(bd.a))
	poll(t, "account a's streams closed, b streams prices", func() bool {
		_, ua, pa := wa.counts()
		_, ub, pb := wb.counts()
		return ua == 0 && pa == 0 && ub == 1 && pb == 1
	})
	readsA, _, _ := wa.counts()
	readsB, _, _ := wb.counts()
	for i := 1; i <= 3; i++ {
		clk.Advance(time.Minute)
		poll(t, "b resynced on schedule", func() bool { r, _, _ := wb.counts(); return r >= readsB+i })
	}
	if r, _, _ := wa.counts(); r != readsA {
		t.Errorf("removed account a read its balances %d times after removal", r-readsA)
	}
	errsMu.Lock()
	defer errsMu.Unlock()
	if len(errs) != 0 {
		t.Errorf("errors reported after removal: %q", errs)
	}
}

// poll polls cond for up to 10 s.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	polltest.Until(t, 10*time.Second, what, cond)
}
