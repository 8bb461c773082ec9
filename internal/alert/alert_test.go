package alert_test

import (
	"bytes"
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

	"github.com/tradeplane/tradeplane/internal/alert"
	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/polltest"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

var ctx = context.Background()

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	polltest.Until(t, 5*time.Second, what, cond)
}

func TestServiceStoresPublishesAndPosts(t *testing.T) {
	t.Parallel()
	db := storetest.MustOpenSQLite(t)
	var mu sync.Mutex
	var hook []map[string]any
	var tgPaths []string
	var tgBodies []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &m)
		mu.Lock()
		defer mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/bot") {
			tgPaths = append(tgPaths, r.URL.Path)
			tgBodies = append(tgBodies, m)
			return
		}
		hook = append(hook, m)
	}))
	defer srv.Close()
	var live []alert.Alert
	fc := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	s := alert.New(alert.Options{
		Store: db, Clock: fc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnAlert:  func(a alert.Alert) { mu.Lock(); live = append(live, a); mu.Unlock() },
		Webhooks: []alert.Webhook{{Name: "ops", URL: srv.URL + "/hook?secret=abc"}},
		Telegram: &alert.Telegram{BotToken: "123:SECRET", ChatID: "42", BaseURL: srv.URL},
	})
	defer s.Close()
	s.Raise(ctx, alert.Alert{Severity: alert.Critical, Source: "executor", SessionID: "s1", AccountID: 7, Message: "order x failed"})
	waitFor(t, "deliveries", func() bool { mu.Lock(); defer mu.Unlock(); return len(hook) == 1 && len(tgBodies) == 1 })
	mu.Lock()
	if hook[0]["message"] != "order x failed" || hook[0]["severity"] != "critical" || hook[0]["session_id"] != "s1" {
		t.Errorf("webhook body %v", hook[0])
	}
	if tgPaths[0] != "/bot123:SECRET/sendMessage" || tgBodies[0]["chat_id"] != "42" || !strings.Contains(tgBodies[0]["text"].(string), "order x failed") {
		t.Errorf("telegram %q %v", tgPaths[0], tgBodies[0])
	}
	if len(live) != 1 || live[0].ID == 0 {
		t.Errorf("live %+v", live)
	}
	mu.Unlock()
	stored, err := db.Alerts(ctx, 0, 10)
	if err != nil || len(stored) != 1 || stored[0].Severity != "critical" || stored[0].AccountID != 7 {
		t.Fatalf("stored %+v %v", stored, err)
	}
}

func TestDedupBursts(t *testing.T) {
	t.Parallel()
	db := storetest.MustOpenSQLite(t)
	fc := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	s := alert.New(alert.Options{Store: db, Clock: fc, DedupWindow: time.Minute, Logger: slog.New(slog.DiscardHandler)})
	defer s.Close()
	for range 50 {
		s.Raise(ctx, alert.Alert{Source: "venue", Message: "rate limited"})
	}
	s.Raise(ctx, alert.Alert{Source: "venue", Message: "banned"})
	fc.Advance(2 * time.Minute)
	s.Raise(ctx, alert.Alert{Source: "venue", Message: "rate limited"})
	st := s.Stats()
	if st.Raised != 3 || st.Suppressed != 49 {
		t.Fatalf("stats %+v", st)
	}
	// Stored by the Service's writer, not on the caller's goroutine.
	waitFor(t, "three stored alerts", func() bool { a, _ := db.Alerts(ctx, 0, 100); return len(a) == 3 })
	stored, _ := db.Alerts(ctx, 0, 100)
	if len(stored) != 3 || stored[0].Message != "rate limited (and 49 more like it)" {
		t.Fatalf("stored %+v", stored)
	}
}

func TestDeliveryRetriesAndNeverLeaksSecrets(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	var logs syncBuf
	s := alert.New(alert.Options{
		Logger:      slog.New(slog.NewTextHandler(&logs, nil)),
		Telegram:    &alert.Telegram{BotToken: "999:TOPSECRET", ChatID: "1", BaseURL: srv.URL},
		Webhooks:    []alert.Webhook{{URL: "http://127.0.0.1:1/hook?token=HOOKSECRET"}}, // refused: always fails
		MaxAttempts: 3, Backoff: time.Millisecond,
	})
	s.Raise(ctx, alert.Alert{Source: "journal", Message: "write failed"})
	waitFor(t, "retries", func() bool { st := s.Stats(); return st.Delivered == 1 && st.FailedDeliveries == 1 })
	s.Close()
	if calls.Load() != 3 {
		t.Fatalf("telegram attempts %d, want 3", calls.Load())
	}
	out := logs.String()
	if strings.Contains(out, "TOPSECRET") || strings.Contains(out, "HOOKSECRET") {
		t.Fatalf("secret in logs:\n%s", out)
	}
	if !strings.Contains(out, "alert delivery failed") {
		t.Fatalf("failure not logged:\n%s", out)
	}
}

func TestRaiseNeverBlocks(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	s := alert.New(alert.Options{Webhooks: []alert.Webhook{{URL: srv.URL}}, QueueSize: 2, DedupWindow: -1,
		Logger: slog.New(slog.DiscardHandler)})
	defer s.Close()
	done := make(chan struct{})
	go func() {
		for i := range 20 {
			s.Raise(ctx, alert.Alert{Source: "x", Message: string(rune('a' + i))})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Raise blocked on a slow webhook")
	}
	if s.Stats().Dropped == 0 {
		t.Fatal("nothing dropped from a full queue")
	}
}
