package app_test

import (
	"context"
	"crypto/rand"
	"maps"
	"testing"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/secrets"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// TestFuturesLeveragePerAccount: the server sets BTCUSDT 7x and ETHUSDT 9x
// isolated for every binance-futures account; an account added through
// the API with its own BTCUSDT 3x isolated keeps them (stored, listed) and
// sets 3x isolated on BTCUSDT and the server's 9x isolated on ETHUSDT,
// while an account without its own sets the server's on both. A paper
// account with leverage, or a leverage Binance does not take, is refused.
func TestFuturesLeveragePerAccount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	own := binancetest.Start(t, binancetest.Config{})
	plain := binancetest.Start(t, binancetest.Config{})
	dbURL := storetest.SQLiteURL(t)
	key := make([]byte, secrets.KeySize)
	rand.Read(key)
	serverLev := map[string]int{"BTCUSDT": 7, "ETHUSDT": 9}
	serverMT := map[string]venue.MarginMode{"ETHUSDT": venue.MarginIsolated}
	n := startNode(t, app.Config{DBURL: dbURL, MasterKey: key, FuturesLeverage: serverLev, FuturesMarginType: serverMT})

	add := func(name string, fake *binancetest.Server, extra map[string]any) (int, map[string]any) {
		body := map[string]any{"name": name, "venue": "binance-futures", "base_url": fake.URL, "api_key": fake.APIKey(),
			"api_secret": fake.APISecret()}
		maps.Copy(body, extra)
		out := map[string]any{}
		return n.do(t, "POST", "/api/v1/accounts", body, nil, &out), out
	}
	code, out := add("perps3x", own, map[string]any{"futures_leverage": map[string]int{"BTCUSDT": 3},
		"futures_margin_type": map[string]string{"BTCUSDT": "isolated"}})
	if code != 201 {
		t.Fatalf("add perps3x: status %d %v", code, out)
	}
	if lev, _ := out["futures_leverage"].(map[string]any); lev["BTCUSDT"] != float64(3) {
		t.Errorf("created account shows futures_leverage %v, want BTCUSDT 3", out["futures_leverage"])
	}
	if code, out := add("perps", plain, nil); code != 201 {
		t.Fatalf("add perps: status %d %v", code, out)
	}
	for _, c := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"paper with leverage", map[string]any{"name": "p", "venue": "paper", "futures_leverage": map[string]int{"BTCUSDT": 3}}, "futures_leverage"},
		{"leverage 200", map[string]any{"name": "x", "venue": "binance-futures", "base_url": own.URL, "api_key": own.APIKey(),
			"api_secret": own.APISecret(), "futures_leverage": map[string]int{"BTCUSDT": 200}}, "futures_leverage"},
		{"margin type crossed", map[string]any{"name": "y", "venue": "binance-futures", "base_url": own.URL, "api_key": own.APIKey(),
			"api_secret": own.APISecret(), "futures_margin_type": map[string]string{"BTCUSDT": "crossed"}}, "futures_margin_type"},
	} {
		// (The message names the field: fieldcheck's TestCheckAccount.)
		if code := n.do(t, "POST", "/api/v1/accounts", c.body, nil, nil); code != 400 {
			t.Errorf("%s: status %d, want 400 (%s refused)", c.name, code, c.field)
		}
	}

	// The node's factory opens each account with its settings over the
	// server's; Prepare sets them at the fake before a first order.
	db, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	box, _ := secrets.New(key)
	factory := app.VenueFactory{Box: box, FuturesLeverage: serverLev, FuturesMarginType: serverMT}
	for _, c := range []struct {
		account        string
		fake           *binancetest.Server
		btcLev, ethLev int
		btcIso, ethIso bool
	}{
		{"perps3x", own, 3, 9, true, true},
		{"perps", plain, 7, 9, false, true},
	} {
		acct, err := db.Account(ctx, c.account)
		if err != nil {
			t.Fatal(err)
		}
		v, err := factory.Open(acct)
		if err != nil {
			t.Fatal(err)
		}
		f, ok := v.(*binance.Futures)
		if !ok {
			t.Fatalf("%s opens as %T", c.account, v)
		}
		if err := f.Prepare(ctx, "BTCUSDT", "ETHUSDT"); err != nil {
			t.Fatal(err)
		}
		if got := c.fake.FuturesLeverage("BTCUSDT"); got != c.btcLev {
			t.Errorf("%s: BTCUSDT leverage %d, want %d", c.account, got, c.btcLev)
		}
		if got := c.fake.FuturesLeverage("ETHUSDT"); got != c.ethLev {
			t.Errorf("%s: ETHUSDT leverage %d, want %d (the server's)", c.account, got, c.ethLev)
		}
		if c.fake.FuturesIsolated("BTCUSDT") != c.btcIso || c.fake.FuturesIsolated("ETHUSDT") != c.ethIso {
			t.Errorf("%s: isolated BTCUSDT %v ETHUSDT %v, want %v %v", c.account, c.fake.FuturesIsolated("BTCUSDT"),
				c.fake.FuturesIsolated("ETHUSDT"), c.btcIso, c.ethIso)
		}
	}
}
