package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/auth"
	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/server/servertest"
)

type bundle struct {
	env    *servertest.Env
	viewer string
	trader string
	admin  string
	logs   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func setup(t *testing.T, opts servertest.Options) *bundle {
	t.Helper()
	logs := &syncBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if opts.Step == 0 {
		opts.Step = 5 * time.Millisecond
	}
	env := servertest.New(t, opts)
	return &bundle{env: env, logs: logs,
		viewer: env.MustToken(t, auth.RoleViewer), trader: env.MustToken(t, auth.RoleTrader), admin: env.MustToken(t, auth.RoleAdmin)}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// do sends one request through the handler with an optional bearer token.
func (b *bundle) do(t *testing.T, method, path, token string, body any, hdr ...string) resp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	req.RemoteAddr = "192.0.2.10:5555"
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	b.env.Server.ServeHTTP(rec, req)
	return resp{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// checkError asserts the one error shape and status.
func checkError(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	var body struct {
		Error map[string]string `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("error body %s: %v", r.body, err)
	}
	if len(body.Error) != 2 || body.Error["code"] != code || body.Error["message"] == "" {
		t.Fatalf("error %v, want code %q and a message", body.Error, code)
	}
}

var paramRE = regexp.MustCompile(`\{([a-z]+)\}`)

func concrete(pattern string) string {
	return strings.ReplaceAll(paramRE.ReplaceAllString(pattern, "1"), "{$}", "")
}

func TestEveryRouteRefusesMissingBadAndLowCredentials(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{})
	tokens := map[auth.Role]string{auth.RoleViewer: b.viewer, auth.RoleTrader: b.trader, auth.RoleAdmin: b.admin}
	forged := "tp_0123456789abcdef_" + strings.Repeat("A", 43)
	for _, rt := range b.env.Server.Routes() {
		if rt.Kind == server.KindPublic {
			continue
		}
		path := concrete(rt.Pattern)
		if rt.Pattern == "/{$}" {
			path = "/"
		}
		t.Run(rt.Method+" "+rt.Pattern, func(t *testing.T) {
			for _, cred := range []struct{ name, token string }{{"none", ""}, {"malformed", "nope"}, {"forged", forged}} {
				r := b.do(t, rt.Method, path, cred.token, nil)
				if rt.Kind == server.KindPage {
					if cred.token == "" && (r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login")) {
						t.Errorf("%s credentials: status %d location %q, want a redirect to /login", cred.name, r.status, r.header.Get("Location"))
					}
					if cred.token != "" && r.status != http.StatusSeeOther {
						t.Errorf("%s token: status %d, want 303", cred.name, r.status)
					}
					continue
				}
				if r.status != http.StatusUnauthorized {
					t.Errorf("%s credentials: status %d, want 401", cred.name, r.status)
					continue
				}
				checkError(t, r, http.StatusUnauthorized, "unauthenticated")
			}
			if rt.Role > auth.RoleViewer {
				low := tokens[rt.Role-1]
				r := b.do(t, rt.Method, path, low, nil)
				checkError(t, r, http.StatusForbidden, "forbidden")
			}
		})
	}
}

func TestPublicRoutesNeedNoCredentials(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{})
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/login", "/static/app.js", "/static/app.css"} {
		if r := b.do(t, "GET", p, "", nil); r.status != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200", p, r.status)
		}
	}
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{})
	r := b.do(t, "GET", "/api/v1/openapi.json", b.viewer, nil)
	if r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for m, op := range ops {
			documented[strings.ToUpper(m)+" "+path] = true
			// Every path parameter is declared.
			for _, p := range paramRE.FindAllStringSubmatch(path, -1) {
				found := false
				params, _ := op["parameters"].([]any)
				for _, x := range params {
					if pm, _ := x.(map[string]any); pm["name"] == p[1] && pm["in"] == "path" {
						found = true
					}
				}
				if !found {
					t.Errorf("%s %s: path parameter %q not declared", m, path, p[1])
				}
			}
		}
	}
	routed := map[string]bool{}
	for _, rt := range b.env.Server.Routes() {
		if strings.HasPrefix(rt.Pattern, "/api/") {
			routed[rt.Method+" "+rt.Pattern] = true
		}
	}
	for k := range routed {
		if !documented[k] {
			t.Errorf("route %s is not in the OpenAPI document", k)
		}
	}
	for k := range documented {
		if !routed[k] {
			t.Errorf("OpenAPI documents %s, which is not routed", k)
		}
	}
}

func TestErrorShape(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{})
	checkError(t, b.do(t, "GET", "/api/v1/sessions/nosuch", b.viewer, nil), 404, "not_found")
	checkError(t, b.do(t, "GET", "/api/v1/no/such/route", b.viewer, nil), 404, "not_found")
	checkError(t, b.do(t, "POST", "/api/v1/sessions/s-0001/start", b.trader, nil), 409, "conflict")
	checkError(t, b.do(t, "PATCH", "/api/v1/sessions/s-0001/params", b.trader, []int{1}), 400, "invalid")
	checkError(t, b.do(t, "POST", "/api/v1/trade-all", b.trader, map[string]any{"tag": "desk-a"}), 400, "invalid") // no Idempotency-Key
	checkError(t, b.do(t, "POST", "/api/v1/trade-all/preview", b.trader, map[string]any{"bogus": 1}), 400, "invalid")
	checkError(t, b.do(t, "GET", "/api/v1/pnl?interval=5m", b.viewer, nil), 400, "invalid")
	checkError(t, b.do(t, "GET", "/api/v1/jobs/nosuch", b.viewer, nil), 404, "not_found")
	checkError(t, b.do(t, "POST", "/api/v1/alerts/999/ack", b.trader, nil), 404, "not_found")
	big := map[string]string{"ratio": strings.Repeat("9", 2<<20)}
	checkError(t, b.do(t, "PUT", "/api/v1/collateral/BTC", b.admin, big), 413, "too_large")
}

func TestCollateralValidation(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{})
	r := b.do(t, "PUT", "/api/v1/collateral/BTC", b.admin, map[string]string{"ratio": "1.5"})
	checkError(t, r, 400, "invalid")
	if !strings.Contains(string(r.body), "BTC") {
		t.Errorf("validation message does not name the asset: %s", r.body)
	}
	r = b.do(t, "PUT", "/api/v1/collateral/btc", b.admin, map[string]string{"ratio": "0.8"})
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	r = b.do(t, "GET", "/api/v1/collateral", b.viewer, nil)
	if !strings.Contains(string(r.body), `"asset":"BTC","ratio":"0.8","source":"global"`) {
		t.Errorf("ratio not applied: %s", r.body)
	}
}

func TestPagination(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{Accounts: 7, Sessions: 9, JournalEvents: 23})
	walk := func(path, key string, limit int) []string {
		var ids []string
		cursor := ""
		for range 100 {
			u := path + "?limit=" + string(rune('0'+limit))
			if cursor != "" {
				u += "&cursor=" + url.QueryEscape(cursor)
			}
			r := b.do(t, "GET", u, b.admin, nil)
			if r.status != 200 {
				t.Fatalf("GET %s: %d %s", u, r.status, r.body)
			}
			m := r.json(t)
			items, _ := m[key].([]any)
			if len(items) > limit {
				t.Fatalf("GET %s: %d items over limit %d", u, len(items), limit)
			}
			for _, it := range items {
				o := it.(map[string]any)
				id, _ := json.Marshal(firstOf(o, "id", "seq"))
				ids = append(ids, string(id))
			}
			next, ok := m["next_cursor"].(string)
			if !ok {
				t.Fatalf("GET %s: no next_cursor", u)
			}
			if next == "" {
				return ids
			}
			cursor = next
		}
		t.Fatalf("pagination of %s never ended", path)
		return nil
	}
	for _, c := range []struct {
		path, key string
		want      int
	}{{"/api/v1/accounts", "accounts", 7}, {"/api/v1/sessions", "sessions", 9}, {"/api/v1/journal", "events", 23}, {"/api/v1/portfolio", "accounts", 7}} {
		ids := walk(c.path, c.key, 3)
		if len(ids) != c.want {
			t.Errorf("%s: walked %d items, want %d", c.path, len(ids), c.want)
		}
		s := slices.Clone(ids)
		slices.Sort(s)
		if len(slices.Compact(s)) != len(ids) {
			t.Errorf("%s: duplicates across pages: %v", c.path, ids)
		}
	}
	checkError(t, b.do(t, "GET", "/api/v1/journal?limit=0", b.viewer, nil), 400, "invalid")
	checkError(t, b.do(t, "GET", "/api/v1/journal?limit=5000", b.viewer, nil), 400, "invalid")
	checkError(t, b.do(t, "GET", "/api/v1/alerts?cursor=!!", b.viewer, nil), 400, "invalid")
}

func firstOf(m map[string]any, keys ...string) any {
	for _, k := range keys {
		if v, ok := m[k]; ok {
			return v
		}
	}
	return nil
}

// login logs in through the form and returns a client with the cookie and
// the page's CSRF token.
func login(t *testing.T, base, token string) (*http.Client, string) {
	t.Helper()
	jar := newJar()
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if csrf == nil {
		t.Fatalf("no csrf field in login page")
	}
	res, err = c.PostForm(base+"/login", url.Values{"csrf": {string(csrf[1])}, "token": {token}, "next": {"/sessions"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/sessions" {
		t.Fatalf("login: status %d location %q", res.StatusCode, res.Header.Get("Location"))
	}
	for _, ck := range res.Cookies() {
		if ck.Name == "tp_session" && (!ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode) {
			t.Errorf("session cookie %+v: want HttpOnly and SameSite=Strict", ck)
		}
	}
	res, err = c.Get(base + "/sessions")
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(res.Body)
	res.Body.Close()
	m := regexp.MustCompile(`<meta name="csrf" content="([^"]+)">`).FindSubmatch(page)
	if res.StatusCode != 200 || m == nil {
		t.Fatalf("sessions page: status %d, csrf meta %v", res.StatusCode, m != nil)
	}
	return c, string(m[1])
}

func TestCSRFRefusedWithoutToken(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{})
	ts := httptest.NewServer(b.env.Server)
	t.Cleanup(ts.Close)
	c, csrf := login(t, ts.URL, b.trader)
	post := func(hdr string) *http.Response {
		req, _ := http.NewRequest("POST", ts.URL+"/api/v1/sessions/s-0002/start", nil)
		if hdr != "" {
			req.Header.Set("X-CSRF-Token", hdr)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for _, bad := range []string{"", "wrong", csrf + "x"} {
		res := post(bad)
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		checkError(t, resp{status: res.StatusCode, body: raw}, 403, "csrf")
	}
	res := post(csrf)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("with CSRF token: status %d", res.StatusCode)
	}
	// Logging out needs the token too.
	res, _ = c.PostForm(ts.URL+"/logout", url.Values{})
	res.Body.Close()
	if res.StatusCode != 403 {
		t.Errorf("logout without csrf: status %d, want 403", res.StatusCode)
	}
}

func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{})
	ts := httptest.NewServer(b.env.Server)
	t.Cleanup(ts.Close)
	c := &http.Client{Jar: newJar(), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, _ := c.Get(ts.URL + "/login")
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	csrf := string(regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)[1])
	try := func(tok string) int {
		res, err := c.PostForm(ts.URL+"/login", url.Values{"csrf": {csrf}, "token": {tok}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for i := range 5 {
		if got := try("tp_wrong"); got != http.StatusUnauthorized {
			t.Fatalf("attempt %d: status %d, want 401", i+1, got)
		}
	}
	if got := try(b.admin); got != http.StatusTooManyRequests {
		t.Fatalf("6th attempt with a good token: status %d, want 429", got)
	}
	// The API with a bearer token is not affected.
	if r := b.do(t, "GET", "/api/v1/me", b.admin, nil); r.status != 200 {
		t.Errorf("API after login lockout: %d", r.status)
	}
}

func TestPlantedSecretNeverLeaves(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{})
	const key, secret = "PLANTEDKEY-7f3a9c", "PLANTEDSECRET-d41d8cd98f00b204"
	var bodies []string
	r := b.do(t, "POST", "/api/v1/accounts", b.admin, map[string]any{"name": "delta", "venue": "binance", "api_key": key, "api_secret": secret})
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	bodies = append(bodies, string(r.body))
	r = b.do(t, "POST", "/api/v1/accounts", b.admin, map[string]any{"name": "explode", "venue": "binance", "api_key": key, "api_secret": secret})
	if r.status != 500 {
		t.Fatalf("explode: %d %s", r.status, r.body)
	}
	bodies = append(bodies, string(r.body))
	// Unknown fields and bad JSON must not echo values either.
	r = b.do(t, "POST", "/api/v1/accounts", b.admin, map[string]any{"name": "x", "venue": "binance", "api_secret": secret, "secret_again": secret})
	bodies = append(bodies, string(r.body))
	for _, p := range []string{"/api/v1/accounts", "/api/v1/audit", "/api/v1/portfolio", "/accounts", "/api/v1/tokens"} {
		bodies = append(bodies, string(b.do(t, "GET", p, b.admin, nil).body))
	}
	all := strings.Join(bodies, "\n") + b.logs.String()
	for _, s := range []string{key, secret} {
		if strings.Contains(all, s) {
			t.Errorf("%q leaked into a response or the logs", s)
		}
	}
	if !strings.Contains(b.logs.String(), "[redacted]") {
		t.Errorf("the failing adapter's error was not logged redacted: %s", b.logs.String())
	}
}

func TestAuditEveryStateChange(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{})
	b.do(t, "POST", "/api/v1/sessions/s-0002/start", b.trader, nil)
	b.do(t, "PUT", "/api/v1/collateral/ETH", b.admin, map[string]string{"ratio": "0.9"})
	b.do(t, "POST", "/api/v1/sessions/s-0001/start", b.trader, nil) // refused: audited too
	entries, err := b.env.DB.AuditLog(context.Background(), 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("%d audit entries, want 3: %+v", len(entries), entries)
	}
	e := entries[2]
	if e.Action != "POST /api/v1/sessions/{id}/start" || e.Target != "session:s-0002" || e.Remote != "192.0.2.10" || !strings.HasPrefix(e.Actor, "token:") || e.At.IsZero() {
		t.Errorf("entry %+v", e)
	}
	if !strings.Contains(entries[0].Detail, "Conflict") {
		t.Errorf("refused action's entry %+v does not say it was refused", entries[0])
	}
}

func TestTradeAllIdempotentWithProgress(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{Sessions: 6})
	ts := httptest.NewServer(b.env.Server)
	t.Cleanup(ts.Close)
	r := b.do(t, "POST", "/api/v1/trade-all", b.trader, map[string]any{"tag": "desk-a"}, "Idempotency-Key", "k1")
	if r.status != 202 {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)
	again := b.do(t, "POST", "/api/v1/trade-all", b.trader, map[string]any{"tag": "desk-a"}, "Idempotency-Key", "k1")
	if again.status != 200 || again.json(t)["id"] != id {
		t.Fatalf("replay: %d %s", again.status, again.body)
	}
	checkError(t, b.do(t, "POST", "/api/v1/trade-all", b.trader, map[string]any{"tag": "desk-b"}, "Idempotency-Key", "k1"), 409, "conflict")
	// Follow the stream to the end.
	req, _ := http.NewRequest("GET", ts.URL+"/api/v1/trade-all/"+id+"/stream", nil)
	req.Header.Set("Authorization", "Bearer "+b.viewer)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	var last map[string]any
	events := 0
	dec := newSSEReader(res.Body)
	for {
		ev, data, err := dec.next()
		if err != nil {
			t.Fatalf("stream ended before the run did (%d events): %v", events, err)
		}
		if ev != "trade-all" {
			continue
		}
		events++
		last = nil
		_ = json.Unmarshal([]byte(data), &last)
		if last["state"] != "running" {
			break
		}
	}
	// At least the final event: the stream opens while the fake's steps
	// are already under way, so how many progress events it sees before
	// the end depends on the machine's load.
	if last["state"] != "done" || last["failed"].(float64) != 1 || events < 1 {
		t.Fatalf("final %v after %d events", last, events)
	}
	alerts := b.do(t, "GET", "/api/v1/alerts", b.viewer, nil).json(t)["alerts"].([]any)
	if len(alerts) != 1 {
		t.Errorf("%d alerts after a faulty step, want 1", len(alerts))
	}
}
