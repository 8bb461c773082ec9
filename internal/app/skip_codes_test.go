package app_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/apperr"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/strategy"
)

// skipper is a strategy that always skips with a fixed text and code.
type skipper struct {
	text string
	code apperr.Code
}

func (skipper) Interval() time.Duration { return 24 * time.Hour }
func (s skipper) Step(context.Context, strategy.Env) (strategy.StepResult, error) {
	return strategy.StepResult{Skip: s.text, SkipCode: s.code}, nil
}

func init() {
	// Texts written to mislead a text match: the first names no
	// allocation but says "paused"; the second says "allocation" and
	// "paused" but carries no code.
	strategy.Register(strategy.Info{Name: "skip-coded-test", Description: "skips, allocation spent, in new words",
		Factory: func(json.RawMessage) (strategy.Strategy, error) {
			return skipper{text: "budget for today used up; buying paused until tomorrow", code: apperr.AllocationExceeded}, nil
		}})
	strategy.Register(strategy.Info{Name: "skip-uncoded-test", Description: "skips, nothing to do, in misleading words",
		Factory: func(json.RawMessage) (strategy.Strategy, error) {
			return skipper{text: "allocation fine, market paused or quarantined? no: nothing to do"}, nil
		}})
}

// TestTradeAllSkipClassComesFromTheCode: Trade All's skip reason is the
// code the strategy gave (apperr's table), never read from its text; the
// text stays the result's message for people.
func TestTradeAllSkipClassComesFromTheCode(t *testing.T) {
	t.Parallel()
	d := newDesk(t, storetest.SQLiteURL(t), "main")
	key, _ := hex.DecodeString(d.keyHex)
	n := startNode(t, app.Config{DBURL: d.dbURL, MasterKey: key})
	create := func(name, strat string) string {
		t.Helper()
		var v struct{ ID string }
		body := map[string]any{"name": name, "strategy": strat, "account": "main", "symbols": []string{"BTCUSDT"},
			"params": json.RawMessage(`{}`), "start": true, "allocation": "1000"}
		if code := n.do(t, "POST", "/api/v1/sessions", body, nil, &v); code != 201 || v.ID == "" {
			t.Fatalf("create %s: %d", name, code)
		}
		return v.ID
	}
	coded, uncoded := create("coded", "skip-coded-test"), create("uncoded", "skip-uncoded-test")
	ids := []string{coded, uncoded}
	waitRunning(t, d, ids)
	want := map[string]string{coded: "allocation_exceeded", uncoded: "nothing_to_do"}

	var preview struct {
		Plans []struct {
			SessionID string `json:"session_id"`
			Skip      string
			Message   string
		}
	}
	if code := n.do(t, "POST", "/api/v1/trade-all/preview", map[string]any{"session_ids": ids}, nil, &preview); code != 200 || len(preview.Plans) != 2 {
		t.Fatalf("preview: %d %+v", code, preview)
	}
	for _, pl := range preview.Plans {
		if pl.Skip != want[pl.SessionID] {
			t.Errorf("plan of %s: skip %q (message %q), want %q", pl.SessionID, pl.Skip, pl.Message, want[pl.SessionID])
		}
	}

	var run taRun
	if code := n.do(t, "POST", "/api/v1/trade-all", map[string]any{"session_ids": ids}, map[string]string{"Idempotency-Key": "skip-codes"}, &run); code != 202 {
		t.Fatalf("start: %d", code)
	}
	eventually(t, 30*time.Second, "run finished", func() bool {
		n.do(t, "GET", "/api/v1/trade-all/"+run.ID, nil, nil, &run)
		return run.State != "running"
	})
	for _, r := range run.Results {
		if got := r.State + " " + r.Message; !strings.HasPrefix(got, "skipped "+want[r.SessionID]) {
			t.Errorf("session %s: %q, want it skipped %s", r.SessionID, got, want[r.SessionID])
		}
	}
}
