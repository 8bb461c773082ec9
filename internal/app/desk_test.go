package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/secrets"
	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
	"github.com/tradeplane/tradeplane/internal/venue/bybittest"
)

// desk is an account on a loopback fake venue and a database set up for
// process tests. A desk on Binance spot has the fake in fake; every desk
// reads its venue through view.
type desk struct {
	fake   *binancetest.Server
	dbURL  string
	keyHex string
	db     *store.DB
	acct   store.Account
	v      venueView // zero: Binance spot on fake
}

// venueView is what the harnesses read of a loopback fake venue: how to
// move its market and, once the sessions are quiet, what it holds.
type venueView struct {
	name     string // in messages: "Binance spot"
	idName   string // what the venue calls a client order id
	setPrice func(symbol string, p udecimal.Decimal)
	orders   func() []venueOrder
	trades   func(t *testing.T) []venueTrade
}

// venueOrder is an order the fake venue accepted, as it is now.
type venueOrder struct {
	ClientOrderID, VenueOrderID string
	Executed                    udecimal.Decimal
}

// venueTrade is a fill the fake venue executed.
type venueTrade struct{ Symbol, ID, VenueOrderID string }

// view is how the desk's venue is read: a desk made with only a fake
// Binance (as some tests build them) trades spot there.
func (d *desk) view() venueView {
	if d.v.orders == nil {
		return binanceSpotView(d.fake)
	}
	return d.v
}

