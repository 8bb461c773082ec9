package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/tradeplane/tradeplane/internal/portfolio"
)

// snapshotCache keeps one portfolio snapshot for at most maxAge and the
// encoded pages served from it. A snapshot costs O(lines) under the
// portfolio's read lock (ticks wait for it); a desk of 1,000 accounts asks
// for it many times a second, so requests share one snapshot and one
// encoding per page. The response carries as_of so a client knows its age;
// live changes reach clients over /api/v1/portfolio/stream anyway.
type snapshotCache struct {
	maxAge time.Duration

	mu    sync.Mutex
	at    time.Time
	snap  *portfolio.Snapshot
	pages map[string][]byte
}

// portfolioPage is GET /api/v1/portfolio: the snapshot with its accounts
// (and their wallet lines) paginated by account id.
type portfolioPage struct {
	*portfolio.Snapshot
	NextCursor string `json:"next_cursor"`
}

func (c *snapshotCache) page(p Portfolio, now time.Time, limit int, cursor string) ([]byte, error) {
	key := strconv.Itoa(limit) + "|" + cursor
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snap == nil || now.Sub(c.at) >= c.maxAge || now.Before(c.at) {
		s := p.Snapshot()
		c.snap, c.at, c.pages = &s, now, map[string][]byte{}
	}
	if b, ok := c.pages[key]; ok {
		return b, nil
	}
	snap := *c.snap
	accts, next := pageOf(snap.Accounts, func(a portfolio.AccountView) string { return a.ID }, cursor, limit)
	snap.Accounts = nonNilSlice(accts)
	b, err := json.Marshal(portfolioPage{Snapshot: &snap, NextCursor: next})
	if err != nil {
		return nil, err
	}
	if len(c.pages) < 64 {
		c.pages[key] = b
	}
	return b, nil
}

func (s *Server) getPortfolio(w http.ResponseWriter, r *http.Request) {
	if s.deps.Portfolio == nil {
		s.writeErr(w, r, unavailable("the portfolio"))
		return
	}
	limit, cursor, err := pageParams(r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	b, err := s.snaps.page(s.deps.Portfolio, time.Now(), limit, cursor)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}
