package app_test

import (
	"fmt"
	"testing"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// TestBackfillJobKeepsOpeningEquity: the API's opening_equity, valuation
// and opening holdings reach the backfill job's arguments, which the job
// runs with (and resumes with).
func TestBackfillJobKeepsOpeningEquity(t *testing.T) {
	t.Parallel()
	n := startNode(t, app.Config{DBURL: storetest.SQLiteURL(t)})
	if code := n.do(t, "POST", "/api/v1/accounts", map[string]any{"name": "alpha", "venue": "paper"}, nil, &map[string]any{}); code != 201 {
		t.Fatalf("create account: %d", code)
	}
	var job struct {
		ID   string         `json:"id"`
		Args map[string]any `json:"args"`
	}
	code := n.do(t, "POST", "/api/v1/pnl/backfill", map[string]any{"account": "alpha", "from": "2025-01-01", "to": "2025-01-02",
		"opening_equity": "12345.5", "valuation": "USDT", "opening_holdings": []map[string]string{{"asset": "BTC", "amount": "0.25"}}},
		nil, &job)
	if code != 202 || job.Args["opening_equity"] != "12345.5" || job.Args["valuation"] != "USDT" ||
		fmt.Sprint(job.Args["opening_holdings"]) != "[map[amount:0.25 asset:BTC]]" {
		t.Fatalf("backfill: %d, job args %v; want opening_equity 12345.5, valuation USDT, 0.25 BTC held", code, job.Args)
	}
}
