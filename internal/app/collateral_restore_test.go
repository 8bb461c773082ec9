package app

import (
	"context"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/livefeed"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// collateralDesk is a database with two paper accounts holding 1 BTC each
// and a recorded BTC price of 50,000.
func collateralDesk(t *testing.T) (*store.DB, store.Account, store.Account) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, storetest.SQLiteURL(t), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Now().UTC()
	var accts []store.Account
	for _, name := range []string{"alpha", "beta"} {
		a := &store.Account{Name: name, Venue: "paper"}
		if err := db.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		bals := []store.Balance{{AccountID: a.ID, Wallet: "spot", Asset: "BTC", Free: udecimal.MustParse("1")}}
		if err := db.ReplaceWallet(ctx, a.ID, "spot", bals, now); err != nil {
			t.Fatal(err)
		}
		accts = append(accts, *a)
	}
	if err := db.InsertPriceSnapshots(ctx, []store.PriceSnapshot{{Symbol: "BTCUSDT", At: now, Price: udecimal.MustParse("50000")}}); err != nil {
		t.Fatal(err)
	}
	return db, accts[0], accts[1]
}

func wantCollateral(t *testing.T, p *portfolio.Portfolio, a store.Account, want string) {
	t.Helper()
	tot, err := p.AccountTotal(livefeed.AccountKey(a))
	if err != nil {
		t.Fatal(err)
	}
	if !tot.CollateralValue.Equal(udecimal.MustParse(want)) {
		t.Errorf("account %s collateral value %s, want %s", a.Name, tot.CollateralValue, want)
	}
}

// TestCollateralOverrideSurvivesRestart sets a per-account override through
// the API's adapter, then opens a new portfolio from the same database (what
// a restart and every offline CLI call do): the override still applies to
// that account and to no other.
func TestCollateralOverrideSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	db, alpha, beta := collateralDesk(t)
	p, err := OfflinePortfolio(ctx, db, VenueFactory{})
	if err != nil {
		t.Fatal(err)
	}
	a := &App{db: db, pf: p}
	if _, err := (collateralAdapter{a}).SetRatio(ctx, "test", "alpha", "btc", "0.5"); err != nil {
		t.Fatal(err)
	}
	wantCollateral(t, p, alpha, "25000")
	wantCollateral(t, p, beta, "47500")
	changes, err := db.CollateralChanges(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].Account != livefeed.AccountKey(alpha) {
		t.Fatalf("stored changes %+v, want one under alpha's id %s", changes, livefeed.AccountKey(alpha))
	}

	restarted, err := OfflinePortfolio(ctx, db, VenueFactory{})
	if err != nil {
		t.Fatal(err)
	}
	wantCollateral(t, restarted, alpha, "25000")
	wantCollateral(t, restarted, beta, "47500")
	views, err := restarted.Ratios(livefeed.AccountKey(alpha))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range views {
		if v.Asset == "BTC" && (v.Source != portfolio.SourceAccount || !v.Ratio.Equal(udecimal.MustParse("0.5"))) {
			t.Errorf("alpha's BTC ratio after restart: %s from %s, want 0.5 from account", v.Ratio, v.Source)
		}
	}
}

// TestCollateralRestoreReadsLegacyNames: releases before the fix stored the
// account's name; such a change is replayed onto the account of that name.
func TestCollateralRestoreReadsLegacyNames(t *testing.T) {
	ctx := context.Background()
	db, alpha, beta := collateralDesk(t)
	r := udecimal.MustParse("0.2")
	if _, err := db.SetCollateralRatio(ctx, "beta", "BTC", &r, "old-release", time.Now()); err != nil {
		t.Fatal(err)
	}
	p, err := OfflinePortfolio(ctx, db, VenueFactory{})
	if err != nil {
		t.Fatal(err)
	}
	wantCollateral(t, p, alpha, "47500")
	wantCollateral(t, p, beta, "10000")
}
