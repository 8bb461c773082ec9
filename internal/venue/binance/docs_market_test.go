package binance_test

import (
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// TestDocumentedMarketData feeds the adapter Binance's documented klines,
// ticker price, ping and sub-account list examples verbatim and checks what
// it makes of them, field by field.
func TestDocumentedMarketData(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	d := newDocsServer(t)
	d.answer("GET /api/v3/klines", 200, "klines.json", nil)
	d.answer("GET /api/v3/ticker/price", 200, "ticker_price.json", nil)
	d.answer("GET /api/v3/ping", 200, "ping.json", nil)
	d.answer("GET /sapi/v1/sub-account/list", 200, "sub_account_list.json", nil)
	c := docsClient(t, d)

	t.Run("klines", func(t *testing.T) {
		open := ms(1499040000000)
		ks, err := c.Klines(ctx, "LTCBTC", "1w", open, open.Add(7*24*time.Hour))
		if err != nil || len(ks) != 1 {
			t.Fatalf("klines: %+v, %v; want the documented candle", ks, err)
		}
		want := venue.Kline{OpenTime: open, Open: dec("0.01634790"), High: dec("0.80000000"), Low: dec("0.01575800"),
			Close: dec("0.01577100"), Volume: dec("148976.11427815")}
		if !same(ks[0], want) {
			t.Errorf("kline:\n got %+v\nwant %+v", ks[0], want)
		}
	})
	t.Run("ticker price", func(t *testing.T) {
		ps, err := c.LastPrices(ctx, "LTCBTC")
		if err != nil || len(ps) != 1 || !same(ps["LTCBTC"], dec("4.00000200")) {
			t.Errorf("price of LTCBTC: %v, %v; want 4.000002", ps, err)
		}
		d.answer("GET /api/v3/ticker/price", 200, "ticker_price_list.json", nil)
		ps, err = c.LastPrices(ctx, "")
		if err != nil || len(ps) != 2 || !same(ps["LTCBTC"], dec("4.00000200")) || !same(ps["ETHBTC"], dec("0.07946600")) {
			t.Errorf("every price: %v, %v; want LTCBTC 4.000002 and ETHBTC 0.079466", ps, err)
		}
	})
	t.Run("ping", func(t *testing.T) {
		if err := c.Ping(ctx); err != nil || d.count("GET /api/v3/ping") != 1 {
			t.Errorf("ping: %v after %d requests; want nil after 1", err, d.count("GET /api/v3/ping"))
		}
	})
	t.Run("sub-account list", func(t *testing.T) {
		subs, err := c.SubAccounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		created := ms(1544433328000)
		want := []binance.SubAccount{{Email: "testsub@gmail.com", Created: created}, {Email: "virtual@oxebmvfonoemail.com", Created: created}}
		if !same(subs, want) {
			t.Errorf("sub-accounts:\n got %+v\nwant %+v", subs, want)
		}
	})
}

// TestFakeMarketDataIsTheDocumentedShape: the fake's klines, prices, ping
// and sub-accounts are the documented examples edited, and the adapter reads
// the fake's own values back from them.
func TestFakeMarketDataIsTheDocumentedShape(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{}, nil)
	b.fake.SetPrice("BTCUSDT", dec("20000.5"))
	created := time.UnixMilli(1700000000000).UTC()
	b.fake.AddSubAccount(binancetest.SubAccount{Email: "a@desk.example", Frozen: true, Created: created})

	if err := b.client.Ping(b.ctx); err != nil {
		t.Errorf("ping: %v", err)
	}
	ps, err := b.client.LastPrices(b.ctx, "BTCUSDT")
	if err != nil || len(ps) != 1 || !same(ps["BTCUSDT"], dec("20000.5")) {
		t.Errorf("price of BTCUSDT: %v, %v; want 20000.5", ps, err)
	}
	all, err := b.client.LastPrices(b.ctx, "")
	if err != nil || !same(all["BTCUSDT"], dec("20000.5")) {
		t.Errorf("every price: %v, %v; want BTCUSDT 20000.5 among them", all, err)
	}
	subs, err := b.client.SubAccounts(b.ctx)
	want := []binance.SubAccount{{Email: "a@desk.example", Frozen: true, Created: created}}
	if err != nil || !same(subs, want) {
		t.Errorf("sub-accounts: %+v, %v; want %+v", subs, err, want)
	}
}
