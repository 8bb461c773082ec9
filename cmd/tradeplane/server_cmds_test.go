package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/auth"
	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/server/servertest"
	"github.com/tradeplane/tradeplane/internal/store"
)

// cliResult is one in-process run of the CLI.
type cliResult struct {
	code           int
	stdout, stderr string
}

// syncBuf is a buffer that a following command writes while a test reads.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// execCLI runs the CLI as run does (same root, same exit code mapping) with
// stdin, stdout and stderr in memory.
func execCLI(ctx context.Context, stdin string, stdout, stderr *syncBuf, args ...string) int {
	root := newRoot()
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(append([]string{"--log-format", "text", "--log-level", "error"}, args...))
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "tradeplane: "+err.Error())
		return exitCode(err)
	}
	return 0
}

func cli(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb syncBuf
	code := execCLI(ctx, stdin, &out, &errb, args...)
	return cliResult{code: code, stdout: out.String(), stderr: errb.String()}
}

func (r cliResult) want(t *testing.T, code int) cliResult {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	return r
}

// serverBundle is a servertest desk served on loopback with a trader token.
type serverBundle struct {
	env    *servertest.Env
	flags  []string // --server URL --token T
	viewer []string
}

func setupServer(t *testing.T, opts servertest.Options) *serverBundle {
	t.Helper()
	if opts.Step == 0 {
		opts.Step = 5 * time.Millisecond
	}
	env := servertest.New(t, opts)
	base, err := env.Serve()
	if err != nil {
		t.Fatal(err)
	}
	return &serverBundle{env: env,
		flags:  []string{"--server", base, "--token", env.MustToken(t, auth.RoleTrader)},
		viewer: []string{"--server", base, "--token", env.MustToken(t, auth.RoleViewer)}}
}

func (b *serverBundle) args(args ...string) []string {
	return append(append([]string(nil), b.flags...), args...)
}

func tempDB(t *testing.T) string {
	t.Helper()
	return "sqlite:" + filepath.Join(t.TempDir(), "cli.db")
}

func TestTokensCreateListRevoke(t *testing.T) {
	t.Parallel()
	db := tempDB(t)
	r := cli(t, "", "--db", db, "tokens", "create", "--role", "trader", "--name", "ci").want(t, 0)
	plain := strings.TrimSpace(r.stdout)
	if !regexp.MustCompile(`^tp_[0-9a-f]{16}_\S{43}$`).MatchString(plain) {
		t.Fatalf("stdout %q is not just the token", r.stdout)
	}
	if !strings.Contains(r.stderr, "shown once") {
		t.Errorf("no warning that the token is not shown again: %s", r.stderr)
	}
	id := plain[3:19]
	r = cli(t, "", "--db", db, "tokens", "list").want(t, 0)
	if !strings.Contains(r.stdout, id) || !strings.Contains(r.stdout, "trader") || strings.Contains(r.stdout, plain[20:]) {
		t.Errorf("list:\n%s", r.stdout)
	}
	cli(t, "", "--db", db, "tokens", "revoke", id).want(t, 0)
	r = cli(t, "", "--db", db, "tokens", "list", "--json").want(t, 0)
	var ts []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &ts); err != nil || len(ts) != 1 || ts[0]["id"] != id || ts[0]["revoked_at"] == nil {
		t.Errorf("list --json after revoke: %v %s", err, r.stdout)
	}
	cli(t, "", "--db", db, "tokens", "revoke", id).want(t, 2) // no live token
	r = cli(t, "", "--db", db, "tokens", "create", "--role", "root").want(t, 2)
	if !strings.Contains(r.stderr, `--role "root"`) {
		t.Errorf("bad role message: %s", r.stderr)
	}
	cli(t, "", "--db", db, "tokens", "create").want(t, 2)
}

