package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Job is a durable background job (backfill, import) with its progress and
// a checkpoint it resumes from.
type Job struct {
	ID         string
	Kind       string
	Args       string // JSON
	State      string // queued, running, done, failed, canceled
	Done       int64
	Total      int64
	Message    string
	Error      string
	Checkpoint string // JSON
	// Owner is the node that runs the job; while it is queued or running
	// the node holds it until ExpiresAt (zero: nobody holds it), renewing
	// that while it runs (see ClaimJob).
	Owner     string
	ExpiresAt time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

const jobCols = `id, kind, args, state, done, total, message, error, checkpoint, owner, expires_at, created_at, updated_at`

// activeJob is the WHERE clause of a job someone may run.
const activeJob = `state IN ('queued', 'running')`

func scanJob(row interface{ Scan(...any) error }) (Job, error) {
	var j Job
	var e, c, u int64
	err := row.Scan(&j.ID, &j.Kind, &j.Args, &j.State, &j.Done, &j.Total, &j.Message, &j.Error, &j.Checkpoint, &j.Owner, &e, &c, &u)
	j.ExpiresAt, j.CreatedAt, j.UpdatedAt = fromMicros(e), fromMicros(c), fromMicros(u)
	return j, err
}

// CreateJob inserts a job.
func (db *DB) CreateJob(ctx context.Context, j Job) error {
	now := micros(j.CreatedAt)
	_, err := db.w.ExecContext(ctx,
		`INSERT INTO jobs (id, kind, args, state, done, total, message, error, checkpoint, owner, expires_at, created_at, updated_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)`,
		j.ID, j.Kind, orJSON(j.Args), j.State, j.Done, j.Total, j.Message, j.Error, orJSON(j.Checkpoint), j.Owner, micros(j.ExpiresAt), now)
	if err != nil {
		return fmt.Errorf("create job %s: %w", j.ID, db.mapErr(err))
	}
	return nil
}

// UpdateJob stores a job's state, progress and checkpoint.
func (db *DB) UpdateJob(ctx context.Context, j Job) error {
	res, err := db.w.ExecContext(ctx,
		`UPDATE jobs SET state = $2, done = $3, total = $4, message = $5, error = $6, checkpoint = $7, owner = $8, updated_at = $9 WHERE id = $1`,
		j.ID, j.State, j.Done, j.Total, j.Message, j.Error, orJSON(j.Checkpoint), j.Owner, micros(j.UpdatedAt))
	if err != nil {
		return fmt.Errorf("update job %s: %w", j.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("update job %s: %w", j.ID, ErrNotFound)
	}
	return nil
}

// UpdateOwnedJob is UpdateJob by the node that runs the job (j.Owner),
// which also extends its hold to until. It writes nothing and fails with
// ErrStaleFence when the job has another owner (a node took it over after
// this one's hold expired) or has ended.
func (db *DB) UpdateOwnedJob(ctx context.Context, j Job, until time.Time) error {
	res, err := db.w.ExecContext(ctx,
		`UPDATE jobs SET state = $2, done = $3, total = $4, message = $5, error = $6, checkpoint = $7, expires_at = $8, updated_at = $9
		 WHERE id = $1 AND owner = $10 AND `+activeJob,
		j.ID, j.State, j.Done, j.Total, j.Message, j.Error, orJSON(j.Checkpoint), micros(until), micros(j.UpdatedAt), j.Owner)
	if err != nil {
		return fmt.Errorf("update job %s: %w", j.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("update job %s: not held by %q: %w", j.ID, j.Owner, ErrStaleFence)
	}
	return nil
}

// ClaimJob makes owner the node that runs a queued or running job, holding
// it until now+ttl, when nobody holds it at now (the hold of the node that
// ran it expired: it died, or released it on stopping) or owner already
// does; with force whoever holds it (the only node, at start). It reports
// whether owner got the job and returns its row: of several nodes claiming
// one job at once exactly one does, as the claim is one conditional UPDATE.
func (db *DB) ClaimJob(ctx context.Context, id, owner string, now time.Time, ttl time.Duration, force bool) (Job, bool, error) {
	q := `UPDATE jobs SET owner = $2, expires_at = $3 WHERE id = $1 AND ` + activeJob
	args := []any{id, owner, micros(now.Add(ttl))}
	if !force {
		q += ` AND (expires_at <= $4 OR owner = $2)`
		args = append(args, micros(now))
	}
	j, err := scanJob(db.w.QueryRowContext(ctx, q+` RETURNING `+jobCols, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, false, nil
	}
	if err != nil {
		return Job{}, false, fmt.Errorf("claim job %s for %q: %w", id, owner, err)
	}
	return j, true, nil
}

// RenewJob extends owner's hold on a queued or running job to until. It
// fails with ErrStaleFence when owner no longer holds the job (another node
// took it over) or it has ended.
func (db *DB) RenewJob(ctx context.Context, id, owner string, until time.Time) error {
	res, err := db.w.ExecContext(ctx, `UPDATE jobs SET expires_at = $3 WHERE id = $1 AND owner = $2 AND `+activeJob,
		id, owner, micros(until))
	if err != nil {
		return fmt.Errorf("renew job %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("renew job %s: not held by %q: %w", id, owner, ErrStaleFence)
	}
	return nil
}

// ReleaseJobs gives up owner's hold on its queued and running jobs (a
// graceful stop), so that another node claims them at once.
func (db *DB) ReleaseJobs(ctx context.Context, owner string) error {
	if _, err := db.w.ExecContext(ctx, `UPDATE jobs SET expires_at = 0 WHERE owner = $1 AND `+activeJob, owner); err != nil {
		return fmt.Errorf("release jobs of %q: %w", owner, err)
	}
	return nil
}

// Job returns one job.
func (db *DB) Job(ctx context.Context, id string) (Job, error) {
	j, err := scanJob(db.r.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = $1`, id))
	if err != nil {
		return j, fmt.Errorf("job %s: %w", id, db.mapErr(err))
	}
	return j, nil
}

// JobsInState lists jobs in a state, oldest first.
func (db *DB) JobsInState(ctx context.Context, state string) ([]Job, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id FROM jobs WHERE state = $1 ORDER BY created_at`, state)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	out := make([]Job, 0, len(ids))
	for _, id := range ids {
		j, err := db.Job(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

// Token is an API token; only its hash is stored.
type Token struct {
	ID         string
	Name       string
	Role       string
	Hash       string
	CreatedAt  time.Time
	LastUsedAt time.Time
	RevokedAt  time.Time
}

// CreateToken stores a token.
func (db *DB) CreateToken(ctx context.Context, t Token) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO api_tokens (id, name, role, hash, created_at) VALUES ($1, $2, $3, $4, $5)`,
		t.ID, t.Name, t.Role, t.Hash, micros(t.CreatedAt))
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.ID, db.mapErr(err))
	}
	return nil
}

const tokenCols = `id, name, role, hash, created_at, last_used_at, revoked_at`

func scanToken(row interface{ Scan(...any) error }) (Token, error) {
	var t Token
	var c, u, r int64
	err := row.Scan(&t.ID, &t.Name, &t.Role, &t.Hash, &c, &u, &r)
	t.CreatedAt, t.LastUsedAt, t.RevokedAt = fromMicros(c), fromMicros(u), fromMicros(r)
	return t, err
}

// TokenByHash finds a token by the hash of its secret.
func (db *DB) TokenByHash(ctx context.Context, hash string) (Token, error) {
	t, err := scanToken(db.r.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE hash = $1`, hash))
	if err != nil {
		return t, fmt.Errorf("token: %w", db.mapErr(err))
	}
	return t, nil
}

// Tokens lists every token.
func (db *DB) Tokens(ctx context.Context) ([]Token, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+tokenCols+` FROM api_tokens ORDER BY created_at`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken marks a token revoked.
func (db *DB) RevokeToken(ctx context.Context, id string, at time.Time) error {
	res, err := db.w.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at = 0`, id, micros(at))
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("revoke token %s: %w", id, ErrNotFound)
	}
	return nil
}

// TouchToken records a token's use.
func (db *DB) TouchToken(ctx context.Context, id string, at time.Time) error {
	_, err := db.w.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = $2 WHERE id = $1`, id, micros(at))
	return err
}

// AuditEntry is one state-changing action: who, what, when, from where.
type AuditEntry struct {
	ID     int64
	At     time.Time
	Actor  string
	Action string
	Target string
	Detail string
	Remote string
}

// Audit appends an audit entry.
func (db *DB) Audit(ctx context.Context, e AuditEntry) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO audit_log (at, actor, action, target, detail, remote) VALUES ($1, $2, $3, $4, $5, $6)`,
		micros(e.At), e.Actor, e.Action, e.Target, e.Detail, e.Remote)
	if err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}

// AuditLog lists entries newest first, before id beforeID (0: from the newest).
func (db *DB) AuditLog(ctx context.Context, beforeID int64, limit int) ([]AuditEntry, error) {
	if beforeID <= 0 {
		beforeID = 1 << 62
	}
	rows, err := db.r.QueryContext(ctx, `SELECT id, at, actor, action, target, detail, remote FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT $2`,
		beforeID, limitOr(limit, 100))
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.Remote); err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		e.At = fromMicros(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Alert is something a person must see: a failure, a quarantine, a ban.
type Alert struct {
	ID        int64
	At        time.Time
	Severity  string // info, warning, critical
	Source    string // journal, supervisor, venue, portfolio, ...
	SessionID string
	AccountID int64
	Message   string
	AckedAt   time.Time
}

// InsertAlert stores an alert and returns its id.
func (db *DB) InsertAlert(ctx context.Context, a Alert) (int64, error) {
	var id int64
	err := db.w.QueryRowContext(ctx,
		`INSERT INTO alerts (at, severity, source, session_id, account_id, message) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
		micros(a.At), a.Severity, a.Source, a.SessionID, a.AccountID, a.Message).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("insert alert: %w", err)
	}
	return id, nil
}

// Alerts lists alerts newest first, before id beforeID (0: from the newest).
func (db *DB) Alerts(ctx context.Context, beforeID int64, limit int) ([]Alert, error) {
	if beforeID <= 0 {
		beforeID = 1 << 62
	}
	rows, err := db.r.QueryContext(ctx,
		`SELECT id, at, severity, source, session_id, account_id, message, acked_at FROM alerts WHERE id < $1 ORDER BY id DESC LIMIT $2`,
		beforeID, limitOr(limit, 100))
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	defer rows.Close()
	var out []Alert
	for rows.Next() {
		var a Alert
		var at, acked int64
		if err := rows.Scan(&a.ID, &at, &a.Severity, &a.Source, &a.SessionID, &a.AccountID, &a.Message, &acked); err != nil {
			return nil, fmt.Errorf("list alerts: %w", err)
		}
		a.At, a.AckedAt = fromMicros(at), fromMicros(acked)
		out = append(out, a)
	}
	return out, rows.Err()
}

// AckAlert marks an alert seen.
func (db *DB) AckAlert(ctx context.Context, id int64, at time.Time) error {
	res, err := db.w.ExecContext(ctx, `UPDATE alerts SET acked_at = $2 WHERE id = $1`, id, micros(at))
	if err != nil {
		return fmt.Errorf("ack alert %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("ack alert %d: %w", id, ErrNotFound)
	}
	return nil
}

func orJSON(s string) string {
	if s == "" {
		return "{}"
	}
	return s
}
