package app_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/auth"
	"github.com/tradeplane/tradeplane/internal/secrets"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// taRun is the API's Trade All run, as far as these tests read it.
type taRun struct {
	ID, State   string
	Total, Done int
	Failed      int
	Results     []struct {
		SessionID string `json:"session_id"`
		State     string
		Message   string
		Orders    int
		Node      string
	}
}

// waitSplit waits until every session in ids runs and the nodes hold equal
// shares of their leases, and returns who owns what.
func waitSplit(t *testing.T, d *desk, ids []string, nodes ...string) map[string]string {
	t.Helper()
	waitRunning(t, d, ids)
	var owner map[string]string
	eventually(t, 60*time.Second, "sessions split evenly between the nodes", func() bool {
		by := owners(t, d.db)
		owner = map[string]string{}
		for n, ss := range by {
			for _, s := range ss {
				owner[s] = n
			}
		}
		for _, n := range nodes {
			if len(by[n]) != len(ids)/len(nodes) {
				return false
			}
		}
		return len(owner) == len(ids)
	})
	waitRunning(t, d, ids)
	return owner
}

// tradeAllOrders counts, per session, the Trade All orders (client ids
// start with the run's ref, "t...") the venue received.
func tradeAllOrders(t *testing.T, d *desk) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, o := range d.fake.Orders() {
		if !strings.HasPrefix(o.ClientOrderID, "t") {
			continue
		}
		row, err := d.db.OrderByClientID(context.Background(), o.ClientOrderID)
		if err != nil {
			t.Fatalf("venue order %s not journaled: %v", o.ClientOrderID, err)
		}
		out[row.SessionID]++
	}
	return out
}

// lastTradeAllEvent reads node n's stream of run id until the run ends and
// returns its last event.
func lastTradeAllEvent(ctx context.Context, n *node, id string) (taRun, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", n.url+"/api/v1/trade-all/"+id+"/stream", nil)
	req.Header.Set("Authorization", "Bearer "+n.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return taRun{}, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var last taRun
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if err := json.Unmarshal([]byte(data), &last); err != nil {
			return last, err
		}
		if last.State != "running" {
			return last, nil
		}
	}
	return last, fmt.Errorf("stream ended with the run %s: %v", last.State, sc.Err())
}

