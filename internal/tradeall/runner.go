package tradeall

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// Store is the persistence the runner needs; *store.DB implements it.
type Store interface {
	CreateTradeAllRun(ctx context.Context, r store.TradeAllRun, items []store.TradeAllItem) error
	TradeAllRun(ctx context.Context, id string) (store.TradeAllRun, error)
	TradeAllRunByKey(ctx context.Context, key string) (store.TradeAllRun, error)
	TradeAllRuns(ctx context.Context, state string, limit int) ([]store.TradeAllRun, error)
	TradeAllItems(ctx context.Context, runID string) ([]store.TradeAllItem, error)
	UpdateTradeAllItems(ctx context.Context, us []store.TradeAllItemUpdate) ([]bool, error)
	RequestTradeAllCancel(ctx context.Context, id string, at time.Time) (int64, error)
	FinishTradeAllRun(ctx context.Context, id, fromState, state, message string, at time.Time) error
}

var _ Store = (*store.DB)(nil)

// Config tunes a Runner. The zero value is usable.
type Config struct {
	// Concurrency bounds the steps in flight across every run; zero means 16.
	Concurrency int
	// Pacing is the order budget per venue and account; the zero value is
	// unlimited (see DefaultPacing).
	Pacing Pacing
	// StepTimeout bounds one step; zero means one minute.
	StepTimeout time.Duration
	// Clock gives timestamps and pacing timers; nil means clock.Real{}.
	Clock clock.Clock
	// Registerer receives the metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Logger logs failures and resumes; nil discards.
	Logger *slog.Logger

	// The fields below share runs between several nodes on one store. Left
	// zero, the runner is the only one (SQLite): it steps every item of the
	// runs it executes and settles every item it finds in flight.

	// Node names this node; it is recorded on every item the node claims.
	Node string
	// Here reports, for each session id, whether this node steps that
	// session: it owns the session, or no node will (one that should not
	// run, which the Stepper skips). Items of the other sessions are left
	// pending for their owners. nil: every session is here.
	Here func(ctx context.Context, sessionIDs []string) ([]bool, error)
	// Alive lists the nodes that are alive. An item left running by a node
	// that is not (it died mid-step) is settled by the node that owns its
	// session now, through Stepper.Settle, never stepped again blindly.
	// nil: no other node exists.
	Alive func(ctx context.Context) (map[string]bool, error)
	// Poll, when positive, is how often the runner looks at every running
	// run for work of its own (pending items of sessions here, items a dead
	// node left in flight, a run whose items are all final but that nobody
	// finished) and refreshes the progress other nodes made on the runs it
	// follows. Zero: runs are executed only where started or resumed.
	Poll time.Duration
	// Announce, when set, is called on its own goroutine when a run is
	// created and when this node has done its part of a run, so that the
	// other nodes look at the run now (Kick) rather than at their next
	// Poll.
	Announce func(runID string)
	// OnExecute, when set, is called once a run starts executing here with
	// work to do (or is started here), e.g. to publish its progress.
	OnExecute func(runID string)
}

// Runner starts, executes, cancels and resumes Trade All runs. It is safe
// for concurrent use. Close stops it abruptly: steps in flight are
// canceled, nothing more is written, and Resume on a new Runner settles and
// continues what was left.
type Runner struct {
	db       Store
	sessions Sessions
	stepper  Stepper
	cfg      Config
	clk      clock.Clock
	log      *slog.Logger
	pacer    *pacer
	met      *metrics
	sem      chan struct{}
	writes   chan *writeReq

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	active  map[string]*execution
	closed  bool
	sweeps  chan struct{} // Kick: look at the running runs now
	sweepOn bool
}

