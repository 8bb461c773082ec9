// Package livefeed keeps the portfolio current from the venues: it registers
// each account's markets, streams prices into the price book, applies the
// user stream's balance events, resyncs every wallet on a schedule and after
// every stream reconnect (reporting drift between our view and the venue's),
// has the account's open orders settled after every user stream reconnect,
// persists balances and wallet statuses, and records equity snapshots on a
// schedule for history and PnL.
//
// It moves facts one way, venue → store/portfolio; it places no orders and
// serves nothing.
package livefeed

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/backoff"
	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// DriftFunc is told of every line whose holding differed between our view
// and the venue's at a resync (the caller journals it).
type DriftFunc func(ctx context.Context, acct store.Account, d portfolio.Drift)

// ErrorFunc is told of every failure the feed cannot fix by itself (a
// wallet read that failed, a stream that dropped), so that it is counted and
// alerted, never silent.
type ErrorFunc func(ctx context.Context, acct store.Account, what string, err error)

// TradeFunc is told of every fill the user stream reports, so it is
// journaled even when it happens long after the order was placed.
type TradeFunc func(ctx context.Context, acct store.Account, t venue.Trade)

// SettleFunc settles every non-terminal order of an account with its venue
// (the app's reconcile by client order id).
type SettleFunc func(ctx context.Context, accountID int64) error

// Config wires a Feed.
type Config struct {
	Portfolio     *portfolio.Portfolio
	Store         *store.DB
	Clock         clock.Clock
	Log           *slog.Logger
	OnDrift       DriftFunc
	OnError       ErrorFunc
	OnTrade       TradeFunc
	ResyncEvery   time.Duration // full balance resync; default 1 minute
	SnapshotEvery time.Duration // equity snapshots; default 1 minute
	// PriceSnapshotEvery records the latest price of each symbol; default 1
	// minute. The PnL backfill and fee conversion read these.
	PriceSnapshotEvery time.Duration
	// SettleOrders is called after every user stream reconnect, since the
	// order updates and fills sent while the stream was down are lost: the
	// orders they concern are settled at once, not at the next scheduled
	// reconcile. It runs beside the stream, one call per account at a time
	// (a reconnect during a call asks for one more); nil settles nothing.
	SettleOrders SettleFunc
}

// Feed runs the loops. Create with New, add accounts, then Run; remove an
// account with RemoveAccount, which stops its loops.
type Feed struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	accounts map[int64]*feedAccount
	// streams maps a venue key to the account whose venue streams the
	// prices of every account with that key.
	streams map[string]*feedAccount
	prices  map[string]venue.PriceTick
	// wg counts every goroutine of the feed; Add is only called under mu
	// while !stopping, so it never races Run's Wait.
	wg       sync.WaitGroup
	ctx      context.Context
	stopping bool
}

type feedAccount struct {
	acct store.Account
	v    venue.Venue
	// synced is set after the first successful read: the first read fills
	// an empty view, which is not drift.
	synced bool
	// settling: a SettleOrders call runs; again: another was asked for
	// meanwhile. Both guarded by Feed.mu.
	settling, again bool
	// ctx ends the account's loops (canceled by RemoveAccount or when
	// Run's context ends); loops counts them. Guarded by Feed.mu; nil
	// until the loops start.
	ctx    context.Context
	cancel context.CancelFunc
	loops  sync.WaitGroup
	// removed: RemoveAccount took the account out; nothing starts for it.
	removed bool
}

// New returns a feed; nothing runs until Run.
func New(cfg Config) *Feed {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.ResyncEvery <= 0 {
		cfg.ResyncEvery = time.Minute
	}
	if cfg.SnapshotEvery <= 0 {
		cfg.SnapshotEvery = time.Minute
	}
	if cfg.PriceSnapshotEvery <= 0 {
		cfg.PriceSnapshotEvery = time.Minute
	}
	return &Feed{cfg: cfg, log: cfg.Log, accounts: map[int64]*feedAccount{}, streams: map[string]*feedAccount{}, prices: map[string]venue.PriceTick{}}
}

