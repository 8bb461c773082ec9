package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quagmt/udecimal"
)

// Order statuses the store gives meaning to. The venue's statuses (new,
// partially_filled, filled, canceled, rejected, expired) are stored as the
// venue reports them; the journal adds the three below.
const (
	// OrderIntent: the intent is committed; the request may or may not have
	// left. Non-terminal: reconciliation settles it by client order id.
	OrderIntent = "intent"
	// OrderUnknown: the request's outcome is unknown and not yet settled.
	OrderUnknown = "unknown"
	// OrderFailed: terminal; the venue certainly holds no such order.
	OrderFailed = "failed"
)

// terminalOrderStatuses are the statuses after which an order never changes,
// but by a correction (OrderUpdate.Reopen): updateOrder keeps them against
// a later non-terminal answer.
var terminalOrderStatuses = []string{"filled", "canceled", "rejected", "expired", OrderFailed}

// TerminalOrderStatus reports whether status is terminal (filled, canceled,
// rejected, expired or failed).
func TerminalOrderStatus(status string) bool { return slices.Contains(terminalOrderStatuses, status) }

// Order is one row of the orders table: written as an intent before the
// request leaves and updated with the venue's answers.
type Order struct {
	ClientOrderID string
	SessionID     string
	AccountID     int64
	Symbol        string
	Side          string
	Type          string
	Price         udecimal.Decimal
	Quantity      udecimal.Decimal
	QuoteQuantity udecimal.Decimal
	Status        string
	VenueOrderID  string
	ExecutedQty   udecimal.Decimal
	QuoteQty      udecimal.Decimal
	Fence         int64
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// OrderUpdate is the venue's answer about an order. An empty VenueOrderID
// keeps the stored one. Fence must be at least the stored fence, or the
// update fails with ErrStaleFence; the stored fence becomes Fence.
//
// A non-terminal update of a row that is already terminal changes nothing
// and is no error: it is an answer overtaken by a later one (the
// placement's NEW handled after the user stream's fill had closed the
// row). Only a correction, Reopen set, moves a terminal row back (a
// "failed" order the venue shows open).
type OrderUpdate struct {
	ClientOrderID string
	Status        string
	VenueOrderID  string
	ExecutedQty   udecimal.Decimal
	QuoteQty      udecimal.Decimal
	Fence         int64
	At            time.Time
	Reopen        bool
}

// JournalEvent is one row of the append-only execution journal. Seq is
// assigned by the store on append and orders events totally.
type JournalEvent struct {
	Seq           int64
	At            time.Time
	Kind          string
	SessionID     string
	AccountID     int64
	Symbol        string
	ClientOrderID string
	VenueOrderID  string
	Side          string
	OrderType     string
	Quantity      udecimal.Decimal
	Price         udecimal.Decimal
	FilledQty     udecimal.Decimal
	Fee           udecimal.Decimal
	FeeAsset      string
	LatencyUS     int64
	ErrorClass    string
	ErrorCode     int64
	Message       string
	Fence         int64
	Node          string
}

// Fill is one trade of one of an account's orders. (AccountID, Symbol,
// TradeID) is unique: a fill is stored once however often it is reported.
type Fill struct {
	ID            int64
	AccountID     int64
	Symbol        string
	TradeID       string
	ClientOrderID string
	VenueOrderID  string
	SessionID     string
	Side          string
	Price         udecimal.Decimal
	Quantity      udecimal.Decimal
	QuoteQty      udecimal.Decimal
	Fee           udecimal.Decimal
	FeeAsset      string
	Maker         bool
	Source        string // "order_trades", "stream", "import", ...
	At            time.Time
}

// JournalWrite is one unit of a journal batch: the order and fill rows that
// go with a few events. A write whose NewOrder or Fill already exists is a
// no-op (its Events are not appended and OrderInserted or FillInserted is
// false), so replaying a write never duplicates anything. Update is applied
// when set and fails the write with ErrStaleFence (or ErrNotFound) when it
// cannot be.
type JournalWrite struct {
	NewOrder *Order
	Update   *OrderUpdate
	Fill     *Fill
	Funding  *FundingPayment // a funding settlement, keyed like a fill
	Events   []JournalEvent
	// Correction, when set, opens a strategy correction of the order in
	// the same commit as the events (see CorrectionMark).
	Correction *CorrectionMark

	// Set by WriteJournal.
	OrderInserted   bool
	FillInserted    bool
	FundingInserted bool
}

// WriteJournal commits every write in ONE transaction (group commit) and
// sets the events' Seq in append order. On SQLite the commit is fsynced
// before it returns. Any failing statement fails the whole batch; callers
// that want one bad write not to sink the others retry them one by one.
func (db *DB) WriteJournal(ctx context.Context, ws []*JournalWrite) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var evs []*JournalEvent
		for _, w := range ws {
			w.OrderInserted, w.FillInserted, w.FundingInserted = false, false, false
			appendEvents := true
			if w.NewOrder != nil {
				ok, err := db.insertOrder(ctx, tx, w.NewOrder)
				if err != nil {
					return err
				}
				w.OrderInserted = ok
				appendEvents = appendEvents && ok
			}
			if w.Fill != nil {
				ok, err := db.insertFill(ctx, tx, w.Fill)
				if err != nil {
					return err
				}
				w.FillInserted = ok
				appendEvents = appendEvents && ok
			}
			if w.Funding != nil {
				ok, err := db.insertFunding(ctx, tx, w.Funding)
				if err != nil {
					return err
				}
				w.FundingInserted = ok
				appendEvents = appendEvents && ok
			}
			if !appendEvents {
				continue
			}
			if w.Update != nil {
				if err := db.updateOrder(ctx, tx, *w.Update); err != nil {
					return err
				}
			}
			if w.Correction != nil {
				if err := db.markCorrection(ctx, tx, w.Correction); err != nil {
					return err
				}
			}
			for i := range w.Events {
				evs = append(evs, &w.Events[i])
			}
		}
		return db.insertEvents(ctx, tx, evs)
	})
	if err != nil {
		return fmt.Errorf("write journal batch of %d: %w", len(ws), err)
	}
	return nil
}