// New returns a Runner over db that resolves selections with sessions and
// runs steps with stepper. Call Resume once at start to continue runs an
// earlier process left, and Close at the end.
func New(db Store, sessions Sessions, stepper Stepper, cfg Config) (*Runner, error) {
	if db == nil || sessions == nil || stepper == nil {
		return nil, errors.New("tradeall: new runner: store, sessions and stepper are required")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 16
	}
	if cfg.StepTimeout <= 0 {
		cfg.StepTimeout = time.Minute
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	met, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("tradeall: new runner: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{
		db: db, sessions: sessions, stepper: stepper, cfg: cfg, clk: cfg.Clock, log: cfg.Logger,
		pacer:  newPacer(cfg.Clock, cfg.Pacing),
		met:    met,
		sem:    make(chan struct{}, cfg.Concurrency),
		writes: make(chan *writeReq, 4*cfg.Concurrency),
		ctx:    ctx, cancel: cancel,
		active: map[string]*execution{},
		sweeps: make(chan struct{}, 1),
	}
	r.wg.Go(r.writer)
	return r, nil
}

// Close stops the runner without letting runs finish and waits for its
// goroutines. Runs left running are continued by Resume.
func (r *Runner) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
	return nil
}

// Ref is a short deterministic name for the step (13 characters), for
// building client order ids that fit venue.ClientOrderIDPattern together
// with an order number: Ref()+"-1".
func (k StepKey) Ref() string {
	h := sha256.Sum256([]byte(k.RunID + "/" + k.SessionID))
	return "t" + hex.EncodeToString(h[:6])
}

func newRunID(now time.Time) string {
	var b [4]byte
	rand.Read(b[:])
	return "ta-" + now.UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}

// resolve turns a selection into sessions, ordered for dispatch: accounts
// interleaved round-robin so that one slow account's pacing does not hold
// the queue.
func (r *Runner) resolve(ctx context.Context, sel Selection) ([]SessionInfo, error) {
	if sel.empty() {
		return nil, &SelectionError{Reason: "empty: name session ids, tags, an account, a venue, or all running sessions"}
	}
	all, err := r.sessions.Sessions(ctx)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	known := make(map[string]bool, len(all))
	var out []SessionInfo
	for _, s := range all {
		known[s.ID] = true
		if sel.match(s) {
			out = append(out, s)
		}
	}
	var missing []string
	for _, id := range sel.IDs {
		if !known[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return nil, &SelectionError{Reason: "unknown sessions", Missing: slices.Compact(slices.Sorted(slices.Values(missing)))}
	}
	if len(out) == 0 {
		return nil, &SelectionError{Reason: "no session matches"}
	}
	return interleave(out), nil
}

// interleave orders sessions round-robin over their (venue, account),
// keeping the listing order within each account.
func interleave(ss []SessionInfo) []SessionInfo {
	groups := map[string][]SessionInfo{}
	var keys []string
	for _, s := range ss {
		k := s.Venue + "\x00" + s.Account
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], s)
	}
	out := make([]SessionInfo, 0, len(ss))
	for i := 0; len(out) < len(ss); i++ {
		for _, k := range keys {
			if g := groups[k]; i < len(g) {
				out = append(out, g[i])
			}
		}
	}
	return out
}

// Preview plans the step of every selected session without sending
// anything, with the runner's concurrency.
func (r *Runner) Preview(ctx context.Context, sel Selection) (Preview, error) {
	ss, err := r.resolve(ctx, sel)
	if err != nil {
		return Preview{}, fmt.Errorf("preview: %w", err)
	}
	p := Preview{Selection: sel.normalized(), Items: make([]PreviewItem, len(ss))}
	var wg sync.WaitGroup
	sem := make(chan struct{}, r.cfg.Concurrency)
	for i, s := range ss {
		p.Items[i] = PreviewItem{SessionID: s.ID, Name: s.Name, Account: s.Account, Venue: s.Venue, State: s.State}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			defer func() {
				if v := recover(); v != nil {
					p.Items[i].Error = fmt.Sprintf("plan panicked: %v", v)
				}
			}()
			plan, err := r.stepper.Plan(ctx, s.ID)
			if err != nil {
				p.Items[i].Error = err.Error()
				return
			}
			p.Items[i].Plan = plan
		})
	}
	wg.Wait()
	for _, it := range p.Items {
		switch {
		case it.Error != "":
			p.Errors++
		case it.Plan.Skip != "":
			p.Skipped++
		default:
			p.Orders += len(it.Plan.Orders)
		}
	}
	return p, nil
}

