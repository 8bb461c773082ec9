// Package app assembles tradeplane's parts into one running node: it opens
// the store, builds the venues, journal, portfolio, session supervisor, Trade
// All runner and cluster membership, and serves them over HTTP. cmd/tradeplane
// turns flags into a Config; tests start a real node through the same New and
// Run.
//
// Facts flow one way: venue → journal/store → portfolio/pnl → server. The
// adapters in this package translate between the services' own types and
// the server's small consumed interfaces; no service imports another's
// internals.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/alert"
	"github.com/tradeplane/tradeplane/internal/backfill"
	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/cluster"
	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/livefeed"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/secrets"
	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	_ "github.com/tradeplane/tradeplane/internal/strategy/builtin" // registers dca, grid, rebalance, twap
	"github.com/tradeplane/tradeplane/internal/tradeall"
	"github.com/tradeplane/tradeplane/internal/venue"
	_ "github.com/tradeplane/tradeplane/internal/venue/builtin" // registers binance, bybit, paper
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// Config is everything a node needs; cmd fills it from flags and env.
type Config struct {
	Addr      string
	DBURL     string
	Demo      bool
	DataDir   string // kline CSVs for the demo feed; "" or missing → the embedded klines (package demodata)
	MasterKey []byte
	TLSCert   string
	TLSKey    string
	Version   string
	Logger    *slog.Logger
	// NodeID names this node in a cluster; default host-pid.
	NodeID string
	// LeaseTTL is the session lease TTL on PostgreSQL (default 15 s).
	LeaseTTL time.Duration
	// Currency is the valuation currency of the portfolio (default USDT).
	Currency string
	// Webhooks receive every alert as JSON; Telegram, when set, too.
	Webhooks []alert.Webhook
	Telegram *alert.Telegram
	// Paper configures the simulated exchange (faults, latency); the demo
	// sets partial fills.
	Paper paper.Config
	// ReconcileEvery settles non-terminal orders on a schedule (default 30 s).
	ReconcileEvery time.Duration
	// UnknownEvery asks the venue again about orders whose outcome is
	// unknown, and alerts on their age (default 5 s).
	UnknownEvery time.Duration
	// RecvWindow is how long a venue accepts a signed order request after
	// its timestamp (default 5 s); BinanceLag how long Binance's views may
	// lag what it accepted (default 90 s; negative: none, for a venue that
	// shows an order as soon as it accepts it). Together they decide when an
	// order that is not found certainly never executed.
	RecvWindow time.Duration
	BinanceLag time.Duration
	// ConsistencyLag sets that lag per venue name ("bybit": fakes that show
	// an order at once set it negative, as tests do with BinanceLag); a
	// venue not named keeps journal.DefaultConsistencyLag. BinanceLag, when
	// set, wins for "binance" and "binance-futures".
	ConsistencyLag map[string]time.Duration
	// FuturesLeverage and FuturesMarginType are set per symbol on every
	// binance-futures account before it first trades the symbol.
	FuturesLeverage   map[string]int
	FuturesMarginType map[string]venue.MarginMode
	// AuditEvery runs the journal audit of every account on a schedule
	// (default hourly; negative: never) over the last AuditWindow (default
	// 24 h), alerting on any difference with the venue.
	AuditEvery  time.Duration
	AuditWindow time.Duration
	// AuditConfirm is how long a scheduled audit waits to confirm a
	// difference with a second audit (orders in flight differ for a
	// moment); default two ReconcileEvery, at most AuditEvery.
	AuditConfirm time.Duration
	// ResyncEvery and SnapshotEvery tune the balance feed (default 1 min).
	ResyncEvery   time.Duration
	SnapshotEvery time.Duration
	// NoDemoLogin skips printing the demo's one-time login (tests).
	NoDemoLogin bool
	// PublicURL is where users reach the node (behind a proxy that may
	// terminate TLS); an https URL marks the login cookie Secure.
	PublicURL string
	// MetricsToken, when set, is the bearer token /metrics requires.
	MetricsToken string

	// tradeAllConfig overrides the Trade All runner's settings (benchmarks).
	tradeAllConfig *tradeall.Config
}