func TestJournalOffline(t *testing.T) {
	t.Parallel()
	dbURL := tempDB(t)
	ctx := context.Background()
	db, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var evs []store.JournalEvent
	for i := range 12 {
		e := store.JournalEvent{At: at.Add(time.Duration(i) * time.Second), Kind: []string{"intent", "ack", "fill"}[i%3], SessionID: fmt.Sprintf("s-%d", i%2+1),
			Symbol: "BTCUSDT", ClientOrderID: fmt.Sprintf("tp-s%d-%d", i%2+1, i/3), Side: "buy", OrderType: "limit",
			Quantity: udecimal.MustParse("0.001"), Price: udecimal.MustParse("65000.5")}
		if i == 7 {
			e.Kind, e.ErrorClass, e.ErrorCode, e.Message = "rejected", "insufficient_funds", -2010, "Account has insufficient balance"
		}
		evs = append(evs, e)
	}
	if err := db.AppendJournalEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	noServer := []string{"--server", "", "--db", dbURL, "journal"}
	r := cli(t, "", append(noServer, "--limit", "5")...).want(t, 0)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "SEQ") || !strings.Contains(lines[0], "CLIENT-ORDER-ID") || !strings.HasPrefix(lines[5], "12 ") {
		t.Fatalf("table (want header + 5 rows, oldest first, newest last):\n%s", r.stdout)
	}
	// Amounts for people (the JSON below keeps "65000.5"), right-aligned
	// under their headers; KIND is wide enough for partially_filled.
	qtyEnd, priceEnd := strings.Index(lines[0], "QTY")+len("QTY"), strings.Index(lines[0], "PRICE")+len("PRICE")
	if row := lines[5]; len(row) < priceEnd || row[qtyEnd-5:qtyEnd] != "0.001" || row[priceEnd-9:priceEnd] != "65,000.50" {
		t.Errorf("row amounts not formatted and aligned under QTY and PRICE:\n%s\n%s", lines[0], row)
	}
	r = cli(t, "", append(noServer, "--failures", "--json")...).want(t, 0)
	var got []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got) != 1 || got[0]["error_class"] != "insufficient_funds" || got[0]["price"] != "65000.5" || got[0]["at"] != "2025-03-01T12:00:07Z" {
		t.Fatalf("--failures --json: %v %s", err, r.stdout)
	}
	r = cli(t, "", append(noServer, "--session", "s-2", "--kind", "intent", "--json")...).want(t, 0)
	got = nil
	_ = json.Unmarshal([]byte(r.stdout), &got)
	for _, e := range got {
		if e["session_id"] != "s-2" || e["kind"] != "intent" {
			t.Errorf("filter leaked %v", e)
		}
	}
	cli(t, "", append(noServer, "--limit", "0")...).want(t, 2)

	// --follow polls the database: a new event shows up as a JSON line.
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out, errb syncBuf
	done := make(chan int, 1)
	go func() {
		done <- execCLI(fctx, "", &out, &errb, append(noServer, "--follow", "--json", "--limit", "1")...)
	}()
	eventually(t, 10*time.Second, "the first line", func() bool { return strings.Count(out.String(), "\n") >= 1 })
	if err := db.AppendJournalEvents(ctx, []store.JournalEvent{{At: at.Add(time.Minute), Kind: "fill", SessionID: "s-1", Symbol: "BTCUSDT", Quantity: udecimal.MustParse("1"), Price: udecimal.MustParse("1")}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the followed event", func() bool { return strings.Count(out.String(), "\n") >= 2 })
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("follow ended with %d: %s", code, errb.String())
	}
	for i, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil || e["seq"] != float64(12+i) {
			t.Errorf("line %d %q: %v", i, line, err)
		}
	}
}

func TestJournalThroughServer(t *testing.T) {
	t.Parallel()
	b := setupServer(t, servertest.Options{JournalEvents: 30})
	r := cli(t, "", append(b.viewer, "journal", "--limit", "25", "--json")...).want(t, 0)
	var got []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got) != 25 || got[0]["seq"] != float64(6) || got[24]["seq"] != float64(30) {
		t.Fatalf("journal --json via the API: %v (%d events) %.300s", err, len(got), r.stdout)
	}
}

