package app_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/auth"
)

// TestTradeAllSurvivesServerKill starts a Trade All over 60 sessions on a
// real server process, SIGKILLs the server mid-run, restarts it, and proves
// the run finishes with every session stepped exactly once: no client order
// id at the venue twice, one Trade All order per session, nothing lost.
func TestTradeAllSurvivesServerKill(t *testing.T) {
	if testing.Short() {
		t.Skip("process test: skipped with -short")
	}
	// Not parallel: a process test whose timing bounds (lease TTL, failover
	// deadlines) need the CPU more than the suite needs the overlap.
	dir := t.TempDir()
	d := newDesk(t, "sqlite:"+filepath.Join(dir, "ta.db"), "main")
	d.moveMarket(t)
	ids := d.createSessions(t, 60, "24h") // trade only when told to
	cc := childConfig{DBURL: d.dbURL, NodeID: "solo", MasterKey: d.keyHex, ReconcileEvery: time.Second, LogFile: filepath.Join(dir, "node.log")}
	ctx := context.Background()
	tok, _, err := auth.CreateToken(ctx, d.db, auth.RoleTrader, "ta-kill")
	if err != nil {
		t.Fatal(err)
	}
	p := startProc(t, cc)
	n := &node{url: p.url, token: tok}
	waitRunning(t, d, ids)
	before := len(d.fake.Orders()) // the sessions' first scheduled steps

	var run struct {
		ID, State string
		Total     int
	}
	key := fmt.Sprintf("kill-%d", time.Now().UnixNano())
	if code := n.do(t, "POST", "/api/v1/trade-all", map[string]any{"tag": "kill"}, map[string]string{"Idempotency-Key": key}, &run); code >= 300 || run.Total != len(ids) {
		t.Fatalf("start trade-all: %d %+v", code, run)
	}
	// Kill once some but not all steps have sent their order.
	deadline := time.Now().Add(30 * time.Second)
	for len(d.fake.Orders())-before < 5 {
		if time.Now().After(deadline) {
			t.Fatal("trade-all sent nothing within 30 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.kill()
	atKill := len(d.fake.Orders()) - before
	if atKill >= len(ids) {
		t.Logf("the run finished before the kill (%d orders); the restart then only proves idempotency", atKill)
	}

	p = startProc(t, cc)
	n.url = p.url
	// A retry of the same request after the "network error" returns the
	// same run and trades nothing new.
	var again struct{ ID string }
	n.do(t, "POST", "/api/v1/trade-all", map[string]any{"tag": "kill"}, map[string]string{"Idempotency-Key": key}, &again)
	if again.ID != run.ID {
		t.Fatalf("same key after restart gave run %q, want %q", again.ID, run.ID)
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		n.do(t, "GET", "/api/v1/trade-all/"+run.ID, nil, nil, &run)
		if run.State != "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s still running 60 s after the restart", run.ID)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if run.State != "done" {
		t.Fatalf("run ended %s, want done", run.State)
	}
	// Exactly one Trade All order per session at the venue.
	perSession := map[string]int{}
	for _, o := range d.fake.Orders() {
		row, err := d.db.OrderByClientID(ctx, o.ClientOrderID)
		if err != nil {
			t.Fatalf("venue order %s not journaled", o.ClientOrderID)
		}
		if o.ClientOrderID[0] == 't' { // Trade All ids start with the run ref
			perSession[row.SessionID]++
		}
	}
	for _, id := range ids {
		if perSession[id] != 1 {
			t.Errorf("session %s has %d Trade All orders at the venue, want exactly 1", id, perSession[id])
		}
	}
	time.Sleep(1500 * time.Millisecond)
	p.stop(t)
	orders, fills := checkVenueAgainstJournal(t, d)
	t.Logf("killed with %d of %d steps sent; after restart the run finished %s: %d orders, %d fills, none twice or lost", atKill, len(ids), run.State, orders, fills)
}

func waitRunning(t *testing.T, d *desk, ids []string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		running := 0
		for _, id := range ids {
			if s, err := d.db.Session(context.Background(), id); err == nil && s.State == "running" {
				running++
			}
		}
		if running == len(ids) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d sessions running after 30 s", running, len(ids))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
