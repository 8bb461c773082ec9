package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/auth"
	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/strategy"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
	"github.com/tradeplane/tradeplane/internal/watchdog"
)

// ViewerLoadBench configures BenchViewerLoad: Viewers clients send the
// heaviest PnL queries there are, back to back, for Duration, while
// Sessions sessions trade one order a second on the paper venue.
type ViewerLoadBench struct {
	Viewers  int           // concurrent viewers (default 50)
	Sessions int           // trading sessions, one step a second (default 20)
	Duration time.Duration // load time (default 20 s)
	// Snapshots is how many equity snapshots (one a minute) the desk has
	// in the largest range a request may ask for; default
	// server.MaxPnLIntervals hours' worth (one per minute).
	Snapshots int
	DBURL     string // "" is a temporary SQLite file
	// LoadProcess, when set, runs the viewers (RunViewerClients) instead
	// of this process, e.g. in a child process, so that their goroutines
	// do not share the node's scheduler as clients on other machines
	// would not. nil runs them here.
	LoadProcess func(ctx context.Context, c ViewerClients) (ViewerClientStats, error)
	// CPUProfile, when set, receives a pprof CPU profile of the whole
	// process (server and load generator) over the load.
	CPUProfile io.Writer
	// NoWatchdog answers /healthz without the watchdog, as a node built
	// without one does (a store ping per request); `serve` always runs
	// the watchdog, so the default measures what it does.
	NoWatchdog bool
}

// ViewerLoadBenchResult is what BenchViewerLoad measured. PeakRSS is the
// whole process's (server and load generator), read from /proc.
type ViewerLoadBenchResult struct {
	Engine        string        `json:"engine"`
	Viewers       int           `json:"viewers"`
	Sessions      int           `json:"sessions"`
	Duration      time.Duration `json:"duration_ns"`
	Snapshots     int           `json:"snapshots"`
	Requests      int64         `json:"requests"`       // PnL requests answered
	Status        map[int]int64 `json:"status"`         // by HTTP status
	PnLP50        time.Duration `json:"pnl_p50_ns"`     // PnL request latency
	PnLMax        time.Duration `json:"pnl_max_ns"`     //
	HealthzChecks int           `json:"healthz_checks"` // one every 50 ms
	HealthzP99    time.Duration `json:"healthz_p99_ns"`
	HealthzMax    time.Duration `json:"healthz_max_ns"`
	// HealthzSlow lists the checks over 100 ms: "seconds into the load:
	// latency".
	HealthzSlow []string      `json:"healthz_slow"`
	PeakRSS     int64         `json:"peak_rss_bytes"`
	PeakHeap    int64         `json:"peak_heap_inuse_bytes"`
	Steps       int64         `json:"steps"`           // session steps during the load
	MaxStepGap  time.Duration `json:"max_step_gap_ns"` // longest time between two steps of one session
	MissedSteps int64         `json:"missed_steps"`    // gaps of 1.5 intervals or more
}

