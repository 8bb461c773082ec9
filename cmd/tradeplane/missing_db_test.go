package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadCommandsRefuseAMissingDatabase: a command that works on what is
// stored, pointed at a SQLite file that is not there (the default
// tradeplane.db of another folder than the server's), exits 2 naming the
// file and what to give instead, and leaves no empty database behind; it
// answered "no accounts" or "0 intervals" from a file it had just created.
func TestReadCommandsRefuseAMissingDatabase(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tradeplane.db")
	db := "sqlite:" + path
	fills := filepath.Join(t.TempDir(), "fills.csv")
	if err := os.WriteFile(fills, []byte("time,symbol,side,price,quantity,fee,fee_asset\n2024-01-01T00:00:00Z,BTCUSDT,buy,42000,0.1,0.1,USDT\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"pnl", "report", "--account", "main"},
		{"accounts", "list"},
		{"accounts", "remove", "main"},
		{"tokens", "list"},
		{"tokens", "revoke", "tok"},
		{"journal"},
		{"jobs", "show", "bf_1"},
		{"report", "reliability"},
		{"balances"},
		{"import", "trades", "--account", "main", fills},
	} {
		r := cli(t, "", append([]string{"--db", db}, args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, "no database at "+path) || !strings.Contains(r.stderr, "--db") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 naming %s and --db", args, r.code, r.stderr, path)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%v left a database at %s (%v)", args, path, err)
		}
	}
	// With a server given, the message says this command does not use it;
	// a token made into a new file there would never log in.
	for _, args := range [][]string{{"pnl", "report", "--account", "main"}, {"tokens", "create", "--role", "viewer"}} {
		r := cli(t, "", append([]string{"--db", db, "--server", "http://127.0.0.1:1"}, args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, "TRADEPLANE_SERVER") {
			t.Errorf("%v with --server: exit %d, stderr %q; want exit 2 naming TRADEPLANE_SERVER", args, r.code, r.stderr)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%v left a database at %s (%v)", args, path, err)
		}
	}
	// Writing commands still create a new database.
	cli(t, "", "--db", db, "accounts", "add", "--name", "main", "--venue", "paper").want(t, 0)
	if r := cli(t, "", "--db", db, "accounts", "list").want(t, 0); !strings.Contains(r.stdout, "main") {
		t.Errorf("accounts list after add: %q", r.stdout)
	}
}
