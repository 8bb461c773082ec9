// Package venuetest is the conformance suite every venue.Venue implementation
// passes: the paper simulator and the Binance adapter (against a loopback fake
// Binance) run the same Run.
//
// It owns the behavioural contract of the venue port as seen by a caller —
// filters, balances, order life cycle, idempotency by client order id, error
// classes, history paging, klines and streams — and nothing about how a
// venue is built. A venue gives the suite a Harness: the venue itself plus
// three levers (move the price, inject a fault, fund the account).
package venuetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// Fault names a failure the harness can inject into the next request of an op.
type Fault string

// Faults every harness can inject. The comment says what the venue must
// return for the faulted request.
const (
	FaultRateLimited            Fault = "rate_limited"             // 429 with Retry-After → venue.ClassRateLimited, RetryAfter>0
	FaultBanned                 Fault = "banned"                   // 418 → ClassBanned with Until set
	FaultInsufficientFunds      Fault = "insufficient_funds"       // ClassInsufficientFunds
	FaultFilterReject           Fault = "filter_reject"            // ClassRejected with a nonzero venue Code
	FaultTimeoutBeforeExecution Fault = "timeout_before_execution" // ClassUnknown, order NOT placed
	FaultTimeoutAfterExecution  Fault = "timeout_after_execution"  // ClassUnknown, order placed; QueryOrder finds it
	FaultServerError            Fault = "server_error"             // 5xx → ClassUnknown for place, ClassUnavailable for reads is fine
	FaultTimestamp              Fault = "timestamp"                // ClassTimestamp
	FaultAuth                   Fault = "auth"                     // ClassAuth
)

// Ops a Harness.FailNext accepts, one per Venue method that talks to the venue.
const (
	OpPlace      = "place"
	OpCancel     = "cancel"
	OpQuery      = "query"
	OpBalances   = "balances"
	OpTrades     = "trades"
	OpOpenOrders = "open_orders"
)

// Harness is what a venue implementation gives the suite.
type Harness struct {
	// Venue is a fresh account with no orders, trades or balances beyond
	// what Fund adds.
	Venue venue.Venue
	// SetPrice moves the market; resting orders fill against it. A call
	// counts as one price tick even when the price does not change.
	SetPrice func(symbol string, price venue.Decimal)
	// FailNext makes the next request of op fail with f; op is one of the
	// Op constants.
	FailNext func(op string, f Fault)
	// Fund credits the account.
	Fund func(wallet venue.Wallet, asset string, amount venue.Decimal)
	// Kind is what the venue's markets are: empty (spot) or
	// venue.KindLinearPerpetual. On a perpetual the suite funds and reads
	// the venue.WalletFutures wallet, a fill moves the quote asset by its
	// fee (and realized PnL) instead of exchanging base for quote, margin
	// is what an open order or position locks, and a market order by
	// quote quantity is refused with class invalid.
	Kind venue.InstrumentKind
}

// Run runs the whole suite; newHarness is called once per subtest with a
// fresh venue.
//
// Markets every harness must list: BTCUSDT (BTC/USDT, tick 0.01, step
// 0.00001, minQty 0.00001, minNotional 5) and ETHUSDT (ETH/USDT, tick 0.01,
// step 0.0001, minQty 0.0001, minNotional 5).
func Run(t *testing.T, newHarness func(t *testing.T) *Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b *bundle)
	}{
		{"Symbols", testSymbols},
		{"BalancesAfterFunding", testBalancesAfterFunding},
		{"LimitRestsThenFills", testLimitRestsThenFills},
		{"MarketBuyByQuantity", testMarketBuyByQuantity},
		{"MarketBuyByQuoteQuantity", testMarketBuyByQuoteQuantity},
		{"MarketSell", testMarketSell},
		{"Cancel", testCancel},
		{"CancelUnknown", testCancelUnknown},
		{"QueryByClientID", testQueryByClientID},
		{"DuplicateClientID", testDuplicateClientID},
		{"FilterViolations", testFilterViolations},
		{"InsufficientFunds", testInsufficientFunds},
		{"PlaceFaults", testPlaceFaults},
		{"ReadFaults", testReadFaults},
		{"TimeoutAfterExecution", testTimeoutAfterExecution},
		{"TimeoutBeforeExecution", testTimeoutBeforeExecution},
		{"TradesPaging", testTradesPaging},
		{"Klines", testKlines},
		{"OpenOrders", testOpenOrders},
		{"UserStream", testUserStream},
		{"PriceStream", testPriceStream},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, setup(t, newHarness))
		})
	}
}

// bundle is what each subtest works with.
type bundle struct {
	h          *Harness
	v          venue.Venue
	ctx        context.Context
	newHarness func(t *testing.T) *Harness
	perp       bool         // the markets are linear perpetuals
	wallet     venue.Wallet // where the markets' balances live
}

const (
	btc = "BTCUSDT"
	eth = "ETHUSDT"
)

