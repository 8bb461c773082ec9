package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tradeplane/tradeplane/internal/alert"
	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/livefeed"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
)

// The hooks below turn the services' notifications into journal entries,
// alerts, metrics and live events: no failure is silent.

func (a *App) onBan(acct store.Account, p binance.Pause) {
	a.alerts.Raise(context.Background(), pauseAlert(acct, p))
}

// pauseAlert is the alert for a Binance host that stopped taking an
// account's requests: it names the cause Binance gave (a WAF block is not a
// ban, and the remedy differs), until when requests are held back, and what
// to do.
func pauseAlert(acct store.Account, p binance.Pause) alert.Alert {
	until := p.Until.UTC().Format(time.RFC3339)
	host := p.Host
	if host == "" {
		host = "its host"
	}
	var msg string
	switch p.Cause {
	case binance.PauseWAF:
		msg = fmt.Sprintf("venue %s: Binance's WAF (web application firewall) blocked a request of account %s (HTTP 403): "+
			"the firewall refused this IP or this request, which was not executed; requests to %s are paused until %s. "+
			"Check that this machine's IP is not flagged or shared with heavy traffic and that requests are not malformed; "+
			"if blocks repeat, ask Binance support whether the IP is blocked",
			acct.Venue, acct.Name, host, until)
	default:
		msg = fmt.Sprintf("venue %s: Binance banned this IP (HTTP 418) for account %s until %s: every request to %s is stopped until then "+
			"(a ban follows requests sent after a 429 rate-limit answer; it cannot be lifted sooner). "+
			"Check what else sends from this IP and lower the request rate before the ban ends",
			acct.Venue, acct.Name, until, host)
	}
	if p.Message != "" {
		msg += " (Binance: " + p.Message + ")"
	}
	return alert.Alert{Severity: alert.Critical, Source: "venue", AccountID: acct.ID, Message: msg}
}

// onJournalEvent runs on the journal's writer goroutine after commit: it
// must not block.
func (a *App) onJournalEvent(e journal.Event) {
	switch e.Kind {
	case journal.KindFill, journal.KindLiquidation:
		a.tracker.fill(e)
	case journal.KindFunding:
		a.tracker.funding(e)
	}
	if e.Kind == journal.KindCorrected && e.SessionID != "" && a.sessions != nil {
		a.sessions.Corrected(e.SessionID) // the strategy's state sees the late truth now
	}
	if a.srv != nil {
		a.publishJournal(store.JournalEvent{
			Seq: e.Seq, At: e.At, Kind: string(e.Kind), SessionID: e.SessionID, AccountID: e.AccountID, Symbol: e.Symbol,
			ClientOrderID: e.ClientOrderID, VenueOrderID: e.VenueOrderID, Side: string(e.Side), OrderType: string(e.Type),
			Quantity: e.Quantity, Price: e.Price, FilledQty: e.FilledQty, Fee: e.Fee, FeeAsset: e.FeeAsset,
			LatencyUS: e.Latency.Microseconds(), ErrorClass: e.ErrorClass, ErrorCode: e.ErrorCode, Message: e.Message,
			Fence: e.Fence, Node: e.Node,
		})
	}
}

// onDrift journals a difference between our view of a balance and the
// venue's.
func (a *App) onDrift(ctx context.Context, acct store.Account, d portfolio.Drift) {
	err := a.journal.Append(ctx, &journal.Event{
		Kind: journal.KindDrift, AccountID: acct.ID, Quantity: d.Delta,
		Message: fmt.Sprintf("balance drift on %s/%s %s: ours %s, venue %s", acct.Name, d.Wallet, d.Asset, d.Old.Quantity(), d.New.Quantity()),
	})
	if err != nil {
		a.log.Error("journal drift", "err", err)
	}
}

// onFeedError journals, counts and alerts a failed venue read or stream.
func (a *App) onFeedError(ctx context.Context, acct store.Account, what string, err error) {
	class := string(venue.ClassOf(err))
	a.journal.Append(ctx, &journal.Event{Kind: journal.KindError, AccountID: acct.ID, ErrorClass: class,
		Message: fmt.Sprintf("%s for account %s: %v", what, acct.Name, err)})
	a.jmetrics.Failure(class)
	sev := alert.Warning
	if errors.Is(err, venue.ErrAuth) || errors.Is(err, venue.ErrBanned) {
		sev = alert.Critical
	}
	a.alerts.Raise(ctx, alert.Alert{Severity: sev, Source: "venue", AccountID: acct.ID,
		Message: fmt.Sprintf("%s failed for account %s: %v", what, acct.Name, err)})
}

