package portfolio

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// Decimal is the exact decimal used for every quantity, price and value.
type Decimal = venue.Decimal

var (
	zero = Decimal{}
	one  = mustDec("1")
)

func mustDec(s string) Decimal {
	d, err := parseDec(s)
	if err != nil {
		panic(err)
	}
	return d
}

// Config configures a Portfolio. The zero value is usable: every empty field
// takes the default named on it.
type Config struct {
	// Clock tells the time for price ages and records; default clock.Real.
	Clock clock.Clock
	// Currency is the valuation currency; default "USDT".
	Currency string
	// StaleAfter is the age beyond which a price is flagged stale; default 60s.
	StaleAfter time.Duration
	// Bridges are the assets a cross route may pass through, in order of
	// preference; default BTC, ETH, BNB.
	Bridges []string
	// Pegged are the stablecoins worth 1 against each other and against
	// "USD" unless a quote says otherwise; default USDT, USDC, FDUSD.
	Pegged []string
	// Stablecoins get the default collateral ratio 1; default USDT, USDC,
	// FDUSD, BUSD, TUSD, DAI, USD.
	Stablecoins []string
}

// Account is the metadata of one account on one venue.
type Account struct {
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Venue string   `json:"venue"`
	Tags  []string `json:"tags"`
	// Master is the master account of a Binance sub-account ("" for none).
	Master string `json:"master,omitempty"`
}

// Portfolio is the engine. It is safe for concurrent use; every method takes
// one lock, and Tick and balance updates are O(1) in the number of accounts.
type Portfolio struct {
	mu  sync.RWMutex
	clk clock.Clock
	cur string
	// staleAfter is Config.StaleAfter.
	staleAfter time.Duration
	inter      []string        // bridges then pegged, route intermediates in preference order
	interRank  map[string]int  // position in inter
	pegged     map[string]bool // includes "USD"
	stable     map[string]bool

	markets map[string]*market         // by venue name and by "BASE/QUOTE"
	pairs   map[[2]string][]*market    // unordered pair (sorted) → markets
	listed  map[string]map[string]bool // asset → venues listing it
	assets  map[string]*asset
	accts   map[string]*account
	unknown map[*walletState]struct{}

	value Decimal // Σ asset.value over priced assets
	coll  Decimal // Σ asset.coll over priced assets

	groups map[GroupRef]*group // breakdown rows other than by asset
	order  [4][]*group         // groups by kind (kindIndex), sorted by key
	gone   map[GroupRef]uint64 // removed rows → epoch of removal
	dirty  []*asset            // assets whose cells await revaluation (flush)
	gepoch uint64              // group change epoch, closed by each GroupsSince

	version uint64
	subs    map[*subscriber]struct{}

	ratios      map[string]Decimal            // global per-asset overrides
	acctRatios  map[string]map[string]Decimal // account → asset → override
	collVersion uint64
	collHistory []CollateralVersion
}

type market struct {
	name, base, quote string
	label             string // BASE/QUOTE
	venues            map[string]bool
	priced            bool
	price             Decimal
	inv               Decimal // 1 ÷ price, kept when needInv
	needInv           bool
	at                time.Time
	deps              []*asset
}

type leg struct {
	m        *market // nil for a peg leg
	inverted bool
	from, to string
}

func (l leg) label() string {
	if l.m == nil {
		return l.from + "=" + l.to
	}
	return l.m.label
}

type asset struct {
	name   string
	route  []leg
	priced bool
	reason string
	price  Decimal
	at     time.Time // oldest market leg; zero when no market leg
	qty    Decimal   // Σ line.net
	wqty   Decimal   // Σ line.wnet
	value  Decimal   // qty × price when priced
	coll   Decimal   // wqty × price when priced
	lines  map[*line]struct{}
	cells  []*cell // per-group aggregates of this asset
	dirty  bool    // queued in Portfolio.dirty
	// seenPriced and seenStale are the flags at the last flush.
	seenPriced, seenStale bool
	gver                  uint64 // epoch of the last change of its own row
}

type account struct {
	meta    Account
	wallets map[venue.Wallet]*walletState
	groups  []*group // account, venue, then each distinct tag
	// positions are shown, not valued (see PositionView); positionsErr
	// says why they could not be read.
	positions    []PositionView
	positionsErr string
}

type walletState struct {
	acct    *account
	name    venue.Wallet
	lines   map[string]*line
	unknown bool
	reason  string
	updated time.Time
	g       *group // wallet-kind group
}

