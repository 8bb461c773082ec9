package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/auth"
	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/secrets"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// The process-level fault harness: three `tradeplane serve` nodes (child
// processes of the test binary, as in TestClusterFailover) share one
// PostgreSQL schema and trade DCA and grid sessions of one account on one
// loopback fake Binance, which mistreats order requests as each run's seed
// draws:
//
//		go test ./internal/app -run TestProcFaultHarness -v -args -harness.runs 200 -harness.seed 1
//
//	  - every accepted order is invisible to the order lookup, order history,
//	    open orders, cancels and trade history for 0-70 s scaled (see below);
//	  - the answer is dropped after execution (connection closed), or a 503
//	    -1007 is answered after execution; a share of those (drawn per run)
//	    is silent on the user stream too, so only the delayed lookups can
//	    tell the node what happened;
//	  - the request is held at the venue while the node that sent it is
//	    SIGSTOPped, then SIGCONTed and the request let through: the venue
//	    sees a request stamped after the node's last lease check arrive
//	    late, as from a node frozen between that check and the send. The
//	    freeze ends inside the request's recvWindow (it executes), after it
//	    (refused -1021, the lease still held) or past the lease TTL (another
//	    node takes the session over; refused -1021);
//	  - one node is SIGKILLed at a drawn moment and restarted.
//
// Time is scaled: visibility delays, Binance's consistency lag and the
// recvWindow are all divided by harnessScale (0-70 s becomes 0-3.5 s, the
// 90 s lag 4.5 s, the 5 s recvWindow 250 ms), so they keep production's
// proportions: the lag exceeds every delay, and most delays exceed the
// recvWindow, so "not found once the recvWindow passed" is not proof. The
// lease TTL (5 s) is not scaled: it stays what TestClusterFailover uses,
// above the nodes' scheduling noise, and the recvWindow stays below its
// safety margin (TTL/5).
//
// After the fault phase the faults stop, the market stops moving, every
// session is paused and the nodes settle; then, for every client order id:
// executed at the venue ⇔ filled in the journal, with equal quantity and
// fees; no id reaches the venue again after an arrival that created an
// order (the fake logs every arrival, refused or not); no executed order
// left failed; no order left unknown.
//
// A seed fixes the run's draws (sessions, fault rates, the kill's moment
// and node, freeze lengths, each order's fault in arrival order); the
// interleaving of three processes is not reproducible, so the same seed
// replays the same fault mix, not the same schedule.
var (
	procHarnessRuns = flag.Int("harness.runs", 3, "randomized runs of TestProcFaultHarness (the normal test run does the default sample)")
	procHarnessSeed = flag.Uint64("harness.seed", 1, "first seed of TestProcFaultHarness; run i uses seed+i")
	// procHarnessLag overrides the nodes' Binance consistency lag: a lag
	// shorter than the visibility delays (say 1ms) must make runs fail,
	// which shows the harness can see the rule broken.
	procHarnessLag = flag.Duration("harness.lag", harnessLag, "Binance consistency lag of the nodes in TestProcFaultHarness")
)

const (
	harnessScale     = 20
	harnessTTL       = 5 * time.Second
	harnessLag       = 90 * time.Second / harnessScale
	harnessRecv      = 5 * time.Second / harnessScale
	harnessMaxHidden = 70 * time.Second / harnessScale
)

func TestProcFaultHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("process test: skipped with -short")
	}
	if os.Getenv(storetest.PostgresEnv) == "" {
		t.Skipf("%s not set: the process fault harness runs three nodes on PostgreSQL", storetest.PostgresEnv)
	}
	var sum harnessTotals
	start := time.Now()
	for i := 0; i < *procHarnessRuns; i++ {
		seed := *procHarnessSeed + uint64(i)
		var r harnessRun
		ok := t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { r = runProcHarness(t, seed) })
		sum.add(r, ok)
	}
	t.Logf("%d runs from seed %d in %s (%s a run): %s", *procHarnessRuns, *procHarnessSeed,
		time.Since(start).Round(time.Second), (time.Since(start) / time.Duration(max(1, *procHarnessRuns))).Round(100*time.Millisecond), sum)
}