func setup(t *testing.T, newHarness func(t *testing.T) *Harness) *bundle {
	t.Helper()
	h := newHarness(t)
	if h == nil || h.Venue == nil || h.SetPrice == nil || h.FailNext == nil || h.Fund == nil {
		t.Fatal("harness: Venue, SetPrice, FailNext and Fund are all required")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	h.SetPrice(btc, dec("20000"))
	h.SetPrice(eth, dec("1000"))
	b := &bundle{h: h, v: h.Venue, ctx: ctx, newHarness: newHarness, perp: h.Kind.IsDerivative(), wallet: venue.WalletSpot}
	if b.perp {
		b.wallet = venue.WalletFutures
	}
	return b
}

func dec(s string) venue.Decimal { return udecimal.MustParse(s) }

// fundDefault gives the account enough to trade both markets.
func (b *bundle) fundDefault() {
	if b.perp {
		b.h.Fund(venue.WalletFutures, "USDT", dec("100000"))
		return
	}
	b.h.Fund(venue.WalletSpot, "USDT", dec("100000"))
	b.h.Fund(venue.WalletSpot, "BTC", dec("2"))
	b.h.Fund(venue.WalletSpot, "ETH", dec("20"))
}

func (b *bundle) place(t *testing.T, req venue.OrderRequest) venue.Order {
	t.Helper()
	o, err := b.v.PlaceOrder(b.ctx, req)
	if err != nil {
		t.Fatalf("place order %q: %v", req.ClientOrderID, err)
	}
	if o.ClientOrderID != req.ClientOrderID {
		t.Fatalf("place order: got client id %q, want %q", o.ClientOrderID, req.ClientOrderID)
	}
	if o.VenueOrderID == "" {
		t.Fatalf("place order %q: empty venue order id", req.ClientOrderID)
	}
	return o
}

func limit(id, symbol string, side venue.Side, qty, price string) venue.OrderRequest {
	return venue.OrderRequest{ClientOrderID: id, Symbol: symbol, Side: side, Type: venue.Limit,
		Quantity: dec(qty), Price: dec(price), TimeInForce: venue.GTC}
}

func market(id, symbol string, side venue.Side, qty string) venue.OrderRequest {
	return venue.OrderRequest{ClientOrderID: id, Symbol: symbol, Side: side, Type: venue.Market, Quantity: dec(qty)}
}

// spot returns free and locked balances by asset of the markets' wallet
// (spot, or futures for perpetuals).
func (b *bundle) spot(t *testing.T) (free, locked map[string]venue.Decimal) {
	t.Helper()
	bs, err := b.v.Balances(b.ctx)
	if err != nil {
		t.Fatalf("balances: %v", err)
	}
	free, locked = map[string]venue.Decimal{}, map[string]venue.Decimal{}
	for _, x := range bs {
		if x.Wallet != b.wallet {
			continue
		}
		free[x.Asset] = free[x.Asset].Add(x.Free)
		locked[x.Asset] = locked[x.Asset].Add(x.Locked)
	}
	return free, locked
}

// totals returns free+locked spot balances by asset.
func (b *bundle) totals(t *testing.T) map[string]venue.Decimal {
	t.Helper()
	free, locked := b.spot(t)
	out := map[string]venue.Decimal{}
	for a, f := range free {
		out[a] = out[a].Add(f)
	}
	for a, l := range locked {
		out[a] = out[a].Add(l)
	}
	return out
}

// crossUntilFilled ticks the price to px (alternating with px one tick
// further through the order) until the order is filled.
func (b *bundle) crossUntilFilled(t *testing.T, symbol, id string, px, further venue.Decimal) venue.Order {
	t.Helper()
	var last venue.Order
	for i := range 200 {
		p := px
		if i%2 == 1 {
			p = further
		}
		b.h.SetPrice(symbol, p)
		o, err := b.v.QueryOrder(b.ctx, symbol, id)
		if err != nil {
			t.Fatalf("query order %q: %v", id, err)
		}
		last = o
		if o.Status == venue.StatusFilled {
			return o
		}
		if o.Status.Terminal() {
			t.Fatalf("order %q: got terminal status %q, want filled", id, o.Status)
		}
		if i > 5 {
			time.Sleep(time.Duration(min(i, 20)) * time.Millisecond)
		}
	}
	t.Fatalf("order %q never filled: status %q executed %s of %s", id, last.Status, last.ExecutedQty, last.Quantity)
	return last
}

func wantClass(t *testing.T, what string, err error, target *venue.Error) *venue.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: got nil error, want class %q", what, target.Class)
	}
	if !errors.Is(err, target) {
		t.Fatalf("%s: got %v (class %q), want class %q", what, err, venue.ClassOf(err), target.Class)
	}
	var ve *venue.Error
	if !errors.As(err, &ve) {
		t.Fatalf("%s: %v is not a *venue.Error", what, err)
	}
	return ve
}

func testSymbols(t *testing.T, b *bundle) {
	syms, err := b.v.Symbols(b.ctx)
	if err != nil {
		t.Fatalf("symbols: %v", err)
	}
	byName := map[string]venue.Symbol{}
	for _, s := range syms {
		byName[s.Name] = s
	}
	want := []venue.Symbol{
		{Name: btc, Base: "BTC", Quote: "USDT", TickSize: dec("0.01"), StepSize: dec("0.00001"), MinQty: dec("0.00001"), MinNotional: dec("5")},
		{Name: eth, Base: "ETH", Quote: "USDT", TickSize: dec("0.01"), StepSize: dec("0.0001"), MinQty: dec("0.0001"), MinNotional: dec("5")},
	}
	for _, w := range want {
		g, ok := byName[w.Name]
		if !ok {
			t.Errorf("symbols: %s missing", w.Name)
			continue
		}
		if want := b.h.Kind; g.Kind != want && !(want == "" && g.Kind == venue.KindSpot) {
			t.Errorf("%s: kind %q, want %q", w.Name, g.Kind, want)
		}
		if g.Base != w.Base || g.Quote != w.Quote {
			t.Errorf("%s: got %s/%s, want %s/%s", w.Name, g.Base, g.Quote, w.Base, w.Quote)
		}
		for _, f := range []struct {
			name      string
			got, want venue.Decimal
		}{
			{"tick", g.TickSize, w.TickSize},
			{"step", g.StepSize, w.StepSize},
			{"minQty", g.MinQty, w.MinQty},
			{"minNotional", g.MinNotional, w.MinNotional},
		} {
			if !f.got.Equal(f.want) {
				t.Errorf("%s %s: got %s, want %s", w.Name, f.name, f.got, f.want)
			}
		}
	}
}

