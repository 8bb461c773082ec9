package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/backoff"
	"github.com/tradeplane/tradeplane/internal/demodata"
	"github.com/tradeplane/tradeplane/internal/marketdata"
	"github.com/tradeplane/tradeplane/internal/replay"
	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// replayJobKind is the kind of a replay job in the jobs table.
const replayJobKind = "replay"

// replays runs replay jobs in the background on this node. A replay is a
// private simulation (its own in-memory store, paper venue and clock): it
// touches nothing live. Results are kept in memory until the node stops;
// the job row records progress and the outcome.
type replays struct {
	a      *App
	base   context.Context
	stop   context.CancelFunc
	mu     sync.Mutex
	cancel map[string]context.CancelFunc
	result map[string]json.RawMessage
}

func newReplays(a *App) *replays {
	ctx, stop := context.WithCancel(context.Background())
	return &replays{a: a, base: ctx, stop: stop, cancel: map[string]context.CancelFunc{}, result: map[string]json.RawMessage{}}
}

// close cancels every running replay; App.closeAll then waits for them.
func (r *replays) close() { r.stop() }

// replayAdapter is server.Replays.
type replayAdapter struct{ a *App }

var (
	_ server.Replays    = replayAdapter{}
	_ server.JobStopper = (*replays)(nil)
)

func invalid(format string, args ...any) error {
	return &server.Error{Kind: server.ErrInvalid, Message: fmt.Sprintf(format, args...)}
}

// Start resolves the request into a replay.Config (the session's or the
// form's settings, the account's klines for the last Days) and runs it.
func (ad replayAdapter) Start(ctx context.Context, req server.ReplayRequest, actor string) (store.Job, error) {
	a := ad.a
	spec := replay.Session{Name: "replay", Strategy: req.Strategy, Symbols: req.Symbols, Params: req.Params}
	accountName := req.Account
	if req.AllocationKind == "" {
		req.AllocationKind = string(session.AllocFixed)
	}
	spec.Allocation = session.Allocation{Kind: session.AllocationKind(req.AllocationKind), Amount: req.Allocation}
	if req.SessionID != "" {
		s, err := a.sessions.Get(ctx, req.SessionID)
		if err != nil {
			return store.Job{}, err
		}
		acct, err := a.db.AccountByID(ctx, s.AccountID)
		if err != nil {
			return store.Job{}, err
		}
		spec = replay.Session{Name: s.Name, Strategy: s.Strategy, Symbols: s.Symbols, Params: s.Params, Allocation: s.Allocation}
		accountName = acct.Name
		if req.Strategy != "" {
			spec.Strategy = req.Strategy
		}
		if len(req.Params) > 0 {
			spec.Params = req.Params
		}
	}
	acct, err := a.db.Account(ctx, accountName)
	if errors.Is(err, store.ErrNotFound) {
		return store.Job{}, invalid("account %q: no such account", accountName)
	}
	if err != nil {
		return store.Job{}, err
	}
	rt, err := a.account(acct.ID)
	if err != nil {
		return store.Job{}, err
	}
	spec.Account = acct.Name
	iv, err := marketdata.ParseInterval(req.Interval)
	if err != nil {
		return store.Job{}, invalid("interval: %v", err)
	}
	to := a.clk.Now().Truncate(iv)
	if acct.Venue == "paper" && a.paper != nil {
		// The paper venue's market runs on its own (market) time, e.g. the
		// demo's recorded klines: end where its prices are.
		for _, sym := range spec.Symbols {
			if tk, ok := a.paper.Price(sym); ok && tk.Time.Before(to) {
				to = tk.Time.Truncate(iv)
			}
		}
	}
	from := to.Add(-time.Duration(req.Days) * 24 * time.Hour)
	cfg := replay.Config{Sessions: []replay.Session{spec}, From: from, To: to, Fill: replay.Fill{Slippage: req.Slippage}, Seed: req.Seed}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	ra := replay.Account{Name: acct.Name}
	for asset, amt := range req.Balances {
		ra.Balances = append(ra.Balances, replay.Balance{Asset: asset, Amount: udecimal.MustParse(amt)})
	}
	if len(ra.Balances) == 0 {
		ra.Balances = []replay.Balance{{Asset: "USDT", Amount: udecimal.MustFromInt64(10000, 0)}}
	}
	cfg.Accounts = []replay.Account{ra}
	// The klines come from the store when a backfill kept the whole span
	// (no download), else from the account's own venue (the paper exchange
	// serves the market data it was loaded with; Binance its history).
	stored := map[int]store.KlineKey{}
	for _, sym := range spec.Symbols {
		key := store.KlineKey{Venue: acct.Venue, Symbol: sym, Interval: iv}
		if n, err := a.db.CountKlines(ctx, key, from, to); err == nil && n == int64(to.Sub(from)/iv) {
			stored[len(cfg.Sources)] = key // streamed under the job's context, below
			cfg.Sources = append(cfg.Sources, replay.Source{})
			continue
		}
		ks, err := klinesWithRetry(ctx, rt.v, sym, req.Interval, from, to)
		if err != nil {
			return store.Job{}, &server.Error{Kind: server.ErrUnavailable,
				Message: fmt.Sprintf("klines of %s on account %s: %v; try again", sym, acct.Name, err)}
		}
		if acct.Venue == "paper" && int64(len(ks)) < int64(to.Sub(from)/iv)/2 {
			// A paper market without that much history (the demo records
			// its candles as it goes): the last days of the klines
			// embedded in the binary, at their own interval.
			if src, derr := demodata.Last(sym, time.Duration(req.Days)*24*time.Hour); derr == nil && len(src.Klines) > 0 {
				cfg.Sources = append(cfg.Sources, replay.Source{Symbol: sym, Interval: src.Interval,
					Stream: &replay.SliceStream{Klines: src.Klines}, Name: "embedded " + sym + " klines"})
				cfg.From, cfg.To = time.Time{}, time.Time{}
				continue
			}
		}
		if len(ks) == 0 {
			return store.Job{}, invalid("symbol %s has no %s klines on account %s in the last %d days", sym, req.Interval, acct.Name, req.Days)
		}
		cfg.Sources = append(cfg.Sources, replay.Source{Symbol: sym, Interval: iv, Stream: &replay.SliceStream{Klines: ks}, Name: acct.Name + " " + sym + " " + req.Interval})
	}
	args, _ := json.Marshal(req)
	var b [8]byte
	rand.Read(b[:])
	now := a.clk.Now()
	job := store.Job{ID: "rp_" + hex.EncodeToString(b[:]), Kind: replayJobKind, Args: string(args), State: "running",
		Total: int64(to.Sub(from) / iv), Message: "replaying " + spec.Strategy + " by " + actor, CreatedAt: now, UpdatedAt: now}
	if err := a.db.CreateJob(ctx, job); err != nil {
		return store.Job{}, err
	}
	r := a.replays
	jctx, cancel := context.WithCancel(r.base)
	for i, key := range stored {
		cfg.Sources[i] = replay.DBSource(jctx, a.db, key, from, to)
	}
	r.mu.Lock()
	r.cancel[job.ID] = cancel
	r.mu.Unlock()
	cfg.ProgressEvery = 1000
	cfg.Progress = func(p replay.Progress) {
		j := job
		// Bars of the range done, counted from where the data starts (the
		// embedded klines have their own dates).
		j.Done, j.UpdatedAt = min(int64(p.At.Sub(p.From)/iv), j.Total), a.clk.Now()
		if err := a.db.UpdateJob(context.Background(), j); err != nil {
			a.log.Warn("replay progress", "job", job.ID, "err", err)
		}
	}
	a.goLoop(func() {
		defer cancel()
		res, err := replay.Run(jctx, cfg)
		j := job
		j.UpdatedAt = a.clk.Now()
		switch {
		case err != nil && jctx.Err() != nil:
			j.State, j.Error = "canceled", err.Error()
		case err != nil:
			j.State, j.Error = "failed", err.Error()
		default:
			doc, merr := json.Marshal(map[string]any{"summary": res.Summary, "sessions": res.Sessions, "pnl": res.PnL,
				"equity": res.Equity, "hourly": res.Hourly, "daily": res.Daily})
			if merr != nil {
				j.State, j.Error = "failed", merr.Error()
				break
			}
			r.mu.Lock()
			r.result[job.ID] = doc
			r.mu.Unlock()
			j.State, j.Done = "done", j.Total
			j.Message = fmt.Sprintf("net pnl %s %s, max drawdown %s, %d trades", res.Summary.NetPnL, res.Summary.Quote, res.Summary.MaxDrawdown, res.Summary.Trades)
		}
		r.mu.Lock()
		delete(r.cancel, job.ID)
		r.mu.Unlock()
		if err := a.db.UpdateJob(context.Background(), j); err != nil {
			a.log.Warn("replay outcome", "job", job.ID, "err", err)
		}
	})
	return job, nil
}

