package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/strategy"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// errSealed refuses calls from a step that already ended (a stuck step
// that ignored cancellation must never place an order later).
var errSealed = errors.New("step has ended")

// env is the strategy.Env of one step of one session.
type env struct {
	m       *Manager
	ctx     context.Context // for lazy reservations
	id      string
	account int64
	symbols []string
	params  json.RawMessage
	alloc   Allocation
	acct    Account
	now     time.Time
	dry     bool
	cidFn   func(n int) string              // StepOptions.ClientOrderID
	stepID  string                          // StepOptions.StepID
	before  func(ctx context.Context) error // StepOptions.BeforePlace

	mu       sync.Mutex
	sealed   bool
	state    json.RawMessage
	dirty    bool
	step     int64           // 0 until the first Place reserves one
	replay   bool            // step is an earlier attempt's open step, traded again
	used     map[string]bool // ids this attempt of a replayed step took
	top      int             // 1 + the highest order index a replay took
	n        int
	placed   []venue.Order
	canceled []venue.Order
	planned  []venue.OrderRequest
	errs     []string
	// abort, once set, ends the step: no further order leaves and the
	// step's outcome is abort with kind abortKind, whatever the strategy
	// makes of the refusal.
	abort     error
	abortKind FailureKind
	// unsettled: the session's orders with an unknown outcome by symbol,
	// read at the step's first Place.
	unsettled map[string][]string
	// seen: what a replayed step was answered from the journal, saved with
	// the step so a corrected order it saw is not corrected again.
	seen []store.CorrectionSeen
	// unanswered: an order of this attempt whose Place ended in an unknown
	// outcome. The strategy did not see what it did, so the step stays
	// open (stepSettled) even if its row is settled meanwhile: only a
	// replay, answered from the journal, lets the strategy record it.
	unanswered bool
}

// setAbort records the first reason the step must end.
func (e *env) setAbort(kind FailureKind, err error) {
	e.mu.Lock()
	if e.abort == nil {
		e.abort, e.abortKind = err, kind
	}
	e.mu.Unlock()
}

func (e *env) aborted() (FailureKind, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.abortKind, e.abort
}

var _ strategy.Env = (*env)(nil)

func (e *env) Now() time.Time     { return e.now }
func (e *env) SessionID() string  { return e.id }
func (e *env) Symbols() []string  { return slices.Clone(e.symbols) }
func (e *env) DryRun() bool       { return e.dry }
func (e *env) Params(v any) error { return json.Unmarshal(orEmpty(e.params), v) }
func (e *env) seal()              { e.mu.Lock(); e.sealed = true; e.mu.Unlock() }
func orEmpty(b []byte) []byte {
	if len(b) == 0 {
		return []byte("{}")
	}
	return b
}

func (e *env) Symbol(ctx context.Context, name string) (venue.Symbol, error) {
	return e.m.symbol(ctx, e.account, e.acct.Venue, name)
}

func (e *env) Price(ctx context.Context, symbol string) (venue.Decimal, error) {
	if e.acct.Prices == nil {
		return venue.Decimal{}, fmt.Errorf("price of %s: no price source for account %d", symbol, e.account)
	}
	return e.acct.Prices.Price(ctx, symbol)
}

func (e *env) Balances(ctx context.Context) ([]venue.Balance, error) {
	return e.acct.Venue.Balances(ctx)
}

func (e *env) OpenOrders(ctx context.Context, symbol string) ([]venue.Order, error) {
	return e.m.openOrders(ctx, e.acct.Venue, e.id, e.symbols, symbol)
}

func (e *env) Order(ctx context.Context, symbol, clientOrderID string) (venue.Order, error) {
	if !e.m.owns(e.id, clientOrderID) {
		return venue.Order{}, fmt.Errorf("order %q is not session %s's: %w", clientOrderID, e.id, venue.ErrOrderNotFound)
	}
	return e.acct.Venue.QueryOrder(ctx, symbol, clientOrderID)
}

