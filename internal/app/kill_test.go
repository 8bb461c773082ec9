package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/auth"
	"github.com/tradeplane/tradeplane/internal/secrets"
	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// desk is a fake Binance account and a database set up for process tests.
type desk struct {
	fake   *binancetest.Server
	dbURL  string
	keyHex string
	db     *store.DB
	acct   store.Account
}

func newDesk(t *testing.T, dbURL string, name string) *desk {
	t.Helper()
	fake := binancetest.Start(t, binancetest.Config{WeightLimit: 1_000_000, OrderLimit10s: 100_000, OrderLimitDay: 10_000_000})
	fake.SetPrice("BTCUSDT", udecimal.MustParse("30000"))
	fake.SetPrice("ETHUSDT", udecimal.MustParse("2000"))
	fake.Fund(venue.WalletSpot, "USDT", udecimal.MustParse("100000000"))
	key := make([]byte, secrets.KeySize)
	rand.Read(key)
	box, _ := secrets.New(key)
	sealed, _ := box.Seal([]byte(fake.APISecret()))
	db, err := store.Open(context.Background(), dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	acct := &store.Account{Name: name, Venue: "binance", BaseURL: fake.URL, APIKey: fake.APIKey(), APISecretEnc: sealed}
	if err := db.CreateAccount(context.Background(), acct); err != nil {
		t.Fatal(err)
	}
	return &desk{fake: fake, dbURL: dbURL, keyHex: hex.EncodeToString(key), db: db, acct: *acct}
}

// createSessions creates n DCA sessions that should run, without running
// them here: the nodes' supervisors pick them up.
func (d *desk) createSessions(t *testing.T, n int, interval string) []string {
	t.Helper()
	ctx := context.Background()
	m, err := session.New(session.Options{Store: d.db, Accounts: session.AccountsFunc(func(context.Context, int64) (session.Account, error) {
		return session.Account{}, fmt.Errorf("not running sessions in the test process")
	})})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	params, _ := json.Marshal(map[string]any{"symbol": "BTCUSDT", "quote_amount": "20", "interval": interval})
	var ids []string
	for i := 0; i < n; i++ {
		s, err := m.Create(ctx, session.Spec{Name: fmt.Sprintf("dca-%s-%03d", d.acct.Name, i), Strategy: "dca", AccountID: d.acct.ID,
			Symbols: []string{"BTCUSDT"}, Params: params, Tags: []string{"kill"}}, "test")
		if err != nil {
			t.Fatal(err)
		}
		if err := d.db.SetSessionDesired(ctx, s.ID, "running", time.Now()); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	return ids
}

// moveMarket walks the fake's prices until the test ends, so price streams
// tick and resting orders fill.
func (d *desk) moveMarket(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		p := udecimal.MustParse("30000")
		step := udecimal.MustParse("1.5")
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			if i%20 < 10 {
				p = p.Add(step)
			} else {
				p = p.Sub(step)
			}
			d.fake.SetPrice("BTCUSDT", p)
		}
	}()
}

