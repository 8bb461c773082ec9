package binance

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// TestFuturesUserEventsExactKeys replays the documented futures user data
// events: "ap" (average price, 0) must not be read as "AP" (activation
// price, 7476.89), "t" (trade id) as "T" (time), "x" (execution type) as
// "X" (status), "l" as "L", "n" as "N" — what encoding/json's
// case-insensitive matching does to a struct.
func TestFuturesUserEventsExactKeys(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(binancetest.Doc("futures_listen_key.json"))
	}))
	t.Cleanup(srv.Close)
	c, err := New(Config{APIKey: "k", APISecret: "s", BaseURL: srv.URL, FuturesBaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	c.synced.Store(true)
	f, err := c.Futures(FuturesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	key, err := f.listenKey(t.Context())
	if err != nil || key != "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1" {
		t.Fatalf("listenKey: got %q, %v", key, err)
	}

	var ev eventFields
	if err := json.Unmarshal(binancetest.Doc("ws_futures_order_trade_update.json"), &ev); err != nil {
		t.Fatal(err)
	}
	out := f.toUserEvents(ev)
	if len(out) != 1 || out[0].Kind != venue.EventOrder {
		t.Fatalf("ORDER_TRADE_UPDATE (x NEW): got %+v, want one order event", out)
	}
	o := out[0].Order
	if o.ClientOrderID != "TEST" || o.VenueOrderID != "8886774" || o.Symbol != "BTCUSDT" || o.Side != venue.Sell ||
		o.Status != venue.StatusNew || !o.Quantity.Equal(udecimal.MustParse("0.001")) || !o.QuoteQty.IsZero() ||
		!o.Updated.Equal(time.UnixMilli(1568879465650).UTC()) || !out[0].Time.Equal(time.UnixMilli(1568879465651).UTC()) {
		t.Errorf("order: got %+v", o)
	}

	// The same event as a fill: "x" TRADE with "X" PARTIALLY_FILLED.
	var inner eventFields
	_ = json.Unmarshal(ev["o"], &inner)
	for k, v := range map[string]string{"x": `"TRADE"`, "X": `"PARTIALLY_FILLED"`, "l": `"0.0004"`, "L": `"7100.5"`, "z": `"0.0004"`,
		"ap": `"7100.5"`, "n": `"0.00113608"`, "t": "12345"} {
		inner[k] = json.RawMessage(v)
	}
	ev["o"], _ = json.Marshal(inner)
	out = f.toUserEvents(ev)
	if len(out) != 2 || out[1].Kind != venue.EventTrade {
		t.Fatalf("ORDER_TRADE_UPDATE (x TRADE): got %+v", out)
	}
	tr := out[1].Trade
	if tr.ID != "12345" || !tr.Price.Equal(udecimal.MustParse("7100.5")) || !tr.Quantity.Equal(udecimal.MustParse("0.0004")) ||
		!tr.Fee.Equal(udecimal.MustParse("0.00113608")) || tr.FeeAsset != "USDT" || tr.ClientOrderID != "TEST" ||
		!tr.Time.Equal(time.UnixMilli(1568879465650).UTC()) {
		t.Errorf("trade: got %+v", tr)
	}
	if o := out[0].Order; o.Status != venue.StatusPartiallyFilled || !o.QuoteQty.Equal(udecimal.MustParse("2.8402")) {
		t.Errorf("order of the fill: status %q quote %s, want partially_filled and 0.0004 × 7100.5", o.Status, o.QuoteQty)
	}

	var acct eventFields
	if err := json.Unmarshal(binancetest.Doc("ws_futures_account_update.json"), &acct); err != nil {
		t.Fatal(err)
	}
	out = f.toUserEvents(acct)
	if len(out) != 2 || out[0].Balance == nil || out[0].Balance.Wallet != venue.WalletFutures || out[0].Balance.Asset != "USDT" ||
		!out[0].Balance.Free.Equal(udecimal.MustParse("122624.12345678")) || out[1].Balance.Asset != "BUSD" {
		t.Errorf("ACCOUNT_UPDATE: got %+v", out)
	}
}

// TestLiquidationOrderIDs: the client order ids Binance documents for the
// orders it makes to close a position mark their fills as liquidations;
// a delisting settlement and our own ids do not.
func TestLiquidationOrderIDs(t *testing.T) {
	for id, want := range map[string]bool{"autoclose-1570000000000": true, "adl_autoclose": true,
		"settlement_autoclose-1570000000000": false, "s1-step-7-0": false, "": false} {
		if got := isLiquidationOrder(id); got != want {
			t.Errorf("%q: %v, want %v", id, got, want)
		}
	}
}
