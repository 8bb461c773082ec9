package app_test

import (
	"context"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/auth"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
	"github.com/tradeplane/tradeplane/internal/venue/bybittest"
)

// TestSIGKILLLosesNothing kills a real server process with SIGKILL at random
// moments while its sessions trade on a venue that outlives it (a loopback
// fake Binance), 20 times, then restarts it and proves: no order sent
// twice, no fill lost, every journaled order settled, sessions back to
// running, and each DCA session's saved state counting exactly the buys
// the venue executed for it (runKillTest).
func TestSIGKILLLosesNothing(t *testing.T) {
	// 1 s is the least DCA allows; 24 sessions keep the order rate of 8 at
	// 300 ms.
	runKillTest(t, killCase{sessions: 24, kills: 20, seed: 7,
		open: func(t *testing.T, dbURL string) *desk { return newDesk(t, dbURL, "main") }})
}

// TestSIGKILLBinanceFuturesLosesNothing is TestSIGKILLLosesNothing on a
// binance-futures account trading the fake's USDⓈ-M perpetuals.
func TestSIGKILLBinanceFuturesLosesNothing(t *testing.T) {
	runKillTest(t, killCase{sessions: 6, kills: 10, seed: 11,
		open: func(t *testing.T, dbURL string) *desk { return newFuturesDesk(t, dbURL, binancetest.Config{}) }})
}

// TestSIGKILLBybitLosesNothing is TestSIGKILLLosesNothing on a Bybit
// account on a loopback fake Bybit.
func TestSIGKILLBybitLosesNothing(t *testing.T) {
	runKillTest(t, killCase{sessions: 6, kills: 10, seed: 11,
		open: func(t *testing.T, dbURL string) *desk { d, _ := newBybitDesk(t, dbURL, bybittest.Config{}); return d }})
}

// TestSIGKILLBybitLinearLosesNothing is TestSIGKILLLosesNothing on a
// bybit-linear account: DCA buys of the fake Bybit's BTCUSDT perpetual.
func TestSIGKILLBybitLinearLosesNothing(t *testing.T) {
	runKillTest(t, killCase{sessions: 6, kills: 10, seed: 13,
		open: func(t *testing.T, dbURL string) *desk {
			d, _ := newBybitLinearDesk(t, dbURL, bybittest.Config{})
			return d
		}})
}

// killCase is one venue of the SIGKILL harness: sessions DCA sessions on
// the account open makes, their node SIGKILLed kills times (at moments
// drawn from seed and the clock).
type killCase struct {
	sessions, kills int
	seed            uint64
	open            func(t *testing.T, dbURL string) *desk
}

// runKillTest runs a node process on the case's desk, SIGKILLs it at
// random moments, restarts it, pauses the sessions once they all run and
// trade again, and checks the venue against the journal and each session's
// state. It is not parallel: a process test whose timing bounds (lease
// TTL, failover deadlines) need the CPU more than the suite needs the
// overlap.
func runKillTest(t *testing.T, kc killCase) {
	if testing.Short() {
		t.Skip("process test: skipped with -short")
	}
	dir := t.TempDir()
	d := kc.open(t, "sqlite:"+filepath.Join(dir, "kill.db"))
	v := d.view()
	ids := d.createSessions(t, kc.sessions, "1s")
	cc := childConfig{DBURL: d.dbURL, NodeID: "solo", MasterKey: d.keyHex, ReconcileEvery: time.Second, LogFile: filepath.Join(dir, "node.log")}
	logTail := func(n int) string {
		b, _ := os.ReadFile(cc.LogFile)
		return tail(string(b), n)
	}
	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), kc.seed))
	d.moveMarket(t)
	start := time.Now()
	for range kc.kills {
		p := startProc(t, cc)
		// The kill's random moment (this sleep paces the lives).
		time.Sleep(time.Duration(300+rng.IntN(1500)) * time.Millisecond)
		p.kill()
	}
	before := len(v.orders())
	if before == 0 {
		t.Fatalf("no order reached %s in %d lives: the sessions never traded; node log tail:\n%s", v.name, kc.kills, logTail(4000))
	}
	killed := time.Now()
	// A last life: reconcile at start, trade a little, stop gracefully.
	p := startProc(t, cc)
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		running := 0
		for _, id := range ids {
			if s, err := d.db.Session(ctx, id); err == nil && s.State == "running" {
				running++
			}
		}
		if running == len(ids) && len(v.orders()) > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the last restart %d of %d sessions running, %d orders (had %d)", running, len(ids), len(v.orders()), before)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Quiesce: pause every session, then let reconciliation settle every
	// order in flight (orders younger than the executor's not-found grace,
	// 10 s, are left for a later pass by design). DCA's orders are market
	// orders: none rests.
	tok, _, err := auth.CreateToken(ctx, d.db, auth.RoleAdmin, "kill-test")
	if err != nil {
		t.Fatal(err)
	}
	pauseSessions(t, &node{url: p.url, token: tok}, ids)
	paused := time.Now()
	if !waitSettled(t, d, 40*time.Second, false) {
		t.Errorf("orders still unsettled 40 s after the sessions paused")
	}
	settledAt := time.Now()
	p.stop(t)
	orders, fills := checkJournal(t, d, false)
	checkStrategyStateAgainstVenue(t, d, orders, ids)
	t.Logf("%d SIGKILLs on %s: %d orders at the venue, %d fills recorded, none duplicated or lost", kc.kills, v.name, len(orders), fills)
	t.Logf("phases: lives %s, restart until every session trades %s, settle after the pause %s",
		killed.Sub(start).Round(time.Millisecond), paused.Sub(killed).Round(time.Millisecond), settledAt.Sub(paused).Round(time.Millisecond))
	if t.Failed() {
		t.Logf("node log tail:\n%s", logTail(3000))
	}
}
