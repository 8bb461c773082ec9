package app

import (
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/store"
)

func TestDownNodes(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 1, 0, 1, 0, 0, time.UTC)
	nodes := []store.Node{
		{ID: "self", HeartbeatAt: now.Add(-time.Hour)},                                    // never itself
		{ID: "fresh", HeartbeatAt: now.Add(-5 * time.Second)},                             // up
		{ID: "dead", HeartbeatAt: now.Add(-20 * time.Second)},                             // down
		{ID: "stopped", HeartbeatAt: now.Add(-time.Hour), StoppedAt: now.Add(-time.Hour)}, // graceful
	}
	got := downNodes(nodes, "self", now, 15*time.Second)
	if len(got) != 1 || got[0].ID != "dead" {
		t.Fatalf("down nodes %+v, want only dead", got)
	}
}
