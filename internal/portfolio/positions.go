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
	acc.positions, acc.positionsErr = nil, ""
	if err != nil {
		acc.positionsErr = err.Error()
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
			acc.positions = append(acc.positions, v)
		}
		slices.SortFunc(acc.positions, func(a, b PositionView) int { return cmp.Compare(a.Symbol, b.Symbol) })
	}
	p.bump(CauseBalance)
	return nil
}