func (e *env) Place(ctx context.Context, req venue.OrderRequest) (venue.Order, error) {
	e.mu.Lock()
	if e.sealed {
		e.mu.Unlock()
		return venue.Order{}, errSealed
	}
	if e.dry {
		req.ClientOrderID = fmt.Sprintf("preview-%d", e.n)
		e.n++
		e.planned = append(e.planned, req)
		e.mu.Unlock()
		return venue.Order{ClientOrderID: req.ClientOrderID, Symbol: req.Symbol, Side: req.Side, Type: req.Type,
			Price: req.Price, Quantity: req.Quantity, Status: venue.StatusNew, Created: e.now, Updated: e.now}, nil
	}
	if e.abort != nil {
		err := e.abort
		e.mu.Unlock()
		return venue.Order{}, err
	}
	if e.cidFn != nil {
		req.ClientOrderID = e.cidFn(e.n)
	} else {
		if e.step == 0 {
			// Open the step before the first order leaves. A fresh number
			// makes the step's ids unique; the number of an earlier attempt
			// whose orders may have an unknown outcome makes them the same,
			// so what the strategy decides again is answered from the
			// journal instead of sent twice (see store.OpenSessionStep).
			seq, replay, err := e.m.db.OpenSessionStep(ctx, e.id)
			if err != nil {
				e.mu.Unlock()
				return venue.Order{}, fmt.Errorf("session %s: %w", e.id, err)
			}
			e.step, e.replay = seq, replay
			if replay {
				e.m.log.Info("replaying an open step: an earlier attempt may have orders with an unknown outcome", "session", e.id, "step", seq)
			}
		}
		if e.replay {
			id, err := e.replayID(ctx, req)
			if err != nil {
				e.mu.Unlock()
				return venue.Order{}, fmt.Errorf("session %s: %w", e.id, err)
			}
			req.ClientOrderID = id
		} else {
			req.ClientOrderID = e.m.cid(e.id, e.step, e.n)
		}
	}
	e.n++
	e.mu.Unlock()
	if !e.dry {
		// An order whose outcome is unknown holds its symbol: the session
		// makes no new decision there until the venue's answer is certain.
		// Its own id (a replayed step deciding it again) is answered by the
		// journal.
		if held, err := e.heldBy(ctx, req); err != nil || held != "" {
			if err == nil {
				err = fmt.Errorf("session %s: order %q on %s has an unknown outcome; no new order on %s until the venue's answer is certain: %w",
					e.id, held, req.Symbol, req.Symbol, venue.ErrUnknownOutcome)
			}
			e.setAbort(FailAborted, err)
			e.mu.Lock()
			e.errs = append(e.errs, fmt.Sprintf("place %s: %v", req.ClientOrderID, err))
			e.mu.Unlock()
			return venue.Order{}, err
		}
	}
	if !venue.ClientOrderIDPattern.MatchString(req.ClientOrderID) {
		return venue.Order{}, fmt.Errorf("session %s: client order id %q breaks the venue rule", e.id, req.ClientOrderID)
	}
	refuse := func(kind FailureKind, err error) (venue.Order, error) {
		e.setAbort(kind, err)
		e.mu.Lock()
		e.errs = append(e.errs, fmt.Sprintf("place %s: %v", req.ClientOrderID, err))
		e.mu.Unlock()
		return venue.Order{}, err
	}
	if e.before != nil {
		if err := e.before(ctx); err != nil {
			return refuse(FailAborted, fmt.Errorf("session %s: before placing %q: %w", e.id, req.ClientOrderID, err))
		}
	}
	fence, err := e.m.guard(e.id) // right before the order leaves
	if err != nil {
		return refuse(FailNotOwner, fmt.Errorf("place %q: %w", req.ClientOrderID, err))
	}
	if e.cidFn != nil {
		e.m.rememberOrder(req.ClientOrderID, e.id)
	}
	fresh := e.cidFn == nil && !e.replay // a step number just opened: its ids were never used
	o, err := e.acct.Orders.Place(ctx, Intent{SessionID: e.id, AccountID: e.account, Fence: fence, Request: req, New: fresh})
	e.mu.Lock()
	if err != nil {
		e.errs = append(e.errs, fmt.Sprintf("place %s: %v", req.ClientOrderID, err))
		e.unanswered = e.unanswered || errors.Is(err, venue.ErrUnknownOutcome)
	} else {
		e.placed = append(e.placed, o)
		if e.replay || e.cidFn != nil {
			// Possibly answered from the journal: if the order was
			// corrected, the strategy sees its truth here.
			e.seen = append(e.seen, store.CorrectionSeen{ClientOrderID: o.ClientOrderID, SeenQty: o.ExecutedQty, SeenQuote: o.QuoteQty})
		}
	}
	e.mu.Unlock()
	if err != nil {
		if errors.Is(err, venue.ErrUnknownOutcome) {
			// Unknown until the venue's answer is certain: the step ends
			// here, stays open (replayed under the same ids) and the session
			// keeps its schedule; this is not the session's failure.
			e.setAbort(FailAborted, fmt.Errorf("session %s: %w", e.id, err))
		}
		return o, fmt.Errorf("session %s: %w", e.id, err)
	}
	return o, nil
}

