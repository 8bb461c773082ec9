package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

func isUsage(err error) bool {
	var u usageError
	return errors.As(err, &u)
}

func TestParseFuturesFlags(t *testing.T) {
	t.Parallel()
	lev, err := parseFuturesLeverage([]string{"BTCUSDT=5", "ethusdt = 20"})
	if err != nil || lev["BTCUSDT"] != 5 || lev["ETHUSDT"] != 20 {
		t.Fatalf("leverage: got %v, %v", lev, err)
	}
	mt, err := parseFuturesMarginType([]string{"BTCUSDT=isolated", "ETHUSDT=CROSS"})
	if err != nil || mt["BTCUSDT"] != venue.MarginIsolated || mt["ETHUSDT"] != venue.MarginCross {
		t.Fatalf("margin type: got %v, %v", mt, err)
	}
	for _, bad := range []string{"BTCUSDT", "BTCUSDT=0", "BTCUSDT=126", "BTCUSDT=x", "=5", "BTC/USDT=5"} {
		if _, err := parseFuturesLeverage([]string{bad}); !isUsage(err) {
			t.Errorf("leverage %q: got %v, want a usage error", bad, err)
		}
	}
	for _, bad := range []string{"BTCUSDT", "BTCUSDT=crossed", "=isolated"} {
		if _, err := parseFuturesMarginType([]string{bad}); !isUsage(err) {
			t.Errorf("margin type %q: got %v, want a usage error", bad, err)
		}
	}
}

// TestAccountsAddFuturesLeverage: accounts add stores a binance-futures
// account's own leverage and margin type per symbol, and accounts list
// --json shows them; a non-futures account, or a bad value, is a usage
// error (exit 2) that names the flag, and nothing is stored.
func TestAccountsAddFuturesLeverage(t *testing.T) {
	t.Parallel()
	fake := binancetest.Start(t, binancetest.Config{})
	dir := t.TempDir()
	flags := []string{"--db", tempDB(t), "--master-key-file", filepath.Join(dir, "master.key")}
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte(fake.APISecret()), 0o600); err != nil {
		t.Fatal(err)
	}
	futures := slices.Concat(flags, []string{"accounts", "add", "--venue", "binance-futures", "--base-url", fake.URL, "--api-key", fake.APIKey(),
		"--api-secret-file", secret})
	cli(t, "", slices.Concat(futures, []string{"--name", "perps5x", "--futures-leverage", "BTCUSDT=5", "--futures-leverage", "ethusdt=2",
		"--futures-margin-type", "BTCUSDT=isolated"})...).want(t, 0)
	for _, c := range []struct {
		args []string
		flag string
	}{
		{slices.Concat(flags, []string{"accounts", "add", "--name", "p", "--venue", "paper", "--futures-leverage", "BTCUSDT=5"}), "--futures-leverage"},
		{slices.Concat(futures, []string{"--name", "x", "--futures-leverage", "BTCUSDT=200"}), "--futures-leverage"},
		{slices.Concat(futures, []string{"--name", "y", "--futures-margin-type", "BTCUSDT=crossed"}), "--futures-margin-type"},
	} {
		if r := cli(t, "", c.args...); r.code != 2 || !strings.Contains(r.stderr, c.flag) {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming %s", c.args[len(c.args)-2:], r.code, r.stderr, c.flag)
		}
	}
	out := cli(t, "", append(flags, "accounts", "list", "--json")...).want(t, 0)
	var rows []struct {
		Name              string            `json:"name"`
		FuturesLeverage   map[string]int    `json:"futures_leverage"`
		FuturesMarginType map[string]string `json:"futures_margin_type"`
	}
	if err := json.Unmarshal([]byte(out.stdout), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Name != "perps5x" || rows[0].FuturesLeverage["BTCUSDT"] != 5 || rows[0].FuturesLeverage["ETHUSDT"] != 2 ||
		rows[0].FuturesMarginType["BTCUSDT"] != "isolated" || len(rows[0].FuturesMarginType) != 1 {
		t.Errorf("accounts list: %+v; want only perps5x with BTCUSDT 5x isolated, ETHUSDT 2x", rows)
	}
}
