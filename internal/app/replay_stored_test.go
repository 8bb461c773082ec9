package app_test

import (
	"encoding/json"
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
