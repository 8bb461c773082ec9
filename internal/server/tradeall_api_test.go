package server_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/server/servertest"
)

// TestTradeAllSelectionAndPlans: a Trade All selects by several tags (all
// must match), account, venue or all; the preview returns every session's
// planned orders and allocation check; the run records the selection.
func TestTradeAllSelectionAndPlans(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{Sessions: 6})
	preview := func(req map[string]any) server.TradeAllPreview {
		t.Helper()
		r := b.do(t, "POST", "/api/v1/trade-all/preview", b.trader, req)
		if r.status != 200 {
			t.Fatalf("preview %v: %d %s", req, r.status, r.body)
		}
		var p server.TradeAllPreview
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ids := func(p server.TradeAllPreview) string {
		var out []string
		for _, pl := range p.Plans {
			out = append(out, pl.SessionID)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		req  map[string]any
		want string
	}{
		{map[string]any{"tags": []string{"desk-a", "faulty"}}, "s-0005"},
		{map[string]any{"tag": "desk-a", "tags": []string{"faulty"}}, "s-0005"},
		{map[string]any{"tags": []string{"desk-a"}, "account": "acct-0001"}, "s-0001,s-0004"},
		{map[string]any{"account": "acct-0003"}, "s-0003,s-0006"},
		{map[string]any{"venue": "paper", "tags": []string{"desk-b"}}, "s-0003,s-0006"},
		{map[string]any{"all": true}, "s-0001,s-0003,s-0004,s-0005,s-0006,s-0002"},
	} {
		if got := ids(preview(tc.req)); got != tc.want {
			t.Errorf("preview %v selects %s, want %s", tc.req, got, tc.want)
		}
	}
	p := preview(map[string]any{"account": "acct-0001"})
	if p.Orders != 2 || len(p.Plans) != 2 {
		t.Fatalf("preview: %d orders, %d plans", p.Orders, len(p.Plans))
	}
	pl := p.Plans[0]
	if len(pl.Orders) != 1 || pl.Orders[0].Symbol != "BTCUSDT" || pl.Orders[0].Side != "buy" || pl.Orders[0].Price.String() != "65000" ||
		pl.Orders[0].Quantity.String() != "0.001" || !pl.Allocation.OK || pl.Allocation.Available == nil {
		t.Errorf("plan %+v", pl)
	}
	// Decimals travel as strings.
	raw := string(b.do(t, "POST", "/api/v1/trade-all/preview", b.trader, map[string]any{"account": "acct-0001"}).body)
	if !strings.Contains(raw, `"price":"65000"`) || !strings.Contains(raw, `"available":"10000"`) {
		t.Errorf("preview body: %s", raw)
	}
	checkError(t, b.do(t, "POST", "/api/v1/trade-all/preview", b.trader, map[string]any{}), 400, "invalid")
	checkError(t, b.do(t, "POST", "/api/v1/trade-all/preview", b.trader, map[string]any{"tags": []string{""}}), 400, "invalid")

	// A run keeps its selection; the same key with another account is a
	// conflict.
	r := b.do(t, "POST", "/api/v1/trade-all", b.trader, map[string]any{"tags": []string{"desk-b"}, "account": "acct-0003"}, "Idempotency-Key", "sel-1")
	if r.status != 202 {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	var run server.TradeAllRun
	json.Unmarshal(r.body, &run)
	if run.Total != 2 || run.Request.Account != "acct-0003" || len(run.Request.Tags) != 1 {
		t.Errorf("run %+v", run)
	}
	checkError(t, b.do(t, "POST", "/api/v1/trade-all", b.trader, map[string]any{"tags": []string{"desk-b"}, "account": "acct-0001"},
		"Idempotency-Key", "sel-1"), 409, "conflict")
}

// TestTradeAllRefusesAnUnknownVenue: the selection's venue is one of the
// registry's (as the OpenAPI enum says), not a filter that silently
// matches nothing.
func TestTradeAllRefusesAnUnknownVenue(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{Sessions: 2})
	for _, path := range []string{"/api/v1/trade-all/preview", "/api/v1/trade-all"} {
		r := b.do(t, "POST", path, b.trader, map[string]any{"venue": "papr"}, "Idempotency-Key", "unknown-venue")
		if r.status != 400 || !strings.Contains(string(r.body), "venue") || !strings.Contains(string(r.body), "paper") {
			t.Errorf("%s with venue papr: %d %s, want 400 naming the known venues", path, r.status, r.body)
		}
	}
}