func (r ViewerLoadBenchResult) String() string {
	codes := make([]int, 0, len(r.Status))
	for c := range r.Status {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	var st []string
	for _, c := range codes {
		st = append(st, fmt.Sprintf("%d×%d", r.Status[c], c))
	}
	return fmt.Sprintf("viewers on %s: %d viewers × %s of the heaviest PnL queries (%d snapshots in range) while %d sessions trade: "+
		"%d answers (%s), p50 %s, max %s; /healthz %d checks, p99 %s, max %s, %d over 100 ms %v; peak RSS %.0f MB, peak heap %.0f MB; "+
		"%d steps, longest gap between steps %s, %d missed",
		r.Engine, r.Viewers, r.Duration, r.Snapshots, r.Sessions, r.Requests, strings.Join(st, " "),
		r.PnLP50.Round(time.Millisecond), r.PnLMax.Round(time.Millisecond), r.HealthzChecks,
		r.HealthzP99.Round(time.Millisecond), r.HealthzMax.Round(time.Millisecond), len(r.HealthzSlow), r.HealthzSlow,
		float64(r.PeakRSS)/(1<<20), float64(r.PeakHeap)/(1<<20), r.Steps, r.MaxStepGap.Round(time.Millisecond), r.MissedSteps)
}

const viewerBenchStrategy = "bench-viewer-load"

// stepLog records when each session stepped.
type stepLog struct {
	mu sync.Mutex
	at map[string][]time.Time
}

func (l *stepLog) add(id string, t time.Time) {
	l.mu.Lock()
	l.at[id] = append(l.at[id], t)
	l.mu.Unlock()
}

var viewerSteps = &stepLog{at: map[string][]time.Time{}}

// secondStrategy buys 10 USDT of BTC every second and logs its steps.
type secondStrategy struct{}

func (secondStrategy) Interval() time.Duration { return time.Second }

func (secondStrategy) Step(ctx context.Context, env strategy.Env) (strategy.StepResult, error) {
	viewerSteps.add(env.SessionID(), time.Now())
	_, err := env.Place(ctx, venue.OrderRequest{Symbol: "BTCUSDT", Side: venue.Buy, Type: venue.Market, QuoteQuantity: udecimal.MustParse("10")})
	return strategy.StepResult{}, err
}

var registerViewerBench sync.Once

// BenchViewerLoad runs a real node (journal fsynced, supervisor, paper
// venue) serving HTTP on loopback; Viewers viewer-token clients send, back
// to back, the worst PnL queries: half year 1 to 9999 (refused at once
// with a 400 naming the cap), half the largest range allowed, hourly, over
// Snapshots minute snapshots. Meanwhile /healthz is timed every 50 ms,
// memory is sampled every 100 ms, and every session logs its steps.
func BenchViewerLoad(ctx context.Context, cfg ViewerLoadBench) (ViewerLoadBenchResult, error) {
	registerViewerBench.Do(func() {
		strategy.Register(strategy.Info{Name: viewerBenchStrategy, Description: "benchmark: one small market buy a second",
			Factory: func(json.RawMessage) (strategy.Strategy, error) { return secondStrategy{}, nil }})
	})
	if cfg.Viewers <= 0 {
		cfg.Viewers = 50
	}
	if cfg.Sessions <= 0 {
		cfg.Sessions = 20
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 20 * time.Second
	}
	if cfg.Snapshots <= 0 {
		cfg.Snapshots = server.MaxPnLIntervals * 60
	}
	res := ViewerLoadBenchResult{Viewers: cfg.Viewers, Sessions: cfg.Sessions, Duration: cfg.Duration, Snapshots: cfg.Snapshots,
		Status: map[int]int64{}}
	dbURL := cfg.DBURL
	if dbURL == "" {
		dir, err := os.MkdirTemp("", "tradeplane-bench-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(dir)
		dbURL = "sqlite:" + filepath.Join(dir, "bench.db")
	}
	a, err := New(ctx, Config{DBURL: dbURL, Addr: "127.0.0.1:0", NoDemoLogin: true,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		SnapshotEvery: time.Hour,
		Paper:         paper.Config{Prices: map[string]venue.Decimal{"BTCUSDT": udecimal.MustParse("30000")}},
	})
	if err != nil {
		return res, err
	}
	defer a.closeAll()
	res.Engine = a.db.Engine()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.cancel = cancel

	// The largest range a request may ask for, full of minute snapshots.
	now := time.Now().UTC().Truncate(time.Minute)
	from := now.Add(-time.Duration(server.MaxPnLIntervals-1) * time.Hour).Truncate(time.Hour)
	snaps := make([]store.EquitySnapshot, 0, 10_000)
	for i := 0; i < cfg.Snapshots; i++ {
		v := udecimal.MustFromInt64(int64(100_000_00+(i%997)*13), 2)
		snaps = append(snaps, store.EquitySnapshot{Scope: "total", Source: "live", At: from.Add(time.Duration(i) * time.Minute),
			Equity: v, Collateral: v})
		if len(snaps) == cap(snaps) || i == cfg.Snapshots-1 {
			if err := a.db.UpsertEquitySnapshots(ctx, snaps); err != nil {
				return res, fmt.Errorf("seed snapshots: %w", err)
			}
			snaps = snaps[:0]
		}
	}

	acct := &store.Account{Name: "bench-viewers", Venue: "paper"}
	if err := a.db.CreateAccount(ctx, acct); err != nil {
		return res, err
	}
	if err := a.paper.Fund(acct.Name, venue.WalletSpot, "USDT", udecimal.MustParse("100000000")); err != nil {
		return res, err
	}
	if err := a.start(rctx); err != nil {
		return res, err
	}
	if !cfg.NoWatchdog {
		// As `serve` does (cmd/tradeplane runWithWatchdog), with its
		// default interval: /healthz answers from the last round.
		w, err := watchdog.New(watchdog.Config{Checks: a.HealthChecks(), WatchdogInterval: -1,
			Notify: func(string) (bool, error) { return false, nil }, Registerer: a.Registerer(),
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			return res, err
		}
		a.SetHealth(w)
		var wwg sync.WaitGroup
		wwg.Add(1)
		go func() { defer wwg.Done(); _ = w.Run(rctx) }()
		defer wwg.Wait()
		defer cancel()
	}
	for i := 0; i < cfg.Sessions; i++ {
		s, err := a.sessions.Create(ctx, session.Spec{Name: fmt.Sprintf("viewer-load-%03d", i), Strategy: viewerBenchStrategy,
			AccountID: acct.ID, Symbols: []string{"BTCUSDT"}, Params: json.RawMessage(`{}`), Tags: []string{"bench"}}, "bench")
		if err != nil {
			return res, err
		}
		if _, err := a.sessions.Start(ctx, s.ID, "bench"); err != nil {
			return res, err
		}
	}
	viewer, _, err := auth.CreateToken(ctx, a.db, auth.RoleViewer, "bench-viewer")
	if err != nil {
		return res, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	hs := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	base := "http://" + ln.Addr().String()

	time.Sleep(2 * time.Second) // the sessions' first steps
	lctx, stop := context.WithTimeout(ctx, cfg.Duration)
	defer stop()
	if cfg.CPUProfile != nil {
		if err := pprof.StartCPUProfile(cfg.CPUProfile); err != nil {
			return res, fmt.Errorf("cpu profile: %w", err)
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	vc := ViewerClients{Base: base, Token: viewer, Viewers: cfg.Viewers, Duration: cfg.Duration,
		Worst:   "/api/v1/pnl?from=0001-01-01T00:00:00Z&to=9999-12-31T00:00:00Z",
		Largest: "/api/v1/pnl?interval=1h&from=" + url.QueryEscape(from.Format(time.RFC3339)) + "&to=" + url.QueryEscape(now.Add(time.Hour).Truncate(time.Hour).Format(time.RFC3339))}
	runViewers := cfg.LoadProcess
	if runViewers == nil {
		runViewers = RunViewerClients
	}
	var viewersErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		st, err := runViewers(lctx, vc)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			viewersErr = fmt.Errorf("viewers: %w", err)
			return
		}
		res.Requests, res.Status, res.PnLP50, res.PnLMax = st.Requests, st.Status, st.P50, st.Max
	}()
	var health []time.Duration
	var healthSlow []string
	var healthErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		hc := &http.Client{Timeout: 10 * time.Second}
		for {
			select {
			case <-lctx.Done():
				return
			case <-t.C:
			}
			t0 := time.Now()
			resp, err := hc.Get(base + "/healthz")
			if err != nil {
				if lctx.Err() == nil {
					healthErr = err
				}
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK && healthErr == nil {
				healthErr = fmt.Errorf("/healthz answered %d", resp.StatusCode)
			}
			health = append(health, time.Since(t0))
			if d := time.Since(t0); d > 100*time.Millisecond {
				healthSlow = append(healthSlow, fmt.Sprintf("%.1fs:%s", t0.Sub(start).Seconds(), d.Round(time.Millisecond)))
			}
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-lctx.Done():
				return
			case <-t.C:
			}
			runtime.ReadMemStats(&ms)
			mu.Lock()
			res.PeakHeap = max(res.PeakHeap, int64(ms.HeapInuse))
			res.PeakRSS = max(res.PeakRSS, rss())
			mu.Unlock()
		}
	}()
	wg.Wait()
	end := time.Now()
	if cfg.CPUProfile != nil {
		pprof.StopCPUProfile()
	}
	if healthErr != nil {
		return res, healthErr
	}
	if viewersErr != nil {
		return res, viewersErr
	}
	slices.Sort(health)
	if n := len(health); n > 0 {
		res.HealthzChecks, res.HealthzP99, res.HealthzMax = n, health[n*99/100], health[n-1]
	}
	res.HealthzSlow = healthSlow
	viewerSteps.mu.Lock()
	for _, ts := range viewerSteps.at {
		var prev time.Time
		for _, t := range ts {
			if t.Before(start) || t.After(end) {
				if !t.After(end) {
					prev = t
				}
				continue
			}
			res.Steps++
			if !prev.IsZero() {
				gap := t.Sub(prev)
				res.MaxStepGap = max(res.MaxStepGap, gap)
				if gap >= 1500*time.Millisecond {
					res.MissedSteps++
				}
			}
			prev = t
		}
	}
	viewerSteps.at = map[string][]time.Time{}
	viewerSteps.mu.Unlock()
	return res, nil
}

// rss is the process's resident set size from /proc/self/status (0 where
// there is none).
func rss() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// ViewerClients is the viewers' half of BenchViewerLoad: Viewers clients
// with Token, even ones sending Largest and odd ones Worst to Base, back to
// back, until ctx ends (after Duration, which a child process uses to set
// its own deadline).
type ViewerClients struct {
	Base     string        `json:"base"`
	Token    string        `json:"token"`
	Viewers  int           `json:"viewers"`
	Largest  string        `json:"largest"`
	Worst    string        `json:"worst"`
	Duration time.Duration `json:"duration_ns"`
}

// ViewerClientStats is what the viewers saw.
type ViewerClientStats struct {
	Requests int64         `json:"requests"`
	Status   map[int]int64 `json:"status"`
	P50      time.Duration `json:"p50_ns"`
	Max      time.Duration `json:"max_ns"`
}

// RunViewerClients runs c's viewers until ctx ends and returns what they
// saw.
func RunViewerClients(ctx context.Context, c ViewerClients) (ViewerClientStats, error) {
	st := ViewerClientStats{Status: map[int]int64{}}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c.Viewers + 4}, Timeout: time.Minute}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var lat []time.Duration
	for v := 0; v < c.Viewers; v++ {
		path := c.Largest
		if v%2 == 1 {
			path = c.Worst
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, err := http.NewRequestWithContext(ctx, "GET", c.Base+path, nil)
				if err != nil {
					return
				}
				req.Header.Set("Authorization", "Bearer "+c.Token)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					continue // the load ended mid-request
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				d := time.Since(t0)
				mu.Lock()
				st.Status[resp.StatusCode]++
				st.Requests++
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		st.P50, st.Max = lat[n/2], lat[n-1]
	}
	return st, nil
}
