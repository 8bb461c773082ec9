// Package journal is the durable execution journal: every order's intent is
// committed before its request leaves, every answer (or non-answer) of the
// venue after, and unknown outcomes are settled by querying the order by its
// client order id, never by sending it again.
//
// Journal is the group-commit writer over the store: concurrent appends share
// one transaction, and Append returns only once its events are committed
// (fsynced on SQLite). Executor places and cancels orders through it,
// records fills idempotently and reconciles non-terminal orders; Metrics
// counts intents, outcomes and failures by class for Prometheus and the API.
//
// It owns execution bookkeeping, not decisions: which orders to place comes
// from strategies, whether they fit the allocation from a Checker, and how
// alerts reach people from package alert.
package journal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// Kind names what an event records.
type Kind string

// Event kinds. The order life cycle: intent → (sent → acknowledged →
// partially_filled/filled/canceled) | rejected | failed | unknown_outcome →
// reconciled. Other parts may append drift and error events.
const (
	KindIntent          Kind = "intent"           // committed before the request leaves
	KindSent            Kind = "sent"             // the request left; At is when, Latency the round trip
	KindAcknowledged    Kind = "acknowledged"     // the venue accepted the order
	KindPartiallyFilled Kind = "partially_filled" // FilledQty so far
	KindFilled          Kind = "filled"           // terminal
	KindCancelRequested Kind = "cancel_requested" // committed before the cancel request leaves
	KindCanceled        Kind = "canceled"         // terminal (also expired IOC/FOK orders)
	KindRejected        Kind = "rejected"         // terminal; ErrorCode and Message are the venue's, class "allocation" for a Checker refusal
	KindFailed          Kind = "failed"           // terminal for a placement; ErrorClass says why
	KindRetry           Kind = "retry"            // a retryable error; the same client order id is sent again
	KindUnknownOutcome  Kind = "unknown_outcome"  // the request may or may not have executed
	KindReconciled      Kind = "reconciled"       // what the venue said when asked by client order id
	KindFill            Kind = "fill"             // one trade, recorded once (fills table)
	KindCorrected       Kind = "corrected"        // the journal had closed the order (failed, canceled) but the venue executed it: the row moves to its true state
	KindFunding         Kind = "funding"          // a perpetual's funding payment (funding table): Fee is the amount, received positive, paid negative; Quantity the position
	KindLiquidation     Kind = "liquidation"      // the venue closed a position: its closing fill (fills table), at the liquidation price with its fee
	KindDrift           Kind = "drift"            // state disagreed with the venue (other parts)
	KindError           Kind = "error"            // an error without a better kind (other parts)
)

// Event is one journal entry. Decimals that do not apply are zero.
type Event struct {
	Seq           int64 // assigned on commit
	At            time.Time
	Kind          Kind
	SessionID     string
	AccountID     int64
	Symbol        string
	ClientOrderID string
	VenueOrderID  string
	Side          venue.Side
	Type          venue.OrderType
	Quantity      venue.Decimal
	Price         venue.Decimal
	FilledQty     venue.Decimal
	Fee           venue.Decimal
	FeeAsset      string
	Latency       time.Duration
	ErrorClass    string // venue.Class or "allocation", "journal", ...
	ErrorCode     int64
	Message       string
	Fence         int64
	Node          string
}

// Failure reports whether the event records an error.
func (e Event) Failure() bool { return e.ErrorClass != "" }

func (e Event) row() store.JournalEvent {
	return store.JournalEvent{Seq: e.Seq, At: e.At, Kind: string(e.Kind), SessionID: e.SessionID, AccountID: e.AccountID,
		Symbol: e.Symbol, ClientOrderID: e.ClientOrderID, VenueOrderID: e.VenueOrderID, Side: string(e.Side),
		OrderType: string(e.Type), Quantity: e.Quantity, Price: e.Price, FilledQty: e.FilledQty, Fee: e.Fee,
		FeeAsset: e.FeeAsset, LatencyUS: e.Latency.Microseconds(), ErrorClass: e.ErrorClass, ErrorCode: e.ErrorCode,
		Message: e.Message, Fence: e.Fence, Node: e.Node}
}

// FromRow converts a stored event.
func FromRow(r store.JournalEvent) Event {
	return Event{Seq: r.Seq, At: r.At, Kind: Kind(r.Kind), SessionID: r.SessionID, AccountID: r.AccountID, Symbol: r.Symbol,
		ClientOrderID: r.ClientOrderID, VenueOrderID: r.VenueOrderID, Side: venue.Side(r.Side), Type: venue.OrderType(r.OrderType),
		Quantity: r.Quantity, Price: r.Price, FilledQty: r.FilledQty, Fee: r.Fee, FeeAsset: r.FeeAsset,
		Latency: time.Duration(r.LatencyUS) * time.Microsecond, ErrorClass: r.ErrorClass, ErrorCode: r.ErrorCode,
		Message: r.Message, Fence: r.Fence, Node: r.Node}
}

