package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/secrets"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// newClusterDesk is newDesk for one of several accounts of one cluster:
// every desk shares the database handle db (a connection pool per desk would
// crowd PostgreSQL) and the master key (the nodes open every account with
// one key).
func newClusterDesk(t *testing.T, db *store.DB, dbURL, name string, key []byte) *desk {
	t.Helper()
	fake := startSpotFake(t)
	box, err := secrets.New(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := box.Seal([]byte(fake.APISecret()))
	acct := &store.Account{Name: name, Venue: "binance", BaseURL: fake.URL, APIKey: fake.APIKey(), APISecretEnc: sealed}
	if err := db.CreateAccount(context.Background(), acct); err != nil {
		t.Fatal(err)
	}
	return &desk{fake: fake, dbURL: dbURL, keyHex: hex.EncodeToString(key), db: db, acct: *acct}
}

// leaseGrant is one fencing token of one session as the test saw it.
type leaseGrant struct {
	token    int64
	node     string
	acquired time.Time
}

// leaseWatch polls the leases table and keeps every token it sees: the
// history the journal is checked against (the table only holds the
// current token).
type leaseWatch struct {
	mu     sync.Mutex
	grants map[string][]leaseGrant // session → tokens, ascending
}

func watchLeases(t *testing.T, db *store.DB) *leaseWatch {
	w := &leaseWatch{grants: map[string][]leaseGrant{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for {
			w.poll(ctx, db)
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *leaseWatch) poll(ctx context.Context, db *store.DB) {
	ls, err := db.Leases(ctx)
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range ls {
		if l.Token == 0 || l.NodeID == "" {
			continue
		}
		gs := w.grants[l.SessionID]
		if n := len(gs); n > 0 && gs[n-1].token >= l.Token {
			continue
		}
		w.grants[l.SessionID] = append(gs, leaseGrant{token: l.Token, node: l.NodeID, acquired: l.AcquiredAt})
	}
}

// owners returns, per node, the sessions whose unexpired lease it holds now.
func owners(t *testing.T, db *store.DB) map[string][]string {
	t.Helper()
	ls, err := db.Leases(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	out := map[string][]string{}
	for _, l := range ls {
		if l.NodeID != "" && l.ExpiresAt.After(now) {
			out[l.NodeID] = append(out[l.NodeID], l.SessionID)
		}
	}
	return out
}

func spread(m map[string][]string) map[string]int {
	out := map[string]int{}
	for n, ids := range m {
		out[n] = len(ids)
	}
	return out
}

// intents reads every intent event of the journal in seq order.
func intents(t *testing.T, db *store.DB) []store.JournalEvent {
	t.Helper()
	var out []store.JournalEvent
	var after int64
	for {
		evs, err := db.JournalEvents(context.Background(), store.EventQuery{Kind: string(journal.KindIntent), AfterSeq: after, Ascending: true, Limit: 10000})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, evs...)
		if len(evs) < 10000 {
			return out
		}
		after = evs[len(evs)-1].Seq
	}
}

// lastIntentAt returns, per session, the time of its newest intent.
func lastIntentAt(evs []store.JournalEvent) map[string]time.Time {
	out := map[string]time.Time{}
	for _, e := range evs {
		if e.At.After(out[e.SessionID]) {
			out[e.SessionID] = e.At
		}
	}
	return out
}

// waitTrading waits until every session in ids has an intent after since,
// and returns the sessions still waiting at the deadline.
func waitTrading(t *testing.T, db *store.DB, ids []string, since time.Time, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		last := lastIntentAt(intents(t, db))
		var waiting []string
		for _, id := range ids {
			if !last[id].After(since) {
				waiting = append(waiting, id)
			}
		}
		if len(waiting) == 0 || time.Now().After(deadline) {
			return waiting
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// failoverGaps measures, for each session in ids, the time between its
// last intent at or before the failure and its first intent after it.
func failoverGaps(evs []store.JournalEvent, ids []string, failure time.Time) (gaps map[string]time.Duration, missing []string) {
	before, after := map[string]time.Time{}, map[string]time.Time{}
	for _, e := range evs {
		if !e.At.After(failure) {
			if e.At.After(before[e.SessionID]) {
				before[e.SessionID] = e.At
			}
		} else if a, ok := after[e.SessionID]; !ok || e.At.Before(a) {
			after[e.SessionID] = e.At
		}
	}
	gaps = map[string]time.Duration{}
	for _, id := range ids {
		b, okb := before[id]
		a, oka := after[id]
		if !okb || !oka {
			missing = append(missing, id)
			continue
		}
		gaps[id] = a.Sub(b)
	}
	return gaps, missing
}

// resumeDelays measures, for each session in ids, the time from the failure
// to its first intent after it.
func resumeDelays(evs []store.JournalEvent, ids []string, failure time.Time) map[string]time.Duration {
	out := map[string]time.Duration{}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	for _, e := range evs {
		if !want[e.SessionID] || !e.At.After(failure) {
			continue
		}
		if d, ok := out[e.SessionID]; !ok || e.At.Sub(failure) < d {
			out[e.SessionID] = e.At.Sub(failure)
		}
	}
	return out
}

func maxGap(gaps map[string]time.Duration) (string, time.Duration) {
	var worst string
	var m time.Duration
	for id, g := range gaps {
		if g > m {
			worst, m = id, g
		}
	}
	return worst, m
}

// checkFencing proves from the journal that every session traded on one
// node at a time and never under a stale token: per session, intents in seq
// order carry non-decreasing fences; all intents under one fence come from
// the node the lease was granted to; and no intent under a token was
// stamped after a newer token of the session had been granted.
func checkFencing(t *testing.T, evs []store.JournalEvent, w *leaseWatch) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	type key struct {
		session string
		fence   int64
	}
	nodeOf := map[key]string{}
	maxFence := map[string]int64{}
	lastSeq := map[string]int64{}
	bad := 0
	report := func(format string, args ...any) {
		if bad++; bad <= 20 {
			t.Errorf(format, args...)
		}
	}
	for _, e := range evs {
		if e.SessionID == "" {
			continue
		}
		if e.Fence <= 0 {
			report("intent %s of session %s (seq %d, node %s) carries no fencing token", e.ClientOrderID, e.SessionID, e.Seq, e.Node)
		}
		if e.Seq <= lastSeq[e.SessionID] {
			report("journal seq not increasing for session %s", e.SessionID)
		}
		lastSeq[e.SessionID] = e.Seq
		if m := maxFence[e.SessionID]; e.Fence < m {
			report("session %s: intent %s (seq %d, node %s) under token %d after an intent under token %d: a stale owner traded",
				e.SessionID, e.ClientOrderID, e.Seq, e.Node, e.Fence, m)
		} else {
			maxFence[e.SessionID] = e.Fence
		}
		k := key{e.SessionID, e.Fence}
		if n, ok := nodeOf[k]; ok && n != e.Node {
			report("session %s: token %d used by two nodes, %s and %s (intent %s, seq %d)", e.SessionID, e.Fence, n, e.Node, e.ClientOrderID, e.Seq)
		} else {
			nodeOf[k] = e.Node
		}
		for _, g := range w.grants[e.SessionID] {
			switch {
			case g.token == e.Fence && g.node != e.Node:
				report("session %s: token %d was granted to %s but intent %s was written by %s", e.SessionID, g.token, g.node, e.ClientOrderID, e.Node)
			case g.token > e.Fence && e.At.After(g.acquired):
				report("session %s: intent %s by %s under token %d stamped %s, after token %d went to %s at %s: order under a stale token",
					e.SessionID, e.ClientOrderID, e.Node, e.Fence, e.At.Format("15:04:05.000"), g.token, g.node, g.acquired.Format("15:04:05.000"))
			}
		}
	}
	if bad > 20 {
		t.Errorf("... and %d more fencing violations", bad-20)
	}
}

// TestClusterFailover runs three nodes (child processes) on one PostgreSQL
// schema with 300 DCA sessions trading on three loopback fake Binance
// accounts, SIGKILLs one node, then SIGSTOPs another for longer than the
// lease TTL and SIGCONTs it, and proves from the journal, the lease history
// and the venues that every session traded on one node at a time, never
// under a stale token, that no order was sent twice and no fill lost, and
// that every orphaned session traded again within the designed worst case
// (see deadline).
func TestClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("process test: skipped with -short")
	}
	// A node paused inside a transaction keeps its row locks until it
	// resumes; the server ends such a transaction after 2 s so the other
	// nodes are not held up by a paused one.
	dbURL := storetest.PostgresURL(t) + "&idle_in_transaction_session_timeout=2000"
	// The nodes' Binance clients pace new orders at the venue's 50 per 10 s
	// per account, so 300 sessions trading every 5 s need 15 accounts (4
	// orders a second each); fewer accounts would measure the rate limiter,
	// not the failover.
	const (
		ttl      = 5 * time.Second
		accounts = 15
		perDesk  = 20
		interval = "5s"
		// The longest a session of a failed node may take to trade
		// again, by design: its lease runs out (TTL), a survivor's next
		// heartbeat claims it (TTL/3), an order it had in flight waits
		// recvWindow (5 s) before it is called never executed, and its
		// next step is due within its interval (5 s); plus 5 s for the
		// rest of the suite running beside it. The old bound, TTL + 10 s,
		// was under that sum: a quiet run's slowest session took 12.2 s,
		// and runs beside the suite took 15.5–17.8 s. The times
		// themselves are measured in docs/BENCHMARKS.md.
		deadline  = ttl + ttl/3 + 5*time.Second + 5*time.Second + 5*time.Second
		pauseSpan = ttl + 3*time.Second
	)
	key := make([]byte, secrets.KeySize)
	rand.Read(key)
	db, err := store.Open(context.Background(), dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var desks []*desk
	for i := range accounts {
		d := newClusterDesk(t, db, dbURL, fmt.Sprintf("desk%02d", i), key)
		d.moveMarket(t)
		desks = append(desks, d)
	}
	dir := t.TempDir()
	names := []string{"node-a", "node-b", "node-c"}
	procs := map[string]*proc{}
	logs := map[string]string{}
	for _, n := range names {
		logs[n] = filepath.Join(dir, n+".log")
		procs[n] = startProc(t, childConfig{DBURL: dbURL, NodeID: n, MasterKey: hex.EncodeToString(key), LeaseTTL: ttl,
			ReconcileEvery: 5 * time.Second, LogFile: logs[n]})
	}
	defer func() {
		if t.Failed() {
			for _, n := range names {
				if b, err := os.ReadFile(logs[n]); err == nil {
					t.Logf("%s log tail:\n%s", n, tail(string(b), 3000))
				}
			}
		}
	}()
	w := watchLeases(t, db)

	// All nodes serve before the sessions exist, so they share them from
	// the first heartbeat instead of one node taking all and handing over.
	var all []string
	for _, d := range desks {
		all = append(all, d.createSessions(t, perDesk, interval)...)
	}
	created := time.Now()
	deadlineSpread := time.Now().Add(90 * time.Second)
	for {
		own := owners(t, db)
		total, even := 0, len(own) == 3
		for _, ids := range own {
			total += len(ids)
			even = even && len(ids) >= len(all)/3-10
		}
		if total == len(all) && even {
			if waiting := waitTrading(t, db, all, created, 0); len(waiting) == 0 {
				t.Logf("spread after %s: %v", time.Since(created).Round(time.Millisecond), spread(own))
				break
			}
		}
		if time.Now().After(deadlineSpread) {
			t.Fatalf("sessions not spread and trading within 90 s: leases %v, %d sessions not trading yet",
				spread(own), len(waitTrading(t, db, all, created, 0)))
		}
		time.Sleep(time.Second)
	}
	time.Sleep(3 * time.Second)

	// SIGKILL node-a.
	orphans := owners(t, db)["node-a"]
	killedAt := time.Now()
	procs["node-a"].kill()
	if waiting := waitTrading(t, db, orphans, killedAt, deadline+5*time.Second); len(waiting) > 0 {
		t.Errorf("after SIGKILL of node-a, %d of %d orphaned sessions did not trade again within %s", len(waiting), len(orphans), deadline+5*time.Second)
	}
	afterKill := owners(t, db)
	t.Logf("after SIGKILL of node-a: leases %v", spread(afterKill))
	time.Sleep(2 * time.Second)

	// SIGSTOP node-b past its leases' expiry, then SIGCONT it.
	paused := owners(t, db)["node-b"]
	stoppedAt := time.Now()
	procs["node-b"].signal(syscall.SIGSTOP)
	time.Sleep(pauseSpan)
	procs["node-b"].signal(syscall.SIGCONT)
	if waiting := waitTrading(t, db, paused, stoppedAt, deadline); len(waiting) > 0 {
		t.Errorf("after SIGSTOP of node-b, %d of %d of its sessions did not trade again within %s", len(waiting), len(paused), deadline)
	}
	// Let node-b notice it lost its leases and take some back.
	time.Sleep(2 * ttl)
	t.Logf("after SIGCONT of node-b: leases %v", spread(owners(t, db)))

	procs["node-b"].stop(t)
	procs["node-c"].stop(t)

	evs := intents(t, db)
	checkFencing(t, evs, w)

	gaps, missing := failoverGaps(evs, orphans, killedAt)
	if len(missing) > 0 {
		t.Errorf("SIGKILL: %d sessions of node-a have no intent before or after the kill: %v", len(missing), missing[:min(5, len(missing))])
	}
	checkResume(t, "SIGKILL of node-a", gaps, resumeDelays(evs, orphans, killedAt), deadline)
	gaps, missing = failoverGaps(evs, paused, stoppedAt)
	if len(missing) > 0 {
		t.Errorf("SIGSTOP: %d sessions of node-b have no intent before or after the pause: %v", len(missing), missing[:min(5, len(missing))])
	}
	checkResume(t, fmt.Sprintf("SIGSTOP of node-b for %s", pauseSpan), gaps, resumeDelays(evs, paused, stoppedAt), deadline)
	// node-b, resumed, must not have written an intent under its old
	// leases: every intent it wrote after the pause is under a token
	// granted after the pause.
	w.mu.Lock()
	for _, e := range evs {
		if e.Node == "node-b" && e.At.After(stoppedAt) {
			ok := false
			for _, gr := range w.grants[e.SessionID] {
				if gr.token == e.Fence && gr.node == "node-b" && gr.acquired.After(stoppedAt) {
					ok = true
				}
			}
			if !ok {
				t.Errorf("node-b wrote intent %s of session %s under token %d after its pause, not under a lease granted after it", e.ClientOrderID, e.SessionID, e.Fence)
			}
		}
	}
	w.mu.Unlock()

	// A graceful stop cancels the orders in flight, whose outcome is then
	// unknown until a node reconciles them at its next start; stand in for
	// that start: reconcile every account once, as an adopting node would.
	box, _ := secrets.New(key)
	j := journal.Open(db, journal.Options{Node: "test"})
	for _, d := range desks {
		v, err := app.VenueFactory{Box: box}.Open(d.acct)
		if err != nil {
			t.Fatal(err)
		}
		// The nodes are stopped: their requests have expired once the
		// (here 1 ms) recvWindow passed, and the fake venue has no lag.
		x := journal.NewExecutor(j, v, d.acct.ID, journal.ExecutorOptions{RecvWindow: time.Millisecond, ConsistencyLag: -1})
		time.Sleep(5 * time.Millisecond)
		if _, err := x.Reconcile(context.Background()); err != nil {
			t.Errorf("final reconcile of %s: %v", d.acct.Name, err)
		}
	}
	j.Close()
	orders, fills := 0, 0
	for _, d := range desks {
		o, f := checkVenueAgainstJournal(t, d)
		orders += o
		fills += f
	}
	t.Logf("%d intents journaled, %d orders at the venues, %d fills recorded; none duplicated, lost or under a stale token", len(evs), orders, fills)
}

// checkResume logs the gaps between each orphaned session's last intent
// before a failure and its first after, and fails when a session took more
// than deadline from the failure to trade again. The gap is logged, not
// asserted: it includes the time since the session's last step before the
// failure (up to one strategy interval), which the node could not help.
func checkResume(t *testing.T, what string, gaps, delays map[string]time.Duration, deadline time.Duration) {
	t.Helper()
	wg, g := maxGap(gaps)
	wd, d := maxGap(delays)
	t.Logf("%s: %d sessions; failure → trading again: p50 %s, max %s (session %s); gap between intents: p50 %s, max %s (session %s)",
		what, len(delays), median(delays).Round(time.Millisecond), d.Round(time.Millisecond), wd,
		median(gaps).Round(time.Millisecond), g.Round(time.Millisecond), wg)
	if d > deadline {
		t.Errorf("%s: session %s traded again only %s after the failure, more than the designed worst case %s", what, wd, d.Round(time.Millisecond), deadline.Round(time.Millisecond))
	}
}

func median(gaps map[string]time.Duration) time.Duration {
	if len(gaps) == 0 {
		return 0
	}
	s := make([]time.Duration, 0, len(gaps))
	for _, g := range gaps {
		s = append(s, g)
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
