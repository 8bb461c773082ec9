package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/auth"
	"github.com/tradeplane/tradeplane/internal/polltest"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// node is a running App on a loopback port with an admin token.
type node struct {
	url, token string
	stop       func()
	app        *app.App
}

func startNode(t *testing.T, cfg app.Config) *node {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg.NoDemoLogin = true
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, func(u string) { ready <- u }) }()
	var url string
	select {
	case url = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("node did not start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("node did not start within 30 s")
	}
	db, err := store.Open(ctx, cfg.DBURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := auth.CreateToken(ctx, db, auth.RoleAdmin, "test")
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	n := &node{url: url, token: tok, app: a}
	n.stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("node did not stop within 30 s")
		}
	}
	t.Cleanup(n.stop)
	return n
}

func (n *node) do(t *testing.T, method, path string, body any, headers map[string]string, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, n.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+n.token)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	if resp.StatusCode >= 300 && out != nil {
		t.Logf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	return resp.StatusCode
}

// eventually polls cond until it holds; it fails the test if it does not
// within the given time.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	polltest.Until(t, within, what, cond)
}

// TestDemoEndToEnd starts a real demo node on SQLite and uses it as a desk
// would: live balances, sessions trading through the journal, Trade All by
// tag with an idempotency key, a collateral edit, and the stats.
func TestDemoEndToEnd(t *testing.T) {
	t.Parallel()
	dbURL := storetest.SQLiteURL(t)
	n := startNode(t, app.Config{DBURL: dbURL, Demo: true, DataDir: app.DefaultDataDir(), SnapshotEvery: time.Second})

	var hz map[string]string
	if code := n.do(t, "GET", "/healthz", nil, nil, &hz); code != 200 || hz["status"] != "ok" {
		t.Fatalf("healthz %d %v", code, hz)
	}
	// Live balances valued with prices.
	eventually(t, 20*time.Second, "portfolio valued", func() bool {
		var snap struct {
			Total struct {
				Value          string   `json:"value"`
				UnpricedAssets []string `json:"unpriced_assets"`
			} `json:"total"`
		}
		n.do(t, "GET", "/api/v1/portfolio", nil, nil, &snap)
		return snap.Total.Value != "" && snap.Total.Value != "0" && len(snap.Total.UnpricedAssets) == 0
	})
	// Sessions run and trade through the journal.
	var sessions struct {
		Sessions []struct {
			ID, State string
			Tags      []string
		} `json:"sessions"`
	}
	// Boot starts the sessions' runners and serves at once: each moves
	// from starting to running on its own goroutine, behind the store's
	// one writer (busy with the demo's start-up writes), so a session may
	// still be starting when the portfolio is already valued.
	eventually(t, 20*time.Second, "the demo's six sessions running", func() bool {
		n.do(t, "GET", "/api/v1/sessions", nil, nil, &sessions)
		if len(sessions.Sessions) != 6 {
			t.Fatalf("demo sessions: %+v", sessions)
		}
		for _, s := range sessions.Sessions {
			if s.State != "running" {
				return false
			}
		}
		return true
	})
	eventually(t, 30*time.Second, "orders journaled", func() bool {
		var j struct {
			Events []struct{ Kind string } `json:"events"`
		}
		n.do(t, "GET", "/api/v1/journal?kind=intent&limit=5", nil, nil, &j)
		return len(j.Events) > 0
	})

	// Trade All by tag, twice with one key: one run.
	key := fmt.Sprintf("test-%d", time.Now().UnixNano())
	var run, again struct {
		ID, State string
		Total     int
	}
	code := n.do(t, "POST", "/api/v1/trade-all", map[string]any{"tag": "core"}, map[string]string{"Idempotency-Key": key}, &run)
	if code != 202 && code != 200 || run.ID == "" || run.Total != 3 {
		t.Fatalf("trade-all start: %d %+v", code, run)
	}
	n.do(t, "POST", "/api/v1/trade-all", map[string]any{"tag": "core"}, map[string]string{"Idempotency-Key": key}, &again)
	if again.ID != run.ID {
		t.Fatalf("same key gave run %s then %s", run.ID, again.ID)
	}
	eventually(t, 30*time.Second, "trade-all finished", func() bool {
		n.do(t, "GET", "/api/v1/trade-all/"+run.ID, nil, nil, &run)
		return run.State != "running"
	})
	t.Logf("trade-all run %s ended %s", run.ID, run.State)

	// Collateral: a bad ratio is refused, a good one applied.
	if code := n.do(t, "PUT", "/api/v1/collateral/BTC", map[string]string{"ratio": "1.5"}, nil, nil); code != 400 {
		t.Fatalf("ratio 1.5: status %d, want 400", code)
	}
	if code := n.do(t, "PUT", "/api/v1/collateral/BTC", map[string]string{"ratio": "0.9"}, nil, nil); code != 200 {
		t.Fatalf("ratio 0.9: status %d", code)
	}
	var stats struct {
		Supervisor struct{ Running int }   `json:"supervisor"`
		Execution  struct{ Intents int64 } `json:"execution"`
	}
	n.do(t, "GET", "/api/v1/stats", nil, nil, &stats)
	if stats.Supervisor.Running != 6 || stats.Execution.Intents == 0 {
		t.Fatalf("stats %+v", stats)
	}
	var pnlRep struct {
		Equity []any `json:"equity"`
	}
	eventually(t, 10*time.Second, "equity snapshots", func() bool {
		n.do(t, "GET", "/api/v1/pnl?scope=desk&interval=1h", nil, nil, &pnlRep)
		return len(pnlRep.Equity) > 0
	})
}
