package store_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// TestJobHolds: a node holds a job until its hold expires; then exactly one
// of the nodes claiming it at once gets it, and the old owner's writes are
// refused.
func TestJobHolds(t *testing.T) {
	t.Parallel()
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			t.Parallel()
			db := storetest.Open(t, eng.URL(t))
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			ttl := 10 * time.Second
			if err := db.CreateJob(ctx, store.Job{ID: "j1", Kind: "backfill", State: "running", Owner: "a",
				ExpiresAt: t0.Add(ttl), CreatedAt: t0}); err != nil {
				t.Fatal(err)
			}
			if j, _ := db.Job(ctx, "j1"); j.Owner != "a" || !j.ExpiresAt.Equal(t0.Add(ttl)) {
				t.Fatalf("created: %+v", j)
			}
			// Held: another node cannot claim it; its owner can (a restart).
			if _, ok, err := db.ClaimJob(ctx, "j1", "b", t0.Add(5*time.Second), ttl, false); ok || err != nil {
				t.Fatalf("claim of a held job: %v %v, want refused", ok, err)
			}
			if j, ok, err := db.ClaimJob(ctx, "j1", "a", t0.Add(5*time.Second), ttl, false); !ok || err != nil || j.Owner != "a" ||
				!j.ExpiresAt.Equal(t0.Add(15*time.Second)) {
				t.Fatalf("owner's claim: %+v %v %v", j, ok, err)
			}
			if err := db.RenewJob(ctx, "j1", "a", t0.Add(20*time.Second)); err != nil {
				t.Fatal(err)
			}
			if err := db.UpdateOwnedJob(ctx, store.Job{ID: "j1", State: "running", Done: 1, Total: 4, Owner: "a", UpdatedAt: t0},
				t0.Add(20*time.Second)); err != nil {
				t.Fatal(err)
			}
			// a goes silent; b and c race for it: exactly one wins.
			t1 := t0.Add(21 * time.Second)
			var mu sync.Mutex
			var winners []string
			var wg sync.WaitGroup
			for _, node := range []string{"b", "c", "b", "c", "b", "c"} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					j, ok, err := db.ClaimJob(ctx, "j1", node, t1, ttl, false)
					if err != nil {
						t.Error(err)
					}
					if ok {
						mu.Lock()
						winners = append(winners, j.Owner)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			// A node may claim again what it holds; different nodes never both win.
			for _, w := range winners {
				if w != winners[0] {
					t.Fatalf("claims won by %v, want one node", winners)
				}
			}
			if len(winners) == 0 {
				t.Fatal("nobody claimed an expired job")
			}
			winner := winners[0]
			j, _ := db.Job(ctx, "j1")
			if j.Owner != winner || j.Done != 1 || !j.ExpiresAt.Equal(t1.Add(ttl)) {
				t.Fatalf("after the takeover: %+v", j)
			}
			// The old owner is refused and writes nothing.
			if err := db.RenewJob(ctx, "j1", "a", t1.Add(ttl)); !errors.Is(err, store.ErrStaleFence) {
				t.Fatalf("old owner's renewal: %v, want stale", err)
			}
			if err := db.UpdateOwnedJob(ctx, store.Job{ID: "j1", State: "done", Done: 4, Total: 4, Owner: "a", UpdatedAt: t1},
				t1.Add(ttl)); !errors.Is(err, store.ErrStaleFence) {
				t.Fatalf("old owner's update: %v, want stale", err)
			}
			if j, _ := db.Job(ctx, "j1"); j.State != "running" || j.Done != 1 {
				t.Fatalf("old owner's update written: %+v", j)
			}
			// Ended, it is nobody's to claim or renew.
			if err := db.UpdateOwnedJob(ctx, store.Job{ID: "j1", State: "done", Done: 4, Total: 4, Owner: winner, UpdatedAt: t1},
				t1.Add(ttl)); err != nil {
				t.Fatal(err)
			}
			if _, ok, err := db.ClaimJob(ctx, "j1", "a", t1.Add(time.Hour), ttl, true); ok || err != nil {
				t.Fatalf("claim of an ended job: %v %v", ok, err)
			}
			if err := db.RenewJob(ctx, "j1", winner, t1.Add(ttl)); !errors.Is(err, store.ErrStaleFence) {
				t.Fatalf("renewal of an ended job: %v, want stale", err)
			}

			// A graceful stop releases: another node claims at once.
			if err := db.CreateJob(ctx, store.Job{ID: "j2", Kind: "backfill", State: "queued", Owner: "a",
				ExpiresAt: t1.Add(ttl), CreatedAt: t1}); err != nil {
				t.Fatal(err)
			}
			if err := db.ReleaseJobs(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			if j, ok, err := db.ClaimJob(ctx, "j2", "b", t1, ttl, false); !ok || err != nil || j.Owner != "b" || j.State != "queued" {
				t.Fatalf("claim after release: %+v %v %v", j, ok, err)
			}
			// The only node (force) takes a job whoever held it.
			if j, ok, err := db.ClaimJob(ctx, "j2", "solo", t1, 0, true); !ok || err != nil || j.Owner != "solo" {
				t.Fatalf("forced claim: %+v %v %v", j, ok, err)
			}
		})
	}
}
