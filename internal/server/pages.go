package server

import (
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/auth"
	"github.com/tradeplane/tradeplane/internal/numfmt"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/strategy"
	"github.com/tradeplane/tradeplane/internal/venue"
)

//go:embed web/templates/*.html web/static/*
var webFiles embed.FS

var funcs = template.FuncMap{
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"tsp": func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"dec": money,
	"decp": func(d *udecimal.Decimal) string {
		if d == nil {
			return "—"
		}
		return money(*d)
	},
	"price": func(d *udecimal.Decimal) string {
		if d == nil {
			return "—"
		}
		return price(*d)
	},
	"qty": qty,
	// amount is a quantity to its asset's precision: {{amount .Quantity .Asset}}.
	"amount": numfmt.Amount,
	// pnl is a signed amount ("+12.50"), pnlclass its CSS class (pos, neg, zero).
	"pnl":      numfmt.PnL,
	"pnlclass": numfmt.Class,
	"pnlp": func(d *udecimal.Decimal) string {
		if d == nil {
			return "—"
		}
		return numfmt.PnL(*d)
	},
	"pnlclassp": func(d *udecimal.Decimal) string {
		if d == nil {
			return ""
		}
		return numfmt.Class(*d)
	},
	// blank hides a journal field that does not apply to the event (the
	// price of a drift, the fill of an intent): "0" and "" show as empty.
	"blank": func(s string) string {
		if s == "0" {
			return ""
		}
		return s
	},
	"age": func(ms int64) string {
		return (time.Duration(ms) * time.Millisecond).Round(time.Second).String()
	},
	"join":  strings.Join,
	"chart": chartHTML,
	// pct shows a ratio string ("0.9875") as a percentage ("98.75%"); "" is "—".
	"pct": func(s string) string {
		d, err := udecimal.Parse(s)
		if err != nil {
			return "—"
		}
		return numfmt.Percent(d)
	},
	// moneys shows an amount written as an exact decimal string (as the
	// reliability report carries them) as money; "" is "—".
	"moneys": func(s string) string {
		d, err := udecimal.Parse(s)
		if err != nil {
			return "—"
		}
		return money(d)
	},
	"json": func(b []byte) string { return string(b) },
}

// The dashboard shows amounts for reading, rounded half away from zero
// (package numfmt, as the CLI tables); the API and the journal keep every
// digit. app.js formats live updates the same way.

// money is an amount of the valuation currency: two decimals, thousands
// separated ("14,217.16").
func money(d udecimal.Decimal) string { return numfmt.Money(d) }

// price is a unit price: two decimals from 1 up, else up to eight
// decimals ("0.00001234").
func price(d udecimal.Decimal) string { return numfmt.Price(d) }

// qty is a quantity of an asset: at most eight decimals, trailing zeros
// dropped, thousands separated; dust that rounds to nothing reads
// "<0.00000001", never a misleading "0".
func qty(d udecimal.Decimal) string { return numfmt.Trim(d, 8) }

// parsePages parses every page with the layout; a broken template fails
// at start (and in every test), never at request time.
func parsePages() *template.Template {
	root := template.Must(template.New("").Funcs(funcs).ParseFS(webFiles, "web/templates/*.html"))
	return root
}

// view is what every page template gets.
type view struct {
	Page      string
	Title     string
	Version   string
	Principal auth.Principal
	CSRF      string
	CanTrade  bool
	IsAdmin   bool
	Data      any
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, page, title string, data any) {
	p := principalOf(r)
	v := view{Page: page, Title: title, Version: s.cfg.Version, Principal: p, CanTrade: p.Role.Allows(auth.RoleTrader), IsAdmin: p.Role.Allows(auth.RoleAdmin), Data: data}
	if l, ok := loginOf(r); ok {
		v.CSRF = l.CSRF
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.pages.ExecuteTemplate(w, page+".html", v); err != nil {
		s.log.Error("render page", "page", page, "err", err)
	}
}

func (s *Server) registerPages() {
	v := auth.RoleViewer
	page := func(pattern string, h http.HandlerFunc) { s.handle(KindPage, v, pattern, h) }
	static, _ := fs.Sub(webFiles, "web/static")
	fileServer := http.StripPrefix("/static/", http.FileServerFS(static))
	s.public("GET /static/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		fileServer.ServeHTTP(w, r)
	})
	s.public("GET /login", s.loginPage)
	s.public("POST /login", s.loginSubmit)
	page("POST /logout", s.logout)
	page("GET /{$}", s.overviewPage)
	page("GET /accounts", s.accountsPage)
	page("GET /sessions", s.sessionsPage)
	page("GET /sessions/{id}", s.sessionPage)
	page("GET /reliability", s.reliabilityPage)
	s.handle(KindAPI, v, "GET /api/v1/reliability", s.getReliability)
	page("GET /trade-all", s.tradeAllPage)
	page("GET /journal", s.journalPage)
	page("GET /pnl", s.pnlPage)
	page("GET /collateral", s.collateralPage)
	page("GET /alerts", s.alertsPage)
	page("GET /charts/equity.svg", s.chart(renderEquitySVG))
	page("GET /charts/averages.svg", s.chart(renderAveragesSVG))
	page("GET /charts/pnl.svg", s.chart(renderPnLSVG))
	s.handle(KindPage, auth.RoleTrader, "POST /jobs/{id}/cancel", s.cancelJobPage)
}

