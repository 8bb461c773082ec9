package store_test

import (
	"context"
	"maps"
	"testing"

	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// TestAccountFuturesSettings: an account's leverage and margin type per
// symbol are stored and read back as given; an account without them reads
// back none. On both engines.
func TestAccountFuturesSettings(t *testing.T) {
	ctx := context.Background()
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			db, err := store.Open(ctx, eng.URL(t), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			lev := map[string]int{"BTCUSDT": 7, "ETHUSDT": 125}
			mt := map[string]string{"BTCUSDT": "isolated"}
			if err := db.CreateAccount(ctx, &store.Account{Name: "perps", Venue: "binance-futures", FuturesLeverage: lev,
				FuturesMarginType: mt}); err != nil {
				t.Fatal(err)
			}
			if err := db.CreateAccount(ctx, &store.Account{Name: "plain", Venue: "paper"}); err != nil {
				t.Fatal(err)
			}
			a, err := db.Account(ctx, "perps")
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(a.FuturesLeverage, lev) || !maps.Equal(a.FuturesMarginType, mt) {
				t.Errorf("read back leverage %v, margin type %v; want %v, %v", a.FuturesLeverage, a.FuturesMarginType, lev, mt)
			}
			p, err := db.AccountByID(ctx, a.ID+1)
			if err != nil {
				t.Fatal(err)
			}
			if p.FuturesLeverage != nil || p.FuturesMarginType != nil {
				t.Errorf("an account without settings read back %v, %v", p.FuturesLeverage, p.FuturesMarginType)
			}
		})
	}
}