// Result is a finished replay's result document.
func (ad replayAdapter) Result(ctx context.Context, id string) (json.RawMessage, error) {
	r := ad.a.replays
	r.mu.Lock()
	doc, ok := r.result[id]
	r.mu.Unlock()
	if ok {
		return doc, nil
	}
	j, err := ad.a.db.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	if j.Kind != replayJobKind {
		return nil, fmt.Errorf("job %s is not a replay: %w", id, server.ErrNotFound)
	}
	if j.State == "done" {
		return nil, fmt.Errorf("replay %s finished on another node or before a restart; its result is gone: %w", id, server.ErrNotFound)
	}
	return nil, &server.Error{Kind: server.ErrConflict, Message: fmt.Sprintf("replay %s is %s, no result yet", id, j.State)}
}

// Stop cancels a replay running on this node (server.JobStopper: the
// jobs API's cancel has already marked the job canceled); false when none
// runs here.
func (r *replays) Stop(id string) bool {
	r.mu.Lock()
	cancel, ok := r.cancel[id]
	r.mu.Unlock()
	if ok {
		cancel()
	}
	return ok
}

// klinesWithRetry reads klines, retrying a retryable venue error (a rate
// limit, an outage: the demo's paper venue injects them) a few times.
func klinesWithRetry(ctx context.Context, v venue.Venue, symbol, interval string, from, to time.Time) ([]venue.Kline, error) {
	wait := backoff.New(backoff.Policy{Initial: 100 * time.Millisecond}, nil)
	for attempt := 1; ; attempt++ {
		ks, err := v.Klines(ctx, symbol, interval, from, to)
		if err == nil || attempt == 5 || !venue.Retryable(venue.ClassOf(err)) {
			return ks, err
		}
		if err := wait.Wait(ctx); err != nil {
			return nil, err
		}
	}
}
