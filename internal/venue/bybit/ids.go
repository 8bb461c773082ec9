package bybit

import "sync"

// idCache remembers the orderLinkId of orders this Client has seen, by
// symbol and orderId, for fills whose answer leaves it empty. It holds at
// most max entries, forgetting the oldest first.
type idCache struct {
	mu    sync.Mutex
	max   int
	m     map[[2]string]string
	order [][2]string
}

func newIDCache(max int) *idCache { return &idCache{max: max, m: map[[2]string]string{}} }

func (c *idCache) put(symbol, orderID, linkID string) {
	if orderID == "" || linkID == "" {
		return
	}
	k := [2]string{symbol, orderID}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok {
		c.order = append(c.order, k)
		if len(c.order) > c.max {
			delete(c.m, c.order[0])
			c.order = c.order[1:]
		}
	}
	c.m[k] = linkID
}

func (c *idCache) get(symbol, orderID string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[[2]string{symbol, orderID}]
}