// AppendJournalEvents appends events in one transaction and sets their Seq.
func (db *DB) AppendJournalEvents(ctx context.Context, evs []JournalEvent) error {
	return db.WriteJournal(ctx, []*JournalWrite{{Events: evs}})
}

const eventCols = `at, kind, session_id, account_id, symbol, client_order_id, venue_order_id, side, order_type,
	quantity, price, filled_qty, fee, fee_asset, latency_us, error_class, error_code, message, fence, node`

const eventNCols = 20

// eventChunk bounds the rows of one multi-row INSERT (20 parameters each).
// Measured: with modernc SQLite the cost per row grows with the parameters
// of a statement (500 rows ran 6x slower per row than 50), so keep it small.
const eventChunk = 50

// eventInsertTexts holds the INSERT of n journal events at index n
// (1..eventChunk), built once: formatting its placeholders was a tenth of
// the insert's CPU when every batch wrote its text again.
var eventInsertTexts = sync.OnceValue(func() []string {
	texts := make([]string, eventChunk+1)
	for n := 1; n <= eventChunk; n++ {
		var sb strings.Builder
		sb.WriteString(`INSERT INTO journal_events (` + eventCols + `) VALUES `)
		for i := range n {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteByte('(')
			for c := range eventNCols {
				if c > 0 {
					sb.WriteByte(',')
				}
				sb.WriteByte('$')
				sb.WriteString(strconv.Itoa(i*eventNCols + c + 1))
			}
			sb.WriteByte(')')
		}
		texts[n] = sb.String()
	}
	return texts
})

