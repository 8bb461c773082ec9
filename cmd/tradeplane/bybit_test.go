package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
	"github.com/tradeplane/tradeplane/internal/venue/bybittest"
)

// TestBalancesAcrossBinanceAndBybit: a desk of one Binance and one Bybit
// account (loopback fakes) added with `accounts add` shows, in `balances
// --json`, one total equal to the sum of both venues' balances at the
// fakes' prices, exactly, and each venue's own total; the Bybit account's
// linear position is listed next to its balances and counted in no total.
func TestBalancesAcrossBinanceAndBybit(t *testing.T) {
	t.Parallel()
	d := udecimal.MustParse
	bn := binancetest.Start(t, binancetest.Config{})
	bn.SetPrice("BTCUSDT", d("30000"))
	bn.SetPrice("ETHUSDT", d("2000"))
	bn.Fund(venue.WalletSpot, "ETH", d("3"))
	bn.Fund(venue.WalletSpot, "USDT", d("1000.25"))
	by := bybittest.New(t, bybittest.Config{})
	for sym, px := range map[string]string{"BTCUSDT": "30000", "ETHUSDT": "2000"} {
		if err := by.SetPrice(sym, d(px)); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []struct {
		w     venue.Wallet
		asset string
		amt   string
	}{{venue.WalletSpot, "BTC", "0.5"}, {venue.WalletSpot, "USDT", "250.5"}, {venue.WalletFunding, "USDT", "100"}} {
		if err := by.Fund(f.w, f.asset, d(f.amt)); err != nil {
			t.Fatal(err)
		}
	}

	// A linear position: shown next to the balances, not in any total.
	by.SetPosition(venue.Position{Symbol: "BTCUSDT", SettleAsset: "USDT", Size: d("-0.2"), EntryPrice: d("31000"),
		MarkPrice: d("30000"), UnrealizedPnL: d("200"), Leverage: d("3"), LiquidationPrice: d("40100"), MarginMode: venue.MarginCross})

	dir := t.TempDir()
	flags := []string{"--db", tempDB(t), "--master-key-file", filepath.Join(dir, "master.key")}
	secret := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cli(t, "", append(flags, "accounts", "add", "--name", "bn", "--venue", "binance", "--base-url", bn.URL,
		"--api-key", bn.APIKey(), "--api-secret-file", secret("bn.secret", bn.APISecret()))...).want(t, 0)
	cli(t, "", append(flags, "accounts", "add", "--name", "uta", "--venue", "bybit", "--base-url", by.BaseURL(),
		"--api-key", bybittest.APIKey, "--api-secret-file", secret("by.secret", bybittest.APISecret))...).want(t, 0)
	// A bybit account without credentials is refused with what to add.
	if r := cli(t, "", append(flags, "accounts", "add", "--name", "bare", "--venue", "bybit")...); r.code == 0 {
		t.Errorf("bybit account without credentials: exit 0, want a usage error")
	}

	out := cli(t, "", append(flags, "balances", "--json")...).want(t, 0)
	var snap portfolio.Snapshot
	if err := json.Unmarshal([]byte(out.stdout), &snap); err != nil {
		t.Fatalf("balances --json: %v\n%s", err, out.stdout)
	}
	// Binance: 3 ETH × 2000 + 1000.25 USDT; Bybit: 0.5 BTC × 30000 + 250.5
	// USDT (unified) + 100 USDT (funding).
	want := map[string]string{"binance": "7000.25", "bybit": "15350.5"}
	for _, g := range snap.ByVenue {
		if w, ok := want[g.Key]; ok {
			if !g.Value.Equal(d(w)) {
				t.Errorf("venue %s total %s, want %s", g.Key, g.Value, w)
			}
			delete(want, g.Key)
		}
	}
	if len(want) > 0 {
		t.Errorf("venues missing from balances: %v\n%s", want, out.stdout)
	}
	for _, a := range snap.Accounts {
		switch a.Name {
		case "uta":
			if len(a.Positions) != 1 || a.Positions[0].Symbol != "BTCUSDT" || !a.Positions[0].Size.Equal(d("-0.2")) ||
				!a.Positions[0].UnrealizedPnL.Equal(d("200")) || a.Positions[0].LiquidationPrice == nil ||
				!a.Positions[0].LiquidationPrice.Equal(d("40100")) || a.Positions[0].MarginMode != "cross" {
				t.Errorf("uta positions: got %+v, want the BTCUSDT short", a.Positions)
			}
		case "bn":
			if len(a.Positions) != 0 || a.PositionsError != "" {
				t.Errorf("binance account positions: got %+v %q, want none (it reads no positions)", a.Positions, a.PositionsError)
			}
		}
	}
	if !snap.Total.Value.Equal(d("22350.75")) || snap.Total.Partial || len(snap.Total.UnpricedAssets) > 0 || len(snap.Total.UnknownWallets) > 0 {
		t.Errorf("desk total %s (partial %v, unpriced %v, unknown %v), want exactly 22350.75",
			snap.Total.Value, snap.Total.Partial, snap.Total.UnpricedAssets, snap.Total.UnknownWallets)
	}
}
