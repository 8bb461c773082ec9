package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestStatementCache: a statement runs from the cache on its second use,
// and the same text run again while its rows are still open (a nested
// read) runs uncached and both give their own rows.
func TestStatementCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openMemory(t)
	for _, name := range []string{"a", "b", "c"} {
		if err := db.CreateAccount(ctx, &Account{Name: name, Venue: "paper"}); err != nil {
			t.Fatal(err)
		}
	}
	const q = `SELECT name FROM accounts WHERE name >= $1 ORDER BY name`
	conn, err := db.w.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	outer, err := conn.QueryContext(ctx, q, "a")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for outer.Next() {
		var n string
		if err := outer.Scan(&n); err != nil {
			t.Fatal(err)
		}
		// The same text while outer's rows are open: uncached.
		var inner []string
		rows, err := conn.QueryContext(ctx, q, n)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var m string
			rows.Scan(&m)
			inner = append(inner, m)
		}
		rows.Close()
		got = append(got, n+":"+strings.Join(inner, ""))
	}
	if err := outer.Close(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a:abc", "b:bc", "c:c"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("got %q, want %q", got, want)
	}
	// Cached now, and free again: a second run reads from the start.
	var first string
	if err := conn.QueryRowContext(ctx, q, "b").Scan(&first); err != nil || first != "b" {
		t.Fatalf("second use: %q %v", first, err)
	}
	var cached int
	if err := conn.Raw(func(dc any) error {
		c := dc.(*cachingConn)
		c.mu.Lock()
		defer c.mu.Unlock()
		if s, ok := c.stmts[q]; ok && !s.busy {
			cached = 1
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if cached != 1 {
		t.Fatal("the statement is not in the connection's cache, or still marked busy")
	}
}

// TestStatementCacheBounded: past stmtCacheMax texts the cache stays at its
// bound and every query still answers.
func TestStatementCacheBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openMemory(t)
	conn, err := db.w.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range stmtCacheMax + 50 {
		var got int
		if err := conn.QueryRowContext(ctx, fmt.Sprintf("SELECT %d + $1", i), 1).Scan(&got); err != nil || got != i+1 {
			t.Fatalf("query %d: %d %v", i, got, err)
		}
	}
	if err := conn.Raw(func(dc any) error {
		c := dc.(*cachingConn)
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.stmts) != stmtCacheMax {
			t.Errorf("cache holds %d statements, want its bound %d", len(c.stmts), stmtCacheMax)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestWritesRunWholeReadsStop: a write whose context has ended is refused
// before it starts (nothing written), a write runs without the driver's
// per-statement interrupt watch, and a long read still stops when its
// context ends.
func TestWritesRunWholeReadsStop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openMemory(t)
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := db.CreateAccount(done, &Account{Name: "late", Venue: "paper"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("write with an ended context: %v, want context.Canceled", err)
	}
	if _, err := db.w.ExecContext(ctx, `INSERT INTO accounts (name, venue, created_at) VALUES ('x', 'paper', 0)`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE name = 'late'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the refused write left %d rows (%v)", n, err)
	}
	short, stop := context.WithTimeout(ctx, 50*time.Millisecond)
	defer stop()
	// About 10⁹ rows: minutes unless the read is interrupted.
	err := db.r.QueryRowContext(short, `WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 1000000000)
		SELECT COUNT(*) FROM c`).Scan(&n)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("long read: %v, want context.DeadlineExceeded", err)
	}
	for q, want := range map[string]bool{
		"INSERT INTO x VALUES (1)": true, "\n\t update x SET a = 1": true, "delete FROM x": true,
		"SELECT 1": false, "WITH c AS (SELECT 1) SELECT * FROM c": false, "": false, "UPD": false,
		"VACUUM INTO ?": false, "CREATE TABLE t (a INTEGER)": false,
	} {
		if writes(q) != want {
			t.Errorf("writes(%q) = %v, want %v", q, !want, want)
		}
	}
}

// openMemory opens a private in-memory store, closed with the test.
func openMemory(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), "sqlite::memory:", Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
