package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/apperr"
)

// ErrStale: an optimistic write lost a race. The row changed (another
// writer moved its state or bumped updated_at) since the caller read it;
// re-read and decide again.
var ErrStale = apperr.New(apperr.Conflict, "stale write")

// Session is the stored form of a trading session. Params, StrategyState
// and RestartPolicy are JSON documents the store does not interpret; State,
// Desired and AllocationKind are strings owned by package session.
// UpdatedAt is the optimistic-concurrency token: every write moves it
// strictly forward.
type Session struct {
	ID             string
	Name           string
	Strategy       string
	AccountID      int64
	Symbols        []string
	Params         json.RawMessage
	AllocationKind string // "fixed" or "share"
	Allocation     udecimal.Decimal
	Tags           []string
	State          string
	StateReason    string
	Desired        string
	StrategyState  json.RawMessage
	RestartPolicy  json.RawMessage
	RestartsAuto   int64
	RestartsManual int64
	StepSeq        int64
	StepOpen       int64 // the open step (see OpenSessionStep); 0 when none
	// ClosedStep is the id of the last caller-named step whose outcome was
	// saved with the strategy state (see SaveSessionStep).
	ClosedStep string
	LastStepAt time.Time
	LastError  string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// SessionTransition is one recorded change of a session's state. From is
// "" for the creation record.
type SessionTransition struct {
	ID        int64
	SessionID string
	From      string
	To        string
	Reason    string
	Actor     string
	At        time.Time
}

// SessionFilter selects sessions; zero fields match everything.
type SessionFilter struct {
	AccountID int64
	Tag       string
	State     string
	IDs       []string
}

const sessionCols = `id, name, strategy, account_id, symbols, params, allocation_kind, allocation, tags, state,
	state_reason, desired, strategy_state, restart_policy, restarts_auto, restarts_manual, step_seq,
	last_step_at, last_error, created_at, updated_at, step_open, closed_step`

func jsonOr(raw json.RawMessage, def string) string {
	if len(raw) == 0 {
		return def
	}
	return string(raw)
}

// nextStamp returns a time strictly after prev (in stored microseconds), at
// least now: the optimistic token must change on every write even when two
// writes fall in one microsecond.
func nextStamp(now time.Time, prev int64) int64 {
	us := micros(now)
	if us <= prev {
		us = prev + 1
	}
	return us
}

// CreateSession inserts s together with its creation transition ("" →
// s.State) in one transaction. It fails with ErrConflict when the id is
// taken. CreatedAt and UpdatedAt default to now.
func (db *DB) CreateSession(ctx context.Context, s *Session, actor string) error {
	return db.CreateSessionAdmitted(ctx, s, actor, nil)
}

// CreateSessionAdmitted is CreateSession that first calls admit with every
// session of s's account, in the same transaction and with the account
// locked against other creations on any node (PostgreSQL: its accounts row
// FOR UPDATE; SQLite: the write transaction is BEGIN IMMEDIATE), so a rule
// over an account's sessions (the allocation rule) holds when two creations
// race. An error from admit is returned as it is and nothing is inserted.
// A nil admit checks nothing.
func (db *DB) CreateSessionAdmitted(ctx context.Context, s *Session, actor string, admit func(existing []Session) error) error {
	if s.CreatedAt.IsZero() {
		s.CreatedAt = time.Now().UTC()
	}
	s.CreatedAt = s.CreatedAt.Truncate(time.Microsecond)
	s.UpdatedAt = s.CreatedAt
	if s.AllocationKind == "" {
		s.AllocationKind = "fixed"
	}
	if s.Desired == "" {
		s.Desired = "stopped"
	}
	syms, _ := json.Marshal(nonNil(s.Symbols))
	tags, _ := json.Marshal(nonNil(s.Tags))
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if admit != nil {
			existing, err := db.lockAccountSessions(ctx, tx, s.AccountID)
			if err != nil {
				return err
			}
			if err := admit(existing); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (`+sessionCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)`,
			s.ID, s.Name, s.Strategy, s.AccountID, string(syms), jsonOr(s.Params, "{}"), s.AllocationKind, s.Allocation,
			string(tags), s.State, s.StateReason, s.Desired, jsonOr(s.StrategyState, "{}"), jsonOr(s.RestartPolicy, "{}"),
			s.RestartsAuto, s.RestartsManual, s.StepSeq, micros(s.LastStepAt), s.LastError, micros(s.CreatedAt), micros(s.UpdatedAt), s.StepOpen, s.ClosedStep)
		if err != nil {
			return db.mapErr(err)
		}
		return insertTransition(ctx, tx, SessionTransition{SessionID: s.ID, To: s.State, Reason: s.StateReason, Actor: actor, At: s.CreatedAt})
	})
	if err != nil {
		return fmt.Errorf("create session %s: %w", s.ID, err)
	}
	return nil
}

