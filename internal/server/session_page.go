package server

import (
	"net/http"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/reliability"
	"github.com/tradeplane/tradeplane/internal/store"
)

// transitionRow is one state change of a session, with what kind of
// restart it was, if any.
type transitionRow struct {
	store.SessionTransition
	// Restart is "auto" (the supervisor restarting a failed session),
	// "manual" (an operator's restart) or "".
	Restart string
}

// RestartKind classifies a recorded transition as an "auto" or "manual"
// restart or "" (see reliability.RestartKind, which the reliability report
// counts with).
func RestartKind(t store.SessionTransition) string { return reliability.RestartKind(t) }

type sessionPageData struct {
	Session     SessionView
	Currency    string
	Transitions []transitionRow
	Journal     []JournalJSON
	Open        []store.Order // non-terminal orders other than unknown
	Unknown     []store.Order // orders whose outcome is not known yet
	PnL         *chartSpec
	Averages    []IntervalAverage
	Report      *PnLReport
	// Collateral is the account's collateral value now; Limit the
	// session's allocation in the valuation currency; Share Limit as a
	// percentage of Collateral.
	Collateral, Limit *udecimal.Decimal
	Share             string
	Commands          []SessionCommand
}

// sessionPageDays is how far back the session page's PnL looks.
const sessionPageDays = 7

func (s *Server) sessionPage(w http.ResponseWriter, r *http.Request) {
	if s.deps.Sessions == nil {
		s.pageErr(w, r, unavailable("the session supervisor"))
		return
	}
	id := r.PathValue("id")
	v, err := s.deps.Sessions.Session(r.Context(), id)
	if err != nil {
		s.pageErr(w, r, err)
		return
	}
	d := sessionPageData{Session: v, Currency: s.currency(), Commands: SessionCommands}
	ts, err := s.deps.Store.SessionTransitions(r.Context(), id)
	if err != nil {
		s.pageErr(w, r, err)
		return
	}
	// Newest first, the last 200.
	for i := len(ts) - 1; i >= 0 && len(d.Transitions) < 200; i-- {
		d.Transitions = append(d.Transitions, transitionRow{SessionTransition: ts[i], Restart: RestartKind(ts[i])})
	}
	if s.deps.Journal != nil {
		evs, err := s.deps.Journal.JournalEvents(r.Context(), store.EventQuery{SessionID: id, Limit: 100})
		if err != nil {
			s.pageErr(w, r, err)
			return
		}
		for _, e := range evs {
			d.Journal = append(d.Journal, ToJournalJSON(e))
		}
	}
	orders, err := s.deps.Store.NonTerminalOrders(r.Context(), 0)
	if err != nil {
		s.pageErr(w, r, err)
		return
	}
	for _, o := range orders {
		switch {
		case o.SessionID != id:
		case o.Status == store.OrderUnknown:
			d.Unknown = append(d.Unknown, o)
		default:
			d.Open = append(d.Open, o)
		}
	}
	if s.deps.PnL != nil {
		now := s.clk.Now().UTC()
		q := PnLQuery{Scope: "session:" + id, Interval: "1h", From: now.Add(-sessionPageDays * 24 * time.Hour), To: now}
		if rep, err := s.deps.PnL.Report(r.Context(), q); err == nil {
			c := pnlChart("chart-session-pnl", rep, d.Currency)
			c.Title = "PnL of " + v.Name + ", last 7 days"
			d.PnL, d.Report = &c, &rep
			// The latest 24 interval averages, newest first.
			for i := len(rep.Averages) - 1; i >= 0 && len(d.Averages) < 24; i-- {
				d.Averages = append(d.Averages, rep.Averages[i])
			}
		} else {
			s.log.Warn("session page: pnl", "session", id, "err", err)
		}
	}
	if s.deps.Portfolio != nil {
		snap := s.deps.Portfolio.Snapshot()
		for _, a := range snap.Accounts {
			if a.Name != v.Account {
				continue
			}
			coll := a.CollateralValue
			limit := v.Allocation
			if v.AllocationKind == AllocationShare {
				limit = v.Allocation.Mul(coll)
			}
			d.Collateral, d.Limit = &coll, &limit
			if coll.IsPos() {
				if q, err := limit.Mul(udecimal.MustFromInt64(100, 0)).Div(coll); err == nil {
					d.Share = q.RoundHAZ(1).String() + "%"
				}
			}
		}
	}
	s.render(w, r, "session", v.Name, d)
}
