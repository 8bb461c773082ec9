package app_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/app"
)

// TestRemovedAccountStaysQuiet: removing an account stops its feed; before,
// its resync kept running and raised a journal error and an alert at every
// resync ("resync balances failed for account ...") until restart.
func TestRemovedAccountStaysQuiet(t *testing.T) {
	t.Parallel()
	const every = 50 * time.Millisecond
	n := startNode(t, app.Config{DBURL: "sqlite:" + filepath.Join(t.TempDir(), "node.db"), ResyncEvery: every, SnapshotEvery: time.Hour})
	var acct struct {
		ID int64 `json:"id"`
	}
	if code := n.do(t, "POST", "/api/v1/accounts", map[string]any{"name": "gone", "venue": "paper"}, nil, &acct); code != 201 {
		t.Fatalf("add account: %d", code)
	}
	if code := n.do(t, "DELETE", "/api/v1/accounts/gone", nil, nil, nil); code != 204 {
		t.Fatalf("remove account: %d", code)
	}
	type alertJSON struct {
		AccountID int64  `json:"account_id"`
		Message   string `json:"message"`
	}
	// Twenty resync periods: the old code raised an alert at the first.
	deadline := time.Now().Add(20 * every)
	for time.Now().Before(deadline) {
		var alerts struct{ Alerts []alertJSON }
		n.do(t, "GET", "/api/v1/alerts", nil, nil, &alerts)
		for _, a := range alerts.Alerts {
			if a.AccountID == acct.ID {
				t.Fatalf("alert about the removed account: %q", a.Message)
			}
		}
		time.Sleep(every)
	}
}
