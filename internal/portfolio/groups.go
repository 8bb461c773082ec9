package portfolio

import (
	"cmp"
	"slices"
	"time"
)

// GroupKind names a breakdown of the totals.
type GroupKind string

// Group kinds. An account's tags come from its metadata (Account.Tags,
// duplicates counted once); the wallet kind is the venue.Wallet name.
const (
	GroupAccount GroupKind = "account"
	GroupVenue   GroupKind = "venue"
	GroupWallet  GroupKind = "wallet"
	GroupTag     GroupKind = "tag"
	GroupAsset   GroupKind = "asset"
)

// GroupRef names one group of a breakdown.
type GroupRef struct {
	Kind GroupKind `json:"kind"`
	Key  string    `json:"key"`
}

// Breakdown is the totals by account, venue, wallet kind, tag and asset read
// from the incremental per-group aggregates (Groups, GroupsSince), without a
// Snapshot. Every field is consistent with Total at Version and with what
// Snapshot would compute at that moment: the same groups, values and flags.
type Breakdown struct {
	// Version is the portfolio version the totals are at.
	Version uint64 `json:"version"`
	// Cursor is what to pass to GroupsSince for the groups that change
	// after this read.
	Cursor   uint64    `json:"cursor"`
	AsOf     time.Time `json:"as_of"`
	Currency string    `json:"currency"`
	// Full is true when every group is listed (GroupsSince(0)); otherwise
	// only the groups whose totals or flags changed since the cursor given,
	// and Removed lists the groups that no longer exist.
	Full      bool         `json:"full"`
	Total     Totals       `json:"total"`
	ByAccount []Group      `json:"by_account"`
	ByVenue   []Group      `json:"by_venue"`
	ByWallet  []Group      `json:"by_wallet"`
	ByTag     []Group      `json:"by_tag"`
	ByAsset   []AssetTotal `json:"by_asset"`
	Removed   []GroupRef   `json:"removed,omitempty"`
}

// Changed is the number of groups the breakdown lists or removes.
func (b *Breakdown) Changed() int {
	return len(b.ByAccount) + len(b.ByVenue) + len(b.ByWallet) + len(b.ByTag) + len(b.ByAsset) + len(b.Removed)
}

// group is one row of a breakdown other than by asset (an asset's row is
// the asset's own aggregate): value and collateral value are Σ of its
// cells, maintained by differences.
type group struct {
	ref GroupRef
	// refs counts what makes the group a row: accounts for account, venue
	// and tag groups, wallet states for wallet groups.
	refs        int
	value, coll Decimal
	cells       map[*asset]*cell
	// ver is the group epoch of the last change of its totals or flags.
	ver uint64
}

// cell is the aggregate of one asset within one group: Σ line.net and
// Σ line.wnet over the group's lines of the asset, and their values at the
// asset's price. A tick revalues the cells of the assets it moves (see
// flush), so its cost is O(groups holding the asset), not O(lines).
type cell struct {
	g           *group
	a           *asset
	idx         int // position in a.cells
	lines       int
	qty, wqty   Decimal
	value, coll Decimal
}

// ref returns the group of kind and key, creating it, and counts one more
// member.
func (p *Portfolio) ref(kind GroupKind, key string) *group {
	k := GroupRef{Kind: kind, Key: key}
	g := p.groups[k]
	if g == nil {
		g = &group{ref: k, cells: map[*asset]*cell{}}
		p.groups[k] = g
		delete(p.gone, k)
		ord := &p.order[kindIndex(kind)]
		i, _ := slices.BinarySearchFunc(*ord, key, func(x *group, k string) int { return cmp.Compare(x.ref.Key, k) })
		*ord = slices.Insert(*ord, i, g)
	}
	g.refs++
	p.touch(g)
	return g
}