// Start records a run for req and starts executing it, returning its first
// snapshot. When req.Key already names a run with the same selection, it
// returns that run (Existing set) and starts nothing; with another
// selection it fails with *ConflictError. Errors: *SelectionError,
// *ConflictError, ErrClosed.
func (r *Runner) Start(ctx context.Context, req StartRequest) (Run, error) {
	sel := req.Selection.normalized()
	if len(req.Key) > 200 {
		return Run{}, &SelectionError{Reason: "idempotency key longer than 200 characters"}
	}
	if req.Key != "" {
		if run, ok, err := r.existing(ctx, req.Key, sel); ok || err != nil {
			return run, err
		}
	}
	ss, err := r.resolve(ctx, sel)
	if err != nil {
		return Run{}, fmt.Errorf("start trade-all: %w", err)
	}
	now := r.clk.Now()
	id := newRunID(now)
	key := req.Key
	if key == "" {
		key = "auto-" + id
	}
	items := make([]store.TradeAllItem, len(ss))
	for i, s := range ss {
		items[i] = store.TradeAllItem{Seq: int64(i), SessionID: s.ID, Account: s.Account, Venue: s.Venue, State: store.TradeAllPending}
	}
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return Run{}, fmt.Errorf("start trade-all run %s: %w", id, ErrClosed)
	}
	err = r.db.CreateTradeAllRun(ctx, store.TradeAllRun{ID: id, Key: key, Selection: sel.key(), State: string(RunRunning),
		Actor: req.Actor, Remote: req.Remote, CreatedAt: now}, items)
	if errors.Is(err, store.ErrConflict) {
		// A concurrent Start with the same key won the insert.
		if run, ok, err := r.existing(ctx, key, sel); ok || err != nil {
			return run, err
		}
	}
	if err != nil {
		return Run{}, fmt.Errorf("start trade-all run %s: %w", id, err)
	}
	r.log.Info("trade-all run started", "run", id, "key", key, "actor", req.Actor, "sessions", len(ss))
	if err := r.launch(id, true); err != nil {
		return Run{}, err
	}
	r.announce(id)
	return r.Get(ctx, id)
}

// existing returns the run that key names when its selection is sel, a
// *ConflictError when it is another, and ok false when there is none.
func (r *Runner) existing(ctx context.Context, key string, sel Selection) (Run, bool, error) {
	sr, err := r.db.TradeAllRunByKey(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return Run{}, false, nil
	}
	if err != nil {
		return Run{}, false, fmt.Errorf("start trade-all with key %q: %w", key, err)
	}
	if sr.Selection != sel.key() {
		var have Selection
		json.Unmarshal([]byte(sr.Selection), &have)
		return Run{}, false, &ConflictError{Key: key, RunID: sr.ID, Existing: have, Requested: sel}
	}
	run, err := r.Get(ctx, sr.ID)
	run.Existing = true
	return run, true, err
}

// launch starts executing run id in this process unless it already is. A
// following execution lasts until the run is over, refreshing what other
// nodes do (the node that started the run follows it); another ends once
// this node has nothing left to do in the run.
func (r *Runner) launch(id string, follow bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("execute trade-all run %s: %w", id, ErrClosed)
	}
	if ex, ok := r.active[id]; ok {
		if follow {
			ex.follow.Store(true)
		}
		return nil
	}
	ex := newExecution(r, id)
	ex.follow.Store(follow)
	r.active[id] = ex
	r.wg.Go(func() {
		defer close(ex.done)
		defer func() {
			r.mu.Lock()
			delete(r.active, id)
			r.mu.Unlock()
		}()
		if err := ex.run(); err != nil && r.ctx.Err() == nil {
			r.log.Error("trade-all run stopped", "run", id, "err", err)
		}
	})
	return nil
}

// announce tells the other nodes about run id (Config.Announce).
func (r *Runner) announce(id string) {
	if r.cfg.Announce != nil {
		go r.cfg.Announce(id)
	}
}