func testBalancesAfterFunding(t *testing.T, b *bundle) {
	if b.perp {
		before, _ := b.spot(t)
		b.h.Fund(venue.WalletFutures, "USDT", dec("1234.5"))
		after, locked := b.spot(t)
		if got := after["USDT"].Sub(before["USDT"]); !got.Equal(dec("1234.5")) || !locked["USDT"].IsZero() {
			t.Errorf("futures USDT after funding: got +%s free, %s locked; want +1234.5 and 0", got, locked["USDT"])
		}
		return
	}
	before, _ := b.spot(t)
	b.h.Fund(venue.WalletSpot, "USDT", dec("1234.5"))
	b.h.Fund(venue.WalletSpot, "BTC", dec("0.25"))
	b.h.Fund(venue.WalletFunding, "USDT", dec("50"))
	after, locked := b.spot(t)
	for asset, amt := range map[string]string{"USDT": "1234.5", "BTC": "0.25"} {
		got := after[asset].Sub(before[asset])
		if !got.Equal(dec(amt)) {
			t.Errorf("%s free after funding: got +%s, want +%s", asset, got, amt)
		}
		if !locked[asset].IsZero() {
			t.Errorf("%s locked: got %s, want 0", asset, locked[asset])
		}
	}
	// Other wallets are listed too, under their own name.
	bs, err := b.v.Balances(b.ctx)
	if err != nil {
		t.Fatalf("balances: %v", err)
	}
	funding := venue.Decimal{}
	for _, x := range bs {
		if x.Wallet == venue.WalletFunding && x.Asset == "USDT" {
			funding = funding.Add(x.Free)
		}
	}
	if !funding.Equal(dec("50")) {
		t.Errorf("funding USDT: got %s, want 50", funding)
	}
}

// expectedDeltas is what fills do to spot totals: receive, pay, fee. On a
// perpetual, fills that open or grow a position (all the suite makes) move
// the wallet by their fee only.
func (b *bundle) expectedDeltas(t *testing.T, sym venue.Symbol, trades []venue.Trade) map[string]venue.Decimal {
	t.Helper()
	d := map[string]venue.Decimal{}
	for _, tr := range trades {
		if b.perp {
			d[tr.FeeAsset] = d[tr.FeeAsset].Sub(tr.Fee)
			continue
		}
		switch tr.Side {
		case venue.Buy:
			d[sym.Base] = d[sym.Base].Add(tr.Quantity)
			d[sym.Quote] = d[sym.Quote].Sub(tr.QuoteQty)
		case venue.Sell:
			d[sym.Base] = d[sym.Base].Sub(tr.Quantity)
			d[sym.Quote] = d[sym.Quote].Add(tr.QuoteQty)
		default:
			t.Fatalf("trade %s: bad side %q", tr.ID, tr.Side)
		}
		d[tr.FeeAsset] = d[tr.FeeAsset].Sub(tr.Fee)
	}
	return d
}

func btcSymbol() venue.Symbol { return venue.Symbol{Name: btc, Base: "BTC", Quote: "USDT"} }

func checkDeltas(t *testing.T, before, after, want map[string]venue.Decimal) {
	t.Helper()
	for asset, w := range want {
		if asset == "" {
			continue
		}
		got := after[asset].Sub(before[asset])
		if !got.Equal(w) {
			t.Errorf("%s balance change: got %s, want %s", asset, got, w)
		}
	}
}

func testLimitRestsThenFills(t *testing.T, b *bundle) {
	b.fundDefault()
	before := b.totals(t)
	o := b.place(t, limit("vt-limit-1", btc, venue.Buy, "0.01", "19000"))
	if o.Status != venue.StatusNew {
		t.Fatalf("resting limit: got status %q, want new", o.Status)
	}
	_, locked := b.spot(t)
	switch {
	case b.perp && !locked["USDT"].IsPos():
		t.Errorf("USDT margin locked for a 0.01@19000 perpetual buy: got %s, want > 0", locked["USDT"])
	case !b.perp && locked["USDT"].LessThan(dec("190")):
		t.Errorf("USDT locked for a 0.01@19000 buy: got %s, want >= 190", locked["USDT"])
	}
	open, err := b.v.OpenOrders(b.ctx, btc)
	if err != nil {
		t.Fatalf("open orders: %v", err)
	}
	if len(open) != 1 || open[0].ClientOrderID != "vt-limit-1" {
		t.Fatalf("open orders: got %+v, want only vt-limit-1", open)
	}

	// A price above the limit must not fill it.
	b.h.SetPrice(btc, dec("19500"))
	if q, err := b.v.QueryOrder(b.ctx, btc, "vt-limit-1"); err != nil || !q.ExecutedQty.IsZero() {
		t.Fatalf("after price 19500: got %+v, %v; want unfilled", q, err)
	}

	filled := b.crossUntilFilled(t, btc, "vt-limit-1", dec("18900"), dec("18899.99"))
	if !filled.ExecutedQty.Equal(dec("0.01")) {
		t.Errorf("executed: got %s, want 0.01", filled.ExecutedQty)
	}
	trades, err := b.v.OrderTrades(b.ctx, btc, o.VenueOrderID)
	if err != nil {
		t.Fatalf("order trades: %v", err)
	}
	if len(trades) == 0 {
		t.Fatal("order trades: got none for a filled order")
	}
	sum, fees := venue.Decimal{}, venue.Decimal{}
	for _, tr := range trades {
		if tr.ClientOrderID != "vt-limit-1" || tr.VenueOrderID != o.VenueOrderID || tr.Symbol != btc || tr.Side != venue.Buy {
			t.Errorf("trade %s: got client %q venue %q symbol %q side %q", tr.ID, tr.ClientOrderID, tr.VenueOrderID, tr.Symbol, tr.Side)
		}
		if tr.Price.GreaterThan(dec("19000")) {
			t.Errorf("trade %s: price %s above the buy limit 19000", tr.ID, tr.Price)
		}
		if !tr.QuoteQty.Equal(tr.Price.Mul(tr.Quantity)) {
			t.Errorf("trade %s: quote qty %s != price %s × qty %s", tr.ID, tr.QuoteQty, tr.Price, tr.Quantity)
		}
		sum = sum.Add(tr.Quantity)
		fees = fees.Add(tr.Fee)
	}
	if !sum.Equal(dec("0.01")) {
		t.Errorf("sum of fills: got %s, want 0.01", sum)
	}
	if !fees.IsPos() {
		t.Errorf("fees: got %s, want > 0", fees)
	}
	after := b.totals(t)
	checkDeltas(t, before, after, b.expectedDeltas(t, btcSymbol(), trades))
	_, locked = b.spot(t)
	if !b.perp && !locked["USDT"].IsZero() { // a perpetual keeps the position's margin locked
		t.Errorf("USDT locked after the fill: got %s, want 0", locked["USDT"])
	}

	page, err := b.v.Trades(b.ctx, venue.TradeQuery{Symbol: btc, From: o.Created.Add(-time.Minute)})
	if err != nil {
		t.Fatalf("trades: %v", err)
	}
	if len(page.Trades) != len(trades) {
		t.Fatalf("trades: got %d, want %d", len(page.Trades), len(trades))
	}
	for _, tr := range page.Trades {
		if tr.ClientOrderID != "vt-limit-1" {
			t.Errorf("trade history %s: got client id %q, want vt-limit-1", tr.ID, tr.ClientOrderID)
		}
	}
}

