package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// TestSessionCommandOnOtherNode: a command sent to a node that does not own
// the session (trade, restart of a running one) answers 409 not_owner with
// the owner node and its address, not 500.
func TestSessionCommandOnOtherNode(t *testing.T) {
	t.Parallel()
	dbURL := storetest.PostgresURL(t)
	// A lease long enough that a loaded machine cannot let node a's
	// lapse between the listing and the commands (at 2 s it did, under
	// load 8–14: "no node holds it now", no owner in the answer).
	const ttl = 15 * time.Second
	a := startNode(t, app.Config{DBURL: dbURL, Demo: true, DataDir: app.DefaultDataDir(), NodeID: "owner-a", LeaseTTL: ttl})
	b := startNode(t, app.Config{DBURL: dbURL, NodeID: "other-b", LeaseTTL: ttl})

	// A running session that node a runs, and a's address as the nodes
	// list shows it.
	var id, addr string
	eventually(t, 30*time.Second, "a running session on node owner-a", func() bool {
		var sessions struct {
			Sessions []struct{ ID, State, Node string }
		}
		a.do(t, "GET", "/api/v1/sessions", nil, nil, &sessions)
		for _, s := range sessions.Sessions {
			if s.State == "running" && s.Node == "owner-a" {
				id = s.ID
			}
		}
		var nodes struct {
			Nodes []struct{ ID, Addr string }
		}
		b.do(t, "GET", "/api/v1/nodes", nil, nil, &nodes)
		for _, n := range nodes.Nodes {
			if n.ID == "owner-a" {
				addr = n.Addr
			}
		}
		return id != "" && addr != ""
	})

	for _, cmd := range []string{"trade", "restart"} {
		req, _ := http.NewRequest("POST", b.url+"/api/v1/sessions/"+id+"/"+cmd, nil)
		req.Header.Set("Authorization", "Bearer "+b.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var body struct {
			Error struct {
				Code    string            `json:"code"`
				Message string            `json:"message"`
				Details map[string]string `json:"details"`
			} `json:"error"`
		}
		if err := json.Unmarshal(data, &body); err != nil {
			t.Fatalf("%s on the other node: %d %q: %v", cmd, resp.StatusCode, data, err)
		}
		if resp.StatusCode != http.StatusConflict || body.Error.Code != "not_owner" {
			t.Fatalf("%s on the other node: got %d %s, want 409 not_owner", cmd, resp.StatusCode, data)
		}
		if body.Error.Details["node"] != "owner-a" || body.Error.Details["addr"] != addr {
			t.Errorf("%s on the other node: details %v, want node owner-a addr %s", cmd, body.Error.Details, addr)
		}
		t.Logf("%s: %s", cmd, body.Error.Message)
	}
}