// checkVenueAgainstJournal proves no order was sent twice and no fill was
// lost: every order at the venue has exactly one journaled order row with
// its venue id, every order row is terminal, and every venue fill is stored.
func checkVenueAgainstJournal(t *testing.T, d *desk) (orders, fills int) {
	t.Helper()
	ctx := context.Background()
	seen := map[string]bool{}
	for _, o := range d.fake.Orders() {
		if seen[o.ClientOrderID] {
			t.Errorf("client order id %s sent twice to the venue", o.ClientOrderID)
		}
		seen[o.ClientOrderID] = true
		row, err := d.db.OrderByClientID(ctx, o.ClientOrderID)
		if err != nil {
			t.Errorf("venue order %s (%d) has no journaled order: %v", o.ClientOrderID, o.ID, err)
			continue
		}
		if row.VenueOrderID != fmt.Sprint(o.ID) {
			t.Errorf("order %s: journal says venue id %q, venue says %d", o.ClientOrderID, row.VenueOrderID, o.ID)
		}
		if !store.TerminalOrderStatus(row.Status) && row.Status != "new" && row.Status != "partially_filled" {
			t.Errorf("order %s left in status %s after reconciliation", o.ClientOrderID, row.Status)
		}
	}
	nonTerminal, err := d.db.NonTerminalOrders(ctx, d.acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range nonTerminal {
		if o.Status != "new" && o.Status != "partially_filled" { // resting limit orders are legitimately open
			t.Errorf("order %s not settled: status %s", o.ClientOrderID, o.Status)
		}
	}
	stored := map[string]bool{}
	q := store.FillQuery{AccountID: d.acct.ID, Limit: 100000}
	fs, err := d.db.Fills(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		stored[f.Symbol+"/"+f.TradeID] = true
	}
	for _, tr := range d.fake.Trades() {
		if !stored[tr.Symbol+"/"+fmt.Sprint(tr.ID)] {
			t.Errorf("venue fill %s/%d (order %d) was not recorded", tr.Symbol, tr.ID, tr.OrderID)
		}
	}
	return len(d.fake.Orders()), len(fs)
}

// TestSIGKILLLosesNothing kills a real server process with SIGKILL at random
// moments while its sessions trade on a venue that outlives it (a loopback
// fake Binance), 20 times, then restarts it and proves: no order sent twice,
// no fill lost, every journaled order settled, sessions back to running.
func TestSIGKILLLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("process test: skipped with -short")
	}
	// Not parallel: a process test whose timing bounds (lease TTL, failover
	// deadlines) need the CPU more than the suite needs the overlap.
	dir := t.TempDir()
	d := newDesk(t, "sqlite:"+filepath.Join(dir, "kill.db"), "main")
	ids := d.createSessions(t, 24, "1s") // 1 s is the least DCA allows; 24 sessions keep the order rate of 8 at 300 ms
	cc := childConfig{DBURL: d.dbURL, NodeID: "solo", MasterKey: d.keyHex, ReconcileEvery: time.Second, LogFile: filepath.Join(dir, "node.log")}
	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 7))
	d.moveMarket(t)
	const kills = 20
	for i := 0; i < kills; i++ {
		p := startProc(t, cc)
		time.Sleep(time.Duration(300+rng.IntN(1500)) * time.Millisecond)
		p.kill()
	}
	before := len(d.fake.Orders())
	if before == 0 {
		b, _ := os.ReadFile(cc.LogFile)
		t.Fatalf("no order reached the venue in 20 lives: the sessions never traded; node log tail:\n%s", tail(string(b), 4000))
	}
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
		if running == len(ids) && len(d.fake.Orders()) > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the last restart %d of %d sessions running, %d orders (had %d)", running, len(ids), len(d.fake.Orders()), before)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Quiesce: pause every session, then let reconciliation settle every
	// order in flight (orders younger than the executor's not-found grace,
	// 10 s, are left for a later pass by design).
	tok, _, err := auth.CreateToken(ctx, d.db, auth.RoleAdmin, "kill-test")
	if err != nil {
		t.Fatal(err)
	}
	n := &node{url: p.url, token: tok}
	for _, id := range ids {
		if code := n.do(t, "POST", "/api/v1/sessions/"+id+"/pause", nil, nil, nil); code != 200 {
			t.Fatalf("pause %s: status %d", id, code)
		}
	}
	deadline = time.Now().Add(40 * time.Second)
	for {
		open, err := d.db.NonTerminalOrders(ctx, d.acct.ID)
		if err != nil {
			t.Fatal(err)
		}
		unsettled := 0
		for _, o := range open {
			if o.Status != "new" && o.Status != "partially_filled" {
				unsettled++
			}
		}
		if unsettled == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%d orders still unsettled 40 s after the sessions paused", unsettled)
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	p.stop(t)
	orders, fills := checkVenueAgainstJournal(t, d)
	checkStrategyStateAgainstVenue(t, d, ids)
	t.Logf("%d SIGKILLs: %d orders at the venue, %d fills recorded, none duplicated or lost", kills, orders, fills)
	if t.Failed() {
		if b, err := os.ReadFile(cc.LogFile); err == nil && len(b) > 0 {
			t.Logf("node log tail:\n%s", tail(string(b), 3000))
		}
	}
}

// checkStrategyStateAgainstVenue proves that no trade decision was lost or
// made twice across the kills: each DCA session's persisted state counts
// exactly the buys the venue executed for it, except those of a step still
// open (its outcome not yet recorded: the session's next step replays it
// under the same client order ids). A step decided again under a new id
// after a kill would show as a venue buy the state does not count.
func checkStrategyStateAgainstVenue(t *testing.T, d *desk, ids []string) {
	t.Helper()
	ctx := context.Background()
	for _, id := range ids {
		s, err := d.db.Session(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			Buys   int              `json:"buys"`
			Bought udecimal.Decimal `json:"bought"`
		}
		if err := json.Unmarshal(s.StrategyState, &st); err != nil && len(s.StrategyState) > 0 {
			t.Fatalf("session %s state %s: %v", id, s.StrategyState, err)
		}
		open := id + "-" + strconv.FormatInt(s.StepOpen, 36) + "-"
		buys, bought := 0, udecimal.Zero         // closed steps
		openBuys, openBought := 0, udecimal.Zero // the open step
		for _, o := range d.fake.Orders() {
			if !strings.HasPrefix(o.ClientOrderID, id+"-") || !o.Executed.IsPos() {
				continue
			}
			if s.StepOpen != 0 && strings.HasPrefix(o.ClientOrderID, open) {
				openBuys++
				openBought = openBought.Add(o.Executed)
				continue
			}
			buys++
			bought = bought.Add(o.Executed)
		}
		// The open step's buys are in the state or not, depending on where
		// the last life stopped: both are consistent with the venue. (A
		// saved state with its step still open was seen once in ten runs
		// when an order's fills could not be fetched yet; such a step now
		// closes, TestStepWithFillsPendingCloses. It is logged if seen.)
		exact := buys == st.Buys && bought.Equal(st.Bought)
		withOpen := buys+openBuys == st.Buys && bought.Add(openBought).Equal(st.Bought)
		if !exact && !withOpen {
			t.Errorf("session %s: state counts %d buys of %s BTC, the venue executed %d of %s in closed steps and %d of %s in the open step %d",
				id, st.Buys, st.Bought, buys, bought, openBuys, openBought, s.StepOpen)
		} else if !exact && openBuys > 0 {
			t.Logf("session %s: state already counts the %d buys of its open step %d", id, openBuys, s.StepOpen)
		}
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
