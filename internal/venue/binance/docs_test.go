package binance_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// docsServer answers each route with a response example from Binance's
// documentation (testdata/docs): what the adapter must parse from the real
// API, as opposed to what the fake chose to send.
type docsServer struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	answers  map[string]docsAnswer // "METHOD /path"
	requests map[string]int
	params   map[string]url.Values // each route's last request: query and form body
}

type docsAnswer struct {
	status  int
	file    string
	headers map[string]string
	body    []byte // when set, sent instead of file
}

// fixture is a documented example of binancetest/docs without its source
// lines: the bytes Binance sends.
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	return binancetest.Doc(name)
}

func newDocsServer(t *testing.T) *docsServer {
	d := &docsServer{t: t, requests: map[string]int{}, params: map[string]url.Values{}, answers: map[string]docsAnswer{
		"GET /api/v3/time":         {200, "time.json", nil, nil},
		"GET /api/v3/exchangeInfo": {200, "exchange_info.json", nil, nil},
		"GET /api/v3/account":      {200, "account.json", nil, nil},
		"POST /api/v3/order":       {200, "order_full.json", nil, nil},
		"GET /api/v3/order":        {200, "query_order.json", nil, nil},
		"DELETE /api/v3/order":     {200, "cancel_order.json", nil, nil},
		"GET /api/v3/openOrders":   {200, "open_orders.json", nil, nil},
		"GET /api/v3/myTrades":     {200, "my_trades.json", nil, nil},
		"GET /api/v3/avgPrice":     {200, "avg_price.json", nil, nil},
		"GET /fapi/v1/userTrades":  {200, "futures_user_trades.json", nil, nil},
		// A key with spot permissions only: the other wallets answer -2015.
		"POST /sapi/v1/asset/get-funding-asset":      {401, "error_api_key.json", nil, nil},
		"GET /fapi/v2/balance":                       {401, "error_api_key.json", nil, nil},
		"GET /fapi/v3/balance":                       {401, "error_api_key.json", nil, nil},
		"GET /sapi/v1/margin/account":                {401, "error_api_key.json", nil, nil},
		"GET /sapi/v1/simple-earn/flexible/position": {401, "error_api_key.json", nil, nil},
	}}
	d.srv = httptest.NewServer(http.HandlerFunc(d.serve))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *docsServer) serve(w http.ResponseWriter, r *http.Request) {
	key := r.Method + " " + r.URL.Path
	params := r.URL.Query()
	if body, err := io.ReadAll(r.Body); err == nil {
		if form, err := url.ParseQuery(string(body)); err == nil {
			for k, vs := range form {
				params[k] = append(params[k], vs...)
			}
		}
	}
	d.mu.Lock()
	a, ok := d.answers[key]
	d.requests[key]++
	d.params[key] = params
	d.mu.Unlock()
	if !ok {
		d.t.Errorf("docs server: unexpected %s", key)
		http.Error(w, "no fixture", http.StatusNotFound)
		return
	}
	for k, v := range a.headers {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(a.status)
	if a.body != nil {
		_, _ = w.Write(a.body)
		return
	}
	_, _ = w.Write(fixture(d.t, a.file))
}

// answer makes route answer status with the fixture file from now on.
func (d *docsServer) answer(route string, status int, file string, headers map[string]string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.answers[route] = docsAnswer{status, file, headers, nil}
}

// listBTCUSDT makes exchangeInfo list BTCUSDT too, with the documented
// symbol's rules: the order examples are BTCUSDT's, and an order is checked
// against its symbol's filters before it is sent.
func (d *docsServer) listBTCUSDT() {
	d.t.Helper()
	doc := fixture(d.t, "exchange_info.json")
	var m map[string]json.RawMessage
	var syms []json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil || json.Unmarshal(m["symbols"], &syms) != nil {
		d.t.Fatal("exchange_info.json has no symbols")
	}
	btc, err := binancetest.Edit(syms[0], "symbol", `"BTCUSDT"`, "baseAsset", `"BTC"`, "quoteAsset", `"USDT"`)
	if err != nil {
		d.t.Fatal(err)
	}
	body, err := binancetest.Edit(doc, "symbols", "["+string(syms[0])+","+string(btc)+"]")
	if err != nil {
		d.t.Fatal(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.answers["GET /api/v3/exchangeInfo"] = docsAnswer{status: 200, body: body}
}

// sent returns the parameters of route's last request.
func (d *docsServer) sent(route string) url.Values {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.params[route]
}

func (d *docsServer) count(route string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.requests[route]
}

func docsClient(t *testing.T, d *docsServer) *binance.Client {
	t.Helper()
	c, err := binance.New(binance.Config{APIKey: "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
		APISecret: "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j", BaseURL: d.srv.URL, FuturesBaseURL: d.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ms(n int64) time.Time { return time.UnixMilli(n).UTC() }

// same compares orders and trades field by field, decimals by value: their
// String is canonical ("10.00000000" and "10" both print 10), while == would
// compare the scale too.
func same(a, b any) bool { return fmt.Sprintf("%+v", a) == fmt.Sprintf("%+v", b) }

// TestDocumentedResponses feeds the adapter Binance's documented response
// examples and checks what it makes of them.
func TestDocumentedResponses(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := newDocsServer(t)
	c := docsClient(t, d)

	t.Run("exchangeInfo", func(t *testing.T) {
		syms, err := c.Symbols(ctx)
		if err != nil || len(syms) != 1 {
			t.Fatalf("symbols: %+v, %v", syms, err)
		}
		s := syms[0]
		if s.Name != "ETHBTC" || s.Base != "ETH" || s.Quote != "BTC" || !s.TickSize.Equal(dec("0.000001")) ||
			!s.StepSize.Equal(dec("0.001")) || !s.MinQty.Equal(dec("0.001")) || !s.MaxQty.Equal(dec("100000")) ||
			!s.MinNotional.Equal(dec("10")) {
			t.Errorf("symbol: %+v", s)
		}
		if st := c.Stats(); st.WeightLimit != 6000 || st.OrderLimit10s != 50 || st.OrderLimitDay != 160000 {
			t.Errorf("limits from rateLimits: %d, %d/10s, %d/day; want 6000, 50, 160000", st.WeightLimit, st.OrderLimit10s, st.OrderLimitDay)
		}
	})
	t.Run("account", func(t *testing.T) {
		bals, err := c.Balances(ctx)
		if err != nil {
			t.Fatalf("balances: %v", err)
		}
		if len(bals) != 2 || bals[0] != (venue.Balance{Wallet: venue.WalletSpot, Asset: "BTC", Free: dec("4723846.89208129"), Locked: dec("0")}) ||
			bals[1].Asset != "LTC" || !bals[1].Free.Equal(dec("4763368.68006011")) {
			t.Errorf("balances: %+v; want BTC and LTC in spot, the -2015 wallets left out", bals)
		}
	})
	t.Run("order FULL", func(t *testing.T) {
		d.listBTCUSDT()
		o, err := c.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: "6gCrw2kRUAF9CvJDGP16IP", Symbol: "BTCUSDT", Side: venue.Sell,
			Type: venue.Market, Quantity: dec("10")})
		if err != nil {
			t.Fatalf("place: %v", err)
		}
		want := venue.Order{ClientOrderID: "6gCrw2kRUAF9CvJDGP16IP", VenueOrderID: "28", Symbol: "BTCUSDT", Side: venue.Sell,
			Type: venue.Market, Price: dec("0"), Quantity: dec("10"), ExecutedQty: dec("10"), QuoteQty: dec("10"),
			Status: venue.StatusFilled, Created: ms(1507725176595), Updated: ms(1507725176595)}
		if !same(o, want) {
			t.Errorf("order:\n got %+v\nwant %+v", o, want)
		}
		// Its fills, from the FULL response: myTrades (the documented
		// example is another order's) has none of them yet.
		ts, err := c.OrderTrades(ctx, "BTCUSDT", "28")
		if err != nil || len(ts) != 5 {
			t.Fatalf("fills of the FULL order: %+v, %v; want the 5 documented fills", ts, err)
		}
		for i, w := range []struct{ id, price, qty, fee string }{
			{"56", "4000", "1", "4"}, {"57", "3999", "5", "19.995"}, {"58", "3998", "2", "7.996"},
			{"59", "3997", "1", "3.997"}, {"60", "3995", "1", "3.995"},
		} {
			want := venue.Trade{ID: w.id, VenueOrderID: "28", ClientOrderID: "6gCrw2kRUAF9CvJDGP16IP", Symbol: "BTCUSDT",
				Side: venue.Sell, Price: dec(w.price), Quantity: dec(w.qty), QuoteQty: dec(w.price).Mul(dec(w.qty)),
				Fee: dec(w.fee), FeeAsset: "USDT", Time: ms(1507725176595)}
			if !same(ts[i], want) {
				t.Errorf("fill %d:\n got %+v\nwant %+v", i, ts[i], want)
			}
		}
	})
	t.Run("query order", func(t *testing.T) {
		o, err := c.QueryOrder(ctx, "LTCBTC", "myOrder1")
		if err != nil {
			t.Fatal(err)
		}
		want := venue.Order{ClientOrderID: "myOrder1", VenueOrderID: "1", Symbol: "LTCBTC", Side: venue.Buy, Type: venue.Limit,
			Price: dec("0.1"), Quantity: dec("1"), ExecutedQty: dec("0"), QuoteQty: dec("0"), Status: venue.StatusNew,
			Created: ms(1499827319559), Updated: ms(1499827319559)}
		if !same(o, want) {
			t.Errorf("order:\n got %+v\nwant %+v", o, want)
		}
	})
	t.Run("cancel order", func(t *testing.T) {
		o, err := c.CancelOrder(ctx, "LTCBTC", "myOrder1")
		if err != nil {
			t.Fatal(err)
		}
		want := venue.Order{ClientOrderID: "myOrder1", VenueOrderID: "4", Symbol: "LTCBTC", Side: venue.Buy, Type: venue.Limit,
			Price: dec("2"), Quantity: dec("1"), ExecutedQty: dec("0"), QuoteQty: dec("0"), Status: venue.StatusCanceled,
			Updated: ms(1684804350068)}
		if !same(o, want) {
			t.Errorf("canceled order:\n got %+v\nwant %+v", o, want)
		}
	})
	t.Run("openOrders", func(t *testing.T) {
		os, err := c.OpenOrders(ctx, "LTCBTC")
		if err != nil || len(os) != 1 {
			t.Fatalf("open orders: %+v, %v", os, err)
		}
		if o := os[0]; o.ClientOrderID != "myOrder1" || o.VenueOrderID != "1" || o.Status != venue.StatusNew || !o.Price.Equal(dec("0.1")) ||
			!o.Quantity.Equal(dec("1")) || !o.Created.Equal(ms(1499827319559)) {
			t.Errorf("open order: %+v", o)
		}
	})
	t.Run("myTrades", func(t *testing.T) {
		p, err := c.Trades(ctx, venue.TradeQuery{Symbol: "BNBBTC", From: ms(1499865549590).Add(-time.Hour), To: ms(1499865549590).Add(time.Hour)})
		if err != nil || len(p.Trades) != 1 || p.Next != "" {
			t.Fatalf("trades: %+v, %v", p, err)
		}
		want := venue.Trade{ID: "28457", VenueOrderID: "100234", Symbol: "BNBBTC", Side: venue.Buy, Price: dec("4.000001"),
			Quantity: dec("12"), QuoteQty: dec("48.000012"), Fee: dec("10.1"), FeeAsset: "BNB", Maker: false, Time: ms(1499865549590)}
		if got := p.Trades[0]; !same(got, want) {
			t.Errorf("trade:\n got %+v\nwant %+v", got, want)
		}
	})
	t.Run("futures userTrades", func(t *testing.T) {
		at := ms(1569514978020)
		p, err := c.FuturesTrades(ctx, venue.TradeQuery{Symbol: "BTCUSDT", From: at.Add(-time.Hour), To: at.Add(time.Hour)})
		if err != nil || len(p.Trades) != 1 {
			t.Fatalf("futures trades: %+v, %v", p, err)
		}
		want := binance.FuturesTrade{Trade: venue.Trade{ID: "698759", VenueOrderID: "25851813", Symbol: "BTCUSDT", Side: venue.Sell,
			Price: dec("7819.01"), Quantity: dec("0.002"), QuoteQty: dec("15.63802"), Fee: dec("-0.0781901"), FeeAsset: "USDT", Time: at},
			RealizedPnl: dec("-0.91539999"), PositionSide: "SHORT"}
		if got := p.Trades[0]; !same(got, want) {
			t.Errorf("futures trade:\n got %+v\nwant %+v", got, want)
		}
	})
}

// TestDocumentedErrors: the documented error bodies map to the port's
// classes, with the code, Retry-After and the ban's end.
func TestDocumentedErrors(t *testing.T) {
	t.Parallel()
	order := venue.OrderRequest{ClientOrderID: "doc-1", Symbol: "BTCUSDT", Side: venue.Buy, Type: venue.Limit,
		Quantity: dec("1"), Price: dec("20")}
	code := func(err error) int {
		var ve *venue.Error
		if errors.As(err, &ve) {
			return ve.Code
		}
		return 0
	}

	t.Run("-2010 insufficient balance", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		d := newDocsServer(t)
		d.listBTCUSDT()
		d.answer("POST /api/v3/order", 400, "error_insufficient_balance.json", nil)
		_, err := docsClient(t, d).PlaceOrder(ctx, order)
		if !errors.Is(err, venue.ErrInsufficientFunds) || code(err) != -2010 {
			t.Errorf("got %v, want insufficient funds, code -2010", err)
		}
	})
	t.Run("-2010 duplicate", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		d := newDocsServer(t)
		d.listBTCUSDT()
		d.answer("POST /api/v3/order", 400, "error_duplicate_order.json", nil)
		_, err := docsClient(t, d).PlaceOrder(ctx, order)
		if !errors.Is(err, venue.ErrDuplicateOrder) || code(err) != -2010 {
			t.Errorf("got %v, want duplicate order, code -2010", err)
		}
	})
	t.Run("-2013 unknown order", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		d := newDocsServer(t)
		d.answer("GET /api/v3/order", 400, "error_unknown_order.json", nil)
		_, err := docsClient(t, d).QueryOrder(ctx, "BTCUSDT", "doc-1")
		if !errors.Is(err, venue.ErrOrderNotFound) || code(err) != -2013 {
			t.Errorf("got %v, want order not found, code -2013", err)
		}
	})
	t.Run("-2026 archived", func(t *testing.T) {
		t.Parallel()
		d := newDocsServer(t)
		d.answer("GET /api/v3/order", 400, "error_order_archived.json", nil)
		o, err := docsClient(t, d).QueryOrder(t.Context(), "BTCUSDT", "doc-1")
		want := venue.Order{ClientOrderID: "doc-1", Symbol: "BTCUSDT", Status: venue.StatusCanceled}
		if err != nil || !same(o, want) {
			t.Errorf("got %+v, %v; want settled: canceled, nothing executed", o, err)
		}
	})
	t.Run("-1021 timestamp", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		d := newDocsServer(t)
		d.answer("GET /api/v3/openOrders", 400, "error_timestamp.json", nil)
		c := docsClient(t, d)
		_, err := c.OpenOrders(ctx, "LTCBTC")
		if !errors.Is(err, venue.ErrTimestamp) || code(err) != -1021 {
			t.Errorf("got %v, want timestamp, code -1021", err)
		}
		if n := d.count("GET /api/v3/time"); n != 2 {
			t.Errorf("%d time syncs, want 2 (before the first request and after the -1021)", n)
		}
	})
	t.Run("-1003 429", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		d := newDocsServer(t)
		d.answer("GET /api/v3/openOrders", 429, "error_too_much_weight.json", map[string]string{"Retry-After": "1"})
		c := docsClient(t, d)
		_, err := c.OpenOrders(ctx, "LTCBTC")
		var ve *venue.Error
		if !errors.As(err, &ve) || ve.Class != venue.ClassRateLimited || ve.Code != -1003 || ve.RetryAfter != time.Second {
			t.Fatalf("got %v, want rate limited, code -1003, retry after 1 s", err)
		}
		d.answer("GET /api/v3/openOrders", 200, "open_orders.json", nil)
		start := time.Now()
		if _, err := c.OpenOrders(ctx, "LTCBTC"); err != nil {
			t.Fatalf("after Retry-After: %v", err)
		}
		if waited := time.Since(start); waited < 900*time.Millisecond {
			t.Errorf("next request went out after %s, want Retry-After (1 s) waited out", waited)
		}
	})
	t.Run("-1003 418", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		d := newDocsServer(t)
		d.answer("GET /api/v3/openOrders", 418, "error_banned.json", map[string]string{"Retry-After": "120"})
		c := docsClient(t, d)
		before := time.Now()
		_, err := c.OpenOrders(ctx, "LTCBTC")
		var ve *venue.Error
		if !errors.As(err, &ve) || ve.Class != venue.ClassBanned || ve.Code != -1003 ||
			ve.Until.Before(before.Add(119*time.Second)) || ve.Until.After(time.Now().Add(121*time.Second)) {
			t.Fatalf("got %v (until %s), want banned for Retry-After's 120 s, code -1003", err, ve.Until)
		}
		n := d.count("GET /api/v3/openOrders")
		if _, err := c.OpenOrders(ctx, "LTCBTC"); !errors.Is(err, venue.ErrBanned) || d.count("GET /api/v3/openOrders") != n {
			t.Errorf("during the ban: %v, %d more requests; want banned and none sent", err, d.count("GET /api/v3/openOrders")-n)
		}
	})
	t.Run("-1015 429 without Retry-After", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		d := newDocsServer(t)
		d.listBTCUSDT()
		d.answer("POST /api/v3/order", 429, "error_too_many_orders.json", nil)
		c := docsClient(t, d)
		_, err := c.PlaceOrder(ctx, order)
		var ve *venue.Error
		if !errors.As(err, &ve) || ve.Class != venue.ClassRateLimited || ve.Code != -1015 {
			t.Fatalf("got %v, want rate limited, code -1015", err)
		}
		// The count is per 10 seconds: the account's orders wait for the
		// server's next 10-second window, not a minute.
		if ve.RetryAfter <= 0 || ve.RetryAfter > 11*time.Second {
			t.Errorf("retry after %s, want until the next 10-second window", ve.RetryAfter)
		}
		// The order count is the account's: other requests go on at once.
		start := time.Now()
		if _, err := c.OpenOrders(ctx, "LTCBTC"); err != nil || time.Since(start) > 500*time.Millisecond {
			t.Errorf("open orders after an order-count 429: %v after %s, want at once", err, time.Since(start))
		}
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		n := d.count("POST /api/v3/order")
		if _, err := c.PlaceOrder(short, order); !errors.Is(err, venue.ErrUnavailable) || d.count("POST /api/v3/order") != n {
			t.Errorf("order during the pause: %v; want held back, none sent", err)
		}
	})
}

