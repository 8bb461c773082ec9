package app_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/marketdata"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// TestReplayJob: POST /api/v1/replays replays a strategy over the last days
// of its account's klines as a job; the job finishes and its result has
// the strategy's trades and PnL.
func TestReplayJob(t *testing.T) {
	t.Parallel()
	ks, err := marketdata.ReadKlinesFile("../../../shared/data/BTCUSDT-1m.csv")
	if err != nil {
		t.Skipf("shared data: %v", err)
	}
	n := startNode(t, app.Config{DBURL: storetest.SQLiteURL(t)})
	if code := n.do(t, "POST", "/api/v1/accounts", map[string]any{"name": "alpha", "venue": "paper"}, nil, &map[string]any{}); code != 201 {
		t.Fatalf("create account: %d", code)
	}
	// The paper venue's market data: the last three days of the file, moved
	// to end at the current hour.
	ks = ks[len(ks)-3*24*60:]
	shift := time.Now().UTC().Truncate(time.Hour).Sub(ks[len(ks)-1].OpenTime.Add(time.Minute))
	moved := make([]venue.Kline, len(ks))
	for i, k := range ks {
		k.OpenTime = k.OpenTime.Add(shift)
		moved[i] = k
	}
	if err := app.PaperOf(n.app).LoadKlines("BTCUSDT", time.Minute, moved); err != nil {
		t.Fatal(err)
	}
	var job struct {
		ID    string `json:"id"`
		State string `json:"state"`
		Error string `json:"error"`
	}
	body := map[string]any{"strategy": "dca", "account": "alpha", "symbols": []string{"BTCUSDT"}, "days": 2, "interval": "1h",
		"params": json.RawMessage(`{"symbol":"BTCUSDT","quote_amount":"25","interval":"1h"}`), "slippage": "0.0005"}
	if code := n.do(t, "POST", "/api/v1/replays", body, nil, &job); code != 202 {
		t.Fatalf("start replay: %d %+v", code, job)
	}
	deadline := time.Now().Add(60 * time.Second)
	for job.State != "done" {
		if job.State == "failed" || time.Now().After(deadline) {
			t.Fatalf("replay job %+v", job)
		}
		time.Sleep(50 * time.Millisecond)
		n.do(t, "GET", "/api/v1/jobs/"+job.ID, nil, nil, &job)
	}
	var res struct {
		Summary struct {
			Bars   int64  `json:"bars"`
			Steps  int64  `json:"steps"`
			Trades int    `json:"trades"`
			NetPnL string `json:"net_pnl"`
		} `json:"summary"`
		Equity []json.RawMessage `json:"equity"`
	}
	if code := n.do(t, "GET", "/api/v1/replays/"+job.ID, nil, nil, &res); code != 200 {
		t.Fatalf("result: %d", code)
	}
	if res.Summary.Bars != 48 || res.Summary.Trades != 47 || len(res.Equity) == 0 || res.Summary.NetPnL == "" {
		t.Errorf("result %+v: want 48 hourly bars and 47 hourly buys (the first step one interval in)", res.Summary)
	}
	// Bad input names the field.
	var e struct {
		Error struct{ Message string } `json:"error"`
	}
	if code := n.do(t, "POST", "/api/v1/replays", map[string]any{"strategy": "dca", "account": "alpha", "symbols": []string{"BTCUSDT"}, "days": 900}, nil, &e); code != 400 {
		t.Errorf("days 900: status %d %+v, want 400", code, e)
	}
}