type line struct {
	w                      *walletState
	a                      *asset
	free, locked, borrowed Decimal
	net, wnet              Decimal
	ratio                  Decimal
	cells                  []*cell // of the account's groups, then the wallet kind's
}

// New returns an empty portfolio configured by cfg.
func New(cfg Config) (*Portfolio, error) {
	p := &Portfolio{
		clk:        cfg.Clock,
		cur:        strings.ToUpper(cfg.Currency),
		staleAfter: cfg.StaleAfter,
		interRank:  map[string]int{},
		pegged:     map[string]bool{"USD": true},
		stable:     map[string]bool{},
		markets:    map[string]*market{},
		pairs:      map[[2]string][]*market{},
		listed:     map[string]map[string]bool{},
		assets:     map[string]*asset{},
		accts:      map[string]*account{},
		unknown:    map[*walletState]struct{}{},
		subs:       map[*subscriber]struct{}{},
		ratios:     map[string]Decimal{},
		acctRatios: map[string]map[string]Decimal{},
		groups:     map[GroupRef]*group{},
		gone:       map[GroupRef]uint64{},
		gepoch:     1,
	}
	if p.clk == nil {
		p.clk = clock.Real{}
	}
	if p.cur == "" {
		p.cur = "USDT"
	}
	if p.staleAfter < 0 {
		return nil, invalid("stale_after", p.staleAfter.String(), "staleness threshold must not be negative")
	}
	if p.staleAfter == 0 {
		p.staleAfter = time.Minute
	}
	bridges := cfg.Bridges
	if bridges == nil {
		bridges = []string{"BTC", "ETH", "BNB"}
	}
	pegged := cfg.Pegged
	if pegged == nil {
		pegged = []string{"USDT", "USDC", "FDUSD"}
	}
	stables := cfg.Stablecoins
	if stables == nil {
		stables = []string{"USDT", "USDC", "FDUSD", "BUSD", "TUSD", "DAI", "USD"}
	}
	for _, s := range pegged {
		p.pegged[strings.ToUpper(s)] = true
	}
	for _, s := range stables {
		p.stable[strings.ToUpper(s)] = true
	}
	for _, s := range append(append([]string{}, bridges...), append(pegged, "USD")...) {
		s = strings.ToUpper(s)
		if _, ok := p.interRank[s]; ok || s == "" {
			continue
		}
		p.interRank[s] = len(p.inter)
		p.inter = append(p.inter, s)
	}
	p.assetFor(p.cur)
	return p, nil
}

// Currency returns the valuation currency.
func (p *Portfolio) Currency() string { return p.cur }

// assetFor returns the asset state for name, creating and routing it.
func (p *Portfolio) assetFor(name string) *asset {
	a := p.assets[name]
	if a == nil {
		a = &asset{name: name, lines: map[*line]struct{}{}}
		p.assets[name] = a
		p.reroute(a)
	}
	return a
}

// RegisterMarkets records the markets a venue lists. Their base and quote
// assets become "listed" (default collateral ratio 0.5 unless stablecoin,
// BTC or ETH) and the markets become usable as route legs once they receive
// a price. Registering the same market again is a no-op; a name reused with
// another base/quote is refused.
func (p *Portfolio) RegisterMarkets(venueName string, symbols []venue.Symbol) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range symbols {
		base, quote := strings.ToUpper(s.Base), strings.ToUpper(s.Quote)
		if s.Name == "" || base == "" || quote == "" || base == quote {
			return invalid("symbol", s.Name, fmt.Sprintf("market %q of venue %s needs a name and distinct base and quote (got %q/%q)", s.Name, venueName, s.Base, s.Quote))
		}
		if m := p.markets[s.Name]; m != nil && (m.base != base || m.quote != quote) {
			return invalid("symbol", s.Name, fmt.Sprintf("market %s is %s, cannot re-register it as %s/%s", s.Name, m.label, base, quote))
		}
	}
	changed := false
	for _, s := range symbols {
		base, quote := strings.ToUpper(s.Base), strings.ToUpper(s.Quote)
		m := p.markets[s.Name]
		if m == nil {
			label := base + "/" + quote
			if m = p.markets[label]; m == nil {
				m = &market{name: s.Name, base: base, quote: quote, label: label, venues: map[string]bool{}}
				k := pairKey(base, quote)
				p.pairs[k] = append(p.pairs[k], m)
				p.markets[label] = m
				changed = true
			}
			p.markets[s.Name] = m
		}
		m.venues[venueName] = true
		for _, x := range []string{base, quote} {
			if p.listed[x] == nil {
				p.listed[x] = map[string]bool{}
				p.assetFor(x)
				p.refreshRatios(x, "")
			}
			p.listed[x][venueName] = true
		}
	}
	if changed {
		for _, a := range p.assets {
			p.reroute(a)
		}
		p.bump(CauseMarkets)
	}
	return nil
}

