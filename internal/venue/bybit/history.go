package bybit

import (
	"context"
	"fmt"
	"slices"
	"time"

	bybitapi "github.com/hirokisan/bybit/v2"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// RecvWindow is how long after its timestamp Bybit accepts a signed request
// of this client (X-BAPI-RECV-WINDOW): after it, a request still in flight
// can no longer place an order. The journal's certainty rule reads it.
func (c *Client) RecvWindow() time.Duration { return c.cfg.RecvWindow }

// OrderHistory lists the spot orders of symbol created in [from, to): the
// open ones (/v5/order/realtime) and the closed ones of the order history
// (/v5/order/history, asked 7 days at a time, following nextPageCursor),
// oldest first. The journal uses it, besides QueryOrder, before it
// concludes that an order whose outcome was unknown never reached Bybit.
func (c *Client) OrderHistory(ctx context.Context, symbol string, from, to time.Time) ([]venue.Order, error) {
	op := fmt.Sprintf("order history %q", symbol)
	if symbol == "" {
		return nil, invalid(op, "symbol is required")
	}
	if to.IsZero() {
		to = c.lim.serverNow().Add(time.Minute)
	}
	// Bybit's times are whole milliseconds.
	from = from.Truncate(time.Millisecond)
	seen := map[string]bool{}
	var out []venue.Order
	add := func(o venue.Order) {
		if seen[o.VenueOrderID] || o.Created.Before(from) || !o.Created.Before(to) {
			return
		}
		seen[o.VenueOrderID] = true
		c.ids.put(o.Symbol, o.VenueOrderID, o.ClientOrderID)
		out = append(out, o)
	}
	open, err := c.OpenOrders(ctx, symbol)
	if err != nil {
		return nil, err
	}
	for _, o := range open {
		add(o)
	}
	for start := from; start.Before(to); {
		end := start.Add(maxWindow)
		if end.After(to) {
			end = to
		}
		cursor := ""
		for {
			sym, limit := bybitapi.SymbolV5(symbol), 50
			s, e := int(start.UnixMilli()), int(end.Add(time.Millisecond-1).UnixMilli()-1)
			p := bybitapi.V5GetHistoryOrdersParam{Category: c.cat, Symbol: &sym, StartTime: &s, EndTime: &e, Limit: &limit}
			if cursor != "" {
				cur := cursor
				p.Cursor = &cur
			}
			var r *bybitapi.V5GetOrdersResponse
			if err := c.call(ctx, op, false, func(api bybitapi.V5ServiceI) (err error) {
				r, err = api.Order().GetHistoryOrders(p)
				return err
			}); err != nil {
				return nil, err
			}
			for _, o := range r.Result.List {
				add(fromOrder(o))
			}
			if r.Result.NextPageCursor == "" || len(r.Result.List) == 0 || r.Result.NextPageCursor == cursor {
				break
			}
			cursor = r.Result.NextPageCursor
		}
		start = end
	}
	slices.SortStableFunc(out, func(a, b venue.Order) int { return a.Created.Compare(b.Created) })
	return out, nil
}
