package app_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/secrets"
	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/bybittest"
)

// TestBybitSessionTrades runs a DCA session on a Bybit account against the
// loopback fake Bybit: its orders go out by orderLinkId, fill, and every
// fill at the venue is recorded once, every order journaled once.
func TestBybitSessionTrades(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := bybittest.New(t, bybittest.Config{})
	if err := fake.SetPrice("BTCUSDT", udecimal.MustParse("30000")); err != nil {
		t.Fatal(err)
	}
	if err := fake.Fund(venue.WalletSpot, "USDT", udecimal.MustParse("100000")); err != nil {
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
	m, err := session.New(session.Options{Store: db, Accounts: session.AccountsFunc(func(context.Context, int64) (session.Account, error) {
		return session.Account{}, fmt.Errorf("not running sessions in the test process")
	})})
	if err != nil {
		t.Fatal(err)
	}
	params, _ := json.Marshal(map[string]any{"symbol": "BTCUSDT", "quote_amount": "20", "interval": "1s"}) // the least DCA allows
	s, err := m.Create(ctx, session.Spec{Name: "dca-bybit", Strategy: "dca", AccountID: acct.ID,
		Symbols: []string{"BTCUSDT"}, Params: params}, "test")
	m.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetSessionDesired(ctx, s.ID, "running", time.Now()); err != nil {
		t.Fatal(err)
	}

	n := startNode(t, app.Config{DBURL: dbURL, MasterKey: key, ResyncEvery: time.Second, SnapshotEvery: time.Second})
	venueTrades := func() []venue.Trade {
		p, err := fake.Account().Trades(ctx, venue.TradeQuery{Symbol: "BTCUSDT", From: time.Now().Add(-time.Hour), Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return p.Trades
	}
	eventually(t, 30*time.Second, "three fills at the fake Bybit", func() bool { return len(venueTrades()) >= 3 })
	var stopped struct{ State string }
	if code := n.do(t, "POST", "/api/v1/sessions/"+s.ID+"/stop", nil, nil, &stopped); code != 200 {
		t.Fatalf("stop session: status %d", code)
	}
	eventually(t, 30*time.Second, "session stopped", func() bool {
		n.do(t, "GET", "/api/v1/sessions/"+s.ID, nil, nil, &stopped)
		return stopped.State == "stopped"
	})

	// Everything the venue did is in the journal, once.
	trades := venueTrades()
	stored := map[string]int{}
	var fills []store.Fill
	eventually(t, 30*time.Second, "every venue fill recorded", func() bool {
		var err error
		if fills, err = db.Fills(ctx, store.FillQuery{AccountID: acct.ID, Limit: 100000}); err != nil {
			t.Fatal(err)
		}
		return len(fills) >= len(trades)
	})
	for _, f := range fills {
		stored[f.Symbol+"/"+f.TradeID]++
	}
	orders := map[string]bool{}
	for _, tr := range trades {
		if c := stored[tr.Symbol+"/"+tr.ID]; c != 1 {
			t.Errorf("venue fill %s (order %s) recorded %d times, want 1", tr.ID, tr.ClientOrderID, c)
		}
		orders[tr.ClientOrderID] = true
	}
	// An order whose answer the stop cut short is unknown until the node's
	// resync settles it with Bybit: wait for that, not for luck.
	for id := range orders {
		var row store.Order
		eventually(t, 30*time.Second, "order "+id+" settled as filled", func() bool {
			var err error
			if row, err = db.OrderByClientID(ctx, id); err != nil {
				t.Fatalf("venue order %s has no journaled order: %v", id, err)
			}
			return row.Status == "filled"
		})
	}
	if len(fills) != len(trades) {
		t.Errorf("fills recorded %d, venue fills %d", len(fills), len(trades))
	}
}
