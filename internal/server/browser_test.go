package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/server/servertest"
)

// The browser tests drive headless Chromium through chromedriver's W3C
// WebDriver HTTP API with the tiny client below (no module needed). They
// run when Chromium and chromedriver are installed: CI installs the Debian
// packages chromium and chromium-driver and sets
// TRADEPLANE_TEST_CHROMIUM=/usr/bin/chromium. Screenshots of every page go
// to $TRADEPLANE_ARTIFACTS (default: a new temporary directory, logged).

// webdriver is one WebDriver session.
type webdriver struct {
	t    *testing.T
	base string // http://127.0.0.1:PORT/session/ID
}

const elementKey = "element-6066-11e4-a52e-4f735466cecf"

func wdCall(method, url string, body any) (json.RawMessage, error) {
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var out struct {
		Value json.RawMessage `json:"value"`
	}
	raw, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("webdriver %s %s: %s", method, url, raw)
	}
	if res.StatusCode != 200 {
		return nil, fmt.Errorf("webdriver %s %s: %d %s", method, url, res.StatusCode, out.Value)
	}
	return out.Value, nil
}

func (w *webdriver) call(method, path string, body any) json.RawMessage {
	w.t.Helper()
	v, err := wdCall(method, w.base+path, body)
	if err != nil {
		w.t.Fatal(err)
	}
	return v
}

func (w *webdriver) open(url string) {
	w.t.Helper()
	w.call("POST", "/url", map[string]string{"url": url})
}

func (w *webdriver) find(css string) string {
	w.t.Helper()
	var el map[string]string
	if err := json.Unmarshal(w.call("POST", "/element", map[string]string{"using": "css selector", "value": css}), &el); err != nil {
		w.t.Fatal(err)
	}
	return el[elementKey]
}

func (w *webdriver) click(css string) {
	w.t.Helper()
	w.call("POST", "/element/"+w.find(css)+"/click", map[string]any{})
}

func (w *webdriver) typeInto(css, text string) {
	w.t.Helper()
	id := w.find(css)
	w.call("POST", "/element/"+id+"/clear", map[string]any{})
	w.call("POST", "/element/"+id+"/value", map[string]string{"text": text})
}

func (w *webdriver) text(css string) string {
	w.t.Helper()
	var s string
	_ = json.Unmarshal(w.call("GET", "/element/"+w.find(css)+"/text", nil), &s)
	return s
}

// js runs a script and decodes its result into out.
func (w *webdriver) js(script string, out any, args ...any) {
	w.t.Helper()
	if args == nil {
		args = []any{}
	}
	v := w.call("POST", "/execute/sync", map[string]any{"script": script, "args": args})
	if out != nil {
		if err := json.Unmarshal(v, out); err != nil {
			w.t.Fatalf("script result %s: %v", v, err)
		}
	}
}

// waitJS polls a boolean script until it is true or 15 s pass.
func (w *webdriver) waitJS(what, script string, args ...any) {
	w.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var ok bool
		w.js(script, &ok, args...)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var body string
			w.js("return document.body.innerText", &body)
			w.t.Fatalf("timed out waiting for %s; page text:\n%s", what, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (w *webdriver) screenshot(dir, name string) {
	w.t.Helper()
	var b64 string
	_ = json.Unmarshal(w.call("GET", "/screenshot", nil), &b64)
	png, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		w.t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startBrowser starts chromedriver and a headless Chromium session, or
// skips the test when they are not installed.
func startBrowser(t *testing.T) *webdriver {
	t.Helper()
	chromium := os.Getenv("TRADEPLANE_TEST_CHROMIUM")
	if chromium == "" {
		chromium, _ = exec.LookPath("chromium")
	}
	driver, derr := exec.LookPath("chromedriver")
	if chromium == "" || derr != nil {
		t.Skip("browser tests skipped: install chromium and chromium-driver (apt-get install -y chromium chromium-driver) and set TRADEPLANE_TEST_CHROMIUM=/usr/bin/chromium")
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("browser tests skipped: TRADEPLANE_TEST_CHROMIUM=%s: %v", chromium, err)
	}
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, driver, fmt.Sprintf("--port=%d", port))
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start chromedriver: %v", err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	root := fmt.Sprintf("http://127.0.0.1:%d", port)
	for i := 0; ; i++ {
		if _, err := wdCall("GET", root+"/status", nil); err == nil {
			break
		}
		if i > 100 {
			t.Fatal("chromedriver did not come up")
		}
		time.Sleep(50 * time.Millisecond)
	}
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{"binary": chromium, "args": []string{
			"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run",
			"--disable-component-update", "--disable-sync", "--user-data-dir=" + t.TempDir(), "--window-size=1366,1000",
		}},
	}}}
	v, err := wdCall("POST", root+"/session", caps)
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	var s struct {
		SessionID string `json:"sessionId"`
	}
	_ = json.Unmarshal(v, &s)
	w := &webdriver{t: t, base: root + "/session/" + s.SessionID}
	t.Cleanup(func() { _, _ = wdCall("DELETE", w.base, nil) })
	return w
}

