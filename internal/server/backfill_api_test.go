package server_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/server/servertest"
	"github.com/tradeplane/tradeplane/internal/store"
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

// TestBackfillOpeningHoldings: the valuation and the opening holdings reach
// the job's arguments; holdings without a valuation, or of the valuation
// asset, or not a positive decimal, are refused naming the problem, and
// start no job.
func TestBackfillOpeningHoldings(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{})
	body := func(valuation string, holdings ...map[string]any) map[string]any {
		return map[string]any{"account": "acct-0001", "from": "2025-01-01", "to": "2025-01-02", "opening_equity": "30000",
			"valuation": valuation, "opening_holdings": holdings}
	}
	r := b.do(t, "POST", "/api/v1/pnl/backfill", b.trader, body("usdt", map[string]any{"asset": "btc", "amount": "0.5"}))
	if r.status != http.StatusAccepted {
		t.Fatalf("backfill: %d %s", r.status, r.body)
	}
	args := r.json(t)["args"].(map[string]any)
	if args["valuation"] != "USDT" || fmt.Sprint(args["opening_holdings"]) != "[map[amount:0.5 asset:BTC]]" {
		t.Errorf("job args %v: want valuation USDT and 0.5 BTC held", args)
	}
	for _, c := range []struct {
		name, want string
		body       map[string]any
	}{
		{"no valuation", "valuation", body("", map[string]any{"asset": "BTC", "amount": "0.5"})},
		{"the valuation asset", "other than USDT", body("USDT", map[string]any{"asset": "usdt", "amount": "1"})},
		{"not positive", "positive", body("USDT", map[string]any{"asset": "BTC", "amount": "0"})},
		{"not a decimal", "opening_holdings[1].amount", body("USDT", map[string]any{"asset": "BTC", "amount": "1"},
			map[string]any{"asset": "ETH", "amount": "lots"})},
		{"not an asset", "BTC/ETH", body("USDT", map[string]any{"asset": "BTC/ETH", "amount": "1"})},
		{"too many", "at most 100", body("USDT", slices.Repeat([]map[string]any{{"asset": "BTC", "amount": "1"}}, 101)...)},
	} {
		for _, path := range []string{"/api/v1/pnl/backfill", "/api/v1/pnl/backfill/preview"} {
			r := b.do(t, "POST", path, b.trader, c.body)
			checkError(t, r, http.StatusBadRequest, "invalid")
			if !strings.Contains(string(r.body), c.want) {
				t.Errorf("%s, %s: message does not say %q: %s", c.name, path, c.want, r.body)
			}
		}
	}
	if q, err := b.env.DB.JobsInState(context.Background(), "queued"); err != nil || len(q) != 1 {
		t.Errorf("queued jobs after one start and the refusals: %v (%v); want the one", q, err)
	}
}

// A backfill range is capped: year 1 to 9999 (3.65 M windows, resumed on
// every start) is refused with a 400 naming the limit; the preview shows a
// range's size before anything starts.
func TestBackfillSpanCappedAndPreviewed(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{})
	for _, path := range []string{"/api/v1/pnl/backfill", "/api/v1/pnl/backfill/preview"} {
		r := b.do(t, "POST", path, b.trader, map[string]any{"account": "acct-0001", "from": "0001-01-01", "to": "9999-12-31"})
		checkError(t, r, http.StatusBadRequest, "invalid")
		if !strings.Contains(string(r.body), "1096 days") {
			t.Errorf("%s: message does not name the limit: %s", path, r.body)
		}
	}
	r := b.do(t, "POST", "/api/v1/pnl/backfill/preview", b.trader, map[string]any{"account": "acct-0001", "from": "2025-01-01", "to": "2025-03-01", "interval": "1h"})
	if r.status != http.StatusOK {
		t.Fatalf("preview: %d %s", r.status, r.body)
	}
	size := r.json(t)["size"].(map[string]any)
	if size["windows_per_symbol"] != float64(59) || size["days"] != float64(59) || size["points_per_series"] != float64(59*24) {
		t.Errorf("preview size %v: want 59 windows, 59 days, 1416 points", size)
	}
}

// Any job can be canceled through the API: its row ends "canceled" (no
// node resumes it), a second cancel is a 409, a viewer may not cancel.
func TestJobCancel(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{})
	now := time.Now().UTC()
	for _, id := range []string{"job-queued", "job-done"} {
		st := "queued"
		if id == "job-done" {
			st = "done"
		}
		if err := b.env.DB.CreateJob(context.Background(), store.Job{ID: id, Kind: "replay", Args: "{}", State: st, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	checkError(t, b.do(t, "POST", "/api/v1/jobs/job-queued/cancel", b.viewer, nil), http.StatusForbidden, "forbidden")
	r := b.do(t, "POST", "/api/v1/jobs/job-queued/cancel", b.trader, nil)
	if r.status != http.StatusOK || r.json(t)["state"] != "canceled" {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	j, err := b.env.DB.Job(context.Background(), "job-queued")
	if err != nil || j.State != "canceled" {
		t.Fatalf("row after cancel: %+v %v", j, err)
	}
	if queued, _ := b.env.DB.JobsInState(context.Background(), "queued"); len(queued) != 0 {
		t.Errorf("canceled job still queued for resume: %v", queued)
	}
	checkError(t, b.do(t, "POST", "/api/v1/jobs/job-queued/cancel", b.trader, nil), http.StatusConflict, "conflict")
	checkError(t, b.do(t, "POST", "/api/v1/jobs/job-done/cancel", b.trader, nil), http.StatusConflict, "conflict")
	checkError(t, b.do(t, "POST", "/api/v1/jobs/nosuch/cancel", b.trader, nil), http.StatusNotFound, "not_found")
}
