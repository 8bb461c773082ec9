package cluster_test

import (
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/cluster"
	"github.com/tradeplane/tradeplane/internal/store"
)

func TestNodeHealth(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 1, 0, 1, 0, 0, time.UTC)
	for _, tc := range []struct {
		age  time.Duration
		ttl  time.Duration
		want cluster.Health
	}{
		{0, 15 * time.Second, cluster.HealthUp},
		{10 * time.Second, 15 * time.Second, cluster.HealthUp}, // one heartbeat (every 5 s) late is normal
		{11 * time.Second, 15 * time.Second, cluster.HealthLate},
		{15 * time.Second, 15 * time.Second, cluster.HealthLate},
		{16 * time.Second, 15 * time.Second, cluster.HealthDown},
		{16 * time.Second, 0, cluster.HealthDown}, // the default TTL
		{16 * time.Second, time.Minute, cluster.HealthUp},
	} {
		if got := cluster.NodeHealth(store.Node{HeartbeatAt: now.Add(-tc.age)}, now, tc.ttl); got != tc.want {
			t.Errorf("heartbeat %v ago, ttl %v: got %q, want %q", tc.age, tc.ttl, got, tc.want)
		}
	}
}

func TestDownNodes(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 1, 0, 1, 0, 0, time.UTC)
	nodes := []store.Node{
		{ID: "self", HeartbeatAt: now.Add(-time.Hour)},                                    // never itself
		{ID: "fresh", HeartbeatAt: now.Add(-5 * time.Second)},                             // up
		{ID: "late", HeartbeatAt: now.Add(-12 * time.Second)},                             // late, not down
		{ID: "dead", HeartbeatAt: now.Add(-20 * time.Second)},                             // down
		{ID: "stopped", HeartbeatAt: now.Add(-time.Hour), StoppedAt: now.Add(-time.Hour)}, // graceful
	}
	got := cluster.DownNodes(nodes, "self", now, 15*time.Second)
	if len(got) != 1 || got[0].ID != "dead" {
		t.Fatalf("down nodes %+v, want only dead", got)
	}
}
