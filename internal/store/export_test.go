package store

import (
	"context"
	"database/sql"
)

// ExecForTest runs a raw statement; tests only.
func (db *DB) ExecForTest(ctx context.Context, q string, args ...any) error {
	_, err := db.w.ExecContext(ctx, q, args...)
	return err
}

// QueryRowForTest runs a raw query on the read pool; tests only.
func (db *DB) QueryRowForTest(ctx context.Context, q string, args ...any) *sql.Row {
	return db.r.QueryRowContext(ctx, q, args...)
}