func (db *DB) insertEvents(ctx context.Context, tx *sql.Tx, evs []*JournalEvent) error {
	for len(evs) > 0 {
		n := min(len(evs), eventChunk)
		chunk := evs[:n]
		evs = evs[n:]
		args := make([]any, 0, n*eventNCols)
		for _, e := range chunk {
			args = append(args, micros(e.At), e.Kind, e.SessionID, e.AccountID, e.Symbol, e.ClientOrderID, e.VenueOrderID,
				e.Side, e.OrderType, e.Quantity, e.Price, e.FilledQty, e.Fee, e.FeeAsset, e.LatencyUS, e.ErrorClass,
				e.ErrorCode, e.Message, e.Fence, e.Node)
		}
		text := eventInsertTexts()[n]
		if db.dialect.name() == "sqlite" {
			// No RETURNING: reading its rows back cost a fifth of a
			// replay step. Under the single writer one INSERT numbers its
			// rows in VALUES order, so the last id gives them all.
			res, err := tx.ExecContext(ctx, text, args...)
			if err != nil {
				return fmt.Errorf("append %d journal events: %w", n, err)
			}
			last, err := res.LastInsertId()
			if err != nil {
				return fmt.Errorf("append %d journal events: %w", n, err)
			}
			if got, err := res.RowsAffected(); err != nil || got != int64(n) {
				return fmt.Errorf("append journal events: %d rows inserted for %d events (%v)", got, n, err)
			}
			for i, e := range chunk {
				e.Seq = last - int64(n-1-i)
			}
			continue
		}
		rows, err := tx.QueryContext(ctx, text+` RETURNING seq`, args...)
		if err != nil {
			return fmt.Errorf("append %d journal events: %w", n, err)
		}
		seqs := make([]int64, 0, n)
		for rows.Next() {
			var s int64
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return fmt.Errorf("append journal events: %w", err)
			}
			seqs = append(seqs, s)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("append journal events: %w", err)
		}
		if len(seqs) != n {
			return fmt.Errorf("append journal events: %d sequence numbers for %d events", len(seqs), n)
		}
		// Both engines number the rows of one INSERT in VALUES order under
		// the single writer; RETURNING's row order is not promised, so sort.
		slices.Sort(seqs)
		for i, e := range chunk {
			e.Seq = seqs[i]
		}
	}
	return nil
}

