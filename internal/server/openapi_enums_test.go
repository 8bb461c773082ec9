package server_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/tradeplane/tradeplane/internal/auth"
	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/strategy"
	"github.com/tradeplane/tradeplane/internal/venue"
	_ "github.com/tradeplane/tradeplane/internal/venue/builtin" // the built-in venues, as the product registers them
)

// TestOpenAPIEnumsAreTheGoValues: every enum anywhere in the OpenAPI
// document is exactly the Go value list of its field; an enum written by
// hand, or a field whose list is not known here, fails.
func TestOpenAPIEnumsAreTheGoValues(t *testing.T) {
	t.Parallel()
	roles := []string{auth.RoleViewer.String(), auth.RoleTrader.String(), auth.RoleAdmin.String()}
	want := map[string][]string{
		"components.schemas.TradeAllRun.properties.state":                                    server.RunStates,
		"components.schemas.TradeAllResult.properties.state":                                 server.ResultStates,
		"components.schemas.NewSession.properties.allocation_kind":                           server.AllocationKinds,
		"components.schemas.Node.properties.health":                                          server.NodeHealths,
		"components.schemas.BackfillRequest.properties.interval":                             server.PnLIntervals,
		"components.schemas.Me.properties.role":                                              roles,
		"components.schemas.NewToken.properties.role":                                        roles,
		"components.schemas.NewSession.properties.strategy":                                  strategy.Names(),
		"components.schemas.NewAccount.properties.venue":                                     venue.Names(),
		"components.schemas.TradeAllRequest.properties.venue":                                venue.Names(),
		"components.schemas.AuditReport.properties.differences.items.properties.kinds.items": journal.DiffKinds,
		"components.schemas.Account.properties.futures_margin_type.additionalProperties":     server.MarginTypes,
		"components.schemas.NewAccount.properties.futures_margin_type.additionalProperties":  server.MarginTypes,
	}
	raw, err := server.OpenAPI("test")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	found := map[string][]string{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if k == "enum" {
					var vals []string
					for _, e := range x.([]any) {
						vals = append(vals, fmt.Sprint(e))
					}
					found[path] = vals
					continue
				}
				walk(strings.TrimPrefix(path+"."+k, "."), x)
			}
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), x)
			}
		}
	}
	walk("", doc)
	paths := make([]string, 0, len(found))
	for p := range found {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		w, ok := want[p]
		if !ok {
			t.Errorf("enum at %s %q is not one of the Go value lists this test knows: build it from one", p, found[p])
			continue
		}
		if !slices.Equal(found[p], w) {
			t.Errorf("enum at %s: got %q, want the Go values %q", p, found[p], w)
		}
	}
	for p := range want {
		if _, ok := found[p]; !ok {
			t.Errorf("no enum at %s", p)
		}
	}
	if !slices.Contains(server.RunStates, server.RunPartial) {
		t.Errorf("RunStates %q lacks %q", server.RunStates, server.RunPartial)
	}
}
