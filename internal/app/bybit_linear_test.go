package app_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/secrets"
	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/bybit"
	"github.com/tradeplane/tradeplane/internal/venue/bybittest"
)

// TestBybitLinearSessionsUnderFaults runs DCA sessions on the linear
// perpetuals of a bybit-linear account at the fake Bybit while order
// requests time out before and after the order executed (three after),
// hit a server error and a rate limit, and a fifth of reads fail; then,
// faults off and sessions paused, the venue is checked against the
// journal: no
// orderLinkId taken twice, every order settled, every linear fill recorded
// once, each session's buys what the venue executed for it, and the
// position the sum of those buys.
func TestBybitLinearSessionsUnderFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rates := map[string]float64{bybittest.OpQuery: 0.2, bybittest.OpTrades: 0.2,
		bybittest.OpBalances: 0.2, bybittest.OpOpenOrders: 0.2, bybittest.OpCancel: 0.2}
	fake := bybittest.New(t, bybittest.Config{FaultRates: rates, Seed: uint64(time.Now().UnixNano())})
	if err := fake.SetPrice("BTCUSDT", udecimal.MustParse("30000")); err != nil {
		t.Fatal(err)
	}
	if err := fake.Fund(venue.WalletFutures, "USDT", udecimal.MustParse("100000000")); err != nil {
		t.Fatal(err)
	}
	dbURL := storetest.SQLiteURL(t)
	db, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	key := make([]byte, secrets.KeySize)
	rand.Read(key)
	box, _ := secrets.New(key)
	sealed, _ := box.Seal([]byte(bybittest.APISecret))
	acct := &store.Account{Name: "perps", Venue: bybit.LinearName, BaseURL: fake.BaseURL(), APIKey: bybittest.APIKey, APISecretEnc: sealed}
	if err := db.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	ids := createLinearSessions(t, db, acct.ID, 4)

	// The fake shows an order in its lookups as soon as it takes it: no
	// consistency lag.
	n := startNode(t, app.Config{DBURL: dbURL, MasterKey: key, ReconcileEvery: time.Second, ResyncEvery: time.Second,
		ConsistencyLag: map[string]time.Duration{bybit.LinearName: -1}})
	faults := []bybittest.Fault{bybittest.FaultTimeoutAfterExecution, bybittest.FaultTimeoutBeforeExecution,
		bybittest.FaultServerError, bybittest.FaultRateLimited, bybittest.FaultTimeoutAfterExecution,
		bybittest.FaultTimeoutBeforeExecution, bybittest.FaultTimeoutAfterExecution}
	for i, f := range faults {
		eventually(t, time.Minute, "linear orders flowing", func() bool { return len(fake.LinearOrders()) >= 2*i })
		fake.FailNext(bybittest.OpPlace, f)
	}
	eventually(t, 2*time.Minute, "16 linear orders at the fake Bybit", func() bool { return len(fake.LinearOrders()) >= 16 })
	eventually(t, time.Minute, "every order fault taken", func() bool {
		n := 0
		for k, v := range fake.FaultsTaken() {
			if strings.HasPrefix(k, bybittest.OpPlace+"/") {
				n += v
			}
		}
		return n == len(faults)
	})
	fake.SetFaultRates(nil)
	for _, id := range ids {
		if code := n.do(t, "POST", "/api/v1/sessions/"+id+"/pause", nil, nil, nil); code != 200 {
			t.Fatalf("pause %s: status %d", id, code)
		}
	}
	eventually(t, 90*time.Second, "every journaled order settled", func() bool {
		open, err := db.NonTerminalOrders(ctx, acct.ID)
		return err == nil && len(open) == 0
	})
	eventually(t, 30*time.Second, "every venue fill recorded", func() bool {
		fills, _ := db.Fills(ctx, store.FillQuery{AccountID: acct.ID, Limit: 100000})
		return len(fills) >= len(fake.LinearFills())
	})

	orders := fake.LinearOrders()
	seen := map[string]bool{}
	var position udecimal.Decimal
	for _, o := range orders {
		if seen[o.ClientOrderID] {
			t.Errorf("orderLinkId %s taken twice by the venue", o.ClientOrderID)
		}
		seen[o.ClientOrderID] = true
		row, err := db.OrderByClientID(ctx, o.ClientOrderID)
		if err != nil {
			t.Errorf("venue order %s has no journaled order: %v", o.ClientOrderID, err)
			continue
		}
		if row.VenueOrderID != o.VenueOrderID || !store.TerminalOrderStatus(row.Status) {
			t.Errorf("order %s: journal has venue id %q status %s, venue id %q", o.ClientOrderID, row.VenueOrderID, row.Status, o.VenueOrderID)
		}
		position = position.Add(o.ExecutedQty)
	}
	fills, err := db.Fills(ctx, store.FillQuery{AccountID: acct.ID, Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]int{}
	for _, f := range fills {
		stored[f.Symbol+"/"+f.TradeID]++
	}
	venueFills := fake.LinearFills()
	for _, f := range venueFills {
		if c := stored[f.Symbol+"/"+f.ID]; c != 1 {
			t.Errorf("venue fill %s (order %s) recorded %d times, want once", f.ID, f.ClientOrderID, c)
		}
	}
	if len(fills) != len(venueFills) {
		t.Errorf("%d fills recorded, the venue made %d", len(fills), len(venueFills))
	}
	// Each session's state counts what the venue executed for it in its
	// closed steps, and maybe in the step a pause left open.
	for _, id := range ids {
		s, err := db.Session(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			Bought udecimal.Decimal `json:"bought"`
		}
		if err := json.Unmarshal(s.StrategyState, &st); err != nil && len(s.StrategyState) > 0 {
			t.Fatalf("session %s state: %v", id, err)
		}
		open := id + "-" + strconv.FormatInt(s.StepOpen, 36) + "-"
		var closed, inOpen udecimal.Decimal
		for _, o := range orders {
			switch {
			case !strings.HasPrefix(o.ClientOrderID, id+"-"):
			case s.StepOpen != 0 && strings.HasPrefix(o.ClientOrderID, open):
				inOpen = inOpen.Add(o.ExecutedQty)
			default:
				closed = closed.Add(o.ExecutedQty)
			}
		}
		if !st.Bought.Equal(closed) && !st.Bought.Equal(closed.Add(inOpen)) {
			t.Errorf("session %s: state says %s bought, the venue executed %s in closed steps and %s in the open step",
				id, st.Bought, closed, inOpen)
		}
	}
	l, err := bybit.NewLinear(bybit.Config{APIKey: bybittest.APIKey, APISecret: bybittest.APISecret, BaseURL: fake.BaseURL()})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := l.Positions(ctx)
	if err != nil || len(ps) != 1 || !ps[0].Size.Equal(position) {
		t.Errorf("positions %+v (%v), want one BTCUSDT long of %s, the sum of the executed buys", ps, err, position)
	}
	t.Logf("under faults: %d linear orders, %d fills, position %s, none duplicated or lost", len(orders), len(venueFills), position)
}

// createLinearSessions creates n running DCA sessions buying 20 USDT of
// the BTCUSDT perpetual every second on account acctID.
func createLinearSessions(t *testing.T, db *store.DB, acctID int64, n int) []string {
	t.Helper()
	ctx := context.Background()
	m, err := session.New(session.Options{Store: db, Accounts: session.AccountsFunc(func(context.Context, int64) (session.Account, error) {
		return session.Account{}, fmt.Errorf("not running sessions in the test process")
	})})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	params, _ := json.Marshal(map[string]any{"symbol": "BTCUSDT", "quote_amount": "20", "interval": "1s"})
	var ids []string
	for i := range n {
		s, err := m.Create(ctx, session.Spec{Name: fmt.Sprintf("dca-perp-%03d", i), Strategy: "dca", AccountID: acctID,
			Symbols: []string{"BTCUSDT"}, Params: params}, "test")
		if err != nil {
			t.Fatal(err)
		}
		if err := db.SetSessionDesired(ctx, s.ID, "running", time.Now()); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	return ids
}
