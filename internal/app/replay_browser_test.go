package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/webdriver"
)

// TestBrowserReplay: on a demo node, "Replay" on a session's page and on
// the new-session form runs a replay job and shows its summary and equity
// curve, in headless Chromium.
func TestBrowserReplay(t *testing.T) {
	t.Parallel()
	w := webdriver.Start(t)
	n, _ := startDemoApp(t)
	var list struct {
		Sessions []struct {
			ID       string `json:"id"`
			Strategy string `json:"strategy"`
		} `json:"sessions"`
	}
	if code := n.do(t, "GET", "/api/v1/sessions", nil, nil, &list); code != 200 || len(list.Sessions) == 0 {
		t.Fatalf("sessions: %d %+v", code, list)
	}
	w.Open(n.url + "/")
	w.WaitJS("the login form", `return !!document.getElementById("token")`)
	w.Type("#token", n.token)
	w.Click("#login-submit")
	w.WaitJS("the overview", `return document.body.dataset.page === "overview"`)

	run := func(box string) string {
		t.Helper()
		w.Click(box + " summary")
		w.WaitJS("the replay controls", `return !!document.querySelector(arguments[0] + " .rp-run")`, box)
		w.JS(`document.querySelector(arguments[0] + " .rp-days").value = "5"`, nil, box)
		w.Click(box + " .rp-run")
		w.WaitJSFor(120*time.Second, "the replay's result",
			`const b = document.querySelector(arguments[0]); return !b.querySelector(".rp-result").classList.contains("hidden") && !!b.querySelector(".rp-equity svg polyline")`, box)
		return w.Text(box + " .rp-summary")
	}

	w.Open(n.url + "/sessions/" + list.Sessions[0].ID)
	w.WaitJS("the session page", `return document.readyState === "complete" && !!document.getElementById("replay")`)
	if s := run("#replay"); !strings.Contains(s, "net PnL") || !strings.Contains(s, "max drawdown") {
		t.Errorf("session replay summary %q", s)
	}

	w.Open(n.url + "/sessions")
	w.WaitJS("the sessions page", `return document.readyState === "complete" && !!document.getElementById("new-session")`)
	w.Click("#new-session summary")
	w.Type("#ns-strategy", "dca")
	w.Type("#ns-symbols", "ETHUSDT")
	w.JS(`document.getElementById("ns-params").value = arguments[0]`, nil, `{"symbol":"ETHUSDT","quote_amount":"20","interval":"2h"}`)
	if s := run("#replay-new"); !strings.Contains(s, "trades") {
		t.Errorf("new-session replay summary %q", s)
	}
	for _, e := range w.Logs() {
		if e.Level == "SEVERE" && !strings.Contains(e.Message, "favicon.ico") {
			t.Errorf("browser console: %s", e.Message)
		}
	}
}
