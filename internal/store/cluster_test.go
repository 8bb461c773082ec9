package store_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

func TestLeases(t *testing.T) {
	t.Parallel()
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			t.Parallel()
			db := storetest.Open(t, eng.URL(t))
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			ttl := 10 * time.Second
			var ids []string
			for i := 0; i < 10; i++ {
				ids = append(ids, fmt.Sprintf("s-%02d", i))
			}
			if err := db.EnsureLeases(ctx, ids); err != nil {
				t.Fatal(err)
			}
			if err := db.EnsureLeases(ctx, ids); err != nil { // idempotent
				t.Fatal(err)
			}
			a, err := db.ClaimLeases(ctx, "node-a", 6, t0, ttl)
			if err != nil || len(a) != 6 || a[0].Token != 1 {
				t.Fatalf("claim a: %+v %v", a, err)
			}
			b, err := db.ClaimLeases(ctx, "node-b", 6, t0, ttl)
			if err != nil || len(b) != 4 {
				t.Fatalf("claim b: %d %v", len(b), err)
			}
			// a renews in time; b goes silent.
			if got, err := db.RenewLeases(ctx, "node-a", t0.Add(5*time.Second), ttl); err != nil || len(got) != 6 {
				t.Fatalf("renew a: %d %v", len(got), err)
			}
			// After b's TTL its leases are free; a takes them with new tokens.
			t1 := t0.Add(11 * time.Second)
			taken, err := db.ClaimLeases(ctx, "node-a", 10, t1, ttl)
			if err != nil || len(taken) != 4 {
				t.Fatalf("takeover: %d %v", len(taken), err)
			}
			for _, l := range taken {
				if l.Token != 2 {
					t.Fatalf("takeover token %d, want 2", l.Token)
				}
				// b's old token is now refused.
				if err := db.CheckFence(ctx, l.SessionID, 1); !errors.Is(err, store.ErrStaleFence) {
					t.Fatalf("stale token accepted: %v", err)
				}
				if err := db.CheckFence(ctx, l.SessionID, 2); err != nil {
					t.Fatalf("current token refused: %v", err)
				}
			}
			// b wakes up: its renew finds nothing.
			if got, _ := db.RenewLeases(ctx, "node-b", t1, ttl); len(got) != 0 {
				t.Fatalf("b renewed leases it lost: %+v", got)
			}
			if err := db.Heartbeat(ctx, store.Node{ID: "node-a"}, t1); err != nil {
				t.Fatal(err)
			}
			nodes, err := db.Nodes(ctx, t1)
			if err != nil || len(nodes) != 1 || nodes[0].Leases != 10 {
				t.Fatalf("nodes %+v %v", nodes, err)
			}
			if err := db.StopNode(ctx, "node-a", t1); err != nil {
				t.Fatal(err)
			}
			if free, _ := db.ClaimLeases(ctx, "node-c", 100, t1, ttl); len(free) != 10 {
				t.Fatalf("after graceful stop %d leases free, want 10", len(free))
			}
			if err := db.CheckFence(ctx, "no-lease-row", 0); err != nil {
				t.Fatalf("session without lease: %v", err)
			}
		})
	}
}

// TestConcurrentClaims: many claimers at once never take one lease twice.
func TestConcurrentClaims(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	db := storetest.Open(t, url)
	var ids []string
	for i := 0; i < 300; i++ {
		ids = append(ids, fmt.Sprintf("s-%03d", i))
	}
	if err := db.EnsureLeases(ctx, ids); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var mu sync.Mutex
	owner := map[string]string{}
	var wg sync.WaitGroup
	for n := 0; n < 6; n++ {
		wg.Add(1)
		go func(node string) {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				got, err := db.ClaimLeases(ctx, node, 10, now, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, l := range got {
					if prev, ok := owner[l.SessionID]; ok {
						t.Errorf("lease %s claimed by %s and %s", l.SessionID, prev, node)
					}
					owner[l.SessionID] = node
				}
				mu.Unlock()
			}
		}(fmt.Sprintf("node-%d", n))
	}
	wg.Wait()
	if len(owner) != 300 {
		t.Fatalf("%d leases claimed, want 300", len(owner))
	}
}

// TestPrivateStoreChecksLeasesOnceThereAreAny: a private in-memory store
// skips the lease reads while it holds no lease (a replay's scratch store),
// and checks them as every other store does once one is inserted.
func TestPrivateStoreChecksLeasesOnceThereAreAny(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, "sqlite::memory:")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := db.CheckLease(ctx, "s-1", 0, t0); err != nil {
		t.Fatalf("no lease: %v", err)
	}
	if err := db.EnsureLeases(ctx, []string{"s-1"}); err != nil {
		t.Fatal(err)
	}
	for _, node := range []string{"node-a", "node-b"} { // token 1, then 2 after a's expiry
		if got, err := db.ClaimLeases(ctx, node, 1, t0, time.Second); err != nil || len(got) != 1 {
			t.Fatalf("claim %s: %+v %v", node, got, err)
		}
		t0 = t0.Add(2 * time.Second)
	}
	if err := db.CheckLease(ctx, "s-1", 1, t0.Add(-time.Second)); !errors.Is(err, store.ErrStaleFence) {
		t.Fatalf("check lease with token 1 after a takeover: %v, want ErrStaleFence", err)
	}
	if err := db.CheckFence(ctx, "s-1", 1); !errors.Is(err, store.ErrStaleFence) {
		t.Fatalf("check fence with token 1 after a takeover: %v, want ErrStaleFence", err)
	}
	acct := &store.Account{Name: "a", Venue: "paper", CreatedAt: t0}
	if err := db.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	err := db.InsertOrder(ctx, store.Order{ClientOrderID: "o-1", SessionID: "s-1", AccountID: acct.ID, Symbol: "BTCUSDT", Side: "BUY",
		Type: "MARKET", Status: store.OrderIntent, Fence: 1, CreatedAt: t0.Add(-time.Second)})
	if !errors.Is(err, store.ErrStaleFence) {
		t.Fatalf("order under token 1 after a takeover: %v, want ErrStaleFence", err)
	}
}