func (db *DB) insertOrder(ctx context.Context, tx *sql.Tx, o *Order) (bool, error) {
	res, err := tx.ExecContext(ctx,
		`INSERT INTO orders (client_order_id, session_id, account_id, symbol, side, type, price, quantity, quote_quantity,
		   status, venue_order_id, executed_qty, quote_qty, fence, created_at, updated_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
		 ON CONFLICT (client_order_id) DO NOTHING`,
		o.ClientOrderID, o.SessionID, o.AccountID, o.Symbol, o.Side, o.Type, o.Price, o.Quantity, o.QuoteQuantity,
		o.Status, o.VenueOrderID, o.ExecutedQty, o.QuoteQty, o.Fence, micros(o.CreatedAt), micros(orTime(o.UpdatedAt, o.CreatedAt)))
	if err != nil {
		return false, fmt.Errorf("insert order %q: %w", o.ClientOrderID, db.mapErr(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("insert order %q: %w", o.ClientOrderID, err)
	}
	if n == 1 {
		if err := db.checkOrderFence(ctx, tx, db.dialect.name() == "postgres", o); err != nil {
			return false, fmt.Errorf("insert order %q: %w", o.ClientOrderID, err)
		}
	}
	return n == 1, nil
}

// Parameters in order of appearance, each once, so SQLite binds them
// without names (anonymousPlaceholders).
const updateOrderSQL = `UPDATE orders SET status = $1, venue_order_id = COALESCE(NULLIF($2, ''), venue_order_id),
	   executed_qty = $3, quote_qty = $4, fence = $5, updated_at = $6
	 WHERE client_order_id = $7 AND fence <= $8`

// updateOrderKeepTerminalSQL is updateOrderSQL for a non-terminal answer:
// it leaves a terminal row as it is.
var updateOrderKeepTerminalSQL = updateOrderSQL + ` AND status NOT IN ('` + strings.Join(terminalOrderStatuses, `', '`) + `')`

func (db *DB) updateOrder(ctx context.Context, tx *sql.Tx, u OrderUpdate) error {
	keep := !u.Reopen && !TerminalOrderStatus(u.Status)
	text := updateOrderSQL
	if keep {
		text = updateOrderKeepTerminalSQL
	}
	res, err := tx.ExecContext(ctx, text, u.Status, u.VenueOrderID, u.ExecutedQty, u.QuoteQty, u.Fence, micros(u.At), u.ClientOrderID, u.Fence)
	if err != nil {
		return fmt.Errorf("update order %q: %w", u.ClientOrderID, db.mapErr(err))
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	var fence int64
	var status string
	if err := tx.QueryRowContext(ctx, `SELECT fence, status FROM orders WHERE client_order_id = $1`, u.ClientOrderID).Scan(&fence, &status); err != nil {
		return fmt.Errorf("update order %q: %w", u.ClientOrderID, db.mapErr(err))
	}
	if fence > u.Fence {
		return fmt.Errorf("update order %q with fence %d (stored %d): %w", u.ClientOrderID, u.Fence, fence, ErrStaleFence)
	}
	if keep && TerminalOrderStatus(status) {
		return nil // overtaken: the row's terminal status is the later truth
	}
	return fmt.Errorf("update order %q to %s: no row changed (stored %s, fence %d)", u.ClientOrderID, u.Status, status, fence)
}

const insertFillSQL = `INSERT INTO fills (account_id, symbol, trade_id, client_order_id, venue_order_id, session_id, side,
	   price, quantity, quote_qty, fee, fee_asset, maker, source, at)
	 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
	 ON CONFLICT (account_id, symbol, trade_id) DO NOTHING`

func (db *DB) insertFill(ctx context.Context, tx *sql.Tx, f *Fill) (bool, error) {
	args := []any{f.AccountID, f.Symbol, f.TradeID, f.ClientOrderID, f.VenueOrderID, f.SessionID, f.Side, f.Price, f.Quantity,
		f.QuoteQty, f.Fee, f.FeeAsset, f.Maker, f.Source, micros(f.At)}
	if db.dialect.name() == "sqlite" {
		// As insertEvents: no RETURNING rows to read back (they were most
		// of this insert's CPU in a replay); the conflict inserts no row,
		// and a new row's id is the connection's last insert id.
		res, err := tx.ExecContext(ctx, insertFillSQL, args...)
		if err != nil {
			return false, fmt.Errorf("insert fill %s/%s: %w", f.Symbol, f.TradeID, db.mapErr(err))
		}
		n, err := res.RowsAffected()
		if err != nil {
			return false, fmt.Errorf("insert fill %s/%s: %w", f.Symbol, f.TradeID, err)
		}
		if n == 0 {
			return false, nil
		}
		if f.ID, err = res.LastInsertId(); err != nil {
			return false, fmt.Errorf("insert fill %s/%s: %w", f.Symbol, f.TradeID, err)
		}
		return true, nil
	}
	err := tx.QueryRowContext(ctx, insertFillSQL+` RETURNING id`, args...).Scan(&f.ID)
	switch {
	case err == sql.ErrNoRows:
		return false, nil
	case err != nil:
		return false, fmt.Errorf("insert fill %s/%s: %w", f.Symbol, f.TradeID, db.mapErr(err))
	}
	return true, nil
}

// InsertOrder stores an order row; it fails with ErrConflict when the client
// order id exists.
func (db *DB) InsertOrder(ctx context.Context, o Order) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		ok, err := db.insertOrder(ctx, tx, &o)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("insert order %q: %w", o.ClientOrderID, ErrConflict)
		}
		return nil
	})
}

// UpdateOrder stores the venue's answer about an order: ErrNotFound when no
// such order, ErrStaleFence when u.Fence is older than the stored fence.
func (db *DB) UpdateOrder(ctx context.Context, u OrderUpdate) error {
	return db.tx(ctx, func(tx *sql.Tx) error { return db.updateOrder(ctx, tx, u) })
}

// InsertFill stores a fill and reports whether it was new; a fill already
// stored (same account, symbol and trade id) is left as it is.
func (db *DB) InsertFill(ctx context.Context, f Fill) (bool, error) {
	var ok bool
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var err error
		ok, err = db.insertFill(ctx, tx, &f)
		return err
	})
	return ok, err
}

