package binance_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

func init() {
	for name, test := range map[string]string{
		"futures_exchange_info.json":         "TestDocumentedFuturesResponses/exchangeInfo",
		"futures_new_order.json":             "TestDocumentedFuturesResponses/new_order",
		"futures_query_order.json":           "TestDocumentedFuturesResponses/query_order, open_orders, all_orders",
		"futures_cancel_order.json":          "TestDocumentedFuturesResponses/cancel_order",
		"futures_position_risk_v2.json":      "TestDocumentedFuturesResponses/positionRisk",
		"futures_income.json":                "TestDocumentedFuturesResponses/income",
		"futures_leverage.json":              "TestDocumentedFuturesResponses/prepare",
		"futures_margin_type.json":           "TestDocumentedFuturesResponses/prepare",
		"futures_listen_key.json":            "TestFuturesUserEventsExactKeys (listenKey)",
		"ws_futures_order_trade_update.json": "TestFuturesUserEventsExactKeys",
		"ws_futures_account_update.json":     "TestFuturesUserEventsExactKeys",
		"ws_futures_listen_key_expired.json": "TestFuturesUserStreamSurvivesAnExpiredListenKey",
	} {
		replayedBy[name] = test
	}
}

// futuresDocs is a docs server answering the USDⓈ-M endpoints with their
// documented examples, exchangeInfo listing BTCUSDT with the documented
// symbol's filters.
func futuresDocs(t *testing.T) (*docsServer, *binance.Futures) {
	t.Helper()
	d := newDocsServer(t)
	doc := fixture(t, "futures_exchange_info.json")
	sym := strings.SplitN(strings.SplitN(string(doc), `"symbols": [`, 2)[1], "\n    }", 2)[0] + "\n    }"
	btc, err := binancetest.Edit([]byte(sym), "symbol", `"BTCUSDT"`, "pair", `"BTCUSDT"`, "baseAsset", `"BTC"`)
	if err != nil {
		t.Fatal(err)
	}
	body, err := binancetest.Edit(doc, "symbols", "["+sym+","+string(btc)+"]")
	if err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	d.answers["GET /fapi/v1/exchangeInfo"] = docsAnswer{status: 200, body: body}
	d.answers["POST /fapi/v1/order"] = docsAnswer{200, "futures_new_order.json", nil, nil}
	d.answers["GET /fapi/v1/order"] = docsAnswer{200, "futures_query_order.json", nil, nil}
	d.answers["DELETE /fapi/v1/order"] = docsAnswer{200, "futures_cancel_order.json", nil, nil}
	d.answers["GET /fapi/v1/openOrders"] = docsAnswer{status: 200, body: []byte("[" + string(fixture(t, "futures_query_order.json")) + "]")}
	d.answers["GET /fapi/v1/allOrders"] = docsAnswer{status: 200, body: []byte("[" + string(fixture(t, "futures_query_order.json")) + "]")}
	d.answers["GET /fapi/v2/positionRisk"] = docsAnswer{200, "futures_position_risk_v2.json", nil, nil}
	d.answers["GET /fapi/v1/income"] = docsAnswer{200, "futures_income.json", nil, nil}
	d.answers["POST /fapi/v1/leverage"] = docsAnswer{200, "futures_leverage.json", nil, nil}
	d.answers["POST /fapi/v1/marginType"] = docsAnswer{200, "futures_margin_type.json", nil, nil}
	d.mu.Unlock()
	f, err := docsClient(t, d).Futures(binance.FuturesOptions{WSBaseURL: "ws://127.0.0.1:1",
		Leverage: map[string]int{"BTCUSDT": 21}, MarginType: map[string]venue.MarginMode{"BTCUSDT": venue.MarginIsolated}})
	if err != nil {
		t.Fatal(err)
	}
	return d, f
}

