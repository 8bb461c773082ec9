package store

import "context"

// ExecForTest runs a raw statement; tests only.
func (db *DB) ExecForTest(ctx context.Context, q string, args ...any) error {
	_, err := db.w.ExecContext(ctx, q, args...)
	return err
}
