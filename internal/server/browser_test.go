package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/server/servertest"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/webdriver"
)

// TestBrowserDashboard drives headless Chromium (package webdriver) through
// every page against the fake services of servertest. It runs when Chromium
// and chromedriver are installed; screenshots of every page go to
// $TRADEPLANE_ARTIFACTS/browser (default: a new temporary directory,
// logged).
func TestBrowserDashboard(t *testing.T) {
	w := webdriver.Start(t)
	shots := webdriver.ArtifactsDir(t, "browser")
	env := servertest.New(t, servertest.Options{Accounts: 3, Sessions: 6, Step: 300 * time.Millisecond})
	base, err := env.Serve()
	if err != nil {
		t.Fatal(err)
	}
	loginURL, _, err := env.Server.DemoLogin(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}

	// Unauthenticated: the dashboard sends us to the login form.
	w.Open(base + "/sessions")
	w.WaitJS("the login form", `return !!document.getElementById("login-form")`)
	w.Screenshot(shots, "00-login")

	// The one-time demo link logs in.
	w.Open(loginURL)
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
		switch p.page {
		case "overview":
			if v := w.Text("#total-value"); v == "" || v == "0" {
				t.Errorf("overview total value %q", v)
			}
		case "accounts":
			if txt := w.Text("#wallets"); !strings.Contains(txt, "BTC/USDT") || !strings.Contains(txt, "ETH/USDT") {
				t.Errorf("accounts page shows no price routes:\n%s", txt)
			}
		case "pnl":
			w.WaitJS("both charts", `return document.querySelectorAll("div.chart svg").length === 2`)
			// Live: a price tick (a portfolio change over SSE) refreshes the
			// totals and redraws the charts, without a reload.
			w.WaitJS("the live stream", `return document.getElementById("live").classList.contains("on")`)
			w.JS(`window.__sameDoc = true; return true`, nil)
			if err := env.Portfolio.Tick(venue.PriceTick{Symbol: "BTCUSDT", Price: udecimal.MustParse("30123.45"), Time: time.Now()}); err != nil {
				t.Fatal(err)
			}
			w.WaitJS("the PnL page refreshed live", `return !!document.body.dataset.pnlRefreshed && window.__sameDoc === true &&
				[...document.querySelectorAll("div.chart[data-src]")].every(d => d.dataset.drawn === document.body.dataset.pnlRefreshed && !!d.querySelector("svg"))`)
		}
		if p.page != "trade-all" && p.page != "collateral" {
			w.WaitJS("the live stream", `return document.getElementById("live").classList.contains("on")`)
		}
		w.Screenshot(shots, fmt.Sprintf("%02d-%s", i+1, p.page))
	}

	// Sessions: start a stopped session from its row.
	w.Open(base + "/sessions")
	w.Click(`tr[data-session="s-0002"] button[data-cmd="start"]`)
	w.WaitJS("s-0002 running", `return document.querySelector('tr[data-session="s-0002"] .state').textContent.startsWith("running")`)

	// Sessions: a bad allocation is refused with a message naming it; a
	// good form creates a running session, which is then deleted (forced,
	// since it runs) after confirmation.
	w.Click("#new-session summary")
	w.Type("#ns-name", "dca-browser")
	w.Type("#ns-strategy", "dca")
	w.Type("#ns-symbols", "BTCUSDT, ETHUSDT")
	w.Type("#ns-allocation", "12x")
	w.Type("#ns-tags", "desk-c")
	w.Type("#ns-params", `{"every":"1h"}`)
	w.Click("#ns-create")
	w.WaitJS("the allocation error", `return document.getElementById("action-error").textContent.includes("allocation")`)
	w.Type("#ns-allocation", "500")
	w.Click("#ns-create")
	w.WaitJS("the new session", `return [...document.querySelectorAll("#sessions tr[data-session]")].some(tr => tr.textContent.includes("dca-browser") && tr.querySelector(".state").textContent.startsWith("running"))`)
	w.Screenshot(shots, "10-session-created")
	var newID string
	w.JS(`return [...document.querySelectorAll("#sessions tr[data-session]")].find(tr => tr.textContent.includes("dca-browser")).dataset.session`, &newID)
	row := `tr[data-session="` + newID + `"] `
	w.Click(row + "button.del")
	w.WaitJS("the delete confirmation", `return !document.querySelector(arguments[0] + ".del-confirm").classList.contains("hidden")`, row)
	w.Click(row + "button.del-yes") // without force: refused, the session runs
	w.WaitJS("the refusal", `return document.getElementById("action-error").textContent.includes("running")`)
	w.Click(row + ".del-force")
	w.Click(row + "button.del-yes")
	w.WaitJS("the row to go", `return !document.querySelector(arguments[0])`, `tr[data-session="`+newID+`"]`)
	if _, err := env.Sessions.Session(context.Background(), newID); err == nil {
		t.Errorf("session %s still exists after delete", newID)
	}

	// Trade All by tag, with preview, confirmation, live progress, results.
	w.Open(base + "/trade-all")
	w.Click("#ta-preview")
	w.WaitJS("the preview", `return !document.getElementById("ta-confirm").classList.contains("hidden")`)
	if n := w.Text("#ta-count"); n != "4" {
		t.Errorf("preview of desk-a counts %s sessions, want 4", n)
	}
	w.Screenshot(shots, "20-trade-all-preview")
	w.Click("#ta-go")
	// Progress counts up live; on a loaded machine the run may already be
	// done by the time the poll looks, which is progress too.
	w.WaitJS("progress", `return Number(document.getElementById("ta-done").textContent) >= 1 && ["running", "done"].includes(document.getElementById("ta-state").textContent)`)
	w.Screenshot(shots, "21-trade-all-progress")
	w.WaitJS("the run to finish", `return document.getElementById("ta-state").textContent === "done"`)
	var results struct {
		OK, Failed int
	}
	w.JS(`return {OK: document.querySelectorAll("#ta-results tr.res-ok").length, Failed: document.querySelectorAll("#ta-results tr.res-failed").length}`, &results)
	if results.OK != 3 || results.Failed != 1 {
		t.Errorf("results %+v, want 3 ok and 1 failed", results)
	}
	w.Screenshot(shots, "22-trade-all-results")

	// Collateral: 1.5 is refused with a message, 0.9 is applied.
	w.Open(base + "/collateral")
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

	// Alerts: an injected fault appears live, without a reload.
	w.Open(base + "/alerts")
	w.WaitJS("the live stream", `return document.getElementById("live").classList.contains("on")`)
	if _, err := env.InjectFault(context.Background(), "binance: 418 banned until 12:00Z (injected)"); err != nil {
		t.Fatal(err)
	}
	w.WaitJS("the injected alert", `return document.querySelector("#alerts tbody").textContent.includes("418 banned until")`)
	w.Screenshot(shots, "40-alert-live")

	// Logging out ends the login.
	w.Click("header .logout button")
	w.WaitJS("the login form", `return !!document.getElementById("login-form")`)
	w.Open(base + "/alerts")
	w.WaitJS("a redirect to login", `return !!document.getElementById("login-form")`)
}