// TestTradeAllAcrossNodes runs two nodes on one PostgreSQL schema with the
// sessions split between them, starts a Trade All on node a, and proves
// that node b steps its own sessions: the run ends done with every session
// stepped once, by the node that owns it, and node b's API and stream say
// so. The same idempotency key on node b returns the same run.
func TestTradeAllAcrossNodes(t *testing.T) {
	t.Parallel()
	dbURL := storetest.PostgresURL(t)
	db, err := store.Open(context.Background(), dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	key := make([]byte, secrets.KeySize)
	rand.Read(key)
	d := newClusterDesk(t, db, dbURL, "main", key)
	ids := d.createSessions(t, 20, "24h") // trade only when told to
	const ttl = 2 * time.Second
	a := startNode(t, app.Config{DBURL: dbURL, NodeID: "ta-a", LeaseTTL: ttl, MasterKey: key})
	b := startNode(t, app.Config{DBURL: dbURL, NodeID: "ta-b", LeaseTTL: ttl, MasterKey: key})
	owner := waitSplit(t, d, ids, "ta-a", "ta-b")

	var run taRun
	if code := a.do(t, "POST", "/api/v1/trade-all", map[string]any{"tag": "kill"}, map[string]string{"Idempotency-Key": "across"}, &run); code != 202 || run.Total != len(ids) {
		t.Fatalf("start on ta-a: %d %+v", code, run)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	streamed := make(chan taRun, 1)
	go func() {
		last, err := lastTradeAllEvent(ctx, b, run.ID)
		if err != nil {
			t.Errorf("ta-b's stream of run %s: %v", run.ID, err)
		}
		streamed <- last
	}()
	var again taRun
	if code := b.do(t, "POST", "/api/v1/trade-all", map[string]any{"tag": "kill"}, map[string]string{"Idempotency-Key": "across"}, &again); code != 200 || again.ID != run.ID {
		t.Fatalf("same key on ta-b: %d run %q, want 200 and %q", code, again.ID, run.ID)
	}
	eventually(t, 60*time.Second, "the run finished, as ta-b sees it", func() bool {
		b.do(t, "GET", "/api/v1/trade-all/"+run.ID, nil, nil, &run)
		return run.State != "running"
	})
	if run.State != "done" || run.Done != len(ids) || run.Failed != 0 {
		t.Fatalf("run ended %s, %d done, %d failed: %+v", run.State, run.Done, run.Failed, run.Results)
	}
	stepped := map[string]int{}
	for _, r := range run.Results {
		if r.State != "ok" || r.Orders != 1 {
			t.Errorf("session %s: %s with %d orders (%s), want ok with 1", r.SessionID, r.State, r.Orders, r.Message)
		}
		if r.Node != owner[r.SessionID] {
			t.Errorf("session %s stepped on %q, but %q owns it", r.SessionID, r.Node, owner[r.SessionID])
		}
		stepped[r.Node]++
	}
	if stepped["ta-a"] == 0 || stepped["ta-b"] == 0 {
		t.Fatalf("steps by node %v: want both nodes", stepped)
	}
	perSession := tradeAllOrders(t, d)
	for _, id := range ids {
		if perSession[id] != 1 {
			t.Errorf("session %s: %d Trade All orders at the venue, want 1", id, perSession[id])
		}
	}
	if last := <-streamed; last.State != "done" || last.Done != len(ids) {
		t.Errorf("ta-b's stream ended with %s, %d of %d done", last.State, last.Done, last.Total)
	}
	t.Logf("run %s: %v steps by node", run.ID, stepped)
}

// TestTradeAllSurvivesStartingNodeKill SIGKILLs the node that started a
// Trade All mid-run: once its leases expire the surviving node takes its
// sessions over, steps the ones not started, settles the ones it left in
// flight, and finishes the run with every session stepped exactly once.
func TestTradeAllSurvivesStartingNodeKill(t *testing.T) {
	if testing.Short() {
		t.Skip("process test: skipped with -short")
	}
	// Not parallel: a process test whose timing bounds (lease TTL, failover
	// deadlines) need the CPU more than the suite needs the overlap.
	dbURL := storetest.PostgresURL(t)
	db, err := store.Open(context.Background(), dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	key := make([]byte, secrets.KeySize)
	rand.Read(key)
	d := newClusterDesk(t, db, dbURL, "main", key)
	d.moveMarket(t)
	ids := d.createSessions(t, 40, "24h")
	dir := t.TempDir()
	const ttl = 2 * time.Second
	cc := func(id string) childConfig {
		return childConfig{DBURL: dbURL, NodeID: id, MasterKey: d.keyHex, LeaseTTL: ttl, ReconcileEvery: time.Second,
			LogFile: filepath.Join(dir, id+".log")}
	}
	pa := startProc(t, cc("kill-a"))
	pb := startProc(t, cc("kill-b"))
	owner := waitSplit(t, d, ids, "kill-a", "kill-b")
	tok, _, err := auth.CreateToken(context.Background(), db, auth.RoleTrader, "ta-kill")
	if err != nil {
		t.Fatal(err)
	}
	a, b := &node{url: pa.url, token: tok}, &node{url: pb.url, token: tok}

	var run taRun
	if code := a.do(t, "POST", "/api/v1/trade-all", map[string]any{"tag": "kill"}, map[string]string{"Idempotency-Key": "kill-a"}, &run); code != 202 {
		t.Fatalf("start on kill-a: %d %+v", code, run)
	}
	// Kill kill-a once a few steps have sent their order: each node paces
	// the account at 8 orders a second, so most are still to go.
	deadline := time.Now().Add(30 * time.Second)
	for n := 0; n < 4; {
		if time.Now().After(deadline) {
			t.Fatal("trade-all sent nothing within 30 s")
		}
		time.Sleep(5 * time.Millisecond)
		n = 0
		for _, c := range tradeAllOrders(t, d) {
			n += c
		}
	}
	pa.kill()
	var mid taRun
	b.do(t, "GET", "/api/v1/trade-all/"+run.ID, nil, nil, &mid)
	eventually(t, 60*time.Second, "the run finished on kill-b", func() bool {
		b.do(t, "GET", "/api/v1/trade-all/"+run.ID, nil, nil, &run)
		return run.State != "running"
	})
	if run.State != "done" || run.Done != len(ids) || run.Failed != 0 {
		t.Fatalf("run ended %s, %d done, %d failed: %+v", run.State, run.Done, run.Failed, run.Results)
	}
	takenOver := 0
	for _, r := range run.Results {
		if owner[r.SessionID] == "kill-a" && r.Node == "kill-b" {
			takenOver++
		}
	}
	if takenOver == 0 {
		t.Errorf("no session of kill-a was stepped or settled by kill-b: %+v", run.Results)
	}
	perSession := tradeAllOrders(t, d)
	for _, id := range ids {
		if perSession[id] != 1 {
			t.Errorf("session %s: %d Trade All orders at the venue, want exactly 1", id, perSession[id])
			for _, r := range run.Results {
				if r.SessionID == id {
					t.Logf("its result: %+v", r)
				}
			}
			evs, _ := db.JournalEvents(context.Background(), store.EventQuery{SessionID: id, Limit: 50})
			for _, e := range evs {
				t.Logf("its journal: %s %s %s %s %s", e.At.Format("15:04:05.000"), e.Kind, e.ClientOrderID, e.ErrorClass, e.Message)
			}
		}
	}
	time.Sleep(1500 * time.Millisecond) // let kill-b's reconcile settle the last fills
	pb.stop(t)
	orders, fills := checkVenueAgainstJournal(t, d)
	t.Logf("kill-a killed with %d of %d steps final; kill-b finished the run, %d of kill-a's sessions after failover: %d orders, %d fills, none twice or lost",
		mid.Done, len(ids), takenOver, orders, fills)
}