// pageErr renders an error inside the layout with the status of its class.
func (s *Server) pageErr(w http.ResponseWriter, r *http.Request, err error) {
	status, _, msg := classify(err)
	if status >= 500 {
		s.log.Error("page failed", "path", r.URL.Path, "err", err)
	}
	w.WriteHeader(status)
	s.render(w, r, "overview", "Error", map[string]any{"Error": msg})
}

type overviewData struct {
	Snapshot      *portfolio.Snapshot
	PnLToday      *udecimal.Decimal
	Alerts        []alertJSON
	SessionStates map[string]int
	Nodes         []NodeView
	// Equity is the desk's equity over the last 30 days, hourly.
	Equity *chartSpec
	// HistoryPct is how far the demo's history replay has got while it
	// runs; nil otherwise.
	HistoryPct *int
	Error      string
}

// overviewDays is how far back the overview's equity chart looks.
const overviewDays = 30

func (s *Server) overviewPage(w http.ResponseWriter, r *http.Request) {
	var d overviewData
	if s.deps.Portfolio != nil {
		snap := s.deps.Portfolio.Snapshot()
		d.Snapshot = &snap
	}
	if s.deps.DemoHistory != nil {
		if pct, done := s.deps.DemoHistory(); !done {
			d.HistoryPct = &pct
		}
	}
	if s.deps.PnL != nil {
		if v, err := s.deps.PnL.Today(r.Context()); err == nil {
			d.PnLToday = &v
		} else {
			s.log.Warn("overview: pnl today", "err", err)
		}
		now := s.clk.Now().UTC()
		q := PnLQuery{Scope: "desk", Interval: "1h", From: now.Add(-overviewDays * 24 * time.Hour), To: now}
		if rep, err := s.deps.PnL.Report(r.Context(), q); err == nil {
			c := equityChart("chart-overview-equity", rep, s.currency())
			c.Title = fmt.Sprintf("Desk equity, last %d days", overviewDays)
			d.Equity = &c
		} else {
			s.log.Warn("overview: equity", "err", err)
		}
	}
	if as, err := s.deps.Store.Alerts(r.Context(), 0, 10); err == nil {
		for _, a := range as {
			d.Alerts = append(d.Alerts, toAlertJSON(a))
		}
	}
	if s.deps.Sessions != nil {
		if ss, err := s.deps.Sessions.Sessions(r.Context(), SessionQuery{}); err == nil {
			d.SessionStates = map[string]int{}
			for _, v := range ss {
				d.SessionStates[v.State]++
			}
		}
	}
	if s.deps.Nodes != nil {
		if ns, err := s.deps.Nodes.Nodes(r.Context()); err == nil {
			d.Nodes = ns
		} else {
			s.log.Warn("overview: nodes", "err", err)
		}
	}
	s.render(w, r, "overview", "Overview", d)
}

type accountsData struct {
	Accounts []AccountView
	Snapshot *portfolio.Snapshot
	Names    map[string]string
	Venues   []venue.Kind // the registered venues an account can be on
}

func (s *Server) accountsPage(w http.ResponseWriter, r *http.Request) {
	accts, err := s.deps.Store.Accounts(r.Context())
	if err != nil {
		s.pageErr(w, r, err)
		return
	}
	d := accountsData{Names: map[string]string{}, Venues: venue.Kinds()}
	for _, a := range accts {
		d.Accounts = append(d.Accounts, toAccountJSON(a))
	}
	if s.deps.Portfolio != nil {
		snap := s.deps.Portfolio.Snapshot()
		d.Snapshot = &snap
	}
	s.render(w, r, "accounts", "Accounts and wallets", d)
}

func (s *Server) sessionViews(r *http.Request, q SessionQuery) ([]SessionView, error) {
	if s.deps.Sessions == nil {
		return nil, unavailable("the session supervisor")
	}
	return s.deps.Sessions.Sessions(r.Context(), q)
}

func (s *Server) sessionsPage(w http.ResponseWriter, r *http.Request) {
	ss, err := s.sessionViews(r, SessionQuery{Tag: r.URL.Query().Get("tag")})
	if err != nil {
		s.pageErr(w, r, err)
		return
	}
	d := map[string]any{"Sessions": ss, "Commands": SessionCommands, "Currency": s.currency()}
	if p := principalOf(r); p.Role.Allows(auth.RoleTrader) {
		// The new-session form offers the desk's accounts and the known
		// strategies (the built-in ones and any a session runs).
		accts, err := s.deps.Store.Accounts(r.Context())
		if err != nil {
			s.pageErr(w, r, err)
			return
		}
		names := make([]string, 0, len(accts))
		for _, a := range accts {
			names = append(names, a.Name)
		}
		strategies := strategy.Names()
		for _, v := range ss {
			if !slices.Contains(strategies, v.Strategy) {
				strategies = append(strategies, v.Strategy)
			}
		}
		d["Accounts"], d["Strategies"] = names, strategies
	}
	s.render(w, r, "sessions", "Sessions", d)
}

