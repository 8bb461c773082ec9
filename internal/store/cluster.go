package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Node is one tradeplane process sharing the database.
type Node struct {
	ID          string
	Addr        string
	StartedAt   time.Time
	HeartbeatAt time.Time
	StoppedAt   time.Time
	Leases      int // sessions it holds now
}

// Lease is the ownership of one session by one node until ExpiresAt.
type Lease struct {
	SessionID  string
	NodeID     string
	Token      int64
	ExpiresAt  time.Time
	AcquiredAt time.Time
}

// Heartbeat records that node is alive (registering it on first call).
func (db *DB) Heartbeat(ctx context.Context, n Node, at time.Time) error {
	_, err := db.w.ExecContext(ctx,
		`INSERT INTO nodes (id, addr, started_at, heartbeat_at) VALUES ($1, $2, $3, $3)
		 ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, addr = excluded.addr, stopped_at = 0`,
		n.ID, n.Addr, micros(at))
	if err != nil {
		return fmt.Errorf("heartbeat node %s: %w", n.ID, err)
	}
	return nil
}

// StopNode marks a node stopped and releases its leases (graceful shutdown).
func (db *DB) StopNode(ctx context.Context, nodeID string, at time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE nodes SET stopped_at = $2 WHERE id = $1`, nodeID, micros(at)); err != nil {
			return fmt.Errorf("stop node %s: %w", nodeID, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE leases SET node_id = '', expires_at = 0 WHERE node_id = $1`, nodeID); err != nil {
			return fmt.Errorf("release leases of node %s: %w", nodeID, err)
		}
		return nil
	})
}

// Nodes lists every node with the number of unexpired leases it holds.
func (db *DB) Nodes(ctx context.Context, now time.Time) ([]Node, error) {
	rows, err := db.r.QueryContext(ctx,
		`SELECT n.id, n.addr, n.started_at, n.heartbeat_at, n.stopped_at,
		        (SELECT COUNT(*) FROM leases l WHERE l.node_id = n.id AND l.expires_at > $1)
		 FROM nodes n ORDER BY n.id`, micros(now))
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	defer rows.Close()
	var out []Node
	for rows.Next() {
		var n Node
		var s, h, st int64
		if err := rows.Scan(&n.ID, &n.Addr, &s, &h, &st, &n.Leases); err != nil {
			return nil, fmt.Errorf("list nodes: %w", err)
		}
		n.StartedAt, n.HeartbeatAt, n.StoppedAt = fromMicros(s), fromMicros(h), fromMicros(st)
		out = append(out, n)
	}
	return out, rows.Err()
}

