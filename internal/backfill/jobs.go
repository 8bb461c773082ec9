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
type Jobs struct {
	cfg JobsConfig

	ctx     context.Context
	stop    context.CancelFunc
	mu      sync.Mutex
	running map[string]*jobRun
	wg      sync.WaitGroup
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
	// UpdateEvery bounds how often a job's row is updated with progress
	// (default 1 s); phase changes and the end are always written.
	UpdateEvery time.Duration
}

type jobRun struct {
	cancel   context.CancelFunc
	done     chan struct{}
	canceled bool // by Cancel, not by Close
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
		Owner: j.cfg.Owner, Message: "queued", CreatedAt: now, UpdatedAt: now}
	if err := j.cfg.DB.CreateJob(ctx, job); err != nil {
		return store.Job{}, fmt.Errorf("start backfill job for %q: %w", args.Account, err)
	}
	j.launch(job)
	return job, nil
}

// Resume runs every backfill job left queued or running (by a server that
// stopped), oldest first, and returns their ids. Call it once at start.
func (j *Jobs) Resume(ctx context.Context) ([]string, error) {
	var ids []string
	for _, state := range []string{JobRunning, JobQueued} {
		jobs, err := j.cfg.DB.JobsInState(ctx, state)
		if err != nil {
			return ids, fmt.Errorf("resume backfill jobs: %w", err)
		}
		for _, job := range jobs {
			if job.Kind != JobKind {
				continue
			}
			j.launch(job)
			ids = append(ids, job.ID)
		}
	}
	return ids, nil
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
// that the next Resume continues them from their checkpoints.
func (j *Jobs) Close() {
	j.stop()
	j.wg.Wait()
}

func (j *Jobs) launch(job store.Job) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.running[job.ID]; ok || j.ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(j.ctx)
	r := &jobRun{cancel: cancel, done: make(chan struct{})}
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
	if !args.From.Before(args.To) {
		return Config{}, fmt.Errorf("backfill job for %q: from %s is not before to %s: %w", args.Account,
			args.From.Format(time.RFC3339), args.To.Format(time.RFC3339), ErrInput)
	}
	m, err := pnl.ParseMethod(args.Method)
	if err != nil {
		return Config{}, fmt.Errorf("backfill job for %q: %w: %w", args.Account, ErrInput, err)
	}
	cfg := Config{DB: j.cfg.DB, Account: acct, Symbols: args.Symbols, From: args.From, To: args.To, Interval: iv,
		OpeningEquity: args.OpeningEquity, Method: m, Clock: j.cfg.Clock}
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
	write := func(job store.Job) {
		job.UpdatedAt = j.cfg.Clock.Now()
		// The row must be written even when the job's ctx is canceled.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := j.cfg.DB.UpdateJob(wctx, job); err != nil {
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
	job.State, job.Owner, job.Error, job.Message = JobRunning, j.cfg.Owner, "", "running"
	write(job)
	var last time.Time
	lastPhase := ""
	cfg.Progress = func(p Progress) {
		now := j.cfg.Clock.Now()
		if p.Phase == lastPhase && now.Sub(last) < j.cfg.UpdateEvery {
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
		canceled := r.canceled
		j.mu.Unlock()
		if canceled {
			job.State, job.Message = JobCanceled, "canceled"
			write(job)
		} // else stopping: leave it running for Resume
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
