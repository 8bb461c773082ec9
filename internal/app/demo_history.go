package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/backfill"
	"github.com/tradeplane/tradeplane/internal/demodata"
	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/replay"
	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// demoHistoryDays is how much history the demo replays before its live
// sessions' first hour.
const demoHistoryDays = 30

// HistorySource is the equity snapshot source of the demo's replayed
// history, and KindHistory the journal kind of its replayed fills: both
// say the rows were replayed, not traded.
const (
	HistorySource = backfill.SourceHistory
	KindHistory   = journal.Kind("history")
)

// fillDemoHistory gives the demo 30 days of history: it replays the demo's
// sessions (same strategies and allocations, stepped hourly) over the last
// 30 days of each embedded klines series through the replay engine, in the
// engine's own scratch store, then writes the result into the demo's store
// marked as history: the desk's hourly equity as equity snapshots of source
// "history", each session's hourly PnL as snapshots of its scope
// (demoSessionPnL), and every replayed fill as a journal event of kind
// "history" on the live session of the same name. For the backfill
// accuracy report it also writes each account's replayed equity (snapshots
// of scope "account:NAME", source history), stores the replayed fills as the
// accounts' fills (source history, no session) and runs the real backfill of
// each account over the same days (demoBackfill), so the report compares a
// reconstruction with what the replay recorded.
//
// The embedded series do not share dates (BTCUSDT is March 2023, ETHUSDT
// ends May 2026, BNBUSDT December 2023), so each is shifted in time, by a
// whole number of its intervals, to start 30 days before the current hour;
// the journal messages name the klines' real dates. BTCUSDT's series is 21
// days long: for the last 9 days of the history its sessions have no new
// bar (so no step) and BTC is valued at its last close. It runs once per store: a store
// that already has history is left alone. It is deterministic for a given
// current hour (seeded replay, fixed inputs).
func (a *App) fillDemoHistory(ctx context.Context) error {
	defer a.demoHistoryDone.Store(true)
	now := a.clk.Now().UTC()
	have, err := a.db.EquitySnapshots(ctx, "total", HistorySource, time.Time{}, now.Add(time.Hour))
	if err != nil {
		return fmt.Errorf("demo history: %w", err)
	}
	if len(have) > 0 {
		a.log.Info("demo history: already in the store", "points", len(have))
		return nil
	}
	end := now.Truncate(time.Hour)
	from := end.Add(-demoHistoryDays * 24 * time.Hour)
	dr, err := demoReplay(from, demoHistoryDays*24*time.Hour, "1h")
	if err != nil {
		return fmt.Errorf("demo history: %w", err)
	}
	cfg, series, shiftOf := dr.cfg, dr.series, dr.shift
	cfg.To, cfg.Seed, cfg.EquityEvery = end, 1, time.Hour
	// The journal's fills become the live sessions' history.
	cfg.KeepJournal = true
	cfg.ProgressEvery, cfg.Logger = 10000, slog.New(slog.DiscardHandler) // the sessions' step log would bury the demo's
	cfg.Progress = func(p replay.Progress) {
		done := 0
		if span := end.Sub(from); span > 0 && !p.At.IsZero() {
			done = int(100 * p.At.Sub(from) / span)
		}
		a.demoHistoryPct.Store(int32(done * 9 / 10)) // the backfill after it is the last tenth
		a.log.Info("demo history: replaying", "reached", p.At.Format(time.RFC3339), "percent", done, "bars", p.Bars, "steps", p.Steps)
	}
	started := time.Now()
	res, err := replay.Run(ctx, cfg)
	if err != nil {
		return fmt.Errorf("demo history: replay: %w", err)
	}
	jrnl, err := res.Journal()
	if err != nil {
		return fmt.Errorf("demo history: %w", err)
	}
	// The desk's equity, hourly.
	snaps := make([]store.EquitySnapshot, 0, len(res.Equity))
	for _, p := range res.Equity {
		snaps = append(snaps, store.EquitySnapshot{Scope: "total", Source: HistorySource, At: p.Time, Equity: p.Value})
	}
	// The fills, on the live sessions of the same names.
	live, err := a.sessions.List(ctx, session.Filter{})
	if err != nil {
		return fmt.Errorf("demo history: %w", err)
	}
	liveByName := map[string]session.Session{}
	for _, s := range live {
		liveByName[s.Name] = s
	}
	nameByID := map[string]string{}
	accountOf := map[string]string{}
	liveIDOf := map[string]string{}
	for _, s := range res.Sessions {
		nameByID[s.ID] = s.Name
		accountOf[s.ID] = s.Account
		if ls, ok := liveByName[s.Name]; ok {
			liveIDOf[s.ID] = ls.ID
		}
	}
	// Each session's hourly PnL, for its page's chart.
	sessionSnaps, err := demoSessionPnL(jrnl, liveIDOf, series, from, end)
	if err != nil {
		return err
	}
	var evs []*journal.Event
	for _, e := range jrnl {
		if e.Kind != string(journal.KindFill) {
			continue
		}
		ls, ok := liveByName[nameByID[e.SessionID]]
		if !ok {
			continue
		}
		evs = append(evs, &journal.Event{At: e.At, Kind: KindHistory, SessionID: ls.ID, AccountID: ls.AccountID,
			Symbol: e.Symbol, Side: venue.Side(e.Side), Type: venue.OrderType(e.OrderType), Quantity: e.Quantity,
			Price: e.Price, FilledQty: e.FilledQty, Fee: e.Fee, FeeAsset: e.FeeAsset,
			Message: fmt.Sprintf("replayed history: a fill of %s on the %s klines of %s (shifted to now)",
				nameByID[e.SessionID], e.Symbol, e.At.Add(-shiftOf[e.Symbol]).Format("2006-01-02 15:04 UTC"))})
	}
	const batch = 500
	for i := 0; i < len(evs); i += batch {
		if err := a.journal.Append(ctx, evs[i:min(i+batch, len(evs))]...); err != nil {
			return fmt.Errorf("demo history: journal: %w", err)
		}
	}
	// The same fills as the accounts' trade history, for the backfill.
	acctIDs := map[string]int64{}
	for _, da := range demoAccounts {
		acct, err := a.db.Account(ctx, da.name)
		if err != nil {
			return fmt.Errorf("demo history: %w", err)
		}
		acctIDs[da.name] = acct.ID
	}
	fills := demoHistoryFills(jrnl, accountOf, acctIDs)
	for i := 0; i < len(fills); i += batch {
		if _, err := a.db.InsertFills(ctx, fills[i:min(i+batch, len(fills))]); err != nil {
			return fmt.Errorf("demo history: fills: %w", err)
		}
	}
	// Equity last: the desk's presence is what marks the history as
	// written.
	if err := a.db.UpsertEquitySnapshots(ctx, sessionSnaps); err != nil {
		return fmt.Errorf("demo history: %w", err)
	}
	acctSnaps := demoAccountEquity(res)
	if err := a.db.UpsertEquitySnapshots(ctx, acctSnaps); err != nil {
		return fmt.Errorf("demo history: %w", err)
	}
	// The backfill of the same days, compared with the recorded account
	// equity by the backfill accuracy report.
	if err := a.demoBackfill(ctx, series, from, end, func(done int) {
		a.demoHistoryPct.Store(int32(90 + 9*done/len(demoAccounts)))
	}); err != nil {
		return err
	}
	if err := a.db.UpsertEquitySnapshots(ctx, snaps); err != nil {
		return fmt.Errorf("demo history: %w", err)
	}
	a.demoHistoryPct.Store(100)
	a.log.Info("demo history: done", "from", from.Format(time.RFC3339), "to", end.Format(time.RFC3339),
		"equity_points", len(snaps), "account_points", len(acctSnaps), "session_points", len(sessionSnaps), "history_fills", len(fills), "fills", len(evs), "steps", res.Summary.Steps, "took", time.Since(started).Round(time.Millisecond))
	return nil
}

