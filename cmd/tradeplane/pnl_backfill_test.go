package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/tradeplane/tradeplane/internal/server/servertest"
)

// TestPnlBackfillOpeningEquityOnServer: --opening-equity travels with
// --server into the job the server runs.
func TestPnlBackfillOpeningEquityOnServer(t *testing.T) {
	t.Parallel()
	b := setupServer(t, servertest.Options{})
	cli(t, "", b.args("pnl", "backfill", "--account", "acct-0001", "--from", "2025-01-01", "--to", "2025-01-02",
		"--opening-equity", "12345.5", "--json")...).want(t, 0)
	jobs, err := b.env.DB.JobsInState(context.Background(), "done")
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 {
		t.Fatalf("done jobs %+v, want one", jobs)
	}
	var args struct {
		OpeningEquity string `json:"opening_equity"`
	}
	if err := json.Unmarshal([]byte(jobs[0].Args), &args); err != nil || args.OpeningEquity != "12345.5" {
		t.Errorf("job args %s: want opening_equity 12345.5 (%v)", jobs[0].Args, err)
	}
}
