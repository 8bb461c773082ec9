package app_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/secrets"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// TestBinanceFuturesSessionsUnderFaults runs DCA sessions on the fake's
// USDⓈ-M perpetuals while order requests time out before and after the
// order executed (503, -1007), hit server errors and rate limits, and
// reads fail too; then, sessions paused, the venue is checked against the
// journal: an unknown outcome was settled by origClientOrderId, never by
// sending the order again.
func TestBinanceFuturesSessionsUnderFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := binancetest.Start(t, binancetest.Config{})
	d := udecimal.MustParse
	fake.SetPrice("BTCUSDT", d("30000"))
	fake.SetPrice("ETHUSDT", d("2000"))
	fake.Fund(venue.WalletFutures, "USDT", d("100000000"))
	dbURL := storetest.SQLiteURL(t)
	db, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	key := make([]byte, secrets.KeySize)
	rand.Read(key)
	box, _ := secrets.New(key)
	sealed, _ := box.Seal([]byte(fake.APISecret()))
	acct := &store.Account{Name: "perps", Venue: "binance-futures", BaseURL: fake.URL, APIKey: fake.APIKey(), APISecretEnc: sealed}
	if err := db.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	ids := (&desk{db: db, acct: *acct}).createSessions(t, 4, "1s")
	// The fake answers consistently at once: a short consistency lag lets
	// an order lost before execution be proven never executed quickly.
	n := startNode(t, app.Config{DBURL: dbURL, MasterKey: key, ReconcileEvery: time.Second, ResyncEvery: time.Second,
		BinanceLag: 2 * time.Second})
	faults := []binancetest.Fault{binancetest.FaultTimeoutAfterExecution, binancetest.FaultTimeoutBeforeExecution,
		binancetest.FaultServerError, binancetest.FaultRateLimited, binancetest.FaultTimeoutAfterExecution,
		binancetest.FaultTimeoutBeforeExecution, binancetest.FaultTimeoutAfterExecution}
	for i, f := range faults {
		eventually(t, time.Minute, "orders flowing", func() bool { return len(fake.FuturesOrders()) >= 2*i })
		fake.FailNext(binancetest.OpPlace, f)
		fake.FailNext(binancetest.OpQuery, binancetest.FaultServerError)
		fake.FailNext(binancetest.OpFuturesTrades, binancetest.FaultServerError)
	}
	eventually(t, 2*time.Minute, "20 orders at the fake", func() bool { return len(fake.FuturesOrders()) >= 20 })
	for _, id := range ids {
		if code := n.do(t, "POST", "/api/v1/sessions/"+id+"/pause", nil, nil, nil); code != 200 {
			t.Fatalf("pause %s: status %d", id, code)
		}
	}
	eventually(t, time.Minute, "every journaled order settled", func() bool {
		open, err := db.NonTerminalOrders(ctx, acct.ID)
		return err == nil && len(open) == 0
	})
	eventually(t, 30*time.Second, "every venue fill recorded", func() bool {
		fills, _ := db.Fills(ctx, store.FillQuery{AccountID: acct.ID, Limit: 100000})
		return len(fills) >= len(fake.FuturesOrders())
	})
	orders, nFills := checkFuturesAgainstJournal(t, db, acct.ID, fake, ids)
	t.Logf("under faults: %d orders at the venue, %d fills recorded, none duplicated or lost", orders, nFills)
}
