package portfolio

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// Holding is the balance of one asset in one wallet.
type Holding struct {
	Free     Decimal `json:"free"`
	Locked   Decimal `json:"locked"`
	Borrowed Decimal `json:"borrowed"`
}

// Quantity is free + locked − borrowed.
func (h Holding) Quantity() Decimal { return h.Free.Add(h.Locked).Sub(h.Borrowed) }

func (h Holding) isZero() bool { return h.Free.IsZero() && h.Locked.IsZero() && h.Borrowed.IsZero() }

// Drift is one line whose holding differs between the engine's view before a
// resync and the venue's view; the caller journals it.
type Drift struct {
	Account string       `json:"account"`
	Wallet  venue.Wallet `json:"wallet"`
	Asset   string       `json:"asset"`
	Old     Holding      `json:"old"`
	New     Holding      `json:"new"`
	// Delta is New.Quantity() − Old.Quantity().
	Delta Decimal `json:"delta"`
}

// UpsertAccount adds an account or replaces its metadata (name, venue, tags);
// its holdings are kept.
func (p *Portfolio) UpsertAccount(a Account) error {
	if a.ID == "" {
		return invalid("id", "", "account needs an id")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	a.Tags = slices.Clone(a.Tags)
	if acc := p.accts[a.ID]; acc != nil {
		p.regroup(acc, a)
	} else {
		acc := &account{meta: a, wallets: map[venue.Wallet]*walletState{}}
		p.joinGroups(acc)
		p.accts[a.ID] = acc
	}
	p.bump(CauseAccount)
	return nil
}

// RemoveAccount forgets an account and takes its holdings out of every total.
func (p *Portfolio) RemoveAccount(id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	acc, err := p.account(id)
	if err != nil {
		return err
	}
	for _, w := range acc.wallets {
		for _, l := range w.lines {
			p.setLine(l, Holding{})
		}
		delete(p.unknown, w)
		p.unref(w.g)
	}
	p.leaveGroups(acc)
	delete(p.accts, id)
	p.bump(CauseAccount)
	return nil
}

func (p *Portfolio) account(id string) (*account, error) {
	acc := p.accts[id]
	if acc == nil {
		return nil, fmt.Errorf("account %q: %w", id, ErrNotFound)
	}
	return acc, nil
}

func (p *Portfolio) wallet(acc *account, w venue.Wallet) *walletState {
	ws := acc.wallets[w]
	if ws == nil {
		ws = &walletState{acct: acc, name: w, lines: map[string]*line{}, g: p.ref(GroupWallet, string(w))}
		acc.wallets[w] = ws
	}
	return ws
}

// ResyncWallet replaces the holdings of one wallet of an account with a full
// snapshot from the venue (assets absent from balances become zero), clears
// an unknown mark, and returns the drift between the old and new views sorted
// by asset. Balances of other wallets are refused.
func (p *Portfolio) ResyncWallet(accountID string, w venue.Wallet, balances []venue.Balance) ([]Drift, error) {
	for _, b := range balances {
		if b.Wallet != w {
			return nil, invalid("wallet", string(b.Wallet), fmt.Sprintf("resync of wallet %s of account %s got a %s balance for %s", w, accountID, b.Wallet, b.Asset))
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	acc, err := p.account(accountID)
	if err != nil {
		return nil, fmt.Errorf("resync wallet %s: %w", w, err)
	}
	drift := p.resync(acc, w, balances)
	p.bump(CauseBalance)
	return drift, nil
}

// ResyncAccount replaces every wallet of an account with a full snapshot
// (venue.Venue.Balances): wallets present in balances are replaced, wallets
// the engine knew but balances omit become empty, and every unknown mark is
// cleared. It returns the drift sorted by wallet and asset.
func (p *Portfolio) ResyncAccount(accountID string, balances []venue.Balance) ([]Drift, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	acc, err := p.account(accountID)
	if err != nil {
		return nil, fmt.Errorf("resync account: %w", err)
	}
	by := map[venue.Wallet][]venue.Balance{}
	for w := range acc.wallets {
		by[w] = nil
	}
	for _, b := range balances {
		if b.Wallet == "" {
			return nil, invalid("wallet", "", fmt.Sprintf("resync of account %s got a balance for %s without a wallet", accountID, b.Asset))
		}
		by[b.Wallet] = append(by[b.Wallet], b)
	}
	var drift []Drift
	for _, w := range slices.Sorted(mapKeys(by)) {
		drift = append(drift, p.resync(acc, w, by[w])...)
	}
	p.bump(CauseBalance)
	return drift, nil
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func (p *Portfolio) resync(acc *account, w venue.Wallet, balances []venue.Balance) []Drift {
	ws := p.wallet(acc, w)
	next := map[string]Holding{}
	for _, b := range balances {
		name := strings.ToUpper(b.Asset)
		h := next[name]
		next[name] = Holding{Free: h.Free.Add(b.Free), Locked: h.Locked.Add(b.Locked), Borrowed: h.Borrowed.Add(b.Borrowed)}
	}
	var drift []Drift
	for name := range ws.lines {
		if _, ok := next[name]; !ok {
			next[name] = Holding{}
		}
	}
	for _, name := range slices.Sorted(mapKeys(next)) {
		h := next[name]
		l := ws.lines[name]
		old := Holding{}
		if l != nil {
			old = Holding{Free: l.free, Locked: l.locked, Borrowed: l.borrowed}
		}
		if !old.Free.Equal(h.Free) || !old.Locked.Equal(h.Locked) || !old.Borrowed.Equal(h.Borrowed) {
			drift = append(drift, Drift{Account: acc.meta.ID, Wallet: w, Asset: name, Old: old, New: h, Delta: h.Quantity().Sub(old.Quantity())})
		}
		if l == nil {
			if h.isZero() {
				continue
			}
			l = p.newLine(ws, name)
		}
		p.setLine(l, h)
	}
	p.markKnown(ws)
	ws.updated = p.clk.Now()
	return drift
}

func (p *Portfolio) newLine(ws *walletState, name string) *line {
	a := p.assetFor(name)
	l := &line{w: ws, a: a, ratio: p.effectiveRatio(ws.acct, name)}
	ws.lines[name] = l
	p.attach(l)
	return l
}

// setLine sets a line's holding and moves the asset aggregates, the grand
// totals and the line's group cells by the difference: O(groups of the
// line). A line that becomes zero is removed.
func (p *Portfolio) setLine(l *line, h Holding) {
	net := h.Quantity()
	wnet := p.weighted(net, l.ratio)
	a := l.a
	if !net.Equal(l.net) {
		a.qty = a.qty.Sub(l.net).Add(net)
	}
	if !wnet.Equal(l.wnet) {
		a.wqty = a.wqty.Sub(l.wnet).Add(wnet)
	}
	p.moveCells(l, net.Sub(l.net), wnet.Sub(l.wnet))
	l.free, l.locked, l.borrowed, l.net, l.wnet = h.Free, h.Locked, h.Borrowed, net, wnet
	held := len(a.lines) > 0
	if h.isZero() {
		delete(a.lines, l)
		delete(l.w.lines, a.name)
		p.detach(l)
	} else {
		a.lines[l] = struct{}{}
	}
	if now := len(a.lines) > 0; now != held {
		if now {
			delete(p.gone, GroupRef{Kind: GroupAsset, Key: a.name})
		} else {
			p.gone[GroupRef{Kind: GroupAsset, Key: a.name}] = p.gepoch
		}
	}
	p.touchAsset(a)
	p.revalueHoldings(a)
}

// weighted is the collateral-weighted quantity: net × ratio for a holding,
// net undiscounted for a debt.
func (p *Portfolio) weighted(net, ratio Decimal) Decimal {
	if net.Sign() <= 0 {
		return net
	}
	return net.Mul(ratio)
}

// SetBalance sets one asset of one wallet to the absolute holding a user
// stream reports (venue.UserEvent with a Balance). O(1) for the grand totals.
func (p *Portfolio) SetBalance(accountID string, b venue.Balance) error {
	if b.Wallet == "" || b.Asset == "" {
		return invalid("balance", b.Asset, fmt.Sprintf("balance event for account %s needs a wallet and an asset", accountID))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	acc, err := p.account(accountID)
	if err != nil {
		return fmt.Errorf("set balance: %w", err)
	}
	p.applyLine(acc, b.Wallet, strings.ToUpper(b.Asset), func(Holding) Holding {
		return Holding{Free: b.Free, Locked: b.Locked, Borrowed: b.Borrowed}
	})
	p.bump(CauseBalance)
	return nil
}

// AddBalance applies a balance delta (d's Free, Locked and Borrowed are
// added to the current holding), as for Binance's balanceUpdate events.
func (p *Portfolio) AddBalance(accountID string, d venue.Balance) error {
	if d.Wallet == "" || d.Asset == "" {
		return invalid("balance", d.Asset, fmt.Sprintf("balance delta for account %s needs a wallet and an asset", accountID))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	acc, err := p.account(accountID)
	if err != nil {
		return fmt.Errorf("add balance: %w", err)
	}
	p.applyLine(acc, d.Wallet, strings.ToUpper(d.Asset), func(h Holding) Holding {
		return Holding{Free: h.Free.Add(d.Free), Locked: h.Locked.Add(d.Locked), Borrowed: h.Borrowed.Add(d.Borrowed)}
	})
	p.bump(CauseBalance)
	return nil
}

func (p *Portfolio) applyLine(acc *account, w venue.Wallet, name string, f func(Holding) Holding) {
	ws := p.wallet(acc, w)
	l := ws.lines[name]
	old := Holding{}
	if l != nil {
		old = Holding{Free: l.free, Locked: l.locked, Borrowed: l.borrowed}
	}
	h := f(old)
	if l == nil {
		if h.isZero() {
			return
		}
		l = p.newLine(ws, name)
	}
	p.setLine(l, h)
	ws.updated = p.clk.Now()
}

// MarkWalletUnknown records that the venue query for a wallet failed: its
// last known holdings stay in the totals but are flagged, and every total
// that includes it is partial, until the next resync of that wallet.
func (p *Portfolio) MarkWalletUnknown(accountID string, w venue.Wallet, reason string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	acc, err := p.account(accountID)
	if err != nil {
		return fmt.Errorf("mark wallet %s unknown: %w", w, err)
	}
	p.markUnknown(p.wallet(acc, w), reason)
	p.bump(CauseBalance)
	return nil
}

func (p *Portfolio) markKnown(ws *walletState) {
	if ws.unknown {
		p.touchWallet(ws)
	}
	ws.unknown, ws.reason = false, ""
	delete(p.unknown, ws)
}

func (p *Portfolio) markUnknown(ws *walletState, reason string) {
	if !ws.unknown {
		p.touchWallet(ws)
	}
	ws.unknown, ws.reason = true, reason
	p.unknown[ws] = struct{}{}
}

// MarkAccountUnknown records that the venue query for a whole account failed
// (venue.Venue.Balances returns every wallet at once): every wallet it knows
// is marked unknown with reason, or the spot wallet when it knows none, so
// the totals say they are partial until the next resync.
func (p *Portfolio) MarkAccountUnknown(accountID, reason string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	acc, err := p.account(accountID)
	if err != nil {
		return fmt.Errorf("mark account unknown: %w", err)
	}
	if len(acc.wallets) == 0 {
		p.wallet(acc, venue.WalletSpot)
	}
	for _, ws := range acc.wallets {
		p.markUnknown(ws, reason)
	}
	p.bump(CauseBalance)
	return nil
}