// heldBy returns the id of an order of the session on req's symbol whose
// outcome is unknown, other than req's own id; "" when there is none. The
// session's unsettled orders are read once per step.
func (e *env) heldBy(ctx context.Context, req venue.OrderRequest) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.unsettled == nil {
		os, err := e.m.db.UnsettledOrders(ctx, e.id)
		if err != nil {
			return "", fmt.Errorf("session %s: %w", e.id, err)
		}
		e.unsettled = map[string][]string{}
		for _, o := range os {
			e.unsettled[o.Symbol] = append(e.unsettled[o.Symbol], o.ClientOrderID)
		}
	}
	ids := e.unsettled[req.Symbol]
	if len(ids) == 0 || slices.Contains(ids, req.ClientOrderID) {
		return "", nil
	}
	return ids[0], nil
}

// replayID picks the client order id of req in a replayed step (e.mu
// held): the id under which an earlier attempt of the step stored the same
// order (SameOrder), not yet used by this attempt, so the journal answers
// it; else the step's first id that names no stored order. A strategy that
// decides again in another order (a grid whose first levels were placed and
// saved re-places only the rest) is so answered for what it had sent, and
// its new orders take fresh ids.
func (e *env) replayID(ctx context.Context, req venue.OrderRequest) (string, error) {
	if e.used == nil {
		e.used = map[string]bool{}
	}
	for n := 0; ; n++ {
		id := e.m.cid(e.id, e.step, n)
		if e.used[id] {
			continue
		}
		o, err := e.m.db.OrderByClientID(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return "", fmt.Errorf("replay step %d: look up %q: %w", e.step, id, err)
		case !req.SameOrder(o.Symbol, venue.Side(o.Side), venue.OrderType(o.Type), o.Price):
			continue
		}
		e.used[id], e.top = true, max(e.top, n+1)
		return id, nil
	}
}

// placedAny reports whether the step tried to place an order.
func (e *env) placedAny() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n > 0
}

// stepSettled reports whether every order of the step has a known outcome:
// its Place returned the venue's answer, or the journal holds it as neither
// an intent nor an unknown outcome. An order of this attempt whose Place
// ended in an unknown outcome is unsettled whatever its row says: the user
// stream's fill or a reconcile may have settled the row before the step
// ended, but the strategy never saw the fill, and closing the step would
// lose it from the strategy's state for good. The orders of earlier
// attempts of a replayed step count too; ids are dense from 0 in every
// attempt, so the scan goes past this attempt's last index for as long as
// ids are found. A
// store error counts as unsettled (the step stays open, which is the safe
// side).
func (e *env) stepSettled(ctx context.Context) bool {
	e.mu.Lock()
	if e.unanswered {
		e.mu.Unlock()
		return false
	}
	placed := max(e.n, e.top)
	// Orders whose Place returned the venue's answer are known to the
	// strategy, whatever their row says: the executor leaves an executed
	// order's row non-terminal while its fills are still to be fetched
	// (Reconcile completes it), and the strategy has already recorded it.
	answered := make(map[string]bool, len(e.placed))
	for _, o := range e.placed {
		answered[o.ClientOrderID] = true
	}
	e.mu.Unlock()
	id := func(n int) string { return e.m.cid(e.id, e.step, n) }
	if e.cidFn != nil {
		id = e.cidFn
	}
	// Only a replayed step or caller-given ids can have orders of earlier
	// attempts past this attempt's last index; a fresh step number has
	// none (store.OpenSessionStep never hands one out twice).
	probe := e.replay || e.cidFn != nil
	for n := 0; ; n++ {
		if n >= placed && !probe {
			return true
		}
		if answered[id(n)] {
			continue // settled whatever its row says: no need to read it
		}
		o, err := e.m.db.OrderByClientID(ctx, id(n))
		if errors.Is(err, store.ErrNotFound) {
			if n >= placed {
				return true
			}
			continue
		}
		if err != nil || o.Status == store.OrderIntent || o.Status == store.OrderUnknown {
			return false
		}
	}
}

