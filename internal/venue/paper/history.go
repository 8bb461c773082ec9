package paper

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// OrderHistory lists the account's orders of one symbol created in
// [from, to), oldest first, in every status (Binance's allOrders). The
// journal asks it, besides QueryOrder, before it concludes that an order
// with an unknown outcome never executed, and the journal audit compares it
// with the journal. A zero to means now.
func (a *Account) OrderHistory(ctx context.Context, symbol string, from, to time.Time) ([]venue.Order, error) {
	what := fmt.Sprintf("order history %q", symbol)
	if err := a.prelude(ctx, OpQuery, what); err != nil {
		return nil, err
	}
	a.ex.mu.Lock()
	defer a.ex.mu.Unlock()
	var hit []*order
	for _, o := range a.orders {
		if o.o.Symbol != symbol || o.o.Created.Before(from) || (!to.IsZero() && !o.o.Created.Before(to)) {
			continue
		}
		hit = append(hit, o)
	}
	slices.SortFunc(hit, func(x, y *order) int { return cmp.Compare(x.seq, y.seq) })
	out := make([]venue.Order, len(hit))
	for i, o := range hit {
		out[i] = o.o
	}
	return out, nil
}
