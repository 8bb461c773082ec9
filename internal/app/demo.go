package app

import (
	"context"
	"errors"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/store"
)

// demoAccounts are the three accounts of the demo desk with their wallets.
var demoAccounts = []struct {
	name    string
	tags    []string
	wallets map[string]map[string]string // wallet → asset → free
}{
	{"alpha", []string{"desk-a", "spot"}, map[string]map[string]string{
		"spot":    {"USDT": "25000", "BTC": "0.75", "ETH": "6.5", "BNB": "12"},
		"funding": {"USDT": "5000", "USDC": "2500"},
	}},
	{"bravo", []string{"desk-a", "futures"}, map[string]map[string]string{
		"spot":         {"USDT": "12000", "ETH": "3.2"},
		"futures-usdm": {"USDT": "30000"},
	}},
	{"charlie", []string{"desk-b"}, map[string]map[string]string{
		"spot":    {"USDT": "8000", "BTC": "0.2", "BNB": "40"},
		"funding": {"FDUSD": "1500"},
	}},
}

// seedDemo creates the demo accounts and their starting balances once.
func seedDemo(ctx context.Context, db *store.DB) error {
	now := time.Now().UTC()
	for _, da := range demoAccounts {
		a := &store.Account{Name: da.name, Venue: "paper", Tags: da.tags}
		err := db.CreateAccount(ctx, a)
		if errors.Is(err, store.ErrConflict) {
			continue // seeded by an earlier run
		}
		if err != nil {
			return err
		}
		for wallet, assets := range da.wallets {
			var bals []store.Balance
			for asset, free := range assets {
				bals = append(bals, store.Balance{Asset: asset, Free: udecimal.MustParse(free), Locked: udecimal.Zero, Borrowed: udecimal.Zero})
			}
			if err := db.ReplaceWallet(ctx, a.ID, wallet, bals, now); err != nil {
				return err
			}
		}
	}
	return nil
}
