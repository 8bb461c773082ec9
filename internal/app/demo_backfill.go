package app

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/backfill"
	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/pnl"
	"github.com/tradeplane/tradeplane/internal/replay"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// demoAccountEquity is the equity each demo account's replayed holdings
// were worth at each hourly snapshot of the replay (its starting balances
// plus its fills, at the replay's last closes): the recorded side of the
// demo's backfill accuracy report, as equity snapshots of scope
// "account:NAME" and source history.
func demoAccountEquity(res *replay.Result) []store.EquitySnapshot {
	var out []store.EquitySnapshot
	for _, p := range res.Equity {
		for name, v := range p.Accounts {
			out = append(out, store.EquitySnapshot{Scope: "account:" + name, Source: HistorySource, At: p.Time, Equity: v})
		}
	}
	return out
}

// demoHistoryFills are the replayed fills as the fills of the demo's
// accounts (source history, trade id "history-SEQ" after the replay's
// journal sequence), which is where `pnl backfill` reads an account's
// trades from. They carry no session: a session's live allocation and PnL
// are rebuilt from its stored fills on every start, and the replayed
// history must not count in them.
func demoHistoryFills(entries []replay.JournalEntry, accountOf map[string]string, ids map[string]int64) []store.Fill {
	var out []store.Fill
	for _, e := range entries {
		if e.Kind != string(journal.KindFill) {
			continue
		}
		id, ok := ids[accountOf[e.SessionID]]
		if !ok {
			continue
		}
		out = append(out, store.Fill{AccountID: id, Symbol: e.Symbol, TradeID: "history-" + strconv.FormatInt(e.Seq, 10),
			Side: e.Side, Price: e.Price, Quantity: e.Quantity, QuoteQty: e.Price.Mul(e.Quantity), Fee: e.Fee,
			FeeAsset: e.FeeAsset, Source: journal.FillSourceReplayed, At: e.At.UTC()})
	}
	return out
}

// demoBackfill gives the paper venue the history's klines, then backfills
// each demo account over [from, end) (demoBackfillAccount); progress is
// called with the accounts done.
func (a *App) demoBackfill(ctx context.Context, series map[string]demoSeries, from, end time.Time, progress func(done int)) error {
	for sym, sr := range series {
		if err := a.paper.LoadKlines(sym, sr.interval, sr.klines); err != nil {
			return fmt.Errorf("demo history: backfill: %w", err)
		}
	}
	for i := range demoAccounts {
		if err := a.demoBackfillAccount(ctx, i, series, from, end); err != nil {
			return err
		}
		progress(i + 1)
	}
	return nil
}

// demoBackfillAccount runs the real backfill (package backfill, what `pnl
// backfill` runs) of demo account demoAccounts[n] over the replayed
// history's [from, end): trade history from the account's paper venue
// (none that old) plus its stored fills (the replayed ones), and 1h candles
// from the paper venue (which demoBackfill gave the history's klines). The
// account's starting balances are its opening equity and holdings, as an
// operator would state them.
func (a *App) demoBackfillAccount(ctx context.Context, n int, series map[string]demoSeries, from, end time.Time) error {
	da := demoAccounts[n]
	acct, err := a.db.Account(ctx, da.name)
	if err != nil {
		return fmt.Errorf("demo history: backfill: %w", err)
	}
	rt, err := a.account(acct.ID)
	if err != nil {
		return fmt.Errorf("demo history: backfill %s: %w", da.name, err)
	}
	// The quote is opening equity; every asset with a demo market an
	// opening holding (valued by the backfill from its candles, as the
	// replay valued it from the same klines; an asset without one, USDC or
	// FDUSD, neither side values).
	held := map[string]venue.Decimal{}
	var opening venue.Decimal
	for _, assets := range da.wallets {
		for asset, amount := range assets {
			amt := udecimal.MustParse(amount)
			if asset == demoQuote {
				opening = opening.Add(amt)
			} else if sr, ok := series[asset+demoQuote]; ok && len(sr.klines) > 0 {
				held[asset] = held[asset].Add(amt)
				opening = opening.Add(amt.Mul(sr.klines[0].Open))
			}
		}
	}
	var holdings []pnl.AssetAmount
	for _, asset := range slices.Sorted(maps.Keys(held)) {
		holdings = append(holdings, pnl.AssetAmount{Asset: asset, Amount: held[asset]})
	}
	if _, err := backfill.Run(ctx, backfill.Config{DB: a.db, Venue: rt.v, Account: acct, From: from, To: end,
		Interval: time.Hour, OpeningEquity: opening, OpeningHoldings: holdings, Valuation: demoQuote, Clock: a.clk}); err != nil {
		return fmt.Errorf("demo history: backfill %s: %w", da.name, err)
	}
	return nil
}
