package pnl

import (
	"sort"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// Pair names a price: Asset in Quote.
type Pair struct{ Asset, Quote string }

// FixedPrices is a FeePricer of given prices, the same at every time (e.g.
// from `--fee-price BNB/USDT=20`). Lookups allocate nothing.
type FixedPrices map[Pair]Decimal

var _ FeePricer = FixedPrices(nil)

// FeePrice implements FeePricer.
func (f FixedPrices) FeePrice(asset, quote string, _ time.Time) (Decimal, bool) {
	d, ok := f[Pair{asset, quote}]
	return d, ok
}

// KlinePrices is a FeePricer from candles: the price of a pair at time t is
// the open of the candle whose [OpenTime, OpenTime+Interval) holds t (the
// last price known at t, no look-ahead). A time before the first candle, after
// the last one or in a gap has no price.
type KlinePrices struct {
	Interval time.Duration
	klines   map[Pair][]venue.Kline
}

var _ FeePricer = (*KlinePrices)(nil)

// NewKlinePrices returns an empty KlinePrices for candles of interval.
func NewKlinePrices(interval time.Duration) *KlinePrices {
	return &KlinePrices{Interval: interval, klines: map[Pair][]venue.Kline{}}
}

// Add sets the candles of asset in quote, in any order; it keeps ks sorted
// by open time (it sorts ks in place).
func (k *KlinePrices) Add(asset, quote string, ks []venue.Kline) {
	sort.Slice(ks, func(i, j int) bool { return ks[i].OpenTime.Before(ks[j].OpenTime) })
	k.klines[Pair{asset, quote}] = ks
}

// FeePrice implements FeePricer.
func (k *KlinePrices) FeePrice(asset, quote string, at time.Time) (Decimal, bool) {
	ks := k.klines[Pair{asset, quote}]
	i := sort.Search(len(ks), func(i int) bool { return ks[i].OpenTime.After(at) }) - 1
	if i < 0 || !at.Before(ks[i].OpenTime.Add(k.Interval)) {
		return Decimal{}, false
	}
	return ks[i].Open, true
}
