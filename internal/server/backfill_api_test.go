package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tradeplane/tradeplane/internal/server/servertest"
)

// TestBackfillOpeningEquity: the body's opening_equity reaches the job's
// arguments, and a value that is not a decimal is refused naming the field.
func TestBackfillOpeningEquity(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{})
	r := b.do(t, "POST", "/api/v1/pnl/backfill", b.trader, map[string]any{"account": "acct-0001", "from": "2025-01-01", "to": "2025-01-02",
		"opening_equity": "12345.5"})
	if r.status != http.StatusAccepted {
		t.Fatalf("backfill: %d %s", r.status, r.body)
	}
	if args := r.json(t)["args"].(map[string]any); args["opening_equity"] != "12345.5" {
		t.Errorf("job args %v: want opening_equity 12345.5", args)
	}
	r = b.do(t, "POST", "/api/v1/pnl/backfill", b.trader, map[string]any{"account": "acct-0001", "from": "2025-01-01", "to": "2025-01-02",
		"opening_equity": "lots"})
	checkError(t, r, http.StatusBadRequest, "invalid")
	if !strings.Contains(string(r.body), "opening_equity") {
		t.Errorf("message does not name opening_equity: %s", r.body)
	}
}
