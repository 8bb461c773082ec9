package portfolio

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// PositionView is one open derivatives position of an account, shown next
// to its balances. Positions are not counted in any total: a venue's
// wallet balance already carries what positions realized, and their
// unrealized PnL is shown here, apart.
type PositionView struct {
	Symbol           string     `json:"symbol"`
	SettleAsset      string     `json:"settle_asset"`
	Size             Decimal    `json:"size"` // positive long, negative short
	EntryPrice       Decimal    `json:"entry_price"`
	MarkPrice        Decimal    `json:"mark_price"`
	UnrealizedPnL    Decimal    `json:"unrealized_pnl"`
	Leverage         Decimal    `json:"leverage"`
	LiquidationPrice *Decimal   `json:"liquidation_price,omitempty"`
	MarginMode       string     `json:"margin_mode"`
	UpdatedAt        *time.Time `json:"updated_at,omitempty"`
}

// SetPositions replaces the open positions of an account (from a
// venue.PositionReader); err non-nil records that they could not be read,
// and keeps none.
func (p *Portfolio) SetPositions(accountID string, ps []venue.Position, err error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	acc, aerr := p.account(accountID)
	if aerr != nil {
		return fmt.Errorf("set positions: %w", aerr)
	}
	var views []PositionView
	reason := ""
	if err != nil {
		reason = err.Error()
	} else {
		for _, x := range ps {
			v := PositionView{Symbol: x.Symbol, SettleAsset: x.SettleAsset, Size: x.Size, EntryPrice: x.EntryPrice,
				MarkPrice: x.MarkPrice, UnrealizedPnL: x.UnrealizedPnL, Leverage: x.Leverage, MarginMode: string(x.MarginMode)}
			if !x.LiquidationPrice.IsZero() {
				l := x.LiquidationPrice
				v.LiquidationPrice = &l
			}
			if !x.Updated.IsZero() {
				u := x.Updated.UTC()
				v.UpdatedAt = &u
			}
			views = append(views, v)
		}
		slices.SortFunc(views, func(a, b PositionView) int { return cmp.Compare(a.Symbol, b.Symbol) })
	}
	if reason == acc.positionsErr && slices.EqualFunc(views, acc.positions, samePosition) {
		return nil // nothing changed: no new version
	}
	acc.positions, acc.positionsErr = views, reason
	p.bump(CauseBalance)
	return nil
}

func samePosition(a, b PositionView) bool {
	samePtr := func(x, y *Decimal) bool { return (x == nil) == (y == nil) && (x == nil || x.Equal(*y)) }
	sameTime := func(x, y *time.Time) bool { return (x == nil) == (y == nil) && (x == nil || x.Equal(*y)) }
	return a.Symbol == b.Symbol && a.SettleAsset == b.SettleAsset && a.Size.Equal(b.Size) && a.EntryPrice.Equal(b.EntryPrice) &&
		a.MarkPrice.Equal(b.MarkPrice) && a.UnrealizedPnL.Equal(b.UnrealizedPnL) && a.Leverage.Equal(b.Leverage) &&
		samePtr(a.LiquidationPrice, b.LiquidationPrice) && a.MarginMode == b.MarginMode && sameTime(a.UpdatedAt, b.UpdatedAt)
}
