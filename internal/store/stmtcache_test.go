package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestStatementCache: a statement runs from the cache on its second use,
// and the same text run again while its rows are still open (a nested
// read) runs uncached and both give their own rows.
func TestStatementCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := Open(ctx, "sqlite::memory:", Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
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
	db, err := Open(ctx, "sqlite::memory:", Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
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
