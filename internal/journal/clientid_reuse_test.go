package journal_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/alert"
	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// TestExecutorDoesNotRelyOnDuplicateRefusal: Binance accepts a client order
// id again once its order has filled (newClientOrderId is unique among
// open orders only), and the fake does the same. A market order that fills
// but whose answer is lost (503 -1007 after execution), and the same intent
// placed again afterwards, must each leave exactly one order at the venue:
// the executor settles by query and answers a stored id from the journal,
// and never resends counting on a duplicate refusal.
func TestExecutorDoesNotRelyOnDuplicateRefusal(t *testing.T) {
	db := storetest.MustOpenSQLite(t)
	a := &store.Account{Name: "main", Venue: "binance"}
	if err := db.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	fake := binancetest.Start(t, binancetest.Config{})
	fake.Fund(venue.WalletSpot, "USDT", dec("100000"))
	fake.SetPrice("BTCUSDT", dec("20000"))
	c, err := binance.New(binance.Config{APIKey: fake.APIKey(), APISecret: fake.APISecret(), BaseURL: fake.URL,
		FuturesBaseURL: fake.URL, WSBaseURL: fake.StreamURL, WSAPIURL: fake.WSAPIURL})
	if err != nil {
		t.Fatal(err)
	}
	j := journal.Open(db, journal.Options{Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { j.Close() })
	x := journal.NewExecutor(j, c, a.ID, journal.ExecutorOptions{Alerter: &alert.Recorder{}, Backoff: time.Millisecond,
		SettleTries: 3, Logger: slog.New(slog.DiscardHandler)})
	orders := func(id string) int {
		n := 0
		for _, o := range fake.Orders() {
			if o.ClientOrderID == id {
				n++
			}
		}
		return n
	}
	in := journal.Intent{SessionID: "s1", AccountID: a.ID, Fence: 1, Request: venue.OrderRequest{
		ClientOrderID: "reuse-exec-1", Symbol: "BTCUSDT", Side: venue.Buy, Type: venue.Market, Quantity: dec("0.001")}}

	fake.FailNext(binancetest.OpPlace, binancetest.FaultTimeoutAfterExecution)
	o, err := x.Place(ctx, in)
	if err != nil || o.Status != venue.StatusFilled {
		t.Fatalf("place with the answer lost: %+v, %v; want settled as filled", o, err)
	}
	if n := orders("reuse-exec-1"); n != 1 {
		t.Fatalf("%d orders at the venue after a lost answer, want 1", n)
	}
	// The same intent again (a replayed step): answered from the journal.
	if o, err := x.Place(ctx, in); err != nil || o.Status != venue.StatusFilled {
		t.Fatalf("replayed intent: %+v, %v", o, err)
	}
	if n := orders("reuse-exec-1"); n != 1 {
		t.Fatalf("%d orders at the venue after the intent was replayed, want 1 (the venue would have taken a second)", n)
	}
	// Retryable refusals (nothing executed) are the only resends.
	in2 := in
	in2.Request.ClientOrderID = "reuse-exec-2"
	fake.FailNext(binancetest.OpPlace, binancetest.FaultTimestamp)
	if o, err := x.Place(ctx, in2); err != nil || o.Status != venue.StatusFilled {
		t.Fatalf("place after a -1021: %+v, %v", o, err)
	}
	if n := orders("reuse-exec-2"); n != 1 {
		t.Fatalf("%d orders after a retried -1021, want 1", n)
	}
}