func TestSessionsAgainstServer(t *testing.T) {
	t.Parallel()
	b := setupServer(t, servertest.Options{Sessions: 6})
	r := cli(t, "", b.args("sessions", "list")...).want(t, 0)
	if !strings.HasPrefix(r.stdout, "ID") || !strings.Contains(r.stdout, "LAST STEP") || strings.Count(r.stdout, "s-000") != 6 {
		t.Fatalf("list:\n%s", r.stdout)
	}
	r = cli(t, "", b.args("sessions", "list", "--tag", "desk-b", "--json")...).want(t, 0)
	var ss []server.SessionView
	if err := json.Unmarshal([]byte(r.stdout), &ss); err != nil || len(ss) != 2 {
		t.Fatalf("list --tag desk-b --json: %v %s", err, r.stdout)
	}
	r = cli(t, "", b.args("sessions", "create", "--name", "btc-dca", "--strategy", "dca", "--account", "acct-0002", "--symbol", "BTCUSDT",
		"--params", `{"every":"1h","amount":"50"}`, "--allocation", "1000", "--tag", "desk-c", "--start", "--json")...).want(t, 0)
	var v server.SessionView
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.Name != "btc-dca" || v.State != "running" || v.Allocation.String() != "1000" {
		t.Fatalf("create: %v %s", err, r.stdout)
	}
	r = cli(t, "", b.args("sessions", "show", v.ID)...).want(t, 0)
	if !strings.Contains(r.stdout, "btc-dca") || !strings.Contains(r.stdout, `"every":"1h"`) {
		t.Errorf("show:\n%s", r.stdout)
	}
	r = cli(t, "", b.args("sessions", "edit", v.ID, "--params", `{"amount":"75"}`)...).want(t, 0)
	if !strings.Contains(r.stdout, `"amount":"75"`) {
		t.Errorf("edit: %s", r.stdout)
	}
	r = cli(t, "", b.args("sessions", "pause", v.ID)...).want(t, 0)
	if strings.TrimSpace(r.stdout) != "session "+v.ID+": paused" {
		t.Errorf("pause: %q", r.stdout)
	}
	cli(t, "", b.args("sessions", "pause", v.ID)...).want(t, 1)  // conflict: the operation failed
	cli(t, "", b.args("sessions", "delete", v.ID)...).want(t, 1) // paused: needs --force
	cli(t, "", b.args("sessions", "delete", v.ID, "--force")...).want(t, 0)
	cli(t, "", b.args("sessions", "show", v.ID)...).want(t, 2) // 404
	if _, err := b.env.Sessions.Session(context.Background(), v.ID); err == nil {
		t.Errorf("session %s survived delete --force", v.ID)
	}
}

func TestSessionsBadInput(t *testing.T) {
	t.Parallel()
	b := setupServer(t, servertest.Options{})
	create := func(extra ...string) []string {
		return b.args(append([]string{"sessions", "create", "--strategy", "grid", "--account", "acct-0001", "--symbol", "BTCUSDT", "--allocation", "10"}, extra...)...)
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no server", []string{"--server", "", "sessions", "list"}, "TRADEPLANE_SERVER"},
		{"unknown strategy", create("--strategy", "moon"), "--strategy"},
		{"bad allocation", create("--allocation", "ten"), "--allocation"},
		{"bad kind", create("--allocation-kind", "most"), "--allocation-kind"},
		{"params not JSON", create("--params", "{levels:1}"), "--params"},
		{"params and file", create("--params", "{}", "--params-file", "x.json"), "params"},
		{"missing params file", create("--params-file", filepath.Join(t.TempDir(), "none.json")), "--params-file"},
		{"server refuses", create("--account", "nosuch"), "nosuch"},
		{"edit without params", b.args("sessions", "edit", "s-0001"), "--params"},
		{"unknown session", b.args("sessions", "start", "nosuch"), "nosuch"},
		{"no id", b.args("sessions", "stop"), "arg"},
		{"unknown flag", b.args("sessions", "list", "--bogus"), "bogus"},
		{"trade-all with no selection", b.args("trade-all", "--yes"), "select sessions with --session, --tag, --account, --venue or --all"},
		{"trade-all with an empty tag", b.args("trade-all", "--tag", "", "--yes"), "--tag: an empty tag"},
		{"trade-all no server", []string{"--server", "", "trade-all", "--tag", "desk-a"}, "TRADEPLANE_SERVER"},
		{"trade-all not a terminal", b.args("trade-all", "--tag", "desk-a"), "--yes"},
	} {
		r := cli(t, "y\n", c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and a message naming %q", c.name, r.code, r.stderr, c.want)
		}
	}
	// Refusing to trade without a terminal ran nothing.
	if r := cli(t, "", b.args("trade-all", "--session", "s-0001", "--key", "k-refused", "--yes", "--json")...); r.code != 0 {
		t.Fatalf("a run with a fresh key after the refusal: %d %s", r.code, r.stderr)
	}
}