// Kick makes the runner look at run id now instead of at its next Poll:
// another node announced it (created it, or did its part of it).
func (r *Runner) Kick(id string) {
	r.mu.Lock()
	ex := r.active[id]
	r.mu.Unlock()
	if ex != nil {
		ex.poke()
	}
	select {
	case r.sweeps <- struct{}{}:
	default:
	}
}

// sweep executes, every Poll or Kick, the running runs that have work for
// this node; an execution with none ends at once.
func (r *Runner) sweep() {
	t := r.clk.NewTicker(r.cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C():
		case <-r.sweeps:
		}
		runs, err := r.db.TradeAllRuns(r.ctx, string(RunRunning), 1000)
		if err != nil {
			if r.ctx.Err() == nil {
				r.log.Warn("trade-all: list running runs", "err", err)
			}
			continue
		}
		for _, run := range runs {
			if err := r.launch(run.ID, false); err != nil {
				return // closed
			}
		}
	}
}

// Resume continues every run left running by an earlier process: items in
// flight are settled through the Stepper, pending ones are stepped (or
// canceled when the run was canceled). It returns the ids it resumed; use
// Wait or Subscribe to follow them. With Config.Poll set it also starts
// looking for work in every running run every Poll, whichever node started
// it, so runs survive the node that started them.
func (r *Runner) Resume(ctx context.Context) ([]string, error) {
	r.mu.Lock()
	if r.cfg.Poll > 0 && !r.sweepOn && !r.closed {
		r.sweepOn = true
		r.wg.Go(r.sweep)
	}
	r.mu.Unlock()
	var ids []string
	for {
		runs, err := r.db.TradeAllRuns(ctx, string(RunRunning), 1000)
		if err != nil {
			return ids, fmt.Errorf("resume trade-all: %w", err)
		}
		n := 0
		for _, run := range runs {
			if slices.Contains(ids, run.ID) {
				continue
			}
			n++
			r.log.Info("trade-all run resumed", "run", run.ID)
			if err := r.launch(run.ID, false); err != nil {
				return ids, fmt.Errorf("resume trade-all run %s: %w", run.ID, err)
			}
			ids = append(ids, run.ID)
		}
		if len(runs) < 1000 || n == 0 {
			return ids, nil
		}
	}
}

// Get returns a snapshot of run id from the store: audit fields, state,
// counts and every item. ErrRunNotFound when there is no such run.
func (r *Runner) Get(ctx context.Context, id string) (Run, error) {
	sr, err := r.db.TradeAllRun(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Run{}, fmt.Errorf("get trade-all run %s: %w", id, ErrRunNotFound)
	}
	if err != nil {
		return Run{}, fmt.Errorf("get trade-all run %s: %w", id, err)
	}
	sitems, err := r.db.TradeAllItems(ctx, id)
	if err != nil {
		return Run{}, fmt.Errorf("get trade-all run %s: %w", id, err)
	}
	run := runFromStore(sr)
	run.Items = make([]Item, len(sitems))
	for i, si := range sitems {
		run.Items[i] = itemFromStore(si)
		run.Counts.add(run.Items[i], 1)
	}
	run.Counts.Total = len(run.Items)
	return run, nil
}

// List returns the newest runs (without items); state "" means any.
func (r *Runner) List(ctx context.Context, state RunState, limit int) ([]Run, error) {
	srs, err := r.db.TradeAllRuns(ctx, string(state), limit)
	if err != nil {
		return nil, fmt.Errorf("list trade-all runs: %w", err)
	}
	out := make([]Run, len(srs))
	for i, sr := range srs {
		out[i] = runFromStore(sr)
	}
	return out, nil
}

// Wait blocks until run id is over (or ctx ends) and returns its snapshot.
// A run that no process executes stays running until Resume.
func (r *Runner) Wait(ctx context.Context, id string) (Run, error) {
	for {
		r.mu.Lock()
		ex := r.active[id]
		r.mu.Unlock()
		if ex != nil {
			select {
			case <-ex.done:
			case <-ctx.Done():
				return Run{}, fmt.Errorf("wait for trade-all run %s: %w", id, ctx.Err())
			case <-r.ctx.Done():
				return Run{}, fmt.Errorf("wait for trade-all run %s: %w", id, ErrClosed)
			}
		}
		run, err := r.Get(ctx, id)
		if err != nil || run.State.Terminal() {
			return run, err
		}
		select {
		case <-r.clk.After(50 * time.Millisecond):
		case <-ctx.Done():
			return run, fmt.Errorf("wait for trade-all run %s: %w", id, ctx.Err())
		}
	}
}

