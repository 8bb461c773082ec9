package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
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
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// TestSIGKILLBinanceFuturesLosesNothing is TestSIGKILLLosesNothing on a
// binance-futures account: a real server process trading DCA sessions on
// the loopback fake's USDⓈ-M perpetuals (the fake outlives it) is
// SIGKILLed at random moments, then restarted, and the venue is checked
// against the journal: no order sent twice, no fill lost, every order
// settled, each session's state counting exactly the buys the venue
// executed for it.
func TestSIGKILLBinanceFuturesLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("process test: skipped with -short")
	}
	// Not parallel, like the other process kill tests.
	ctx := context.Background()
	dir := t.TempDir()
	fake := binancetest.Start(t, binancetest.Config{})
	d := udecimal.MustParse
	fake.SetPrice("BTCUSDT", d("30000"))
	fake.SetPrice("ETHUSDT", d("2000"))
	fake.Fund(venue.WalletFutures, "USDT", d("100000000"))
	key := make([]byte, secrets.KeySize)
	rand.Read(key)
	box, _ := secrets.New(key)
	sealed, _ := box.Seal([]byte(fake.APISecret()))
	dbURL := "sqlite:" + filepath.Join(dir, "kill.db")
	db, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	acct := &store.Account{Name: "perps", Venue: "binance-futures", BaseURL: fake.URL, APIKey: fake.APIKey(), APISecretEnc: sealed}
	if err := db.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	dk := &desk{dbURL: dbURL, keyHex: hex.EncodeToString(key), db: db, acct: *acct}
	ids := dk.createSessions(t, 6, "1s")

	// Move the market so price streams tick.
	mctx, cancel := context.WithCancel(ctx)
	moved := make(chan struct{})
	t.Cleanup(func() { cancel(); <-moved })
	go func() {
		defer close(moved)
		p, step := d("30000"), d("1.5")
		for i := 0; ; i++ {
			select {
			case <-mctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			if i%20 < 10 {
				p = p.Add(step)
			} else {
				p = p.Sub(step)
			}
			fake.SetPrice("BTCUSDT", p)
		}
	}()

	cc := childConfig{DBURL: dbURL, NodeID: "solo", MasterKey: dk.keyHex, ReconcileEvery: time.Second, LogFile: filepath.Join(dir, "node.log")}
	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 11))
	const kills = 10
	for range kills {
		p := startProc(t, cc)
		time.Sleep(time.Duration(300+rng.IntN(1500)) * time.Millisecond)
		p.kill()
	}
	before := len(fake.FuturesOrders())
	if before == 0 {
		b, _ := os.ReadFile(cc.LogFile)
		t.Fatalf("no order reached the venue in %d lives; node log tail:\n%s", kills, tail(string(b), 4000))
	}
	p := startProc(t, cc)
	deadline := time.Now().Add(30 * time.Second)
	for {
		running := 0
		for _, id := range ids {
			if s, err := db.Session(ctx, id); err == nil && s.State == "running" {
				running++
			}
		}
		if running == len(ids) && len(fake.FuturesOrders()) > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the last restart %d of %d sessions running, %d orders (had %d)", running, len(ids), len(fake.FuturesOrders()), before)
		}
		time.Sleep(200 * time.Millisecond)
	}
	tok, _, err := auth.CreateToken(ctx, db, auth.RoleAdmin, "kill-test")
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
		open, err := db.NonTerminalOrders(ctx, acct.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(open) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%d orders still unsettled 40 s after the sessions paused", len(open))
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	p.stop(t)

	nOrders, nFills := checkFuturesAgainstJournal(t, db, acct.ID, fake, ids)
	t.Logf("%d SIGKILLs on Binance futures: %d orders at the venue, %d fills recorded, none duplicated or lost", kills, nOrders, nFills)
	if t.Failed() {
		if b, err := os.ReadFile(cc.LogFile); err == nil {
			t.Logf("node log tail:\n%s", tail(string(b), 3000))
		}
	}
}

// checkFuturesAgainstJournal proves, once the sessions are quiet, that no
// order was sent twice and no fill lost: every order the fake accepted has
// one journaled order with its venue id, settled; every fill at the venue
// is recorded once; each DCA session's state counts exactly the buys the
// venue executed for it (its open step's, if any, either way).
func checkFuturesAgainstJournal(t *testing.T, db *store.DB, acctID int64, fake *binancetest.Server, ids []string) (nOrders, nFills int) {
	t.Helper()
	ctx := context.Background()
	// The venue against the journal.
	orders := fake.FuturesOrders()
	seen := map[string]bool{}
	for _, o := range orders {
		if seen[o.ClientOrderID] {
			t.Errorf("newClientOrderId %s accepted twice by the venue", o.ClientOrderID)
		}
		seen[o.ClientOrderID] = true
		row, err := db.OrderByClientID(ctx, o.ClientOrderID)
		if err != nil {
			t.Errorf("venue order %s has no journaled order: %v", o.ClientOrderID, err)
			continue
		}
		if row.VenueOrderID != o.VenueOrderID {
			t.Errorf("order %s: journal says venue id %q, venue says %q", o.ClientOrderID, row.VenueOrderID, o.VenueOrderID)
		}
		if !store.TerminalOrderStatus(row.Status) {
			t.Errorf("order %s left in status %s", o.ClientOrderID, row.Status)
		}
	}
	fills, err := db.Fills(ctx, store.FillQuery{AccountID: acctID, Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]int{}
	for _, f := range fills {
		stored[f.Symbol+"/"+f.TradeID]++
	}
	reader, err := binance.New(binance.Config{APIKey: fake.APIKey(), APISecret: fake.APISecret(), BaseURL: fake.URL, FuturesBaseURL: fake.URL})
	if err != nil {
		t.Fatal(err)
	}
	for q := (venue.TradeQuery{Symbol: "BTCUSDT", From: time.Now().Add(-time.Hour), Limit: 1000}); ; {
		page, err := reader.FuturesTrades(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range page.Trades {
			if c := stored[tr.Symbol+"/"+tr.ID]; c != 1 {
				t.Errorf("venue fill %s (order %s) recorded %d times, want once", tr.ID, tr.VenueOrderID, c)
			}
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	// Each session's state counts the buys the venue executed for it.
	for _, id := range ids {
		s, err := db.Session(ctx, id)
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
		buys, bought, openBuys, openBought := 0, udecimal.Zero, 0, udecimal.Zero
		for _, o := range orders {
			if !strings.HasPrefix(o.ClientOrderID, id+"-") || !o.ExecutedQty.IsPos() {
				continue
			}
			if s.StepOpen != 0 && strings.HasPrefix(o.ClientOrderID, open) {
				openBuys++
				openBought = openBought.Add(o.ExecutedQty)
				continue
			}
			buys++
			bought = bought.Add(o.ExecutedQty)
		}
		exact := buys == st.Buys && bought.Equal(st.Bought)
		withOpen := buys+openBuys == st.Buys && bought.Add(openBought).Equal(st.Bought)
		if !exact && !withOpen {
			t.Errorf("session %s: state counts %d buys of %s, the venue executed %d of %s in closed steps and %d of %s in the open step",
				id, st.Buys, st.Bought, buys, bought, openBuys, openBought)
		}
	}
	return len(orders), len(fills)
}