func testMarketBuyByQuantity(t *testing.T, b *bundle) {
	b.fundDefault()
	before := b.totals(t)
	o := b.place(t, market("vt-mkt-qty", btc, venue.Buy, "0.001"))
	o = b.settle(t, btc, o)
	if o.Status != venue.StatusFilled || !o.ExecutedQty.Equal(dec("0.001")) {
		t.Fatalf("market buy 0.001: got status %q executed %s", o.Status, o.ExecutedQty)
	}
	if !o.QuoteQty.IsPos() {
		t.Errorf("market buy: quote qty %s, want > 0", o.QuoteQty)
	}
	trades := b.orderTrades(t, btc, o)
	checkDeltas(t, before, b.totals(t), b.expectedDeltas(t, btcSymbol(), trades))
}

// settle waits briefly for a market order to reach a terminal status (a real
// venue may answer before the fill is booked).
func (b *bundle) settle(t *testing.T, symbol string, o venue.Order) venue.Order {
	t.Helper()
	for i := 0; !o.Status.Terminal() && i < 100; i++ {
		time.Sleep(5 * time.Millisecond)
		q, err := b.v.QueryOrder(b.ctx, symbol, o.ClientOrderID)
		if err != nil {
			t.Fatalf("query order %q: %v", o.ClientOrderID, err)
		}
		o = q
	}
	return o
}

func (b *bundle) orderTrades(t *testing.T, symbol string, o venue.Order) []venue.Trade {
	t.Helper()
	trades, err := b.v.OrderTrades(b.ctx, symbol, o.VenueOrderID)
	if err != nil {
		t.Fatalf("order trades %q: %v", o.ClientOrderID, err)
	}
	sum := venue.Decimal{}
	for _, tr := range trades {
		sum = sum.Add(tr.Quantity)
		if tr.ClientOrderID != o.ClientOrderID {
			t.Errorf("trade %s: got client id %q, want %q", tr.ID, tr.ClientOrderID, o.ClientOrderID)
		}
	}
	if !sum.Equal(o.ExecutedQty) {
		t.Errorf("order %q: fills sum to %s, order executed %s", o.ClientOrderID, sum, o.ExecutedQty)
	}
	return trades
}

func testMarketBuyByQuoteQuantity(t *testing.T, b *bundle) {
	b.fundDefault()
	before := b.totals(t)
	req := venue.OrderRequest{ClientOrderID: "vt-mkt-quote", Symbol: btc, Side: venue.Buy, Type: venue.Market, QuoteQuantity: dec("100")}
	if b.perp {
		_, err := b.v.PlaceOrder(b.ctx, req)
		wantClass(t, "perpetual market order by quote quantity", err, venue.ErrInvalid)
		_, err = b.v.QueryOrder(b.ctx, btc, req.ClientOrderID)
		wantClass(t, "query the refused order", err, venue.ErrOrderNotFound)
		return
	}
	o := b.settle(t, btc, b.place(t, req))
	if o.Status != venue.StatusFilled {
		t.Fatalf("market buy for 100 USDT: got status %q", o.Status)
	}
	if !o.ExecutedQty.IsPos() {
		t.Fatalf("market buy for 100 USDT: executed %s", o.ExecutedQty)
	}
	if o.QuoteQty.GreaterThan(dec("100")) || o.QuoteQty.LessThan(dec("99")) {
		t.Errorf("market buy for 100 USDT: spent %s, want in [99, 100]", o.QuoteQty)
	}
	if r, err := o.ExecutedQty.Mod(dec("0.00001")); err != nil || !r.IsZero() {
		t.Errorf("executed %s is not a multiple of the step 0.00001", o.ExecutedQty)
	}
	trades := b.orderTrades(t, btc, o)
	checkDeltas(t, before, b.totals(t), b.expectedDeltas(t, btcSymbol(), trades))
}

