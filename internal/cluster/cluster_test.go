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

// TestRenewalAndJournalDoNotDeadlock: a node renews all its leases while its
// journal commits batches of orders, each locking the lease rows of its
// sessions (the fence check) in batch order. The renewal must neither fail
// with a deadlock nor wait for the batches: a failed renewal stops the
// heartbeat before it claims anything, and leases left unrenewed expire.
func TestRenewalAndJournalDoNotDeadlock(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, storetest.PostgresURL(t))
	ctx := context.Background()
	acct := &store.Account{Name: "main", Venue: "paper"}
	if err := db.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 200 {
		ids = append(ids, fmt.Sprintf("s-%03d", i))
	}
	if err := db.EnsureLeases(ctx, ids); err != nil {
		t.Fatal(err)
	}
	const ttl = time.Minute
	if got, err := db.ClaimLeases(ctx, "a", len(ids), time.Now(), ttl); err != nil || len(got) != len(ids) {
		t.Fatalf("claim: %d %v", len(got), err)
	}
	stop := make(chan struct{})
	errs := make(chan error, 100)
	var wg sync.WaitGroup
	var seq sync.Mutex
	n := 0
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				// A batch locks the lease rows of its sessions in an
				// order unrelated to the renewal's (descending here).
				var batch []*store.JournalWrite
				for j := range 20 {
					seq.Lock()
					n++
					id := fmt.Sprintf("o-%d-%d", w, n)
					seq.Unlock()
					sid := ids[len(ids)-1-(j*7+k+w*13)%len(ids)]
					batch = append(batch, &store.JournalWrite{NewOrder: &store.Order{
						ClientOrderID: id, SessionID: sid, AccountID: acct.ID, Symbol: "BTCUSDT", Side: "BUY",
						Type: "MARKET", Status: "NEW", Fence: 1, CreatedAt: time.Now(),
					}})
				}
				if err := db.WriteJournal(ctx, batch); err != nil {
					errs <- fmt.Errorf("journal batch: %w", err)
					return
				}
			}
		}()
	}
	deadline := time.Now().Add(3 * time.Second)
	renewals := 0
	var slowest time.Duration
	for time.Now().Before(deadline) {
		t0 := time.Now()
		got, err := db.RenewLeases(ctx, "a", t0, ttl)
		if err != nil {
			errs <- fmt.Errorf("renewal %d: %w", renewals, err)
			break
		}
		if len(got) != len(ids) {
			errs <- fmt.Errorf("renewal %d: %d leases, want %d", renewals, len(got), len(ids))
			break
		}
		slowest = max(slowest, time.Since(t0))
		renewals++
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d renewals, slowest %s, %d orders journaled", renewals, slowest, n)
}

// stuckRunner is a Handler whose Lose blocks until unblocked, like a
// session whose in-flight step takes long to give up.
type stuckRunner struct {
	runner
	block chan struct{}
}

func (r *stuckRunner) Lose(id string) {
	<-r.block
	r.runner.Lose(id)
}

// TestStuckStopDoesNotHoldHeartbeat: a node handing leases over to a
// joining node keeps heartbeating while the sessions it gives up take long
// to stop; it refuses to trade them at once, lets the leases go only once
// they have stopped, and keeps renewing the rest.
func TestStuckStopDoesNotHoldHeartbeat(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, storetest.PostgresURL(t))
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var sessions []string
	for i := range 20 {
		sessions = append(sessions, fmt.Sprintf("s-%02d", i))
	}
	const ttl = 15 * time.Second
	r := &stuckRunner{runner: runner{running: map[string]int64{}}, block: make(chan struct{})}
	a, err := cluster.New(cluster.Config{
		Store: db, NodeID: "a", TTL: ttl, Clock: clk, Handler: r, Log: slog.New(slog.DiscardHandler),
		Sessions: func(context.Context) ([]string, error) { return sessions, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Beat(ctx); err != nil || r.count() != 20 {
		t.Fatalf("a runs %d sessions (%v), want 20", r.count(), err)
	}
	b := newNode(t, db, clk, "b", sessions)
	if err := b.c.Beat(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Advance(ttl / 3)
	t0 := time.Now()
	if err := a.Beat(ctx); err != nil { // gives up 5, whose Lose blocks
		t.Fatal(err)
	}
	if d := time.Since(t0); d > ttl/10+time.Second {
		t.Fatalf("heartbeat held %s by sessions that do not stop", d)
	}
	if got := len(a.Owned()); got != 15 {
		t.Fatalf("a owns %d sessions while giving 5 up, want 15", got)
	}
	stuck := 0
	for _, id := range sessions {
		if _, err := a.Guard(id); err != nil {
			stuck++
		}
	}
	if stuck != 5 {
		t.Fatalf("a's guard refuses %d sessions, want the 5 given up", stuck)
	}
	// Not released before they stop: b cannot take them yet.
	if err := b.c.Beat(ctx); err != nil || b.r.count() != 0 {
		t.Fatalf("b runs %d sessions before a stopped them (%v)", b.r.count(), err)
	}
	// a keeps renewing the rest while the 5 are stuck.
	for range 4 {
		clk.Advance(ttl / 3)
		if err := a.Beat(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(a.Owned()); got != 15-5 {
		t.Fatalf("a owns %d sessions, want 10 (15 minus the next 5 given up)", got)
	}
	for _, id := range a.Owned() {
		if _, err := a.Guard(id); err != nil {
			t.Fatalf("a stopped renewing %s while others were stuck stopping: %v", id, err)
		}
	}
	close(r.block)
	deadline := time.Now().Add(5 * time.Second)
	for b.r.count() < 10 && time.Now().Before(deadline) {
		if err := b.c.Beat(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b.r.count() != 10 {
		t.Fatalf("b runs %d sessions once a's stopped, want 10", b.r.count())
	}
	checkExclusive(t, node{a, &r.runner}, b)
}
