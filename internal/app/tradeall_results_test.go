package app_test

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// TestTradeAllResultClasses runs one Trade All over four sessions that end
// four ways, and proves each reads as what it is: a normal step is ok; an
// order the allocation check refuses is skipped "allocation_exceeded"; an
// order the venue rejects fails with the venue's class; a paused session is
// skipped "paused". Neither refusal counts as a failure of its session:
// both keep running with no restart.
func TestTradeAllResultClasses(t *testing.T) {
	t.Parallel()
	d := newDesk(t, storetest.SQLiteURL(t), "main")
	key, _ := hex.DecodeString(d.keyHex)
	n := startNode(t, app.Config{DBURL: d.dbURL, MasterKey: key})

	create := func(name, strategy, allocation string, params map[string]any) string {
		t.Helper()
		params["symbol"] = "BTCUSDT"
		raw, _ := json.Marshal(params)
		var v struct{ ID string }
		body := map[string]any{"name": name, "strategy": strategy, "account": "main", "symbols": []string{"BTCUSDT"},
			"params": json.RawMessage(raw), "tags": []string{"classes"}, "start": true, "allocation": allocation}
		if code := n.do(t, "POST", "/api/v1/sessions", body, nil, &v); code != 201 || v.ID == "" {
			t.Fatalf("create %s: %d", name, code)
		}
		return v.ID
	}
	dca := func(quote string) map[string]any { return map[string]any{"quote_amount": quote, "interval": "24h"} }
	ok := create("ok", "dca", "1000", dca("20"))
	// TWAP sizes its slice without looking at the allocation: its 300 USDT
	// buy is over the 5 USDT allocation, which the check refuses.
	capped := create("capped", "twap", "5", map[string]any{"side": "buy", "quantity": "0.01", "duration": "24h", "slices": 1})
	poor := create("poor", "dca", "10000000000", dca("1000000000")) // more than the account holds
	paused := create("paused", "dca", "1000", dca("20"))
	ids := []string{ok, capped, poor, paused}
	waitRunning(t, d, ids)
	if code := n.do(t, "POST", "/api/v1/sessions/"+paused+"/pause", nil, nil, &struct{}{}); code != 200 {
		t.Fatalf("pause: %d", code)
	}

	var run taRun
	if code := n.do(t, "POST", "/api/v1/trade-all", map[string]any{"session_ids": ids}, map[string]string{"Idempotency-Key": "classes"}, &run); code != 202 {
		t.Fatalf("start: %d", code)
	}
	eventually(t, 30*time.Second, "run finished", func() bool {
		n.do(t, "GET", "/api/v1/trade-all/"+run.ID, nil, nil, &run)
		return run.State != "running"
	})
	got := map[string]string{}
	for _, r := range run.Results {
		got[r.SessionID] = r.State + " " + r.Message
	}
	for id, want := range map[string]string{ok: "ok", capped: "skipped allocation_exceeded: ", poor: "failed insufficient_funds: ", paused: "skipped paused"} {
		if !strings.HasPrefix(got[id], want) {
			t.Errorf("session %s: %q, want it to start with %q", id, got[id], want)
		}
	}
	if run.State != "partial" || run.Failed != 1 {
		t.Errorf("run ended %s with %d failed, want partial with 1", run.State, run.Failed)
	}
	// The refusals were the step's, not the sessions': they keep running.
	time.Sleep(500 * time.Millisecond)
	for _, id := range []string{capped, poor} {
		var v struct {
			State        string
			RestartsAuto int `json:"restarts_auto"`
		}
		n.do(t, "GET", "/api/v1/sessions/"+id, nil, nil, &v)
		if v.State != "running" || v.RestartsAuto != 0 {
			t.Errorf("session %s after its refused Trade All order: %s with %d restarts, want running with none", id, v.State, v.RestartsAuto)
		}
	}
	t.Logf("results: %v", got)
}
