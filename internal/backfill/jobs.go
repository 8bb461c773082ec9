package backfill

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/pnl"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// JobKind is the kind of the store.Job rows Jobs runs.
const JobKind = "backfill"

// Job states, as stored in store.Job.State.
const (
	JobQueued   = "queued"
	JobRunning  = "running"
	JobDone     = "done"
	JobFailed   = "failed"
	JobCanceled = "canceled"
)

// JobArgs is what a backfill job runs: its Args JSON.
type JobArgs struct {
	Account       string    `json:"account"`
	Symbols       []string  `json:"symbols,omitempty"`
	From          time.Time `json:"from"`
	To            time.Time `json:"to"`
	Interval      string    `json:"interval"` // "1h" or "1d"
	OpeningEquity Decimal   `json:"opening_equity"`
	Method        string    `json:"method,omitempty"`
	// Valuation and OpeningHoldings are Config's (see there).
	Valuation       string            `json:"valuation,omitempty"`
	OpeningHoldings []pnl.AssetAmount `json:"opening_holdings,omitempty"`
}

// JobState is a job's Checkpoint JSON: the last progress and, once done, the
// result. (The download checkpoint itself is per account and symbol in the
// store, so any run over the range resumes from it.)
type JobState struct {
	Progress Progress `json:"progress"`
	Result   *Result  `json:"result,omitempty"`
}

// Jobs runs backfills as durable background jobs: each is a store.Job of
// kind "backfill" whose state, progress (Done/Total windows, Message) and
// JobState checkpoint are written to its row as it runs, for
// GET /api/v1/jobs/{id}. Jobs left queued or running by a stopped server are
// picked up again by Resume. Create with NewJobs; Close stops and waits for
// every job. Safe for concurrent use.
//
// On a store shared by several nodes (LeaseTTL set) a job runs on one node
// at a time: the node that runs it is its owner and holds it for LeaseTTL,
// renewing that while the job runs, as it holds session leases. Every node
// claims (one conditional UPDATE: exactly one node wins) the jobs whose
// owner's hold expired, because it died or released them when stopping, and
// resumes them from their checkpoints; a node that finds it no longer holds
// a job (taken over after a pause) stops it and writes nothing more.
type Jobs struct {
	cfg JobsConfig

	ctx      context.Context
	stop     context.CancelFunc
	mu       sync.Mutex
	running  map[string]*jobRun
	wg       sync.WaitGroup
	watching sync.Once
}

// JobsConfig wires Jobs.
type JobsConfig struct {
	DB *store.DB
	// Venue returns the venue of an account (the caller opens adapters and
	// credentials); one client per account shares its rate limiter.
	Venue func(ctx context.Context, acct store.Account) (venue.Venue, error)
	Clock clock.Clock  // default the wall clock
	Log   *slog.Logger // default slog.Default()
	// Owner names this node on the job rows.
	Owner string
	// LeaseTTL, when several nodes share the store, is how long this node
	// holds a job it runs without renewing it; it renews every LeaseTTL/3,
	// and as often claims and resumes the jobs other nodes no longer hold.
	// Zero: this is the only node (SQLite); Resume takes every job at once.
	LeaseTTL time.Duration
	// UpdateEvery bounds how often a job's row is updated with progress
	// (default 1 s); phase changes and the end are always written.
	UpdateEvery time.Duration
}

type jobRun struct {
	cancel   context.CancelFunc
	done     chan struct{}
	canceled bool      // by Cancel, not by Close
	lost     bool      // another node holds the job now
	renewed  time.Time // when this node last confirmed its hold
}

