package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/cluster"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// runner is a Handler that records which sessions a node runs.
type runner struct {
	mu      sync.Mutex
	running map[string]int64
	lost    int
}

func (r *runner) Acquire(_ context.Context, id string, token int64) {
	r.mu.Lock()
	r.running[id] = token
	r.mu.Unlock()
}

func (r *runner) Lose(id string) {
	r.mu.Lock()
	delete(r.running, id)
	r.lost++
	r.mu.Unlock()
}

func (r *runner) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.running)
}

type node struct {
	c *cluster.Cluster
	r *runner
}

func newNode(t *testing.T, db *store.DB, clk clock.Clock, id string, sessions []string) node {
	t.Helper()
	r := &runner{running: map[string]int64{}}
	c, err := cluster.New(cluster.Config{
		Store: db, NodeID: id, TTL: 15 * time.Second, Clock: clk, Handler: r,
		Log:      slog.New(slog.DiscardHandler),
		Sessions: func(context.Context) ([]string, error) { return sessions, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return node{c, r}
}

// checkExclusive fails when a session runs with a valid guard on two nodes.
func checkExclusive(t *testing.T, nodes ...node) map[string]string {
	t.Helper()
	owner := map[string]string{}
	for i, n := range nodes {
		for _, id := range n.c.Owned() {
			if _, err := n.c.Guard(id); err != nil {
				continue
			}
			if prev, ok := owner[id]; ok {
				t.Fatalf("session %s runs on %s and node %d", id, prev, i)
			}
			owner[id] = fmt.Sprint(i)
		}
	}
	return owner
}

func TestFailoverAndFencing(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, storetest.PostgresURL(t))
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var sessions []string
	for i := 0; i < 30; i++ {
		sessions = append(sessions, fmt.Sprintf("s-%02d", i))
	}
	a, b, c := newNode(t, db, clk, "a", sessions), newNode(t, db, clk, "b", sessions), newNode(t, db, clk, "c", sessions)
	beat := func(ns ...node) {
		for _, n := range ns {
			if err := n.c.Beat(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The first node to beat takes everything; the others ramp up as the
	// excess is handed over a few leases per heartbeat.
	for i := 0; i < 8; i++ {
		beat(a, b, c)
		checkExclusive(t, a, b, c)
		clk.Advance(5 * time.Second)
	}
	if got := len(checkExclusive(t, a, b, c)); got != 30 {
		t.Fatalf("%d sessions running, want 30", got)
	}
	if a.r.count() != 10 || b.r.count() != 10 || c.r.count() != 10 {
		t.Fatalf("spread %d/%d/%d, want 10 each", a.r.count(), b.r.count(), c.r.count())
	}
	cOwned := c.c.Owned()
	oldToken, _ := c.c.Guard(cOwned[0])

	// c pauses (SIGSTOP): it stops beating. After the TTL, a and b take over.
	for i := 0; i < 5; i++ {
		clk.Advance(5 * time.Second)
		beat(a, b)
	}
	if _, err := c.c.Guard(cOwned[0]); !errors.Is(err, cluster.ErrNotOwner) {
		t.Fatalf("paused node still allowed to trade: %v", err)
	}
	if got := len(checkExclusive(t, a, b, c)); got != 30 {
		t.Fatalf("after takeover %d sessions running, want 30", got)
	}
	if err := db.CheckFence(ctx, cOwned[0], oldToken); !errors.Is(err, store.ErrStaleFence) {
		t.Fatalf("stale token accepted by the store: %v", err)
	}
	// c resumes (SIGCONT): its next beat finds its leases gone and stops them.
	beat(c)
	for _, id := range cOwned {
		for _, o := range c.c.Owned() {
			if o == id {
				t.Fatalf("resumed node still runs %s", id)
			}
		}
	}
	checkExclusive(t, a, b, c)
	// Rebalancing: c gets its share back gradually.
	for i := 0; i < 10; i++ {
		clk.Advance(5 * time.Second)
		beat(a, b, c)
		checkExclusive(t, a, b, c)
	}
	if a.r.count() != 10 || b.r.count() != 10 || c.r.count() != 10 {
		t.Fatalf("after rebalance %d/%d/%d, want 10 each", a.r.count(), b.r.count(), c.r.count())
	}
}

func TestGracefulShutdownReleases(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, storetest.PostgresURL(t))
	clk := clock.Real{}
	sessions := []string{"s-1", "s-2", "s-3"}
	a := newNode(t, db, clk, "a", sessions)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.c.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for a.r.count() != 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if a.r.count() != 3 {
		t.Fatalf("node runs %d sessions, want 3", a.r.count())
	}
	cancel()
	<-done
	if a.r.count() != 0 {
		t.Fatal("sessions still running after shutdown")
	}
	b := newNode(t, db, clk, "b", sessions)
	if err := b.c.Beat(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b.r.count() != 3 {
		t.Fatalf("after a's graceful stop b runs %d, want 3 at once (no TTL wait)", b.r.count())
	}
}