// Cancel stops run id: sessions not started are marked canceled and never
// stepped; steps in flight finish. The run ends canceled once they have.
// It fails with ErrRunFinished when the run is already over.
func (r *Runner) Cancel(ctx context.Context, id, actor string) (Run, error) {
	sr, err := r.db.TradeAllRun(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Run{}, fmt.Errorf("cancel trade-all run %s: %w", id, ErrRunNotFound)
	}
	if err != nil {
		return Run{}, fmt.Errorf("cancel trade-all run %s: %w", id, err)
	}
	if RunState(sr.State).Terminal() {
		return runFromStore(sr), fmt.Errorf("cancel trade-all run %s: %w", id, ErrRunFinished)
	}
	r.mu.Lock()
	ex := r.active[id]
	r.mu.Unlock()
	if ex != nil {
		ex.stopDispatch()
	}
	if _, err := r.db.RequestTradeAllCancel(ctx, id, r.clk.Now()); err != nil {
		return Run{}, err
	}
	r.log.Info("trade-all run cancel requested", "run", id, "actor", actor)
	if ex != nil {
		if err := ex.syncCanceled(ctx); err != nil {
			return Run{}, fmt.Errorf("cancel trade-all run %s: %w", id, err)
		}
	} else if err := r.launch(id, false); err != nil {
		// Not executing here: executing it settles the in-flight items
		// and finishes the run as canceled.
		return Run{}, err
	}
	return r.Get(ctx, id)
}

// Subscribe streams run id's progress until the run ends (the last update
// carries its final state) or ctx ends; the channel is closed then. Updates
// are coalesced: a slow reader gets the latest counts and every item
// changed since its previous read, and never slows the run. A run not
// executing in this process gets one snapshot and a closed channel.
func (r *Runner) Subscribe(ctx context.Context, id string) (<-chan Progress, error) {
	r.mu.Lock()
	ex := r.active[id]
	var s *subscriber
	if ex != nil {
		s = ex.subscribe()
	}
	r.mu.Unlock()
	if s != nil {
		context.AfterFunc(ctx, func() { ex.unsubscribe(s) })
		return s.ch, nil
	}
	run, err := r.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("subscribe to trade-all run %s: %w", id, err)
	}
	ch := make(chan Progress, 1)
	ch <- Progress{RunID: id, State: run.State, Counts: run.Counts}
	close(ch)
	return ch, nil
}

func runFromStore(sr store.TradeAllRun) Run {
	run := Run{ID: sr.ID, Key: sr.Key, State: RunState(sr.State), Actor: sr.Actor, Remote: sr.Remote,
		CancelRequested: sr.CancelRequested, Message: sr.Message, CreatedAt: sr.CreatedAt, FinishedAt: sr.FinishedAt}
	json.Unmarshal([]byte(sr.Selection), &run.Selection)
	return run
}

func itemFromStore(si store.TradeAllItem) Item {
	it := Item{SessionID: si.SessionID, Account: si.Account, Venue: si.Venue, State: ItemState(si.State),
		ErrorClass: si.ErrorClass, ErrorCode: int(si.ErrorCode), Message: si.Message, Fills: int(si.Fills),
		StartedAt: si.StartedAt, FinishedAt: si.FinishedAt, Node: si.Node}
	if it.State == ItemSkipped {
		it.Skip = SkipReason(si.Reason)
	}
	json.Unmarshal([]byte(si.Orders), &it.Orders)
	return it
}