func testMarketSell(t *testing.T, b *bundle) {
	b.fundDefault()
	before := b.totals(t)
	o := b.settle(t, btc, b.place(t, market("vt-mkt-sell", btc, venue.Sell, "0.002")))
	if o.Status != venue.StatusFilled || !o.ExecutedQty.Equal(dec("0.002")) {
		t.Fatalf("market sell 0.002: got status %q executed %s", o.Status, o.ExecutedQty)
	}
	trades := b.orderTrades(t, btc, o)
	checkDeltas(t, before, b.totals(t), b.expectedDeltas(t, btcSymbol(), trades))
}

func testCancel(t *testing.T, b *bundle) {
	b.fundDefault()
	_, lockedBefore := b.spot(t)
	b.place(t, limit("vt-cancel-1", btc, venue.Buy, "0.01", "15000"))
	c, err := b.v.CancelOrder(b.ctx, btc, "vt-cancel-1")
	if err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if c.Status != venue.StatusCanceled {
		t.Errorf("cancel: got status %q, want canceled", c.Status)
	}
	q, err := b.v.QueryOrder(b.ctx, btc, "vt-cancel-1")
	if err != nil {
		t.Fatalf("query canceled order: %v", err)
	}
	if q.Status != venue.StatusCanceled {
		t.Errorf("query canceled order: got status %q", q.Status)
	}
	_, lockedAfter := b.spot(t)
	if !lockedAfter["USDT"].Equal(lockedBefore["USDT"]) {
		t.Errorf("USDT locked after cancel: got %s, want %s", lockedAfter["USDT"], lockedBefore["USDT"])
	}
	// A canceled order never fills.
	b.h.SetPrice(btc, dec("14000"))
	if q, _ := b.v.QueryOrder(b.ctx, btc, "vt-cancel-1"); !q.ExecutedQty.IsZero() {
		t.Errorf("canceled order filled %s", q.ExecutedQty)
	}
	_, err = b.v.CancelOrder(b.ctx, btc, "vt-cancel-1")
	if err == nil {
		t.Error("cancel of a canceled order: got nil error")
	}
}

func testCancelUnknown(t *testing.T, b *bundle) {
	_, err := b.v.CancelOrder(b.ctx, btc, "vt-never-placed")
	wantClass(t, "cancel unknown order", err, venue.ErrOrderNotFound)
}

func testQueryByClientID(t *testing.T, b *bundle) {
	b.fundDefault()
	o := b.place(t, limit("vt-query-1", btc, venue.Sell, "0.01", "25000"))
	q, err := b.v.QueryOrder(b.ctx, btc, "vt-query-1")
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	if q.VenueOrderID != o.VenueOrderID || q.ClientOrderID != "vt-query-1" || q.Side != venue.Sell ||
		q.Type != venue.Limit || !q.Price.Equal(dec("25000")) || !q.Quantity.Equal(dec("0.01")) || q.Status != venue.StatusNew {
		t.Errorf("query: got %+v, want the placed order %+v", q, o)
	}
	_, err = b.v.QueryOrder(b.ctx, btc, "vt-query-none")
	wantClass(t, "query unknown order", err, venue.ErrOrderNotFound)
}

func testDuplicateClientID(t *testing.T, b *bundle) {
	b.fundDefault()
	b.place(t, limit("vt-dup-1", btc, venue.Buy, "0.01", "15000"))
	_, err := b.v.PlaceOrder(b.ctx, limit("vt-dup-1", btc, venue.Buy, "0.02", "15001"))
	wantClass(t, "second order with the same client id", err, venue.ErrDuplicateOrder)
	open, err := b.v.OpenOrders(b.ctx, "")
	if err != nil {
		t.Fatalf("open orders: %v", err)
	}
	n := 0
	for _, o := range open {
		if o.ClientOrderID == "vt-dup-1" {
			n++
			if !o.Quantity.Equal(dec("0.01")) {
				t.Errorf("the surviving order has quantity %s, want the first order's 0.01", o.Quantity)
			}
		}
	}
	if n != 1 {
		t.Errorf("orders with client id vt-dup-1: got %d, want 1", n)
	}
}

func testFilterViolations(t *testing.T, b *bundle) {
	b.fundDefault()
	tests := []struct {
		name string
		req  venue.OrderRequest
		// roundable: a venue may instead round the price to its tick
		// (never to a worse price) or the quantity down to its step and
		// place the order, as the Binance adapter does.
		roundable bool
	}{
		{"bad tick", limit("vt-f-tick", btc, venue.Buy, "0.01", "19000.005"), true},
		{"bad step", limit("vt-f-step", btc, venue.Buy, "0.000015", "19000"), false}, // rounded down it is below min notional
		{"below min qty", limit("vt-f-minqty", eth, venue.Buy, "0.00005", "1000"), false},
		{"below min notional", limit("vt-f-notional", btc, venue.Buy, "0.0002", "19000"), false},
		{"market below min notional", market("vt-f-mkt-notional", btc, venue.Buy, "0.0001"), false},
		{"eth bad step", limit("vt-f-eth-step", eth, venue.Sell, "0.01005", "1100"), true},
	}
	for _, tc := range tests {
		o, err := b.v.PlaceOrder(b.ctx, tc.req)
		if err == nil && tc.roundable {
			// Placed: on the tick and step, and never more or worse than asked.
			if r, _ := o.Price.Mod(dec("0.01")); !r.IsZero() || (tc.req.Side == venue.Buy && o.Price.GreaterThan(tc.req.Price)) ||
				(tc.req.Side == venue.Sell && o.Price.LessThan(tc.req.Price)) {
				t.Errorf("%s: placed at price %s, want %s rounded to the tick, never worse", tc.name, o.Price, tc.req.Price)
			}
			if o.Quantity.GreaterThan(tc.req.Quantity) {
				t.Errorf("%s: placed quantity %s, more than the %s asked", tc.name, o.Quantity, tc.req.Quantity)
			}
			if _, err := b.v.CancelOrder(b.ctx, tc.req.Symbol, tc.req.ClientOrderID); err != nil {
				t.Errorf("%s: cancel the rounded order: %v", tc.name, err)
			}
			continue
		}
		ve := wantClass(t, tc.name, err, venue.ErrRejected)
		if ve.Code == 0 {
			t.Errorf("%s: rejected without a venue code: %v", tc.name, err)
		}
		_, err = b.v.QueryOrder(b.ctx, tc.req.Symbol, tc.req.ClientOrderID)
		wantClass(t, tc.name+": query the rejected order", err, venue.ErrOrderNotFound)
	}
}

