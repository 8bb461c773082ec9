package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// CancelJob ends a queued or running job of any kind as "canceled", with
// message, in one conditional UPDATE, and returns its row. The node that
// runs the job learns of it on its next row write or hold renewal, which
// then fail with ErrStaleFence (the job has ended), and stops it; no node
// resumes it. A job that has ended already is ErrConflict (the row is
// unchanged); an unknown id is ErrNotFound.
func (db *DB) CancelJob(ctx context.Context, id, message string, at time.Time) (Job, error) {
	j, err := scanJob(db.w.QueryRowContext(ctx,
		`UPDATE jobs SET state = 'canceled', message = $2, expires_at = 0, updated_at = $3
		 WHERE id = $1 AND `+activeJob+` RETURNING `+jobCols, id, message, micros(at)))
	if errors.Is(err, sql.ErrNoRows) {
		cur, gerr := db.Job(ctx, id)
		if gerr != nil {
			return Job{}, fmt.Errorf("cancel job %s: %w", id, gerr)
		}
		return cur, fmt.Errorf("cancel job %s: it has ended (%s): %w", id, cur.State, ErrConflict)
	}
	if err != nil {
		return Job{}, fmt.Errorf("cancel job %s: %w", id, err)
	}
	return j, nil
}
