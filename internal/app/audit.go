package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tradeplane/tradeplane/internal/alert"
	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/store"
)

// The journal audit (journal.Audit) runs on the node that holds the
// account's venue: on demand through the API (and `tradeplane journal
// audit`), and on a schedule (Config.AuditEvery over Config.AuditWindow),
// raising a critical alert for each account with a difference.

var _ server.Auditor = auditAdapter{}

type auditAdapter struct{ a *App }

// AuditJournal audits the account named name over [from, to).
func (ad auditAdapter) AuditJournal(ctx context.Context, name string, from, to time.Time) (journal.AuditReport, error) {
	acct, err := ad.a.db.Account(ctx, name)
	if err != nil {
		return journal.AuditReport{}, fmt.Errorf("audit account %q: %w", name, err)
	}
	return ad.a.auditAccount(ctx, acct.ID, from, to)
}

// auditAccount audits one open account over [from, to); the symbols of its
// sessions are asked too, where the venue may hold what the journal never
// saw.
func (a *App) auditAccount(ctx context.Context, accountID int64, from, to time.Time) (journal.AuditReport, error) {
	rt, err := a.account(accountID)
	if err != nil {
		return journal.AuditReport{}, err
	}
	ss, err := a.db.Sessions(ctx, store.SessionFilter{AccountID: accountID})
	if err != nil {
		return journal.AuditReport{}, fmt.Errorf("audit account %d: %w", accountID, err)
	}
	var syms []string
	for _, s := range ss {
		for _, sym := range s.Symbols {
			if !slices.Contains(syms, sym) {
				syms = append(syms, sym)
			}
		}
	}
	rep, err := journal.Audit(ctx, a.db, rt.v, accountID, from, to, syms)
	if errors.Is(err, journal.ErrNoOrderHistory) {
		return rep, fmt.Errorf("%w: %w", server.ErrInvalid, err)
	}
	return rep, err
}

// auditLoop audits every open account on a schedule and alerts on any
// difference.
func (a *App) auditLoop(ctx context.Context) {
	every, window := a.cfg.AuditEvery, a.cfg.AuditWindow
	if every < 0 {
		return
	}
	if every == 0 {
		every = time.Hour
	}
	if window <= 0 {
		window = 24 * time.Hour
	}
	a.every(ctx, every, every, func() { a.auditAll(ctx, window) })
}

// auditAll runs one scheduled audit of every open account over the last
// window and alerts on each account with differences. The journal and the
// venue are compared while both move: an order whose answer is on its way,
// or whose fills the executor or the stream is still recording, differs for
// a moment. So a difference counts only when a second audit, auditConfirm
// later, still finds it; then the venue's fills of journaled orders that
// the journal lacks are recorded (RecoverFills) and what remains is alerted.
func (a *App) auditAll(ctx context.Context, window time.Duration) {
	rts := a.openAccounts()
	for _, rt := range rts {
		to := a.clk.Now()
		from := to.Add(-window)
		rep, err := a.auditAccount(ctx, rt.acct.ID, from, to)
		if err == nil && len(rep.Differences) > 0 {
			first := rep.Differences
			select {
			case <-ctx.Done():
				return
			case <-a.clk.After(a.auditConfirm()):
			}
			rep, err = a.auditAccount(ctx, rt.acct.ID, from, a.clk.Now())
			if err == nil {
				rep.Differences = persisting(first, rep.Differences)
			}
		}
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, journal.ErrNoOrderHistory):
			continue
		case err != nil:
			a.alerts.Raise(ctx, alert.Alert{Severity: alert.Warning, Source: "audit", AccountID: rt.acct.ID,
				Message: fmt.Sprintf("journal audit of account %s could not run: %v", rt.acct.Name, err)})
			continue
		}
		if len(rep.Differences) == 0 {
			continue
		}
		to = rep.To
		// Fills the journal missed (the user stream was down) of orders it
		// holds are the venue's facts: record them, which corrects an order
		// the journal had closed, and audit again for what remains.
		recovered := 0
		for _, d := range rep.Differences {
			if d.ClientOrderID == "" || slices.Contains(d.Kinds, journal.DiffMissing) {
				continue
			}
			n, err := rt.x.RecoverFills(ctx, d.ClientOrderID)
			if err != nil {
				a.log.Warn("audit: recover fills", "account", rt.acct.Name, "order", d.ClientOrderID, "err", err)
			}
			recovered += n
		}
		if recovered > 0 {
			a.alerts.Raise(ctx, alert.Alert{Severity: alert.Critical, Source: "audit", AccountID: rt.acct.ID,
				Message: fmt.Sprintf("journal audit of account %s: recorded %d fills the journal had missed (see the corrected events)",
					rt.acct.Name, recovered)})
			again, err := a.auditAccount(ctx, rt.acct.ID, from, to)
			if err != nil {
				a.alerts.Raise(ctx, alert.Alert{Severity: alert.Warning, Source: "audit", AccountID: rt.acct.ID,
					Message: fmt.Sprintf("journal audit of account %s could not run again after recovering fills: %v", rt.acct.Name, err)})
				continue
			}
			if rep.Differences = persisting(rep.Differences, again.Differences); len(rep.Differences) == 0 {
				continue
			}
		}
		var parts []string
		for i, d := range rep.Differences {
			if i == 5 {
				parts = append(parts, fmt.Sprintf("and %d more", len(rep.Differences)-5))
				break
			}
			what := d.ClientOrderID
			if what == "" {
				what = "trade " + d.TradeID
			}
			parts = append(parts, fmt.Sprintf("%s %s (%s): journal %q, venue %q", d.Symbol, what, strings.Join(d.Kinds, "+"), d.Journal, d.Venue))
		}
		a.alerts.Raise(ctx, alert.Alert{Severity: alert.Critical, Source: "audit", AccountID: rt.acct.ID,
			Message: fmt.Sprintf("journal audit of account %s from %s to %s: %d differences with the venue: %s", rt.acct.Name,
				from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), len(rep.Differences), strings.Join(parts, "; "))})
	}
}

// auditConfirm is how long the scheduled audit waits before confirming a
// difference: Config.AuditConfirm, else longer than the executor takes to
// complete an answered order's fills (two Reconcile intervals) and no
// longer than the schedule.
func (a *App) auditConfirm() time.Duration {
	if a.cfg.AuditConfirm > 0 {
		return a.cfg.AuditConfirm
	}
	every, rec := a.cfg.AuditEvery, a.cfg.ReconcileEvery
	if every <= 0 {
		every = time.Hour
	}
	if rec <= 0 {
		rec = 30 * time.Second
	}
	return min(every, 2*rec)
}

// persisting keeps the differences of later on an order (or trade) that
// first found disagreeing too.
func persisting(first, later []journal.AuditDifference) []journal.AuditDifference {
	key := func(d journal.AuditDifference) string {
		if d.ClientOrderID != "" {
			return d.Symbol + "\x00" + d.ClientOrderID
		}
		return d.Symbol + "\x00\x00" + d.VenueOrderID + "\x00" + d.TradeID
	}
	seen := map[string]bool{}
	for _, d := range first {
		seen[key(d)] = true
	}
	out := []journal.AuditDifference{}
	for _, d := range later {
		if seen[key(d)] {
			out = append(out, d)
		}
	}
	return out
}
