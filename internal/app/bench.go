package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/strategy"
	"github.com/tradeplane/tradeplane/internal/tradeall"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// TradeAllBench configures BenchTradeAll.
type TradeAllBench struct {
	Sessions     int           // sessions, one market order each per step
	Accounts     int           // paper accounts they spread over
	VenueLatency time.Duration // added to every paper request
	OrderRate    float64       // the venue's order budget, orders a second
	Concurrency  int           // steps in flight
	DBURL        string        // "" is a temporary SQLite file
	Progress     func(done, total int)
}

// TradeAllBenchResult is what BenchTradeAll measured.
type TradeAllBenchResult struct {
	Engine   string        `json:"engine"`
	Sessions int           `json:"sessions"`
	Orders   int           `json:"orders"`
	State    string        `json:"state"`
	Wall     time.Duration `json:"wall_ns"`
	Bound    time.Duration `json:"bound_ns"`
	Ratio    float64       `json:"ratio"`
	Setup    time.Duration `json:"setup_ns"`
}

func (r TradeAllBenchResult) String() string {
	return fmt.Sprintf("trade-all on %s: %d sessions, %d orders, run %s; wall %s, pacing bound %s (orders ÷ rate): wall/bound = %.3f (setup %s)",
		r.Engine, r.Sessions, r.Orders, r.State, r.Wall.Round(time.Millisecond), r.Bound.Round(time.Millisecond), r.Ratio, r.Setup.Round(time.Second))
}

// benchStrategy places one small market buy per step: the load Trade All
// paces. It is registered only when a benchmark runs.
type benchStrategy struct{ symbol string }

const benchStrategyName = "bench-market-buy"

var registerBench sync.Once

func (benchStrategy) Interval() time.Duration { return 24 * time.Hour }

func (b benchStrategy) Step(ctx context.Context, env strategy.Env) (strategy.StepResult, error) {
	_, err := env.Place(ctx, venue.OrderRequest{Symbol: b.symbol, Side: venue.Buy, Type: venue.Market, QuoteQuantity: udecimal.MustParse("10")})
	return strategy.StepResult{}, err
}

// BenchTradeAll runs one Trade All over cfg.Sessions sessions of a real
// node (journal fsynced, executor, supervisor, allocation checks) on the
// paper venue with the given latency and order budget, and reports the
// wall time against the pacing bound, orders ÷ allowed rate.
func BenchTradeAll(ctx context.Context, cfg TradeAllBench) (TradeAllBenchResult, error) {
	registerBench.Do(func() {
		strategy.Register(strategy.Info{Name: benchStrategyName, Description: "benchmark: one market buy per step",
			Factory: func(json.RawMessage) (strategy.Strategy, error) { return benchStrategy{symbol: "BTCUSDT"}, nil }})
	})
	if cfg.Accounts <= 0 {
		cfg.Accounts = 10
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 64
	}
	res := TradeAllBenchResult{Sessions: cfg.Sessions}
	dbURL := cfg.DBURL
	if dbURL == "" {
		dir, err := os.MkdirTemp("", "tradeplane-bench-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(dir)
		dbURL = "sqlite:" + filepath.Join(dir, "bench.db")
	}
	setupStart := time.Now()
	a, err := New(ctx, Config{DBURL: dbURL, Addr: "127.0.0.1:0", NoDemoLogin: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Paper:  paper.Config{Latency: cfg.VenueLatency, Prices: map[string]venue.Decimal{"BTCUSDT": udecimal.MustParse("30000")}},
		tradeAllConfig: &tradeall.Config{Concurrency: cfg.Concurrency, Pacing: tradeall.Pacing{
			Default: tradeall.VenuePacing{Venue: tradeall.Rate{PerSecond: cfg.OrderRate, Burst: 1}}}},
	})
	if err != nil {
		return res, err
	}
	defer a.closeAll()
	res.Engine = a.db.Engine()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.cancel = cancel
	var accts []store.Account
	for i := 0; i < cfg.Accounts; i++ {
		acct := &store.Account{Name: fmt.Sprintf("bench-%02d", i), Venue: "paper"}
		if err := a.db.CreateAccount(ctx, acct); err != nil {
			return res, err
		}
		if err := a.paper.Fund(acct.Name, venue.WalletSpot, "USDT", udecimal.MustParse("100000000")); err != nil {
			return res, err
		}
		accts = append(accts, *acct)
	}
	if err := a.start(rctx); err != nil {
		return res, err
	}
	for i := 0; i < cfg.Sessions; i++ {
		s, err := a.sessions.Create(ctx, session.Spec{Name: fmt.Sprintf("bench-%04d", i), Strategy: benchStrategyName,
			AccountID: accts[i%len(accts)].ID, Symbols: []string{"BTCUSDT"}, Params: json.RawMessage(`{}`), Tags: []string{"bench"}}, "bench")
		if err != nil {
			return res, err
		}
		if _, err := a.sessions.Start(ctx, s.ID, "bench"); err != nil {
			return res, err
		}
	}
	// Wait until every session runs (on PostgreSQL the cluster's leases
	// start them), then let first steps settle so the run measures only its
	// own orders.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		list, err := a.sessions.List(ctx, session.Filter{State: session.Running})
		if err != nil {
			return res, err
		}
		if len(list) >= cfg.Sessions {
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("only %d of %d bench sessions running after 2 minutes", len(list), cfg.Sessions)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second)
	res.Setup = time.Since(setupStart)
	start := time.Now()
	run, err := a.tradeall.Start(ctx, tradeall.StartRequest{Selection: tradeall.Selection{Tags: []string{"bench"}}, Actor: "bench"})
	if err != nil {
		return res, err
	}
	if cfg.Progress != nil {
		ch, err := a.tradeall.Subscribe(ctx, run.ID)
		if err == nil {
			go func() {
				for p := range ch {
					cfg.Progress(p.Counts.Done+p.Counts.Failed+p.Counts.Skipped, p.Counts.Total)
				}
			}()
		}
	}
	run, err = a.tradeall.Wait(ctx, run.ID)
	if err != nil {
		return res, err
	}
	res.Wall = time.Since(start)
	res.State = string(run.State)
	res.Orders = run.Counts.Orders
	if cfg.OrderRate > 0 {
		res.Bound = time.Duration(float64(res.Orders) / cfg.OrderRate * float64(time.Second))
		res.Ratio = float64(res.Wall) / float64(res.Bound)
	}
	return res, nil
}
