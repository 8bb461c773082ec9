package app_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// TestReplayJobUsesStoredKlines: when the store holds the klines of the
// whole span (kept by a backfill), a replay job streams them instead of
// asking the venue: here they are a flat 100, which no venue data is.
func TestReplayJobUsesStoredKlines(t *testing.T) {
	t.Parallel()
	url := storetest.SQLiteURL(t)
	n := startNode(t, app.Config{DBURL: url})
	if code := n.do(t, "POST", "/api/v1/accounts", map[string]any{"name": "alpha", "venue": "paper"}, nil, &map[string]any{}); code != 201 {
		t.Fatalf("create account: %d", code)
	}
	db, err := store.Open(t.Context(), url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Two hours either side of the 48 the job asks for, so an hour turning
	// during the test changes nothing.
	now := time.Now().UTC().Truncate(time.Hour)
	var ks []store.Kline
	p := udecimal.MustFromInt64(100, 0)
	for h := -50; h < 2; h++ {
		ks = append(ks, store.Kline{OpenTime: now.Add(time.Duration(h) * time.Hour), Open: p, High: p, Low: p, Close: p, Volume: p})
	}
	if err := db.PutKlines(t.Context(), store.KlineKey{Venue: "paper", Symbol: "BTCUSDT", Interval: time.Hour}, ks); err != nil {
		t.Fatal(err)
	}
	var job struct {
		ID    string `json:"id"`
		State string `json:"state"`
		Error string `json:"error"`
	}
	body := map[string]any{"strategy": "dca", "account": "alpha", "symbols": []string{"BTCUSDT"}, "days": 2, "interval": "1h",
		"params": json.RawMessage(`{"symbol":"BTCUSDT","quote_amount":"25","interval":"1h"}`)}
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
			Bars   int64 `json:"bars"`
			Trades int   `json:"trades"`
		} `json:"summary"`
		PnL struct {
			Symbols []struct {
				AvgEntry string `json:"avg_entry"`
				Mark     string `json:"mark"`
			} `json:"symbols"`
		} `json:"pnl"`
	}
	if code := n.do(t, "GET", "/api/v1/replays/"+job.ID, nil, nil, &res); code != 200 {
		t.Fatalf("result: %d", code)
	}
	if res.Summary.Bars != 48 || res.Summary.Trades != 47 || len(res.PnL.Symbols) != 1 || res.PnL.Symbols[0].Mark != "100" {
		t.Fatalf("result %+v: want 48 stored hourly bars at 100 and 47 buys", res)
	}
}

// TestReplayJobCancel: a long replay job stops when the jobs API cancels
// it: its state is canceled, it did not reach the end, and it has no result.
func TestReplayJobCancel(t *testing.T) {
	t.Parallel()
	url := storetest.SQLiteURL(t)
	n := startNode(t, app.Config{DBURL: url})
	if code := n.do(t, "POST", "/api/v1/accounts", map[string]any{"name": "alpha", "venue": "paper"}, nil, &map[string]any{}); code != 201 {
		t.Fatalf("create account: %d", code)
	}
	db, err := store.Open(t.Context(), url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// A week of 1 m klines and a DCA stepping every minute: 10,080 steps.
	now := time.Now().UTC().Truncate(time.Minute)
	var ks []store.Kline
	p := udecimal.MustFromInt64(100, 0)
	for m := -7*24*60 - 10; m < 10; m++ {
		ks = append(ks, store.Kline{OpenTime: now.Add(time.Duration(m) * time.Minute), Open: p, High: p, Low: p, Close: p, Volume: p})
	}
	if err := db.PutKlines(t.Context(), store.KlineKey{Venue: "paper", Symbol: "BTCUSDT", Interval: time.Minute}, ks); err != nil {
		t.Fatal(err)
	}
	type jobView struct {
		ID    string `json:"id"`
		State string `json:"state"`
		Done  int64  `json:"done"`
		Total int64  `json:"total"`
		Error string `json:"error"`
	}
	var job jobView
	body := map[string]any{"strategy": "dca", "account": "alpha", "symbols": []string{"BTCUSDT"}, "days": 7, "interval": "1m",
		"params":   json.RawMessage(`{"symbol":"BTCUSDT","quote_amount":"1","interval":"1m"}`),
		"balances": map[string]string{"USDT": "1000000"}}
	if code := n.do(t, "POST", "/api/v1/replays", body, nil, &job); code != 202 {
		t.Fatalf("start replay: %d %+v", code, job)
	}
	// Cancel once the run is under way (progress is written every 1,000
	// bars), so what stops is the bar loop.
	deadline := time.Now().Add(60 * time.Second)
	for job.Done == 0 {
		if job.State != "running" || time.Now().After(deadline) {
			t.Fatalf("job before cancel: %+v", job)
		}
		time.Sleep(10 * time.Millisecond)
		n.do(t, "GET", "/api/v1/jobs/"+job.ID, nil, nil, &job)
	}
	if code := n.do(t, "POST", "/api/v1/jobs/"+job.ID+"/cancel", nil, nil, &map[string]any{}); code != 200 {
		t.Fatalf("cancel: %d", code)
	}
	// The job's goroutine writes its own end once the run has stopped:
	// canceled, with the market time it stopped at, short of the end (the
	// API's own mark says "canceled by ...").
	for {
		n.do(t, "GET", "/api/v1/jobs/"+job.ID, nil, nil, &job)
		if job.State != "running" && job.State != "canceled" || time.Now().After(deadline) {
			t.Fatalf("job after cancel: %+v", job)
		}
		var res map[string]any
		code := n.do(t, "GET", "/api/v1/replays/"+job.ID, nil, nil, &res)
		if code == 200 {
			t.Fatalf("a canceled replay has a result: %v", res)
		}
		if job.State == "canceled" && strings.Contains(job.Error, "replay canceled at") {
			if job.Done >= job.Total {
				t.Fatalf("the job ran to its end: %+v", job)
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
}