func (e *env) Cancel(ctx context.Context, symbol, clientOrderID string) (venue.Order, error) {
	e.mu.Lock()
	if e.sealed {
		e.mu.Unlock()
		return venue.Order{}, errSealed
	}
	if e.dry {
		o := venue.Order{ClientOrderID: clientOrderID, Symbol: symbol, Status: venue.StatusCanceled}
		e.canceled = append(e.canceled, o)
		e.mu.Unlock()
		return o, nil
	}
	e.mu.Unlock()
	if !e.m.owns(e.id, clientOrderID) {
		return venue.Order{}, fmt.Errorf("cancel %q: not session %s's order: %w", clientOrderID, e.id, venue.ErrOrderNotFound)
	}
	fence, err := e.m.guard(e.id)
	if err != nil {
		return venue.Order{}, fmt.Errorf("cancel order %q: %w", clientOrderID, err)
	}
	o, err := e.acct.Orders.Cancel(ctx, Intent{SessionID: e.id, AccountID: e.account, Fence: fence,
		Request: venue.OrderRequest{ClientOrderID: clientOrderID, Symbol: symbol}})
	if err != nil {
		return o, fmt.Errorf("cancel order %q: %w", clientOrderID, err)
	}
	e.mu.Lock()
	e.canceled = append(e.canceled, o)
	e.mu.Unlock()
	return o, nil
}

func (e *env) State(v any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.state) == 0 || string(e.state) == "{}" || string(e.state) == "null" {
		return nil
	}
	return json.Unmarshal(e.state, v)
}

func (e *env) SetState(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("session %s: encode strategy state: %w", e.id, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sealed {
		return errSealed
	}
	e.state, e.dirty = b, true
	return nil
}

func (e *env) Allocation(ctx context.Context) (venue.Decimal, error) {
	switch e.alloc.Kind {
	case AllocShare:
		if e.m.opts.Collateral == nil {
			return venue.Decimal{}, fmt.Errorf("session %s: share allocation needs a collateral source", e.id)
		}
		c, err := e.m.opts.Collateral(ctx, e.account)
		if err != nil {
			return venue.Decimal{}, fmt.Errorf("session %s: collateral: %w", e.id, err)
		}
		return c.Mul(e.alloc.Amount), nil
	default:
		return e.alloc.Amount, nil
	}
}

// fills derives the immediate fills of the step's placed orders.
func fillsOf(orders []venue.Order) []Fill {
	var out []Fill
	for _, o := range orders {
		if o.ExecutedQty.IsPos() {
			out = append(out, Fill{ClientOrderID: o.ClientOrderID, Symbol: o.Symbol, Side: o.Side, Quantity: o.ExecutedQty, QuoteQty: o.QuoteQty})
		}
	}
	return out
}

// Fill is an execution of an order placed in a step, as the venue reported
// it when the order was placed.
type Fill struct {
	ClientOrderID string        `json:"client_order_id"`
	Symbol        string        `json:"symbol"`
	Side          venue.Side    `json:"side"`
	Quantity      venue.Decimal `json:"quantity"`
	QuoteQty      venue.Decimal `json:"quote_qty"`
}