// harnessRun counts what one run drew and saw.
type harnessRun struct {
	arrivals, orders, executed, fills int
	hidden, drops, fiveXX, silent     int
	freezes, longFreezes, kills       int
	refusedLate, resent, corrected    int
}

type harnessTotals struct {
	runs, failed int
	harnessRun
}

func (s *harnessTotals) add(r harnessRun, ok bool) {
	s.runs++
	if !ok {
		s.failed++
	}
	s.arrivals += r.arrivals
	s.orders += r.orders
	s.executed += r.executed
	s.fills += r.fills
	s.hidden += r.hidden
	s.drops += r.drops
	s.fiveXX += r.fiveXX
	s.silent += r.silent
	s.freezes += r.freezes
	s.longFreezes += r.longFreezes
	s.kills += r.kills
	s.refusedLate += r.refusedLate
	s.resent += r.resent
	s.corrected += r.corrected
}

func (s harnessTotals) String() string {
	return fmt.Sprintf("%d runs, %d failed; %d order requests, %d orders at the venue, %d executed, %d fills; faults: %d orders hidden, "+
		"%d answers dropped after execution, %d 5xx after execution (%d of them silent on the user stream), %d freezes (%d past the lease TTL), %d SIGKILLs; "+
		"%d late requests refused, %d ids resent after a refusal, %d corrected events",
		s.runs, s.failed, s.arrivals, s.orders, s.executed, s.fills, s.hidden, s.drops, s.fiveXX, s.silent, s.freezes, s.longFreezes, s.kills,
		s.refusedLate, s.resent, s.corrected)
}

// harnessNodes are the three nodes of a run; a node is replaced when it
// is killed and restarted.
type harnessNodes struct {
	mu    sync.Mutex
	procs map[string]*proc
	cc    map[string]childConfig
}

func (n *harnessNodes) get(name string) *proc {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.procs[name]
}

func (n *harnessNodes) set(name string, p *proc) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.procs[name] = p
}

