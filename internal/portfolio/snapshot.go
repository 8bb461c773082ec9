package portfolio

import (
	"cmp"
	"slices"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// Quote is how an asset is valued now. Price is nil when the asset is
// unpriced, and UnpricedReason says why. Route lists the legs from the asset
// to the valuation currency: market legs as BASE/QUOTE (the direction is
// implied: a leg whose base is the asset on hand multiplies, otherwise
// divides) and peg legs as A=B; it is empty for the currency itself.
type Quote struct {
	Price *Decimal `json:"price"`
	Route []string `json:"route"`
	// PriceTime is the time of the oldest market leg; nil without one.
	PriceTime *time.Time `json:"price_time,omitempty"`
	// AgeMS is the age of PriceTime in milliseconds at the snapshot.
	AgeMS          int64  `json:"age_ms"`
	Stale          bool   `json:"stale"`
	UnpricedReason string `json:"unpriced_reason,omitempty"`
}

// Totals is a value and collateral value with the flags that qualify them:
// Partial when an unpriced asset is held (it contributes nothing) or a
// wallet's last query failed (its last known holdings are included);
// IncludesStale when a contributing price is stale.
type Totals struct {
	Value           Decimal  `json:"value"`
	CollateralValue Decimal  `json:"collateral_value"`
	Partial         bool     `json:"partial"`
	IncludesStale   bool     `json:"includes_stale"`
	UnpricedAssets  []string `json:"unpriced_assets,omitempty"`
	// UnknownWallets lists "account/wallet" whose last query failed.
	UnknownWallets []string `json:"unknown_wallets,omitempty"`
}

// Group is the totals of one key of a breakdown (an account id, a venue, a
// wallet kind, a tag).
type Group struct {
	Key string `json:"key"`
	Totals
}

// AssetTotal is the holdings of one asset across every account.
type AssetTotal struct {
	Asset    string  `json:"asset"`
	Quantity Decimal `json:"quantity"`
	Quote
	Totals
}

// AssetQuote is the quote of one known asset.
type AssetQuote struct {
	Asset string `json:"asset"`
	Quote
}

// Line is one holding: account × wallet × asset.
type Line struct {
	Asset    string  `json:"asset"`
	Free     Decimal `json:"free"`
	Locked   Decimal `json:"locked"`
	Borrowed Decimal `json:"borrowed"`
	// Quantity is Free + Locked − Borrowed.
	Quantity Decimal `json:"quantity"`
	Quote
	// Value is Quantity × price; nil when unpriced.
	Value           *Decimal `json:"value"`
	CollateralRatio Decimal  `json:"collateral_ratio"`
	// CollateralValue is Value × ratio (a debt counts in full); nil when
	// unpriced.
	CollateralValue *Decimal `json:"collateral_value"`
}

// WalletView is one wallet of an account.
type WalletView struct {
	Wallet  venue.Wallet `json:"wallet"`
	Unknown bool         `json:"unknown"`
	// Reason is why the last query failed, when Unknown.
	Reason    string     `json:"reason,omitempty"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
	Totals
	Lines []Line `json:"lines"`
}

// AccountView is one account with its wallets.
type AccountView struct {
	Account
	Totals
	Wallets []WalletView `json:"wallets"`
	// Positions are the account's open derivatives positions, not counted
	// in Totals; PositionsError says why they could not be read.
	Positions      []PositionView `json:"positions,omitempty"`
	PositionsError string         `json:"positions_error,omitempty"`
}

// Snapshot is the full breakdown at one version, ready for JSON (decimals as
// strings, times RFC 3339 UTC). Tag groups overlap: an account counts under
// each of its tags and untagged accounts under none. Total comes from the
// per-asset aggregates; the breakdowns sum line values, which agree exactly
// unless a product has more than 19 decimals (udecimal truncates there).
type Snapshot struct {
	Version           uint64        `json:"version"`
	AsOf              time.Time     `json:"as_of"`
	Currency          string        `json:"currency"`
	StaleAfterSeconds float64       `json:"stale_after_seconds"`
	CollateralVersion uint64        `json:"collateral_version"`
	Total             Totals        `json:"total"`
	ByAccount         []Group       `json:"by_account"`
	ByVenue           []Group       `json:"by_venue"`
	ByWallet          []Group       `json:"by_wallet"`
	ByTag             []Group       `json:"by_tag"`
	ByAsset           []AssetTotal  `json:"by_asset"`
	Accounts          []AccountView `json:"accounts"`
	Prices            []AssetQuote  `json:"prices"`
}

// quote builds the Quote of a at now.
func (p *Portfolio) quote(a *asset, now time.Time) Quote {
	q := Quote{Route: make([]string, 0, len(a.route))}
	if !a.priced {
		q.Route = nil
		q.UnpricedReason = a.reason
		return q
	}
	price := a.price
	q.Price = &price
	for _, l := range a.route {
		q.Route = append(q.Route, l.label())
	}
	if !a.at.IsZero() {
		t := a.at.UTC()
		q.PriceTime = &t
		age := max(now.Sub(a.at), 0)
		q.AgeMS = age.Milliseconds()
		q.Stale = age > p.staleAfter
	}
	return q
}

func (p *Portfolio) stale(a *asset, now time.Time) bool {
	return a.priced && !a.at.IsZero() && now.Sub(a.at) > p.staleAfter
}

// Version is the current version: it moves on every change (tick, balance,
// account, collateral, markets). O(1).
func (p *Portfolio) Version() uint64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.version
}

// Total returns the grand totals: the values are maintained incrementally
// (O(1)); the flags cost O(assets + failed wallets).
func (p *Portfolio) Total() Totals {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.total(p.clk.Now())
}

func (p *Portfolio) total(now time.Time) Totals {
	t := Totals{Value: p.value, CollateralValue: p.coll}
	for _, a := range p.assets {
		if len(a.lines) == 0 {
			continue
		}
		if !a.priced {
			t.UnpricedAssets = append(t.UnpricedAssets, a.name)
		} else if p.stale(a, now) {
			t.IncludesStale = true
		}
	}
	for w := range p.unknown {
		t.UnknownWallets = append(t.UnknownWallets, w.acct.meta.ID+"/"+string(w.name))
	}
	slices.Sort(t.UnpricedAssets)
	slices.Sort(t.UnknownWallets)
	t.Partial = len(t.UnpricedAssets) > 0 || len(t.UnknownWallets) > 0
	return t
}

// Quote returns how an asset is valued now; an asset the portfolio has not
// seen is routed on the fly.
func (p *Portfolio) Quote(name string) Quote {
	p.mu.RLock()
	defer p.mu.RUnlock()
	now := p.clk.Now()
	if a := p.assets[name]; a != nil {
		return p.quote(a, now)
	}
	route, ok := p.bestRoute(name, true)
	if !ok {
		return Quote{UnpricedReason: p.unpricedReason(name)}
	}
	a := &asset{name: name, route: route, priced: true}
	a.price, a.at = routePrice(route)
	return p.quote(a, now)
}

// AccountTotal returns the totals of one account: O(lines of the account).
func (p *Portfolio) AccountTotal(id string) (Totals, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	acc, err := p.account(id)
	if err != nil {
		return Totals{}, err
	}
	now := p.clk.Now()
	var b builder
	for _, w := range acc.wallets {
		for _, l := range w.lines {
			b.add(p, l, now)
		}
		b.wallet(w)
	}
	return b.totals(), nil
}

// builder accumulates Totals from lines.
type builder struct {
	t        Totals
	unpriced map[string]bool
	unknown  map[string]bool
}

func (b *builder) add(p *Portfolio, l *line, now time.Time) {
	if !l.a.priced {
		b.addValued(l.a.name, zero, zero, false, false)
		return
	}
	b.addValued(l.a.name, l.net.Mul(l.a.price), l.wnet.Mul(l.a.price), true, p.stale(l.a, now))
}

// addValued adds one line already valued (v, c) or unpriced.
func (b *builder) addValued(asset string, v, c Decimal, priced, stale bool) {
	if !priced {
		if b.unpriced == nil {
			b.unpriced = map[string]bool{}
		}
		b.unpriced[asset] = true
		return
	}
	b.t.Value = b.t.Value.Add(v)
	b.t.CollateralValue = b.t.CollateralValue.Add(c)
	b.t.IncludesStale = b.t.IncludesStale || stale
}

func (b *builder) wallet(w *walletState) {
	if w.unknown {
		if b.unknown == nil {
			b.unknown = map[string]bool{}
		}
		b.unknown[w.acct.meta.ID+"/"+string(w.name)] = true
	}
}

func (b *builder) totals() Totals {
	t := b.t
	t.UnpricedAssets = slices.Sorted(mapKeys(b.unpriced))
	t.UnknownWallets = slices.Sorted(mapKeys(b.unknown))
	t.Partial = len(t.UnpricedAssets) > 0 || len(t.UnknownWallets) > 0
	return t
}

type builders map[string]*builder

func (bs builders) get(k string) *builder {
	b := bs[k]
	if b == nil {
		b = &builder{}
		bs[k] = b
	}
	return b
}

func (bs builders) groups() []Group {
	out := make([]Group, 0, len(bs))
	for k, b := range bs {
		out = append(out, Group{Key: k, Totals: b.totals()})
	}
	slices.SortFunc(out, func(a, b Group) int { return cmp.Compare(a.Key, b.Key) })
	return out
}

// Snapshot returns the full breakdown, computed now in O(lines + assets)
// under a read lock (ticks wait for it).
func (p *Portfolio) Snapshot() Snapshot {
	p.mu.RLock()
	defer p.mu.RUnlock()
	now := p.clk.Now()
	s := Snapshot{
		Version:           p.version,
		AsOf:              now.UTC(),
		Currency:          p.cur,
		StaleAfterSeconds: p.staleAfter.Seconds(),
		CollateralVersion: p.collVersion,
		Total:             p.total(now),
	}
	quotes := make(map[*asset]Quote, len(p.assets))
	for _, a := range p.assets {
		q := p.quote(a, now)
		quotes[a] = q
		s.Prices = append(s.Prices, AssetQuote{Asset: a.name, Quote: q})
	}
	slices.SortFunc(s.Prices, func(a, b AssetQuote) int { return cmp.Compare(a.Asset, b.Asset) })

	byAcct, byVenue, byWallet, byTag, byAsset := builders{}, builders{}, builders{}, builders{}, builders{}
	for _, acc := range p.accts {
		av := AccountView{Account: acc.meta, Wallets: []WalletView{}, Positions: slices.Clone(acc.positions), PositionsError: acc.positionsErr}
		av.Tags = slices.Clone(acc.meta.Tags)
		targets := []*builder{byAcct.get(acc.meta.ID), byVenue.get(acc.meta.Venue)}
		for _, tag := range groupTags(acc.meta.Tags) { // a tag given twice counts once
			targets = append(targets, byTag.get(tag))
		}
		for _, w := range acc.wallets {
			var wb builder
			wv := WalletView{Wallet: w.name, Unknown: w.unknown, Reason: w.reason, Lines: []Line{}}
			if !w.updated.IsZero() {
				u := w.updated.UTC()
				wv.UpdatedAt = &u
			}
			wt := slices.Concat(targets, []*builder{byWallet.get(string(w.name)), &wb})
			for _, l := range w.lines {
				q := quotes[l.a]
				ln := Line{Asset: l.a.name, Free: l.free, Locked: l.locked, Borrowed: l.borrowed, Quantity: l.net, Quote: q, CollateralRatio: l.ratio}
				v, c := zero, zero
				if l.a.priced {
					v, c = l.net.Mul(l.a.price), l.wnet.Mul(l.a.price)
					ln.Value, ln.CollateralValue = &v, &c
				}
				wv.Lines = append(wv.Lines, ln)
				for _, b := range wt {
					b.addValued(l.a.name, v, c, l.a.priced, q.Stale)
				}
				ab := byAsset.get(l.a.name)
				ab.addValued(l.a.name, v, c, l.a.priced, q.Stale)
				ab.wallet(w)
			}
			for _, b := range wt {
				b.wallet(w)
			}
			slices.SortFunc(wv.Lines, func(a, b Line) int { return cmp.Compare(a.Asset, b.Asset) })
			wv.Totals = wb.totals()
			av.Wallets = append(av.Wallets, wv)
		}
		slices.SortFunc(av.Wallets, func(a, b WalletView) int { return cmp.Compare(a.Wallet, b.Wallet) })
		av.Totals = byAcct.get(acc.meta.ID).totals()
		s.Accounts = append(s.Accounts, av)
	}
	slices.SortFunc(s.Accounts, func(a, b AccountView) int { return cmp.Compare(a.ID, b.ID) })
	s.ByAccount, s.ByVenue, s.ByWallet, s.ByTag = byAcct.groups(), byVenue.groups(), byWallet.groups(), byTag.groups()
	for _, g := range byAsset.groups() {
		a := p.assets[g.Key]
		s.ByAsset = append(s.ByAsset, AssetTotal{Asset: a.name, Quantity: a.qty, Quote: quotes[a], Totals: g.Totals})
	}
	return s
}
