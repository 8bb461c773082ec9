package app_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
	"github.com/tradeplane/tradeplane/internal/webdriver"
)

// startDemoApp starts a demo node on SQLite and hands back its *App too,
// for the paper-fault hook.
func startDemoApp(t *testing.T) (*node, *app.App) {
	t.Helper()
	n := startNode(t, app.Config{DBURL: storetest.SQLiteURL(t), Demo: true, DataDir: app.DefaultDataDir(), SnapshotEvery: time.Second})
	return n, n.app
}

// TestBrowserRealDemo drives headless Chromium through the dashboard of a
// real demo node (paper exchange, three accounts, six sessions, replayed
// market data): it logs in with an API token, looks at every page with
// live data, runs Trade All by tag, edits a collateral ratio, and watches
// an alert from a fault injected into the paper exchange arrive on the
// alerts page without a reload. Screenshots of every step go to
// $TRADEPLANE_ARTIFACTS/browser-real.
func TestBrowserRealDemo(t *testing.T) {
	t.Parallel()
	w := webdriver.Start(t)
	shots := webdriver.ArtifactsDir(t, "browser-real")
	n, a := startDemoApp(t)
	base := n.url

	// consoleErrors fails the test on script errors the page logged.
	consoleErrors := func(page string) {
		t.Helper()
		for _, e := range w.Logs() {
			// Refusals the test provokes (a wrong token, a bad ratio) are
			// 4xx loads; anything else is a broken page.
			if e.Level == "SEVERE" && !strings.Contains(e.Message, "favicon.ico") && !strings.Contains(e.Message, "responded with a status of 4") {
				t.Errorf("%s: browser console: %s", page, e.Message)
			}
		}
	}

	// Log in with the admin token through the token form.
	w.Open(base + "/")
	w.WaitJS("the login form", `return !!document.getElementById("login-form") && !!document.getElementById("token")`)
	w.Type("#token", "wrong")
	w.Click("#login-submit")
	w.WaitJS("the refusal", `return (document.getElementById("login-error") || {}).textContent === "That token is not valid."`)
	w.Type("#token", n.token)
	w.Click("#login-submit")
	w.WaitJS("the overview", `return document.body.dataset.page === "overview"`)

	pages := []struct{ path, page, h1 string }{
		{"/", "overview", "Overview"}, {"/accounts", "accounts", "Accounts and wallets"}, {"/sessions", "sessions", "Sessions"},
		{"/trade-all", "trade-all", "Trade All"}, {"/journal", "journal", "Journal"}, {"/pnl", "pnl", "PnL"},
		{"/collateral", "collateral", "Collateral ratios"}, {"/alerts", "alerts", "Alerts"},
	}
	for i, p := range pages {
		w.Open(base + p.path)
		w.WaitJS(p.page+" page", `return document.body.dataset.page === arguments[0] && document.readyState === "complete"`, p.page)
		if got := w.Text("main h1"); got != p.h1 {
			t.Errorf("%s: h1 %q, want %q", p.path, got, p.h1)
		}
		if p.page != "pnl" && p.page != "trade-all" && p.page != "collateral" {
			w.WaitJS("the live stream", `return document.getElementById("live").classList.contains("on")`)
		}
		switch p.page {
		case "overview":
			// The first prices arrive with the replay; the card follows live.
			w.WaitJSFor(20*time.Second, "a non-zero total value",
				`const v = document.getElementById("total-value").textContent.replace(/,/g, ""); return Number(v) > 0`)
			w.WaitJS("the session states", `return document.querySelector("main").textContent.includes("running: 6")`)
		case "accounts":
			for _, name := range []string{"alpha", "bravo", "charlie"} {
				w.WaitJSFor(20*time.Second, name+" with priced balances", `
					const sec = [...document.querySelectorAll("#wallets section.account")].find(s => s.querySelector("h2").textContent.startsWith(arguments[0] + " "));
					if (!sec) return false;
					const value = Number(sec.querySelector("h2 .num").textContent.replace(/,/g, ""));
					const priced = [...sec.querySelectorAll("table.lines tbody tr")].filter(tr => tr.children[0].textContent !== "USDT" && tr.children[2].textContent !== "—");
					return value > 0 && priced.length > 0;`, name)
			}
			if txt := w.Text("#wallets"); !strings.Contains(txt, "BTC/USDT") {
				t.Errorf("accounts page shows no price routes:\n%s", txt)
			}
		case "sessions":
			var states []string
			w.JS(`return [...document.querySelectorAll("#sessions tr[data-session] .state")].map(td => td.textContent)`, &states)
			running := 0
			for _, s := range states {
				if strings.HasPrefix(s, "running") {
					running++
				}
			}
			if len(states) != 6 || running != 6 {
				t.Errorf("sessions page: states %q, want 6 running", states)
			}
		case "journal":
			w.WaitJSFor(20*time.Second, "journal events", `return document.querySelectorAll("#journal tbody tr").length > 0`)
		case "pnl":
			w.WaitJS("both charts", `return document.querySelectorAll("div.chart svg").length === 2`)
		}
		consoleErrors(p.page)
		w.Screenshot(shots, fmt.Sprintf("%02d-%s", i+1, p.page))
	}

	// Trade All by tag "core", with preview, confirmation and per-session
	// results.
	w.Open(base + "/trade-all")
	w.WaitJS("the trade-all page", `return document.body.dataset.page === "trade-all"`)
	w.JS(`const s = document.getElementById("ta-tag"); s.value = "core"; return s.value`, nil)
	w.Click("#ta-preview")
	w.WaitJS("the preview", `return !document.getElementById("ta-confirm").classList.contains("hidden")`)
	// A session with nothing to do (a grid without fills) is listed as
	// skipped; every core session is in one list or the other.
	var previewed int
	w.JS(`return Number(document.getElementById("ta-count").textContent) + document.querySelectorAll("#ta-skipped li").length`, &previewed)
	if previewed != 3 {
		t.Errorf("preview of core lists %d sessions, want 3", previewed)
	}
	w.Screenshot(shots, "20-trade-all-preview")
	w.Click("#ta-go")
	w.WaitJSFor(30*time.Second, "the run to finish", `return ["done", "canceled", "failed"].includes(document.getElementById("ta-state").textContent)`)
	var results []struct{ Session, State string }
	w.JS(`return [...document.querySelectorAll("#ta-results tbody tr")].map(tr => ({Session: tr.children[0].textContent, State: tr.children[1].textContent}))`, &results)
	if total := w.Text("#ta-total"); len(results) == 0 || fmt.Sprint(len(results)) != total {
		t.Errorf("trade-all results %+v, want one per session of the run (%s)", results, total)
	}
	for _, r := range results {
		if r.State != "ok" && r.State != "failed" && r.State != "skipped" {
			t.Errorf("trade-all result %+v: want a final state", r)
		}
	}
	if got := w.Text("#ta-state"); got != "done" {
		t.Errorf("trade-all run ended %q, want done", got)
	}
	consoleErrors("trade-all run")
	w.Screenshot(shots, "21-trade-all-results")

	// Collateral: 1.5 is refused with a message naming the asset, 0.9 is
	// applied.
	w.Open(base + "/collateral")
	w.WaitJS("the collateral page", `return document.body.dataset.page === "collateral"`)
	w.Type(`tr[data-asset="BTC"] .new-ratio`, "1.5")
	w.Click(`tr[data-asset="BTC"] .save-ratio`)
	w.WaitJS("the validation error", `return !document.getElementById("coll-error").classList.contains("hidden")`)
	if msg := w.Text("#coll-error"); !strings.Contains(msg, "BTC") {
		t.Errorf("validation message %q does not name BTC", msg)
	}
	w.Screenshot(shots, "30-collateral-rejected")
	w.Type(`tr[data-asset="BTC"] .new-ratio`, "0.9")
	w.Click(`tr[data-asset="BTC"] .save-ratio`)
	w.WaitJS("the new ratio", `return document.querySelector('tr[data-asset="BTC"] .ratio').textContent === "0.9"`)
	w.Screenshot(shots, "31-collateral-saved")

	// Alerts: the paper exchange refuses alpha's next order; stepping
	// btc-dca (alpha) now makes the executor raise an alert, which the
	// open page shows without a reload.
	w.Open(base + "/alerts")
	w.WaitJS("the live stream", `return document.getElementById("live").classList.contains("on")`)
	w.JS(`document.body.dataset.loaded = "once"; return true`, nil) // gone if the page reloads
	var sessions struct {
		Sessions []struct{ ID, Name string } `json:"sessions"`
	}
	n.do(t, "GET", "/api/v1/sessions", nil, nil, &sessions)
	dca := ""
	for _, s := range sessions.Sessions {
		if s.Name == "btc-dca" {
			dca = s.ID
		}
	}
	if dca == "" {
		t.Fatalf("no btc-dca session in %+v", sessions)
	}
	a.PaperFaults("alpha").Next(paper.OpPlace, paper.FaultInsufficientFunds)
	var stepped map[string]any
	code := n.do(t, "POST", "/api/v1/sessions/"+dca+"/trade", nil, nil, &stepped)
	if code != 409 {
		// A rejected step is a conflict with the world (the message names
		// the rejection), not a server error.
		t.Errorf("step btc-dca with an injected rejection: status %d, want 409", code)
	}
	w.WaitJS("the injected alert", `return [...document.querySelectorAll("#alerts tbody tr")].some(tr => tr.textContent.includes("insufficient balance"))`)
	var loaded string
	w.JS(`return document.body.dataset.loaded || ""`, &loaded)
	if loaded != "once" {
		t.Error("the alerts page reloaded to show the alert")
	}
	w.Screenshot(shots, "40-alert-live")
	// The live row can be acknowledged like a rendered one.
	w.Click(`#alerts tbody tr[data-alert] button.ack`)
	w.WaitJS("the acknowledgement", `return [...document.querySelectorAll("#alerts tbody tr[data-alert] .acked")].some(td => td.textContent === "acked")`)
	consoleErrors("alerts")
}
