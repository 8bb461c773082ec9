// Package tradeall runs one trade step of many sessions at once ("Trade
// All") as one safe, durable, idempotent action.
//
// A run selects sessions (by ids, tags, account, venue, or all running
// ones), stores the selection and one item per session, then steps each
// session once with bounded concurrency, pacing every order through a token
// bucket per venue and per account. Runs carry an idempotency key: the same
// key with the same selection returns the same run and never trades twice;
// the same key with another selection is refused with *ConflictError. If
// the process dies, Resume continues the items not yet started and settles
// the ones that were in flight through the Stepper, never re-running them
// blindly. Progress is published to subscribers, coalesced and without
// blocking the run.
//
// It owns the run's bookkeeping, pacing and results, and the step's scheme:
// SessionStepper runs each step through the session manager under client
// order ids derived from the run (journal.TradeAllOrderID), classes its
// failures, waits for a session on its way to running, and settles a step
// a dead process left in flight from the journal. The session manager
// decides, checks allocation and sends each order through the journal;
// internal/app only wires them together.
package tradeall

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tradeplane/tradeplane/internal/apperr"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// Selection names the sessions of a run. Every non-empty criterion must
// match (IDs: the session is one of them; Tags: the session carries every
// tag; Account, Venue: equal). All must be set to select with no other
// criterion, and then, as with any selection without IDs, only running
// sessions are selected; sessions named by id are selected whatever their
// state, and the Stepper reports why it skips them.
type Selection struct {
	IDs     []string `json:"ids,omitempty"`
	Tags    []string `json:"tags,omitempty"`
	Account string   `json:"account,omitempty"`
	Venue   string   `json:"venue,omitempty"`
	All     bool     `json:"all,omitempty"`
}

// normalized returns s with sorted, de-duplicated lists, so that equal
// selections compare equal.
func (s Selection) normalized() Selection {
	n := s
	n.IDs = slices.Compact(slices.Sorted(slices.Values(s.IDs)))
	n.Tags = slices.Compact(slices.Sorted(slices.Values(s.Tags)))
	return n
}

func (s Selection) empty() bool {
	return len(s.IDs) == 0 && len(s.Tags) == 0 && s.Account == "" && s.Venue == "" && !s.All
}

// key is the canonical JSON of the normalized selection.
func (s Selection) key() string {
	b, _ := json.Marshal(s.normalized())
	return string(b)
}

// match reports whether the session matches every criterion.
func (s Selection) match(si SessionInfo) bool {
	if len(s.IDs) > 0 && !slices.Contains(s.IDs, si.ID) {
		return false
	}
	for _, t := range s.Tags {
		if !slices.Contains(si.Tags, t) {
			return false
		}
	}
	if s.Account != "" && s.Account != si.Account {
		return false
	}
	if s.Venue != "" && s.Venue != si.Venue {
		return false
	}
	if len(s.IDs) == 0 && !si.Running {
		return false
	}
	return true
}

// RunState is the state of a run. Running is the only non-terminal one.
type RunState string

// Run states.
const (
	RunRunning  RunState = "running"
	RunDone     RunState = "done"     // every item done or skipped
	RunPartial  RunState = "partial"  // some items failed, some done
	RunFailed   RunState = "failed"   // items failed and none was done
	RunCanceled RunState = "canceled" // canceled before every item started
)

// Terminal reports whether the run is over.
func (s RunState) Terminal() bool { return s != RunRunning && s != "" }

// RunStates lists every run state (a test checks it against the constants).
var RunStates = []RunState{RunRunning, RunDone, RunPartial, RunFailed, RunCanceled}

// ItemState is the state of one session's step within a run.
type ItemState string

// Item states. Pending and Running are the non-terminal ones.
const (
	ItemPending  ItemState = "pending"
	ItemRunning  ItemState = "running"
	ItemDone     ItemState = "done"
	ItemSkipped  ItemState = "skipped"
	ItemFailed   ItemState = "failed"
	ItemCanceled ItemState = "canceled"
)