// TestDocumentedFuturesResponses replays each documented USDⓈ-M example
// through the adapter and checks what it reads, field by field.
func TestDocumentedFuturesResponses(t *testing.T) {
	t.Parallel()
	d, f := futuresDocs(t)
	ctx := t.Context()
	t.Run("exchangeInfo", func(t *testing.T) {
		syms, err := f.Symbols(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := venue.Symbol{Name: "BLZUSDT", Kind: venue.KindLinearPerpetual, Base: "BLZ", Quote: "USDT", TickSize: dec("0.0001"),
			StepSize: dec("1"), MinQty: dec("1"), MaxQty: dec("10000000"), MinNotional: dec("5")}
		if len(syms) != 2 || syms[0].Name != want.Name || syms[0].Kind != want.Kind || syms[0].Base != want.Base || syms[0].Quote != want.Quote ||
			!syms[0].TickSize.Equal(want.TickSize) || !syms[0].StepSize.Equal(want.StepSize) || !syms[0].MinQty.Equal(want.MinQty) ||
			!syms[0].MaxQty.Equal(want.MaxQty) || !syms[0].MinNotional.Equal(want.MinNotional) {
			t.Errorf("symbols: got %+v, want %+v first", syms, want)
		}
	})
	t.Run("prepare", func(t *testing.T) {
		if err := f.Prepare(ctx, "BTCUSDT"); err != nil {
			t.Fatal(err)
		}
		if err := f.Prepare(ctx, "BTCUSDT"); err != nil {
			t.Fatal(err)
		}
		if d.count("POST /fapi/v1/leverage") != 1 || d.count("POST /fapi/v1/marginType") != 1 {
			t.Errorf("prepare twice: %d leverage and %d margin type requests, want 1 and 1",
				d.count("POST /fapi/v1/leverage"), d.count("POST /fapi/v1/marginType"))
		}
	})
	t.Run("new_order", func(t *testing.T) {
		o, err := f.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: "testOrder", Symbol: "BTCUSDT", Side: venue.Buy,
			Type: venue.Limit, Quantity: dec("10"), Price: dec("9")})
		if err != nil {
			t.Fatal(err)
		}
		if o.ClientOrderID != "testOrder" || o.VenueOrderID != "22542179" || !o.Quantity.Equal(dec("10")) || o.Status != venue.StatusNew ||
			!o.ExecutedQty.IsZero() || o.Side != venue.Buy || !o.Updated.Equal(ms(1566818724722)) {
			t.Errorf("new order: got %+v", o)
		}
	})
	t.Run("query_order", func(t *testing.T) {
		o, err := f.QueryOrder(ctx, "BTCUSDT", "abc")
		if err != nil {
			t.Fatal(err)
		}
		if o.VenueOrderID != "1917641" || !o.Quantity.Equal(dec("0.40")) || !o.Created.Equal(ms(1579276756075)) || o.Status != venue.StatusNew {
			t.Errorf("query order: got %+v", o)
		}
	})
	t.Run("open_orders", func(t *testing.T) {
		os, err := f.OpenOrders(ctx, "BTCUSDT")
		if err != nil || len(os) != 1 || os[0].ClientOrderID != "abc" {
			t.Fatalf("open orders: got %+v, %v", os, err)
		}
	})
	t.Run("all_orders", func(t *testing.T) {
		os, err := f.OrderHistory(ctx, "BTCUSDT", ms(1579276756000), ms(1579276757000))
		if err != nil || len(os) != 1 || os[0].VenueOrderID != "1917641" || os[0].ClientOrderID != "abc" {
			t.Fatalf("order history: got %+v, %v", os, err)
		}
	})
	t.Run("cancel_order", func(t *testing.T) {
		o, err := f.CancelOrder(ctx, "BTCUSDT", "myOrder1")
		if err != nil {
			t.Fatal(err)
		}
		if o.VenueOrderID != "283194212" || o.Status != venue.StatusCanceled || !o.Quantity.Equal(dec("11")) {
			t.Errorf("cancel: got %+v", o)
		}
	})
	t.Run("positionRisk", func(t *testing.T) {
		// The documented row is an empty position: not listed.
		ps, err := f.Positions(ctx)
		if err != nil || len(ps) != 0 {
			t.Fatalf("positions of the documented (empty) row: got %+v, %v", ps, err)
		}
		body, err := binancetest.EditElems(fixture(t, "futures_position_risk_v2.json"))
		if err != nil {
			t.Fatal(err)
		}
		body = []byte(strings.Replace(strings.Replace(string(body), `"positionAmt": "0.000"`, `"positionAmt": "-0.010"`, 1),
			`"entryPrice": "0.00000"`, `"entryPrice": "6700.00000"`, 1))
		d.mu.Lock()
		d.answers["GET /fapi/v2/positionRisk"] = docsAnswer{status: 200, body: body}
		d.mu.Unlock()
		ps, err = f.Positions(ctx)
		if err != nil || len(ps) != 1 {
			t.Fatalf("positions: got %+v, %v", ps, err)
		}
		p := ps[0]
		if p.Symbol != "BTCUSDT" || !p.Size.Equal(dec("-0.01")) || !p.EntryPrice.Equal(dec("6700")) || !p.MarkPrice.Equal(dec("6679.50671178")) ||
			!p.Leverage.Equal(dec("10")) || p.MarginMode != venue.MarginIsolated || p.SettleAsset != "USDT" {
			t.Errorf("position: got %+v", p)
		}
	})
	t.Run("income", func(t *testing.T) {
		from, to := ms(1570600000000), ms(1570700000000)
		fs, err := f.FundingPayments(ctx, "", from, to)
		if err != nil || len(fs) != 0 {
			t.Fatalf("funding of the documented TRANSFER and COMMISSION rows: got %+v, %v; want none", fs, err)
		}
		body := strings.Replace(string(fixture(t, "futures_income.json")), `"incomeType": "COMMISSION"`, `"incomeType": "FUNDING_FEE"`, 1)
		d.mu.Lock()
		d.answers["GET /fapi/v1/income"] = docsAnswer{status: 200, body: []byte(body)}
		d.mu.Unlock()
		fs, err = f.FundingPayments(ctx, "", from, to)
		if err != nil || len(fs) != 1 {
			t.Fatalf("funding: got %+v, %v", fs, err)
		}
		if fs[0].Symbol != "BTCUSDT" || fs[0].Asset != "USDT" || !fs[0].Amount.Equal(dec("-0.01")) || !fs[0].Time.Equal(ms(1570636800000)) ||
			fs[0].ID != "9689322392/BTCUSDT" {
			t.Errorf("funding: got %+v", fs[0])
		}
	})
}

