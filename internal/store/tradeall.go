package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Item states the store gives meaning to; the other states (done, skipped,
// failed, canceled) are terminal strings owned by package tradeall.
const (
	// TradeAllPending: the session's step has not been started.
	TradeAllPending = "pending"
	// TradeAllRunning: the step was started and may have placed orders.
	TradeAllRunning = "running"
	// TradeAllCanceled: the run was canceled before the step started.
	TradeAllCanceled = "canceled"
)

// TradeAllRun is one Trade All run. Key is the client's idempotency key and
// is unique; Selection is a JSON document the store does not interpret.
type TradeAllRun struct {
	ID              string
	Key             string
	Selection       string
	State           string
	Actor           string
	Remote          string
	CancelRequested bool
	Message         string
	CreatedAt       time.Time
	UpdatedAt       time.Time
	FinishedAt      time.Time
}

// TradeAllItem is one selected session of a run and its step's result.
// Orders is a JSON document the store does not interpret.
type TradeAllItem struct {
	RunID      string
	Seq        int64
	SessionID  string
	Account    string
	Venue      string
	State      string
	Reason     string
	ErrorClass string
	ErrorCode  int64
	Message    string
	Orders     string
	Fills      int64
	StartedAt  time.Time
	FinishedAt time.Time
	// Node is the node that claimed the item (moved it to running).
	Node string
}

// TradeAllItemUpdate moves one item (by RunID and SessionID) to Item's
// state, result and node, but only when its stored state is one of From
// and, with CheckNode, its stored node is FromNode: the conditional update
// that lets exactly one node claim an item, or take over one left running
// by a node that died. A zero StartedAt or FinishedAt keeps the stored
// value.
type TradeAllItemUpdate struct {
	Item      TradeAllItem
	From      []string
	CheckNode bool
	FromNode  string
}

const tradeAllRunCols = `id, idem_key, selection, state, actor, remote, cancel_requested, message, created_at, updated_at, finished_at`

const tradeAllItemCols = `run_id, seq, session_id, account, venue, state, reason, error_class, error_code, message, orders, fills, started_at, finished_at, node`

// CreateTradeAllRun inserts r and its items in one transaction. It fails
// with ErrConflict when r.ID or r.Key is taken (then nothing is written);
// the caller reads the existing run with TradeAllRunByKey.
func (db *DB) CreateTradeAllRun(ctx context.Context, r TradeAllRun, items []TradeAllItem) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tradeall_runs (`+tradeAllRunCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)`,
			r.ID, r.Key, orJSON(r.Selection), r.State, r.Actor, r.Remote, r.CancelRequested, r.Message,
			micros(r.CreatedAt), micros(r.FinishedAt))
		if err != nil {
			return db.mapErr(err)
		}
		// Multi-row inserts keep a 1000-session run to a few statements.
		const batch = 100
		for start := 0; start < len(items); start += batch {
			end := min(start+batch, len(items))
			var sb strings.Builder
			args := make([]any, 0, (end-start)*15)
			sb.WriteString(`INSERT INTO tradeall_items (` + tradeAllItemCols + `) VALUES `)
			for i, it := range items[start:end] {
				if i > 0 {
					sb.WriteString(", ")
				}
				n := len(args)
				fmt.Fprintf(&sb, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d)",
					n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, n+9, n+10, n+11, n+12, n+13, n+14, n+15)
				args = append(args, r.ID, it.Seq, it.SessionID, it.Account, it.Venue, it.State, it.Reason, it.ErrorClass,
					it.ErrorCode, it.Message, orArray(it.Orders), it.Fills, micros(it.StartedAt), micros(it.FinishedAt), it.Node)
			}
			if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
				return db.mapErr(err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create trade-all run %s: %w", r.ID, err)
	}
	return nil
}

func scanTradeAllRun(row interface{ Scan(...any) error }) (TradeAllRun, error) {
	var r TradeAllRun
	var c, u, f int64
	err := row.Scan(&r.ID, &r.Key, &r.Selection, &r.State, &r.Actor, &r.Remote, &r.CancelRequested, &r.Message, &c, &u, &f)
	r.CreatedAt, r.UpdatedAt, r.FinishedAt = fromMicros(c), fromMicros(u), fromMicros(f)
	return r, err
}

// TradeAllRun returns the run with id, or ErrNotFound.
func (db *DB) TradeAllRun(ctx context.Context, id string) (TradeAllRun, error) {
	r, err := scanTradeAllRun(db.w.QueryRowContext(ctx, `SELECT `+tradeAllRunCols+` FROM tradeall_runs WHERE id = $1`, id))
	if err != nil {
		return r, fmt.Errorf("trade-all run %s: %w", id, db.mapErr(err))
	}
	return r, nil
}

// TradeAllRunByKey returns the run with idempotency key key, or
// ErrNotFound. It reads through the writer so that a key another caller
// just committed is seen.
func (db *DB) TradeAllRunByKey(ctx context.Context, key string) (TradeAllRun, error) {
	r, err := scanTradeAllRun(db.w.QueryRowContext(ctx, `SELECT `+tradeAllRunCols+` FROM tradeall_runs WHERE idem_key = $1`, key))
	if err != nil {
		return r, fmt.Errorf("trade-all run with key %q: %w", key, db.mapErr(err))
	}
	return r, nil
}

