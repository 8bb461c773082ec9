package servertest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/auth"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// Options shape a fake desk. Zero values take the defaults named.
type Options struct {
	// Accounts on the desk; default 3.
	Accounts int
	// Sessions; default 6. Session i runs on account i mod Accounts; every
	// third is tagged desk-b, the rest desk-a; the last desk-a session is
	// also tagged "faulty" and fails its Trade All step with an alert.
	Sessions int
	// JournalEvents pre-filled in the journal; default 50.
	JournalEvents int
	// Step is how long a fake Trade All step takes; default 120 ms.
	Step time.Duration
	// Logger receives the server's logs; default discards them.
	Logger *slog.Logger
	// Config is passed to server.New (Logger and Version are filled).
	Config server.Config
}

// Env is a server over a fake desk, on a real SQLite store.
type Env struct {
	Server     *server.Server
	DB         *store.DB
	Portfolio  *portfolio.Portfolio
	Sessions   *Sessions
	TradeAll   *TradeAll
	Journal    *Journal
	PnL        *PnL
	Collateral *Collateral
	Accounts   *Accounts
	Stats      *Stats
	Backfills  *Backfills

	stopFeed context.CancelFunc
	wg       sync.WaitGroup
	closeDB  bool
	tmp      string
	shutdown []func()
}

var demoMarkets = []venue.Symbol{
	{Name: "BTCUSDT", Base: "BTC", Quote: "USDT"},
	{Name: "ETHUSDT", Base: "ETH", Quote: "USDT"},
	{Name: "BNBUSDT", Base: "BNB", Quote: "USDT"},
	{Name: "ETHBTC", Base: "ETH", Quote: "BTC"},
}

var demoPrices = map[string]string{"BTCUSDT": "65000", "ETHUSDT": "3200", "BNBUSDT": "580", "ETHBTC": "0.0492"}

// NewEnv builds a desk on the store at dbURL ("" opens a SQLite file in a
// new temporary directory, removed by Close).
func NewEnv(ctx context.Context, dbURL string, opts Options) (*Env, error) {
	if opts.Accounts <= 0 {
		opts.Accounts = 3
	}
	if opts.Sessions <= 0 {
		opts.Sessions = 6
	}
	if opts.JournalEvents <= 0 {
		opts.JournalEvents = 50
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e := &Env{}
	var tmp string
	if dbURL == "" {
		var err error
		if tmp, err = os.MkdirTemp("", "servertest-"); err != nil {
			return nil, fmt.Errorf("servertest: temp dir: %w", err)
		}
		dbURL = "sqlite:" + filepath.Join(tmp, "desk.db")
	}
	db, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		return nil, fmt.Errorf("servertest: open store: %w", err)
	}
	e.DB, e.closeDB = db, true
	p, err := portfolio.New(portfolio.Config{})
	if err != nil {
		return nil, fmt.Errorf("servertest: portfolio: %w", err)
	}
	e.Portfolio = p
	if err := p.RegisterMarkets("paper", demoMarkets); err != nil {
		return nil, fmt.Errorf("servertest: markets: %w", err)
	}
	now := time.Now().UTC()
	for sym, px := range demoPrices {
		if err := p.Tick(venue.PriceTick{Symbol: sym, Price: udecimal.MustParse(px), Time: now}); err != nil {
			return nil, fmt.Errorf("servertest: tick %s: %w", sym, err)
		}
	}
	names := make([]string, opts.Accounts)
	for i := range opts.Accounts {
		names[i] = fmt.Sprintf("acct-%04d", i+1)
		tags := []string{"desk-a"}
		if i%3 == 2 {
			tags = []string{"desk-b"}
		}
		a := store.Account{Name: names[i], Venue: "paper", Tags: tags}
		if err := db.CreateAccount(ctx, &a); err != nil {
			return nil, fmt.Errorf("servertest: account: %w", err)
		}
		id := strconv.FormatInt(a.ID, 10)
		if err := p.UpsertAccount(portfolio.Account{ID: id, Name: a.Name, Venue: a.Venue, Tags: tags}); err != nil {
			return nil, fmt.Errorf("servertest: portfolio account: %w", err)
		}
		k := udecimal.MustParse(strconv.Itoa(i%7 + 1))
		spot := []venue.Balance{
			{Wallet: venue.WalletSpot, Asset: "USDT", Free: udecimal.MustParse("25000").Mul(k)},
			{Wallet: venue.WalletSpot, Asset: "BTC", Free: udecimal.MustParse("0.25").Mul(k)},
			{Wallet: venue.WalletSpot, Asset: "ETH", Free: udecimal.MustParse("2.5")},
		}
		funding := []venue.Balance{{Wallet: venue.WalletFunding, Asset: "USDC", Free: udecimal.MustParse("5000")}, {Wallet: venue.WalletFunding, Asset: "BNB", Free: udecimal.MustParse("10")}}
		if _, err := p.ResyncWallet(id, venue.WalletSpot, spot); err != nil {
			return nil, fmt.Errorf("servertest: balances: %w", err)
		}
		if _, err := p.ResyncWallet(id, venue.WalletFunding, funding); err != nil {
			return nil, fmt.Errorf("servertest: balances: %w", err)
		}
	}
	pub := &publisher{}
	e.Sessions = newSessions(pub, db)
	lastA := -1
	for i := range opts.Sessions {
		if i%3 != 2 {
			lastA = i
		}
	}
	for i := range opts.Sessions {
		tags := []string{"desk-a"}
		if i%3 == 2 {
			tags = []string{"desk-b"}
		}
		if i == lastA && opts.Sessions > 1 {
			tags = append(tags, "faulty")
		}
		state := "running"
		if i == 1 {
			state = "stopped"
		}
		e.Sessions.Add(server.SessionView{
			ID: fmt.Sprintf("s-%04d", i+1), Name: fmt.Sprintf("grid-%04d", i+1), Strategy: "grid", Account: names[i%opts.Accounts],
			Symbols: []string{"BTCUSDT"}, Tags: tags, State: state, AllocationKind: "fixed", Allocation: udecimal.MustParse("10000"),
			PnL: udecimal.MustParse(strconv.Itoa(i*7%50) + ".5"), Params: json.RawMessage(`{"levels":10,"spacing":"0.5"}`), UpdatedAt: now,
		})
	}
	e.Journal = &Journal{pub: pub}
	for i := range opts.JournalEvents {
		sid := fmt.Sprintf("s-%04d", i%opts.Sessions+1)
		ev := store.JournalEvent{At: now.Add(time.Duration(i-opts.JournalEvents) * time.Second), Kind: []string{"intent", "ack", "fill"}[i%3], SessionID: sid,
			Symbol: "BTCUSDT", ClientOrderID: fmt.Sprintf("%s-%d", sid, i/3), Side: "buy", OrderType: "limit",
			Quantity: udecimal.MustParse("0.001"), Price: udecimal.MustParse("65000"), LatencyUS: 850}
		if i%3 == 2 {
			ev.FilledQty = ev.Quantity
		}
		e.Journal.evs = append(e.Journal.evs, ev)
		e.Journal.evs[i].Seq = int64(i + 1)
	}
	e.TradeAll = newTradeAll(pub, e.Sessions, e.Journal, db)
	if opts.Step > 0 {
		e.TradeAll.Step = opts.Step
	}
	e.PnL = &PnL{}
	e.Collateral = &Collateral{P: p, DB: db}
	e.Accounts = &Accounts{DB: db, P: p}
	e.Stats = &Stats{Sessions: e.Sessions, Journal: e.Journal}
	e.Backfills = newBackfills(db)
	cfg := opts.Config
	cfg.Logger = opts.Logger
	if cfg.Version == "" {
		cfg.Version = "test"
	}
	e.Server = server.New(cfg, server.Deps{
		Store: db, Gatherer: prometheus.NewRegistry(), Portfolio: p, Collateral: e.Collateral, Sessions: e.Sessions,
		TradeAll: e.TradeAll, Journal: e.Journal, PnL: e.PnL, Accounts: e.Accounts, Stats: e.Stats, Backfills: e.Backfills,
	})
	pub.mu.Lock()
	pub.p = e.Server
	pub.mu.Unlock()
	// Forward portfolio changes to the server, as internal/app does.
	ch, cancel := p.Subscribe()
	e.stopFeed = cancel
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for c := range ch {
			e.Server.PublishPortfolio(c)
		}
	}()
	e.tmp = tmp
	return e, nil
}

