package tradeall

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// execution is one run executing in this process: it owns the run's
// in-memory mirror (items, counts) and its subscribers. The store stays the
// authority; the mirror only changes after the store has.
type execution struct {
	r    *Runner
	id   string
	done chan struct{}
	// dctx ends dispatch: Cancel and Close end it. Steps in flight run on
	// the runner's context, so a cancel lets them finish.
	dctx    context.Context
	dcancel context.CancelFunc

	mu       sync.Mutex
	items    map[string]*Item
	counts   Counts
	state    RunState
	subs     map[*subscriber]struct{}
	finished bool
}

type task struct {
	it     Item
	settle bool // the item was running when the run was loaded
}

func newExecution(r *Runner, id string) *execution {
	dctx, dcancel := context.WithCancel(r.ctx)
	return &execution{r: r, id: id, done: make(chan struct{}), dctx: dctx, dcancel: dcancel,
		items: map[string]*Item{}, state: RunRunning, subs: map[*subscriber]struct{}{}}
}

func (ex *execution) stopDispatch() { ex.dcancel() }

// run executes the run to its end, or until the runner stops.
func (ex *execution) run() error {
	defer ex.dcancel()
	defer ex.closeSubs()
	r, ctx := ex.r, ex.r.ctx
	sr, err := r.db.TradeAllRun(ctx, ex.id)
	if err != nil {
		return fmt.Errorf("execute trade-all run %s: %w", ex.id, err)
	}
	if RunState(sr.State).Terminal() {
		return nil
	}
	sitems, err := r.db.TradeAllItems(ctx, ex.id)
	if err != nil {
		return fmt.Errorf("execute trade-all run %s: %w", ex.id, err)
	}
	ex.mu.Lock()
	var tasks []task
	for _, si := range sitems {
		it := itemFromStore(si)
		ex.items[it.SessionID] = &it
		ex.counts.add(it, 1)
		switch it.State {
		case ItemRunning:
			tasks = append(tasks, task{it: it, settle: true})
		case ItemPending:
			tasks = append(tasks, task{it: it})
		}
	}
	ex.counts.Total = len(sitems)
	ex.mu.Unlock()
	// Settle what was in flight before stepping anything new.
	tasks = append(filter(tasks, true), filter(tasks, false)...)

	if sr.CancelRequested {
		ex.stopDispatch()
		if _, err := r.db.RequestTradeAllCancel(ctx, ex.id, r.clk.Now()); err != nil {
			return err
		}
		if err := ex.syncCanceled(ctx); err != nil {
			return err
		}
	}

	ch := make(chan task)
	var wg sync.WaitGroup
	for range min(r.cfg.Concurrency, len(tasks)) {
		wg.Go(func() {
			for t := range ch {
				ex.do(t)
			}
		})
	}
	for _, t := range tasks {
		if t.settle {
			select {
			case ch <- t:
			case <-ctx.Done():
			}
			continue
		}
		select {
		case ch <- t:
		case <-ex.dctx.Done():
		}
	}
	close(ch)
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return ex.finish(ctx)
}

func filter(ts []task, settle bool) []task {
	var out []task
	for _, t := range ts {
		if t.settle == settle {
			out = append(out, t)
		}
	}
	return out
}

// finish records the run's final state once every item is settled.
func (ex *execution) finish(ctx context.Context) error {
	r := ex.r
	if ex.dctx.Err() != nil {
		// Canceled (the runner is alive, so only Cancel stops dispatch):
		// make sure the store has canceled every pending item, even if
		// Cancel's own write has not landed yet, and mirror it.
		if _, err := r.db.RequestTradeAllCancel(ctx, ex.id, r.clk.Now()); err != nil {
			return err
		}
		if err := ex.syncCanceled(ctx); err != nil {
			return err
		}
	}
	ex.mu.Lock()
	c := ex.counts
	ex.mu.Unlock()
	if c.Pending > 0 || c.Running > 0 {
		return fmt.Errorf("execute trade-all run %s: %d items pending and %d running after dispatch (store writes failed); Resume continues it",
			ex.id, c.Pending, c.Running)
	}
	sr, err := r.db.TradeAllRun(ctx, ex.id)
	if err != nil {
		return fmt.Errorf("execute trade-all run %s: %w", ex.id, err)
	}
	state := finalState(c, sr.CancelRequested)
	msg := fmt.Sprintf("%d done, %d skipped, %d failed, %d canceled; %d orders", c.Done, c.Skipped, c.Failed, c.Canceled, c.Orders)
	err = r.db.FinishTradeAllRun(ctx, ex.id, string(RunRunning), string(state), msg, r.clk.Now())
	if errors.Is(err, store.ErrStale) {
		return nil // another process finished it
	}
	if err != nil {
		return err
	}
	r.met.runs.WithLabelValues(string(state)).Inc()
	r.log.Info("trade-all run finished", "run", ex.id, "state", state, "summary", msg)
	ex.mu.Lock()
	ex.state = state
	p := ex.progress(nil)
	for s := range ex.subs {
		s.offer(p)
	}
	ex.mu.Unlock()
	return nil
}

