package binance_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// TestDocumentedPriceStreams feeds the documented bookTicker and miniTicker
// payloads verbatim. bookTicker has b and B (bid price and quantity), a and
// A; miniTicker has e and E: each must be read from its own key.
func TestDocumentedPriceStreams(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		var frame []byte
		switch {
		case r.URL.Path == "/ws/!miniTicker@arr":
			frame = append(append([]byte("["), binancetest.Doc("ws_mini_ticker.json")...), ']')
		case r.URL.Path == "/stream" && r.URL.Query().Get("streams") == "bnbusdt@bookTicker":
			frame = append(append([]byte(`{"stream":"bnbusdt@bookTicker","data":`), binancetest.Doc("ws_book_ticker.json")...), '}')
		default:
			t.Errorf("unexpected stream %s", r.URL)
			return
		}
		_ = c.Write(r.Context(), websocket.MessageText, frame)
		<-r.Context().Done()
	}))
	defer srv.Close()
	c, err := binance.New(binance.Config{APIKey: "k", APISecret: "s", WSBaseURL: "ws" + strings.TrimPrefix(srv.URL, "http")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tick := func(symbols []string) venue.PriceTick {
		t.Helper()
		ch, err := c.SubscribePrices(ctx, symbols)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case tk := <-ch:
			return tk
		case <-ctx.Done():
			t.Fatalf("no tick for %v", symbols)
		}
		return venue.PriceTick{}
	}
	bt := tick([]string{"BNBUSDT"})
	if bt.Symbol != "BNBUSDT" || !bt.Bid.Equal(dec("25.35190000")) || !bt.Ask.Equal(dec("25.36520000")) || !bt.Price.Equal(dec("25.35855")) {
		t.Errorf("bookTicker: %+v; want bid 25.3519, ask 25.3652, mid 25.35855", bt)
	}
	mt := tick(nil)
	if mt.Symbol != "BNBBTC" || !mt.Price.Equal(dec("0.0025")) || !mt.Time.Equal(time.UnixMilli(1672515782136).UTC()) {
		t.Errorf("miniTicker: %+v; want BNBBTC at 0.0025", mt)
	}
}