// onStreamTrade records a fill the user stream reported (a resting order
// that filled after its step), attributed to the session whose client order
// id it carries; a liquidation fill as a liquidation.
func (a *App) onStreamTrade(ctx context.Context, acct store.Account, t venue.Trade) {
	rt, err := a.account(acct.ID)
	if err != nil {
		return
	}
	if t.Liquidation {
		// The venue closed a position: a liquidation fill, the session's
		// that held the position (journal.PositionOwners) or the account's.
		if _, err := rt.x.SyncLiquidations(ctx, []venue.Trade{t}); err != nil {
			a.log.Warn("record liquidation", "account", acct.Name, "trade", t.ID, "err", err)
		}
		return
	}
	sessionID := ""
	if t.ClientOrderID != "" {
		if o, err := a.db.OrderByClientID(ctx, t.ClientOrderID); err == nil {
			sessionID = o.SessionID
		}
	}
	if _, err := rt.x.RecordTrade(ctx, t, sessionID); err != nil {
		a.log.Warn("record stream fill", "account", acct.Name, "trade", t.ID, "err", err)
	}
}

// onSessionFailure journals a failed step.
func (a *App) onSessionFailure(ctx context.Context, f session.Failure) {
	class := string(f.Kind)
	if f.Err != nil {
		if c := venue.ClassOf(f.Err); f.Kind == session.FailError && c != venue.ClassUnknown {
			class = string(c)
		}
	}
	msg := ""
	if f.Err != nil {
		msg = f.Err.Error()
	}
	a.journal.Append(ctx, &journal.Event{Kind: journal.KindError, SessionID: f.SessionID, AccountID: f.AccountID,
		ErrorClass: class, Message: fmt.Sprintf("step %d %s: %s", f.Step, f.Kind, msg)})
	a.jmetrics.Failure(class)
}

func (a *App) onStep(r session.StepReport) {
	if a.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if s, err := a.sessions.Get(ctx, r.SessionID); err == nil {
		a.publishSession(a.sessionView(ctx, s))
	}
}

// collateralOf values one account's collateral for share allocations.
func (a *App) collateralOf(_ context.Context, accountID int64) (venue.Decimal, error) {
	t, err := a.pf.AccountTotal(fmt.Sprint(accountID))
	if err != nil {
		return venue.Decimal{}, err
	}
	return t.CollateralValue, nil
}

// sessionAccount gives a session its account's venue, order placer and
// prices.
func (a *App) sessionAccount(_ context.Context, accountID int64) (session.Account, error) {
	rt, err := a.account(accountID)
	if err != nil {
		return session.Account{}, err
	}
	prices := func(ctx context.Context, symbol string) (venue.Decimal, error) {
		p, err := a.price(ctx, symbol)
		if err == nil {
			return p, nil
		}
		// The stream has not priced it yet (a quiet market, a fresh
		// start): ask the venue for its last 1-minute close and teach the
		// price book.
		now := a.clk.Now()
		ks, kerr := rt.v.Klines(ctx, symbol, "1m", now.Add(-10*time.Minute), now.Add(time.Minute))
		if kerr != nil || len(ks) == 0 {
			return venue.Decimal{}, err
		}
		last := ks[len(ks)-1]
		a.pf.Tick(venue.PriceTick{Symbol: symbol, Price: last.Close, Time: now})
		return last.Close, nil
	}
	return session.Account{Venue: rt.v, Orders: placer{rt.x}, Prices: session.PriceFunc(prices)}, nil
}

// price is the price book's price of a symbol.
func (a *App) price(_ context.Context, symbol string) (venue.Decimal, error) {
	base, quote, ok := a.splitSymbol(symbol)
	if !ok {
		return venue.Decimal{}, fmt.Errorf("price of %s: unknown symbol", symbol)
	}
	q := a.pf.Quote(base)
	if q.Price == nil {
		return venue.Decimal{}, fmt.Errorf("price of %s: %s", symbol, q.UnpricedReason)
	}
	if quote == a.pf.Currency() {
		return *q.Price, nil
	}
	qq := a.pf.Quote(quote)
	if qq.Price == nil || qq.Price.IsZero() {
		return venue.Decimal{}, fmt.Errorf("price of %s: %s", symbol, qq.UnpricedReason)
	}
	return q.Price.Div(*qq.Price)
}