// masterKey is the key the desk's account secret is sealed with.
func (d *desk) masterKey(t *testing.T) []byte {
	key, err := hex.DecodeString(d.keyHex)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func binanceSpotView(fake *binancetest.Server) venueView {
	return venueView{name: "Binance spot", idName: "newClientOrderId", setPrice: fake.SetPrice,
		orders: func() []venueOrder {
			var out []venueOrder
			for _, o := range fake.Orders() {
				out = append(out, venueOrder{ClientOrderID: o.ClientOrderID, VenueOrderID: strconv.FormatInt(o.ID, 10), Executed: o.Executed})
			}
			return out
		},
		trades: func(*testing.T) []venueTrade {
			var out []venueTrade
			for _, tr := range fake.Trades() {
				out = append(out, venueTrade{Symbol: tr.Symbol, ID: strconv.FormatInt(tr.ID, 10), VenueOrderID: strconv.FormatInt(tr.OrderID, 10)})
			}
			return out
		}}
}

func binanceFuturesView(fake *binancetest.Server) venueView {
	return venueView{name: "Binance futures", idName: "newClientOrderId", setPrice: fake.SetPrice,
		orders: func() []venueOrder { return venueOrders(fake.FuturesOrders()) },
		trades: func(t *testing.T) []venueTrade {
			// Read through the product's client, as the fake keeps no
			// inspection list of futures fills.
			reader, err := binance.New(binance.Config{APIKey: fake.APIKey(), APISecret: fake.APISecret(), BaseURL: fake.URL, FuturesBaseURL: fake.URL})
			if err != nil {
				t.Fatal(err)
			}
			return pagedTrades(t, func(ctx context.Context, q venue.TradeQuery) (venue.TradePage, error) {
				page, err := reader.FuturesTrades(ctx, q)
				out := venue.TradePage{Next: page.Next}
				for _, tr := range page.Trades {
					out.Trades = append(out.Trades, tr.Trade)
				}
				return out, err
			})
		}}
}

func bybitView(fake *bybittest.Server) venueView {
	return venueView{name: "Bybit", idName: "orderLinkId",
		setPrice: func(symbol string, p udecimal.Decimal) { _ = fake.SetPrice(symbol, p) },
		orders:   func() []venueOrder { return venueOrders(fake.Orders()) },
		trades:   func(t *testing.T) []venueTrade { return pagedTrades(t, fake.Account().Trades) }}
}

func bybitLinearView(fake *bybittest.Server) venueView {
	return venueView{name: "Bybit linear", idName: "orderLinkId",
		setPrice: func(symbol string, p udecimal.Decimal) { _ = fake.SetPrice(symbol, p) },
		orders:   func() []venueOrder { return venueOrders(fake.LinearOrders()) },
		trades: func(*testing.T) []venueTrade {
			var out []venueTrade
			for _, tr := range fake.LinearFills() {
				out = append(out, venueTrade{Symbol: tr.Symbol, ID: tr.ID, VenueOrderID: tr.VenueOrderID})
			}
			return out
		}}
}

func venueOrders(vos []venue.Order) []venueOrder {
	out := make([]venueOrder, 0, len(vos))
	for _, o := range vos {
		out = append(out, venueOrder{ClientOrderID: o.ClientOrderID, VenueOrderID: o.VenueOrderID, Executed: o.ExecutedQty})
	}
	return out
}

// pagedTrades reads every BTCUSDT fill of the last hour, page by page.
func pagedTrades(t *testing.T, list func(context.Context, venue.TradeQuery) (venue.TradePage, error)) []venueTrade {
	t.Helper()
	var out []venueTrade
	for q := (venue.TradeQuery{Symbol: "BTCUSDT", From: time.Now().Add(-time.Hour), Limit: 1000}); ; {
		page, err := list(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range page.Trades {
			out = append(out, venueTrade{Symbol: tr.Symbol, ID: tr.ID, VenueOrderID: tr.VenueOrderID})
		}
		if page.Next == "" {
			return out
		}
		q.Cursor = page.Next
	}
}

// openDesk stores acct, its API secret sealed under a fresh master key, in
// a database handle of its own on dbURL (closed when t ends).
func openDesk(t *testing.T, dbURL string, acct store.Account, secret string, v venueView) *desk {
	t.Helper()
	key := make([]byte, secrets.KeySize)
	rand.Read(key)
	box, err := secrets.New(key)
	if err != nil {
		t.Fatal(err)
	}
	if acct.APISecretEnc, err = box.Seal([]byte(secret)); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.CreateAccount(context.Background(), &acct); err != nil {
		t.Fatal(err)
	}
	return &desk{dbURL: dbURL, keyHex: hex.EncodeToString(key), db: db, acct: acct, v: v}
}

// startSpotFake starts a fake Binance whose limits a desk does not reach,
// BTCUSDT at 30,000, ETHUSDT at 2,000 and 100,000,000 USDT in spot.
func startSpotFake(t *testing.T) *binancetest.Server {
	fake := binancetest.Start(t, binancetest.Config{WeightLimit: 1_000_000, OrderLimit10s: 100_000, OrderLimitDay: 10_000_000})
	fake.SetPrice("BTCUSDT", udecimal.MustParse("30000"))
	fake.SetPrice("ETHUSDT", udecimal.MustParse("2000"))
	fake.Fund(venue.WalletSpot, "USDT", udecimal.MustParse("100000000"))
	return fake
}

// newDesk is a Binance spot account called name on a fresh fake.
func newDesk(t *testing.T, dbURL string, name string) *desk {
	t.Helper()
	fake := startSpotFake(t)
	d := openDesk(t, dbURL, store.Account{Name: name, Venue: "binance", BaseURL: fake.URL, APIKey: fake.APIKey()}, fake.APISecret(), binanceSpotView(fake))
	d.fake = fake
	return d
}

// newFuturesDesk is a binance-futures account on a fresh fake (cfg) with
// BTCUSDT at 30,000 and 100,000,000 USDT in its futures wallet.
func newFuturesDesk(t *testing.T, dbURL string, cfg binancetest.Config) *desk {
	t.Helper()
	fake := binancetest.Start(t, cfg)
	fake.SetPrice("BTCUSDT", udecimal.MustParse("30000"))
	fake.SetPrice("ETHUSDT", udecimal.MustParse("2000"))
	fake.Fund(venue.WalletFutures, "USDT", udecimal.MustParse("100000000"))
	d := openDesk(t, dbURL, store.Account{Name: "perps", Venue: "binance-futures", BaseURL: fake.URL, APIKey: fake.APIKey()}, fake.APISecret(), binanceFuturesView(fake))
	d.fake = fake
	return d
}

// newBybitDesk is a Bybit account on a fresh fake (cfg) with BTCUSDT at
// 30,000 and 100,000,000 USDT in its unified trading account.
func newBybitDesk(t *testing.T, dbURL string, cfg bybittest.Config) (*desk, *bybittest.Server) {
	t.Helper()
	fake := bybittest.New(t, cfg)
	if err := fake.SetPrice("BTCUSDT", udecimal.MustParse("30000")); err != nil {
		t.Fatal(err)
	}
	if err := fake.Fund(venue.WalletSpot, "USDT", udecimal.MustParse("100000000")); err != nil {
		t.Fatal(err)
	}
	d := openDesk(t, dbURL, store.Account{Name: "uta", Venue: "bybit", BaseURL: fake.BaseURL(), APIKey: bybittest.APIKey}, bybittest.APISecret, bybitView(fake))
	return d, fake
}

// newBybitLinearDesk is a bybit-linear account on a fresh fake (cfg) with
// BTCUSDT at 30,000 and 100,000,000 USDT in its unified trading account.
func newBybitLinearDesk(t *testing.T, dbURL string, cfg bybittest.Config) (*desk, *bybittest.Server) {
	t.Helper()
	fake := bybittest.New(t, cfg)
	if err := fake.SetPrice("BTCUSDT", udecimal.MustParse("30000")); err != nil {
		t.Fatal(err)
	}
	if err := fake.Fund(venue.WalletFutures, "USDT", udecimal.MustParse("100000000")); err != nil {
		t.Fatal(err)
	}
	d := openDesk(t, dbURL, store.Account{Name: "perps", Venue: "bybit-linear", BaseURL: fake.BaseURL(), APIKey: bybittest.APIKey},
		bybittest.APISecret, bybitLinearView(fake))
	return d, fake
}

// createSessions creates n DCA sessions that should run, without running
// them here: the nodes' supervisors pick them up.
func (d *desk) createSessions(t *testing.T, n int, interval string) []string {
	t.Helper()
	specs := make([]sessionSpec, n)
	for i := range specs {
		specs[i] = sessionSpec{name: fmt.Sprintf("dca-%s-%03d", d.acct.Name, i), strategy: "dca",
			params: map[string]any{"symbol": "BTCUSDT", "quote_amount": "20", "interval": interval}}
	}
	return d.createRunning(t, "kill", specs)
}

// sessionSpec is a session a test creates for the nodes to run.
type sessionSpec struct {
	name, strategy string
	params         map[string]any
	symbol         string // "" is BTCUSDT
}

// createRunning creates the sessions on the desk's account, tagged tag, and
// marks them to run, without running them here: the nodes' supervisors
// pick them up.
func (d *desk) createRunning(t *testing.T, tag string, specs []sessionSpec) []string {
	t.Helper()
	ctx := context.Background()
	m, err := session.New(session.Options{Store: d.db, Accounts: session.AccountsFunc(func(context.Context, int64) (session.Account, error) {
		return session.Account{}, fmt.Errorf("not running sessions in the test process")
	})})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var ids []string
	for _, sp := range specs {
		raw, _ := json.Marshal(sp.params)
		sym := sp.symbol
		if sym == "" {
			sym = "BTCUSDT"
		}
		s, err := m.Create(ctx, session.Spec{Name: sp.name, Strategy: sp.strategy, AccountID: d.acct.ID,
			Symbols: []string{sym}, Params: raw, Tags: []string{tag}}, "test")
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
func (d *desk) moveMarket(t *testing.T) { t.Cleanup(moveMarketUntil(d)) }

// moveMarketUntil walks BTCUSDT around 30000 every 100 ms until the
// returned stop is called (it may be called twice).
func moveMarketUntil(d *desk) (stop func()) {
	setPrice := d.view().setPrice
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		p := udecimal.MustParse("30000")
		step := udecimal.MustParse("1.5")
		for i := 0; ; i++ {
			select {
			case <-quit:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if i%20 < 10 {
				p = p.Add(step)
			} else {
				p = p.Sub(step)
			}
			setPrice("BTCUSDT", p)
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(quit); <-done }) }
}

// checkVenueAgainstJournal is checkJournal for a desk whose resting
// (limit) orders may be open.
func checkVenueAgainstJournal(t *testing.T, d *desk) (orders, fills int) {
	t.Helper()
	vos, fills := checkJournal(t, d, true)
	return len(vos), fills
}

// checkJournal proves, once the sessions are quiet, that no order was sent
// twice and no fill lost: every order at the venue has exactly one
// journaled order with its venue id, every journaled order is settled
// (or, with restingOpen, new or partially filled: resting), and every fill
// at the venue is recorded once. It returns the venue's orders.
func checkJournal(t *testing.T, d *desk, restingOpen bool) (orders []venueOrder, fills int) {
	t.Helper()
	ctx := context.Background()
	v := d.view()
	orders = v.orders()
	seen := map[string]bool{}
	for _, o := range orders {
		if seen[o.ClientOrderID] {
			t.Errorf("%s %s accepted twice by %s", v.idName, o.ClientOrderID, v.name)
		}
		seen[o.ClientOrderID] = true
		row, err := d.db.OrderByClientID(ctx, o.ClientOrderID)
		if err != nil {
			t.Errorf("venue order %s (%s) has no journaled order: %v", o.ClientOrderID, o.VenueOrderID, err)
			continue
		}
		if row.VenueOrderID != o.VenueOrderID {
			t.Errorf("order %s: journal says venue id %q, venue says %q", o.ClientOrderID, row.VenueOrderID, o.VenueOrderID)
		}
		if !settled(row.Status, restingOpen) {
			t.Errorf("order %s left in status %s after reconciliation", o.ClientOrderID, row.Status)
		}
	}
	nonTerminal, err := d.db.NonTerminalOrders(ctx, d.acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range nonTerminal {
		if !settled(o.Status, restingOpen) {
			t.Errorf("order %s not settled: status %s", o.ClientOrderID, o.Status)
		}
	}
	fs, err := d.db.Fills(ctx, store.FillQuery{AccountID: d.acct.ID, Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]int{}
	for _, f := range fs {
		stored[f.Symbol+"/"+f.TradeID]++
	}
	trades := v.trades(t)
	for _, tr := range trades {
		if c := stored[tr.Symbol+"/"+tr.ID]; c != 1 {
			t.Errorf("venue fill %s/%s (order %s) recorded %d times, want once", tr.Symbol, tr.ID, tr.VenueOrderID, c)
		}
	}
	executed := 0
	for _, o := range orders {
		if o.Executed.IsPos() {
			executed++
		}
	}
	if executed > 0 && len(trades) == 0 {
		t.Errorf("%s executed %d orders but lists no fill: the fill check read nothing", v.name, executed)
	}
	return orders, len(fs)
}

// checkStrategyStateAgainstVenue proves that no trade decision was lost or
// made twice: each DCA session's persisted state counts exactly the buys
// the venue executed for it (orders), except those of a step still open
// (its outcome not yet recorded: the session's next step replays it under
// the same client order ids). A step decided again under a new id after a
// kill would show as a venue buy the state does not count.
func checkStrategyStateAgainstVenue(t *testing.T, d *desk, orders []venueOrder, ids []string) {
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
		for _, o := range orders {
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
			t.Errorf("session %s: state counts %d buys of %s, the venue executed %d of %s in closed steps and %d of %s in the open step %d",
				id, st.Buys, st.Bought, buys, bought, openBuys, openBought, s.StepOpen)
			logOrderTrail(t, d, orders, id)
		} else if !exact && openBuys > 0 {
			t.Logf("session %s: state already counts the %d buys of its open step %d", id, openBuys, s.StepOpen)
		}
	}
}

// logOrderTrail logs, for a session whose saved state disagrees with the
// venue, each of its orders as the venue and the store see them and the
// order's journal events, so that the missing or extra buy can be traced.
func logOrderTrail(t *testing.T, d *desk, orders []venueOrder, id string) {
	t.Helper()
	ctx := context.Background()
	venueExec := map[string]string{}
	for _, o := range orders {
		if strings.HasPrefix(o.ClientOrderID, id+"-") {
			venueExec[o.ClientOrderID] = o.Executed.String()
		}
	}
	stored, err := d.db.OrdersByClientPrefix(ctx, id+"-")
	if err != nil {
		t.Logf("session %s orders: %v", id, err)
		return
	}
	for _, o := range stored {
		t.Logf("order %s: store %s executed %s fence %d, venue executed %q", o.ClientOrderID, o.Status, o.ExecutedQty, o.Fence, venueExec[o.ClientOrderID])
		delete(venueExec, o.ClientOrderID)
		evs, err := d.db.JournalEvents(ctx, store.EventQuery{ClientOrderID: o.ClientOrderID, Ascending: true, Limit: 100})
		if err != nil {
			t.Logf("  events: %v", err)
			continue
		}
		for _, e := range evs {
			t.Logf("  %d %s %s filled %s class %q fence %d node %s: %s", e.Seq, e.At.Format("15:04:05.000"), e.Kind, e.FilledQty, e.ErrorClass, e.Fence, e.Node, e.Message)
		}
	}
	for cid, exec := range venueExec {
		t.Logf("order %s: not in the store, venue executed %s", cid, exec)
	}
}

// settled says whether a journaled order in status needs no more
// reconciliation: it is terminal or, with restingOpen, resting (new or
// partially filled: a limit order on the book).
func settled(status string, restingOpen bool) bool {
	return store.TerminalOrderStatus(status) || restingOpen && (status == "new" || status == "partially_filled")
}

// pauseSessions pauses every session through n's API.
func pauseSessions(t *testing.T, n *node, ids []string) {
	t.Helper()
	for _, id := range ids {
		if code := n.do(t, "POST", "/api/v1/sessions/"+id+"/pause", nil, nil, nil); code != 200 {
			t.Fatalf("pause %s: status %d", id, code)
		}
	}
}

// waitSettled waits up to within until no journaled order of the desk is
// unsettled (in flight or unknown; with restingOpen, a resting limit order
// is settled: the venue holds it open). It logs those left, if any.
func waitSettled(t *testing.T, d *desk, within time.Duration, restingOpen bool) bool {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		open, err := d.db.NonTerminalOrders(context.Background(), d.acct.ID)
		if err != nil {
			t.Fatal(err)
		}
		var unsettled []string
		for _, o := range open {
			if !settled(o.Status, restingOpen) {
				unsettled = append(unsettled, o.ClientOrderID+" "+o.Status)
			}
		}
		if len(unsettled) == 0 {
			return true
		}
		if time.Now().After(deadline) {
			t.Logf("unsettled: %v", unsettled)
			return false
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
