package binance_test

import (
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// TestDocumentedAssetIndex feeds the adapter Binance's documented
// Multi-Assets mode asset index (without symbol) verbatim: ADA's haircut is
// the bid buffer 0.1, so Binance counts 0.9 of its value, and the
// documented bidRate is index × 0.9 to Binance's 8 decimals.
func TestDocumentedAssetIndex(t *testing.T) {
	t.Parallel()
	d := newDocsServer(t)
	d.answer("GET /fapi/v1/assetIndex", 200, "futures_asset_index.json", nil)
	c := docsClient(t, d)
	hs, err := c.MultiAssetsHaircuts(t.Context())
	if err != nil || len(hs) != 1 {
		t.Fatalf("haircuts %+v, %v; want ADA's", hs, err)
	}
	h := hs[0]
	if h.Asset != "ADA" || h.Pair != "ADAUSD" || !same(h.Index, dec("1.9295737")) || !same(h.BidBuffer, dec("0.1")) ||
		!same(h.Ratio, dec("0.9")) || !same(h.BidRate, dec("1.73661633")) || !h.Time.Equal(time.UnixMilli(1635740268004)) {
		t.Errorf("ADA haircut %+v", h)
	}
	if got := h.Index.Mul(h.Ratio).Trunc(8); !same(got, h.BidRate) {
		t.Errorf("index × ratio = %s, Binance's bidRate %s", got, h.BidRate)
	}
}

// TestAssetIndexFromFake: the fake answers with the documented row per
// asset it was given, and the adapter reads each haircut exactly.
func TestAssetIndexFromFake(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{}, nil)
	b.fake.SetAssetIndex("BTC", dec("60000"), dec("0.05"))
	b.fake.SetAssetIndex("USDT", dec("0.9999"), dec("0.0001"))
	hs, err := b.client.MultiAssetsHaircuts(b.ctx)
	if err != nil || len(hs) != 2 {
		t.Fatalf("haircuts %+v, %v", hs, err)
	}
	if hs[0].Asset != "BTC" || !same(hs[0].Ratio, dec("0.95")) || !same(hs[0].BidRate, dec("57000")) {
		t.Errorf("BTC: %+v, want ratio 0.95 and bid rate 57000", hs[0])
	}
	if hs[1].Asset != "USDT" || !same(hs[1].Ratio, dec("0.9999")) {
		t.Errorf("USDT: %+v, want ratio 0.9999", hs[1])
	}
}
