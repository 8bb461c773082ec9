package server_test

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/tradeplane/tradeplane/internal/server/servertest"
)

// fakeHealth is what the watchdog tells the server, set by the test.
type fakeHealth struct {
	mu          sync.Mutex
	live, ready error
}

func (h *fakeHealth) set(live, ready error) {
	h.mu.Lock()
	h.live, h.ready = live, ready
	h.mu.Unlock()
}
func (h *fakeHealth) Live() error  { h.mu.Lock(); defer h.mu.Unlock(); return h.live }
func (h *fakeHealth) Ready() error { h.mu.Lock(); defer h.mu.Unlock(); return h.ready }

// TestHealthzIsLivenessReadyzIsReadiness: a failing check (the store is
// gone, the supervisor is down) makes the node unready, /readyz 503 with the
// reason, while /healthz stays 200 (restarting would not bring a database
// back) and says ready false; only a wedged process (checks that no longer
// complete) fails /healthz, which is what liveness probes restart on.
func TestHealthzIsLivenessReadyzIsReadiness(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{})
	h := &fakeHealth{}
	b.env.Server.SetHealth(h)
	for _, c := range []struct {
		name                 string
		live, ready          error
		healthz, readyz      int
		healthzReady, reason string
	}{
		{"healthy", nil, nil, http.StatusOK, http.StatusOK, "true", ""},
		{"store gone", nil, errors.New("store: database does not answer"), http.StatusOK, http.StatusServiceUnavailable, "false", "store: database does not answer"},
		{"supervisor down", nil, errors.New("supervisor: reconcile loop ended while the node serves: restart it"), http.StatusOK, http.StatusServiceUnavailable, "false", "supervisor: reconcile loop ended"},
		{"wedged", errors.New("health checks stuck for 45s"), errors.New("not checked yet"), http.StatusServiceUnavailable, http.StatusServiceUnavailable, "", "health checks stuck for 45s"},
	} {
		h.set(c.live, c.ready)
		hz := b.do(t, "GET", "/healthz", "", nil)
		rz := b.do(t, "GET", "/readyz", "", nil)
		hb, rb := hz.json(t), rz.json(t)
		if hz.status != c.healthz || rz.status != c.readyz {
			t.Errorf("%s: /healthz %d %v, /readyz %d %v; want %d and %d", c.name, hz.status, hb, rz.status, rb, c.healthz, c.readyz)
			continue
		}
		if c.healthzReady != "" && hb["ready"] != c.healthzReady {
			t.Errorf("%s: /healthz ready %v, want %s", c.name, hb["ready"], c.healthzReady)
		}
		if c.reason == "" {
			if rb["reason"] != nil || hb["reason"] != nil {
				t.Errorf("%s: a reason while healthy: %v / %v", c.name, hb, rb)
			}
			continue
		}
		want := c.reason
		if c.live == nil {
			if r, _ := rb["reason"].(string); !strings.Contains(r, want) {
				t.Errorf("%s: /readyz reason %q, want %q", c.name, r, want)
			}
		}
		if r, _ := hb["reason"].(string); !strings.Contains(r, want) {
			t.Errorf("%s: /healthz reason %q, want %q", c.name, r, want)
		}
	}
}