func TestTradeAllYesJSON(t *testing.T) {
	t.Parallel()
	b := setupServer(t, servertest.Options{Sessions: 6})
	r := cli(t, "", b.args("trade-all", "--tag", "desk-a", "--yes", "--json", "--key", "k-1")...)
	r.want(t, 1) // the desk's "faulty" session fails: a partial failure is a failure
	var run server.TradeAllRun
	if err := json.Unmarshal([]byte(r.stdout), &run); err != nil {
		t.Fatalf("stdout is not one JSON run: %v\n%s", err, r.stdout)
	}
	if run.State != server.RunDone || run.Total != 4 || run.Failed != 1 || run.Done != 4 || run.Key != "k-1" {
		t.Errorf("run %+v", run)
	}
	if !strings.Contains(r.stderr, "idempotency key: k-1 (reuse with --key k-1)") || !strings.Contains(r.stderr, "1 of 4 sessions failed") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	// The same key returns the same run; nothing trades twice.
	again := cli(t, "", b.args("trade-all", "--tag", "desk-a", "--yes", "--json", "--key", "k-1")...).want(t, 1)
	var run2 server.TradeAllRun
	if err := json.Unmarshal([]byte(again.stdout), &run2); err != nil || run2.ID != run.ID {
		t.Fatalf("replay: %v run %q, want %q", err, run2.ID, run.ID)
	}
	// The key with another selection is a conflict (exit 1).
	cli(t, "", b.args("trade-all", "--tag", "desk-b", "--yes", "--key", "k-1")...).want(t, 1)

	// desk-b has no faulty session: all ok, exit 0, a summary table and a
	// generated key printed for reuse.
	r = cli(t, "", b.args("trade-all", "--tag", "desk-b", "--yes")...).want(t, 0)
	if !strings.Contains(r.stdout, "SESSION") || !strings.Contains(r.stdout, "ORDERS") || !strings.Contains(r.stdout, "2 ok, 0 failed") {
		t.Errorf("summary:\n%s", r.stdout)
	}
	m := regexp.MustCompile(`idempotency key: (\S+) \(reuse with --key (\S+)\)`).FindStringSubmatch(r.stderr)
	if m == nil || m[1] != m[2] {
		t.Errorf("no generated key printed for reuse:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "2/2 done") {
		t.Errorf("no progress lines on a non-terminal stderr:\n%s", r.stderr)
	}
}

func TestTradeAllPollingFallback(t *testing.T) {
	t.Parallel()
	env := servertest.New(t, servertest.Options{Sessions: 3, Step: 30 * time.Millisecond})
	// A proxy without event streams: the CLI must fall back to polling.
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/stream") {
			http.Error(w, "streams are off", http.StatusServiceUnavailable)
			return
		}
		env.Server.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	flags := []string{"--server", ts.URL, "--token", env.MustToken(t, auth.RoleTrader)}
	r := cli(t, "", append(flags, "trade-all", "--session", "s-0001", "--session", "s-0002", "--yes", "--json")...).want(t, 0)
	var run server.TradeAllRun
	if err := json.Unmarshal([]byte(r.stdout), &run); err != nil || run.State != server.RunDone || run.Results[0].State != server.ResultOK || run.Results[1].State != server.ResultSkipped {
		t.Fatalf("run %v %s", err, r.stdout)
	}
	// A viewer cannot start a run: 403 is bad input (exit 2).
	viewer := []string{"--server", ts.URL, "--token", env.MustToken(t, auth.RoleViewer)}
	cli(t, "", append(viewer, "trade-all", "--tag", "desk-a", "--yes")...).want(t, 2)
}
