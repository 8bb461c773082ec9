package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/portfolio"
)

// snapshotCache keeps one portfolio snapshot for at most maxAge and the
// encoded pages served from it. A snapshot costs O(lines) under the
// portfolio's read lock (ticks wait for it); a desk of 1,000 accounts asks
// for it many times a second, so requests share one snapshot and one
// encoding per page. When the snapshot is stale, one request rebuilds it
// (with the default page encoded) while the others keep serving the
// previous one, so only that request pays. The response carries as_of so a
// client knows its age.
//
// The breakdowns (total, by_account, by_venue, by_wallet, by_tag, by_asset)
// do not wait for the snapshot when the portfolio keeps incremental group
// totals (groupReader, as *portfolio.Portfolio does): they are read live on
// every request (encoding reused while the portfolio version is unchanged,
// for at most liveReuse) and carry totals_version and totals_as_of; only
// the accounts (wallets and lines) and prices come from the snapshot, at
// version and as_of.
type snapshotCache struct {
	maxAge     time.Duration
	cur        atomic.Pointer[snapshotGen]
	refreshing atomic.Bool
	first      sync.Mutex

	live   liveTotals
	groups groupPublisher
}

// groupReader is the incremental breakdown a portfolio may offer beside
// Snapshot (Deps.Portfolio keeps its one-method contract: fakes without it
// are served from the snapshot alone).
type groupReader interface {
	GroupsSince(cursor uint64) portfolio.Breakdown
	Version() uint64
}

// liveReuse bounds how long an encoded live breakdown is served again while
// the portfolio version does not move: staleness flags and price ages
// change with time alone.
const liveReuse = time.Second

// liveTotals is the last encoded live breakdown.
type liveTotals struct {
	mu      sync.Mutex
	version uint64
	at      time.Time
	body    []byte // a JSON object
}

// portfolioLive is the live part of GET /api/v1/portfolio.
type portfolioLive struct {
	TotalsVersion uint64                 `json:"totals_version"`
	TotalsAsOf    time.Time              `json:"totals_as_of"`
	Total         portfolio.Totals       `json:"total"`
	ByAccount     []portfolio.Group      `json:"by_account"`
	ByVenue       []portfolio.Group      `json:"by_venue"`
	ByWallet      []portfolio.Group      `json:"by_wallet"`
	ByTag         []portfolio.Group      `json:"by_tag"`
	ByAsset       []portfolio.AssetTotal `json:"by_asset"`
}

// portfolioDetail is the snapshot part of GET /api/v1/portfolio when the
// breakdowns are live.
type portfolioDetail struct {
	Version           uint64                  `json:"version"`
	AsOf              time.Time               `json:"as_of"`
	Currency          string                  `json:"currency"`
	StaleAfterSeconds float64                 `json:"stale_after_seconds"`
	CollateralVersion uint64                  `json:"collateral_version"`
	Accounts          []portfolio.AccountView `json:"accounts"`
	Prices            []portfolio.AssetQuote  `json:"prices"`
	NextCursor        string                  `json:"next_cursor"`
}

// encoded returns the live breakdown as a JSON object, read now unless the
// version has not moved within liveReuse. Concurrent requests share one read.
func (l *liveTotals) encoded(gr groupReader, now time.Time) ([]byte, error) {
	v := gr.Version()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.body != nil && l.version == v && now.Sub(l.at) < liveReuse && !now.Before(l.at) {
		return l.body, nil
	}
	b := gr.GroupsSince(0)
	body, err := encodeLive(&b)
	if err != nil {
		return nil, fmt.Errorf("encode portfolio totals: %w", err)
	}
	l.version, l.at, l.body = b.Version, now, body
	return body, nil
}