// replayedBy names, for every documented example the fake holds, the test
// that feeds it verbatim through the adapter's public methods and checks
// what comes out field by field.
var replayedBy = map[string]string{
	"account.json":                      "TestDocumentedResponses/account",
	"cancel_order.json":                 "TestDocumentedResponses/cancel_order",
	"error_api_key.json":                "TestDocumentedResponses/account (the wallets a spot-only key may not read)",
	"error_banned.json":                 "TestDocumentedErrors/-1003_418",
	"error_duplicate_order.json":        "TestDocumentedErrors/-2010_duplicate",
	"error_insufficient_balance.json":   "TestDocumentedErrors/-2010_insufficient_balance",
	"error_timestamp.json":              "TestDocumentedErrors/-1021_timestamp",
	"error_too_many_orders.json":        "TestDocumentedErrors/-1015_429_without_Retry-After",
	"error_too_much_weight.json":        "TestDocumentedErrors/-1003_429",
	"error_unknown_order.json":          "TestDocumentedErrors/-2013_unknown_order",
	"error_order_archived.json":         "TestDocumentedErrors/-2026_archived",
	"exchange_info.json":                "TestDocumentedResponses/exchangeInfo, TestDocumentedFiltersRefuseBeforeSending",
	"avg_price.json":                    "TestDocumentedFiltersRefuseBeforeSending",
	"futures_balance.json":              "TestDocumentedFuturesBalance, TestDocumentedWallets",
	"funding_asset.json":                "TestDocumentedWallets",
	"margin_account.json":               "TestDocumentedWallets",
	"earn_flexible_position.json":       "TestDocumentedWallets",
	"futures_multi_assets_margin.json":  "TestDocumentedFuturesBalance",
	"futures_asset_index.json":          "TestDocumentedAssetIndex",
	"futures_user_trades.json":          "TestDocumentedResponses/futures_userTrades",
	"my_trades.json":                    "TestDocumentedResponses/myTrades",
	"open_orders.json":                  "TestDocumentedResponses/openOrders",
	"order_full.json":                   "TestDocumentedResponses/order_FULL",
	"query_order.json":                  "TestDocumentedResponses/query_order",
	"time.json":                         "TestDocumentedErrors/-1021_timestamp (the sync), TestDocumentedStreamEvents",
	"ws_balance_update.json":            "TestDocumentedStreamEvents",
	"ws_book_ticker.json":               "TestDocumentedPriceStreams",
	"ws_mini_ticker.json":               "TestDocumentedPriceStreams",
	"ws_event_stream_terminated.json":   "TestDocumentedStreamEvents",
	"ws_execution_report.json":          "TestDocumentedExecutionReport",
	"ws_external_lock_update.json":      "TestDocumentedStreamEvents",
	"ws_outbound_account_position.json": "TestDocumentedExecutionReport",
	"ws_server_shutdown.json":           "TestDocumentedStreamEvents",
	"ws_subscribe_response.json":        "TestDocumentedExecutionReport (every subscription)",
	"klines.json":                       "TestDocumentedMarketData/klines",
	"ticker_price.json":                 "TestDocumentedMarketData/ticker_price",
	"ticker_price_list.json":            "TestDocumentedMarketData/ticker_price",
	"ping.json":                         "TestDocumentedMarketData/ping",
	"sub_account_list.json":             "TestDocumentedMarketData/sub-account_list",
	"sub_account_assets.json":           "TestDocumentedSubAccountBalances",
	"sub_account_futures_account.json":  "TestDocumentedSubAccountBalances",
	// The adapter always asks for FULL; only the fake answers these, to
	// clients that ask for ACK or RESULT.
	"order_ack.json":    "",
	"order_result.json": "",
	// The adapter syncs time over REST and never sends the WebSocket API's
	// ping or time; the fake's answers are checked byte-wise instead.
	"ws_api_ping.json": "TestFakeWSAPIPingAndTime (the fake's reply)",
	"ws_api_time.json": "TestFakeWSAPIPingAndTime (the fake's reply)",
}

// TestEveryFixtureIsReplayed: a documented example added to the fake must
// be named here with the test that replays it through the adapter.
func TestEveryFixtureIsReplayed(t *testing.T) {
	t.Parallel()
	names := binancetest.DocNames()
	if len(names) == 0 {
		t.Fatal("no documented examples")
	}
	for _, n := range names {
		if _, ok := replayedBy[n]; !ok {
			t.Errorf("documented example %s is replayed by no test", n)
		}
		if !json.Valid(binancetest.Doc(n)) {
			t.Errorf("documented example %s is not JSON once its source lines are cut", n)
		}
	}
	for n := range replayedBy {
		if !slices.Contains(names, n) {
			t.Errorf("replayedBy names %s, which the fake does not hold", n)
		}
	}
}
