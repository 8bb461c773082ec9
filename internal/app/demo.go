package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/demodata"
	"github.com/tradeplane/tradeplane/internal/marketdata"
	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// demoAccounts are the three accounts of the demo desk with their wallets.
var demoAccounts = []struct {
	name    string
	tags    []string
	wallets map[venue.Wallet]map[string]string // wallet → asset → free
}{
	{"alpha", []string{"desk-a", "spot"}, map[venue.Wallet]map[string]string{
		venue.WalletSpot:    {"USDT": "25000", "BTC": "0.75", "ETH": "6.5", "BNB": "12"},
		venue.WalletFunding: {"USDT": "5000", "USDC": "2500"},
	}},
	{"bravo", []string{"desk-a", "futures"}, map[venue.Wallet]map[string]string{
		venue.WalletSpot:    {"USDT": "12000", "ETH": "3.2", "BTC": "0.1"},
		venue.WalletFutures: {"USDT": "30000"},
	}},
	{"charlie", []string{"desk-b"}, map[venue.Wallet]map[string]string{
		venue.WalletSpot:    {"USDT": "8000", "BTC": "0.2", "BNB": "40"},
		venue.WalletFunding: {"FDUSD": "1500"},
	}},
}

// demoSpeed replays market data 600× faster than it happened: a 1-hour
// candle in 6 seconds, a 1-minute candle in 0.1 s.
const demoSpeed = 600

// startDemo creates the demo accounts (once), funds them on the paper
// exchange (whose state lives in this process, so on every start), and
// starts the price feed: the real klines of DataDir when it is set and
// readable, the real klines embedded in the binary (package demodata)
// otherwise, so the demo replays real prices from any folder.
func (a *App) startDemo(ctx context.Context) error {
	for _, da := range demoAccounts {
		acct := &store.Account{Name: da.name, Venue: "paper", Tags: da.tags}
		if err := a.db.CreateAccount(ctx, acct); err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
		for wallet, assets := range da.wallets {
			for asset, amount := range assets {
				if err := a.paper.Fund(da.name, wallet, asset, udecimal.MustParse(amount)); err != nil {
					return err
				}
			}
		}
	}
	sources, origin, err := a.demoSources()
	if err != nil {
		return err
	}
	// Start every market at its first price so sessions and valuations have
	// one from the first second.
	first := map[string]venue.Decimal{}
	for _, s := range sources {
		first[s.Symbol] = s.Klines[0].Open
	}
	for sym, p := range first {
		if err := a.paper.SetPrice(sym, p, time.Time{}); err != nil {
			return err
		}
		// The price book too: the venue's price stream is not subscribed
		// yet, and later ticks of the hourly markets can be dropped by a
		// busy reader (the 1m BTCUSDT replay ticks 40 times a second), so
		// without this ETH and BNB could stay unpriced for many seconds.
		if err := a.pf.Tick(venue.PriceTick{Symbol: sym, Price: p, Time: a.clk.Now()}); err != nil {
			return fmt.Errorf("demo: first price of %s: %w", sym, err)
		}
	}
	feed, err := marketdata.NewFeed(marketdata.FeedConfig{Sources: sources, Speed: demoSpeed, Clock: a.clk, Seed: 1})
	if err != nil {
		return err
	}
	a.demoFirst = first
	a.log.Info("demo market feed", "symbols", len(sources), "from", origin)
	a.goLoop(func() {
		feed.Run(ctx, func(tk venue.PriceTick) error {
			if err := a.paper.ApplyTick(tk); err != nil {
				a.log.Debug("demo tick", "err", err)
			}
			return nil
		})
	})
	return nil
}