const orderCols = `client_order_id, session_id, account_id, symbol, side, type, price, quantity, quote_quantity, status,
	venue_order_id, executed_qty, quote_qty, fence, created_at, updated_at`

func scanOrder(row interface{ Scan(...any) error }) (Order, error) {
	var o Order
	var created, updated int64
	err := row.Scan(&o.ClientOrderID, &o.SessionID, &o.AccountID, &o.Symbol, &o.Side, &o.Type, &o.Price, &o.Quantity,
		&o.QuoteQuantity, &o.Status, &o.VenueOrderID, &o.ExecutedQty, &o.QuoteQty, &o.Fence, &created, &updated)
	o.CreatedAt, o.UpdatedAt = fromMicros(created), fromMicros(updated)
	return o, err
}

// OrderByClientID returns the stored order; ErrNotFound when there is none.
func (db *DB) OrderByClientID(ctx context.Context, clientOrderID string) (Order, error) {
	o, err := scanOrder(db.r.QueryRowContext(ctx, `SELECT `+orderCols+` FROM orders WHERE client_order_id = $1`, clientOrderID))
	if err != nil {
		return o, fmt.Errorf("order %q: %w", clientOrderID, db.mapErr(err))
	}
	return o, nil
}

// NonTerminalOrders lists the orders of an account (every account when
// accountID is 0) whose status is not terminal, oldest first: the work of
// reconciliation.
func (db *DB) NonTerminalOrders(ctx context.Context, accountID int64) ([]Order, error) {
	q := `SELECT ` + orderCols + ` FROM orders WHERE status NOT IN ('filled', 'canceled', 'rejected', 'expired', 'failed')`
	var args []any
	if accountID != 0 {
		q += ` AND account_id = $1`
		args = append(args, accountID)
	}
	return db.queryOrders(ctx, fmt.Sprintf("list non-terminal orders of account %d", accountID),
		q+` ORDER BY created_at, client_order_id`, args...)
}

// EventQuery selects journal events. Zero fields do not filter.
//
// Results are newest first by Seq, keyset-paginated with BeforeSeq (pass the
// last Seq of a page to get the next); with AfterSeq > 0 or Ascending they
// are oldest first after AfterSeq, for following the journal.
//
// A time-range query (From, To, BeforeAt or AfterAt set) is ordered by event
// time instead: by (At, Seq), newest first, or oldest first with Ascending,
// AfterSeq > 0 or AfterAt set. Its keyset cursor is the pair: pass the last
// event's At and Seq as BeforeAt and BeforeSeq (AfterAt and AfterSeq when
// ascending) to get the next page. At is stamped by each writer's clock, so it
// is not monotonic in Seq (an event is stamped before it is queued, nodes'
// clocks differ); ordering by the pair is what makes a page an index range
// that stops after Limit rows. In a time-range query BeforeSeq without
// BeforeAt (AfterSeq without AfterAt) only filters: seq < BeforeSeq (seq >
// AfterSeq); BeforeAt without BeforeSeq means at < BeforeAt, AfterAt without
// AfterSeq at > AfterAt.
type EventQuery struct {
	SessionID     string
	AccountID     int64
	ClientOrderID string
	Kind          string
	From, To      time.Time // at in [From, To)
	FailuresOnly  bool      // error_class <> ''
	BeforeSeq     int64
	AfterSeq      int64
	BeforeAt      time.Time // time-order cursor, with BeforeSeq
	AfterAt       time.Time // time-order cursor, with AfterSeq
	Ascending     bool
	Limit         int // default 100, at most 10000
}

// byTime reports whether q is ordered by (at, seq) rather than seq.
func (q EventQuery) byTime() bool {
	return !q.From.IsZero() || !q.To.IsZero() || !q.BeforeAt.IsZero() || !q.AfterAt.IsZero()
}

// EventOutcome counts the client order ids whose last event among some
// kinds has this kind and error class.
type EventOutcome struct {
	Kind       string
	ErrorClass string
	Orders     int64
}