func testInsufficientFunds(t *testing.T, b *bundle) {
	// On a perpetual (margin at up to 20x leverage) 5 USDT is short of every
	// order below; on spot 10 USDT is.
	fund := "10"
	if b.perp {
		fund = "5"
	}
	b.h.Fund(b.wallet, "USDT", dec(fund))
	tests := []struct {
		name string
		req  venue.OrderRequest
	}{
		{"limit buy beyond quote", limit("vt-if-buy", btc, venue.Buy, "0.01", "19000")},
		{"limit sell without base", limit("vt-if-sell", btc, venue.Sell, "0.01", "21000")},
		{"market buy beyond quote", market("vt-if-mkt", btc, venue.Buy, "0.01")},
		{"market sell without base", market("vt-if-mkt-sell", eth, venue.Sell, "1")},
	}
	for _, tc := range tests {
		_, err := b.v.PlaceOrder(b.ctx, tc.req)
		wantClass(t, tc.name, err, venue.ErrInsufficientFunds)
	}
	free, locked := b.spot(t)
	if !free["USDT"].Equal(dec(fund)) || !locked["USDT"].IsZero() {
		t.Errorf("USDT after refused orders: free %s locked %s, want %s and 0", free["USDT"], locked["USDT"], fund)
	}
}

func testPlaceFaults(t *testing.T, b *bundle) {
	tests := []struct {
		fault Fault
		want  *venue.Error
		check func(t *testing.T, ve *venue.Error)
	}{
		{FaultRateLimited, venue.ErrRateLimited, func(t *testing.T, ve *venue.Error) {
			if ve.RetryAfter <= 0 {
				t.Errorf("rate limited: RetryAfter %s, want > 0", ve.RetryAfter)
			}
		}},
		{FaultBanned, venue.ErrBanned, func(t *testing.T, ve *venue.Error) {
			if ve.Until.IsZero() {
				t.Error("banned: Until is zero")
			}
		}},
		{FaultInsufficientFunds, venue.ErrInsufficientFunds, nil},
		{FaultFilterReject, venue.ErrRejected, func(t *testing.T, ve *venue.Error) {
			if ve.Code == 0 {
				t.Error("filter reject: Code is 0")
			}
		}},
		{FaultTimeoutBeforeExecution, venue.ErrUnknownOutcome, nil},
		{FaultTimeoutAfterExecution, venue.ErrUnknownOutcome, nil},
		{FaultServerError, venue.ErrUnknownOutcome, nil},
		{FaultTimestamp, venue.ErrTimestamp, nil},
		{FaultAuth, venue.ErrAuth, nil},
	}
	for _, tc := range tests {
		t.Run(string(tc.fault), func(t *testing.T) {
			t.Parallel()
			b := setupLike(t, b)
			b.fundDefault()
			b.h.FailNext(OpPlace, tc.fault)
			id := "vt-pf-" + string(tc.fault)
			if len(id) > 36 {
				id = id[:36]
			}
			_, err := b.v.PlaceOrder(b.ctx, limit(id, btc, venue.Buy, "0.01", "15000"))
			ve := wantClass(t, fmt.Sprintf("place with fault %s", tc.fault), err, tc.want)
			if tc.check != nil {
				tc.check(t, ve)
			}
		})
	}
}

// setupLike builds a fresh bundle for a nested subtest from the same harness
// factory as b.
func setupLike(t *testing.T, b *bundle) *bundle {
	t.Helper()
	return setup(t, b.newHarness)
}

