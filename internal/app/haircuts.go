package app

import (
	"context"
	"sync"
	"time"

	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
)

// haircutReader is a venue that reports its own collateral haircuts
// (binance.Client: USDⓈ-M futures Multi-Assets mode).
type haircutReader interface {
	MultiAssetsHaircuts(ctx context.Context) ([]binance.Haircut, error)
}

var _ haircutReader = (*binance.Client)(nil)

// haircutsTTL is how long venue haircuts are reused: Binance moves them
// rarely, and /fapi/v1/assetIndex costs 10 weight.
const haircutsTTL = time.Minute

// haircutCache holds the venues' haircuts last read, per venue name.
type haircutCache struct {
	mu   sync.Mutex
	at   time.Time
	list []portfolio.VenueHaircut
}

// VenueHaircuts reads the collateral haircuts of the first venue of each
// kind that reports them (one Binance client answers for the exchange: the
// haircuts are public, not per account). A venue that fails is left out;
// the error is returned beside what was read.
func VenueHaircuts(ctx context.Context, vs []venue.Venue) ([]portfolio.VenueHaircut, error) {
	var out []portfolio.VenueHaircut
	var firstErr error
	done := map[string]bool{}
	for _, v := range vs {
		hr, ok := v.(haircutReader)
		if !ok || done[v.Name()] {
			continue
		}
		hs, err := hr.MultiAssetsHaircuts(ctx)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		done[v.Name()] = true
		for _, h := range hs {
			out = append(out, portfolio.VenueHaircut{Venue: v.Name(), Asset: h.Asset, Haircut: h.BidBuffer, At: h.Time})
		}
	}
	return out, firstErr
}

// venueHaircuts is VenueHaircuts over the open accounts, cached for
// haircutsTTL; a failed read logs and keeps the last haircuts.
func (a *App) venueHaircuts(ctx context.Context) []portfolio.VenueHaircut {
	c := &a.haircuts
	c.mu.Lock()
	defer c.mu.Unlock()
	now := a.clk.Now()
	if !c.at.IsZero() && now.Sub(c.at) < haircutsTTL {
		return c.list
	}
	var vs []venue.Venue
	for _, rt := range a.openAccounts() {
		vs = append(vs, rt.v)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	hs, err := VenueHaircuts(rctx, vs)
	if err != nil {
		a.log.Warn("venue collateral haircuts not read", "err", err)
		if len(hs) == 0 {
			return c.list
		}
	}
	c.at, c.list = now, hs
	return hs
}
