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

	// The preview shows each session's planned orders and its allocation
	// check, and says which would be skipped and why.
	var preview struct {
		Orders int
		Plans  []struct {
			SessionID  string `json:"session_id"`
			Skip       string
			Orders     []struct{ Symbol, Side, Type, Price, Quantity string }
			Allocation struct {
				OK                  bool
				Required, Available string
			}
		}
	}
	if code := n.do(t, "POST", "/api/v1/trade-all/preview", map[string]any{"session_ids": ids}, nil, &preview); code != 200 || len(preview.Plans) != 4 {
		t.Fatalf("preview: %d %+v", code, preview)
	}
	plans := map[string]int{}
	for i, pl := range preview.Plans {
		plans[pl.SessionID] = i
	}
	if pl := preview.Plans[plans[ok]]; pl.Skip != "" || len(pl.Orders) != 1 || pl.Orders[0].Side != "buy" || pl.Orders[0].Type != "market" ||
		pl.Orders[0].Symbol != "BTCUSDT" || pl.Orders[0].Quantity == "0" || !pl.Allocation.OK || pl.Allocation.Available != "1000" {
		t.Errorf("plan of %s: %+v", ok, pl)
	}
	if pl := preview.Plans[plans[capped]]; pl.Skip != "allocation_exceeded" || len(pl.Orders) != 1 || pl.Orders[0].Quantity != "0.01" ||
		pl.Allocation.OK || pl.Allocation.Available != "5" || !strings.HasPrefix(pl.Allocation.Required, "300") {
		t.Errorf("plan of %s: %+v", capped, pl)
	}
	if pl := preview.Plans[plans[paused]]; pl.Skip != "paused" || len(pl.Orders) != 0 {
		t.Errorf("plan of %s: %+v", paused, pl)
	}
	if preview.Orders != 2 { // ok's and poor's: the venue refuses poor's only when it is sent
		t.Errorf("preview counts %d orders, want 2", preview.Orders)
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
