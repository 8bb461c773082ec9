package store_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

var errOver = errors.New("over 100%")

// TestCreateSessionAdmittedLocksTheAccount runs two creations on one
// account from two handles on one database (two nodes): the second one's
// admit runs only after the first committed, and sees its session. A
// refusal inserts nothing.
func TestCreateSessionAdmittedLocksTheAccount(t *testing.T) {
	t.Parallel()
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			t.Parallel()
			url := eng.URL(t)
			nodeA, nodeB := storetest.Open(t, url), storetest.Open(t, url)
			acct := &store.Account{Name: "main", Venue: "paper"}
			if err := nodeA.CreateAccount(ctx, acct); err != nil {
				t.Fatal(err)
			}
			other := &store.Account{Name: "other", Venue: "paper"}
			if err := nodeA.CreateAccount(ctx, other); err != nil {
				t.Fatal(err)
			}
			newSession := func(id string, account int64) *store.Session {
				return &store.Session{ID: id, Name: id, Strategy: "dca", AccountID: account, State: "created",
					AllocationKind: "share", Allocation: dec("0.6")}
			}
			var aInside atomic.Bool
			entered, release := make(chan struct{}), make(chan struct{})
			errA := make(chan error, 1)
			go func() {
				errA <- nodeA.CreateSessionAdmitted(ctx, newSession("s-a", acct.ID), "a", func(existing []store.Session) error {
					aInside.Store(true)
					close(entered)
					<-release
					aInside.Store(false)
					return nil
				})
			}()
			<-entered
			// On PostgreSQL another account is not held up by the lock
			// (SQLite has one writer at a time anyway).
			if eng.Name == "postgres" {
				if err := nodeB.CreateSessionAdmitted(ctx, newSession("s-other", other.ID), "b", func([]store.Session) error { return nil }); err != nil {
					t.Fatal(err)
				}
			}
			var sawB []store.Session
			errB := make(chan error, 1)
			go func() {
				errB <- nodeB.CreateSessionAdmitted(ctx, newSession("s-b", acct.ID), "b", func(existing []store.Session) error {
					if aInside.Load() {
						t.Error("node B's admit ran while node A's creation held the account")
					}
					sawB = existing
					return errOver
				})
			}()
			if eng.Name == "postgres" {
				// Node B waits on the account's row lock.
				waitLockWaiter(t, nodeA)
			} else {
				// SQLite's writer waits in its busy handler, which nothing
				// shows: give node B the time to get there. A slow B only
				// makes this run weaker, never wrong.
				time.Sleep(200 * time.Millisecond)
			}
			close(release)
			if err := <-errA; err != nil {
				t.Fatal(err)
			}
			if err := <-errB; !errors.Is(err, errOver) {
				t.Fatalf("node B: got %v, want the admit's refusal", err)
			}
			if len(sawB) != 1 || sawB[0].ID != "s-a" {
				t.Fatalf("node B's admit saw %d sessions (%+v), want node A's s-a", len(sawB), sawB)
			}
			got, err := nodeA.Sessions(ctx, store.SessionFilter{AccountID: acct.ID})
			if err != nil || len(got) != 1 {
				t.Fatalf("sessions after the refusal: %d (%v), want 1", len(got), err)
			}
		})
	}
}

// waitLockWaiter returns once a PostgreSQL backend waits for a lock in
// the account-locking query.
func waitLockWaiter(t *testing.T, db *store.DB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := db.QueryRowForTest(ctx, `SELECT COUNT(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND query LIKE '%FROM accounts WHERE id = $1 FOR UPDATE%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("node B never waited for the account lock")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