// do runs one task; errors end up on the item or, when the store cannot
// be written, leave it for Resume.
func (ex *execution) do(t task) {
	r := ex.r
	if t.settle {
		select {
		case r.sem <- struct{}{}:
		case <-r.ctx.Done():
			return
		}
		defer func() { <-r.sem }()
		ex.settle(t.it)
		return
	}
	if ex.dctx.Err() != nil {
		return
	}
	select {
	case r.sem <- struct{}{}:
	case <-ex.dctx.Done():
		return
	}
	defer func() { <-r.sem }()
	d, err := r.pacer.wait(ex.dctx, t.it.Venue, t.it.Account)
	r.met.paceWait.Observe(d.Seconds())
	if err != nil {
		return
	}
	it := t.it
	it.State, it.StartedAt = ItemRunning, r.clk.Now()
	applied, err := r.write(ex.id, it, ItemPending)
	if err != nil {
		r.log.Error("trade-all item not started", "run", ex.id, "session", it.SessionID, "err", err)
		return
	}
	if !applied {
		return // the run was canceled first
	}
	ex.update(it)
	ex.step(it)
}

// step runs the session's step and records its result.
func (ex *execution) step(it Item) {
	r := ex.r
	key := StepKey{RunID: ex.id, SessionID: it.SessionID}
	sctx, cancel := context.WithTimeout(r.ctx, r.cfg.StepTimeout)
	start := r.clk.Now()
	res, err := ex.callStep(sctx, StepRequest{Key: key, Pace: r.firstFree(it.Venue, it.Account)})
	cancel()
	if r.ctx.Err() != nil {
		// Stopped mid-step: record nothing; Resume settles it.
		return
	}
	r.met.stepDur.Observe(r.clk.Now().Sub(start).Seconds())
	var pe *panicError
	if errors.As(err, &pe) {
		r.log.Error("trade-all step panicked", "run", ex.id, "session", it.SessionID, "panic", pe.value, "stack", string(pe.stack))
		// Learn what it placed before it fell over.
		if st, serr := ex.callSettle(key); serr == nil && st.Started {
			res.Orders = st.Result.Orders
		}
	}
	ex.record(it, res, err)
}

func (ex *execution) callStep(ctx context.Context, req StepRequest) (res StepResult, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: v, stack: debug.Stack()}
		}
	}()
	return ex.r.stepper.Step(ctx, req)
}

func (ex *execution) callSettle(key StepKey) (st Settlement, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: v, stack: debug.Stack()}
		}
	}()
	ctx, cancel := context.WithTimeout(ex.r.ctx, ex.r.cfg.StepTimeout)
	defer cancel()
	return ex.r.stepper.Settle(ctx, key)
}

// settle resolves an item that was in flight when the run was loaded.
func (ex *execution) settle(it Item) {
	r := ex.r
	st, err := ex.callSettle(StepKey{RunID: ex.id, SessionID: it.SessionID})
	if r.ctx.Err() != nil {
		return
	}
	switch {
	case err != nil:
		ex.record(it, StepResult{}, fmt.Errorf("settle step after restart: %w", err))
	case st.Started:
		ex.record(it, st.Result, st.Err)
	case ex.dctx.Err() != nil:
		// Nothing left the process and the run is canceled: do not start.
		it.State, it.Message, it.FinishedAt = ItemCanceled, "run canceled", r.clk.Now()
		ex.write(it)
	default:
		ex.step(it)
	}
}

