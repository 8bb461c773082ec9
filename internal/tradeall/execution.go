package tradeall

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// execution is one run executing in this process: it owns the run's
// in-memory mirror (items, counts) and its subscribers. The store stays the
// authority; the mirror only changes after the store has.
//
// With several nodes (Config.Poll) every node executes the items of the
// sessions it owns: an execution steps the pending items that are here,
// settles the items a dead node left in flight, and reloads the run every
// Poll (or Kick) to mirror what the other nodes did and to pick up items
// whose sessions moved here. The run is finished by whichever node sees
// every item final first.
type execution struct {
	r    *Runner
	id   string
	done chan struct{}
	// dctx ends dispatch: Cancel and Close end it. Steps in flight run on
	// the runner's context, so a cancel lets them finish.
	dctx    context.Context
	dcancel context.CancelFunc
	// follow: keep executing until the run is over, even with nothing
	// left to do here (the node that started the run).
	follow atomic.Bool
	// wake is signalled when a task of this execution ends or the run is
	// kicked; kicked says which.
	wake   chan struct{}
	kicked atomic.Bool

	mu       sync.Mutex
	items    map[string]*Item
	counts   Counts
	state    RunState
	subs     map[*subscriber]struct{}
	finished bool
	inflight map[string]bool // session ids with a task here
	told     bool            // OnExecute called
}

type task struct {
	it     Item
	settle bool // the item was found running, not in flight here
}

func newExecution(r *Runner, id string) *execution {
	dctx, dcancel := context.WithCancel(r.ctx)
	return &execution{r: r, id: id, done: make(chan struct{}), dctx: dctx, dcancel: dcancel, wake: make(chan struct{}, 1),
		items: map[string]*Item{}, state: RunRunning, subs: map[*subscriber]struct{}{}, inflight: map[string]bool{}}
}

func (ex *execution) stopDispatch() { ex.dcancel() }

// poke wakes the execution to reload the run (another node changed it).
func (ex *execution) poke() {
	ex.kicked.Store(true)
	ex.signal()
}

func (ex *execution) signal() {
	select {
	case ex.wake <- struct{}{}:
	default:
	}
}

func (ex *execution) busy() int {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	return len(ex.inflight)
}

// tell calls Config.OnExecute once.
func (ex *execution) tell() {
	ex.mu.Lock()
	told := ex.told
	ex.told = true
	ex.mu.Unlock()
	if !told && ex.r.cfg.OnExecute != nil {
		ex.r.cfg.OnExecute(ex.id)
	}
}