// currency is the valuation currency amounts are shown in, "" when the
// node has no portfolio.
func (s *Server) currency() string {
	if s.deps.Portfolio == nil {
		return ""
	}
	return s.deps.Portfolio.Snapshot().Currency
}

func (s *Server) tradeAllPage(w http.ResponseWriter, r *http.Request) {
	ss, err := s.sessionViews(r, SessionQuery{})
	if err != nil {
		s.pageErr(w, r, err)
		return
	}
	var tags []string
	for _, v := range ss {
		for _, t := range v.Tags {
			if !slices.Contains(tags, t) {
				tags = append(tags, t)
			}
		}
	}
	slices.Sort(tags)
	var accounts, venues []string
	if s.deps.Store != nil {
		if accts, err := s.deps.Store.Accounts(r.Context()); err == nil {
			for _, a := range accts {
				accounts = append(accounts, a.Name)
				if !slices.Contains(venues, a.Venue) {
					venues = append(venues, a.Venue)
				}
			}
		}
	}
	slices.Sort(accounts)
	slices.Sort(venues)
	s.render(w, r, "trade-all", "Trade All", map[string]any{"Sessions": ss, "Tags": tags, "TagRows": min(max(len(tags), 1), 6),
		"Accounts": accounts, "Venues": venues})
}

func (s *Server) journalPage(w http.ResponseWriter, r *http.Request) {
	if s.deps.Journal == nil {
		s.pageErr(w, r, unavailable("the journal"))
		return
	}
	eq, err := journalQuery(r)
	if err != nil {
		s.pageErr(w, r, err)
		return
	}
	eq.Limit = 200
	evs, err := s.deps.Journal.JournalEvents(r.Context(), eq)
	if err != nil {
		s.pageErr(w, r, err)
		return
	}
	out := make([]JournalJSON, 0, len(evs))
	for _, e := range evs {
		out = append(out, ToJournalJSON(e))
	}
	q := r.URL.Query()
	s.render(w, r, "journal", "Journal", map[string]any{"Events": out, "Session": q.Get("session"), "Kind": q.Get("kind"), "Failures": eq.FailuresOnly})
}

func (s *Server) pnlPage(w http.ResponseWriter, r *http.Request) {
	if s.deps.PnL == nil {
		s.pageErr(w, r, unavailable("PnL"))
		return
	}
	pq, err := s.pnlQuery(r)
	if err != nil {
		s.pageErr(w, r, err)
		return
	}
	rep, err := s.pnlReport(r.Context(), pq)
	if err != nil {
		s.pageErr(w, r, err)
		return
	}
	qs := "scope=" + urlQueryEscape(pq.Scope) + "&interval=" + pq.Interval + "&from=" + urlQueryEscape(pq.From.Format(time.RFC3339)) + "&to=" + urlQueryEscape(pq.To.Format(time.RFC3339))
	cur := s.currency()
	s.render(w, r, "pnl", "PnL", map[string]any{"Report": rep, "Query": qs, "Currency": cur, "Jobs": s.activeJobs(r),
		"EquityChart": equityChart("chart-equity", rep, cur), "AveragesChart": averagesChart("chart-averages", rep, cur)})
}

func (s *Server) collateralPage(w http.ResponseWriter, r *http.Request) {
	if s.deps.Collateral == nil {
		s.pageErr(w, r, unavailable("collateral"))
		return
	}
	rs, err := s.deps.Collateral.Ratios(r.Context(), "")
	if err != nil {
		s.pageErr(w, r, err)
		return
	}
	s.render(w, r, "collateral", "Collateral ratios", map[string]any{"Ratios": rs})
}

func (s *Server) alertsPage(w http.ResponseWriter, r *http.Request) {
	as, err := s.deps.Store.Alerts(r.Context(), 0, 200)
	if err != nil {
		s.pageErr(w, r, err)
		return
	}
	out := make([]alertJSON, 0, len(as))
	for _, a := range as {
		out = append(out, toAlertJSON(a))
	}
	// Deliveries not yet taken by their sink (webhook, Telegram): an outage
	// shows here while the outbox retries.
	outbox, err := s.deps.Store.AlertOutbox(r.Context())
	if err != nil {
		s.log.Warn("alert outbox", "err", err)
	}
	s.render(w, r, "alerts", "Alerts", map[string]any{"Alerts": out, "Outbox": outbox})
}

var _ = store.Alert{}
