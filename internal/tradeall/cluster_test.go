package tradeall

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// fakeCluster stands in for the lease layer: which node owns each session
// and which nodes are alive.
type fakeCluster struct {
	mu    sync.Mutex
	owner map[string]string // session → node
	alive map[string]bool
}

func (c *fakeCluster) ownerOf(id string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.owner[id]
}

func (c *fakeCluster) here(node string) func(context.Context, []string) ([]bool, error) {
	return func(_ context.Context, ids []string) ([]bool, error) {
		out := make([]bool, len(ids))
		for i, id := range ids {
			out[i] = c.ownerOf(id) == node
		}
		return out, nil
	}
}

func (c *fakeCluster) aliveNodes(context.Context) (map[string]bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]bool{}
	for n, ok := range c.alive {
		out[n] = ok
	}
	return out, nil
}

// die marks node dead and hands its sessions to heir (lease failover).
func (c *fakeCluster) die(node, heir string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.alive[node] = false
	for id, n := range c.owner {
		if n == node {
			c.owner[id] = heir
		}
	}
}

// nodeStepper is the paper stepper as seen from one node: like the session
// manager, it refuses to step a session another node owns.
type nodeStepper struct {
	*paperStepper
	node string
	c    *fakeCluster
}

func (s nodeStepper) Step(ctx context.Context, req StepRequest) (StepResult, error) {
	if owner := s.c.ownerOf(req.Key.SessionID); owner != s.node {
		return StepResult{}, fmt.Errorf("session %s is owned by %s: %w", req.Key.SessionID, owner, ErrNotHere)
	}
	return s.paperStepper.Step(ctx, req)
}

// clusterRunner starts the runner of node over b's store and stepper.
func (b *bundle) clusterRunner(t *testing.T, c *fakeCluster, node string, concurrency int) *Runner {
	t.Helper()
	r, err := New(b.db, b.stepper, nodeStepper{b.stepper, node, c}, Config{Concurrency: concurrency, Node: node,
		Here: c.here(node), Alive: c.aliveNodes, Poll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if _, err := r.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

func splitSessions(ids []string) *fakeCluster {
	c := &fakeCluster{owner: map[string]string{}, alive: map[string]bool{"a": true, "b": true}}
	for i, id := range ids {
		c.owner[id] = []string{"a", "b"}[i%2]
	}
	return c
}

// TestRunAcrossNodes: a run started on node a steps node b's sessions on
// node b, and finishes with every session done exactly once, whichever node
// is asked.
func TestRunAcrossNodes(t *testing.T) {
	t.Parallel()
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			t.Parallel()
			const n = 40
			b := setup(t, setupOpts{sessions: n, url: eng.URL(t)})
			b.runner.Close()
			c := splitSessions(b.stepper.sessionIDs())
			ra, rb := b.clusterRunner(t, c, "a", 4), b.clusterRunner(t, c, "b", 4)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			run, err := ra.Start(ctx, StartRequest{Key: "k", Selection: Selection{All: true}})
			if err != nil {
				t.Fatal(err)
			}
			// The same key on the other node: the same run.
			again, err := rb.Start(ctx, StartRequest{Key: "k", Selection: Selection{All: true}})
			if err != nil || again.ID != run.ID || !again.Existing {
				t.Fatalf("same key on node b: %v %s existing=%t", err, again.ID, again.Existing)
			}
			done, err := ra.Wait(ctx, run.ID)
			if err != nil {
				t.Fatal(err)
			}
			if done.State != RunDone || done.Counts.Done != n || done.Counts.Orders != n {
				t.Fatalf("run ended %s with %+v", done.State, done.Counts)
			}
			for _, it := range done.Items {
				if want := c.ownerOf(it.SessionID); it.Node != want {
					t.Errorf("session %s stepped on %q, want its owner %q", it.SessionID, it.Node, want)
				}
			}
			fromB, err := rb.Get(ctx, run.ID)
			if err != nil || fromB.State != RunDone || fromB.Counts != done.Counts {
				t.Fatalf("node b sees %s %+v (%v)", fromB.State, fromB.Counts, err)
			}
			for i := range n {
				if got := b.venueTrades(t, i); got != 1 {
					t.Errorf("session %d: %d trades at the venue, want 1", i, got)
				}
			}
			b.checkNoResend(t)
		})
	}
}

// TestRunSurvivesStartingNode: node a starts a run and dies mid-run; once
// its sessions fail over to node b, b steps a's pending sessions, settles
// the ones a left in flight, and finishes the run: every session traded
// exactly once.
func TestRunSurvivesStartingNode(t *testing.T) {
	t.Parallel()
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			t.Parallel()
			const n = 60
			b := setup(t, setupOpts{sessions: n, latency: 5 * time.Millisecond, url: eng.URL(t)})
			b.runner.Close()
			c := splitSessions(b.stepper.sessionIDs())
			ra, rb := b.clusterRunner(t, c, "a", 4), b.clusterRunner(t, c, "b", 4)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			run, err := ra.Start(ctx, StartRequest{Key: "k", Selection: Selection{All: true}})
			if err != nil {
				t.Fatal(err)
			}
			waitProgress(t, ra, run.ID, func(p Progress) bool { return p.Counts.Done >= 10 })
			ra.Close() // node a dies
			mid, err := rb.Get(ctx, run.ID)
			if err != nil {
				t.Fatal(err)
			}
			if mid.State != RunRunning {
				t.Fatalf("after a died: run %s", mid.State)
			}
			t.Logf("node a died with %+v", mid.Counts)
			c.die("a", "b")
			rb.Kick(run.ID)
			for {
				cur, err := rb.Get(ctx, run.ID)
				if err != nil {
					t.Fatal(err)
				}
				if cur.State.Terminal() {
					mid = cur
					break
				}
				select {
				case <-ctx.Done():
					t.Fatalf("run still %s with %+v", cur.State, cur.Counts)
				case <-time.After(20 * time.Millisecond):
				}
			}
			if mid.State != RunDone || mid.Counts.Done != n || mid.Counts.Orders != n {
				t.Fatalf("run ended %s with %+v", mid.State, mid.Counts)
			}
			for i := range n {
				if got := b.venueTrades(t, i); got != 1 {
					t.Errorf("session %d: %d trades at the venue, want 1", i, got)
				}
			}
			b.checkNoResend(t)
		})
	}
}