// encodeLive encodes b as portfolioLive, byte for byte what json.Marshal
// gives, with the group rows written by appendGroupsJSON (json.Marshal
// spends most of a 1,000-account read in reflection and the decimals'
// MarshalJSON).
func encodeLive(b *portfolio.Breakdown) ([]byte, error) {
	asOf, err := json.Marshal(b.AsOf)
	if err != nil {
		return nil, err
	}
	total, err := json.Marshal(b.Total)
	if err != nil {
		return nil, err
	}
	assets, err := json.Marshal(b.ByAsset)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 64+len(total)+len(assets)+130*(len(b.ByAccount)+len(b.ByVenue)+len(b.ByWallet)+len(b.ByTag)))
	out = append(out, `{"totals_version":`...)
	out = strconv.AppendUint(out, b.Version, 10)
	out = append(out, `,"totals_as_of":`...)
	out = append(out, asOf...)
	out = append(out, `,"total":`...)
	out = append(out, total...)
	for _, f := range []struct {
		name string
		gs   []portfolio.Group
	}{{"by_account", b.ByAccount}, {"by_venue", b.ByVenue}, {"by_wallet", b.ByWallet}, {"by_tag", b.ByTag}} {
		out = append(out, `,"`...)
		out = append(out, f.name...)
		out = append(out, `":`...)
		out = appendGroupsJSON(out, f.gs)
	}
	out = append(out, `,"by_asset":`...)
	out = append(out, assets...)
	return append(out, '}'), nil
}