// LastEventOutcomes counts client order ids by the kind and error class of
// their last event (highest seq) among kinds; events without a client order
// id are left out. A replay's summary reads its orders' final states so,
// without holding the journal.
func (db *DB) LastEventOutcomes(ctx context.Context, kinds []string) ([]EventOutcome, error) {
	if len(kinds) == 0 {
		return nil, nil
	}
	ph := make([]string, len(kinds))
	args := make([]any, len(kinds))
	for i, k := range kinds {
		ph[i], args[i] = fmt.Sprintf("$%d", i+1), k
	}
	rows, err := db.r.QueryContext(ctx, `SELECT e.kind, e.error_class, COUNT(*) FROM journal_events e
		 JOIN (SELECT MAX(seq) AS seq FROM journal_events
		       WHERE kind IN (`+strings.Join(ph, ", ")+`) AND client_order_id <> '' GROUP BY client_order_id) last
		   ON e.seq = last.seq
		 GROUP BY e.kind, e.error_class ORDER BY e.kind, e.error_class`, args...)
	if err != nil {
		return nil, fmt.Errorf("count order outcomes: %w", err)
	}
	defer rows.Close()
	var out []EventOutcome
	for rows.Next() {
		var o EventOutcome
		if err := rows.Scan(&o.Kind, &o.ErrorClass, &o.Orders); err != nil {
			return nil, fmt.Errorf("count order outcomes: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// CountEvents counts the journal events of one kind.
func (db *DB) CountEvents(ctx context.Context, kind string) (int64, error) {
	var n int64
	if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM journal_events WHERE kind = $1`, kind).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s events: %w", kind, err)
	}
	return n, nil
}

// JournalEvents runs q. Every shape is meant to be one index range scan that
// stops after Limit rows (see 00007_journal_query.sql): a session by
// journal_session (session_id, seq), failures by the partial
// journal_failures_seq (seq), a time range by journal_at_seq (at, seq), a
// session's failures by the partial journal_session_failures.
func (db *DB) JournalEvents(ctx context.Context, q EventQuery) ([]JournalEvent, error) {
	sqlq, args := eventQuerySQL(q)
	rows, err := db.r.QueryContext(ctx, sqlq, args...)
	if err != nil {
		return nil, fmt.Errorf("query journal: %w", err)
	}
	defer rows.Close()
	var out []JournalEvent
	for rows.Next() {
		var e JournalEvent
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Kind, &e.SessionID, &e.AccountID, &e.Symbol, &e.ClientOrderID, &e.VenueOrderID,
			&e.Side, &e.OrderType, &e.Quantity, &e.Price, &e.FilledQty, &e.Fee, &e.FeeAsset, &e.LatencyUS, &e.ErrorClass,
			&e.ErrorCode, &e.Message, &e.Fence, &e.Node); err != nil {
			return nil, fmt.Errorf("query journal: %w", err)
		}
		e.At = fromMicros(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// eventQuerySQL renders q as one SELECT with $N placeholders.
func eventQuerySQL(q EventQuery) (string, []any) {
	var where []string
	var args []any
	arg := func(cond string, v ...any) {
		for _, v := range v {
			args = append(args, v)
			cond = strings.Replace(cond, "?", fmt.Sprintf("$%d", len(args)), 1)
		}
		where = append(where, cond)
	}
	if q.SessionID != "" {
		arg("session_id = ?", q.SessionID)
	}
	if q.AccountID != 0 {
		arg("account_id = ?", q.AccountID)
	}
	if q.ClientOrderID != "" {
		arg("client_order_id = ?", q.ClientOrderID)
	}
	if q.Kind != "" {
		arg("kind = ?", q.Kind)
	}
	if q.FailuresOnly {
		// Spelled exactly as the partial indexes' predicate, so both
		// planners can prove the index covers the query.
		where = append(where, "error_class <> ''")
	}
	asc := q.Ascending || q.AfterSeq > 0 || !q.AfterAt.IsZero()
	order := ` ORDER BY seq DESC`
	if !q.byTime() {
		switch {
		case asc:
			order = ` ORDER BY seq`
			arg("seq > ?", q.AfterSeq)
		case q.BeforeSeq > 0:
			arg("seq < ?", q.BeforeSeq)
		}
	} else {
		// at in [lo, hi). The keyset cursor narrows that bound itself, not
		// only through the row-value filter: SQLite bounds an index scan by
		// one constraint per side, and picking [From, To) would make page n
		// read the n-1 pages before it.
		var lo, hi int64 = math.MinInt64, math.MaxInt64
		if !q.From.IsZero() {
			lo = micros(q.From)
		}
		if !q.To.IsZero() {
			hi = micros(q.To)
		}
		var cursor string
		var cursorArgs []any
		if asc {
			order = ` ORDER BY at, seq`
			switch {
			case !q.AfterAt.IsZero() && q.AfterSeq == 0:
				lo = max(lo, micros(q.AfterAt)+1) // at > AfterAt
			case !q.AfterAt.IsZero():
				lo = max(lo, micros(q.AfterAt))
				cursor, cursorArgs = "(at, seq) > (?, ?)", []any{micros(q.AfterAt), q.AfterSeq}
			case q.AfterSeq > 0:
				cursor, cursorArgs = "seq > ?", []any{q.AfterSeq}
			}
		} else {
			order = ` ORDER BY at DESC, seq DESC`
			switch {
			case !q.BeforeAt.IsZero() && q.BeforeSeq == 0:
				hi = min(hi, micros(q.BeforeAt)) // at < BeforeAt
			case !q.BeforeAt.IsZero():
				hi = min(hi, micros(q.BeforeAt)+1)
				cursor, cursorArgs = "(at, seq) < (?, ?)", []any{micros(q.BeforeAt), q.BeforeSeq}
			case q.BeforeSeq > 0:
				cursor, cursorArgs = "seq < ?", []any{q.BeforeSeq}
			}
		}
		if lo != math.MinInt64 {
			arg("at >= ?", lo)
		}
		if hi != math.MaxInt64 {
			arg("at < ?", hi)
		}
		if cursor != "" {
			arg(cursor, cursorArgs...)
		}
	}
	sqlq := `SELECT seq, ` + eventCols + ` FROM journal_events`
	if len(where) > 0 {
		sqlq += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, min(limitOr(q.Limit, 100), 10000))
	sqlq += order + fmt.Sprintf(` LIMIT $%d`, len(args))
	return sqlq, args
}

// FillQuery selects fills. Zero fields do not filter. Results are in time
// order, ties by id; for the next page pass the last fill's At and ID as
// AfterAt and AfterID (keyset pagination).
type FillQuery struct {
	AccountID int64
	SessionID string
	Symbol    string
	From, To  time.Time // at in [From, To)
	AfterAt   time.Time
	AfterID   int64
	Limit     int // default 1000, at most 100000
}

// Fills runs q.
func (db *DB) Fills(ctx context.Context, q FillQuery) ([]Fill, error) {
	var where []string
	var args []any
	arg := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(args))))
	}
	if q.AccountID != 0 {
		arg("account_id = ?", q.AccountID)
	}
	if q.SessionID != "" {
		arg("session_id = ?", q.SessionID)
	}
	if q.Symbol != "" {
		arg("symbol = ?", q.Symbol)
	}
	if !q.From.IsZero() {
		arg("at >= ?", micros(q.From))
	}
	if !q.To.IsZero() {
		arg("at < ?", micros(q.To))
	}
	if q.AfterID > 0 {
		args = append(args, micros(q.AfterAt), q.AfterID)
		where = append(where, fmt.Sprintf("(at > $%d OR (at = $%d AND id > $%d))", len(args)-1, len(args)-1, len(args)))
	}
	sqlq := `SELECT id, account_id, symbol, trade_id, client_order_id, venue_order_id, session_id, side, price, quantity,
		quote_qty, fee, fee_asset, maker, source, at FROM fills`
	if len(where) > 0 {
		sqlq += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, min(limitOr(q.Limit, 1000), 100000))
	sqlq += fmt.Sprintf(` ORDER BY at, id LIMIT $%d`, len(args))
	rows, err := db.r.QueryContext(ctx, sqlq, args...)
	if err != nil {
		return nil, fmt.Errorf("list fills: %w", err)
	}
	defer rows.Close()
	var out []Fill
	for rows.Next() {
		var f Fill
		var at int64
		if err := rows.Scan(&f.ID, &f.AccountID, &f.Symbol, &f.TradeID, &f.ClientOrderID, &f.VenueOrderID, &f.SessionID,
			&f.Side, &f.Price, &f.Quantity, &f.QuoteQty, &f.Fee, &f.FeeAsset, &f.Maker, &f.Source, &at); err != nil {
			return nil, fmt.Errorf("list fills: %w", err)
		}
		f.At = fromMicros(at)
		out = append(out, f)
	}
	return out, rows.Err()
}

func orTime(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return t
}

// UnsettledOrders lists a session's orders whose outcome is not known yet
// (intent or unknown), oldest first. A session makes no new decision on the
// symbol of such an order until the venue's answer about it is certain.
func (db *DB) UnsettledOrders(ctx context.Context, sessionID string) ([]Order, error) {
	return db.queryOrders(ctx, "list unsettled orders of session "+sessionID, unsettledOrdersQuery, sessionID)
}

// unsettledOrdersQuery repeats the WHERE of the partial index
// orders_unsettled word for word, so the planners use it.
const unsettledOrdersQuery = `SELECT ` + orderCols + ` FROM orders WHERE status IN ('intent', 'unknown') AND session_id = $1
		ORDER BY created_at, client_order_id`

// AllUnsettledOrders lists every order whose outcome is not known yet
// (intent or unknown), oldest first, for the API and the dashboard.
func (db *DB) AllUnsettledOrders(ctx context.Context) ([]Order, error) {
	return db.queryOrders(ctx, "list unsettled orders",
		`SELECT `+orderCols+` FROM orders WHERE status IN ('intent', 'unknown')
		ORDER BY created_at, client_order_id LIMIT 10000`)
}

// FillsOfOrder lists the stored fills of one order (by client order id) of
// an account, oldest first.
func (db *DB) FillsOfOrder(ctx context.Context, accountID int64, clientOrderID string) ([]Fill, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, account_id, symbol, trade_id, client_order_id, venue_order_id, session_id, side,
		price, quantity, quote_qty, fee, fee_asset, maker, source, at FROM fills WHERE client_order_id = $1 AND account_id = $2
		ORDER BY at, id`, clientOrderID, accountID)
	if err != nil {
		return nil, fmt.Errorf("fills of order %q: %w", clientOrderID, err)
	}
	defer rows.Close()
	var out []Fill
	for rows.Next() {
		var f Fill
		var at int64
		if err := rows.Scan(&f.ID, &f.AccountID, &f.Symbol, &f.TradeID, &f.ClientOrderID, &f.VenueOrderID, &f.SessionID,
			&f.Side, &f.Price, &f.Quantity, &f.QuoteQty, &f.Fee, &f.FeeAsset, &f.Maker, &f.Source, &at); err != nil {
			return nil, fmt.Errorf("fills of order %q: %w", clientOrderID, err)
		}
		f.At = fromMicros(at)
		out = append(out, f)
	}
	return out, rows.Err()
}

// OrdersCreated lists an account's orders created in [from, to), oldest
// first (at most 100000), for the journal audit.
func (db *DB) OrdersCreated(ctx context.Context, accountID int64, from, to time.Time) ([]Order, error) {
	return db.queryOrders(ctx, fmt.Sprintf("orders of account %d created in [%s, %s)", accountID, from, to),
		`SELECT `+orderCols+` FROM orders WHERE account_id = $1 AND created_at >= $2 AND created_at < $3
		ORDER BY created_at, client_order_id LIMIT 100000`, accountID, micros(from), micros(to))
}

// queryOrders runs a query selecting orderCols on the read pool and scans
// every row; what names the query in errors.
func (db *DB) queryOrders(ctx context.Context, what, q string, args ...any) ([]Order, error) {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}