// App is a node.
type App struct {
	haircuts haircutCache // venues' own collateral haircuts (haircuts.go)
	cfg      Config
	log      *slog.Logger
	clk      clock.Clock
	db       *store.DB
	registry *prometheus.Registry
	nodeID   string

	paper    *paper.Exchange
	factory  VenueFactory
	pf       *portfolio.Portfolio
	alerts   *alert.Service
	jmetrics *journal.Metrics
	journal  *journal.Journal
	feed     *livefeed.Feed
	sessions *session.Manager
	tradeall *tradeall.Runner
	steps    *tradeall.SessionStepper // Trade All's steps; its Placer wraps every session's orders
	jobs     *backfill.Jobs
	cluster  *cluster.Cluster
	tracker  *tracker
	srv      *server.Server
	fan      *fanout // live events to and from the other nodes; nil on SQLite

	mu       sync.Mutex
	accounts map[int64]*accountRT

	demoFirst map[string]venue.Decimal // first demo price per symbol
	// demoHistoryPct is how far the demo's history replay has got (0-100).
	demoHistoryPct  atomic.Int32
	demoHistoryDone atomic.Bool // written, already there, or failed
	started         time.Time   // when New built this node
	health          health      // what the health checks read (health.go)

	leaseChanges *prometheus.CounterVec // opsmetrics.go

	bg sync.WaitGroup
	// replays runs replay jobs (replay.go).
	replays *replays
	cancel  context.CancelFunc
}

// accountRT is one account's live handles.
type accountRT struct {
	acct store.Account
	v    venue.Venue
	x    *journal.Executor
}

// DefaultDataDir finds the shared market data next to the checkout, where
// the demo replays it from.
func DefaultDataDir() string {
	for _, d := range []string{"../shared/data", "shared/data"} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			abs, _ := filepath.Abs(d)
			return abs
		}
	}
	return ""
}

// New opens the store (migrating it) and builds the node; nothing trades
// until Run.
func New(ctx context.Context, cfg Config) (*App, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	db, err := store.Open(ctx, cfg.DBURL, store.Options{})
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log, clk: clock.Real{}, db: db, accounts: map[int64]*accountRT{}, started: time.Now()}
	if err := a.build(ctx); err != nil {
		a.closeAll()
		return nil, err
	}
	return a, nil
}

