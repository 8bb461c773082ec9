package store

import (
	"context"
	"testing"
)

func TestAnonymousPlaceholders(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`INSERT INTO t (a, b) VALUES ($1, $2)`, `INSERT INTO t (a, b) VALUES (?, ?)`},
		{`UPDATE t SET a = $1 WHERE id = $2 AND s = 'a$3b' AND "c$" = $3`, `UPDATE t SET a = ? WHERE id = ? AND s = 'a$3b' AND "c$" = ?`},
		{`SELECT 'it''s $1', $1`, `SELECT 'it''s $1', ?`},
		{"SELECT $1 -- not $2\n, $2 /* nor $9 */", "SELECT ? -- not $2\n, ? /* nor $9 */"},
		{`SELECT [$x], $1`, `SELECT [$x], ?`},
		// Cases where positions would not match the numbers: unchanged.
		{`SELECT $1 WHERE a = $1`, `SELECT $1 WHERE a = $1`},
		{`SELECT $2, $1`, `SELECT $2, $1`},
		{`SELECT $1, $3`, `SELECT $1, $3`},
		{`SELECT $0`, `SELECT $0`},
		{`SELECT $01`, `SELECT $01`},
		{`SELECT $1x`, `SELECT $1x`},
		{`SELECT $name`, `SELECT $name`},
		{`SELECT $1, ?`, `SELECT $1, ?`},
		{`SELECT $1, :a`, `SELECT $1, :a`},
		{`SELECT $1, @a`, `SELECT $1, @a`},
		{`SELECT 'open $1`, `SELECT 'open $1`},
		{`SELECT $1 /* open`, `SELECT $1 /* open`},
	} {
		if got := anonymousPlaceholders(c.in); got != c.want {
			t.Errorf("anonymousPlaceholders(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := anonymousPlaceholders("SELECT $1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11"); got != "SELECT ?,?,?,?,?,?,?,?,?,?,?" {
		t.Errorf("eleven parameters: %q", got)
	}
}

// A cached SQLite statement binds the same arguments whether its text was
// rewritten to "?" or left with "$N" (a repeated parameter).
func TestCachedStatementsBindByNumber(t *testing.T) {
	db, err := openCachedSQLite(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	for _, c := range []struct {
		q    string
		args []any
		want string
	}{
		{`SELECT $1 || '|' || $2 || '|' || $3`, []any{"a", "b", "c"}, "a|b|c"},
		{`SELECT $2 || '|' || $1`, []any{"a", "b"}, "b|a"},
		{`SELECT $1 || '|' || $1 || '|' || $2`, []any{"a", "b"}, "a|a|b"},
		{`SELECT '$1' || $1`, []any{"a"}, "$1a"},
	} {
		for range 2 { // prepared, then cached
			var got string
			if err := db.QueryRowContext(ctx, c.q, c.args...).Scan(&got); err != nil {
				t.Fatalf("%s: %v", c.q, err)
			}
			if got != c.want {
				t.Errorf("%s = %q, want %q", c.q, got, c.want)
			}
		}
	}
}
