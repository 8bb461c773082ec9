package binance

import (
	"encoding/json"
	"testing"

	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// BenchmarkExecutionReportDecode decodes the documented executionReport
// (compacted, wrapped as the WebSocket API sends it) into port events, as
// readUser does: the cost of reading every field by exact key.
func BenchmarkExecutionReportDecode(b *testing.B) {
	c, err := New(Config{APIKey: "k", APISecret: "s"})
	if err != nil {
		b.Fatal(err)
	}
	ev, err := binancetest.Edit(binancetest.Doc("ws_execution_report.json"), "x", `"TRADE"`, "X", `"FILLED"`, "t", "12")
	if err != nil {
		b.Fatal(err)
	}
	frame := append(append([]byte(`{"subscriptionId":0,"event":`), ev...), '}')
	b.ReportAllocs()
	for b.Loop() {
		var env struct {
			Event json.RawMessage `json:"event"`
		}
		var f eventFields
		if json.Unmarshal(frame, &env) != nil || json.Unmarshal(env.Event, &f) != nil {
			b.Fatal("decode")
		}
		if out := c.toUserEvents(f); len(out) != 2 {
			b.Fatalf("%d events", len(out))
		}
	}
}