// AccountKey is the portfolio's id of a stored account.
func AccountKey(a store.Account) string { return strconv.FormatInt(a.ID, 10) }

// venueKey groups accounts that see the same market, so one price stream
// serves them all.
func venueKey(a store.Account) string { return a.Venue + "|" + a.BaseURL }

// AddAccount registers an account and, once Run has started, begins its
// loops. Its markets are registered and its wallets read before it returns.
func (f *Feed) AddAccount(ctx context.Context, a store.Account, v venue.Venue) error {
	p := f.cfg.Portfolio
	if err := p.UpsertAccount(portfolio.Account{ID: AccountKey(a), Name: a.Name, Venue: a.Venue, Tags: a.Tags, Master: a.Master}); err != nil {
		return fmt.Errorf("add account %q: %w", a.Name, err)
	}
	syms, err := v.Symbols(ctx)
	if err != nil {
		f.report(ctx, a, "read markets", err)
	} else if err := p.RegisterMarkets(a.Venue, syms); err != nil {
		return fmt.Errorf("add account %q: register markets: %w", a.Name, err)
	}
	f.mu.Lock()
	fa := &feedAccount{acct: a, v: v}
	old := f.accounts[a.ID]
	f.accounts[a.ID] = fa
	f.mu.Unlock()
	if old != nil {
		f.stopAccount(old) // added again (e.g. new credentials): one set of loops
	}
	f.Resync(ctx, a.ID)
	f.mu.Lock()
	f.startAccountLocked(fa)
	f.mu.Unlock()
	return nil
}

// RemoveAccount stops the account's loops (user stream, resync, order
// settling, and the price stream when it was this account's, which another
// account of the same venue then takes over) and waits for them; the feed
// no longer reads or writes anything of the account. The caller removes it
// from the portfolio and the store. An unknown id is ignored.
func (f *Feed) RemoveAccount(accountID int64) {
	f.mu.Lock()
	fa := f.accounts[accountID]
	if fa != nil {
		delete(f.accounts, accountID)
	}
	f.mu.Unlock()
	if fa != nil {
		f.stopAccount(fa)
	}
}

