package app_test

import (
	"encoding/json"
	"testing"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// TestPatchParamsMerges: PATCH /api/v1/sessions/{id}/params merges, as the
// API documents and 'sessions edit' says: the keys not sent keep their
// values. The real node replaced the whole object, so the CLI's own example
// ('--params {"levels":12}') was refused for the missing symbol; only the
// test fake merged.
func TestPatchParamsMerges(t *testing.T) {
	t.Parallel()
	n := startNode(t, app.Config{DBURL: storetest.SQLiteURL(t)})
	if code := n.do(t, "POST", "/api/v1/accounts", map[string]any{"name": "alpha", "venue": "paper"}, nil, &map[string]any{}); code != 201 {
		t.Fatalf("create account: %d", code)
	}
	var s struct {
		ID     string          `json:"id"`
		Params json.RawMessage `json:"params"`
	}
	if code := n.do(t, "POST", "/api/v1/sessions", map[string]any{"name": "d", "strategy": "dca", "account": "alpha",
		"symbols": []string{"BTCUSDT"}, "allocation": "1000",
		"params": map[string]string{"symbol": "BTCUSDT", "quote_amount": "25", "interval": "1h"}}, nil, &s); code != 201 {
		t.Fatalf("create session: %d", code)
	}
	if code := n.do(t, "PATCH", "/api/v1/sessions/"+s.ID+"/params", map[string]string{"quote_amount": "30"}, nil, &s); code != 200 {
		t.Fatalf("patch quote_amount: %d", code)
	}
	var p map[string]string
	if err := json.Unmarshal(s.Params, &p); err != nil || p["symbol"] != "BTCUSDT" || p["quote_amount"] != "30" || p["interval"] != "1h" {
		t.Fatalf("params after the patch: %s (%v); want the symbol and interval kept, quote_amount 30", s.Params, err)
	}
	// A patch that leaves invalid parameters is still refused whole.
	if code := n.do(t, "PATCH", "/api/v1/sessions/"+s.ID+"/params", map[string]any{"symbol": nil}, nil, &map[string]any{}); code != 400 {
		t.Fatalf("patch removing the symbol: %d, want 400", code)
	}
}
