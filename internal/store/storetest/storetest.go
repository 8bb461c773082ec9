// Package storetest opens real stores for tests: a fresh SQLite file in a
// temporary directory, and, when TRADEPLANE_TEST_POSTGRES names a server, a
// fresh PostgreSQL schema that is dropped afterwards. It owns no assertions;
// the store's conformance suite and other packages' tests use it to run
// against both engines.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/tradeplane/tradeplane/internal/store"
)

// PostgresEnv names the environment variable holding the test server URL.
const PostgresEnv = "TRADEPLANE_TEST_POSTGRES"

// Engine is a way to get a fresh database for one test.
type Engine struct {
	Name string
	// URL returns the URL of a fresh, empty database owned by tb.
	URL func(tb testing.TB) string
}

// Engines lists SQLite and, when configured, PostgreSQL. Without
// TRADEPLANE_TEST_POSTGRES the PostgreSQL engine is left out and tb is told
// so in its log.
func Engines(tb testing.TB) []Engine {
	tb.Helper()
	out := []Engine{{Name: "sqlite", URL: SQLiteURL}}
	if os.Getenv(PostgresEnv) != "" {
		out = append(out, Engine{Name: "postgres", URL: PostgresURL})
	} else {
		tb.Logf("%s not set: PostgreSQL tests skipped (CI sets it)", PostgresEnv)
	}
	return out
}

// SQLiteURL returns the URL of a fresh SQLite file under tb.TempDir().
func SQLiteURL(tb testing.TB) string {
	tb.Helper()
	return "sqlite:" + filepath.Join(tb.TempDir(), "test.db")
}

// PostgresURL creates a fresh schema on the server named by
// TRADEPLANE_TEST_POSTGRES and returns a URL whose search_path is that
// schema; the schema is dropped when tb ends. It skips tb when the variable
// is unset.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		tb.Skipf("%s not set: skipping PostgreSQL test (CI sets it; e.g. postgres://postgres@127.0.0.1:5432/test)", PostgresEnv)
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "tp_test_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatalf("open %s: %v", PostgresEnv, err)
	}
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		admin.Close()
		tb.Fatalf("create schema on %s: %v", PostgresEnv, err)
	}
	tb.Cleanup(func() {
		admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("parse %s: %v", PostgresEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open opens and migrates a store at url, closing it when tb ends.
func Open(tb testing.TB, url string) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), url, store.Options{})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// MustOpenSQLite opens a fresh migrated SQLite store.
func MustOpenSQLite(tb testing.TB) *store.DB {
	tb.Helper()
	return Open(tb, SQLiteURL(tb))
}
