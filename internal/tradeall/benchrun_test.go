package tradeall

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// BenchConfig configures Bench. Zero fields take the defaults in brackets.
type BenchConfig struct {
	Sessions     int           // sessions, one order each [1000]
	Accounts     int           // paper accounts the sessions spread over [10]
	VenueLatency time.Duration // added to every paper request [20ms]
	OrderRate    float64       // the venue's order budget, orders a second [200]
	AccountRate  float64       // each account's budget; 0 is unlimited
	Burst        int           // bucket size of both budgets [1]
	Concurrency  int           // steps in flight [64]
	// DB is the store URL; empty means a fresh SQLite file in a temporary
	// directory, removed afterwards.
	DB string
	// NoJournal turns off the durable journal stand-in (one synchronous
	// store insert per order before it is sent).
	NoJournal bool
}

// BenchResult is what Bench measured. Bound is the pacing bound: orders ÷
// the allowed order rate (the tighter of the venue's and the busiest
// account's); Ratio is Wall ÷ Bound.
type BenchResult struct {
	Engine   string        `json:"engine"`
	Sessions int           `json:"sessions"`
	Orders   int           `json:"orders"`
	Done     int           `json:"done"`
	Failed   int           `json:"failed"`
	State    RunState      `json:"state"`
	Journal  bool          `json:"journal"`
	Wall     time.Duration `json:"wall"`
	Bound    time.Duration `json:"bound"`
	Ratio    float64       `json:"ratio"`
	// MaxSends is the most times one client order id was sent (must be 1).
	MaxSends int `json:"max_sends"`
}

// String is a one-line summary for the CLI and logs.
func (r BenchResult) String() string {
	return fmt.Sprintf("%d sessions, %d orders (%d done, %d failed, run %s) on %s, journal %v: wall %s, pacing bound %s, ratio %.3f, max sends per client id %d",
		r.Sessions, r.Orders, r.Done, r.Failed, r.State, r.Engine, r.Journal, r.Wall.Round(time.Millisecond), r.Bound.Round(time.Millisecond), r.Ratio, r.MaxSends)
}

// Bench runs one Trade All run over cfg.Sessions sessions on the paper
// venue with the configured latency and order budget and measures its wall
// time, from Start to the run's end, against the pacing bound. The trade
// step is the paper stand-in for session + journal: one market order per
// session, its intent made durable (a synchronous insert into the store's
// audit log, fsynced on SQLite) before it is sent.
func Bench(ctx context.Context, cfg BenchConfig) (BenchResult, error) {
	if cfg.Sessions <= 0 {
		cfg.Sessions = 1000
	}
	if cfg.Accounts <= 0 {
		cfg.Accounts = 10
	}
	if cfg.VenueLatency == 0 {
		cfg.VenueLatency = 20 * time.Millisecond
	}
	if cfg.OrderRate <= 0 {
		cfg.OrderRate = 200
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 1
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 64
	}
	url := cfg.DB
	if url == "" {
		dir, err := os.MkdirTemp("", "tradeall-bench-")
		if err != nil {
			return BenchResult{}, fmt.Errorf("bench trade-all: %w", err)
		}
		defer os.RemoveAll(dir)
		url = "sqlite:" + filepath.Join(dir, "bench.db")
	}
	db, err := store.Open(ctx, url, store.Options{})
	if err != nil {
		return BenchResult{}, fmt.Errorf("bench trade-all: %w", err)
	}
	defer db.Close()

	ex, err := paper.New(paper.Config{Prices: map[string]venue.Decimal{"BTCUSDT": udecimal.MustParse("50000")}, Latency: cfg.VenueLatency})
	if err != nil {
		return BenchResult{}, fmt.Errorf("bench trade-all: %w", err)
	}
	st := newPaperStepper(ex)
	if !cfg.NoJournal {
		st.journal = func(ctx context.Context, cid, sessionID string) error {
			return db.Audit(ctx, store.AuditEntry{At: time.Now(), Actor: "bench", Action: "order.intent", Target: cid, Detail: sessionID})
		}
	}
	perAccount := make([]int, cfg.Accounts)
	for i := range cfg.Sessions {
		acct := fmt.Sprintf("bench%03d", i%cfg.Accounts)
		perAccount[i%cfg.Accounts]++
		if err := ex.Fund(acct, venue.WalletSpot, "USDT", udecimal.MustParse("10")); err != nil {
			return BenchResult{}, err
		}
		st.add(&paperSession{info: SessionInfo{ID: fmt.Sprintf("b%05d", i), Account: acct, Venue: "paper", Running: true},
			account: acct, symbol: "BTCUSDT", quote: udecimal.MustParse("10"), allocation: udecimal.MustParse("10")})
	}
	pacing := Pacing{Venues: map[string]VenuePacing{"paper": {
		Venue:   Rate{PerSecond: cfg.OrderRate, Burst: cfg.Burst},
		Account: Rate{PerSecond: cfg.AccountRate, Burst: cfg.Burst},
	}}}
	r, err := New(db, st, st, Config{Concurrency: cfg.Concurrency, Pacing: pacing})
	if err != nil {
		return BenchResult{}, err
	}
	defer r.Close()

	start := time.Now()
	run, err := r.Start(ctx, StartRequest{Selection: Selection{All: true}, Actor: "bench"})
	if err != nil {
		return BenchResult{}, fmt.Errorf("bench trade-all: %w", err)
	}
	run, err = r.Wait(ctx, run.ID)
	if err != nil {
		return BenchResult{}, fmt.Errorf("bench trade-all run %s: %w", run.ID, err)
	}
	wall := time.Since(start)

	bound := time.Duration(float64(cfg.Sessions) / cfg.OrderRate * float64(time.Second))
	if cfg.AccountRate > 0 {
		busiest := 0
		for _, n := range perAccount {
			busiest = max(busiest, n)
		}
		bound = max(bound, time.Duration(float64(busiest)/cfg.AccountRate*float64(time.Second)))
	}
	most, _ := st.maxSends()
	return BenchResult{
		Engine: db.Engine(), Sessions: cfg.Sessions, Orders: run.Counts.Orders, Done: run.Counts.Done, Failed: run.Counts.Failed,
		State: run.State, Journal: !cfg.NoJournal, Wall: wall, Bound: bound, Ratio: wall.Seconds() / bound.Seconds(), MaxSends: most,
	}, nil
}