func TestFuturesPrepareSetsLeverageAndMarginTypeOnTheFake(t *testing.T) {
	t.Parallel()
	fake, f, ctx := futuresSetup(t, binance.FuturesOptions{Leverage: map[string]int{"BTCUSDT": 5},
		MarginType: map[string]venue.MarginMode{"BTCUSDT": venue.MarginIsolated, "ETHUSDT": venue.MarginCross}})
	if err := f.Prepare(ctx, "BTCUSDT", "ETHUSDT"); err != nil { // ETHUSDT is cross already: -4046 is success
		t.Fatal(err)
	}
	if fake.FuturesLeverage("BTCUSDT") != 5 || !fake.FuturesIsolated("BTCUSDT") || fake.FuturesIsolated("ETHUSDT") {
		t.Errorf("fake holds leverage %d isolated %v/%v, want 5, true, false", fake.FuturesLeverage("BTCUSDT"),
			fake.FuturesIsolated("BTCUSDT"), fake.FuturesIsolated("ETHUSDT"))
	}
	fake.SetPrice("BTCUSDT", dec("20000"))
	fake.Fund(venue.WalletFutures, "USDT", dec("1000"))
	if _, err := f.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: "lev-1", Symbol: "BTCUSDT", Side: venue.Buy, Type: venue.Market,
		Quantity: dec("0.01")}); err != nil {
		t.Fatal(err)
	}
	ps, err := f.Positions(ctx)
	if err != nil || len(ps) != 1 || !ps[0].Leverage.Equal(dec("5")) || ps[0].MarginMode != venue.MarginIsolated {
		t.Fatalf("positions: got %+v, %v; want one at 5x isolated", ps, err)
	}
}

