package store_test

import (
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/store"
)

// TestAlertOutboxConformance: an alert and its deliveries are stored
// together; a keyed alert is stored once; a claimed delivery is not claimed
// again until its claim ends; a failed one waits for its next attempt; a
// delivered one is done. The same on both engines.
func TestAlertOutboxConformance(t *testing.T) {
	t.Parallel()
	runAccountSuite(t, map[string]func(t *testing.T, db *store.DB, account int64){
		"outbox": func(t *testing.T, db *store.DB, _ int64) {
			now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			a := store.Alert{At: now, Severity: "critical", Source: "cluster", Message: "node n2 is down"}
			id, dup, err := db.InsertAlertOutbox(ctx, a, "node-down:n2:1", []string{"webhook:ops", "telegram"}, now)
			if err != nil || dup || id == 0 {
				t.Fatalf("insert: %d %v %v", id, dup, err)
			}
			if id2, dup, err := db.InsertAlertOutbox(ctx, a, "node-down:n2:1", []string{"webhook:ops", "telegram"}, now); err != nil || !dup || id2 != 0 {
				t.Fatalf("insert again under the key: %d %v %v", id2, dup, err)
			}
			if _, dup, err := db.InsertAlertOutbox(ctx, a, "", []string{"webhook:ops"}, now); err != nil || dup {
				t.Fatalf("an unkeyed alert: %v %v", dup, err)
			}
			ds, err := db.ClaimAlertDeliveries(ctx, now, time.Minute, 10)
			if err != nil || len(ds) != 3 || ds[0].Alert.ID != id || ds[0].Alert.Message != a.Message {
				t.Fatalf("claim: %+v %v", ds, err)
			}
			if again, _ := db.ClaimAlertDeliveries(ctx, now.Add(time.Second), time.Minute, 10); len(again) != 0 {
				t.Fatalf("claimed twice: %+v", again)
			}
			if err := db.AlertDelivered(ctx, ds[0].ID, now); err != nil {
				t.Fatal(err)
			}
			if err := db.AlertDeliveryFailed(ctx, ds[1].ID, now.Add(10*time.Second), "post: status 503"); err != nil {
				t.Fatal(err)
			}
			sum, err := db.AlertOutbox(ctx)
			if err != nil || len(sum) != 2 {
				t.Fatalf("summary %+v %v", sum, err)
			}
			// The failed one is due again at its next attempt; the delivered
			// one never; the third once its claim ended.
			ds2, _ := db.ClaimAlertDeliveries(ctx, now.Add(2*time.Minute), time.Minute, 10)
			if len(ds2) != 2 || ds2[0].Attempts+ds2[1].Attempts != 1 {
				t.Fatalf("after the claim and the backoff: %+v", ds2)
			}
		},
	})
}
