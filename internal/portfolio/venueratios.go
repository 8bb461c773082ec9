package portfolio

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/quagmt/udecimal"
)

// VenueHaircut is a venue's own collateral haircut of one asset: the share
// of its value the venue does not count (Binance's Multi-Assets mode
// bidBuffer). The venue's ratio is 1 − Haircut.
type VenueHaircut struct {
	Venue   string // e.g. "binance" (USDⓈ-M futures, Multi-Assets mode)
	Asset   string
	Haircut Decimal
	At      time.Time
}

// VenueRatio is a venue's ratio of an asset shown next to ours.
type VenueRatio struct {
	Venue   string    `json:"venue"`
	Ratio   Decimal   `json:"ratio"`   // 1 − haircut
	Haircut Decimal   `json:"haircut"` // as the venue reports it
	At      time.Time `json:"at"`
	// Diff is our effective ratio minus the venue's: positive when
	// tradeplane counts more of the asset than the venue does (allocation
	// may rely on collateral the venue would not grant), negative when less.
	Diff Decimal `json:"diff"`
	// Differs flags any difference (Diff not zero).
	Differs bool `json:"differs"`
}

// RatiosWithVenues is Ratios with each venue's ratio of an asset attached
// to its row and the difference flagged. An asset a venue reports that the
// portfolio does not list yet gets a row with its effective ratio (default
// or override) too, so every venue haircut is shown. Rows stay sorted by
// asset; venues of a row are sorted by name. A haircut outside [0, 1] is an
// error naming the venue and asset.
func (p *Portfolio) RatiosWithVenues(accountID string, hs []VenueHaircut) ([]RatioView, error) {
	views, err := p.Ratios(accountID)
	if err != nil {
		return nil, err
	}
	for _, h := range hs {
		if h.Haircut.IsNeg() || h.Haircut.GreaterThan(udecimal.One) {
			return nil, fmt.Errorf("collateral ratios: %s haircut of %s is %s, not a share from 0 to 1", h.Venue, h.Asset, h.Haircut)
		}
	}
	index := make(map[string]int, len(views))
	for i, v := range views {
		index[v.Asset] = i
	}
	p.mu.RLock()
	for _, h := range hs {
		if _, ok := index[h.Asset]; !ok {
			r, src := p.ratioOf(accountID, h.Asset)
			views = append(views, RatioView{Asset: h.Asset, Ratio: r, Source: src})
			index[h.Asset] = len(views) - 1
		}
	}
	p.mu.RUnlock()
	for _, h := range hs {
		v := &views[index[h.Asset]]
		vr := udecimal.One.Sub(h.Haircut)
		diff := v.Ratio.Sub(vr)
		v.Venues = append(v.Venues, VenueRatio{Venue: h.Venue, Ratio: vr, Haircut: h.Haircut, At: h.At, Diff: diff, Differs: !diff.IsZero()})
	}
	for i := range views {
		slices.SortFunc(views[i].Venues, func(a, b VenueRatio) int { return cmp.Compare(a.Venue, b.Venue) })
	}
	slices.SortFunc(views, func(a, b RatioView) int { return cmp.Compare(a.Asset, b.Asset) })
	return views, nil
}
