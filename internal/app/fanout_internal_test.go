package app

import (
	"encoding/json"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/store"
)

// TestEnvelopeRoundTrip checks that every topic's event survives the trip
// between nodes unchanged: what the listener publishes is what the sender
// published.
func TestEnvelopeRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 30, 0, 123000, time.UTC)
	tests := []struct {
		topic string
		in    any
		out   func() any // a fresh pointer of the topic's type
	}{
		{fanJournal, store.JournalEvent{Seq: 7, At: at, Kind: "fill", SessionID: "s1", AccountID: 2, Symbol: "BTCUSDT",
			Quantity: udecimal.MustParse("0.00123"), Price: udecimal.MustParse("30123.45"), Fee: udecimal.MustParse("0.01"),
			FeeAsset: "USDT", LatencyUS: 1500, Fence: 3, Node: "n1"}, func() any { return new(store.JournalEvent) }},
		{fanAlert, store.Alert{ID: 9, At: at, Severity: "critical", Source: "venue", SessionID: "s1", AccountID: 2, Message: "banned"},
			func() any { return new(store.Alert) }},
		{fanSession, server.SessionView{ID: "s1", Name: "dca", State: "paused", Allocation: udecimal.MustParse("100"),
			Symbols: []string{"BTCUSDT"}, Params: json.RawMessage(`{"every":"1m"}`), UpdatedAt: at},
			func() any { return new(server.SessionView) }},
		{fanTradeAll, server.TradeAllRun{ID: "r1", Key: "k", State: "running", Total: 3, Done: 1, CreatedAt: at,
			Results: []server.TradeAllResult{}}, func() any { return new(server.TradeAllRun) }},
	}
	for _, tt := range tests {
		t.Run(tt.topic, func(t *testing.T) {
			data, err := json.Marshal(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			payload, _ := json.Marshal(envelope{Node: "n1", Topic: tt.topic, Data: data})
			var env envelope
			if err := json.Unmarshal(payload, &env); err != nil {
				t.Fatal(err)
			}
			got := tt.out()
			if err := json.Unmarshal(env.Data, got); err != nil {
				t.Fatal(err)
			}
			if g := reflect.ValueOf(got).Elem().Interface(); !reflect.DeepEqual(g, tt.in) {
				t.Fatalf("got %+v, want %+v", g, tt.in)
			}
		})
	}
}

// TestFanoutEnqueueNeverBlocks fills the queue and checks that a further
// event is dropped and counted rather than waited for.
func TestFanoutEnqueueNeverBlocks(t *testing.T) {
	t.Parallel()
	f := &fanout{log: discardLogger(), queue: make(chan fanItem, 2)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 5 {
			f.enqueue(fanJournal, "1", store.JournalEvent{})
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("enqueue blocked on a full queue")
	}
	if got := f.dropped.Load(); got != 3 {
		t.Fatalf("dropped %d, want 3", got)
	}
	var nilFan *fanout
	nilFan.enqueue(fanAlert, "", store.Alert{}) // SQLite: no fanout, no panic
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
