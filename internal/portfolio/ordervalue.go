package portfolio

import (
	"context"
	"fmt"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// SessionAllocation is a session's allocation in the portfolio's terms:
// kind "share" is a Share of the account's collateral value, any other a
// Fixed amount.
func SessionAllocation(sessionLabel, accountKey, kind string, amount Decimal) Allocation {
	al := Allocation{Session: sessionLabel, Account: accountKey}
	if kind == "share" {
		al.Share = amount
	} else {
		al.Fixed = amount
	}
	return al
}

// BuyValue is the exposure an order adds, in its quote asset: zero for a
// sell; a buy's quote quantity, else its quantity at its limit price, else
// at price(symbol) (a market order by quantity).
func BuyValue(ctx context.Context, req venue.OrderRequest, price func(ctx context.Context, symbol string) (Decimal, error)) (Decimal, error) {
	if req.Side != venue.Buy {
		return Decimal{}, nil
	}
	if !req.QuoteQuantity.IsZero() {
		return req.QuoteQuantity, nil
	}
	p := req.Price
	if p.IsZero() {
		var err error
		if p, err = price(ctx, req.Symbol); err != nil {
			return Decimal{}, fmt.Errorf("value %s order: %w", req.Symbol, err)
		}
	}
	return req.Quantity.Mul(p), nil
}
