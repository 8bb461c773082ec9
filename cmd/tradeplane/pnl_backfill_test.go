package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/tradeplane/tradeplane/internal/server/servertest"
)

// TestPnlBackfillOpeningEquityOnServer: --opening-equity, --valuation and
// --opening-holding travel with --server into the job the server runs;
// holdings without a valuation are refused before anything starts.
func TestPnlBackfillOpeningEquityOnServer(t *testing.T) {
	t.Parallel()
	b := setupServer(t, servertest.Options{})
	bad := cli(t, "", b.args("pnl", "backfill", "--account", "acct-0001", "--from", "2025-01-01", "--to", "2025-01-02",
		"--opening-holding", "BTC=0.5")...)
	bad.want(t, 2)
	if !strings.Contains(bad.stderr, "valuation") {
		t.Errorf("holdings without --valuation: stderr %q does not name the valuation", bad.stderr)
	}
	cli(t, "", b.args("pnl", "backfill", "--account", "acct-0001", "--from", "2025-01-01", "--to", "2025-01-02",
		"--opening-holding", "BTC=x")...).want(t, 2)
	cli(t, "", b.args("pnl", "backfill", "--account", "acct-0001", "--from", "2025-01-01", "--to", "2025-01-02",
		"--opening-equity", "12345.5", "--valuation", "usdt", "--opening-holding", "btc=0.5", "--opening-holding", "ETH=2",
		"--json")...).want(t, 0)
	jobs, err := b.env.DB.JobsInState(context.Background(), "done")
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 {
		t.Fatalf("done jobs %+v, want one", jobs)
	}
	var args struct {
		OpeningEquity   string `json:"opening_equity"`
		Valuation       string `json:"valuation"`
		OpeningHoldings []struct {
			Asset, Amount string
		} `json:"opening_holdings"`
	}
	if err := json.Unmarshal([]byte(jobs[0].Args), &args); err != nil || args.OpeningEquity != "12345.5" || args.Valuation != "USDT" ||
		fmt.Sprint(args.OpeningHoldings) != "[{BTC 0.5} {ETH 2}]" {
		t.Errorf("job args %s: want opening_equity 12345.5, valuation USDT, holdings 0.5 BTC and 2 ETH (%v)", jobs[0].Args, err)
	}
}