func testReadFaults(t *testing.T, b *bundle) {
	faults := []struct {
		fault Fault
		want  []*venue.Error
	}{
		{FaultRateLimited, []*venue.Error{venue.ErrRateLimited}},
		{FaultBanned, []*venue.Error{venue.ErrBanned}},
		{FaultServerError, []*venue.Error{venue.ErrUnavailable, venue.ErrUnknownOutcome}},
		{FaultTimestamp, []*venue.Error{venue.ErrTimestamp}},
		{FaultAuth, []*venue.Error{venue.ErrAuth}},
	}
	ops := []struct {
		op   string
		call func(b *bundle) error
	}{
		{OpCancel, func(b *bundle) error { _, err := b.v.CancelOrder(b.ctx, btc, "vt-rf-1"); return err }},
		{OpQuery, func(b *bundle) error { _, err := b.v.QueryOrder(b.ctx, btc, "vt-rf-1"); return err }},
		{OpBalances, func(b *bundle) error { _, err := b.v.Balances(b.ctx); return err }},
		{OpTrades, func(b *bundle) error {
			_, err := b.v.Trades(b.ctx, venue.TradeQuery{Symbol: btc, From: time.Now().Add(-time.Hour)})
			return err
		}},
		{OpOpenOrders, func(b *bundle) error { _, err := b.v.OpenOrders(b.ctx, btc); return err }},
	}
	for _, op := range ops {
		for _, f := range faults {
			t.Run(op.op+"/"+string(f.fault), func(t *testing.T) {
				t.Parallel()
				b := setupLike(t, b)
				b.fundDefault()
				b.place(t, limit("vt-rf-1", btc, venue.Buy, "0.01", "15000"))
				b.h.FailNext(op.op, f.fault)
				err := op.call(b)
				if err == nil {
					t.Fatalf("%s with fault %s: got nil error", op.op, f.fault)
				}
				ok := false
				for _, w := range f.want {
					ok = ok || errors.Is(err, w)
				}
				if !ok {
					t.Fatalf("%s with fault %s: got %v (class %q), want one of %v", op.op, f.fault, err, venue.ClassOf(err), classes(f.want))
				}
				var ve *venue.Error
				if !errors.As(err, &ve) {
					t.Fatalf("%s: %v is not a *venue.Error", op.op, err)
				}
				switch f.fault {
				case FaultRateLimited:
					if ve.RetryAfter <= 0 {
						t.Errorf("rate limited: RetryAfter %s, want > 0", ve.RetryAfter)
					}
				case FaultBanned:
					if ve.Until.IsZero() {
						t.Error("banned: Until is zero")
					}
				}
			})
		}
	}
}

func classes(errs []*venue.Error) []venue.Class {
	out := make([]venue.Class, len(errs))
	for i, e := range errs {
		out[i] = e.Class
	}
	return out
}

func testTimeoutAfterExecution(t *testing.T, b *bundle) {
	b.fundDefault()
	b.h.FailNext(OpPlace, FaultTimeoutAfterExecution)
	_, err := b.v.PlaceOrder(b.ctx, limit("vt-tae-1", btc, venue.Buy, "0.01", "15000"))
	wantClass(t, "place with timeout after execution", err, venue.ErrUnknownOutcome)
	q, err := b.v.QueryOrder(b.ctx, btc, "vt-tae-1")
	if err != nil {
		t.Fatalf("query after an unknown outcome: %v", err)
	}
	if q.ClientOrderID != "vt-tae-1" || q.Status != venue.StatusNew || !q.Quantity.Equal(dec("0.01")) {
		t.Errorf("query after an unknown outcome: got %+v", q)
	}
	open, err := b.v.OpenOrders(b.ctx, btc)
	if err != nil {
		t.Fatalf("open orders: %v", err)
	}
	if len(open) != 1 {
		t.Errorf("open orders after timeout-after-execution: got %d, want exactly 1", len(open))
	}
	// Resending the same id (the mistake reconciliation avoids) is refused.
	_, err = b.v.PlaceOrder(b.ctx, limit("vt-tae-1", btc, venue.Buy, "0.01", "15000"))
	wantClass(t, "resend after timeout-after-execution", err, venue.ErrDuplicateOrder)
}

func testTimeoutBeforeExecution(t *testing.T, b *bundle) {
	b.fundDefault()
	b.h.FailNext(OpPlace, FaultTimeoutBeforeExecution)
	_, err := b.v.PlaceOrder(b.ctx, limit("vt-tbe-1", btc, venue.Buy, "0.01", "15000"))
	wantClass(t, "place with timeout before execution", err, venue.ErrUnknownOutcome)
	_, err = b.v.QueryOrder(b.ctx, btc, "vt-tbe-1")
	wantClass(t, "query after timeout before execution", err, venue.ErrOrderNotFound)
	// The fault hit one request only: the same id now goes through.
	o := b.place(t, limit("vt-tbe-1", btc, venue.Buy, "0.01", "15000"))
	if o.Status != venue.StatusNew {
		t.Errorf("retry after the fault: got status %q", o.Status)
	}
}

func testTradesPaging(t *testing.T, b *bundle) {
	b.fundDefault()
	var want []venue.Trade
	var first time.Time
	for i := range 5 {
		o := b.settle(t, btc, b.place(t, market(fmt.Sprintf("vt-page-%d", i), btc, venue.Buy, "0.001")))
		if i == 0 {
			first = o.Created
		}
		want = append(want, b.orderTrades(t, btc, o)...)
	}
	q := venue.TradeQuery{Symbol: btc, From: first.Add(-time.Minute), Limit: 2}
	seen := map[string]bool{}
	var got []venue.Trade
	for page := 0; ; page++ {
		if page > 20 {
			t.Fatal("trades paging never ends")
		}
		p, err := b.v.Trades(b.ctx, q)
		if err != nil {
			t.Fatalf("trades page %d: %v", page, err)
		}
		if len(p.Trades) > 2 {
			t.Fatalf("trades page %d: got %d trades, want at most the limit 2", page, len(p.Trades))
		}
		for _, tr := range p.Trades {
			if seen[tr.ID] {
				t.Fatalf("trade %s returned twice", tr.ID)
			}
			seen[tr.ID] = true
			got = append(got, tr)
		}
		if p.Next == "" {
			break
		}
		q.Cursor = p.Next
	}
	if len(got) != len(want) {
		t.Fatalf("trades over all pages: got %d, want %d", len(got), len(want))
	}
	for i := 1; i < len(got); i++ {
		if got[i].Time.Before(got[i-1].Time) {
			t.Errorf("trades out of time order at %d: %s before %s", i, got[i].Time, got[i-1].Time)
		}
	}
	for _, w := range want {
		if !seen[w.ID] {
			t.Errorf("trade %s of order %q missing from history", w.ID, w.ClientOrderID)
		}
	}
}

