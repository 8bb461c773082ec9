package binance

import (
	"context"
	"fmt"

	gobinance "github.com/adshao/go-binance/v2"
	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// Ping checks that the spot REST host answers (GET /api/v3/ping, weight 1).
func (c *Client) Ping(ctx context.Context) error {
	return c.call(ctx, "ping", false, func(ctx context.Context) error {
		return c.spot.NewPingService().Do(ctx)
	})
}

// LastPrices returns the latest traded price of symbol, or of every
// symbol when symbol is empty (GET /api/v3/ticker/price), by symbol name.
func (c *Client) LastPrices(ctx context.Context, symbol string) (map[string]venue.Decimal, error) {
	op := "list last prices"
	if symbol != "" {
		op = fmt.Sprintf("last price of %q", symbol)
	}
	svc := c.spot.NewListPricesService()
	if symbol != "" {
		svc = svc.Symbol(symbol)
	}
	var ps []*gobinance.SymbolPrice
	if err := c.call(ctx, op, false, func(ctx context.Context) (err error) {
		ps, err = svc.Do(ctx)
		return err
	}); err != nil {
		return nil, err
	}
	out := make(map[string]venue.Decimal, len(ps))
	for _, p := range ps {
		d, err := udecimal.Parse(p.Price)
		if err != nil {
			return nil, fmt.Errorf("%s: price of %q is not a decimal: %w", op, p.Symbol, err)
		}
		out[p.Symbol] = d
	}
	return out, nil
}