// NewJobs returns a runner; nothing runs until Start or Resume.
func NewJobs(cfg JobsConfig) *Jobs {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.UpdateEvery <= 0 {
		cfg.UpdateEvery = time.Second
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Jobs{cfg: cfg, ctx: ctx, stop: stop, running: map[string]*jobRun{}}
}

// Start validates args, stores a queued job and runs it in the background.
// Bad args (unknown account, bad range or interval) wrap ErrInput and store
// nothing.
func (j *Jobs) Start(ctx context.Context, args JobArgs) (store.Job, error) {
	if _, err := j.config(ctx, args, false); err != nil {
		return store.Job{}, err
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return store.Job{}, fmt.Errorf("start backfill job: %w", err)
	}
	var b [8]byte
	rand.Read(b[:])
	now := j.cfg.Clock.Now()
	job := store.Job{ID: "bf_" + hex.EncodeToString(b[:]), Kind: JobKind, Args: string(raw), State: JobQueued,
		Owner: j.cfg.Owner, ExpiresAt: j.until(now), Message: "queued", CreatedAt: now, UpdatedAt: now}
	if err := j.cfg.DB.CreateJob(ctx, job); err != nil {
		return store.Job{}, fmt.Errorf("start backfill job for %q: %w", args.Account, err)
	}
	j.launch(job)
	j.startWatch() // renews the job while it runs
	return job, nil
}

// Resume runs every backfill job left queued or running that this node may
// take, oldest first, and returns their ids; call it once at start. The only
// node takes every job (a server that stopped left them). With LeaseTTL it
// takes those nobody holds or that it held before a restart, and from then
// on, until Close, every LeaseTTL/3 it renews the jobs it runs and claims
// those whose owner's hold has expired.
func (j *Jobs) Resume(ctx context.Context) ([]string, error) {
	ids, err := j.claim(ctx)
	j.startWatch()
	return ids, err
}

// startWatch starts watch once, with LeaseTTL.
func (j *Jobs) startWatch() {
	if j.cfg.LeaseTTL <= 0 {
		return
	}
	j.watching.Do(func() {
		j.mu.Lock()
		defer j.mu.Unlock()
		if j.ctx.Err() != nil {
			return
		}
		j.wg.Add(1)
		go func() {
			defer j.wg.Done()
			j.watch()
		}()
	})
}

// until is when a hold taken at now ends (zero for the only node).
func (j *Jobs) until(now time.Time) time.Time {
	if j.cfg.LeaseTTL <= 0 {
		return time.Time{}
	}
	return now.Add(j.cfg.LeaseTTL)
}

// claim takes and launches the queued and running jobs this node may run
// and does not run yet.
func (j *Jobs) claim(ctx context.Context) ([]string, error) {
	var ids []string
	for _, state := range []string{JobRunning, JobQueued} {
		jobs, err := j.cfg.DB.JobsInState(ctx, state)
		if err != nil {
			return ids, fmt.Errorf("resume backfill jobs: %w", err)
		}
		for _, job := range jobs {
			if job.Kind != JobKind || j.runs(job.ID) {
				continue
			}
			now := j.cfg.Clock.Now()
			single := j.cfg.LeaseTTL <= 0
			if !single && job.Owner != j.cfg.Owner && job.ExpiresAt.After(now) {
				continue // another node runs it
			}
			job, ok, err := j.cfg.DB.ClaimJob(ctx, job.ID, j.cfg.Owner, now, j.cfg.LeaseTTL, single)
			if err != nil {
				return ids, fmt.Errorf("resume backfill jobs: %w", err)
			}
			if !ok {
				continue // another node claimed it first, or it ended
			}
			if job.Owner != j.cfg.Owner || !j.launch(job) {
				continue
			}
			if !single {
				j.cfg.Log.Info("backfill: resuming job", "job", job.ID, "state", job.State)
			}
			ids = append(ids, job.ID)
		}
	}
	return ids, nil
}

func (j *Jobs) runs(id string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, ok := j.running[id]
	return ok
}

// watch renews this node's jobs and claims abandoned ones every LeaseTTL/3
// until Close.
func (j *Jobs) watch() {
	t := j.cfg.Clock.NewTicker(j.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-j.ctx.Done():
			return
		case <-t.C():
		}
		j.renew(j.ctx)
		if _, err := j.claim(j.ctx); err != nil && j.ctx.Err() == nil {
			j.cfg.Log.Warn("backfill: claim abandoned jobs failed", "err", err)
		}
	}
}

// renew extends this node's hold on every job it runs. A job another node
// holds now stops here; so does one whose hold could not be confirmed for
// most of the TTL (it may be claimed elsewhere), to be claimed again by
// whichever node gets it.
func (j *Jobs) renew(ctx context.Context) {
	j.mu.Lock()
	runs := make(map[string]*jobRun, len(j.running))
	for id, r := range j.running {
		runs[id] = r
	}
	j.mu.Unlock()
	for id, r := range runs {
		now := j.cfg.Clock.Now()
		err := j.cfg.DB.RenewJob(ctx, id, j.cfg.Owner, j.until(now))
		switch {
		case err == nil:
			j.mu.Lock()
			r.renewed = now
			j.mu.Unlock()
		case errors.Is(err, store.ErrStaleFence):
			j.lose(id, r, "its row was canceled, or another node took it over")
		case ctx.Err() != nil:
			return
		default:
			j.mu.Lock()
			stale := now.Sub(r.renewed) > j.cfg.LeaseTTL-j.cfg.LeaseTTL/5
			j.mu.Unlock()
			j.cfg.Log.Warn("backfill: renew job failed", "job", id, "err", err)
			if stale {
				j.lose(id, r, "hold not renewed in time")
			}
		}
	}
}