// run executes the run to its end, or, when it does not follow the run,
// until nothing is left to do here; or until the runner stops.
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
	for _, si := range sitems {
		it := itemFromStore(si)
		ex.items[it.SessionID] = &it
		ex.counts.add(it, 1)
	}
	ex.counts.Total = len(sitems)
	ex.mu.Unlock()
	if ex.follow.Load() {
		ex.tell()
	}

	if sr.CancelRequested {
		ex.stopDispatch()
		if _, err := r.db.RequestTradeAllCancel(ctx, ex.id, r.clk.Now()); err != nil {
			return err
		}
		if err := ex.syncCanceled(ctx); err != nil {
			return err
		}
		if sitems, err = r.db.TradeAllItems(ctx, ex.id); err != nil {
			return err
		}
	}

	// Every item is in at most one task at a time (inflight), so the queue
	// never blocks the loop.
	work := make(chan task, max(len(sitems), 1))
	var wg sync.WaitGroup
	for range max(min(r.cfg.Concurrency, len(sitems)), 1) {
		wg.Go(func() {
			for t := range work {
				ex.do(t)
				ex.mu.Lock()
				delete(ex.inflight, t.it.SessionID)
				ex.mu.Unlock()
				ex.signal()
			}
		})
	}
	defer func() {
		close(work)
		wg.Wait()
	}()
	var tick <-chan time.Time
	if r.cfg.Poll > 0 {
		t := r.clk.NewTicker(r.cfg.Poll)
		defer t.Stop()
		tick = t.C()
	}
	dispatched := false // one node: one round of dispatch, as before
	for first := true; ; first = false {
		if !first {
			if sr, err = r.db.TradeAllRun(ctx, ex.id); err == nil {
				sitems, err = r.db.TradeAllItems(ctx, ex.id)
			}
			switch {
			case err != nil && ctx.Err() != nil:
				return ctx.Err()
			case err != nil && r.cfg.Poll <= 0:
				return fmt.Errorf("execute trade-all run %s: %w", ex.id, err)
			case err != nil:
				r.log.Warn("trade-all: reload run", "run", ex.id, "err", err)
				sitems = nil
			case RunState(sr.State).Terminal():
				// Another node finished it.
				ex.mirror(sitems)
				ex.mu.Lock()
				ex.state = RunState(sr.State)
				p := ex.progress(nil)
				for s := range ex.subs {
					s.offer(p)
				}
				ex.mu.Unlock()
				return nil
			default:
				ex.mirror(sitems)
				if sr.CancelRequested && ex.dctx.Err() == nil {
					ex.stopDispatch()
				}
			}
		}
		if sitems != nil {
			if allFinal(sitems) && ex.busy() == 0 {
				return ex.finish(ctx)
			}
			if r.cfg.Poll > 0 || !dispatched {
				dispatched = true
				tasks := ex.plan(ctx, sitems)
				if len(tasks) > 0 {
					ex.tell()
				}
				for _, t := range tasks {
					ex.mu.Lock()
					ex.inflight[t.it.SessionID] = true
					ex.mu.Unlock()
					work <- t
				}
			}
			if ex.busy() == 0 {
				switch {
				case r.cfg.Poll <= 0:
					// One node, nothing left to run: what is not final
					// could not be written, and finish says so.
					return ex.finish(ctx)
				case !ex.follow.Load():
					// This node's part is done; the rest is the other
					// nodes', whose sessions they are.
					r.announce(ex.id)
					return nil
				}
			}
		}
		// Wait for a reason to look again: every task of this round ended,
		// another node kicked the run, or Poll.
	wait:
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick:
				break wait
			case <-ex.wake:
				if ex.kicked.Swap(false) || ex.busy() == 0 {
					break wait
				}
			}
		}
	}
}

func allFinal(sitems []store.TradeAllItem) bool {
	for _, si := range sitems {
		if !ItemState(si.State).Terminal() {
			return false
		}
	}
	return true
}

// rank orders item states by progress: the mirror only moves forward, so
// a reload older than a write of this node never undoes it.
func rank(s ItemState) int {
	switch s {
	case ItemPending:
		return 0
	case ItemRunning:
		return 1
	}
	return 2
}

// mirror applies the changes other nodes (or Cancel) made to the items.
func (ex *execution) mirror(sitems []store.TradeAllItem) {
	for _, si := range sitems {
		it := itemFromStore(si)
		ex.mu.Lock()
		cur := ex.items[it.SessionID]
		ahead := cur == nil || rank(it.State) > rank(cur.State)
		ex.mu.Unlock()
		if ahead {
			ex.update(it)
		}
	}
}

// plan picks the items this node should act on now: items found running
// and not in flight here, when their node is this one or is dead, to
// settle; pending items, unless dispatch stopped, to step; in both cases
// only for sessions that are here. Settling comes first.
func (ex *execution) plan(ctx context.Context, sitems []store.TradeAllItem) []task {
	r := ex.r
	var cands []store.TradeAllItem
	needAlive := false
	ex.mu.Lock()
	for _, si := range sitems {
		if ex.inflight[si.SessionID] {
			continue
		}
		switch si.State {
		case store.TradeAllPending:
			if ex.dctx.Err() == nil {
				cands = append(cands, si)
			}
		case store.TradeAllRunning:
			cands = append(cands, si)
			needAlive = needAlive || si.Node != r.cfg.Node
		}
	}
	ex.mu.Unlock()
	if len(cands) == 0 {
		return nil
	}
	here := make([]bool, len(cands))
	if r.cfg.Here == nil {
		for i := range here {
			here[i] = true
		}
	} else {
		ids := make([]string, len(cands))
		for i, si := range cands {
			ids[i] = si.SessionID
		}
		h, err := r.cfg.Here(ctx, ids)
		if err != nil || len(h) != len(ids) {
			if ctx.Err() == nil {
				r.log.Warn("trade-all: which sessions are here", "run", ex.id, "err", err)
			}
			return nil
		}
		here = h
	}
	var alive map[string]bool
	if needAlive && r.cfg.Alive != nil {
		a, err := r.cfg.Alive(ctx)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("trade-all: which nodes are alive", "run", ex.id, "err", err)
			}
			needAlive = false // settle nothing of other nodes' this round
			alive = nil
		} else {
			alive = a
		}
	}
	var settle, step []task
	for i, si := range cands {
		if !here[i] {
			continue
		}
		it := itemFromStore(si)
		if si.State == store.TradeAllPending {
			step = append(step, task{it: it})
			continue
		}
		mine := si.Node == r.cfg.Node || r.cfg.Alive == nil
		if !mine && (alive == nil || alive[si.Node]) {
			continue // in flight on a live node: it finishes it
		}
		settle = append(settle, task{it: it, settle: true})
	}
	return append(settle, step...)
}

