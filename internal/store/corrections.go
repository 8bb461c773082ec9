package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/quagmt/udecimal"
)

// CorrectionMark opens (or reopens) a strategy correction of one order of a
// session in a journal write: the order was closed with the strategy having
// seen SeenQty/SeenQuote executed, and the journal now corrects it. A second
// mark of the same order keeps the first baseline (the strategy's view is
// advanced only by ApplyCorrections and by steps that see the order) and
// reopens it.
type CorrectionMark struct {
	SessionID     string
	ClientOrderID string
	WasStatus     string
	SeenQty       udecimal.Decimal
	SeenQuote     udecimal.Decimal
	At            time.Time
}

func (db *DB) markCorrection(ctx context.Context, tx *sql.Tx, c *CorrectionMark) error {
	db.correctionRows.Store(true) // before the first row can exist
	_, err := tx.ExecContext(ctx, `INSERT INTO strategy_corrections
		(session_id, client_order_id, was_status, seen_qty, seen_quote, created_at) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (session_id, client_order_id) DO UPDATE SET done = 0, gen = strategy_corrections.gen + 1`,
		c.SessionID, c.ClientOrderID, c.WasStatus, c.SeenQty, c.SeenQuote, micros(c.At))
	if err != nil {
		return fmt.Errorf("mark correction of order %q: %w", c.ClientOrderID, db.mapErr(err))
	}
	return nil
}

// PendingCorrection is a corrected order whose execution the session's
// strategy has not fully seen: Order is its row now, SeenQty/SeenQuote what
// the strategy has accounted for.
type PendingCorrection struct {
	Order     Order
	WasStatus string
	SeenQty   udecimal.Decimal
	SeenQuote udecimal.Decimal
	Gen       int64
}

// PendingCorrections lists the session's corrections not yet done, oldest
// first. It lists none while the session has an open step: that step's
// replay answers its orders from the journal, so the strategy sees them
// there, and the rest are applied once it closes. A private store no
// correction was ever marked in lists none without a read (DB.leaseRows).
func (db *DB) PendingCorrections(ctx context.Context, sessionID string) ([]PendingCorrection, error) {
	if !db.correctionRows.Load() {
		return nil, nil
	}
	rows, err := db.r.QueryContext(ctx, `SELECT c.was_status, c.seen_qty, c.seen_quote, c.gen, `+prefixed("o.", orderCols)+`
		FROM strategy_corrections c
		JOIN orders o ON o.client_order_id = c.client_order_id
		JOIN sessions s ON s.id = c.session_id
		WHERE c.session_id = $1 AND c.done = 0 AND s.step_open = 0
		ORDER BY c.created_at, c.client_order_id`, sessionID)
	if err != nil {
		return nil, fmt.Errorf("pending corrections of session %s: %w", sessionID, db.mapErr(err))
	}
	defer rows.Close()
	var out []PendingCorrection
	for rows.Next() {
		var p PendingCorrection
		var created, updated int64
		o := &p.Order
		if err := rows.Scan(&p.WasStatus, &p.SeenQty, &p.SeenQuote, &p.Gen, &o.ClientOrderID, &o.SessionID, &o.AccountID,
			&o.Symbol, &o.Side, &o.Type, &o.Price, &o.Quantity, &o.QuoteQuantity, &o.Status, &o.VenueOrderID, &o.ExecutedQty,
			&o.QuoteQty, &o.Fence, &created, &updated); err != nil {
			return nil, fmt.Errorf("pending corrections of session %s: %w", sessionID, err)
		}
		o.CreatedAt, o.UpdatedAt = fromMicros(created), fromMicros(updated)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pending corrections of session %s: %w", sessionID, err)
	}
	return out, nil
}

// CorrectionSeen records what a session's strategy has now seen of a
// corrected order. Done closes the correction, unless another correction of
// the order was marked since generation Gen was read (then it stays open
// and is listed again). A Gen of 0 never closes it.
type CorrectionSeen struct {
	ClientOrderID string
	SeenQty       udecimal.Decimal
	SeenQuote     udecimal.Decimal
	Gen           int64
	Done          bool
}

// ApplyCorrections saves, in one commit, the session's strategy state
// after corrections were applied to it (nil keeps the stored one) and what
// the strategy has seen of each corrected order, so a crash either keeps
// both or neither: no correction is applied twice or lost.
func (db *DB) ApplyCorrections(ctx context.Context, sessionID string, state json.RawMessage, seen []CorrectionSeen) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if state != nil {
			res, err := tx.ExecContext(ctx, `UPDATE sessions SET strategy_state = $1 WHERE id = $2`, string(state), sessionID)
			if err != nil {
				return db.mapErr(err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return fmt.Errorf("session %s: %w", sessionID, ErrNotFound)
			}
		}
		return db.saveSeen(ctx, tx, sessionID, seen)
	})
	if err != nil {
		return fmt.Errorf("apply corrections of session %s: %w", sessionID, err)
	}
	return nil
}

func (db *DB) saveSeen(ctx context.Context, tx *sql.Tx, sessionID string, seen []CorrectionSeen) error {
	for _, s := range seen {
		if _, err := tx.ExecContext(ctx, `UPDATE strategy_corrections SET seen_qty = $1, seen_quote = $2,
			done = CASE WHEN $3 AND gen = $4 THEN 1 ELSE done END
			WHERE session_id = $5 AND client_order_id = $6`,
			s.SeenQty, s.SeenQuote, s.Done, s.Gen, sessionID, s.ClientOrderID); err != nil {
			return fmt.Errorf("correction of order %q: %w", s.ClientOrderID, db.mapErr(err))
		}
	}
	return nil
}

// prefixed qualifies each column of a column list with p ("o.").
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}
