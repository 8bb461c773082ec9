package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/store"
)

// allEvents reads every journal event of the SQLite database at url,
// keyed by sequence number, as JSON (so any field that differs shows).
func allEvents(t *testing.T, url string) map[int64]string {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, url, store.Options{NoMigrate: true})
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	defer db.Close()
	out := map[int64]string{}
	var after int64
	for {
		evs, err := db.JournalEvents(ctx, store.EventQuery{AfterSeq: after, Ascending: true, Limit: 10000})
		if err != nil {
			t.Fatalf("read journal of %s: %v", url, err)
		}
		for _, e := range evs {
			b, _ := json.Marshal(e)
			out[e.Seq] = string(b)
			after = e.Seq
		}
		if len(evs) < 10000 {
			return out
		}
	}
}

// TestBackupWhileTradingThenRestore backs up a serving demo node while its
// sessions trade, restores the copy into a new folder, starts a node on it,
// and finds there every journal event the backup holds, unchanged; the
// backup holds every event committed before it began and is a prefix of
// the live journal (one consistent snapshot).
func TestBackupWhileTradingThenRestore(t *testing.T) {
	t.Setenv("TRADEPLANE_MASTER_KEY", testMasterKey)
	live := "sqlite:" + filepath.Join(t.TempDir(), "live.db")
	_, stopLive := startServe(t, "--db", live, "--demo")

	var before map[int64]string
	eventually(t, 90*time.Second, "the demo sessions to journal 50 events", func() bool {
		before = allEvents(t, live)
		return len(before) >= 50
	})

	backup := filepath.Join(t.TempDir(), "backup.db")
	r := cli(t, "", "--db", live, "backup", "--to", backup).want(t, 0)
	if !strings.Contains(r.stdout, "journal events") {
		t.Errorf("backup printed %q", r.stdout)
	}
	st, err := os.Stat(backup)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600 (it holds sealed credentials)", st.Mode().Perm())
	}
	// The node kept trading: the live journal grows past the backup.
	eventually(t, 90*time.Second, "trading to go on after the backup", func() bool {
		return len(allEvents(t, live)) > len(before)+10
	})
	stopLive()
	live2 := allEvents(t, live)

	// What the backup holds, read from a copy (opening the backup itself
	// could leave -wal files beside it): every event committed before it
	// began, unchanged, and exactly a prefix of the live journal: no event
	// missing below its newest one, none half-written.
	m := regexp.MustCompile(`(\d+) journal events`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("backup printed %q, want its journal event count", r.stdout)
	}
	raw, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	peek := filepath.Join(t.TempDir(), "peek.db")
	if err := os.WriteFile(peek, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	held := allEvents(t, "sqlite:"+peek)
	if strconv.Itoa(len(held)) != m[1] {
		t.Errorf("backup said %s journal events, holds %d", m[1], len(held))
	}
	var newest int64
	for seq, ev := range held {
		newest = max(newest, seq)
		if live2[seq] != ev {
			t.Errorf("event %d: backup %s, live %s", seq, ev, live2[seq])
		}
	}
	for seq := range live2 {
		if _, ok := held[seq]; !ok && seq < newest {
			t.Errorf("event %d committed before the backup's newest (%d) is not in it: not one consistent snapshot", seq, newest)
		}
	}
	for seq, ev := range before {
		if held[seq] != ev {
			t.Fatalf("event %d committed before the backup began: backup %q, want %s", seq, held[seq], ev)
		}
	}

	// A second backup to the same file is refused, not overwritten.
	cli(t, "", "--db", live, "backup", "--to", backup).want(t, 1)

	restored := "sqlite:" + filepath.Join(t.TempDir(), "new-folder", "restored.db")
	cli(t, "", "--db", restored, "restore", "--from", backup).want(t, 0)
	// Restoring over a database that exists is refused.
	if r := cli(t, "", "--db", restored, "restore", "--from", backup).want(t, 1); !strings.Contains(r.stderr, "move the database") {
		t.Errorf("restore over an existing database: %q", r.stderr)
	}

	base, stopRestored := startServe(t, "--db", restored, "--demo")
	if code, body := getStatus(t, base+"/healthz"); code != 200 {
		t.Fatalf("restored node /healthz %d %v", code, body)
	}
	stopRestored()
	got := allEvents(t, restored)
	missing := 0
	for seq, want := range held {
		if got[seq] != want {
			missing++
			if missing <= 3 {
				t.Errorf("event %d: restored %s, want %s", seq, got[seq], want)
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of the backup's %d committed events missing or changed after restore", missing, len(held))
	}
	t.Logf("%d events committed before the backup began; the backup held %d (a prefix of the live journal's %d); all found after restore",
		len(before), len(held), len(live2))
}

func TestBackupRefusesPostgres(t *testing.T) {
	r := cli(t, "", "--db", "postgres://u@127.0.0.1:1/db", "backup", "--to", filepath.Join(t.TempDir(), "x")).want(t, 2)
	if !strings.Contains(r.stderr, "pg_dump") {
		t.Errorf("stderr %q, want a pointer to pg_dump", r.stderr)
	}
	cli(t, "", "--db", "sqlite:"+filepath.Join(t.TempDir(), "a.db"), "restore", "--from", filepath.Join(t.TempDir(), "none.db")).want(t, 1)
	cli(t, "", "backup").want(t, 2)
}