// unref counts one member fewer; a group without members is no longer a
// row (its lines have left it, so it has no cells).
func (p *Portfolio) unref(g *group) {
	g.refs--
	p.touch(g)
	if g.refs <= 0 {
		delete(p.groups, g.ref)
		p.gone[g.ref] = p.gepoch
		ord := &p.order[kindIndex(g.ref.Kind)]
		if i, ok := slices.BinarySearchFunc(*ord, g.ref.Key, func(x *group, k string) int { return cmp.Compare(x.ref.Key, k) }); ok {
			*ord = slices.Delete(*ord, i, i+1)
		}
	}
}

// kindIndex is the position of a group kind in Portfolio.order.
func kindIndex(k GroupKind) int {
	switch k {
	case GroupAccount:
		return 0
	case GroupVenue:
		return 1
	case GroupWallet:
		return 2
	}
	return 3 // GroupTag
}

func (p *Portfolio) touch(g *group) { g.ver = p.gepoch }

// touchAsset marks the asset's own row changed.
func (p *Portfolio) touchAsset(a *asset) { a.gver = p.gepoch }

// groupTags is the distinct tags of an account, in order.
func groupTags(tags []string) []string {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// sameGroups reports whether meta keeps the account in the groups it has.
func sameGroups(acc *account, meta Account) bool {
	tags := groupTags(meta.Tags)
	if len(acc.groups) != 2+len(tags) || acc.groups[1].ref.Key != meta.Venue {
		return false
	}
	for i, t := range tags {
		if acc.groups[2+i].ref.Key != t {
			return false
		}
	}
	return true
}

// joinGroups sets the account-level groups of acc from its metadata:
// account, venue, then each distinct tag.
func (p *Portfolio) joinGroups(acc *account) {
	acc.groups = []*group{p.ref(GroupAccount, acc.meta.ID), p.ref(GroupVenue, acc.meta.Venue)}
	for _, t := range groupTags(acc.meta.Tags) {
		acc.groups = append(acc.groups, p.ref(GroupTag, t))
	}
}

func (p *Portfolio) leaveGroups(acc *account) {
	for _, g := range acc.groups {
		p.unref(g)
	}
	acc.groups = nil
}

// regroup moves every line of acc to the groups its new metadata names:
// O(lines of the account), only when the venue or tags change.
func (p *Portfolio) regroup(acc *account, meta Account) {
	if sameGroups(acc, meta) {
		acc.meta = meta
		return
	}
	for _, w := range acc.wallets {
		for _, l := range w.lines {
			p.detach(l)
		}
	}
	p.leaveGroups(acc)
	acc.meta = meta
	p.joinGroups(acc)
	for _, w := range acc.wallets {
		for _, l := range w.lines {
			p.attach(l)
		}
	}
}

// attach adds a line to the cells of its groups (account, venue, tags,
// wallet kind), creating cells as needed.
func (p *Portfolio) attach(l *line) {
	acc := l.w.acct
	l.cells = l.cells[:0]
	for _, g := range acc.groups {
		l.cells = append(l.cells, p.cellOf(g, l.a))
	}
	l.cells = append(l.cells, p.cellOf(l.w.g, l.a))
	for _, c := range l.cells {
		c.lines++
		if !l.net.IsZero() || !l.wnet.IsZero() {
			c.qty, c.wqty = c.qty.Add(l.net), c.wqty.Add(l.wnet)
			p.revalueCell(c)
		}
	}
}

// detach takes a line out of its cells, dropping cells left without lines.
func (p *Portfolio) detach(l *line) {
	for _, c := range l.cells {
		c.lines--
		if !l.net.IsZero() || !l.wnet.IsZero() {
			c.qty, c.wqty = c.qty.Sub(l.net), c.wqty.Sub(l.wnet)
			p.revalueCell(c)
		}
		if c.lines == 0 {
			p.dropCell(c)
		}
	}
	l.cells = l.cells[:0]
}

func (p *Portfolio) cellOf(g *group, a *asset) *cell {
	c := g.cells[a]
	if c == nil {
		c = &cell{g: g, a: a, idx: len(a.cells)}
		g.cells[a] = c
		a.cells = append(a.cells, c)
		p.touch(g) // the group now holds the asset: its flags may change
	}
	return c
}

func (p *Portfolio) dropCell(c *cell) {
	g, a := c.g, c.a
	if !c.value.IsZero() || !c.coll.IsZero() { // only when quantities were not exact zero
		g.value, g.coll = g.value.Sub(c.value), g.coll.Sub(c.coll)
	}
	delete(g.cells, a)
	last := len(a.cells) - 1
	a.cells[c.idx] = a.cells[last]
	a.cells[c.idx].idx = c.idx
	a.cells[last] = nil
	a.cells = a.cells[:last]
	p.touch(g)
}

// moveCells applies a line's change of net and weighted quantity to its
// cells: O(groups of the line).
func (p *Portfolio) moveCells(l *line, dn, dw Decimal) {
	if dn.IsZero() && dw.IsZero() {
		return
	}
	for _, c := range l.cells {
		c.qty, c.wqty = c.qty.Add(dn), c.wqty.Add(dw)
		p.revalueCell(c)
	}
}

// revalueCell recomputes a cell's value at its asset's current price and
// moves its group by the difference (two multiplications).
func (p *Portfolio) revalueCell(c *cell) {
	a := c.a
	v, k := zero, zero
	if a.priced {
		if !c.qty.IsZero() {
			v = c.qty.Mul(a.price)
		}
		if !c.wqty.IsZero() {
			k = c.wqty.Mul(a.price)
		}
	}
	changed := false
	if !v.Equal(c.value) {
		c.g.value = c.g.value.Sub(c.value).Add(v)
		c.value, changed = v, true
	}
	if !k.Equal(c.coll) {
		c.g.coll = c.g.coll.Sub(c.coll).Add(k)
		c.coll, changed = k, true
	}
	if changed {
		p.touch(c.g)
	}
}

// markDirty queues an asset whose price or pricing changed: its cells are
// revalued by the next flush, so a burst of ticks on one asset costs one
// pass over its groups, and Tick itself stays O(assets routed through the
// market).
func (p *Portfolio) markDirty(a *asset) {
	p.touchAsset(a)
	if !a.dirty && len(a.cells) > 0 {
		a.dirty = true
		p.dirty = append(p.dirty, a)
	}
}

// flush revalues the cells of every queued asset (O(groups holding them))
// and marks changed the groups of assets whose unpriced or stale flag
// flipped since the last flush (O(assets)). It runs under the write lock
// before every read of group totals.
func (p *Portfolio) flush(now time.Time) {
	for i, a := range p.dirty {
		a.dirty = false
		for _, c := range a.cells {
			p.revalueCell(c)
		}
		p.dirty[i] = nil
	}
	p.dirty = p.dirty[:0]
	for _, a := range p.assets {
		if len(a.lines) == 0 {
			continue
		}
		st := p.stale(a, now)
		if a.seenPriced == a.priced && a.seenStale == st {
			continue
		}
		a.seenPriced, a.seenStale = a.priced, st
		p.touchAsset(a)
		for _, c := range a.cells {
			p.touch(c.g)
		}
	}
}

// Groups returns the totals of every group now. It applies the revaluation
// that ticks queued (O(groups holding the ticked assets)) and then costs
// O(groups), plus the groups holding an unpriced or stale asset or a wallet
// whose last query failed: no pass over the lines.
func (p *Portfolio) Groups() Breakdown { return p.GroupsSince(0) }

// GroupsSince returns the totals of the groups whose value, collateral
// value or flags changed since cursor (a Breakdown.Cursor from an earlier
// call; 0 for every group) and the groups removed since, with a new cursor.
// Cost: as Groups, but only the changed groups are built. The caller that
// streams changes keeps the cursor; any number of callers may read with
// their own cursors.
func (p *Portfolio) GroupsSince(cursor uint64) Breakdown {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clk.Now()
	p.flush(now)
	cur := p.gepoch
	p.gepoch++
	b := Breakdown{Version: p.version, Cursor: cur, AsOf: now.UTC(), Currency: p.cur, Full: cursor == 0, Total: p.total(now)}
	if cursor > cur { // a cursor from the future (another portfolio): everything
		cursor, b.Full = 0, true
	}
	fl := p.groupFlags(now)
	rows := func(ord []*group) []Group {
		n := 0
		for _, g := range ord {
			if g.ver > cursor {
				n++
			}
		}
		out := make([]Group, 0, n)
		for _, g := range ord { // kept sorted by key
			if g.ver > cursor {
				out = append(out, Group{Key: g.ref.Key, Totals: fl.totals(g, g.value, g.coll)})
			}
		}
		return out
	}
	b.ByAccount, b.ByVenue, b.ByWallet, b.ByTag = rows(p.order[0]), rows(p.order[1]), rows(p.order[2]), rows(p.order[3])
	var held []*asset
	for _, a := range p.assets {
		if len(a.lines) > 0 && a.gver > cursor {
			held = append(held, a)
		}
	}
	slices.SortFunc(held, func(x, y *asset) int { return cmp.Compare(x.name, y.name) })
	b.ByAsset = make([]AssetTotal, 0, len(held))
	for _, a := range held {
		b.ByAsset = append(b.ByAsset, AssetTotal{Asset: a.name, Quantity: a.qty, Quote: p.quote(a, now), Totals: fl.totals(a, a.value, a.coll)})
	}
	if cursor > 0 {
		for k, v := range p.gone {
			if v > cursor {
				b.Removed = append(b.Removed, k)
			}
		}
		slices.SortFunc(b.Removed, func(x, y GroupRef) int {
			return cmp.Or(cmp.Compare(x.Kind, y.Kind), cmp.Compare(x.Key, y.Key))
		})
	}
	return b
}

// flagSet holds the flags of the groups that have any, keyed by *group or
// *asset (an asset's own row).
type flagSet struct {
	unpriced map[any][]string
	stale    map[any]bool
	unknown  map[any][]string
}

// groupFlags finds the flagged groups: those holding an unpriced asset or
// a stale price (through the asset's cells) and those including a wallet
// whose last query failed. O(flagged cells + unknown wallets × their lines).
func (p *Portfolio) groupFlags(now time.Time) *flagSet {
	fl := &flagSet{}
	for _, a := range p.assets {
		if len(a.lines) == 0 {
			continue
		}
		switch {
		case !a.priced:
			if fl.unpriced == nil {
				fl.unpriced = map[any][]string{}
			}
			fl.unpriced[a] = append(fl.unpriced[a], a.name)
			for _, c := range a.cells {
				fl.unpriced[c.g] = append(fl.unpriced[c.g], a.name)
			}
		case p.stale(a, now):
			if fl.stale == nil {
				fl.stale = map[any]bool{}
			}
			fl.stale[a] = true
			for _, c := range a.cells {
				fl.stale[c.g] = true
			}
		}
	}
	for w := range p.unknown {
		if fl.unknown == nil {
			fl.unknown = map[any][]string{}
		}
		name := w.acct.meta.ID + "/" + string(w.name)
		for _, g := range w.acct.groups {
			fl.unknown[g] = append(fl.unknown[g], name)
		}
		fl.unknown[w.g] = append(fl.unknown[w.g], name)
		for _, l := range w.lines {
			fl.unknown[l.a] = append(fl.unknown[l.a], name)
		}
	}
	return fl
}

func (fl *flagSet) totals(k any, value, coll Decimal) Totals {
	t := Totals{Value: value, CollateralValue: coll, IncludesStale: fl.stale[k]}
	if u := fl.unpriced[k]; len(u) > 0 {
		t.UnpricedAssets = slices.Sorted(slices.Values(u))
	}
	if u := fl.unknown[k]; len(u) > 0 {
		t.UnknownWallets = slices.Sorted(slices.Values(u))
	}
	t.Partial = len(t.UnpricedAssets) > 0 || len(t.UnknownWallets) > 0
	return t
}

// touchWallet marks changed the groups whose unknown-wallet flags include w.
func (p *Portfolio) touchWallet(w *walletState) {
	for _, g := range w.acct.groups {
		p.touch(g)
	}
	p.touch(w.g)
	for _, l := range w.lines {
		p.touchAsset(l.a)
	}
}
