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

// TestBinanceSubAccounts: under a master key, a sub-account is added by
// email (refused when the master does not list it), discovery adds the
// rest, `accounts list` tags each with its master, and `balances --json`
// reads their balances through the master's sub-account endpoints (the
// fake's documented examples), exactly, each tagged with its master.
func TestBinanceSubAccounts(t *testing.T) {
	t.Parallel()
	d := udecimal.MustParse
	bn := binancetest.Start(t, binancetest.Config{})
	bn.SetPrice("BTCUSDT", d("30000"))
	bn.Fund(venue.WalletSpot, "USDT", d("100"))
	bn.FundSubAccount("desk1@example.com", venue.WalletSpot, "BTC", d("0.5"))
	bn.FundSubAccount("desk1@example.com", venue.WalletFutures, "USDT", d("250.25"))
	bn.FundSubAccount("desk+2@example.com", venue.WalletSpot, "USDT", d("10"))

	dir := t.TempDir()
	flags := []string{"--db", tempDB(t), "--master-key-file", filepath.Join(dir, "master.key")}
	sec := filepath.Join(dir, "bn.secret")
	if err := os.WriteFile(sec, []byte(bn.APISecret()), 0o600); err != nil {
		t.Fatal(err)
	}
	cli(t, "", append(flags, "accounts", "add", "--name", "main", "--venue", "binance", "--base-url", bn.URL,
		"--api-key", bn.APIKey(), "--api-secret-file", sec)...).want(t, 0)
	out := cli(t, "", append(flags, "accounts", "add", "--name", "desk1", "--venue", "binance", "--master", "main",
		"--sub-account", "desk1@example.com")...).want(t, 0)
	if !strings.Contains(out.stdout, `sub-account desk1@example.com of "main"`) {
		t.Errorf("add sub-account said %q", out.stdout)
	}
	r := cli(t, "", append(flags, "accounts", "add", "--name", "ghost", "--venue", "binance", "--master", "main",
		"--sub-account", "ghost@example.com")...).want(t, 2)
	if !strings.Contains(r.stderr, "not a sub-account of \"main\"") {
		t.Errorf("unlisted sub-account: stderr %q", r.stderr)
	}
	cli(t, "", append(flags, "accounts", "add", "--name", "half", "--venue", "binance", "--master", "main")...).want(t, 2)
	out = cli(t, "", append(flags, "accounts", "add", "--venue", "binance", "--master", "main", "--discover-sub-accounts")...).want(t, 0)
	if !strings.Contains(out.stdout, `desk1@example.com: already added as "desk1"`) ||
		!strings.Contains(out.stdout, `desk+2@example.com: added as "main.desk_2"`) {
		t.Errorf("discovery said:\n%s", out.stdout)
	}

	var list []struct {
		Name, Master string
		Email        string `json:"sub_account_email"`
	}
	out = cli(t, "", append(flags, "accounts", "list", "--json")...).want(t, 0)
	if err := json.Unmarshal([]byte(out.stdout), &list); err != nil {
		t.Fatal(err)
	}
	masters := map[string]string{}
	for _, a := range list {
		masters[a.Name] = a.Master + "|" + a.Email
	}
	if masters["desk1"] != "main|desk1@example.com" || masters["main.desk_2"] != "main|desk+2@example.com" || masters["main"] != "|" {
		t.Errorf("accounts list: %v", masters)
	}

	out = cli(t, "", append(flags, "balances", "--json")...).want(t, 0)
	var snap portfolio.Snapshot
	if err := json.Unmarshal([]byte(out.stdout), &snap); err != nil {
		t.Fatalf("balances --json: %v\n%s", err, out.stdout)
	}
	// desk1: 0.5 BTC × 30000 + 250.25 USDT (futures); main.desk_2: 10 USDT;
	// main (the master's own): 100 USDT.
	want := map[string]string{"desk1": "15250.25", "main.desk_2": "10", "main": "100"}
	for _, a := range snap.Accounts {
		w, ok := want[a.Name]
		if !ok {
			continue
		}
		if !a.Value.Equal(d(w)) {
			t.Errorf("account %s value %s, want %s", a.Name, a.Value, w)
		}
		if wantMaster := map[bool]string{true: "", false: "main"}[a.Name == "main"]; a.Master != wantMaster {
			t.Errorf("account %s master %q, want %q", a.Name, a.Master, wantMaster)
		}
		delete(want, a.Name)
	}
	if len(want) > 0 || !snap.Total.Value.Equal(d("15360.25")) {
		t.Errorf("missing %v; desk total %s, want 15360.25\n%s", want, snap.Total.Value, out.stdout)
	}
	// The master cannot be removed while its sub-accounts are stored.
	cli(t, "", append(flags, "accounts", "remove", "main")...).want(t, 1)
}
