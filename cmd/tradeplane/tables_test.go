package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/venue"
)

var update = flag.Bool("update", false, "rewrite the golden files of the CLI tables")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/tradeplane -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func dec(s string) udecimal.Decimal { return udecimal.MustParse(s) }

func decp(s string) *udecimal.Decimal { d := dec(s); return &d }

func goldenSessions() []server.SessionView {
	step := time.Date(2026, 12, 4, 13, 5, 0, 0, time.UTC)
	return []server.SessionView{
		{ID: "s_1", Name: "btc-dca", Strategy: "dca", Account: "alpha", State: "running", AllocationKind: "fixed",
			Allocation: dec("5000"), PnL: dec("232.8514567322"), LastStepAt: &step, RestartsAuto: 2, RestartsManual: 1},
		{ID: "s_2", Name: "eth-grid", Strategy: "grid", Account: "alpha", State: "backoff", StateReason: "venue rate limited",
			AllocationKind: "share", Allocation: dec("0.125"), PnL: dec("-1234.567"), Params: json.RawMessage(`{"levels":6}`)},
		{ID: "s_3", Name: "bnb-twap", Strategy: "twap", Account: "charlie", State: "stopped", AllocationKind: "fixed",
			Allocation: dec("1250000.5"), PnL: dec("-0.004")},
	}
}

// TestSessionsTable: PnL to cents, signed; allocations as money or a share
// of collateral; the old table printed 232.8514567322.
func TestSessionsTable(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := printSessions(&b, goldenSessions()); err != nil {
		t.Fatal(err)
	}
	golden(t, "sessions-list.golden", b.Bytes())
}

func TestSessionShow(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	v := goldenSessions()[1]
	v.UpdatedAt = time.Date(2026, 12, 4, 13, 6, 0, 0, time.UTC)
	if err := printSession(&b, v); err != nil {
		t.Fatal(err)
	}
	golden(t, "sessions-show.golden", b.Bytes())
}

// TestBalancesTable: quantities to the asset's precision (USDT to cents,
// BTC to at most 8 decimals), prices and values to cents, thousands
// separated; the old table printed 15203.2725 beside 2,500.00.
func TestBalancesTable(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 4, 13, 0, 0, 0, time.UTC)
	line := func(asset, qty, price, value string, route ...string) portfolio.Line {
		l := portfolio.Line{Asset: asset, Quantity: dec(qty), Quote: portfolio.Quote{Route: route}}
		if price != "" {
			l.Price, l.Value, l.PriceTime, l.AgeMS = decp(price), decp(value), &at, 1500
		} else {
			l.UnpricedReason = "no market for " + asset
		}
		return l
	}
	snap := portfolio.Snapshot{Currency: "USDT", AsOf: at,
		Total: portfolio.Totals{Value: dec("44718.8725"), CollateralValue: dec("43901.11"), Partial: true, UnpricedAssets: []string{"XYZ"}},
		Accounts: []portfolio.AccountView{{Account: portfolio.Account{Name: "alpha"}, Wallets: []portfolio.WalletView{
			{Wallet: venue.WalletSpot, Lines: []portfolio.Line{
				line("USDT", "15203.2725", "1", "15203.2725"),
				line("BTC", "0.75000000", "23140.4812", "17355.3609", "BTC/USDT"),
				line("ETH", "6.123456789", "1930.5", "11821.33", "ETH/USDT"),
				line("XYZ", "1000000", "", ""),
			}},
			{Wallet: venue.WalletFunding, Lines: []portfolio.Line{line("USDC", "2500", "1", "2500", "USDC=USDT")}},
		}}},
	}
	var b bytes.Buffer
	if err := printBalances(&b, snap); err != nil {
		t.Fatal(err)
	}
	golden(t, "balances.golden", b.Bytes())
}