func itemToStore(runID string, it Item) store.TradeAllItem {
	orders := "[]"
	if len(it.Orders) > 0 {
		b, _ := json.Marshal(it.Orders)
		orders = string(b)
	}
	return store.TradeAllItem{RunID: runID, SessionID: it.SessionID, Account: it.Account, Venue: it.Venue,
		State: string(it.State), Reason: string(it.Skip), ErrorClass: it.ErrorClass, ErrorCode: int64(it.ErrorCode),
		Message: it.Message, Orders: orders, Fills: int64(it.Fills), StartedAt: it.StartedAt, FinishedAt: it.FinishedAt, Node: it.Node}
}

// finalState decides a finished run's state from its counts.
func finalState(c Counts, cancelRequested bool) RunState {
	switch {
	case cancelRequested && c.Canceled > 0:
		return RunCanceled
	case c.Failed == 0:
		return RunDone
	case c.Done > 0:
		return RunPartial
	default:
		return RunFailed
	}
}

// writeReq is one item update for the group-commit writer.
type writeReq struct {
	u   store.TradeAllItemUpdate
	res chan writeRes
}

type writeRes struct {
	applied bool
	err     error
}

// writer commits item updates in groups: every update waiting when a
// commit starts shares it, so a thousand steps cost far fewer fsyncs than
// two thousand, and each caller still returns only once its update is
// durable.
func (r *Runner) writer() {
	const maxBatch = 256
	batch := make([]*writeReq, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case w := <-r.writes:
			batch = append(batch, w)
		case <-r.ctx.Done():
			return
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case w := <-r.writes:
				batch = append(batch, w)
			default:
				break drain
			}
		}
		us := make([]store.TradeAllItemUpdate, len(batch))
		for i, w := range batch {
			us[i] = w.u
		}
		applied, err := r.db.UpdateTradeAllItems(r.ctx, us)
		for i, w := range batch {
			res := writeRes{err: err}
			if err == nil {
				res.applied = applied[i]
			}
			w.res <- res
		}
	}
}

// write queues an item update and waits until it is durable.
func (r *Runner) write(runID string, it Item, from ...ItemState) (bool, error) {
	return r.writeUpdate(runID, it, false, "", from...)
}

// writeFrom is write that applies only while the item is still claimed by
// node fromNode.
func (r *Runner) writeFrom(runID string, it Item, fromNode string, from ...ItemState) (bool, error) {
	return r.writeUpdate(runID, it, true, fromNode, from...)
}

func (r *Runner) writeUpdate(runID string, it Item, checkNode bool, fromNode string, from ...ItemState) (bool, error) {
	fs := make([]string, len(from))
	for i, f := range from {
		fs[i] = string(f)
	}
	w := &writeReq{u: store.TradeAllItemUpdate{Item: itemToStore(runID, it), From: fs, CheckNode: checkNode, FromNode: fromNode},
		res: make(chan writeRes, 1)}
	select {
	case r.writes <- w:
	case <-r.ctx.Done():
		return false, ErrClosed
	}
	select {
	case res := <-w.res:
		return res.applied, res.err
	case <-r.ctx.Done():
		return false, ErrClosed
	}
}

// panicError is a recovered panic of a step.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("step panicked: %v", e.value) }

// classify names the class, code and message of a failed step.
func classify(err error) (class string, code int, msg string) {
	var ve *venue.Error
	var pe *panicError
	var ce *ClassError
	switch {
	case errors.As(err, &pe):
		return ClassPanic, 0, pe.Error()
	case errors.As(err, &ce) && ce.Class != "":
		return ce.Class, ce.Code, err.Error()
	case errors.As(err, &ve):
		return string(ve.Class), ve.Code, err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return ClassTimeout, 0, err.Error()
	}
	return ClassInternal, 0, err.Error()
}

// firstFree returns a Pace function whose first call is free (the runner
// paid for it before the step) and whose later calls wait on the pacer.
func (r *Runner) firstFree(venueName, account string) func(context.Context) error {
	var calls atomic.Int64
	return func(ctx context.Context) error {
		if calls.Add(1) == 1 {
			return nil
		}
		d, err := r.pacer.wait(ctx, venueName, account)
		r.met.paceWait.Observe(d.Seconds())
		return err
	}
}