func (a *App) build(ctx context.Context) error {
	cfg := a.cfg
	a.nodeID = cfg.NodeID
	if a.nodeID == "" {
		host, _ := os.Hostname()
		a.nodeID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	a.registry = prometheus.NewRegistry()
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := a.registerOpsMetrics(); err != nil { // opsmetrics.go
		return err
	}

	// Venues.
	pcfg := cfg.Paper
	if cfg.Demo && pcfg.FillShare.IsZero() {
		// Resting orders fill in parts, as on a real book.
		pcfg.FillShare = udecimal.MustParse("0.5")
	}
	ex, err := paper.New(pcfg)
	if err != nil {
		return fmt.Errorf("paper exchange: %w", err)
	}
	a.paper = ex
	a.factory = VenueFactory{Paper: ex, OnBan: a.onBan, Lookup: a.db.Account,
		FuturesLeverage: cfg.FuturesLeverage, FuturesMarginType: cfg.FuturesMarginType,
		KeyedIn: func(kind, apiKey string) bool {
			accts, err := a.db.Accounts(context.Background())
			return err == nil && keyedIn(accts, kind, apiKey)
		}, RecvWindow: cfg.RecvWindow}
	if len(cfg.MasterKey) > 0 {
		box, err := secrets.New(cfg.MasterKey)
		if err != nil {
			return err
		}
		a.factory.Box = box
	}

	// Portfolio with the stored collateral ratios.
	a.pf, err = portfolio.New(portfolio.Config{Clock: a.clk, Currency: cfg.Currency})
	if err != nil {
		return err
	}
	if err := a.pf.RegisterMarkets("paper", ex.Symbols()); err != nil {
		return err
	}
	if err := RestoreCollateral(ctx, a.db, a.pf); err != nil {
		return fmt.Errorf("restore collateral ratios: %w", err)
	}

	// Alerts, journal, metrics.
	a.alerts = alert.New(alert.Options{
		Store: a.db, Logger: a.log, Clock: a.clk, Webhooks: cfg.Webhooks, Telegram: cfg.Telegram, Registerer: a.registry,
		OnAlert: func(al alert.Alert) {
			if a.srv != nil {
				a.publishAlert(store.Alert{ID: al.ID, At: al.At, Severity: string(al.Severity), Source: al.Source,
					SessionID: al.SessionID, AccountID: al.AccountID, Message: al.Message})
			}
		},
	})
	if a.jmetrics, err = journal.NewMetrics(a.registry); err != nil {
		return err
	}
	a.tracker = newTracker(a.pf, a.log)
	if err := a.tracker.load(ctx, a.db); err != nil {
		return fmt.Errorf("load session exposure: %w", err)
	}
	a.journal = journal.Open(a.db, journal.Options{
		Clock: a.clk, Node: a.nodeID, Logger: a.log, Metrics: a.jmetrics,
		OnEvent: a.onJournalEvent,
		OnWriteError: func(err error) {
			a.alerts.Raise(context.Background(), alert.Alert{Severity: alert.Critical, Source: "journal",
				Message: "journal write failed: " + err.Error()})
		},
	})

	// Balance feed.
	a.feed = livefeed.New(livefeed.Config{
		Portfolio: a.pf, Store: a.db, Clock: a.clk, Log: a.log,
		ResyncEvery: cfg.ResyncEvery, SnapshotEvery: cfg.SnapshotEvery,
		OnDrift: a.onDrift, OnError: a.onFeedError, OnTrade: a.onStreamTrade,
		SettleOrders: a.reconcileAccount, // after a user stream reconnect, not 30 s later
	})

	// Cluster membership on PostgreSQL; one node owns everything on SQLite.
	var owns func(string) bool
	var guard func(string) (int64, error)
	if a.db.Engine() == "postgres" {
		a.cluster, err = cluster.New(cluster.Config{
			Store: a.db, NodeID: a.nodeID, Addr: cfg.Addr, TTL: cfg.LeaseTTL, Clock: a.clk, Log: a.log,
			Sessions: func(ctx context.Context) ([]string, error) { return a.sessions.Desired(ctx) },
			Handler:  clusterHandler{a},
		})
		if err != nil {
			return err
		}
		owns = func(id string) bool { _, err := a.cluster.Guard(id); return err == nil }
		guard = a.cluster.Guard
		a.fan = newFanout(a)
	}

	// Sessions.
	a.sessions, err = session.New(session.Options{
		Store:         a.db,
		Accounts:      session.AccountsFunc(a.tradeAllAccount), // sessionAccount; a rejection aborts a Trade All step
		Clock:         a.clk,
		ClientOrderID: journal.ClientOrderID,
		Owns:          owns,
		Guard:         guard,
		Reconcile:     a.reconcileAccount,
		Alerter:       sessionAlerter{a},
		OnFailure:     a.onSessionFailure,
		OnStep:        a.onStep,
		Collateral:    a.collateralOf,
		Allocations:   a.allocationRule,
		Registerer:    a.registry,
		Logger:        a.log,
	})
	if err != nil {
		return err
	}

	// Trade All.
	tcfg := tradeall.Config{Pacing: tradeall.DefaultPacing()}
	if cfg.tradeAllConfig != nil {
		tcfg = *cfg.tradeAllConfig
	}
	tcfg.Clock, tcfg.Registerer, tcfg.Logger = a.clk, a.registry, a.log
	a.shareTradeAll(&tcfg) // several nodes: each steps the sessions it owns
	if a.steps, err = a.newTradeAllStepper(); err != nil {
		return err
	}
	a.tradeall, err = tradeall.New(a.db, tradeallSessions{a}, a.steps, tcfg)
	if err != nil {
		return err
	}

	// PnL backfills run as durable jobs on the account's own venue client,
	// so they share its rate limiter with trading. With several nodes each
	// job is held by the node running it like a session lease, and taken
	// over by another once that node's hold expires.
	var jobTTL time.Duration
	if a.cluster != nil {
		if jobTTL = cfg.LeaseTTL; jobTTL <= 0 {
			jobTTL = 15 * time.Second // the cluster's default
		}
	}
	a.jobs = backfill.NewJobs(backfill.JobsConfig{DB: a.db, Clock: a.clk, Log: a.log, Owner: a.nodeID, LeaseTTL: jobTTL,
		Venue: func(ctx context.Context, acct store.Account) (venue.Venue, error) {
			rt, err := a.account(acct.ID)
			if err != nil {
				return nil, err
			}
			return rt.v, nil
		}})

	a.replays = newReplays(a)
	a.srv = server.New(server.Config{Version: cfg.Version, Logger: a.log, NodeID: a.nodeID, MetricsToken: cfg.MetricsToken,
		SecureCookies: cfg.TLSCert != "" || strings.HasPrefix(strings.ToLower(cfg.PublicURL), "https://")}, server.Deps{
		Store: a.db,
		DemoHistory: func() (int, bool) {
			if !cfg.Demo {
				return 0, true
			}
			return int(a.demoHistoryPct.Load()), a.demoHistoryDone.Load()
		},
		Gatherer:   a.registry,
		Portfolio:  a.pf,
		Collateral: collateralAdapter{a},
		Sessions:   sessionsAdapter{a},
		TradeAll:   tradeAllAdapter{a},
		Journal:    a.db,
		Auditor:    auditAdapter{a},
		PnL:        pnlAdapter{a},
		Accounts:   accountsAdapter{a},
		Nodes:      nodesAdapter{a},
		Stats:      statsAdapter{a},
		Backfills:  backfillAdapter{a},
		Replays:    replayAdapter{a},
		// Every long job kind registers its stopper here.
		JobStoppers: map[string]server.JobStopper{backfill.JobKind: a.jobs, replayJobKind: a.replays},
	})
	return nil
}

// Handler is the node's HTTP handler (for in-process tests).
func (a *App) Handler() http.Handler { return a.srv }

// Run starts the node's loops, serves until ctx ends, then shuts down
// gracefully. ready is called with the base URL once the listener is open.
func (a *App) Run(ctx context.Context, ready func(url string)) error {
	defer a.closeAll()
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another tradeplane running? pick another --addr)", a.cfg.Addr, err)
	}
	scheme := "http"
	srv := &http.Server{
		Handler:           a.srv,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	if a.cfg.TLSCert != "" || a.cfg.TLSKey != "" {
		cert, err := tls.LoadX509KeyPair(a.cfg.TLSCert, a.cfg.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("load TLS certificate: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, srv.TLSConfig)
		scheme = "https"
	} else if host, _, _ := net.SplitHostPort(a.cfg.Addr); !isLoopback(host) {
		a.log.Warn("listening on a non-loopback address without TLS: tokens and logins travel in clear; set --tls-cert and --tls-key", "addr", a.cfg.Addr)
	}
	url := scheme + "://" + ln.Addr().String()

	rctx, cancel := context.WithCancel(ctx)
	a.cancel = cancel
	if err := a.start(rctx); err != nil {
		cancel()
		ln.Close()
		if ctx.Err() != nil {
			// Asked to stop (SIGINT, SIGTERM) while starting: a stop, not a
			// failure.
			a.log.Info("stopped during start-up", "cause", err)
			return nil
		}
		return err
	}
	a.health.serving.Store(true)
	defer a.health.serving.Store(false)
	a.log.Info("serving", "url", url, "db", a.db.Engine(), "node", a.nodeID, "demo", a.cfg.Demo)
	if a.cfg.Demo && !a.cfg.NoDemoLogin {
		if login, token, err := a.srv.DemoLogin(ctx, url); err == nil {
			fmt.Fprintf(os.Stdout, "\n  Demo dashboard: %s\n  (one-time login link, valid 15 minutes)\n  API token for the CLI: export TRADEPLANE_SERVER=%s TRADEPLANE_TOKEN=%s\n\n", login, url, token)
		} else {
			a.log.Warn("demo login", "err", err)
		}
	}
	if ready != nil {
		ready(url)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		cancel()
		return err
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	a.srv.Close() // ends event streams so Shutdown need not wait for them
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	a.log.Info("stopped")
	return nil
}

// start opens every account, reconciles, resumes sessions and runs, and
// starts the background loops.
func (a *App) start(ctx context.Context) error {
	if a.cfg.Demo {
		if err := a.startDemo(ctx); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	accts, err := a.db.Accounts(ctx)
	if err != nil {
		return err
	}
	for _, acct := range accts {
		if err := a.addAccount(ctx, acct); err != nil {
			a.alerts.Raise(ctx, alert.Alert{Severity: alert.Critical, Source: "venue", AccountID: acct.ID,
				Message: fmt.Sprintf("account %s cannot be opened: %v", acct.Name, err)})
		}
	}
	a.goService(ctx, "market data feed", func() { a.feed.Run(ctx) })
	a.goService(ctx, "reconcile loop", func() { a.reconcileLoop(ctx) })
	a.goService(ctx, "unknown-outcome loop", func() { a.unknownLoop(ctx) })
	a.goLoop(func() { a.auditLoop(ctx) })
	a.goLoop(func() { a.perpLoop(ctx) })
	a.goLoop(func() { a.publishPortfolio(ctx) })
	if a.fan != nil {
		if err := a.fan.start(ctx, a.goLoop); err != nil {
			return err
		}
	}
	if a.cluster != nil {
		// Leases decide which sessions run here; Boot adopts none itself.
		if err := a.sessions.Boot(ctx); err != nil {
			return err
		}
		a.goService(ctx, "cluster heartbeat", func() { a.cluster.Run(ctx) })
		a.goService(ctx, "node watch", func() { a.nodeWatchLoop(ctx) })
	} else if err := a.sessions.Boot(ctx); err != nil {
		return err
	}
	if a.cfg.Demo {
		if err := a.seedDemoSessions(ctx); err != nil {
			return fmt.Errorf("demo sessions: %w", err)
		}
		// History fills in the background: /healthz answers meanwhile.
		a.goLoop(func() {
			if err := a.fillDemoHistory(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("demo history not written", "err", err)
			}
		})
	}
	if err := a.listenTradeAll(ctx); err != nil {
		return err
	}
	if _, err := a.tradeall.Resume(ctx); err != nil {
		a.log.Warn("resume trade-all runs", "err", err)
	}
	// Resume also keeps claiming, on PostgreSQL, the jobs of nodes that die.
	if _, err := a.jobs.Resume(ctx); err != nil {
		a.log.Warn("resume backfill jobs", "err", err)
	}
	return nil
}

func (a *App) goLoop(fn func()) {
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		fn()
	}()
}

// addAccount opens an account's venue and executor and starts feeding its
// balances.
func (a *App) addAccount(ctx context.Context, acct store.Account) error {
	v, err := a.factory.Open(acct)
	if err != nil {
		return err
	}
	lag := a.cfg.ConsistencyLag[v.Name()] // 0: the venue's default; negative: none
	if (v.Name() == "binance" || v.Name() == "binance-futures") && a.cfg.BinanceLag != 0 {
		lag = a.cfg.BinanceLag
	}
	x := journal.NewExecutor(a.journal, v, acct.ID, journal.ExecutorOptions{
		Checker: allocationChecker{a}, Clock: a.clk, Alerter: a.alerts, Metrics: a.jmetrics, Logger: a.log,
		RecvWindow: a.cfg.RecvWindow, ConsistencyLag: lag,
	})
	a.mu.Lock()
	a.accounts[acct.ID] = &accountRT{acct: acct, v: v, x: x}
	a.mu.Unlock()
	if err := a.feed.AddAccount(ctx, acct, v); err != nil {
		return err
	}
	return nil
}

func (a *App) account(id int64) (*accountRT, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rt, ok := a.accounts[id]
	if !ok {
		return nil, fmt.Errorf("account %d is not open on this node: %w", id, store.ErrNotFound)
	}
	return rt, nil
}

func (a *App) reconcileAccount(ctx context.Context, accountID int64) error {
	rt, err := a.account(accountID)
	if err != nil {
		return err
	}
	_, err = rt.x.Reconcile(ctx)
	return err
}

// reconcileLoop settles every non-terminal order on a schedule.
func (a *App) reconcileLoop(ctx context.Context) {
	a.every(ctx, a.cfg.ReconcileEvery, 30*time.Second, func() {
		for _, rt := range a.openAccounts() {
			if _, err := rt.x.Reconcile(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("scheduled reconcile failed", "account", rt.acct.Name, "err", err)
			}
		}
	})
}

// unknownLoop asks the venues about orders whose outcome is unknown every
// few seconds, so each is settled as soon as its answer is certain, and
// raises the alerts of those that stay unknown.
func (a *App) unknownLoop(ctx context.Context) {
	a.every(ctx, a.cfg.UnknownEvery, 5*time.Second, func() {
		for _, rt := range a.openAccounts() {
			if _, err := rt.x.SettleUnknown(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("settling unknown orders failed", "account", rt.acct.Name, "err", err)
			}
		}
	})
}

// every runs fn each interval (def when interval is not positive) on the
// node's clock until ctx ends.
func (a *App) every(ctx context.Context, interval, def time.Duration, fn func()) {
	if interval <= 0 {
		interval = def
	}
	t := a.clk.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		fn()
	}
}

// openAccounts is a snapshot of the accounts this node has open.
func (a *App) openAccounts() []*accountRT {
	a.mu.Lock()
	defer a.mu.Unlock()
	rts := make([]*accountRT, 0, len(a.accounts))
	for _, rt := range a.accounts {
		rts = append(rts, rt)
	}
	return rts
}

// publishPortfolio streams coalesced portfolio changes to the server.
func (a *App) publishPortfolio(ctx context.Context) {
	ch, cancel := a.pf.Subscribe()
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return
		case c, ok := <-ch:
			if !ok {
				return
			}
			a.srv.PublishPortfolio(c)
			// At most a few updates a second reach browsers.
			if clock.Sleep(ctx, a.clk, 250*time.Millisecond) != nil {
				return
			}
		}
	}
}

func (a *App) closeAll() {
	if a.cancel != nil {
		a.cancel()
	}
	if a.tradeall != nil {
		a.tradeall.Close()
	}
	if a.jobs != nil {
		a.jobs.Close()
	}
	if a.sessions != nil {
		a.sessions.Close()
	}
	if a.replays != nil {
		a.replays.close()
	}
	a.bg.Wait()
	if a.journal != nil {
		a.journal.Close()
	}
	if a.alerts != nil {
		a.alerts.Close()
	}
	if a.srv != nil {
		a.srv.Close()
	}
	if a.db != nil {
		a.db.Close()
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
