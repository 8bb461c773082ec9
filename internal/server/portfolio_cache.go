package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tradeplane/tradeplane/internal/portfolio"
)

// snapshotCache keeps one portfolio snapshot for at most maxAge and the
// encoded pages served from it. A snapshot costs O(lines) under the
// portfolio's read lock (ticks wait for it); a desk of 1,000 accounts asks
// for it many times a second, so requests share one snapshot and one
// encoding per page. When the snapshot is stale, one request rebuilds it
// (with the default page encoded) while the others keep serving the
// previous one, so only that request pays. The response carries as_of so a
// client knows its age; live changes reach clients over
// /api/v1/portfolio/stream anyway.
type snapshotCache struct {
	maxAge     time.Duration
	cur        atomic.Pointer[snapshotGen]
	refreshing atomic.Bool
	first      sync.Mutex
}

// snapshotGen is one snapshot and its encoded pages.
type snapshotGen struct {
	at    time.Time
	snap  *portfolio.Snapshot
	mu    sync.Mutex
	pages map[string][]byte
}

// portfolioPage is GET /api/v1/portfolio: the snapshot with its accounts
// (and their wallet lines) paginated by account id.
type portfolioPage struct {
	*portfolio.Snapshot
	NextCursor string `json:"next_cursor"`
}

func (c *snapshotCache) refresh(p Portfolio, now time.Time) (*snapshotGen, error) {
	s := p.Snapshot()
	g := &snapshotGen{at: now, snap: &s, pages: map[string][]byte{}}
	if _, err := g.page(defaultLimit, ""); err != nil {
		return nil, err
	}
	c.cur.Store(g)
	return g, nil
}

func (c *snapshotCache) page(p Portfolio, now time.Time, limit int, cursor string) ([]byte, error) {
	g := c.cur.Load()
	if g == nil {
		c.first.Lock()
		g = c.cur.Load()
		if g == nil {
			var err error
			if g, err = c.refresh(p, now); err != nil {
				c.first.Unlock()
				return nil, err
			}
		}
		c.first.Unlock()
	} else if (now.Sub(g.at) >= c.maxAge || now.Before(g.at)) && c.refreshing.CompareAndSwap(false, true) {
		ng, err := c.refresh(p, now)
		c.refreshing.Store(false)
		if err != nil {
			return nil, err
		}
		g = ng
	}
	return g.page(limit, cursor)
}

func (g *snapshotGen) page(limit int, cursor string) ([]byte, error) {
	key := strconv.Itoa(limit) + "|" + cursor
	g.mu.Lock()
	defer g.mu.Unlock()
	if b, ok := g.pages[key]; ok {
		return b, nil
	}
	snap := *g.snap
	accts, next := pageOf(snap.Accounts, func(a portfolio.AccountView) string { return a.ID }, cursor, limit)
	snap.Accounts = nonNilSlice(accts)
	b, err := json.Marshal(portfolioPage{Snapshot: &snap, NextCursor: next})
	if err != nil {
		return nil, fmt.Errorf("encode portfolio: %w", err)
	}
	if len(g.pages) < 64 {
		g.pages[key] = b
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
