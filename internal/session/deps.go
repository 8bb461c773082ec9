package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tradeplane/tradeplane/internal/apperr"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// Intent is one order action of a session, field for field the journal's
// Intent, so the server's adapter is a plain conversion:
//
//	func (a placer) Place(ctx context.Context, in session.Intent) (venue.Order, error) {
//		return a.x.Place(ctx, journal.Intent(in))
//	}
type Intent struct {
	SessionID string
	AccountID int64
	Fence     int64
	Request   venue.OrderRequest
	// New says the client order id was never used: it carries a step
	// number just opened (not a replayed step, not ids the caller gave),
	// so no stored order can have it and the placer need not look one up.
	New bool
}

// OrderPlacer sends a session's orders: the journal's Executor in
// production (intent journaled before sending, never sent twice). Place
// and Cancel take the request's ClientOrderID as the order's identity.
type OrderPlacer interface {
	Place(ctx context.Context, in Intent) (venue.Order, error)
	Cancel(ctx context.Context, in Intent) (venue.Order, error)
}

// PriceSource gives the current price of a symbol on one account's venue
// (the portfolio's price book in production).
type PriceSource interface {
	Price(ctx context.Context, symbol string) (venue.Decimal, error)
}

// PriceFunc adapts a function to PriceSource.
type PriceFunc func(ctx context.Context, symbol string) (venue.Decimal, error)

// Price calls f.
func (f PriceFunc) Price(ctx context.Context, symbol string) (venue.Decimal, error) {
	return f(ctx, symbol)
}

// Account is what a session needs of its account: the venue for reads
// (symbols, balances, open orders), the OrderPlacer for writes, and
// prices.
type Account struct {
	Venue  venue.Venue
	Orders OrderPlacer
	Prices PriceSource
}

// Accounts resolves an account id to its handles. It is called at every
// (re)start of a session, so credentials rotated in between are picked up.
type Accounts interface {
	Account(ctx context.Context, accountID int64) (Account, error)
}

// AccountsFunc adapts a function to Accounts.
type AccountsFunc func(ctx context.Context, accountID int64) (Account, error)

// Account calls f.
func (f AccountsFunc) Account(ctx context.Context, id int64) (Account, error) { return f(ctx, id) }

// ClientOrderIDFunc derives the client order id of the n-th order (from 0)
// of a session's step; it must be deterministic and satisfy
// venue.ClientOrderIDPattern. The default is journal.ClientOrderID, the one
// scheme of the tree.
type ClientOrderIDFunc func(sessionID string, step int64, n int) string

// ReconcileFunc settles an account's unknown order outcomes (the journal's
// Reconcile); Boot runs it once per account before resuming that account's
// sessions, and resumes none of them when it fails.
type ReconcileFunc func(ctx context.Context, accountID int64) error

// Severity of an alert.
type Severity string

// Severities.
const (
	SevWarning  Severity = "warning"
	SevCritical Severity = "critical"
)

// Alert is something an operator must see.
type Alert struct {
	At        time.Time
	Severity  Severity
	Source    string // "session"
	SessionID string
	AccountID int64
	Message   string
}

// Alerter raises alerts (the server stores and streams them).
type Alerter interface {
	Raise(ctx context.Context, a Alert) error
}

// FailureKind says how a step or start failed.
type FailureKind string

// Failure kinds.
const (
	FailError FailureKind = "error" // the step returned an error
	FailPanic FailureKind = "panic" // the step panicked
	FailStuck FailureKind = "stuck" // the step overran its deadline
	FailStart FailureKind = "start" // the strategy could not be built
	// FailNotOwner: Options.Guard refused an order (this node may no
	// longer hold the session's lease). The failure is recorded (OnFailure,
	// metric, alert) but the stored state is not touched, since another node
	// may own the session now; the session keeps its schedule here until the
	// cluster releases it.
	FailNotOwner FailureKind = "not_owner"
	// FailAborted: the caller of TradeNowWith aborted the step (BeforePlace
	// failed or its context ended). It is not a failure of the session: no
	// restart, no OnFailure record; only the step's report and error say so.
	FailAborted FailureKind = "aborted"
)

// Failure is one recorded failure of a session, handed to the OnFailure
// hook (the journal) after it is stored as the session's last_error.
type Failure struct {
	At        time.Time
	SessionID string
	AccountID int64
	Kind      FailureKind
	Step      int64 // step number when one was reserved, else 0
	Err       error
}

// PanicError is a recovered panic of a strategy step.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("strategy panicked: %v", e.Value) }

// StuckError is a step that overran its deadline and was canceled.
type StuckError struct {
	Deadline  time.Duration
	Abandoned bool // it did not return within the grace period after cancel
}

func (e *StuckError) Error() string {
	s := fmt.Sprintf("step exceeded its %s deadline", e.Deadline)
	if e.Abandoned {
		s += " and ignored cancellation"
	}
	return s
}

// Errors callers branch on with errors.Is.
var (
	// ErrNotFound: no session has the id.
	ErrNotFound = apperr.New(apperr.NotFound, "session not found")
	// ErrStale: the session changed since the caller read it.
	ErrStale = apperr.New(apperr.Conflict, "session changed concurrently")
	// ErrClosed: the Manager is closed.
	ErrClosed = errors.New("session manager closed")
	// ErrNotOwner: this node does not own the session (Options.Owns or
	// Options.Guard said no), so it may not run or trade it here.
	ErrNotOwner = apperr.New(apperr.NotOwner, "session not owned by this node")
)

// InvalidError is a bad field in a request.
type InvalidError struct {
	Field  string
	Reason string
}

// ErrorCode: a bad request (apperr.Invalid).
func (e *InvalidError) ErrorCode() apperr.Code { return apperr.Invalid }

func (e *InvalidError) Error() string {
	return fmt.Sprintf("invalid session %s: %s", e.Field, e.Reason)
}

// NotFlatError refuses to delete a session that still has open orders or a
// position (without force).
type NotFlatError struct {
	SessionID  string
	OpenOrders int
	Positions  map[string]venue.Decimal // symbol → base quantity
}

// ErrorCode: the session's state refuses the deletion (apperr.Conflict).
func (e *NotFlatError) ErrorCode() apperr.Code { return apperr.Conflict }

func (e *NotFlatError) Error() string {
	return fmt.Sprintf("session %s is not flat: %d open orders, positions %v (stop it and flatten, or delete with force)",
		e.SessionID, e.OpenOrders, e.Positions)
}
