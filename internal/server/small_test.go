package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/server/servertest"
)

// /metrics can require a token (off by default for compatibility).
func TestMetricsToken(t *testing.T) {
	t.Parallel()
	open := setup(t, servertest.Options{})
	if r := open.do(t, "GET", "/metrics", "", nil); r.status != http.StatusOK {
		t.Errorf("metrics without a token configured: %d", r.status)
	}
	const tok = "0123456789abcdef0123456789abcdef"
	b := setup(t, servertest.Options{Config: server.Config{MetricsToken: tok}})
	for _, c := range []struct {
		auth string
		want int
	}{{"", 401}, {"Bearer wrong", 401}, {"Bearer " + b.admin, 401}, {"Bearer " + tok, 200}} {
		r := b.do(t, "GET", "/metrics", "", nil, "Authorization", c.auth)
		if r.status != c.want {
			t.Errorf("metrics with %q: %d, want %d", c.auth, r.status, c.want)
		}
	}
}

// PUT collateral with an empty ratio is a 400 (it removed the override
// silently); "default" removes it.
func TestCollateralEmptyRatio(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{})
	r := b.do(t, "PUT", "/api/v1/collateral/BTC", b.admin, map[string]string{"ratio": "0.9"})
	if r.status != http.StatusOK {
		t.Fatalf("set: %d %s", r.status, r.body)
	}
	for _, empty := range []string{"", "  "} {
		r = b.do(t, "PUT", "/api/v1/collateral/BTC", b.admin, map[string]string{"ratio": empty})
		checkError(t, r, http.StatusBadRequest, "invalid")
		if !strings.Contains(string(r.body), "ratio") {
			t.Errorf("message does not name ratio: %s", r.body)
		}
	}
	if r = b.do(t, "PUT", "/api/v1/collateral/BTC", b.admin, map[string]string{"ratio": "default"}); r.status != http.StatusOK {
		t.Errorf("default: %d %s", r.status, r.body)
	}
}

// A body of the wrong JSON kind is named by field and JSON kind, never by
// Go type ([]string, udecimal.Decimal, server.sessionSpecBody).
func TestErrorsNameFieldsNotGoTypes(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{})
	for _, c := range []struct {
		path string
		body any
		want string
	}{
		{"/api/v1/sessions", map[string]any{"strategy": "dca", "symbols": "BTCUSDT"}, `field "symbols" must be an array`},
		{"/api/v1/sessions", map[string]any{"strategy": "dca", "allocation": 5}, `field "allocation" must be a string`},
		{"/api/v1/sessions", map[string]any{"strategy": "dca", "start": "yes"}, `field "start" must be true or false`},
		{"/api/v1/sessions", []int{1}, `the body must be an object`},
	} {
		r := b.do(t, "POST", c.path, b.trader, c.body)
		checkError(t, r, http.StatusBadRequest, "invalid")
		msg := r.json(t)["error"].(map[string]any)["message"].(string)
		if !strings.Contains(msg, c.want) || strings.ContainsAny(msg, "[]") || strings.Contains(msg, "server.") {
			t.Errorf("%v: message %q, want it to contain %q and no Go type", c.body, msg, c.want)
		}
	}
}
