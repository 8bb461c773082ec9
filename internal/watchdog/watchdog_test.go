package watchdog_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/polltest"
	"github.com/tradeplane/tradeplane/internal/watchdog"
	"github.com/tradeplane/tradeplane/internal/watchdog/watchdogtest"
)

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	polltest.Until(t, 10*time.Second, what, cond)
}

func TestNotifyStopsWhenUnhealthy(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sock := watchdogtest.ListenNotify(t)
	t.Setenv("NOTIFY_SOCKET", sock.Path)
	var failing atomic.Bool
	var beats sync.Map // path → count
	var mu sync.Mutex
	var failBodies []string
	hb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, _ := beats.LoadOrStore(r.URL.Path, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
		if strings.HasSuffix(r.URL.Path, "/fail") {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			failBodies = append(failBodies, string(b))
			mu.Unlock()
		}
	}))
	defer hb.Close()
	beatsAt := func(p string) int64 {
		v, ok := beats.Load(p)
		if !ok {
			return 0
		}
		return v.(*atomic.Int64).Load()
	}

	w, err := watchdog.New(watchdog.Config{
		Checks: []watchdog.Check{{Name: "store", Fn: func(context.Context) error {
			if failing.Load() {
				return errors.New("database is gone")
			}
			return nil
		}}},
		Interval:         20 * time.Millisecond,
		WatchdogInterval: time.Second,
		HeartbeatURL:     hb.URL + "/ping/abc",
		HeartbeatEvery:   20 * time.Millisecond,
		Clock:            clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	// rounds lets n more rounds run: each waits for the loop to be waiting
	// on its timer (the round before has finished), then moves time on.
	rounds := func(n int) {
		for range n {
			clk.BlockUntil(1)
			clk.Advance(20 * time.Millisecond)
		}
		clk.BlockUntil(1)
	}

	rounds(2) // three rounds in all
	// The socket is read by its own goroutine, in the order sent.
	waitFor(t, "READY=1 and three watchdog pings", func() bool {
		return sock.Count("READY=1") == 1 && sock.Count("WATCHDOG=1") >= 3
	})
	if n := beatsAt("/ping/abc"); n != 3 {
		t.Fatalf("heartbeats: %d, want one per round (every 20 ms)", n)
	}
	if !w.Status().Healthy() {
		t.Fatalf("status %+v, want healthy", w.Status())
	}

	failing.Store(true)
	rounds(1)
	if w.Status().Healthy() || beatsAt("/ping/abc/fail") != 1 {
		t.Fatalf("after a failing round: status %+v, /fail heartbeats %d; want unhealthy and one", w.Status(), beatsAt("/ping/abc/fail"))
	}
	rounds(10)
	mu.Lock()
	if len(failBodies) == 0 || !strings.Contains(failBodies[0], "store: database is gone") {
		t.Errorf("fail body %q, want the failing check and its reason", failBodies)
	}
	mu.Unlock()

	failing.Store(false)
	rounds(1)
	// The recovery's ping is the last one sent: once it is read, so is any
	// sent during the eleven unhealthy rounds.
	waitFor(t, "pings to resume after recovery", func() bool { return sock.Count("WATCHDOG=1") >= 4 })
	if got := sock.Count("WATCHDOG=1"); got != 4 {
		t.Fatalf("WATCHDOG=1 sent %d times, want 3 healthy rounds + 1 after recovery: pings went on while unhealthy", got)
	}
	if n := sock.Count("READY=1"); n != 1 {
		t.Errorf("READY=1 sent %d times, want once", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "STOPPING=1", func() bool { return sock.Count("STOPPING=1") == 1 })
}

func TestNoReadyUntilHealthy(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var sent []string
	notify := func(s string) (bool, error) { mu.Lock(); sent = append(sent, s); mu.Unlock(); return true, nil }
	w, err := watchdog.New(watchdog.Config{
		Checks:           []watchdog.Check{{Name: "supervisor", Fn: func(context.Context) error { return errors.New("not started") }}},
		Interval:         10 * time.Millisecond,
		WatchdogInterval: time.Second,
		Notify:           notify,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range sent {
		if s == "READY=1" || s == "WATCHDOG=1" {
			t.Fatalf("sent %q while a check failed (all: %q)", s, sent)
		}
	}
	if len(sent) == 0 || sent[len(sent)-1] != "STOPPING=1" {
		t.Errorf("sent %q, want STATUS= lines then STOPPING=1", sent)
	}
}

func TestIntervalFollowsWatchdogSec(t *testing.T) {
	t.Parallel()
	w, err := watchdog.New(watchdog.Config{
		Checks:           []watchdog.Check{{Name: "x", Fn: func(context.Context) error { return nil }}},
		Interval:         time.Minute,
		WatchdogInterval: 30 * time.Second,
		Notify:           func(string) (bool, error) { return false, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Interval(); got != 15*time.Second {
		t.Errorf("interval %v, want 15s (half of WatchdogSec)", got)
	}
}

func TestLiveFailsWhenChecksHang(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	w, err := watchdog.New(watchdog.Config{
		Checks: []watchdog.Check{{Name: "store", Fn: func(ctx context.Context) error {
			<-release // a check that ignores its deadline: a wedged process
			return nil
		}}},
		Interval: 10 * time.Millisecond, WatchdogInterval: -1,
		Notify: func(string) (bool, error) { return true, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	if err := w.Live(); err != nil {
		t.Fatalf("live at once: %v", err)
	}
	waitFor(t, "Live to fail", func() bool { return w.Live() != nil })
	if err := w.Ready(); err == nil {
		t.Error("ready while the first round never finished")
	}
	close(release)
	cancel()
	<-done
	if err := w.Live(); err != nil {
		t.Errorf("live after the round ended: %v", err)
	}
}

// TestHeartbeatURLNeverLogged: a push monitor's URL is its secret (a
// Healthchecks UUID); a failed delivery is logged without it.
func TestHeartbeatURLNeverLogged(t *testing.T) {
	t.Parallel()
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL + "/ping/very-secret-uuid"
	dead.Close() // nothing listens: delivery fails
	var buf syncWriter
	w, err := watchdog.New(watchdog.Config{
		Checks:   []watchdog.Check{{Name: "x", Fn: func(context.Context) error { return nil }}},
		Interval: 10 * time.Millisecond, WatchdogInterval: -1,
		Notify:       func(string) (bool, error) { return false, nil },
		HeartbeatURL: url, HeartbeatEvery: 10 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(&buf, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	w.Run(ctx)
	out := buf.String()
	if !strings.Contains(out, "heartbeat not delivered") {
		t.Fatalf("no failed delivery logged:\n%s", out)
	}
	if strings.Contains(out, "very-secret-uuid") {
		t.Errorf("the heartbeat URL was logged:\n%s", out)
	}
}

type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
