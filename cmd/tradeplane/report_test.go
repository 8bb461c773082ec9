package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tradeplane/tradeplane/internal/auth"
	"github.com/tradeplane/tradeplane/internal/reliability"
	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/store"
)

// TestReportReliability: the CLI offline (--db) and through a server print
// the same figures as reliability.Compute over the journal; the table
// shows them for people (rates as percentages, the JSON keeps "0.5"); bad
// times are usage errors.
func TestReportReliability(t *testing.T) {
	t.Parallel()
	dbURL := tempDB(t)
	ctx := context.Background()
	db, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	ev := func(d time.Duration, kind, coid, class string) store.JournalEvent {
		return store.JournalEvent{At: at.Add(d), Kind: kind, SessionID: "s-1", Symbol: "BTCUSDT", ClientOrderID: coid, ErrorClass: class}
	}
	if err := db.AppendJournalEvents(ctx, []store.JournalEvent{
		ev(0, "intent", "a", ""), ev(time.Second, "filled", "a", ""),
		ev(time.Minute, "intent", "b", ""), ev(time.Minute+time.Second, "failed", "b", "auth"),
		ev(25*time.Hour, "intent", "c", ""), ev(25*time.Hour+time.Second, "filled", "c", ""),
	}); err != nil {
		t.Fatal(err)
	}
	window := []string{"--from", "2026-11-19T00:00:00Z", "--to", "2026-11-22T00:00:00Z"}
	offline := append([]string{"--server", "", "--db", dbURL, "report", "reliability", "--json"}, window...)
	r := cli(t, "", offline...).want(t, 0)
	var got reliability.Report
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	want, err := reliability.Compute(ctx, db, reliability.Options{From: time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := json.Marshal(want)
	gotJSON, _ := json.Marshal(got)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("offline --json:\n%s\nwant\n%s", gotJSON, wantJSON)
	}
	if len(got.Execution) != 2 || got.Execution[0].SuccessRate != "0.5" || got.Execution[1].SuccessRate != "1" || got.ExecutionTotal.SuccessRate != "0.6667" {
		t.Errorf("execution %+v total %+v", got.Execution, got.ExecutionTotal)
	}

	tok, _, err := auth.CreateToken(ctx, db, auth.RoleViewer, "cli")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.New(server.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		server.Deps{Store: db, Gatherer: prometheus.NewRegistry()}))
	defer srv.Close()
	r = cli(t, "", append([]string{"--server", srv.URL, "--token", tok, "report", "reliability", "--json"}, window...)...).want(t, 0)
	var viaServer reliability.Report
	if err := json.Unmarshal([]byte(r.stdout), &viaServer); err != nil {
		t.Fatal(err)
	}
	viaServer.Latency, got.Latency = nil, nil // the server has its own requests' latency
	if !reflect.DeepEqual(viaServer, got) {
		t.Errorf("through the server:\n%+v\noffline:\n%+v", viaServer, got)
	}

	r = cli(t, "", append([]string{"--server", "", "--db", dbURL, "report", "reliability"}, window...)...).want(t, 0)
	for _, s := range []string{"2026-11-20       2          1       1        0           50%", "auth", "66.67%"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("table lacks %q:\n%s", s, r.stdout)
		}
	}
	r = cli(t, "", "--server", "", "--db", dbURL, "report", "reliability", "--from", "yesterday").want(t, 2)
	if !strings.Contains(r.stderr, `--from "yesterday"`) {
		t.Errorf("bad --from message: %s", r.stderr)
	}
}