// DemoReplay is the demo's desk as a replay, as its history replays it:
// the demo's accounts (each wallet's balances summed into spot), the demo's
// sessions (same strategies, parameters and allocations; a non-empty every
// replaces each strategy's step interval) and the last span of each
// embedded klines series, shifted in time by a whole number of its
// intervals to start at from (the series do not share dates). From and To,
// seed, logging and progress are left to the caller.
func DemoReplay(from time.Time, span time.Duration, every string) (replay.Config, error) {
	dr, err := demoReplay(from, span, every)
	return dr.cfg, err
}

// demoReplayed is DemoReplay's config with each symbol's shifted series
// and its shift, which the history needs to chart and to date its fills.
type demoReplayed struct {
	cfg    replay.Config
	series map[string]demoSeries
	shift  map[string]time.Duration
}

func demoReplay(from time.Time, span time.Duration, every string) (demoReplayed, error) {
	out := demoReplayed{series: map[string]demoSeries{}, shift: map[string]time.Duration{}}
	firstOpen := map[string]venue.Decimal{}
	for _, sym := range demodata.Symbols() {
		src, err := demodata.Last(sym, span)
		if err != nil {
			return out, err
		}
		if len(src.Klines) == 0 {
			continue
		}
		shift := from.Sub(src.Klines[0].OpenTime)
		if shift%src.Interval != 0 {
			return out, fmt.Errorf("demo replay: %s starts at %s, not a whole number of %s from %s",
				sym, src.Klines[0].OpenTime.Format(time.RFC3339), src.Interval, from.Format(time.RFC3339))
		}
		ks := make([]venue.Kline, len(src.Klines))
		for i, k := range src.Klines {
			k.OpenTime = k.OpenTime.Add(shift)
			ks[i] = k
		}
		firstOpen[sym] = ks[0].Open
		out.shift[sym] = shift
		out.series[sym] = demoSeries{klines: ks, interval: src.Interval}
		out.cfg.Sources = append(out.cfg.Sources, replay.Source{Symbol: sym, Interval: src.Interval, Name: "demo " + sym,
			Stream: &replay.SliceStream{Klines: ks}})
	}
	band := func(sym string) (string, string) {
		p := firstOpen[sym]
		return p.Mul(udecimal.MustParse("0.97")).Trunc(2).String(), p.Mul(udecimal.MustParse("1.03")).Trunc(2).String()
	}
	ethLo, ethHi := band("ETHUSDT")
	btcLo, btcHi := band("BTCUSDT")
	for _, da := range demoAccounts {
		sum := map[string]venue.Decimal{}
		var order []string
		for _, w := range []venue.Wallet{venue.WalletSpot, venue.WalletFunding, venue.WalletFutures} {
			for asset, amount := range da.wallets[w] {
				if _, ok := sum[asset]; !ok {
					order = append(order, asset)
				}
				sum[asset] = sum[asset].Add(udecimal.MustParse(amount))
			}
		}
		acct := replay.Account{Name: da.name}
		for _, asset := range order {
			acct.Balances = append(acct.Balances, replay.Balance{Asset: asset, Amount: sum[asset]})
		}
		out.cfg.Accounts = append(out.cfg.Accounts, acct)
	}
	for _, sp := range demoSpecs(ethLo, ethHi, btcLo, btcHi, every) {
		params, err := json.Marshal(sp.params)
		if err != nil {
			return out, err
		}
		out.cfg.Sessions = append(out.cfg.Sessions, replay.Session{Name: sp.name, Strategy: sp.strategy, Account: sp.account,
			Symbols: sp.symbols, Params: params,
			Allocation: session.Allocation{Kind: session.AllocFixed, Amount: udecimal.MustParse(sp.fixed)}})
	}
	return out, nil
}
