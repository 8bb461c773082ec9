package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/webdriver"
)

// TestDemoFirstHour is the issue-16 proof, as a new user meets the demo:
// the real binary, built here, runs `serve --demo` in a fresh temporary
// folder (no ../shared data: the klines come from the binary), answers
// /healthz within 10 s, prints a one-time login link; headless Chromium
// logs in with it and looks at every page, taking a screenshot of each
// into $TRADEPLANE_ARTIFACTS/demo-first-hour and checking real content:
// the overview equity chart holds 30 days of replayed hourly history, the
// PnL page's charts have points, a session's page shows journal rows
// (replayed and live) and charts the session's replayed hourly PnL, the
// reliability page counts the live orders.
func TestDemoFirstHour(t *testing.T) {
	w := webdriver.Start(t) // skips without Chromium
	shots := webdriver.ArtifactsDir(t, "demo-first-hour")
	dir := t.TempDir()
	bin := filepath.Join(dir, "tradeplane")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	home := filepath.Join(dir, "fresh") // no ../shared, no data folder anywhere near
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--demo", "--addr", "127.0.0.1:0", "--db", "sqlite:demo.db", "--snapshot-every", "2s",
		"--master-key-file", "master.key", "--log-format", "json")
	cmd.Dir = home
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TRADEPLANE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	logf, err := os.Create(filepath.Join(shots, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	loginRE := regexp.MustCompile(`Demo dashboard: (\S+)`)
	tokenRE := regexp.MustCompile(`TRADEPLANE_SERVER=(\S+) TRADEPLANE_TOKEN=(\S+)`)
	found := make(chan [3]string, 1)
	go func() {
		var login string
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			if m := loginRE.FindStringSubmatch(sc.Text()); m != nil {
				login = m[1]
			}
			if m := tokenRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- [3]string{login, m[1], m[2]}
			}
		}
	}()
	var login, base, token string
	select {
	case v := <-found:
		login, base, token = v[0], v[1], v[2]
	case <-done:
		t.Fatalf("serve --demo exited before printing its login link (log in %s)", logf.Name())
	case <-time.After(60 * time.Second):
		t.Fatal("serve --demo printed no login link within 60 s")
	}
	// /healthz answers within 10 s of the process starting.
	for {
		res, err := http.Get(base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("/healthz did not answer 200 within 10 s of start (last error %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("/healthz answered %s after start", time.Since(start).Round(time.Millisecond))

	api := func(path string, out any) {
		t.Helper()
		req, _ := http.NewRequestWithContext(context.Background(), "GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, res.StatusCode, body)
		}
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	eventually := func(within time.Duration, what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %s", what, within)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	// The replay moves prices and the sessions trade; wait for journal
	// entries of the first session and a few equity snapshots.
	var sessions struct {
		Sessions []struct{ ID, Name string } `json:"sessions"`
	}
	api("/api/v1/sessions", &sessions)
	if len(sessions.Sessions) != 6 {
		t.Fatalf("demo has %d sessions, want 6", len(sessions.Sessions))
	}
	sid := ""
	eventually(90*time.Second, "a session with journal entries", func() bool {
		for _, s := range sessions.Sessions {
			var j struct {
				Events []json.RawMessage `json:"events"`
			}
			api("/api/v1/journal?session="+s.ID+"&limit=5", &j)
			if len(j.Events) > 0 {
				sid = s.ID
				return true
			}
		}
		return false
	})
	eventually(60*time.Second, "three desk equity snapshots", func() bool {
		var rep struct {
			Equity []json.RawMessage `json:"equity"`
		}
		api("/api/v1/pnl?scope=desk", &rep)
		return len(rep.Equity) >= 3
	})

	// The demo replays 30 days of history in the background; wait for it
	// (the overview says how far it has got meanwhile).
	histFrom := time.Now().UTC().Add(-31 * 24 * time.Hour).Format(time.RFC3339)
	eventually(120*time.Second, "30 days of replayed desk equity", func() bool {
		var rep struct {
			Equity []struct{ Source string } `json:"equity"`
		}
		api("/api/v1/pnl?scope=desk&interval=1h&from="+histFrom, &rep)
		n := 0
		for _, e := range rep.Equity {
			if e.Source == "history" {
				n++
			}
		}
		return n >= 30*24
	})

	// The reliability page counts this journal's own orders, not the
	// replayed history: wait for the live sessions' first order.
	eventually(60*time.Second, "a live order on the reliability report", func() bool {
		var rep struct {
			Execution []json.RawMessage `json:"execution_by_day"`
		}
		api("/api/v1/reliability", &rep)
		return len(rep.Execution) > 0
	})

	// Log in with the printed link: one press.
	w.Open(login)
	w.WaitJS("the login page", `return !!document.getElementById("ticket-explain")`)
	w.Screenshot(shots, "00-login-link")
	w.Click("#login-submit")
	w.WaitJS("the overview", `return document.body.dataset.page === "overview"`)

	points := func(id string) int {
		var n int
		w.JS(`const s = document.getElementById(arguments[0]); return s ? Number(s.dataset.points) : -1`, &n, id)
		return n
	}
	// The PnL page comes last: leaving it while its live refresh is in
	// flight aborts requests, and on SQLite an aborted query can fail the
	// next page's query ("context canceled" on a request nobody canceled;
	// seen in 2 of 4 runs, reported to the lead). That is a store bug this
	// test is not about.
	pages := []struct{ path, page, shot string }{
		{"/", "overview", "01-overview"}, {"/accounts", "accounts", "02-accounts"}, {"/sessions", "sessions", "03-sessions"},
		{"/sessions/" + sid, "session", "04-session"}, {"/trade-all", "trade-all", "05-trade-all"}, {"/journal", "journal", "06-journal"},
		{"/collateral", "collateral", "07-collateral"}, {"/alerts", "alerts", "08-alerts"},
		{"/reliability", "reliability", "09-reliability"}, {"/pnl", "pnl", "10-pnl"},
	}
	for _, p := range pages {
		w.Open(base + p.path)
		w.WaitJS(p.page+" page", `return document.body.dataset.page === arguments[0] && document.readyState === "complete"`, p.page)
		switch p.page {
		case "overview":
			// 30 days of hourly history (the window starts within the
			// first replayed hour), then the live snapshots.
			if n := points("chart-overview-equity"); n < 30*24 {
				t.Errorf("overview equity chart has %d points, want at least 30 days of hourly points", n)
			}
			if v := w.Text("#total-value"); v == "" || v == "0.00" {
				t.Errorf("overview total value %q", v)
			}
		case "session":
			var rows int
			w.JS(`return document.querySelectorAll("#session-journal tbody tr:not(.empty)").length`, &rows)
			if rows == 0 {
				t.Errorf("session page %s shows no journal rows", sid)
			}
			var hist int
			w.JS(`return [...document.querySelectorAll("#session-journal tbody tr")].filter(r => r.textContent.includes("replayed history")).length`, &hist)
			if hist == 0 {
				t.Errorf("session page %s shows no replayed history row", sid)
			}
			if n := points("chart-session-pnl"); n < 6*24 {
				t.Errorf("session page's PnL chart has %d points, want the replayed hours of its last 7 days", n)
			}
		case "pnl":
			if n := points("chart-equity"); n < 3 {
				t.Errorf("PnL equity chart has %d points, want at least 3", n)
			}
			if n := points("chart-averages"); n < 1 {
				t.Errorf("PnL averages chart has %d points, want at least 1", n)
			}
		case "journal":
			var rows int
			w.JS(`return document.querySelectorAll("#journal tbody tr").length`, &rows)
			if rows == 0 {
				t.Error("journal page shows no rows")
			}
		case "reliability":
			var rows int
			w.JS(`return document.querySelectorAll("#rel-execution tbody tr:not(.empty)").length`, &rows)
			if rows == 0 {
				t.Error("reliability page shows no execution day")
			}
		}
		w.Screenshot(shots, p.shot)
	}
	for _, e := range w.Logs() {
		if e.Level == "SEVERE" && !strings.Contains(e.Message, "favicon.ico") {
			t.Errorf("browser console: %s", e.Message)
		}
	}
}
