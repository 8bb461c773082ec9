package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tradeplane/tradeplane/internal/auth"
	"github.com/tradeplane/tradeplane/internal/server/servertest"
	"github.com/tradeplane/tradeplane/internal/store"
)

// TestAccountsThroughServer: with --server, 'accounts add', 'list' and
// 'remove' go through the API (the server seals the secret with its own key
// and opens the account at once; a row written into its database behind its
// back waited for a restart), and no local database is opened or created.
func TestAccountsThroughServer(t *testing.T) {
	t.Parallel()
	env := servertest.New(t, servertest.Options{})
	base, err := env.Serve()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	local := filepath.Join(dir, "tradeplane.db") // where a mistaken --db would write
	secret := filepath.Join(dir, "secret.txt")
	if err := os.WriteFile(secret, []byte("s3cret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	admin := []string{"--server", base, "--token", env.MustToken(t, auth.RoleAdmin), "--db", "sqlite:" + local}

	r := cli(t, "", append(admin, "accounts", "add", "--name", "extra", "--venue", "paper", "--api-key", "k1",
		"--api-secret-file", secret, "--tag", "desk-b")...).want(t, 0)
	if !strings.Contains(r.stdout, `account "extra" added (venue paper, id `) {
		t.Errorf("add: %q", r.stdout)
	}
	got, err := env.DB.Account(context.Background(), "extra")
	if err != nil || got.APIKey != "k1" || len(got.APISecretEnc) == 0 || strings.Join(got.Tags, ",") != "desk-b" {
		t.Fatalf("the server's store holds %+v (%v); want extra with key k1, a sealed secret and tag desk-b", got, err)
	}

	var rows []struct {
		Name      string   `json:"name"`
		HasSecret bool     `json:"has_secret"`
		Tags      []string `json:"tags"`
	}
	r = cli(t, "", append(admin, "accounts", "list", "--json")...).want(t, 0)
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, a := range rows {
		names[a.Name] = a.HasSecret
	}
	if len(rows) != 4 || !names["extra"] {
		t.Errorf("list: %+v; want the desk's 3 accounts and extra, with its secret", rows)
	}
	if r := cli(t, "", append(admin, "accounts", "list")...).want(t, 0); !strings.Contains(r.stdout, "encrypted") {
		t.Errorf("list table: %q", r.stdout)
	}

	// A name taken and a role that may not add say what to do.
	if r := cli(t, "", append(admin, "accounts", "add", "--name", "extra", "--venue", "paper")...).want(t, 2); !strings.Contains(r.stderr, `an account named "extra" already exists`) {
		t.Errorf("second add: %q", r.stderr)
	}
	trader := []string{"--server", base, "--token", env.MustToken(t, auth.RoleTrader), "--db", "sqlite:" + local}
	if r := cli(t, "", append(trader, "accounts", "add", "--name", "other", "--venue", "paper")...).want(t, 2); !strings.Contains(r.stderr, "admin token") {
		t.Errorf("add with a trader token: %q", r.stderr)
	}

	cli(t, "", append(admin, "accounts", "remove", "extra")...).want(t, 0)
	if _, err := env.DB.Account(context.Background(), "extra"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after remove the server still has extra (%v)", err)
	}
	cli(t, "", append(admin, "accounts", "remove", "extra")...).want(t, 2)
	cli(t, "", append(admin, "accounts", "add", "--venue", "binance", "--master", "acct-0001", "--discover-sub-accounts")...).want(t, 2)

	if _, err := os.Stat(local); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the commands opened a local database at %s (%v)", local, err)
	}
}

// TestListsReadEveryPage: 'sessions list' and 'accounts list' through the
// server follow next_cursor to the last page (1,000 a page).
func TestListsReadEveryPage(t *testing.T) {
	t.Parallel()
	b := setupServer(t, servertest.Options{Accounts: 1203, Sessions: 2101})
	for _, c := range []struct {
		args []string
		want int
	}{{[]string{"sessions", "list", "--json"}, 2101}, {[]string{"accounts", "list", "--json"}, 1203}} {
		r := cli(t, "", b.args(c.args...)...).want(t, 0)
		var rows []json.RawMessage
		if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != c.want {
			t.Errorf("%v: %d rows (%v), want %d", c.args, len(rows), err, c.want)
		}
	}
}