// record turns a step's outcome into the item's final state and stores it.
func (ex *execution) record(it Item, res StepResult, err error) {
	r := ex.r
	it.FinishedAt = r.clk.Now()
	it.Orders = res.Orders
	it.Fills = 0
	for _, o := range res.Orders {
		it.Fills += o.Fills
	}
	switch {
	case err != nil:
		it.State = ItemFailed
		it.ErrorClass, it.ErrorCode, it.Message = classify(err)
		var ve *venue.Error
		if errors.As(err, &ve) {
			switch {
			case ve.Class == venue.ClassRateLimited && ve.RetryAfter > 0:
				r.pacer.hold(it.Venue, r.clk.Now().Add(ve.RetryAfter))
			case ve.Class == venue.ClassBanned && !ve.Until.IsZero():
				r.pacer.hold(it.Venue, ve.Until)
				r.log.Error("venue banned us: trade-all paused on it", "run", ex.id, "venue", it.Venue, "until", ve.Until)
			}
		}
		r.met.failures.WithLabelValues(it.ErrorClass).Inc()
	case res.Skip != "":
		it.State, it.Skip, it.Message = ItemSkipped, res.Skip, res.Message
	default:
		it.State, it.Message = ItemDone, res.Message
	}
	ex.write(it)
}

// write stores a finished item (from running) and mirrors it.
func (ex *execution) write(it Item) {
	applied, err := ex.r.write(ex.id, it, ItemRunning)
	if err != nil {
		if ex.r.ctx.Err() == nil {
			ex.r.log.Error("trade-all item result not stored", "run", ex.id, "session", it.SessionID, "err", err)
		}
		return
	}
	if applied {
		ex.r.met.steps.WithLabelValues(string(it.State)).Inc()
		ex.update(it)
	}
}

// syncCanceled mirrors items the store has canceled.
func (ex *execution) syncCanceled(ctx context.Context) error {
	sitems, err := ex.r.db.TradeAllItems(ctx, ex.id)
	if err != nil {
		return err
	}
	for _, si := range sitems {
		if si.State != store.TradeAllCanceled {
			continue
		}
		ex.mu.Lock()
		cur := ex.items[si.SessionID]
		changed := cur != nil && cur.State == ItemPending
		ex.mu.Unlock()
		if changed {
			ex.r.met.steps.WithLabelValues(string(ItemCanceled)).Inc()
			ex.update(itemFromStore(si))
		}
	}
	return nil
}

// update mirrors a stored item change and tells subscribers.
func (ex *execution) update(it Item) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if cur := ex.items[it.SessionID]; cur != nil {
		ex.counts.add(*cur, -1)
	}
	ex.counts.add(it, 1)
	cp := it
	ex.items[it.SessionID] = &cp
	if len(ex.subs) == 0 {
		return
	}
	p := ex.progress([]Item{it})
	for s := range ex.subs {
		s.offer(p)
	}
}

// progress is the current update; ex.mu is held.
func (ex *execution) progress(changed []Item) Progress {
	return Progress{RunID: ex.id, State: ex.state, Counts: ex.counts, Changed: changed}
}

func (ex *execution) subscribe() *subscriber {
	s := &subscriber{ch: make(chan Progress, 1)}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	s.offer(ex.progress(nil))
	if ex.finished {
		s.close()
		return s
	}
	ex.subs[s] = struct{}{}
	return s
}

func (ex *execution) unsubscribe(s *subscriber) {
	ex.mu.Lock()
	delete(ex.subs, s)
	ex.mu.Unlock()
	s.close()
}

func (ex *execution) closeSubs() {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	ex.finished = true
	for s := range ex.subs {
		s.close()
	}
	ex.subs = nil
}

// subscriber is one coalescing progress channel: it holds at most one
// update, and a new one replaces it, merging the changed items.
type subscriber struct {
	mu     sync.Mutex
	ch     chan Progress
	closed bool
}

func (s *subscriber) offer(p Progress) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	select {
	case old := <-s.ch:
		p.Changed = mergeChanged(old.Changed, p.Changed)
	default:
	}
	s.ch <- p // never blocks: we are the only sender and just emptied it
}

func (s *subscriber) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.ch)
	}
}

// mergeChanged keeps the latest version of each changed item, in order of
// first change.
func mergeChanged(old, nw []Item) []Item {
	if len(old) == 0 {
		return nw
	}
	out := make([]Item, len(old), len(old)+len(nw))
	copy(out, old)
	idx := make(map[string]int, len(out))
	for i, it := range out {
		idx[it.SessionID] = i
	}
	for _, it := range nw {
		if i, ok := idx[it.SessionID]; ok {
			out[i] = it
			continue
		}
		idx[it.SessionID] = len(out)
		out = append(out, it)
	}
	return out
}
