package binancetest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// OpOrderHistory fails GET /api/v3/allOrders.
const OpOrderHistory = "order_history"

// handleAllOrders is GET /api/v3/allOrders (weight 20) as documented at
// https://developers.binance.com/docs/binance-spot-api-docs/rest-api/account-endpoints#all-orders-user_data:
// symbol required; orderId returns orders with an id >= it, else
// startTime/endTime (inclusive, at most 24 hours apart) select by creation
// time, else the most recent; limit defaults to 500, at most 1000; oldest
// first, in the same shape as GET /api/v3/order.
func (s *Server) handleAllOrders(_ http.ResponseWriter, q url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sym := q.Get("symbol")
	if _, ok := s.symbols[sym]; !ok {
		return e400(-1121, "Invalid symbol.")
	}
	limit := 500
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return e400(-1100, "Illegal characters found in parameter 'limit'; legal range is '1 - 1000'.")
		}
		limit = n
	}
	var fromID int64
	if v := q.Get("orderId"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return e400(-1100, "Illegal characters found in parameter 'orderId'.")
		}
		fromID = n
	}
	var start, end time.Time
	hasStart, hasEnd := q.Get("startTime") != "", q.Get("endTime") != ""
	if hasStart {
		n, _ := strconv.ParseInt(q.Get("startTime"), 10, 64)
		start = time.UnixMilli(n)
	}
	if hasEnd {
		n, _ := strconv.ParseInt(q.Get("endTime"), 10, 64)
		end = time.UnixMilli(n)
	}
	if hasStart && hasEnd && end.Sub(start) > 24*time.Hour {
		return e400(-1127, "More than 24 hours between startTime and endTime.")
	}
	var picked []*order
	for _, o := range s.orders { // in creation order
		if o.symbol != sym || o.id < fromID || s.hiddenLocked(o.id) || (hasStart && o.created.Before(start)) || (hasEnd && o.created.After(end)) {
			continue
		}
		picked = append(picked, o)
	}
	switch {
	case len(picked) <= limit:
	case fromID > 0 || hasStart:
		picked = picked[:limit]
	default: // the most recent
		picked = picked[len(picked)-limit:]
	}
	rows := make([][]byte, 0, len(picked))
	for _, o := range picked {
		rows = append(rows, orderJSON(o)) // the documented query-order example, edited
	}
	return 200, json.RawMessage(join(rows))
}