// stopAccount cancels fa's loops, waits for them, and hands its price stream
// to another account of its venue.
func (f *Feed) stopAccount(fa *feedAccount) {
	f.mu.Lock()
	fa.removed = true
	cancel := fa.cancel
	key := venueKey(fa.acct)
	handOver := f.streams[key] == fa
	if handOver {
		delete(f.streams, key)
	}
	f.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	fa.loops.Wait()
	if !handOver {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.streams[key] != nil {
		return
	}
	for _, other := range f.accounts {
		if venueKey(other.acct) == key && other.ctx != nil && !other.removed {
			f.streams[key] = other
			f.goLocked(other, func(ctx context.Context) { f.priceLoop(ctx, other) })
			return
		}
	}
}

// Resync reads every wallet of one account from its venue, replaces our
// view, reports drift, and persists the balances. A failed read marks the
// account unknown with the reason (the wallets it had keep their last
// holdings, flagged), so every total that includes it says partial: also on
// the first read, when neither the portfolio nor the store knows a wallet
// of the account yet.
func (f *Feed) Resync(ctx context.Context, accountID int64) {
	f.mu.Lock()
	fa := f.accounts[accountID]
	f.mu.Unlock()
	if fa == nil {
		return
	}
	now := f.cfg.Clock.Now()
	bals, err := fa.v.Balances(ctx)
	if err != nil && ctx.Err() != nil {
		return // stopped (the account was removed, or the feed ends)
	}
	if err != nil {
		f.report(ctx, fa.acct, "read balances", err)
		f.markFailed(ctx, fa.acct, err.Error(), now)
		return
	}
	drift, err := f.cfg.Portfolio.ResyncAccount(AccountKey(fa.acct), bals)
	if err != nil {
		f.report(ctx, fa.acct, "resync balances", err)
		return
	}
	if pr, ok := fa.v.(venue.PositionReader); ok {
		ps, err := pr.Positions(ctx)
		if err != nil {
			f.report(ctx, fa.acct, "read positions", err)
		}
		_ = f.cfg.Portfolio.SetPositions(AccountKey(fa.acct), ps, err)
	}
	f.mu.Lock()
	first := !fa.synced
	fa.synced = true
	f.mu.Unlock()
	if f.cfg.OnDrift != nil && !first {
		for _, d := range drift {
			f.cfg.OnDrift(ctx, fa.acct, d)
		}
	}
	if f.cfg.Store == nil {
		return
	}
	byWallet := map[string][]store.Balance{}
	for _, w := range f.knownWallets(fa.acct.ID) {
		byWallet[w] = nil // a wallet that emptied is stored empty
	}
	for _, b := range bals {
		byWallet[string(b.Wallet)] = append(byWallet[string(b.Wallet)], store.Balance{
			Asset: b.Asset, Free: b.Free, Locked: b.Locked, Borrowed: b.Borrowed,
		})
	}
	for w, bs := range byWallet {
		if err := f.cfg.Store.ReplaceWallet(ctx, fa.acct.ID, w, bs, now); err != nil && ctx.Err() == nil {
			f.report(ctx, fa.acct, "store balances", err)
		}
	}
}

// markFailed flags an account whose balance query failed, in the portfolio
// and in the store. The wallets the store lists are marked first, so that a
// view rebuilt after a restart flags them by name; MarkAccountUnknown then
// marks every wallet the portfolio holds, or the spot wallet when it holds
// none, which the store records too so offline views see the failure.
func (f *Feed) markFailed(ctx context.Context, a store.Account, reason string, now time.Time) {
	key := AccountKey(a)
	wallets := f.knownWallets(a.ID)
	for _, w := range wallets {
		f.cfg.Portfolio.MarkWalletUnknown(key, venue.Wallet(w), reason)
	}
	if err := f.cfg.Portfolio.MarkAccountUnknown(key, reason); err != nil {
		f.log.Warn("livefeed: mark account unknown failed", "account", a.Name, "err", err)
	}
	if f.cfg.Store == nil {
		return
	}
	if len(wallets) == 0 {
		wallets = []string{string(venue.WalletSpot)}
	}
	for _, w := range wallets {
		if err := f.cfg.Store.MarkWalletFailed(ctx, a.ID, w, reason, now); err != nil {
			f.log.Warn("livefeed: record failed wallet read failed", "account", a.Name, "wallet", w, "err", err)
		}
	}
}

func (f *Feed) knownWallets(accountID int64) []string {
	if f.cfg.Store == nil {
		return nil
	}
	st, err := f.cfg.Store.WalletStatuses(context.Background())
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range st {
		if s.AccountID == accountID {
			out = append(out, s.Wallet)
		}
	}
	return out
}

func (f *Feed) report(ctx context.Context, a store.Account, what string, err error) {
	f.log.Warn("livefeed: "+what+" failed", "account", a.Name, "err", err)
	if f.cfg.OnError != nil {
		f.cfg.OnError(ctx, a, what, err)
	}
}

// Run starts the loops of every account added so far (and of those added
// later) and blocks until ctx ends, then waits for them.
func (f *Feed) Run(ctx context.Context) error {
	f.mu.Lock()
	f.ctx = ctx
	for _, fa := range f.accounts {
		f.startAccountLocked(fa)
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.snapshotLoop(ctx)
	}()
	f.mu.Unlock()
	<-ctx.Done()
	f.mu.Lock()
	f.stopping = true // no wg.Add from here on: Wait cannot race one
	f.mu.Unlock()
	f.wg.Wait()
	return nil
}

// startAccountLocked starts fa's loops under a context of its own, unless
// Run has not started (Run starts them), the feed is stopping, fa was
// removed or its loops run already. The caller holds f.mu.
func (f *Feed) startAccountLocked(fa *feedAccount) {
	if f.ctx == nil || f.stopping || fa.removed || fa.ctx != nil {
		return
	}
	fa.ctx, fa.cancel = context.WithCancel(f.ctx)
	key := venueKey(fa.acct)
	if f.streams[key] == nil {
		f.streams[key] = fa
		f.goLocked(fa, func(ctx context.Context) { f.priceLoop(ctx, fa) })
	}
	f.goLocked(fa, func(ctx context.Context) { f.userLoop(ctx, fa) })
	f.goLocked(fa, func(ctx context.Context) {
		t := f.cfg.Clock.NewTicker(f.cfg.ResyncEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C():
				f.Resync(ctx, fa.acct.ID)
			}
		}
	})
}

