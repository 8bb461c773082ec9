package journal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tradeplane/tradeplane/internal/alert"
	"github.com/tradeplane/tradeplane/internal/backoff"
	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// Intent is one order a session wants placed (or, for Cancel, the order to
// cancel: Request.ClientOrderID and Request.Symbol identify it). Fence is the
// session lease's fencing token, written with every journal entry.
type Intent struct {
	SessionID string
	AccountID int64
	Fence     int64
	Request   venue.OrderRequest
	// New says the client order id was never used (a session step number
	// just opened): Place skips looking up a stored order. It only saves
	// a read: were it wrong, the intent's insert would find the stored
	// order and Place would answer it as when the lookup finds it, never
	// sending twice.
	New bool
}

// Checker vets an order before it is journaled as sent (allocation limits);
// a refusal is journaled as rejected with class "allocation".
type Checker interface {
	CheckOrder(ctx context.Context, in Intent) error
}

// ClassAllocation is the error class of a Checker refusal; ClassJournal of
// a journal write that failed; ClassStore of a store read that failed;
// ClassStaleFence of an order kept from leaving because the session's lease
// moved on (another node owns it) or expired.
const (
	ClassAllocation = "allocation"
	ClassJournal    = "journal"
	ClassStore      = "store"
	ClassUnsettled  = "unsettled"
	ClassStaleFence = "stale_fence"
)

// ErrInvalidIntent: the intent lacks a valid client order id or symbol.
var ErrInvalidIntent = errors.New("invalid order intent")

