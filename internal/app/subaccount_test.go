package app_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/secrets"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// TestSubAccountAndHaircutsInAPI: a server with a Binance master and a
// keyless sub-account shows the sub-account tagged with its master in
// /api/v1/accounts and in the portfolio, with the balances read through the
// master (0.5 BTC × 30000 = 15000), and /api/v1/collateral shows Binance's
// Multi-Assets ratio next to ours, flagged where they differ (USDT: ours 1,
// Binance 0.9999).
func TestSubAccountAndHaircutsInAPI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := udecimal.MustParse
	fake := binancetest.Start(t, binancetest.Config{})
	fake.SetPrice("BTCUSDT", d("30000"))
	fake.Fund(venue.WalletSpot, "USDT", d("5"))
	fake.FundSubAccount("desk1@example.com", venue.WalletSpot, "BTC", d("0.5"))
	fake.SetAssetIndex("USDT", d("1"), d("0.0001"))
	fake.SetAssetIndex("BTC", d("30000"), d("0.05"))
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
	for _, a := range []*store.Account{
		{Name: "main", Venue: "binance", BaseURL: fake.URL, APIKey: fake.APIKey(), APISecretEnc: sealed},
		{Name: "desk1", Venue: "binance", Master: "main", SubAccountEmail: "desk1@example.com"},
	} {
		if err := db.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	n := startNode(t, app.Config{DBURL: dbURL, MasterKey: key, ResyncEvery: time.Second, SnapshotEvery: time.Second})

	var accts struct {
		Accounts []struct {
			Name, Master    string
			SubAccountEmail string `json:"sub_account_email"`
		}
	}
	if code := n.do(t, "GET", "/api/v1/accounts", nil, nil, &accts); code != 200 {
		t.Fatalf("accounts: status %d", code)
	}
	tagged := false
	for _, a := range accts.Accounts {
		tagged = tagged || (a.Name == "desk1" && a.Master == "main" && a.SubAccountEmail == "desk1@example.com")
	}
	if !tagged {
		t.Errorf("accounts %+v: desk1 not tagged with its master", accts.Accounts)
	}

	eventually(t, 20*time.Second, "desk1's balances through the master", func() bool {
		var snap portfolio.Snapshot
		if n.do(t, "GET", "/api/v1/portfolio", nil, nil, &snap) != 200 {
			return false
		}
		for _, a := range snap.Accounts {
			if a.Name == "desk1" && a.Master == "main" && a.Value.Equal(d("15000")) {
				return true
			}
		}
		return false
	})

	var coll struct{ Ratios []portfolio.RatioView }
	if code := n.do(t, "GET", "/api/v1/collateral", nil, nil, &coll); code != 200 {
		t.Fatalf("collateral: status %d", code)
	}
	found := 0
	for _, v := range coll.Ratios {
		switch v.Asset {
		case "USDT":
			found++
			if len(v.Venues) != 1 || !v.Venues[0].Ratio.Equal(d("0.9999")) || !v.Venues[0].Differs || !v.Venues[0].Diff.Equal(d("0.0001")) {
				t.Errorf("USDT: %+v, want binance 0.9999 flagged (+0.0001)", v)
			}
		case "BTC":
			found++
			if len(v.Venues) != 1 || !v.Venues[0].Ratio.Equal(d("0.95")) || v.Venues[0].Differs {
				t.Errorf("BTC: %+v, want binance 0.95, not flagged", v)
			}
		}
	}
	if found != 2 {
		t.Errorf("collateral %+v: want BTC and USDT rows", coll.Ratios)
	}
	// Adding through the API: refused for an email the master does not
	// list, stored for one it lists.
	fake.AddSubAccount(binancetest.SubAccount{Email: "desk2@example.com", Created: time.Now()})
	for _, c := range []struct {
		email string
		code  int
	}{{"ghost@example.com", 400}, {"desk2@example.com", 201}} {
		var out map[string]any
		if code := n.do(t, "POST", "/api/v1/accounts", map[string]any{"name": "sub-" + strings.Split(c.email, "@")[0], "venue": "binance",
			"master": "main", "sub_account_email": c.email}, nil, &out); code != c.code {
			t.Errorf("add sub-account %s: status %d, want %d", c.email, code, c.code)
		}
	}
	// A session on the keyless sub-account is refused, saying why.
	var errBody struct {
		Error struct{ Code, Message string }
	}
	code := n.do(t, "POST", "/api/v1/sessions", map[string]any{"name": "sub-dca", "strategy": "dca", "account": "desk1",
		"symbols": []string{"BTCUSDT"}, "params": map[string]any{"symbol": "BTCUSDT", "quote_amount": "20", "interval": "1m"},
		"allocation": "100"}, nil, &errBody)
	if code != 400 {
		t.Errorf("session on a keyless sub-account: status %d, want 400", code)
	}
	// The dashboard: the sub-account tagged on the accounts page, the
	// flagged difference on the collateral page.
	if html := n.page(t, "/accounts"); !strings.Contains(html, "sub-account desk1@example.com of main") {
		t.Error("accounts page does not tag desk1 with its master")
	}
	if html := n.page(t, "/collateral"); !strings.Contains(html, `<span class="venue-ratio differs" data-venue="binance">binance 0.9999 <strong class="error" title="ours minus binance's">≠ ours by 0.0001</strong>`) {
		t.Errorf("collateral page does not flag USDT:\n%s", html)
	}
}
