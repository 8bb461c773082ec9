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
	"github.com/tradeplane/tradeplane/internal/venue/bybittest"
)

// TestBybitSessionsUnderFaults runs DCA sessions on the fake Bybit while a
// fifth of order requests fail (timeouts before and after the order
// executed, rate limits, server errors) and a fifth of reads fail too;
// then, faults off and sessions paused, the venue is checked against the
// journal: an unknown outcome was settled by orderLinkId, never by sending
// the order again.
func TestBybitSessionsUnderFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rates := map[string]float64{bybittest.OpPlace: 0.2, bybittest.OpQuery: 0.2, bybittest.OpTrades: 0.2,
		bybittest.OpBalances: 0.2, bybittest.OpOpenOrders: 0.2, bybittest.OpCancel: 0.2}
	fake := bybittest.New(t, bybittest.Config{FaultRates: rates, Seed: uint64(time.Now().UnixNano())})
	if err := fake.SetPrice("BTCUSDT", udecimal.MustParse("30000")); err != nil {
		t.Fatal(err)
	}
	if err := fake.Fund(venue.WalletSpot, "USDT", udecimal.MustParse("100000000")); err != nil {
		t.Fatal(err)
	}
	dbURL := storetest.SQLiteURL(t)
	db, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	key := make([]byte, secrets.KeySize)
	rand.Read(key)
	box, _ := secrets.New(key)
	sealed, _ := box.Seal([]byte(bybittest.APISecret))
	acct := &store.Account{Name: "uta", Venue: "bybit", BaseURL: fake.BaseURL(), APIKey: bybittest.APIKey, APISecretEnc: sealed}
	if err := db.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	ids := (&desk{db: db, acct: *acct}).createSessions(t, 6, "1s")

	// The fake shows an order in its lookups as soon as it takes it, so
	// the consistency lag is none (as the Binance fakes' tests set it).
	n := startNode(t, app.Config{DBURL: dbURL, MasterKey: key, ReconcileEvery: time.Second, ResyncEvery: time.Second,
		ConsistencyLag: map[string]time.Duration{"bybit": -1}})
	// A session whose order may not have reached Bybit waits for the
	// proof (see below) before its next step, so the desk slows down as
	// faults accumulate.
	eventually(t, 2*time.Minute, "20 orders at the fake Bybit", func() bool { return len(fake.Orders()) >= 20 })
	fake.SetFaultRates(nil)
	for _, id := range ids {
		if code := n.do(t, "POST", "/api/v1/sessions/"+id+"/pause", nil, nil, nil); code != 200 {
			t.Fatalf("pause %s: status %d", id, code)
		}
	}
	// An order whose request timed out before Bybit took it is proven
	// never executed once its recvWindow has passed (no consistency lag).
	eventually(t, 90*time.Second, "every journaled order settled", func() bool {
		open, err := db.NonTerminalOrders(ctx, acct.ID)
		return err == nil && len(open) == 0
	})
	var fills []store.Fill
	eventually(t, 30*time.Second, "every venue fill recorded", func() bool {
		fills, _ = db.Fills(ctx, store.FillQuery{AccountID: acct.ID, Limit: 100000})
		return len(fills) >= len(fake.Orders())
	})
	orders, nFills := checkBybitAgainstJournal(t, db, acct.ID, fake, ids)
	t.Logf("under faults: %d orders at the venue, %d fills recorded, none duplicated or lost", orders, nFills)
}