// TradeAllRuns lists runs newest first; state "" means every state and a
// limit of 0 means 100.
func (db *DB) TradeAllRuns(ctx context.Context, state string, limit int) ([]TradeAllRun, error) {
	q := `SELECT ` + tradeAllRunCols + ` FROM tradeall_runs`
	args := []any{limitOr(limit, 100)}
	if state != "" {
		q += ` WHERE state = $2`
		args = append(args, state)
	}
	rows, err := db.r.QueryContext(ctx, q+` ORDER BY created_at DESC, id DESC LIMIT $1`, args...)
	if err != nil {
		return nil, fmt.Errorf("list trade-all runs: %w", err)
	}
	defer rows.Close()
	var out []TradeAllRun
	for rows.Next() {
		r, err := scanTradeAllRun(rows)
		if err != nil {
			return nil, fmt.Errorf("list trade-all runs: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// TradeAllItems lists a run's items in selection order (Seq).
func (db *DB) TradeAllItems(ctx context.Context, runID string) ([]TradeAllItem, error) {
	rows, err := db.w.QueryContext(ctx, `SELECT `+tradeAllItemCols+` FROM tradeall_items WHERE run_id = $1 ORDER BY seq`, runID)
	if err != nil {
		return nil, fmt.Errorf("trade-all run %s items: %w", runID, err)
	}
	defer rows.Close()
	var out []TradeAllItem
	for rows.Next() {
		var it TradeAllItem
		var s, f int64
		if err := rows.Scan(&it.RunID, &it.Seq, &it.SessionID, &it.Account, &it.Venue, &it.State, &it.Reason,
			&it.ErrorClass, &it.ErrorCode, &it.Message, &it.Orders, &it.Fills, &s, &f, &it.Node); err != nil {
			return nil, fmt.Errorf("trade-all run %s items: %w", runID, err)
		}
		it.StartedAt, it.FinishedAt = fromMicros(s), fromMicros(f)
		out = append(out, it)
	}
	return out, rows.Err()
}

// UpdateTradeAllItems applies the updates in one transaction (one commit,
// one fsync, however many) and reports which ones applied: an update whose
// item is not in one of its From states (another writer moved it first) is
// not applied and is not an error.
func (db *DB) UpdateTradeAllItems(ctx context.Context, us []TradeAllItemUpdate) ([]bool, error) {
	applied := make([]bool, len(us))
	err := db.tx(ctx, func(tx *sql.Tx) error {
		for i, u := range us {
			it := u.Item
			args := []any{it.RunID, it.SessionID, it.State, it.Reason, it.ErrorClass, it.ErrorCode, it.Message,
				orArray(it.Orders), it.Fills, micros(it.StartedAt), micros(it.FinishedAt), it.Node}
			ph := make([]string, len(u.From))
			for j, f := range u.From {
				args = append(args, f)
				ph[j] = fmt.Sprintf("$%d", len(args))
			}
			if len(ph) == 0 {
				return fmt.Errorf("update trade-all item %s/%s: no from states", it.RunID, it.SessionID)
			}
			where := `run_id = $1 AND session_id = $2 AND state IN (` + strings.Join(ph, ", ") + `)`
			if u.CheckNode {
				args = append(args, u.FromNode)
				where += fmt.Sprintf(" AND node = $%d", len(args))
			}
			res, err := tx.ExecContext(ctx, `UPDATE tradeall_items SET state = $3, reason = $4, error_class = $5,
				error_code = $6, message = $7, orders = $8, fills = $9,
				started_at = CASE WHEN CAST($10 AS BIGINT) = 0 THEN started_at ELSE CAST($10 AS BIGINT) END,
				finished_at = CASE WHEN CAST($11 AS BIGINT) = 0 THEN finished_at ELSE CAST($11 AS BIGINT) END,
				node = $12
				WHERE `+where, args...)
			if err != nil {
				return fmt.Errorf("update trade-all item %s/%s: %w", it.RunID, it.SessionID, err)
			}
			n, _ := res.RowsAffected()
			applied[i] = n == 1
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return applied, nil
}

// RequestTradeAllCancel marks run id cancel-requested and moves its pending
// items to canceled, in one transaction, returning how many it canceled.
// Items already running are left to finish.
func (db *DB) RequestTradeAllCancel(ctx context.Context, id string, at time.Time) (int64, error) {
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tradeall_runs SET cancel_requested = TRUE, updated_at = $2 WHERE id = $1`, id, micros(at))
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return ErrNotFound
		}
		res, err = tx.ExecContext(ctx, `UPDATE tradeall_items SET state = $2, reason = 'run canceled', finished_at = $3
			WHERE run_id = $1 AND state = $4`, id, TradeAllCanceled, micros(at), TradeAllPending)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("cancel trade-all run %s: %w", id, err)
	}
	return n, nil
}

// FinishTradeAllRun moves run id from fromState to state with message. It
// fails with ErrStale when the run is not in fromState (another writer
// finished it) and ErrNotFound when there is no such run.
func (db *DB) FinishTradeAllRun(ctx context.Context, id, fromState, state, message string, at time.Time) error {
	finished := int64(0)
	if state != fromState {
		finished = micros(at)
	}
	res, err := db.w.ExecContext(ctx, `UPDATE tradeall_runs SET state = $3, message = $4, updated_at = $5, finished_at = $6
		WHERE id = $1 AND state = $2`, id, fromState, state, message, micros(at), finished)
	if err != nil {
		return fmt.Errorf("finish trade-all run %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := db.TradeAllRun(ctx, id); err != nil {
			return fmt.Errorf("finish trade-all run %s: %w", id, err)
		}
		return fmt.Errorf("finish trade-all run %s: %w", id, ErrStale)
	}
	return nil
}

func orArray(s string) string {
	if s == "" {
		return "[]"
	}
	return s
}