// Error is a placement or cancellation that did not succeed. Kind is the
// journal kind it ended in (rejected, failed, unknown_outcome); Class the
// venue class or ClassAllocation/ClassJournal/ClassStore/ClassUnsettled.
// Unwrap gives the underlying error, so errors.Is(err, venue.ErrBanned)
// works.
type Error struct {
	Op            string // "place order", "cancel order"
	ClientOrderID string
	Kind          Kind
	Class         string
	Code          int64
	Err           error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %q: %s (%s): %v", e.Op, e.ClientOrderID, e.Kind, e.Class, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ExecutorOptions configure an Executor. Every field is optional.
type ExecutorOptions struct {
	Checker Checker
	Clock   clock.Clock // default: the journal's clock
	Alerter alert.Alerter
	Metrics *Metrics
	Logger  *slog.Logger
	// MaxRetries of a retryable error (rate limited, unavailable, timestamp)
	// before the order is failed; default 3. The same client order id is
	// sent each time.
	MaxRetries int
	// Backoff is the first wait between retries and between settle queries,
	// doubling up to MaxBackoff (defaults 200 ms and 5 s). A rate limit's
	// RetryAfter replaces the backoff when longer (capped at MaxRetryAfter,
	// default 30 s; longer fails the order).
	Backoff       time.Duration
	MaxBackoff    time.Duration
	MaxRetryAfter time.Duration
	// SettleTries is how many times an unknown outcome is queried by client
	// order id before it is left to the reconciler (default 4).
	SettleTries int
	// RecvWindow is how long after its timestamp the venue still accepts a
	// signed request (Binance's recvWindow; default: the venue's
	// RecvWindow() when it has one, else 5 s). ConsistencyLag is
	// how long the venue's views may lag what it accepted (zero: the
	// venue's default, DefaultConsistencyLag; negative: none). Together
	// they decide when "not found" is proof (see certainty.go).
	RecvWindow     time.Duration
	ConsistencyLag time.Duration
	// SettleWait: when the certainty rule will decide within this long
	// (recvWindow on a venue without lag), the Place that met the unknown
	// outcome waits for it instead of leaving it unknown (default 10 s;
	// negative: never waits).
	SettleWait time.Duration
	// UnknownAlertAfter: an order whose outcome is still unknown this long
	// after its intent raises a warning (default 30 s); one still unknown
	// at max(ConsistencyLag, 2×UnknownAlertAfter) a critical alert.
	UnknownAlertAfter time.Duration
}

// Executor places and cancels the orders of one account through the
// journal. It is safe for concurrent use.
type Executor struct {
	j       *Journal
	v       venue.Venue
	account int64
	opts    ExecutorOptions
	clock   clock.Clock
	alerter alert.Alerter
	m       *Metrics
	log     *slog.Logger
	started time.Time // orders last sent before this were sent by an earlier process

	fmu     sync.Mutex
	flight  map[string]int            // client order ids with a request in flight here
	alerted map[string]alert.Severity // unknown orders alerted, by the highest severity raised
	hist    map[string]historyEntry   // order history by symbol, shared by the orders judged together
}

// NewExecutor returns an Executor for accountID on v.
func NewExecutor(j *Journal, v venue.Venue, accountID int64, opts ExecutorOptions) *Executor {
	if opts.Clock == nil {
		opts.Clock = j.opts.Clock
	}
	if opts.Alerter == nil {
		opts.Alerter = alert.Nop{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxRetries <= 0 {
		opts.MaxRetries = 3
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 200 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Second
	}
	if opts.MaxRetryAfter <= 0 {
		opts.MaxRetryAfter = 30 * time.Second
	}
	if opts.SettleTries <= 0 {
		opts.SettleTries = 4
	}
	if opts.RecvWindow <= 0 {
		opts.RecvWindow = DefaultRecvWindow
		if rw, ok := v.(interface{ RecvWindow() time.Duration }); ok && rw.RecvWindow() > 0 {
			opts.RecvWindow = rw.RecvWindow() // what the adapter stamps on every order request
		}
	}
	switch {
	case opts.ConsistencyLag == 0:
		opts.ConsistencyLag = DefaultConsistencyLag(v.Name())
	case opts.ConsistencyLag < 0:
		opts.ConsistencyLag = 0
	}
	if opts.SettleWait == 0 {
		opts.SettleWait = 10 * time.Second
	}
	if opts.UnknownAlertAfter <= 0 {
		opts.UnknownAlertAfter = DefaultUnknownAlertAfter
	}
	return &Executor{j: j, v: v, account: accountID, opts: opts, clock: opts.Clock, alerter: opts.Alerter,
		m: opts.Metrics, log: opts.Logger.With("component", "executor", "account", accountID),
		started: opts.Clock.Now(), flight: map[string]int{}, alerted: map[string]alert.Severity{}, hist: map[string]historyEntry{}}
}

// Stats returns the execution counters (overall and per session) of the
// Metrics this executor reports to; zero without Metrics.
func (x *Executor) Stats() (Stats, map[string]Stats) {
	if x.m == nil {
		return Stats{}, nil
	}
	return x.m.Stats()
}

// base returns an event about the intent's order.
func (x *Executor) base(kind Kind, in Intent) *Event {
	r := in.Request
	return &Event{At: x.clock.Now(), Kind: kind, SessionID: in.SessionID, AccountID: x.account, Symbol: r.Symbol,
		ClientOrderID: r.ClientOrderID, Side: r.Side, Type: r.Type, Quantity: r.Quantity, Price: r.Price, Fence: in.Fence}
}

func withErr(e *Event, err error) *Event {
	e.ErrorClass = string(venue.ClassOf(err))
	var ve *venue.Error
	if errors.As(err, &ve) {
		e.ErrorCode = int64(ve.Code)
	}
	e.Message = err.Error()
	return e
}

// raise alerts and logs; never blocks the caller for long.
func (x *Executor) raise(ctx context.Context, sev alert.Severity, in Intent, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	x.alerter.Raise(context.WithoutCancel(ctx), alert.Alert{At: x.clock.Now(), Severity: sev, Source: "executor",
		SessionID: in.SessionID, AccountID: x.account, Message: msg})
}

// durable commits ws even when ctx has ended (the venue already acted), and
// turns a failure into a metric and an alert.
func (x *Executor) durable(ctx context.Context, in Intent, ws ...write) ([]*store.JournalWrite, error) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	out, err := x.j.writeFlags(wctx, ws)
	switch {
	case errors.Is(err, store.ErrStaleFence):
		// Not a broken journal: another node owns the session now, and the
		// store refused this node's write, as fencing should.
		x.m.failure("stale_fence")
		x.raise(ctx, alert.Warning, in, "order %q not written: session %s is now owned by another node (%v)", in.Request.ClientOrderID, in.SessionID, err)
	case err != nil:
		x.m.failure(ClassJournal)
		x.raise(ctx, alert.Critical, in, "journal write for order %q failed: %v", in.Request.ClientOrderID, err)
	}
	return out, err
}

func (x *Executor) sleep(ctx context.Context, d time.Duration) error {
	return clock.Sleep(ctx, x.clock, d)
}

// retryWait is the wait before retry n (from 0) of a request or query:
// Backoff doubling up to MaxBackoff.
func (x *Executor) retryWait(n int) time.Duration {
	return backoff.Policy{Initial: x.opts.Backoff, Max: x.opts.MaxBackoff}.Delay(n)
}

// Place places in.Request through the journal:
//
//  1. If the client order id is already stored, nothing is sent: the stored
//     order is returned, or settled by QueryOrder when not terminal (looked
//     up first unless in.New; found by the intent's insert otherwise).
//  2. The Checker vets it; a refusal is journaled (intent, rejected with
//     class "allocation") and returned as *Error.
//  3. The orders row and the intent event are committed before the request
//     leaves. A failed commit means nothing is sent.
//  4. Retryable errors resend the same client order id after a backoff (a
//     retry event each); a duplicate means an earlier attempt landed and is
//     settled by query; an unknown outcome is never resent: it is journaled
//     and settled by QueryOrder (reconciled), or left non-terminal for
//     Reconcile with a critical alert.
//  5. Acknowledged orders with executed quantity get their fills fetched
//     (OrderTrades) and recorded.
//
// Every failure ends in a journal event, a metric and an alert, and is
// returned as *Error.
func (x *Executor) Place(ctx context.Context, in Intent) (venue.Order, error) {
	id := in.Request.ClientOrderID
	if !venue.ClientOrderIDPattern.MatchString(id) || in.Request.Symbol == "" {
		err := fmt.Errorf("place order %q: %w", id, ErrInvalidIntent)
		x.m.failure(string(venue.ClassInvalid))
		ev := x.base(KindError, in)
		ev.ErrorClass, ev.Message = string(venue.ClassInvalid), err.Error()
		x.durable(ctx, in, write{events: []*Event{ev}})
		x.raise(ctx, alert.Warning, in, "%v", err)
		return venue.Order{}, err
	}
	if in.AccountID != 0 && in.AccountID != x.account {
		return venue.Order{}, fmt.Errorf("place order %q: account %d on the executor of account %d: %w", id, in.AccountID, x.account, ErrInvalidIntent)
	}
	if !in.New { // else nothing is stored to answer from (see Intent.New)
		if o, err := x.j.db.OrderByClientID(ctx, id); err == nil {
			return x.settleStored(ctx, in, o)
		} else if !errors.Is(err, store.ErrNotFound) {
			x.m.failure(ClassStore)
			x.raise(ctx, alert.Critical, in, "place order %q: look up stored order: %v", id, err)
			return venue.Order{}, &Error{Op: "place order", ClientOrderID: id, Kind: KindFailed, Class: ClassStore, Err: err}
		}
	}

	r := in.Request
	now := x.clock.Now()
	row := &store.Order{ClientOrderID: id, SessionID: in.SessionID, AccountID: x.account, Symbol: r.Symbol, Side: string(r.Side),
		Type: string(r.Type), Price: r.Price, Quantity: r.Quantity, QuoteQuantity: r.QuoteQuantity, Status: store.OrderIntent,
		Fence: in.Fence, CreatedAt: now, UpdatedAt: now}
	intent := x.base(KindIntent, in)

	if x.opts.Checker != nil {
		if cerr := x.opts.Checker.CheckOrder(ctx, in); cerr != nil {
			row.Status = string(venue.StatusRejected)
			rej := x.base(KindRejected, in)
			rej.ErrorClass, rej.Message = ClassAllocation, cerr.Error()
			ws, err := x.durable(ctx, in, write{newOrder: row, events: []*Event{intent, rej}})
			if err == nil && !ws[0].OrderInserted {
				return x.placeRace(ctx, in)
			}
			x.m.intent(in.SessionID)
			x.m.failure(ClassAllocation)
			x.m.outcome(in.SessionID, OutcomeRefused, "")
			x.raise(ctx, alert.Warning, in, "order %q refused by allocation check: %v", id, cerr)
			return venue.Order{}, &Error{Op: "place order", ClientOrderID: id, Kind: KindRejected, Class: ClassAllocation, Err: cerr}
		}
	}

	ws, err := x.durable(ctx, in, write{newOrder: row, events: []*Event{intent}})
	if err != nil {
		// Not sent: without a committed intent the order must not exist.
		return venue.Order{}, &Error{Op: "place order", ClientOrderID: id, Kind: KindFailed, Class: ClassJournal, Err: err}
	}
	if !ws[0].OrderInserted {
		return x.placeRace(ctx, in)
	}
	x.m.intent(in.SessionID)
	// In flight until Place returns: SettleUnknown and Reconcile never
	// judge an order whose request may still be on its way.
	defer x.sending(id)()

	var attempt int
	for {
		sentAt := x.clock.Now()
		if ferr := x.j.db.CheckLease(ctx, in.SessionID, in.Fence, sentAt); ferr != nil {
			// Paused after the intent committed, or during a retry's
			// backoff, past this node's lease: another node may own the
			// session now. Every earlier attempt certainly did not execute
			// (only retryable errors loop), so the order is failed unsent.
			return venue.Order{}, x.notSent(ctx, in, attempt, ferr)
		}
		start := time.Now()
		o, err := x.v.PlaceOrder(venue.WithSendGuard(ctx, func(gctx context.Context) error {
			// Checked again by an adapter that signs with a timestamp,
			// after stamping: a node frozen between the check above and
			// the request leaving sends nothing the venue would accept
			// after its lease ran out (venue.SendGuard).
			return x.j.db.CheckLease(gctx, in.SessionID, in.Fence, x.clock.Now())
		}), r)
		lat := time.Since(start)
		x.m.observe("place", lat)
		sent := x.base(KindSent, in)
		sent.At, sent.Latency = sentAt, lat
		if err == nil {
			x.m.outcome(in.SessionID, outcomeOf(o.Status), "")
			return x.answered(ctx, in, o, "", []*Event{sent})
		}
		cls := venue.ClassOf(err)
		x.m.failure(string(cls))
		withErr(sent, err)
		var ve *venue.Error
		errors.As(err, &ve)
		switch {
		case cls == venue.ClassDuplicate:
			// An earlier attempt of ours landed: settle it, do not resend.
			x.durable(ctx, in, write{events: []*Event{sent}})
			return x.settle(ctx, in, "", false)
		case venue.Retryable(cls) && attempt < x.opts.MaxRetries && ctx.Err() == nil:
			wait := x.retryWait(attempt)
			if ve != nil && ve.RetryAfter > wait {
				wait = ve.RetryAfter
			}
			if wait <= x.opts.MaxRetryAfter {
				attempt++
				sent.Kind = KindRetry
				sent.Message = fmt.Sprintf("attempt %d: %v; retrying in %s", attempt, err, wait)
				if _, werr := x.durable(ctx, in, write{events: []*Event{sent}}); werr != nil {
					return venue.Order{}, x.failOrder(ctx, in, err, sent)
				}
				if x.sleep(ctx, wait) == nil {
					continue
				}
				sent = x.base(KindSent, in)
				withErr(sent, ctx.Err())
				sent.ErrorClass = string(cls)
			}
			return venue.Order{}, x.failOrder(ctx, in, err, sent)
		case cls == venue.ClassUnknown:
			unk := x.base(KindUnknownOutcome, in)
			withErr(unk, err)
			unk.Latency = lat
			x.durable(ctx, in, write{update: &store.OrderUpdate{ClientOrderID: id, Status: store.OrderUnknown,
				ExecutedQty: zero, QuoteQty: zero, Fence: in.Fence, At: x.clock.Now()}, events: []*Event{sent, unk}})
			return x.settle(ctx, in, "", false)
		case cls == venue.ClassRejected || cls == venue.ClassInsufficientFunds:
			rej := x.base(KindRejected, in)
			withErr(rej, err)
			x.durable(ctx, in, write{update: &store.OrderUpdate{ClientOrderID: id, Status: string(venue.StatusRejected),
				ExecutedQty: zero, QuoteQty: zero, Fence: in.Fence, At: x.clock.Now()}, events: []*Event{sent, rej}})
			x.m.outcome(in.SessionID, OutcomeRejected, "")
			x.raise(ctx, alert.Warning, in, "order %q rejected by %s: %v", id, x.v.Name(), err)
			return venue.Order{}, &Error{Op: "place order", ClientOrderID: id, Kind: KindRejected, Class: string(cls), Code: rej.ErrorCode, Err: err}
		default:
			return venue.Order{}, x.failOrder(ctx, in, err, sent)
		}
	}
}

var zero venue.Decimal

// failOrder journals a placement that certainly did not execute as failed
// (terminal), counts and alerts it.
func (x *Executor) failOrder(ctx context.Context, in Intent, err error, sent *Event) error {
	id := in.Request.ClientOrderID
	cls := venue.ClassOf(err)
	fail := x.base(KindFailed, in)
	withErr(fail, err)
	x.durable(ctx, in, write{update: &store.OrderUpdate{ClientOrderID: id, Status: store.OrderFailed,
		ExecutedQty: zero, QuoteQty: zero, Fence: in.Fence, At: x.clock.Now()}, events: []*Event{sent, fail}})
	x.m.outcome(in.SessionID, OutcomeFailed, "")
	sev := alert.Warning
	if cls == venue.ClassBanned || cls == venue.ClassAuth {
		sev = alert.Critical
	}
	x.raise(ctx, sev, in, "order %q failed on %s: %v", id, x.v.Name(), err)
	return &Error{Op: "place order", ClientOrderID: id, Kind: KindFailed, Class: string(cls), Code: fail.ErrorCode, Err: err}
}

// notSent fails an order the lease check kept from leaving: journaled
// (failed, class stale_fence, or store when the check itself failed),
// counted and alerted. Nothing was sent for this attempt and every earlier
// attempt certainly did not execute, so the order is terminal.
func (x *Executor) notSent(ctx context.Context, in Intent, attempt int, err error) error {
	id := in.Request.ClientOrderID
	cls := ClassStore
	if errors.Is(err, store.ErrStaleFence) {
		cls = ClassStaleFence
	}
	fail := x.base(KindFailed, in)
	fail.ErrorClass, fail.Message = cls, fmt.Sprintf("not sent (attempt %d): %v", attempt+1, err)
	x.durable(ctx, in, write{update: &store.OrderUpdate{ClientOrderID: id, Status: store.OrderFailed,
		ExecutedQty: zero, QuoteQty: zero, Fence: in.Fence, At: x.clock.Now()}, events: []*Event{fail}})
	x.m.failure(cls)
	x.m.outcome(in.SessionID, OutcomeFailed, "")
	x.raise(ctx, alert.Warning, in, "order %q not sent: %v", id, err)
	return &Error{Op: "place order", ClientOrderID: id, Kind: KindFailed, Class: cls, Err: err}
}

// placeRace handles a concurrent Place of the same id that stored first.
func (x *Executor) placeRace(ctx context.Context, in Intent) (venue.Order, error) {
	o, err := x.j.db.OrderByClientID(ctx, in.Request.ClientOrderID)
	if err != nil {
		return venue.Order{}, fmt.Errorf("place order %q: %w", in.Request.ClientOrderID, err)
	}
	return x.settleStored(ctx, in, o)
}

// settleStored answers a Place of an id already stored without sending. A
// replayed step (see store.OpenSessionStep) reuses its ids for what the
// strategy decides again; an id whose stored order is another order (other
// symbol, side or type, or a limit at another price) is refused rather than
// answered with the wrong order.
func (x *Executor) settleStored(ctx context.Context, in Intent, o store.Order) (venue.Order, error) {
	id := o.ClientOrderID
	if r := in.Request; !r.SameOrder(o.Symbol, venue.Side(o.Side), venue.OrderType(o.Type), o.Price) {
		err := fmt.Errorf("client order id %q already names another order (%s %s %s %s), not %s %s %s %s: %w",
			id, o.Side, o.Type, o.Symbol, o.Price, r.Side, r.Type, r.Symbol, r.Price, ErrInvalidIntent)
		ev := x.base(KindError, in)
		ev.ErrorClass, ev.Message = string(venue.ClassInvalid), err.Error()
		x.durable(ctx, in, write{events: []*Event{ev}})
		x.m.failure(string(venue.ClassInvalid))
		x.raise(ctx, alert.Warning, in, "%v", err)
		return venue.Order{}, &Error{Op: "place order", ClientOrderID: id, Kind: KindRejected, Class: "stored", Err: err}
	}
	switch o.Status {
	case string(venue.StatusRejected):
		return venue.Order{}, &Error{Op: "place order", ClientOrderID: id, Kind: KindRejected, Class: "stored",
			Err: fmt.Errorf("order %q was rejected earlier", id)}
	case store.OrderFailed:
		return venue.Order{}, &Error{Op: "place order", ClientOrderID: id, Kind: KindFailed, Class: "stored",
			Err: fmt.Errorf("order %q failed earlier", id)}
	}
	if store.TerminalOrderStatus(o.Status) {
		return toVenue(o), nil
	}
	in.SessionID, in.Fence = o.SessionID, max(in.Fence, o.Fence)
	from := Outcome("")
	if o.Status == store.OrderUnknown {
		from = OutcomeUnsettled
	}
	return x.settle(ctx, in, from, true)
}

func toVenue(o store.Order) venue.Order {
	return venue.Order{ClientOrderID: o.ClientOrderID, VenueOrderID: o.VenueOrderID, Symbol: o.Symbol, Side: venue.Side(o.Side),
		Type: venue.OrderType(o.Type), Price: o.Price, Quantity: o.Quantity, ExecutedQty: o.ExecutedQty, QuoteQty: o.QuoteQty,
		Status: venue.OrderStatus(o.Status), Created: o.CreatedAt, Updated: o.UpdatedAt}
}

// statusEvents are the events that record the venue's view o.
func (x *Executor) statusEvents(in Intent, o venue.Order) []*Event {
	mk := func(k Kind) *Event {
		e := x.base(k, in)
		e.VenueOrderID, e.FilledQty = o.VenueOrderID, o.ExecutedQty
		if !o.Price.IsZero() {
			e.Price = o.Price
		}
		e.Message = "venue status " + string(o.Status)
		return e
	}
	switch o.Status {
	case venue.StatusNew:
		return []*Event{mk(KindAcknowledged)}
	case venue.StatusPartiallyFilled:
		return []*Event{mk(KindAcknowledged), mk(KindPartiallyFilled)}
	case venue.StatusFilled:
		return []*Event{mk(KindAcknowledged), mk(KindFilled)}
	case venue.StatusCanceled, venue.StatusExpired:
		return []*Event{mk(KindAcknowledged), mk(KindCanceled)}
	case venue.StatusRejected:
		return []*Event{mk(KindRejected)}
	}
	return []*Event{mk(KindAcknowledged)}
}

func outcomeOf(s venue.OrderStatus) Outcome {
	switch s {
	case venue.StatusFilled:
		return OutcomeFilled
	case venue.StatusCanceled, venue.StatusExpired:
		return OutcomeCanceled
	case venue.StatusRejected:
		return OutcomeRejected
	}
	return OutcomeAccepted
}

// answered records the venue's view of an order (after a placement, a
// settle query or a reconciliation) together with its fills, in one commit:
// an order row turns terminal only with its fills recorded. Were the status
// committed first, a crash before the fills would lose them for good, since
// Reconcile never revisits terminal orders.
func (x *Executor) answered(ctx context.Context, in Intent, o venue.Order, reconciledMsg string, pre []*Event) (venue.Order, error) {
	id := in.Request.ClientOrderID
	evs := pre
	if reconciledMsg != "" {
		rec := x.base(KindReconciled, in)
		rec.VenueOrderID, rec.FilledQty, rec.Message = o.VenueOrderID, o.ExecutedQty, reconciledMsg+": venue status "+string(o.Status)
		evs = append(evs, rec)
	}
	evs = append(evs, x.statusEvents(in, o)...)
	var fills []write
	if !o.ExecutedQty.IsZero() && o.VenueOrderID != "" {
		var err error
		if fills, err = x.fillWrites(ctx, in, o); err != nil && o.Status.Terminal() {
			// Journaled and alerted by fillWrites. Leave the row as it is
			// (non-terminal) so Reconcile asks again and gets the fills.
			return o, nil
		}
	}
	ws := append([]write{{update: &store.OrderUpdate{ClientOrderID: id, Status: string(o.Status),
		VenueOrderID: o.VenueOrderID, ExecutedQty: o.ExecutedQty, QuoteQty: o.QuoteQty, Fence: in.Fence, At: x.clock.Now()},
		events: evs}}, fills...)
	if _, err := x.durable(ctx, in, ws...); err != nil {
		// The venue acted but the journal does not say so: the order row
		// stays non-terminal and Reconcile will record it.
		return o, &Error{Op: "place order", ClientOrderID: id, Kind: KindError, Class: ClassJournal, Err: err}
	}
	if o.Status == venue.StatusNew || o.Status == venue.StatusPartiallyFilled {
		// Fills the user stream delivered before this answer, while the
		// row still said intent, were stored without moving it (fills move
		// open rows only): the row is open now, so they move it.
		if err := x.followFills(ctx, id); err != nil {
			x.log.Error("record the stream's earlier fills on the answered order", "order", id, "err", err)
		}
	}
	return o, nil
}

// fetchFills records the fills of an order so none is lost.
func (x *Executor) fetchFills(ctx context.Context, in Intent, o venue.Order) error {
	ws, err := x.fillWrites(ctx, in, o)
	if err != nil || len(ws) == 0 {
		return err
	}
	_, err = x.durable(ctx, in, ws...)
	return err
}

// fillWrites asks the venue for an order's fills and builds their journal
// writes (a fill already stored is a no-op when written).
func (x *Executor) fillWrites(ctx context.Context, in Intent, o venue.Order) ([]write, error) {
	start := time.Now()
	trades, err := x.v.OrderTrades(ctx, o.Symbol, o.VenueOrderID)
	x.m.observe("trades", time.Since(start))
	if err != nil {
		x.m.failure(string(venue.ClassOf(err)))
		ev := x.base(KindError, in)
		withErr(ev, err)
		ev.VenueOrderID = o.VenueOrderID
		ev.Message = "fetch fills: " + ev.Message
		x.durable(ctx, in, write{events: []*Event{ev}})
		x.raise(ctx, alert.Warning, in, "fills of order %q not fetched: %v (reconciliation will ask again)", o.ClientOrderID, err)
		return nil, err
	}
	ws := make([]write, 0, len(trades))
	for _, t := range trades {
		if t.ClientOrderID == "" {
			t.ClientOrderID = o.ClientOrderID
		}
		if t.Symbol == "" {
			t.Symbol = o.Symbol
		}
		ws = append(ws, x.tradeWrite(t, in.SessionID, "order_trades", in.Fence))
	}
	return ws, nil
}

// settle queries an order whose outcome is unknown (or that was stored
// non-terminal) up to SettleTries times. Found: reconciled and the venue's
// view recorded. Not found on every try: failed (terminal) only when the
// certainty rule proves the venue never executed it (see certainty.go);
// otherwise it stays unknown, for SettleUnknown and Reconcile, and the error
// wraps venue.ErrUnknownOutcome so the caller's step stays open. from is the
// outcome counted earlier for this order; stored says the order is not
// being placed by this call (another call may have it in flight).
func (x *Executor) settle(ctx context.Context, in Intent, from Outcome, stored bool) (venue.Order, error) {
	id := in.Request.ClientOrderID
	var lastErr error
	notFound := 0
	tries := 0
	for ; tries < x.opts.SettleTries; tries++ {
		if tries > 0 && x.sleep(ctx, x.retryWait(tries-1)) != nil {
			break
		}
		if ctx.Err() != nil {
			lastErr = ctx.Err()
			break
		}
		start := time.Now()
		o, err := x.v.QueryOrder(ctx, in.Request.Symbol, id)
		x.m.observe("query", time.Since(start))
		if err == nil {
			x.m.settled(string(o.Status))
			x.m.outcome(in.SessionID, outcomeOf(o.Status), from)
			return x.answered(ctx, in, o, "settled by query", nil)
		}
		lastErr = err
		if venue.ClassOf(err) == venue.ClassNotFound {
			notFound++
			continue
		}
		x.m.failure(string(venue.ClassOf(err)))
	}
	msg := ""
	if notFound > 0 && notFound == tries && tries == x.opts.SettleTries {
		row, err := x.j.db.OrderByClientID(ctx, id)
		if err != nil {
			lastErr = err
		} else {
			judge := func() (absence, error) {
				if stored {
					return x.judgeAbsent(ctx, row)
				}
				return x.judgeAbsentSelf(ctx, row)
			}
			ab, err := judge()
			if wait := ab.deadline.Sub(x.clock.Now()); err == nil && ab.found == nil && !ab.proven && !ab.deadline.IsZero() &&
				wait <= x.opts.SettleWait && x.sleep(ctx, wait+time.Millisecond) == nil {
				// Certain soon (recvWindow without a long lag): wait for it
				// here, so the step settles in one go.
				o, qerr := x.v.QueryOrder(ctx, in.Request.Symbol, id)
				switch {
				case qerr == nil:
					x.m.settled(string(o.Status))
					x.m.outcome(in.SessionID, outcomeOf(o.Status), from)
					return x.answered(ctx, in, o, "settled by query", nil)
				case venue.ClassOf(qerr) == venue.ClassNotFound:
					ab, err = judge()
				default:
					lastErr = qerr
				}
			}
			switch {
			case err != nil:
				lastErr = err
			case ab.found != nil:
				x.m.settled(string(ab.found.Status))
				x.m.outcome(in.SessionID, outcomeOf(ab.found.Status), from)
				return x.answered(ctx, in, *ab.found, "settled by order history", nil)
			case ab.proven:
				return venue.Order{}, x.neverExecuted(ctx, in, row, from, ab, lastErr)
			default:
				msg = ab.reason
			}
		}
	}
	if lastErr == nil {
		lastErr = errors.New("not settled")
	}
	if msg == "" {
		msg = fmt.Sprintf("outcome still unknown after %d queries: %v", tries, lastErr)
	}
	ev := x.base(KindError, in)
	ev.ErrorClass, ev.Message = ClassUnsettled, msg+"; left to reconciliation"
	x.durable(ctx, in, write{events: []*Event{ev}})
	x.m.failure(ClassUnsettled)
	x.m.outcome(in.SessionID, OutcomeUnsettled, from)
	return venue.Order{}, &Error{Op: "place order", ClientOrderID: id, Kind: KindUnknownOutcome, Class: ClassUnsettled,
		Err: fmt.Errorf("%w: %s", venue.ErrUnknownOutcome, msg)}
}

// judgeAbsentSelf is judgeAbsent for the Place call that sent the order
// itself: its own request has been answered, so it is not in flight.
func (x *Executor) judgeAbsentSelf(ctx context.Context, o store.Order) (absence, error) {
	return x.judge(ctx, o, false)
}

// neverExecuted fails an order the certainty rule proved the venue never
// executed: journaled (reconciled with class not_found, failed), counted and
// alerted.
func (x *Executor) neverExecuted(ctx context.Context, in Intent, o store.Order, from Outcome, ab absence, lastErr error) error {
	id := o.ClientOrderID
	rec := x.base(KindReconciled, in)
	rec.ErrorClass, rec.Message = string(venue.ClassNotFound), "venue never saw the order: "+ab.reason
	fail := x.base(KindFailed, in)
	fail.ErrorClass, fail.Message = string(venue.ClassNotFound), "order not executed: "+ab.reason
	if _, err := x.durable(ctx, in, write{update: &store.OrderUpdate{ClientOrderID: id, Status: store.OrderFailed,
		ExecutedQty: o.ExecutedQty, QuoteQty: o.QuoteQty, Fence: max(in.Fence, o.Fence), At: x.clock.Now()}, events: []*Event{rec, fail}}); err != nil {
		return &Error{Op: "place order", ClientOrderID: id, Kind: KindUnknownOutcome, Class: ClassJournal, Err: err}
	}
	x.m.failure(string(venue.ClassNotFound))
	x.m.settled(store.OrderFailed)
	x.m.outcome(in.SessionID, OutcomeFailed, from)
	x.forgetUnknown(id)
	x.recheckVerdict(ctx, in, id)
	x.raise(ctx, alert.Warning, in, "order %q: outcome was unknown; %s: failed", id, ab.reason)
	if lastErr == nil {
		lastErr = venue.ErrOrderNotFound
	}
	return &Error{Op: "place order", ClientOrderID: id, Kind: KindFailed, Class: string(venue.ClassNotFound), Err: lastErr}
}

// recheckVerdict checks a verdict just written from a row read before
// (failed, or assumed canceled) against the fills stored meanwhile: a fill
// the user stream recorded after the certainty rule looked at the fills
// and before the verdict was written found the row still open, so nothing
// corrected it then. CorrectLate does now, and says so.
func (x *Executor) recheckVerdict(ctx context.Context, in Intent, id string) {
	if err := x.CorrectLate(ctx, id, "a fill recorded while the order was judged absent"); err != nil {
		x.raise(ctx, alert.Warning, in, "order %q: checking its verdict against its fills: %v", id, err)
	}
}

// Cancel cancels the order named by in.Request.ClientOrderID (and Symbol).
// The cancel request is journaled before it leaves; a terminal order is
// returned as stored without a request. An unknown or failed cancel is
// followed by a query so the journal records the venue's view.
func (x *Executor) Cancel(ctx context.Context, in Intent) (venue.Order, error) {
	id := in.Request.ClientOrderID
	o, err := x.j.db.OrderByClientID(ctx, id)
	if err != nil {
		return venue.Order{}, fmt.Errorf("cancel order %q: %w", id, err)
	}
	if store.TerminalOrderStatus(o.Status) {
		return toVenue(o), nil
	}
	if in.SessionID == "" {
		in.SessionID = o.SessionID
	}
	in.Fence = max(in.Fence, o.Fence)
	if in.Request.Symbol == "" {
		in.Request.Symbol = o.Symbol
	}
	in.Request.Side, in.Request.Type, in.Request.Quantity, in.Request.Price = venue.Side(o.Side), venue.OrderType(o.Type), o.Quantity, o.Price
	req := x.base(KindCancelRequested, in)
	req.VenueOrderID = o.VenueOrderID
	if _, err := x.durable(ctx, in, write{events: []*Event{req}}); err != nil {
		return venue.Order{}, &Error{Op: "cancel order", ClientOrderID: id, Kind: KindFailed, Class: ClassJournal, Err: err}
	}
	for attempt := 0; ; attempt++ {
		start := time.Now()
		vo, err := x.v.CancelOrder(ctx, in.Request.Symbol, id)
		x.m.observe("cancel", time.Since(start))
		if err == nil {
			return x.answered(ctx, in, vo, "", nil)
		}
		cls := venue.ClassOf(err)
		x.m.failure(string(cls))
		ev := x.base(KindError, in)
		withErr(ev, err)
		ev.Message = "cancel: " + ev.Message
		if venue.Retryable(cls) && attempt < x.opts.MaxRetries {
			ev.Kind = KindRetry
			x.durable(ctx, in, write{events: []*Event{ev}})
			if x.sleep(ctx, x.retryWait(attempt)) == nil {
				continue
			}
		} else {
			x.durable(ctx, in, write{events: []*Event{ev}})
		}
		// Whatever happened, record the venue's view of the order.
		qo, qerr := x.v.QueryOrder(ctx, in.Request.Symbol, id)
		if qerr == nil {
			x.answered(ctx, in, qo, "after failed cancel", nil)
			if qo.Status.Terminal() {
				return qo, nil
			}
		}
		x.raise(ctx, alert.Warning, in, "cancel of order %q failed: %v", id, err)
		return venue.Order{}, &Error{Op: "cancel order", ClientOrderID: id, Kind: KindError, Class: string(cls), Err: err}
	}
}

// RecordTrade stores a fill (from the user stream or OrderTrades) and its
// fill event in one commit; it reports whether the fill was new. A fill
// already stored changes nothing. An empty sessionID is taken from the
// stored order of t.ClientOrderID when there is one.
func (x *Executor) RecordTrade(ctx context.Context, t venue.Trade, sessionID string) (bool, error) {
	var fence int64
	if t.ClientOrderID != "" {
		if o, err := x.j.db.OrderByClientID(ctx, t.ClientOrderID); err == nil {
			fence = o.Fence
			if sessionID == "" {
				sessionID = o.SessionID
			}
		}
	}
	inserted, err := x.recordTrade(ctx, t, sessionID, "stream", fence)
	if err == nil && inserted && t.ClientOrderID != "" {
		if cerr := x.CorrectLate(ctx, t.ClientOrderID, "the user stream"); cerr != nil {
			x.log.Error("correct a late fill", "order", t.ClientOrderID, "err", cerr)
		}
		if ferr := x.followFills(ctx, t.ClientOrderID); ferr != nil {
			x.log.Error("record a stream fill on its order", "order", t.ClientOrderID, "err", ferr)
		}
	}
	return inserted, err
}

func (x *Executor) recordTrade(ctx context.Context, t venue.Trade, sessionID, source string, fence int64) (bool, error) {
	in := Intent{SessionID: sessionID, AccountID: x.account, Fence: fence, Request: venue.OrderRequest{ClientOrderID: t.ClientOrderID, Symbol: t.Symbol}}
	ws, err := x.durable(ctx, in, x.tradeWrite(t, sessionID, source, fence))
	if err != nil {
		return false, fmt.Errorf("record trade %s/%s of order %q: %w", t.Symbol, t.ID, t.ClientOrderID, err)
	}
	return ws[0].FillInserted, nil
}

// tradeWrite is a fill row and its fill event.
func (x *Executor) tradeWrite(t venue.Trade, sessionID, source string, fence int64) write {
	f := &store.Fill{AccountID: x.account, Symbol: t.Symbol, TradeID: t.ID, ClientOrderID: t.ClientOrderID,
		VenueOrderID: t.VenueOrderID, SessionID: sessionID, Side: string(t.Side), Price: t.Price, Quantity: t.Quantity,
		QuoteQty: t.QuoteQty, Fee: t.Fee, FeeAsset: t.FeeAsset, Maker: t.Maker, Source: source, At: t.Time}
	ev := &Event{At: x.clock.Now(), Kind: KindFill, SessionID: sessionID, AccountID: x.account, Symbol: t.Symbol,
		ClientOrderID: t.ClientOrderID, VenueOrderID: t.VenueOrderID, Side: t.Side, Quantity: t.Quantity, Price: t.Price,
		FilledQty: t.Quantity, Fee: t.Fee, FeeAsset: t.FeeAsset, Fence: fence, Message: "trade " + t.ID}
	return write{fill: f, events: []*Event{ev}}
}
