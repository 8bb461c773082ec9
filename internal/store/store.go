// Package store persists tradeplane's state: accounts, wallets and balances,
// sessions, orders and fills, the execution journal, price and equity
// snapshots, collateral ratios, jobs, tokens, the audit log and alerts.
//
// One SQL core serves two engines, chosen by URL: SQLite through
// modernc.org/sqlite (pure Go, WAL, synchronous=FULL so a commit is on disk
// before it returns) as the embedded default, and PostgreSQL through pgx/v5
// for several nodes. The engines differ only in a Dialect (DDL tokens, how a
// unique violation looks, connection setup); one set of migrations and one
// conformance suite serve both. Nothing outside this package knows SQL.
//
// Money columns hold exact decimals: TEXT on SQLite (a NUMERIC column there
// would store floats), NUMERIC on PostgreSQL. Times are BIGINT microseconds
// since the Unix epoch, UTC.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tradeplane/tradeplane/internal/apperr"
)

// Errors callers branch on with errors.Is.
var (
	// ErrNotFound: the row does not exist.
	ErrNotFound = apperr.New(apperr.NotFound, "not found")
	// ErrConflict: a row with the same unique key exists.
	ErrConflict = apperr.New(apperr.Conflict, "already exists")
	// ErrStaleFence: a write carried a fencing token older than the lease's.
	ErrStaleFence = errors.New("stale fencing token")
)

// URLError is a malformed or unsupported --db URL.
type URLError struct {
	URL    string
	Reason string
}

func (e *URLError) Error() string {
	return fmt.Sprintf("database URL %q: %s (use sqlite:PATH or postgres://user@host:port/db)", redactURL(e.URL), e.Reason)
}

// SchemaTooNewError: the database was migrated by a newer binary.
type SchemaTooNewError struct {
	Database, Binary int64
}

func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("database schema is version %d but this binary knows up to %d: upgrade tradeplane", e.Database, e.Binary)
}

// UnreachableError: the database could not be opened or reached.
type UnreachableError struct {
	URL string
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach database %s: %s", redactURL(e.URL), oneLine(e.Err.Error()))
}

// oneLine folds a multi-line driver message (pgx lists every address it
// tried) into one line without repeats.
func oneLine(s string) string {
	var parts []string
	seen := map[string]bool{}
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !seen[l] {
			seen[l] = true
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, " ")
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// DB is an open store. It is safe for concurrent use.
type DB struct {
	// w takes every write. On SQLite it is a single connection, so writers
	// queue in Go rather than spin on SQLITE_BUSY; on PostgreSQL w and r are
	// the same pool.
	w *sql.DB
	// r serves reads.
	r       *sql.DB
	dialect dialect
	url     string
	// leaseRows and correctionRows are set once a row of leases or of
	// strategy_corrections may exist: always on a database other
	// processes may share; on a private in-memory SQLite database,
	// reachable only through this DB value, when this DB first inserts
	// one (EnsureLeases, markCorrection). Until then a lease check passes
	// and PendingCorrections lists none without a read (no row, nothing
	// to find), which saves three reads per order of a replay.
	leaseRows, correctionRows atomic.Bool
}

// Options tune Open.
type Options struct {
	// NoMigrate skips applying migrations (tradeplane migrate does it
	// explicitly; serve migrates at start).
	NoMigrate bool
	// MustExist refuses a SQLite file that does not exist yet with
	// *NoDatabaseError instead of creating it: for commands that only read
	// or change what is stored, where a missing file is a mistaken --db
	// (another folder than the server's), not a new database.
	MustExist bool
}

// NoDatabaseError: Options.MustExist and no SQLite file at Path.
type NoDatabaseError struct {
	URL, Path string
}

func (e *NoDatabaseError) Error() string {
	return fmt.Sprintf("no database at %s (from %s)", e.Path, redactURL(e.URL))
}

// Open opens the database named by url ("sqlite:PATH", "sqlite::memory:" or
// "postgres://...") and, unless opts.NoMigrate, applies pending migrations.
// It fails with *URLError, *UnreachableError or *SchemaTooNewError.
func Open(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	d, err := dialectFor(rawURL)
	if err != nil {
		return nil, err
	}
	if opts.MustExist {
		if path, err := sqlitePath(rawURL); err == nil {
			if abs, err := filepath.Abs(path); err == nil {
				path = abs
			}
			if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
				return nil, &NoDatabaseError{URL: rawURL, Path: path}
			}
		}
	}
	db, err := d.open(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	db.url = rawURL
	if err := db.checkSchema(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if !opts.NoMigrate {
		if _, err := db.Migrate(ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}

func dialectFor(rawURL string) (dialect, error) {
	switch {
	case rawURL == "":
		return nil, &URLError{URL: rawURL, Reason: "empty"}
	case strings.HasPrefix(rawURL, "sqlite:"):
		if strings.TrimPrefix(rawURL, "sqlite:") == "" {
			return nil, &URLError{URL: rawURL, Reason: "missing file path after sqlite:"}
		}
		return sqliteDialect{}, nil
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		u, err := url.Parse(rawURL)
		if err != nil {
			return nil, &URLError{URL: rawURL, Reason: err.Error()}
		}
		if u.Host == "" {
			return nil, &URLError{URL: rawURL, Reason: "missing host"}
		}
		return postgresDialect{}, nil
	default:
		return nil, &URLError{URL: rawURL, Reason: "unknown scheme"}
	}
}

// Engine is "sqlite" or "postgres".
func (db *DB) Engine() string { return db.dialect.name() }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	return db.r.PingContext(ctx)
}

// Close closes the connections.
func (db *DB) Close() error {
	err := db.w.Close()
	if db.r != db.w {
		if err2 := db.r.Close(); err == nil {
			err = err2
		}
	}
	return err
}

// tx runs fn in a write transaction, committing when it returns nil.
func (db *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// mapErr turns driver errors into the package's classes.
func (db *DB) mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return ErrNotFound
	case db.dialect.isUnique(err):
		return fmt.Errorf("%w: %v", ErrConflict, err)
	}
	return err
}

// micros converts a time to the stored form.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromMicros converts the stored form back; 0 is the zero time.
func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