// lose stops a job this node no longer (certainly) holds; it writes nothing
// more to the job's row.
func (j *Jobs) lose(id string, r *jobRun, why string) {
	j.mu.Lock()
	first := !r.lost
	r.lost = true
	j.mu.Unlock()
	if first {
		j.cfg.Log.Warn("backfill: job stops here: "+why, "job", id)
	}
	r.cancel()
}

// Cancel stops a job running here; its row ends "canceled". It returns
// store.ErrNotFound when no such job runs on this node.
func (j *Jobs) Cancel(id string) error {
	j.mu.Lock()
	r := j.running[id]
	if r != nil {
		r.canceled = true
	}
	j.mu.Unlock()
	if r == nil {
		return fmt.Errorf("cancel backfill job %s: %w", id, store.ErrNotFound)
	}
	r.cancel()
	<-r.done
	return nil
}

// Stop stops at once a job running here whose row has been canceled
// (store.CancelJob) and reports whether it ran here; it writes nothing more
// to the row. A job canceled while it runs on another node stops there on
// that node's next row write or renewal, which fail once the row has ended.
// Stop implements server.JobStopper.
func (j *Jobs) Stop(id string) bool {
	j.mu.Lock()
	r := j.running[id]
	if r != nil {
		r.canceled, r.lost = true, true
	}
	j.mu.Unlock()
	if r == nil {
		return false
	}
	r.cancel()
	return true
}

// Wait blocks until the job running here ends (or ctx does) and returns its
// row. A job not running here is read as it is.
func (j *Jobs) Wait(ctx context.Context, id string) (store.Job, error) {
	j.mu.Lock()
	r := j.running[id]
	j.mu.Unlock()
	if r != nil {
		select {
		case <-r.done:
		case <-ctx.Done():
			return store.Job{}, ctx.Err()
		}
	}
	return j.cfg.DB.Job(ctx, id)
}

// Close stops every job and waits for them. Their rows stay "running" so
// that the next Resume continues them from their checkpoints, and this
// node's hold on them is released so that another node's Resume, or its
// next claim, continues them at once.
func (j *Jobs) Close() {
	j.mu.Lock() // launch and startWatch add to wg only before this
	j.stop()
	j.mu.Unlock()
	j.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := j.cfg.DB.ReleaseJobs(ctx, j.cfg.Owner); err != nil {
		j.cfg.Log.Warn("backfill: release jobs at shutdown failed; others take them over once the hold expires", "err", err)
	}
}

// launch runs job here unless it runs already; it reports whether it did.
func (j *Jobs) launch(job store.Job) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.running[job.ID]; ok || j.ctx.Err() != nil {
		return false
	}
	ctx, cancel := context.WithCancel(j.ctx)
	r := &jobRun{cancel: cancel, done: make(chan struct{}), renewed: j.cfg.Clock.Now()}
	j.running[job.ID] = r
	j.wg.Add(1)
	go func() {
		defer j.wg.Done()
		defer close(r.done)
		defer cancel()
		j.run(ctx, job, r)
		j.mu.Lock()
		delete(j.running, job.ID)
		j.mu.Unlock()
	}()
	return true
}

// config builds a Run config from args; with open it also opens the venue.
func (j *Jobs) config(ctx context.Context, args JobArgs, open bool) (Config, error) {
	acct, err := j.cfg.DB.Account(ctx, args.Account)
	if errors.Is(err, store.ErrNotFound) {
		return Config{}, fmt.Errorf("backfill job: account %q: no such account: %w", args.Account, ErrInput)
	}
	if err != nil {
		return Config{}, fmt.Errorf("backfill job: %w", err)
	}
	iv, err := ParseInterval(args.Interval)
	if err != nil {
		return Config{}, fmt.Errorf("backfill job for %q: %w", args.Account, err)
	}
	if err := CheckSpan(args.From, args.To); err != nil {
		return Config{}, fmt.Errorf("backfill job for %q: %w", args.Account, err)
	}
	m, err := pnl.ParseMethod(args.Method)
	if err != nil {
		return Config{}, fmt.Errorf("backfill job for %q: %w: %w", args.Account, ErrInput, err)
	}
	if err := CheckOpening(args.Valuation, args.OpeningHoldings); err != nil {
		return Config{}, fmt.Errorf("backfill job for %q: %w", args.Account, err)
	}
	cfg := Config{DB: j.cfg.DB, Account: acct, Symbols: args.Symbols, From: args.From, To: args.To, Interval: iv,
		OpeningEquity: args.OpeningEquity, Method: m, Valuation: args.Valuation, OpeningHoldings: args.OpeningHoldings,
		Clock: j.cfg.Clock}
	if open {
		if j.cfg.Venue == nil {
			return Config{}, fmt.Errorf("backfill job for %q: no venue opener configured", args.Account)
		}
		if cfg.Venue, err = j.cfg.Venue(ctx, acct); err != nil {
			return Config{}, fmt.Errorf("backfill job for %q: open venue: %w", args.Account, err)
		}
	}
	return cfg, nil
}