// Terminal reports whether the item is settled.
func (s ItemState) Terminal() bool { return s != ItemPending && s != ItemRunning }

// ItemStates lists every item state (a test checks it against the
// constants).
var ItemStates = []ItemState{ItemPending, ItemRunning, ItemDone, ItemSkipped, ItemFailed, ItemCanceled}

// SkipReason says why a session's step placed nothing on purpose.
type SkipReason string

// Skip reasons the Stepper reports; others are allowed and shown as is.
const (
	SkipPaused             = SkipReason(apperr.Paused)
	SkipQuarantined        = SkipReason(apperr.Quarantined)
	SkipNotRunning         = SkipReason(apperr.NotRunning)
	SkipAllocationExceeded = SkipReason(apperr.AllocationExceeded)
	SkipNothingToDo        = SkipReason("nothing_to_do")
)

// SkipOf is the skip reason of a step that did nothing with code: the code
// itself when apperr's table classes it as a skip (paused, quarantined,
// not_running, allocation_exceeded), nothing_to_do for any other code and
// for none (a strategy's plain "nothing to do"). It reads the code only,
// never the step's message.
func SkipOf(code apperr.Code) SkipReason {
	if code != "" && apperr.Lookup(code).Skip {
		return SkipReason(code)
	}
	return SkipNothingToDo
}

// Error classes of failed items beyond venue.Class values.
const (
	// ClassPanic: the step panicked; the runner recovered it.
	ClassPanic = "panic"
	// ClassTimeout: the step exceeded Config.StepTimeout.
	ClassTimeout = "timeout"
	// ClassInternal: an error that is not a venue error.
	ClassInternal = "internal"
)

// SessionInfo is what the runner needs to know about a session to select
// and pace it.
type SessionInfo struct {
	ID      string
	Name    string
	Account string // account name; the pacing key within Venue
	Venue   string // venue kind: "paper", "binance"
	Tags    []string
	State   string // as package session names it, for display
	Running bool   // whether "all running sessions" includes it
}

// Order is one order a step placed (or a preview plans), as reported by the
// Stepper from its journal.
type Order struct {
	ClientOrderID string          `json:"client_order_id,omitempty"`
	Symbol        string          `json:"symbol"`
	Side          venue.Side      `json:"side"`
	Type          venue.OrderType `json:"type"`
	Quantity      venue.Decimal   `json:"quantity"`
	QuoteQuantity venue.Decimal   `json:"quote_quantity"`
	Price         venue.Decimal   `json:"price"`
	Status        string          `json:"status,omitempty"`
	ExecutedQty   venue.Decimal   `json:"executed_qty"`
	Fills         int             `json:"fills"`
}

// StepKey identifies one session's step within one run. The Stepper derives
// its client order ids from it (see Ref) so that the step is recognisable
// in the journal after a crash.
type StepKey struct {
	RunID     string
	SessionID string
}

// StepRequest asks for one trade step.
type StepRequest struct {
	Key StepKey
	// Pace must be called before sending each order. The runner has paid
	// for the first order before the step starts, so the first call returns
	// at once; later calls wait for the venue's and the account's budget.
	// It fails only when ctx ends or the run is stopped.
	Pace func(ctx context.Context) error
	// Resumed is set when the step runs after a Settle that found nothing
	// of an earlier attempt executed (Settlement.Started false): orders of
	// that attempt may be stored, so the step must use client order ids of
	// its own.
	Resumed bool
}

// StepResult is what a step did. Skip non-empty means it placed nothing on
// purpose; otherwise Orders lists what it placed (possibly none).
type StepResult struct {
	Skip    SkipReason
	Message string
	Orders  []Order
}

// Settlement is the Stepper's answer about a step that may have started
// before a crash.
type Settlement struct {
	// Started is false when no order of the step can exist at the venue, so
	// the runner may run the step (again). A Stepper that answers false
	// after some request of the step left must not reuse that request's
	// client order id.
	Started bool
	// Result is what the step did, reconciled with the venue; Err, when
	// set, fails the item with its class.
	Result StepResult
	Err    error
}