// goLocked runs fn(fa's context) as one of fa's loops, counted by the feed
// (Run waits for it) and by fa (RemoveAccount waits for it); it reports
// false, starting nothing, when the feed is stopping or fa's loops were
// stopped. The caller holds f.mu.
func (f *Feed) goLocked(fa *feedAccount, fn func(ctx context.Context)) bool {
	if f.stopping || fa.removed || fa.ctx == nil {
		return false
	}
	f.wg.Add(1)
	fa.loops.Add(1)
	ctx := fa.ctx
	go func() {
		defer f.wg.Done()
		defer fa.loops.Done()
		fn(ctx)
	}()
	return true
}

// priceLoop streams prices into the book, resubscribing with a backoff when
// the stream ends.
func (f *Feed) priceLoop(ctx context.Context, fa *feedAccount) {
	wait := backoff.New(backoff.Policy{Initial: time.Second, Max: 30 * time.Second}, f.cfg.Clock)
	for ctx.Err() == nil {
		ch, err := fa.v.SubscribePrices(ctx, nil)
		if err != nil && ctx.Err() != nil {
			return
		}
		if err != nil {
			f.report(ctx, fa.acct, "subscribe prices", err)
		} else {
			wait.Reset()
			for tk := range ch {
				if err := f.cfg.Portfolio.Tick(tk); err == nil {
					f.mu.Lock()
					f.prices[tk.Symbol] = tk
					f.mu.Unlock()
				}
			}
			if ctx.Err() != nil {
				return
			}
			f.report(ctx, fa.acct, "price stream", fmt.Errorf("stream ended; reconnecting"))
		}
		if wait.Wait(ctx) != nil {
			return
		}
	}
}

// userLoop applies balance events and, after every reconnect (the venue's
// own, or a new subscription after a lost one), resyncs balances and has the
// open orders settled.
func (f *Feed) userLoop(ctx context.Context, fa *feedAccount) {
	wait := backoff.New(backoff.Policy{Initial: time.Second, Max: 30 * time.Second}, f.cfg.Clock)
	key := AccountKey(fa.acct)
	for first := true; ctx.Err() == nil; first = false {
		ch, err := fa.v.SubscribeUser(ctx)
		if err != nil && ctx.Err() != nil {
			return
		}
		if err != nil {
			f.report(ctx, fa.acct, "subscribe user stream", err)
		} else {
			wait.Reset()
			if !first {
				// Subscribed again: what happened since the last
				// subscription ended was never streamed.
				f.Resync(ctx, fa.acct.ID)
				f.settleOrders(ctx, fa)
			}
			for ev := range ch {
				switch ev.Kind {
				case venue.EventBalance:
					if ev.Balance != nil {
						f.cfg.Portfolio.SetBalance(key, *ev.Balance)
					}
				case venue.EventTrade:
					if ev.Trade != nil && f.cfg.OnTrade != nil {
						f.cfg.OnTrade(ctx, fa.acct, *ev.Trade)
					}
				case venue.EventReconnected:
					f.Resync(ctx, fa.acct.ID)
					f.settleOrders(ctx, fa)
				}
			}
			if ctx.Err() != nil {
				return
			}
			// Events may have been lost while the stream was down.
			f.Resync(ctx, fa.acct.ID)
		}
		if wait.Wait(ctx) != nil {
			return
		}
	}
}