// Close stops the fakes' goroutines and closes the store.
func (e *Env) Close() {
	e.Server.Close()
	for _, f := range e.shutdown {
		f()
	}
	e.TradeAll.Close()
	e.Backfills.Close()
	e.stopFeed()
	e.wg.Wait()
	if e.closeDB {
		e.DB.Close()
	}
	if e.tmp != "" {
		os.RemoveAll(e.tmp)
	}
}

// New is NewEnv for tests: it fails tb on error and closes on cleanup.
func New(tb testing.TB, opts Options) *Env {
	tb.Helper()
	e, err := NewEnv(context.Background(), "sqlite:"+filepath.Join(tb.TempDir(), "desk.db"), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(e.Close)
	return e
}

// Token creates an API token of role and returns it in plain.
func (e *Env) Token(ctx context.Context, role auth.Role) (string, error) {
	plain, _, err := auth.CreateToken(ctx, e.DB, role, role.String()+"-test")
	return plain, err
}

// MustToken is Token that fails tb.
func (e *Env) MustToken(tb testing.TB, role auth.Role) string {
	tb.Helper()
	t, err := e.Token(context.Background(), role)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// InjectFault raises an alert as a failing venue would and publishes it.
func (e *Env) InjectFault(ctx context.Context, msg string) (store.Alert, error) {
	a := store.Alert{At: time.Now().UTC(), Severity: "critical", Source: "venue", Message: msg}
	id, err := e.DB.InsertAlert(ctx, a)
	if err != nil {
		return a, fmt.Errorf("inject fault: %w", err)
	}
	a.ID = id
	e.Server.PublishAlert(a)
	return a, nil
}

// Tick moves a market's price (and so the portfolio, which publishes).
func (e *Env) Tick(symbol, price string) error {
	return e.Portfolio.Tick(venue.PriceTick{Symbol: symbol, Price: udecimal.MustParse(price), Time: time.Now().UTC()})
}

// Serve listens on a loopback port and serves the env until Close; it
// returns the base URL.
func (e *Env) Serve() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("servertest: listen: %w", err)
	}
	srv := &http.Server{Handler: e.Server, ReadHeaderTimeout: 10 * time.Second}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		_ = srv.Serve(ln)
	}()
	e.shutdown = append(e.shutdown, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return "http://" + ln.Addr().String(), nil
}