// appendGroupsJSON appends gs as json.Marshal would encode them.
func appendGroupsJSON(b []byte, gs []portfolio.Group) []byte {
	if gs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, g := range gs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"key":`...)
		b = appendJSONString(b, g.Key)
		b = append(b, `,"value":"`...)
		b, _ = g.Value.AppendText(b)
		b = append(b, `","collateral_value":"`...)
		b, _ = g.CollateralValue.AppendText(b)
		b = append(b, `","partial":`...)
		b = strconv.AppendBool(b, g.Partial)
		b = append(b, `,"includes_stale":`...)
		b = strconv.AppendBool(b, g.IncludesStale)
		if len(g.UnpricedAssets) > 0 {
			b = append(b, `,"unpriced_assets":`...)
			b = appendJSONStrings(b, g.UnpricedAssets)
		}
		if len(g.UnknownWallets) > 0 {
			b = append(b, `,"unknown_wallets":`...)
			b = appendJSONStrings(b, g.UnknownWallets)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendJSONStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// appendJSONString quotes s as json.Marshal does: plain ASCII directly,
// anything else through encoding/json (which also escapes <, > and &).
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// writeJoined writes two encoded JSON objects with distinct keys as one
// object, without copying them into a new buffer (a portfolio page is
// ~270 KB at 1,000 accounts: a copy per request was the endpoint's main
// allocation and its GC the p99).
func writeJoined(w io.Writer, a, b []byte) {
	_, _ = w.Write(a[:len(a)-1])
	if len(b) > 2 {
		_, _ = w.Write([]byte{','})
	}
	_, _ = w.Write(b[1:])
}

// snapshotGen is one snapshot and its encoded pages.
type snapshotGen struct {
	at    time.Time
	snap  *portfolio.Snapshot
	mu    sync.Mutex
	pages map[string][]byte
	// detail: pages hold portfolioDetail (the breakdowns are read live),
	// else the whole snapshot.
	detail bool
}

// portfolioPage is GET /api/v1/portfolio: the snapshot with its accounts
// (and their wallet lines) paginated by account id.
type portfolioPage struct {
	*portfolio.Snapshot
	NextCursor string `json:"next_cursor"`
}

func (c *snapshotCache) refresh(p Portfolio, now time.Time) (*snapshotGen, error) {
	s := p.Snapshot()
	_, detail := p.(groupReader)
	g := &snapshotGen{at: now, snap: &s, pages: map[string][]byte{}, detail: detail}
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
	var v any = portfolioPage{Snapshot: &snap, NextCursor: next}
	if g.detail {
		v = portfolioDetail{Version: snap.Version, AsOf: snap.AsOf, Currency: snap.Currency, StaleAfterSeconds: snap.StaleAfterSeconds,
			CollateralVersion: snap.CollateralVersion, Accounts: snap.Accounts, Prices: nonNilSlice(snap.Prices), NextCursor: next}
	}
	b, err := json.Marshal(v)
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
	now := time.Now()
	b, err := s.snaps.page(s.deps.Portfolio, now, limit, cursor)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	var live []byte
	if gr, ok := s.deps.Portfolio.(groupReader); ok {
		if live, err = s.snaps.live.encoded(gr, now); err != nil {
			s.writeErr(w, r, err)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if live == nil {
		_, _ = w.Write(b)
		return
	}
	n := len(live) - 1 + len(b) - 1
	if len(b) > 2 {
		n++ // the comma
	}
	w.Header().Set("Content-Length", strconv.Itoa(n))
	writeJoined(w, live, b)
}

// PortfolioGroupsEvery is N, the coalescing window of the "portfolio-groups"
// events: each group kind gets at most one event per window, listing every
// group of that kind whose totals or flags changed since the previous event,
// so a group's totals reach a client at most once per window whatever the
// tick rate, and 200 clients get 5 events a window at most. A change after a
// quiet window is sent at once; under a steady stream of ticks the totals a
// client holds are at most one window (plus the read and encoding) old.
// (internal/app forwards portfolio changes at most every 250 ms too.)
const PortfolioGroupsEvery = 250 * time.Millisecond

// groupsIdle is how often the publisher looks again while streams are open
// and nothing changes, so a price turning stale reaches clients.
const groupsIdle = time.Second

// groupPublisher turns the portfolio's change notifications into coalesced
// "portfolio-groups" events: a kick schedules one read of GroupsSince(cursor)
// no sooner than every after the previous read, and the read's changed
// groups are published, one event per kind.
type groupPublisher struct {
	every time.Duration // PortfolioGroupsEvery unless a test sets it
	mu    sync.Mutex
	timer clock.Timer // on the server's clock
	due   time.Time   // when the pending read runs; zero when none
	last  time.Time   // when the last read started
	// streams is the number of open portfolio streams: without any, no read.
	streams atomic.Int64
	run     sync.Mutex // serializes reads
	cursor  uint64     // under run
}

// portfolioGroupsEvent is one "portfolio-groups" event: the groups of one
// kind whose totals changed (every group when full), and those removed.
// Apply it only when its version is newer than the state held for the kind
// (an event read before a stream's initial state can arrive after it).
type portfolioGroupsEvent struct {
	Version  uint64              `json:"version"`
	AsOf     time.Time           `json:"as_of"`
	Currency string              `json:"currency"`
	Kind     portfolio.GroupKind `json:"kind"`
	Full     bool                `json:"full"`
	// Groups is []portfolio.Group (encoded by appendGroupsJSON), or
	// []portfolio.AssetTotal for assets.
	Groups  any      `json:"groups"`
	Removed []string `json:"removed,omitempty"`
}

// groupKinds is every kind, in event order.
var groupKinds = []portfolio.GroupKind{portfolio.GroupAccount, portfolio.GroupVenue, portfolio.GroupWallet, portfolio.GroupTag, portfolio.GroupAsset}

// groupEvents splits a breakdown into one event per kind that has changes
// (every kind when b is full).
func groupEvents(b *portfolio.Breakdown) []portfolioGroupsEvent {
	removed := map[portfolio.GroupKind][]string{}
	for _, r := range b.Removed {
		removed[r.Kind] = append(removed[r.Kind], r.Key)
	}
	var out []portfolioGroupsEvent
	for _, k := range groupKinds {
		var rows []portfolio.Group
		switch k {
		case portfolio.GroupAccount:
			rows = b.ByAccount
		case portfolio.GroupVenue:
			rows = b.ByVenue
		case portfolio.GroupWallet:
			rows = b.ByWallet
		case portfolio.GroupTag:
			rows = b.ByTag
		}
		var groups any = json.RawMessage(appendGroupsJSON(nil, nonNilSlice(rows)))
		n := len(rows)
		if k == portfolio.GroupAsset {
			groups, n = nonNilSlice(b.ByAsset), len(b.ByAsset)
		}
		if n == 0 && len(removed[k]) == 0 && !b.Full {
			continue
		}
		out = append(out, portfolioGroupsEvent{Version: b.Version, AsOf: b.AsOf, Currency: b.Currency, Kind: k, Full: b.Full, Groups: groups, Removed: removed[k]})
	}
	return out
}

// kick asks for a read as soon as the window allows. It never blocks on a
// read: reads run on the timer's goroutine.
func (g *groupPublisher) kick(s *Server) { g.schedule(s, 0) }

func (g *groupPublisher) schedule(s *Server, after time.Duration) {
	gr, ok := s.deps.Portfolio.(groupReader)
	if !ok || g.streams.Load() == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	every := g.every
	if every <= 0 {
		every = PortfolioGroupsEvery
	}
	now := s.cfg.Clock.Now()
	at := now.Add(after)
	if next := g.last.Add(every); at.Before(next) {
		at = next
	}
	if !g.due.IsZero() && !g.due.After(at) {
		return // a read is already due sooner
	}
	g.due = at
	if g.timer == nil {
		g.timer = s.cfg.Clock.AfterFunc(at.Sub(now), func() { g.read(s, gr) })
	} else {
		g.timer.Reset(at.Sub(now))
	}
}

// open counts a new stream and reads its initial state. The first stream
// (after none) also starts the publisher's cursor there, so its first event
// holds the changes since, not every group again.
func (g *groupPublisher) open(gr groupReader) portfolio.Breakdown {
	g.run.Lock()
	defer g.run.Unlock()
	b := gr.GroupsSince(0)
	if g.streams.Add(1) == 1 {
		g.cursor = b.Cursor
	}
	return b
}

// read publishes the groups changed since the previous read.
func (g *groupPublisher) read(s *Server, gr groupReader) {
	select {
	case <-s.done:
		return
	default:
	}
	g.run.Lock()
	g.mu.Lock()
	g.due, g.last = time.Time{}, s.cfg.Clock.Now()
	g.mu.Unlock()
	if g.streams.Load() > 0 {
		b := gr.GroupsSince(g.cursor)
		g.cursor = b.Cursor
		for _, ev := range groupEvents(&b) {
			s.hub.publish(TopicPortfolioGroups, string(TopicPortfolioGroups), string(ev.Kind), ev)
		}
	}
	g.run.Unlock()
	g.schedule(s, groupsIdle)
}

// TopicPortfolioGroups carries the "portfolio-groups" events; only
// GET /api/v1/portfolio/stream subscribes to it (the dashboard's
// /api/v1/events does not take it, so browsers are not sent every account).
const TopicPortfolioGroups Topic = "portfolio-groups"

// portfolioStream serves GET /api/v1/portfolio/stream: "portfolio" events
// (grand total and collateral value at each change) and coalesced
// "portfolio-groups" events. ?groups=account,venue,wallet,tag,asset (comma
// separated or repeated; "none" for none) picks the kinds, default all. The
// stream starts with the current grand total and one full event per kind.
func (s *Server) portfolioStream(w http.ResponseWriter, r *http.Request) {
	kinds := map[string]bool{}
	for _, v := range r.URL.Query()["groups"] {
		for _, k := range strings.Split(v, ",") {
			switch k = strings.TrimSpace(k); k {
			case "none", "":
			case string(portfolio.GroupAccount), string(portfolio.GroupVenue), string(portfolio.GroupWallet), string(portfolio.GroupTag), string(portfolio.GroupAsset):
				kinds[k] = true
			default:
				s.writeErr(w, r, invalidf("groups %q: want account, venue, wallet, tag, asset or none", k))
				return
			}
		}
	}
	if _, given := r.URL.Query()["groups"]; !given {
		for _, k := range groupKinds {
			kinds[string(k)] = true
		}
	}
	sub := s.hub.subscribe(func(m *message) bool { return m.topic != TopicPortfolioGroups || kinds[m.key] }, TopicPortfolio, TopicPortfolioGroups)
	var initial [][]byte
	if s.deps.Portfolio != nil {
		if gr, ok := s.deps.Portfolio.(groupReader); ok {
			b := s.snaps.groups.open(gr)
			defer s.snaps.groups.streams.Add(-1)
			initial = append(initial, initialFrame(string(TopicPortfolio), portfolio.Change{Version: b.Version, Value: b.Total.Value, CollateralValue: b.Total.CollateralValue}))
			for _, ev := range groupEvents(&b) {
				if kinds[string(ev.Kind)] {
					initial = append(initial, initialFrame(string(TopicPortfolioGroups), ev))
				}
			}
			s.snaps.groups.schedule(s, groupsIdle)
		} else {
			initial = append(initial, initialFrame(string(TopicPortfolio), s.portfolioChange()))
		}
	}
	s.stream(w, r, sub, initial...)
}
