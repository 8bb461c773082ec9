package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/store"
)

// TestCollateralSetOfflinePersists: `collateral set --account` on the
// database is still in force in the next process, for that account only.
func TestCollateralSetOfflinePersists(t *testing.T) {
	ctx := context.Background()
	dbURL := tempDB(t)
	db, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var alphaID int64
	for _, name := range []string{"alpha", "beta"} {
		a := &store.Account{Name: name, Venue: "paper"}
		if err := db.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		if name == "alpha" {
			alphaID = a.ID
		}
		bals := []store.Balance{{AccountID: a.ID, Wallet: "spot", Asset: "BTC", Free: udecimal.MustParse("1")}}
		if err := db.ReplaceWallet(ctx, a.ID, "spot", bals, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.InsertPriceSnapshots(ctx, []store.PriceSnapshot{{Symbol: "BTCUSDT", At: now, Price: udecimal.MustParse("50000")}}); err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	flags := []string{"--db", dbURL, "--master-key-file", filepath.Join(t.TempDir(), "master.key")}
	cli(t, "", append(flags, "collateral", "set", "BTC", "0.5", "--account", "alpha")...).want(t, 0)
	// Stored by account id, the key the portfolio holds accounts under.
	changes, err := db.CollateralChanges(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].Account != strconv.FormatInt(alphaID, 10) {
		t.Fatalf("stored changes %+v, want one for account id %d", changes, alphaID)
	}

	out := cli(t, "", append(flags, "balances", "--json")...).want(t, 0)
	var snap portfolio.Snapshot
	if err := json.Unmarshal([]byte(out.stdout), &snap); err != nil {
		t.Fatalf("balances --json: %v\n%s", err, out.stdout)
	}
	want := map[string]string{"alpha": "25000", "beta": "47500"}
	for _, a := range snap.Accounts {
		if w, ok := want[a.Name]; !ok || !a.CollateralValue.Equal(udecimal.MustParse(w)) {
			t.Errorf("account %s collateral value %s, want %s", a.Name, a.CollateralValue, w)
		}
		delete(want, a.Name)
	}
	if len(want) > 0 {
		t.Errorf("accounts missing from balances: %v", want)
	}
	show := cli(t, "", append(flags, "collateral", "show", "--account", "alpha", "--json")...).want(t, 0)
	var views []portfolio.RatioView
	if err := json.Unmarshal([]byte(show.stdout), &views); err != nil {
		t.Fatal(err)
	}
	for _, v := range views {
		if v.Asset == "BTC" && v.Source != portfolio.SourceAccount {
			t.Errorf("alpha's BTC ratio %s from %s, want from account", v.Ratio, v.Source)
		}
	}
}