// Stepper runs and previews trade steps. The lead wires it to the session
// manager (its TradeNow and plan mode) and the journal's Executor.
type Stepper interface {
	// Plan previews the session's next step without sending anything.
	Plan(ctx context.Context, sessionID string) (Plan, error)
	// Step runs one trade step of req.Key.SessionID, journaling every order
	// before it is sent, with client order ids derived from req.Key. A step
	// that cannot run returns a result with Skip set; a failure returns an
	// error (a *venue.Error keeps its class). Step must be safe to call
	// concurrently for different sessions.
	Step(ctx context.Context, req StepRequest) (StepResult, error)
	// Settle reconciles the step req identifies after a crash: it reports
	// the orders it placed (querying the venue by client order id where the
	// journal does not know the outcome) or that it never sent any.
	Settle(ctx context.Context, key StepKey) (Settlement, error)
}

// Sessions lists the sessions a selection is resolved against.
type Sessions interface {
	// Sessions lists every known session.
	Sessions(ctx context.Context) ([]SessionInfo, error)
}

// Allocation is the allocation check of a planned step: Required is the
// value its orders would add to the session's exposure, Available what its
// allocation has left; Unlimited when the session has no allocation limit.
type Allocation struct {
	OK        bool          `json:"ok"`
	Required  venue.Decimal `json:"required"`
	Available venue.Decimal `json:"available"`
	Unlimited bool          `json:"unlimited,omitempty"`
	Message   string        `json:"message,omitempty"`
}

// Plan is what a session's next step would do.
type Plan struct {
	Skip       SkipReason `json:"skip,omitempty"`
	Message    string     `json:"message,omitempty"`
	Orders     []Order    `json:"orders"`
	Allocation Allocation `json:"allocation"`
}

// Errors callers branch on with errors.Is.
var (
	// ErrRunNotFound: no run with that id.
	ErrRunNotFound = apperr.New(apperr.NotFound, "trade-all run not found")
	// ErrKeyConflict: the idempotency key belongs to a run with another
	// selection; *ConflictError carries the details.
	ErrKeyConflict = apperr.New(apperr.Conflict, "idempotency key reused with a different selection")
	// ErrBadSelection: the selection is empty or names unknown sessions;
	// *SelectionError carries the details.
	ErrBadSelection = apperr.New(apperr.Invalid, "bad selection")
	// ErrRunFinished: the run is already over (cancel came too late).
	ErrRunFinished = apperr.New(apperr.Conflict, "trade-all run already finished")
	// ErrClosed: the runner was closed.
	ErrClosed = errors.New("trade-all runner closed")
	// ErrNotHere: a Stepper's answer, before anything of the step was
	// sent, that the session is not this node's to step (its lease moved
	// on). With Config.Poll set the item goes back to pending and the node
	// that owns the session steps it; otherwise the item fails.
	ErrNotHere = errors.New("session is not stepped on this node")
)

// ClassError is a failed step with the error class (and venue code) the
// Stepper knows from its journal, e.g. "insufficient_funds", "journal",
// "unsettled"; the item fails with that class.
type ClassError struct {
	Class string
	Code  int
	Err   error
}

// Error is the underlying error's message.
func (e *ClassError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *ClassError) Unwrap() error { return e.Err }

// ConflictError: Key already names run RunID, which has another selection.
type ConflictError struct {
	Key       string
	RunID     string
	Existing  Selection
	Requested Selection
}

// Error names the key, the run it belongs to and both selections.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("idempotency key %q already names run %s with selection %s, not %s",
		e.Key, e.RunID, e.Existing.key(), e.Requested.key())
}

// Is matches ErrKeyConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrKeyConflict }

// ErrorCode is apperr.Conflict.
func (e *ConflictError) ErrorCode() apperr.Code { return apperr.Conflict }

// ErrorCode is apperr.Invalid.
func (e *SelectionError) ErrorCode() apperr.Code { return apperr.Invalid }