func TestFuturesReduceOnlyAndFunding(t *testing.T) {
	t.Parallel()
	fake, f, ctx := futuresSetup(t, binance.FuturesOptions{})
	fake.SetPrice("BTCUSDT", dec("20000"))
	fake.Fund(venue.WalletFutures, "USDT", dec("1000"))
	_, err := f.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: "ro-0", Symbol: "BTCUSDT", Side: venue.Sell, Type: venue.Market,
		Quantity: dec("0.01"), ReduceOnly: true})
	if venue.ClassOf(err) != venue.ClassRejected {
		t.Fatalf("reduce-only without a position: got %v, want rejected", err)
	}
	if _, err := f.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: "ro-1", Symbol: "BTCUSDT", Side: venue.Buy, Type: venue.Market,
		Quantity: dec("0.01")}); err != nil {
		t.Fatal(err)
	}
	o, err := f.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: "ro-2", Symbol: "BTCUSDT", Side: venue.Sell, Type: venue.Market,
		Quantity: dec("0.05"), ReduceOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if !o.ExecutedQty.Equal(dec("0.01")) {
		t.Errorf("reduce-only sell of 0.05 against a 0.01 long: executed %s, want 0.01 (trimmed)", o.ExecutedQty)
	}
	if ps, _ := f.Positions(ctx); len(ps) != 0 {
		t.Errorf("after the reduce-only close: positions %+v", ps)
	}
	_, err = f.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: "ro-3", Symbol: "BTCUSDT", Side: venue.Sell, Type: venue.Market,
		Quantity: dec("0.01"), ReduceOnly: true, PositionSide: venue.PositionShort})
	if venue.ClassOf(err) != venue.ClassInvalid {
		t.Errorf("reduce-only in hedge mode: got %v, want invalid", err)
	}

	at := time.Now().Add(-time.Hour).Truncate(time.Millisecond).UTC()
	fake.AddFuturesFunding("BTCUSDT", dec("-0.25"), at)
	fake.AddFuturesFunding("BTCUSDT", dec("0.1"), at.Add(time.Minute))
	fs, err := f.FundingPayments(ctx, "BTCUSDT", at.Add(-time.Hour), time.Now())
	if err != nil || len(fs) != 2 {
		t.Fatalf("funding: got %+v, %v", fs, err)
	}
	if !fs[0].Amount.Equal(dec("-0.25")) || !fs[1].Amount.Equal(dec("0.1")) || !fs[0].Time.Equal(at) || fs[0].Asset != "USDT" || fs[0].ID == fs[1].ID {
		t.Errorf("funding: got %+v", fs)
	}
}

func TestSpotRefusesDerivativesFields(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{}, nil)
	for _, req := range []venue.OrderRequest{
		{ClientOrderID: "sp-ro", Symbol: "BTCUSDT", Side: venue.Sell, Type: venue.Market, Quantity: dec("0.01"), ReduceOnly: true},
		{ClientOrderID: "sp-ps", Symbol: "BTCUSDT", Side: venue.Buy, Type: venue.Market, Quantity: dec("0.01"), PositionSide: venue.PositionLong},
	} {
		if _, err := b.client.PlaceOrder(b.ctx, req); venue.ClassOf(err) != venue.ClassInvalid {
			t.Errorf("spot order %s: got %v, want class invalid", req.ClientOrderID, err)
		}
	}
	if st := b.fake.Stats(); st.Orders != 0 {
		t.Errorf("fake saw %d orders, want none sent", st.Orders)
	}
}

// TestFuturesOrderPassesTheSendGuard: a futures order is stamped and then
// asked the journal's guard, like a spot order; a refused guard sends
// nothing (class unavailable: certainly not executed).
func TestFuturesOrderPassesTheSendGuard(t *testing.T) {
	t.Parallel()
	fake, f, ctx := futuresSetup(t, binance.FuturesOptions{})
	fake.SetPrice("BTCUSDT", dec("20000"))
	fake.Fund(venue.WalletFutures, "USDT", dec("1000"))
	if _, err := f.Symbols(ctx); err != nil {
		t.Fatal(err)
	}
	guarded := venue.WithSendGuard(ctx, func(context.Context) error { return errors.New("lease lost") })
	_, err := f.PlaceOrder(guarded, venue.OrderRequest{ClientOrderID: "sg-1", Symbol: "BTCUSDT", Side: venue.Buy, Type: venue.Market,
		Quantity: dec("0.01")})
	if venue.ClassOf(err) != venue.ClassUnavailable {
		t.Fatalf("guarded futures order: got %v, want unavailable", err)
	}
	if st := fake.Stats(); st.Orders != 0 {
		t.Fatalf("fake saw %d orders after a refused guard, want 0", st.Orders)
	}
	if _, err := f.QueryOrder(ctx, "BTCUSDT", "sg-1"); venue.ClassOf(err) != venue.ClassNotFound {
		t.Errorf("query the unsent order: got %v, want not found", err)
	}
	if f.RecvWindow() != 5*time.Second {
		t.Errorf("recvWindow %s, want the default 5s", f.RecvWindow())
	}
}

