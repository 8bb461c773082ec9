package app_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/secrets"
	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// TestBinanceFuturesSessionTrades runs a DCA session on a binance-futures
// account against the loopback fake Binance: its orders go out by
// newClientOrderId to /fapi/v1/order, fill, open a long, and every fill at
// the venue is recorded once, every order journaled once; the leverage
// configured for the symbol is set before the first order.
func TestBinanceFuturesSessionTrades(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake, db, dbURL, key, acct, s := futuresSessionDesk(t)
	n := startNode(t, app.Config{DBURL: dbURL, MasterKey: key, ResyncEvery: time.Second, SnapshotEvery: time.Second,
		FuturesLeverage: map[string]int{"BTCUSDT": 7}})
	reader, err := binance.New(binance.Config{APIKey: fake.APIKey(), APISecret: fake.APISecret(), BaseURL: fake.URL, FuturesBaseURL: fake.URL})
	if err != nil {
		t.Fatal(err)
	}
	venueTrades := func() []venue.Trade {
		p, err := reader.FuturesTrades(ctx, venue.TradeQuery{Symbol: "BTCUSDT", From: time.Now().Add(-time.Hour), Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var out []venue.Trade
		for _, tr := range p.Trades {
			out = append(out, tr.Trade)
		}
		return out
	}
	eventually(t, 30*time.Second, "three fills at the fake Binance futures", func() bool { return len(venueTrades()) >= 3 })
	if got := fake.FuturesLeverage("BTCUSDT"); got != 7 {
		t.Errorf("BTCUSDT leverage at the fake: %d, want the configured 7", got)
	}
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
	byVenueID := map[string]string{}
	for _, f := range fills {
		byVenueID[f.VenueOrderID] = f.ClientOrderID
	}
	for _, tr := range trades {
		if c := stored[tr.Symbol+"/"+tr.ID]; c != 1 {
			t.Errorf("venue fill %s (order %s) recorded %d times, want 1", tr.ID, tr.VenueOrderID, c)
		}
		orders[byVenueID[tr.VenueOrderID]] = true
	}
	for id := range orders {
		row, err := db.OrderByClientID(ctx, id)
		if err != nil {
			t.Errorf("venue order %s has no journaled order: %v", id, err)
			continue
		}
		if row.Status != "filled" {
			t.Errorf("order %s: journal status %s, want filled", id, row.Status)
		}
	}
	if len(fills) != len(trades) {
		t.Errorf("fills recorded %d, venue fills %d", len(fills), len(trades))
	}

	// The journal audit (order history and fills of the futures account)
	// finds no difference, then exactly the order placed behind its back.
	type audit struct {
		Orders      int `json:"orders"`
		Differences []struct {
			ClientOrderID string `json:"client_order_id"`
		} `json:"differences"`
	}
	from := url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
	auditNow := func() audit {
		t.Helper()
		var rep audit
		to := url.QueryEscape(time.Now().Add(time.Minute).UTC().Format(time.RFC3339))
		if code := n.do(t, "GET", "/api/v1/journal/audit?account=perps&from="+from+"&to="+to, nil, nil, &rep); code != 200 {
			t.Fatalf("journal audit: status %d", code)
		}
		return rep
	}
	if rep := auditNow(); len(rep.Differences) != 0 || rep.Orders < 3 {
		t.Errorf("audit after trading: %d orders, differences %+v; want at least 3 and none", rep.Orders, rep.Differences)
	}
	fut, err := reader.Futures(binance.FuturesOptions{WSBaseURL: fake.StreamURL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fut.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: "behind-the-back", Symbol: "BTCUSDT", Side: venue.Buy,
		Type: venue.Market, Quantity: udecimal.MustParse("0.001")}); err != nil {
		t.Fatal(err)
	}
	if rep := auditNow(); len(rep.Differences) == 0 || rep.Differences[0].ClientOrderID != "behind-the-back" {
		t.Errorf("audit after an order behind the journal's back: differences %+v, want it named", rep.Differences)
	}
}

// futuresSessionDesk is a fake Binance (BTCUSDT 30000, ETHUSDT 2000, 100000
// USDT on the futures wallet), a database with its binance-futures account
// "perps" (API secret sealed with key) and a DCA session on BTCUSDT (20
// USDT a second) desired running: start a node on dbURL with key.
func futuresSessionDesk(t *testing.T) (*binancetest.Server, *store.DB, string, []byte, *store.Account, session.Session) {
	t.Helper()
	ctx := context.Background()
	fake := binancetest.Start(t, binancetest.Config{})
	fake.SetPrice("BTCUSDT", udecimal.MustParse("30000"))
	fake.SetPrice("ETHUSDT", udecimal.MustParse("2000"))
	fake.Fund(venue.WalletFutures, "USDT", udecimal.MustParse("100000"))
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
	m, err := session.New(session.Options{Store: db, Accounts: session.AccountsFunc(func(context.Context, int64) (session.Account, error) {
		return session.Account{}, fmt.Errorf("not running sessions in the test process")
	})})
	if err != nil {
		t.Fatal(err)
	}
	params, _ := json.Marshal(map[string]any{"symbol": "BTCUSDT", "quote_amount": "20", "interval": "1s"}) // the least DCA allows
	s, err := m.Create(ctx, session.Spec{Name: "dca-futures", Strategy: "dca", AccountID: acct.ID,
		Symbols: []string{"BTCUSDT"}, Params: params}, "test")
	m.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetSessionDesired(ctx, s.ID, "running", time.Now()); err != nil {
		t.Fatal(err)
	}
	return fake, db, dbURL, key, acct, s
}
