package binance_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

func rulesSymbols() []binancetest.SymbolSpec {
	return []binancetest.SymbolSpec{
		{Name: "BTCUSDT", Base: "BTC", Quote: "USDT", TickSize: dec("0.01"), StepSize: dec("0.00001"), MinQty: dec("0.00001"),
			MaxQty: dec("9000"), MinNotional: dec("5"), MarketMaxQty: dec("0.5"), MaxNotional: dec("100000"), QuotePrecision: 2},
		{Name: "ETHUSDT", Base: "ETH", Quote: "USDT", TickSize: dec("0.01"), StepSize: dec("0.0001"), MinQty: dec("0.0001"),
			MaxQty: dec("9000"), MinNotional: dec("5"), NoQuoteOrderQty: true, ApplyMaxToMarket: true, MaxNotional: dec("1000")},
		{Name: "BNBUSDT", Base: "BNB", Quote: "USDT", TickSize: dec("0.01"), StepSize: dec("0.001"), MinQty: dec("0.001"),
			MaxQty: dec("9000"), MinNotional: dec("5"), MinNotionalNotForMarket: true},
		{Name: "HALTUSDT", Base: "HALT", Quote: "USDT", TickSize: dec("0.01"), StepSize: dec("1"), MinQty: dec("1"),
			MaxQty: dec("9000"), MinNotional: dec("5"), Status: "HALT"},
		{Name: "BRKUSDT", Base: "BRK", Quote: "USDT", TickSize: dec("0.01"), StepSize: dec("1"), MinQty: dec("1"),
			MaxQty: dec("9000"), MinNotional: dec("5"), Status: "BREAK"},
		{Name: "COUSDT", Base: "CO", Quote: "USDT", TickSize: dec("0.01"), StepSize: dec("1"), MinQty: dec("1"),
			MaxQty: dec("9000"), MinNotional: dec("5"), Status: "CANCEL_ONLY"},
	}
}

// TestOrdersRefusedBeforeSending: what Binance would refuse (symbol status
// HALT, BREAK, CANCEL_ONLY; MARKET_LOT_SIZE; NOTIONAL's maxNotional and
// applyMinToMarket; quoteOrderQtyMarketAllowed) is refused by the adapter,
// the filter named, and never reaches the venue.
func TestOrdersRefusedBeforeSending(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{Symbols: rulesSymbols()}, nil)
	for _, a := range []string{"USDT", "BTC", "ETH", "BNB"} {
		b.fake.Fund(venue.WalletSpot, a, dec("1000000"))
	}
	b.fake.SetPrice("BTCUSDT", dec("20000"))
	b.fake.SetPrice("ETHUSDT", dec("2000"))
	b.fake.SetPrice("BNBUSDT", dec("500"))
	id := 0
	req := func(symbol string, side venue.Side, typ venue.OrderType, qty, quote, price string) venue.OrderRequest {
		id++
		r := venue.OrderRequest{ClientOrderID: "rule-" + strings.Repeat("x", id), Symbol: symbol, Side: side, Type: typ}
		if qty != "" {
			r.Quantity = dec(qty)
		}
		if quote != "" {
			r.QuoteQuantity = dec(quote)
		}
		if price != "" {
			r.Price = dec(price)
		}
		return r
	}
	for _, tc := range []struct {
		name, filter string
		req          venue.OrderRequest
	}{
		{"halted", "HALT", req("HALTUSDT", venue.Buy, venue.Limit, "1", "", "10")},
		{"break", "BREAK", req("BRKUSDT", venue.Buy, venue.Limit, "1", "", "10")},
		{"cancel only", "CANCEL_ONLY", req("COUSDT", venue.Buy, venue.Limit, "1", "", "10")},
		{"market above MARKET_LOT_SIZE", "MARKET_LOT_SIZE", req("BTCUSDT", venue.Sell, venue.Market, "0.6", "", "")},
		{"limit above maxNotional", "NOTIONAL", req("BTCUSDT", venue.Buy, venue.Limit, "6", "", "20000")},
		{"market quote below minNotional", "NOTIONAL", req("BTCUSDT", venue.Buy, venue.Market, "", "4.99", "")},
		{"quote quantity not allowed", "quoteOrderQtyMarketAllowed", req("ETHUSDT", venue.Buy, venue.Market, "", "50", "")},
	} {
		sent := b.fake.Stats().Orders
		_, err := b.client.PlaceOrder(b.ctx, tc.req)
		var ve *venue.Error
		if !errors.As(err, &ve) || ve.Class != venue.ClassRejected || !strings.Contains(ve.Message, tc.filter) ||
			!strings.Contains(ve.Message, "not sent") {
			t.Errorf("%s: %v; want rejected naming %s, not sent", tc.name, err, tc.filter)
		}
		if n := b.fake.Stats().Orders - sent; n != 0 {
			t.Errorf("%s: %d order requests reached the venue, want none", tc.name, n)
		}
	}
	// Within the rules the same symbols trade: the limit order passes
	// MARKET_LOT_SIZE, BNBUSDT exempts market orders from minNotional,
	// and a market sell within MARKET_LOT_SIZE goes through.
	for _, r := range []venue.OrderRequest{
		req("BTCUSDT", venue.Sell, venue.Limit, "0.6", "", "30000"),
		req("BNBUSDT", venue.Buy, venue.Market, "", "4", ""),
		req("BTCUSDT", venue.Sell, venue.Market, "0.5", "", ""),
	} {
		if _, err := b.client.PlaceOrder(b.ctx, r); err != nil {
			t.Errorf("%s %s %s: %v", r.Symbol, r.Side, r.Type, err)
		}
	}
	// CANCEL_ONLY still cancels.
	if _, err := b.client.CancelOrder(b.ctx, "COUSDT", "nope"); !errors.Is(err, venue.ErrOrderNotFound) {
		t.Errorf("cancel on a CANCEL_ONLY symbol: %v, want it sent (order not found)", err)
	}
}