func runProcHarness(t *testing.T, seed uint64) (res harnessRun) {
	rng := mrand.New(mrand.NewPCG(seed, 0x13b))
	ctx := context.Background()
	dbURL := storetest.PostgresURL(t) + "&idle_in_transaction_session_timeout=2000"
	db, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	key := make([]byte, secrets.KeySize)
	rand.Read(key)
	d := newClusterDesk(t, db, dbURL, "harness", key)
	d.fake.Fund(venue.WalletSpot, "BTC", udecimal.MustParse("100"))

	// The run's draws.
	var (
		nDCA     = 3 + rng.IntN(4)
		nGrid    = 1 + rng.IntN(2)
		pDrop    = 0.05 + 0.10*rng.Float64()
		p5xx     = 0.05 + 0.10*rng.Float64()
		pFreeze  = 0.03 + 0.05*rng.Float64()
		pSilent  = rng.Float64()
		maxFreez = 1 + rng.IntN(2)
		phase    = time.Duration(12+rng.IntN(7)) * time.Second
		killAt   = time.Duration(2000+rng.IntN(int(phase/time.Millisecond)-5000)) * time.Millisecond
		killNode = []string{"node-a", "node-b", "node-c"}[rng.IntN(3)]
		downFor  = time.Duration(500+rng.IntN(3000)) * time.Millisecond
	)
	t.Logf("seed %d: %d DCA + %d grid sessions, %s of faults: drop %.2f, 5xx %.2f (silent stream %.2f of them), freeze %.2f (at most %d), SIGKILL %s at %s for %s",
		seed, nDCA, nGrid, phase, pDrop, p5xx, pSilent, pFreeze, maxFreez, killNode, killAt, downFor)

	// The nodes.
	dir := t.TempDir()
	nodes := &harnessNodes{procs: map[string]*proc{}, cc: map[string]childConfig{}}
	var waits []func()
	for _, n := range []string{"node-a", "node-b", "node-c"} {
		cc := childConfig{DBURL: dbURL, NodeID: n, MasterKey: hex.EncodeToString(key), LeaseTTL: harnessTTL,
			ReconcileEvery: 2 * time.Second, UnknownEvery: time.Second, Lag: *procHarnessLag, RecvWindow: harnessRecv, LogFile: filepath.Join(dir, n+".log")}
		p, wait := spawnProc(t, cc)
		nodes.set(n, p)
		nodes.cc[n] = cc
		waits = append(waits, wait)
	}
	for _, w := range waits {
		w()
	}
	defer func() {
		if t.Failed() {
			for _, n := range []string{"node-a", "node-b", "node-c"} {
				if b, err := os.ReadFile(nodes.cc[n].LogFile); err == nil {
					t.Logf("%s log tail:\n%s", n, tail(string(b), 4000))
				}
			}
		}
	}()

	// The fault plan, drawn per order request in arrival order.
	var (
		mu        sync.Mutex
		faulting  = true
		freezing  sync.WaitGroup
		frozenNow bool
	)
	plan := func(cid string) binancetest.PlaceFault {
		mu.Lock()
		defer mu.Unlock()
		if !faulting {
			return binancetest.PlaceFault{}
		}
		var pf binancetest.PlaceFault
		if hide := time.Duration(rng.Int64N(int64(harnessMaxHidden) + 1)); hide > 0 {
			pf.Visibility = hide
			res.hidden++
		}
		switch r := rng.Float64(); {
		case r < pDrop:
			pf.After = binancetest.FaultDropAfterExecution
			res.drops++
		case r < pDrop+p5xx:
			pf.After = binancetest.FaultTimeoutAfterExecution
			res.fiveXX++
		case r < pDrop+p5xx+pFreeze && !frozenNow && res.freezes < maxFreez:
			// The sender is the node holding the session's lease: the
			// intent is journaled before the request leaves.
			o, err := db.OrderByClientID(ctx, cid)
			if err != nil {
				break
			}
			l, err := db.Lease(ctx, o.SessionID)
			if err != nil || nodes.get(l.NodeID) == nil {
				break
			}
			p := nodes.get(l.NodeID)
			var hold time.Duration
			switch rng.IntN(3) {
			case 0: // the request still lands inside its recvWindow
				hold = time.Duration(20+rng.IntN(int(harnessRecv/time.Millisecond)-100)) * time.Millisecond
			case 1: // late, refused; the lease outlives the freeze
				hold = time.Duration(500+rng.IntN(2500)) * time.Millisecond
			default: // past the TTL: another node takes the session over
				hold = harnessTTL + time.Duration(1000+rng.IntN(4000))*time.Millisecond
				res.longFreezes++
			}
			res.freezes++
			frozenNow = true
			release := make(chan struct{})
			pf.Wait = release
			freezing.Add(1)
			p.signal(syscall.SIGSTOP)
			t.Logf("order %s: %s frozen for %s before its request reaches the venue", cid, l.NodeID, hold)
			go func() {
				defer freezing.Done()
				time.Sleep(hold)
				p.signal(syscall.SIGCONT)
				time.Sleep(20 * time.Millisecond) // the node wakes, then its request leaves
				close(release)
				mu.Lock()
				frozenNow = false
				mu.Unlock()
			}()
		}
		if pf.After != "" && rng.Float64() < pSilent {
			// The answer is lost and the user stream misses the order
			// too: only the lookups, delayed, can tell.
			pf.Silent = true
			res.silent++
		}
		return pf
	}
	d.fake.SetPlacePlan(plan)

	// The market moves while the sessions trade; the grid's levels are a
	// few ticks apart so its orders rest and fill.
	stopMarket := moveMarketUntil(d)
	defer stopMarket()
	ids := createHarnessSessions(t, d, nDCA, nGrid)
	phaseStart := time.Now()

	// SIGKILL one node at its drawn moment, restart it after downFor.
	time.Sleep(killAt)
	nodes.get(killNode).kill()
	res.kills++
	t.Logf("%s SIGKILLed at %s", killNode, time.Since(phaseStart).Round(time.Millisecond))
	time.Sleep(downFor)
	p := startProc(t, nodes.cc[killNode])
	nodes.set(killNode, p)
	if rest := phase - time.Since(phaseStart); rest > 0 {
		time.Sleep(rest)
	}

	// Settle: no new faults, frozen nodes wake, the market stops, every
	// session pauses, and the nodes settle every order.
	mu.Lock()
	faulting = false
	mu.Unlock()
	freezing.Wait()
	stopMarket()
	if len(d.fake.Orders()) == 0 {
		t.Fatalf("no order reached the venue in %s of trading", phase)
	}
	pauseAll(t, db, nodes, ids)
	settled := waitSettled(t, d, 60*time.Second, true)
	// The fills of orders whose answers were lost come by reconciliation
	// and the user stream: wait until the journal has all it will have.
	var diffs []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		diffs = compareVenueJournal(t, db, d, &res)
		if len(diffs) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if !settled {
		t.Errorf("orders still unsettled 60 s after the sessions paused")
	}
	for i, df := range diffs {
		if i == 30 {
			t.Errorf("... and %d more differences", len(diffs)-30)
			break
		}
		t.Error(df)
	}
	evs, err := db.JournalEvents(ctx, store.EventQuery{Kind: string(journal.KindCorrected), Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	res.corrected = len(evs)
	t.Logf("seed %d: %d order requests, %d orders at the venue (%d executed), %d fills; %d hidden, %d dropped, %d 5xx (%d silent), %d freezes (%d long), %d kill; %d late refused, %d resent after a refusal, %d corrected",
		seed, res.arrivals, res.orders, res.executed, res.fills, res.hidden, res.drops, res.fiveXX, res.silent, res.freezes, res.longFreezes, res.kills,
		res.refusedLate, res.resent, res.corrected)
	return res
}

// createHarnessSessions creates nDCA DCA sessions (a 20 USDT market buy a
// second) and nGrid grid sessions (4 levels 5 USDT apart around the price)
// that should run; the nodes pick them up.
func createHarnessSessions(t *testing.T, d *desk, nDCA, nGrid int) []string {
	t.Helper()
	var specs []sessionSpec
	for i := range nDCA {
		specs = append(specs, sessionSpec{name: fmt.Sprintf("dca-%d", i), strategy: "dca",
			params: map[string]any{"symbol": "BTCUSDT", "quote_amount": "20", "interval": "1s"}})
	}
	for i := range nGrid {
		specs = append(specs, sessionSpec{name: fmt.Sprintf("grid-%d", i), strategy: "grid", params: map[string]any{"symbol": "BTCUSDT",
			"lower": "29992.5", "upper": "30007.5", "levels": 4, "quantity": "0.001", "interval": "1s"}})
	}
	return d.createRunning(t, "harness", specs)
}

// pauseAll pauses every session through the API of whichever node answers
// for it, and waits until every session rests paused.
func pauseAll(t *testing.T, db *store.DB, nodes *harnessNodes, ids []string) {
	t.Helper()
	ctx := context.Background()
	tok, _, err := auth.CreateToken(ctx, db, auth.RoleAdmin, "harness")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		waiting := 0
		for _, id := range ids {
			s, err := db.Session(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if s.State == "paused" {
				continue
			}
			waiting++
			for _, n := range []string{"node-a", "node-b", "node-c"} {
				nd := &node{url: nodes.get(n).url, token: tok}
				if nd.do(t, "POST", "/api/v1/sessions/"+id+"/pause", nil, nil, nil) == 200 {
					break
				}
			}
		}
		if waiting == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d sessions not paused within 60 s", waiting, len(ids))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// compareVenueJournal returns every difference between the venue and the
// journal, per client order id, and fills in res's counts.
func compareVenueJournal(t *testing.T, db *store.DB, d *desk, res *harnessRun) []string {
	t.Helper()
	ctx := context.Background()
	type side struct {
		qty, fee udecimal.Decimal
		feeAsset string
	}
	venueOf := map[string]*side{}
	orderCID := map[int64]string{}
	res.orders, res.executed = 0, 0
	for _, o := range d.fake.Orders() {
		res.orders++
		orderCID[o.ID] = o.ClientOrderID
		v := venueOf[o.ClientOrderID]
		if v == nil {
			v = &side{}
			venueOf[o.ClientOrderID] = v
		}
		if o.Executed.IsPos() {
			res.executed++
		}
	}
	for _, tr := range d.fake.TradeFees() {
		cid, ok := orderCID[tr.OrderID]
		if !ok {
			continue // seeded history, not an order of the run
		}
		v := venueOf[cid]
		v.qty = v.qty.Add(tr.Quantity)
		v.fee = v.fee.Add(tr.Fee)
		v.feeAsset = tr.FeeAsset
	}
	fs, err := db.Fills(ctx, store.FillQuery{AccountID: d.acct.ID, Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	res.fills = len(fs)
	journalOf := map[string]*side{}
	for _, f := range fs {
		j := journalOf[f.ClientOrderID]
		if j == nil {
			j = &side{}
			journalOf[f.ClientOrderID] = j
		}
		j.qty = j.qty.Add(f.Quantity)
		j.fee = j.fee.Add(f.Fee)
		j.feeAsset = f.FeeAsset
	}
	var diffs []string
	// No id sent again after an arrival that created an order.
	arrivals := d.fake.Arrivals()
	res.arrivals, res.refusedLate, res.resent = len(arrivals), 0, 0
	byCID := map[string][]binancetest.Arrival{}
	for _, a := range arrivals {
		byCID[a.ClientOrderID] = append(byCID[a.ClientOrderID], a)
	}
	for cid, as := range byCID {
		accepted := 0
		for i, a := range as {
			if a.Code == -1021 {
				res.refusedLate++
			}
			if i > 0 {
				res.resent++
				if accepted > 0 {
					diffs = append(diffs, fmt.Sprintf("client order id %s sent again (arrival %d at %s, status %d) after an arrival that created order %d",
						cid, i+1, a.At.Format("15:04:05.000"), a.Status, as[0].OrderID))
				}
			}
			if a.Accepted {
				accepted++
			}
		}
	}
	cids := map[string]bool{}
	for cid := range venueOf {
		cids[cid] = true
	}
	for cid := range journalOf {
		cids[cid] = true
	}
	rows := map[string]store.Order{}
	for _, id := range sortedKeys(cids) {
		row, err := db.OrderByClientID(ctx, id)
		if err == nil {
			rows[id] = row
		}
	}
	// Every journaled order of the account, too: one the venue never saw
	// must show nothing executed.
	created, err := db.OrdersCreated(ctx, d.acct.ID, time.Unix(0, 0), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range created {
		cids[o.ClientOrderID] = true
		rows[o.ClientOrderID] = o
	}
	for _, cid := range sortedKeys(cids) {
		v, atVenue := venueOf[cid]
		if v == nil {
			v = &side{}
		}
		j := journalOf[cid]
		if j == nil {
			j = &side{}
		}
		row, journaled := rows[cid]
		switch {
		case atVenue && !journaled:
			diffs = append(diffs, fmt.Sprintf("%s: at the venue (executed %s) but not in the journal", cid, v.qty))
			continue
		case journaled && row.Status == store.OrderUnknown:
			diffs = append(diffs, fmt.Sprintf("%s: left unknown (venue executed %s)", cid, v.qty))
		case v.qty.IsPos() && row.Status == store.OrderFailed:
			diffs = append(diffs, fmt.Sprintf("%s: executed %s at the venue but failed in the journal", cid, v.qty))
		}
		if !v.qty.Equal(j.qty) {
			diffs = append(diffs, fmt.Sprintf("%s: venue executed %s, journal has fills of %s (order row %s, executed %s)", cid, v.qty, j.qty, row.Status, row.ExecutedQty))
		}
		if journaled && !v.qty.Equal(row.ExecutedQty) {
			diffs = append(diffs, fmt.Sprintf("%s: venue executed %s, journal order row says %s executed (%s)", cid, v.qty, row.ExecutedQty, row.Status))
		}
		if !v.fee.Equal(j.fee) || (v.qty.IsPos() && v.feeAsset != j.feeAsset) {
			diffs = append(diffs, fmt.Sprintf("%s: venue charged %s %s, journal has %s %s", cid, v.fee, v.feeAsset, j.fee, j.feeAsset))
		}
	}
	return diffs
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestProcHarnessChecksFail proves the harness's comparison can fail: an
// order placed through the journal compares clean; one placed at the venue
// behind the journal's back is reported, and so is its client order id
// sent again after the venue filled it (Binance accepts an id again once
// its order is closed, so only the arrival log shows it).
func TestProcHarnessChecksFail(t *testing.T) {
	ctx := context.Background()
	d := newDesk(t, storetest.SQLiteURL(t), "checks")
	key, _ := hex.DecodeString(d.keyHex)
	box, err := secrets.New(key)
	if err != nil {
		t.Fatal(err)
	}
	v, err := app.VenueFactory{Box: box}.Open(d.acct)
	if err != nil {
		t.Fatal(err)
	}
	j := journal.Open(d.db, journal.Options{Node: "test"})
	defer j.Close()
	x := journal.NewExecutor(j, v, d.acct.ID, journal.ExecutorOptions{})
	buy := func(cid string) venue.OrderRequest {
		return venue.OrderRequest{ClientOrderID: cid, Symbol: "BTCUSDT", Side: venue.Buy, Type: venue.Market, QuoteQuantity: udecimal.MustParse("20")}
	}
	if _, err := x.Place(ctx, journal.Intent{AccountID: d.acct.ID, Request: buy("journaled-1")}); err != nil {
		t.Fatal(err)
	}
	var res harnessRun
	if diffs := compareVenueJournal(t, d.db, d, &res); len(diffs) != 0 {
		t.Fatalf("an order placed through the journal: differences %v", diffs)
	}
	if res.executed != 1 || res.fills != 1 || res.arrivals != 1 {
		t.Fatalf("counts %+v, want 1 executed order, 1 fill, 1 arrival", res)
	}

	if _, err := v.PlaceOrder(ctx, buy("ghost-1")); err != nil {
		t.Fatal(err)
	}
	diffs := compareVenueJournal(t, d.db, d, &res)
	if len(diffs) != 1 || !strings.Contains(diffs[0], "ghost-1: at the venue (executed 0.00066") {
		t.Fatalf("an order the journal never saw: differences %q, want the one", diffs)
	}

	if _, err := v.PlaceOrder(ctx, buy("journaled-1")); err != nil {
		t.Fatal(err)
	}
	diffs = compareVenueJournal(t, d.db, d, &res)
	var resent, executed bool
	for _, df := range diffs {
		resent = resent || strings.HasPrefix(df, "client order id journaled-1 sent again (arrival 2")
		executed = executed || strings.HasPrefix(df, "journaled-1: venue executed 0.00132, journal has fills of 0.00066")
	}
	if !resent || !executed {
		t.Fatalf("an id sent twice: differences %q, want its second arrival and its doubled execution", diffs)
	}
}
