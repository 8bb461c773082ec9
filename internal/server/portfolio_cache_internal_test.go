package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/quagmt/udecimal"
	"github.com/tradeplane/tradeplane/internal/portfolio"
)

// TestEncodeLiveMatchesEncodingJSON: the hand-written encoding of the live
// breakdown is byte for byte json.Marshal of portfolioLive, for keys that
// need escaping, flags, negative, long and overflowing decimals.
func TestEncodeLiveMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	keys := []string{"acct-1", "a\"b", `back\slash`, "<tag>&", "é-unicode", "tab\there", "", "desk b", "\u2028"}
	decs := []string{"0", "1", "-12.5", "123456789.123456789", "-0.0000000000000000001", "99999999999999999999999999999999999999999.5"}
	group := func() portfolio.Group {
		g := portfolio.Group{Key: keys[rng.IntN(len(keys))] + fmt.Sprint(rng.IntN(3))}
		g.Value = udecimal.MustParse(decs[rng.IntN(len(decs))])
		g.CollateralValue = udecimal.MustParse(decs[rng.IntN(len(decs))])
		g.IncludesStale = rng.IntN(2) == 0
		if rng.IntN(3) == 0 {
			g.UnpricedAssets = []string{"ZZZ", "<x>"}
		}
		if rng.IntN(3) == 0 {
			g.UnknownWallets = []string{"1/spot", "2/futures-usdm"}
		}
		g.Partial = len(g.UnpricedAssets)+len(g.UnknownWallets) > 0
		return g
	}
	rows := func(n int) []portfolio.Group {
		if n < 0 {
			return nil
		}
		out := make([]portfolio.Group, n)
		for i := range out {
			out[i] = group()
		}
		return out
	}
	price := udecimal.MustParse("60000.5")
	for i := range 200 {
		b := portfolio.Breakdown{Version: uint64(i), AsOf: time.Date(2025, 1, 2, 3, 4, 5, i*1000, time.UTC),
			Total: group().Totals, ByAccount: rows(rng.IntN(6) - 1), ByVenue: rows(rng.IntN(3)), ByWallet: rows(rng.IntN(3) - 1), ByTag: rows(rng.IntN(4)),
			ByAsset: []portfolio.AssetTotal{{Asset: "BTC", Quantity: price, Quote: portfolio.Quote{Price: &price, Route: []string{"BTC/USDT"}}}}}
		got, err := encodeLive(&b)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(portfolioLive{TotalsVersion: b.Version, TotalsAsOf: b.AsOf, Total: b.Total,
			ByAccount: b.ByAccount, ByVenue: b.ByVenue, ByWallet: b.ByWallet, ByTag: b.ByTag, ByAsset: b.ByAsset})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d:\n got %s\nwant %s", i, got, want)
		}
	}
}