// EnsureLeases creates an unowned lease row for each session that has none.
// It reads which rows exist first and inserts only the missing ones: an
// INSERT ... ON CONFLICT DO NOTHING on an existing row waits for any
// transaction updating that row (another node's renewal or claim, or one
// frozen with its node until the server ends it), so inserting every
// session on every heartbeat made each node's heartbeat wait on the others'
// and cost one round trip per session.
func (db *DB) EnsureLeases(ctx context.Context, sessionIDs []string) error {
	rows, err := db.r.QueryContext(ctx, `SELECT session_id FROM leases`)
	if err != nil {
		return fmt.Errorf("ensure leases: %w", err)
	}
	have := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("ensure leases: %w", err)
		}
		have[id] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("ensure leases: %w", err)
	}
	var missing []string
	for _, id := range sessionIDs {
		if !have[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	db.leaseRows.Store(true) // before the first row can exist
	return db.tx(ctx, func(tx *sql.Tx) error {
		for _, id := range missing {
			if _, err := tx.ExecContext(ctx, `INSERT INTO leases (session_id) VALUES ($1) ON CONFLICT DO NOTHING`, id); err != nil {
				return fmt.Errorf("ensure lease %s: %w", id, err)
			}
		}
		return nil
	})
}

// DropLease removes a session's lease row (the session was deleted or
// stopped for good).
func (db *DB) DropLease(ctx context.Context, sessionID string) error {
	_, err := db.w.ExecContext(ctx, `DELETE FROM leases WHERE session_id = $1`, sessionID)
	return err
}

// RenewLeases extends every unexpired lease node holds and returns them. A
// lease that expired is not renewed: the node has lost it and must stop the
// session (another node may hold it under a newer token).
func (db *DB) RenewLeases(ctx context.Context, nodeID string, now time.Time, ttl time.Duration) ([]Lease, error) {
	var out []Lease
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE leases SET expires_at = $3 WHERE node_id = $1 AND expires_at > $2`,
			nodeID, micros(now), micros(now.Add(ttl))); err != nil {
			return err
		}
		var err error
		out, err = queryLeases(ctx, tx, `WHERE node_id = $1 AND expires_at > $2 ORDER BY session_id`, nodeID, micros(now))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("renew leases of node %s: %w", nodeID, err)
	}
	return out, nil
}

// ClaimLeases takes up to max leases that are free or expired, incrementing
// each one's token, and returns them. On PostgreSQL concurrent claimers skip
// each other's rows (FOR UPDATE SKIP LOCKED), so no lease is taken twice.
func (db *DB) ClaimLeases(ctx context.Context, nodeID string, max int, now time.Time, ttl time.Duration) ([]Lease, error) {
	if max <= 0 {
		return nil, nil
	}
	var out []Lease
	err := db.tx(ctx, func(tx *sql.Tx) error {
		lock := ""
		if db.dialect.name() == "postgres" {
			lock = " FOR UPDATE SKIP LOCKED"
		}
		rows, err := tx.QueryContext(ctx, `SELECT session_id FROM leases WHERE expires_at <= $1 ORDER BY session_id LIMIT $2`+lock, micros(now), max)
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		for _, id := range ids {
			var l Lease
			var exp, acq int64
			err := tx.QueryRowContext(ctx,
				`UPDATE leases SET node_id = $2, token = token + 1, expires_at = $3, acquired_at = $4
				 WHERE session_id = $1 AND expires_at <= $4
				 RETURNING session_id, node_id, token, expires_at, acquired_at`,
				id, nodeID, micros(now.Add(ttl)), micros(now)).Scan(&l.SessionID, &l.NodeID, &l.Token, &exp, &acq)
			if err == sql.ErrNoRows {
				continue // taken meanwhile
			}
			if err != nil {
				return err
			}
			l.ExpiresAt, l.AcquiredAt = fromMicros(exp), fromMicros(acq)
			out = append(out, l)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim leases for node %s: %w", nodeID, err)
	}
	return out, nil
}

// ReleaseLease gives up one lease held by node (to rebalance or on stop).
func (db *DB) ReleaseLease(ctx context.Context, nodeID, sessionID string) error {
	_, err := db.w.ExecContext(ctx, `UPDATE leases SET node_id = '', expires_at = 0 WHERE session_id = $1 AND node_id = $2`, sessionID, nodeID)
	if err != nil {
		return fmt.Errorf("release lease %s: %w", sessionID, err)
	}
	return nil
}

// Lease returns one session's lease row (ErrNotFound when it has none).
func (db *DB) Lease(ctx context.Context, sessionID string) (Lease, error) {
	ls, err := queryLeases(ctx, db.r, `WHERE session_id = $1`, sessionID)
	if err != nil {
		return Lease{}, fmt.Errorf("lease of session %s: %w", sessionID, err)
	}
	if len(ls) == 0 {
		return Lease{}, fmt.Errorf("lease of session %s: %w", sessionID, ErrNotFound)
	}
	return ls[0], nil
}

// Leases lists every lease.
func (db *DB) Leases(ctx context.Context) ([]Lease, error) {
	return queryLeases(ctx, db.r, `ORDER BY session_id`)
}

// CheckFence returns ErrStaleFence when a session's lease has moved past
// token (another node took it over). A session with no lease row (a single
// node on SQLite) passes.
func (db *DB) CheckFence(ctx context.Context, sessionID string, token int64) error {
	if !db.leaseRows.Load() {
		return nil
	}
	return checkFence(ctx, db.r, sessionID, token)
}

// checkOrderFence refuses a new order of a session whose lease has moved
// past the order's fencing token, or that the token's holder no longer held
// when it stamped the order (the lease expired or was released before
// o.CreatedAt). Guard checks the lease on the node before an order is
// journaled, but a node paused or slowed between that check and the commit
// (a SIGSTOP, a long GC, an overloaded host) would otherwise commit and then
// send an order under a token another node has since been granted. On
// PostgreSQL the lease row is locked FOR KEY SHARE until the commit, so a
// concurrent claim (FOR UPDATE SKIP LOCKED) either commits first and is seen
// here, or skips the row and takes it only after this order is committed.
//
// FOR KEY SHARE, not FOR SHARE: it conflicts with the claim's FOR UPDATE
// but not with a plain UPDATE of the row (FOR NO KEY UPDATE), so the owner's
// RenewLeases never waits for, nor deadlocks with, a journal batch that
// locks the lease rows of several sessions in batch order. With FOR SHARE
// the renewal (which locks all the node's rows in scan order) and group
// commits deadlocked under load; PostgreSQL broke the cycle after
// deadlock_timeout by failing the renewal, the heartbeat stopped before
// claiming, and a paused node's expired leases were not taken over (measured
// on 2 busy cores: several failed heartbeats per minute per node).
// A session without a lease row (SQLite, orders outside sessions) passes,
// and so does every order of a private store no lease was ever inserted
// into (DB.leaseRows), without a read.
func (db *DB) checkOrderFence(ctx context.Context, q querier, lock bool, o *Order) error {
	if !db.leaseRows.Load() {
		return nil
	}
	return checkLease(ctx, q, lock, o.SessionID, o.Fence, o.CreatedAt)
}

// CheckLease returns ErrStaleFence when a session's lease has moved past
// token, or when token's lease had expired or was released by at: the
// executor asks it right before every request that places an order (the
// first send and every retry), so a node that was paused after its intent
// committed, or during a retry's backoff, does not send under a lease it no
// longer holds. A session without a lease row (SQLite) passes.
func (db *DB) CheckLease(ctx context.Context, sessionID string, token int64, at time.Time) error {
	if !db.leaseRows.Load() {
		return nil
	}
	return checkLease(ctx, db.r, false, sessionID, token, at)
}

func checkLease(ctx context.Context, q querier, lock bool, sessionID string, token int64, at time.Time) error {
	if sessionID == "" {
		return nil
	}
	stmt := `SELECT token, expires_at FROM leases WHERE session_id = $1`
	if lock {
		stmt += ` FOR KEY SHARE`
	}
	var cur, exp int64
	err := q.QueryRowContext(ctx, stmt, sessionID).Scan(&cur, &exp)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check fence of session %s: %w", sessionID, err)
	}
	if cur > token {
		return fmt.Errorf("session %s: order under token %d, lease is at %d: %w", sessionID, token, cur, ErrStaleFence)
	}
	if cur == token && exp <= micros(at) {
		return fmt.Errorf("session %s: order under token %d at a time the lease had expired or was released: %w", sessionID, token, ErrStaleFence)
	}
	return nil
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func checkFence(ctx context.Context, q querier, sessionID string, token int64) error {
	var cur int64
	err := q.QueryRowContext(ctx, `SELECT token FROM leases WHERE session_id = $1`, sessionID).Scan(&cur)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check fence of session %s: %w", sessionID, err)
	}
	if cur > token {
		return fmt.Errorf("session %s: token %d, lease is at %d: %w", sessionID, token, cur, ErrStaleFence)
	}
	return nil
}

func queryLeases(ctx context.Context, q querier, where string, args ...any) ([]Lease, error) {
	rows, err := q.QueryContext(ctx, `SELECT session_id, node_id, token, expires_at, acquired_at FROM leases `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Lease
	for rows.Next() {
		var l Lease
		var exp, acq int64
		if err := rows.Scan(&l.SessionID, &l.NodeID, &l.Token, &exp, &acq); err != nil {
			return nil, err
		}
		l.ExpiresAt, l.AcquiredAt = fromMicros(exp), fromMicros(acq)
		out = append(out, l)
	}
	return out, rows.Err()
}
