package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/server/servertest"
)

func TestCreateSession(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{})
	good := map[string]any{"name": "dca-btc", "strategy": "dca", "account": "acct-0001", "symbols": []string{"btcusdt"},
		"params": map[string]any{"every": "1h", "amount": "50"}, "allocation_kind": "fixed", "allocation": "1000.50", "tags": []string{"desk-c"}, "start": true}
	r := b.do(t, "POST", "/api/v1/sessions", b.trader, good)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var v server.SessionView
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatal(err)
	}
	if v.ID == "" || v.Name != "dca-btc" || v.State != "running" || v.Allocation.String() != "1000.5" || v.Symbols[0] != "BTCUSDT" || string(v.Params) != `{"amount":"50","every":"1h"}` {
		t.Errorf("created %+v (params %s)", v, v.Params)
	}
	if loc := r.header.Get("Location"); loc != "/api/v1/sessions/"+v.ID {
		t.Errorf("Location %q", loc)
	}
	if got := b.do(t, "GET", "/api/v1/sessions?tag=desk-c", b.viewer, nil).json(t)["sessions"].([]any); len(got) != 1 {
		t.Errorf("listed by its tag: %d sessions, want 1", len(got))
	}
	checkError(t, b.do(t, "POST", "/api/v1/sessions", b.trader, good), http.StatusConflict, "conflict") // name taken

	bad := []struct {
		name   string
		change map[string]any
		want   string
	}{
		{"bad decimal", map[string]any{"allocation": "12x"}, "allocation"},
		{"no allocation", map[string]any{"allocation": ""}, "allocation"},
		{"negative", map[string]any{"allocation": "-5"}, "allocation"},
		{"share over 1", map[string]any{"allocation_kind": "share", "allocation": "1.5"}, "share"},
		{"bad kind", map[string]any{"allocation_kind": "most"}, "allocation_kind"},
		{"no strategy", map[string]any{"strategy": ""}, "strategy"},
		{"unknown strategy", map[string]any{"strategy": "moon"}, "strategy"},
		{"no account", map[string]any{"account": ""}, "account"},
		{"unknown account", map[string]any{"account": "nosuch"}, "nosuch"},
		{"params not object", map[string]any{"params": []int{1}}, "params"},
		{"empty symbol", map[string]any{"symbols": []string{""}}, "symbols[0]"},
	}
	for _, c := range bad {
		body := map[string]any{}
		for k, v := range good {
			body[k] = v
		}
		body["name"] = "x-" + c.name
		for k, v := range c.change {
			body[k] = v
		}
		r := b.do(t, "POST", "/api/v1/sessions", b.trader, body)
		checkError(t, r, http.StatusBadRequest, "invalid")
		if !strings.Contains(string(r.body), c.want) {
			t.Errorf("%s: message does not name %q: %s", c.name, c.want, r.body)
		}
	}
	entries, err := b.env.DB.AuditLog(context.Background(), 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		if e.Action == "POST /api/v1/sessions" && e.Target == "session:"+v.ID && strings.Contains(e.Detail, "dca") {
			found = true
		}
	}
	if !found {
		t.Errorf("no audit entry for the create: %+v", entries)
	}
}

func TestDeleteSession(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{})
	checkError(t, b.do(t, "DELETE", "/api/v1/sessions/s-0001", b.trader, nil), http.StatusConflict, "conflict") // running
	checkError(t, b.do(t, "DELETE", "/api/v1/sessions/s-0001?force=maybe", b.trader, nil), http.StatusBadRequest, "invalid")
	checkError(t, b.do(t, "DELETE", "/api/v1/sessions/nosuch", b.trader, nil), http.StatusNotFound, "not_found")
	if r := b.do(t, "DELETE", "/api/v1/sessions/s-0002", b.trader, nil); r.status != http.StatusNoContent { // stopped
		t.Fatalf("delete stopped: %d %s", r.status, r.body)
	}
	if r := b.do(t, "DELETE", "/api/v1/sessions/s-0001?force=true", b.trader, nil); r.status != http.StatusNoContent {
		t.Fatalf("delete forced: %d %s", r.status, r.body)
	}
	checkError(t, b.do(t, "GET", "/api/v1/sessions/s-0001", b.viewer, nil), http.StatusNotFound, "not_found")
	entries, _ := b.env.DB.AuditLog(context.Background(), 0, 50)
	if len(entries) != 5 || entries[0].Target != "session:s-0001" || !strings.Contains(entries[0].Detail, "force true") {
		t.Errorf("audit %+v", entries)
	}
}