func pairKey(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// Tick records the latest price of a registered market (by venue name such as
// BTCUSDT or as BTC/USDT) and revalues the assets routed through it. A tick
// older than the market's latest is ignored; a zero Time means now.
func (p *Portfolio) Tick(t venue.PriceTick) error {
	if t.Price.Sign() <= 0 {
		return invalid("price", t.Price.String(), fmt.Sprintf("tick for %s has non-positive price %s", t.Symbol, t.Price))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.markets[t.Symbol]
	if m == nil {
		return fmt.Errorf("tick for market %q: %w", t.Symbol, ErrNotFound)
	}
	at := t.Time
	if at.IsZero() {
		at = p.clk.Now()
	}
	if at.Before(m.at) {
		return nil
	}
	m.price, m.at = t.Price, at
	if m.needInv {
		m.inv, _ = one.Div(t.Price)
	}
	if !m.priced {
		m.priced = true
		p.rerouteAround(m)
	} else {
		for _, a := range m.deps {
			p.revalue(a)
		}
	}
	p.bump(CauseTick)
	return nil
}

// rerouteAround re-selects routes after m got its first price. A route's
// legs are (asset, i), (i, j), (j, currency) with i, j intermediates, so m can
// serve another asset only as a middle or last leg, which needs both of its
// ends to be intermediates or the currency; otherwise only its own two assets
// can change route.
func (p *Portfolio) rerouteAround(m *market) {
	if p.isHub(m.base) && p.isHub(m.quote) {
		for _, a := range p.assets {
			if a.name == m.base || a.name == m.quote || !a.priced || len(a.route) > 1 {
				p.reroute(a)
			}
		}
		return
	}
	p.reroute(p.assetFor(m.base))
	p.reroute(p.assetFor(m.quote))
}

// isHub reports whether x can be an inner node of a route or its end.
func (p *Portfolio) isHub(x string) bool {
	_, ok := p.interRank[x]
	return ok || x == p.cur
}

// revalue recomputes a's price from its route and moves the grand totals by
// the difference. Cost: up to 3 multiplications for the price, 2 for values.
func (p *Portfolio) revalue(a *asset) {
	if !a.priced {
		return
	}
	price, at := routePrice(a.route)
	a.price, a.at = price, at
	p.revalueHoldings(a)
	p.markDirty(a)
}

// routePrice multiplies the legs of a route; at is its oldest market leg.
func routePrice(route []leg) (price Decimal, at time.Time) {
	price = one
	for i, l := range route {
		if l.m == nil {
			continue
		}
		lp := l.m.price
		if l.inverted {
			if l.m.needInv {
				lp = l.m.inv
			} else {
				lp, _ = one.Div(l.m.price)
			}
		}
		if i == 0 {
			price = lp
		} else {
			price = price.Mul(lp)
		}
		if at.IsZero() || l.m.at.Before(at) {
			at = l.m.at
		}
	}
	return price, at
}

// revalueHoldings recomputes a.value and a.coll from the aggregates.
func (p *Portfolio) revalueHoldings(a *asset) {
	if !a.priced {
		return
	}
	v, c := zero, zero
	if !a.qty.IsZero() {
		v = a.qty.Mul(a.price)
	}
	if !a.wqty.IsZero() {
		c = a.wqty.Mul(a.price)
	}
	if !v.Equal(a.value) {
		p.value = p.value.Sub(a.value).Add(v)
		a.value = v
		p.touchAsset(a)
	}
	if !c.Equal(a.coll) {
		p.coll = p.coll.Sub(a.coll).Add(c)
		a.coll = c
		p.touchAsset(a)
	}
}

// edge returns the preferred leg from x to y: a market (priced only when
// wantPriced; non-inverted first, then by name), else a peg when both are
// pegged and no priced market joins them.
func (p *Portfolio) edge(x, y string, wantPriced bool) (leg, bool) {
	var best *market
	hasPriced := false
	for _, m := range p.pairs[pairKey(x, y)] {
		hasPriced = hasPriced || m.priced
		if wantPriced && !m.priced {
			continue
		}
		if best == nil || (best.base != x && m.base == x) || ((best.base == x) == (m.base == x) && m.name < best.name) {
			best = m
		}
	}
	if best != nil {
		return leg{m: best, inverted: best.base != x, from: x, to: y}, true
	}
	if !hasPriced && p.pegged[x] && p.pegged[y] {
		return leg{from: x, to: y}, true
	}
	return leg{}, false
}

// bestRoute finds the preferred route from name to the currency.
func (p *Portfolio) bestRoute(name string, wantPriced bool) ([]leg, bool) {
	if name == p.cur {
		return nil, true
	}
	better := func(a, b []leg) bool { // a better than b
		if b == nil {
			return true
		}
		if len(a) != len(b) {
			return len(a) < len(b)
		}
		pa, pb := pegCount(a), pegCount(b)
		if pa != pb {
			return pa < pb
		}
		for i := 0; i < len(a)-1; i++ {
			ra, rb := p.interRank[a[i].to], p.interRank[b[i].to]
			if ra != rb {
				return ra < rb
			}
		}
		return false // edges are already ordered; first found wins
	}
	if e, ok := p.edge(name, p.cur, wantPriced); ok {
		return []leg{e}, true
	}
	var best []leg
	for _, i := range p.inter {
		if i == name || i == p.cur {
			continue
		}
		e1, ok := p.edge(name, i, wantPriced)
		if !ok {
			continue
		}
		if e2, ok := p.edge(i, p.cur, wantPriced); ok {
			if r := []leg{e1, e2}; better(r, best) {
				best = r
			}
		}
	}
	if best != nil {
		return best, true
	}
	for _, i := range p.inter {
		if i == name || i == p.cur {
			continue
		}
		e1, ok := p.edge(name, i, wantPriced)
		if !ok {
			continue
		}
		for _, j := range p.inter {
			if j == name || j == p.cur || j == i {
				continue
			}
			e2, ok := p.edge(i, j, wantPriced)
			if !ok {
				continue
			}
			if e3, ok := p.edge(j, p.cur, wantPriced); ok {
				if r := []leg{e1, e2, e3}; better(r, best) {
					best = r
				}
			}
		}
	}
	return best, best != nil
}

func pegCount(r []leg) int {
	n := 0
	for _, l := range r {
		if l.m == nil {
			n++
		}
	}
	return n
}

// reroute selects a's route, updates the market dependency index and
// revalues a, moving the grand totals.
func (p *Portfolio) reroute(a *asset) {
	route, ok := p.bestRoute(a.name, true)
	for _, l := range a.route {
		if l.m != nil {
			l.m.deps = slices.DeleteFunc(l.m.deps, func(x *asset) bool { return x == a })
		}
	}
	if a.priced {
		p.value = p.value.Sub(a.value)
		p.coll = p.coll.Sub(a.coll)
		a.value, a.coll = zero, zero
	}
	a.route, a.priced, a.reason = route, ok, ""
	if !ok {
		a.price, a.at = zero, time.Time{}
		a.reason = p.unpricedReason(a.name)
		p.markDirty(a)
		return
	}
	for _, l := range route {
		if l.m != nil {
			l.m.deps = append(l.m.deps, a)
			if l.inverted && !l.m.needInv {
				l.m.needInv = true
				l.m.inv, _ = one.Div(l.m.price)
			}
		}
	}
	p.revalue(a)
}

func (p *Portfolio) unpricedReason(name string) string {
	route, ok := p.bestRoute(name, false)
	if !ok {
		return fmt.Sprintf("no market links %s to %s directly or via %s", name, p.cur, strings.Join(p.inter, ", "))
	}
	var missing, labels []string
	for _, l := range route {
		labels = append(labels, l.label())
		if l.m != nil && !l.m.priced {
			missing = append(missing, l.m.label)
		}
	}
	return fmt.Sprintf("no price received yet for %s (route %s)", strings.Join(missing, ", "), strings.Join(labels, " × "))
}

// bump advances the version and notifies subscribers (coalesced).
func (p *Portfolio) bump(c Cause) {
	p.version++
	if len(p.subs) > 0 {
		p.notify(c)
	}
}
