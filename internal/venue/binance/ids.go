package binance

import "sync"

// idCache remembers the client order id of venue orders this Client has seen
// (placed, queried, canceled, listed, streamed), because myTrades does not
// report client ids. It is bounded: the oldest entries go first.
type idCache struct {
	mu    sync.Mutex
	max   int
	ids   map[string]string
	order []string
}

func newIDCache(max int) *idCache { return &idCache{max: max, ids: map[string]string{}} }

func (c *idCache) put(symbol, venueOrderID, clientOrderID string) {
	if clientOrderID == "" || venueOrderID == "" {
		return
	}
	k := symbol + "/" + venueOrderID
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.ids[k]; !ok {
		c.order = append(c.order, k)
		if len(c.order) > c.max {
			delete(c.ids, c.order[0])
			c.order = c.order[1:]
		}
	}
	c.ids[k] = clientOrderID
}

func (c *idCache) get(symbol, venueOrderID string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ids[symbol+"/"+venueOrderID]
}