func (a *App) splitSymbol(symbol string) (base, quote string, ok bool) {
	for _, s := range a.paper.Symbols() {
		if s.Name == symbol {
			return s.Base, s.Quote, true
		}
	}
	for _, q := range []string{"USDT", "USDC", "FDUSD", "BTC", "ETH", "BNB"} {
		if len(symbol) > len(q) && symbol[len(symbol)-len(q):] == q {
			return symbol[:len(symbol)-len(q)], q, true
		}
	}
	return "", "", false
}

// placer adapts the journal's Executor to the session's OrderPlacer.
type placer struct{ x *journal.Executor }

func (p placer) Place(ctx context.Context, in session.Intent) (venue.Order, error) {
	return p.x.Place(ctx, journal.Intent(in))
}

func (p placer) Cancel(ctx context.Context, in session.Intent) (venue.Order, error) {
	return p.x.Cancel(ctx, journal.Intent(in))
}

// sessionAlerter raises the supervisor's alerts through the alert service.
type sessionAlerter struct{ a *App }

func (s sessionAlerter) Raise(ctx context.Context, al session.Alert) error {
	sev := alert.Warning
	if al.Severity == session.SevCritical {
		sev = alert.Critical
	}
	s.a.alerts.Raise(ctx, alert.Alert{At: al.At, Severity: sev, Source: al.Source, SessionID: al.SessionID,
		AccountID: al.AccountID, Message: al.Message})
	return nil
}

// clusterHandler starts and stops sessions as this node's leases change.
type clusterHandler struct{ a *App }

// Acquire adopts the session on its own goroutine: cluster.Handler.Acquire
// must not block, and Adopt reconciles the account with the venue and
// writes the session's transitions. Run synchronously, adopting a dead
// node's 150 sessions held the heartbeat for longer than the lease TTL, so
// the leases just claimed expired unrenewed and were lost again (measured:
// sessions of a paused node idle for 35 s with a 5 s TTL). A Lose that
// races with the adoption is safe: Adopt refuses once Guard no longer
// allows the session, and Release stops a session Adopt has just started.
func (h clusterHandler) Acquire(ctx context.Context, id string, token int64) {
	h.a.leaseChanges.WithLabelValues("acquired").Inc()
	h.a.goLoop(func() {
		if err := h.a.sessions.Adopt(ctx, id); err != nil && ctx.Err() == nil {
			h.a.log.Warn("adopt session", "session", id, "token", token, "err", err)
		}
	})
}

func (h clusterHandler) Lose(id string) {
	h.a.leaseChanges.WithLabelValues("lost").Inc()
	h.a.sessions.Release(id)
}

// allocationChecker refuses an order that would take a session past its
// allocation (portfolio.CheckOrder); the journal records the refusal.
type allocationChecker struct{ a *App }

func (c allocationChecker) CheckOrder(ctx context.Context, in journal.Intent) error {
	if in.SessionID == "" || in.Request.Side != venue.Buy {
		return nil // only buys add exposure
	}
	s, err := c.a.sessions.Get(ctx, in.SessionID)
	if err != nil {
		return err
	}
	value, err := portfolio.BuyValue(ctx, in.Request, c.a.price)
	if err != nil {
		return fmt.Errorf("order %s: %w", in.Request.ClientOrderID, err)
	}
	if s.Allocation.Amount.IsZero() {
		return nil // no allocation set: nothing to enforce
	}
	al := portfolio.SessionAllocation(in.SessionID, livefeed.AccountKey(store.Account{ID: in.AccountID}), string(s.Allocation.Kind), s.Allocation.Amount)
	d, err := c.a.pf.CheckOrder(portfolio.OrderCheck{Allocation: al, Exposure: c.a.tracker.exposure(in.SessionID), Order: value})
	if err != nil {
		return err
	}
	if !d.OK {
		return errors.New(d.Reason)
	}
	return nil
}
