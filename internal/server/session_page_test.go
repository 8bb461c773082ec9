package server_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/server/servertest"
	"github.com/tradeplane/tradeplane/internal/store"
)

func TestSessionPage(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{Accounts: 2, Sessions: 3})
	r := b.do(t, "GET", "/sessions/s-0001", b.trader, nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /sessions/s-0001: %d %s", r.status, r.body)
	}
	page := string(r.body)
	for _, want := range []string{
		`<h1>grid-0001</h1>`, `id="session-state">running</p>`, `class="big pos" id="session-pnl">&#43;0.50</p>`,
		`data-cmd="restart"`, `id="session-params">{&#34;levels&#34;:10`, `id="chart-session-pnl"`,
		`id="session-open"`, `id="session-unknown"`, `id="session-transitions"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("session page lacks %q", want)
		}
	}
	// Its journal: only this session's rows (the fake journal spreads 50
	// events over 3 sessions: 17 are s-0001's).
	journal := page[strings.Index(page, `id="session-journal"`):]
	journal = journal[:strings.Index(journal, "</table>")]
	if n := len(regexp.MustCompile(`<tr class="(failed)?"><td>\d+</td>`).FindAllString(journal, -1)); n != 17 {
		t.Errorf("session journal shows %d rows, want 17:\n%s", n, journal)
	}
	if strings.Contains(journal, "s-0002-") {
		t.Error("session journal shows another session's orders")
	}
	if r := b.do(t, "GET", "/sessions/nope", b.trader, nil); r.status != http.StatusNotFound {
		t.Errorf("unknown session: %d, want 404", r.status)
	}
}

func TestRestartKind(t *testing.T) {
	t.Parallel()
	at := time.Now()
	for _, tt := range []struct {
		tr   store.SessionTransition
		want string
	}{
		{store.SessionTransition{From: "failed", To: "restarting", Reason: "step failed: timeout; restart 1 in 1s", Actor: "supervisor", At: at}, "auto"},
		{store.SessionTransition{From: "quarantined", To: "restarting", Reason: "manual restart", Actor: "alice", At: at}, "manual"},
		{store.SessionTransition{From: "running", To: "restarting", Reason: "manual restart (awaiting owner node)", Actor: "alice", At: at}, "manual"},
		{store.SessionTransition{From: "restarting", To: "starting", Reason: "manual restart", Actor: "alice", At: at}, ""},
		{store.SessionTransition{From: "stopped", To: "restarting", Reason: "start", Actor: "alice", At: at}, ""},
		{store.SessionTransition{From: "failed", To: "quarantined", Reason: "too many failures", Actor: "supervisor", At: at}, ""},
	} {
		if got := server.RestartKind(tt.tr); got != tt.want {
			t.Errorf("%s→%s %q by %s: got %q, want %q", tt.tr.From, tt.tr.To, tt.tr.Reason, tt.tr.Actor, got, tt.want)
		}
	}
}
