package app

import (
	"context"
	"fmt"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/livefeed"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// RestoreCollateral replays the stored ratio changes into p, oldest first.
// A per-account change is stored under the account's portfolio key (its
// numeric id, livefeed.AccountKey), the key the portfolio holds the account
// under: the override survives a restart, and a new account that reuses a
// removed account's name does not inherit its overrides.
func RestoreCollateral(ctx context.Context, db *store.DB, p *portfolio.Portfolio) error {
	changes, err := db.CollateralChangesAsc(ctx)
	if err != nil {
		return err
	}
	accts, err := db.Accounts(ctx)
	if err != nil {
		return err
	}
	keyOf := collateralAccountKeys(accts)
	var hist []portfolio.CollateralVersion
	for i, c := range changes {
		rc := portfolio.RatioChange{Asset: c.Asset}
		if c.OldRatio != "" {
			d, err := udecimal.Parse(c.OldRatio)
			if err != nil {
				return fmt.Errorf("collateral change %d: %w", c.Version, err)
			}
			rc.Old = &d
		}
		if c.NewRatio != "" {
			d, err := udecimal.Parse(c.NewRatio)
			if err != nil {
				return fmt.Errorf("collateral change %d: %w", c.Version, err)
			}
			rc.New = &d
		}
		hist = append(hist, portfolio.CollateralVersion{
			Version: uint64(i + 1), Who: c.Actor, At: c.At, Account: keyOf(c.Account), Changes: []portfolio.RatioChange{rc},
		})
	}
	return p.RestoreCollateral(hist)
}

// collateralAccountKeys maps a stored collateral change's account to the
// portfolio key. Changes are stored by account id; releases before that
// stored the account's name, so a value that is no account's id but is an
// existing account's name is read as that account. Anything else (an
// account since removed) is kept as it is and matches no account.
func collateralAccountKeys(accts []store.Account) func(string) string {
	ids := map[string]bool{}
	byName := map[string]string{}
	for _, a := range accts {
		ids[livefeed.AccountKey(a)] = true
		byName[a.Name] = livefeed.AccountKey(a)
	}
	return func(stored string) string {
		if stored == "" || ids[stored] {
			return stored
		}
		if key, ok := byName[stored]; ok {
			return key
		}
		return stored
	}
}

// PersistCollateral stores the changes of one portfolio version. v.Account
// must be what the portfolio returned: the account's portfolio key
// (livefeed.AccountKey), never its name; empty for the global ratios.
func PersistCollateral(ctx context.Context, db *store.DB, v portfolio.CollateralVersion) error {
	for _, c := range v.Changes {
		if _, err := db.SetCollateralRatio(ctx, v.Account, c.Asset, c.New, v.Who, v.At); err != nil {
			return err
		}
	}
	return nil
}

// OfflinePortfolio builds a portfolio without a running server: every
// account's markets are registered; a Binance account's wallets are read
// live from the venue, a paper account's (whose exchange lives in the
// server) from the balances the server last stored. Prices are the newest
// recorded ones, plus the venue's last 1-minute close for held assets where
// the venue can be asked. Failed reads mark wallets unknown: never zero.
func OfflinePortfolio(ctx context.Context, db *store.DB, f VenueFactory) (*portfolio.Portfolio, error) {
	if f.Lookup == nil {
		f.Lookup = db.Account // sub-accounts read through their masters
	}
	p, err := portfolio.New(portfolio.Config{StaleAfter: 24 * time.Hour})
	if err != nil {
		return nil, err
	}
	if err := p.RegisterMarkets("paper", paper.DefaultSymbols()); err != nil {
		return nil, err
	}
	accts, err := db.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	if f.KeyedIn == nil {
		f.KeyedIn = func(kind, apiKey string) bool { return keyedIn(accts, kind, apiKey) }
	}
	stored, err := db.Balances(ctx, 0)
	if err != nil {
		return nil, err
	}
	statuses, err := db.WalletStatuses(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	for _, a := range accts {
		key := livefeed.AccountKey(a)
		if err := p.UpsertAccount(portfolio.Account{ID: key, Name: a.Name, Venue: a.Venue, Tags: a.Tags, Master: a.Master}); err != nil {
			return nil, err
		}
		if k, err := venue.Lookup(a.Venue); err == nil && k.InProcess {
			// Its exchange lives in the server: the balances it stored.
			var bals []venue.Balance
			for _, b := range stored {
				if b.AccountID == a.ID {
					bals = append(bals, venue.Balance{Wallet: venue.Wallet(b.Wallet), Asset: b.Asset, Free: b.Free, Locked: b.Locked, Borrowed: b.Borrowed})
				}
			}
			if _, err := p.ResyncAccount(key, bals); err != nil {
				return nil, err
			}
			for _, s := range statuses {
				if s.AccountID == a.ID && s.Status == "error" {
					p.MarkWalletUnknown(key, venue.Wallet(s.Wallet), s.Error)
				}
			}
			continue
		}
		v, err := f.Open(a)
		if err != nil {
			p.MarkAccountUnknown(key, err.Error())
			continue
		}
		if syms, err := v.Symbols(ctx); err == nil {
			p.RegisterMarkets(a.Venue, syms)
		}
		bals, err := v.Balances(ctx)
		if err != nil {
			p.MarkAccountUnknown(key, err.Error())
			continue
		}
		p.ResyncAccount(key, bals)
		if pr, ok := v.(venue.PositionReader); ok {
			ps, err := pr.Positions(ctx)
			p.SetPositions(key, ps, err)
		}
		held := map[string]bool{}
		for _, b := range bals {
			held[b.Asset] = true
		}
		for asset := range held {
			sym := asset + p.Currency()
			ks, err := v.Klines(ctx, sym, "1m", now.Add(-5*time.Minute), now)
			if err == nil && len(ks) > 0 {
				last := ks[len(ks)-1]
				p.Tick(venue.PriceTick{Symbol: sym, Price: last.Close, Time: last.OpenTime.Add(time.Minute)})
			}
		}
	}
	prices, err := db.LatestPrices(ctx)
	if err != nil {
		return nil, err
	}
	for _, ps := range prices {
		p.Tick(venue.PriceTick{Symbol: ps.Symbol, Price: ps.Price, Time: ps.At})
	}
	if err := RestoreCollateral(ctx, db, p); err != nil {
		return nil, fmt.Errorf("restore collateral ratios: %w", err)
	}
	return p, nil
}
