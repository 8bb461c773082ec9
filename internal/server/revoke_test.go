package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/server/servertest"
)

// A dashboard login ends when its token is revoked by another process (the
// CLI, another node): the revoke goes straight to the store, the login
// reads, previews and acts until the token cache's TTL passes, and after it
// nothing it sends works or is written to the audit log under the token.
func TestRevokeEndsLoginsMadeElsewhere(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Now())
	ttl := 10 * time.Second
	b := setup(t, servertest.Options{Config: server.Config{Clock: clk, TokenCacheTTL: ttl}})
	ts := httptest.NewServer(b.env.Server)
	t.Cleanup(ts.Close)
	c, csrf := login(t, ts.URL, b.trader)
	get := func(path string) int {
		res, err := c.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	post := func(path string) int {
		req, _ := http.NewRequest("POST", ts.URL+path, strings.NewReader(`{"all":true}`))
		req.Header.Set("X-CSRF-Token", csrf)
		req.Header.Set("Content-Type", "application/json")
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	if st := get("/api/v1/sessions"); st != 200 {
		t.Fatalf("before revoke: status %d", st)
	}
	id := b.trader[3:19]
	if err := b.env.DB.RevokeToken(context.Background(), id, clk.Now()); err != nil {
		t.Fatal(err)
	}
	revokedAt := clk.Now()
	clk.Advance(ttl + time.Second)
	if st := get("/api/v1/sessions"); st != http.StatusUnauthorized {
		t.Errorf("API read after revoke + TTL: status %d, want 401", st)
	}
	if st := get("/sessions"); st != http.StatusSeeOther {
		t.Errorf("page after revoke + TTL: status %d, want a redirect to /login", st)
	}
	if st := post("/api/v1/trade-all/preview"); st != http.StatusUnauthorized {
		t.Errorf("Trade All preview after revoke + TTL: status %d, want 401", st)
	}
	if st := post("/api/v1/sessions/s-0002/stop"); st != http.StatusUnauthorized {
		t.Errorf("session stop after revoke + TTL: status %d, want 401", st)
	}
	log, err := b.env.DB.AuditLog(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range log {
		if strings.Contains(e.Actor, id) && e.At.After(revokedAt) {
			t.Errorf("audit entry under the revoked token: %+v", e)
		}
	}
}
