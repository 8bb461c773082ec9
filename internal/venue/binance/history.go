package binance

import (
	"context"
	"fmt"
	"strconv"
	"time"

	gobinance "github.com/adshao/go-binance/v2"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// historyWindow is the longest startTime..endTime span GET /api/v3/allOrders
// accepts ("The time between startTime and endTime can't be longer than 24
// hours"); historyLimit its largest page.
const (
	historyWindow = 24 * time.Hour
	historyLimit  = 1000
)

// OrderHistory lists the account's orders of one symbol created in
// [from, to), oldest first, in every status (GET /api/v3/allOrders, weight
// 20 a page), walking the range in 24 h slices and each slice in pages of
// 1000 by order id. A zero to means now (a minute ahead of the server's
// clock as we know it, as for futures). The journal asks it before it
// concludes that an order with an unknown outcome never executed, and the
// journal audit compares it with the journal.
func (c *Client) OrderHistory(ctx context.Context, symbol string, from, to time.Time) ([]venue.Order, error) {
	if to.IsZero() {
		// "Until now" must not miss an order made a moment ago: in this very
		// millisecond, or while the local clock is behind the server's.
		to = c.lim.serverNow().Add(time.Minute)
	}
	var out []venue.Order
	for start := from; start.Before(to); start = start.Add(historyWindow) {
		end := start.Add(historyWindow)
		if end.After(to) {
			end = to
		}
		var fromID int64
		for {
			var page []*gobinance.Order
			op := fmt.Sprintf("order history %q", symbol)
			err := c.call(ctx, op, false, func(ctx context.Context) (err error) {
				s := c.spot.NewListOrdersService().Symbol(symbol).Limit(historyLimit)
				if fromID > 0 {
					s.OrderID(fromID)
				} else {
					// endTime is inclusive at Binance; [from, to) here.
					s.StartTime(start.UnixMilli()).EndTime(end.UnixMilli() - 1)
				}
				page, err = s.Do(ctx)
				return err
			})
			if err != nil {
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
				c.ids.put(o.Symbol, strconv.FormatInt(o.OrderID, 10), o.ClientOrderID)
				out = append(out, fromOrder(o))
				fromID = o.OrderID + 1
			}
			if done || len(page) == 0 {
				break
			}
		}
	}
	return out, nil
}
