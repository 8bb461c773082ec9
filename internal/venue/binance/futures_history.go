package binance

import (
	"context"
	"fmt"
	"time"

	"github.com/adshao/go-binance/v2/futures"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// futuresHistoryWindow is the longest span GET /fapi/v1/allOrders takes
// ("Query time period must be less than 7 days").
const futuresHistoryWindow = 7*24*time.Hour - time.Millisecond

// OrderHistory lists the account's futures orders of one symbol created in
// [from, to), oldest first, in every status (GET /fapi/v1/allOrders, weight
// 5 a page), walking the range in slices under 7 days and each slice in
// pages of 1000 by order id; a zero to means now (a minute ahead of the
// server's clock as we know it). The journal asks it, as
// for spot, before it concludes that an order with an unknown outcome never
// executed. Binance leaves out orders canceled or expired without a fill
// more than 3 days ago.
func (f *Futures) OrderHistory(ctx context.Context, symbol string, from, to time.Time) ([]venue.Order, error) {
	if to.IsZero() {
		// "Until now" must not miss an order made a moment ago (in this
		// very millisecond, or while our estimate of the server's clock is
		// a little behind).
		to = f.c.lim.serverNow().Add(time.Minute)
	}
	op := fmt.Sprintf("futures order history %q", symbol)
	var out []venue.Order
	for start := from; start.Before(to); start = start.Add(futuresHistoryWindow) {
		end := start.Add(futuresHistoryWindow)
		if end.After(to) {
			end = to
		}
		var fromID int64
		for {
			var page []*futures.Order
			if err := f.c.call(ctx, op, false, func(ctx context.Context) (err error) {
				s := f.c.futures.NewListOrdersService().Symbol(symbol).Limit(historyLimit)
				if fromID > 0 {
					s.OrderID(fromID)
				} else {
					s.StartTime(start.UnixMilli()).EndTime(end.UnixMilli() - 1)
				}
				page, err = s.Do(ctx)
				return err
			}); err != nil {
				return nil, err
			}
			done := len(page) < historyLimit
			for _, o := range page {
				created := time.UnixMilli(o.Time)
				if created.Before(start) {
					continue
				}
				if !created.Before(end) {
					done = true
					break
				}
				vo := fromFuturesOrder(o)
				f.ids.put(vo.Symbol, vo.VenueOrderID, vo.ClientOrderID)
				out = append(out, vo)
				fromID = o.OrderID + 1
			}
			if done || len(page) == 0 {
				break
			}
		}
	}
	return out, nil
}
