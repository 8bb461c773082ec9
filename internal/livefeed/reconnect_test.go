package livefeed_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/livefeed"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// watchedVenue tells the test when the feed's user stream is up: on its
// first subscription and on every EventReconnected.
type watchedVenue struct {
	venue.Venue
	up chan struct{}
}

func (w *watchedVenue) SubscribeUser(ctx context.Context) (<-chan venue.UserEvent, error) {
	in, err := w.Venue.SubscribeUser(ctx)
	if err != nil {
		return nil, err
	}
	out := make(chan venue.UserEvent)
	w.up <- struct{}{}
	go func() {
		defer close(out)
		for ev := range in {
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
			if ev.Kind == venue.EventReconnected {
				w.up <- struct{}{}
			}
		}
	}()
	return out, nil
}

// TestOrderFilledWhileStreamDownSettledOnReconnect: an order that fills
// while the user stream is down (its execution report is lost) is settled
// in the store right after the stream reconnects, through SettleOrders (the
// node's reconcile), not at a scheduled reconcile, which this test never
// runs.
func TestOrderFilledWhileStreamDownSettledOnReconnect(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fake := binancetest.Start(t, binancetest.Config{})
	fake.SetPrice("BTCUSDT", dec("20000"))
	fake.Fund(venue.WalletSpot, "USDT", dec("1000"))
	bn, err := binance.New(binance.Config{APIKey: fake.APIKey(), APISecret: fake.APISecret(), BaseURL: fake.URL,
		FuturesBaseURL: fake.URL, WSBaseURL: fake.StreamURL, WSAPIURL: fake.WSAPIURL,
		ReconnectMin: 10 * time.Millisecond, ReconnectMax: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	v := &watchedVenue{Venue: bn, up: make(chan struct{}, 8)}
	db := storetest.MustOpenSQLite(t)
	acct := &store.Account{Name: "bn", Venue: "binance"}
	must(t, db.CreateAccount(ctx, acct))
	m, err := journal.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	j := journal.Open(db, journal.Options{Metrics: m, Logger: quiet})
	t.Cleanup(func() { j.Close() })
	x := journal.NewExecutor(j, bn, acct.ID, journal.ExecutorOptions{Metrics: m, Logger: quiet})

	var settles atomic.Int32
	pf, err := portfolio.New(portfolio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	feed := livefeed.New(livefeed.Config{Portfolio: pf, Store: db, Log: quiet,
		SettleOrders: func(ctx context.Context, id int64) error {
			if id != acct.ID {
				t.Errorf("settle account %d, want %d", id, acct.ID)
			}
			settles.Add(1)
			_, err := x.Reconcile(ctx)
			return err
		}})
	must(t, feed.AddAccount(ctx, *acct, v))
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = feed.Run(runCtx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	waitUp := func(what string) {
		t.Helper()
		select {
		case <-v.up:
		case <-time.After(5 * time.Second):
			t.Fatalf("user stream not up %s", what)
		}
	}
	waitUp("at start")

	// A resting buy, acknowledged: the store holds it open.
	const cid = "s1-step1"
	o, err := x.Place(ctx, journal.Intent{SessionID: "s1", AccountID: acct.ID, Fence: 1, Request: venue.OrderRequest{
		ClientOrderID: cid, Symbol: "BTCUSDT", Side: venue.Buy, Type: venue.Limit, Quantity: dec("0.001"), Price: dec("19000")}})
	if err != nil || o.Status != venue.StatusNew {
		t.Fatalf("place: %+v, %v; want a new order", o, err)
	}

	// The stream goes down, and the order fills meanwhile.
	fake.StreamsDown()
	fake.SetPrice("BTCUSDT", dec("18500"))
	refused := fake.StreamsRefused()
	poll(t, "three refused reconnects", func() bool { return fake.StreamsRefused() >= refused+3 })
	if st, err := db.OrderByClientID(ctx, cid); err != nil || st.Status != string(venue.StatusNew) {
		t.Fatalf("order while the stream is down: %+v, %v; want it still new in the store", st, err)
	}
	if n := settles.Load(); n != 0 {
		t.Fatalf("%d settles before any reconnect, want 0", n)
	}

	fake.StreamsUp()
	waitUp("after the outage")
	deadline := time.Now().Add(3 * time.Second)
	for {
		st, err := db.OrderByClientID(ctx, cid)
		if err == nil && st.Status == string(venue.StatusFilled) {
			if !st.ExecutedQty.Equal(dec("0.001")) {
				t.Errorf("settled order executed %s, want 0.001", st.ExecutedQty)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("order 3 s after the reconnect: %+v, %v (settles %d); want it filled", st, err, settles.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if settles.Load() == 0 {
		t.Error("filled without SettleOrders")
	}
}
