package app_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// TestNodesAndSessionOwners: with two nodes on one PostgreSQL schema, either
// node's API lists both nodes as up with the sessions each runs, and names
// the node that runs each running session, consistently with those counts.
func TestNodesAndSessionOwners(t *testing.T) {
	t.Parallel()
	dbURL := storetest.PostgresURL(t)
	const ttl = 2 * time.Second
	a := startNode(t, app.Config{DBURL: dbURL, Demo: true, DataDir: app.DefaultDataDir(), NodeID: "view-a", LeaseTTL: ttl})
	b := startNode(t, app.Config{DBURL: dbURL, NodeID: "view-b", LeaseTTL: ttl})
	type nodeJSON struct {
		ID       string `json:"id"`
		Sessions int    `json:"sessions"`
		Health   string `json:"health"`
		Self     bool   `json:"self"`
	}
	type sessionJSON struct {
		ID, State, Node string
	}
	var last string
	check := func() bool {
		var nodes struct{ Nodes []nodeJSON }
		if code := b.do(t, "GET", "/api/v1/nodes", nil, nil, &nodes); code != 200 {
			t.Fatalf("GET /api/v1/nodes: %d", code)
		}
		var sessions struct{ Sessions []sessionJSON }
		a.do(t, "GET", "/api/v1/sessions", nil, nil, &sessions)
		counts := map[string]int{}
		for _, n := range nodes.Nodes {
			if n.Health != "up" || n.Self != (n.ID == "view-b") {
				last = fmt.Sprintf("node %+v", n)
				return false
			}
			counts[n.ID] = n.Sessions
		}
		if len(counts) != 2 {
			last = fmt.Sprintf("nodes listed: %v", counts)
			return false
		}
		owned := map[string]int{}
		for _, s := range sessions.Sessions {
			if s.State != "running" || s.Node == "" {
				last = fmt.Sprintf("session %+v", s)
				return false
			}
			owned[s.Node]++
		}
		if len(sessions.Sessions) < 6 || owned["view-a"] != counts["view-a"] || owned["view-b"] != counts["view-b"] {
			last = fmt.Sprintf("%d sessions, owners by session %v, by node %v", len(sessions.Sessions), owned, counts)
			return false
		}
		return true
	}
	deadline := time.Now().Add(30 * time.Second)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("within 30 s: not every demo session running on a named node of two up nodes; last: %s", last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