// finish records the run's final state once every item is final; until
// then it fails, and Resume (or another node) continues the run.
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
	sitems, err := r.db.TradeAllItems(ctx, ex.id)
	if err != nil {
		return fmt.Errorf("execute trade-all run %s: %w", ex.id, err)
	}
	ex.mirror(sitems)
	var c Counts
	for _, si := range sitems {
		c.add(itemFromStore(si), 1)
	}
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
		// Another node finished it first.
		if sr, err := r.db.TradeAllRun(ctx, ex.id); err == nil {
			state = RunState(sr.State)
		}
	} else if err != nil {
		return err
	} else {
		r.met.runs.WithLabelValues(string(state)).Inc()
		r.log.Info("trade-all run finished", "run", ex.id, "state", state, "summary", msg)
		r.announce(ex.id)
	}
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
		it := t.it
		if it.Node != r.cfg.Node {
			// Take the item over from the node that died in it; exactly
			// one node does.
			it.Node = r.cfg.Node
			applied, err := r.writeFrom(ex.id, it, t.it.Node, ItemRunning)
			if err != nil || !applied {
				if err != nil && r.ctx.Err() == nil {
					r.log.Error("trade-all item not taken over", "run", ex.id, "session", it.SessionID, "from", t.it.Node, "err", err)
				}
				return
			}
			r.log.Info("trade-all item taken over from a dead node", "run", ex.id, "session", it.SessionID, "from", t.it.Node)
		}
		ex.settle(it)
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
	it.State, it.StartedAt, it.Node = ItemRunning, r.clk.Now(), r.cfg.Node
	applied, err := r.write(ex.id, it, ItemPending)
	if err != nil {
		r.log.Error("trade-all item not started", "run", ex.id, "session", it.SessionID, "err", err)
		return
	}
	if !applied {
		return // canceled, or claimed by another node first
	}
	ex.update(it)
	ex.step(it, false)
}

// step runs the session's step and records its result.
//
// resumed: an earlier attempt of the step may have stored orders, none of
// which executed (Settle said so).
func (ex *execution) step(it Item, resumed bool) {
	r := ex.r
	key := StepKey{RunID: ex.id, SessionID: it.SessionID}
	sctx, cancel := context.WithTimeout(r.ctx, r.cfg.StepTimeout)
	start := r.clk.Now()
	res, err := ex.callStep(sctx, StepRequest{Key: key, Pace: r.firstFree(it.Venue, it.Account), Resumed: resumed})
	cancel()
	if r.ctx.Err() != nil {
		// Stopped mid-step: record nothing; Resume settles it.
		return
	}
	r.met.stepDur.Observe(r.clk.Now().Sub(start).Seconds())
	if errors.Is(err, ErrNotHere) && r.cfg.Poll > 0 && len(res.Orders) == 0 {
		// The session moved to another node before anything was sent:
		// give the item back for its owner.
		back := it
		back.State, back.Node = ItemPending, ""
		if applied, werr := r.writeFrom(ex.id, back, r.cfg.Node, ItemRunning); werr == nil && applied {
			r.log.Info("trade-all item left to the session's owner", "run", ex.id, "session", it.SessionID, "err", err)
			ex.mu.Lock()
			if cur := ex.items[it.SessionID]; cur != nil {
				ex.counts.add(*cur, -1)
			}
			ex.counts.add(back, 1)
			cp := back
			ex.items[it.SessionID] = &cp
			ex.mu.Unlock()
			return
		}
	}
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
		ex.step(it, true)
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

// write stores a finished item (from running, claimed by this node) and
// mirrors it.
func (ex *execution) write(it Item) {
	it.Node = ex.r.cfg.Node
	applied, err := ex.r.writeFrom(ex.id, it, ex.r.cfg.Node, ItemRunning)
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
