package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/auth"
	"github.com/tradeplane/tradeplane/internal/secrets"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/tradeall"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// faultKind is one way a Trade All step is made to fail at the venue, and
// how its item must end.
type faultKind struct {
	name  string
	fault binancetest.Fault
	// class and code of the failed item; class "" means the step must end
	// done (the executor settles the order by query).
	class string
	code  int
	// executes: the venue executes the order despite the fault.
	executes bool
	// journal: an error class the order's journal must also hold.
	journal string
}

var tradeAllFaultKinds = []faultKind{
	{name: "insufficient funds", fault: binancetest.FaultInsufficientFunds, class: "insufficient_funds", code: -2010},
	{name: "filter reject", fault: binancetest.FaultFilterReject, class: "rejected", code: -1013},
	{name: "auth", fault: binancetest.FaultAuth, class: "auth", code: -2015},
	// 500 -1000 on a placement is an unknown outcome: settled by query, the
	// venue never saw the order, so it fails "not_found".
	{name: "server error", fault: binancetest.FaultServerError, class: "not_found", journal: "unknown_outcome"},
	// 503 -1007 after the order executed: settled by query as filled.
	{name: "timeout after execution", fault: binancetest.FaultTimeoutAfterExecution, executes: true},
}

// TestTradeAllFaultsAndServerKill is Trade All's acceptance test at process
// level, with real sessions, journal and executor: 500 DCA sessions over 5
// accounts, 25 of them (5%) failing five different ways at the venue, a
// Trade All started with an Idempotency-Key, the same key POSTed again at
// once (a double click), a SIGKILL of the server mid-run, a restart, and
// the same key POSTed once more (a retry after the network error). It
// proves exactly: one run, finished; every session's result present and
// right (done for the 475 healthy ones and the 5 whose order timed out
// after executing, failed with its fault's class for the other 20); one
// Trade All order per session at the venue, none for the refused ones, no
// client order id twice, every venue fill recorded, and a journal entry
// for every failure.
//
// The venue is the loopback fake Binance (one per account), not the paper
// exchange: the venue must outlive the killed server process, and the
// paper exchange's state lives inside that process, so a SIGKILL would take
// the venue's memory of what executed with it and "no order twice" could
// not be checked. The faults are the fake's sticky per-symbol, per-client-
// order-id-prefix rules (FailEvery): on each account, Trade All's orders
// (ids "t…") on ETHUSDT fail with that account's fault, every time; the
// sessions' own orders and BTCUSDT go through.
func TestTradeAllFaultsAndServerKill(t *testing.T) {
	if testing.Short() {
		t.Skip("process test: skipped with -short")
	}
	// Not parallel: 500 sessions in one child process want the 2 cores to
	// themselves to stay within the test's time budget.
	//
	// Every 20th session of each account (5%) is faulty, spread through
	// the run so that faults land before, across and after the kill.
	const accounts, perAccount, faultyEvery = 5, 100, 20
	const faultyPerAccount = perAccount / faultyEvery
	start := time.Now()
	dir := t.TempDir()
	desks := newFaultDesks(t, "sqlite:"+filepath.Join(dir, "ta.db"), accounts)
	d0 := desks[0]
	ctx := context.Background()

	kindOf := map[string]*faultKind{} // faulty session id -> its fault
	var ids []string
	rules := make([]*binancetest.StickyFault, accounts)
	for k, d := range desks {
		kind := &tradeAllFaultKinds[k]
		rules[k] = d.fake.FailEvery(binancetest.FaultRule{Op: binancetest.OpPlace, Symbol: "ETHUSDT", ClientIDPrefix: "t", Fault: kind.fault})
		for i, id := range createFaultSessions(t, d, perAccount, faultyEvery) {
			ids = append(ids, id)
			if faultyAt(i, faultyEvery) {
				kindOf[id] = kind
			}
		}
		walkMarket(t, d.fake)
	}
	tok, _, err := auth.CreateToken(ctx, d0.db, auth.RoleTrader, "ta-faults")
	if err != nil {
		t.Fatal(err)
	}
	cc := childConfig{DBURL: d0.dbURL, NodeID: "solo", MasterKey: d0.keyHex, ReconcileEvery: time.Second, LogFile: filepath.Join(dir, "node.log")}
	defer func() {
		if t.Failed() {
			if b, err := os.ReadFile(cc.LogFile); err == nil {
				t.Logf("node log tail:\n%s", tail(string(b), 6000))
			}
		}
	}()
	p := startProc(t, cc)
	n := &node{url: p.url, token: tok}
	waitRunningWithin(t, d0, ids, 90*time.Second)
	setup := time.Since(start)

	tradeAllOrders := func() int {
		c := 0
		for _, d := range desks {
			for _, o := range d.fake.Orders() {
				if strings.HasPrefix(o.ClientOrderID, "t") {
					c++
				}
			}
		}
		return c
	}
	if c := tradeAllOrders(); c != 0 {
		t.Fatalf("%d Trade All orders at the venues before the run", c)
	}

	// Start, and the same key again at once (a double click).
	type runView struct {
		ID, State     string
		Total, Failed int
		Done          int
		Results       []struct {
			SessionID string `json:"session_id"`
			State     string
			Message   string
			Orders    int
		}
	}
	var run, again runView
	key := fmt.Sprintf("faults-%d", time.Now().UnixNano())
	hdr := map[string]string{"Idempotency-Key": key}
	sel := map[string]any{"tag": "faults"}
	runStart := time.Now()
	if code := n.do(t, "POST", "/api/v1/trade-all", sel, hdr, &run); code != 202 || run.Total != len(ids) {
		t.Fatalf("start trade-all: %d %+v", code, run.Total)
	}
	if code := n.do(t, "POST", "/api/v1/trade-all", sel, hdr, &again); code != 200 || again.ID != run.ID {
		t.Fatalf("same key again: %d run %q, want 200 and run %q", code, again.ID, run.ID)
	}

	// Kill the server once a fifth of the steps have sent their order and
	// the second server-error step is settling its unknown outcome (four
	// queries over 1.4 s): the kill lands inside an executor's settle.
	deadline := time.Now().Add(60 * time.Second)
	serverErrors := rules[slices.IndexFunc(tradeAllFaultKinds, func(k faultKind) bool { return k.fault == binancetest.FaultServerError })]
	for tradeAllOrders() < len(ids)/5 || serverErrors.Hits() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("trade-all sent %d orders within 60 s (%d server errors)", tradeAllOrders(), serverErrors.Hits())
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.kill()
	killedAfter := time.Since(runStart)
	atKill := tradeAllOrders()
	items, err := d0.db.TradeAllItems(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	stateAtKill := map[string]int{}
	inFlight := map[string]bool{}
	var faultyInFlight []string
	for _, it := range items {
		stateAtKill[it.State]++
		if it.State == "running" {
			inFlight[it.SessionID] = true
			if k := kindOf[it.SessionID]; k != nil {
				faultyInFlight = append(faultyInFlight, k.name)
			}
		}
	}
	if stateAtKill["pending"] == 0 {
		t.Logf("no item left pending at the kill (%v): the restart only settles", stateAtKill)
	}

	// Restart; the same key once more (a retry after the network error).
	restart := time.Now()
	p = startProc(t, cc)
	booted := time.Since(restart)
	n.url = p.url
	if code := n.do(t, "POST", "/api/v1/trade-all", sel, hdr, &again); code != 200 || again.ID != run.ID {
		t.Fatalf("same key after restart: %d run %q, want 200 and run %q", code, again.ID, run.ID)
	}
	deadline = time.Now().Add(90 * time.Second)
	for {
		n.do(t, "GET", "/api/v1/trade-all/"+run.ID, nil, nil, &run)
		if run.State != "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s still running 90 s after the restart: %d of %d final", run.ID, run.Done, run.Total)
		}
		time.Sleep(100 * time.Millisecond)
	}
	afterRestart := time.Since(restart)

	// One run, finished: partial (20 failed, 480 done), every result final.
	faulty := 0
	for _, k := range kindOf {
		if k.class != "" {
			faulty++
		}
	}
	if run.State != "partial" || run.Total != len(ids) || run.Done != len(ids) || run.Failed != faulty {
		t.Errorf("run ended %s with %d of %d final, %d failed; want partial, all final, %d failed", run.State, run.Done, run.Total, run.Failed, faulty)
	}
	runs, err := d0.db.TradeAllRuns(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 {
		t.Errorf("%d Trade All runs stored, want 1: the key must never start a second", len(runs))
	}
	apiResult := map[string]string{}
	for _, r := range run.Results {
		apiResult[r.SessionID] = r.State + " " + r.Message
	}

	// Every session's result, exactly.
	items, err = d0.db.TradeAllItems(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	item := map[string]store.TradeAllItem{}
	for _, it := range items {
		if _, dup := item[it.SessionID]; dup {
			t.Errorf("session %s has two items", it.SessionID)
		}
		item[it.SessionID] = it
	}
	done, failed := 0, 0
	for _, id := range ids {
		it, ok := item[id]
		if !ok {
			t.Errorf("session %s has no result", id)
			continue
		}
		kind := kindOf[id]
		var orders []tradeall.Order
		json.Unmarshal([]byte(it.Orders), &orders)
		switch {
		case kind == nil || kind.class == "":
			what := "healthy"
			if kind != nil {
				what = kind.name
			}
			if it.State != "done" || len(orders) != 1 || orders[0].Status != string(venue.StatusFilled) || !orders[0].ExecutedQty.IsPos() {
				t.Errorf("%s session %s: %s (%s %s), %d orders %+v; want done with one filled order", what, id, it.State, it.ErrorClass, it.Message, len(orders), orders)
			} else {
				done++
			}
		default:
			if it.State != "failed" || it.ErrorClass != kind.class || it.ErrorCode != int64(kind.code) {
				t.Errorf("%s session %s: %s class %q code %d (%s); want failed %q code %d", kind.name, id, it.State, it.ErrorClass, it.ErrorCode, it.Message, kind.class, kind.code)
			} else {
				failed++
			}
			if got := apiResult[id]; !strings.HasPrefix(got, "failed "+kind.class+":") {
				t.Errorf("%s session %s: the API says %q", kind.name, id, got)
			}
		}
	}

	// At the venues: one Trade All order per session, none for the refused
	// ones; the timed-out ones executed exactly once.
	perSession := map[string]int{}
	for _, d := range desks {
		for _, o := range d.fake.Orders() {
			if !strings.HasPrefix(o.ClientOrderID, "t") {
				continue
			}
			row, err := d.db.OrderByClientID(ctx, o.ClientOrderID)
			if err != nil {
				t.Errorf("venue order %s not journaled", o.ClientOrderID)
				continue
			}
			perSession[row.SessionID]++
			if o.Status != "FILLED" {
				t.Errorf("venue order %s of session %s is %s", o.ClientOrderID, row.SessionID, o.Status)
			}
		}
	}
	for _, id := range ids {
		want := 1
		if k := kindOf[id]; k != nil && !k.executes {
			want = 0
		}
		if perSession[id] != want {
			t.Errorf("session %s has %d Trade All orders at the venue, want %d", id, perSession[id], want)
		}
	}
	for k, r := range rules {
		kind := tradeAllFaultKinds[k]
		switch {
		case kind.executes && r.Hits() != faultyPerAccount:
			t.Errorf("%s: %d placements answered with the fault, want %d (an unknown outcome is never resent)", kind.name, r.Hits(), faultyPerAccount)
		case r.Hits() < faultyPerAccount:
			t.Errorf("%s: the fault answered only %d placements, want at least %d", kind.name, r.Hits(), faultyPerAccount)
		}
	}

	// A journal entry for every failure, of the item's class, on a
	// terminal order row; and the timed-out orders settled by query.
	for id, kind := range kindOf {
		ref := tradeall.StepKey{RunID: run.ID, SessionID: id}.Ref()
		rows, err := d0.db.OrdersByClientPrefix(ctx, ref+"-")
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 0 {
			t.Errorf("%s session %s: no journaled order under %s", kind.name, id, ref)
			continue
		}
		classes := map[string]bool{}
		filled := 0
		for _, o := range rows {
			if !store.TerminalOrderStatus(o.Status) {
				t.Errorf("%s session %s: order %s left %s", kind.name, id, o.ClientOrderID, o.Status)
			}
			evs, err := d0.db.JournalEvents(ctx, store.EventQuery{ClientOrderID: o.ClientOrderID, FailuresOnly: true, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range evs {
				classes[ev.ErrorClass] = true
			}
			switch {
			case o.Status == string(venue.StatusFilled):
				filled++
				// Settled by query (a "reconciled" entry), whether the
				// node saw the timeout or was killed before it did.
				evs, err := d0.db.JournalEvents(ctx, store.EventQuery{ClientOrderID: o.ClientOrderID, Kind: "reconciled", Limit: 10})
				if err != nil {
					t.Fatal(err)
				}
				if len(evs) == 0 {
					t.Errorf("%s session %s: filled order %s has no reconciled journal entry: not settled by query", kind.name, id, o.ClientOrderID)
				}
			case o.Status != store.OrderFailed && o.Status != string(venue.StatusRejected):
				t.Errorf("%s session %s: order %s journaled %s", kind.name, id, o.ClientOrderID, o.Status)
			}
		}
		// The timed-out order is journaled filled; an attempt cut by the
		// kill before its order left is failed (never sent), and the step
		// ran again under ids of its own.
		if want := map[bool]int{true: 1}[kind.executes]; filled != want {
			t.Errorf("%s session %s: %d filled orders journaled, want %d", kind.name, id, filled, want)
		}
		if kind.class != "" && !classes[kind.class] {
			t.Errorf("%s session %s: no journal failure of class %q (have %v)", kind.name, id, kind.class, classes)
		}
		if kind.journal != "" && !classes[kind.journal] {
			t.Errorf("%s session %s: no journal entry of class %q (have %v)", kind.name, id, kind.journal, classes)
		}
	}

	time.Sleep(1500 * time.Millisecond) // the user streams' last fills
	p.stop(t)

	// The sessions' own record: every DCA session's state counts the buy
	// its Trade All step made at the venue (and none for a refused one);
	// the healthy ones still run, never restarted.
	//
	// Including a step in flight at the kill whose order executed: the
	// restart settles its orders with the venue and, since the session's
	// ClosedStep does not name the step (its outcome never reached the
	// saved state), replays it under the same ids (stepper.replayUnsaved),
	// so the strategy records the buy the journal answers with.
	stateGap := 0
	executed := map[string]udecimal.Decimal{}
	for _, d := range desks {
		for _, o := range d.fake.Orders() {
			if row, err := d.db.OrderByClientID(ctx, o.ClientOrderID); err == nil && strings.HasPrefix(o.ClientOrderID, "t") {
				executed[row.SessionID] = executed[row.SessionID].Add(o.Executed)
			}
		}
	}
	for _, id := range ids {
		s, err := d0.db.Session(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			Buys   int              `json:"buys"`
			Bought udecimal.Decimal `json:"bought"`
		}
		json.Unmarshal(s.StrategyState, &st)
		if st.Buys != perSession[id] || !st.Bought.Equal(executed[id]) {
			if inFlight[id] {
				stateGap++
			}
			t.Errorf("session %s (item %s, in flight at the kill %t): strategy state counts %d buys of %s, the venue executed %d Trade All orders of %s",
				id, item[id].State, inFlight[id], st.Buys, st.Bought, perSession[id], executed[id])
		}
		if kindOf[id] == nil && (s.State != "running" || s.RestartsAuto != 0) {
			t.Errorf("healthy session %s is %s after %d restarts (%s)", id, s.State, s.RestartsAuto, s.LastError)
		}
	}
	orders, fills := 0, 0
	for _, d := range desks {
		o, f := checkVenueAgainstJournal(t, d)
		orders += o
		fills += f
	}
	t.Logf("%d sessions (%d failing 5 ways) on %d accounts, set up in %s; killed %s into the run with %d Trade All orders sent (items %v, faulty in flight %q); "+
		"after the restart (serving in %s) the run finished %s in %s: %d done, %d failed as expected; %d orders and %d fills at the venues, none twice or lost; "+
		"%d in-flight sessions' strategy state missing their settled buy; total %s",
		len(ids), len(kindOf), accounts, setup.Round(100*time.Millisecond), killedAfter.Round(10*time.Millisecond), atKill, stateAtKill, faultyInFlight,
		booted.Round(10*time.Millisecond), run.State, afterRestart.Round(10*time.Millisecond), done, failed, orders, fills, stateGap, time.Since(start).Round(100*time.Millisecond))
}

// newFaultDesks is newDesk for n accounts, each on its own fake Binance,
// sharing one database and one master key (a node has one).
func newFaultDesks(t *testing.T, dbURL string, n int) []*desk {
	t.Helper()
	key := make([]byte, secrets.KeySize)
	rand.Read(key)
	box, _ := secrets.New(key)
	db, err := store.Open(context.Background(), dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var out []*desk
	for i := range n {
		fake := binancetest.Start(t, binancetest.Config{WeightLimit: 1_000_000, OrderLimit10s: 100_000, OrderLimitDay: 10_000_000})
		fake.SetPrice("BTCUSDT", udecimal.MustParse("30000"))
		fake.SetPrice("ETHUSDT", udecimal.MustParse("2000"))
		fake.Fund(venue.WalletSpot, "USDT", udecimal.MustParse("100000000"))
		sealed, _ := box.Seal([]byte(fake.APISecret()))
		acct := &store.Account{Name: fmt.Sprintf("acct%d", i), Venue: "binance", BaseURL: fake.URL, APIKey: fake.APIKey(), APISecretEnc: sealed}
		if err := db.CreateAccount(context.Background(), acct); err != nil {
			t.Fatal(err)
		}
		out = append(out, &desk{fake: fake, dbURL: dbURL, keyHex: hex.EncodeToString(key), db: db, acct: *acct})
	}
	return out
}

// faultyAt says whether the i-th session of an account is a faulty one.
func faultyAt(i, every int) bool { return i%every == 3 }

// createFaultSessions creates n DCA sessions on d's account that should
// run, tagged "faults", trading only when told (interval 24h): the faulty
// ones (faultyAt) on ETHUSDT, the others on BTCUSDT.
func createFaultSessions(t *testing.T, d *desk, n, every int) []string {
	t.Helper()
	specs := make([]sessionSpec, n)
	for i := range specs {
		sym := "BTCUSDT"
		if faultyAt(i, every) {
			sym = "ETHUSDT"
		}
		specs[i] = sessionSpec{name: fmt.Sprintf("dca-%s-%03d", d.acct.Name, i), strategy: "dca", symbol: sym,
			params: map[string]any{"symbol": sym, "quote_amount": "20", "interval": "24h"}}
	}
	return d.createRunning(t, "faults", specs)
}

// walkMarket moves both of the fake's markets until the test ends.
func walkMarket(t *testing.T, fake *binancetest.Server) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		btc, eth := udecimal.MustParse("30000"), udecimal.MustParse("2000")
		step := udecimal.MustParse("1.5")
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			if i%20 < 10 {
				btc, eth = btc.Add(step), eth.Add(step)
			} else {
				btc, eth = btc.Sub(step), eth.Sub(step)
			}
			fake.SetPrice("BTCUSDT", btc)
			fake.SetPrice("ETHUSDT", eth)
		}
	}()
}

// waitRunningWithin is waitRunning with a deadline of its own.
func waitRunningWithin(t *testing.T, d *desk, ids []string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
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
			t.Fatalf("%d of %d sessions running after %s", running, len(ids), within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