// ErrClosed: the journal is closed; nothing was written.
var ErrClosed = errors.New("journal closed")

// WriteError: a batch could not be committed. The events are not in the
// journal; the caller must not act as if they were.
type WriteError struct {
	Err error
}

func (e *WriteError) Error() string { return "journal write: " + e.Err.Error() }
func (e *WriteError) Unwrap() error { return e.Err }

// Options configure a Journal. Every field is optional.
type Options struct {
	Clock  clock.Clock // stamps events without At; default wall clock
	Node   string      // written into every event
	Logger *slog.Logger
	// OnEvent is called after commit for each committed event, in commit
	// order, on the writer goroutine (Inline: on the committing caller's,
	// under the journal's lock): it must not block (copy into a buffered
	// channel to fan out).
	OnEvent func(Event)
	// OnWriteError is called when a batch fails to commit (after the
	// one-by-one retry), e.g. to raise an alert. Must not block.
	OnWriteError func(error)
	// MaxBatch bounds the writes in one transaction (default 1024).
	MaxBatch int
	// Metrics, when set, counts journal write failures.
	Metrics *Metrics
	// Inline commits each write on its caller's goroutine, one at a time,
	// instead of handing it to the group-commit writer. For a caller that
	// writes from one goroutine (replay), where nothing waits to share a
	// batch and the two goroutine hand-offs of every write cost more than
	// batching saves. The same transaction is committed either way.
	Inline bool
}

// Journal is the group-commit writer. It is safe for concurrent use; Close
// stops the writer and waits for it.
type Journal struct {
	db   *store.DB
	opts Options
	log  *slog.Logger
	reqs chan *request
	stop chan struct{}
	done chan struct{}
	// smu orders enqueues before Close: once closed is set under the
	// write lock, nothing more is queued and the writer drains the rest.
	smu    sync.RWMutex
	closed bool

	// imu serializes Inline commits.
	imu sync.Mutex

	mu      sync.Mutex
	batches int64
	writes  int64
	failing bool      // the last write failed: none committed since
	lastErr time.Time // when
	failure error
}

type request struct {
	writes []*store.JournalWrite
	events [][]*Event // per write, the caller's events to receive Seq
	done   chan error
}

// Open starts a Journal writing to db.
func Open(db *store.DB, opts Options) *Journal {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1024
	}
	j := &Journal{db: db, opts: opts, log: opts.Logger.With("component", "journal"),
		reqs: make(chan *request, 4096), stop: make(chan struct{}), done: make(chan struct{})}
	go j.run()
	return j
}

// DB returns the store the journal writes to.
func (j *Journal) DB() *store.DB { return j.db }

// Now is the journal's clock.
func (j *Journal) Now() time.Time { return j.opts.Clock.Now() }

// Append commits events and returns once the batch holding them is
// committed; their Seq fields are set then. Events without At are stamped.
func (j *Journal) Append(ctx context.Context, evs ...*Event) error {
	return j.write(ctx, []write{{events: evs}})
}

// write is one unit: events with the order or fill rows that go with them.
type write struct {
	newOrder *store.Order
	update   *store.OrderUpdate
	fill     *store.Fill
	funding  *store.FundingPayment
	events   []*Event
	// correction opens the strategy's correction of the order (CorrectLate).
	correction *store.CorrectionMark
}

// write commits ws in one batch, shared with concurrent callers; each
// store.JournalWrite's flags are copied back into the returned slice.
func (j *Journal) write(ctx context.Context, ws []write) error {
	_, err := j.writeFlags(ctx, ws)
	return err
}