func testKlines(t *testing.T, b *bundle) {
	b.fundDefault()
	for _, p := range []string{"20010", "19990", "20005", "20020", "19980"} {
		b.h.SetPrice(btc, dec(p))
	}
	// The venue's own time, learned from an order, anchors the window.
	o := b.settle(t, btc, b.place(t, market("vt-klines", btc, venue.Buy, "0.001")))
	from, to := o.Created.Add(-24*time.Hour).Truncate(time.Minute), o.Created.Add(time.Hour).Truncate(time.Minute)
	ks, err := b.v.Klines(b.ctx, btc, "1m", from, to)
	if err != nil {
		t.Fatalf("klines: %v", err)
	}
	if len(ks) == 0 {
		t.Fatal("klines: got none for a market that has traded")
	}
	for i, k := range ks {
		if k.OpenTime.Before(from) || !k.OpenTime.Before(to) {
			t.Errorf("kline %d opens at %s, outside [%s, %s)", i, k.OpenTime, from, to)
		}
		if !k.OpenTime.Truncate(time.Minute).Equal(k.OpenTime) {
			t.Errorf("kline %d opens at %s, not on a minute", i, k.OpenTime)
		}
		if i > 0 && !ks[i-1].OpenTime.Before(k.OpenTime) {
			t.Errorf("kline %d opens at %s, not after %s", i, k.OpenTime, ks[i-1].OpenTime)
		}
		if k.Low.GreaterThan(udecimal.Min(k.Open, k.Close)) || k.High.LessThan(udecimal.Max(k.Open, k.Close)) {
			t.Errorf("kline %d: low %s high %s do not bound open %s close %s", i, k.Low, k.High, k.Open, k.Close)
		}
		if !k.Low.IsPos() || k.Volume.IsNeg() {
			t.Errorf("kline %d: low %s volume %s", i, k.Low, k.Volume)
		}
	}
}

func testOpenOrders(t *testing.T, b *bundle) {
	b.fundDefault()
	b.place(t, limit("vt-oo-1", btc, venue.Buy, "0.01", "15000"))
	b.place(t, limit("vt-oo-2", btc, venue.Sell, "0.01", "25000"))
	b.place(t, limit("vt-oo-3", eth, venue.Buy, "0.1", "900"))
	count := func(symbol string) map[string]bool {
		t.Helper()
		open, err := b.v.OpenOrders(b.ctx, symbol)
		if err != nil {
			t.Fatalf("open orders %q: %v", symbol, err)
		}
		ids := map[string]bool{}
		for _, o := range open {
			if o.Status.Terminal() {
				t.Errorf("open orders %q: %s has terminal status %q", symbol, o.ClientOrderID, o.Status)
			}
			ids[o.ClientOrderID] = true
		}
		return ids
	}
	if got := count(btc); len(got) != 2 || !got["vt-oo-1"] || !got["vt-oo-2"] {
		t.Errorf("open orders BTCUSDT: got %v, want vt-oo-1 and vt-oo-2", got)
	}
	if got := count(""); len(got) != 3 {
		t.Errorf("open orders (all): got %v, want 3", got)
	}
	if _, err := b.v.CancelOrder(b.ctx, btc, "vt-oo-1"); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if got := count(btc); len(got) != 1 || !got["vt-oo-2"] {
		t.Errorf("open orders BTCUSDT after cancel: got %v, want vt-oo-2", got)
	}
}

func testUserStream(t *testing.T, b *bundle) {
	b.fundDefault()
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	events, err := b.v.SubscribeUser(ctx)
	if err != nil {
		t.Fatalf("subscribe user: %v", err)
	}
	b.place(t, limit("vt-us-1", btc, venue.Buy, "0.01", "19000"))
	b.crossUntilFilled(t, btc, "vt-us-1", dec("18900"), dec("18899.99"))
	var sawFilled, sawTrade bool
	timeout := time.After(5 * time.Second)
	for !sawFilled || !sawTrade {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("user stream closed early")
			}
			switch ev.Kind {
			case venue.EventOrder:
				if ev.Order != nil && ev.Order.ClientOrderID == "vt-us-1" && ev.Order.Status == venue.StatusFilled {
					sawFilled = true
				}
			case venue.EventTrade:
				if ev.Trade != nil && ev.Trade.ClientOrderID == "vt-us-1" {
					sawTrade = true
				}
			}
		case <-timeout:
			t.Fatalf("user stream: filled order event %v, trade event %v after 5s", sawFilled, sawTrade)
		}
	}
	cancel()
	waitClosed(t, "user stream", events)
}

func testPriceStream(t *testing.T, b *bundle) {
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	ticks, err := b.v.SubscribePrices(ctx, []string{btc})
	if err != nil {
		t.Fatalf("subscribe prices: %v", err)
	}
	timeout := time.After(5 * time.Second)
	for i := 0; ; i++ {
		b.h.SetPrice(btc, dec("20100.5"))
		select {
		case tk, ok := <-ticks:
			if !ok {
				t.Fatal("price stream closed early")
			}
			if tk.Symbol != btc {
				t.Fatalf("price stream for BTCUSDT: got a tick for %q", tk.Symbol)
			}
			if tk.Price.Equal(dec("20100.5")) {
				cancel()
				waitClosed(t, "price stream", ticks)
				return
			}
		case <-timeout:
			t.Fatal("price stream: no tick at 20100.5 within 5s")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func waitClosed[T any](t *testing.T, what string, ch <-chan T) {
	t.Helper()
	timeout := time.After(2 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatalf("%s: channel not closed 2s after ctx ended", what)
		}
	}
}
