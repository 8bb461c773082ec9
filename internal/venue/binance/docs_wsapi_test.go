package binance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// TestFakeWSAPIPingAndTime: the fake's WebSocket API answers ping and time
// with the documented replies (ws_api_ping.json, ws_api_time.json) edited:
// the request's id, its own clock, its REQUEST_WEIGHT limit; key order as
// documented. The adapter sends neither (it syncs time over REST), so this
// reads the fake's bytes directly.
func TestFakeWSAPIPingAndTime(t *testing.T) {
	t.Parallel()
	fake := binancetest.Start(t, binancetest.Config{WeightLimit: 1234})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, fake.WSAPIURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	ask := func(req string) []byte {
		t.Helper()
		if err := conn.Write(ctx, websocket.MessageText, []byte(req)); err != nil {
			t.Fatal(err)
		}
		_, b, err := conn.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	type reply struct {
		ID         string `json:"id"`
		Status     int    `json:"status"`
		Result     map[string]json.Number
		RateLimits []struct {
			RateLimitType string `json:"rateLimitType"`
			Interval      string `json:"interval"`
			IntervalNum   int    `json:"intervalNum"`
			Limit         int    `json:"limit"`
		} `json:"rateLimits"`
	}
	for _, m := range []string{"ping", "time"} {
		b := ask(`{"id":"req-` + m + `","method":"` + m + `"}`)
		if got := topKeys(t, b); !same(got, []string{"id", "status", "result", "rateLimits"}) {
			t.Errorf("%s reply keys %v; want Binance's order id, status, result, rateLimits", m, got)
		}
		var r reply
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s reply %s: %v", m, b, err)
		}
		if r.ID != "req-"+m || r.Status != 200 || len(r.RateLimits) != 1 || r.RateLimits[0].RateLimitType != "REQUEST_WEIGHT" ||
			r.RateLimits[0].Interval != "MINUTE" || r.RateLimits[0].IntervalNum != 1 || r.RateLimits[0].Limit != 1234 {
			t.Errorf("%s reply %s; want id req-%s, status 200, REQUEST_WEIGHT 1234 per minute", m, b, m)
		}
		switch m {
		case "ping":
			if len(r.Result) != 0 {
				t.Errorf("ping result %v; want {}", r.Result)
			}
		case "time":
			st, err := strconv.ParseInt(string(r.Result["serverTime"]), 10, 64)
			if err != nil || time.Since(time.UnixMilli(st)).Abs() > time.Minute {
				t.Errorf("time result %v; want the fake's clock", r.Result)
			}
		}
	}
}

// topKeys lists the keys of the JSON object b in the order they were sent.
func topKeys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	var out []string
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %s", b)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
