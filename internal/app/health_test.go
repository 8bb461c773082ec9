package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/watchdog"
	"github.com/tradeplane/tradeplane/internal/watchdog/watchdogtest"
)

// TestSupervisorLoopEndingStopsWatchdog: a node whose supervising loop ends
// while it serves (the supervisor is unhealthy though the process lives)
// stops its sd_notify watchdog pings to a fake NOTIFY_SOCKET, so systemd
// restarts it; /readyz and /healthz (liveness: Kubernetes restarts on it)
// answer 503 naming the loop.
func TestSupervisorLoopEndingStopsWatchdog(t *testing.T) {
	sock := watchdogtest.ListenNotify(t)
	t.Setenv("NOTIFY_SOCKET", sock.Path)
	t.Setenv("WATCHDOG_USEC", "")
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, app.Config{Addr: "127.0.0.1:0", DBURL: storetest.SQLiteURL(t), Currency: "USDT"})
	if err != nil {
		t.Fatal(err)
	}
	w, err := watchdog.New(watchdog.Config{Checks: a.HealthChecks(), Interval: 50 * time.Millisecond, WatchdogInterval: -1,
		Registerer: a.Registerer()})
	if err != nil {
		t.Fatal(err)
	}
	a.SetHealth(w)
	done := make(chan error, 2)
	go func() {
		done <- a.Run(ctx, func(string) { go func() { done <- w.Run(ctx) }() })
	}()
	defer func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}()
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				msgs := sock.Messages()
				t.Fatalf("timed out waiting for %s; the last of %d sent: %q", what, len(msgs), msgs[max(0, len(msgs)-10):])
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitUntil("READY=1 and 3 watchdog pings", func() bool { return sock.Count("READY=1") == 1 && sock.Count("WATCHDOG=1") >= 3 })

	app.GoService(a, ctx, "test loop", func() {}) // returns at once: ended while serving
	// Under load a round may also time the store out: count the rounds
	// whose STATUS names the ended loop, whatever else they name.
	unhealthy := func() int {
		n := 0
		for _, m := range sock.Messages() {
			if strings.HasPrefix(m, "STATUS=unhealthy: ") && strings.Contains(m, "supervisor: test loop ended while the node serves: restart it") {
				n++
			}
		}
		return n
	}
	waitUntil("an unhealthy STATUS naming the loop", func() bool { return unhealthy() >= 1 })
	// Datagrams arrive in the order sent: every ping sent before the first
	// unhealthy round has been read by now.
	pings := sock.Count("WATCHDOG=1")
	waitUntil("ten more unhealthy rounds", func() bool { return unhealthy() >= 11 })
	if got := sock.Count("WATCHDOG=1"); got != pings {
		t.Fatalf("watchdog pings went on with the supervisor unhealthy: %d, then %d", pings, got)
	}

	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	for path, want := range map[string]int{"/readyz": http.StatusServiceUnavailable, "/healthz": http.StatusServiceUnavailable} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]string
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != want || !strings.Contains(body["reason"], "test loop ended") {
			t.Errorf("%s: %d %v, want %d with the reason", path, resp.StatusCode, body, want)
		}
	}
}
