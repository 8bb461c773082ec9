package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// The API refuses what the command line refuses (one validation): file://
// and javascript: base URLs, binance without credentials, names with '/'
// or of 100k characters; and a session's symbols must be ones its
// account's venue lists (unknown and full-width look-alikes are refused),
// with lengths, counts, params and allocation capped.
func TestAPIRefusesBadAccountsAndSessions(t *testing.T) {
	t.Parallel()
	n := startNode(t, app.Config{DBURL: storetest.SQLiteURL(t), Demo: true, DataDir: app.DefaultDataDir()})
	long := strings.Repeat("x", 100_000)
	for _, body := range []map[string]any{
		{"name": "a1", "venue": "paper", "base_url": "file:///etc/passwd"},
		{"name": "a2", "venue": "paper", "base_url": "javascript:alert(1)"},
		{"name": "a3", "venue": "binance"},
		{"name": "a/b", "venue": "paper"},
		{"name": long, "venue": "paper"},
		{"name": "a4", "venue": "paper", "tags": []string{long}},
		{"name": "a5", "venue": "paper", "tags": make([]string, 10_000)},
	} {
		if st := n.do(t, "POST", "/api/v1/accounts", body, nil, nil); st != http.StatusBadRequest {
			t.Errorf("account %.60q (base_url %q): status %d, want 400", body["name"], body["base_url"], st)
		}
	}
	account := "alpha" // a demo account
	ok := map[string]any{"strategy": "dca", "account": account, "symbols": []string{"BTCUSDT"}, "allocation": "100",
		"params": map[string]any{"symbol": "BTCUSDT", "quote_amount": "10", "interval": "1h"}}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range ok {
			m[kk] = vv
		}
		m[k] = v
		return m
	}
	for name, body := range map[string]map[string]any{
		"unknown symbol":    with("symbols", []string{"NOPEUSDT"}),
		"full-width symbol": with("symbols", []string{"ＢＴＣＵＳＤＴ"}),
		"long name":         with("name", long),
		"10k tags":          with("tags", make([]string, 10_000)),
		"negative price":    with("params", map[string]any{"symbol": "BTCUSDT", "quote_amount": "10", "interval": "1h", "max_price": "-5"}),
		"allocation 1e41":   with("allocation", "100000000000000000000000000000000000000000"),
		"1ns interval":      with("params", map[string]any{"symbol": "BTCUSDT", "quote_amount": "10", "interval": "1ns"}),
	} {
		if st := n.do(t, "POST", "/api/v1/sessions", body, nil, nil); st != http.StatusBadRequest {
			t.Errorf("session with %s: status %d, want 400", name, st)
		}
	}
	if st := n.do(t, "POST", "/api/v1/sessions", ok, nil, nil); st != http.StatusCreated {
		t.Errorf("a good session: status %d, want 201", st)
	}
}

// Behind a TLS-terminating proxy (--public-url https://...) the login
// cookies are Secure; they were Secure only with --tls-cert.
func TestPublicHTTPSURLMakesCookiesSecure(t *testing.T) {
	t.Parallel()
	n := startNode(t, app.Config{DBURL: storetest.SQLiteURL(t), PublicURL: "https://desk.example.com"})
	res, err := http.Get(n.url + "/login")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if len(res.Cookies()) == 0 {
		t.Fatal("login page set no cookie")
	}
	for _, c := range res.Cookies() {
		if !c.Secure {
			t.Errorf("cookie %s is not Secure", c.Name)
		}
	}
}