// TestFuturesClockFromTheFuturesHost: with SyncTimeFromFutures a client
// measures its clock offset from /fapi/v1/time and never asks the spot
// host, which a futures-only base URL may not serve.
func TestFuturesClockFromTheFuturesHost(t *testing.T) {
	t.Parallel()
	d, _ := futuresDocs(t)
	d.answer("GET /fapi/v1/time", 200, "time.json", nil)
	c, err := binance.New(binance.Config{APIKey: "k", APISecret: "s", BaseURL: d.srv.URL, FuturesBaseURL: d.srv.URL, SyncTimeFromFutures: true})
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Futures(binance.FuturesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.OpenOrders(t.Context(), "BTCUSDT"); err != nil {
		t.Fatal(err)
	}
	if d.count("GET /fapi/v1/time") != 1 || d.count("GET /api/v3/time") != 0 {
		t.Errorf("time asked of the futures host %d times and of the spot host %d times, want 1 and 0",
			d.count("GET /fapi/v1/time"), d.count("GET /api/v3/time"))
	}
}

// TestFuturesOrderHistory: the journal's second source for an order with
// an unknown outcome finds a futures order placed and one that timed out
// after executing, and pages past 7-day windows.
func TestFuturesOrderHistory(t *testing.T) {
	t.Parallel()
	fake, f, ctx := futuresSetup(t, binance.FuturesOptions{})
	fake.SetPrice("BTCUSDT", dec("20000"))
	fake.Fund(venue.WalletFutures, "USDT", dec("10000"))
	if _, err := f.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: "oh-1", Symbol: "BTCUSDT", Side: venue.Buy, Type: venue.Limit,
		Quantity: dec("0.01"), Price: dec("19000"), TimeInForce: venue.GTC}); err != nil {
		t.Fatal(err)
	}
	fake.FailNext(binancetest.OpPlace, binancetest.FaultTimeoutAfterExecution)
	_, err := f.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: "oh-2", Symbol: "BTCUSDT", Side: venue.Buy, Type: venue.Market,
		Quantity: dec("0.01")})
	if venue.ClassOf(err) != venue.ClassUnknown {
		t.Fatalf("timed-out order: got %v, want unknown outcome", err)
	}
	os, err := f.OrderHistory(ctx, "BTCUSDT", time.Now().Add(-20*24*time.Hour), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(os) != 2 || os[0].ClientOrderID != "oh-1" || os[1].ClientOrderID != "oh-2" || os[1].Status != venue.StatusFilled {
		t.Fatalf("order history: got %+v, want oh-1 then oh-2 (filled)", os)
	}
}

// TestFuturesUserStreamSurvivesAnExpiredListenKey: on listenKeyExpired
// (the documented event) the adapter opens a new listenKey, reconnects,
// says EventReconnected, and reports the fills that follow.
func TestFuturesUserStreamSurvivesAnExpiredListenKey(t *testing.T) {
	t.Parallel()
	fake, f, ctx := futuresSetup(t, binance.FuturesOptions{})
	fake.SetPrice("BTCUSDT", dec("20000"))
	fake.Fund(venue.WalletFutures, "USDT", dec("10000"))
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := f.SubscribeUser(sctx)
	if err != nil {
		t.Fatal(err)
	}
	timeout := time.After(5 * time.Second)
	for fake.FuturesUserStreams() == 0 {
		select {
		case <-timeout:
			t.Fatal("the user stream never connected")
		case <-time.After(5 * time.Millisecond):
		}
	}
	fake.ExpireFuturesListenKey()
	for reconnected := false; !reconnected; {
		select {
		case ev := <-events:
			reconnected = ev.Kind == venue.EventReconnected
		case <-timeout:
			t.Fatal("no EventReconnected 5 s after the listenKey expired")
		}
	}
	for fake.FuturesUserStreams() != 1 { // the new connection, registered at the fake
		select {
		case <-timeout:
			t.Fatalf("%d listenKey connections after the reconnect, want 1", fake.FuturesUserStreams())
		case <-time.After(5 * time.Millisecond):
		}
	}
	if _, err := f.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: "lk-1", Symbol: "BTCUSDT", Side: venue.Buy, Type: venue.Market,
		Quantity: dec("0.01")}); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case ev := <-events:
			if ev.Kind == venue.EventTrade && ev.Trade.ClientOrderID == "lk-1" {
				return
			}
		case <-timeout:
			t.Fatal("no fill of lk-1 on the stream after the reconnect")
		}
	}
}
