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

// RollBackVersionForTest runs the Down of one migration version, leaving
// the later ones applied: a database migrated before version existed.
func (db *DB) RollBackVersionForTest(ctx context.Context, version int64) error {
	p, err := db.provider()
	if err != nil {
		return err
	}
	_, err = p.ApplyVersion(ctx, version, false)
	return err
}
