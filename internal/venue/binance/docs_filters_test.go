package binance_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// documentedExchangeInfo is the documented exchangeInfo example with its one
// symbol (ETHBTC) edited in place: symbolKV replaces values of the symbol's
// keys, filters[filterType] values of that filter's keys. Nothing is added
// or reordered.
func documentedExchangeInfo(t *testing.T, symbolKV []string, filters map[string][]string) []byte {
	t.Helper()
	doc := binancetest.Doc("exchange_info.json")
	var top map[string]json.RawMessage
	var syms, fs []json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil || json.Unmarshal(top["symbols"], &syms) != nil || len(syms) != 1 {
		t.Fatal("exchange_info.json: want one symbol")
	}
	var sym map[string]json.RawMessage
	if err := json.Unmarshal(syms[0], &sym); err != nil || json.Unmarshal(sym["filters"], &fs) != nil {
		t.Fatal("exchange_info.json: symbol without filters")
	}
	seen := 0
	rows := make([]string, len(fs))
	for i, f := range fs {
		var ft struct {
			FilterType string `json:"filterType"`
		}
		if err := json.Unmarshal(f, &ft); err != nil {
			t.Fatal(err)
		}
		if kv, ok := filters[ft.FilterType]; ok {
			seen++
			var err error
			if f, err = binancetest.Edit(f, kv...); err != nil {
				t.Fatal(err)
			}
		}
		rows[i] = string(f)
	}
	if seen != len(filters) {
		t.Fatalf("exchange_info.json lacks a filter of %v", filters)
	}
	s, err := binancetest.Edit(syms[0], append([]string{"filters", "[" + strings.Join(rows, ", ") + "]"}, symbolKV...)...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := binancetest.Edit(doc, "symbols", "["+string(s)+"]")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDocumentedFiltersRefuseBeforeSending: the documented exchangeInfo
// (ETHBTC: PRICE_FILTER tick 0.000001, LOT_SIZE and MARKET_LOT_SIZE step
// 0.001 up to 100000, NOTIONAL 10 to 10000 not applied to market orders,
// quote precision 8), as documented and with values edited, decides what
// the adapter refuses before sending (the filter named, no order request
// made) and how it rounds what it sends. A market order by quantity is
// valued at the documented average price (/api/v3/avgPrice: 9.35751834),
// read only where NOTIONAL applies to market orders.
func TestDocumentedFiltersRefuseBeforeSending(t *testing.T) {
	t.Parallel()
	limit := func(side venue.Side, qty, price string) venue.OrderRequest {
		return venue.OrderRequest{ClientOrderID: "filters-1", Symbol: "ETHBTC", Side: side, Type: venue.Limit,
			Quantity: dec(qty), Price: dec(price)}
	}
	market := func(side venue.Side, qty, quote string) venue.OrderRequest {
		r := venue.OrderRequest{ClientOrderID: "filters-1", Symbol: "ETHBTC", Side: side, Type: venue.Market}
		if qty != "" {
			r.Quantity = dec(qty)
		}
		if quote != "" {
			r.QuoteQuantity = dec(quote)
		}
		return r
	}
	applyMin := map[string][]string{"NOTIONAL": {"applyMinToMarket", "true"}}
	for _, tc := range []struct {
		name      string
		symbolKV  []string
		filters   map[string][]string
		req       venue.OrderRequest
		refused   string            // the filter named; "" when the order is sent
		sent      map[string]string // parameters of the order request sent
		avgPrices int               // /api/v3/avgPrice reads
	}{
		{name: "limit below minNotional", req: limit(venue.Buy, "1", "0.1"), refused: "NOTIONAL"},
		{name: "limit above maxNotional", req: limit(venue.Buy, "1", "20000"), refused: "NOTIONAL"},
		{name: "limit above maxPrice", req: limit(venue.Sell, "0.001", "100001"), refused: "PRICE_FILTER"},
		{name: "symbol HALT", symbolKV: []string{"status", `"HALT"`}, req: limit(venue.Buy, "1", "15"), refused: "HALT"},
		{name: "symbol BREAK", symbolKV: []string{"status", `"BREAK"`}, req: limit(venue.Buy, "1", "15"), refused: "BREAK"},
		{name: "symbol CANCEL_ONLY", symbolKV: []string{"status", `"CANCEL_ONLY"`}, req: limit(venue.Buy, "1", "15"), refused: "CANCEL_ONLY"},
		{name: "quote quantity not allowed", symbolKV: []string{"quoteOrderQtyMarketAllowed", "false"},
			req: market(venue.Buy, "", "15"), refused: "quoteOrderQtyMarketAllowed"},
		{name: "market above MARKET_LOT_SIZE", filters: map[string][]string{"MARKET_LOT_SIZE": {"maxQty", `"10.00000000"`}},
			req: market(venue.Sell, "11", ""), refused: "MARKET_LOT_SIZE"},
		{name: "market quote below minNotional applied to market", filters: applyMin,
			req: market(venue.Buy, "", "9.99"), refused: "NOTIONAL"},
		{name: "market quantity below minNotional at the average price", filters: applyMin,
			req: market(venue.Sell, "1", ""), refused: "NOTIONAL", avgPrices: 1},
		{name: "market quantity above maxNotional at the average price",
			filters: map[string][]string{"NOTIONAL": {"maxNotional", `"15.00000000"`, "applyMaxToMarket", "true"}},
			req:     market(venue.Buy, "2", ""), refused: "NOTIONAL", avgPrices: 1},
		// Sent, rounded: quantities down to the step, a buy's price down
		// and a sell's up to the tick, a quote quantity down to 8 decimals.
		{name: "market quantity within minNotional at the average price", filters: applyMin,
			req: market(venue.Sell, "2.0009", ""), sent: map[string]string{"quantity": "2"}, avgPrices: 1},
		{name: "market quantity, NOTIONAL not applied to market orders", req: market(venue.Sell, "1", ""),
			sent: map[string]string{"quantity": "1"}},
		{name: "limit buy rounded", req: limit(venue.Buy, "1.0005", "15.0000009"),
			sent: map[string]string{"quantity": "1", "price": "15"}},
		{name: "limit sell rounded", req: limit(venue.Sell, "1.0005", "15.0000001"),
			sent: map[string]string{"quantity": "1", "price": "15.000001"}},
		{name: "quote quantity rounded", req: market(venue.Buy, "", "15.123456789"),
			sent: map[string]string{"quoteOrderQty": "15.12345678"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newDocsServer(t)
			info := documentedExchangeInfo(t, tc.symbolKV, tc.filters)
			d.mu.Lock()
			d.answers["GET /api/v3/exchangeInfo"] = docsAnswer{status: 200, body: info}
			d.mu.Unlock()
			c := docsClient(t, d)
			_, err := c.PlaceOrder(t.Context(), tc.req)
			if n := d.count("GET /api/v3/avgPrice"); n != tc.avgPrices {
				t.Errorf("%d average price reads, want %d", n, tc.avgPrices)
			}
			if tc.refused != "" {
				var ve *venue.Error
				if !errors.As(err, &ve) || ve.Class != venue.ClassRejected || !strings.Contains(ve.Message, tc.refused) ||
					!strings.Contains(ve.Message, "not sent") {
					t.Errorf("got %v; want rejected naming %s, not sent", err, tc.refused)
				}
				if n := d.count("POST /api/v3/order"); n != 0 {
					t.Errorf("%d order requests sent, want none", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			got := d.sent("POST /api/v3/order")
			for k, v := range tc.sent {
				if got.Get(k) != v {
					t.Errorf("sent %s=%q, want %q (all: %v)", k, got.Get(k), v, got)
				}
			}
			// The average price, a 5-minute average, is read again only
			// once it is seconds old: the next order uses it.
			if _, err := c.PlaceOrder(t.Context(), tc.req); err != nil || d.count("GET /api/v3/avgPrice") != tc.avgPrices {
				t.Errorf("second order: %v, %d average price reads; want sent, still %d", err, d.count("GET /api/v3/avgPrice"), tc.avgPrices)
			}
		})
	}
}

// TestMarketNotionalAtTheAveragePrice: the fake, like Binance, values a
// market order by quantity at the symbol's average price; the adapter
// refuses one below minNotional (or above an applied maxNotional) before
// sending.
func TestMarketNotionalAtTheAveragePrice(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{Symbols: rulesSymbols()}, nil)
	b.fake.Fund(venue.WalletSpot, "USDT", dec("1000000"))
	b.fake.Fund(venue.WalletSpot, "BTC", dec("10"))
	b.fake.Fund(venue.WalletSpot, "ETH", dec("10"))
	b.fake.SetPrice("BTCUSDT", dec("20000"))
	b.fake.SetPrice("ETHUSDT", dec("2000"))
	b.fake.SetPrice("BNBUSDT", dec("500"))
	for i, tc := range []struct {
		req     venue.OrderRequest
		refused bool
	}{
		// BTCUSDT: minNotional 5 applies to market orders; 0.0002 × 20000 = 4.
		{venue.OrderRequest{Symbol: "BTCUSDT", Side: venue.Sell, Type: venue.Market, Quantity: dec("0.0002")}, true},
		{venue.OrderRequest{Symbol: "BTCUSDT", Side: venue.Sell, Type: venue.Market, Quantity: dec("0.0003")}, false},
		// ETHUSDT: maxNotional 1000 applies to market orders; 0.6 × 2000 = 1200.
		{venue.OrderRequest{Symbol: "ETHUSDT", Side: venue.Buy, Type: venue.Market, Quantity: dec("0.6")}, true},
		{venue.OrderRequest{Symbol: "ETHUSDT", Side: venue.Buy, Type: venue.Market, Quantity: dec("0.4")}, false},
		// BNBUSDT: NOTIONAL does not apply to market orders; 0.005 × 500 = 2.5.
		{venue.OrderRequest{Symbol: "BNBUSDT", Side: venue.Buy, Type: venue.Market, Quantity: dec("0.005")}, false},
	} {
		tc.req.ClientOrderID = "avg-" + strings.Repeat("x", i+1)
		sent := b.fake.Stats().Orders
		_, err := b.client.PlaceOrder(b.ctx, tc.req)
		var ve *venue.Error
		switch {
		case tc.refused && (!errors.As(err, &ve) || ve.Class != venue.ClassRejected || !strings.Contains(ve.Message, "NOTIONAL") ||
			!strings.Contains(ve.Message, "not sent")):
			t.Errorf("%s %s: %v; want rejected naming NOTIONAL, not sent", tc.req.Symbol, tc.req.Quantity, err)
		case tc.refused && b.fake.Stats().Orders != sent:
			t.Errorf("%s %s: the order reached the venue", tc.req.Symbol, tc.req.Quantity)
		case !tc.refused && err != nil:
			t.Errorf("%s %s: %v; the venue takes it", tc.req.Symbol, tc.req.Quantity, err)
		}
	}
}
