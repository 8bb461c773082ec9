package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/server/servertest"
	"github.com/tradeplane/tradeplane/internal/store"
)

// TestAlertsPageShowsFailingDeliveries: a delivery that failed shows on the
// alerts page with its sink and last error, so an outage of a webhook is
// seen while the outbox retries.
func TestAlertsPageShowsFailingDeliveries(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{})
	ctx := context.Background()
	now := time.Now()
	if _, _, err := b.env.DB.InsertAlertOutbox(ctx, store.Alert{At: now, Severity: "critical", Source: "test", Message: "m"}, "",
		[]string{"webhook:ops"}, now); err != nil {
		t.Fatal(err)
	}
	ds, err := b.env.DB.ClaimAlertDeliveries(ctx, now, time.Minute, 10)
	if err != nil || len(ds) != 1 {
		t.Fatalf("claim %v %v", ds, err)
	}
	if err := b.env.DB.AlertDeliveryFailed(ctx, ds[0].ID, now.Add(time.Minute), "post: status 503"); err != nil {
		t.Fatal(err)
	}
	r := b.do(t, "GET", "/alerts", b.viewer, nil)
	body := string(r.body)
	if r.status != 200 || !strings.Contains(body, "alert-deliveries") || !strings.Contains(body, "webhook:ops") ||
		!strings.Contains(body, "post: status 503") {
		t.Fatalf("alerts page %d:\n%s", r.status, body)
	}
}
