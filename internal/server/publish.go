package server

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/tradeplane/tradeplane/internal/auth"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/store"
)

// The Publish methods feed the server's event streams. They encode once,
// never block and are safe to call from any goroutine; internal/app calls
// them from the services' notifications. Each becomes one SSE event named
// after its topic on /api/v1/<topic>/stream and /api/v1/events.

// PublishPortfolio streams a portfolio change (value and collateral value
// at a version, event "portfolio") and schedules the coalesced group
// totals (event "portfolio-groups", at most one per group kind every
// PortfolioGroupsEvery; see groupPublisher). Clients read /api/v1/portfolio
// for the lines.
func (s *Server) PublishPortfolio(c portfolio.Change) {
	s.hub.publish(TopicPortfolio, string(TopicPortfolio), "", c)
	s.snaps.groups.kick(s)
}

// PublishJournal streams one appended journal event.
func (s *Server) PublishJournal(e store.JournalEvent) {
	s.hub.publish(TopicJournal, string(TopicJournal), e.SessionID, ToJournalJSON(e))
}

// PublishTradeAll streams a Trade All run's progress; call it whenever a
// result changes and when the run ends, with the whole run.
func (s *Server) PublishTradeAll(run TradeAllRun) {
	s.hub.publish(TopicTradeAll, string(TopicTradeAll), run.ID, run)
}

// PublishAlert streams a newly stored alert (with its store id).
func (s *Server) PublishAlert(a store.Alert) {
	s.hub.publish(TopicAlerts, "alert", strconv.FormatInt(a.ID, 10), toAlertJSON(a))
}

// PublishSession streams a session's new state.
func (s *Server) PublishSession(v SessionView) {
	s.hub.publish(TopicSessions, string(TopicSessions), v.ID, v)
}

// Subscribers is the number of open event streams (for metrics and tests).
func (s *Server) Subscribers() int { return s.hub.count() }

// portfolioChange is the current totals in the shape of a published change:
// from the incremental totals when the portfolio keeps them (O(groups)),
// else from a snapshot.
func (s *Server) portfolioChange() portfolio.Change {
	if gr, ok := s.deps.Portfolio.(groupReader); ok {
		b := gr.GroupsSince(0)
		return portfolio.Change{Version: b.Version, Value: b.Total.Value, CollateralValue: b.Total.CollateralValue}
	}
	snap := s.deps.Portfolio.Snapshot()
	return portfolio.Change{Version: snap.Version, Value: snap.Total.Value, CollateralValue: snap.Total.CollateralValue}
}

// DemoLogin creates an admin API token named "demo" and a one-time login
// link for it: `serve --demo` prints both so a newcomer can open the
// dashboard (the link works once, for 15 minutes) and use the API or CLI
// (the token, until revoked). baseURL is the server's, e.g.
// http://127.0.0.1:8080.
func (s *Server) DemoLogin(ctx context.Context, baseURL string) (loginURL, token string, err error) {
	plain, t, err := auth.CreateToken(ctx, s.deps.Store, auth.RoleAdmin, "demo")
	if err != nil {
		return "", "", fmt.Errorf("demo login: %w", err)
	}
	code := s.logins.NewTicket(auth.Principal{TokenID: t.ID, Name: t.Name, Role: auth.RoleAdmin})
	return baseURL + "/login?ticket=" + url.QueryEscape(code), plain, nil
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