func artifactsDir(t *testing.T) string {
	dir := os.Getenv("TRADEPLANE_ARTIFACTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "tradeplane-artifacts-"); err != nil {
			t.Fatal(err)
		}
	}
	dir = filepath.Join(dir, "browser")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

func TestBrowserDashboard(t *testing.T) {
	w := startBrowser(t)
	shots := artifactsDir(t)
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
	w.open(base + "/sessions")
	w.waitJS("the login form", `return !!document.getElementById("login-form")`)
	w.screenshot(shots, "00-login")

	// The one-time demo link logs in.
	w.open(loginURL)
	w.click("#login-submit")
	w.waitJS("the overview", `return document.body.dataset.page === "overview"`)

	pages := []struct{ path, page, h1 string }{
		{"/", "overview", "Overview"}, {"/accounts", "accounts", "Accounts and wallets"}, {"/sessions", "sessions", "Sessions"},
		{"/trade-all", "trade-all", "Trade All"}, {"/journal", "journal", "Journal"}, {"/pnl", "pnl", "PnL"},
		{"/collateral", "collateral", "Collateral ratios"}, {"/alerts", "alerts", "Alerts"},
	}
	for i, p := range pages {
		w.open(base + p.path)
		w.waitJS(p.page+" page", `return document.body.dataset.page === arguments[0] && document.readyState === "complete"`, p.page)
		if got := w.text("main h1"); got != p.h1 {
			t.Errorf("%s: h1 %q, want %q", p.path, got, p.h1)
		}
		switch p.page {
		case "overview":
			if v := w.text("#total-value"); v == "" || v == "0" {
				t.Errorf("overview total value %q", v)
			}
		case "accounts":
			if txt := w.text("#wallets"); !strings.Contains(txt, "BTC/USDT") || !strings.Contains(txt, "ETH/USDT") {
				t.Errorf("accounts page shows no price routes:\n%s", txt)
			}
		case "pnl":
			w.waitJS("both charts", `return [...document.querySelectorAll("img.chart")].every(i => i.complete && i.naturalWidth > 0)`)
		}
		if p.page != "pnl" && p.page != "trade-all" && p.page != "collateral" {
			w.waitJS("the live stream", `return document.getElementById("live").classList.contains("on")`)
		}
		w.screenshot(shots, fmt.Sprintf("%02d-%s", i+1, p.page))
	}

	// Sessions: start a stopped session from its row.
	w.open(base + "/sessions")
	w.click(`tr[data-session="s-0002"] button[data-cmd="start"]`)
	w.waitJS("s-0002 running", `return document.querySelector('tr[data-session="s-0002"] .state').textContent.startsWith("running")`)

	// Sessions: a bad allocation is refused with a message naming it; a
	// good form creates a running session, which is then deleted (forced,
	// since it runs) after confirmation.
	w.click("#new-session summary")
	w.typeInto("#ns-name", "dca-browser")
	w.typeInto("#ns-strategy", "dca")
	w.typeInto("#ns-symbols", "BTCUSDT, ETHUSDT")
	w.typeInto("#ns-allocation", "12x")
	w.typeInto("#ns-tags", "desk-c")
	w.typeInto("#ns-params", `{"every":"1h"}`)
	w.click("#ns-create")
	w.waitJS("the allocation error", `return document.getElementById("action-error").textContent.includes("allocation")`)
	w.typeInto("#ns-allocation", "500")
	w.click("#ns-create")
	w.waitJS("the new session", `return [...document.querySelectorAll("#sessions tr[data-session]")].some(tr => tr.textContent.includes("dca-browser") && tr.querySelector(".state").textContent.startsWith("running"))`)
	w.screenshot(shots, "10-session-created")
	var newID string
	w.js(`return [...document.querySelectorAll("#sessions tr[data-session]")].find(tr => tr.textContent.includes("dca-browser")).dataset.session`, &newID)
	row := `tr[data-session="` + newID + `"] `
	w.click(row + "button.del")
	w.waitJS("the delete confirmation", `return !document.querySelector(arguments[0] + ".del-confirm").classList.contains("hidden")`, row)
	w.click(row + "button.del-yes") // without force: refused, the session runs
	w.waitJS("the refusal", `return document.getElementById("action-error").textContent.includes("running")`)
	w.click(row + ".del-force")
	w.click(row + "button.del-yes")
	w.waitJS("the row to go", `return !document.querySelector(arguments[0])`, `tr[data-session="`+newID+`"]`)
	if _, err := env.Sessions.Session(context.Background(), newID); err == nil {
		t.Errorf("session %s still exists after delete", newID)
	}

	// Trade All by tag, with preview, confirmation, live progress, results.
	w.open(base + "/trade-all")
	w.click("#ta-preview")
	w.waitJS("the preview", `return !document.getElementById("ta-confirm").classList.contains("hidden")`)
	if n := w.text("#ta-count"); n != "4" {
		t.Errorf("preview of desk-a counts %s sessions, want 4", n)
	}
	w.screenshot(shots, "20-trade-all-preview")
	w.click("#ta-go")
	w.waitJS("progress", `return Number(document.getElementById("ta-done").textContent) >= 1 && document.getElementById("ta-state").textContent === "running"`)
	w.screenshot(shots, "21-trade-all-progress")
	w.waitJS("the run to finish", `return document.getElementById("ta-state").textContent === "done"`)
	var results struct {
		OK, Failed int
	}
	w.js(`return {OK: document.querySelectorAll("#ta-results tr.res-ok").length, Failed: document.querySelectorAll("#ta-results tr.res-failed").length}`, &results)
	if results.OK != 3 || results.Failed != 1 {
		t.Errorf("results %+v, want 3 ok and 1 failed", results)
	}
	w.screenshot(shots, "22-trade-all-results")

	// Collateral: 1.5 is refused with a message, 0.9 is applied.
	w.open(base + "/collateral")
	w.typeInto(`tr[data-asset="BTC"] .new-ratio`, "1.5")
	w.click(`tr[data-asset="BTC"] .save-ratio`)
	w.waitJS("the validation error", `return !document.getElementById("coll-error").classList.contains("hidden")`)
	if msg := w.text("#coll-error"); !strings.Contains(msg, "BTC") {
		t.Errorf("validation message %q does not name BTC", msg)
	}
	w.screenshot(shots, "30-collateral-rejected")
	w.typeInto(`tr[data-asset="BTC"] .new-ratio`, "0.9")
	w.click(`tr[data-asset="BTC"] .save-ratio`)
	w.waitJS("the new ratio", `return document.querySelector('tr[data-asset="BTC"] .ratio').textContent === "0.9"`)
	w.screenshot(shots, "31-collateral-saved")

	// Alerts: an injected fault appears live, without a reload.
	w.open(base + "/alerts")
	w.waitJS("the live stream", `return document.getElementById("live").classList.contains("on")`)
	if _, err := env.InjectFault(context.Background(), "binance: 418 banned until 12:00Z (injected)"); err != nil {
		t.Fatal(err)
	}
	w.waitJS("the injected alert", `return document.querySelector("#alerts tbody").textContent.includes("418 banned until")`)
	w.screenshot(shots, "40-alert-live")

	// Logging out ends the login.
	w.click("header .logout button")
	w.waitJS("the login form", `return !!document.getElementById("login-form")`)
	w.open(base + "/alerts")
	w.waitJS("a redirect to login", `return !!document.getElementById("login-form")`)
}
