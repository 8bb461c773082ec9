package main

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// TestRollingUpgradeOldNodeOnNewerSchema is the upgrade contract: while a
// newer release migrates the database (here: an additive migration, a new
// table and the next schema version, as the new binary would apply it), a
// node of the old release that is already running keeps trading on it; an
// old node that (re)starts refuses the newer schema with the reason, and so
// does the old release's migrate. Migrations only move forward.
func TestRollingUpgradeOldNodeOnNewerSchema(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			t.Setenv("TRADEPLANE_MASTER_KEY", testMasterKey)
			dbURL := eng.URL(t)
			base, stop := startServe(t, "--db", dbURL, "--demo", "--node-id", "old-1")
			// The test reads the database as the new release would: by
			// SQL, since the old store refuses the newer schema.
			driver, dsn := "sqlite", "file:"+strings.TrimPrefix(dbURL, "sqlite:")+"?_pragma=busy_timeout(10000)"
			if eng.Name == "postgres" {
				driver, dsn = "pgx", dbURL
			}
			raw, err := sql.Open(driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			events := func() int {
				var n int
				if err := raw.QueryRow(`SELECT COUNT(*) FROM journal_events`).Scan(&n); err != nil {
					t.Fatalf("count journal events: %v", err)
				}
				return n
			}
			var before int
			eventually(t, 90*time.Second, "the demo to journal 20 events", func() bool {
				before = events()
				return before >= 20
			})

			known := store.KnownSchemaVersion()
			for _, q := range []string{
				`CREATE TABLE upgrade_probe (id BIGINT PRIMARY KEY, note TEXT)`,
				fmt.Sprintf(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (%d, TRUE)`, known+1),
			} {
				if _, err := raw.Exec(q); err != nil {
					t.Fatalf("simulate the new release's migration: %s: %v", q, err)
				}
			}

			eventually(t, 90*time.Second, "the old node to keep journaling on the newer schema", func() bool {
				return events() >= before+20
			})
			if code, body := getStatus(t, base+"/readyz"); code != 200 {
				t.Errorf("old node /readyz %d %v during the upgrade", code, body)
			}
			stop()

			want := fmt.Sprintf("database schema is version %d but this binary knows up to %d: upgrade tradeplane", known+1, known)
			if r := cli(t, "", "--db", dbURL, "serve", "--addr", "127.0.0.1:0").want(t, 1); !strings.Contains(r.stderr, want) {
				t.Errorf("old node restart: stderr %q, want %q", r.stderr, want)
			}
			if r := cli(t, "", "--db", dbURL, "migrate").want(t, 1); !strings.Contains(r.stderr, want) {
				t.Errorf("old migrate: stderr %q, want %q", r.stderr, want)
			}
		})
	}
}
