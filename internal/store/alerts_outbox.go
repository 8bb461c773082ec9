package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// OutboxDelivery is one pending delivery of one alert to one sink, with the
// alert it carries.
type OutboxDelivery struct {
	ID        int64
	Sink      string
	Attempts  int
	LastError string
	Alert     Alert
}

// InsertAlertOutbox stores an alert and one outbox row per sink in one
// transaction and returns the alert's id. With a non-empty dedupKey an alert
// already stored under that key (raised by another node) is not stored
// again: the returned id is 0 and dup is true.
func (db *DB) InsertAlertOutbox(ctx context.Context, a Alert, dedupKey string, sinks []string, now time.Time) (id int64, dup bool, err error) {
	err = db.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx,
			`INSERT INTO alerts (at, severity, source, session_id, account_id, message, dedup_key) VALUES ($1, $2, $3, $4, $5, $6, $7)
			 ON CONFLICT DO NOTHING RETURNING id`,
			micros(a.At), a.Severity, a.Source, a.SessionID, a.AccountID, a.Message, dedupKey).Scan(&id)
		if err == sql.ErrNoRows {
			dup = true
			return nil
		}
		if err != nil {
			return err
		}
		for _, s := range sinks {
			if _, err := tx.ExecContext(ctx, `INSERT INTO alert_outbox (alert_id, sink, next_at, created_at) VALUES ($1, $2, $3, $3)`,
				id, s, micros(now)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("insert alert with %d deliveries: %w", len(sinks), err)
	}
	return id, dup, nil
}

// ClaimAlertDeliveries claims up to limit undelivered outbox rows due at now
// for claimFor (no other sender takes them meanwhile; on PostgreSQL with
// SKIP LOCKED), oldest first, with their alerts.
func (db *DB) ClaimAlertDeliveries(ctx context.Context, now time.Time, claimFor time.Duration, limit int) ([]OutboxDelivery, error) {
	var out []OutboxDelivery
	err := db.tx(ctx, func(tx *sql.Tx) error {
		lock := ""
		if db.dialect.name() == "postgres" {
			lock = " FOR UPDATE SKIP LOCKED"
		}
		rows, err := tx.QueryContext(ctx, `SELECT id FROM alert_outbox WHERE delivered_at = 0 AND next_at <= $1 AND claim_until <= $1
			ORDER BY next_at, id LIMIT $2`+lock, micros(now), limit)
		if err != nil {
			return err
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			var d OutboxDelivery
			var at, acked int64
			err := tx.QueryRowContext(ctx, `UPDATE alert_outbox SET claim_until = $2 WHERE id = $1 AND claim_until <= $3
				RETURNING id, sink, attempts, last_error, alert_id`, id, micros(now.Add(claimFor)), micros(now)).
				Scan(&d.ID, &d.Sink, &d.Attempts, &d.LastError, &d.Alert.ID)
			if err == sql.ErrNoRows {
				continue
			}
			if err != nil {
				return err
			}
			if err := tx.QueryRowContext(ctx, `SELECT at, severity, source, session_id, account_id, message, acked_at FROM alerts WHERE id = $1`,
				d.Alert.ID).Scan(&at, &d.Alert.Severity, &d.Alert.Source, &d.Alert.SessionID, &d.Alert.AccountID, &d.Alert.Message, &acked); err != nil {
				return fmt.Errorf("alert %d of delivery %d: %w", d.Alert.ID, d.ID, err)
			}
			d.Alert.At, d.Alert.AckedAt = fromMicros(at), fromMicros(acked)
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim alert deliveries: %w", err)
	}
	return out, nil
}

// AlertDelivered marks an outbox row delivered.
func (db *DB) AlertDelivered(ctx context.Context, id int64, at time.Time) error {
	if _, err := db.w.ExecContext(ctx, `UPDATE alert_outbox SET delivered_at = $2, attempts = attempts + 1, last_error = '' WHERE id = $1`,
		id, micros(at)); err != nil {
		return fmt.Errorf("mark alert delivery %d delivered: %w", id, err)
	}
	return nil
}

// AlertDeliveryFailed records a failed attempt and when to try again.
func (db *DB) AlertDeliveryFailed(ctx context.Context, id int64, next time.Time, msg string) error {
	if _, err := db.w.ExecContext(ctx, `UPDATE alert_outbox SET attempts = attempts + 1, next_at = $2, claim_until = 0, last_error = $3 WHERE id = $1`,
		id, micros(next), msg); err != nil {
		return fmt.Errorf("record failed alert delivery %d: %w", id, err)
	}
	return nil
}

// AlertOutboxStats counts undelivered rows per sink and, of those, the ones
// that failed at least once, with the last error of each sink.
type AlertOutboxStats struct {
	Sink      string
	Pending   int64
	Failing   int64
	LastError string
}

// AlertOutbox summarizes the undelivered outbox rows per sink.
func (db *DB) AlertOutbox(ctx context.Context) ([]AlertOutboxStats, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT sink, COUNT(*), SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END), MAX(last_error)
		FROM alert_outbox WHERE delivered_at = 0 GROUP BY sink ORDER BY sink`)
	if err != nil {
		return nil, fmt.Errorf("alert outbox: %w", err)
	}
	defer rows.Close()
	var out []AlertOutboxStats
	for rows.Next() {
		var s AlertOutboxStats
		if err := rows.Scan(&s.Sink, &s.Pending, &s.Failing, &s.LastError); err != nil {
			return nil, fmt.Errorf("alert outbox: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
