package app_test

import (
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// TestDemoValuedInUSD: with Currency USD the demo desk is valued in USD
// through the stablecoins, every asset priced, and the API says so.
func TestDemoValuedInUSD(t *testing.T) {
	t.Parallel()
	n := startNode(t, app.Config{DBURL: storetest.SQLiteURL(t), Demo: true, DataDir: app.DefaultDataDir(), Currency: "USD"})
	var snap struct {
		Currency string `json:"currency"`
		Total    struct {
			Value          string   `json:"value"`
			UnpricedAssets []string `json:"unpriced_assets"`
		} `json:"total"`
	}
	eventually(t, 20*time.Second, "the demo valued in USD", func() bool {
		n.do(t, "GET", "/api/v1/portfolio", nil, nil, &snap)
		return snap.Total.Value != "" && snap.Total.Value != "0" && len(snap.Total.UnpricedAssets) == 0
	})
	if snap.Currency != "USD" {
		t.Fatalf("portfolio currency %q, want USD", snap.Currency)
	}
}
