package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/server/servertest"
)

// A PnL range is capped in intervals: the worst query of the probe (year 1
// to year 9999) and any range over the cap get a 400 that names the limit,
// on the JSON route, the page and both charts, before any work is done.
func TestPnLRangeCapped(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{})
	for _, path := range []string{
		"/api/v1/pnl?from=0001-01-01T00:00:00Z&to=9999-12-31T00:00:00Z",
		"/api/v1/pnl?from=0001-01-01T00:00:00Z&to=9999-12-31T00:00:00Z&interval=1d",
		"/api/v1/pnl?from=2025-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",             // 8760 hours
		"/api/v1/pnl?from=2000-01-01T00:00:00Z&to=2020-01-01T00:00:00Z&interval=1d", // 7305 days
	} {
		r := b.do(t, "GET", path, b.viewer, nil)
		checkError(t, r, http.StatusBadRequest, "invalid")
		if msg := r.json(t)["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "4000") {
			t.Errorf("%s: message %q does not name the limit", path, msg)
		}
	}
	for _, path := range []string{"/charts/equity.svg", "/charts/averages.svg", "/pnl"} {
		r := b.do(t, "GET", path+"?from=0001-01-01T00:00:00Z&to=9999-12-31T00:00:00Z", b.viewer, nil)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "4000") {
			t.Errorf("%s: status %d body %.200s, want 400 naming the limit", path, r.status, r.body)
		}
	}
}

// The largest range allowed is answered with a bounded equity series.
func TestPnLAnswerBounded(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{})
	// 3999 days: the fake answers one equity point per hour (~96k).
	r := b.do(t, "GET", "/api/v1/pnl?from=2010-01-01T00:00:00Z&to=2020-12-12T00:00:00Z&interval=1d", b.viewer, nil)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %.300s", r.status, r.body)
	}
	var rep server.PnLReport
	if err := json.Unmarshal(r.body, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Equity) == 0 || len(rep.Equity) > server.MaxPnLEquityPoints {
		t.Errorf("%d equity points, want 1..%d", len(rep.Equity), server.MaxPnLEquityPoints)
	}
	if len(rep.Averages) == 0 || len(rep.Averages) > server.MaxPnLIntervals {
		t.Errorf("%d averages, want 1..%d", len(rep.Averages), server.MaxPnLIntervals)
	}
	for i := 1; i < len(rep.Equity); i++ {
		if rep.Equity[i].At.Before(rep.Equity[i-1].At) {
			t.Fatalf("thinned equity out of order at %d", i)
		}
	}
	if len(r.body) > 1<<20 {
		t.Errorf("answer is %d bytes, want under 1 MiB", len(r.body))
	}
}