// run executes one job and keeps its row current.
func (j *Jobs) run(ctx context.Context, job store.Job, r *jobRun) {
	log := j.cfg.Log.With("job", job.ID)
	job.Owner = j.cfg.Owner
	// write updates the row while this node holds the job, renewing the
	// hold; once another node holds it the job stops here.
	write := func(job store.Job) {
		now := j.cfg.Clock.Now()
		job.UpdatedAt = now
		// The row must be written even when the job's ctx is canceled.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		err := j.cfg.DB.UpdateOwnedJob(wctx, job, j.until(now))
		switch {
		case err == nil:
			j.mu.Lock()
			r.renewed = now
			j.mu.Unlock()
		case errors.Is(err, store.ErrStaleFence):
			j.lose(job.ID, r, "its row was canceled, or another node took it over")
		default:
			log.Warn("backfill: update job row failed", "err", err)
		}
	}
	var st JobState
	_ = json.Unmarshal([]byte(job.Checkpoint), &st)
	fail := func(err error) {
		job.State, job.Error, job.Message = JobFailed, err.Error(), "failed: "+err.Error()
		write(job)
		log.Error("backfill job failed", "err", err)
	}
	var args JobArgs
	if err := json.Unmarshal([]byte(job.Args), &args); err != nil {
		fail(fmt.Errorf("backfill job %s: args: %w", job.ID, err))
		return
	}
	cfg, err := j.config(ctx, args, true)
	if err != nil {
		fail(err)
		return
	}
	job.State, job.Error, job.Message = JobRunning, "", "running"
	write(job)
	var last time.Time
	lastPhase := ""
	cfg.Progress = func(p Progress) {
		now := j.cfg.Clock.Now()
		if p.Phase == lastPhase && now.Sub(last) < j.cfg.UpdateEvery {
			j.mu.Lock()
			unsure := j.cfg.LeaseTTL > 0 && now.Sub(r.renewed) >= j.cfg.LeaseTTL/3
			j.mu.Unlock()
			if unsure { // e.g. after a pause: is the job still ours?
				if err := j.cfg.DB.RenewJob(ctx, job.ID, j.cfg.Owner, j.until(now)); errors.Is(err, store.ErrStaleFence) {
					j.lose(job.ID, r, "taken over by another node")
				} else if err == nil {
					j.mu.Lock()
					r.renewed = now
					j.mu.Unlock()
				}
			}
			return
		}
		last, lastPhase = now, p.Phase
		st.Progress = p
		job.Done, job.Total = int64(p.WindowsDone), int64(p.WindowsTotal)
		job.Message = progressMessage(p)
		job.Checkpoint = mustJSON(st)
		write(job)
	}
	res, err := Run(ctx, cfg)
	switch {
	case err == nil:
		st.Result = &res
		st.Progress.Phase, st.Progress.ETA = "done", 0
		job.State, job.Checkpoint = JobDone, mustJSON(st)
		job.Message = fmt.Sprintf("done: %d windows, %d trades (%d new), %d points", res.Windows, res.Trades, res.NewFills, res.Points)
		job.Done = job.Total
		write(job)
	case ctx.Err() != nil:
		j.mu.Lock()
		canceled, lost := r.canceled, r.lost
		j.mu.Unlock()
		if canceled && !lost {
			job.State, job.Message = JobCanceled, "canceled"
			write(job)
		} // else stopping, or another node runs it: leave it running
	default:
		fail(err)
	}
}

func progressMessage(p Progress) string {
	switch p.Phase {
	case "trades":
		return fmt.Sprintf("trades %s: %d/%d windows, %d trades, ETA %s", p.Symbol, p.WindowsDone, p.WindowsTotal,
			p.Trades, p.ETA.Round(time.Second))
	case "klines":
		return fmt.Sprintf("klines %s", p.Symbol)
	case "rebuild":
		return fmt.Sprintf("rebuilding: %d points written", p.Points)
	}
	return p.Phase
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "{}"
	}
	return string(b)
}
