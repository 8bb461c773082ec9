package alert_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tradeplane/tradeplane/internal/alert"
	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// receiver is a webhook endpoint that can be down (503) and records the
// alert ids it took.
type receiver struct {
	up  atomic.Bool
	mu  sync.Mutex
	ids []int64
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if !r.up.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	var m struct {
		ID int64 `json:"id"`
	}
	b, _ := io.ReadAll(req.Body)
	json.Unmarshal(b, &m)
	r.mu.Lock()
	r.ids = append(r.ids, m.ID)
	r.mu.Unlock()
}

func (r *receiver) got() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int64(nil), r.ids...)
}

// TestWebhookDownSixtySecondsLosesNothing: a webhook receiver down for 60 s
// (on a fake clock), then up, gets every alert raised meanwhile exactly
// once; failures show in the metrics and the outbox summary meanwhile. The
// old Service gave up after 3 attempts (1.5 s) and lost them.
func TestWebhookDownSixtySecondsLosesNothing(t *testing.T) {
	t.Parallel()
	db := storetest.MustOpenSQLite(t)
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	fc := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	reg := prometheus.NewRegistry()
	s := alert.New(alert.Options{Store: db, Clock: fc, Logger: slog.New(slog.DiscardHandler), DedupWindow: -1,
		Webhooks: []alert.Webhook{{Name: "ops", URL: srv.URL}}, Backoff: time.Second, MaxBackoff: 10 * time.Second,
		PollEvery: 5 * time.Millisecond, Registerer: reg})
	defer s.Close()
	const n = 12
	for i := range n {
		s.Raise(ctx, alert.Alert{Severity: alert.Critical, Source: "test", Message: "alert " + string(rune('a'+i))})
		// Let the sender try (and fail) before time moves on.
		waitFor(t, "a failed attempt", func() bool {
			sum, _ := db.AlertOutbox(ctx)
			return len(sum) == 1 && sum[0].Failing == int64(i+1)
		})
		fc.Advance(5 * time.Second) // 12 × 5 s = 60 s down
	}
	if got := rcv.got(); len(got) != 0 {
		t.Fatalf("delivered while down: %v", got)
	}
	if v := counterValue(t, reg, "webhook:ops", "failed"); v < n {
		t.Fatalf("failed deliveries metric %v, want >= %d", v, n)
	}
	sum, err := db.AlertOutbox(ctx)
	if err != nil || len(sum) != 1 || sum[0].Pending != n || sum[0].Failing != n || !strings.Contains(sum[0].LastError, "503") {
		t.Fatalf("outbox summary %+v %v", sum, err)
	}
	rcv.up.Store(true)
	fc.Advance(10 * time.Second) // past the longest backoff
	waitFor(t, "every alert delivered", func() bool { return len(rcv.got()) >= n })
	// Once no row is pending and the sender has stopped, nothing more can
	// be sent: a duplicate would have arrived by then.
	waitFor(t, "the outbox empty", func() bool { sum, err := db.AlertOutbox(ctx); return err == nil && len(sum) == 0 })
	s.Close()
	got := rcv.got()
	seen := map[int64]int{}
	for _, id := range got {
		seen[id]++
	}
	stored, _ := db.Alerts(ctx, 0, 100)
	if len(got) != n || len(seen) != n || len(stored) != n {
		t.Fatalf("received %v (distinct %d), stored %d; want each of %d exactly once", got, len(seen), len(stored), n)
	}
	for _, a := range stored {
		if seen[a.ID] != 1 {
			t.Fatalf("alert %d received %d times", a.ID, seen[a.ID])
		}
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, sink, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "tradeplane_alert_deliveries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			ls := map[string]string{}
			for _, l := range m.GetLabel() {
				ls[l.GetName()] = l.GetValue()
			}
			if ls["sink"] == sink && ls["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no tradeplane_alert_deliveries_total{sink=%q,result=%q}", sink, result)
	return 0
}

// stuckDB is a store whose alert writes hang until released, as a database
// that has just failed the journal's commit may.
type stuckDB struct {
	*store.DB
	release chan struct{}
}

func (s *stuckDB) InsertAlert(ctx context.Context, a store.Alert) (int64, error) {
	<-s.release
	return s.DB.InsertAlert(ctx, a)
}

func (s *stuckDB) InsertAlertOutbox(ctx context.Context, a store.Alert, key string, sinks []string, now time.Time) (int64, bool, error) {
	select {
	case <-s.release:
	case <-ctx.Done():
		return 0, false, ctx.Err()
	}
	return s.DB.InsertAlertOutbox(ctx, a, key, sinks, now)
}

// TestRaiseNeverWaitsForTheDatabase: the journal writer raises an alert
// when a commit fails and must not block; Raise used to insert the alert on
// the caller's goroutine. Now it returns at once and the alert is stored
// when the database answers again.
func TestRaiseNeverWaitsForTheDatabase(t *testing.T) {
	t.Parallel()
	db := &stuckDB{DB: storetest.MustOpenSQLite(t), release: make(chan struct{})}
	var live atomic.Int32
	s := alert.New(alert.Options{Store: db, Logger: slog.New(slog.DiscardHandler), DedupWindow: -1,
		OnAlert: func(alert.Alert) { live.Add(1) }})
	defer s.Close()
	done := make(chan struct{})
	go func() {
		s.Raise(ctx, alert.Alert{Severity: alert.Critical, Source: "journal", Message: "journal write failed: disk I/O error"})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		close(db.release)
		t.Fatal("Raise waited for the database")
	}
	close(db.release)
	waitFor(t, "the alert stored", func() bool { a, _ := db.Alerts(ctx, 0, 10); return len(a) == 1 && live.Load() == 1 })
}

// TestKeyedAlertStoredOnce: the same keyed alert raised by two nodes (two
// Services on one database) is stored and delivered once.
func TestKeyedAlertStoredOnce(t *testing.T) {
	t.Parallel()
	db := storetest.MustOpenSQLite(t)
	rcv := &receiver{}
	rcv.up.Store(true)
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	var svcs []*alert.Service
	for range 2 {
		s := alert.New(alert.Options{Store: db, Logger: slog.New(slog.DiscardHandler), PollEvery: 5 * time.Millisecond,
			Webhooks: []alert.Webhook{{Name: "ops", URL: srv.URL}}})
		defer s.Close()
		svcs = append(svcs, s)
	}
	for _, s := range svcs {
		s.Raise(ctx, alert.Alert{Severity: alert.Critical, Source: "cluster", Key: "node-down:n2:123", Message: "node n2 is down"})
	}
	waitFor(t, "one delivery", func() bool { return len(rcv.got()) == 1 })
	// Both nodes' writes flushed and senders stopped: whatever would be
	// stored or sent twice has been.
	waitFor(t, "the outbox empty", func() bool { sum, err := db.AlertOutbox(ctx); return err == nil && len(sum) == 0 })
	for _, s := range svcs {
		s.Close()
	}
	if got, _ := db.Alerts(ctx, 0, 10); len(got) != 1 || len(rcv.got()) != 1 {
		t.Fatalf("stored %d, delivered %v; want once", len(got), rcv.got())
	}
}

// TestSlowReceiverEveryDeliveryRecorded: a receiver that takes 6 s per
// alert gets a batch of two; both are recorded delivered. The sender used
// one 10 s deadline for a whole batch, so the second record failed after
// the second post and the alert was sent again once its claim ended.
func TestSlowReceiverEveryDeliveryRecorded(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a slow receiver (12 s); skipped with -short")
	}
	t.Parallel()
	db := storetest.MustOpenSQLite(t)
	var slow atomic.Bool
	rcv := &receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slow.Load() {
			time.Sleep(6 * time.Second)
		}
		rcv.ServeHTTP(w, r)
	}))
	defer srv.Close()
	fc := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	s := alert.New(alert.Options{Store: db, Clock: fc, Logger: slog.New(slog.DiscardHandler), DedupWindow: -1,
		Webhooks: []alert.Webhook{{Name: "ops", URL: srv.URL}}, Backoff: time.Second, MaxBackoff: time.Second,
		PollEvery: 5 * time.Millisecond})
	defer s.Close()
	for _, m := range []string{"first", "second"} {
		s.Raise(ctx, alert.Alert{Severity: alert.Critical, Source: "test", Message: m})
	}
	// Down at first, so both wait in the outbox and come due together.
	waitFor(t, "both deliveries failed once", func() bool {
		sum, _ := db.AlertOutbox(ctx)
		return len(sum) == 1 && sum[0].Failing == 2
	})
	slow.Store(true)
	rcv.up.Store(true)
	fc.Advance(5 * time.Second)
	deadline := time.Now().Add(25 * time.Second)
	for {
		sum, _ := db.AlertOutbox(ctx)
		if len(rcv.got()) == 2 && (len(sum) == 0 || sum[0].Pending == 0) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 25 s: received %v, outbox %+v; want both delivered and recorded", rcv.got(), sum)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