// settleOrders has SettleOrders settle the account's open orders beside the
// stream, so that a slow settle does not hold its events back; a call asked
// for while one runs makes it run once more when it ends.
func (f *Feed) settleOrders(ctx context.Context, fa *feedAccount) {
	if f.cfg.SettleOrders == nil {
		return
	}
	f.mu.Lock()
	if fa.settling {
		fa.again = true
		f.mu.Unlock()
		return
	}
	started := f.goLocked(fa, func(ctx context.Context) {
		for {
			if err := f.cfg.SettleOrders(ctx, fa.acct.ID); err != nil && ctx.Err() == nil {
				f.report(ctx, fa.acct, "settle orders after reconnect", err)
			}
			f.mu.Lock()
			if !fa.again || ctx.Err() != nil {
				fa.settling, fa.again = false, false
				f.mu.Unlock()
				return
			}
			fa.again = false
			f.mu.Unlock()
		}
	})
	fa.settling = started
	f.mu.Unlock()
}

// snapshotLoop records equity (total and per account) and prices.
func (f *Feed) snapshotLoop(ctx context.Context) {
	eq := f.cfg.Clock.NewTicker(f.cfg.SnapshotEvery)
	defer eq.Stop()
	pr := f.cfg.Clock.NewTicker(f.cfg.PriceSnapshotEvery)
	defer pr.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-eq.C():
			if err := f.SnapshotEquity(ctx); err != nil {
				f.log.Warn("livefeed: equity snapshot failed", "err", err)
			}
		case <-pr.C():
			if err := f.SnapshotPrices(ctx); err != nil {
				f.log.Warn("livefeed: price snapshot failed", "err", err)
			}
		}
	}
}

// SnapshotEquity records the portfolio's value now, in total and per
// account, as live equity snapshots.
func (f *Feed) SnapshotEquity(ctx context.Context) error {
	if f.cfg.Store == nil {
		return nil
	}
	now := f.cfg.Clock.Now().Truncate(time.Second)
	snap := f.cfg.Portfolio.Snapshot()
	out := []store.EquitySnapshot{{
		Scope: "total", Source: "live", At: now, Equity: snap.Total.Value, Collateral: snap.Total.CollateralValue,
		Realized: udecimal.Zero, Unrealized: udecimal.Zero, Partial: snap.Total.Partial,
	}}
	for _, a := range snap.Accounts {
		out = append(out, store.EquitySnapshot{
			Scope: "account:" + a.Name, Source: "live", At: now, Equity: a.Value, Collateral: a.CollateralValue,
			Realized: udecimal.Zero, Unrealized: udecimal.Zero, Partial: a.Partial,
		})
	}
	return f.cfg.Store.UpsertEquitySnapshots(ctx, out)
}

// SnapshotPrices records the latest price of every streamed symbol.
func (f *Feed) SnapshotPrices(ctx context.Context) error {
	if f.cfg.Store == nil {
		return nil
	}
	f.mu.Lock()
	ps := make([]store.PriceSnapshot, 0, len(f.prices))
	for _, tk := range f.prices {
		ps = append(ps, store.PriceSnapshot{Symbol: tk.Symbol, At: tk.Time, Price: tk.Price})
	}
	f.mu.Unlock()
	if len(ps) == 0 {
		return nil
	}
	return f.cfg.Store.InsertPriceSnapshots(ctx, ps)
}
