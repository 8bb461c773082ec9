package binance_test

import (
	"encoding/json"
	"testing"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

func futuresRows(t *testing.T, bals []venue.Balance) map[string]venue.Balance {
	t.Helper()
	out := map[string]venue.Balance{}
	for _, b := range bals {
		if b.Wallet == venue.WalletFutures {
			out[b.Asset] = b
		}
	}
	return out
}

// TestFuturesBalancesMultiAssets: in Multi-Assets mode availableBalance is
// the account's and repeated on every asset; each asset's quantity is its
// wallet balance, an empty asset stays out, and nothing is negative.
func TestFuturesBalancesMultiAssets(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{}, nil)
	b.fake.Fund(venue.WalletFutures, "USDT", dec("18.47"))
	b.fake.Fund(venue.WalletFutures, "FDUSD", dec("0"))
	b.fake.Fund(venue.WalletFutures, "BNB", dec("2"))
	b.fake.SetFuturesMultiAssets(true)
	bals, err := b.client.Balances(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := futuresRows(t, bals)
	want := map[string]venue.Balance{
		"USDT": {Wallet: venue.WalletFutures, Asset: "USDT", Free: dec("18.47")},
		"BNB":  {Wallet: venue.WalletFutures, Asset: "BNB", Free: dec("2")},
	}
	if len(got) != len(want) {
		t.Fatalf("futures balances %+v, want %+v", got, want)
	}
	for a, w := range want {
		if g := got[a]; !same(g, w) {
			t.Errorf("%s: got %+v, want %+v", a, g, w)
		}
	}
	fb, err := b.client.FuturesBalances(b.ctx)
	if err != nil || len(fb) != 2 || !fb[0].MultiAssets {
		t.Fatalf("futures balances: %+v, %v; want 2 assets in Multi-Assets mode", fb, err)
	}
}

// TestFuturesBalancesSingleAsset: in Single-Asset mode the margin in use is
// locked (wallet + unrealized PnL − available), the unrealized PnL is
// reported apart and never counted into the quantity.
func TestFuturesBalancesSingleAsset(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{}, nil)
	b.fake.Fund(venue.WalletFutures, "USDT", dec("100"))
	b.fake.SetFuturesPosition("USDT", dec("30"), dec("50"))
	b.fake.Fund(venue.WalletFutures, "BUSD", dec("40"))
	b.fake.SetFuturesPosition("BUSD", dec("10"), dec("-25"))
	bals, err := b.client.Balances(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := futuresRows(t, bals)
	for a, w := range map[string]venue.Balance{
		"USDT": {Wallet: venue.WalletFutures, Asset: "USDT", Free: dec("70"), Locked: dec("30")},
		"BUSD": {Wallet: venue.WalletFutures, Asset: "BUSD", Free: dec("30"), Locked: dec("10")},
	} {
		if g := got[a]; !same(g, w) {
			t.Errorf("%s: got %+v, want %+v", a, g, w)
		}
	}
	fb, err := b.client.FuturesBalances(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fb {
		if f.MultiAssets || (f.Asset == "USDT" && (!f.Wallet.Equal(dec("100")) || !f.UnrealizedPnl.Equal(dec("50")))) {
			t.Errorf("futures balance %+v", f)
		}
	}
}

// TestDocumentedFuturesBalance replays the documented /fapi/v3/balance and
// /fapi/v1/multiAssetsMargin examples (Multi-Assets mode): the quantity is
// the wallet balance, not the account-wide availableBalance.
func TestDocumentedFuturesBalance(t *testing.T) {
	t.Parallel()
	d := newDocsServer(t)
	d.answer("GET /fapi/v3/balance", 200, "futures_balance.json", nil)
	d.answer("GET /fapi/v1/multiAssetsMargin", 200, "futures_multi_assets_margin.json", nil)
	c := docsClient(t, d)
	fb, err := c.FuturesBalances(t.Context())
	want := []binance.FuturesBalance{{Asset: "USDT", Wallet: dec("122607.35137903"), UnrealizedPnl: dec("0"),
		Available: dec("23.72469206"), MultiAssets: true}}
	if err != nil || !same(fb, want) {
		t.Fatalf("futures balances:\n got %+v, %v\nwant %+v", fb, err, want)
	}
	bals, err := c.Balances(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if g := futuresRows(t, bals)["USDT"]; !same(g, venue.Balance{Wallet: venue.WalletFutures, Asset: "USDT", Free: dec("122607.35137903")}) {
		t.Errorf("futures USDT: %+v, want the wallet balance free, nothing locked", g)
	}
}

// TestDocumentedWallets replays the documented examples of every wallet
// Balances reads (spot account, funding, USDⓈ-M futures in Multi-Assets
// mode, cross margin, simple earn) and checks each balance.
func TestDocumentedWallets(t *testing.T) {
	t.Parallel()
	d := newDocsServer(t)
	d.answer("POST /sapi/v1/asset/get-funding-asset", 200, "funding_asset.json", nil)
	d.answer("GET /fapi/v3/balance", 200, "futures_balance.json", nil)
	d.answer("GET /fapi/v1/multiAssetsMargin", 200, "futures_multi_assets_margin.json", nil)
	d.answer("GET /sapi/v1/margin/account", 200, "margin_account.json", nil)
	d.answer("GET /sapi/v1/simple-earn/flexible/position", 200, "earn_flexible_position.json", nil)
	bals, err := docsClient(t, d).Balances(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []venue.Balance{
		{Wallet: venue.WalletSpot, Asset: "BTC", Free: dec("4723846.89208129"), Locked: dec("0")},
		{Wallet: venue.WalletSpot, Asset: "LTC", Free: dec("4763368.68006011"), Locked: dec("0")},
		{Wallet: venue.WalletFunding, Asset: "USDT", Free: dec("1"), Locked: dec("0")},
		{Wallet: venue.WalletFutures, Asset: "USDT", Free: dec("122607.35137903")},
		{Wallet: venue.WalletMargin, Asset: "BTC", Free: dec("0.004995"), Locked: dec("0"), Borrowed: dec("0")},
		{Wallet: venue.WalletEarn, Asset: "USDT", Free: dec("75.46")},
	}
	if len(bals) != len(want) {
		t.Fatalf("balances:\n got %+v\nwant %+v", bals, want)
	}
	for i := range want {
		if !same(bals[i], want[i]) {
			t.Errorf("balance %d:\n got %+v\nwant %+v", i, bals[i], want[i])
		}
	}
}

// TestDocumentedFuturesBalanceSingleAsset replays the documented
// /fapi/v3/balance row edited to Single-Asset mode cases: margin in use is
// locked, and a wallet in debt (negative balance after a loss) is free
// and negative, never a negative locked amount.
func TestDocumentedFuturesBalanceSingleAsset(t *testing.T) {
	t.Parallel()
	doc := binancetest.Doc("futures_balance.json")
	var rows []json.RawMessage
	if err := json.Unmarshal(doc, &rows); err != nil || len(rows) != 1 {
		t.Fatal("futures_balance.json: want one row")
	}
	single, err := binancetest.Edit(binancetest.Doc("futures_multi_assets_margin.json"), "multiAssetsMargin", "false")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name                 string
		balance, pnl, avail  string
		wantFree, wantLocked string
	}{
		{"margin in use", "100.00000000", "5.00000000", "45.00000000", "40", "60"},
		{"available above wallet and PnL", "100.00000000", "0.00000000", "110.00000000", "100", "0"},
		{"wallet in debt", "-5.00000000", "0.00000000", "0.00000000", "-5", "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			row, err := binancetest.Edit(rows[0], "balance", `"`+tc.balance+`"`, "crossUnPnl", `"`+tc.pnl+`"`,
				"availableBalance", `"`+tc.avail+`"`)
			if err != nil {
				t.Fatal(err)
			}
			d := newDocsServer(t)
			d.mu.Lock()
			d.answers["GET /fapi/v3/balance"] = docsAnswer{status: 200, body: []byte("[" + string(row) + "]")}
			d.answers["GET /fapi/v2/balance"] = d.answers["GET /fapi/v3/balance"]
			d.answers["GET /fapi/v1/multiAssetsMargin"] = docsAnswer{status: 200, body: single}
			d.mu.Unlock()
			bals, err := docsClient(t, d).Balances(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			want := venue.Balance{Wallet: venue.WalletFutures, Asset: "USDT", Free: dec(tc.wantFree), Locked: dec(tc.wantLocked)}
			if g := futuresRows(t, bals)["USDT"]; !same(g, want) {
				t.Errorf("got %+v, want %+v", g, want)
			}
		})
	}
}