func TestStats(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{Sessions: 6})
	b.do(t, "POST", "/api/v1/sessions/s-0001/restart", b.trader, nil)
	r := b.do(t, "GET", "/api/v1/stats", b.viewer, nil)
	if r.status != 200 {
		t.Fatalf("stats: %d %s", r.status, r.body)
	}
	var st struct {
		Supervisor struct {
			Running        int                         `json:"running"`
			RestartsManual int64                       `json:"restarts_manual"`
			Failures       map[string]int64            `json:"failures"`
			Sessions       map[string]map[string]int64 `json:"sessions"`
		} `json:"supervisor"`
		Execution struct {
			Intents     int64                     `json:"intents"`
			SuccessRate *float64                  `json:"success_rate"`
			Failures    map[string]int64          `json:"failures"`
			Sessions    map[string]map[string]any `json:"sessions"`
		} `json:"execution"`
	}
	if err := json.Unmarshal(r.body, &st); err != nil {
		t.Fatal(err)
	}
	if st.Supervisor.Running != 5 || st.Supervisor.RestartsManual != 1 || st.Supervisor.Sessions["s-0001"]["manual"] != 1 || st.Supervisor.Failures == nil {
		t.Errorf("supervisor %+v", st.Supervisor)
	}
	if st.Execution.Intents == 0 || st.Execution.SuccessRate == nil || st.Execution.Failures == nil || st.Execution.Sessions["s-0001"]["success_rate"] == nil {
		t.Errorf("execution %+v", st.Execution)
	}

	// Without the service the route answers 503.
	s := server.New(server.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, server.Deps{Store: b.env.DB, Gatherer: prometheus.NewRegistry()})
	for _, p := range []struct{ method, path string }{{"GET", "/api/v1/stats"}, {"POST", "/api/v1/pnl/backfill"}, {"POST", "/api/v1/sessions"}, {"DELETE", "/api/v1/sessions/s-0001"}} {
		req := newReq(p.method, p.path, b.admin, `{}`)
		rec := newRec()
		s.ServeHTTP(rec, req)
		checkError(t, resp{status: rec.Code, body: rec.Body.Bytes()}, http.StatusServiceUnavailable, "unavailable")
	}
}

func TestBackfill(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{})
	r := b.do(t, "POST", "/api/v1/pnl/backfill", b.trader, map[string]any{"account": "acct-0001", "from": "2025-01-01", "to": "2025-01-04T00:00:00Z", "interval": "1d", "symbols": []string{"btcusdt"}})
	if r.status != http.StatusAccepted {
		t.Fatalf("backfill: %d %s", r.status, r.body)
	}
	job := r.json(t)
	id, _ := job["id"].(string)
	if id == "" || job["kind"] != "backfill" || r.header.Get("Location") != "/api/v1/jobs/"+id {
		t.Fatalf("job %v, location %q", job, r.header.Get("Location"))
	}
	args := job["args"].(map[string]any)
	if args["from"] != "2025-01-01T00:00:00Z" || args["interval"] != "1d" {
		t.Errorf("args %v", args)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		j := b.do(t, "GET", "/api/v1/jobs/"+id, b.viewer, nil).json(t)
		if j["state"] == "done" {
			if j["done"] != j["total"] {
				t.Errorf("done job %v", j)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job never finished: %v", j)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range []struct {
		body map[string]any
		want string
	}{
		{map[string]any{"account": "acct-0001", "from": "01/02/2025", "to": "2025-01-04"}, "from"},
		{map[string]any{"account": "acct-0001", "from": "2025-01-02", "to": ""}, "to"},
		{map[string]any{"account": "acct-0001", "from": "2025-01-05", "to": "2025-01-04"}, "before"},
		{map[string]any{"account": "acct-0001", "from": "2025-01-02", "to": "2025-01-04", "interval": "5m"}, "interval"},
		{map[string]any{"account": "", "from": "2025-01-02", "to": "2025-01-04"}, "account"},
		{map[string]any{"account": "nosuch", "from": "2025-01-02", "to": "2025-01-04"}, "nosuch"},
	} {
		r := b.do(t, "POST", "/api/v1/pnl/backfill", b.trader, c.body)
		checkError(t, r, http.StatusBadRequest, "invalid")
		if !strings.Contains(string(r.body), c.want) {
			t.Errorf("%v: message does not name %q: %s", c.body, c.want, r.body)
		}
	}
}
