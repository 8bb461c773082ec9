package session_test

import (
	"database/sql"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// TestStoreOutageDoesNotKillTheSupervisorSilently: while another process
// holds the database's write lock, the supervisor cannot record a failed
// step. It must say so (a critical alert) and keep retrying, then carry on
// with the restart policy once the store answers, instead of leaving the
// session "running" in the store with no goroutine behind it.
func TestStoreOutageDoesNotKillTheSupervisorSilently(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out SQLite's 10 s busy timeout; skipped with -short")
	}
	t.Parallel()
	url := storetest.SQLiteURL(t)
	b := setupAt(t, url)
	m := b.manager(t, nil)
	ctx := t.Context()
	bad := b.create(t, m, "bad", "test-panic", `{}`)

	// Another connection takes the write lock before the session starts
	// failing (reads go on: WAL).
	raw, err := sql.Open("sqlite", strings.TrimPrefix(url, "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	conn, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := m.Start(ctx, bad.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	b.drive(t, "the session running", func() bool { return b.state(t, m, bad.ID) == session.Running })
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	locked := true
	defer func() {
		if locked {
			conn.ExecContext(ctx, "ROLLBACK")
		}
	}()
	b.drive(t, "an alert that the failure cannot be recorded", func() bool {
		return b.alerts.find(session.SevCritical, "the supervisor cannot record its failure")
	})
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	locked = false
	// The supervisor carries on: restarts, then quarantines the crash loop.
	b.drive(t, "quarantine and its alert after the outage", func() bool {
		return b.state(t, m, bad.ID) == session.Quarantined && b.alerts.find(session.SevCritical, "quarantined after 3 automatic restarts")
	})
}
