// Package webdriver is a minimal W3C WebDriver client for tradeplane's
// browser tests. Start launches chromedriver and a headless Chromium
// (--headless --no-sandbox --disable-gpu --disable-background-networking
// --disable-quic --no-first-run --disable-component-update --disable-sync,
// with a fresh --user-data-dir) and returns one WebDriver session that the
// test drives with CSS selectors and small scripts; Screenshot writes PNGs
// into ArtifactsDir.
//
// It owns nothing but the browser process and its session: it knows no
// tradeplane page. Tests that use it are skipped, with an install hint,
// where Chromium or chromedriver is missing. CI installs the Debian packages
// chromium and chromium-driver and sets TRADEPLANE_TEST_CHROMIUM and
// TRADEPLANE_ARTIFACTS; these two variables are the only configuration, read
// here because this package exists only for tests.
package webdriver

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
	"testing"
	"time"
)

// The window is a laptop's screen.
const windowWidth, windowHeight = 1366, 1000

// DefaultWait is how long WaitJS polls before it fails the test.
const DefaultWait = 15 * time.Second

// elementKey is the W3C name of an element reference in a JSON result.
const elementKey = "element-6066-11e4-a52e-4f735466cecf"

// client talks to chromedriver; no call waits longer than a minute.
var client = &http.Client{Timeout: time.Minute}

// Browser is one WebDriver session in a headless Chromium. Its methods fail
// the test on any WebDriver error; it is not safe for concurrent use.
type Browser struct {
	t    testing.TB
	base string // http://127.0.0.1:PORT/session/ID
}

// call sends one WebDriver command and returns its "value".
func call(method, url string, body any) (json.RawMessage, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("webdriver %s %s: encode body: %w", method, url, err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("webdriver %s %s: read reply: %w", method, url, err)
	}
	var out struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("webdriver %s %s: %s", method, url, raw)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("webdriver %s %s: %d %s", method, url, res.StatusCode, out.Value)
	}
	return out.Value, nil
}