// TestOrderNumbersRounded: every quantity, quote quantity and price sent is
// rounded to the symbol's step, quote precision and tick (the fake, like
// Binance, refuses more decimals with -1111 and off-step values with
// -1013); a buy's price rounds down, a sell's up, quantities down.
func TestOrderNumbersRounded(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{Symbols: rulesSymbols()}, nil)
	b.fake.Fund(venue.WalletSpot, "USDT", dec("1000000"))
	b.fake.Fund(venue.WalletSpot, "BTC", dec("10"))
	b.fake.SetPrice("BTCUSDT", dec("20000"))
	buy, err := b.client.PlaceOrder(b.ctx, venue.OrderRequest{ClientOrderID: "rnd-1", Symbol: "BTCUSDT", Side: venue.Buy,
		Type: venue.Limit, Quantity: dec("0.0012345"), Price: dec("19999.999")})
	if err != nil {
		t.Fatalf("limit buy: %v", err)
	}
	if !buy.Price.Equal(dec("19999.99")) || !buy.Quantity.Equal(dec("0.00123")) {
		t.Errorf("limit buy placed at %s × %s, want 19999.99 × 0.00123", buy.Price, buy.Quantity)
	}
	sell, err := b.client.PlaceOrder(b.ctx, venue.OrderRequest{ClientOrderID: "rnd-2", Symbol: "BTCUSDT", Side: venue.Sell,
		Type: venue.Limit, Quantity: dec("0.0012345"), Price: dec("20000.001")})
	if err != nil {
		t.Fatalf("limit sell: %v", err)
	}
	if !sell.Price.Equal(dec("20000.01")) || !sell.Quantity.Equal(dec("0.00123")) {
		t.Errorf("limit sell placed at %s × %s, want 20000.01 × 0.00123", sell.Price, sell.Quantity)
	}
	mkt, err := b.client.PlaceOrder(b.ctx, venue.OrderRequest{ClientOrderID: "rnd-3", Symbol: "BTCUSDT", Side: venue.Buy,
		Type: venue.Market, QuoteQuantity: dec("100.123456789")})
	if err != nil {
		t.Fatalf("market buy by quote quantity with 9 decimals (quote precision 2): %v", err)
	}
	if mkt.QuoteQty.GreaterThan(dec("100.12")) || mkt.Status != venue.StatusFilled {
		t.Errorf("market buy spent %s (%s), want at most 100.12, filled", mkt.QuoteQty, mkt.Status)
	}
	mq, err := b.client.PlaceOrder(b.ctx, venue.OrderRequest{ClientOrderID: "rnd-4", Symbol: "BTCUSDT", Side: venue.Sell,
		Type: venue.Market, Quantity: dec("0.0100009")})
	if err != nil || !mq.Quantity.Equal(dec("0.01")) {
		t.Errorf("market sell 0.0100009: %+v, %v; want 0.01 sent", mq, err)
	}
}
