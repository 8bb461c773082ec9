package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
	"github.com/tradeplane/tradeplane/internal/venue/bybittest"
)

// TestBalancesAcrossBinanceFuturesAndBybit: a desk of one Binance, one
// Binance futures and one Bybit account (loopback fakes) added with
// `accounts add` shows, in `balances --json`, one total equal to the sum of
// the venues' balances at the fakes' prices, exactly; the futures
// account's long is listed next to its balances and counted in no total.
func TestBalancesAcrossBinanceFuturesAndBybit(t *testing.T) {
	t.Parallel()
	d := udecimal.MustParse
	bn := binancetest.Start(t, binancetest.Config{})
	bn.SetPrice("BTCUSDT", d("30000"))
	bn.SetPrice("ETHUSDT", d("2000"))
	bn.Fund(venue.WalletSpot, "ETH", d("3"))
	bn.Fund(venue.WalletSpot, "USDT", d("1000.25"))
	fut := binancetest.Start(t, binancetest.Config{})
	fut.SetPrice("BTCUSDT", d("30000"))
	fut.SetPrice("ETHUSDT", d("2000"))
	fut.Fund(venue.WalletFutures, "USDT", d("500.75"))
	// A 0.01 BTC long at 30000: the fake charges 0.1% (0.3 USDT) and locks
	// its margin; the wallet holds 500.45.
	c, err := binance.New(binance.Config{APIKey: fut.APIKey(), APISecret: fut.APISecret(), BaseURL: fut.URL, FuturesBaseURL: fut.URL})
	if err != nil {
		t.Fatal(err)
	}
	fc, err := c.Futures(binance.FuturesOptions{WSBaseURL: fut.StreamURL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fc.PlaceOrder(context.Background(), venue.OrderRequest{ClientOrderID: "desk-long", Symbol: "BTCUSDT", Side: venue.Buy,
		Type: venue.Market, Quantity: d("0.01")}); err != nil {
		t.Fatal(err)
	}
	by := bybittest.New(t, bybittest.Config{})
	for sym, px := range map[string]string{"BTCUSDT": "30000", "ETHUSDT": "2000"} {
		if err := by.SetPrice(sym, d(px)); err != nil {
			t.Fatal(err)
		}
	}
	if err := by.Fund(venue.WalletSpot, "BTC", d("0.5")); err != nil {
		t.Fatal(err)
	}

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
	cli(t, "", append(flags, "accounts", "add", "--name", "perps", "--venue", "binance-futures", "--base-url", fut.URL,
		"--api-key", fut.APIKey(), "--api-secret-file", secret("fut.secret", fut.APISecret()))...).want(t, 0)
	cli(t, "", append(flags, "accounts", "add", "--name", "uta", "--venue", "bybit", "--base-url", by.BaseURL(),
		"--api-key", bybittest.APIKey, "--api-secret-file", secret("by.secret", bybittest.APISecret))...).want(t, 0)
	if r := cli(t, "", append(flags, "accounts", "add", "--name", "bare", "--venue", "binance-futures")...); r.code != 2 {
		t.Errorf("binance-futures account without credentials: exit %d, want 2", r.code)
	}

	out := cli(t, "", append(flags, "balances", "--json")...).want(t, 0)
	var snap portfolio.Snapshot
	if err := json.Unmarshal([]byte(out.stdout), &snap); err != nil {
		t.Fatalf("balances --json: %v\n%s", err, out.stdout)
	}
	// Binance: 3 ETH × 2000 + 1000.25 USDT; futures: 500.75 − 0.3 fee;
	// Bybit: 0.5 BTC × 30000.
	want := map[string]string{"binance": "7000.25", "binance-futures": "500.45", "bybit": "15000"}
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
	found := false
	for _, a := range snap.Accounts {
		if a.Name != "perps" {
			continue
		}
		found = true
		if len(a.Positions) != 1 || a.Positions[0].Symbol != "BTCUSDT" || !a.Positions[0].Size.Equal(d("0.01")) ||
			!a.Positions[0].EntryPrice.Equal(d("30000")) || a.PositionsError != "" {
			t.Errorf("perps positions: got %+v %q, want the 0.01 BTCUSDT long", a.Positions, a.PositionsError)
		}
	}
	if !found {
		t.Errorf("account perps missing from balances --json:\n%s", out.stdout)
	}
	if !snap.Total.Value.Equal(d("22500.7")) || snap.Total.Partial || len(snap.Total.UnpricedAssets) > 0 || len(snap.Total.UnknownWallets) > 0 {
		t.Errorf("desk total %s (partial %v, unpriced %v, unknown %v), want exactly 22500.7",
			snap.Total.Value, snap.Total.Partial, snap.Total.UnpricedAssets, snap.Total.UnknownWallets)
	}
}

// TestBalancesOneKeyTwoAccounts: a Binance key added as both a binance
// and a binance-futures account counts its futures wallet once, in the
// futures account, not in both.
func TestBalancesOneKeyTwoAccounts(t *testing.T) {
	t.Parallel()
	d := udecimal.MustParse
	bn := binancetest.Start(t, binancetest.Config{})
	bn.SetPrice("BTCUSDT", d("30000"))
	bn.SetPrice("ETHUSDT", d("2000"))
	bn.Fund(venue.WalletSpot, "USDT", d("1000"))
	bn.Fund(venue.WalletFutures, "USDT", d("500"))
	dir := t.TempDir()
	flags := []string{"--db", tempDB(t), "--master-key-file", filepath.Join(dir, "master.key")}
	sf := filepath.Join(dir, "bn.secret")
	if err := os.WriteFile(sf, []byte(bn.APISecret()), 0o600); err != nil {
		t.Fatal(err)
	}
	balances := func() portfolio.Snapshot { return balancesJSON(t, flags) }
	cli(t, "", append(flags, "accounts", "add", "--name", "spot", "--venue", "binance", "--base-url", bn.URL,
		"--api-key", bn.APIKey(), "--api-secret-file", sf)...).want(t, 0)
	if got := balances().Total.Value; !got.Equal(d("1500")) {
		t.Errorf("the binance account alone: total %s, want 1500 (spot and its futures wallet)", got)
	}
	cli(t, "", append(flags, "accounts", "add", "--name", "perps", "--venue", "binance-futures", "--base-url", bn.URL,
		"--api-key", bn.APIKey(), "--api-secret-file", sf)...).want(t, 0)
	snap := balances()
	if !snap.Total.Value.Equal(d("1500")) {
		t.Errorf("one key as binance and binance-futures: total %s, want 1500 (the futures wallet once)", snap.Total.Value)
	}
	for _, g := range snap.ByVenue {
		want := map[string]string{"binance": "1000", "binance-futures": "500"}[g.Key]
		if want != "" && !g.Value.Equal(d(want)) {
			t.Errorf("venue %s: %s, want %s", g.Key, g.Value, want)
		}
	}
}

// TestBalancesOneBybitKeyTwoAccounts: a Bybit key added as both a bybit
// and a bybit-linear account counts its unified wallet once, in the
// bybit-linear account; the funding wallet stays with the bybit one.
func TestBalancesOneBybitKeyTwoAccounts(t *testing.T) {
	t.Parallel()
	d := udecimal.MustParse
	by := bybittest.New(t, bybittest.Config{})
	for sym, px := range map[string]string{"BTCUSDT": "30000", "ETHUSDT": "2000"} {
		if err := by.SetPrice(sym, d(px)); err != nil {
			t.Fatal(err)
		}
	}
	if err := by.Fund(venue.WalletSpot, "USDT", d("1000")); err != nil {
		t.Fatal(err)
	}
	if err := by.Fund(venue.WalletFunding, "USDT", d("50")); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	flags := []string{"--db", tempDB(t), "--master-key-file", filepath.Join(dir, "master.key")}
	sf := filepath.Join(dir, "by.secret")
	if err := os.WriteFile(sf, []byte(bybittest.APISecret), 0o600); err != nil {
		t.Fatal(err)
	}
	balances := func() portfolio.Snapshot { return balancesJSON(t, flags) }
	cli(t, "", append(flags, "accounts", "add", "--name", "uta", "--venue", "bybit", "--base-url", by.BaseURL(),
		"--api-key", bybittest.APIKey, "--api-secret-file", sf)...).want(t, 0)
	if got := balances().Total.Value; !got.Equal(d("1050")) {
		t.Errorf("the bybit account alone: total %s, want 1050 (unified and funding wallets)", got)
	}
	cli(t, "", append(flags, "accounts", "add", "--name", "perps", "--venue", "bybit-linear", "--base-url", by.BaseURL(),
		"--api-key", bybittest.APIKey, "--api-secret-file", sf)...).want(t, 0)
	snap := balances()
	if !snap.Total.Value.Equal(d("1050")) {
		t.Errorf("one key as bybit and bybit-linear: total %s, want 1050 (the unified wallet once)", snap.Total.Value)
	}
	for _, g := range snap.ByVenue {
		want := map[string]string{"bybit": "50", "bybit-linear": "1000"}[g.Key]
		if want != "" && !g.Value.Equal(d(want)) {
			t.Errorf("venue %s: %s, want %s", g.Key, g.Value, want)
		}
	}
}

// balancesJSON runs `balances --json` with flags and decodes its snapshot.
func balancesJSON(t *testing.T, flags []string) portfolio.Snapshot {
	t.Helper()
	out := cli(t, "", append(flags, "balances", "--json")...).want(t, 0)
	var snap portfolio.Snapshot
	if err := json.Unmarshal([]byte(out.stdout), &snap); err != nil {
		t.Fatalf("balances --json: %v\n%s", err, out.stdout)
	}
	return snap
}