// Start launches chromedriver and a headless Chromium with a window of
// 1366×1000 px and returns its session; both stop when the test ends. It skips
// the test when Chromium (TRADEPLANE_TEST_CHROMIUM, else chromium on PATH)
// or chromedriver (on PATH) is missing.
func Start(t testing.TB) *Browser {
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
		if _, err := call("GET", root+"/status", nil); err == nil {
			break
		}
		if i > 200 {
			t.Fatal("chromedriver did not come up within 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName":       "chrome",
		"goog:loggingPrefs": map[string]string{"browser": "ALL"},
		"goog:chromeOptions": map[string]any{"binary": chromium, "args": []string{
			"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run",
			"--disable-component-update", "--disable-sync", "--user-data-dir=" + t.TempDir(), fmt.Sprintf("--window-size=%d,%d", windowWidth, windowHeight),
		}},
	}}}
	v, err := call("POST", root+"/session", caps)
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	var s struct {
		SessionID string `json:"sessionId"`
	}
	if err := json.Unmarshal(v, &s); err != nil || s.SessionID == "" {
		t.Fatalf("start chromium: no session in %s", v)
	}
	b := &Browser{t: t, base: root + "/session/" + s.SessionID}
	t.Cleanup(func() { _, _ = call("DELETE", b.base, nil) })
	return b
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Call sends a WebDriver command relative to the session (path "/url",
// "/element", …) and returns its value.
func (b *Browser) Call(method, path string, body any) json.RawMessage {
	b.t.Helper()
	v, err := call(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

// Open navigates to url and waits for the page to load.
func (b *Browser) Open(url string) {
	b.t.Helper()
	b.Call("POST", "/url", map[string]string{"url": url})
}

// Find returns the reference of the first element matching css.
func (b *Browser) Find(css string) string {
	b.t.Helper()
	var el map[string]string
	if err := json.Unmarshal(b.Call("POST", "/element", map[string]string{"using": "css selector", "value": css}), &el); err != nil {
		b.t.Fatalf("find %q: %v", css, err)
	}
	return el[elementKey]
}

// Click clicks the first element matching css.
func (b *Browser) Click(css string) {
	b.t.Helper()
	b.Call("POST", "/element/"+b.Find(css)+"/click", map[string]any{})
}

// Type clears the first input matching css and types text into it.
func (b *Browser) Type(css, text string) {
	b.t.Helper()
	id := b.Find(css)
	b.Call("POST", "/element/"+id+"/clear", map[string]any{})
	b.Call("POST", "/element/"+id+"/value", map[string]string{"text": text})
}

// Text returns the rendered text of the first element matching css.
func (b *Browser) Text(css string) string {
	b.t.Helper()
	var s string
	if err := json.Unmarshal(b.Call("GET", "/element/"+b.Find(css)+"/text", nil), &s); err != nil {
		b.t.Fatalf("text of %q: %v", css, err)
	}
	return s
}

// JS runs script (a function body; arguments in `arguments`) and decodes
// its result into out unless out is nil.
func (b *Browser) JS(script string, out any, args ...any) {
	b.t.Helper()
	if args == nil {
		args = []any{}
	}
	v := b.Call("POST", "/execute/sync", map[string]any{"script": script, "args": args})
	if out != nil {
		if err := json.Unmarshal(v, out); err != nil {
			b.t.Fatalf("script result %s: %v", v, err)
		}
	}
}

// WaitJS polls a script returning a boolean until it is true, failing the
// test with the page's text after DefaultWait.
func (b *Browser) WaitJS(what, script string, args ...any) {
	b.t.Helper()
	b.WaitJSFor(DefaultWait, what, script, args...)
}

// WaitJSFor is WaitJS with its own limit.
func (b *Browser) WaitJSFor(within time.Duration, what, script string, args ...any) {
	b.t.Helper()
	deadline := time.Now().Add(within)
	for {
		var ok bool
		b.JS(script, &ok, args...)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var body string
			b.JS("return document.body.innerText", &body)
			b.t.Fatalf("timed out after %s waiting for %s; page text:\n%s", within, what, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// LogEntry is one message of the browser's console.
type LogEntry struct {
	Level   string `json:"level"` // "SEVERE" for errors
	Message string `json:"message"`
}

// Logs returns, and clears, the console messages the browser logged since
// the last call (uncaught script errors, failed loads, console.error).
func (b *Browser) Logs() []LogEntry {
	b.t.Helper()
	var out []LogEntry
	if err := json.Unmarshal(b.Call("POST", "/se/log", map[string]string{"type": "browser"}), &out); err != nil {
		b.t.Fatalf("browser log: %v", err)
	}
	return out
}

// Screenshot writes the whole page as dir/name.png: the window grows to
// the page's height (at most 6000 px) for the shot and shrinks back.
func (b *Browser) Screenshot(dir, name string) {
	b.t.Helper()
	var h int // the window height that shows the whole page
	b.JS("return Math.min(6000, Math.max(document.documentElement.scrollHeight, document.body.scrollHeight) + window.outerHeight - window.innerHeight)", &h)
	if h > windowHeight {
		b.Call("POST", "/window/rect", map[string]int{"width": windowWidth, "height": h})
		defer b.Call("POST", "/window/rect", map[string]int{"width": windowWidth, "height": windowHeight})
	}
	var b64 string
	if err := json.Unmarshal(b.Call("GET", "/screenshot", nil), &b64); err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	png, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// ArtifactsDir returns $TRADEPLANE_ARTIFACTS/name (default: name in a new
// temporary directory that outlives the test, so the screenshots can be
// looked at), created, and logs where it is.
func ArtifactsDir(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("TRADEPLANE_ARTIFACTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "tradeplane-artifacts-"); err != nil {
			t.Fatal(err)
		}
	}
	dir = filepath.Join(dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}
