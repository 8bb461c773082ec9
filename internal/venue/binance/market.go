package binance

import (
	"context"
	"fmt"
	"sync"
	"time"

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

// avgPriceTTL is how long a symbol's average price is reused for the
// NOTIONAL check of market orders: it is an average over minutes (5 by
// default), which a few seconds barely move, and every market order by
// quantity would otherwise cost a round trip before it is sent.
const avgPriceTTL = 10 * time.Second

// avgPrices holds each symbol's last average price and when it was read.
type avgPrices struct {
	mu sync.Mutex
	m  map[string]avgPriceAt
}

type avgPriceAt struct {
	price venue.Decimal
	at    time.Time
}

// avgPrice returns symbol's current average price (GET /api/v3/avgPrice,
// weight 2), the price Binance checks a market order's NOTIONAL against,
// read again once the cached one is avgPriceTTL old.
func (c *Client) avgPrice(ctx context.Context, op, symbol string) (venue.Decimal, error) {
	now := c.cfg.Clock.Now()
	c.avg.mu.Lock()
	p, ok := c.avg.m[symbol]
	c.avg.mu.Unlock()
	if ok && now.Sub(p.at) < avgPriceTTL {
		return p.price, nil
	}
	var r *gobinance.AvgPrice
	if err := c.call(ctx, op, false, func(ctx context.Context) (err error) {
		r, err = c.spot.NewAveragePriceService().Symbol(symbol).Do(ctx)
		return err
	}); err != nil {
		return venue.Decimal{}, err
	}
	price, err := udecimal.Parse(r.Price)
	if err != nil {
		return venue.Decimal{}, &venue.Error{Class: venue.ClassUnavailable, Op: op,
			Message: fmt.Sprintf("average price of %q is not a decimal: %q; not sent", symbol, r.Price)}
	}
	c.avg.mu.Lock()
	if c.avg.m == nil {
		c.avg.m = map[string]avgPriceAt{}
	}
	c.avg.m[symbol] = avgPriceAt{price, now}
	c.avg.mu.Unlock()
	return price, nil
}
