package app_test

import (
	"testing"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// readOnlyVenue is a venue registered by this test that reads balances but
// does not trade (Kind.Trades false); its accounts are books on the node's
// paper exchange.
const readOnlyVenue = "read-only-test"

func init() {
	venue.Register(venue.Kind{Name: readOnlyVenue, Description: "reads, never trades", InProcess: true, Positions: true,
		Open: func(env venue.Env, a venue.Account) (venue.Venue, error) {
			ex, _ := env.Value(paper.Name).(*paper.Exchange)
			if ex == nil {
				return nil, venue.ErrUnknownKind
			}
			return ex.Account(a.Name), nil
		}})
}

// TestSessionNeedsATradingVenue: an account on a venue whose Kind does not
// trade is added and listed, but a session on it is refused with a 400
// that says why; the same request on a paper account is created.
func TestSessionNeedsATradingVenue(t *testing.T) {
	t.Parallel()
	n := startNode(t, app.Config{DBURL: storetest.SQLiteURL(t)})
	for _, a := range []map[string]any{{"name": "ro", "venue": readOnlyVenue}, {"name": "pp", "venue": "paper"}} {
		if code := n.do(t, "POST", "/api/v1/accounts", a, nil, &struct{}{}); code != 201 {
			t.Fatalf("add account %v: %d", a, code)
		}
	}
	session := func(account string) int {
		return n.do(t, "POST", "/api/v1/sessions", map[string]any{"name": "s-" + account, "strategy": "dca", "account": account,
			"symbols": []string{"BTCUSDT"}, "params": map[string]any{"symbol": "BTCUSDT", "quote_amount": "10", "interval": "1h"},
			"allocation": "100"}, nil, &struct{}{})
	}
	if code := session("ro"); code != 400 {
		t.Errorf("session on the read-only venue: %d, want 400", code)
	}
	if code := session("pp"); code != 201 {
		t.Errorf("session on a paper account: %d, want 201", code)
	}
}
