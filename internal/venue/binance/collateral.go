package binance

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// Haircut is Binance's own collateral haircut of one asset in USDⓈ-M
// futures Multi-Assets mode, from /fapi/v1/assetIndex: an asset's margin
// value there is its quantity at BidRate = Index × (1 − BidBuffer), so the
// share of its market value that counts, the venue's collateral ratio, is
// 1 − BidBuffer.
type Haircut struct {
	Asset     string        // ADA (the index pair without its "USD")
	Pair      string        // ADAUSD, as Binance names the index
	Index     venue.Decimal // the asset's index price in USD
	BidBuffer venue.Decimal // the haircut, e.g. 0.1
	BidRate   venue.Decimal // Index × (1 − BidBuffer), as Binance reports it
	Ratio     venue.Decimal // 1 − BidBuffer
	Time      time.Time
}

// MultiAssetsHaircuts reads the haircut of every asset Binance accepts as
// Multi-Assets mode collateral (/fapi/v1/assetIndex without a symbol, weight
// 10 on the futures budget; public market data). Rows whose decimals do not
// parse fail the read with the pair and field named.
func (c *Client) MultiAssetsHaircuts(ctx context.Context) ([]Haircut, error) {
	var out []Haircut
	err := c.call(ctx, "get multi-assets asset index", false, func(ctx context.Context) error {
		rows, err := c.futures.NewAssetIndexService().Do(ctx)
		if err != nil {
			return err
		}
		out = make([]Haircut, 0, len(rows))
		for _, r := range rows {
			h := Haircut{Pair: r.Symbol, Asset: strings.TrimSuffix(r.Symbol, "USD"), Time: time.UnixMilli(int64(r.Time)).UTC()}
			for _, f := range []struct {
				name, v string
				dst     *venue.Decimal
			}{{"index", r.Index, &h.Index}, {"bidBuffer", r.BidBuffer, &h.BidBuffer}, {"bidRate", r.BidRate, &h.BidRate}} {
				d, err := udecimal.Parse(f.v)
				if err != nil {
					return fmt.Errorf("asset index %s: %s %q: %w", r.Symbol, f.name, f.v, err)
				}
				*f.dst = d
			}
			if h.BidBuffer.IsNeg() || h.BidBuffer.GreaterThan(udecimal.One) {
				return fmt.Errorf("asset index %s: bidBuffer %s is not a share from 0 to 1", r.Symbol, h.BidBuffer)
			}
			h.Ratio = udecimal.One.Sub(h.BidBuffer)
			out = append(out, h)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