// demoSources picks the klines the demo replays: DataDir's files for the
// paper venue's symbols when DataDir is set and has any, else the embedded
// ones. origin says which, for the log.
func (a *App) demoSources() (sources []marketdata.Source, origin string, err error) {
	known := map[string]bool{}
	for _, s := range a.paper.Symbols() {
		known[s.Name] = true
	}
	if a.cfg.DataDir != "" {
		all, err := marketdata.LoadDir(a.cfg.DataDir)
		if err != nil {
			a.log.Warn("demo: market data folder unreadable; replaying the embedded klines", "dir", a.cfg.DataDir, "err", err)
		}
		for _, s := range all {
			if known[s.Symbol] {
				sources = append(sources, s)
			}
		}
		if len(sources) > 0 {
			return sources, a.cfg.DataDir, nil
		}
	}
	for _, sym := range demodata.Symbols() {
		if !known[sym] {
			continue
		}
		s, err := demodata.Source(sym)
		if err != nil {
			return nil, "", fmt.Errorf("demo: embedded klines: %w", err)
		}
		sources = append(sources, s)
	}
	return sources, "embedded", nil
}

// seedDemoSessions creates the demo's sessions on first start and starts
// them; on later starts the supervisor resumes them from the store.
func (a *App) seedDemoSessions(ctx context.Context) error {
	existing, err := a.sessions.List(ctx, session.Filter{})
	if err != nil || len(existing) > 0 {
		return err
	}
	ids := map[string]int64{}
	for _, da := range demoAccounts {
		acct, err := a.db.Account(ctx, da.name)
		if err != nil {
			return err
		}
		ids[da.name] = acct.ID
	}
	band := func(sym string, lo, hi string) (string, string) {
		p, ok := a.demoFirst[sym]
		if !ok {
			return lo, hi
		}
		l := p.Mul(udecimal.MustParse("0.97")).Trunc(2)
		h := p.Mul(udecimal.MustParse("1.03")).Trunc(2)
		return l.String(), h.String()
	}
	ethLo, ethHi := band("ETHUSDT", "2800", "3200")
	btcLo, btcHi := band("BTCUSDT", "22000", "24000")
	specs := []struct {
		name, account, strategy string
		symbols, tags           []string
		params                  any
		fixed                   string
	}{
		{"btc-dca", "alpha", "dca", []string{"BTCUSDT"}, []string{"dca", "core"},
			map[string]any{"symbol": "BTCUSDT", "quote_amount": "50", "interval": "20s"}, "5000"},
		{"eth-grid", "alpha", "grid", []string{"ETHUSDT"}, []string{"grid", "core"},
			map[string]any{"symbol": "ETHUSDT", "lower": ethLo, "upper": ethHi, "levels": 6, "quantity": "0.05", "interval": "5s"}, "8000"},
		{"btc-grid", "bravo", "grid", []string{"BTCUSDT"}, []string{"grid"},
			map[string]any{"symbol": "BTCUSDT", "lower": btcLo, "upper": btcHi, "levels": 5, "quantity": "0.002", "interval": "5s"}, "6000"},
		{"bravo-rebalance", "bravo", "rebalance", []string{"BTCUSDT", "ETHUSDT"}, []string{"rebalance", "core"},
			map[string]any{"quote": "USDT", "weights": map[string]string{"BTC": "0.3", "ETH": "0.3", "USDT": "0.4"}, "threshold": "0.05", "interval": "30s"}, "10000"},
		{"bnb-twap", "charlie", "twap", []string{"BNBUSDT"}, []string{"twap"},
			map[string]any{"symbol": "BNBUSDT", "side": "sell", "quantity": "10", "duration": "10m", "slices": 20}, "3000"},
		{"bnb-dca", "charlie", "dca", []string{"BNBUSDT"}, []string{"dca"},
			map[string]any{"symbol": "BNBUSDT", "quote_amount": "25", "interval": "30s"}, "2000"},
	}
	for _, sp := range specs {
		params, err := json.Marshal(sp.params)
		if err != nil {
			return err
		}
		s, err := a.sessions.Create(ctx, session.Spec{
			Name: sp.name, Strategy: sp.strategy, AccountID: ids[sp.account], Symbols: sp.symbols, Params: params,
			Allocation: session.Allocation{Kind: session.AllocFixed, Amount: udecimal.MustParse(sp.fixed)}, Tags: sp.tags,
		}, "demo")
		if err != nil {
			return fmt.Errorf("create demo session %s: %w", sp.name, err)
		}
		if _, err := a.sessions.Start(ctx, s.ID, "demo"); err != nil {
			return fmt.Errorf("start demo session %s: %w", sp.name, err)
		}
	}
	return nil
}
