package app

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/tradeall"
)

// TestTradeAllStatesInOpenAPI: every Trade All run and item state the
// runner can report maps onto a value the OpenAPI document lists for the
// API's field. The run state "partial" was returned but not documented.
func TestTradeAllStatesInOpenAPI(t *testing.T) {
	t.Parallel()
	raw, err := server.OpenAPI("test")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Enum []string `json:"enum"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	runEnum := doc.Components.Schemas["TradeAllRun"].Properties["state"].Enum
	resultEnum := doc.Components.Schemas["TradeAllResult"].Properties["state"].Enum
	if len(runEnum) == 0 || len(resultEnum) == 0 {
		t.Fatalf("no state enums in the document: run %q, result %q", runEnum, resultEnum)
	}
	for _, st := range tradeall.RunStates {
		v := runView(tradeall.Run{ID: "r", State: st})
		if !slices.Contains(runEnum, v.State) {
			t.Errorf("run state %q is shown as %q, which TradeAllRun.state's enum %q does not list", st, v.State, runEnum)
		}
	}
	for _, st := range tradeall.ItemStates {
		it := tradeall.Item{SessionID: "s", State: st}
		if st.Terminal() {
			it.FinishedAt = time.Unix(1, 0)
		}
		v := runView(tradeall.Run{ID: "r", State: tradeall.RunRunning, Items: []tradeall.Item{it}})
		if len(v.Results) != 1 || !slices.Contains(resultEnum, v.Results[0].State) {
			t.Errorf("item state %q is shown as %+v, which TradeAllResult.state's enum %q does not list", st, v.Results, resultEnum)
		}
	}
}
