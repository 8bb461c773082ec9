package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// receive waits for one payload on ch.
func receive(t *testing.T, ch <-chan string, within time.Duration) (string, bool) {
	t.Helper()
	select {
	case p, ok := <-ch:
		return p, ok
	case <-time.After(within):
		return "", false
	}
}

func TestNotifyPayloadTooLarge(t *testing.T) {
	t.Parallel()
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			t.Parallel()
			db := storetest.Open(t, eng.URL(t))
			err := db.Notify(context.Background(), "big", strings.Repeat("x", store.MaxNotifyPayload+1))
			if !errors.Is(err, store.ErrPayloadTooLarge) {
				t.Fatalf("payload of %d bytes: got %v, want ErrPayloadTooLarge", store.MaxNotifyPayload+1, err)
			}
			if err := db.Notify(context.Background(), "big", strings.Repeat("x", store.MaxNotifyPayload)); err != nil {
				t.Fatalf("payload of exactly the limit: %v", err)
			}
		})
	}
}

func TestListenSQLite(t *testing.T) {
	t.Parallel()
	db := storetest.MustOpenSQLite(t)
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := db.Listen(ctx, "events")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Notify(ctx, "events", "hello"); err != nil {
		t.Fatalf("notify on SQLite: %v", err)
	}
	select {
	case p := <-ch:
		t.Fatalf("heard %q on SQLite, want nothing", p)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	if p, ok := receive(t, ch, 5*time.Second); ok {
		t.Fatalf("after cancel: got %q, want the channel closed", p)
	}
}

func TestListenPostgres(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	sender, listener := storetest.Open(t, url), storetest.Open(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := listener.Listen(ctx, "events")
	if err != nil {
		t.Fatal(err)
	}

	// Another handle's notification is heard, in order; another channel's
	// is not.
	for _, p := range []string{"one", "two"} {
		if err := sender.Notify(ctx, "events", p); err != nil {
			t.Fatal(err)
		}
	}
	if err := sender.Notify(ctx, "other", "not for us"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"one", "two"} {
		if got, ok := receive(t, ch, 5*time.Second); got != want {
			t.Fatalf("got %q (open %v), want %q", got, ok, want)
		}
	}

	// A store in another schema of the same database does not hear it.
	other := storetest.Open(t, storetest.PostgresURL(t))
	och, err := other.Listen(ctx, "events")
	if err != nil {
		t.Fatal(err)
	}
	if err := sender.Notify(ctx, "events", "three"); err != nil {
		t.Fatal(err)
	}
	if got, _ := receive(t, ch, 5*time.Second); got != "three" {
		t.Fatalf("got %q, want three", got)
	}
	select {
	case p := <-och:
		t.Fatalf("a store in another schema heard %q", p)
	case <-time.After(200 * time.Millisecond):
	}

	// The listener reconnects when its connection is killed.
	var killed int
	if err := sender.QueryRowForTest(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE pid <> pg_backend_pid() AND query LIKE 'LISTEN %' AND query LIKE '%' || current_schema() || '%'`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("terminated %d listening connections, want 1", killed)
	}
	deadline := time.Now().Add(15 * time.Second)
	for heard := false; !heard; {
		if time.Now().After(deadline) {
			t.Fatal("listener did not hear a notification within 15 s of losing its connection")
		}
		if err := sender.Notify(ctx, "events", "again"); err != nil {
			t.Fatal(err)
		}
		p, ok := receive(t, ch, 200*time.Millisecond)
		if !ok && p == "" {
			continue
		}
		if p != "again" {
			t.Fatalf("after reconnect: got %q, want again", p)
		}
		heard = true
	}

	cancel()
	for {
		if _, ok := receive(t, ch, 5*time.Second); !ok {
			break // closed (or silent for 5 s, caught below)
		}
	}
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("channel still open after cancel")
		}
	default:
		t.Fatal("channel not closed within 5 s of cancel")
	}
}
