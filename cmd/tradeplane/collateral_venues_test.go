package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// TestCollateralListShowsVenueHaircuts: `collateral list` shows Binance's
// Multi-Assets haircuts (the fake's /fapi/v1/assetIndex, the documented
// row per asset) next to our ratios and flags the differences: BTC 0.95
// both; USDT ours 1 against Binance's 1 − 0.0001 = 0.9999; ETH set to 0.8
// here against Binance's 0.95.
func TestCollateralListShowsVenueHaircuts(t *testing.T) {
	t.Parallel()
	d := udecimal.MustParse
	bn := binancetest.Start(t, binancetest.Config{})
	bn.SetPrice("BTCUSDT", d("30000"))
	bn.SetPrice("ETHUSDT", d("2000"))
	bn.Fund(venue.WalletSpot, "USDT", d("1"))
	bn.SetAssetIndex("BTC", d("30000"), d("0.05"))
	bn.SetAssetIndex("ETH", d("2000"), d("0.05"))
	bn.SetAssetIndex("USDT", d("1"), d("0.0001"))
	dir := t.TempDir()
	flags := []string{"--db", tempDB(t), "--master-key-file", filepath.Join(dir, "master.key")}
	sec := filepath.Join(dir, "bn.secret")
	if err := os.WriteFile(sec, []byte(bn.APISecret()), 0o600); err != nil {
		t.Fatal(err)
	}
	cli(t, "", append(flags, "accounts", "add", "--name", "bn", "--venue", "binance", "--base-url", bn.URL,
		"--api-key", bn.APIKey(), "--api-secret-file", sec)...).want(t, 0)
	cli(t, "", append(flags, "collateral", "set", "ETH", "0.8")...).want(t, 0)

	out := cli(t, "", append(flags, "collateral", "list", "--json")...).want(t, 0)
	var views []portfolio.RatioView
	if err := json.Unmarshal([]byte(out.stdout), &views); err != nil {
		t.Fatalf("collateral list --json: %v\n%s", err, out.stdout)
	}
	want := map[string]struct{ ours, venue, diff string }{
		"BTC": {"0.95", "0.95", "0"}, "USDT": {"1", "0.9999", "0.0001"}, "ETH": {"0.8", "0.95", "-0.15"},
	}
	for _, v := range views {
		w, ok := want[v.Asset]
		if !ok {
			continue
		}
		delete(want, v.Asset)
		if len(v.Venues) != 1 || v.Venues[0].Venue != "binance" || !v.Ratio.Equal(d(w.ours)) || !v.Venues[0].Ratio.Equal(d(w.venue)) ||
			!v.Venues[0].Diff.Equal(d(w.diff)) || v.Venues[0].Differs != (w.diff != "0") {
			t.Errorf("%s: %+v, want ours %s next to binance %s (diff %s)", v.Asset, v, w.ours, w.venue, w.diff)
		}
	}
	if len(want) > 0 {
		t.Errorf("assets missing: %v\n%s", want, out.stdout)
	}
	out = cli(t, "", append(flags, "collateral", "list")...).want(t, 0)
	for _, line := range strings.Split(out.stdout, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "USDT":
			if !strings.Contains(line, "binance 0.9999 (ours +0.0001)") || !strings.HasSuffix(line, "DIFFERS") {
				t.Errorf("USDT row %q", line)
			}
		case "BTC":
			if !strings.Contains(line, "binance 0.95") || strings.Contains(line, "DIFFERS") {
				t.Errorf("BTC row %q", line)
			}
		}
	}
}