// SelectionError: the selection cannot be run as given.
type SelectionError struct {
	Reason  string
	Missing []string // session ids that do not exist
}

// Error says what is wrong with the selection.
func (e *SelectionError) Error() string {
	if len(e.Missing) > 0 {
		return fmt.Sprintf("bad selection: %s: %v", e.Reason, e.Missing)
	}
	return "bad selection: " + e.Reason
}

// Is matches ErrBadSelection.
func (e *SelectionError) Is(target error) bool { return target == ErrBadSelection }

// Counts tallies a run's items by state.
type Counts struct {
	Total    int `json:"total"`
	Pending  int `json:"pending"`
	Running  int `json:"running"`
	Done     int `json:"done"`
	Skipped  int `json:"skipped"`
	Failed   int `json:"failed"`
	Canceled int `json:"canceled"`
	Orders   int `json:"orders"`
	Fills    int `json:"fills"`
}

func (c *Counts) add(it Item, sign int) {
	switch it.State {
	case ItemPending:
		c.Pending += sign
	case ItemRunning:
		c.Running += sign
	case ItemDone:
		c.Done += sign
	case ItemSkipped:
		c.Skipped += sign
	case ItemFailed:
		c.Failed += sign
	case ItemCanceled:
		c.Canceled += sign
	}
	c.Orders += sign * len(it.Orders)
	c.Fills += sign * it.Fills
}

// Item is one session of a run and its result.
type Item struct {
	SessionID  string     `json:"session_id"`
	Account    string     `json:"account"`
	Venue      string     `json:"venue"`
	State      ItemState  `json:"state"`
	Skip       SkipReason `json:"skip,omitempty"`
	ErrorClass string     `json:"error_class,omitempty"`
	ErrorCode  int        `json:"error_code,omitempty"`
	Message    string     `json:"message,omitempty"`
	Orders     []Order    `json:"orders"`
	Fills      int        `json:"fills"`
	StartedAt  time.Time  `json:"started_at,omitzero"`
	FinishedAt time.Time  `json:"finished_at,omitzero"`
	// Node is the node that stepped the session (Config.Node).
	Node string `json:"node,omitempty"`
}

// Run is a snapshot of a run: its audit fields, state, counts and items.
type Run struct {
	ID              string    `json:"id"`
	Key             string    `json:"key"`
	Selection       Selection `json:"selection"`
	State           RunState  `json:"state"`
	Actor           string    `json:"actor"`
	Remote          string    `json:"remote,omitempty"`
	CancelRequested bool      `json:"cancel_requested"`
	Message         string    `json:"message,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
	FinishedAt      time.Time `json:"finished_at,omitzero"`
	Counts          Counts    `json:"counts"`
	Items           []Item    `json:"items"`
	// Existing is true when Start returned a run that the idempotency key
	// already named.
	Existing bool `json:"existing"`
}

// PreviewItem is one session's planned step.
type PreviewItem struct {
	SessionID string `json:"session_id"`
	Name      string `json:"name"`
	Account   string `json:"account"`
	Venue     string `json:"venue"`
	State     string `json:"state"`
	Plan      Plan   `json:"plan"`
	// Error is set when the plan could not be made.
	Error string `json:"error,omitempty"`
}

// Preview is what a selection would do, session by session.
type Preview struct {
	Selection Selection     `json:"selection"`
	Items     []PreviewItem `json:"items"`
	Orders    int           `json:"orders"`
	Skipped   int           `json:"skipped"`
	Errors    int           `json:"errors"`
}

// StartRequest asks for a run.
type StartRequest struct {
	// Key is the idempotency key; empty means the runner generates one.
	Key       string
	Selection Selection
	// Actor and Remote are recorded on the run for the audit trail.
	Actor  string
	Remote string
}

// Progress is one coalesced update of a run: its state, its counts, and the
// items that changed since the subscriber's previous update.
type Progress struct {
	RunID   string   `json:"run_id"`
	State   RunState `json:"state"`
	Counts  Counts   `json:"counts"`
	Changed []Item   `json:"changed,omitempty"`
}