func (j *Journal) writeFlags(ctx context.Context, ws []write) ([]*store.JournalWrite, error) {
	now := j.opts.Clock.Now()
	r := &request{done: make(chan error, 1)}
	for _, w := range ws {
		sw := &store.JournalWrite{NewOrder: w.newOrder, Update: w.update, Fill: w.fill, Funding: w.funding, Correction: w.correction}
		for _, e := range w.events {
			if e.At.IsZero() {
				e.At = now
			}
			if e.Node == "" {
				e.Node = j.opts.Node
			}
			sw.Events = append(sw.Events, e.row())
		}
		r.writes = append(r.writes, sw)
		r.events = append(r.events, w.events)
	}
	j.smu.RLock()
	if j.closed {
		j.smu.RUnlock()
		return nil, ErrClosed
	}
	if j.opts.Inline {
		// Committed whatever ctx says, as a queued request is.
		j.imu.Lock()
		j.commit([]*request{r})
		j.imu.Unlock()
		j.smu.RUnlock()
		return r.writes, <-r.done
	}
	select {
	case j.reqs <- r:
		j.smu.RUnlock()
	case <-ctx.Done():
		j.smu.RUnlock()
		return nil, ctx.Err()
	}
	// Once queued the request is committed or failed by the writer; wait for
	// the answer even if ctx ends, so the caller never guesses.
	err := <-r.done
	return r.writes, err
}

// run is the writer: it takes every queued request (up to MaxBatch writes)
// and commits them in one transaction.
func (j *Journal) run() {
	defer close(j.done)
	for {
		var first *request
		select {
		case first = <-j.reqs:
		case <-j.stop:
			// Drain what was queued before the stop.
			for {
				select {
				case r := <-j.reqs:
					j.commit([]*request{r})
				default:
					return
				}
			}
		}
		batch := []*request{first}
		n := len(first.writes)
	gather:
		for n < j.opts.MaxBatch {
			select {
			case r := <-j.reqs:
				batch = append(batch, r)
				n += len(r.writes)
			default:
				break gather
			}
		}
		j.commit(batch)
	}
}

func (j *Journal) commit(batch []*request) {
	var all []*store.JournalWrite
	for _, r := range batch {
		all = append(all, r.writes...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := j.db.WriteJournal(ctx, all)
	if err == nil {
		j.mu.Lock()
		j.batches++
		j.writes += int64(len(all))
		j.failing = false
		j.mu.Unlock()
		for _, r := range batch {
			j.finish(r, nil)
		}
		return
	}
	if len(batch) > 1 {
		// One bad request (a stale fence) must not sink the others: retry
		// each in its own transaction.
		for _, r := range batch {
			j.commit([]*request{r})
		}
		return
	}
	werr := &WriteError{Err: err}
	j.mu.Lock()
	j.failing, j.lastErr, j.failure = true, j.opts.Clock.Now(), werr
	j.mu.Unlock()
	j.log.Error("journal write failed", "err", err, "writes", len(all))
	if j.opts.Metrics != nil {
		j.opts.Metrics.journalWriteFailures.Inc()
	}
	if j.opts.OnWriteError != nil {
		j.opts.OnWriteError(werr)
	}
	j.finish(batch[0], werr)
}

func (j *Journal) finish(r *request, err error) {
	if err == nil {
		for i, sw := range r.writes {
			skipped := (sw.NewOrder != nil && !sw.OrderInserted) || (sw.Fill != nil && !sw.FillInserted) ||
				(sw.Funding != nil && !sw.FundingInserted)
			for k, e := range r.events[i] {
				if skipped {
					continue
				}
				e.Seq = sw.Events[k].Seq
				if j.opts.OnEvent != nil {
					j.opts.OnEvent(*e)
				}
			}
		}
	}
	r.done <- err
}

// FailureHold is how long a failed journal write keeps Check failing when
// no write commits after it.
const FailureHold = time.Minute

// Check is the journal's health: it fails while the last write failed and
// none has committed since. A failure counts for FailureHold at most: an
// idle node whose database came back must not stay unhealthy (and be
// restarted by a watchdog) for want of a write to prove it.
func (j *Journal) Check() error {
	now := j.opts.Clock.Now()
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.failing && now.Sub(j.lastErr) < FailureHold {
		return fmt.Errorf("last write failed %s ago and none committed since: %v", now.Sub(j.lastErr).Round(time.Second), j.failure)
	}
	return nil
}

// Stats reports how many transactions committed how many writes; writes
// per batch above 1 is group commit at work.
func (j *Journal) Stats() (batches, writes int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.batches, j.writes
}

// Close stops the writer after committing what is queued and waits for it.
// Appends after Close fail with ErrClosed.
func (j *Journal) Close() error {
	j.smu.Lock()
	if !j.closed {
		j.closed = true
		close(j.stop)
	}
	j.smu.Unlock()
	<-j.done
	return nil
}

// Query selects events; see store.EventQuery.
type Query = store.EventQuery

// Events runs q against the store.
func (j *Journal) Events(ctx context.Context, q Query) ([]Event, error) {
	rows, err := j.db.JournalEvents(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make([]Event, len(rows))
	for i, r := range rows {
		out[i] = FromRow(r)
	}
	return out, nil
}