// lockAccountSessions locks an account against concurrent session
// creations until tx ends and returns its sessions.
func (db *DB) lockAccountSessions(ctx context.Context, tx *sql.Tx, accountID int64) ([]Session, error) {
	lock := `SELECT id FROM accounts WHERE id = $1`
	if db.dialect.name() == "postgres" {
		lock += ` FOR UPDATE`
	}
	var id int64
	if err := tx.QueryRowContext(ctx, lock, accountID).Scan(&id); err != nil {
		return nil, fmt.Errorf("lock account %d: %w", accountID, db.mapErr(err))
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE account_id = $1 ORDER BY created_at, id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("sessions of account %d: %w", accountID, err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("sessions of account %d: %w", accountID, err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func insertTransition(ctx context.Context, tx *sql.Tx, t SessionTransition) error {
	_, err := tx.ExecContext(ctx,
		`INSERT INTO session_transitions (session_id, from_state, to_state, reason, actor, at) VALUES ($1, $2, $3, $4, $5, $6)`,
		t.SessionID, t.From, t.To, t.Reason, t.Actor, micros(t.At))
	return err
}

func scanSession(row interface{ Scan(...any) error }) (Session, error) {
	var s Session
	var syms, params, tags, sstate, policy string
	var lastStep, created, updated int64
	if err := row.Scan(&s.ID, &s.Name, &s.Strategy, &s.AccountID, &syms, &params, &s.AllocationKind, &s.Allocation,
		&tags, &s.State, &s.StateReason, &s.Desired, &sstate, &policy, &s.RestartsAuto, &s.RestartsManual,
		&s.StepSeq, &lastStep, &s.LastError, &created, &updated, &s.StepOpen, &s.ClosedStep); err != nil {
		return s, err
	}
	if err := json.Unmarshal([]byte(syms), &s.Symbols); err != nil {
		return s, fmt.Errorf("session %s symbols: %w", s.ID, err)
	}
	if err := json.Unmarshal([]byte(tags), &s.Tags); err != nil {
		return s, fmt.Errorf("session %s tags: %w", s.ID, err)
	}
	s.Params = json.RawMessage(params)
	s.StrategyState = json.RawMessage(sstate)
	s.RestartPolicy = json.RawMessage(policy)
	s.LastStepAt = fromMicros(lastStep)
	s.CreatedAt = fromMicros(created)
	s.UpdatedAt = fromMicros(updated)
	return s, nil
}

// Session returns the session with id, or ErrNotFound.
func (db *DB) Session(ctx context.Context, id string) (Session, error) {
	s, err := scanSession(db.r.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = $1`, id))
	if err != nil {
		return s, fmt.Errorf("session %s: %w", id, db.mapErr(err))
	}
	return s, nil
}

// SessionState is a session's stored state alone: what a step request
// checks before it is handed to the runner, without reading and decoding
// the whole row.
func (db *DB) SessionState(ctx context.Context, id string) (string, error) {
	var st string
	if err := db.r.QueryRowContext(ctx, `SELECT state FROM sessions WHERE id = $1`, id).Scan(&st); err != nil {
		return "", fmt.Errorf("session %s: %w", id, db.mapErr(err))
	}
	return st, nil
}

// Sessions lists the sessions matching f, oldest first (ties by id).
func (db *DB) Sessions(ctx context.Context, f SessionFilter) ([]Session, error) {
	q := `SELECT ` + sessionCols + ` FROM sessions WHERE 1 = 1`
	var args []any
	if f.AccountID != 0 {
		args = append(args, f.AccountID)
		q += fmt.Sprintf(` AND account_id = $%d`, len(args))
	}
	if f.State != "" {
		args = append(args, f.State)
		q += fmt.Sprintf(` AND state = $%d`, len(args))
	}
	rows, err := db.r.QueryContext(ctx, q+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		// Tags are a JSON array: match in Go, the same on both engines.
		if f.Tag != "" && !slices.Contains(s.Tags, f.Tag) {
			continue
		}
		if len(f.IDs) > 0 && !slices.Contains(f.IDs, s.ID) {
			continue
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// UpdateSessionParams replaces params (and, when non-nil, tags) if the row's
// UpdatedAt still equals ifUpdated; otherwise ErrStale. It returns the new
// UpdatedAt.
func (db *DB) UpdateSessionParams(ctx context.Context, id string, params json.RawMessage, tags []string, ifUpdated time.Time) (time.Time, error) {
	now := nextStamp(time.Now(), micros(ifUpdated))
	q := `UPDATE sessions SET params = $1, updated_at = $2 WHERE id = $3 AND updated_at = $4`
	args := []any{jsonOr(params, "{}"), now, id, micros(ifUpdated)}
	if tags != nil {
		t, _ := json.Marshal(tags)
		q = `UPDATE sessions SET params = $1, updated_at = $2, tags = $5 WHERE id = $3 AND updated_at = $4`
		args = append(args, string(t))
	}
	if err := db.expectOne(ctx, id, q, args...); err != nil {
		return time.Time{}, fmt.Errorf("update session %s params: %w", id, err)
	}
	return fromMicros(now), nil
}

// expectOne runs an update that must touch one row; when it touches none it
// tells ErrNotFound from ErrStale.
func (db *DB) expectOne(ctx context.Context, id, q string, args ...any) error {
	res, err := db.w.ExecContext(ctx, q, args...)
	if err != nil {
		return db.mapErr(err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	var one int
	if err := db.r.QueryRowContext(ctx, `SELECT 1 FROM sessions WHERE id = $1`, id).Scan(&one); err != nil {
		return db.mapErr(err)
	}
	return ErrStale
}

// StateChange moves a session from one state to another.
type StateChange struct {
	From, To      string
	Reason, Actor string
	At            time.Time
	// Desired, when non-empty, also sets the desired state.
	Desired string
	// LastError, when non-nil, also sets last_error.
	LastError *string
}

// TransitionSession applies c when the session's state is still c.From,
// recording the transition row in the same transaction; otherwise it fails
// with ErrStale (or ErrNotFound). The state itself is the concurrency
// token, so two writers can never both leave the same state.
func (db *DB) TransitionSession(ctx context.Context, id string, c StateChange) error {
	if c.At.IsZero() {
		c.At = time.Now().UTC()
	}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var prev int64
		var desired, lastErr string
		err := tx.QueryRowContext(ctx, `SELECT updated_at, desired, last_error FROM sessions WHERE id = $1 AND state = $2`, id, c.From).
			Scan(&prev, &desired, &lastErr)
		if errors.Is(err, sql.ErrNoRows) {
			var one int
			if err := tx.QueryRowContext(ctx, `SELECT 1 FROM sessions WHERE id = $1`, id).Scan(&one); err != nil {
				return db.mapErr(err)
			}
			return ErrStale
		}
		if err != nil {
			return err
		}
		if c.Desired != "" {
			desired = c.Desired
		}
		if c.LastError != nil {
			lastErr = *c.LastError
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE sessions SET state = $1, state_reason = $2, desired = $3, last_error = $4, updated_at = $5 WHERE id = $6`,
			c.To, c.Reason, desired, lastErr, nextStamp(c.At, prev), id); err != nil {
			return err
		}
		return insertTransition(ctx, tx, SessionTransition{SessionID: id, From: c.From, To: c.To, Reason: c.Reason, Actor: c.Actor, At: c.At})
	})
	if err != nil {
		return fmt.Errorf("session %s %s -> %s: %w", id, c.From, c.To, err)
	}
	return nil
}

// SessionTransitions lists the recorded transitions of a session, oldest
// first.
func (db *DB) SessionTransitions(ctx context.Context, id string) ([]SessionTransition, error) {
	rows, err := db.r.QueryContext(ctx,
		`SELECT id, session_id, from_state, to_state, reason, actor, at FROM session_transitions WHERE session_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("session %s transitions: %w", id, err)
	}
	defer rows.Close()
	var out []SessionTransition
	for rows.Next() {
		var t SessionTransition
		var at int64
		if err := rows.Scan(&t.ID, &t.SessionID, &t.From, &t.To, &t.Reason, &t.Actor, &at); err != nil {
			return nil, fmt.Errorf("session %s transitions: %w", id, err)
		}
		t.At = fromMicros(at)
		out = append(out, t)
	}
	return out, rows.Err()
}

// StepOutcome is what SaveSessionStep records of a trade step.
type StepOutcome struct {
	State     json.RawMessage // the strategy's state; nil keeps the stored one
	At        time.Time
	LastError string
	// Close, when non-zero, closes that step number (every order it placed
	// has a known outcome, so the next step takes a new number).
	Close int64
	// ClosedStep, when set, names a caller-named step (Trade All) whose
	// orders all have a known outcome and whose state this write saves.
	ClosedStep string
	// Seen records what the step saw of corrected orders (a replayed step
	// answered from the journal), in the same commit as its state.
	Seen []CorrectionSeen
}

// SaveSessionStep persists the outcome of a trade step in one write: the
// strategy's state, the step time and last_error, and the step's closing, so
// no crash can leave a step's saved state behind an open step that would be
// replayed on top of it.
func (db *DB) SaveSessionStep(ctx context.Context, id string, o StepOutcome) error {
	set := `last_step_at = $1, last_error = $2, step_open = CASE WHEN step_open = $4 THEN 0 ELSE step_open END`
	args := []any{micros(o.At), o.LastError, id, o.Close}
	if o.State != nil {
		args = append(args, string(o.State))
		set += fmt.Sprintf(`, strategy_state = $%d`, len(args))
	}
	if o.ClosedStep != "" {
		args = append(args, o.ClosedStep)
		set += fmt.Sprintf(`, closed_step = $%d`, len(args))
	}
	q := `UPDATE sessions SET ` + set + ` WHERE id = $3`
	if len(o.Seen) == 0 {
		if err := db.expectOne(ctx, id, q, args...); err != nil {
			return fmt.Errorf("save session %s step: %w", id, err)
		}
		return nil
	}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return db.mapErr(err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrNotFound
		}
		return db.saveSeen(ctx, tx, id, o.Seen)
	})
	if err != nil {
		return fmt.Errorf("save session %s step: %w", id, err)
	}
	return nil
}

// OpenSessionStep returns the step number a session's next trade step
// trades under. When an earlier step was left open (SaveSessionStep did not
// close it: it failed with an order whose outcome is unknown, or the
// process died during it), that step's number is returned again with replay
// true, so the orders the strategy decides again carry the same client order
// ids and are answered from the journal, never sent twice. Otherwise the
// step sequence is incremented and the new number, now open, is returned; a
// number once closed is never handed out again.
func (db *DB) OpenSessionStep(ctx context.Context, id string) (step int64, replay bool, err error) {
	err = db.w.QueryRowContext(ctx, `UPDATE sessions SET step_seq = step_seq + 1, step_open = step_seq + 1
		WHERE id = $1 AND step_open = 0 RETURNING step_open`, id).Scan(&step)
	if err == nil {
		return step, false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, false, fmt.Errorf("open step of session %s: %w", id, db.mapErr(err))
	}
	if err := db.w.QueryRowContext(ctx, `SELECT step_open FROM sessions WHERE id = $1`, id).Scan(&step); err != nil {
		return 0, false, fmt.Errorf("open step of session %s: %w", id, db.mapErr(err))
	}
	return step, true, nil
}

// IncrementSessionRestarts adds one to the automatic or manual restart
// counter and returns both counters.
func (db *DB) IncrementSessionRestarts(ctx context.Context, id string, manual bool) (auto, man int64, err error) {
	q := `UPDATE sessions SET restarts_auto = restarts_auto + 1 WHERE id = $1 RETURNING restarts_auto, restarts_manual`
	if manual {
		q = `UPDATE sessions SET restarts_manual = restarts_manual + 1 WHERE id = $1 RETURNING restarts_auto, restarts_manual`
	}
	if err := db.w.QueryRowContext(ctx, q, id).Scan(&auto, &man); err != nil {
		return 0, 0, fmt.Errorf("count restart of session %s: %w", id, db.mapErr(err))
	}
	return auto, man, nil
}

// SetSessionRestartPolicy replaces the session's restart policy document.
func (db *DB) SetSessionRestartPolicy(ctx context.Context, id string, policy json.RawMessage) error {
	if err := db.expectOne(ctx, id, `UPDATE sessions SET restart_policy = $1 WHERE id = $2`, jsonOr(policy, "{}"), id); err != nil {
		return fmt.Errorf("set session %s restart policy: %w", id, err)
	}
	return nil
}

// DeleteSession removes a session and its transitions; ErrNotFound when
// there is none. Orders, fills and journal entries keep their session id.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{`DELETE FROM session_transitions WHERE session_id = $1`,
			`DELETE FROM strategy_corrections WHERE session_id = $1`} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete session %s: %w", id, err)
	}
	return nil
}

// SessionFill is one fill attributed to a session (for its position).
type SessionFill struct {
	Symbol   string
	Side     string
	Quantity udecimal.Decimal
	Fee      udecimal.Decimal
	FeeAsset string
}

// SessionFills lists the fills attributed to a session, in time order.
func (db *DB) SessionFills(ctx context.Context, id string) ([]SessionFill, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT symbol, side, quantity, fee, fee_asset FROM fills WHERE session_id = $1 ORDER BY at, id`, id)
	if err != nil {
		return nil, fmt.Errorf("session %s fills: %w", id, err)
	}
	defer rows.Close()
	var out []SessionFill
	for rows.Next() {
		var f SessionFill
		if err := rows.Scan(&f.Symbol, &f.Side, &f.Quantity, &f.Fee, &f.FeeAsset); err != nil {
			return nil, fmt.Errorf("session %s fills: %w", id, err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// SetSessionDesired sets only a session's desired state (and moves
// updated_at forward), leaving its state and transitions untouched: a node
// that does not own the session records what the operator asked for and
// the owning node acts on it. ErrNotFound when there is no such session.
func (db *DB) SetSessionDesired(ctx context.Context, id, desired string, at time.Time) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var prev int64
		if err := tx.QueryRowContext(ctx, `SELECT updated_at FROM sessions WHERE id = $1`, id).Scan(&prev); err != nil {
			return db.mapErr(err)
		}
		_, err := tx.ExecContext(ctx, `UPDATE sessions SET desired = $1, updated_at = $2 WHERE id = $3`, desired, nextStamp(at, prev), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("set session %s desired %s: %w", id, desired, err)
	}
	return nil
}
